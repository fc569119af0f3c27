/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netgrad.c — the training network: every layer's forward (training or eval mode) and backward
 * pass come from libinstrid's layer table (layer_table.h), the very entries the inference
 * engine runs for its channels-first steps; the convolutions of the network's channels-last
 * front run forward through the engine's own front kernel (net_internal.h: conv_direct.c's
 * direct convolution on AVX2 / AVX-512), as the element runs them. This file only owns the
 * buffers: all parameters and gradients in one flat block each, one activation per layer, the
 * entries' scratch and training state. */
#include "netgrad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h" /* instrid_arch_init_params: the one initialisation */
#include "internal.h"
#include "conv_direct.h"
#include "layer_table.h"
#include "net_internal.h"
#include "rng.h"

typedef struct {
  instrid_layer_desc desc;
  const instrid_layer_entry *entry;
  instrid_layer_params params;
  instrid_shape in, out;
  size_t in_size, out_size; /* C*H*W per example */
  size_t param_offset;      /* into the parameter and gradient blocks */
  size_t n_params;
  size_t tensor_offset[4]; /* within the layer's parameters */
  float *in_act;           /* (max_batch, in_size): the previous layer's output */
  float *out_act;          /* (max_batch, out_size); == in_act for layers run in place */
  float *state;            /* the entry's training state */
  int skip_layer;          /* RESIDUAL_ADD: the layer whose input it adds; else -1 */
  float *dskip;            /* for a layer whose input a residual adds: (max_batch, in_size) */
  /* A convolution of the channels-last front (see front_conv_forward): the engine's kernel. */
  int front_conv;
  instrid_conv_hwc hwc;     /* planned without ReLU or pool: training puts batch norm between */
  size_t hwc_kernel_floats; /* the kernel's scratch */
  float *packed;            /* (hwc.packed_floats) the weights packed for it at each forward */
} net_layer;

struct train_net {
  instrid_model_desc arch; /* layers points at layer_descs */
  instrid_layer_desc *layer_descs;
  int n_layers; /* layers run: a final SIGMOID is left to the loss */
  net_layer *layers;
  int max_batch;
  size_t n_inputs, n_outputs;

  size_t n_params;
  float *params;           /* (n_params) */
  float *grads;            /* (n_params) */
  uint8_t *decay_mask;     /* (n_params) */
  uint8_t *trainable_mask; /* (n_params) */

  float *input;         /* (max_batch, n_inputs) copy of x */
  float *dbuf[2];       /* (max_batch, max_act): ping-pong gradient buffers */
  float *scratch;       /* the largest scratch any entry asks for */
  float *hwc_scratch;   /* front convolutions: their kernel's scratch, then one example's input
                           and output channels-last */
  void *alloc_list[10]; /* aligned float blocks, freed together */
  int n_allocs;

  int last_n, last_training;
  int frozen_prefix; /* layers [0, frozen_prefix) as at inference, no backward */
  uint64_t own_rng;  /* dropout draws when the caller passes no rng */
};

static size_t shape_size(instrid_shape s)
{
  return (size_t)s.c * s.h * s.w;
}

static void tensor_spec(const net_layer *L, unsigned k, instrid_tensor_spec *t)
{
  L->entry->tensor(&L->params, L->in, k, t);
  t->count = t->ndims ? 1 : 0;
  for (uint32_t d = 0; d < t->ndims; d++)
    t->count *= t->dims[d];
}

/* ---------------------------------------------------------------------------------------- */
/* Construction                                                                              */

void train_net_init(train_net *net, uint64_t seed)
{
  /* The layers were checked when the net was built: this cannot fail. */
  instrid_shape input = {1, net->arch.frontend.n_mels, net->arch.window_frames};
  instrid_arch_init_params(net->arch.layers, net->arch.n_layers, input, seed, net->params,
                           net->n_params, NULL);
}

static void *net_alloc_floats(train_net *net, size_t n)
{
  if (net->n_allocs >= (int)(sizeof net->alloc_list / sizeof net->alloc_list[0]))
    return NULL;
  float *p = instrid_alloc_floats(n ? n : 1);
  if (p)
    net->alloc_list[net->n_allocs++] = p;
  return p;
}

/* The convolutions the engine runs in its channels-last front (net.c: from the first layer,
 * while instrid_layer_runs_channels_last, up to a layer whose input a residual adds) run forward
 * here through the engine's kernel, so that training and serving compute them with the same
 * code. The kernel is the one the engine picks: the direct kernel when the CPU has it and it
 * covers the convolution with the pool the engine fuses after it (that pool follows the
 * convolution, its batch norm, which the engine folds, and a ReLU; dropout is no step). */
