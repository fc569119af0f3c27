/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* batchnorm.c — BATCHNORM: f0 = eps; tensors gamma, beta, running_mean, running_var (C).
 * Inference: y = x * s + (beta - mean * s), s = gamma / sqrt(var + eps) computed in double, the
 * very values model.c folds into a convolution before it. Training: the batch's statistics
 * (biased variance), running statistics updated with momentum 0.1 (PyTorch: unbiased variance
 * for the running estimate). State: the batch mean and 1/std per channel, for backward. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"

#define MOMENTUM 0.1f

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->bn.eps = d->f0;
}

static instrid_status check(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  if (!(p->bn.eps > 0.0f && p->bn.eps <= 1.0f))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u (batchnorm): eps %g outside (0, 1]",
                             ctx->index, (double)p->bn.eps);
  *out = ctx->in;
  return INSTRID_OK;
}

static void tensor(const instrid_layer_params *p, instrid_shape in, unsigned k,
                   instrid_tensor_spec *t)
{
  (void)p;
  memset(t, 0, sizeof *t);
  t->role = INSTRID_TENSOR_GAMMA + k;
  t->ndims = 1;
  t->dims[0] = in.c;
  t->init = (k == 0 || k == 3) ? INSTRID_INIT_ONE : INSTRID_INIT_ZERO;
  t->trainable = k < 2;
  t->non_negative = k == 3;
}

static size_t state_floats(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                           int max_batch)
{
  (void)p, (void)out, (void)max_batch;
  return 2 * (size_t)in.c;
}

/* Sums over one plane in eight float lanes (vectorisable without -ffast-math, and more
 * accurate than one serial float sum), flushed to double once per plane. */
static double sum_lanes(const float *restrict x, size_t n)
{
  float a[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++)
      a[j] += x[k + j];
  for (; k < n; k++)
    a[0] += x[k];
  double s = 0.0;
  for (int j = 0; j < 8; j++)
    s += a[j];
  return s;
}

static double squared_deviation_lanes(const float *restrict x, size_t n, float mean)
{
  float a[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++)
      a[j] += (x[k + j] - mean) * (x[k + j] - mean);
  for (; k < n; k++)
    a[0] += (x[k] - mean) * (x[k] - mean);
  double s = 0.0;
  for (int j = 0; j < 8; j++)
    s += a[j];
  return s;
}

static void forward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)out;
  const int n = a->n, c = (int)in.c;
  const size_t hw = (size_t)in.h * in.w, count = (size_t)n * hw;
  const float eps = p->bn.eps;
  const float *gamma = a->t[0], *beta = a->t[1];
  /* The running statistics: read at inference, updated in training (the trainer's parameter
   * block is writable; the casts only happen in training). */
  float *run_mean = (float *)a->t[2], *run_var = (float *)a->t[3];
  for (int ch = 0; ch < c; ch++) {
    float scale, shift;
    if (a->training) {
      /* Two passes in double: the mean first, then squared deviations (no cancellation). */
      double sum = 0.0;
      for (int e = 0; e < n; e++)
        sum += sum_lanes(a->x + ((size_t)e * c + ch) * hw, hw);
      double mean = sum / (double)count;
      double sq = 0.0;
      for (int e = 0; e < n; e++)
        sq += squared_deviation_lanes(a->x + ((size_t)e * c + ch) * hw, hw, (float)mean);
      double var = sq / (double)count;
      float invstd = (float)(1.0 / sqrt(var + eps));
      a->state[ch] = (float)mean;
      a->state[c + ch] = invstd;
      scale = gamma[ch] * invstd;
      shift = beta[ch] - (float)mean * scale;
      double unbiased = count > 1 ? sq / (double)(count - 1) : var;
      run_mean[ch] = (1.0f - MOMENTUM) * run_mean[ch] + MOMENTUM * (float)mean;
      run_var[ch] = (1.0f - MOMENTUM) * run_var[ch] + MOMENTUM * (float)unbiased;
    } else {
      scale = (float)((double)gamma[ch] / sqrt((double)run_var[ch] + (double)eps));
      shift = beta[ch] - run_mean[ch] * scale;
    }
    for (int e = 0; e < n; e++) {
      const float *x = a->x + ((size_t)e * c + ch) * hw;
      float *y = a->y + ((size_t)e * c + ch) * hw;
      for (size_t k = 0; k < hw; k++)
        y[k] = x[k] * scale + shift;
    }
  }
}

/* Adds sum(dy) and sum(dy * (x - mean)) over one plane to *s_dy and *s_dy_xc. */
static void plane_dot_sums(const float *restrict x, const float *restrict dy, size_t hw, float mean,
                           double *s_dy, double *s_dy_xc)
{
  float a[8] = {0}, b[8] = {0};
  size_t k = 0;
  for (; k + 8 <= hw; k += 8)
    for (int j = 0; j < 8; j++) {
      a[j] += dy[k + j];
      b[j] += dy[k + j] * (x[k + j] - mean);
    }
  for (; k < hw; k++) {
    a[0] += dy[k];
    b[0] += dy[k] * (x[k] - mean);
  }
  double sa = 0.0, sb = 0.0;
  for (int j = 0; j < 8; j++) {
    sa += a[j];
    sb += b[j];
  }
  *s_dy += sa;
  *s_dy_xc += sb;
}

static void backward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                     const instrid_layer_bwd *a)
{
  (void)out;
  const int n = a->n, c = (int)in.c;
  const size_t hw = (size_t)in.h * in.w;
  const double count = (double)n * (double)hw;
  const float *gamma = a->t[0];
  float *dgamma = a->dt[0], *dbeta = a->dt[1];
  for (int ch = 0; ch < c; ch++) {
    float mean, invstd;
    if (a->training) {
      mean = a->state[ch];
      invstd = a->state[c + ch];
    } else {
      mean = a->t[2][ch];
      invstd = 1.0f / sqrtf(a->t[3][ch] + p->bn.eps);
    }
    double sum_dy = 0.0, sum_dy_xc = 0.0;
    for (int e = 0; e < n; e++) {
      size_t off = ((size_t)e * c + ch) * hw;
      plane_dot_sums(a->x + off, a->dy + off, hw, mean, &sum_dy, &sum_dy_xc);
    }
    double sum_dy_xhat = sum_dy_xc * invstd;
    dgamma[ch] += (float)sum_dy_xhat;
    dbeta[ch] += (float)sum_dy;
    if (!a->dx)
      continue;
    float gs = gamma[ch] * invstd;
    /* Training mode: the batch mean and variance depend on x too:
     * dx = gamma * invstd * (dy - mean(dy) - x_hat * mean(dy * x_hat)). */
    float mean_dy = a->training ? (float)(sum_dy / count) : 0.0f;
    float mean_dy_xhat = a->training ? (float)(sum_dy_xhat / count) : 0.0f;
    for (int e = 0; e < n; e++) {
      size_t off = ((size_t)e * c + ch) * hw;
      const float *x = a->x + off, *dy = a->dy + off;
      float *dx = a->dx + off;
      for (size_t k = 0; k < hw; k++) {
        float xhat = (x[k] - mean) * invstd;
        dx[k] = gs * (dy[k] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

const instrid_layer_entry instrid_layer_batchnorm = {
    .type = INSTRID_LAYER_BATCHNORM,
    .name = "batchnorm",
    .uses_f0 = 1,
    .n_tensors = 4,
    .unpack = unpack,
    .check = check,
    .tensor = tensor,
    .state_floats = state_floats,
    .forward = forward,
    .backward = backward,
};
