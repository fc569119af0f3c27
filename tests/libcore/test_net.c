/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_net.c — instrid_net_forward (folded, fused, channels-last) against a step-by-step
 * channels-first reference run from the unfolded description with the kernels of layers.h,
 * on the "tiny" and "reference" fixture networks (tests/testnet.h) and on hand-made ones that reach
 * every path, with every convolution kernel this CPU runs; and the direct convolution kernels alone
 * against a naive loop on awkward shapes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "testnet.h"
#include "check.h"
#include "conv_direct.h"
#include "layers.h"
#include "model_internal.h"
#include "net_internal.h"

/* Set by test_fused_activations: check_desc_kernel then also wants the net's outputs to be
 * the same bits as steps_forward's. */
static int exact_against_steps;

/* Runs desc's layers one by one, unfolded, channels-first. */
static void reference_forward(const instrid_model_desc *d, const float *features, float *out)
{
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_shape in = {1, d->frontend.n_mels, d->window_frames};
  if (instrid_arch_shapes(d->layers, d->n_layers, in, shapes, NULL) != INSTRID_OK) {
    CHECK(0, "reference: shapes");
    return;
  }
  size_t max_act = (size_t)in.c * in.h * in.w;
  for (uint32_t i = 0; i < d->n_layers; i++)
    if ((size_t)shapes[i].c * shapes[i].h * shapes[i].w > max_act)
      max_act = (size_t)shapes[i].c * shapes[i].h * shapes[i].w;
  float *x = calloc(max_act, sizeof(float)), *y = calloc(max_act, sizeof(float));
  memcpy(x, features, sizeof(float) * in.c * in.h * in.w);
  const float *param = d->params;
  float **inputs = calloc(d->n_layers, sizeof *inputs); /* each layer's input, for residuals */

  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    inputs[i] = malloc(sizeof(float) * (max_act ? max_act : 1));
    memcpy(inputs[i], x, sizeof(float) * in.c * in.h * in.w);
    const uint32_t *p = l->p;
    instrid_shape o = shapes[i];
    int swap = 1;
    switch (l->type) {
    case INSTRID_LAYER_CONV2D: {
      instrid_conv_geom g = {.n = 1,
                             .c_in = (int)in.c,
                             .h_in = (int)in.h,
                             .w_in = (int)in.w,
                             .c_out = (int)p[0],
                             .kh = (int)p[1],
                             .kw = (int)p[2],
                             .sh = (int)p[3],
                             .sw = (int)p[4],
                             .ph = (int)p[5],
                             .pw = (int)p[6],
                             .dh = (int)p[7],
                             .dw = (int)p[8],
                             .groups = (int)p[9]};
      instrid_conv_geom_init(&g);
      float *scratch = calloc(instrid_conv_scratch_floats(&g) + 1, sizeof(float));
      size_t nw = (size_t)g.c_out * (g.c_in / g.groups) * g.kh * g.kw;
      instrid_conv2d_forward(&g, x, param, param + nw, y, scratch);
      free(scratch);
      break;
    }
    case INSTRID_LAYER_BATCHNORM:
      instrid_batchnorm_inference(1, (int)in.c, (int)(in.h * in.w), param, param + in.c,
                                  param + 2 * in.c, param + 3 * in.c, l->f0, x);
      swap = 0;
      break;
    case INSTRID_LAYER_RELU:
      instrid_relu_forward(x, (size_t)in.c * in.h * in.w);
      swap = 0;
      break;
    case INSTRID_LAYER_SIGMOID:
      instrid_sigmoid_forward(x, (size_t)in.c * in.h * in.w);
      swap = 0;
      break;
    case INSTRID_LAYER_HARDSWISH:
      instrid_hardswish_forward(x, x, (size_t)in.c * in.h * in.w);
      swap = 0;
      break;
    case INSTRID_LAYER_RESIDUAL_ADD:
      instrid_add_forward(x, inputs[i - p[0]], x, (size_t)in.c * in.h * in.w);
      swap = 0;
      break;
    case INSTRID_LAYER_MAXPOOL:
    case INSTRID_LAYER_AVGPOOL:
      instrid_pool2d_forward(
          l->type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX : INSTRID_POOL_MEAN, 1, (int)in.c,
          (int)in.h, (int)in.w, (int)p[0], (int)p[1], (int)p[2], (int)p[3], x, y, NULL);
      break;
    case INSTRID_LAYER_GLOBAL_POOL:
      instrid_global_pool_forward((int)p[0], (int)p[1], 1, (int)in.c, (int)in.h, (int)in.w, x, y,
                                  NULL);
      break;
    case INSTRID_LAYER_DENSE: {
      int n_in = (int)(in.c * in.h * in.w);
      instrid_dense_forward(1, n_in, (int)p[0], x, param, param + (size_t)n_in * p[0], y);
      break;
    }
    default: /* DROPOUT */
      swap = 0;
      break;
    }
    if (swap) {
      float *t = x;
      x = y;
      y = t;
    }
    param += instrid_layer_param_count(l, in);
    in = o;
  }
  memcpy(out, x, sizeof(float) * d->n_classes);
  for (uint32_t i = 0; i < d->n_layers; i++)
    free(inputs[i]);
  free(inputs);
  free(x);
  free(y);
}

