/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dense.c — DENSE: p = out_features; the input is flattened (C*H*W); tensors weight (out, in)
 * and bias (out). Forward: one sgemv (one example) or sgemm; backward: two sgemms. */
#include <cblas.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"
#include "model_file.h"

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  p->dense.out_features = d->p[0];
}

static instrid_status check(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  if (p->dense.out_features < 1 || p->dense.out_features > MODEL_MAX_DENSE_OUT)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (dense): out_features %u outside 1..%u", ctx->index,
                             p->dense.out_features, MODEL_MAX_DENSE_OUT);
  *out = (instrid_shape){p->dense.out_features, 1, 1};
  return INSTRID_OK;
}

static void tensor(const instrid_layer_params *p, instrid_shape in, unsigned k,
                   instrid_tensor_spec *t)
{
  memset(t, 0, sizeof *t);
  t->trainable = 1;
  t->dims[0] = p->dense.out_features;
  if (k == 0) {
    t->role = INSTRID_TENSOR_WEIGHT;
    t->ndims = 2;
    t->dims[1] = (uint32_t)((uint64_t)in.c * in.h * in.w);
    t->init = INSTRID_INIT_HE;
    t->decay = 1;
  } else {
    t->role = INSTRID_TENSOR_BIAS;
    t->ndims = 1;
    t->init = INSTRID_INIT_ZERO;
  }
}

static double flops(const instrid_layer_params *p, instrid_shape in, instrid_shape out)
{
  (void)out;
  return 2.0 * (double)instrid_shape_floats(in) * p->dense.out_features;
}

static void forward(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)out;
  instrid_dense_forward(a->n, (int)instrid_shape_floats(in), (int)p->dense.out_features, a->x,
                        a->t[0], a->t[1], a->y);
}

static void backward(const instrid_layer_params *p, instrid_shape in_shape, instrid_shape out_shape,
                     const instrid_layer_bwd *a)
{
  (void)out_shape;
  const int n = a->n, in = (int)instrid_shape_floats(in_shape), out = (int)p->dense.out_features;
  float *dweight = a->dt[0], *dbias = a->dt[1];
  /* dW (out, in) += dy^T (out, N) x x (N, in) */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, a->dy, out, a->x, in, 1.0f,
              dweight, in);
  for (int e = 0; e < n; e++)
    for (int j = 0; j < out; j++)
      dbias[j] += a->dy[(size_t)e * out + j];
  /* dx (N, in) = dy (N, out) x W (out, in) */
  if (a->dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, a->dy, out, a->t[0],
                in, 0.0f, a->dx, in);
}

const instrid_layer_entry instrid_layer_dense = {
    .type = INSTRID_LAYER_DENSE,
    .name = "dense",
    .n_int_params = 1,
    .n_tensors = 2,
    .unpack = unpack,
    .check = check,
    .tensor = tensor,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
