/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_layers.c — every kernel of layers.h against a naive loop implementation written from
 * the definitions, on geometries that exercise stride, padding, dilation, groups and 1x1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_table.h"
#include "layers.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1), deterministic (xorshift64*). */
static float frand(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
  return (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
}

static float *rand_floats(size_t n)
{
  float *p = malloc(sizeof(float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    p[i] = frand();
  return p;
}

/* Largest |a - b| / (1 + |b|) over n values. */
static double max_rel_err(const float *a, const float *b, size_t n)
{
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
    if (!(e <= worst)) /* catches NaN too */
      worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

/* Direct convolution from the definition, in double. */
static void naive_conv(const instrid_conv_geom *g, const float *in, const float *w,
                       const float *bias, float *out)
{
  int cg_in = g->c_in / g->groups, cg_out = g->c_out / g->groups;
  for (int e = 0; e < g->n; e++)
    for (int co = 0; co < g->c_out; co++) {
      int grp = co / cg_out;
      for (int oh = 0; oh < g->h_out; oh++)
        for (int ow = 0; ow < g->w_out; ow++) {
          double acc = bias ? bias[co] : 0.0;
          for (int ci = 0; ci < cg_in; ci++)
            for (int i = 0; i < g->kh; i++)
              for (int j = 0; j < g->kw; j++) {
                int ih = oh * g->sh - g->ph + i * g->dh;
                int iw = ow * g->sw - g->pw + j * g->dw;
                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in)
                  continue;
                int c = grp * cg_in + ci;
                acc += (double)in[((size_t)(e * g->c_in + c) * g->h_in + ih) * g->w_in + iw] *
                       w[((size_t)(co * cg_in + ci) * g->kh + i) * g->kw + j];
              }
          out[((size_t)(e * g->c_out + co) * g->h_out + oh) * g->w_out + ow] = (float)acc;
        }
    }
}

typedef struct {
  const char *name;
  int n, c_in, h_in, w_in, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
  int h_out, w_out; /* expected, from the output-size formula worked by hand */
} conv_case;

static const conv_case conv_cases[] = {
    {"3x3 same", 2, 1, 16, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, 20},
    {"3x3 stride 2", 1, 4, 17, 12, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 9, 6},
    {"stride (2,1) 5x3 asym pad", 1, 3, 15, 11, 5, 5, 3, 2, 1, 2, 0, 1, 1, 1, 1, 8, 9},
    {"dilation 2", 1, 3, 14, 13, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 14, 13},
    {"dilation 2 no pad", 2, 2, 12, 10, 3, 3, 3, 1, 1, 0, 0, 2, 2, 1, 0, 8, 6},
    {"groups 2", 1, 4, 10, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 10, 9},
    {"depthwise", 2, 5, 9, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1, 9, 8},
    {"depthwise x2 stride 2", 1, 4, 9, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1, 5, 4},
    {"1x1 pointwise", 2, 7, 6, 5, 9, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 6, 5},
    {"1x1 pointwise groups", 1, 8, 4, 6, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0, 4, 6},
    {"1x1 stride 2", 1, 3, 7, 6, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, 4, 3},
    {"1x1 padded", 1, 2, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5},
    {"kernel wider than input + pad", 1, 2, 4, 3, 3, 3, 5, 1, 1, 1, 2, 1, 1, 1, 1, 4, 3},
    /* K = 144: gemm tiles of 227 pixels that end mid-row */
    {"tiled, tiles end mid-row", 2, 16, 20, 23, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 20, 23},
    {"tiled, stride 2 dilation 2", 1, 32, 31, 29, 4, 3, 3, 2, 2, 2, 1, 2, 2, 2, 1, 16, 14},
};

static void test_conv(void)
{
  for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
    const conv_case *k = &conv_cases[t];
    instrid_conv_geom g = {.n = k->n,
                           .c_in = k->c_in,
                           .h_in = k->h_in,
                           .w_in = k->w_in,
                           .c_out = k->c_out,
                           .kh = k->kh,
                           .kw = k->kw,
                           .sh = k->sh,
                           .sw = k->sw,
                           .ph = k->ph,
                           .pw = k->pw,
                           .dh = k->dh,
                           .dw = k->dw,
                           .groups = k->groups};
    CHECK(instrid_conv_geom_init(&g), "%s: geometry rejected", k->name);
    CHECK(g.h_out == k->h_out && g.w_out == k->w_out, "%s: out %dx%d, expected %dx%d", k->name,
          g.h_out, g.w_out, k->h_out, k->w_out);
    size_t n_in = (size_t)g.n * g.c_in * g.h_in * g.w_in;
    size_t n_w = (size_t)g.c_out * (g.c_in / g.groups) * g.kh * g.kw;
    size_t n_out = (size_t)g.n * g.c_out * g.h_out * g.w_out;
    float *in = rand_floats(n_in), *w = rand_floats(n_w), *b = rand_floats(g.c_out);
    float *out = malloc(sizeof(float) * n_out), *ref = malloc(sizeof(float) * n_out);
    size_t ns = instrid_conv_scratch_floats(&g);
    CHECK(ns == (size_t)(g.c_in / g.groups) * g.kh * g.kw * g.h_out * g.w_out, "%s: scratch %zu",
          k->name, ns);
    float *scratch = rand_floats(ns); /* garbage in the scratch must not matter */
    for (size_t i = 0; i < n_out; i++)
      out[i] = NAN; /* every output must be written */
    instrid_conv2d_forward(&g, in, w, k->bias ? b : NULL, out, scratch);
    naive_conv(&g, in, w, k->bias ? b : NULL, ref);
    double e = max_rel_err(out, ref, n_out);
    CHECK(e < 1e-5, "%s: max relative error %g", k->name, e);
    free(in), free(w), free(b), free(out), free(ref), free(scratch);
  }

  /* Invalid geometries. */
  instrid_conv_geom bad = {.n = 1,
                           .c_in = 3,
                           .h_in = 8,
                           .w_in = 8,
                           .c_out = 4,
                           .kh = 3,
                           .kw = 3,
                           .sh = 1,
                           .sw = 1,
                           .dh = 1,
                           .dw = 1,
                           .groups = 2};
  CHECK(!instrid_conv_geom_init(&bad), "groups 2 with c_in 3 accepted");
  bad.groups = 1;
  bad.kh = 9;
  CHECK(!instrid_conv_geom_init(&bad), "kernel taller than the input accepted");
  bad.kh = 3;
  bad.sw = 0;
  CHECK(!instrid_conv_geom_init(&bad), "stride 0 accepted");
  bad.sw = 1;
  bad.dh = 5;
  CHECK(!instrid_conv_geom_init(&bad), "dilated extent 11 > 8 accepted");
}

/* pointwise.c's order of operations, one output at a time: the sum over c_in from zero by
 * fmaf, then the bias, then the activation. */
static void ordered_pointwise(int c_out, int c_in, size_t hw, const float *w, const float *bias,
                              instrid_act act, const float *in, float *out)
{
  for (int co = 0; co < c_out; co++)
    for (size_t q = 0; q < hw; q++) {
      float v = 0.0f;
      for (int ci = 0; ci < c_in; ci++)
        v = fmaf(w[(size_t)co * c_in + ci], in[(size_t)ci * hw + q], v);
      if (bias)
        v = v + bias[co];
      if (act == INSTRID_ACT_RELU)
        instrid_relu_forward(&v, 1);
      else if (act == INSTRID_ACT_HARDSWISH)
        instrid_hardswish_forward(&v, &v, 1);
      out[(size_t)co * hw + q] = v;
    }
}

/* The 1x1 convolution (pointwise.c) on every path of its AVX-512 tiling (planes narrower than
 * a vector, narrower than a strip of 48 columns, exactly one strip, a last strip overlapping
 * the one before; output channels past the last tile of 4 and of 8), each activation, with and
 * without a bias: against the naive loop, nothing written past the output, and where the
 * kernel runs, against its own order of operations bit for bit. */
static void test_pointwise(void)
{
  static const struct {
    int c_out, c_in, h, w;
  } cases[] = {
      {5, 3, 1, 7},    /* hw 7: narrower than a vector */
      {9, 1, 2, 8},    /* hw 16: one vector */
      {13, 17, 5, 8},  /* hw 40: vectors, the last overlapping (mn04's 4 x 10) */
      {8, 8, 4, 12},   /* hw 48: one strip exactly */
      {11, 24, 7, 7},  /* hw 49: a strip and an overlapping one */
      {24, 8, 8, 20},  /* hw 160: strips, c_out a multiple of 4 */
      {6, 48, 3, 45},  /* hw 135 */
      {1, 384, 2, 20}, /* c_out 1, a long sum */
  };
  const int kernel = instrid_pointwise_usable();
  printf("pointwise: %s\n", kernel ? "the AVX-512 kernel, checked exactly" : "OpenBLAS sgemm");
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    const int c_out = cases[t].c_out, c_in = cases[t].c_in;
    const size_t hw = (size_t)cases[t].h * cases[t].w, n_out = (size_t)c_out * hw;
    const size_t guard = 64;
    float *in = rand_floats((size_t)c_in * hw), *w = rand_floats((size_t)c_out * c_in);
    float *b = rand_floats((size_t)c_out), *ref = malloc(sizeof(float) * n_out);
    float *out = malloc(sizeof(float) * (n_out + guard));
    for (size_t i = 0; i < (size_t)c_in * hw; i++)
      in[i] *= 3.0f; /* both flat parts of hard-swish */
    instrid_conv_geom g = {.n = 1,
                           .c_in = c_in,
                           .h_in = cases[t].h,
                           .w_in = cases[t].w,
                           .c_out = c_out,
                           .kh = 1,
                           .kw = 1,
                           .sh = 1,
                           .sw = 1,
                           .dh = 1,
                           .dw = 1,
                           .groups = 1};
    CHECK(instrid_conv_geom_init(&g), "pointwise case %zu: geometry rejected", t);
    for (int act = INSTRID_ACT_NONE; act <= INSTRID_ACT_HARDSWISH; act++)
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bias = with_bias ? b : NULL;
        for (size_t i = 0; i < n_out + guard; i++)
          out[i] = NAN;
        instrid_pointwise_forward(c_out, c_in, hw, w, bias, (instrid_act)act, in, out);
        naive_conv(&g, in, w, bias, ref);
        if (act == INSTRID_ACT_RELU)
          instrid_relu_forward(ref, n_out);
        else if (act == INSTRID_ACT_HARDSWISH)
          instrid_hardswish_forward(ref, ref, n_out);
        const double e = max_rel_err(out, ref, n_out);
        CHECK(e < 1e-5, "pointwise %dx%d over %zu, act %d, bias %d: max relative error %g", c_out,
              c_in, hw, act, with_bias, e);
        size_t written = 0;
        for (size_t i = n_out; i < n_out + guard; i++)
          written += !isnan(out[i]);
        CHECK(written == 0, "pointwise %dx%d over %zu: %zu floats written past the output", c_out,
              c_in, hw, written);
        if (!kernel)
          continue;
        ordered_pointwise(c_out, c_in, hw, w, bias, (instrid_act)act, in, ref);
        size_t differ = 0;
        for (size_t i = 0; i < n_out; i++)
          differ += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
        CHECK(differ == 0, "pointwise %dx%d over %zu, act %d, bias %d: %zu of %zu outputs differ",
              c_out, c_in, hw, act, with_bias, differ, n_out);
      }
    /* The convolution entry, which the network and the trainer take, runs exactly this. */
    float *scratch = rand_floats(instrid_conv_scratch_floats(&g) + 1);
    instrid_conv2d_forward_act(&g, in, w, b, INSTRID_ACT_HARDSWISH, out, scratch);
    instrid_pointwise_forward(c_out, c_in, hw, w, b, INSTRID_ACT_HARDSWISH, in, ref);
    CHECK(memcmp(out, ref, sizeof(float) * n_out) == 0,
          "pointwise case %zu: conv2d does not give instrid_pointwise_forward's bits", t);
    free(in), free(w), free(b), free(ref), free(out), free(scratch);
  }
}

