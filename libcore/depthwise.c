/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* depthwise.c — depthwise convolution (groups == c_in == c_out), channels first: one plane at
 * a time, each input row copied once into a zero-padded row (split into even and odd columns
 * for stride 2) so that every kernel tap is a contiguous multiply-add over a block of outputs
 * held in registers, which the compiler vectorises. The work per byte is small (kh*kw
 * multiply-adds per output), so the kernel is bound by moving the planes through the caches. */
#include <string.h>

#include "hotloop.h"
#include "layers.h"

int instrid_conv_is_depthwise(const instrid_conv_geom *g)
{
  return g->groups > 1 && g->groups == g->c_in && g->groups == g->c_out;
}

/* Padded rows for one plane: (h_in) rows of wp = w_in + 2 pw floats, rounded up, with room
 * for a block of outputs read past the last one (see depthwise_plane); for stride 2 each row
 * holds the even/odd split of it. */
static size_t padded_width(const instrid_conv_geom *g)
{
  return ((size_t)g->w_in + 2 * (size_t)g->pw + 15) / 16 * 16 + 32;
}

size_t instrid_depthwise_scratch_floats(const instrid_conv_geom *g)
{
  return (size_t)g->h_in * padded_width(g) * 2;
}

/* Outputs computed at a time: one AVX-512 register (two AVX2 ones) of accumulators that stay
 * in registers over all kh * kw taps, so each output is stored once (a tap-by-tap axpy over
 * the row loads and stores it kh * kw times). */
#define DW_BLOCK 16
typedef float dw_vec __attribute__((vector_size(DW_BLOCK * sizeof(float))));

typedef int dw_ivec __attribute__((vector_size(DW_BLOCK * sizeof(int))));

/* Stores a block of outputs: all DW_BLOCK of them where the block's floats lie inside the
 * output (end: one past its last float), else the row's last n_left. A full store past the
 * row's end writes into later rows or planes, which are computed after this one (planes and
 * rows run in order), so only the real outputs remain. */
static inline void store_block(float *o, int n_left, const float *end, const dw_vec *acc)
{
  if (n_left >= DW_BLOCK || o + DW_BLOCK <= end)
    memcpy(o, acc, sizeof *acc);
  else
    for (int i = 0; i < n_left; i++)
      o[i] = (*acc)[i];
}

/* The activation of a block of outputs, still in registers, as instrid_relu_forward /
 * instrid_hardswish_forward do it per value (the same operations, so the same results; the
 * selects are written as masks, which is what "x > 0 ? x : 0" becomes per lane). */
static inline void act_block(dw_vec *v, instrid_act act)
{
  if (act == INSTRID_ACT_RELU) {
    *v = (dw_vec)((dw_ivec)*v & (*v > 0.0f));
  } else if (act == INSTRID_ACT_HARDSWISH) {
    const dw_vec six = (dw_vec){0} + 6.0f;
    dw_vec r = *v + 3.0f;
    r = (dw_vec)((dw_ivec)r & (r > 0.0f));
    const dw_ivec lt = r < 6.0f;
    r = (dw_vec)(((dw_ivec)r & lt) | ((dw_ivec)six & ~lt));
    *v = *v * r / 6.0f;
  }
}

/* Output rows of a K x K undilated kernel (K constant where it is inlined, so that the tap
 * loops unroll): for each block of outputs, acc = b, then for each tap row inside the input and
 * each tap column acc += w * x, as depthwise_plane's general loop. */
static inline __attribute__((always_inline)) void
plane_square(const instrid_conv_geom *g, const int K, const float *w, float b, instrid_act act,
             float *out, const float *end, const float *scratch, size_t wp, size_t half,
             int stride2)
{
  float wr[25];
  size_t col[5];
  for (int i = 0; i < K * K; i++)
    wr[i] = w[i];
  /* padded column of tap kj for output 0, as in the general loop */
  for (int kj = 0; kj < K; kj++)
    col[kj] = !stride2 ? (size_t)kj : (kj & 1) ? half + (size_t)kj / 2 : (size_t)kj / 2;
  const int w_out = g->w_out;
  for (int oh = 0; oh < g->h_out; oh++) {
    float *o = out + (size_t)oh * w_out;
    const float *row[5];
    int ok[5];
    for (int ki = 0; ki < K; ki++) {
      const int ih = oh * g->sh - g->ph + ki;
      ok[ki] = ih >= 0 && ih < g->h_in;
      row[ki] = scratch + (ok[ki] ? (size_t)ih * wp : 0);
    }
    for (int ow0 = 0; ow0 < w_out; ow0 += DW_BLOCK) {
      dw_vec acc = (dw_vec){0} + b;
      for (int ki = 0; ki < K; ki++) {
        if (!ok[ki])
          continue;
        for (int kj = 0; kj < K; kj++) {
          dw_vec xv;
          memcpy(&xv, row[ki] + col[kj] + ow0, sizeof xv);
          acc += wr[ki * K + kj] * xv;
        }
      }
      act_block(&acc, act);
      store_block(o + ow0, w_out - ow0, end, &acc);
    }
  }
}

