/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layers.c — forward kernels of every layer type (layers.h): convolution as im2col + one
 * OpenBLAS sgemm per example and group, pooling, dense, activations, batch norm at inference.
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "hotloop.h"
#include "layers.h"

int instrid_conv_geom_init(instrid_conv_geom *g)
{
  if (g->n < 1 || g->c_in < 1 || g->h_in < 1 || g->w_in < 1 || g->c_out < 1 || g->kh < 1 ||
      g->kw < 1 || g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0 || g->dh < 1 || g->dw < 1 ||
      g->groups < 1)
    return 0;
  if (g->c_in % g->groups != 0 || g->c_out % g->groups != 0)
    return 0;
  /* 64-bit so that absurd parameters from a file cannot overflow the extent arithmetic. */
  int64_t extent_h = (int64_t)g->dh * (g->kh - 1) + 1;
  int64_t extent_w = (int64_t)g->dw * (g->kw - 1) + 1;
  int64_t span_h = (int64_t)g->h_in + 2 * (int64_t)g->ph - extent_h;
  int64_t span_w = (int64_t)g->w_in + 2 * (int64_t)g->pw - extent_w;
  if (span_h < 0 || span_w < 0)
    return 0;
  g->h_out = (int)(span_h / g->sh + 1);
  g->w_out = (int)(span_w / g->sw + 1);
  return 1;
}

/* A 1x1, stride-1, unpadded convolution reads its input as the gemm's right-hand matrix
 * directly, so it needs no im2col. */
