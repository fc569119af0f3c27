/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* train.c — the training loop: shuffled, augmented batches from an example_source, masked
 * (balanced or focal) BCE, AdamW with warm-up and cosine decay, validation after every epoch
 * with per-class F1 thresholds, and checkpoints that let a killed run finish bit-identically.
 *
 * With several threads the batch is split across replicas of the network, one thread each
 * (single-threaded BLAS), and their gradients are summed: the small GEMMs of a ~30 MFLOP
 * network and the element-wise layers scale far better that way than through OpenBLAS's own
 * threads. Batch norm then normalises over each replica's share of the batch (as PyTorch's
 * DataParallel without SyncBatchNorm), so results depend on the thread count, never on
 * scheduling.
 */
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "internal.h"
#include "loss.h"
#include "optim.h"

/* Tags that keep the random streams of different purposes apart for the same (epoch, index). */
enum {
  RNG_TAG_SHUFFLE = 0x5348,
  RNG_TAG_EXAMPLE = 0x4558,
  RNG_TAG_DROPOUT = 0x4452,
};

/* At most this many training windows are read to count positives for the class balance: the
 * ratio of a class is known well long before, and reading every window of a large corpus
 * would cost seconds at start-up. */
#define POS_WEIGHT_SAMPLE 20000

#define MAX_REPLICAS 64

typedef struct trainer trainer_t;

/* One replica's share of a step: examples [start, start + n) of the batch. */
typedef struct {
  trainer_t *t;
  int replica;
  size_t start, n;
  float loss;   /* mean over this share's known labels */
  double known; /* how many known labels the share has */
} replica_job;

struct trainer {
  instrid_model_desc arch;
  example_source src;
  train_options opt;
  train_net *net; /* replica 0: the one that is saved, validated and written */
  int n_replicas;
  train_net *replicas[MAX_REPLICAS]; /* [0] == net */
  uint32_t n_mels, window_frames, n_classes;
  size_t n_inputs; /* n_mels * window_frames */
  size_t n_params;
  float *adam_m, *adam_v; /* (n_params) */
  uint8_t *trainable;     /* (n_params) the net's trainable mask without the frozen (lr_scale 0) */

  size_t n_train, n_val;
  size_t epoch_windows; /* training windows used per epoch */
  uint32_t batch;       /* windows per step (min of the option and epoch_windows) */
  uint64_t steps_per_epoch, total_steps, warmup_steps;
  uint64_t options_hash;

  float *pos_weight;                    /* (n_classes) */
  float *x;                             /* (batch, n_mels, W) */
  float *target, *mask;                 /* (batch, n_classes) */
  float *logits, *dlogits;              /* (batch, n_classes) */
  float *mix_x, *mix_target, *mix_mask; /* (n_replicas, ...) one mixup partner each */
  size_t *order;                        /* (n_train) this epoch's permutation */

  size_t n_val_used;
  float *val_logits, *val_target, *val_mask; /* (n_val_used, n_classes) */
  metrics_report val;
  int have_val;
  uint64_t val_step; /* step at which val was computed */
  float *thresholds; /* (n_classes) probabilities */

  /* Run state, saved in checkpoints. */
  uint64_t step;
  uint32_t epoch;
  uint64_t step_in_epoch;
  uint64_t rng_state;
  double epoch_loss_sum;
  double seconds_before; /* training time of earlier processes of this run */

  /* This process. */
  double started;
  double seconds_stepping;
  uint64_t windows_done;
  double last_progress, last_checkpoint;
  int stopped;
};

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

const char *train_loss_name(train_loss_kind kind)
{
  switch (kind) {
  case TRAIN_LOSS_BCE:
    return "bce";
  case TRAIN_LOSS_BALANCED:
    return "balanced";
  case TRAIN_LOSS_FOCAL:
    return "focal";
  }
  return "?";
}

