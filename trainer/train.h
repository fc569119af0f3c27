/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* train.h — the training loop of instrid-train as a library: examples from an abstract source,
 * augmentation, masked loss, AdamW with warm-up and cosine decay, validation with per-class
 * thresholds, resumable checkpoints. Prints nothing: progress goes to a callback.
 */
#ifndef INSTRID_TRAIN_H
#define INSTRID_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "dataset.h"
#include "instrid.h"
#include "metrics.h"
#include "netgrad.h"

/* Where examples come from: the dataset, or synthetic windows made in memory by a test.
 * get fills features (n_mels, W), target and mask (n_classes) for window i of a split;
 * shift_frames moves the window in time (0 = as indexed). Must be deterministic: the same
 * (split, i, shift) gives the same window every time. */
typedef struct {
  size_t (*count)(void *ctx, dataset_split split);
  void (*get)(void *ctx, dataset_split split, size_t i, int shift_frames, float *features,
              float *target, float *mask);
  void *ctx;
  /* Optional (NULL: every window a recording of its own, labelled per window): the recording
   * window i comes from, and *weak = 1 when its labels are the whole recording's (OpenMIC
   * layout: clip labels), 0 when they are the window's own. */
  uint32_t (*group)(void *ctx, dataset_split split, size_t i, int *weak);
} example_source;

/* An example_source over a train_dataset (which must outlive it). Inline, so that programs and
 * tests that train on synthetic data do not link the dataset readers (and GStreamer). */
static inline size_t example_source_dataset_count(void *ctx, dataset_split split)
{
  return train_dataset_count((const train_dataset *)ctx, split);
}

static inline void example_source_dataset_get(void *ctx, dataset_split split, size_t i,
                                              int shift_frames, float *features, float *target,
                                              float *mask)
{
  train_dataset_get((const train_dataset *)ctx, split, i, shift_frames, features, target, mask);
}

static inline uint32_t example_source_dataset_group(void *ctx, dataset_split split, size_t i,
                                                    int *weak)
{
  return train_dataset_window_group((const train_dataset *)ctx, split, i, weak);
}

static inline example_source example_source_from_dataset(train_dataset *ds)
{
  example_source s = {example_source_dataset_count, example_source_dataset_get, ds,
                      example_source_dataset_group};
  return s;
}

typedef enum {
  TRAIN_LOSS_BCE = 0,      /* plain masked BCE: drifts towards "nothing plays" */
  TRAIN_LOSS_BALANCED = 1, /* masked BCE with pos_weight = known negatives / known positives */
  TRAIN_LOSS_FOCAL = 2,    /* masked focal BCE */
} train_loss_kind;

const char *train_loss_name(train_loss_kind kind);
/* -1 when the name is none of "bce", "balanced", "focal". */
int train_loss_from_name(const char *name);

typedef enum { TRAIN_PHASE_STEP, TRAIN_PHASE_EPOCH_END, TRAIN_PHASE_CHECKPOINT } train_phase;

typedef struct {
  train_phase phase;
  uint32_t epoch; /* 0-based epoch in progress (or just finished at EPOCH_END) */
  uint32_t epochs;
  uint64_t step; /* optimizer steps done, over the whole run */
  uint64_t total_steps;
  double loss;               /* mean training loss over this epoch's steps so far */
  double lr;                 /* learning rate of the last step */
  double windows_per_second; /* since this process started training */
  double eta_seconds;        /* remaining, at the current speed */
  const metrics_report *val; /* EPOCH_END with a validation split: this epoch's figures */
} train_progress;