static int conv_is_pointwise(const instrid_conv_geom *g)
{
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t instrid_conv_scratch_floats(const instrid_conv_geom *g)
{
  /* The full im2col size even for the pointwise fast path: the trainer sizes the buffer it
   * hands to instrid_im2col / instrid_col2im with this function. */
  size_t rows = (size_t)(g->c_in / g->groups) * (size_t)g->kh * (size_t)g->kw;
  size_t cols = (size_t)g->h_out * (size_t)g->w_out;
  if (cols != 0 && rows > SIZE_MAX / cols)
    return SIZE_MAX;
  return rows * cols;
}

/* Valid output columns [*lo, *hi) for kernel column offset `off` (= kj * dw - pw): those whose
 * input column ow * sw + off lies inside [0, w_in). */
static void valid_range(int w_out, int w_in, int sw, int off, int *lo, int *hi)
{
  int a = 0, b = w_out;
  if (off < 0)
    a = (-off + sw - 1) / sw;
  /* Largest ow with ow * sw + off <= w_in - 1. */
  int last = w_in - 1 - off;
  if (last < 0)
    b = 0;
  else if (last / sw + 1 < b)
    b = last / sw + 1;
  if (a > b)
    a = b;
  *lo = a;
  *hi = b;
}

/* im2col restricted to output pixels [p0, p1) (row-major over (h_out, w_out)): col
 * (c_in/groups*kh*kw, p1 - p0). */
static void im2col_range(const instrid_conv_geom *g, const float *in, int p0, int p1, float *col)
{
  const int cg = g->c_in / g->groups;
  const size_t n = (size_t)(p1 - p0);
  for (int c = 0; c < cg; c++) {
    const float *plane = in + (size_t)c * g->h_in * g->w_in;
    for (int ki = 0; ki < g->kh; ki++) {
      for (int kj = 0; kj < g->kw; kj++) {
        float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * n;
        int off_w = kj * g->dw - g->pw;
        int lo, hi;
        valid_range(g->w_out, g->w_in, g->sw, off_w, &lo, &hi);
        /* Walk the range one output row segment [a, b) at a time. */
        for (int p = p0; p < p1;) {
          const int oh = p / g->w_out, a = p % g->w_out;
          const int b = p1 - p < g->w_out - a ? a + (p1 - p) : g->w_out;
          float *dst = row + (p - p0) - a; /* dst[ow] for ow in [a, b) */
          p += b - a;
          int ih = oh * g->sh - g->ph + ki * g->dh;
          if (ih < 0 || ih >= g->h_in) {
            memset(dst + a, 0, sizeof(float) * (b - a));
            continue;
          }
          const float *src = plane + (size_t)ih * g->w_in + off_w;
          const int vlo = lo > a ? lo : a, vhi = hi < b ? hi : b;
          if (vlo >= vhi) {
            memset(dst + a, 0, sizeof(float) * (b - a));
            continue;
          }
          if (vlo > a)
            memset(dst + a, 0, sizeof(float) * (vlo - a));
          if (g->sw == 1) {
            memcpy(dst + vlo, src + vlo, sizeof(float) * (vhi - vlo));
          } else {
            for (int ow = vlo; ow < vhi; ow++)
              dst[ow] = src[(size_t)ow * g->sw];
          }
          if (vhi < b)
            memset(dst + vhi, 0, sizeof(float) * (b - vhi));
        }
      }
    }
  }
}

void instrid_im2col(const instrid_conv_geom *g, const float *in, float *col)
{
  im2col_range(g, in, 0, g->h_out * g->w_out, col);
}

void instrid_col2im(const instrid_conv_geom *g, const float *col, float *in)
{
  const int cg = g->c_in / g->groups;
  const int hw_out = g->h_out * g->w_out;
  for (int c = 0; c < cg; c++) {
    float *plane = in + (size_t)c * g->h_in * g->w_in;
    for (int ki = 0; ki < g->kh; ki++) {
      for (int kj = 0; kj < g->kw; kj++) {
        const float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * hw_out;
        int off_w = kj * g->dw - g->pw;
        int lo, hi;
        valid_range(g->w_out, g->w_in, g->sw, off_w, &lo, &hi);
        for (int oh = 0; oh < g->h_out; oh++) {
          int ih = oh * g->sh - g->ph + ki * g->dh;
          if (ih < 0 || ih >= g->h_in)
            continue;
          const float *src = row + (size_t)oh * g->w_out;
          float *dst = plane + (size_t)ih * g->w_in + off_w;
          for (int ow = lo; ow < hi; ow++)
            dst[(size_t)ow * g->sw] += src[ow];
        }
      }
    }
  }
}

/* Output pixels per gemm, about: the im2col columns of a tile (K x tile) then stay in L2 while
 * the gemm reads them, which is worth a third of the speed when c_out is small. */
#define CONV_TILE_FLOATS 32768

/* o[i] = act(o[i] + b) (without the add when !has_bias): the bias loop's operation and then
 * instrid_relu_forward's or instrid_hardswish_forward's, in one pass. */
HOT_LOOP
static void bias_act(float *o, size_t n, int has_bias, float b, instrid_act act)
{
  for (size_t i = 0; i < n; i++) {
    float v = has_bias ? o[i] + b : o[i];
    if (act == INSTRID_ACT_RELU) {
      v = v > 0.0f ? v : 0.0f;
    } else if (act == INSTRID_ACT_HARDSWISH) {
      float r = v + 3.0f;
      r = r > 0.0f ? r : 0.0f;
      r = r < 6.0f ? r : 6.0f;
      v = v * r / 6.0f;
    }
    o[i] = v;
  }
}

void instrid_bias_act_rows(float *o, int rows, size_t n, const float *bias, instrid_act act)
{
  if (!bias && act == INSTRID_ACT_NONE)
    return;
  for (int r = 0; r < rows; r++)
    bias_act(o + (size_t)r * n, n, bias != NULL, bias ? bias[r] : 0.0f, act);
}

void instrid_conv2d_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                            const float *bias, float *out, float *scratch)
{
  instrid_conv2d_forward_act(g, in, weight, bias, INSTRID_ACT_NONE, out, scratch);
}