int train_loss_from_name(const char *name)
{
  for (int k = TRAIN_LOSS_BCE; k <= TRAIN_LOSS_FOCAL; k++)
    if (strcmp(name, train_loss_name((train_loss_kind)k)) == 0)
      return k;
  return -1;
}

void train_options_default(train_options *opt)
{
  memset(opt, 0, sizeof *opt);
  opt->epochs = 30;
  opt->batch = 64;
  opt->lr = 2e-3f;
  opt->weight_decay = 1e-2f;
  opt->warmup_fraction = 0.05f;
  opt->clip_norm = 5.0f;
  opt->seed = 1;
  opt->loss = TRAIN_LOSS_BALANCED;
  opt->focal_gamma = 2.0f;
  opt->pos_weight_max = 10.0f;
  opt->augment = 1;
  augment_options_none(&opt->aug); /* filled for the architecture by trainer_new when zero */
  opt->checkpoint_minutes = 5.0;
  opt->progress_seconds = 1.0;
}

/* Everything that changes the trajectory of the weights, so that a checkpoint is only resumed
 * by a run that would have produced it. Fields are hashed one by one (no struct padding). */
static uint64_t hash_options(const trainer *t)
{
  uint64_t h = CHECKPOINT_HASH_INIT;
  const train_options *o = &t->opt;
  const instrid_model_desc *a = &t->arch;
#define H(x) h = checkpoint_hash(h, &(x), sizeof(x))
  H(a->frontend);
  H(a->window_frames);
  H(a->n_classes);
  H(a->n_layers);
  for (uint32_t i = 0; i < a->n_layers; i++)
    H(a->layers[i]);
  if (a->params)
    h = checkpoint_hash(h, a->params, a->n_params * sizeof(float));
  if (o->lr_scale)
    h = checkpoint_hash(h, o->lr_scale, t->n_params * sizeof(float));
  if (o->frozen_prefix) /* hashed only when set: earlier checkpoints keep their key */
    H(o->frozen_prefix);
  H(o->epochs);
  H(o->batch);
  H(o->lr);
  H(o->weight_decay);
  H(o->warmup_fraction);
  H(o->clip_norm);
  H(o->seed);
  H(o->loss);
  H(o->focal_gamma);
  H(o->pos_weight_max);
  H(o->augment);
  H(o->aug.gain_prob);
  H(o->aug.gain_db_max);
  H(o->aug.noise_prob);
  H(o->aug.noise_snr_db_min);
  H(o->aug.noise_snr_db_max);
  H(o->aug.shift_frames_max);
  H(o->aug.time_mask_prob);
  H(o->aug.time_masks);
  H(o->aug.time_mask_frames_max);
  H(o->aug.freq_mask_prob);
  H(o->aug.freq_masks);
  H(o->aug.freq_mask_bands_max);
  H(o->aug.mixup_prob);
  H(o->aug.mixup_weight_min);
  H(o->aug.mixup_weight_max);
  H(t->n_replicas);
  uint64_t mw = o->max_windows, mv = o->max_val_windows, nt = t->n_train, nv = t->n_val;
  H(mw);
  H(mv);
  H(nt);
  H(nv);
#undef H
  return h;
}

/* ------------------------------------------------------------------------------------------ */
/* Construction */

/* pos_weight[k] = known negatives / known positives over (a sample of) the training split,
 * clamped: without it the rare classes' positives are outvoted and the network learns that
 * nothing ever plays. */
