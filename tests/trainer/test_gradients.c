/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_gradients.c — the training network's backward pass for every layer type against
 * central differences (parameters and inputs), batch-norm running statistics, the batched
 * conv backward against per-example runs, eval-mode forward against libinstrid's inference
 * engine on the same weights written and loaded as a model file (no skew), and to the bit where
 * the trainer runs the element's kernels (the channels-last front's convolutions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "instrid.h"
#include "netgrad.h"
#include "rng.h"
#include "testnet.h"

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                  */

static float uniform(uint64_t *s, float lo, float hi)
{
  return lo + (hi - lo) * rng_splitmix_float(s);
}

static instrid_layer_desc conv(uint32_t c_out, uint32_t kh, uint32_t kw, uint32_t sh, uint32_t sw,
                               uint32_t ph, uint32_t pw, uint32_t dh, uint32_t dw, uint32_t groups)
{
  instrid_layer_desc l = {.type = INSTRID_LAYER_CONV2D,
                          .p = {c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups}};
  return l;
}

static instrid_layer_desc layer(uint32_t type, uint32_t p0, uint32_t p1, uint32_t p2, uint32_t p3,
                                float f0)
{
  instrid_layer_desc l = {.type = type, .p = {p0, p1, p2, p3}, .f0 = f0};
  return l;
}

#define BN layer(INSTRID_LAYER_BATCHNORM, 0, 0, 0, 0, 1e-5f)
#define RELU layer(INSTRID_LAYER_RELU, 0, 0, 0, 0, 0)
#define SIGMOID layer(INSTRID_LAYER_SIGMOID, 0, 0, 0, 0, 0)
#define DENSE(out) layer(INSTRID_LAYER_DENSE, out, 0, 0, 0, 0)
#define MAXPOOL(kh, kw, sh, sw) layer(INSTRID_LAYER_MAXPOOL, kh, kw, sh, sw, 0)
#define AVGPOOL(kh, kw, sh, sw) layer(INSTRID_LAYER_AVGPOOL, kh, kw, sh, sw, 0)
#define GPOOL(axes, mode) layer(INSTRID_LAYER_GLOBAL_POOL, axes, mode, 0, 0, 0)
#define DROPOUT(p) layer(INSTRID_LAYER_DROPOUT, 0, 0, 0, 0, p)
#define HSWISH layer(INSTRID_LAYER_HARDSWISH, 0, 0, 0, 0, 0)
#define SE(s) layer(INSTRID_LAYER_SQUEEZE_EXCITE, s, 0, 0, 0, 0)
#define ADD(back) layer(INSTRID_LAYER_RESIDUAL_ADD, back, 0, 0, 0, 0)
#define EMBED layer(INSTRID_LAYER_EMBEDDING, 0, 0, 0, 0, 0)
#define BLEND(c) layer(INSTRID_LAYER_BLEND_MAPPED, c, 0, 0, 0, 0)
#define BLEND_NOISY_OR(c) layer(INSTRID_LAYER_BLEND_MAPPED, c, INSTRID_BLEND_NOISY_OR, 0, 0, 0)
/* k x k depthwise convolution of c channels, "same" padding */
#define DW(c, k, stride) conv(c, k, k, stride, stride, (k) / 2, (k) / 2, 1, 1, c)
#define PW(c) conv(c, 1, 1, 1, 1, 0, 0, 1, 1, 1)

/* An inverted-residual network like mn04's, small: stem, a block with expansion, depthwise
 * convolution, squeeze-excitation and a residual over 10 layers, a strided depthwise block
 * without residual, a 1x1 convolution, pooling, a dense + hardswish embedding, dropout, the
 * classifier. Layer 12 adds the input of layer 3 (back 9). */
#define MN_LAYERS(n_classes)                                                                       \
  {                                                                                                \
    conv(6, 3, 3, 1, 1, 1, 1, 1, 1, 1), BN, HSWISH, PW(12), BN, HSWISH, DW(12, 3, 1), BN, HSWISH,  \
        SE(4), PW(6), BN, ADD(9), DW(6, 5, 2), BN, RELU, PW(10), BN, HSWISH,                       \
        GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN), DENSE(7), HSWISH, EMBED,  \
        DROPOUT(0.2f), DENSE(n_classes), SIGMOID                                                   \
  }
#define MN_N_LAYERS 26

static const char *const class_names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
static const float thresholds[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};

