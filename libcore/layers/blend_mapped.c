/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* blend_mapped.c — BLEND_MAPPED: p = out (the number of classes C), mode. The input holds C class
 * probabilities followed by S source probabilities (C + S values, e.g. a 25-class head and a
 * pretrained network's 527 AudioSet outputs, as instrid-train --keep-source-head writes them).
 * Tensors: weight (C, S), the map: source j names class c when weight[c][j] > 0 (1 or 0 in a
 * written model); gamma (C), the blend weights. Per class c:
 *   m_c = max over the sources j that name c of src_j
 *   y_c = gamma_c * head_c + (1 - gamma_c) * m_c     when some source names c (mode LINEAR),
 *   y_c = 1 - (1 - head_c)^gamma_c (1 - m_c)^(1 - gamma_c)                  (mode NOISY_OR),
 *   y_c = head_c                                     when none does (gamma_c is unused).
 * The noisy-OR is "either says so": a confident head is not capped at gamma_c when the sources
 * hear nothing (an instrument inside a mix), and the reverse. Its probabilities are clamped to
 * [0, 1 - 1e-6] inside the powers, so the gradient stays finite. The map is a selection: its
 * gradient is zero. The output is (C, 1, 1). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"
#include "model_file.h"

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  memset(p, 0, sizeof *p);
  p->blend.out = d->p[0];
  p->blend.mode = d->p[1];
}

static instrid_status check(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  const uint64_t in = (uint64_t)ctx->in.c * ctx->in.h * ctx->in.w;
  if (p->blend.out < 1 || p->blend.out > MODEL_MAX_DENSE_OUT)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (blend_mapped): out %u outside 1..%u", ctx->index,
                             p->blend.out, MODEL_MAX_DENSE_OUT);
  if (p->blend.mode > INSTRID_BLEND_NOISY_OR)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (blend_mapped): mode %u unknown (0 linear, 1 noisy-OR)",
                             ctx->index, p->blend.mode);
  if (in <= p->blend.out)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (blend_mapped): input of %llu values holds no source "
                             "outputs after %u classes",
                             ctx->index, (unsigned long long)in, p->blend.out);
  *out = (instrid_shape){p->blend.out, 1, 1};
  return INSTRID_OK;
}

static void tensor(const instrid_layer_params *p, instrid_shape in, unsigned k,
                   instrid_tensor_spec *t)
{
  memset(t, 0, sizeof *t);
  t->trainable = 1;
  t->dims[0] = p->blend.out;
  if (k == 0) {
    t->role = INSTRID_TENSOR_WEIGHT;
    t->ndims = 2;
    t->dims[1] = (uint32_t)(instrid_shape_floats(in) - p->blend.out);
    t->init = INSTRID_INIT_ZERO;
  } else {
    t->role = INSTRID_TENSOR_GAMMA;
    t->ndims = 1;
    t->init = INSTRID_INIT_ONE;
  }
}

static double flops(const instrid_layer_params *p, instrid_shape in, instrid_shape out)
{
  (void)out;
  return (double)instrid_shape_floats(in) + 3.0 * p->blend.out;
}

/* The index (into the source part) of the largest selected source of class c, -1 when none. */
static long mapped_max(const float *map_row, const float *src, size_t n_src)
{
  long best = -1;
  for (size_t j = 0; j < n_src; j++)
    if (map_row[j] > 0.0f && (best < 0 || src[j] > src[best]))
      best = (long)j;
  return best;
}

/* log(1 - v) with v clamped to [0, 1 - 1e-6] */
static double log_miss(float v)
{
  double q = v < 0.0f ? 0.0 : v > 1.0f - 1e-6f ? 1.0 - 1e-6 : (double)v;
  return log1p(-q);
}

float instrid_blend_value(uint32_t mode, float gamma, float head, float src)
{
  if (mode == INSTRID_BLEND_NOISY_OR)
    return (float)(1.0 - exp(gamma * log_miss(head) + (1.0 - gamma) * log_miss(src)));
  return gamma * head + (1.0f - gamma) * src;
}

static void forward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)out;
  const size_t n_in = instrid_shape_floats(in), C = p->blend.out, S = n_in - C;
  const float *map = a->t[0], *gamma = a->t[1];
  for (int e = 0; e < a->n; e++) {
    const float *x = a->x + (size_t)e * n_in, *src = x + C;
    float *y = a->y + (size_t)e * C;
    for (size_t c = 0; c < C; c++) {
      long j = mapped_max(map + c * S, src, S);
      y[c] = j < 0 ? x[c] : instrid_blend_value(p->blend.mode, gamma[c], x[c], src[j]);
    }
  }
}

static void backward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                     const instrid_layer_bwd *a)
{
  (void)out;
  const size_t n_in = instrid_shape_floats(in), C = p->blend.out, S = n_in - C;
  const float *map = a->t[0], *gamma = a->t[1];
  float *dgamma = a->dt[1];
  for (int e = 0; e < a->n; e++) {
    const float *x = a->x + (size_t)e * n_in, *src = x + C, *dy = a->dy + (size_t)e * C;
    float *dx = a->dx ? a->dx + (size_t)e * n_in : NULL;
    if (dx)
      memset(dx, 0, sizeof(float) * n_in);
    for (size_t c = 0; c < C; c++) {
      long j = mapped_max(map + c * S, src, S);
      if (j < 0) {
        if (dx)
          dx[c] = dy[c];
        continue;
      }
      if (p->blend.mode == INSTRID_BLEND_NOISY_OR) {
        /* y = 1 - e^L, L = g log(1 - h) + (1 - g) log(1 - m): dy = -e^L dL */
        const double lh = log_miss(x[c]), lm = log_miss(src[j]), g = gamma[c];
        const double miss = exp(g * lh + (1.0 - g) * lm);
        dgamma[c] += (float)(-miss * (lh - lm) * dy[c]);
        if (dx) {
          dx[c] = (float)(miss * g / exp(lh) * dy[c]);
          dx[C + (size_t)j] += (float)(miss * (1.0 - g) / exp(lm) * dy[c]);
        }
        continue;
      }
      dgamma[c] += (x[c] - src[j]) * dy[c];
      if (dx) {
        dx[c] = gamma[c] * dy[c];
        dx[C + (size_t)j] += (1.0f - gamma[c]) * dy[c];
      }
    }
  }
}

const instrid_layer_entry instrid_layer_blend_mapped = {
    .type = INSTRID_LAYER_BLEND_MAPPED,
    .name = "blend_mapped",
    .n_int_params = 2,
    .n_tensors = 2,
    .unpack = unpack,
    .check = check,
    .tensor = tensor,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