HOT_LOOP
static void depthwise_plane(const instrid_conv_geom *g, const float *in, const float *w, float b,
                            instrid_act act, float *out, const float *end, float *scratch)
{
  const size_t wp = padded_width(g);
  const int w_out = g->w_out;
  if (g->sw > 2) {
    /* Not in any network we run: the plain loop. */
    for (int oh = 0; oh < g->h_out; oh++)
      for (int ow = 0; ow < w_out; ow++) {
        float acc = b;
        for (int ki = 0; ki < g->kh; ki++) {
          const int ih = oh * g->sh - g->ph + ki * g->dh;
          if (ih < 0 || ih >= g->h_in)
            continue;
          for (int kj = 0; kj < g->kw; kj++) {
            const int c = ow * g->sw + kj * g->dw - g->pw;
            if (c >= 0 && c < g->w_in)
              acc += w[ki * g->kw + kj] * in[(size_t)ih * g->w_in + c];
          }
        }
        out[(size_t)oh * w_out + ow] = acc;
      }
    /* The plane is contiguous: its activation in one pass. */
    const size_t n_out = (size_t)g->h_out * w_out;
    if (act == INSTRID_ACT_RELU)
      instrid_relu_forward(out, n_out);
    else if (act == INSTRID_ACT_HARDSWISH)
      instrid_hardswish_forward(out, out, n_out);
    return;
  }
  /* The padded plane: rows of wp floats, zeros around the input's w_in; for stride 2 each row
   * is stored as its even padded columns, then (from half) its odd ones, so that every tap of
   * a block of outputs reads contiguous floats. Zeros run to the end of each part, so a block
   * read past the last output reads zeros. */
  const int stride2 = g->sw == 2;
  const size_t half = wp / 2;
  for (int r = 0; r < g->h_in; r++) {
    float *row = scratch + (size_t)r * wp;
    const float *src = in + (size_t)r * g->w_in;
    /* Only the input's columns are written: the zeros around them are the caller's (the same
     * places for every plane). */
    if (!stride2) {
      memcpy(row + g->pw, src, sizeof(float) * (size_t)g->w_in);
    } else {
      /* Padded column p = c + pw goes to even[p / 2] or odd[p / 2]: a stride-2 gather from
       * the first source column of each parity (which compilers vectorise with permutes). */
      for (int parity = 0; parity < 2; parity++) {
        const int c0 = (g->pw + parity) & 1; /* first c with c + pw of this parity */
        const int count = g->w_in > c0 ? (g->w_in - c0 + 1) / 2 : 0;
        float *dst = row + (parity ? half : 0) + (c0 + g->pw) / 2;
        const float *s2 = src + c0;
        for (int i = 0; i < count; i++)
          dst[i] = s2[2 * i];
      }
    }
  }
  /* mn04's depthwise layers, 3x3 and 5x5: the loop below with its taps unrolled and the
   * weights in registers, the same multiply-adds in the same order. */
  if (g->kh == 3 && g->kw == 3 && g->dh == 1 && g->dw == 1) {
    plane_square(g, 3, w, b, act, out, end, scratch, wp, half, stride2);
    return;
  }
  if (g->kh == 5 && g->kw == 5 && g->dh == 1 && g->dw == 1) {
    plane_square(g, 5, w, b, act, out, end, scratch, wp, half, stride2);
    return;
  }
  for (int oh = 0; oh < g->h_out; oh++) {
    float *o = out + (size_t)oh * w_out;
    for (int ow0 = 0; ow0 < w_out; ow0 += DW_BLOCK) {
      dw_vec acc = (dw_vec){0} + b;
      for (int ki = 0; ki < g->kh; ki++) {
        const int ih = oh * g->sh - g->ph + ki * g->dh;
        if (ih < 0 || ih >= g->h_in)
          continue;
        const float *row = scratch + (size_t)ih * wp;
        const float *wk = w + (size_t)ki * g->kw;
        for (int kj = 0; kj < g->kw; kj++) {
          const int col = kj * g->dw; /* padded column of output 0's tap */
          const float *x = (!stride2    ? row + col
                            : (col & 1) ? row + half + col / 2
                                        : row + col / 2) +
                           ow0;
          dw_vec xv;
          memcpy(&xv, x, sizeof xv);
          acc += wk[kj] * xv;
        }
      }
      act_block(&acc, act);
      store_block(o + ow0, w_out - ow0, end, &acc);
    }
  }
}

void instrid_depthwise_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                               const float *bias, float *out, float *scratch)
{
  instrid_depthwise_forward_act(g, in, weight, bias, INSTRID_ACT_NONE, out, scratch);
}

void instrid_depthwise_forward_act(const instrid_conv_geom *g, const float *in, const float *weight,
                                   const float *bias, instrid_act act, float *out, float *scratch)
{
  const size_t in_plane = (size_t)g->h_in * g->w_in, out_plane = (size_t)g->h_out * g->w_out;
  const size_t taps = (size_t)g->kh * g->kw;
  const float *end = out + (size_t)g->n * g->c_out * out_plane;
  /* The padded rows' zeros, once for all planes (depthwise_plane writes the input's columns). */
  if (g->sw <= 2)
    memset(scratch, 0, sizeof(float) * (size_t)g->h_in * padded_width(g));
  for (int e = 0; e < g->n; e++)
    for (int c = 0; c < g->c_in; c++) {
      const size_t plane = (size_t)e * g->c_in + c;
      depthwise_plane(g, in + plane * in_plane, weight + (size_t)c * taps, bias ? bias[c] : 0.0f,
                      act, out + plane * out_plane, end, scratch);
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
