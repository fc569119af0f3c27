/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* elementwise.c — the layers without parameters that map each value on its own: RELU,
 * SIGMOID, HARDSWISH (y = x * relu6(x + 3) / 6), DROPOUT (f0 = probability; identity at
 * inference) and EMBEDDING (identity that marks its input as the window's embedding; at most one
 * per network). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"

static void unpack_none(const instrid_layer_desc *d, instrid_layer_params *p)
{
  (void)d;
  memset(p, 0, sizeof *p);
}

static instrid_status check_same(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                                 instrid_shape *out, instrid_error *err)
{
  (void)p, (void)err;
  *out = ctx->in;
  return INSTRID_OK;
}

/* y = x when they differ; returns the element count. */
static size_t copy_through(instrid_shape in, const instrid_layer_fwd *a)
{
  size_t n = (size_t)a->n * instrid_shape_floats(in);
  if (a->y != a->x)
    memcpy(a->y, a->x, n * sizeof(float));
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* RELU */

static void forward_relu(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                         const instrid_layer_fwd *a)
{
  (void)p, (void)out;
  instrid_relu_forward(a->y, copy_through(in, a));
}

/* out > 0 <=> in > 0. Written so that both loads are unconditional and the compiler emits a
 * vector blend instead of a branch. */
static void backward_relu(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                          const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  if (!a->dx)
    return;
  const size_t n = (size_t)a->n * instrid_shape_floats(in);
  const float *restrict y = a->y, *restrict dy = a->dy;
  float *restrict dx = a->dx;
  for (size_t k = 0; k < n; k++) {
    float g = dy[k];
    dx[k] = y[k] > 0.0f ? g : 0.0f;
  }
}

const instrid_layer_entry instrid_layer_relu = {
    .type = INSTRID_LAYER_RELU,
    .name = "relu",
    .flags = INSTRID_LAYER_IN_PLACE | INSTRID_LAYER_TRAIN_IN_PLACE | INSTRID_LAYER_BACKWARD_READS_Y,
    .unpack = unpack_none,
    .check = check_same,
    .forward = forward_relu,
    .backward = backward_relu,
};

/* ------------------------------------------------------------------------------------------ */
/* SIGMOID */

static void forward_sigmoid(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                            const instrid_layer_fwd *a)
{
  (void)p, (void)out;
  instrid_sigmoid_forward(a->y, copy_through(in, a));
}

static void backward_sigmoid(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                             const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  if (!a->dx)
    return;
  const size_t n = (size_t)a->n * instrid_shape_floats(in);
  for (size_t k = 0; k < n; k++) {
    float s = a->y[k];
    a->dx[k] = a->dy[k] * s * (1.0f - s);
  }
}

const instrid_layer_entry instrid_layer_sigmoid = {
    .type = INSTRID_LAYER_SIGMOID,
    .name = "sigmoid",
    .flags = INSTRID_LAYER_IN_PLACE | INSTRID_LAYER_BACKWARD_READS_Y,
    .unpack = unpack_none,
    .check = check_same,
    .forward = forward_sigmoid,
    .backward = backward_sigmoid,
};

/* ------------------------------------------------------------------------------------------ */
/* HARDSWISH */

static void forward_hardswish(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                              const instrid_layer_fwd *a)
{
  (void)p, (void)out;
  instrid_hardswish_forward(a->x, a->y, (size_t)a->n * instrid_shape_floats(in));
}

static void backward_hardswish(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                               const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  if (!a->dx)
    return;
  const size_t n = (size_t)a->n * instrid_shape_floats(in);
  for (size_t k = 0; k < n; k++) {
    const float x = a->x[k];
    const float d = x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f;
    a->dx[k] = a->dy[k] * d;
  }
}

const instrid_layer_entry instrid_layer_hardswish = {
    .type = INSTRID_LAYER_HARDSWISH,
    .name = "hardswish",
    .flags = INSTRID_LAYER_IN_PLACE,
    .unpack = unpack_none,
    .check = check_same,
    .forward = forward_hardswish,
    .backward = backward_hardswish,
};

/* ------------------------------------------------------------------------------------------ */
/* DROPOUT: the training state is each value's factor, 0 or 1 / (1 - p). */

static void unpack_dropout(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->dropout.p = d->f0;
}

static instrid_status check_dropout(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                                    instrid_shape *out, instrid_error *err)
{
  if (!(p->dropout.p >= 0.0f && p->dropout.p < 1.0f))
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (dropout): probability %g outside [0, 1)", ctx->index,
                             (double)p->dropout.p);
  *out = ctx->in;
  return INSTRID_OK;
}

static size_t state_dropout(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                            int max_batch)
{
  (void)p, (void)in;
  return instrid_shape_floats(out) * (size_t)max_batch;
}

static void forward_dropout(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                            const instrid_layer_fwd *a)
{
  (void)out;
  const size_t n = copy_through(in, a);
  const float drop = p->dropout.p;
  if (!a->state)
    return;
  if (a->training && drop > 0.0f) {
    float keep_scale = 1.0f / (1.0f - drop);
    for (size_t k = 0; k < n; k++) {
      a->state[k] = a->uniform(a->rng) < drop ? 0.0f : keep_scale;
      a->y[k] *= a->state[k];
    }
  } else {
    for (size_t k = 0; k < n; k++)
      a->state[k] = 1.0f;
  }
}

static void backward_dropout(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                             const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  if (!a->dx)
    return;
  const size_t n = (size_t)a->n * instrid_shape_floats(in);
  for (size_t k = 0; k < n; k++)
    a->dx[k] = a->dy[k] * a->state[k];
}

const instrid_layer_entry instrid_layer_dropout = {
    .type = INSTRID_LAYER_DROPOUT,
    .name = "dropout",
    .uses_f0 = 1,
    .flags = INSTRID_LAYER_IN_PLACE | INSTRID_LAYER_TRAIN_IN_PLACE,
    .unpack = unpack_dropout,
    .check = check_dropout,
    .state_floats = state_dropout,
    .forward = forward_dropout,
    .backward = backward_dropout,
};

/* ------------------------------------------------------------------------------------------ */
/* EMBEDDING */

static instrid_status check_embedding(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                                      instrid_shape *out, instrid_error *err)
{
  (void)p;
  for (uint32_t j = 0; j < ctx->index; j++)
    if (ctx->layers[j].type == INSTRID_LAYER_EMBEDDING)
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "layer %u (embedding): layer %u is an embedding already (at most "
                               "one per network)",
                               ctx->index, j);
  *out = ctx->in;
  return INSTRID_OK;
}

static void forward_identity(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                             const instrid_layer_fwd *a)
{
  (void)p, (void)out;
  copy_through(in, a);
}

static void backward_identity(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                              const instrid_layer_bwd *a)
{
  (void)p, (void)out;
  if (a->dx && a->dx != a->dy)
    memcpy(a->dx, a->dy, (size_t)a->n * instrid_shape_floats(in) * sizeof(float));
}

const instrid_layer_entry instrid_layer_embedding = {
    .type = INSTRID_LAYER_EMBEDDING,
    .name = "embedding",
    .flags = INSTRID_LAYER_IN_PLACE | INSTRID_LAYER_TRAIN_IN_PLACE,
    .unpack = unpack_none,
    .check = check_embedding,
    .forward = forward_identity,
    .backward = backward_identity,
};
