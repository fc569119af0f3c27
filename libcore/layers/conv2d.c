/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv2d.c — CONV2D: p = c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups; tensors weight
 * (c_out, c_in/groups, kh, kw) and bias (c_out). Forward: layers.c's im2col + sgemm, a plain
 * sgemm for 1x1 convolutions, and a direct kernel for depthwise ones (groups == c_in == c_out).
 * Backward: im2col / col2im GEMMs, several examples side by side where a plane is small, and a
 * direct loop for depthwise convolutions. */
#include <cblas.h>
#include <string.h>

#include "internal.h"
#include "layer_table.h"
#include "layers.h"
#include "model_file.h"

/* The backward pass puts several examples side by side in one GEMM where one example's output
 * plane is small (deep layers): enough examples for a GEMM width of GEMM_TARGET_COLS, within
 * BATCH_COL_FLOATS of im2col scratch; an example whose plane is that wide goes alone. */
#define GEMM_TARGET_COLS ((size_t)4096)
#define BATCH_COL_FLOATS ((size_t)1 << 22)

static void unpack(const instrid_layer_desc *d, instrid_layer_params *p)
{
  instrid_conv2d_params *c = &p->conv;
  c->c_out = d->p[0], c->kh = d->p[1], c->kw = d->p[2], c->sh = d->p[3], c->sw = d->p[4];
  c->ph = d->p[5], c->pw = d->p[6], c->dh = d->p[7], c->dw = d->p[8], c->groups = d->p[9];
}

static instrid_status check(const instrid_layer_params *lp, const instrid_layer_ctx *ctx,
                            instrid_shape *out, instrid_error *err)
{
  static const char *const names[] = {"c_out", "kh", "kw", "sh", "sw",
                                      "ph",    "pw", "dh", "dw", "groups"};
  const uint32_t hi[] = {MODEL_MAX_CHANNELS, MODEL_MAX_KERNEL,  MODEL_MAX_KERNEL, MODEL_MAX_KERNEL,
                         MODEL_MAX_KERNEL,   MODEL_MAX_KERNEL,  MODEL_MAX_KERNEL, MODEL_MAX_KERNEL,
                         MODEL_MAX_KERNEL,   MODEL_MAX_CHANNELS};
  const instrid_conv2d_params *c = &lp->conv;
  const uint32_t v[10] = {c->c_out, c->kh, c->kw, c->sh, c->sw,
                          c->ph,    c->pw, c->dh, c->dw, c->groups};
  const uint32_t i = ctx->index;
  const instrid_shape in = ctx->in;
  for (unsigned k = 0; k < 10; k++) {
    uint32_t lo = (k == 5 || k == 6) ? 0 : 1;
    if (v[k] < lo || v[k] > hi[k])
      return instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u (conv2d): %s %u outside %u..%u",
                               i, names[k], v[k], lo, hi[k]);
  }
  uint64_t ext_h = (uint64_t)c->dh * (c->kh - 1) + 1, ext_w = (uint64_t)c->dw * (c->kw - 1) + 1;
  /* Padding beyond the kernel's reach would only add outputs computed from zeros. */
  if (c->ph >= ext_h || c->pw >= ext_w)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (conv2d): padding %ux%u not below the kernel extent "
                             "%llux%llu",
                             i, c->ph, c->pw, (unsigned long long)ext_h, (unsigned long long)ext_w);
  if (in.c % c->groups != 0 || c->c_out % c->groups != 0)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (conv2d): groups %u does not divide c_in %u and c_out %u", i,
                             c->groups, in.c, c->c_out);
  if ((uint64_t)in.h + 2 * c->ph < ext_h || (uint64_t)in.w + 2 * c->pw < ext_w)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (conv2d): padded input %llux%llu smaller than the kernel "
                             "extent %llux%llu",
                             i, (unsigned long long)in.h + 2 * c->ph,
                             (unsigned long long)in.w + 2 * c->pw, (unsigned long long)ext_h,
                             (unsigned long long)ext_w);
  out->c = c->c_out;
  out->h = (uint32_t)(((uint64_t)in.h + 2 * c->ph - ext_h) / c->sh + 1);
  out->w = (uint32_t)(((uint64_t)in.w + 2 * c->pw - ext_w) / c->sw + 1);
  return INSTRID_OK;
}