/* col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)> for all x, y. The
 * trainer's input gradient relies on exactly this. */
static void test_col2im_adjoint(void)
{
  instrid_conv_geom g = {.n = 1,
                         .c_in = 4,
                         .h_in = 9,
                         .w_in = 11,
                         .c_out = 2,
                         .kh = 3,
                         .kw = 2,
                         .sh = 2,
                         .sw = 3,
                         .ph = 2,
                         .pw = 1,
                         .dh = 2,
                         .dw = 1,
                         .groups = 2};
  CHECK(instrid_conv_geom_init(&g), "adjoint geometry rejected");
  size_t n_in = (size_t)(g.c_in / g.groups) * g.h_in * g.w_in;
  size_t n_col = instrid_conv_scratch_floats(&g);
  float *x = rand_floats(n_in), *y = rand_floats(n_col);
  float *col = malloc(sizeof(float) * n_col), *back = calloc(n_in, sizeof(float));
  instrid_im2col(&g, x, col);
  instrid_col2im(&g, y, back);
  double lhs = 0.0, rhs = 0.0;
  for (size_t i = 0; i < n_col; i++)
    lhs += (double)col[i] * y[i];
  for (size_t i = 0; i < n_in; i++)
    rhs += (double)x[i] * back[i];
  CHECK(fabs(lhs - rhs) < 1e-4 * (1.0 + fabs(lhs)), "adjoint: %g vs %g", lhs, rhs);

  /* col2im accumulates: a second call doubles the result. */
  float *twice = malloc(sizeof(float) * n_in);
  memcpy(twice, back, sizeof(float) * n_in);
  instrid_col2im(&g, y, twice);
  double e = 0.0;
  for (size_t i = 0; i < n_in; i++)
    e = fmax(e, fabs(twice[i] - 2.0f * back[i]));
  CHECK(e < 1e-6, "col2im does not accumulate (err %g)", e);
  free(x), free(y), free(col), free(back), free(twice);
}