static void compute_pos_weight(trainer *t)
{
  uint32_t c = t->n_classes;
  for (uint32_t k = 0; k < c; k++)
    t->pos_weight[k] = 1.0f;
  if (t->opt.loss != TRAIN_LOSS_BALANCED)
    return;
  size_t n = t->n_train < POS_WEIGHT_SAMPLE ? t->n_train : POS_WEIGHT_SAMPLE;
  double *pos = calloc(c, sizeof *pos), *neg = calloc(c, sizeof *neg);
  if (!pos || !neg)
    goto done;
  for (size_t j = 0; j < n; j++) {
    size_t i = (size_t)((double)j * (double)t->n_train / (double)n);
    t->src.get(t->src.ctx, DATASET_TRAIN, i, 0, t->x, t->target, t->mask);
    for (uint32_t k = 0; k < c; k++) {
      if (t->mask[k] < 0.5f)
        continue;
      if (t->target[k] >= 0.5f)
        pos[k] += 1.0;
      else
        neg[k] += 1.0;
    }
  }
  float hi = t->opt.pos_weight_max > 1.0f ? t->opt.pos_weight_max : 1.0f;
  for (uint32_t k = 0; k < c; k++) {
    if (pos[k] == 0.0 || neg[k] == 0.0)
      continue; /* nothing to balance */
    float w = (float)(neg[k] / pos[k]);
    t->pos_weight[k] = w > hi ? hi : (w < 1.0f / hi ? 1.0f / hi : w);
  }
done:
  free(pos);
  free(neg);
}

trainer *trainer_new(const instrid_model_desc *arch, const example_source *src,
                     const train_options *opt, instrid_error *err)
{
  trainer *t = calloc(1, sizeof *t);
  if (!t) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    return NULL;
  }
  t->arch = *arch;
  t->src = *src;
  t->opt = *opt;
  t->n_mels = arch->frontend.n_mels;
  t->window_frames = arch->window_frames;
  t->n_classes = arch->n_classes;
  int overflow = 0;
  t->n_inputs = instrid_mul_size(t->n_mels, t->window_frames, &overflow);

  if (opt->epochs < 1 || opt->batch < 1 || !(opt->lr > 0.0f) || opt->weight_decay < 0.0f ||
      opt->warmup_fraction < 0.0f || opt->warmup_fraction >= 1.0f) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                      "epochs and batch must be >= 1, lr > 0, weight decay >= 0, "
                      "warm-up fraction in [0, 1)");
    goto fail;
  }
  if (t->n_classes < 1 || t->n_inputs == 0 || overflow) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "architecture without classes or inputs");
    goto fail;
  }
  t->n_train = src->count(src->ctx, DATASET_TRAIN);
  t->n_val = src->count(src->ctx, DATASET_VAL);
  if (t->n_train == 0) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "the training split is empty");
    goto fail;
  }
  t->epoch_windows =
      opt->max_windows && opt->max_windows < t->n_train ? opt->max_windows : t->n_train;
  t->batch = opt->batch < t->epoch_windows ? opt->batch : (uint32_t)t->epoch_windows;
  t->steps_per_epoch = t->epoch_windows / t->batch;
  t->total_steps = t->steps_per_epoch * opt->epochs;
  t->warmup_steps = (uint64_t)((double)opt->warmup_fraction * (double)t->total_steps);
  if (t->opt.augment && memcmp(&t->opt.aug, &(augment_options){0}, sizeof t->opt.aug) == 0)
    augment_options_default(&t->opt.aug, t->n_mels, t->window_frames);
  if (!t->opt.augment)
    augment_options_none(&t->opt.aug);
  t->n_replicas = opt->threads > 1 ? opt->threads : 1;
  if ((uint32_t)t->n_replicas > t->batch)
    t->n_replicas = (int)t->batch;
  if (t->n_replicas > MAX_REPLICAS)
    t->n_replicas = MAX_REPLICAS;

  /* Replica r takes examples [r * batch / R, (r + 1) * batch / R) of each batch. */
  int per_replica = (int)((t->batch + (uint32_t)t->n_replicas - 1) / (uint32_t)t->n_replicas);
  for (int r = 0; r < t->n_replicas; r++) {
    t->replicas[r] = train_net_new(arch, per_replica, err);
    if (!t->replicas[r])
      goto fail;
    train_net_set_frozen_prefix(t->replicas[r], (int)opt->frozen_prefix);
  }
  t->net = t->replicas[0];
  /* The seed itself, as instrid-train --arch passes it to instrid_arch_build: an architecture
   * given without weights starts from the weights instrid_arch_build gives it. */
  if (!arch->params)
    train_net_init(t->net, opt->seed);
  t->n_params = train_net_n_params(t->net);
  for (int r = 1; r < t->n_replicas; r++)
    memcpy(train_net_params(t->replicas[r]), train_net_params(t->net), t->n_params * sizeof(float));
  if ((size_t)train_net_n_inputs(t->net) != t->n_inputs ||
      (size_t)train_net_n_outputs(t->net) != t->n_classes) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "network input/output sizes do not match");
    goto fail;
  }

  t->options_hash = hash_options(t);

  t->n_val_used =
      opt->max_val_windows && opt->max_val_windows < t->n_val ? opt->max_val_windows : t->n_val;
  size_t bc = (size_t)t->batch * t->n_classes, vc = t->n_val_used * t->n_classes;
  t->adam_m = calloc(t->n_params, sizeof(float));
  t->adam_v = calloc(t->n_params, sizeof(float));
  t->trainable = malloc(t->n_params ? t->n_params : 1);
  t->pos_weight = calloc(t->n_classes, sizeof(float));
  t->thresholds = calloc(t->n_classes, sizeof(float));
  t->x = instrid_alloc_floats(instrid_mul_size(t->batch, t->n_inputs, &overflow));
  t->target = calloc(bc, sizeof(float));
  t->mask = calloc(bc, sizeof(float));
  t->logits = calloc(bc, sizeof(float));
  t->dlogits = calloc(bc, sizeof(float));
  t->mix_x = calloc((size_t)t->n_replicas * t->n_inputs, sizeof(float));
  t->mix_target = calloc((size_t)t->n_replicas * t->n_classes, sizeof(float));
  t->mix_mask = calloc((size_t)t->n_replicas * t->n_classes, sizeof(float));
  t->order = calloc(t->n_train, sizeof(size_t));
  t->val_logits = calloc(vc ? vc : 1, sizeof(float));
  t->val_target = calloc(vc ? vc : 1, sizeof(float));
  t->val_mask = calloc(vc ? vc : 1, sizeof(float));
  if (overflow || !t->adam_m || !t->adam_v || !t->trainable || !t->pos_weight || !t->thresholds ||
      !t->x || !t->target || !t->mask || !t->logits || !t->dlogits || !t->mix_x || !t->mix_target ||
      !t->mix_mask || !t->order || !t->val_logits || !t->val_target || !t->val_mask ||
      !metrics_report_init(&t->val, t->n_classes)) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory for %zu parameters, batch %u",
                      t->n_params, t->batch);
    goto fail;
  }
  for (uint32_t k = 0; k < t->n_classes; k++)
    t->thresholds[k] = 0.5f;
  const uint8_t *net_trainable = train_net_trainable_mask(t->net);
  for (size_t i = 0; i < t->n_params; i++)
    t->trainable[i] = net_trainable[i] && (!opt->lr_scale || opt->lr_scale[i] > 0.0f);
  compute_pos_weight(t);
  t->rng_state = opt->seed ^ ((uint64_t)RNG_TAG_DROPOUT << 48);
  return t;

