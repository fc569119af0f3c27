/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* headbag.c — clip-level (bag) training of a dense head on cached vectors: pooling of weak
 * labels, distillation towards the source's mapped outputs, AdamW, resumable checkpoints. */
#include "headbag.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "internal.h"
#include "optim.h"
#include "rng.h"

#define RNG_TAG_BAGS 0x4241ull

const char *headbag_pool_name(headbag_pool p)
{
  switch (p) {
  case HEADBAG_POOL_WINDOW:
    return "window";
  case HEADBAG_POOL_MAX:
    return "max";
  case HEADBAG_POOL_MEAN:
    return "mean";
  }
  return "?";
}

int headbag_pool_from_name(const char *name)
{
  for (int k = HEADBAG_POOL_WINDOW; k <= HEADBAG_POOL_MEAN; k++)
    if (strcmp(name, headbag_pool_name((headbag_pool)k)) == 0)
      return k;
  return -1;
}

void headbag_options_default(headbag_options *o)
{
  memset(o, 0, sizeof *o);
  o->pool = HEADBAG_POOL_MAX;
  o->epochs = 15;
  o->batch = 64;
  o->lr = 1e-3f;
  o->weight_decay = 1e-4f;
  o->warmup_fraction = 0.05f;
  o->pos_weight_max = 10.0f;
  o->seed = 1;
}

void headbag_result_clear(headbag_result *r)
{
  metrics_report_clear(&r->val);
  free(r->thresholds);
  free(r->pos_weight);
  memset(r, 0, sizeof *r);
}

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double softplus(double x)
{
  return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static float sigmoidf(float x)
{
  return 1.0f / (1.0f + expf(-x));
}

/* Bags of a split: runs of windows with one group id and weak labels; other windows alone.
 * Fills start/len (capacity n) and returns the count. */
static size_t make_bags(const headbag_split *s, headbag_pool pool, size_t *start, size_t *len)
{
  size_t nb = 0;
  for (size_t i = 0; i < s->n;) {
    size_t j = i + 1;
    if (pool != HEADBAG_POOL_WINDOW && s->weak[i])
      while (j < s->n && s->weak[j] && s->group[j] == s->group[i])
        j++;
    start[nb] = i;
    len[nb] = j - i;
    nb++;
    i = j;
  }
  return nb;
}

float *headbag_teachers(const headbag_data *d, int s, const float *params)
{
  const headbag_split *sp = &d->split[s];
  const uint32_t T = d->n_targets, S = d->n_out - d->n_targets, D = d->dim;
  if (!d->teacher_of)
    return NULL;
  float *t = malloc(sizeof(float) * (sp->n ? sp->n : 1) * T);
  if (!t)
    return NULL;
  const float *w = params + (size_t)T * D, *b = params + (size_t)d->n_out * D + T;
  for (size_t i = 0; i < sp->n; i++) {
    float *ti = t + i * T;
    for (uint32_t c = 0; c < T; c++)
      ti[c] = NAN;
    for (uint32_t j = 0; j < S; j++) {
      int32_t c = d->teacher_of[j];
      if (c < 0 || (uint32_t)c >= T)
        continue;
      float z = b[j] + cblas_sdot((int)D, w + (size_t)j * D, 1, sp->vec + i * D, 1);
      float p = sigmoidf(z);
      if (isnan(ti[c]) || p > ti[c])
        ti[c] = p;
    }
  }
  return t;
}

/* Logits of the target classes for windows [start, start + n) into z (n, T). */
static void target_logits(const headbag_data *d, const headbag_split *sp, size_t start, size_t n,
                          const float *params, float *z)
{
  const uint32_t T = d->n_targets, D = d->dim;
  const float *b = params + (size_t)d->n_out * D;
  for (size_t i = 0; i < n; i++)
    memcpy(z + i * T, b, sizeof(float) * T);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)T, (int)D, 1.0f,
              sp->vec + start * D, (int)D, params, (int)D, 1.0f, z, (int)T);
}

/* The masked, weighted BCE of one (bag, class) label y with weight w on the pooled logit zc,
 * through the blend with teacher t when gamma > 0 and t is not NaN (headbag.h). Returns the
 * loss and sets *g to its derivative by zc. */
