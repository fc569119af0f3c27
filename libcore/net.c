/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* net.c — runs a loaded model's inference plan on one window: two ping-pong activation
 * buffers and one scratch, allocated once per instrid_net, nothing allocated per window.
 *
 * Layout. The convolutional front of the network (the steps up to the first one that is not a
 * convolution, batch norm, ReLU, pooling or dropout) runs channels-last, (H, W, C): im2col then
 * produces one row of K = kh*kw*C/groups values per output pixel, and the convolution is
 * out (pixels, c_out) = rows (pixels, K) * weight^T, a gemm whose long side is the pixel count.
 * OpenBLAS runs that shape at close to its peak, where the channels-first product
 * weight (c_out, K) * col (K, pixels) loses a third when c_out is small. The rest of the
 * network (global pooling, dense, ...) runs channels-first with the kernels of layers.h. The
 * network input, (1, n_mels, W), is the same in both layouts.
 *
 * Convolutions. On x86-64 with AVX2+FMA or AVX-512 (chosen at instrid_net_new), a convolution
 * with one group, followed by nothing or by a 2x2 stride-2 pool, runs conv_direct.c's direct
 * kernel: no im2col, no gemm packing, weights packed for it once here, the bias, ReLU and pool
 * applied in registers. It reaches ~95% of the FMA peak where OpenBLAS's sgemm on the same
 * shapes reaches ~80%, and the im2col copies it avoids cost as much again.
 *
 * Every other convolution, and every one on other CPUs, takes the portable gemm path: tiles of
 * whole output rows, so that a tile's im2col rows and its output stay in L2 while the gemm
 * reads them; the bias, a following ReLU and a following non-overlapping max or average pool
 * are applied to the tile there, before anything goes back to memory.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv_direct.h"
#include "hotloop.h"
#include "internal.h"
#include "layers.h"
#include "model_internal.h"
#include "net_internal.h"

#include <cblas.h>

/* Output pixels per convolution tile, at least: below a few hundred rows the gemm's packing
 * overhead shows, above a few thousand the tile no longer fits in L2. */
#define TILE_PIXELS 512

/* Up to this many multiply-adds per output (kh*kw*c_in, e.g. 9 for a 3x3 convolution of the
 * one-channel spectrogram) a plain loop beats sgemm: with so short a K the gemm is bound by
 * writing its output, and its packing is pure overhead. */
#define SMALL_K 16

typedef enum {
  OP_CONV_HWC, /* convolution, channels-last, with fused bias / ReLU / pool */
  OP_BN_HWC,   /* batch norm that had no convolution to fold into */
  OP_POOL_HWC, /* a pool that could not be fused into the convolution before it */
  OP_RELU,     /* layout-free */
  OP_TO_CHW,   /* (H, W, C) -> (C, H, W) at the end of the channels-last front */
  OP_CHW,      /* any step, channels-first, with the kernels of layers.h */
} op_kind;

typedef struct {
  op_kind kind;
  const instrid_step *step; /* the step (for OP_CONV_HWC: the convolution) */
  uint32_t first_step;      /* steps [first_step, last_step] this op covers, for timing */
  uint32_t last_step;
  instrid_shape in, out; /* shapes of the op's input and output (C, H, W as in the model) */
  instrid_conv_geom g;   /* CONV: geometry; OP_CHW conv: the same, for layers.h */
  instrid_conv_hwc conv; /* CONV_HWC: the kernel, its fused bias / ReLU / pool */
  const float *weight;   /* CONV_HWC: packed by instrid_conv_hwc_pack */
  int relu;              /* CONV_HWC: clamp after the bias */
  int pool_mode;         /* CONV_HWC / POOL_HWC: -1 none, INSTRID_POOL_MAX / _MEAN */
  int pool_kh, pool_kw, pool_sh, pool_sw;
  instrid_act act; /* OP_CHW convolution: a RELU / HARDSWISH step after it, fused */
  int in_place;    /* the op writes its input buffer */
  /* Buffers, assigned at plan time: the op reads act[in_buf] and writes act[out_buf] (the same
   * when in place); a RESIDUAL_ADD reads its skip from act[skip_buf]. */
  int in_buf, out_buf, skip_buf;
  uint32_t feeds_step; /* the op's output is the input of this step (n_steps: the output) */
} net_op;

struct instrid_net {
  const instrid_model *model;
  float **act; /* n_act buffers of max_activation floats; ops read one and write another */
  int n_act;
  int out_buf;      /* where the last op leaves the output */
  float *embedding; /* the EMBEDDING layer's input of the last window, or NULL */
  float *scratch;   /* im2col rows of one tile, then the tile's conv output */
  float *permuted;  /* convolution weights reordered channels-last, for every conv */
  size_t scratch_floats, permuted_floats; /* as allocated */
  net_op *ops;
  uint32_t n_ops;
  size_t n_outputs;     /* C*H*W of the last step: the model's n_classes */
  double *step_seconds; /* instrid_net_set_step_timer, or NULL */
};

static void conv_geom_from_step(const instrid_step *s, instrid_conv_geom *g)
{
  instrid_conv_geom_from_params(&s->params.conv, s->in, 1, g);
}

