/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dataset.h — training data for instrid-train: MusicNet and OpenMIC-2018 trees (as published,
 * or rendered by instrid-render in the same layouts) decoded through GStreamer, turned into
 * log-mel frames by libinstrid's front end, cached on disk (memory-mapped) and served as
 * windows with a target and a mask over the 25-class taxonomy.
 */
#ifndef INSTRID_DATASET_H
#define INSTRID_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "taxonomy.h"

typedef enum { DATASET_MUSICNET = 0, DATASET_OPENMIC = 1 } dataset_kind;

typedef struct {
  dataset_kind kind;
  const char *dir; /* root of the tree as published (see ARCHITECTURE.md) */
} dataset_source;

typedef enum { DATASET_TRAIN = 0, DATASET_VAL = 1 } dataset_split;

typedef struct {
  uint32_t window_frames; /* W, from the model's architecture */
  uint32_t hop_frames;    /* frames between training windows within a recording */
  float val_fraction;     /* MusicNet trees without test_data: fraction of recordings held out */
  uint64_t seed;          /* for the held-out choice */
  const char *cache_dir;  /* feature cache; NULL = no cache (decode every run) */
  int verbose;            /* progress lines on stderr while decoding */
  int decode_threads;     /* files decoded at once when opening; 0 or 1 = one at a time */
} dataset_options;

#define DATASET_MAX_DECODE_THREADS 64

/* Per-run accounting, for the summary table. */
typedef struct {
  size_t files_ok, files_skipped, cache_hits;
  size_t windows[2]; /* per split */
  double seconds_audio;
} dataset_stats;

typedef struct train_dataset train_dataset;

/* Reads every source, decodes (or loads from cache) every file, frames it with fe. Unreadable
 * or corrupt files are reported by name on stderr, skipped and counted; NULL only when nothing
 * usable is left or a source's layout is wrong (err says which file and what).
 * The cache keeps raw frames (fe's feature_mean/std are applied when serving), so reopening
 * with new normalisation statistics reuses it. Once open, a dataset is read-only: any number of
 * threads may call the functions below at once. */
train_dataset *train_dataset_open(const dataset_source *sources, int n_sources,
                                  const instrid_frontend_params *fe, const dataset_options *opt,
                                  instrid_error *err);
void train_dataset_free(train_dataset *ds);

size_t train_dataset_count(const train_dataset *ds, dataset_split split);
const dataset_stats *train_dataset_stats(const train_dataset *ds);

/* Window i of a split. features: (n_mels, W) row-major, features[mel * W + t], exactly as the
 * network sees it in the element. shift_frames moves the window within its recording (time-shift
 * augmentation; clamped to the recording, silence-padded). target/mask: TAXONOMY_N values in
 * {0,1}; mask 0 = unknown (excluded from loss and metrics). */
void train_dataset_get(const train_dataset *ds, dataset_split split, size_t i, int shift_frames,
                       float *features, float *target, float *mask);

/* The recording window i of a split comes from (an index over both splits), and *weak = 1 when
 * the recording's labels are clip labels (OpenMIC layout), 0 when they are per window. */
uint32_t train_dataset_window_group(const train_dataset *ds, dataset_split split, size_t i,
                                    int *weak);

/* Mean and standard deviation of the raw log-mel features (before feature_mean/std) over every
 * frame and band of the training split's recordings: the values for feature_mean/feature_std.
 * INSTRID_ERR_INVALID_ARG when the training split is empty. */
instrid_status train_dataset_feature_moments(const train_dataset *ds, float *mean, float *std,
                                             instrid_error *err);

/* Serves windows normalised with (raw - mean) / std from now on (the front end's feature_mean
 * and feature_std), e.g. with the values train_dataset_feature_moments gives. Not to be called
 * while another thread is in train_dataset_get. INSTRID_ERR_INVALID_ARG for a non-finite mean
 * or a std that is not finite and > 0. */
instrid_status train_dataset_set_normalization(train_dataset *ds, float mean, float std,
                                               instrid_error *err);

#endif /* INSTRID_DATASET_H */