static void test_pool(void)
{
  /* (h, w, kh, kw, sh, sw): divisible, floor-truncated, overlapping. */
  static const int cases[][6] = {
      {8, 6, 2, 2, 2, 2}, {9, 7, 2, 3, 2, 3}, {7, 7, 3, 3, 2, 2}, {5, 12, 5, 1, 1, 4}};
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    int h = cases[t][0], w = cases[t][1], kh = cases[t][2], kw = cases[t][3];
    int sh = cases[t][4], sw = cases[t][5], n = 2, c = 3;
    int ho = (h - kh) / sh + 1, wo = (w - kw) / sw + 1;
    size_t n_out = (size_t)n * c * ho * wo;
    float *in = rand_floats((size_t)n * c * h * w);
    float *mx = malloc(sizeof(float) * n_out), *av = malloc(sizeof(float) * n_out);
    int32_t *arg = malloc(sizeof(int32_t) * n_out);
    instrid_pool2d_forward(INSTRID_POOL_MAX, n, c, h, w, kh, kw, sh, sw, in, mx, arg);
    instrid_pool2d_forward(INSTRID_POOL_MEAN, n, c, h, w, kh, kw, sh, sw, in, av, NULL);
    int bad_max = 0, bad_arg = 0;
    double err_avg = 0.0;
    for (int p = 0; p < n * c; p++)
      for (int i = 0; i < ho; i++)
        for (int j = 0; j < wo; j++) {
          const float *plane = in + (size_t)p * h * w;
          float best = -INFINITY;
          double sum = 0.0;
          for (int a = 0; a < kh; a++)
            for (int b = 0; b < kw; b++) {
              float v = plane[(i * sh + a) * w + j * sw + b];
              best = v > best ? v : best;
              sum += v;
            }
          size_t o = ((size_t)p * ho + i) * wo + j;
          bad_max += mx[o] != best;
          bad_arg += arg[o] < 0 || arg[o] >= h * w || plane[arg[o]] != best ||
                     arg[o] / w < i * sh || arg[o] / w >= i * sh + kh;
          err_avg = fmax(err_avg, fabs(av[o] - sum / (kh * kw)));
        }
    CHECK(bad_max == 0, "pool case %zu: %d wrong maxima", t, bad_max);
    CHECK(bad_arg == 0, "pool case %zu: %d wrong argmax", t, bad_arg);
    CHECK(err_avg < 1e-6, "pool case %zu: average error %g", t, err_avg);
    free(in), free(mx), free(av), free(arg);
  }
}