fail:
  trainer_free(t);
  return NULL;
}

void trainer_free(trainer *t)
{
  if (!t)
    return;
  for (int r = 0; r < t->n_replicas; r++)
    train_net_free(t->replicas[r]);
  free(t->adam_m);
  free(t->adam_v);
  free(t->trainable);
  free(t->pos_weight);
  free(t->thresholds);
  instrid_free_aligned(t->x);
  free(t->target);
  free(t->mask);
  free(t->logits);
  free(t->dlogits);
  free(t->mix_x);
  free(t->mix_target);
  free(t->mix_mask);
  free(t->order);
  free(t->val_logits);
  free(t->val_target);
  free(t->val_mask);
  metrics_report_clear(&t->val);
  free(t);
}

/* ------------------------------------------------------------------------------------------ */
/* The loop */

static void shuffle_for_epoch(trainer *t, uint32_t epoch)
{
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, t->opt.seed, RNG_TAG_SHUFFLE, epoch);
  for (size_t i = 0; i < t->n_train; i++)
    t->order[i] = i;
  for (size_t i = t->n_train; i > 1; i--) {
    size_t j = (size_t)((instrid_rng_next(&rng) >> 11) % i);
    size_t tmp = t->order[i - 1];
    t->order[i - 1] = t->order[j];
    t->order[j] = tmp;
  }
}