void instrid_conv2d_forward_act(const instrid_conv_geom *g, const float *in, const float *weight,
                                const float *bias, instrid_act act, float *out, float *scratch)
{
  const int cg_in = g->c_in / g->groups;
  const int cg_out = g->c_out / g->groups;
  const int hw_out = g->h_out * g->w_out;
  const int k = cg_in * g->kh * g->kw;
  const size_t in_plane = (size_t)g->h_in * g->w_in;
  const int pointwise = conv_is_pointwise(g);
  int tile = CONV_TILE_FLOATS / k;
  if (tile < 64)
    tile = 64;
  if (tile > hw_out)
    tile = hw_out;

  for (int e = 0; e < g->n; e++) {
    const float *in_e = in + (size_t)e * g->c_in * in_plane;
    float *out_e = out + (size_t)e * g->c_out * hw_out;
    for (int grp = 0; grp < g->groups; grp++) {
      const float *in_g = in_e + (size_t)grp * cg_in * in_plane;
      const float *w_g = weight + (size_t)grp * cg_out * k;
      float *out_g = out_e + (size_t)grp * cg_out * hw_out;
      if (pointwise) {
        /* out_g (cg_out, hw_out) = act(bias + w_g (cg_out, k) * in_g (k, hw_out)): pointwise.c
         * (the bias and activation included). */
        instrid_pointwise_forward(cg_out, k, (size_t)hw_out, w_g,
                                  bias ? bias + (size_t)grp * cg_out : NULL, act, in_g, out_g);
        continue;
      }
      for (int p0 = 0; p0 < hw_out; p0 += tile) {
        const int n = hw_out - p0 < tile ? hw_out - p0 : tile;
        im2col_range(g, in_g, p0, p0 + n, scratch);
        /* out_g[:, p0:p0+n] (cg_out, n) = w_g (cg_out, k) * col (k, n) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cg_out, n, k, 1.0f, w_g, k, scratch,
                    n, 0.0f, out_g + p0, hw_out);
      }
    }
    if (!pointwise)
      instrid_bias_act_rows(out_e, g->c_out, (size_t)hw_out, bias, act);
  }
}

void instrid_relu_forward(float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void instrid_sigmoid_forward(float *x, size_t n)
{
  /* exp of a non-positive argument only, so neither branch overflows. */
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    if (v >= 0.0f) {
      x[i] = 1.0f / (1.0f + expf(-v));
    } else {
      float e = expf(v);
      x[i] = e / (1.0f + e);
    }
  }
}

HOT_LOOP
void instrid_hardswish_forward(const float *x, float *y, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    float v = x[i], r = v + 3.0f;
    r = r > 0.0f ? r : 0.0f;
    r = r < 6.0f ? r : 6.0f;
    y[i] = v * r / 6.0f;
  }
}

HOT_LOOP
void instrid_add_forward(const float *x, const float *skip, float *y, size_t n)
{
  for (size_t i = 0; i < n; i++)
    y[i] = x[i] + skip[i];
}

HOT_LOOP
void instrid_scale_channels(int c, size_t hw, const float *x, const float *g, float *y)
{
  for (int ch = 0; ch < c; ch++) {
    const float *xr = x + (size_t)ch * hw;
    float *yr = y + (size_t)ch * hw;
    const float s = g[ch];
    for (size_t k = 0; k < hw; k++)
      yr[k] = xr[k] * s;
  }
}

void instrid_squeeze_excite_gate(int c, int sq, size_t hw, const float *x, const float *w1,
                                 const float *b1, const float *w2, const float *b2, float *s,
                                 float *h, float *z, float *g)
{
  for (int ch = 0; ch < c; ch++) {
    const float *xr = x + (size_t)ch * hw;
    float acc[8] = {0};
    size_t k = 0;
    for (; k + 8 <= hw; k += 8)
      for (int j = 0; j < 8; j++)
        acc[j] += xr[k + j];
    for (; k < hw; k++)
      acc[0] += xr[k];
    s[ch] = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) /
            (float)hw;
  }
  memcpy(h, b1, sizeof(float) * (size_t)sq);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, sq, c, 1.0f, w1, c, s, 1, 1.0f, h, 1);
  for (int j = 0; j < sq; j++)
    h[j] = h[j] > 0.0f ? h[j] : 0.0f;
  memcpy(z, b2, sizeof(float) * (size_t)c);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, c, sq, 1.0f, w2, sq, h, 1, 1.0f, z, 1);
  memcpy(g, z, sizeof(float) * (size_t)c);
  instrid_sigmoid_forward(g, (size_t)c);
}

