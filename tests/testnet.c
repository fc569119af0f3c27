/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testnet.c — the tests' fixture networks (see testnet.h). */
#include "testnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

struct testnet {
  instrid_model_desc desc;
  instrid_layer_desc layers[INSTRID_MAX_LAYERS];
  instrid_shape in[INSTRID_MAX_LAYERS]; /* input shape of each layer */
  float *params;
  char (*names)[INSTRID_MAX_CLASS_NAME + 1];
  const char **name_ptrs;
  float *thresholds;
  char provenance[256];
};

static instrid_layer_desc conv(uint32_t c_out, uint32_t k, uint32_t sh, uint32_t sw, uint32_t ph,
                               uint32_t pw, uint32_t dh, uint32_t dw, uint32_t groups)
{
  return (instrid_layer_desc){
      INSTRID_LAYER_CONV2D, {c_out, k, k, sh, sw, ph, pw, dh, dw, groups}, 0.0f};
}

static instrid_layer_desc layer(uint32_t type, uint32_t p0, uint32_t p1, float f0)
{
  return (instrid_layer_desc){type, {p0, p1}, f0};
}

static instrid_layer_desc pool(uint32_t type)
{
  return (instrid_layer_desc){type, {2, 2, 2, 2}, 0.0f};
}

instrid_frontend_params testnet_frontend(uint32_t rate, uint32_t n_fft, uint32_t hop_samples,
                                         uint32_t n_mels)
{
  return (instrid_frontend_params){.sample_rate = rate,
                                   .n_fft = n_fft,
                                   .win_length = n_fft,
                                   .hop_samples = hop_samples,
                                   .n_mels = n_mels,
                                   .window = INSTRID_WINDOW_HANN,
                                   .mel_scale = INSTRID_MEL_SLANEY,
                                   .mel_norm = INSTRID_MELNORM_SLANEY,
                                   .fmin_hz = 30.0f,
                                   .fmax_hz = (float)rate / 2.0f,
                                   .power = 2.0f,
                                   .log_floor = 1e-10f,
                                   .feature_mean = 0.0f,
                                   .feature_std = 1.0f};
}

/* Fills the front end, window and layers of `name`; returns the layer count, 0 if unknown. */
static uint32_t layers_of(const char *name, uint32_t n_classes, instrid_model_desc *d,
                          instrid_layer_desc *l)
{
  uint32_t n = 0;
  if (strcmp(name, "tiny") == 0) {
    d->frontend = testnet_frontend(8000, 256, 128, 16);
    d->window_frames = 16;
    d->hop_frames = 8;
    l[n++] = conv(8, 3, 1, 1, 1, 1, 1, 1, 1); /* (8, 16, 16) */
    l[n++] = layer(INSTRID_LAYER_BATCHNORM, 0, 0, 1e-5f);
    l[n++] = layer(INSTRID_LAYER_RELU, 0, 0, 0.0f);
    l[n++] = conv(8, 3, 2, 1, 1, 2, 1, 2, 2); /* stride 2x1, dilation 1x2, 2 groups: (8, 8, 16) */
    l[n++] = layer(INSTRID_LAYER_BATCHNORM, 0, 0, 1e-5f);
    l[n++] = layer(INSTRID_LAYER_RELU, 0, 0, 0.0f);
    l[n++] = pool(INSTRID_LAYER_AVGPOOL); /* (8, 4, 8) */
    l[n++] = layer(INSTRID_LAYER_DROPOUT, 0, 0, 0.25f);
    l[n++] = layer(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN, 0.0f);
    l[n++] = layer(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT,
                   0.0f); /* (16, 1, 1) */
  } else if (strcmp(name, "reference") == 0) {
    d->frontend = testnet_frontend(22050, 1024, 512, 128);
    d->window_frames = 128;
    d->hop_frames = 64;
    static const uint32_t channels[4] = {32, 64, 128, 256};
    for (int b = 0; b < 4; b++) {
      l[n++] = conv(channels[b], 3, 1, 1, 1, 1, 1, 1, 1);
      l[n++] = layer(INSTRID_LAYER_BATCHNORM, 0, 0, 1e-5f);
      l[n++] = layer(INSTRID_LAYER_RELU, 0, 0, 0.0f);
      l[n++] = pool(INSTRID_LAYER_MAXPOOL);
    }
    l[n++] = layer(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN, 0.0f);
    l[n++] =
        layer(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT, 0.0f);
  } else {
    return 0;
  }
  l[n++] = layer(INSTRID_LAYER_DENSE, n_classes, 0, 0.0f);
  l[n++] = layer(INSTRID_LAYER_SIGMOID, 0, 0, 0.0f);
  return n;
}

void testnet_free(testnet *net)
{
  if (!net)
    return;
  free(net->params);
  free(net->names);
  free(net->name_ptrs);
  free(net->thresholds);
  free(net);
}

/* Weights of the parameterised layers in order, from one generator (the model file's layout:
 * conv and dense weights then biases; batch norm gamma, beta, mean, var). */