typedef struct {
  uint32_t epochs;       /* passes over the training split (or over max_windows of it) */
  uint32_t batch;        /* windows per optimizer step */
  float lr;              /* peak learning rate */
  float weight_decay;    /* AdamW decoupled decay on conv and dense weights */
  float warmup_fraction; /* share of all steps spent in linear warm-up */
  float clip_norm;       /* global gradient-norm clip; <= 0 = none */
  uint64_t seed;         /* initial weights, example order, augmentation, dropout */
  train_loss_kind loss;
  float focal_gamma;    /* TRAIN_LOSS_FOCAL */
  float pos_weight_max; /* TRAIN_LOSS_BALANCED: pos_weight clamped to [1/max, max] */
  int augment;          /* 0 = no augmentation at all */
  augment_options aug;
  size_t max_windows;          /* training windows per epoch, a fresh random subset each epoch;
                                  0 = all */
  size_t max_val_windows;      /* validation windows, evenly spread; 0 = all */
  const char *checkpoint_path; /* NULL = no checkpoints */
  double checkpoint_minutes;   /* also checkpoint every this many minutes; <= 0 = only at epoch
                                  ends */
  int resume;                  /* continue from checkpoint_path when it exists */
  uint64_t stop_after_steps;   /* test hook: after this many steps in total, write a checkpoint
                                  and return as if killed (0 = never) */
  const float *lr_scale;       /* (n_params) learning-rate multiplier per parameter (layer
                                  groups; 0 = frozen), or NULL: all 1. Must outlive the trainer */
  uint32_t frozen_prefix;      /* layers [0, N) run as at inference (train_net_set_frozen_prefix:
                                  batch norm on its running statistics, left as they are, and no
                                  backward pass); for layers frozen by lr_scale. 0 = none */
  int threads;                 /* > 1: each batch is split across this many network replicas,
                                  one thread and single-threaded BLAS each, and validation runs
                                  with this many BLAS threads. Batch norm sees each replica's
                                  share, so the result depends on it (never on scheduling).
                                  1: one network; <= 0: one network, BLAS left as it is */
  void (*progress)(void *ctx, const train_progress *p); /* may be NULL */
  void *progress_ctx;
  double progress_seconds; /* minimum wall time between STEP reports */
} train_options;

/* The defaults instrid-train documents in --help. */
void train_options_default(train_options *opt);

typedef struct trainer trainer;

/* arch gives the front end, window, classes and layers (params NULL: initialise from
 * opt->seed, the weights instrid_arch_build gives the same layers and seed; or the starting
 * weights). The source and arch (its names) must outlive the trainer.
 * Errors: INSTRID_ERR_INVALID_ARG (bad option, empty training split), INSTRID_ERR_FORMAT
 * (the architecture does not fit), INSTRID_ERR_NOMEM. */
trainer *trainer_new(const instrid_model_desc *arch, const example_source *src,
                     const train_options *opt, instrid_error *err);
void trainer_free(trainer *t);

/* Trains to the end (or to stop_after_steps), resuming from the checkpoint when asked.
 * Errors: INSTRID_ERR_IO (checkpoint unwritable), INSTRID_ERR_FORMAT/CHECKSUM/VERSION (a
 * checkpoint that does not belong to this run or is damaged), INSTRID_ERR_NOMEM. */
instrid_status trainer_run(trainer *t, instrid_error *err);

/* 1 when the last trainer_run returned through stop_after_steps. */
int trainer_stopped(const trainer *t);
uint64_t trainer_steps_done(const trainer *t);
double trainer_train_seconds(const trainer *t);
double trainer_windows_per_second(const trainer *t);
size_t trainer_n_train(const trainer *t);
size_t trainer_n_val(const trainer *t);
train_net *trainer_net(trainer *t);
/* The last validation's figures (NULL before any, or without a validation split). Scores are
 * logits, so its thresholds are in logit units; trainer_thresholds has them as probabilities. */
const metrics_report *trainer_validation(const trainer *t);
/* (n_classes) probability thresholds chosen on validation (0.5 where a class has no known
 * positive in it). */
const float *trainer_thresholds(const trainer *t);
/* (n_classes) the positive weights the loss used (1 unless TRAIN_LOSS_BALANCED). */
const float *trainer_pos_weight(const trainer *t);

/* Writes the trained model (weights, the validation thresholds, provenance) atomically. */
instrid_status trainer_write_model(trainer *t, const char *path, const char *provenance,
                                   instrid_error *err);

#endif /* INSTRID_TRAIN_H */