static int is_pointwise(const instrid_conv_geom *g)
{
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

int instrid_layer_runs_channels_last(uint32_t type)
{
  return type == INSTRID_LAYER_CONV2D || type == INSTRID_LAYER_BATCHNORM ||
         type == INSTRID_LAYER_RELU || type == INSTRID_LAYER_MAXPOOL ||
         type == INSTRID_LAYER_AVGPOOL || type == INSTRID_LAYER_DROPOUT;
}

/* Each convolution's weights start on a 64-byte boundary: the direct kernels load them aligned.
 * (n is far below SIZE_MAX: it was computed with overflow checks against a file's sizes.) */
static size_t slot_floats(size_t n)
{
  return (n + 15) / 16 * 16;
}

static size_t shape_floats(instrid_shape s)
{
  return (size_t)s.c * s.h * s.w;
}

/* Builds the op list from the model's steps and sizes the scratch. Returns 0 with err filled
 * when a step is inconsistent. */
static int plan_ops(instrid_net *net, instrid_direct_isa isa, size_t *scratch_floats,
                    size_t *permuted_floats, instrid_error *err)
{
  const instrid_model *m = net->model;
  uint32_t n = 0;
  size_t scratch = 0, permuted = 0;
  int channels_last = 1;
  int overflow = 0;
  /* skip_src[i]: a residual adds step i's input, so that input must exist as a whole,
   * channels-first activation: the channels-last front ends before it and no fusion spans it. */
  uint8_t skip_src[INSTRID_MAX_LAYERS + 1] = {0};
  for (uint32_t i = 0; i < m->n_steps; i++)
    if (m->steps[i].layer.type == INSTRID_LAYER_RESIDUAL_ADD)
      skip_src[m->steps[i].skip_from] = 1;

  for (uint32_t i = 0; i < m->n_steps; i++) {
    const instrid_step *s = &m->steps[i];
    const uint32_t t = s->layer.type;
    if (t == INSTRID_LAYER_DROPOUT)
      continue;
    if (channels_last && (!instrid_layer_runs_channels_last(t) || (i > 0 && skip_src[i]))) {
      channels_last = 0;
      if (s->in.c > 1 && (size_t)s->in.h * s->in.w > 1) {
        net_op *op = &net->ops[n++];
        memset(op, 0, sizeof *op);
        op->kind = OP_TO_CHW;
        op->in = op->out = s->in;
        op->first_step = op->last_step = i;
        op->feeds_step = i;
        /* A hard-swish that ends the channels-last front (mn04's after its first convolution)
         * is applied as the layout changes, unless a residual adds its input. */
        if (t == INSTRID_LAYER_HARDSWISH && !skip_src[i]) {
          op->act = INSTRID_ACT_HARDSWISH;
          op->feeds_step = i + 1;
          continue;
        }
      }
    }
    net_op *op = &net->ops[n++];
    memset(op, 0, sizeof *op);
    op->step = s;
    op->in = s->in;
    op->out = s->out;
    op->first_step = op->last_step = i;
    op->pool_mode = -1;
    op->feeds_step = i + 1;

    if (t == INSTRID_LAYER_CONV2D) {
      conv_geom_from_step(s, &op->g);
      if (!instrid_conv_geom_init(&op->g) || (uint32_t)op->g.h_out != s->out.h ||
          (uint32_t)op->g.w_out != s->out.w || (uint32_t)op->g.c_out != s->out.c) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "step %u: convolution geometry inconsistent", i);
        return 0;
      }
    }
    if (!channels_last) {
      op->kind = OP_CHW;
      op->in_place = (s->entry->flags & INSTRID_LAYER_IN_PLACE) != 0;
      if (s->entry->scratch_floats && !(t == INSTRID_LAYER_CONV2D && is_pointwise(&op->g))) {
        size_t need = s->entry->scratch_floats(&s->params, s->in, s->out, 1, 0);
        if (need == SIZE_MAX)
          overflow = 1;
        else if (need > scratch)
          scratch = need;
      }
      /* A ReLU or hard-swish right after a convolution (dropout in between is a no-op) is
       * applied by the convolution as it writes its output, unless a residual adds the
       * convolution's output later (then it must exist on its own). */
      if (t == INSTRID_LAYER_CONV2D) {
        uint32_t j = i + 1;
        while (j < m->n_steps && m->steps[j].layer.type == INSTRID_LAYER_DROPOUT)
          j++;
        if (j < m->n_steps && !skip_src[j] &&
            (m->steps[j].layer.type == INSTRID_LAYER_RELU ||
             m->steps[j].layer.type == INSTRID_LAYER_HARDSWISH)) {
          op->act = m->steps[j].layer.type == INSTRID_LAYER_RELU ? INSTRID_ACT_RELU
                                                                 : INSTRID_ACT_HARDSWISH;
          op->last_step = j;
          op->out = m->steps[j].out;
          op->feeds_step = j + 1;
          i = j;
        }
      }
      continue;
    }

    switch (t) {
    case INSTRID_LAYER_CONV2D: {
      instrid_conv_geom *g = &op->g;
      op->kind = OP_CONV_HWC;
      /* Fuse a ReLU, then a non-overlapping pool, that follow (dropout in between is a no-op).
       */
      uint32_t j = i + 1;
      while (j < m->n_steps && m->steps[j].layer.type == INSTRID_LAYER_DROPOUT)
        j++;
      if (j < m->n_steps && m->steps[j].layer.type == INSTRID_LAYER_RELU && !skip_src[j]) {
        op->relu = 1;
        op->last_step = j;
        op->out = m->steps[j].out;
        j++;
        while (j < m->n_steps && m->steps[j].layer.type == INSTRID_LAYER_DROPOUT)
          j++;
      }
      if (j < m->n_steps && !skip_src[j] &&
          (m->steps[j].layer.type == INSTRID_LAYER_MAXPOOL ||
           m->steps[j].layer.type == INSTRID_LAYER_AVGPOOL)) {
        const instrid_pool2d_params *p = &m->steps[j].params.pool;
        if (p->kh == p->sh && p->kw == p->sw) {
          op->pool_mode = m->steps[j].layer.type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX
                                                                          : INSTRID_POOL_MEAN;
          op->pool_kh = op->pool_sh = (int)p->kh;
          op->pool_kw = op->pool_sw = (int)p->kw;
          op->last_step = j;
          op->out = m->steps[j].out;
        }
      }
      i = op->last_step;
      op->feeds_step = i + 1;
      size_t need;
      if (!instrid_conv_hwc_plan(&op->conv, g, isa, op->relu, op->pool_mode, op->pool_kh,
                                 op->pool_kw, &need)) {
        overflow = 1;
        break;
      }
      if (need > scratch)
        scratch = need;
      permuted = instrid_add_size(permuted, slot_floats(op->conv.packed_floats), &overflow);
      break;
    }
    case INSTRID_LAYER_BATCHNORM:
      op->kind = OP_BN_HWC;
      op->in_place = 1;
      break;
    case INSTRID_LAYER_RELU:
      op->kind = OP_RELU;
      op->in_place = 1;
      break;
    default: { /* MAXPOOL, AVGPOOL */
      const instrid_pool2d_params *p = &s->params.pool;
      op->kind = OP_POOL_HWC;
      op->pool_mode = t == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX : INSTRID_POOL_MEAN;
      op->pool_kh = (int)p->kh;
      op->pool_kw = (int)p->kw;
      op->pool_sh = (int)p->sh;
      op->pool_sw = (int)p->sw;
      break;
    }
    }
  }
  /* A network that is channels-last to the end hands its output over channels-first. */
  const instrid_shape last = m->steps[m->n_steps - 1].out;
  if (channels_last && last.c > 1 && (size_t)last.h * last.w > 1) {
    net_op *op = &net->ops[n++];
    memset(op, 0, sizeof *op);
    op->kind = OP_TO_CHW;
    op->in = op->out = last;
    op->first_step = op->last_step = m->n_steps - 1;
    op->feeds_step = m->n_steps;
  }
  if (overflow) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "network scratch size overflows");
    return 0;
  }
  net->n_ops = n;
  *scratch_floats = scratch;
  *permuted_floats = permuted;
  return 1;
}