static double label_loss(double zc, double y, double w, float gamma, uint32_t mode, float t,
                         double *g)
{
  double h = 1.0 / (1.0 + exp(-zc));
  if (!(gamma > 0.0f) || isnan(t)) {
    *g = w * y * (h - 1.0) + (1.0 - y) * h;
    return w * y * softplus(-zc) + (1.0 - y) * softplus(zc);
  }
  double tc = t < 0.0f ? 0.0 : t > 1.0f - 1e-6f ? 1.0 - 1e-6 : (double)t;
  if (mode == INSTRID_BLEND_NOISY_OR) {
    /* log(1 - b) = -gamma softplus(zc) + (1 - gamma) log(1 - t); d/dzc = -gamma h */
    double a = -gamma * softplus(zc) + (1.0 - gamma) * log1p(-tc);
    double b = -expm1(a);
    b = b < 1e-12 ? 1e-12 : b;
    *g = w * y * (-(1.0 - b) * gamma * h / b) + (1.0 - y) * gamma * h;
    return w * y * -log(b) - (1.0 - y) * a;
  }
  double b = gamma * h + (1.0 - gamma) * tc, db = gamma * h * (1.0 - h);
  b = b < 1e-12 ? 1e-12 : b > 1.0 - 1e-12 ? 1.0 - 1e-12 : b;
  *g = (-w * y / b + (1.0 - y) / (1.0 - b)) * db;
  return -w * y * log(b) - (1.0 - y) * log1p(-b);
}

