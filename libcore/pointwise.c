/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pointwise.c — 1x1 convolution (stride 1, no padding), channels first, its bias and activation
 * included: out (c_out, hw) = act(bias + weight (c_out, c_in) * in (c_in, hw)). A kernel of our
 * own on CPUs with AVX-512, OpenBLAS's sgemm and a bias/activation pass on the others.
 *
 * It is a matrix product, which sgemm computes well in general. But mn04's products are small
 * (c_in 8-384, hw 40-10,240): sgemm spends a good part of its time packing both operands and
 * leaves the bias and activation to a second pass; and a DYNAMIC_ARCH OpenBLAS older than the
 * CPU (Debian 12's 0.3.21 on AMD Zen 4 and 5) runs its AVX2 kernel on AVX-512 hardware.
 * Measured with mn04 on an AMD EPYC with AVX-512 (docs/MODEL.md "Speed", round 20): the network
 * 1.24-1.35 ms per window with OpenBLAS's AVX2 kernel, 1.02-1.07 with its AVX-512 kernel
 * (forced by OPENBLAS_CORETYPE), 0.95-1.01 with this one. With AVX2 alone, the same kernel at 8
 * floats (tiles of 4x3, 6x2, 3x4 or 2x4 vectors) was slower than OpenBLAS's (1.33-1.46 against
 * 1.24-1.35 ms), so those CPUs keep sgemm.
 *
 * A tile of ROWS output channels by VECS vectors of 16 columns stays in registers over the
 * whole sum: per input channel, VECS loads and ROWS broadcasts feed ROWS x VECS fused
 * multiply-adds (4 x 3 = 12 accumulators; 8 x 1 on planes narrower than 48 columns). Every
 * output is summed over c_in in order from zero with one rounding per step, then the bias is
 * added and the activation applied, whatever tile it falls in: the same input gives the same
 * bits on every call (not the same as sgemm's, which sums in another order). */
#include <cblas.h>
#include <string.h>

#include "layers.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define PW_BLOCK 16 /* floats per vector */
#define PW_ROWS 4   /* output channels per tile */
#define PW_VECS 3   /* vectors of columns per tile */
#define PW_ROWS1 8  /* output channels per tile of one vector (planes narrower than a strip) */
#define PW_TARGET __attribute__((target("avx512f,fma")))

typedef float pw_vec __attribute__((vector_size(PW_BLOCK * sizeof(float))));
typedef int pw_ivec __attribute__((vector_size(PW_BLOCK * sizeof(float))));

/* The activation of a vector of outputs in registers: act_vec_pw. */
#define VA_VEC pw_vec
#define VA_IVEC pw_ivec
#define VA_TARGET PW_TARGET
#define VA_NAME(x) x##_pw
#include "vec_act.h"

/* ROWS output channels from co, VECS vectors of columns from p: ROWS and VECS are constants
 * where this is inlined, so that the loops unroll and the accumulators live in registers. */
static inline PW_TARGET __attribute__((always_inline)) void
pw_tile(const int ROWS, const int VECS, int co, size_t p, int c_in, size_t hw, const float *w,
        const float *bias, instrid_act act, const float *in, float *out)
{
  pw_vec acc[PW_ROWS1][PW_VECS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++)
#pragma GCC unroll 8
    for (int v = 0; v < VECS; v++)
      acc[r][v] = (pw_vec){0};
  const float *x = in + p;
  const float *wr = w + (size_t)co * c_in;
  for (int ci = 0; ci < c_in; ci++, x += hw) {
    pw_vec xv[PW_VECS];
#pragma GCC unroll 8
    for (int v = 0; v < VECS; v++)
      memcpy(&xv[v], x + v * PW_BLOCK, sizeof(pw_vec));
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
      const __m512 wv = _mm512_set1_ps(wr[(size_t)r * c_in + ci]);
#pragma GCC unroll 8
      for (int v = 0; v < VECS; v++)
        acc[r][v] = (pw_vec)_mm512_fmadd_ps(wv, (__m512)xv[v], (__m512)acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; r++) {
    const float b = bias ? bias[co + r] : 0.0f;
    float *o = out + (size_t)(co + r) * hw + p;
#pragma GCC unroll 8
    for (int v = 0; v < VECS; v++) {
      pw_vec s = acc[r][v];
      if (bias)
        s = s + b;
      s = act_vec_pw(s, act);
      memcpy(o + v * PW_BLOCK, &s, sizeof(pw_vec));
    }
  }
}

/* Every output channel over the columns [p, p + VECS * PW_BLOCK). */
static inline PW_TARGET __attribute__((always_inline)) void
pw_strip(const int ROWS, const int VECS, size_t p, int c_out, int c_in, size_t hw, const float *w,
         const float *bias, instrid_act act, const float *in, float *out)
{
  int co = 0;
  for (; co + ROWS <= c_out; co += ROWS)
    pw_tile(ROWS, VECS, co, p, c_in, hw, w, bias, act, in, out);
  for (; co < c_out; co++)
    pw_tile(1, VECS, co, p, c_in, hw, w, bias, act, in, out);
}

/* Planes narrower than one vector: each sum one fused multiply-add at a time, as the tiles
 * do it per lane, then instrid_bias_act_rows's bias and activation (the same operations as
 * act_vec_pw's). */
static PW_TARGET void pw_narrow(int c_out, int c_in, size_t hw, const float *w, const float *bias,
                                instrid_act act, const float *in, float *out)
{
  for (int co = 0; co < c_out; co++) {
    const float *wr = w + (size_t)co * c_in;
    float *o = out + (size_t)co * hw;
    for (size_t q = 0; q < hw; q++) {
      __m128 a = _mm_setzero_ps();
      for (int ci = 0; ci < c_in; ci++)
        a = _mm_fmadd_ss(_mm_set_ss(wr[ci]), _mm_set_ss(in[(size_t)ci * hw + q]), a);
      o[q] = _mm_cvtss_f32(a);
    }
  }
  instrid_bias_act_rows(out, c_out, hw, bias, act);
}

static PW_TARGET void pointwise_avx512(int c_out, int c_in, size_t hw, const float *w,
                                       const float *bias, instrid_act act, const float *in,
                                       float *out)
{
  const size_t wide = (size_t)PW_VECS * PW_BLOCK;
  if (hw < PW_BLOCK) {
    pw_narrow(c_out, c_in, hw, w, bias, act, in, out);
    return;
  }
  /* Column strips outside, output channels inside: a strip of the input (c_in x wide floats)
   * is read by every row block while it is in L1; the weights (c_out x c_in) stay in L2. */
  size_t p = 0;
  for (; p + wide <= hw; p += wide)
    pw_strip(PW_ROWS, PW_VECS, p, c_out, c_in, hw, w, bias, act, in, out);
  if (p == hw)
    return;
  /* The columns left: a last strip that ends at hw, overlapping the one before; the outputs
   * computed twice get the same operations both times, so the same bits. */
  if (hw >= wide) {
    pw_strip(PW_ROWS, PW_VECS, hw - wide, c_out, c_in, hw, w, bias, act, in, out);
    return;
  }
  for (; p + PW_BLOCK <= hw; p += PW_BLOCK)
    pw_strip(PW_ROWS1, 1, p, c_out, c_in, hw, w, bias, act, in, out);
  if (p < hw)
    pw_strip(PW_ROWS1, 1, hw - PW_BLOCK, c_out, c_in, hw, w, bias, act, in, out);
}

#define HAVE_AVX512_KERNEL 1
#else
#define HAVE_AVX512_KERNEL 0
#endif

int instrid_pointwise_usable(void)
{
#if HAVE_AVX512_KERNEL
  /* As instrid_depthwise_best_width: libgcc's checks include the OS saving the registers. */
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

void instrid_pointwise_forward(int c_out, int c_in, size_t hw, const float *weight,
                               const float *bias, instrid_act act, const float *in, float *out)
{
#if HAVE_AVX512_KERNEL
  if (instrid_pointwise_usable()) {
    pointwise_avx512(c_out, c_in, hw, weight, bias, act, in, out);
    return;
  }
#endif
  /* OpenBLAS: out zeroed and accumulated into (beta 1), the same sums as beta 0, whose zeroing
   * OpenBLAS does in a slower pass of its own; then the bias and activation per row. */
  memset(out, 0, sizeof(float) * (size_t)c_out * hw);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c_out, (int)hw, c_in, 1.0f, weight, c_in,
              in, (int)hw, 1.0f, out, (int)hw);
  instrid_bias_act_rows(out, c_out, hw, bias, act);
}