static int draw_shift(const trainer *t, instrid_rng *rng)
{
  uint32_t max = t->opt.aug.shift_frames_max;
  if (max == 0)
    return 0;
  return (int)instrid_rng_below(rng, 2 * max + 1) - (int)max;
}

/* Example j of the batch at position pos of the epoch's order: its own random stream from
 * (seed, epoch, pos), so the window it becomes does not depend on anything else. Replica r's
 * mixup buffers hold the partner window. */
static void load_example(trainer *t, uint32_t epoch, size_t pos, size_t j, int r)
{
  float *x = t->x + j * t->n_inputs;
  float *target = t->target + j * t->n_classes, *mask = t->mask + j * t->n_classes;
  float *mix_x = t->mix_x + (size_t)r * t->n_inputs;
  float *mix_target = t->mix_target + (size_t)r * t->n_classes;
  float *mix_mask = t->mix_mask + (size_t)r * t->n_classes;
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, t->opt.seed ^ ((uint64_t)RNG_TAG_EXAMPLE << 48), epoch, pos);
  int shift = draw_shift(t, &rng);
  t->src.get(t->src.ctx, DATASET_TRAIN, t->order[pos], shift, x, target, mask);
  if (!t->opt.augment)
    return;
  float u_mix = instrid_rng_uniform(&rng);
  size_t partner = (size_t)((instrid_rng_next(&rng) >> 11) % t->n_train);
  int partner_shift = draw_shift(t, &rng);
  float w = instrid_rng_range(&rng, t->opt.aug.mixup_weight_min, t->opt.aug.mixup_weight_max);
  if (u_mix < t->opt.aug.mixup_prob) {
    t->src.get(t->src.ctx, DATASET_TRAIN, partner, partner_shift, mix_x, mix_target, mix_mask);
    augment_mixup(&t->arch.frontend, x, mix_x, t->n_inputs, w, target, mask, mix_target, mix_mask,
                  t->n_classes);
  }
  augment_window(&t->opt.aug, &t->arch.frontend, x, t->n_mels, t->window_frames, &rng);
}

/* Loads a replica's share of the batch, runs forward, loss and backward on its own network.
 * Gradients are those of the mean over the share's known labels; train_step reweights. */
static void *replica_step(void *arg)
{
  replica_job *job = arg;
  trainer *t = job->t;
  size_t base = t->step_in_epoch * t->batch, c = t->n_classes;
  for (size_t j = job->start; j < job->start + job->n; j++)
    load_example(t, t->epoch, base + j, j, job->replica);

  /* Dropout draws from one stream per step and replica, derived from the step number, so that
   * a resumed run draws what the uninterrupted one did. */
  uint64_t dropout_rng = t->rng_state;
  if (job->replica > 0) {
    uint64_t sm = t->rng_state ^ ((uint64_t)job->replica * 0xd1b54a32d192ed03ull);
    dropout_rng = rng_splitmix64(&sm);
  }
  train_net *net = t->replicas[job->replica];
  float *logits = t->logits + job->start * c, *dlogits = t->dlogits + job->start * c;
  const float *target = t->target + job->start * c, *mask = t->mask + job->start * c;
  train_net_forward(net, t->x + job->start * t->n_inputs, (int)job->n, 1, &dropout_rng, logits);
  float gamma = t->opt.loss == TRAIN_LOSS_FOCAL ? t->opt.focal_gamma : 0.0f;
  const float *pw = t->opt.loss == TRAIN_LOSS_BALANCED ? t->pos_weight : NULL;
  job->loss = masked_bce_with_logits(logits, target, mask, (int)job->n, (int)c, pw, gamma, dlogits);
  job->known = 0.0;
  for (size_t i = 0; i < job->n * c; i++)
    job->known += mask[i] != 0.0f;
  train_net_zero_grad(net);
  train_net_backward(net, dlogits, NULL);
  return NULL;
}