static void test_global_pool(void)
{
  const int n = 2, c = 3, h = 5, w = 7;
  float *in = rand_floats((size_t)n * c * h * w);
  for (int axes = 1; axes <= 3; axes++) {
    int oh = (axes & INSTRID_AXIS_FREQ) ? 1 : h, ow = (axes & INSTRID_AXIS_TIME) ? 1 : w;
    size_t plane = (size_t)oh * ow;
    /* naive means and maxima, (N, C, oh, ow) */
    float *mean = malloc(sizeof(float) * n * c * plane),
          *mx = malloc(sizeof(float) * n * c * plane);
    for (int p = 0; p < n * c; p++)
      for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
          double s = 0.0;
          float best = -INFINITY;
          int cnt = 0;
          for (int f = 0; f < h; f++)
            for (int t = 0; t < w; t++) {
              if ((!(axes & INSTRID_AXIS_FREQ) && f != i) ||
                  (!(axes & INSTRID_AXIS_TIME) && t != j))
                continue;
              float v = in[((size_t)p * h + f) * w + t];
              s += v;
              best = v > best ? v : best;
              cnt++;
            }
          mean[(size_t)p * plane + i * ow + j] = (float)(s / cnt);
          mx[(size_t)p * plane + i * ow + j] = best;
        }
    for (int mode = 0; mode <= 3; mode++) {
      int c_out = mode == INSTRID_POOL_MEAN_MAX_CONCAT ? 2 * c : c;
      size_t n_out = (size_t)n * c_out * plane;
      float *out = malloc(sizeof(float) * n_out), *ref = malloc(sizeof(float) * n_out);
      int32_t *arg = malloc(sizeof(int32_t) * n * c * plane);
      for (int e = 0; e < n; e++)
        for (int ch = 0; ch < c; ch++)
          for (size_t k = 0; k < plane; k++) {
            size_t src = ((size_t)e * c + ch) * plane + k;
            switch (mode) {
            case INSTRID_POOL_MEAN:
              ref[src] = mean[src];
              break;
            case INSTRID_POOL_MAX:
              ref[src] = mx[src];
              break;
            case INSTRID_POOL_MEAN_PLUS_MAX:
              ref[src] = mean[src] + mx[src];
              break;
            default:
              ref[((size_t)e * 2 * c + ch) * plane + k] = mean[src];
              ref[((size_t)e * 2 * c + c + ch) * plane + k] = mx[src];
            }
          }
      instrid_global_pool_forward(axes, mode, n, c, h, w, in, out,
                                  mode == INSTRID_POOL_MEAN ? NULL : arg);
      double e = max_rel_err(out, ref, n_out);
      CHECK(e < 1e-6, "global pool axes %d mode %d: error %g", axes, mode, e);
      if (mode != INSTRID_POOL_MEAN) {
        int bad = 0;
        for (size_t k = 0; k < (size_t)n * c * plane; k++)
          bad += arg[k] < 0 || arg[k] >= h * w || in[(k / plane) * h * w + arg[k]] != mx[k];
        CHECK(bad == 0, "global pool axes %d mode %d: %d wrong argmax", axes, mode, bad);
      }
      free(out), free(ref), free(arg);
    }
    free(mean), free(mx);
  }
  free(in);
}