static int engine_direct_isa(const instrid_layer_desc *layers, uint32_t n_layers, uint32_t i,
                             const uint8_t *skip_src, const instrid_conv_geom *g, int isa)
{
  int pool_mode = -1, pool_kh = 0, pool_kw = 0;
  uint32_t j = i + 1;
  while (j < n_layers && layers[j].type == INSTRID_LAYER_DROPOUT)
    j++;
  if (j < n_layers && layers[j].type == INSTRID_LAYER_BATCHNORM && !skip_src[j])
    j++;
  while (j < n_layers && layers[j].type == INSTRID_LAYER_DROPOUT)
    j++;
  if (j < n_layers && layers[j].type == INSTRID_LAYER_RELU && !skip_src[j])
    j++;
  while (j < n_layers && layers[j].type == INSTRID_LAYER_DROPOUT)
    j++;
  if (j < n_layers && !skip_src[j] &&
      (layers[j].type == INSTRID_LAYER_MAXPOOL || layers[j].type == INSTRID_LAYER_AVGPOOL) &&
      layers[j].p[0] == layers[j].p[2] && layers[j].p[1] == layers[j].p[3]) {
    pool_mode = layers[j].type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX : INSTRID_POOL_MEAN;
    pool_kh = (int)layers[j].p[0];
    pool_kw = (int)layers[j].p[1];
  }
  instrid_conv_geom one = *g;
  one.n = 1;
  return isa != INSTRID_DIRECT_NONE && instrid_conv_direct_covers(&one, pool_mode, pool_kh, pool_kw)
             ? isa
             : INSTRID_DIRECT_NONE;
}

/* y (n, c_out, h_out, w_out) = conv(x (n, c_in, h, w)) + bias through the engine's front kernel:
 * the weights packed once for the batch, each example channels-last in (the network's input,
 * one channel, needs no change), the output back channels-first with the engine's transform. */
static void front_conv_forward(const net_layer *L, const float *const *t, const float *x, float *y,
                               int n, float *scratch)
{
  const instrid_conv_hwc *c = &L->hwc;
  instrid_conv_hwc_pack(c, t[0], t[1], L->packed);
  float *x_hwc = scratch + (L->hwc_kernel_floats + 15) / 16 * 16;
  float *y_hwc = x_hwc + (L->in_size + 15) / 16 * 16;
  for (int e = 0; e < n; e++) {
    const float *xe = x + (size_t)e * L->in_size;
    if (L->in.c > 1) {
      instrid_chw_to_hwc((int)L->in.h, (int)L->in.w, (int)L->in.c, xe, x_hwc);
      xe = x_hwc;
    }
    float *ye = y + (size_t)e * L->out_size;
    if (L->out.c == 1) {
      instrid_conv_hwc_forward(c, L->packed, t[1], xe, ye, scratch);
      continue;
    }
    instrid_conv_hwc_forward(c, L->packed, t[1], xe, y_hwc, scratch);
    instrid_hwc_to_chw(c->out_h, c->out_w, (int)L->out.c, y_hwc, ye);
  }
}