static instrid_model_desc make_desc(const instrid_layer_desc *layers, int n_layers, int n_mels,
                                    int frames, int n_classes)
{
  instrid_model_desc d;
  memset(&d, 0, sizeof d);
  d.frontend = testnet_frontend(16000, 512, 256, (uint32_t)n_mels);
  d.frontend.fmin_hz = 0.0f;
  d.window_frames = (uint32_t)frames;
  d.hop_frames = (uint32_t)frames;
  d.n_classes = (uint32_t)n_classes;
  d.class_names = class_names;
  d.thresholds = thresholds;
  d.n_layers = (uint32_t)n_layers;
  d.layers = layers;
  return d;
}

/* Moves biases, BN gamma/beta (everything trainable but not decayed) and the BN running
 * statistics off their initial constants so that their gradients are generic. */
static void perturb_params(train_net *net, uint64_t *rng)
{
  float *p = train_net_params(net);
  const uint8_t *decay = train_net_decay_mask(net), *trainable = train_net_trainable_mask(net);
  for (size_t i = 0; i < train_net_n_params(net); i++)
    if (trainable[i] && !decay[i])
      p[i] += uniform(rng, -0.3f, 0.3f);
    else if (!trainable[i]) /* BN running mean and var: any positive values will do */
      p[i] = uniform(rng, 0.5f, 1.5f);
}

/* A training network for desc with init_seed's weights, perturbed from rng (NULL with a failed
 * CHECK when it cannot be built). */
static train_net *perturbed_net(const char *name, const instrid_model_desc *desc, int batch,
                                uint64_t init_seed, uint64_t *rng)
{
  instrid_error err = {0};
  train_net *net = train_net_new(desc, batch, &err);
  CHECK(net != NULL, "%s: train_net_new: %s", name, err.message);
  if (net) {
    train_net_init(net, init_seed);
    perturb_params(net, rng);
  }
  return net;
}

/* sum_k r[k] * logits[k] in double: a scalar whose gradient wrt the logits is r. */
static int training_mode = 1; /* which function grad_check differentiates */

static double objective(train_net *net, const float *x, int n, uint64_t dropout_seed,
                        const float *r, float *logits)
{
  uint64_t rng = dropout_seed; /* the same dropout masks on every evaluation */
  train_net_forward(net, x, n, training_mode, &rng, logits);
  double s = 0.0;
  for (int k = 0; k < n * train_net_n_outputs(net); k++)
    s += (double)r[k] * logits[k];
  return s;
}

static int grad_matches(double numeric, double analytic, double scale)
{
  return fabs(numeric - analytic) <= 2e-3 * scale + 2e-2 * fmax(fabs(numeric), fabs(analytic));
}

/* Central difference of the objective wrt *v, with two step sizes, then the one-sided
 * differences at the smaller: a real bug fails them all, while a ReLU kink or a max-pool winner
 * change lies inside at most one side of a small step (the other side's difference is then the
 * derivative to O(step)), so the check does not depend on where the seed puts the kinks. */
static int check_one(train_net *net, const float *x, int n, uint64_t seed, const float *r,
                     float *logits, float *v, double analytic, double scale, double *numeric_out)
{
  static const float steps[2] = {1e-2f, 2e-3f};
  float save = *v;
  double up = 0.0, down = 0.0;
  for (int s = 0; s < 2; s++) {
    *v = save + steps[s];
    up = objective(net, x, n, seed, r, logits);
    *v = save - steps[s];
    down = objective(net, x, n, seed, r, logits);
    *v = save;
    double numeric = (up - down) / (2.0 * steps[s]);
    *numeric_out = numeric;
    if (grad_matches(numeric, analytic, scale))
      return 1;
  }
  double centre = objective(net, x, n, seed, r, logits);
  return grad_matches((up - centre) / steps[1], analytic, scale) ||
         grad_matches((centre - down) / steps[1], analytic, scale);
}

/* Builds the net, runs forward + backward with random upstream gradient r and compares every
 * parameter gradient and every input gradient with central differences. */