static void test_dense(void)
{
  const int in_f = 37, out_f = 11;
  for (int n = 1; n <= 3; n += 2) {
    float *x = rand_floats((size_t)n * in_f), *w = rand_floats((size_t)out_f * in_f);
    float *b = rand_floats(out_f), *y = malloc(sizeof(float) * n * out_f),
          *ref = malloc(sizeof(float) * n * out_f);
    for (int e = 0; e < n; e++)
      for (int o = 0; o < out_f; o++) {
        double acc = b[o];
        for (int i = 0; i < in_f; i++)
          acc += (double)x[e * in_f + i] * w[o * in_f + i];
        ref[e * out_f + o] = (float)acc;
      }
    for (int i = 0; i < n * out_f; i++)
      y[i] = NAN;
    instrid_dense_forward(n, in_f, out_f, x, w, b, y);
    double e = max_rel_err(y, ref, (size_t)n * out_f);
    CHECK(e < 1e-5, "dense n=%d: error %g", n, e);
    /* without bias */
    instrid_dense_forward(n, in_f, out_f, x, w, NULL, y);
    for (int k = 0; k < n * out_f; k++)
      ref[k] -= b[k % out_f];
    e = max_rel_err(y, ref, (size_t)n * out_f);
    CHECK(e < 1e-5, "dense n=%d no bias: error %g", n, e);
    free(x), free(w), free(b), free(y), free(ref);
  }
}

static void test_activations(void)
{
  float x[] = {-1000.0f, -100.0f, -20.0f, -1.5f, 0.0f, 0.25f, 3.0f, 50.0f, 1000.0f};
  const size_t n = sizeof x / sizeof x[0];
  float s[sizeof x / sizeof x[0]], r[sizeof x / sizeof x[0]];
  memcpy(s, x, sizeof x);
  memcpy(r, x, sizeof x);
  instrid_sigmoid_forward(s, n);
  instrid_relu_forward(r, n);
  for (size_t i = 0; i < n; i++) {
    double want = 1.0 / (1.0 + exp(-(double)x[i]));
    CHECK(isfinite(s[i]) && fabs(s[i] - want) <= 1e-6 * want + 1e-30, "sigmoid(%g) = %g, want %g",
          x[i], s[i], want);
    CHECK(r[i] == (x[i] > 0 ? x[i] : 0.0f), "relu(%g) = %g", x[i], r[i]);
  }
  CHECK(s[0] >= 0.0f && s[0] < 1e-30f && s[8] == 1.0f && s[4] == 0.5f, "sigmoid extremes");

  /* batch norm, (N=2, C=3, HW=4) against the formula in double */
  const int bn = 2, bc = 3, hw = 4;
  float gamma[] = {1.5f, -0.5f, 2.0f}, beta[] = {0.1f, 0.0f, -3.0f};
  float mean[] = {0.2f, -1.0f, 4.0f}, var[] = {0.5f, 2.0f, 0.01f};
  float *v = rand_floats((size_t)bn * bc * hw), *orig = malloc(sizeof(float) * bn * bc * hw);
  memcpy(orig, v, sizeof(float) * bn * bc * hw);
  instrid_batchnorm_inference(bn, bc, hw, gamma, beta, mean, var, 1e-3f, v);
  double e = 0.0;
  for (int i = 0; i < bn * bc * hw; i++) {
    int ch = (i / hw) % bc;
    double want = gamma[ch] * (orig[i] - mean[ch]) / sqrt(var[ch] + 1e-3) + beta[ch];
    e = fmax(e, fabs(v[i] - want) / (1.0 + fabs(want)));
  }
  CHECK(e < 1e-5, "batchnorm error %g", e);
  free(v), free(orig);
}

/* The depthwise kernel's own order of operations, in float: acc = bias, then for each tap row
 * inside the input and each tap column, acc += w * x with x = 0 in the padding; then act as
 * instrid_relu_forward / instrid_hardswish_forward. The kernel must give these very values
 * (== : a zero's sign may differ where the plain loop skips a padded column). */
static void ordered_depthwise(const instrid_conv_geom *g, const float *in, const float *weight,
                              const float *bias, instrid_act act, float *out)
{
  for (int e = 0; e < g->n; e++)
    for (int c = 0; c < g->c_out; c++) {
      const float *x = in + ((size_t)e * g->c_in + c) * g->h_in * g->w_in;
      const float *w = weight + (size_t)c * g->kh * g->kw;
      float *y = out + ((size_t)e * g->c_out + c) * g->h_out * g->w_out;
      for (int oh = 0; oh < g->h_out; oh++)
        for (int ow = 0; ow < g->w_out; ow++) {
          float acc = bias[c];
          for (int i = 0; i < g->kh; i++) {
            const int ih = oh * g->sh - g->ph + i * g->dh;
            if (ih < 0 || ih >= g->h_in)
              continue;
            for (int j = 0; j < g->kw; j++) {
              const int iw = ow * g->sw - g->pw + j * g->dw;
              const float v = iw >= 0 && iw < g->w_in ? x[(size_t)ih * g->w_in + iw] : 0.0f;
              acc += w[i * g->kw + j] * v;
            }
          }
          if (act == INSTRID_ACT_RELU)
            instrid_relu_forward(&acc, 1);
          else if (act == INSTRID_ACT_HARDSWISH)
            instrid_hardswish_forward(&acc, &acc, 1);
          y[(size_t)oh * g->w_out + ow] = acc;
        }
    }
}

