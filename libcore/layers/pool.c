/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c — MAXPOOL and AVGPOOL (p = kh, kw, sh, sw; no padding, floor) and GLOBAL_POOL
 * (p = axes, mode). No tensors. MAXPOOL keeps each window's winner (first maximum, as PyTorch)
 * for backward; GLOBAL_POOL finds its winners again from the saved input. */
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"
#include "model_file.h"

static void unpack_pool(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->pool = (instrid_pool2d_params){d->p[0], d->p[1], d->p[2], d->p[3]};
}

static instrid_status check_pool(const char *tn, const instrid_layer_params *lp,
                                 const instrid_layer_ctx *ctx, instrid_shape *out,
                                 instrid_error *err)
{
  static const char *const names[] = {"kh", "kw", "sh", "sw"};
  const instrid_pool2d_params *p = &lp->pool;
  const uint32_t v[4] = {p->kh, p->kw, p->sh, p->sw};
  const instrid_shape in = ctx->in;
  for (unsigned k = 0; k < 4; k++)
    if (v[k] < 1 || v[k] > MODEL_MAX_KERNEL)
      return instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u (%s): %s %u outside 1..%u",
                               ctx->index, tn, names[k], v[k], MODEL_MAX_KERNEL);
  if (in.h < p->kh || in.w < p->kw)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (%s): input %ux%u smaller than the window %ux%u", ctx->index,
                             tn, in.h, in.w, p->kh, p->kw);
  *out = in;
  out->h = (in.h - p->kh) / p->sh + 1;
  out->w = (in.w - p->kw) / p->sw + 1;
  return INSTRID_OK;
}

static instrid_status check_max(const instrid_layer_params *lp, const instrid_layer_ctx *ctx,
                                instrid_shape *out, instrid_error *err)
{
  return check_pool("maxpool", lp, ctx, out, err);
}

static instrid_status check_avg(const instrid_layer_params *lp, const instrid_layer_ctx *ctx,
                                instrid_shape *out, instrid_error *err)
{
  return check_pool("avgpool", lp, ctx, out, err);
}

static size_t state_max(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                        int max_batch)
{
  (void)p, (void)in;
  return instrid_shape_floats(out) * (size_t)max_batch; /* int32 argmax in float slots */
}

static void forward_max(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                        const instrid_layer_fwd *a)
{
  (void)out;
  const instrid_pool2d_params *p = &lp->pool;
  instrid_pool2d_forward(INSTRID_POOL_MAX, a->n, (int)in.c, (int)in.h, (int)in.w, (int)p->kh,
                         (int)p->kw, (int)p->sh, (int)p->sw, a->x, a->y,
                         a->state ? (int32_t *)(void *)a->state : NULL);
}

static void forward_avg(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                        const instrid_layer_fwd *a)
{
  (void)out;
  const instrid_pool2d_params *p = &lp->pool;
  instrid_pool2d_forward(INSTRID_POOL_MEAN, a->n, (int)in.c, (int)in.h, (int)in.w, (int)p->kh,
                         (int)p->kw, (int)p->sh, (int)p->sw, a->x, a->y, NULL);
}

static void backward_pool(int max, const instrid_layer_params *lp, instrid_shape in,
                          instrid_shape out, const instrid_layer_bwd *a)
{
  if (!a->dx)
    return;
  const instrid_pool2d_params *p = &lp->pool;
  const int kh = (int)p->kh, kw = (int)p->kw, sh = (int)p->sh, sw = (int)p->sw;
  const int w = (int)in.w, ho = (int)out.h, wo = (int)out.w;
  const size_t plane_in = (size_t)in.h * in.w, plane_out = (size_t)ho * wo;
  memset(a->dx, 0, (size_t)a->n * in.c * plane_in * sizeof(float));
  for (size_t pl = 0; pl < (size_t)a->n * in.c; pl++) {
    const float *d = a->dy + pl * plane_out;
    float *dx = a->dx + pl * plane_in;
    if (max) {
      const int32_t *am = (const int32_t *)(const void *)a->state + pl * plane_out;
      for (size_t j = 0; j < plane_out; j++)
        dx[am[j]] += d[j];
    } else {
      float inv_area = 1.0f / (float)(kh * kw);
      for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
          float v = d[(size_t)oy * wo + ox] * inv_area;
          for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
              dx[(size_t)(oy * sh + ky) * w + ox * sw + kx] += v;
        }
    }
  }
}

static void backward_max(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                         const instrid_layer_bwd *a)
{
  backward_pool(1, lp, in, out, a);
}

static void backward_avg(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                         const instrid_layer_bwd *a)
{
  backward_pool(0, lp, in, out, a);
}

