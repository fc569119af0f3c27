/* netgrad.c — the training network: forward (training or eval mode) on libinstrid's layer
 * kernels, and the backward pass of every layer type, with all parameters and gradients in
 * one flat block each. */
#include "netgrad.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "layers.h"
#include "rng.h"

/* The conv backward pass puts several examples side by side in one GEMM where one example's
 * output plane is small (deep layers): fewer, bigger GEMMs. It batches enough examples for a
 * GEMM width of CONV_GEMM_TARGET_COLS, within CONV_BATCH_COL_FLOATS of im2col scratch; an
 * example whose plane is already that wide goes alone, with no copies at all. */
#define CONV_GEMM_TARGET_COLS ((size_t)4096)
#define CONV_BATCH_COL_FLOATS ((size_t)1 << 22)
#define BN_MOMENTUM 0.1f

typedef struct {
  instrid_layer_desc desc;
  instrid_shape in, out;
  size_t in_size, out_size; /* C*H*W per example */
  size_t param_offset;      /* into the parameter and gradient blocks */
  size_t n_params;
  float *in_act;  /* (max_batch, in_size): the previous layer's output */
  float *out_act; /* (max_batch, out_size); == in_act for in-place layers */
  /* CONV2D */
  instrid_conv_geom geom;
  int conv_batch; /* examples per backward GEMM */
  /* BATCHNORM: statistics of the last forward, for backward */
  float *bn_mean, *bn_invstd; /* (C) */
  /* MAXPOOL */
  int32_t *argmax; /* (max_batch, out_size) */
  /* DROPOUT */
  float *drop_scale; /* (max_batch, out_size): 0 or 1 / (1 - p) */
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

  float *input;                     /* (max_batch, n_inputs) copy of x */
  float *dbuf[2];                   /* (max_batch, max_act): ping-pong gradient buffers */
  float *conv_scratch;              /* forward im2col for one example */
  float *col, *col_one, *dout_rows; /* conv backward scratch */
  int32_t *argmax_block;            /* every MAXPOOL's argmax */
  void *alloc_list[16];             /* aligned float blocks, freed together */
  int n_allocs;

  int last_n, last_training;
  uint64_t own_rng; /* dropout draws when the caller passes no rng */
};

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

