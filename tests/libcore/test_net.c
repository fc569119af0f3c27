/* test_net.c — instrid_net_forward (folded, fused, channels-last) against a step-by-step
 * channels-first reference run from the unfolded description with the kernels of layers.h,
 * on the "tiny" and "reference" architectures and on hand-made ones that reach every path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "layers.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

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

  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
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
  free(x);
  free(y);
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
static void check_desc(const char *name, const instrid_model_desc *d0, int n_windows)
{
  for (int with_sigmoid = 0; with_sigmoid <= 1; with_sigmoid++) {
    instrid_model_desc d = *d0;
    if (!with_sigmoid && d.layers[d.n_layers - 1].type == INSTRID_LAYER_SIGMOID)
      d.n_layers--;
    instrid_model *m = load(&d);
    if (!m)
      return;
    instrid_error err = {0};
    instrid_net *net = instrid_net_new(m, &err);
    CHECK(net != NULL, "%s: net_new: %s", name, err.message);
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
      CHECK(worst <= 1e-4, "%s%s window %d: relative error %g", name,
            with_sigmoid ? "" : " (logits)", w, worst);
      /* A reference that outputs the same value everywhere would prove nothing. */
      CHECK(spread > 1e-3, "%s: degenerate outputs (spread %g)", name, spread);
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

static void test_arch(const char *name, int n_windows)
{
  instrid_model_desc d;
  instrid_arch *a = NULL;
  instrid_error err = {0};
  if (instrid_arch_build(name, 25, 7, &d, &a, &err) != INSTRID_OK) {
    CHECK(0, "arch %s: %s", name, err.message);
    return;
  }
  instrid_arch_randomize_batchnorm(a, 11);
  instrid_rng rng;
  instrid_rng_seed(&rng, 5);
  randomize_biases(&d, instrid_arch_params(a), &rng);
  check_desc(name, instrid_arch_desc(a), n_windows);
  instrid_arch_free(a);
}

/* Networks built by hand from a list of layers, with random parameters (BN variances
 * positive), on the tiny front end. */
static void test_layers_list(const char *name, const instrid_layer_desc *layers, uint32_t n,
                             uint32_t n_mels, uint32_t frames)
{
  instrid_model_desc d;
  instrid_arch *a = NULL;
  if (instrid_arch_build("tiny", 1, 1, &d, &a, NULL) != INSTRID_OK) {
    CHECK(0, "tiny");
    return;
  }
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
  instrid_arch_free(a);
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

int main(void)
{
  test_arch("tiny", 4);
  test_arch("reference", 1);
  test_hand_made();
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