/* The depthwise kernel (depthwise.c) against the naive loop, every stride path (1, 2 and the
 * generic one), odd and even widths, dilation, and the layer table's CONV2D entry choosing it;
 * and, with each fused activation, against its own order of operations exactly (the unrolled
 * 3x3 and 5x5 paths on mn04's plane shapes too). */
static void test_depthwise(void)
{
  /* The widths: 4 everywhere, 8 and 16 where the CPU has AVX2 / AVX-512; the best one is one
   * of them, and nothing else is usable. */
  const int best = instrid_depthwise_best_width();
  CHECK((best == 4 || best == 8 || best == 16) && instrid_depthwise_width_usable(4) &&
            instrid_depthwise_width_usable(best) && !instrid_depthwise_width_usable(2 * best) &&
            !instrid_depthwise_width_usable(0) && !instrid_depthwise_width_usable(12),
        "depthwise widths: best %d", best);
  static const int cases[][10] = {
      /* n, c, h, w, k, stride, pad, dilation, kh (0: k), sh (0: stride) */
      {2, 5, 9, 8, 3, 1, 1, 1, 0, 0},   {1, 4, 9, 8, 3, 2, 1, 1, 0, 0},
      {1, 3, 11, 13, 5, 1, 2, 1, 0, 0}, {1, 3, 11, 13, 5, 2, 2, 1, 0, 0},
      {1, 6, 10, 7, 3, 2, 1, 2, 0, 0},  {1, 2, 8, 9, 3, 3, 1, 1, 0, 0},
      {1, 3, 64, 50, 3, 2, 1, 1, 5, 1}, {2, 16, 32, 100, 5, 1, 2, 1, 0, 2},
      {1, 7, 4, 10, 3, 1, 1, 1, 0, 0},  {1, 5, 8, 20, 3, 2, 1, 1, 0, 0},
      {1, 3, 16, 40, 3, 1, 1, 1, 0, 0}, {2, 3, 7, 33, 3, 2, 1, 1, 0, 0},
      {1, 2, 1, 1, 3, 1, 1, 1, 0, 0},   {1, 2, 5, 17, 3, 1, 0, 1, 0, 0},
      {1, 6, 4, 10, 5, 1, 2, 1, 0, 0},  {1, 5, 8, 20, 5, 2, 2, 1, 0, 0},
      {1, 3, 16, 40, 5, 1, 2, 1, 0, 0}, {1, 2, 3, 35, 5, 2, 1, 1, 0, 0},
  };
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    const int *k = cases[t];
    instrid_conv_geom g = {.n = k[0],
                           .c_in = k[1],
                           .h_in = k[2],
                           .w_in = k[3],
                           .c_out = k[1],
                           .kh = k[8] ? k[8] : k[4],
                           .kw = k[4],
                           .sh = k[9] ? k[9] : k[5],
                           .sw = k[5],
                           .ph = (k[8] ? k[8] : k[4]) / 2,
                           .pw = k[6],
                           .dh = 1,
                           .dw = k[7],
                           .groups = k[1]};
    CHECK(instrid_conv_geom_init(&g) && instrid_conv_is_depthwise(&g), "depthwise case %zu", t);
    size_t n_in = (size_t)g.n * g.c_in * g.h_in * g.w_in;
    size_t n_w = (size_t)g.c_out * g.kh * g.kw;
    size_t n_out = (size_t)g.n * g.c_out * g.h_out * g.w_out;
    float *in = rand_floats(n_in), *w = rand_floats(n_w), *b = rand_floats(g.c_out);
    float *out = malloc(sizeof(float) * n_out), *ref = malloc(sizeof(float) * n_out);
    float *scratch = rand_floats(instrid_depthwise_scratch_floats(&g));
    for (size_t i = 0; i < n_out; i++)
      out[i] = NAN;
    instrid_depthwise_forward(&g, in, w, b, out, scratch);
    naive_conv(&g, in, w, b, ref);
    double e = max_rel_err(out, ref, n_out);
    CHECK(e < 1e-5, "depthwise case %zu: max relative error %g", t, e);
    /* Through the table entry, the path the network and the trainer take. */
    const instrid_layer_entry *conv = instrid_layer_entry_find(INSTRID_LAYER_CONV2D);
    instrid_layer_params p = {.conv = {(uint32_t)g.c_out, (uint32_t)g.kh, (uint32_t)g.kw,
                                       (uint32_t)g.sh, (uint32_t)g.sw, (uint32_t)g.ph,
                                       (uint32_t)g.pw, (uint32_t)g.dh, (uint32_t)g.dw,
                                       (uint32_t)g.groups}};
    instrid_shape ins = {(uint32_t)g.c_in, (uint32_t)g.h_in, (uint32_t)g.w_in};
    instrid_shape outs = {(uint32_t)g.c_out, (uint32_t)g.h_out, (uint32_t)g.w_out};
    float *scratch2 = rand_floats(conv->scratch_floats(&p, ins, outs, g.n, 0));
    const float *t2[2] = {w, b};
    for (size_t i = 0; i < n_out; i++)
      out[i] = NAN;
    instrid_layer_fwd a = {.n = g.n, .t = t2, .x = in, .y = out, .scratch = scratch2};
    conv->forward(&p, ins, outs, &a);
    e = max_rel_err(out, ref, n_out);
    CHECK(e < 1e-5, "depthwise case %zu through the table: max relative error %g", t, e);
    for (int act = INSTRID_ACT_NONE; act <= INSTRID_ACT_HARDSWISH; act++) {
      for (size_t i = 0; i < n_in; i++)
        in[i] *= act == INSTRID_ACT_HARDSWISH ? 3.0f : 1.0f; /* both flat parts of hard-swish */
      ordered_depthwise(&g, in, w, b, (instrid_act)act, ref);
      /* Every register width this CPU runs (0: the one instrid_depthwise_forward_act picks). */
      static const int widths[] = {0, 4, 8, 16};
      for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        if (widths[wi] && !instrid_depthwise_width_usable(widths[wi]))
          continue;
        for (size_t i = 0; i < n_out; i++)
          out[i] = NAN;
        if (widths[wi])
          instrid_depthwise_forward_width(widths[wi], &g, in, w, b, (instrid_act)act, out, scratch);
        else
          instrid_depthwise_forward_act(&g, in, w, b, (instrid_act)act, out, scratch);
        size_t differ = 0;
        for (size_t i = 0; i < n_out; i++)
          differ += !(out[i] == ref[i]);
        CHECK(differ == 0,
              "depthwise case %zu, activation %d, width %d: %zu of %zu values differ from the "
              "kernel's order of operations",
              t, act, widths[wi], differ, n_out);
      }
    }
    free(in), free(w), free(b), free(out), free(ref), free(scratch), free(scratch2);
  }
}