/* The loaded model's own (folded) steps one at a time, channels-first, with their layer table
 * forwards: what instrid_net_forward computes where it fuses nothing. */
static void steps_forward(const instrid_model *m, const float *features, float *out)
{
  const size_t max = m->max_activation;
  size_t scratch_floats = 1;
  for (uint32_t i = 0; i < m->n_steps; i++) {
    const instrid_step *st = &m->steps[i];
    if (st->entry->scratch_floats) {
      size_t need = st->entry->scratch_floats(&st->params, st->in, st->out, 1, 0);
      scratch_floats = need > scratch_floats ? need : scratch_floats;
    }
  }
  float *scratch = calloc(scratch_floats, sizeof(float));
  float **in_of = calloc((size_t)m->n_steps + 1, sizeof *in_of);
  for (uint32_t i = 0; i <= m->n_steps; i++)
    in_of[i] = calloc(max, sizeof(float));
  memcpy(in_of[0], features, sizeof(float) * m->input.c * m->input.h * m->input.w);
  for (uint32_t i = 0; i < m->n_steps; i++) {
    const instrid_step *st = &m->steps[i];
    instrid_layer_fwd a = {
        .n = 1, .t = st->t, .x = in_of[i], .y = in_of[i + 1], .scratch = scratch};
    if (st->layer.type == INSTRID_LAYER_RESIDUAL_ADD)
      a.skip = in_of[st->skip_from];
    st->entry->forward(&st->params, st->in, st->out, &a);
  }
  memcpy(out, in_of[m->n_steps], sizeof(float) * m->desc.n_classes);
  for (uint32_t i = 0; i <= m->n_steps; i++)
    free(in_of[i]);
  free(in_of);
  free(scratch);
}

static instrid_model *load(const instrid_model_desc *d)
{
  void *data = NULL;
  size_t size = 0;
  instrid_error err = {0};
  if (instrid_model_write_to_memory(d, &data, &size, &err) != INSTRID_OK) {
    CHECK(0, "write: %s", err.message);
    return NULL;
  }
  instrid_model *m = instrid_model_load_from_memory(data, size, &err);
  CHECK(m != NULL, "load: %s", err.message);
  free(data);
  return m;
}

/* Makes every bias non-zero so that folding and the fused epilogue have work to do. */
static void randomize_biases(instrid_model_desc *d, float *params, instrid_rng *rng)
{
  instrid_shape in = {1, d->frontend.n_mels, d->window_frames};
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_arch_shapes(d->layers, d->n_layers, in, shapes, NULL);
  size_t at = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    size_t count = instrid_layer_param_count(l, in);
    if (l->type == INSTRID_LAYER_CONV2D || l->type == INSTRID_LAYER_DENSE)
      for (uint32_t k = 0; k < l->p[0]; k++)
        params[at + count - l->p[0] + k] = instrid_rng_uniform(rng) - 0.5f;
    at += count;
    in = shapes[i];
  }
}