/* Assigns each op's input and output buffer: an op writes a buffer other than its input unless
 * it runs in place, and never one that holds a step input a residual will add later. Returns
 * the number of buffers needed. */
static int assign_buffers(instrid_net *net)
{
  const instrid_model *m = net->model;
  /* last_use[s]: the last op adding the input of step s as its skip (-1: none). */
  int32_t last_use[INSTRID_MAX_LAYERS + 1];
  int32_t buf_of[INSTRID_MAX_LAYERS + 1]; /* buffer holding the input of step s (-1: none) */
  for (uint32_t s = 0; s <= m->n_steps; s++)
    last_use[s] = buf_of[s] = -1;
  for (uint32_t k = 0; k < net->n_ops; k++) {
    const net_op *op = &net->ops[k];
    if (op->kind == OP_CHW && op->step->layer.type == INSTRID_LAYER_RESIDUAL_ADD)
      last_use[op->step->skip_from] = (int32_t)k;
  }
  buf_of[0] = 0; /* the features are copied into buffer 0 */
  int cur = 0, n_buf = 2;
  for (uint32_t k = 0; k < net->n_ops; k++) {
    net_op *op = &net->ops[k];
    /* live[b]: buffer b holds a step input that an op after k still adds. */
    uint8_t live[INSTRID_MAX_LAYERS + 3] = {0};
    for (uint32_t s = 0; s <= m->n_steps; s++)
      if (buf_of[s] >= 0 && last_use[s] > (int32_t)k)
        live[buf_of[s]] = 1;
    op->skip_buf = -1;
    if (op->kind == OP_CHW && op->step->layer.type == INSTRID_LAYER_RESIDUAL_ADD)
      op->skip_buf = buf_of[op->step->skip_from];
    op->in_buf = cur;
    if (op->in_place && !live[cur]) {
      op->out_buf = cur;
    } else {
      op->in_place = 0;
      int b = 0;
      while (b == cur || live[b])
        b++;
      op->out_buf = b;
      if (b + 1 > n_buf)
        n_buf = b + 1;
    }
    cur = op->out_buf;
    /* A later op writing the same buffer ends what it held. */
    for (uint32_t s = 0; s <= m->n_steps; s++)
      if (buf_of[s] == cur)
        buf_of[s] = -1;
    buf_of[op->feeds_step] = cur;
  }
  net->out_buf = cur;
  return n_buf;
}