/* HARDSWISH, SQUEEZE_EXCITE, RESIDUAL_ADD and EMBEDDING entries against loops in double
 * written from their definitions (instrid.h). */
static void test_mn_layers(void)
{
  const int n = 2, c = 6, h = 5, w = 7, sq = 3;
  const size_t count = (size_t)n * c * h * w;
  const instrid_shape shape = {(uint32_t)c, (uint32_t)h, (uint32_t)w};
  float *x = rand_floats(count), *skip = rand_floats(count), *y = malloc(sizeof(float) * count);
  for (size_t i = 0; i < count; i++)
    x[i] *= 5.0f; /* reach both flat parts of hardswish */
  instrid_layer_params none = {0};

  const instrid_layer_entry *hs = instrid_layer_entry_find(INSTRID_LAYER_HARDSWISH);
  instrid_layer_fwd a = {.n = n, .x = x, .y = y};
  hs->forward(&none, shape, shape, &a);
  double e = 0.0;
  int low = 0, high = 0;
  for (size_t i = 0; i < count; i++) {
    double v = x[i], r = fmin(fmax(v + 3.0, 0.0), 6.0);
    e = fmax(e, fabs(y[i] - v * r / 6.0));
    low += v<-3.0, high += v> 3.0;
  }
  CHECK(e < 1e-6 && low > 0 && high > 0, "hardswish error %g (%d below -3, %d above 3)", e, low,
        high);
  /* in place */
  memcpy(y, x, sizeof(float) * count);
  instrid_layer_fwd ip = {.n = n, .x = y, .y = y};
  hs->forward(&none, shape, shape, &ip);
  CHECK(fabs(y[3] - x[3] * fmin(fmax(x[3] + 3.0, 0.0), 6.0) / 6.0) < 1e-6, "hardswish in place");

  const instrid_layer_entry *add = instrid_layer_entry_find(INSTRID_LAYER_RESIDUAL_ADD);
  instrid_layer_fwd aa = {.n = n, .x = x, .y = y, .skip = skip};
  add->forward(&none, shape, shape, &aa);
  e = 0.0;
  for (size_t i = 0; i < count; i++)
    e = fmax(e, fabs(y[i] - ((double)x[i] + skip[i])));
  CHECK(e < 1e-6, "residual add error %g", e);

  const instrid_layer_entry *emb = instrid_layer_entry_find(INSTRID_LAYER_EMBEDDING);
  instrid_layer_fwd ea = {.n = n, .x = x, .y = y};
  emb->forward(&none, shape, shape, &ea);
  CHECK(memcmp(x, y, sizeof(float) * count) == 0, "embedding is not the identity");

  const instrid_layer_entry *se = instrid_layer_entry_find(INSTRID_LAYER_SQUEEZE_EXCITE);
  instrid_layer_params sp = {.se = {(uint32_t)sq}};
  float *w1 = rand_floats((size_t)sq * c), *b1 = rand_floats(sq);
  float *w2 = rand_floats((size_t)c * sq), *b2 = rand_floats(c);
  for (int i = 0; i < c; i++)
    b2[i] *= 4.0f; /* gates near 0 and 1 as well as in between */
  const float *t[4] = {w1, b1, w2, b2};
  float *scratch = rand_floats(se->scratch_floats(&sp, shape, shape, n, 0));
  instrid_layer_fwd sa = {.n = n, .t = t, .x = x, .y = y, .scratch = scratch};
  se->forward(&sp, shape, shape, &sa);
  e = 0.0;
  for (int ex = 0; ex < n; ex++) {
    double s[6], hh[3], g[6];
    for (int ch = 0; ch < c; ch++) {
      s[ch] = 0.0;
      for (int k = 0; k < h * w; k++)
        s[ch] += x[((size_t)ex * c + ch) * h * w + k];
      s[ch] /= h * w;
    }
    for (int j = 0; j < sq; j++) {
      hh[j] = b1[j];
      for (int ch = 0; ch < c; ch++)
        hh[j] += (double)w1[j * c + ch] * s[ch];
      hh[j] = fmax(hh[j], 0.0);
    }
    for (int ch = 0; ch < c; ch++) {
      double z = b2[ch];
      for (int j = 0; j < sq; j++)
        z += (double)w2[ch * sq + j] * hh[j];
      g[ch] = 1.0 / (1.0 + exp(-z));
      for (int k = 0; k < h * w; k++) {
        size_t i = ((size_t)ex * c + ch) * h * w + k;
        e = fmax(e, fabs(y[i] - x[i] * g[ch]));
      }
    }
  }
  CHECK(e < 1e-5, "squeeze-excitation error %g", e);
  free(x), free(skip), free(y), free(w1), free(b1), free(w2), free(b2), free(scratch);
  /* BLEND_MAPPED: 3 classes, 4 sources; class 0 selects sources 1 and 3, class 1 none, class 2
   * source 0. */
  const instrid_layer_entry *bl = instrid_layer_entry_find(INSTRID_LAYER_BLEND_MAPPED);
  instrid_layer_params bp = {.blend = {3}};
  const float map[12] = {0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0}, gamma[3] = {0.25f, 0.5f, 0.75f};
  const float bx[2 * 7] = {0.1f, 0.2f, 0.3f, 0.9f,  0.4f, 0.5f,  0.6f,
                           0.8f, 0.7f, 0.6f, 0.05f, 0.3f, 0.02f, 0.2f};
  const float *bt[2] = {map, gamma};
  float by[6];
  instrid_layer_fwd ba = {.n = 2, .t = bt, .x = bx, .y = by};
  bl->forward(&bp, (instrid_shape){7, 1, 1}, (instrid_shape){3, 1, 1}, &ba);
  const double want[6] = {0.25 * 0.1 + 0.75 * 0.6, 0.2, 0.75 * 0.3 + 0.25 * 0.9,
                          0.25 * 0.8 + 0.75 * 0.3, 0.7, 0.75 * 0.6 + 0.25 * 0.05};
  e = 0.0;
  for (int k = 0; k < 6; k++)
    e = fmax(e, fabs(by[k] - want[k]));
  CHECK(e < 1e-6, "blend_mapped error %g", e);
  /* The same inputs in noisy-OR mode: 1 - (1 - head)^g (1 - source)^(1 - g); class 1 (no
   * source) stays the head's. A confident head is not capped at g: 0.99 with a silent source
   * (0.001) and g 0.25 gives 0.685, where the linear blend gives 0.248. */
  bp.blend.mode = INSTRID_BLEND_NOISY_OR;
  bl->forward(&bp, (instrid_shape){7, 1, 1}, (instrid_shape){3, 1, 1}, &ba);
  const double nwant[6] = {
      1 - pow(0.9, 0.25) * pow(0.4, 0.75), 0.2, 1 - pow(0.7, 0.75) * pow(0.1, 0.25),
      1 - pow(0.2, 0.25) * pow(0.7, 0.75), 0.7, 1 - pow(0.4, 0.75) * pow(0.95, 0.25)};
  e = 0.0;
  for (int k = 0; k < 6; k++)
    e = fmax(e, fabs(by[k] - nwant[k]));
  CHECK(e < 1e-6, "blend_mapped noisy-OR error %g", e);
  const float cx[7] = {0.99f, 0.2f, 0.3f, 0.9f, 0.001f, 0.5f, 0.001f};
  instrid_layer_fwd ca = {.n = 1, .t = bt, .x = cx, .y = by};
  bl->forward(&bp, (instrid_shape){7, 1, 1}, (instrid_shape){3, 1, 1}, &ca);
  CHECK(fabs(by[0] - (1 - pow(0.01, 0.25) * pow(0.999, 0.75))) < 1e-6 && by[0] > 0.68f,
        "noisy-OR with a confident head: %g", (double)by[0]);
}

int main(void)
{
  test_depthwise();
  test_mn_layers();
  test_conv();
  test_pointwise();
  test_col2im_adjoint();
  test_pool();
  test_global_pool();
  test_dense();
  test_activations();
  return check_exit();
}