static void grad_check(const char *name, const instrid_layer_desc *layers, int n_layers, int n_mels,
                       int frames, int n_classes, int batch, uint64_t seed)
{
  instrid_model_desc desc = make_desc(layers, n_layers, n_mels, frames, n_classes);
  uint64_t rng = seed;
  train_net *net = perturbed_net(name, &desc, batch, seed, &rng);
  if (!net)
    return;

  int n_in = train_net_n_inputs(net), n_out = train_net_n_outputs(net);
  size_t n_params = train_net_n_params(net);
  float *x = malloc(sizeof(float) * (size_t)batch * n_in);
  float *dx = malloc(sizeof(float) * (size_t)batch * n_in);
  float *r = malloc(sizeof(float) * (size_t)batch * n_out);
  float *logits = malloc(sizeof(float) * (size_t)batch * n_out);
  float *grads_copy = malloc(sizeof(float) * n_params);
  for (int i = 0; i < batch * n_in; i++)
    x[i] = uniform(&rng, -2.0f, 2.0f);
  for (int i = 0; i < batch * n_out; i++)
    r[i] = uniform(&rng, -1.0f, 1.0f);

  uint64_t dropout_seed = seed * 31 + 7, drng = dropout_seed;
  train_net_zero_grad(net);
  train_net_forward(net, x, batch, training_mode, &drng, logits);
  train_net_backward(net, r, dx);
  memcpy(grads_copy, train_net_grads(net), sizeof(float) * n_params);

  const uint8_t *trainable = train_net_trainable_mask(net);
  double scale = 0.0;
  for (size_t i = 0; i < n_params; i++)
    scale = fmax(scale, fabs(grads_copy[i]));
  for (int i = 0; i < batch * n_in; i++)
    scale = fmax(scale, fabs(dx[i]));
  CHECK(scale > 0.0, "%s: all gradients are zero", name);

  float *params = train_net_params(net);
  int bad = 0, checked = 0;
  for (size_t i = 0; i < n_params; i++) {
    if (!trainable[i])
      continue;
    double numeric;
    checked++;
    if (!check_one(net, x, batch, dropout_seed, r, logits, &params[i], grads_copy[i], scale,
                   &numeric)) {
      if (bad++ < 5)
        fprintf(stderr, "%s: param %zu numeric %.6g analytic %.6g\n", name, i, numeric,
                grads_copy[i]);
    }
  }
  for (int i = 0; i < batch * n_in; i++) {
    double numeric;
    checked++;
    if (!check_one(net, x, batch, dropout_seed, r, logits, &x[i], dx[i], scale, &numeric)) {
      if (bad++ < 5)
        fprintf(stderr, "%s: input %d numeric %.6g analytic %.6g\n", name, i, numeric, dx[i]);
    }
  }
  CHECK(bad == 0, "%s: %d of %d gradients disagree with central differences", name, bad, checked);

  /* Backward accumulates: a second pass without zeroing doubles every gradient. */
  drng = dropout_seed;
  train_net_forward(net, x, batch, training_mode, &drng, logits);
  train_net_backward(net, r, NULL);
  const float *g2 = train_net_grads(net);
  int not_doubled = 0;
  for (size_t i = 0; i < n_params; i++)
    if (fabsf(g2[i] - 2.0f * grads_copy[i]) > 1e-5f * (1.0f + fabsf(grads_copy[i])))
      not_doubled++;
  CHECK(not_doubled == 0, "%s: %d gradients did not accumulate", name, not_doubled);

  free(x);
  free(dx);
  free(r);
  free(logits);
  free(grads_copy);
  train_net_free(net);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                     */

static void test_layer_gradients(void)
{
  {
    /* Convolution with stride, padding, dilation and groups. */
    const instrid_layer_desc l[] = {
        conv(4, 3, 3, 1, 1, 1, 1, 1, 1, 1), conv(6, 3, 2, 2, 1, 1, 2, 1, 2, 2),
        GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN), DENSE(3)};
    grad_check("conv stride/pad/dilation/groups", l, 4, 9, 10, 3, 2, 11);
  }
  {
    /* Batch norm in training mode, ReLU, overlapping max pool, average pool, dense. */
    const instrid_layer_desc l[] = {conv(3, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                    BN,
                                    RELU,
                                    MAXPOOL(3, 3, 2, 2),
                                    conv(4, 2, 2, 1, 1, 0, 0, 1, 1, 1),
                                    AVGPOOL(2, 1, 2, 1),
                                    DENSE(3)};
    grad_check("bn/relu/maxpool/avgpool/dense", l, 7, 11, 12, 3, 3, 12);
    /* The same in eval mode: batch norm with its running statistics is an affine map. */
    training_mode = 0;
    grad_check("eval-mode bn/relu/maxpool/avgpool/dense", l, 7, 11, 12, 3, 3, 15);
    training_mode = 1;
  }
  {
    /* Batch norm on 1x1 planes (after a dense layer) and a mid-network sigmoid; the final
     * SIGMOID is left out of the logits. */
    const instrid_layer_desc l[] = {DENSE(6), BN, RELU, DENSE(5), SIGMOID, DENSE(4), SIGMOID};
    grad_check("dense/bn(1x1)/sigmoid", l, 7, 4, 5, 4, 4, 13);
  }
  {
    /* Dropout (the same mask on every evaluation) in place after ReLU. */
    const instrid_layer_desc l[] = {conv(3, 3, 3, 1, 1, 1, 1, 1, 1, 1), RELU, DROPOUT(0.3f),
                                    GPOOL(INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN), DENSE(3)};
    grad_check("relu/dropout/global-pool(freq)", l, 5, 6, 7, 3, 2, 14);
  }
  {
    /* mn04's layer types: hardswish, 1x1 and depthwise convolutions (stride 1 and 2),
     * squeeze-excitation, a residual add over a block, an embedding marker. */
    const instrid_layer_desc l[] = MN_LAYERS(3);
    grad_check("mn: 1x1/depthwise/hardswish/se/residual/embedding", l, MN_N_LAYERS, 8, 9, 3, 2, 16);
    training_mode = 0;
    grad_check("eval-mode mn: 1x1/depthwise/hardswish/se/residual/embedding", l, MN_N_LAYERS, 8, 9,
               3, 2, 17);
    training_mode = 1;
  }
  {
    /* A residual that adds the network's input, one that spans a single in-place layer, and
     * squeeze-excitation with a one-channel bottleneck. */
    const instrid_layer_desc l[] = {conv(1, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                    ADD(1),
                                    conv(3, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                    RELU,
                                    ADD(1),
                                    SE(1),
                                    DW(3, 3, 2),
                                    GPOOL(INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
                                    DENSE(3)};
    grad_check("residual from the input/over relu, se(1), depthwise stride 2", l, 9, 6, 7, 3, 2,
               23);
  }
  {
    /* The blend of 4 class probabilities with the largest of the 6 source probabilities its
     * map selects (the map starts at 0 and is perturbed, so each class selects about half of
     * them, some maybe none); a dense layer after it makes the logits generic. */
    const instrid_layer_desc l[] = {DENSE(10), SIGMOID, BLEND(4), DENSE(3)};
    grad_check("blend_mapped", l, 4, 3, 4, 3, 3, 29);
    const instrid_layer_desc ln[] = {DENSE(10), SIGMOID, BLEND_NOISY_OR(4), DENSE(3)};
    grad_check("blend_mapped noisy-OR", ln, 4, 3, 4, 3, 3, 29);
  }
  /* Every global pooling mode over every axis combination. */
  static const char *const mode_names[4] = {"mean", "max", "mean|max", "mean+max"};
  for (int axes = 1; axes <= 3; axes++) {
    for (int mode = 0; mode < 4; mode++) {
      char name[64];
      snprintf(name, sizeof name, "global pool axes %d %s", axes, mode_names[mode]);
      const instrid_layer_desc l[] = {conv(2, 3, 3, 1, 1, 0, 0, 1, 1, 1),
                                      GPOOL((uint32_t)axes, (uint32_t)mode), DENSE(3)};
      grad_check(name, l, 3, 6, 7, 3, 2, 100 + (uint64_t)(axes * 4 + mode));
    }
  }
}

/* Running statistics after one training forward: PyTorch's momentum 0.1, unbiased variance. */
static void test_batchnorm_running_stats(void)
{
  const instrid_layer_desc l[] = {BN, DENSE(2)};
  const int n = 3, h = 4, w = 5;
  instrid_model_desc desc = make_desc(l, 2, h, w, 2);
  train_net *net = train_net_new(&desc, n, NULL);
  CHECK(net != NULL, "bn stats net");
  if (!net)
    return;
  float x[3 * 4 * 5], logits[3 * 2];
  uint64_t rng = 5;
  double sum = 0.0, sq = 0.0;
  for (int i = 0; i < n * h * w; i++) {
    x[i] = uniform(&rng, -1.0f, 3.0f);
    sum += x[i];
  }
  double mean = sum / (n * h * w);
  for (int i = 0; i < n * h * w; i++)
    sq += (x[i] - mean) * (x[i] - mean);
  double unbiased = sq / (n * h * w - 1);
  train_net_forward(net, x, n, 1, &rng, logits);
  const float *p = train_net_params(net); /* gamma, beta, running mean, running var */
  CHECK(fabs(p[2] - 0.1 * mean) < 1e-6, "running mean %g want %g", p[2], 0.1 * mean);
  CHECK(fabs(p[3] - (0.9 + 0.1 * unbiased)) < 1e-5, "running var %g want %g", p[3],
        0.9 + 0.1 * unbiased);
  const uint8_t *trainable = train_net_trainable_mask(net), *decay = train_net_decay_mask(net);
  CHECK(trainable[0] && trainable[1] && !trainable[2] && !trainable[3], "bn trainable mask");
  CHECK(!decay[0] && !decay[1] && decay[4] && !decay[4 + h * w * 2], "decay mask");
  /* Eval mode uses the running statistics: output does not depend on the rest of the batch. */
  float one[2];
  train_net_forward(net, x, n, 0, NULL, logits);
  train_net_forward(net, x + h * w, 1, 0, NULL, one);
  CHECK(fabsf(one[0] - logits[2]) < 1e-6f && fabsf(one[1] - logits[3]) < 1e-6f,
        "eval mode depends on the batch");
  train_net_free(net);
}

/* train_net_set_frozen_prefix: layers [0, p) run as at inference in training mode and get no
 * backward pass. On the mn04-like net: with p at the last DENSE, a training-mode pass is the
 * eval-mode pass bit for bit, and its gradients (and dx) are those of a plain net's eval-mode
 * backward; with p after the first block, the prefix's parameters (batch-norm running
 * statistics included) do not move and get no gradient, while the rest does. */
static void test_frozen_prefix(void)
{
  const instrid_layer_desc l[] = MN_LAYERS(3);
  const int n = 4, h = 8, w = 8, C = 3;
  instrid_model_desc desc = make_desc(l, MN_N_LAYERS, h, w, C);
  uint64_t rng = 21, rng_b = 21;
  train_net *a = perturbed_net("frozen prefix", &desc, n, 3, &rng);
  train_net *b = perturbed_net("frozen prefix (plain)", &desc, n, 3, &rng_b);
  if (!a || !b) {
    train_net_free(a);
    train_net_free(b);
    return;
  }
  /* parameter offset of each layer */
  instrid_shape shapes[MN_N_LAYERS], in = {1, (uint32_t)h, (uint32_t)w};
  size_t off[MN_N_LAYERS + 1] = {0};
  instrid_arch_shapes(l, MN_N_LAYERS, in, shapes, NULL);
  for (int i = 0; i < MN_N_LAYERS; i++)
    off[i + 1] = off[i] + instrid_layer_param_count(&l[i], i ? shapes[i - 1] : in);
  const size_t np = train_net_n_params(a);
  float x[4 * 8 * 8], r[4 * 3], ya[4 * 3], yb[4 * 3], ye[4 * 3], dxa[4 * 8 * 8], dxb[4 * 8 * 8];
  for (int i = 0; i < n * h * w; i++)
    x[i] = uniform(&rng, -1.0f, 1.0f);
  for (int i = 0; i < n * C; i++)
    r[i] = uniform(&rng, -1.0f, 1.0f);

  /* p = 24: only the classifier DENSE after the prefix. */
  train_net_set_frozen_prefix(a, 24);
  float *before = malloc(sizeof(float) * np);
  memcpy(before, train_net_params(a), sizeof(float) * np);
  uint64_t d1 = 7, d2 = 7;
  train_net_forward(a, x, n, 1, &d1, ya);
  train_net_forward(a, x, n, 0, NULL, ye);
  train_net_forward(b, x, n, 1, &d2, yb);
  CHECK(memcmp(ya, ye, sizeof ya) == 0, "prefix 24: training-mode pass == eval-mode pass");
  CHECK(memcmp(yb, ye, sizeof yb) != 0, "a plain net's training-mode pass differs (batch norm)");
  CHECK(memcmp(before, train_net_params(a), sizeof(float) * np) == 0,
        "prefix 24: no running statistic moved");
  train_net_forward(a, x, n, 1, &d1, ya);
  train_net_zero_grad(a);
  train_net_backward(a, r, dxa);
  memcpy(train_net_params(b), before, sizeof(float) * np);
  train_net_forward(b, x, n, 0, NULL, yb);
  train_net_zero_grad(b);
  train_net_backward(b, r, dxb);
  const float *ga = train_net_grads(a), *gb = train_net_grads(b);
  CHECK(memcmp(ga + off[24], gb + off[24], sizeof(float) * (np - off[24])) == 0,
        "prefix 24: the classifier's gradients are the eval-mode backward's");
  CHECK(memcmp(dxa, dxb, sizeof dxa) == 0, "prefix 24: dx goes through the prefix in eval mode");

  /* p = 13 (after the residual block), no dx: the prefix gets no gradient and stays; batch norms
   * after it move their running statistics and get gradients. */
  train_net_set_frozen_prefix(a, 13);
  memcpy(train_net_params(a), before, sizeof(float) * np);
  train_net_forward(a, x, n, 1, &d1, ya);
  train_net_zero_grad(a);
  train_net_backward(a, r, NULL);
  const float *pa = train_net_params(a);
  int prefix_kept = memcmp(pa, before, sizeof(float) * off[13]) == 0, prefix_no_grad = 1;
  for (size_t j = 0; j < off[13]; j++)
    prefix_no_grad &= ga[j] == 0.0f;
  int later_stats_moved =
      memcmp(pa + off[14], before + off[14], sizeof(float) * (off[15] - off[14])) != 0;
  int later_grads = 0;
  for (size_t j = off[13]; j < np; j++)
    later_grads |= ga[j] != 0.0f;
  CHECK(prefix_kept && prefix_no_grad, "prefix 13: kept (%d), no gradient (%d)", prefix_kept,
        prefix_no_grad);
  CHECK(later_stats_moved && later_grads,
        "prefix 13: the batch norm after it moved (%d), later layers have gradients (%d)",
        later_stats_moved, later_grads);
  free(before);
  train_net_free(a);
  train_net_free(b);
}

/* The conv backward pass batches examples into one GEMM for small planes (here the grouped
 * second conv, 32x32: chunks of 4 and 2 of a batch of 6) and takes big planes (the first, 64x64)
 * one by one: the batch's gradients must equal the sum of single-example gradients. */
static void test_conv_chunks(void)
{
  const instrid_layer_desc l[] = {conv(2, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                  RELU,
                                  MAXPOOL(2, 2, 2, 2),
                                  conv(4, 3, 3, 1, 1, 1, 1, 1, 1, 2),
                                  GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MAX),
                                  DENSE(2)};
  const int n = 6, h = 64, w = 64;
  instrid_model_desc desc = make_desc(l, 6, h, w, 2);
  train_net *net = train_net_new(&desc, n, NULL);
  CHECK(net != NULL, "chunk net");
  if (!net)
    return;
  size_t np = train_net_n_params(net), n_in = (size_t)h * w;
  float *x = malloc(sizeof(float) * n * n_in), *dx = malloc(sizeof(float) * n * n_in);
  float *dx1 = malloc(sizeof(float) * n_in), *sum = calloc(np, sizeof(float));
  float r[6 * 2] = {0.3f, -1.0f, 0.7f, 0.2f, -0.5f, 0.9f, 0.1f, 0.4f, -0.8f, 0.6f, -0.2f, 1.0f};
  float logits[6 * 2];
  uint64_t rng = 21;
  for (size_t i = 0; i < n * n_in; i++)
    x[i] = uniform(&rng, -1.0f, 1.0f);
  train_net_zero_grad(net);
  train_net_forward(net, x, n, 1, &rng, logits);
  train_net_backward(net, r, dx);
  float *batch_grads = malloc(sizeof(float) * np);
  memcpy(batch_grads, train_net_grads(net), sizeof(float) * np);
  int bad_dx = 0, bad_dw = 0;
  for (int e = 0; e < n; e++) {
    train_net_zero_grad(net);
    train_net_forward(net, x + e * n_in, 1, 1, &rng, logits);
    train_net_backward(net, r + 2 * e, dx1);
    for (size_t i = 0; i < np; i++)
      sum[i] += train_net_grads(net)[i];
    for (size_t i = 0; i < n_in; i++)
      bad_dx += fabsf(dx1[i] - dx[e * n_in + i]) > 1e-5f;
  }
  for (size_t i = 0; i < np; i++)
    bad_dw += fabsf(sum[i] - batch_grads[i]) > 1e-4f * (0.01f + fabsf(sum[i]));
  CHECK(bad_dx == 0 && bad_dw == 0, "chunked conv backward: %d input, %d param mismatches", bad_dx,
        bad_dw);
  free(x);
  free(dx);
  free(dx1);
  free(sum);
  free(batch_grads);
  train_net_free(net);
}

/* The inference engine on a training network's current weights, written and loaded back as a
 * model file (batch norms folded, fused kernels, residuals remapped to the plan's steps). */
typedef struct {
  void *data;
  instrid_model *model;
  instrid_net *net;
} engine;

static int engine_open(const char *name, train_net *tn, engine *e)
{
  instrid_error err = {0};
  instrid_model_desc d;
  size_t size = 0;
  train_net_desc(tn, &d);
  memset(e, 0, sizeof *e);
  if (instrid_model_write_to_memory(&d, &e->data, &size, &err) != INSTRID_OK ||
      !(e->model = instrid_model_load_from_memory(e->data, size, &err)) ||
      !(e->net = instrid_net_new(e->model, &err))) {
    CHECK(0, "%s: model round trip: %s", name, err.message);
    return 0;
  }
  return 1;
}

static void engine_close(engine *e)
{
  instrid_net_free(e->net);
  instrid_model_free(e->model);
  free(e->data);
}

/* Eval-mode train_net_forward against instrid_net_forward of the model written and loaded
 * back: the weights the trainer saves are the weights the element runs. */
/* Eval-mode trainer against the inference engine on the same weights written and loaded as
 * a model file (batch norms folded, fused kernels, residuals remapped to the plan's steps). */
static void no_skew(const char *name, const instrid_layer_desc *l, int n_layers, int h, int w,
                    int c, int embedding_size)
{
  const int n = 4;
  instrid_model_desc desc = make_desc(l, n_layers, h, w, c);
  uint64_t rng = 99;
  train_net *net = perturbed_net(name, &desc, n, 3, &rng);
  if (!net)
    return;
  float x[4 * 16 * 20], logits[4 * 8], probs[8];
  for (int i = 0; i < n * h * w; i++)
    x[i] = uniform(&rng, -2.0f, 2.0f);
  /* A few training passes give the running statistics non-trivial values. */
  for (int k = 0; k < 3; k++)
    train_net_forward(net, x, n, 1, &rng, logits);
  train_net_forward(net, x, n, 0, NULL, logits);

  engine eng;
  if (engine_open(name, net, &eng)) {
    instrid_model *model = eng.model;
    instrid_net *inet = eng.net;
    double worst = 0.0;
    for (int e = 0; e < n; e++) {
      instrid_net_forward(inet, x + e * h * w, probs);
      for (int k = 0; k < c; k++) {
        double z = logits[e * c + k];
        double p = 1.0 / (1.0 + exp(-z));
        worst = fmax(worst, fabs(p - probs[k]));
      }
    }
    CHECK(worst < 1e-4, "%s: eval-mode trainer vs inference: max |dp| = %g", name, worst);
    /* And the probabilities are not all saturated (the check would be vacuous). */
    CHECK(probs[0] > 0.01f && probs[0] < 0.99f, "%s: saturated probability %g", name, probs[0]);
    CHECK(instrid_model_embedding_size(model) == (uint32_t)embedding_size,
          "%s: embedding size %u, expected %d", name, instrid_model_embedding_size(model),
          embedding_size);
    CHECK((instrid_net_embedding(inet) != NULL) == (embedding_size > 0),
          "%s: embedding pointer does not match the model", name);
  }
  engine_close(&eng);
  train_net_free(net);
}

static void test_no_skew(void)
{
  const instrid_layer_desc l[] = {
      conv(4, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      BN,
      RELU,
      MAXPOOL(2, 2, 2, 2),
      conv(8, 3, 3, 1, 1, 1, 2, 1, 2, 2),
      BN,
      RELU,
      GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT),
      DROPOUT(0.5f),
      DENSE(5),
      SIGMOID};
  no_skew("conv/bn/pool", l, 11, 16, 20, 5, 0);
  const instrid_layer_desc mn[] = MN_LAYERS(5);
  no_skew("mn", mn, MN_N_LAYERS, 16, 20, 5, 7);
  /* A batch norm whose input a residual adds stays a step of its own (not folded). */
  const instrid_layer_desc unfolded[] = {
      conv(3, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      BN,
      HSWISH,
      conv(3, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      BN,
      ADD(1),
      GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
      DENSE(4),
      SIGMOID};
  no_skew("residual over a batch norm", unfolded, 9, 16, 20, 4, 0);
}
/* The trainer's forward runs the element's kernels for the convolutions of the network's
 * channels-last front (the direct kernel with AVX2 / AVX-512): on a network without batch norm
 * (which the engine folds into the convolution, rounding differently) its eval-mode logits of one
 * window are the engine's output to the bit. In a batch the layers after the front (their
 * table entries, shared by both) multiply a batch at once where the engine takes one window:
 * the dense layer's sgemm then sums in another order, within 1e-6 of the largest logit. v1's blocks
 * (conv, ReLU, 2x2 max pool; 40 channels: two of the kernel's 32-channel blocks; widths that leave
 * partial tiles) and mn04's stem (3x3 stride 2, then hard-swish and channels-first layers). */
static void same_bits(const char *name, const instrid_layer_desc *l, int n_layers, int h, int w,
                      int c)
{
  enum { N = 3 };
  instrid_model_desc desc = make_desc(l, n_layers, h, w, c);
  uint64_t rng = 41;
  train_net *net = perturbed_net(name, &desc, N, 5, &rng);
  if (!net)
    return;
  const size_t n_in = (size_t)h * w;
  float *x = malloc(sizeof(float) * N * n_in);
  float logits[N * 8], batch_logits[N * 8], out[8];
  for (size_t i = 0; i < N * n_in; i++)
    x[i] = uniform(&rng, -2.0f, 2.0f);
  train_net_forward(net, x, N, 0, NULL, batch_logits);

  engine eng;
  if (engine_open(name, net, &eng)) {
    int differ = 0;
    double batched = 0.0, largest = 0.0;
    for (int e = 0; e < N; e++) {
      train_net_forward(net, x + e * n_in, 1, 0, NULL, logits + e * c);
      instrid_net_forward(eng.net, x + e * n_in, out);
      differ += memcmp(logits + e * c, out, sizeof(float) * c) != 0;
      for (int k = 0; k < c; k++) {
        batched = fmax(batched, fabs((double)batch_logits[e * c + k] - out[k]));
        largest = fmax(largest, fabs((double)out[k]));
      }
      if (differ && e == 0)
        fprintf(stderr, "%s: trainer %a, engine %a\n", name, (double)logits[0], (double)out[0]);
    }
    CHECK(differ == 0, "%s: %d of %d windows differ from the engine's output", name, differ, N);
    CHECK(batched <= 1e-6 * largest, "%s: in a batch, max |dlogit| %g (largest logit %g)", name,
          batched, largest);
    CHECK(fabsf(out[0]) > 1e-3f, "%s: output %g: the check would be vacuous", name, (double)out[0]);
  }
  engine_close(&eng);
  free(x);
  train_net_free(net);
}

static void test_same_front_kernels(void)
{
  const instrid_layer_desc v1[] = {conv(8, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                   RELU,
                                   MAXPOOL(2, 2, 2, 2),
                                   conv(40, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                                   RELU,
                                   DROPOUT(0.2f),
                                   MAXPOOL(2, 2, 2, 2),
                                   GPOOL(INSTRID_AXIS_FREQ, INSTRID_POOL_MEAN),
                                   GPOOL(INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT),
                                   DENSE(5)};
  same_bits("v1 blocks", v1, 10, 20, 30, 5);
  const instrid_layer_desc stem[] = {
      conv(8, 3, 3, 2, 2, 1, 1, 1, 1, 1),
      HSWISH,
      PW(12),
      HSWISH,
      DW(12, 3, 1),
      RELU,
      GPOOL(INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
      DENSE(4)};
  same_bits("mn04 stem", stem, 8, 17, 26, 4);
}

static void test_errors(void)
{
  const instrid_layer_desc l[] = {DENSE(3)};
  instrid_model_desc desc = make_desc(l, 1, 4, 4, 5); /* 3 outputs for 5 classes */
  instrid_error err = {0};
  CHECK(train_net_new(&desc, 2, &err) == NULL && err.code == INSTRID_ERR_FORMAT,
        "class count mismatch accepted (%d)", err.code);
  desc.n_classes = 3;
  CHECK(train_net_new(&desc, 0, &err) == NULL && err.code == INSTRID_ERR_INVALID_ARG,
        "max_batch 0 accepted");
  float params[3] = {0};
  desc.params = params;
  desc.n_params = 3;
  CHECK(train_net_new(&desc, 1, &err) == NULL && err.code == INSTRID_ERR_INVALID_ARG,
        "wrong n_params accepted");
  train_net_free(NULL);

  /* Initial weights from arch->params are used as given. */
  float init[4 * 4 * 3 + 3];
  for (int i = 0; i < 51; i++)
    init[i] = (float)i * 0.01f;
  desc.params = init;
  desc.n_params = 51;
  train_net *net = train_net_new(&desc, 1, &err);
  CHECK(net && train_net_n_params(net) == 51 && train_net_params(net)[50] == init[50],
        "initial params not copied");
  train_net_free(net);
}

int main(void)
{
  test_layer_gradients();
  test_batchnorm_running_stats();
  test_frozen_prefix();
  test_conv_chunks();
  test_no_skew();
  test_same_front_kernels();
  test_errors();
  return check_exit();
}