static size_t shape_size(instrid_shape s)
{
  return (size_t)s.c * s.h * s.w;
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

/* ---------------------------------------------------------------------------------------- */
/* Construction                                                                              */

static int layer_supported(uint32_t type)
{
  return type >= INSTRID_LAYER_CONV2D && type <= INSTRID_LAYER_DROPOUT;
}

void train_net_init(train_net *net, uint64_t seed)
{
  uint64_t rng = seed ^ 0x696E737472696431ULL; /* "instrid1": seed 0 is not all-zero state */
  for (int i = 0; i < net->n_layers; i++) {
    net_layer *L = &net->layers[i];
    float *p = net->params + L->param_offset;
    switch (L->desc.type) {
    case INSTRID_LAYER_CONV2D:
    case INSTRID_LAYER_DENSE: {
      size_t n_out = L->desc.p[0]; /* c_out or out_features: one bias each */
      size_t n_weight = L->n_params - n_out;
      size_t fan_in = n_weight / n_out;
      float bound = sqrtf(6.0f / (float)fan_in);
      for (size_t k = 0; k < n_weight; k++)
        p[k] = (2.0f * rng_splitmix_float(&rng) - 1.0f) * bound;
      memset(p + n_weight, 0, n_out * sizeof(float));
      break;
    }
    case INSTRID_LAYER_BATCHNORM: {
      size_t c = L->in.c;
      for (size_t k = 0; k < c; k++) {
        p[k] = 1.0f;         /* gamma */
        p[c + k] = 0.0f;     /* beta */
        p[2 * c + k] = 0.0f; /* running mean */
        p[3 * c + k] = 1.0f; /* running var */
      }
      break;
    }
    default:
      break;
    }
  }
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
    if (!layer_supported(arch->layers[i].type)) {
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

  /* Shapes, parameter offsets, and sizes of every buffer. */
  size_t max_act = net->n_inputs, conv_scratch = 0, col = 0, col_one = 0, dout_rows = 0;
  size_t act_total = net->n_inputs * (size_t)max_batch, bn_total = 0, argmax_total = 0,
         drop_total = 0;
  size_t n_params = 0;
  for (int i = 0; i < net->n_layers; i++) {
    net_layer *L = &net->layers[i];
    L->desc = arch->layers[i];
    L->in = i ? shapes[i - 1] : input;
    L->out = shapes[i];
    L->in_size = shape_size(L->in);
    L->out_size = shape_size(L->out);
    L->param_offset = n_params;
    L->n_params = instrid_layer_param_count(&L->desc, L->in);
    n_params = instrid_add_size(n_params, L->n_params, &overflow);
    if (L->out_size > max_act)
      max_act = L->out_size;

    uint32_t t = L->desc.type;
    /* ReLU and dropout overwrite their input, unless the layer before needs its own output
     * for its backward pass (SIGMOID does). */
    int prev_needs_output = i > 0 && net->layers[i - 1].desc.type == INSTRID_LAYER_SIGMOID;
    int in_place = (t == INSTRID_LAYER_RELU || t == INSTRID_LAYER_DROPOUT) && !prev_needs_output;
    if (!in_place)
      act_total = instrid_add_size(
          act_total, instrid_mul_size(L->out_size, (size_t)max_batch, &overflow), &overflow);
    L->out_act = in_place ? NULL : (float *)1; /* placeholder: assigned below */

    if (t == INSTRID_LAYER_CONV2D) {
      instrid_conv_geom *g = &L->geom;
      g->n = max_batch;
      g->c_in = (int)L->in.c, g->h_in = (int)L->in.h, g->w_in = (int)L->in.w;
      g->c_out = (int)L->desc.p[0], g->kh = (int)L->desc.p[1], g->kw = (int)L->desc.p[2];
      g->sh = (int)L->desc.p[3], g->sw = (int)L->desc.p[4];
      g->ph = (int)L->desc.p[5], g->pw = (int)L->desc.p[6];
      g->dh = (int)L->desc.p[7], g->dw = (int)L->desc.p[8];
      g->groups = (int)L->desc.p[9];
      if (!instrid_conv_geom_init(g)) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %d: invalid convolution geometry", i);
        goto fail;
      }
      size_t k = (size_t)(g->c_in / g->groups) * g->kh * g->kw;
      size_t hw = (size_t)g->h_out * g->w_out;
      size_t per_example = instrid_mul_size(k, hw, &overflow);
      size_t nb = (CONV_GEMM_TARGET_COLS + hw - 1) / hw;
      if (per_example && nb > CONV_BATCH_COL_FLOATS / per_example)
        nb = CONV_BATCH_COL_FLOATS / per_example;
      if (nb < 1)
        nb = 1;
      if (nb > (size_t)max_batch)
        nb = (size_t)max_batch;
      L->conv_batch = (int)nb;
      size_t s = instrid_conv_scratch_floats(g);
      if (s > conv_scratch)
        conv_scratch = s;
      if (per_example * nb > col)
        col = per_example * nb;
      if (per_example > col_one)
        col_one = per_example;
      size_t rows = (size_t)(g->c_out / g->groups) * hw * nb;
      if (rows > dout_rows)
        dout_rows = rows;
    } else if (t == INSTRID_LAYER_BATCHNORM) {
      bn_total += 2 * (size_t)L->in.c;
    } else if (t == INSTRID_LAYER_MAXPOOL) {
      argmax_total = instrid_add_size(
          argmax_total, instrid_mul_size(L->out_size, (size_t)max_batch, &overflow), &overflow);
    } else if (t == INSTRID_LAYER_DROPOUT) {
      drop_total = instrid_add_size(
          drop_total, instrid_mul_size(L->out_size, (size_t)max_batch, &overflow), &overflow);
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

  float *acts, *bn, *drop;
  if (!(net->params = net_alloc_floats(net, n_params)) ||
      !(net->grads = net_alloc_floats(net, n_params)) ||
      !(acts = net_alloc_floats(net, act_total)) || !(bn = net_alloc_floats(net, bn_total)) ||
      !(drop = net_alloc_floats(net, drop_total)) ||
      !(net->dbuf[0] = net_alloc_floats(net, grad_buf)) ||
      !(net->dbuf[1] = net_alloc_floats(net, grad_buf)) ||
      !(net->conv_scratch = net_alloc_floats(net, conv_scratch)) ||
      !(net->col = net_alloc_floats(net, col)) ||
      !(net->col_one = net_alloc_floats(net, col_one)) ||
      !(net->dout_rows = net_alloc_floats(net, dout_rows)))
    goto nomem;
  int32_t *argmax = NULL;
  if (argmax_total && !(argmax = calloc(argmax_total, sizeof *argmax)))
    goto nomem;
  net->argmax_block = argmax;
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
    uint8_t *decay = net->decay_mask + L->param_offset;
    uint8_t *trainable = net->trainable_mask + L->param_offset;
    memset(trainable, 1, L->n_params);
    switch (L->desc.type) {
    case INSTRID_LAYER_CONV2D:
    case INSTRID_LAYER_DENSE:
      memset(decay, 1, L->n_params - L->desc.p[0]); /* weights, not biases */
      break;
    case INSTRID_LAYER_BATCHNORM:
      L->bn_mean = bn;
      L->bn_invstd = bn + L->in.c;
      bn += 2 * (size_t)L->in.c;
      memset(trainable + 2 * (size_t)L->in.c, 0, 2 * (size_t)L->in.c); /* running stats */
      break;
    case INSTRID_LAYER_MAXPOOL:
      L->argmax = argmax;
      argmax += (size_t)max_batch * L->out_size;
      break;
    case INSTRID_LAYER_DROPOUT:
      L->drop_scale = drop;
      drop += (size_t)max_batch * L->out_size;
      break;
    default:
      break;
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
  free(net->argmax_block);
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
    if (L->desc.type == INSTRID_LAYER_CONV2D) {
      const instrid_conv_geom *g = &L->geom;
      flops += 2.0 * g->c_out * (g->c_in / g->groups) * g->kh * g->kw * g->h_out * g->w_out;
    } else if (L->desc.type == INSTRID_LAYER_DENSE) {
      flops += 2.0 * (double)L->in_size * L->out_size;
    }
  }
  return flops;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                   */

static void batchnorm_forward_train(net_layer *L, int n, float *params)
{
  int c = (int)L->in.c;
  size_t hw = (size_t)L->in.h * L->in.w;
  size_t count = (size_t)n * hw;
  float eps = L->desc.f0;
  float *gamma = params, *beta = params + c, *run_mean = params + 2 * c, *run_var = params + 3 * c;
  for (int ch = 0; ch < c; ch++) {
    /* Two passes in double: the mean first, then squared deviations (no cancellation). */
    double sum = 0.0;
    for (int e = 0; e < n; e++)
      sum += sum_lanes(L->in_act + ((size_t)e * c + ch) * hw, hw);
    double mean = sum / (double)count;
    double sq = 0.0;
    for (int e = 0; e < n; e++)
      sq += squared_deviation_lanes(L->in_act + ((size_t)e * c + ch) * hw, hw, (float)mean);
    double var = sq / (double)count;
    float invstd = (float)(1.0 / sqrt(var + eps));
    L->bn_mean[ch] = (float)mean;
    L->bn_invstd[ch] = invstd;
    float scale = gamma[ch] * invstd, shift = beta[ch] - (float)mean * scale;
    for (int e = 0; e < n; e++) {
      const float *x = L->in_act + ((size_t)e * c + ch) * hw;
      float *y = L->out_act + ((size_t)e * c + ch) * hw;
      for (size_t k = 0; k < hw; k++)
        y[k] = x[k] * scale + shift;
    }
    /* PyTorch: the running variance is the unbiased estimate. */
    double unbiased = count > 1 ? sq / (double)(count - 1) : var;
    run_mean[ch] = (1.0f - BN_MOMENTUM) * run_mean[ch] + BN_MOMENTUM * (float)mean;
    run_var[ch] = (1.0f - BN_MOMENTUM) * run_var[ch] + BN_MOMENTUM * (float)unbiased;
  }
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
    float *p = net->params + L->param_offset;
    const uint32_t *q = L->desc.p;
    size_t n_out = (size_t)n * L->out_size;
    switch (L->desc.type) {
    case INSTRID_LAYER_CONV2D: {
      instrid_conv_geom g = L->geom;
      g.n = n;
      size_t n_weight = L->n_params - (size_t)g.c_out;
      instrid_conv2d_forward(&g, L->in_act, p, p + n_weight, L->out_act, net->conv_scratch);
      break;
    }
    case INSTRID_LAYER_BATCHNORM:
      if (training) {
        batchnorm_forward_train(L, n, p);
      } else {
        int c = (int)L->in.c;
        if (L->out_act != L->in_act)
          memcpy(L->out_act, L->in_act, n_out * sizeof(float));
        instrid_batchnorm_inference(n, c, (int)(L->in.h * L->in.w), p, p + c, p + 2 * c, p + 3 * c,
                                    L->desc.f0, L->out_act);
      }
      break;
    case INSTRID_LAYER_RELU:
      if (L->out_act != L->in_act)
        memcpy(L->out_act, L->in_act, n_out * sizeof(float));
      instrid_relu_forward(L->out_act, n_out);
      break;
    case INSTRID_LAYER_SIGMOID:
      if (L->out_act != L->in_act)
        memcpy(L->out_act, L->in_act, n_out * sizeof(float));
      instrid_sigmoid_forward(L->out_act, n_out);
      break;
    case INSTRID_LAYER_MAXPOOL:
    case INSTRID_LAYER_AVGPOOL:
      instrid_pool2d_forward(L->desc.type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX
                                                                   : INSTRID_POOL_MEAN,
                             n, (int)L->in.c, (int)L->in.h, (int)L->in.w, (int)q[0], (int)q[1],
                             (int)q[2], (int)q[3], L->in_act, L->out_act, L->argmax);
      break;
    case INSTRID_LAYER_GLOBAL_POOL:
      instrid_global_pool_forward((int)q[0], (int)q[1], n, (int)L->in.c, (int)L->in.h, (int)L->in.w,
                                  L->in_act, L->out_act, NULL);
      break;
    case INSTRID_LAYER_DENSE: {
      size_t n_weight = L->n_params - q[0];
      instrid_dense_forward(n, (int)L->in_size, (int)q[0], L->in_act, p, p + n_weight, L->out_act);
      break;
    }
    case INSTRID_LAYER_DROPOUT: {
      float drop = L->desc.f0;
      if (L->out_act != L->in_act)
        memcpy(L->out_act, L->in_act, n_out * sizeof(float));
      if (training && drop > 0.0f) {
        float keep_scale = drop < 1.0f ? 1.0f / (1.0f - drop) : 0.0f;
        for (size_t k = 0; k < n_out; k++) {
          L->drop_scale[k] = rng_splitmix_float(rng) < drop ? 0.0f : keep_scale;
          L->out_act[k] *= L->drop_scale[k];
        }
      } else {
        for (size_t k = 0; k < n_out; k++)
          L->drop_scale[k] = 1.0f;
      }
      break;
    }
    default:
      break;
    }
  }
  memcpy(logits, net->layers[net->n_layers - 1].out_act,
         (size_t)n * net->n_outputs * sizeof(float));
}

/* ---------------------------------------------------------------------------------------- */
/* Backward: each function reads dout and the saved activations, accumulates parameter
 * gradients into grad, and (when din is not NULL) writes din. */

/* Adds sum(dy) and sum(dy * (x - mean)) over one plane to *s_dy and *s_dy_xc. Eight float
 * lanes (vectorisable without -ffast-math), flushed to double once per plane. */
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

/* Written so that both loads are unconditional and the compiler emits a vector blend instead
 * of a branch (the signs are random: a branch mispredicts half the time). */
static void relu_backward(size_t n, const float *restrict out, const float *restrict dout,
                          float *restrict din)
{
  for (size_t k = 0; k < n; k++) {
    float g = dout[k];
    din[k] = out[k] > 0.0f ? g : 0.0f;
  }
}

static void conv_backward(train_net *net, net_layer *L, int n, const float *weight, float *grad,
                          const float *dout, float *din)
{
  const instrid_conv_geom *g = &L->geom;
  int groups = g->groups;
  int cig = g->c_in / groups, cog = g->c_out / groups;
  int k = cig * g->kh * g->kw;
  size_t hw_out = (size_t)g->h_out * g->w_out, hw_in = (size_t)g->h_in * g->w_in;
  size_t in_size = L->in_size, out_size = L->out_size;
  float *dweight = grad, *dbias = grad + (size_t)g->c_out * k;

  for (int e = 0; e < n; e++)
    for (int co = 0; co < g->c_out; co++) {
      const float *d = dout + (size_t)e * out_size + (size_t)co * hw_out;
      dbias[co] += (float)sum_lanes(d, hw_out);
    }
  if (din)
    memset(din, 0, (size_t)n * in_size * sizeof(float));

  for (int e0 = 0; e0 < n; e0 += L->conv_batch) {
    int nb = n - e0 < L->conv_batch ? n - e0 : L->conv_batch;
    size_t cols = (size_t)nb * hw_out; /* GEMM width: nb examples side by side */
    for (int gi = 0; gi < groups; gi++) {
      /* col (k, nb * hw_out) and rows = this group's dout (cog, nb * hw_out). */
      const float *rows;
      if (nb == 1) {
        /* One example's im2col and dout rows already have the GEMM layout. */
        const float *in = L->in_act + (size_t)e0 * in_size + (size_t)gi * cig * hw_in;
        instrid_im2col(g, in, net->col);
        rows = dout + (size_t)e0 * out_size + (size_t)gi * cog * hw_out;
      } else {
        for (int e = 0; e < nb; e++) {
          const float *in = L->in_act + (size_t)(e0 + e) * in_size + (size_t)gi * cig * hw_in;
          instrid_im2col(g, in, net->col_one);
          for (int r = 0; r < k; r++)
            memcpy(net->col + (size_t)r * cols + (size_t)e * hw_out,
                   net->col_one + (size_t)r * hw_out, hw_out * sizeof(float));
          const float *d = dout + (size_t)(e0 + e) * out_size + (size_t)gi * cog * hw_out;
          for (int r = 0; r < cog; r++)
            memcpy(net->dout_rows + (size_t)r * cols + (size_t)e * hw_out, d + (size_t)r * hw_out,
                   hw_out * sizeof(float));
        }
        rows = net->dout_rows;
      }
      /* dW_g (cog, k) += rows (cog, cols) x col^T (cols, k) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, k, (int)cols, 1.0f, rows, (int)cols,
                  net->col, (int)cols, 1.0f, dweight + (size_t)gi * cog * k, k);
      if (!din)
        continue;
      /* dcol (k, cols) = W_g^T (k, cog) x rows (cog, cols), into col (no longer needed) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, (int)cols, cog, 1.0f,
                  weight + (size_t)gi * cog * k, k, rows, (int)cols, 0.0f, net->col, (int)cols);
      if (nb == 1) {
        instrid_col2im(g, net->col, din + (size_t)e0 * in_size + (size_t)gi * cig * hw_in);
        continue;
      }
      for (int e = 0; e < nb; e++) {
        for (int r = 0; r < k; r++)
          memcpy(net->col_one + (size_t)r * hw_out,
                 net->col + (size_t)r * cols + (size_t)e * hw_out, hw_out * sizeof(float));
        instrid_col2im(g, net->col_one,
                       din + (size_t)(e0 + e) * in_size + (size_t)gi * cig * hw_in);
      }
    }
  }
}

static void batchnorm_backward(const train_net *net, const net_layer *L, int n, const float *params,
                               float *grad, const float *dout, float *din)
{
  int c = (int)L->in.c;
  size_t hw = (size_t)L->in.h * L->in.w;
  double count = (double)n * (double)hw;
  const float *gamma = params;
  float *dgamma = grad, *dbeta = grad + c;
  for (int ch = 0; ch < c; ch++) {
    float mean, invstd;
    if (net->last_training) {
      mean = L->bn_mean[ch];
      invstd = L->bn_invstd[ch];
    } else {
      mean = params[2 * c + ch];
      invstd = 1.0f / sqrtf(params[3 * c + ch] + L->desc.f0);
    }
    double sum_dy = 0.0, sum_dy_xc = 0.0;
    for (int e = 0; e < n; e++) {
      size_t off = ((size_t)e * c + ch) * hw;
      plane_dot_sums(L->in_act + off, dout + off, hw, mean, &sum_dy, &sum_dy_xc);
    }
    double sum_dy_xhat = sum_dy_xc * invstd;
    dgamma[ch] += (float)sum_dy_xhat;
    dbeta[ch] += (float)sum_dy;
    if (!din)
      continue;
    float gs = gamma[ch] * invstd;
    /* Training mode: the batch mean and variance depend on x too:
     * dx = gamma * invstd * (dy - mean(dy) - x_hat * mean(dy * x_hat)). */
    float mean_dy = net->last_training ? (float)(sum_dy / count) : 0.0f;
    float mean_dy_xhat = net->last_training ? (float)(sum_dy_xhat / count) : 0.0f;
    for (int e = 0; e < n; e++) {
      size_t off = ((size_t)e * c + ch) * hw;
      const float *x = L->in_act + off, *dy = dout + off;
      float *dx = din + off;
      for (size_t k = 0; k < hw; k++) {
        float xhat = (x[k] - mean) * invstd;
        dx[k] = gs * (dy[k] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

static void pool2d_backward(const net_layer *L, int n, const float *dout, float *din)
{
  int c = (int)L->in.c, h = (int)L->in.h, w = (int)L->in.w;
  int kh = (int)L->desc.p[0], kw = (int)L->desc.p[1], sh = (int)L->desc.p[2],
      sw = (int)L->desc.p[3];
  int ho = (int)L->out.h, wo = (int)L->out.w;
  size_t plane_in = (size_t)h * w, plane_out = (size_t)ho * wo;
  memset(din, 0, (size_t)n * c * plane_in * sizeof(float));
  for (size_t pl = 0; pl < (size_t)n * c; pl++) {
    const float *d = dout + pl * plane_out;
    float *dx = din + pl * plane_in;
    if (L->desc.type == INSTRID_LAYER_MAXPOOL) {
      const int32_t *am = L->argmax + pl * plane_out;
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

/* Global pooling backward. The max winners are found again from the saved input (first
 * occurrence of the maximum) rather than trusting an argmax layout per axis/mode. */
static void global_pool_backward(const net_layer *L, int n, const float *dout, float *din)
{
  int axes = (int)L->desc.p[0], mode = (int)L->desc.p[1];
  int c = (int)L->in.c, h = (int)L->in.h, w = (int)L->in.w;
  /* Reduction: for output position (ch, oy, ox), the inputs are (ch, y, x) with y over
   * [0, h) when FREQ is pooled (oy = 0) else y = oy; likewise x over time. */
  int pool_h = (axes & INSTRID_AXIS_FREQ) != 0, pool_w = (axes & INSTRID_AXIS_TIME) != 0;
  int oh = pool_h ? 1 : h, ow = pool_w ? 1 : w;
  int rh = pool_h ? h : 1, rw = pool_w ? w : 1;
  size_t part = (size_t)c * oh * ow; /* size of one (mean or max) part of the output */
  size_t out_size = L->out_size, in_size = L->in_size;
  float inv_count = 1.0f / (float)(rh * rw);
  memset(din, 0, (size_t)n * in_size * sizeof(float));
  for (int e = 0; e < n; e++) {
    const float *x = L->in_act + (size_t)e * in_size;
    const float *d = dout + (size_t)e * out_size;
    float *dx = din + (size_t)e * in_size;
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

static void dense_backward(const net_layer *L, int n, const float *weight, float *grad,
                           const float *dout, float *din)
{
  int in = (int)L->in_size, out = (int)L->desc.p[0];
  float *dweight = grad, *dbias = grad + (size_t)in * out;
  /* dW (out, in) += dy^T (out, N) x x (N, in) */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dout, out, L->in_act, in,
              1.0f, dweight, in);
  for (int e = 0; e < n; e++)
    for (int j = 0; j < out; j++)
      dbias[j] += dout[(size_t)e * out + j];
  /* dx (N, in) = dy (N, out) x W (out, in) */
  if (din)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dout, out, weight, in,
                0.0f, din, in);
}

void train_net_backward(train_net *net, const float *dlogits, float *dx)
{
  int n = net->last_n;
  if (n < 1)
    return;
  float *dout = net->dbuf[0], *din = net->dbuf[1];
  memcpy(dout, dlogits, (size_t)n * net->n_outputs * sizeof(float));

  for (int i = net->n_layers - 1; i >= 0; i--) {
    net_layer *L = &net->layers[i];
    float *p = net->params + L->param_offset;
    float *grad = net->grads + L->param_offset;
    size_t n_out = (size_t)n * L->out_size;
    /* The first layer's input gradient is only wanted when the caller asks for dx. */
    float *d_in = (i > 0 || dx) ? din : NULL;
    switch (L->desc.type) {
    case INSTRID_LAYER_CONV2D:
      conv_backward(net, L, n, p, grad, dout, d_in);
      break;
    case INSTRID_LAYER_BATCHNORM:
      batchnorm_backward(net, L, n, p, grad, dout, d_in);
      break;
    case INSTRID_LAYER_RELU:
      /* out > 0 <=> in > 0; the output survives in-place updates of later layers because
       * only dropout writes after it, and it zeroes where its gradient is zero too. */
      relu_backward(n_out, L->out_act, dout, din);
      break;
    case INSTRID_LAYER_SIGMOID:
      for (size_t k = 0; k < n_out; k++) {
        float s = L->out_act[k];
        din[k] = dout[k] * s * (1.0f - s);
      }
      break;
    case INSTRID_LAYER_MAXPOOL:
    case INSTRID_LAYER_AVGPOOL:
      pool2d_backward(L, n, dout, din);
      break;
    case INSTRID_LAYER_GLOBAL_POOL:
      global_pool_backward(L, n, dout, din);
      break;
    case INSTRID_LAYER_DENSE:
      dense_backward(L, n, p, grad, dout, d_in);
      break;
    case INSTRID_LAYER_DROPOUT:
      for (size_t k = 0; k < n_out; k++)
        din[k] = dout[k] * L->drop_scale[k];
      break;
    default:
      break;
    }
    float *t = dout;
    dout = din;
    din = t;
  }
  if (dx)
    memcpy(dx, dout, (size_t)n * net->n_inputs * sizeof(float));
}
