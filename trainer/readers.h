/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* readers.h — the MusicNet and OpenMIC readers: each turns one tree (as published, or as
 * instrid-render writes it) into recordings (recording.h). Used by dataset.c and instrid-eval;
 * the readers call nothing of dataset.c. Not part of the trainer's API.
 */
#ifndef INSTRID_READERS_H
#define INSTRID_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "recording.h"

/* MusicNet label times are sample indices at this rate, whatever rate the audio is read at. */
#define MUSICNET_LABEL_RATE_HZ 44100.0

/* A MusicNet class sounds in a window when the union of its notes covers at least
 * min(MUSICNET_MIN_OVERLAP_S, MUSICNET_MIN_OVERLAP_FRACTION * window length) of the window:
 * long enough to be heard, and still reachable for windows shorter than 400 ms. The union
 * (not each note alone) counts, so a run of fast short notes marks its instrument present. */
#define MUSICNET_MIN_OVERLAP_S 0.1
#define MUSICNET_MIN_OVERLAP_FRACTION 0.25

/* Readers append the recordings of one tree. A wrong layout, or a malformed label file that
 * the whole tree depends on (OpenMIC's), is an error naming the file (and line and column); an
 * audio file without labels, or with a malformed label file of its own (MusicNet's), is
 * reported on stderr with the reason and counted in stats->files_skipped. */
instrid_status musicnet_read(const char *root, const dataset_options *opt, recording_list *out,
                             dataset_stats *stats, instrid_error *err);
instrid_status openmic_read(const char *root, const dataset_options *opt, recording_list *out,
                            dataset_stats *stats, instrid_error *err);

#endif /* INSTRID_READERS_H */