void instrid_batchnorm_inference(int n, int c, int hw, const float *gamma, const float *beta,
                                 const float *mean, const float *var, float eps, float *x)
{
  for (int ch = 0; ch < c; ch++) {
    float scale = gamma[ch] / sqrtf(var[ch] + eps);
    float shift = beta[ch] - mean[ch] * scale;
    for (int e = 0; e < n; e++) {
      float *p = x + ((size_t)e * c + ch) * hw;
      for (int i = 0; i < hw; i++)
        p[i] = p[i] * scale + shift;
    }
  }
}

void instrid_pool2d_forward(int mode, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
                            const float *in, float *out, int32_t *argmax)
{
  const int h_out = (h - kh) / sh + 1;
  const int w_out = (w - kw) / sw + 1;
  const float inv_area = 1.0f / (float)(kh * kw);
  for (size_t plane = 0; plane < (size_t)n * c; plane++) {
    const float *src = in + plane * h * w;
    float *dst = out + plane * h_out * w_out;
    int32_t *arg = argmax ? argmax + plane * h_out * w_out : NULL;
    for (int oh = 0; oh < h_out; oh++) {
      for (int ow = 0; ow < w_out; ow++) {
        const int ih0 = oh * sh, iw0 = ow * sw;
        if (mode == INSTRID_POOL_MAX) {
          float best = -FLT_MAX;
          int32_t best_at = ih0 * w + iw0;
          for (int i = 0; i < kh; i++) {
            const float *r = src + (size_t)(ih0 + i) * w + iw0;
            for (int j = 0; j < kw; j++) {
              /* Strictly greater: the first maximum wins, as in PyTorch. */
              if (r[j] > best) {
                best = r[j];
                best_at = (ih0 + i) * w + iw0 + j;
              }
            }
          }
          dst[oh * w_out + ow] = best;
          if (arg)
            arg[oh * w_out + ow] = best_at;
        } else {
          float sum = 0.0f;
          for (int i = 0; i < kh; i++) {
            const float *r = src + (size_t)(ih0 + i) * w + iw0;
            for (int j = 0; j < kw; j++)
              sum += r[j];
          }
          dst[oh * w_out + ow] = sum * inv_area;
        }
      }
    }
  }
}

/* Reduces one (h, w) plane over the given axes. Writes `outs` values with stride 1: the mean
 * and/or the max (and its argmax) for each remaining position. */
static void global_pool_plane(int axes, int h, int w, const float *src, float *mean_out,
                              float *max_out, int32_t *arg_out)
{
  if (axes == (INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME)) {
    float sum = 0.0f, best = -FLT_MAX;
    int32_t best_at = 0;
    for (int i = 0; i < h * w; i++) {
      sum += src[i];
      if (src[i] > best) {
        best = src[i];
        best_at = i;
      }
    }
    if (mean_out)
      mean_out[0] = sum / (float)(h * w);
    if (max_out)
      max_out[0] = best;
    if (arg_out)
      arg_out[0] = best_at;
  } else if (axes == INSTRID_AXIS_FREQ) {
    /* Output (1, w): reduce down the columns, row by row so the reads stay contiguous. */
    for (int t = 0; t < w; t++) {
      if (mean_out)
        mean_out[t] = 0.0f;
      if (max_out)
        max_out[t] = -FLT_MAX;
      if (arg_out)
        arg_out[t] = t;
    }
    for (int f = 0; f < h; f++) {
      const float *r = src + (size_t)f * w;
      for (int t = 0; t < w; t++) {
        if (mean_out)
          mean_out[t] += r[t];
        if (max_out && r[t] > max_out[t]) {
          max_out[t] = r[t];
          if (arg_out)
            arg_out[t] = f * w + t;
        }
      }
    }
    if (mean_out)
      for (int t = 0; t < w; t++)
        mean_out[t] /= (float)h;
  } else { /* INSTRID_AXIS_TIME: output (h, 1) */
    for (int f = 0; f < h; f++) {
      const float *r = src + (size_t)f * w;
      float sum = 0.0f, best = -FLT_MAX;
      int32_t best_at = f * w;
      for (int t = 0; t < w; t++) {
        sum += r[t];
        if (r[t] > best) {
          best = r[t];
          best_at = f * w + t;
        }
      }
      if (mean_out)
        mean_out[f] = sum / (float)w;
      if (max_out)
        max_out[f] = best;
      if (arg_out)
        arg_out[f] = best_at;
    }
  }
}