/* weight (c_out, cg, kh, kw) -> (c_out, kh, kw, cg): the order of a channels-last im2col row;
 * with transpose, (kh, kw, cg, c_out), for the small-K loop. */
static void permute_weight(const instrid_conv_geom *g, const float *w, int transpose, float *out)
{
  const int cg = g->c_in / g->groups;
  const size_t k = (size_t)cg * g->kh * g->kw;
  for (int o = 0; o < g->c_out; o++)
    for (int c = 0; c < cg; c++)
      for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
          size_t r = ((size_t)i * g->kw + j) * cg + c;
          out[transpose ? r * g->c_out + o : o * k + r] =
              w[(((size_t)o * cg + c) * g->kh + i) * g->kw + j];
        }
}

instrid_net *instrid_net_new(const instrid_model *model, instrid_error *err)
{
  return instrid_net_new_with_kernel(model, instrid_conv_direct_best_isa(), err);
}

instrid_net *instrid_net_new_with_kernel(const instrid_model *model, int direct_isa,
                                         instrid_error *err)
{
  if (!model) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "instrid_net_new: model is NULL");
    return NULL;
  }
  if (model->n_steps == 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "model has no layers");
    return NULL;
  }
  instrid_net *net = calloc(1, sizeof *net);
  if (!net)
    goto nomem;
  net->model = model;
  /* At most one op per step plus a layout change. */
  net->ops = calloc((size_t)model->n_steps + 2, sizeof *net->ops);
  if (!net->ops)
    goto nomem;
  size_t scratch = 0, permuted = 0;
  if (direct_isa != INSTRID_DIRECT_NONE && !instrid_conv_direct_isa_usable(direct_isa)) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "convolution kernel %d: not on this CPU",
                      direct_isa);
    goto fail;
  }
  if (!plan_ops(net, (instrid_direct_isa)direct_isa, &scratch, &permuted, err))
    goto fail;

  const instrid_shape last = model->steps[model->n_steps - 1].out;
  net->n_outputs = shape_floats(last);
  if (net->n_outputs != model->desc.n_classes) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "network outputs %zu values for %u classes",
                      net->n_outputs, model->desc.n_classes);
    goto fail;
  }
  net->n_act = assign_buffers(net);
  net->act = calloc((size_t)net->n_act, sizeof *net->act);
  if (!net->act)
    goto nomem;
  for (int b = 0; b < net->n_act; b++) {
    net->act[b] = instrid_alloc_floats(model->max_activation);
    if (!net->act[b])
      goto nomem;
  }
  if (model->embedding_size) {
    net->embedding = instrid_alloc_floats(model->embedding_size);
    if (!net->embedding)
      goto nomem;
  }
  net->scratch = instrid_alloc_floats(scratch);
  net->permuted = instrid_alloc_floats_filled(permuted);
  net->scratch_floats = scratch;
  net->permuted_floats = permuted;
  if (!net->scratch || !net->permuted)
    goto nomem;

  float *slot = net->permuted;
  for (uint32_t i = 0; i < net->n_ops; i++) {
    net_op *op = &net->ops[i];
    if (op->kind != OP_CONV_HWC)
      continue;
    op->weight = slot;
    instrid_conv_hwc_pack(&op->conv, op->step->weight, op->step->bias, slot);
    slot += slot_floats(op->conv.packed_floats);
  }
  return net;

nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating network buffers");
fail:
  instrid_net_free(net);
  return NULL;
}

void instrid_net_free(instrid_net *net)
{
  if (!net)
    return;
  for (int b = 0; net->act && b < net->n_act; b++)
    instrid_free_aligned(net->act[b]);
  free(net->act);
  instrid_free_aligned(net->embedding);
  instrid_free_aligned(net->scratch);
  instrid_free_aligned(net->permuted);
  free(net->ops);
  free(net);
}

void instrid_net_set_step_timer(instrid_net *net, double *step_seconds)
{
  net->step_seconds = step_seconds;
}

/* ------------------------------------------------------------------------------------------ */
/* Channels-last kernels */

/* im2col rows for output rows [oh0, oh1) of group grp: rows (pixels, kh*kw*cg), input
 * (h_in, w_in, c_in). With one group, unit stride and dilation, the kw taps of a kernel row read
 * kw neighbouring pixels, i.e. kw*c_in contiguous floats: one copy instead of kw. */