/* Compares net and reference on a few random windows; with_sigmoid 0 drops the final
 * SIGMOID layer so that the logits themselves are compared, not their saturated images. */
static void check_desc_kernel(const char *name, const instrid_model_desc *d0, int n_windows,
                              int kernel)
{
  for (int with_sigmoid = 0; with_sigmoid <= 1; with_sigmoid++) {
    instrid_model_desc d = *d0;
    if (!with_sigmoid && d.layers[d.n_layers - 1].type == INSTRID_LAYER_SIGMOID)
      d.n_layers--;
    instrid_model *m = load(&d);
    if (!m)
      return;
    instrid_error err = {0};
    instrid_net *net = instrid_net_new_with_kernel(m, kernel, &err);
    CHECK(net != NULL, "%s: net_new (kernel %d): %s", name, kernel, err.message);
    if (!net) {
      instrid_model_free(m);
      return;
    }
    const size_t n_in = (size_t)d.frontend.n_mels * d.window_frames;
    float *features = malloc(sizeof(float) * n_in), *keep = malloc(sizeof(float) * n_in);
    float *got = malloc(sizeof(float) * d.n_classes), *want = malloc(sizeof(float) * d.n_classes);
    instrid_rng rng;
    instrid_rng_seed(&rng, 42);
    for (int w = 0; w < n_windows; w++) {
      for (size_t i = 0; i < n_in; i++)
        features[i] = 4.0f * instrid_rng_uniform(&rng) - 2.0f;
      memcpy(keep, features, sizeof(float) * n_in);
      instrid_net_forward(net, features, got);
      CHECK(memcmp(keep, features, sizeof(float) * n_in) == 0, "%s: input modified", name);
      reference_forward(&d, features, want);
      /* Relative to each value, or to a hundredth of the largest one for values near zero,
       * where float rounding in a different summation order is not relative to the value. */
      double worst = 0.0, spread = 0.0, largest = 0.0;
      for (uint32_t k = 0; k < d.n_classes; k++)
        largest = fmax(largest, fabs((double)want[k]));
      for (uint32_t k = 0; k < d.n_classes; k++) {
        double e = fabs((double)got[k] - want[k]) / fmax(fabs((double)want[k]), 1e-2 * largest);
        worst = e > worst || isnan(e) ? e : worst;
        spread = fmax(spread, fabs((double)want[k] - want[0]));
      }
      CHECK(worst <= 1e-4, "%s%s kernel %d window %d: relative error %g", name,
            with_sigmoid ? "" : " (logits)", kernel, w, worst);
      /* A reference that outputs the same value everywhere would prove nothing. */
      CHECK(spread > 1e-3, "%s: degenerate outputs (spread %g)", name, spread);
      if (exact_against_steps) {
        float *steps = malloc(sizeof(float) * d.n_classes);
        steps_forward(m, features, steps);
        CHECK(memcmp(steps, got, sizeof(float) * d.n_classes) == 0,
              "%s%s kernel %d window %d: not the bits of the unfused steps", name,
              with_sigmoid ? "" : " (logits)", kernel, w);
        free(steps);
      }
      /* Repeatable: the scratch carries nothing from one window to the next. */
      float *again = malloc(sizeof(float) * d.n_classes);
      instrid_net_forward(net, features, again);
      CHECK(memcmp(again, got, sizeof(float) * d.n_classes) == 0, "%s: not repeatable", name);
      free(again);
    }
    if (with_sigmoid) {
      double flops = instrid_net_flops(m);
      CHECK(flops > 0.0, "%s: flops %g", name, flops);
    }
    free(features), free(keep), free(got), free(want);
    instrid_net_free(net);
    instrid_model_free(m);
  }
}

