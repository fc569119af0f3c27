/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* depthwise.c — depthwise convolution (groups == c_in == c_out), channels first: one plane at
 * a time, each input row copied once into a zero-padded row (split into even and odd columns
 * for stride 2) so that every kernel tap is a contiguous multiply-add over a block of outputs
 * held in registers, which the compiler vectorises. The work per byte is small (kh*kw
 * multiply-adds per output), so the kernel is bound by moving the planes through the caches. */
#include <string.h>

#include "layers.h"

/* Every width does a multiplication and then an addition per tap, with two roundings. Clang
 * would contract them into one fused multiply-add where the target has one (its default is
 * -ffp-contract=on; avx512f implies FMA there), and the AVX-512 variant's bits would differ
 * from the others'. GCC contracts nothing in ISO C mode. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

int instrid_conv_is_depthwise(const instrid_conv_geom *g)
{
  return g->groups > 1 && g->groups == g->c_in && g->groups == g->c_out;
}

/* Padded rows for one plane: (h_in) rows of wp = w_in + 2 pw floats, rounded up, with room
 * for a block of outputs read past the last one (see depthwise_plane.h); for stride 2 each row
 * holds the even/odd split of it. */
static size_t dw_padded_width(const instrid_conv_geom *g)
{
  return ((size_t)g->w_in + 2 * (size_t)g->pw + 15) / 16 * 16 + 32;
}

size_t instrid_depthwise_scratch_floats(const instrid_conv_geom *g)
{
  return (size_t)g->h_in * dw_padded_width(g) * 2;
}

/* Horizontal strides above 2, in no network we run: the plain loop, then the activation in
 * one pass over the contiguous plane. */
static void dw_plane_plain(const instrid_conv_geom *g, const float *in, const float *w, float b,
                           instrid_act act, float *out)
{
  const int w_out = g->w_out;
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
  const size_t n_out = (size_t)g->h_out * w_out;
  if (act == INSTRID_ACT_RELU)
    instrid_relu_forward(out, n_out);
  else if (act == INSTRID_ACT_HARDSWISH)
    instrid_hardswish_forward(out, out, n_out);
}

/* The kernel once per register width (depthwise_plane.h): outputs computed at a time, in one
 * register of accumulators that stays there over all kh * kw taps, so each output is stored
 * once (a tap-by-tap axpy over the row loads and stores it kh * kw times). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_WIDTHS 1
#define DW_BLOCK 16
#define DW_TARGET __attribute__((target("avx512f")))
#define DW_NAME(x) x##_w16
#include "depthwise_plane.h"
#undef DW_BLOCK
#undef DW_TARGET
#undef DW_NAME
#define DW_BLOCK 8
#define DW_TARGET __attribute__((target("avx2")))
#define DW_NAME(x) x##_w8
#include "depthwise_plane.h"
#undef DW_BLOCK
#undef DW_TARGET
#undef DW_NAME
#else
#define HAVE_X86_WIDTHS 0
#endif
#define DW_BLOCK 4 /* SSE2 on every x86-64, NEON, or the compiler's own lowering elsewhere */
#define DW_TARGET
#define DW_NAME(x) x##_w4
#include "depthwise_plane.h"
#undef DW_BLOCK
#undef DW_TARGET
#undef DW_NAME

int instrid_depthwise_best_width(void)
{
#if HAVE_X86_WIDTHS
  /* libgcc's and compiler-rt's checks include the OS saving the wide registers (XCR0); their
   * detection ran as a constructor (no __builtin_cpu_init here: it would write shared state). */
  if (__builtin_cpu_supports("avx512f"))
    return 16;
  if (__builtin_cpu_supports("avx2"))
    return 8;
#endif
  return 4;
}

int instrid_depthwise_width_usable(int width)
{
  return (width == 4 || width == 8 || width == 16) && width <= instrid_depthwise_best_width();
}

void instrid_depthwise_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                               const float *bias, float *out, float *scratch)
{
  instrid_depthwise_forward_act(g, in, weight, bias, INSTRID_ACT_NONE, out, scratch);
}

void instrid_depthwise_forward_act(const instrid_conv_geom *g, const float *in, const float *weight,
                                   const float *bias, instrid_act act, float *out, float *scratch)
{
  instrid_depthwise_forward_width(instrid_depthwise_best_width(), g, in, weight, bias, act, out,
                                  scratch);
}

void instrid_depthwise_forward_width(int width, const instrid_conv_geom *g, const float *in,
                                     const float *weight, const float *bias, instrid_act act,
                                     float *out, float *scratch)
{
  /* The padded rows' zeros, once for all planes (depthwise_plane writes the input's columns). */
  if (g->sw <= 2)
    memset(scratch, 0, sizeof(float) * (size_t)g->h_in * dw_padded_width(g));
#if HAVE_X86_WIDTHS
  if (width == 16) {
    depthwise_planes_w16(g, in, weight, bias, act, out, scratch);
    return;
  }
  if (width == 8) {
    depthwise_planes_w8(g, in, weight, bias, act, out, scratch);
    return;
  }
#endif
  (void)width;
  depthwise_planes_w4(g, in, weight, bias, act, out, scratch);
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
