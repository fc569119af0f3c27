/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* depthwise_plane.h — one plane of a depthwise convolution, written once for a block of
 * DW_BLOCK outputs held in one vector register, and included by depthwise.c once per
 * instruction set with:
 *   DW_BLOCK      floats per vector: 16 (AVX-512), 8 (AVX2), 4 (SSE2, NEON, the baseline)
 *   DW_TARGET     the function attribute that lets the compiler use those registers
 *   DW_NAME(x)    x with the variant's suffix
 * A block is exactly one native register: a generic vector wider than the registers is not
 * split into registers by GCC but kept on the stack and copied around in pieces (on AVX2 the
 * 16-float block made the kernel 6-8 times slower). Every output gets the same operations in
 * the same order in every variant, so all give the same bits. Not installed; depthwise.c's
 * alone. */

typedef float DW_NAME(dw_vec) __attribute__((vector_size(DW_BLOCK * sizeof(float))));
typedef int DW_NAME(dw_ivec) __attribute__((vector_size(DW_BLOCK * sizeof(int))));

/* Stores a block of outputs: all DW_BLOCK of them where the block's floats lie inside the
 * output (end: one past its last float), else the row's last n_left. A full store past the
 * row's end writes into later rows or planes, which are computed after this one (planes and
 * rows run in order), so only the real outputs remain. */
static inline DW_TARGET __attribute__((always_inline)) void
DW_NAME(store_block)(float *o, int n_left, const float *end, DW_NAME(dw_vec) acc)
{
  if (n_left >= DW_BLOCK || o + DW_BLOCK <= end)
    memcpy(o, &acc, sizeof acc);
  else
    for (int i = 0; i < n_left; i++)
      o[i] = acc[i];
}

/* The activation of a block of outputs in registers: DW_NAME(act_vec). */
#define VA_VEC DW_NAME(dw_vec)
#define VA_IVEC DW_NAME(dw_ivec)
#define VA_TARGET DW_TARGET
#define VA_NAME(x) DW_NAME(x)
#include "vec_act.h"
#undef VA_VEC
#undef VA_IVEC
#undef VA_TARGET
#undef VA_NAME

/* Output rows of a K x K undilated kernel (K constant where it is inlined, so that the tap
 * loops unroll): for each block of outputs, acc = b, then for each tap row inside the input and
 * each tap column acc += w * x, as the general loop of depthwise_plane. */
static inline DW_TARGET __attribute__((always_inline)) void
DW_NAME(plane_square)(const instrid_conv_geom *g, const int K, const float *w, float b,
                      instrid_act act, float *out, const float *end, const float *scratch,
                      size_t wp, size_t half, int stride2)
{
  typedef DW_NAME(dw_vec) vec;
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
      vec acc = (vec){0} + b;
      for (int ki = 0; ki < K; ki++) {
        if (!ok[ki])
          continue;
        for (int kj = 0; kj < K; kj++) {
          vec xv;
          memcpy(&xv, row[ki] + col[kj] + ow0, sizeof xv);
          acc += wr[ki * K + kj] * xv;
        }
      }
      DW_NAME(store_block)(o + ow0, w_out - ow0, end, DW_NAME(act_vec)(acc, act));
    }
  }
}

/* One plane (see depthwise.c): in (h_in, w_in) -> act(conv + b) in out (h_out, w_out). Called
 * through dw_plane, a plain name that clang-format lays out as a call. */
#define dw_plane DW_NAME(depthwise_plane)
static DW_TARGET void dw_plane(const instrid_conv_geom *g, const float *in, const float *w, float b,
                               instrid_act act, float *out, const float *end, float *scratch)
{
  typedef DW_NAME(dw_vec) vec;
  const size_t wp = dw_padded_width(g);
  const int w_out = g->w_out;
  if (g->sw > 2) {
    dw_plane_plain(g, in, w, b, act, out);
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
    DW_NAME(plane_square)(g, 3, w, b, act, out, end, scratch, wp, half, stride2);
    return;
  }
  if (g->kh == 5 && g->kw == 5 && g->dh == 1 && g->dw == 1) {
    DW_NAME(plane_square)(g, 5, w, b, act, out, end, scratch, wp, half, stride2);
    return;
  }
  for (int oh = 0; oh < g->h_out; oh++) {
    float *o = out + (size_t)oh * w_out;
    for (int ow0 = 0; ow0 < w_out; ow0 += DW_BLOCK) {
      vec acc = (vec){0} + b;
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
          vec xv;
          memcpy(&xv, x, sizeof xv);
          acc += wk[kj] * xv;
        }
      }
      DW_NAME(store_block)(o + ow0, w_out - ow0, end, DW_NAME(act_vec)(acc, act));
    }
  }
}

/* All planes of all examples, in order (store_block relies on it). */
static DW_TARGET void DW_NAME(depthwise_planes)(const instrid_conv_geom *g, const float *in,
                                                const float *weight, const float *bias,
                                                instrid_act act, float *out, float *scratch)
{
  const size_t in_plane = (size_t)g->h_in * g->w_in, out_plane = (size_t)g->h_out * g->w_out;
  const size_t taps = (size_t)g->kh * g->kw;
  const float *end = out + (size_t)g->n * g->c_out * out_plane;
  for (int e = 0; e < g->n; e++)
    for (int c = 0; c < g->c_in; c++) {
      const size_t plane = (size_t)e * g->c_in + c;
      dw_plane(g, in + plane * in_plane, weight + (size_t)c * taps, bias ? bias[c] : 0.0f, act,
               out + plane * out_plane, end, scratch);
    }
}
#undef dw_plane