static float train_step(trainer *t)
{
  uint64_t sm = t->opt.seed ^ ((uint64_t)RNG_TAG_DROPOUT << 48) ^ (t->step * 0x9e3779b97f4a7c15ull);
  t->rng_state = rng_splitmix64(&sm);

  int R = t->n_replicas;
  replica_job jobs[MAX_REPLICAS];
  pthread_t threads[MAX_REPLICAS];
  int started[MAX_REPLICAS] = {0};
  for (int r = 0; r < R; r++) {
    size_t lo = (size_t)r * t->batch / (size_t)R, hi = (size_t)(r + 1) * t->batch / (size_t)R;
    jobs[r] = (replica_job){t, r, lo, hi - lo, 0.0f, 0.0};
  }
  for (int r = 1; r < R; r++)
    started[r] = pthread_create(&threads[r], NULL, replica_step, &jobs[r]) == 0;
  replica_step(&jobs[0]);
  for (int r = 1; r < R; r++) {
    if (started[r])
      pthread_join(threads[r], NULL);
    else
      replica_step(&jobs[r]); /* no thread to be had: do its share here, same result */
  }

  /* The loss is the mean over every known label of the batch: each share's gradient (a mean
   * over its own known labels) weighs by its share of them. Replicas are summed in a fixed
   * order, so the result does not depend on which thread finished first. */
  float *grads = train_net_grads(t->net);
  float loss = jobs[0].loss;
  if (R > 1) {
    double known = 0.0, loss_sum = 0.0;
    for (int r = 0; r < R; r++) {
      known += jobs[r].known;
      loss_sum += jobs[r].known * jobs[r].loss;
    }
    loss = known > 0.0 ? (float)(loss_sum / known) : 0.0f;
    for (int r = 0; r < R && known > 0.0; r++) {
      float w = (float)(jobs[r].known / known);
      const float *g = train_net_grads(t->replicas[r]);
      for (size_t i = 0; i < t->n_params; i++)
        grads[i] = r == 0 ? w * g[i] : grads[i] + w * g[i];
    }
  }

  const uint8_t *trainable = train_net_trainable_mask(t->net);
  clip_grad_norm(grads, t->trainable, t->n_params, t->opt.clip_norm);
  uint64_t step1 = t->step + 1;
  adamw_config cfg = {lr_schedule(t->opt.lr, step1, t->warmup_steps, t->total_steps),
                      0.9f,
                      0.999f,
                      1e-8f,
                      t->opt.weight_decay,
                      t->opt.lr_scale};
  float *params = train_net_params(t->net);
  adamw_step(params, grads, t->adam_m, t->adam_v, train_net_decay_mask(t->net), t->trainable,
             t->n_params, &cfg, step1);
  if (R > 1) {
    /* Batch-norm running statistics: each replica moved its own towards its share's
     * statistics; their mean is where one network would have moved them. Then every replica
     * takes replica 0's parameters. */
    for (size_t i = 0; i < t->n_params; i++) {
      if (trainable[i])
        continue;
      double sum = 0.0;
      for (int r = 0; r < R; r++)
        sum += train_net_params(t->replicas[r])[i];
      params[i] = (float)(sum / R);
    }
    for (int r = 1; r < R; r++)
      memcpy(train_net_params(t->replicas[r]), params, t->n_params * sizeof(float));
  }
  t->step = step1;
  t->step_in_epoch++;
  return loss;
}