static void im2row(const instrid_conv_geom *g, int grp, int oh0, int oh1, const float *in,
                   float *rows)
{
  const int cg = g->c_in / g->groups;
  const size_t run = (size_t)g->kw * cg;
  const int contiguous = g->groups == 1 && g->sw == 1 && g->dw == 1;
  const float *in_g = in + (size_t)grp * cg;
  float *r = rows;
  for (int oh = oh0; oh < oh1; oh++) {
    for (int ow = 0; ow < g->w_out; ow++) {
      const int iw0 = ow * g->sw - g->pw;
      const int inside = iw0 >= 0 && iw0 + (g->kw - 1) * g->dw < g->w_in;
      for (int i = 0; i < g->kh; i++) {
        const int ih = oh * g->sh - g->ph + i * g->dh;
        if (ih < 0 || ih >= g->h_in) {
          memset(r, 0, sizeof(float) * run);
          r += run;
          continue;
        }
        const float *in_row = in_g + (size_t)ih * g->w_in * g->c_in;
        if (contiguous && inside) {
          const float *src = in_row + (size_t)iw0 * g->c_in;
          if (run <= 8) /* a one-channel input: a call to memcpy would cost more than it copies */
            for (size_t t = 0; t < run; t++)
              r[t] = src[t];
          else
            memcpy(r, src, sizeof(float) * run);
          r += run;
          continue;
        }
        for (int j = 0; j < g->kw; j++) {
          const int iw = iw0 + j * g->dw;
          if (iw < 0 || iw >= g->w_in) {
            memset(r, 0, sizeof(float) * cg);
          } else if (cg == 1) {
            *r = in_row[(size_t)iw * g->c_in];
          } else {
            memcpy(r, in_row + (size_t)iw * g->c_in, sizeof(float) * cg);
          }
          r += cg;
        }
      }
    }
  }
}

/* Pools x (h, w, c) channels-last into y (h_out, w_out, c) with floor; y rows [0, h_out). */
HOT_LOOP
static void pool_hwc(int mode, int h, int w, int c, int kh, int kw, int sh, int sw, const float *x,
                     float *y)
{
  const int h_out = (h - kh) / sh + 1, w_out = (w - kw) / sw + 1;
  const float inv_area = 1.0f / (float)(kh * kw);
  for (int oh = 0; oh < h_out; oh++) {
    for (int ow = 0; ow < w_out; ow++) {
      float *o = y + ((size_t)oh * w_out + ow) * c;
      const float *first = x + ((size_t)oh * sh * w + (size_t)ow * sw) * c;
      memcpy(o, first, sizeof(float) * c);
      for (int i = 0; i < kh; i++) {
        for (int j = 0; j < kw; j++) {
          if (i == 0 && j == 0)
            continue;
          const float *p = x + ((size_t)(oh * sh + i) * w + (size_t)ow * sw + j) * c;
          if (mode == INSTRID_POOL_MAX) {
            for (int k = 0; k < c; k++)
              o[k] = p[k] > o[k] ? p[k] : o[k];
          } else {
            for (int k = 0; k < c; k++)
              o[k] += p[k];
          }
        }
      }
      if (mode != INSTRID_POOL_MAX)
        for (int k = 0; k < c; k++)
          o[k] *= inv_area;
    }
  }
}

HOT_LOOP
static void bias_act_hwc(float *x, size_t pixels, int c, const float *bias, int relu)
{
  for (size_t p = 0; p < pixels; p++) {
    float *v = x + p * c;
    if (relu) {
      for (int k = 0; k < c; k++) {
        float t = v[k] + bias[k];
        v[k] = t > 0.0f ? t : 0.0f;
      }
    } else {
      for (int k = 0; k < c; k++)
        v[k] += bias[k];
    }
  }
}

/* The convolution for K <= SMALL_K: one output pixel at a time, 16 channels at a time in a
 * vector accumulator (GNU vector extension: one AVX-512 register, two AVX2 or four SSE ones),
 * with the bias, the ReLU and a following pool applied in registers. */
#if defined(__GNUC__)
typedef float vec16 __attribute__((vector_size(64)));
typedef int32_t ivec16 __attribute__((vector_size(64)));

/* *acc += r (k) . weight_kc (k, c_out)[:, c0:c0+16], weight_kc pre-offset by c0. Vectors pass
 * by pointer: returning one by value would change the ABI between the ifunc clones. */
static inline __attribute__((always_inline)) void
dot16(const float *r, int k, const float *weight_kc, int c_out, vec16 *acc)
{
  vec16 sum = *acc;
  for (int i = 0; i < k; i++) {
    vec16 w;
    memcpy(&w, weight_kc + (size_t)i * c_out, sizeof w);
    sum += r[i] * w;
  }
  *acc = sum;
}

/* x where x > 0, else 0: the comparison's mask is all ones where positive. */
#define RELU16(x) ((vec16)((ivec16)(x) & ((x) > (vec16){0})))
/* a where a > b, else b */
#define MAX16(a, b) ((vec16)(((ivec16)(a) & ((a) > (b))) | ((ivec16)(b) & ~((a) > (b)))))
#endif

static inline float dot1(const float *r, int k, const float *weight_kc, int c_out, float acc)
{
  for (int i = 0; i < k; i++)
    acc += r[i] * weight_kc[(size_t)i * c_out];
  return acc;
}

