/* dataset_internal.h — what the MusicNet and OpenMIC readers hand to dataset.c: a list of
 * recordings, each with its audio file, its split and its labels. Not part of the trainer's API.
 */
#ifndef INSTRID_DATASET_INTERNAL_H
#define INSTRID_DATASET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* MusicNet label times are sample indices at this rate, whatever rate the audio is read at. */
#define MUSICNET_LABEL_RATE_HZ 44100.0

/* A MusicNet class sounds in a window when the union of its notes covers at least
 * min(MUSICNET_MIN_OVERLAP_S, MUSICNET_MIN_OVERLAP_FRACTION * window length) of the window:
 * long enough to be heard, and still reachable for windows shorter than 400 ms. The union
 * (not each note alone) counts, so a run of fast short notes marks its instrument present. */
#define MUSICNET_MIN_OVERLAP_S 0.1
#define MUSICNET_MIN_OVERLAP_FRACTION 0.25

typedef struct {
  double start_s, end_s; /* [start, end) in seconds from the start of the recording */
} label_interval;

typedef struct {
  char *audio_path; /* the file to decode */
  dataset_kind kind;
  dataset_split split;
  /* OpenMIC: clip-level bits, bit c for taxonomy class c (mask bit 0 = unknown). */
  uint32_t target_bits, mask_bits;
  /* MusicNet: for class c, intervals[class_start[c] .. class_start[c+1]) are the merged,
   * sorted, disjoint times it sounds. Every class is known. */
  label_interval *intervals;
  uint32_t class_start[TAXONOMY_N + 1];
} dataset_recording;

typedef struct {
  dataset_recording *items;
  size_t n, cap;
} recording_list;

/* Takes ownership of rec's pointers (also on failure, when it frees them). */
instrid_status recording_list_push(recording_list *list, dataset_recording *rec,
                                   instrid_error *err);
void recording_clear(dataset_recording *rec);
void recording_list_clear(recording_list *list);

/* Readers append the recordings of one tree. A wrong layout, or a malformed label file that
 * the whole tree depends on (OpenMIC's), is an error naming the file (and line and column); an
 * audio file without labels, or with a malformed label file of its own (MusicNet's), is
 * reported on stderr with the reason and counted in stats->files_skipped. */
instrid_status musicnet_read(const char *root, const dataset_options *opt, recording_list *out,
                             dataset_stats *stats, instrid_error *err);
instrid_status openmic_read(const char *root, const dataset_options *opt, recording_list *out,
                            dataset_stats *stats, instrid_error *err);

/* path joined from parts with '/', malloc'ed; NULL when out of memory. */
char *path_join(const char *a, const char *b);

#endif /* INSTRID_DATASET_INTERNAL_H */
