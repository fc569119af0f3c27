/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* arch.c — the named architectures and the one seeded initialisation of a network's parameters
 * (instrid_arch_init_params: instrid_arch_build and the trainer's train_net_init both call it).
 * Each entry of arch_table fills in a front end, a window and a layer list; everything else is
 * generic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "internal.h"
#include "layer_table.h"

/* ------------------------------------------------------------------------------------------ */
/* Layer constructors, so that the architectures below read like their diagrams */

static instrid_layer_desc conv2d(uint32_t c_out, uint32_t kh, uint32_t kw, uint32_t sh, uint32_t sw,
                                 uint32_t ph, uint32_t pw, uint32_t dh, uint32_t dw,
                                 uint32_t groups)
{
  return (instrid_layer_desc){
      INSTRID_LAYER_CONV2D, {c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups}, 0.0f};
}

/* k x k, stride 1, "same" padding */
static instrid_layer_desc conv_same(uint32_t c_out, uint32_t k)
{
  return conv2d(c_out, k, k, 1, 1, k / 2, k / 2, 1, 1, 1);
}

static instrid_layer_desc batchnorm(void)
{
  return (instrid_layer_desc){INSTRID_LAYER_BATCHNORM, {0}, 1e-5f};
}

static instrid_layer_desc relu(void)
{
  return (instrid_layer_desc){INSTRID_LAYER_RELU, {0}, 0.0f};
}

static instrid_layer_desc pool2d(uint32_t type, uint32_t kh, uint32_t kw, uint32_t sh, uint32_t sw)
{
  return (instrid_layer_desc){type, {kh, kw, sh, sw}, 0.0f};
}

static instrid_layer_desc global_pool(uint32_t axes, uint32_t mode)
{
  return (instrid_layer_desc){INSTRID_LAYER_GLOBAL_POOL, {axes, mode}, 0.0f};
}

static instrid_layer_desc dense(uint32_t out_features)
{
  return (instrid_layer_desc){INSTRID_LAYER_DENSE, {out_features}, 0.0f};
}

static instrid_layer_desc sigmoid(void)
{
  return (instrid_layer_desc){INSTRID_LAYER_SIGMOID, {0}, 0.0f};
}

static instrid_layer_desc dropout(float p)
{
  return (instrid_layer_desc){INSTRID_LAYER_DROPOUT, {0}, p};
}

/* ------------------------------------------------------------------------------------------ */
/* The front end every built-in architecture uses: Hann window as long as the FFT, Slaney mel
 * scale and area normalisation from 30 Hz to Nyquist, power spectrum, no normalisation. */
static instrid_frontend_params slaney_frontend(uint32_t sample_rate, uint32_t n_fft,
                                               uint32_t hop_samples, uint32_t n_mels)
{
  return (instrid_frontend_params){.sample_rate = sample_rate,
                                   .n_fft = n_fft,
                                   .win_length = n_fft,
                                   .hop_samples = hop_samples,
                                   .n_mels = n_mels,
                                   .window = INSTRID_WINDOW_HANN,
                                   .mel_scale = INSTRID_MEL_SLANEY,
                                   .mel_norm = INSTRID_MELNORM_SLANEY,
                                   .fmin_hz = 30.0f,
                                   .fmax_hz = (float)sample_rate / 2.0f,
                                   .power = 2.0f,
                                   .log_floor = 1e-10f,
                                   .feature_mean = 0.0f,
                                   .feature_std = 1.0f};
}

/* Four blocks of [3x3 conv, batch norm, ReLU, 2x2 max-pool], appended at layers[n]; returns the
 * new layer count. */
static uint32_t conv_blocks(instrid_layer_desc *layers, uint32_t n, const uint32_t channels[4])
{
  for (int b = 0; b < 4; b++) {
    layers[n++] = conv_same(channels[b], 3);
    layers[n++] = batchnorm();
    layers[n++] = relu();
    layers[n++] = pool2d(INSTRID_LAYER_MAXPOOL, 2, 2, 2, 2);
  }
  return n;
}

/* The architectures. A builder fills the front end and window and returns the layer count
 * (layers has room for INSTRID_MAX_LAYERS). */

typedef uint32_t (*arch_builder)(uint32_t n_classes, instrid_frontend_params *fe,
                                 uint32_t *window_frames, uint32_t *hop_frames,
                                 instrid_layer_desc *layers);

/* 4 x [conv 3x3, BN, ReLU, maxpool 2x2] with 32-64-128-256 channels on 128 mels x 128 frames
 * (about 3 s at 22.05 kHz), mean over frequency, then mean and max over time side by side. */
static uint32_t build_reference(uint32_t n_classes, instrid_frontend_params *fe,
                                uint32_t *window_frames, uint32_t *hop_frames,
                                instrid_layer_desc *layers)
{
  *fe = slaney_frontend(22050, 1024, 512, 128);
  *window_frames = 128;
  *hop_frames = 64;
  uint32_t n = 0;
  static const uint32_t channels[4] = {32, 64, 128, 256};
  n = conv_blocks(layers, n, channels);
  layers[n++] = global_pool(INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN);
  layers[n++] = global_pool(INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT);
  layers[n++] = dense(n_classes);
  layers[n++] = sigmoid();
  return n;
}

/* A few hundred parameters on 16 mels x 16 frames, touching every layer type and every conv
 * option (stride, asymmetric padding, dilation, groups), for fast exhaustive tests. */
static uint32_t build_tiny(uint32_t n_classes, instrid_frontend_params *fe, uint32_t *window_frames,
                           uint32_t *hop_frames, instrid_layer_desc *layers)
{
  *fe = slaney_frontend(8000, 256, 128, 16);
  *window_frames = 16;
  *hop_frames = 8;
  uint32_t n = 0;
  layers[n++] = conv_same(8, 3); /* (8, 16, 16) */
  layers[n++] = batchnorm();
  layers[n++] = relu();
  layers[n++] = conv2d(8, 3, 3, 2, 1, 1, 2, 1, 2, 2); /* stride 2x1, dilation 1x2, 2 groups:
                                                         (8, 8, 16) */
  layers[n++] = batchnorm();
  layers[n++] = relu();
  layers[n++] = pool2d(INSTRID_LAYER_AVGPOOL, 2, 2, 2, 2); /* (8, 4, 8) */
  layers[n++] = dropout(0.25f);
  layers[n++] = global_pool(INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN);            /* (8, 1, 8) */
  layers[n++] = global_pool(INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT); /* (16, 1, 1) */
  layers[n++] = dense(n_classes);
  layers[n++] = sigmoid();
  return n;
}

/* The trainer's default: 4 x [conv 3x3, BN, ReLU, maxpool 2x2] with 16-32-64-128 channels on
 * 64 mels x 64 frames at 16 kHz (n_fft 512, hop 256: 1.04 s per window), mean over frequency,
 * mean and max over time, dropout, dense.
 *
 * Why: the speed target is 1000x real time per core for front end + network. At ~40 GFLOP/s on
 * one core that leaves ~40 MFLOP per second of audio. Convolution FLOPs (2 * MACs):
 *   block 1: 64*64 * 16 * 1*9 * 2   = 1.18 M      block 2: 32*32 * 32 * 16*9 * 2 = 9.44 M
 *   block 3: 16*16 * 64 * 32*9 * 2  = 9.44 M      block 4:  8*8 * 128 * 64*9 * 2 = 9.44 M
 *   dense: 256 * 25 * 2 = 0.01 M                  total ~29.5 MFLOP per window
 * (the reference is ~0.4 GFLOP: 14x more). At the default hop of 64 frames (one window per
 * 1.024 s of audio) that is ~28.8 MFLOP per audio second, plus ~1 MFLOP for the front end
 * (62.5 FFTs of 512 points and 64 mel sums per second): ~0.75 ms of one core per second of
 * audio, ~1300x real time at 40 GFLOP/s. Doubling the channels each time the map halves keeps
 * every block at the same cost, so none dominates. 16 kHz keeps everything up to 8 kHz, where
 * the instruments' fundamentals and formants lie; 64 mel bands still resolve semitone-scale
 * structure below ~1 kHz. A second is enough to hear a note's attack and steady state; the
 * element reports at most once per hop anyway. feature_mean/std are only a starting point:
 * instrid-train replaces them with the log-mel statistics of its training split. */
static uint32_t build_default(uint32_t n_classes, instrid_frontend_params *fe,
                              uint32_t *window_frames, uint32_t *hop_frames,
                              instrid_layer_desc *layers)
{
  *fe = slaney_frontend(16000, 512, 256, 64);
  fe->feature_mean = -10.0f;
  fe->feature_std = 5.0f;
  *window_frames = 64;
  *hop_frames = 64;
  uint32_t n = 0;
  static const uint32_t channels[4] = {16, 32, 64, 128};
  n = conv_blocks(layers, n, channels);
  layers[n++] = global_pool(INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN);
  layers[n++] = global_pool(INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT);
  layers[n++] = dropout(0.2f);
  layers[n++] = dense(n_classes);
  layers[n++] = sigmoid();
  return n;
}

/* EfficientAT's mn04: MobileNetV3-Large's inverted residual blocks at width 0.4 (channels
 * _make_divisible(c * 0.4, 8)), checked against mn04_as_mAP_432.pt's tensor shapes: a 3x3 stride-2
 * stem of 8 channels, 15 blocks, a 1x1 convolution to 384 channels, a global mean pool, dense 512 +
 * hard-swish (the embedding), dropout 0.2, the classifier. Batch-norm eps 0.001, squeeze channels
 * _make_divisible(expanded / 4, 8), the EfficientAT front end (32 kHz, 128 Kaldi mels, hop 10 ms),
 * a window of 3.2 s and a hop of 1 s. The same layer list trainer/import/instrid-import writes. */
static instrid_layer_desc bn_eps(float eps)
{
  return (instrid_layer_desc){INSTRID_LAYER_BATCHNORM, {0}, eps};
}

static instrid_layer_desc simple(uint32_t type, uint32_t p0)
{
  return (instrid_layer_desc){type, {p0}, 0.0f};
}

static uint32_t make_divisible8(double v)
{
  uint32_t r = (uint32_t)(v + 4.0) / 8 * 8;
  if (r < 8)
    r = 8;
  if (r < 0.9 * v)
    r += 8;
  return r;
}

static uint32_t build_mn04(uint32_t n_classes, instrid_frontend_params *fe, uint32_t *window_frames,
                           uint32_t *hop_frames, instrid_layer_desc *layers)
{
  instrid_frontend_params_efficientat(fe);
  *window_frames = 320;
  *hop_frames = 100;
  /* kernel, expanded, out, squeeze-excitation, hard-swish (else ReLU), stride */
  static const uint16_t blocks[15][6] = {
      {3, 8, 8, 0, 0, 1},    {3, 24, 16, 0, 0, 2},  {3, 32, 16, 0, 0, 1},  {5, 32, 16, 1, 0, 2},
      {5, 48, 16, 1, 0, 1},  {5, 48, 16, 1, 0, 1},  {3, 96, 32, 0, 1, 2},  {3, 80, 32, 0, 1, 1},
      {3, 72, 32, 0, 1, 1},  {3, 72, 32, 0, 1, 1},  {3, 192, 48, 1, 1, 1}, {3, 272, 48, 1, 1, 1},
      {5, 272, 64, 1, 1, 2}, {5, 384, 64, 1, 1, 1}, {5, 384, 64, 1, 1, 1},
  };
  const float eps = 1e-3f;
  uint32_t n = 0, c = 8;
  layers[n++] = conv2d(8, 3, 3, 2, 2, 1, 1, 1, 1, 1);
  layers[n++] = bn_eps(eps);
  layers[n++] = simple(INSTRID_LAYER_HARDSWISH, 0);
  for (int b = 0; b < 15; b++) {
    const uint32_t k = blocks[b][0], exp = blocks[b][1], out = blocks[b][2];
    const uint32_t stride = blocks[b][5];
    const uint32_t act = blocks[b][4] ? INSTRID_LAYER_HARDSWISH : INSTRID_LAYER_RELU;
    const uint32_t start = n;
    if (exp != c) {
      layers[n++] = conv2d(exp, 1, 1, 1, 1, 0, 0, 1, 1, 1);
      layers[n++] = bn_eps(eps);
      layers[n++] = simple(act, 0);
    }
    layers[n++] = conv2d(exp, k, k, stride, stride, (k - 1) / 2, (k - 1) / 2, 1, 1, exp);
    layers[n++] = bn_eps(eps);
    layers[n++] = simple(act, 0);
    if (blocks[b][3])
      layers[n++] = simple(INSTRID_LAYER_SQUEEZE_EXCITE, make_divisible8(exp / 4.0));
    layers[n++] = conv2d(out, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    layers[n++] = bn_eps(eps);
    if (stride == 1 && c == out)
      layers[n] = simple(INSTRID_LAYER_RESIDUAL_ADD, n - start), n++;
    c = out;
  }
  layers[n++] = conv2d(384, 1, 1, 1, 1, 0, 0, 1, 1, 1);
  layers[n++] = bn_eps(eps);
  layers[n++] = simple(INSTRID_LAYER_HARDSWISH, 0);
  layers[n++] = global_pool(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN);
  layers[n++] = dense(512);
  layers[n++] = simple(INSTRID_LAYER_HARDSWISH, 0);
  layers[n++] = simple(INSTRID_LAYER_EMBEDDING, 0);
  layers[n++] = dropout(0.2f);
  layers[n++] = dense(n_classes);
  layers[n++] = sigmoid();
  return n;
}

static const struct {
  const char *name;
  arch_builder build;
} arch_table[] = {
    {"reference", build_reference},
    {"tiny", build_tiny},
    {"default", build_default},
    {"mn04", build_mn04},
};

#define N_ARCHS (sizeof arch_table / sizeof arch_table[0])

const char *instrid_arch_name(size_t i)
{
  return i < N_ARCHS ? arch_table[i].name : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The arch object */

struct instrid_arch {
  instrid_model_desc desc;
  instrid_layer_desc layers[INSTRID_MAX_LAYERS];
  instrid_shape shapes[INSTRID_MAX_LAYERS];  /* output of each layer */
  float *params;                             /* desc.n_params */
  char (*names)[INSTRID_MAX_CLASS_NAME + 1]; /* n_classes */
  const char **name_ptrs;                    /* n_classes, into names */
  float *thresholds;                         /* n_classes */
  char *provenance;                          /* NULL or owned text */
};

void instrid_arch_free(instrid_arch *arch)
{
  if (!arch)
    return;
  free(arch->params);
  free(arch->names);
  free(arch->name_ptrs);
  free(arch->thresholds);
  free(arch->provenance);
  free(arch);
}

/* Walks every parameterised layer: fn sees the layer, its input shape and its first param. */
typedef void (*layer_visit)(const instrid_layer_desc *l, instrid_shape in, float *p,
                            instrid_rng *rng);

static void for_each_layer(instrid_arch *a, layer_visit fn, instrid_rng *rng)
{
  instrid_shape in = {1, a->desc.frontend.n_mels, a->desc.window_frames};
  float *p = a->params;
  for (uint32_t i = 0; i < a->desc.n_layers; i++) {
    fn(&a->layers[i], in, p, rng);
    p += instrid_layer_param_count(&a->layers[i], in);
    in = a->shapes[i];
  }
}

/* Each tensor as its layer table entry says: He-uniform (bound sqrt(6 / fan_in), fan_in =
 * count / dims[0]) for weights, drawn in file order, constants for the rest. For CONV2D and
 * DENSE that is the weight then a zero bias, as before the table existed (same draws). */
static void init_layer(const instrid_layer_desc *l, instrid_shape in, float *p, instrid_rng *rng)
{
  const instrid_layer_entry *e = instrid_layer_entry_find(l->type);
  if (!e || !e->tensor)
    return;
  instrid_layer_params lp;
  e->unpack(l, &lp);
  for (unsigned k = 0; k < e->n_tensors; k++) {
    instrid_tensor_spec t;
    e->tensor(&lp, in, k, &t);
    size_t count = t.ndims ? 1 : 0;
    for (uint32_t d = 0; d < t.ndims; d++)
      count *= t.dims[d];
    if (t.init == INSTRID_INIT_HE) {
      /* He (Kaiming) uniform for ReLU networks: Var(w) = 2 / fan_in. */
      float bound = sqrtf(6.0f / (float)(count / t.dims[0]));
      for (size_t j = 0; j < count; j++)
        p[j] = (2.0f * instrid_rng_uniform(rng) - 1.0f) * bound;
    } else {
      const float v = t.init == INSTRID_INIT_ONE ? 1.0f : 0.0f;
      for (size_t j = 0; j < count; j++)
        p[j] = v;
    }
    p += count;
  }
}

instrid_status instrid_arch_init_params(const instrid_layer_desc *layers, uint32_t n_layers,
                                        instrid_shape input, uint64_t seed, float *params,
                                        size_t n_params, instrid_error *err)
{
  if (!layers || !params || n_layers == 0 || n_layers > INSTRID_MAX_LAYERS)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "no layers or no parameter block");
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_status st = instrid_arch_shapes(layers, n_layers, input, shapes, err);
  if (st != INSTRID_OK)
    return st;
  size_t total = 0;
  for (uint32_t i = 0; i < n_layers; i++)
    total += instrid_layer_param_count(&layers[i], i ? shapes[i - 1] : input);
  if (total != n_params)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "%zu parameters, the layers need %zu",
                             n_params, total);
  instrid_rng rng;
  instrid_rng_seed(&rng, seed);
  float *p = params;
  for (uint32_t i = 0; i < n_layers; i++) {
    instrid_shape in = i ? shapes[i - 1] : input;
    init_layer(&layers[i], in, p, &rng);
    p += instrid_layer_param_count(&layers[i], in);
  }
  return INSTRID_OK;
}

static void randomize_bn_layer(const instrid_layer_desc *l, instrid_shape in, float *p,
                               instrid_rng *rng)
{
  if (l->type != INSTRID_LAYER_BATCHNORM)
    return;
  for (uint32_t c = 0; c < in.c; c++) {
    p[c] = 0.5f + instrid_rng_uniform(rng);
    p[in.c + c] = instrid_rng_uniform(rng) - 0.5f;
    p[2 * in.c + c] = instrid_rng_uniform(rng) - 0.5f;
    p[3 * in.c + c] = 0.5f + 2.0f * instrid_rng_uniform(rng); /* 2u is exact: no FMA drift */
  }
}

instrid_status instrid_arch_build(const char *name, uint32_t n_classes, uint64_t seed,
                                  instrid_model_desc *out_desc, instrid_arch **out_arch,
                                  instrid_error *err)
{
  if (!name || !out_arch)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "name and out_arch must not be NULL");
  *out_arch = NULL;
  size_t which = N_ARCHS;
  for (size_t i = 0; i < N_ARCHS; i++)
    if (strcmp(name, arch_table[i].name) == 0)
      which = i;
  if (which == N_ARCHS) {
    char known[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < N_ARCHS && len < sizeof known; i++)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                              arch_table[i].name);
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "unknown architecture \"%s\" (known: %s)", name, known);
  }
  if (n_classes < 1 || n_classes > INSTRID_MAX_CLASSES)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "n_classes %u outside 1..%u", n_classes,
                             INSTRID_MAX_CLASSES);

  instrid_status st;
  instrid_arch *a = calloc(1, sizeof *a);
  if (!a)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate the architecture");
  instrid_model_desc *d = &a->desc;
  d->n_classes = n_classes;
  d->n_layers = arch_table[which].build(n_classes, &d->frontend, &d->window_frames, &d->hop_frames,
                                        a->layers);
  d->layers = a->layers;
  instrid_shape input = {1, d->frontend.n_mels, d->window_frames};
  st = instrid_arch_shapes(a->layers, d->n_layers, input, a->shapes, err);
  if (st != INSTRID_OK)
    goto fail;
  st = instrid_model_desc_param_count(d, &d->n_params, err);
  if (st != INSTRID_OK)
    goto fail;

  a->params = calloc(d->n_params ? d->n_params : 1, sizeof *a->params);
  a->names = calloc(n_classes, sizeof *a->names);
  a->name_ptrs = calloc(n_classes, sizeof *a->name_ptrs);
  a->thresholds = calloc(n_classes, sizeof *a->thresholds);
  if (!a->params || !a->names || !a->name_ptrs || !a->thresholds) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate %zu parameters", d->n_params);
    goto fail;
  }
  for (uint32_t i = 0; i < n_classes; i++) {
    snprintf(a->names[i], sizeof a->names[i], "class%u", i);
    a->name_ptrs[i] = a->names[i];
    a->thresholds[i] = 0.5f;
  }
  d->params = a->params;
  d->class_names = a->name_ptrs;
  d->thresholds = a->thresholds;
  d->provenance = NULL;

  st = instrid_arch_init_params(a->layers, d->n_layers, input, seed, a->params, d->n_params, err);
  if (st != INSTRID_OK)
    goto fail;

  if (out_desc)
    *out_desc = *d;
  *out_arch = a;
  return INSTRID_OK;