/* y (px, c_out) = bias + rows (px, k) * weight_kc (k, c_out), clamped at 0 with relu. */
HOT_LOOP
static void small_k_hwc(const float *rows, size_t px, int k, int c_out, const float *weight_kc,
                        const float *bias, int relu, float *y)
{
  for (size_t p = 0; p < px; p++) {
    const float *r = rows + p * k;
    float *o = y + p * c_out;
    int c0 = 0;
#if defined(__GNUC__)
    for (; c0 + 16 <= c_out; c0 += 16) {
      vec16 acc;
      memcpy(&acc, bias + c0, sizeof acc);
      dot16(r, k, weight_kc + c0, c_out, &acc);
      if (relu)
        acc = RELU16(acc);
      memcpy(o + c0, &acc, sizeof acc);
    }
#endif
    for (int c = c0; c < c_out; c++) {
      float acc = dot1(r, k, weight_kc + c, c_out, bias[c]);
      o[c] = relu && acc < 0.0f ? 0.0f : acc;
    }
  }
}

/* As small_k_hwc, then a non-overlapping (pkh, pkw) max or mean pool, without the conv output
 * ever leaving registers: rows covers n_rows conv rows of w_out pixels (n_rows a multiple of
 * pkh), y gets n_rows / pkh pooled rows of y_w pixels. */