/* check_desc_kernel with the gemm path and each direct kernel this CPU runs. */
static void check_desc(const char *name, const instrid_model_desc *d, int n_windows)
{
  const int kernels[] = {INSTRID_DIRECT_NONE, INSTRID_DIRECT_AVX2, INSTRID_DIRECT_AVX512};
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (kernels[i] == INSTRID_DIRECT_NONE || instrid_conv_direct_isa_usable(kernels[i]))
      check_desc_kernel(name, d, n_windows, kernels[i]);
}

static void test_arch(const char *name, int n_windows)
{
  testnet *a = testnet_build(name, 25, 7);
  if (!a) {
    CHECK(0, "testnet %s", name);
    return;
  }
  instrid_model_desc d = *testnet_desc(a);
  testnet_randomize_batchnorm(a, 11);
  instrid_rng rng;
  instrid_rng_seed(&rng, 5);
  randomize_biases(&d, testnet_params(a), &rng);
  check_desc(name, testnet_desc(a), n_windows);
  testnet_free(a);
}

/* Networks built by hand from a list of layers, with random parameters (BN variances
 * positive), on the tiny front end. */
static void test_layers_list(const char *name, const instrid_layer_desc *layers, uint32_t n,
                             uint32_t n_mels, uint32_t frames)
{
  testnet *a = testnet_build("tiny", 1, 1);
  if (!a) {
    CHECK(0, "tiny");
    return;
  }
  instrid_model_desc d = *testnet_desc(a);
  d.frontend.n_mels = n_mels;
  d.window_frames = frames;
  d.hop_frames = 1;
  d.layers = layers;
  d.n_layers = n;
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_error err = {0};
  instrid_shape in = {1, n_mels, frames};
  CHECK(instrid_arch_shapes(layers, n, in, shapes, &err) == INSTRID_OK, "%s: %s", name,
        err.message);
  const instrid_shape last = shapes[n - 1];
  d.n_classes = last.c * last.h * last.w;
  char(*names)[16] = calloc(d.n_classes, sizeof *names);
  const char **name_ptrs = calloc(d.n_classes, sizeof *name_ptrs);
  float *thresholds = calloc(d.n_classes, sizeof(float));
  for (uint32_t k = 0; k < d.n_classes; k++) {
    snprintf(names[k], sizeof names[k], "c%u", k);
    name_ptrs[k] = names[k];
    thresholds[k] = 0.5f;
  }
  d.class_names = name_ptrs;
  d.thresholds = thresholds;
  size_t n_params = 0;
  CHECK(instrid_model_desc_param_count(&d, &n_params, &err) == INSTRID_OK, "%s: %s", name,
        err.message);
  float *params = malloc(sizeof(float) * (n_params + 1));
  instrid_rng rng;
  instrid_rng_seed(&rng, 3);
  for (size_t i = 0; i < n_params; i++)
    params[i] = instrid_rng_uniform(&rng) - 0.5f;
  /* BN running variances (the fourth tensor of a BN layer) must be positive. */
  size_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t count = instrid_layer_param_count(&layers[i], in);
    if (layers[i].type == INSTRID_LAYER_BATCHNORM)
      for (uint32_t c = 0; c < in.c; c++)
        params[at + 3 * in.c + c] += 1.0f;
    at += count;
    in = shapes[i];
  }
  d.params = params;
  d.n_params = n_params;
  check_desc(name, &d, 2);
  free(params), free(names), free(name_ptrs), free(thresholds);
  testnet_free(a);
}

#define CONV(c, kh, kw, sh, sw, ph, pw, dh, dw, g)                                                 \
  {                                                                                                \
    INSTRID_LAYER_CONV2D, {c, kh, kw, sh, sw, ph, pw, dh, dw, g}, 0.0f                             \
  }
#define LAYER(t, ...)                                                                              \
  {                                                                                                \
    t, {__VA_ARGS__}, 0.0f                                                                         \
  }