static void tensor(const instrid_layer_params *lp, instrid_shape in, unsigned k,
                   instrid_tensor_spec *t)
{
  const instrid_conv2d_params *c = &lp->conv;
  memset(t, 0, sizeof *t);
  t->trainable = 1;
  if (k == 0) {
    t->role = INSTRID_TENSOR_WEIGHT;
    t->ndims = 4;
    t->dims[0] = c->c_out;
    t->dims[1] = c->groups ? in.c / c->groups : 0;
    t->dims[2] = c->kh;
    t->dims[3] = c->kw;
    t->init = INSTRID_INIT_HE;
    t->decay = 1;
  } else {
    t->role = INSTRID_TENSOR_BIAS;
    t->ndims = 1;
    t->dims[0] = c->c_out;
    t->init = INSTRID_INIT_ZERO;
  }
}

void instrid_conv_geom_from_params(const instrid_conv2d_params *c, instrid_shape in, int n,
                                   instrid_conv_geom *g)
{
  memset(g, 0, sizeof *g);
  g->n = n;
  g->c_in = (int)in.c, g->h_in = (int)in.h, g->w_in = (int)in.w;
  g->c_out = (int)c->c_out, g->kh = (int)c->kh, g->kw = (int)c->kw;
  g->sh = (int)c->sh, g->sw = (int)c->sw, g->ph = (int)c->ph, g->pw = (int)c->pw;
  g->dh = (int)c->dh, g->dw = (int)c->dw, g->groups = (int)c->groups;
  instrid_conv_geom_init(g);
}

static double flops(const instrid_layer_params *lp, instrid_shape in, instrid_shape out)
{
  const instrid_conv2d_params *c = &lp->conv;
  double k = (double)(in.c / (c->groups ? c->groups : 1)) * c->kh * c->kw;
  return 2.0 * k * out.c * out.h * out.w;
}

/* Examples per backward GEMM. */
static size_t backward_batch(const instrid_conv_geom *g, int max_batch)
{
  size_t k = (size_t)(g->c_in / g->groups) * g->kh * g->kw;
  size_t hw = (size_t)g->h_out * g->w_out;
  size_t per_example = k * hw;
  size_t nb = (GEMM_TARGET_COLS + hw - 1) / hw;
  if (per_example && nb > BATCH_COL_FLOATS / per_example)
    nb = BATCH_COL_FLOATS / per_example;
  if (nb < 1)
    nb = 1;
  if (nb > (size_t)max_batch)
    nb = (size_t)max_batch;
  return nb;
}

static size_t scratch_floats(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                             int max_batch, int backward)
{
  (void)out;
  instrid_conv_geom g;
  instrid_conv_geom_from_params(&lp->conv, in, 1, &g);
  if (instrid_conv_is_depthwise(&g))
    return backward ? 0 : instrid_depthwise_scratch_floats(&g);
  size_t per_example = instrid_conv_scratch_floats(&g);
  if (per_example == SIZE_MAX)
    return SIZE_MAX;
  if (!backward)
    return per_example;
  /* col (per_example * nb), col_one (per_example), dout rows (c_out/groups * hw * nb) */
  int overflow = 0;
  size_t nb = backward_batch(&g, max_batch);
  size_t hw = (size_t)g.h_out * g.w_out;
  size_t total = instrid_mul_size(per_example, nb + 1, &overflow);
  total = instrid_add_size(
      total, instrid_mul_size((size_t)(g.c_out / g.groups) * hw, nb, &overflow), &overflow);
  return overflow ? SIZE_MAX : total;
}

static void forward(const instrid_layer_params *lp, instrid_shape in, instrid_shape out,
                    const instrid_layer_fwd *a)
{
  (void)out;
  instrid_conv_geom g;
  instrid_conv_geom_from_params(&lp->conv, in, a->n, &g);
  if (instrid_conv_is_depthwise(&g))
    instrid_depthwise_forward(&g, a->x, a->t[0], a->t[1], a->y, a->scratch);
  else
    instrid_conv2d_forward(&g, a->x, a->t[0], a->t[1], a->y, a->scratch);
}

/* Sums over one plane in eight float lanes, flushed to double once per plane. */
static double sum_lanes(const float *restrict x, size_t n)
{
  float acc[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++)
      acc[j] += x[k + j];
  for (; k < n; k++)
    acc[0] += x[k];
  double s = 0.0;
  for (int j = 0; j < 8; j++)
    s += acc[j];
  return s;
}