static void init_params(testnet *net, instrid_rng *rng)
{
  float *p = net->params;
  for (uint32_t i = 0; i < net->desc.n_layers; i++) {
    const instrid_layer_desc *l = &net->layers[i];
    instrid_shape in = net->in[i];
    size_t count = instrid_layer_param_count(l, in);
    if (l->type == INSTRID_LAYER_BATCHNORM) {
      for (uint32_t c = 0; c < in.c; c++) {
        p[c] = 1.0f;
        p[in.c + c] = 0.0f;
        p[2 * in.c + c] = 0.0f;
        p[3 * in.c + c] = 1.0f;
      }
    } else if (l->type == INSTRID_LAYER_CONV2D || l->type == INSTRID_LAYER_DENSE) {
      size_t n_bias = l->p[0], n_weight = count - n_bias, fan_in = n_weight / n_bias;
      float bound = sqrtf(6.0f / (float)fan_in);
      for (size_t j = 0; j < n_weight; j++)
        p[j] = (2.0f * instrid_rng_uniform(rng) - 1.0f) * bound;
      memset(p + n_weight, 0, n_bias * sizeof *p);
    }
    p += count;
  }
}

testnet *testnet_build(const char *name, uint32_t n_classes, uint64_t seed)
{
  if (n_classes < 1 || n_classes > INSTRID_MAX_CLASSES) {
    fprintf(stderr, "testnet: %u classes\n", n_classes);
    return NULL;
  }
  testnet *net = calloc(1, sizeof *net);
  if (!net)
    return NULL;
  instrid_model_desc *d = &net->desc;
  d->n_classes = n_classes;
  d->n_layers = layers_of(name, n_classes, d, net->layers);
  d->layers = net->layers;
  instrid_error err = {0};
  instrid_shape out[INSTRID_MAX_LAYERS];
  if (d->n_layers == 0 ||
      instrid_arch_shapes(net->layers, d->n_layers,
                          (instrid_shape){1, d->frontend.n_mels, d->window_frames}, out,
                          &err) != INSTRID_OK ||
      instrid_model_desc_param_count(d, &d->n_params, &err) != INSTRID_OK) {
    fprintf(stderr, "testnet %s: %s\n", name, d->n_layers ? err.message : "unknown name");
    testnet_free(net);
    return NULL;
  }
  net->in[0] = (instrid_shape){1, d->frontend.n_mels, d->window_frames};
  for (uint32_t i = 1; i < d->n_layers; i++)
    net->in[i] = out[i - 1];
  net->params = calloc(d->n_params, sizeof *net->params);
  net->names = calloc(n_classes, sizeof *net->names);
  net->name_ptrs = calloc(n_classes, sizeof *net->name_ptrs);
  net->thresholds = calloc(n_classes, sizeof *net->thresholds);
  if (!net->params || !net->names || !net->name_ptrs || !net->thresholds) {
    fprintf(stderr, "testnet %s: out of memory\n", name);
    testnet_free(net);
    return NULL;
  }
  for (uint32_t i = 0; i < n_classes; i++) {
    snprintf(net->names[i], sizeof net->names[i], "class%u", i);
    net->name_ptrs[i] = net->names[i];
    net->thresholds[i] = 0.5f;
  }
  d->params = net->params;
  d->class_names = net->name_ptrs;
  d->thresholds = net->thresholds;
  instrid_rng rng;
  instrid_rng_seed(&rng, seed);
  init_params(net, &rng);
  return net;
}

const instrid_model_desc *testnet_desc(const testnet *net)
{
  return &net->desc;
}

float *testnet_params(testnet *net)
{
  return net->params;
}

float *testnet_thresholds(testnet *net)
{
  return net->thresholds;
}

void testnet_set_class_name(testnet *net, uint32_t i, const char *name)
{
  if (i < net->desc.n_classes)
    snprintf(net->names[i], sizeof net->names[i], "%s", name);
}

void testnet_set_provenance(testnet *net, const char *text)
{
  if (text)
    snprintf(net->provenance, sizeof net->provenance, "%s", text);
  net->desc.provenance = text ? net->provenance : NULL;
}

void testnet_randomize_batchnorm(testnet *net, uint64_t seed)
{
  instrid_rng rng;
  instrid_rng_seed(&rng, seed);
  float *p = net->params;
  for (uint32_t i = 0; i < net->desc.n_layers; i++) {
    const instrid_layer_desc *l = &net->layers[i];
    uint32_t c_in = net->in[i].c;
    if (l->type == INSTRID_LAYER_BATCHNORM)
      for (uint32_t c = 0; c < c_in; c++) {
        p[c] = 0.5f + instrid_rng_uniform(&rng);
        p[c_in + c] = instrid_rng_uniform(&rng) - 0.5f;
        p[2 * c_in + c] = instrid_rng_uniform(&rng) - 0.5f;
        p[3 * c_in + c] = 0.5f + 2.0f * instrid_rng_uniform(&rng); /* 2u is exact: no FMA drift */
      }
    p += instrid_layer_param_count(l, net->in[i]);
  }
}
