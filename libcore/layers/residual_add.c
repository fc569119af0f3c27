/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* residual_add.c — RESIDUAL_ADD: p = back (>= 1); y = x + the input of layer (i - back), i this
 * layer's index; the shapes must match. An inverted-residual block [conv1x1, bn, hardswish,
 * dwconv, bn, hardswish, se, conv1x1, bn, add(back = 9)] adds the block's input. When batch
 * norms are folded at load, the inference plan's `back` counts steps (model.c remaps it). */
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->residual.back = d->p[0];
}

static instrid_status check(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  const uint32_t i = ctx->index, back = p->residual.back;
  if (back < 1 || back > i)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (residual_add): back %u outside 1..%u", i, back, i);
  const uint32_t src = i - back;
  const instrid_shape s = src ? ctx->outs[src - 1] : ctx->input;
  if (s.c != ctx->in.c || s.h != ctx->in.h || s.w != ctx->in.w)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (residual_add): input %ux%ux%u and the input of layer %u "
                             "%ux%ux%u differ",
                             i, ctx->in.c, ctx->in.h, ctx->in.w, src, s.c, s.h, s.w);
  *out = ctx->in;
  return INSTRID_OK;
}

static void forward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)p, (void)out;
  instrid_add_forward(a->x, a->skip, a->y, (size_t)a->n * instrid_shape_floats(in));
}

static void backward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                     const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  const size_t n = (size_t)a->n * instrid_shape_floats(in);
  if (a->dx && a->dx != a->dy)
    memcpy(a->dx, a->dy, n * sizeof(float));
  for (size_t k = 0; k < n; k++)
    a->dskip[k] += a->dy[k];
}

const instrid_layer_entry instrid_layer_residual_add = {
    .type = INSTRID_LAYER_RESIDUAL_ADD,
    .name = "residual_add",
    .n_int_params = 1,
    .flags = INSTRID_LAYER_IN_PLACE | INSTRID_LAYER_TRAIN_IN_PLACE,
    .unpack = unpack,
    .check = check,
    .forward = forward,
    .backward = backward,
};