static void backward(const instrid_layer_params *lp, instrid_shape in_shape,
                     instrid_shape out_shape, const instrid_layer_bwd *a)
{
  instrid_conv_geom geom;
  instrid_conv_geom_from_params(&lp->conv, in_shape, 1, &geom);
  const instrid_conv_geom *g = &geom;
  const int n = a->n;
  const int groups = g->groups;
  const int cig = g->c_in / groups, cog = g->c_out / groups;
  const int k = cig * g->kh * g->kw;
  const size_t hw_out = (size_t)g->h_out * g->w_out, hw_in = (size_t)g->h_in * g->w_in;
  const size_t in_size = instrid_shape_floats(in_shape), out_size = instrid_shape_floats(out_shape);
  const float *weight = a->t[0], *dout = a->dy;
  float *dweight = a->dt[0], *dbias = a->dt[1], *din = a->dx;

  for (int e = 0; e < n; e++)
    for (int co = 0; co < g->c_out; co++) {
      const float *d = dout + (size_t)e * out_size + (size_t)co * hw_out;
      dbias[co] += (float)sum_lanes(d, hw_out);
    }
  if (din)
    memset(din, 0, (size_t)n * in_size * sizeof(float));
  if (instrid_conv_is_depthwise(g)) {
    for (int e = 0; e < n; e++)
      instrid_depthwise_backward(g, a->x + (size_t)e * in_size, weight, dout + (size_t)e * out_size,
                                 dweight, din ? din + (size_t)e * in_size : NULL);
    return;
  }

  const int conv_batch = (int)backward_batch(g, n);
  const size_t per_example = (size_t)k * hw_out;
  float *col = a->scratch, *col_one = col + per_example * (size_t)conv_batch;
  float *dout_rows = col_one + per_example;
  for (int e0 = 0; e0 < n; e0 += conv_batch) {
    int nb = n - e0 < conv_batch ? n - e0 : conv_batch;
    size_t cols = (size_t)nb * hw_out; /* GEMM width: nb examples side by side */
    for (int gi = 0; gi < groups; gi++) {
      /* col (k, nb * hw_out) and rows = this group's dout (cog, nb * hw_out). */
      const float *rows;
      if (nb == 1) {
        /* One example's im2col and dout rows already have the GEMM layout. */
        const float *in = a->x + (size_t)e0 * in_size + (size_t)gi * cig * hw_in;
        instrid_im2col(g, in, col);
        rows = dout + (size_t)e0 * out_size + (size_t)gi * cog * hw_out;
      } else {
        for (int e = 0; e < nb; e++) {
          const float *in = a->x + (size_t)(e0 + e) * in_size + (size_t)gi * cig * hw_in;
          instrid_im2col(g, in, col_one);
          for (int r = 0; r < k; r++)
            memcpy(col + (size_t)r * cols + (size_t)e * hw_out, col_one + (size_t)r * hw_out,
                   hw_out * sizeof(float));
          const float *d = dout + (size_t)(e0 + e) * out_size + (size_t)gi * cog * hw_out;
          for (int r = 0; r < cog; r++)
            memcpy(dout_rows + (size_t)r * cols + (size_t)e * hw_out, d + (size_t)r * hw_out,
                   hw_out * sizeof(float));
        }
        rows = dout_rows;
      }
      /* dW_g (cog, k) += rows (cog, cols) x col^T (cols, k) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, k, (int)cols, 1.0f, rows, (int)cols,
                  col, (int)cols, 1.0f, dweight + (size_t)gi * cog * k, k);
      if (!din)
        continue;
      /* dcol (k, cols) = W_g^T (k, cog) x rows (cog, cols), into col (no longer needed) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, (int)cols, cog, 1.0f,
                  weight + (size_t)gi * cog * k, k, rows, (int)cols, 0.0f, col, (int)cols);
      if (nb == 1) {
        instrid_col2im(g, col, din + (size_t)e0 * in_size + (size_t)gi * cig * hw_in);
        continue;
      }
      for (int e = 0; e < nb; e++) {
        for (int r = 0; r < k; r++)
          memcpy(col_one + (size_t)r * hw_out, col + (size_t)r * cols + (size_t)e * hw_out,
                 hw_out * sizeof(float));
        instrid_col2im(g, col_one, din + (size_t)(e0 + e) * in_size + (size_t)gi * cig * hw_in);
      }
    }
  }
}

const instrid_layer_entry instrid_layer_conv2d = {
    .type = INSTRID_LAYER_CONV2D,
    .name = "conv2d",
    .n_int_params = 10,
    .n_tensors = 2,
    .unpack = unpack,
    .check = check,
    .tensor = tensor,
    .flops = flops,
    .scratch_floats = scratch_floats,
    .forward = forward,
    .backward = backward,
};