double headbag_loss_grad(const headbag_data *d, int s, const size_t *bag_start,
                         const size_t *bag_len, size_t n_bags, const headbag_options *o,
                         const float *params, const float *pos_weight, const float *teacher,
                         float *grad)
{
  const headbag_pool pool = o->pool;
  const float distill = teacher ? o->distill : 0.0f, gamma = teacher ? o->blend_gamma : 0.0f;
  const headbag_split *sp = &d->split[s];
  const uint32_t T = d->n_targets, D = d->dim, O = d->n_out;
  size_t n_params = (size_t)O * (D + 1), max_len = 1;
  memset(grad, 0, sizeof(float) * n_params);
  /* Normalisers: known (bag, class) labels and (window, class) teachers in the batch. */
  double known = 0.0, taught = 0.0;
  for (size_t b = 0; b < n_bags; b++) {
    const float *m = sp->mask + bag_start[b] * O;
    for (uint32_t c = 0; c < T; c++)
      known += m[c] != 0.0f;
    if (bag_len[b] > max_len)
      max_len = bag_len[b];
    if (distill > 0.0f)
      for (size_t i = 0; i < bag_len[b]; i++)
        for (uint32_t c = 0; c < T; c++)
          taught += !isnan(teacher[(bag_start[b] + i) * T + c]);
  }
  float *z = malloc(sizeof(float) * max_len * T), *dz = malloc(sizeof(float) * max_len * T);
  if (!z || !dz) {
    free(z);
    free(dz);
    return NAN;
  }
  double loss = 0.0;
  float *gw = grad, *gb = grad + (size_t)O * D;
  for (size_t b = 0; b < n_bags; b++) {
    size_t st = bag_start[b], n = bag_len[b];
    target_logits(d, sp, st, n, params, z);
    memset(dz, 0, sizeof(float) * n * T);
    const float *y = sp->target + st * O, *m = sp->mask + st * O;
    for (uint32_t c = 0; c < T && known > 0.0; c++) {
      if (m[c] == 0.0f)
        continue;
      size_t arg = 0;
      double zc = 0.0;
      if (pool == HEADBAG_POOL_MEAN) {
        for (size_t i = 0; i < n; i++)
          zc += z[i * T + c];
        zc /= (double)n;
      } else { /* max; a bag of one under "window" */
        for (size_t i = 1; i < n; i++)
          if (z[i * T + c] > z[arg * T + c])
            arg = i;
        zc = z[arg * T + c];
      }
      double w = pos_weight ? pos_weight[c] : 1.0, g;
      float t = gamma > 0.0f ? teacher[(st + arg) * T + c] : NAN;
      loss += label_loss(zc, y[c], w, gamma, o->blend_mode, t, &g) / known;
      g /= known;
      if (pool == HEADBAG_POOL_MEAN)
        for (size_t i = 0; i < n; i++)
          dz[i * T + c] += (float)(g / (double)n);
      else
        dz[arg * T + c] += (float)g;
    }
    if (taught > 0.0)
      for (size_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < T; c++) {
          float t = teacher[(st + i) * T + c];
          if (isnan(t))
            continue;
          double zc = z[i * T + c];
          loss += distill * (t * softplus(-zc) + (1.0 - t) * softplus(zc)) / taught;
          dz[i * T + c] += (float)(distill * (1.0 / (1.0 + exp(-zc)) - t) / taught);
        }
    /* dW[0:T] += dz^T V, db += sum of dz. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)D, (int)n, 1.0f, dz, (int)T,
                sp->vec + st * D, (int)D, 1.0f, gw, (int)D);
    for (size_t i = 0; i < n; i++)
      for (uint32_t c = 0; c < T; c++)
        gb[c] += dz[i * T + c];
  }
  free(z);
  free(dz);
  return loss;
}

/* Pooled probabilities of the target classes for every bag of split s. */
static void bag_scores(const headbag_data *d, int s, const size_t *start, const size_t *len,
                       size_t nb, headbag_pool pool, const float *params, float *scores, float *tg,
                       float *mk, float *z)
{
  const headbag_split *sp = &d->split[s];
  const uint32_t T = d->n_targets, O = d->n_out;
  for (size_t b = 0; b < nb; b++) {
    target_logits(d, sp, start[b], len[b], params, z);
    for (uint32_t c = 0; c < T; c++) {
      double v = pool == HEADBAG_POOL_MEAN ? 0.0 : -INFINITY;
      for (size_t i = 0; i < len[b]; i++)
        v = pool == HEADBAG_POOL_MEAN ? v + z[i * T + c] : fmax(v, z[i * T + c]);
      if (pool == HEADBAG_POOL_MEAN)
        v /= (double)len[b];
      scores[b * T + c] = sigmoidf((float)v);
      tg[b * T + c] = sp->target[start[b] * O + c];
      mk[b * T + c] = sp->mask[start[b] * O + c];
    }
  }
}

/* Per-value mean and standard deviation of split 0's vectors (headbag.h, standardised inputs);
 * a value that (nearly) never moves keeps mu 0, sd 1. */
static int input_moments(const headbag_data *d, float *mu, float *sd)
{
  const headbag_split *sp = &d->split[0];
  const uint32_t D = d->dim;
  double *s1 = calloc(D, sizeof(double)), *s2 = calloc(D, sizeof(double));
  if (!s1 || !s2) {
    free(s1);
    free(s2);
    return 0;
  }
  for (size_t i = 0; i < sp->n; i++) {
    const float *x = sp->vec + i * D;
    for (uint32_t j = 0; j < D; j++) {
      s1[j] += x[j];
      s2[j] += (double)x[j] * x[j];
    }
  }
  for (uint32_t j = 0; j < D; j++) {
    double m = s1[j] / (double)sp->n, var = s2[j] / (double)sp->n - m * m;
    double dev = var > 0.0 ? sqrt(var) : 0.0;
    mu[j] = dev < 1e-6 ? 0.0f : (float)m;
    sd[j] = dev < 1e-6 ? 1.0f : (float)dev;
  }
  free(s1);
  free(s2);
  return 1;
}

/* The target rows of a head (T rows of D weights, then the n_out biases) into the standardised
 * space (to_std = 1: w' = w sd, b' = b + w . mu) or back (w = w' / sd, b = b' - w . mu); the
 * source's rows are copied as they are. */
static void convert_rows(const headbag_data *d, const float *mu, const float *sd, const float *in,
                         float *out, int to_std)
{
  const uint32_t T = d->n_targets, D = d->dim, O = d->n_out;
  memcpy(out, in, sizeof(float) * (size_t)O * (D + 1));
  for (uint32_t c = 0; c < T; c++) {
    const float *wi = in + (size_t)c * D;
    float *wo = out + (size_t)c * D;
    double shift = 0.0;
    for (uint32_t j = 0; j < D; j++) {
      wo[j] = to_std ? wi[j] * sd[j] : wi[j] / sd[j];
      shift += (double)(to_std ? wi[j] : wo[j]) * mu[j];
    }
    out[(size_t)O * D + c] = (float)(in[(size_t)O * D + c] + (to_std ? shift : -shift));
  }
}

/* A gradient by the plain rows into one by the standardised rows (in place, target rows):
 * dL/dw'_j = (dL/dw_j - dL/db mu_j) / sd_j, dL/db' = dL/db. */
static void grad_to_std(const headbag_data *d, const float *mu, const float *sd, float *grad)
{
  const uint32_t T = d->n_targets, D = d->dim, O = d->n_out;
  for (uint32_t c = 0; c < T; c++) {
    float gb = grad[(size_t)O * D + c], *g = grad + (size_t)c * D;
    for (uint32_t j = 0; j < D; j++)
      g[j] = (g[j] - gb * mu[j]) / sd[j];
  }
}

static uint64_t hash_run(const headbag_data *d, const headbag_options *o, const float *params,
                         const float *lr_scale, size_t n_params)
{
  uint64_t h = CHECKPOINT_HASH_INIT;
#define H(x) h = checkpoint_hash(h, &(x), sizeof(x))
  H(d->dim);
  H(d->n_out);
  H(d->n_targets);
  for (int s = 0; s < 2; s++) {
    uint64_t n = d->split[s].n;
    H(n);
  }
  h = checkpoint_hash(h, d->split[0].vec, sizeof(float) * d->split[0].n * d->dim);
  h = checkpoint_hash(h, d->split[0].target, sizeof(float) * d->split[0].n * d->n_out);
  h = checkpoint_hash(h, d->split[0].mask, sizeof(float) * d->split[0].n * d->n_out);
  h = checkpoint_hash(h, params, sizeof(float) * n_params);
  if (lr_scale)
    h = checkpoint_hash(h, lr_scale, sizeof(float) * n_params);
  H(o->pool);
  H(o->distill);
  if (o->blend_gamma > 0.0f) { /* runs without it keep their earlier checkpoints */
    H(o->blend_gamma);
    H(o->blend_mode);
  }
  H(o->epochs);
  H(o->batch);
  H(o->lr);
  H(o->weight_decay);
  H(o->warmup_fraction);
  H(o->pos_weight_max);
  H(o->seed);
  if (o->standardize) /* runs without it keep their earlier checkpoints */
    H(o->standardize);
#undef H
  return h;
}

instrid_status headbag_train(const headbag_data *d, const headbag_options *o, float *params,
                             const float *lr_scale, headbag_result *res, instrid_error *err)
{
  memset(res, 0, sizeof *res);
  const uint32_t T = d->n_targets, D = d->dim, O = d->n_out;
  if (!o || o->epochs < 1 || o->batch < 1 || !(o->lr > 0.0f) || o->weight_decay < 0.0f ||
      !(o->warmup_fraction >= 0.0f && o->warmup_fraction < 1.0f) || !(o->distill >= 0.0f) ||
      o->batch > 1024 || T < 1 || T > O || D < 1 || o->pool > HEADBAG_POOL_MEAN)
    return instrid_set_error(
        err, INSTRID_ERR_INVALID_ARG,
        "head training: epochs >= 1, batch in 1..1024, lr > 0, weight decay and "
        "distillation >= 0, warm-up in [0, 1), a known pooling");
  if (d->split[0].n == 0)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "the training split is empty");
  if ((o->distill > 0.0f || o->blend_gamma > 0.0f) && (!d->teacher_of || O == T))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "distillation and the loss through the blend need the source's "
                             "outputs (--keep-source-head)");
  if (!(o->blend_gamma >= 0.0f && o->blend_gamma <= 1.0f) ||
      (o->blend_gamma > 0.0f && o->blend_mode != INSTRID_BLEND_LINEAR &&
       o->blend_mode != INSTRID_BLEND_NOISY_OR))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "the loss through the blend: gamma in [0, 1], a known blend mode");
  if (o->blend_gamma > 0.0f && o->pool == HEADBAG_POOL_MEAN)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "the loss through the blend is taken at a window: pool window or "
                             "max, not mean");
  const size_t n_params = (size_t)O * (D + 1);
  size_t n0 = d->split[0].n, n1 = d->split[1].n;
  size_t *start[2], *len[2], nb[2];
  float *teacher = NULL, *grad = NULL, *m = NULL, *v = NULL, *scores = NULL, *tg = NULL, *mk = NULL,
        *z = NULL, *mu = NULL, *sd = NULL, *std_params = NULL;
  size_t *order = NULL;
  uint8_t *decay = NULL;
  instrid_status st = INSTRID_OK;
  start[0] = malloc(sizeof(size_t) * n0);
  len[0] = malloc(sizeof(size_t) * n0);
  start[1] = malloc(sizeof(size_t) * (n1 ? n1 : 1));
  len[1] = malloc(sizeof(size_t) * (n1 ? n1 : 1));
  grad = malloc(sizeof(float) * n_params);
  m = calloc(n_params, sizeof(float));
  v = calloc(n_params, sizeof(float));
  decay = malloc(n_params);
  order = malloc(sizeof(size_t) * n0);
  res->thresholds = malloc(sizeof(float) * T);
  res->pos_weight = malloc(sizeof(float) * T);
  if (!start[0] || !len[0] || !start[1] || !len[1] || !grad || !m || !v || !decay || !order ||
      !res->thresholds || !res->pos_weight) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (int s = 0; s < 2; s++)
    nb[s] = make_bags(&d->split[s], o->pool, start[s], len[s]);
  res->bags[0] = nb[0];
  res->bags[1] = nb[1];
  if ((o->distill > 0.0f || o->blend_gamma > 0.0f) && !(teacher = headbag_teachers(d, 0, params))) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n_params; i++)
    decay[i] = i < (size_t)O * D;
  /* With standardised inputs the optimiser's parameters (and the checkpoint's) are the rows in
   * that space; params follows them after every step. */
  float *opt_params = params;
  if (o->standardize) {
    mu = malloc(sizeof(float) * D);
    sd = malloc(sizeof(float) * D);
    std_params = malloc(sizeof(float) * n_params);
    if (!mu || !sd || !std_params || !input_moments(d, mu, sd)) {
      st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      goto out;
    }
    convert_rows(d, mu, sd, params, std_params, 1);
    opt_params = std_params;
  }

  /* pos_weight per class over the training bags' known labels. */
  float hi = o->pos_weight_max > 1.0f ? o->pos_weight_max : 1.0f;
  for (uint32_t c = 0; c < T; c++) {
    double pos = 0, neg = 0;
    for (size_t b = 0; b < nb[0]; b++) {
      size_t i = start[0][b] * O + c;
      if (d->split[0].mask[i] != 0.0f)
        *(d->split[0].target[i] >= 0.5f ? &pos : &neg) += 1.0;
    }
    float w = pos > 0 && neg > 0 ? (float)(neg / pos) : 1.0f;
    res->pos_weight[c] = w > hi ? hi : (w < 1.0f / hi ? 1.0f / hi : w);
  }

  uint64_t steps_per_epoch = (nb[0] + o->batch - 1) / o->batch;
  uint64_t total = steps_per_epoch * o->epochs;
  uint64_t warmup = (uint64_t)((double)o->warmup_fraction * (double)total);
  uint64_t hash = hash_run(d, o, params, lr_scale, n_params);
  checkpoint_state cs = {.n_params = n_params, .params = opt_params, .adam_m = m, .adam_v = v};
  uint32_t epoch0 = 0;
  double seconds_before = 0.0;
  if (o->checkpoint_path && o->resume) {
    FILE *fp = fopen(o->checkpoint_path, "rb");
    if (fp) {
      fclose(fp);
      float *saved = malloc(sizeof(float) * n_params);
      if (!saved) {
        st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
        goto out;
      }
      memcpy(saved, opt_params, sizeof(float) * n_params);
      st = checkpoint_read(o->checkpoint_path, &cs, err);
      if (st == INSTRID_OK && cs.options_hash != hash) {
        memcpy(opt_params, saved, sizeof(float) * n_params);
        st = instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "%s: a checkpoint of another run (other data or options)",
                               o->checkpoint_path);
      }
      free(saved);
      if (st != INSTRID_OK)
        goto out;
      if (o->standardize)
        convert_rows(d, mu, sd, std_params, params, 0);
      epoch0 = (uint32_t)cs.epoch;
      res->steps = cs.step;
      seconds_before = cs.train_seconds;
    }
  }
  double t0 = now_seconds();
  adamw_config cfg = {.beta1 = 0.9f,
                      .beta2 = 0.999f,
                      .eps = 1e-8f,
                      .weight_decay = o->weight_decay,
                      .lr_scale = lr_scale};
  for (uint32_t e = epoch0; e < o->epochs; e++) {
    instrid_rng rng;
    instrid_rng_seed_stream(&rng, o->seed, RNG_TAG_BAGS, e);
    for (size_t i = 0; i < nb[0]; i++)
      order[i] = i;
    for (size_t i = nb[0]; i > 1; i--) {
      size_t j = (size_t)((instrid_rng_next(&rng) >> 11) % i), tmp = order[i - 1];
      order[i - 1] = order[j];
      order[j] = tmp;
    }
    double loss_sum = 0.0;
    size_t bs[1024], bl[1024];
    for (uint64_t k = 0; k < steps_per_epoch; k++) {
      size_t n = 0;
      for (size_t b = k * o->batch; b < nb[0] && b < (k + 1) * o->batch && n < 1024; b++, n++) {
        bs[n] = start[0][order[b]];
        bl[n] = len[0][order[b]];
      }
      double l = headbag_loss_grad(d, 0, bs, bl, n, o, params, res->pos_weight, teacher, grad);
      if (isnan(l)) {
        st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
        goto out;
      }
      loss_sum += l;
      res->steps++;
      if (o->standardize)
        grad_to_std(d, mu, sd, grad);
      for (size_t i = (size_t)T * D; i < (size_t)O * D; i++)
        grad[i] = 0.0f; /* the source's rows stay */
      for (uint32_t j = T; j < O; j++)
        grad[(size_t)O * D + j] = 0.0f;
      cfg.lr = lr_schedule(o->lr, res->steps, warmup, total);
      adamw_step(opt_params, grad, m, v, decay, NULL, n_params, &cfg, res->steps);
      if (o->standardize)
        convert_rows(d, mu, sd, std_params, params, 0);
    }
    res->last_epoch_loss = loss_sum / (double)steps_per_epoch;
    res->epochs_done = e + 1;
    if (o->checkpoint_path) {
      cs.options_hash = hash;
      cs.seed = o->seed;
      cs.step = res->steps;
      cs.epoch = e + 1;
      cs.step_in_epoch = 0;
      cs.rng_state = 0;
      cs.train_seconds = seconds_before + now_seconds() - t0;
      cs.epoch_loss_sum = loss_sum;
      if ((st = checkpoint_write(o->checkpoint_path, &cs, err)) != INSTRID_OK)
        goto out;
    }
    if (o->stop_after_epochs && e + 1 >= o->stop_after_epochs && e + 1 < o->epochs) {
      res->stopped = 1;
      break;
    }
  }
  res->epochs_done = res->epochs_done > epoch0 ? res->epochs_done : epoch0;
  res->seconds = seconds_before + now_seconds() - t0;

  /* Validation at bag level: AP and F1-best thresholds on the pooled probabilities. */
  for (uint32_t c = 0; c < T; c++)
    res->thresholds[c] = 0.5f;
  if (!metrics_report_init(&res->val, T)) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (nb[1] > 0 && !res->stopped) {
    size_t max_len = 1;
    for (size_t b = 0; b < nb[1]; b++)
      max_len = len[1][b] > max_len ? len[1][b] : max_len;
    scores = malloc(sizeof(float) * nb[1] * T);
    tg = malloc(sizeof(float) * nb[1] * T);
    mk = malloc(sizeof(float) * nb[1] * T);
    z = malloc(sizeof(float) * max_len * T);
    if (!scores || !tg || !mk || !z) {
      st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      goto out;
    }
    bag_scores(d, 1, start[1], len[1], nb[1], o->pool, params, scores, tg, mk, z);
    if (!metrics_evaluate(&res->val, scores, tg, mk, nb[1], 0.5)) {
      st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      goto out;
    }
    for (uint32_t c = 0; c < T; c++)
      res->thresholds[c] = (float)res->val.threshold[c];
  }
out:
  for (int s = 0; s < 2; s++) {
    free(start[s]);
    free(len[s]);
  }
  free(teacher), free(grad), free(m), free(v), free(decay), free(order);
  free(scores), free(tg), free(mk), free(z);
  free(mu), free(sd), free(std_params);
  return st;
}