HOT_LOOP
static void small_k_pool_hwc(const float *rows, int n_rows, int w_out, int k, int c_out,
                             const float *weight_kc, const float *bias, int relu, int mode, int pkh,
                             int pkw, int y_w, float *y)
{
  const float inv_area = 1.0f / (float)(pkh * pkw);
  for (int pr = 0; pr < n_rows / pkh; pr++) {
    for (int pc = 0; pc < y_w; pc++) {
      float *o = y + ((size_t)pr * y_w + pc) * c_out;
      const float *r0 = rows + ((size_t)pr * pkh * w_out + (size_t)pc * pkw) * k;
      int c0 = 0;
#if defined(__GNUC__)
      for (; c0 + 16 <= c_out; c0 += 16) {
        vec16 b, res = {0};
        memcpy(&b, bias + c0, sizeof b);
        for (int i = 0; i < pkh; i++) {
          for (int j = 0; j < pkw; j++) {
            const float *r = r0 + ((size_t)i * w_out + j) * k;
            vec16 acc = b;
            dot16(r, k, weight_kc + c0, c_out, &acc);
            if (relu)
              acc = RELU16(acc);
            if (mode == INSTRID_POOL_MAX)
              res = i == 0 && j == 0 ? acc : MAX16(acc, res);
            else
              res += acc;
          }
        }
        if (mode != INSTRID_POOL_MAX)
          res *= inv_area;
        memcpy(o + c0, &res, sizeof res);
      }
#endif
      for (int c = c0; c < c_out; c++) {
        float res = 0.0f;
        for (int i = 0; i < pkh; i++) {
          for (int j = 0; j < pkw; j++) {
            const float *r = r0 + ((size_t)i * w_out + j) * k;
            float acc = dot1(r, k, weight_kc + c, c_out, bias[c]);
            if (relu && acc < 0.0f)
              acc = 0.0f;
            if (mode == INSTRID_POOL_MAX)
              res = (i == 0 && j == 0) || acc > res ? acc : res;
            else
              res += acc;
          }
        }
        o[c] = mode == INSTRID_POOL_MAX ? res : res * inv_area;
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The channels-last convolution (net_internal.h): the engine's front, and the trainer's */

size_t instrid_net_scratch_bytes(const instrid_net *net)
{
  return sizeof(float) * (net->scratch_floats + net->permuted_floats);
}

int instrid_conv_hwc_plan(instrid_conv_hwc *c, const instrid_conv_geom *geom, int isa, int relu,
                          int pool_mode, int pool_kh, int pool_kw, size_t *scratch_floats)
{
  memset(c, 0, sizeof *c);
  c->g = *geom;
  c->g.n = 1;
  const instrid_conv_geom *g = &c->g;
  c->relu = relu;
  c->pool_mode = pool_mode >= 0 ? pool_mode : -1;
  c->pool_kh = pool_mode >= 0 ? pool_kh : 1;
  c->pool_kw = pool_mode >= 0 ? pool_kw : 1;
  c->out_h = g->h_out / c->pool_kh;
  c->out_w = g->w_out / c->pool_kw;

  /* Tiles of whole rows, a multiple of the pool height so no window straddles two. */
  c->conv_rows = c->out_h * c->pool_kh;
  int rows = (TILE_PIXELS + g->w_out - 1) / g->w_out;
  rows = (rows + c->pool_kh - 1) / c->pool_kh * c->pool_kh;
  if (rows > c->conv_rows)
    rows = c->conv_rows;
  c->tile_rows = rows;

  int overflow = 0;
  const size_t k = (size_t)(g->c_in / g->groups) * g->kh * g->kw;
  const size_t tile_px = (size_t)rows * g->w_out;
  size_t need = 0;
  c->small_k = g->groups == 1 && k <= SMALL_K;
  if (isa != INSTRID_DIRECT_NONE &&
      instrid_conv_direct_covers(g, c->pool_mode, c->pool_kh, c->pool_kw)) {
    c->direct = isa;
    c->small_k = 0;
    need = instrid_conv_direct_scratch_floats(g);
    c->packed_floats = instrid_conv_direct_packed_floats(g);
    overflow = need == SIZE_MAX || c->packed_floats == SIZE_MAX;
  } else {
    if (!is_pointwise(g))
      need = instrid_mul_size(tile_px, k, &overflow);
    if (c->pool_mode >= 0)
      need = instrid_add_size(need, instrid_mul_size(tile_px, g->c_out, &overflow), &overflow);
    c->packed_floats = instrid_mul_size(g->c_out, k, &overflow);
  }
  *scratch_floats = need;
  return !overflow;
}

void instrid_conv_hwc_pack(const instrid_conv_hwc *c, const float *weight, const float *bias,
                           float *packed)
{
  if (c->direct)
    instrid_conv_direct_pack(&c->g, weight, bias, packed);
  else
    permute_weight(&c->g, weight, c->small_k, packed);
}

void instrid_conv_hwc_forward(const instrid_conv_hwc *c, const float *packed, const float *bias,
                              const float *in, float *out, float *scratch)
{
  const instrid_conv_geom *g = &c->g;
  const int cg_in = g->c_in / g->groups, cg_out = g->c_out / g->groups;
  const int k = cg_in * g->kh * g->kw;
  const int pointwise = is_pointwise(g);
  const size_t tile_px_max = (size_t)c->tile_rows * g->w_out;
  float *rows = scratch;

  if (c->direct) {
    instrid_conv_direct_forward((instrid_direct_isa)c->direct, g, packed, c->relu, c->pool_mode, in,
                                out, scratch);
    return;
  }
  float *tile_out = c->pool_mode >= 0 ? scratch + (pointwise ? 0 : tile_px_max * k) : NULL;

  for (int oh0 = 0; oh0 < c->conv_rows; oh0 += c->tile_rows) {
    const int oh1 = oh0 + c->tile_rows < c->conv_rows ? oh0 + c->tile_rows : c->conv_rows;
    const int px = (oh1 - oh0) * g->w_out;
    /* Without a pool the tile goes straight to its place in the output. */
    float *dst = tile_out ? tile_out : out + (size_t)oh0 * g->w_out * g->c_out;
    if (c->small_k) {
      const float *a = in + (size_t)oh0 * g->w_out * g->c_in;
      if (!pointwise) {
        im2row(g, 0, oh0, oh1, in, rows);
        a = rows;
      }
      if (tile_out) {
        float *pooled = out + (size_t)(oh0 / c->pool_kh) * c->out_w * g->c_out;
        small_k_pool_hwc(a, oh1 - oh0, g->w_out, k, g->c_out, packed, bias, c->relu, c->pool_mode,
                         c->pool_kh, c->pool_kw, c->out_w, pooled);
      } else {
        small_k_hwc(a, (size_t)px, k, g->c_out, packed, bias, c->relu, dst);
      }
      continue;
    }
    for (int grp = 0; grp < g->groups; grp++) {
      const float *a;
      int lda;
      if (pointwise) {
        a = in + (size_t)oh0 * g->w_out * g->c_in + (size_t)grp * cg_in;
        lda = g->c_in;
      } else {
        im2row(g, grp, oh0, oh1, in, rows);
        a = rows;
        lda = k;
      }
      /* dst (px, c_out)[group columns] = a (px, k) * weight_g (cg_out, k)^T. With one group
       * dst is contiguous: zeroed here and accumulated into (beta 1), the same sums as beta 0,
       * whose zeroing OpenBLAS does column by column, c_out floats at a time (7% of the
       * element's time on an AVX2 machine, against a memset's fraction of that). */
      float beta = 0.0f;
      if (g->groups == 1) {
        memset(dst, 0, sizeof(float) * (size_t)px * g->c_out);
        beta = 1.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, px, cg_out, k, 1.0f, a, lda,
                  packed + (size_t)grp * cg_out * k, k, beta, dst + (size_t)grp * cg_out, g->c_out);
    }
    bias_act_hwc(dst, (size_t)px, g->c_out, bias, c->relu);
    if (tile_out) {
      float *pooled = out + (size_t)(oh0 / c->pool_kh) * c->out_w * g->c_out;
      pool_hwc(c->pool_mode, oh1 - oh0, g->w_out, g->c_out, c->pool_kh, c->pool_kw, c->pool_kh,
               c->pool_kw, tile_out, pooled);
    }
  }
}

/* The layout changes go by blocks of LAYOUT_BLOCK pixels: a block's channels-last floats (a few
 * KiB) stay in L1 while each channel's run of the block is written (or read) contiguously; one
 * pixel at a time, consecutive writes (or reads) would be a whole plane apart. */
#define LAYOUT_BLOCK 32

void instrid_hwc_to_chw(int h, int w, int c, const float *x, float *y)
{
  const size_t hw = (size_t)h * w;
  for (size_t p0 = 0; p0 < hw; p0 += LAYOUT_BLOCK) {
    const size_t p1 = p0 + LAYOUT_BLOCK < hw ? p0 + LAYOUT_BLOCK : hw;
    for (int k = 0; k < c; k++) {
      float *yk = y + (size_t)k * hw;
      for (size_t p = p0; p < p1; p++)
        yk[p] = x[p * c + k];
    }
  }
}

/* instrid_hwc_to_chw, then instrid_hardswish_forward's operations on each value as it is
 * written. */
HOT_LOOP
static void hwc_to_chw_hardswish(int h, int w, int c, const float *x, float *y)
{
  const size_t hw = (size_t)h * w;
  for (size_t p0 = 0; p0 < hw; p0 += LAYOUT_BLOCK) {
    const size_t p1 = p0 + LAYOUT_BLOCK < hw ? p0 + LAYOUT_BLOCK : hw;
    for (int k = 0; k < c; k++) {
      float *yk = y + (size_t)k * hw;
      for (size_t p = p0; p < p1; p++) {
        float v = x[p * c + k], r = v + 3.0f;
        r = r > 0.0f ? r : 0.0f;
        r = r < 6.0f ? r : 6.0f;
        yk[p] = v * r / 6.0f;
      }
    }
  }
}

void instrid_chw_to_hwc(int h, int w, int c, const float *x, float *y)
{
  const size_t hw = (size_t)h * w;
  for (size_t p0 = 0; p0 < hw; p0 += LAYOUT_BLOCK) {
    const size_t p1 = p0 + LAYOUT_BLOCK < hw ? p0 + LAYOUT_BLOCK : hw;
    for (int k = 0; k < c; k++) {
      const float *xk = x + (size_t)k * hw;
      for (size_t p = p0; p < p1; p++)
        y[p * c + k] = xk[p];
    }
  }
}

/* One step channels-first: its layer table entry's forward on one example. */
static void run_chw(const net_op *op, const float *x, float *y, const float *skip, float *scratch)
{
  const instrid_step *s = op->step;
  instrid_layer_fwd a = {.n = 1, .t = s->t, .x = x, .y = y, .skip = skip, .scratch = scratch};
  s->entry->forward(&s->params, s->in, s->out, &a);
}

/* CPU time of the calling thread: on a loaded machine it still measures the work itself. */
static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void instrid_net_forward(instrid_net *net, const float *features, float *probabilities)
{
  const instrid_model *m = net->model;
  /* features (n_mels, W) is the input (1, n_mels, W) in either layout. It is copied so that
   * in-place ops never write to the caller's memory. */
  memcpy(net->act[0], features, sizeof(float) * shape_floats(m->input));

  for (uint32_t i = 0; i < net->n_ops; i++) {
    const net_op *op = &net->ops[i];
    float *x = net->act[op->in_buf], *y = net->act[op->out_buf];
    double t0 = net->step_seconds ? now_seconds() : 0.0;
    switch (op->kind) {
    case OP_CONV_HWC:
      instrid_conv_hwc_forward(&op->conv, op->weight, op->step->bias, x, y, net->scratch);
      break;
    case OP_BN_HWC: {
      const size_t px = (size_t)op->in.h * op->in.w;
      const int c = (int)op->in.c;
      for (size_t p = 0; p < px; p++)
        for (int k = 0; k < c; k++)
          y[p * c + k] = x[p * c + k] * op->step->weight[k] + op->step->bias[k];
      break;
    }
    case OP_POOL_HWC:
      pool_hwc(op->pool_mode, (int)op->in.h, (int)op->in.w, (int)op->in.c, op->pool_kh, op->pool_kw,
               op->pool_sh, op->pool_sw, x, y);
      break;
    case OP_RELU:
      if (y != x)
        memcpy(y, x, sizeof(float) * shape_floats(op->in));
      instrid_relu_forward(y, shape_floats(op->in));
      break;
    case OP_TO_CHW:
      if (op->act == INSTRID_ACT_HARDSWISH)
        hwc_to_chw_hardswish((int)op->in.h, (int)op->in.w, (int)op->in.c, x, y);
      else
        instrid_hwc_to_chw((int)op->in.h, (int)op->in.w, (int)op->in.c, x, y);
      break;
    case OP_CHW:
      if (op->act != INSTRID_ACT_NONE) {
        const float *const *t = op->step->t;
        if (instrid_conv_is_depthwise(&op->g))
          instrid_depthwise_forward_act(&op->g, x, t[0], t[1], op->act, y, net->scratch);
        else
          instrid_conv2d_forward_act(&op->g, x, t[0], t[1], op->act, y, net->scratch);
        break;
      }
      run_chw(op, x, y, op->skip_buf >= 0 ? net->act[op->skip_buf] : NULL, net->scratch);
      if (op->step->layer.type == INSTRID_LAYER_EMBEDDING)
        memcpy(net->embedding, y, sizeof(float) * m->embedding_size);
      break;
    }
    if (net->step_seconds)
      net->step_seconds[op->first_step] += now_seconds() - t0;
  }
  memcpy(probabilities, net->act[net->out_buf], sizeof(float) * net->n_outputs);
}

const float *instrid_net_embedding(const instrid_net *net)
{
  return net ? net->embedding : NULL;
}

double instrid_net_flops(const instrid_model *model)
{
  double flops = 0.0;
  for (uint32_t i = 0; i < model->n_steps; i++) {
    const instrid_step *s = &model->steps[i];
    if (s->entry->flops)
      flops += s->entry->flops(&s->params, s->in, s->out);
  }
  return flops;
}
