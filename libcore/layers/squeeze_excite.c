/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* squeeze_excite.c — SQUEEZE_EXCITE: p = S (bottleneck channels); tensors w1 (S, C), b1 (S),
 * w2 (C, S), b2 (C). s = mean over H, W of each channel; h = relu(w1 s + b1);
 * g = sigmoid(w2 h + b2) (the logistic function, as EfficientAT's SqueezeExcitation; see the
 * amendment in MN04-SPEC); y[c] = x[c] g[c].
 * Training state per example: s (C), h (S), z (C), g (C). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"
#include "model_file.h"

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->se.squeeze = d->p[0];
}

static instrid_status check(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  if (p->se.squeeze < 1 || p->se.squeeze > MODEL_MAX_CHANNELS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (squeeze_excite): squeeze channels %u outside 1..%u",
                             ctx->index, p->se.squeeze, MODEL_MAX_CHANNELS);
  if (ctx->in.c > MODEL_MAX_CHANNELS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (squeeze_excite): %u input channels, over %u", ctx->index,
                             ctx->in.c, MODEL_MAX_CHANNELS);
  *out = ctx->in;
  return INSTRID_OK;
}

static void tensor(const instrid_layer_params *p, instrid_shape in, unsigned k,
                   instrid_tensor_spec *t)
{
  const uint32_t s = p->se.squeeze, c = in.c;
  memset(t, 0, sizeof *t);
  t->trainable = 1;
  if (k == 0 || k == 2) {
    t->role = INSTRID_TENSOR_WEIGHT;
    t->ndims = 2;
    t->dims[0] = k == 0 ? s : c;
    t->dims[1] = k == 0 ? c : s;
    t->init = INSTRID_INIT_HE;
    t->decay = 1;
  } else {
    t->role = INSTRID_TENSOR_BIAS;
    t->ndims = 1;
    t->dims[0] = k == 1 ? s : c;
    t->init = INSTRID_INIT_ZERO;
  }
}

static double flops(const instrid_layer_params *p, instrid_shape in, instrid_shape out)
{
  (void)out;
  return 4.0 * (double)in.c * p->se.squeeze;
}

static size_t per_example_state(const instrid_layer_params *p, instrid_shape in)
{
  return 3 * (size_t)in.c + p->se.squeeze;
}

static size_t state_floats(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                           int max_batch)
{
  (void)out;
  return per_example_state(p, in) * (size_t)max_batch;
}

static size_t scratch_floats(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                             int max_batch, int backward)
{
  (void)out, (void)max_batch, (void)backward;
  /* forward without state: one example's s, h, z, g; backward: dg/dz (C), dh (S), ds (C). */
  return per_example_state(p, in) + 2 * (size_t)in.c + p->se.squeeze;
}

static void forward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)out;
  const int c = (int)in.c, sq = (int)p->se.squeeze;
  const size_t hw = (size_t)in.h * in.w, per = per_example_state(p, in);
  for (int e = 0; e < a->n; e++) {
    float *st = a->state ? a->state + (size_t)e * per : a->scratch;
    float *s = st, *h = s + c, *z = h + sq, *g = z + c;
    const float *x = a->x + (size_t)e * c * hw;
    float *y = a->y + (size_t)e * c * hw;
    instrid_squeeze_excite_gate(c, sq, hw, x, a->t[0], a->t[1], a->t[2], a->t[3], s, h, z, g);
    instrid_scale_channels(c, hw, x, g, y);
  }
}

static void backward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                     const instrid_layer_bwd *a)
{
  (void)out;
  const int c = (int)in.c, sq = (int)p->se.squeeze;
  const size_t hw = (size_t)in.h * in.w, per = per_example_state(p, in);
  const float *w1 = a->t[0], *w2 = a->t[2];
  float *dw1 = a->dt[0], *db1 = a->dt[1], *dw2 = a->dt[2], *db2 = a->dt[3];
  float *dz = a->scratch, *dh = dz + c, *ds = dh + sq;
  for (int e = 0; e < a->n; e++) {
    const float *st = a->state + (size_t)e * per;
    const float *s = st, *h = s + c, *z = h + sq, *g = z + c;
    const float *x = a->x + (size_t)e * c * hw, *dy = a->dy + (size_t)e * c * hw;
    /* dg[c] = sum dy x; dz = dg * g (1 - g) */
    for (int ch = 0; ch < c; ch++) {
      double acc = 0.0;
      const float *xr = x + (size_t)ch * hw, *dr = dy + (size_t)ch * hw;
      for (size_t k = 0; k < hw; k++)
        acc += (double)xr[k] * dr[k];
      dz[ch] = (float)acc * g[ch] * (1.0f - g[ch]);
      db2[ch] += dz[ch];
      for (int j = 0; j < sq; j++)
        dw2[(size_t)ch * sq + j] += dz[ch] * h[j];
    }
    for (int j = 0; j < sq; j++) {
      float acc = 0.0f;
      for (int ch = 0; ch < c; ch++)
        acc += w2[(size_t)ch * sq + j] * dz[ch];
      dh[j] = h[j] > 0.0f ? acc : 0.0f;
      db1[j] += dh[j];
      for (int ch = 0; ch < c; ch++)
        dw1[(size_t)j * c + ch] += dh[j] * s[ch];
    }
    if (!a->dx)
      continue;
    for (int ch = 0; ch < c; ch++) {
      float acc = 0.0f;
      for (int j = 0; j < sq; j++)
        acc += w1[(size_t)j * c + ch] * dh[j];
      ds[ch] = acc / (float)hw;
    }
    float *dx = a->dx + (size_t)e * c * hw;
    for (int ch = 0; ch < c; ch++) {
      const float *dr = dy + (size_t)ch * hw;
      float *o = dx + (size_t)ch * hw;
      for (size_t k = 0; k < hw; k++)
        o[k] = dr[k] * g[ch] + ds[ch];
    }
  }
}

const instrid_layer_entry instrid_layer_squeeze_excite = {
    .type = INSTRID_LAYER_SQUEEZE_EXCITE,
    .name = "squeeze_excite",
    .n_int_params = 1,
    .n_tensors = 4,
    .flags = INSTRID_LAYER_IN_PLACE,
    .unpack = unpack,
    .check = check,
    .tensor = tensor,
    .flops = flops,
    .scratch_floats = scratch_floats,
    .state_floats = state_floats,
    .forward = forward,
    .backward = backward,
};