fail:
  instrid_arch_free(a);
  return st;
}

const instrid_model_desc *instrid_arch_desc(const instrid_arch *arch)
{
  return &arch->desc;
}

float *instrid_arch_params(instrid_arch *arch)
{
  return arch->params;
}

float *instrid_arch_thresholds(instrid_arch *arch)
{
  return arch->thresholds;
}

instrid_frontend_params *instrid_arch_frontend(instrid_arch *arch)
{
  return &arch->desc.frontend;
}

void instrid_arch_set_hop_frames(instrid_arch *arch, uint32_t hop_frames)
{
  arch->desc.hop_frames = hop_frames;
}

instrid_status instrid_arch_set_class_name(instrid_arch *arch, uint32_t i, const char *name,
                                           instrid_error *err)
{
  if (i >= arch->desc.n_classes)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "class %u of %u", i,
                             arch->desc.n_classes);
  size_t len = name ? strnlen(name, INSTRID_MAX_CLASS_NAME + 1) : 0;
  if (len < 1 || len > INSTRID_MAX_CLASS_NAME)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "class %u: name must be 1..%d bytes", i,
                             INSTRID_MAX_CLASS_NAME);
  for (size_t k = 0; k < len; k++)
    if (name[k] < 0x20 || name[k] > 0x7E)
      return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                               "class %u: name has a non-printable byte at %zu", i, k);
  memcpy(arch->names[i], name, len + 1);
  return INSTRID_OK;
}

instrid_status instrid_arch_set_provenance(instrid_arch *arch, const char *text, instrid_error *err)
{
  char *copy = NULL;
  if (text) {
    size_t len = strlen(text);
    copy = malloc(len + 1);
    if (!copy)
      return instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot copy %zu bytes of provenance", len);
    memcpy(copy, text, len + 1);
  }
  free(arch->provenance);
  arch->provenance = copy;
  arch->desc.provenance = copy;
  return INSTRID_OK;
}

void instrid_arch_randomize_batchnorm(instrid_arch *arch, uint64_t seed)
{
  instrid_rng rng;
  instrid_rng_seed(&rng, seed);
  for_each_layer(arch, randomize_bn_layer, &rng);
}