train_net *train_net_new(const instrid_model_desc *arch, int max_batch, instrid_error *err)
{
  train_net *net = NULL;
  instrid_shape *shapes = NULL;
  int overflow = 0;

  if (!arch || !arch->layers || arch->n_layers == 0 || arch->n_layers > INSTRID_MAX_LAYERS) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "architecture has no layers");
    return NULL;
  }
  if (max_batch < 1) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "max_batch %d < 1", max_batch);
    return NULL;
  }
  for (uint32_t i = 0; i < arch->n_layers; i++) {
    const instrid_layer_entry *e = instrid_layer_entry_find(arch->layers[i].type);
    if (!e || !e->backward) {
      instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u: unsupported type %u", i,
                        arch->layers[i].type);
      return NULL;
    }
  }

  instrid_shape input = {1, arch->frontend.n_mels, arch->window_frames};
  shapes = calloc(arch->n_layers, sizeof *shapes);
  net = calloc(1, sizeof *net);
  if (!shapes || !net)
    goto nomem;
  if (instrid_arch_shapes(arch->layers, arch->n_layers, input, shapes, err) != INSTRID_OK)
    goto fail;

  net->arch = *arch;
  net->layer_descs = malloc(arch->n_layers * sizeof *net->layer_descs);
  if (!net->layer_descs)
    goto nomem;
  memcpy(net->layer_descs, arch->layers, arch->n_layers * sizeof *net->layer_descs);
  net->arch.layers = net->layer_descs;
  net->max_batch = max_batch;

  /* The final SIGMOID belongs to the loss (BCE on logits); it stays in the architecture. */
  net->n_layers = (int)arch->n_layers;
  if (arch->layers[arch->n_layers - 1].type == INSTRID_LAYER_SIGMOID)
    net->n_layers--;
  if (net->n_layers == 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "architecture is a lone SIGMOID");
    goto fail;
  }
  instrid_shape last = shapes[net->n_layers - 1];
  if (shape_size(last) != arch->n_classes) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "network outputs %zu values for %u classes",
                      shape_size(last), arch->n_classes);
    goto fail;
  }
  net->n_inputs = shape_size(input);
  net->n_outputs = arch->n_classes;

  net->layers = calloc((size_t)net->n_layers, sizeof *net->layers);
  if (!net->layers)
    goto nomem;

  /* skip_src[j]: a residual adds the input of layer j, which must then survive (layer j does
   * not run in place) and receives a second gradient. */
  uint8_t skip_src[INSTRID_MAX_LAYERS] = {0};
  for (int i = 0; i < net->n_layers; i++)
    if (arch->layers[i].type == INSTRID_LAYER_RESIDUAL_ADD)
      skip_src[i - (int)arch->layers[i].p[0]] = 1;

  /* Shapes, parameter offsets, and sizes of every buffer. */
  size_t max_act = net->n_inputs, scratch = 0, state_total = 0, dskip_total = 0;
  size_t hwc_scratch = 0, packed_total = 0;
  int front = 1; /* still in the engine's channels-last front */
  size_t act_total = net->n_inputs * (size_t)max_batch;
  size_t n_params = 0;
  for (int i = 0; i < net->n_layers; i++) {
    net_layer *L = &net->layers[i];
    L->desc = arch->layers[i];
    L->entry = instrid_layer_entry_find(L->desc.type);
    L->entry->unpack(&L->desc, &L->params);
    L->in = i ? shapes[i - 1] : input;
    L->out = shapes[i];
    L->in_size = shape_size(L->in);
    L->out_size = shape_size(L->out);
    L->param_offset = n_params;
    L->n_params = instrid_layer_param_count(&L->desc, L->in);
    size_t off = 0;
    for (unsigned k = 0; k < L->entry->n_tensors; k++) {
      instrid_tensor_spec t;
      tensor_spec(L, k, &t);
      L->tensor_offset[k] = off;
      off += (size_t)t.count;
    }
    n_params = instrid_add_size(n_params, L->n_params, &overflow);
    if (L->out_size > max_act)
      max_act = L->out_size;
    L->skip_layer = L->desc.type == INSTRID_LAYER_RESIDUAL_ADD ? i - (int)L->desc.p[0] : -1;

    /* A layer runs in place when its backward does not read its input, the layer before does
     * not read its own output, and no residual adds that input later. */
    const unsigned fl = L->entry->flags;
    int prev_reads_y = i > 0 && (net->layers[i - 1].entry->flags & INSTRID_LAYER_BACKWARD_READS_Y);
    int in_place = (fl & INSTRID_LAYER_IN_PLACE) && (fl & INSTRID_LAYER_TRAIN_IN_PLACE) &&
                   !prev_reads_y && !skip_src[i];
    if (!in_place)
      act_total = instrid_add_size(
          act_total, instrid_mul_size(L->out_size, (size_t)max_batch, &overflow), &overflow);
    L->out_act = in_place ? NULL : (float *)1; /* placeholder: assigned below */

    for (int bwd = 0; bwd < 2; bwd++)
      if (L->entry->scratch_floats) {
        size_t s = L->entry->scratch_floats(&L->params, L->in, L->out, max_batch, bwd);
        if (s == SIZE_MAX)
          overflow = 1;
        else if (s > scratch)
          scratch = s;
      }
    if (L->entry->state_floats)
      state_total = instrid_add_size(
          state_total, L->entry->state_floats(&L->params, L->in, L->out, max_batch), &overflow);
    if (skip_src[i])
      dskip_total = instrid_add_size(
          dskip_total, instrid_mul_size(L->in_size, (size_t)max_batch, &overflow), &overflow);

    if (front && (!instrid_layer_runs_channels_last(L->desc.type) || (i > 0 && skip_src[i])))
      front = 0;
    if (front && L->desc.type == INSTRID_LAYER_CONV2D) {
      instrid_conv_geom g;
      instrid_conv_geom_from_params(&L->params.conv, L->in, 1, &g);
      int isa = engine_direct_isa(arch->layers, arch->n_layers, (uint32_t)i, skip_src, &g,
                                  instrid_conv_direct_best_isa());
      L->front_conv = 1;
      if (!instrid_conv_hwc_plan(&L->hwc, &g, isa, 0, -1, 1, 1, &L->hwc_kernel_floats))
        overflow = 1;
      /* kernel scratch, one example's input and output channels-last, 16-float aligned */
      size_t need = instrid_add_size(instrid_add_size(L->hwc_kernel_floats, L->in_size, &overflow),
                                     L->out_size, &overflow);
      need = instrid_add_size(need, 32, &overflow);
      if (need > hwc_scratch)
        hwc_scratch = need;
      packed_total =
          instrid_add_size(packed_total, (L->hwc.packed_floats + 15) / 16 * 16, &overflow);
    }
  }
  size_t grad_buf = instrid_mul_size(max_act, (size_t)max_batch, &overflow);
  if (overflow)
    goto nomem;

  size_t expected;
  if (instrid_model_desc_param_count(arch, &expected, err) != INSTRID_OK)
    goto fail;
  if (expected != n_params) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "parameter count %zu != %zu", n_params, expected);
    goto fail;
  }
  if (arch->params && arch->n_params != n_params) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "arch has %zu parameters, layers need %zu",
                      arch->n_params, n_params);
    goto fail;
  }
  net->n_params = n_params;

  float *acts, *state, *dskip, *packed;
  if (!(net->params = net_alloc_floats(net, n_params)) ||
      !(net->grads = net_alloc_floats(net, n_params)) ||
      !(acts = net_alloc_floats(net, act_total)) || !(state = net_alloc_floats(net, state_total)) ||
      !(dskip = net_alloc_floats(net, dskip_total)) ||
      !(net->dbuf[0] = net_alloc_floats(net, grad_buf)) ||
      !(net->dbuf[1] = net_alloc_floats(net, grad_buf)) ||
      !(net->scratch = net_alloc_floats(net, scratch)) ||
      !(net->hwc_scratch = net_alloc_floats(net, hwc_scratch)) ||
      !(packed = net_alloc_floats(net, packed_total)))
    goto nomem;
  net->decay_mask = calloc(n_params ? n_params : 1, 1);
  net->trainable_mask = calloc(n_params ? n_params : 1, 1);
  if (!net->decay_mask || !net->trainable_mask)
    goto nomem;

  /* Carve the buffers. */
  net->input = acts;
  float *prev = acts;
  acts += (size_t)max_batch * net->n_inputs;
  for (int i = 0; i < net->n_layers; i++) {
    net_layer *L = &net->layers[i];
    L->in_act = prev;
    if (L->out_act == NULL) {
      L->out_act = prev;
    } else {
      L->out_act = acts;
      acts += (size_t)max_batch * L->out_size;
    }
    prev = L->out_act;
    if (L->entry->state_floats) {
      L->state = state;
      state += L->entry->state_floats(&L->params, L->in, L->out, max_batch);
    }
    if (skip_src[i]) {
      L->dskip = dskip;
      dskip += (size_t)max_batch * L->in_size;
    }
    if (L->front_conv) {
      L->packed = packed;
      packed += (L->hwc.packed_floats + 15) / 16 * 16;
    }
    for (unsigned k = 0; k < L->entry->n_tensors; k++) {
      instrid_tensor_spec t;
      tensor_spec(L, k, &t);
      size_t at = L->param_offset + L->tensor_offset[k];
      memset(net->decay_mask + at, t.decay ? 1 : 0, (size_t)t.count);
      memset(net->trainable_mask + at, t.trainable ? 1 : 0, (size_t)t.count);
    }
  }

  if (arch->params)
    memcpy(net->params, arch->params, n_params * sizeof(float));
  else
    train_net_init(net, 0);
  free(shapes);
  return net;

nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory building the training network");
fail:
  free(shapes);
  train_net_free(net);
  return NULL;
}

void train_net_free(train_net *net)
{
  if (!net)
    return;
  for (int i = 0; i < net->n_allocs; i++)
    instrid_free_aligned(net->alloc_list[i]);
  free(net->decay_mask);
  free(net->trainable_mask);
  free(net->layers);
  free(net->layer_descs);
  free(net);
}

size_t train_net_n_params(const train_net *net)
{
  return net->n_params;
}
int train_net_max_batch(const train_net *net)
{
  return net->max_batch;
}
int train_net_n_inputs(const train_net *net)
{
  return (int)net->n_inputs;
}
int train_net_n_outputs(const train_net *net)
{
  return (int)net->n_outputs;
}
float *train_net_params(train_net *net)
{
  return net->params;
}
float *train_net_grads(train_net *net)
{
  return net->grads;
}
const uint8_t *train_net_decay_mask(const train_net *net)
{
  return net->decay_mask;
}
const uint8_t *train_net_trainable_mask(const train_net *net)
{
  return net->trainable_mask;
}

void train_net_zero_grad(train_net *net)
{
  memset(net->grads, 0, net->n_params * sizeof(float));
}

void train_net_desc(const train_net *net, instrid_model_desc *out)
{
  *out = net->arch;
  out->params = net->params;
  out->n_params = net->n_params;
}

