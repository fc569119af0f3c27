/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* headbag.h — training a dense head on cached backbone vectors (instrid-train --init with a
 * frozen backbone) at clip level: weak labels as weak, and a distillation term.
 *
 * Weak labels. An OpenMIC-layout label says that an instrument plays somewhere in the clip, not
 * in every window of it. Each clip is a bag of windows; the clip's logit for class c is pooled
 * over its windows' logits, and the masked, balanced BCE is taken on that pooled logit:
 *   max:    z_c = max_i z_ic (the gradient reaches the highest window only: a positive clip
 *           whose instrument sounds in one window is not pushed up on the others);
 *   mean:   z_c = mean_i z_ic (the gradient is shared 1/n by every window);
 *   window: no pooling, every window a training example with the clip's labels (the generic
 *           trainer's behaviour).
 * Masks are unchanged: an unknown (partial) label is left out of the loss, never a negative.
 * Windows with strong (per-window) labels, the MusicNet layout, are bags of one.
 *
 * Distillation. With a weight lambda > 0 and the source's outputs kept after the targets, each
 * window's target logit z_ic for a class the AudioSet map names is also pulled towards the
 * teacher t_ic = the largest probability among the source outputs the map sends to c (what the
 * BLEND_MAPPED layer mixes in): lambda * BCE(sigmoid(z_ic), t_ic), averaged over the windows and
 * mapped classes of the batch, on every window, labelled or not. The source rows are frozen, so
 * the teachers are computed once.
 *
 * Training through the blend. With blend_gamma in (0, 1] (instrid-train --blend-loss), the loss
 * of a mapped class is taken on what the element reports, the model's BLEND_MAPPED output
 * b = 1 - (1 - h)^g (1 - t)^(1 - g) (noisy-OR) or g h + (1 - g) t (linear), h = sigmoid(z) the
 * head's probability and t the window's teacher above (held fixed): the head learns what the
 * source outputs miss (a flute AudioSet does not hear inside a mix pulls h towards 1; one it
 * already hears costs little), instead of the whole answer that the blend then dilutes. Under
 * max pooling the blend is taken at the window the pooled logit comes from; mean pooling is
 * refused. Classes no source output maps to (t = NaN) keep the head alone, as the blend does.
 *
 * Standardised inputs. With standardize, the optimiser works on the target rows in the space of
 * the training windows' vectors centred and scaled per value (mean mu_j and standard deviation
 * sd_j over the training split; a value whose deviation is below 1e-6 is left as it is): the
 * weights w'_j = w_j sd_j and bias b' = b + sum_j w_j mu_j, so that offsets shared by every
 * window (the pool's hard-swish values are >= -0.375, most near their own mean) no longer tie
 * each weight to the bias. The logits are the same function of the vectors throughout; the rows
 * are folded back (w_j = w'_j / sd_j, b = b' - sum_j w_j mu_j) after every step's update, so the
 * trained params are a plain DENSE as before. Weight decay then acts on w'.
 *
 * The optimiser is the trainer's AdamW (optim.h), warm-up then cosine decay, batches of bags;
 * checkpoints (checkpoint.h) at every epoch end make a run resumable bit for bit.
 */
#ifndef INSTRID_HEADBAG_H
#define INSTRID_HEADBAG_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "metrics.h"

typedef enum { HEADBAG_POOL_WINDOW = 0, HEADBAG_POOL_MAX = 1, HEADBAG_POOL_MEAN = 2 } headbag_pool;

const char *headbag_pool_name(headbag_pool p);
/* -1 when the name is none of "window", "max", "mean". */
int headbag_pool_from_name(const char *name);

/* The cached windows of one split. Windows of a bag are contiguous and share a group id. */
typedef struct {
  size_t n;
  const float *vec;      /* (n, dim) the backbone's output per window */
  const float *target;   /* (n, n_out) */
  const float *mask;     /* (n, n_out) */
  const uint32_t *group; /* (n) the recording each window comes from */
  const uint8_t *weak;   /* (n) 1: the recording's labels are clip labels (bag), 0: per window */
} headbag_split;

typedef struct {
  uint32_t dim;           /* vector size */
  uint32_t n_out;         /* head outputs: n_targets, then the source's */
  uint32_t n_targets;     /* trained outputs (the rest are frozen) */
  headbag_split split[2]; /* DATASET_TRAIN, DATASET_VAL */
  /* (n_out - n_targets) per source output j: the target class the AudioSet map sends it to, or
   * -1; NULL = no teacher (distillation impossible). */
  const int32_t *teacher_of;
} headbag_data;

typedef struct {
  headbag_pool pool;
  float distill; /* lambda, 0 = off */
  /* the loss through the blend (above): gamma in (0, 1], 0 = off; mode INSTRID_BLEND_LINEAR or
   * INSTRID_BLEND_NOISY_OR */
  float blend_gamma;
  uint32_t blend_mode;
  uint32_t epochs;
  uint32_t batch; /* bags per step */
  float lr, weight_decay, warmup_fraction, pos_weight_max;
  int standardize; /* 1: train in the standardised space of the inputs (above) */
  uint64_t seed;
  const char *checkpoint_path; /* NULL = none */
  int resume;
  uint32_t stop_after_epochs; /* test hook: checkpoint and return after this many (0 = never) */
} headbag_options;

void headbag_options_default(headbag_options *o);

typedef struct {
  uint64_t steps;
  uint32_t epochs_done;
  double seconds;         /* training time over every resumed process */
  double last_epoch_loss; /* mean step loss of the last epoch */
  int stopped;            /* returned through stop_after_epochs */
  size_t bags[2];
  metrics_report val; /* bag-level, on pooled probabilities (empty without val bags) */
  float *thresholds;  /* (n_targets) F1-best probability thresholds (0.5 without data) */
  float *pos_weight;  /* (n_targets) */
} headbag_result;

void headbag_result_clear(headbag_result *r);

/* Trains params in place: the head's DENSE, weight (n_out, dim) then bias (n_out), as the model
 * file stores it. lr_scale (same size) may be NULL; rows n_targets.. are never changed.
 * Errors: INSTRID_ERR_INVALID_ARG (bad options, no training bag, distillation or the blend
 * without teacher, the blend under mean pooling),
 * INSTRID_ERR_NOMEM, the checkpoint's. */
instrid_status headbag_train(const headbag_data *d, const headbag_options *o, float *params,
                             const float *lr_scale, headbag_result *res, instrid_error *err);

/* One step's loss and gradient (grad: same size as params, overwritten) over bags given by
 * their first window and window count in split s, with o's pool, distill and blend_*;
 * pos_weight (n_targets) may be NULL (all 1), teacher (split's n, n_targets) with NaN where a
 * class has no teacher, or NULL (then no distillation and no blend). Exposed for the tests. */
double headbag_loss_grad(const headbag_data *d, int s, const size_t *bag_start,
                         const size_t *bag_len, size_t n_bags, const headbag_options *o,
                         const float *params, const float *pos_weight, const float *teacher,
                         float *grad);

/* Teachers for split s: (n, n_targets), NaN for a class no source output maps to. Returns NULL
 * when out of memory or without teacher_of. */
float *headbag_teachers(const headbag_data *d, int s, const float *params);

#endif /* INSTRID_HEADBAG_H */