void instrid_global_pool_forward(int axes, int mode, int n, int c, int h, int w, const float *in,
                                 float *out, int32_t *argmax)
{
  const int oh = (axes & INSTRID_AXIS_FREQ) ? 1 : h;
  const int ow = (axes & INSTRID_AXIS_TIME) ? 1 : w;
  const size_t out_plane = (size_t)oh * ow;
  const size_t in_plane = (size_t)h * w;

  for (int e = 0; e < n; e++) {
    for (int ch = 0; ch < c; ch++) {
      const float *src = in + ((size_t)e * c + ch) * in_plane;
      /* The max part of the output, and argmax, are laid out (N, C, oh, ow) in every mode. */
      int32_t *arg = argmax ? argmax + ((size_t)e * c + ch) * out_plane : NULL;
      switch (mode) {
      case INSTRID_POOL_MEAN:
        global_pool_plane(axes, h, w, src, out + ((size_t)e * c + ch) * out_plane, NULL, NULL);
        break;
      case INSTRID_POOL_MAX:
        global_pool_plane(axes, h, w, src, NULL, out + ((size_t)e * c + ch) * out_plane, arg);
        break;
      case INSTRID_POOL_MEAN_MAX_CONCAT: {
        /* Channels [0, C) hold the means, [C, 2C) the maxima. */
        float *base = out + (size_t)e * 2 * c * out_plane;
        global_pool_plane(axes, h, w, src, base + (size_t)ch * out_plane,
                          base + (size_t)(c + ch) * out_plane, arg);
        break;
      }
      case INSTRID_POOL_MEAN_PLUS_MAX: {
        /* The max goes to out first and the mean is added on top, so no scratch is needed. */
        float *dst = out + ((size_t)e * c + ch) * out_plane;
        global_pool_plane(axes, h, w, src, NULL, dst, arg);
        if (axes == (INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME)) {
          float sum = 0.0f;
          for (size_t i = 0; i < in_plane; i++)
            sum += src[i];
          dst[0] += sum / (float)in_plane;
        } else if (axes == INSTRID_AXIS_FREQ) {
          for (int t = 0; t < w; t++) {
            float sum = 0.0f;
            for (int f = 0; f < h; f++)
              sum += src[(size_t)f * w + t];
            dst[t] += sum / (float)h;
          }
        } else {
          for (int f = 0; f < h; f++) {
            float sum = 0.0f;
            for (int t = 0; t < w; t++)
              sum += src[(size_t)f * w + t];
            dst[f] += sum / (float)w;
          }
        }
        break;
      }
      default:
        break;
      }
    }
  }
}

void instrid_dense_forward(int n, int in, int out, const float *x, const float *weight,
                           const float *bias, float *y)
{
  for (int e = 0; e < n; e++) {
    if (bias)
      memcpy(y + (size_t)e * out, bias, sizeof(float) * out);
    else
      memset(y + (size_t)e * out, 0, sizeof(float) * out);
  }
  if (n == 1) {
    /* One example: a matrix-vector product; sgemv avoids sgemm's packing. */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, weight, in, x, 1, 1.0f, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, weight, in, 1.0f,
                y, out);
  }
}