const instrid_layer_entry instrid_layer_maxpool = {
    .type = INSTRID_LAYER_MAXPOOL,
    .name = "maxpool",
    .n_int_params = 4,
    .unpack = unpack_pool,
    .check = check_max,
    .state_floats = state_max,
    .forward = forward_max,
    .backward = backward_max,
};

const instrid_layer_entry instrid_layer_avgpool = {
    .type = INSTRID_LAYER_AVGPOOL,
    .name = "avgpool",
    .n_int_params = 4,
    .unpack = unpack_pool,
    .check = check_avg,
    .forward = forward_avg,
    .backward = backward_avg,
};

/* ------------------------------------------------------------------------------------------ */
/* GLOBAL_POOL */

static void unpack_global(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->gpool = (instrid_global_pool_params){d->p[0], d->p[1]};
}

static instrid_status check_global(const instrid_layer_params *lp, const instrid_layer_ctx *ctx,
                                   instrid_shape *out, instrid_error *err)
{
  const instrid_global_pool_params *p = &lp->gpool;
  const uint32_t i = ctx->index;
  if (p->axes < 1 || p->axes > (INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME))
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (global_pool): axes %u outside 1..3", i, p->axes);
  if (p->mode > INSTRID_POOL_MEAN_PLUS_MAX)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (global_pool): mode %u outside 0..3", i, p->mode);
  *out = ctx->in;
  if (p->axes & INSTRID_AXIS_FREQ)
    out->h = 1;
  if (p->axes & INSTRID_AXIS_TIME)
    out->w = 1;
  if (p->mode == INSTRID_POOL_MEAN_MAX_CONCAT) {
    if (ctx->in.c > MODEL_MAX_DIM / 2)
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "layer %u (global_pool): %u channels too many to concatenate", i,
                               ctx->in.c);
    out->c = 2 * ctx->in.c;
  }
  return INSTRID_OK;
}

static void forward_global(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                           const instrid_layer_fwd *a)
{
  (void)out;
  instrid_global_pool_forward((int)lp->gpool.axes, (int)lp->gpool.mode, a->n, (int)in.c, (int)in.h,
                              (int)in.w, a->x, a->y, NULL);
}

static void backward_global(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                            const instrid_layer_bwd *a)
{
  if (!a->dx)
    return;
  const int axes = (int)lp->gpool.axes, mode = (int)lp->gpool.mode;
  const int c = (int)in.c, h = (int)in.h, w = (int)in.w;
  /* Reduction: for output position (ch, oy, ox), the inputs are (ch, y, x) with y over
   * [0, h) when FREQ is pooled (oy = 0) else y = oy; likewise x over time. */
  const int pool_h = (axes & INSTRID_AXIS_FREQ) != 0, pool_w = (axes & INSTRID_AXIS_TIME) != 0;
  const int oh = pool_h ? 1 : h, ow = pool_w ? 1 : w;
  const int rh = pool_h ? h : 1, rw = pool_w ? w : 1;
  const size_t part = (size_t)c * oh * ow; /* size of one (mean or max) part of the output */
  const size_t out_size = instrid_shape_floats(out), in_size = instrid_shape_floats(in);
  const float inv_count = 1.0f / (float)(rh * rw);
  memset(a->dx, 0, (size_t)a->n * in_size * sizeof(float));
  for (int e = 0; e < a->n; e++) {
    const float *x = a->x + (size_t)e * in_size;
    const float *d = a->dy + (size_t)e * out_size;
    float *dx = a->dx + (size_t)e * in_size;
    for (int ch = 0; ch < c; ch++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          size_t o = ((size_t)ch * oh + oy) * ow + ox;
          float d_mean = 0.0f, d_max = 0.0f;
          switch (mode) {
          case INSTRID_POOL_MEAN:
            d_mean = d[o];
            break;
          case INSTRID_POOL_MAX:
            d_max = d[o];
            break;
          case INSTRID_POOL_MEAN_MAX_CONCAT:
            d_mean = d[o];
            d_max = d[part + o];
            break;
          case INSTRID_POOL_MEAN_PLUS_MAX:
            d_mean = d[o];
            d_max = d[o];
            break;
          default:
            break;
          }
          size_t base = (size_t)ch * h * w + (size_t)oy * w + ox;
          size_t best = base;
          float best_v = x[base];
          for (int y = 0; y < rh; y++)
            for (int t = 0; t < rw; t++) {
              size_t idx = base + (size_t)y * w + t;
              if (x[idx] > best_v) {
                best_v = x[idx];
                best = idx;
              }
              dx[idx] += d_mean * inv_count;
            }
          dx[best] += d_max;
        }
  }
}

const instrid_layer_entry instrid_layer_global_pool = {
    .type = INSTRID_LAYER_GLOBAL_POOL,
    .name = "global_pool",
    .n_int_params = 2,
    .unpack = unpack_global,
    .check = check_global,
    .forward = forward_global,
    .backward = backward_global,
};