static void validate(trainer *t)
{
  size_t n = t->n_val_used, c = t->n_classes, b = (size_t)train_net_max_batch(t->net);
  t->val_step = t->step;
  if (n == 0)
    return;
  /* One network, so BLAS gets the threads here. */
  if (t->n_replicas > 1)
    openblas_set_num_threads(t->opt.threads);
  for (size_t start = 0; start < n; start += b) {
    size_t count = n - start < b ? n - start : b;
    for (size_t j = 0; j < count; j++) {
      size_t i = start + j;
      size_t idx = n == t->n_val ? i : (size_t)((double)i * (double)t->n_val / (double)n);
      t->src.get(t->src.ctx, DATASET_VAL, idx, 0, t->x + j * t->n_inputs, t->val_target + i * c,
                 t->val_mask + i * c);
    }
    train_net_forward(t->net, t->x, (int)count, 0, NULL, t->val_logits + start * c);
  }
  if (t->n_replicas > 1)
    openblas_set_num_threads(1);
  if (!metrics_evaluate(&t->val, t->val_logits, t->val_target, t->val_mask, n, 0.0))
    return;
  t->have_val = 1;
  for (size_t k = 0; k < c; k++)
    t->thresholds[k] = (float)(1.0 / (1.0 + exp(-t->val.threshold[k])));
}

static instrid_status save_checkpoint(trainer *t, instrid_error *err)
{
  if (!t->opt.checkpoint_path)
    return INSTRID_OK;
  checkpoint_state st = {
      .options_hash = t->options_hash,
      .seed = t->opt.seed,
      .step = t->step,
      .epoch = t->epoch,
      .step_in_epoch = t->step_in_epoch,
      .rng_state = t->rng_state,
      .train_seconds = t->seconds_before + (now_seconds() - t->started),
      .epoch_loss_sum = t->epoch_loss_sum,
      .n_params = t->n_params,
      .params = train_net_params(t->net),
      .adam_m = t->adam_m,
      .adam_v = t->adam_v,
  };
  t->last_checkpoint = now_seconds();
  return checkpoint_write(t->opt.checkpoint_path, &st, err);
}

static instrid_status load_checkpoint(trainer *t, instrid_error *err)
{
  struct stat sb;
  if (!t->opt.resume || !t->opt.checkpoint_path || stat(t->opt.checkpoint_path, &sb) != 0)
    return INSTRID_OK; /* nothing to resume: start from the beginning */
  checkpoint_state st = {.n_params = t->n_params,
                         .params = train_net_params(t->net),
                         .adam_m = t->adam_m,
                         .adam_v = t->adam_v};
  instrid_status s = checkpoint_read(t->opt.checkpoint_path, &st, err);
  if (s != INSTRID_OK)
    return s;
  if (st.options_hash != t->options_hash || st.seed != t->opt.seed)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s was written by a run with other options, data or thread count; "
                             "resume with the same ones or start afresh without --resume",
                             t->opt.checkpoint_path);
  if (st.epoch > t->opt.epochs || st.step_in_epoch > t->steps_per_epoch ||
      st.step != st.epoch * t->steps_per_epoch + st.step_in_epoch)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: position %llu/%llu out of range",
                             t->opt.checkpoint_path, (unsigned long long)st.epoch,
                             (unsigned long long)st.step_in_epoch);
  t->step = st.step;
  t->epoch = (uint32_t)st.epoch;
  t->step_in_epoch = st.step_in_epoch;
  t->rng_state = st.rng_state;
  t->epoch_loss_sum = st.epoch_loss_sum;
  t->seconds_before = st.train_seconds;
  for (int r = 1; r < t->n_replicas; r++)
    memcpy(train_net_params(t->replicas[r]), st.params, t->n_params * sizeof(float));
  return INSTRID_OK;
}