static void test_hand_made(void)
{
  /* Standalone BN first; overlapping max pool (not fused); ReLU after the pool; pointwise
   * convs with groups, small K and large K; fused avg pool with a floor; then channels-first: a
   * conv after a global pool, BN that cannot fold, dense. */
  const instrid_layer_desc a[] = {
      {INSTRID_LAYER_BATCHNORM, {0}, 1e-3f},
      CONV(6, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      LAYER(INSTRID_LAYER_MAXPOOL, 3, 3, 2, 2),
      LAYER(INSTRID_LAYER_RELU, 0),
      CONV(8, 1, 1, 1, 1, 0, 0, 1, 1, 2),
      CONV(20, 1, 1, 1, 1, 0, 0, 1, 1, 1), /* pointwise, K = 8: the small-K loop */
      CONV(6, 1, 1, 1, 1, 0, 0, 1, 1, 1),  /* pointwise, K = 20: sgemm straight on the input */
      LAYER(INSTRID_LAYER_RELU, 0),
      LAYER(INSTRID_LAYER_AVGPOOL, 2, 2, 2, 2),
      {INSTRID_LAYER_DROPOUT, {0}, 0.5f},
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_PLUS_MAX),
      CONV(4, 2, 1, 1, 1, 1, 0, 1, 1, 2),
      LAYER(INSTRID_LAYER_RELU, 0),
      {INSTRID_LAYER_BATCHNORM, {0}, 1e-5f},
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME,
            INSTRID_POOL_MEAN_MAX_CONCAT),
      LAYER(INSTRID_LAYER_DENSE, 5),
  };
  test_layers_list("hand-made A", a, sizeof a / sizeof a[0], 23, 19);

  /* Channels-last to the very end: the output is handed over channels-first. Includes a
   * depthwise strided conv and a fused max pool over a width that does not divide. */
  const instrid_layer_desc b[] = {
      CONV(4, 3, 3, 1, 1, 1, 1, 1, 1, 1), LAYER(INSTRID_LAYER_RELU, 0),
      CONV(4, 3, 3, 2, 2, 1, 1, 1, 1, 4), LAYER(INSTRID_LAYER_MAXPOOL, 2, 3, 2, 3),
      CONV(3, 3, 3, 1, 1, 2, 2, 2, 2, 1),
  };
  test_layers_list("hand-made B", b, sizeof b / sizeof b[0], 17, 26);

  /* A first conv so wide that the tile is one row, and a dense straight off a conv output. */
  const instrid_layer_desc c[] = {
      CONV(5, 5, 3, 1, 1, 2, 1, 1, 1, 1), {INSTRID_LAYER_BATCHNORM, {0}, 1e-5f},
      LAYER(INSTRID_LAYER_RELU, 0),       LAYER(INSTRID_LAYER_MAXPOOL, 2, 2, 2, 2),
      LAYER(INSTRID_LAYER_DENSE, 7),      LAYER(INSTRID_LAYER_SIGMOID, 0),
  };
  test_layers_list("hand-made C", c, sizeof c / sizeof c[0], 9, 600);

  /* The small-K loop with 16-channel vectors plus a scalar remainder, ReLU and a fused average
   * pool; then the same without ReLU into a fused max pool. */
  const instrid_layer_desc e[] = {
      CONV(20, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      LAYER(INSTRID_LAYER_RELU, 0),
      LAYER(INSTRID_LAYER_AVGPOOL, 2, 2, 2, 2),
      CONV(3, 1, 1, 1, 1, 0, 0, 1, 1, 1),
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ, INSTRID_POOL_MAX),
      LAYER(INSTRID_LAYER_DENSE, 4),
  };
  test_layers_list("hand-made D", e, sizeof e / sizeof e[0], 12, 14);
  const instrid_layer_desc f[] = {
      CONV(33, 2, 3, 1, 1, 1, 1, 1, 1, 1),
      LAYER(INSTRID_LAYER_MAXPOOL, 3, 2, 3, 2),
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
  };
  test_layers_list("hand-made E", f, sizeof f / sizeof f[0], 11, 13);
}

/* Activations fused into the convolution before them (net.c): a ReLU or hard-swish after a
 * pointwise, a depthwise (stride 1 and 2), a grouped and a full 3x3 convolution, after a batch
 * norm folded into its convolution, and not where a residual adds the convolution's output.
 * The first layer is a hard-swish, so that the whole network runs channels-first and its
 * outputs must be the very bits of the unfused steps, besides matching the reference. */
