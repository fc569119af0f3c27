/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* depthwise.c — depthwise convolution (groups == c_in == c_out), channels first: one plane at
 * a time, each input row copied once into a zero-padded row (split into even and odd columns
 * for stride 2) so that every kernel tap is a contiguous multiply-add over an output row, which
 * the compiler vectorises. The work per byte is small (kh*kw multiply-adds per output), so the
 * kernel is bound by moving the planes through the caches. */
#include <string.h>

#include "layers.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__) &&       \
    __GNUC__ >= 8
#define HOT_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT_LOOP
#endif

int instrid_conv_is_depthwise(const instrid_conv_geom *g)
{
  return g->groups > 1 && g->groups == g->c_in && g->groups == g->c_out;
}

/* Padded rows for one plane: (h_in) rows of wp = w_in + 2 pw floats, rounded up, plus for
 * stride 2 the even/odd split of each. */
static size_t padded_width(const instrid_conv_geom *g)
{
  return ((size_t)g->w_in + 2 * (size_t)g->pw + 15) / 16 * 16 + 16;
}

size_t instrid_depthwise_scratch_floats(const instrid_conv_geom *g)
{
  return (size_t)g->h_in * padded_width(g) * 2;
}

/* y[0..n) += w * x[0..n) */
static inline void axpy(float *restrict y, const float *restrict x, float w, int n)
{
  for (int i = 0; i < n; i++)
    y[i] += w * x[i];
}

HOT_LOOP
static void depthwise_plane(const instrid_conv_geom *g, const float *in, const float *w, float b,
                            float *out, float *scratch)
{
  const size_t wp = padded_width(g);
  const int width = g->w_in + 2 * g->pw;
  /* The padded plane: rows of `width` floats, zeros at both ends; for stride 2 each row is
   * stored as its even columns then its odd columns. */
  const int stride2 = g->sw == 2;
  const size_t half = wp / 2;
  for (int r = 0; r < g->h_in; r++) {
    float *row = scratch + (size_t)r * wp;
    const float *src = in + (size_t)r * g->w_in;
    if (!stride2) {
      memset(row, 0, sizeof(float) * (size_t)g->pw);
      memcpy(row + g->pw, src, sizeof(float) * (size_t)g->w_in);
      memset(row + g->pw + g->w_in, 0, sizeof(float) * (wp - (size_t)g->pw - (size_t)g->w_in));
    } else {
      float *even = row, *odd = row + half;
      for (int j = 0; j < (width + 1) / 2 + 1; j++) {
        int c0 = 2 * j - g->pw, c1 = 2 * j + 1 - g->pw;
        even[j] = c0 >= 0 && c0 < g->w_in ? src[c0] : 0.0f;
        odd[j] = c1 >= 0 && c1 < g->w_in ? src[c1] : 0.0f;
      }
    }
  }
  const int w_out = g->w_out;
  for (int oh = 0; oh < g->h_out; oh++) {
    float *o = out + (size_t)oh * w_out;
    for (int ow = 0; ow < w_out; ow++)
      o[ow] = b;
    for (int ki = 0; ki < g->kh; ki++) {
      const int ih = oh * g->sh - g->ph + ki * g->dh;
      if (ih < 0 || ih >= g->h_in)
        continue;
      const float *row = scratch + (size_t)ih * wp;
      const float *wk = w + (size_t)ki * g->kw;
      for (int kj = 0; kj < g->kw; kj++) {
        const int col = kj * g->dw; /* padded column of output 0's tap */
        if (g->sw == 1)
          axpy(o, row + col, wk[kj], w_out);
        else if (stride2)
          axpy(o, (col & 1) ? row + half + col / 2 : row + col / 2, wk[kj], w_out);
        else
          for (int ow = 0; ow < w_out; ow++) {
            const int c = ow * g->sw + col - g->pw;
            if (c >= 0 && c < g->w_in)
              o[ow] += wk[kj] * in[(size_t)ih * g->w_in + c];
          }
      }
    }
  }
}

void instrid_depthwise_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                               const float *bias, float *out, float *scratch)
{
  const size_t in_plane = (size_t)g->h_in * g->w_in, out_plane = (size_t)g->h_out * g->w_out;
  const size_t taps = (size_t)g->kh * g->kw;
  for (int e = 0; e < g->n; e++)
    for (int c = 0; c < g->c_in; c++) {
      const size_t plane = (size_t)e * g->c_in + c;
      depthwise_plane(g, in + plane * in_plane, weight + (size_t)c * taps, bias ? bias[c] : 0.0f,
                      out + plane * out_plane, scratch);
    }
}

void instrid_depthwise_backward(const instrid_conv_geom *g, const float *in, const float *weight,
                                const float *dout, float *dweight, float *din)
{
  const size_t in_plane = (size_t)g->h_in * g->w_in, out_plane = (size_t)g->h_out * g->w_out;
  const size_t taps = (size_t)g->kh * g->kw;
  for (int c = 0; c < g->c_in; c++) {
    const float *x = in + (size_t)c * in_plane, *dy = dout + (size_t)c * out_plane;
    const float *w = weight + (size_t)c * taps;
    float *dw = dweight + (size_t)c * taps;
    float *dx = din ? din + (size_t)c * in_plane : NULL;
    for (int ki = 0; ki < g->kh; ki++)
      for (int kj = 0; kj < g->kw; kj++) {
        float acc = 0.0f;
        const float wk = w[ki * g->kw + kj];
        for (int oh = 0; oh < g->h_out; oh++) {
          const int ih = oh * g->sh - g->ph + ki * g->dh;
          if (ih < 0 || ih >= g->h_in)
            continue;
          const float *xr = x + (size_t)ih * g->w_in;
          const float *dr = dy + (size_t)oh * g->w_out;
          float *dxr = dx ? dx + (size_t)ih * g->w_in : NULL;
          for (int ow = 0; ow < g->w_out; ow++) {
            const int iw = ow * g->sw - g->pw + kj * g->dw;
            if (iw < 0 || iw >= g->w_in)
              continue;
            acc += dr[ow] * xr[iw];
            if (dxr)
              dxr[iw] += wk * dr[ow];
          }
        }
        dw[ki * g->kw + kj] += acc;
      }
  }
}