static void report(trainer *t, train_phase phase)
{
  if (!t->opt.progress)
    return;
  train_progress p = {0};
  p.phase = phase;
  p.epoch = t->epoch;
  p.epochs = t->opt.epochs;
  p.step = t->step;
  p.total_steps = t->total_steps;
  p.loss = t->step_in_epoch ? t->epoch_loss_sum / (double)t->step_in_epoch : 0.0;
  p.lr = lr_schedule(t->opt.lr, t->step ? t->step : 1, t->warmup_steps, t->total_steps);
  p.windows_per_second = trainer_windows_per_second(t);
  p.eta_seconds = p.windows_per_second > 0.0
                      ? (double)(t->total_steps - t->step) * t->batch / p.windows_per_second
                      : 0.0;
  p.val = phase == TRAIN_PHASE_EPOCH_END && t->have_val && t->val_step == t->step ? &t->val : NULL;
  t->opt.progress(t->opt.progress_ctx, &p);
  t->last_progress = now_seconds();
}

instrid_status trainer_run(trainer *t, instrid_error *err)
{
  instrid_status s;
  /* Replicas each run single-threaded BLAS; one network gets all the threads. */
  if (t->n_replicas > 1)
    openblas_set_num_threads(1);
  else if (t->opt.threads > 0)
    openblas_set_num_threads(t->opt.threads);
  t->stopped = 0;
  s = load_checkpoint(t, err);
  if (s != INSTRID_OK)
    return s;
  t->started = t->last_progress = t->last_checkpoint = now_seconds();

  while (t->epoch < t->opt.epochs) {
    shuffle_for_epoch(t, t->epoch);
    while (t->step_in_epoch < t->steps_per_epoch) {
      double t0 = now_seconds();
      float loss = train_step(t);
      double t1 = now_seconds();
      t->seconds_stepping += t1 - t0;
      t->windows_done += t->batch;
      t->epoch_loss_sum += loss;
      if (t->opt.stop_after_steps && t->step >= t->opt.stop_after_steps) {
        t->stopped = 1;
        return save_checkpoint(t, err);
      }
      if (t->opt.checkpoint_minutes > 0.0 &&
          t1 - t->last_checkpoint >= 60.0 * t->opt.checkpoint_minutes) {
        if ((s = save_checkpoint(t, err)) != INSTRID_OK)
          return s;
        report(t, TRAIN_PHASE_CHECKPOINT);
      }
      if (t1 - t->last_progress >= t->opt.progress_seconds)
        report(t, TRAIN_PHASE_STEP);
    }
    validate(t);
    report(t, TRAIN_PHASE_EPOCH_END);
    t->epoch++;
    t->step_in_epoch = 0;
    t->epoch_loss_sum = 0.0;
    if ((s = save_checkpoint(t, err)) != INSTRID_OK)
      return s;
  }
  /* A run resumed from its final checkpoint has not validated these weights yet. */
  if (!t->have_val || t->val_step != t->step)
    validate(t);
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Results */

int trainer_stopped(const trainer *t)
{
  return t->stopped;
}

uint64_t trainer_steps_done(const trainer *t)
{
  return t->step;
}

double trainer_train_seconds(const trainer *t)
{
  return t->seconds_before + (t->started > 0.0 ? now_seconds() - t->started : 0.0);
}

double trainer_windows_per_second(const trainer *t)
{
  return t->seconds_stepping > 0.0 ? (double)t->windows_done / t->seconds_stepping : 0.0;
}

size_t trainer_n_train(const trainer *t)
{
  return t->n_train;
}

size_t trainer_n_val(const trainer *t)
{
  return t->n_val_used;
}

train_net *trainer_net(trainer *t)
{
  return t->net;
}

const metrics_report *trainer_validation(const trainer *t)
{
  return t->have_val ? &t->val : NULL;
}

const float *trainer_thresholds(const trainer *t)
{
  return t->thresholds;
}

const float *trainer_pos_weight(const trainer *t)
{
  return t->pos_weight;
}

instrid_status trainer_write_model(trainer *t, const char *path, const char *provenance,
                                   instrid_error *err)
{
  instrid_model_desc d;
  train_net_desc(t->net, &d);
  d.thresholds = t->thresholds;
  d.provenance = provenance;
  if (!d.class_names)
    d.class_names = t->arch.class_names;
  return instrid_model_write(&d, path, err);
}