static void test_fused_activations(void)
{
  const instrid_layer_desc a[] = {
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      CONV(8, 1, 1, 1, 1, 0, 0, 1, 1, 1), /* pointwise + hard-swish */
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      CONV(8, 3, 3, 2, 2, 1, 1, 1, 1, 8), /* depthwise, stride 2 + ReLU */
      LAYER(INSTRID_LAYER_RELU, 0),
      CONV(12, 1, 1, 1, 1, 0, 0, 1, 1, 1), /* pointwise, BN folded + ReLU */
      {INSTRID_LAYER_BATCHNORM, {0}, 1e-3f},
      LAYER(INSTRID_LAYER_RELU, 0),
      CONV(12, 3, 3, 1, 1, 1, 1, 1, 1, 12), /* depthwise, stride 1, dropout + hard-swish */
      {INSTRID_LAYER_DROPOUT, {0}, 0.5f},
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      CONV(12, 3, 3, 1, 1, 1, 1, 1, 1, 3), /* grouped 3x3 (im2col) + ReLU */
      LAYER(INSTRID_LAYER_RELU, 0),
      CONV(12, 3, 3, 1, 1, 1, 1, 1, 1, 1), /* full 3x3: its output is a residual's skip */
      LAYER(INSTRID_LAYER_RELU, 0),        /* so this ReLU stays a step */
      CONV(12, 1, 1, 1, 1, 0, 0, 1, 1, 1), /* pointwise, no activation */
      LAYER(INSTRID_LAYER_RESIDUAL_ADD, 2),
      CONV(6, 3, 3, 1, 1, 1, 1, 1, 1, 6), /* a residual's output into a grouped conv */
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
      LAYER(INSTRID_LAYER_DENSE, 5),
  };
  exact_against_steps = 1;
  test_layers_list("fused activations", a, sizeof a / sizeof a[0], 14, 37);
  exact_against_steps = 0;

  /* A hard-swish that ends the channels-last front is applied as the layout changes (mn04's
   * first layers); not when a residual adds its input. */
  const instrid_layer_desc b[] = {
      CONV(8, 3, 3, 2, 2, 1, 1, 1, 1, 1),
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      CONV(8, 1, 1, 1, 1, 0, 0, 1, 1, 1),
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
      LAYER(INSTRID_LAYER_DENSE, 5),
  };
  test_layers_list("hard-swish at the layout change", b, sizeof b / sizeof b[0], 21, 35);
  const instrid_layer_desc c[] = {
      CONV(8, 3, 3, 1, 1, 1, 1, 1, 1, 1),
      LAYER(INSTRID_LAYER_HARDSWISH, 0),
      CONV(8, 1, 1, 1, 1, 0, 0, 1, 1, 1),
      LAYER(INSTRID_LAYER_RESIDUAL_ADD, 2), /* adds the hard-swish's input */
      LAYER(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN),
      LAYER(INSTRID_LAYER_DENSE, 5),
  };
  test_layers_list("hard-swish whose input a residual adds", c, sizeof c / sizeof c[0], 13, 22);
}

/* y (h_out, w_out, c_out) channels-last: the definition, summed in double. */
static void naive_conv_hwc(const instrid_conv_geom *g, const float *x, const float *weight,
                           const float *bias, float *y)
{
  for (int oh = 0; oh < g->h_out; oh++)
    for (int ow = 0; ow < g->w_out; ow++)
      for (int o = 0; o < g->c_out; o++) {
        double sum = bias[o];
        for (int i = 0; i < g->kh; i++)
          for (int j = 0; j < g->kw; j++) {
            const int ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
            if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in)
              continue;
            for (int c = 0; c < g->c_in; c++)
              sum += (double)x[((size_t)ih * g->w_in + iw) * g->c_in + c] *
                     weight[(((size_t)o * g->c_in + c) * g->kh + i) * g->kw + j];
          }
        y[((size_t)oh * g->w_out + ow) * g->c_out + o] = (float)sum;
      }
}

