/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* recording.h — one labelled recording (its audio file, its split, its labels) and a growable
 * list of them: what the MusicNet and OpenMIC readers (readers.h) produce and what dataset.c and
 * instrid-eval consume. Depends on no reader and on nothing that decodes, so that the readers
 * and the dataset both build on it without calling each other. Not part of the trainer's API.
 */
#ifndef INSTRID_RECORDING_H
#define INSTRID_RECORDING_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

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

/* path joined from parts with '/', malloc'ed; NULL when out of memory. */
char *path_join(const char *a, const char *b);

#endif /* INSTRID_RECORDING_H */