double train_net_flops_per_example(const train_net *net)
{
  double flops = 0.0;
  for (int i = 0; i < net->n_layers; i++) {
    const net_layer *L = &net->layers[i];
    if (L->entry->flops)
      flops += L->entry->flops(&L->params, L->in, L->out);
  }
  return flops;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward and backward: the table's entries                                                 */

static void layer_tensors(const net_layer *L, float *block, float **t)
{
  for (unsigned k = 0; k < 4; k++)
    t[k] = k < L->entry->n_tensors ? block + L->param_offset + L->tensor_offset[k] : NULL;
}

void train_net_forward(train_net *net, const float *x, int n, int training, uint64_t *rng,
                       float *logits)
{
  if (n < 1 || n > net->max_batch)
    return;
  memcpy(net->input, x, (size_t)n * net->n_inputs * sizeof(float));
  net->last_n = n;
  net->last_training = training;
  if (!rng)
    rng = &net->own_rng;

  for (int i = 0; i < net->n_layers; i++) {
    net_layer *L = &net->layers[i];
    float *t[4];
    layer_tensors(L, net->params, t);
    instrid_layer_fwd a = {
        .n = n,
        .t = (const float *const *)t,
        .x = L->in_act,
        .y = L->out_act,
        .skip = L->skip_layer >= 0 ? net->layers[L->skip_layer].in_act : NULL,
        .scratch = net->scratch,
        .state = L->state,
        .training = training && i >= net->frozen_prefix,
        .rng = rng,
        .uniform = rng_splitmix_float,
    };
    if (L->front_conv)
      front_conv_forward(L, a.t, L->in_act, L->out_act, n, net->hwc_scratch);
    else
      L->entry->forward(&L->params, L->in, L->out, &a);
  }
  memcpy(logits, net->layers[net->n_layers - 1].out_act,
         (size_t)n * net->n_outputs * sizeof(float));
}

void train_net_set_frozen_prefix(train_net *net, int n)
{
  net->frozen_prefix = n < 0 ? 0 : n > net->n_layers ? net->n_layers : n;
}

void train_net_backward(train_net *net, const float *dlogits, float *dx)
{
  int n = net->last_n;
  if (n < 1)
    return;
  float *dout = net->dbuf[0], *din = net->dbuf[1];
  memcpy(dout, dlogits, (size_t)n * net->n_outputs * sizeof(float));
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].dskip)
      memset(net->layers[i].dskip, 0, (size_t)n * net->layers[i].in_size * sizeof(float));

  /* A frozen prefix run as at inference needs no backward pass unless dx is asked for. */
  const int stop = dx ? 0 : net->frozen_prefix;
  for (int i = net->n_layers - 1; i >= stop; i--) {
    net_layer *L = &net->layers[i];
    float *t[4], *dt[4];
    layer_tensors(L, net->params, t);
    layer_tensors(L, net->grads, dt);
    /* The first layer's input gradient is only wanted when the caller asks for dx. */
    float *d_in = (i > stop || dx) ? din : NULL;
    instrid_layer_bwd a = {
        .n = n,
        .t = (const float *const *)t,
        .dt = dt,
        .x = L->in_act,
        .y = L->out_act,
        .dy = dout,
        .dx = d_in,
        .dskip = L->skip_layer >= 0 ? net->layers[L->skip_layer].dskip : NULL,
        .scratch = net->scratch,
        .state = L->state,
        .training = net->last_training && i >= net->frozen_prefix,
    };
    L->entry->backward(&L->params, L->in, L->out, &a);
    if (L->dskip && d_in) {
      const size_t count = (size_t)n * L->in_size;
      for (size_t k = 0; k < count; k++)
        d_in[k] += L->dskip[k];
    }
    float *tmp = dout;
    dout = din;
    din = tmp;
  }
  if (dx)
    memcpy(dx, dout, (size_t)n * net->n_inputs * sizeof(float));
}