/* The direct kernels on their own, against naive_conv_hwc then ReLU and a 2x2 pool, on shapes
 * that leave partial tiles everywhere: channel counts around the 16- and 32-channel vectors
 * and blocks, odd widths and heights (a one-row last tile, pools that drop a row and a column),
 * strides, dilation, asymmetric padding, one input channel. Also checks that the output's
 * neighbours are not written and that two calls give the same bits. */
static void test_direct_kernels(void)
{
  static const struct {
    int c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw;
  } shapes[] = {
      {1, 9, 13, 32, 3, 3, 1, 1, 1, 1, 1, 1},  {3, 7, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1},
      {17, 6, 7, 17, 3, 3, 1, 1, 1, 1, 1, 1},  {5, 5, 15, 33, 3, 3, 1, 1, 1, 1, 1, 1},
      {16, 4, 9, 40, 1, 1, 1, 1, 0, 0, 1, 1},  {2, 11, 10, 31, 2, 3, 2, 1, 0, 2, 1, 1},
      {7, 13, 17, 16, 3, 3, 2, 3, 1, 1, 2, 2}, {4, 9, 9, 1, 5, 1, 1, 1, 2, 0, 1, 1},
      {9, 8, 25, 64, 3, 2, 1, 2, 1, 0, 1, 3},
  };
  const int kernels[] = {INSTRID_DIRECT_AVX2, INSTRID_DIRECT_AVX512};
  int ran = 0;
  instrid_rng rng;
  instrid_rng_seed(&rng, 17);
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    instrid_conv_geom g = {.n = 1,
                           .c_in = shapes[si].c_in,
                           .h_in = shapes[si].h,
                           .w_in = shapes[si].w,
                           .c_out = shapes[si].c_out,
                           .kh = shapes[si].kh,
                           .kw = shapes[si].kw,
                           .sh = shapes[si].sh,
                           .sw = shapes[si].sw,
                           .ph = shapes[si].ph,
                           .pw = shapes[si].pw,
                           .dh = shapes[si].dh,
                           .dw = shapes[si].dw,
                           .groups = 1};
    CHECK(instrid_conv_geom_init(&g), "direct shape %zu: geometry", si);
    const size_t n_x = (size_t)g.h_in * g.w_in * g.c_in;
    const size_t n_w = (size_t)g.c_out * g.c_in * g.kh * g.kw;
    const size_t n_y = (size_t)g.h_out * g.w_out * g.c_out;
    float *x = malloc(sizeof(float) * n_x), *weight = malloc(sizeof(float) * n_w);
    float *bias = malloc(sizeof(float) * g.c_out), *conv = malloc(sizeof(float) * n_y);
    float *want = malloc(sizeof(float) * n_y), *got = malloc(sizeof(float) * (n_y + 32));
    float *again = malloc(sizeof(float) * (n_y + 32));
    float *packed = malloc(sizeof(float) * instrid_conv_direct_packed_floats(&g) + 64);
    float *scratch = malloc(sizeof(float) * (instrid_conv_direct_scratch_floats(&g) + 1));
    /* The kernels load packed weights aligned, as net.c gives them. */
    float *packed_al = (float *)(((uintptr_t)packed + 63) & ~(uintptr_t)63);
    for (size_t i = 0; i < n_x; i++)
      x[i] = 2.0f * instrid_rng_uniform(&rng) - 1.0f;
    for (size_t i = 0; i < n_w; i++)
      weight[i] = instrid_rng_uniform(&rng) - 0.5f;
    for (int o = 0; o < g.c_out; o++)
      bias[o] = instrid_rng_uniform(&rng) - 0.5f;
    instrid_conv_direct_pack(&g, weight, bias, packed_al);
    naive_conv_hwc(&g, x, weight, bias, conv);

    for (int pool = -1; pool <= INSTRID_POOL_MAX; pool++) {
      if (pool >= 0 && !instrid_conv_direct_covers(&g, pool, 2, 2))
        continue;
      for (int relu = 0; relu <= 1; relu++) {
        const int h_y = pool >= 0 ? g.h_out / 2 : g.h_out, w_y = pool >= 0 ? g.w_out / 2 : g.w_out;
        const size_t n_out = (size_t)h_y * w_y * g.c_out;
        for (int oh = 0; oh < h_y; oh++)
          for (int ow = 0; ow < w_y; ow++)
            for (int o = 0; o < g.c_out; o++) {
              const int ph = pool >= 0 ? 2 : 1, pw = pool >= 0 ? 2 : 1;
              double acc = pool == INSTRID_POOL_MAX ? -INFINITY : 0.0;
              for (int i = 0; i < ph; i++)
                for (int j = 0; j < pw; j++) {
                  double v = conv[((size_t)(oh * ph + i) * g.w_out + ow * pw + j) * g.c_out + o];
                  v = relu && v < 0.0 ? 0.0 : v;
                  acc = pool == INSTRID_POOL_MAX ? fmax(acc, v) : acc + v;
                }
              want[((size_t)oh * w_y + ow) * g.c_out + o] =
                  (float)(pool == INSTRID_POOL_MEAN ? acc / 4.0 : acc);
            }
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
          if (!instrid_conv_direct_isa_usable(kernels[k]))
            continue;
          ran++;
          for (size_t i = 0; i < n_out + 32; i++)
            got[i] = 12345.0f;
          instrid_conv_direct_forward(kernels[k], &g, packed_al, relu, pool, x, got, scratch);
          double worst = 0.0;
          for (size_t i = 0; i < n_out; i++) {
            double e = fabs((double)got[i] - want[i]) / fmax(fabs((double)want[i]), 1.0);
            worst = e > worst || isnan(e) ? e : worst;
          }
          CHECK(worst <= 1e-5, "direct kernel %d shape %zu pool %d relu %d: error %g", kernels[k],
                si, pool, relu, worst);
          int untouched = 1;
          for (size_t i = n_out; i < n_out + 32; i++)
            untouched &= got[i] == 12345.0f;
          CHECK(untouched, "direct kernel %d shape %zu: wrote past its output", kernels[k], si);
          memcpy(again, got, sizeof(float) * n_out);
          instrid_conv_direct_forward(kernels[k], &g, packed_al, relu, pool, x, got, scratch);
          CHECK(memcmp(again, got, sizeof(float) * n_out) == 0,
                "direct kernel %d shape %zu: not repeatable", kernels[k], si);
        }
      }
    }
    free(x), free(weight), free(bias), free(conv), free(want), free(got), free(again);
    free(packed), free(scratch);
  }
  /* Groups and other pools stay on the gemm path. */
  instrid_conv_geom grouped = {.n = 1,
                               .c_in = 4,
                               .h_in = 5,
                               .w_in = 5,
                               .c_out = 4,
                               .kh = 3,
                               .kw = 3,
                               .sh = 1,
                               .sw = 1,
                               .ph = 1,
                               .pw = 1,
                               .dh = 1,
                               .dw = 1,
                               .groups = 2};
  instrid_conv_geom_init(&grouped);
  CHECK(!instrid_conv_direct_covers(&grouped, -1, 0, 0), "grouped conv taken by the direct path");
  grouped.groups = 1;
  CHECK(instrid_conv_direct_covers(&grouped, -1, 0, 0), "plain conv refused");
  CHECK(!instrid_conv_direct_covers(&grouped, INSTRID_POOL_MAX, 3, 3), "3x3 pool fused");
  /* On x86-64 every CPU since 2013 runs the AVX2 kernel; elsewhere nothing ran, say so. */
  if (instrid_conv_direct_best_isa() == INSTRID_DIRECT_NONE)
    fprintf(stderr, "note: no direct convolution kernel for this CPU; only the gemm path tested\n");
  else
    CHECK(ran > 0, "no direct kernel ran");
}

int main(void)
{
  test_direct_kernels();
  test_arch("tiny", 4);
  test_arch("reference", 1);
  test_hand_made();
  test_fused_activations();
  return check_exit();
}
