/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv_direct.c — direct channels-last convolution (conv_direct.h): a register tile of output
 * pixels by 32 output channels accumulates over (ky, kx, c_in) from the input itself, with no
 * im2col copy and no gemm packing, and leaves through the bias, ReLU and pool in registers.
 *
 * Why direct: the gemm path copies every input value kh*kw times into im2col rows and then
 * OpenBLAS repacks both operands; on this network those copies cost a fifth of the time, and
 * they are pure memory traffic. Here each input value is broadcast from where it lies (L1 for a
 * tile's few input rows) and each weight vector, loaded once per c_in step, feeds every pixel
 * of the tile. Weights for one block of 32 channels ((kh, kw, c_in, 32), 147 KiB at c_in 128)
 * stay in L2 while the block sweeps the whole image.
 *
 * Padding: the input is copied once into a zero-bordered buffer, so the tile loops never test
 * bounds (the copy is one pass over the input, against kh*kw passes for im2col).
 */
#include <string.h>

#include "conv_direct.h"
#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_KERNELS 1
#include <immintrin.h>
#else
#define HAVE_X86_KERNELS 0
#endif

#define OC INSTRID_DIRECT_OC

/* One weight block of one convolution, as the tile kernels see it. Strides are in floats. */
typedef struct {
  const float *bias;     /* (OC) */
  const float *w;        /* (kh, kw, c_in, OC) */
  int n_oc;              /* channels of the block that exist, 1..OC */
  int c_in, kh, kw;      /* the padded input is (hp, wp, c_in) */
  int run, run_taps;     /* inputs read in one contiguous run, and the kernel columns it spans:
                            c_in and 1, or with dw = 1 the whole kernel row, kw * c_in and kw */
  size_t tap_h, tap_w;   /* from one kernel row / column to the next: dh * wp * c_in, dw * c_in */
  size_t step_h, step_w; /* from one output row / pixel to the next: sh * wp * c_in, sw * c_in */
  int relu;
  int pool_mode; /* -1, or INSTRID_POOL_MAX / _MEAN over 2x2 tiles of conv output */
  int c_out;     /* floats from one output pixel to the next */
  size_t y_row;  /* floats from one output row (pooled row with a pool) to the next */
} direct_block;

/* ------------------------------------------------------------------------------------------ */
/* AVX-512: a tile is 2 conv rows x 6 pixels x 32 channels = 24 zmm accumulators, plus the 2
 * weight vectors; inputs are broadcast straight from memory into the FMA. 2 rows so that a 2x2
 * pool closes inside the tile; 6 pixels so that every weight vector feeds 12 FMAs (the loads
 * then stay well below the FMA rate) while 24 + 2 of the 32 registers are in use. */

#if HAVE_X86_KERNELS
#define AVX512_PX 6

/* acc[r][p][v] over n_rows x n_px (compile-time after inlining) of the tile at x, to y. */
static inline __attribute__((always_inline, target("avx512f"))) void
tile_avx512(const direct_block *b, const float *x, float *y, const int n_rows, const int n_px)
{
  __m512 acc[2][AVX512_PX][2];
  const __m512 bias0 = _mm512_loadu_ps(b->bias), bias1 = _mm512_loadu_ps(b->bias + 16);
  for (int r = 0; r < n_rows; r++)
    for (int p = 0; p < n_px; p++) {
      acc[r][p][0] = bias0;
      acc[r][p][1] = bias1;
    }
  const float *w = b->w;
  for (int ky = 0; ky < b->kh; ky++) {
    for (int kx = 0; kx < b->kw; kx += b->run_taps) {
      const float *xt = x + ky * b->tap_h + kx * b->tap_w;
      for (int ci = 0; ci < b->run; ci++, w += OC) {
        const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16);
        for (int r = 0; r < n_rows; r++)
          for (int p = 0; p < n_px; p++) {
            const __m512 v = _mm512_set1_ps(xt[r * b->step_h + p * b->step_w + ci]);
            acc[r][p][0] = _mm512_fmadd_ps(v, w0, acc[r][p][0]);
            acc[r][p][1] = _mm512_fmadd_ps(v, w1, acc[r][p][1]);
          }
      }
    }
  }

  /* Channels past n_oc exist in the registers (zero weights) but not in y. */
  const __mmask16 m0 = b->n_oc >= 16 ? 0xffff : (__mmask16)((1u << b->n_oc) - 1);
  const __mmask16 m1 = b->n_oc >= 32   ? 0xffff
                       : b->n_oc <= 16 ? 0
                                       : (__mmask16)((1u << (b->n_oc - 16)) - 1);
  const __m512 zero = _mm512_setzero_ps();
  if (b->pool_mode < 0) {
    for (int r = 0; r < n_rows; r++)
      for (int p = 0; p < n_px; p++) {
        float *o = y + r * b->y_row + (size_t)p * b->c_out;
        __m512 a0 = acc[r][p][0], a1 = acc[r][p][1];
        if (b->relu) {
          a0 = _mm512_max_ps(a0, zero);
          a1 = _mm512_max_ps(a1, zero);
        }
        _mm512_mask_storeu_ps(o, m0, a0);
        _mm512_mask_storeu_ps(o + 16, m1, a1);
      }
    return;
  }
  /* 2x2 pool: n_rows is 2 and n_px even here (the test lets the compiler drop the pool from
   * the one-row instances). For max, ReLU after the max gives the same bits as before it; the
   * mean adds in pool_hwc's order, row by row. */
  if (n_rows != 2)
    return;
  for (int q = 0; q < n_px / 2; q++) {
    float *o = y + (size_t)q * b->c_out;
    for (int v = 0; v < 2; v++) {
      __m512 a = acc[0][2 * q][v], c = acc[0][2 * q + 1][v];
      __m512 d = acc[1][2 * q][v], e = acc[1][2 * q + 1][v], res;
      if (b->pool_mode == INSTRID_POOL_MAX) {
        res = _mm512_max_ps(_mm512_max_ps(_mm512_max_ps(a, c), d), e);
        if (b->relu)
          res = _mm512_max_ps(res, zero);
      } else {
        if (b->relu) {
          a = _mm512_max_ps(a, zero);
          c = _mm512_max_ps(c, zero);
          d = _mm512_max_ps(d, zero);
          e = _mm512_max_ps(e, zero);
        }
        res = _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a, c), d), e),
                            _mm512_set1_ps(0.25f));
      }
      _mm512_mask_storeu_ps(o + 16 * v, v == 0 ? m0 : m1, res);
    }
  }
}

/* One instance per tile shape, so that the accumulators are registers in each. */
__attribute__((target("avx512f"))) static void
tile_avx512_any(const direct_block *b, const float *x, float *y, int n_rows, int n_px)
{
#define CASE(R, P)                                                                                 \
  case (R)*8 + (P):                                                                                \
    tile_avx512(b, x, y, R, P);                                                                    \
    break
  switch (n_rows * 8 + n_px) {
    CASE(2, 6);
    CASE(2, 5);
    CASE(2, 4);
    CASE(2, 3);
    CASE(2, 2);
    CASE(2, 1);
    CASE(1, 6);
    CASE(1, 5);
    CASE(1, 4);
    CASE(1, 3);
    CASE(1, 2);
    CASE(1, 1);
  default:
    break;
  }
#undef CASE
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* AVX2 + FMA: 16 ymm registers hold a tile of 2 rows x 2 pixels x 16 channels (8 accumulators,
 * enough to cover the FMA latency on two ports) plus 2 weight vectors and the broadcast; a
 * 32-channel block runs as two halves. */

#if HAVE_X86_KERNELS
#define AVX2_PX 2

static inline __attribute__((always_inline, target("avx2,fma"))) void
tile_avx2(const direct_block *b, int half, const float *x, float *y, const int n_rows,
          const int n_px)
{
  __m256 acc[2][AVX2_PX][2];
  const float *bias = b->bias + 16 * half;
  const __m256 bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
  for (int r = 0; r < n_rows; r++)
    for (int p = 0; p < n_px; p++) {
      acc[r][p][0] = bias0;
      acc[r][p][1] = bias1;
    }
  const float *w = b->w + 16 * half;
  for (int ky = 0; ky < b->kh; ky++) {
    for (int kx = 0; kx < b->kw; kx += b->run_taps) {
      const float *xt = x + ky * b->tap_h + kx * b->tap_w;
      for (int ci = 0; ci < b->run; ci++, w += OC) {
        const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
        for (int r = 0; r < n_rows; r++)
          for (int p = 0; p < n_px; p++) {
            const __m256 v = _mm256_set1_ps(xt[r * b->step_h + p * b->step_w + ci]);
            acc[r][p][0] = _mm256_fmadd_ps(v, w0, acc[r][p][0]);
            acc[r][p][1] = _mm256_fmadd_ps(v, w1, acc[r][p][1]);
          }
      }
    }
  }

  /* Lane masks: lane i of vector v is stored when channel 16 * half + 8 * v + i exists. */
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int valid = b->n_oc - 16 * half;
  const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lane);
  const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid - 8), lane);
  const __m256 zero = _mm256_setzero_ps();
  if (b->pool_mode < 0) {
    for (int r = 0; r < n_rows; r++)
      for (int p = 0; p < n_px; p++) {
        float *o = y + r * b->y_row + (size_t)p * b->c_out;
        __m256 a0 = acc[r][p][0], a1 = acc[r][p][1];
        if (b->relu) {
          a0 = _mm256_max_ps(a0, zero);
          a1 = _mm256_max_ps(a1, zero);
        }
        _mm256_maskstore_ps(o, mask0, a0);
        _mm256_maskstore_ps(o + 8, mask1, a1);
      }
    return;
  }
  if (n_rows != 2)
    return;
  for (int q = 0; q < n_px / 2; q++) {
    float *o = y + (size_t)q * b->c_out;
    for (int v = 0; v < 2; v++) {
      __m256 a = acc[0][2 * q][v], c = acc[0][2 * q + 1][v];
      __m256 d = acc[1][2 * q][v], e = acc[1][2 * q + 1][v], res;
      if (b->pool_mode == INSTRID_POOL_MAX) {
        res = _mm256_max_ps(_mm256_max_ps(_mm256_max_ps(a, c), d), e);
        if (b->relu)
          res = _mm256_max_ps(res, zero);
      } else {
        if (b->relu) {
          a = _mm256_max_ps(a, zero);
          c = _mm256_max_ps(c, zero);
          d = _mm256_max_ps(d, zero);
          e = _mm256_max_ps(e, zero);
        }
        res = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a, c), d), e),
                            _mm256_set1_ps(0.25f));
      }
      _mm256_maskstore_ps(o + 8 * v, v == 0 ? mask0 : mask1, res);
    }
  }
}

__attribute__((target("avx2,fma"))) static void
tile_avx2_any(const direct_block *b, int half, const float *x, float *y, int n_rows, int n_px)
{
  if (n_rows == 2 && n_px == 2)
    tile_avx2(b, half, x, y, 2, 2);
  else if (n_rows == 2)
    tile_avx2(b, half, x, y, 2, 1);
  else if (n_px == 2)
    tile_avx2(b, half, x, y, 1, 2);
  else
    tile_avx2(b, half, x, y, 1, 1);
}
#endif

/* ------------------------------------------------------------------------------------------ */

instrid_direct_isa instrid_conv_direct_best_isa(void)
{
#if HAVE_X86_KERNELS
  /* libgcc's and compiler-rt's checks include the OS saving the wide registers (XCR0). Their
   * detection ran as a constructor: no __builtin_cpu_init here (it would write shared state). */
  if (__builtin_cpu_supports("avx512f"))
    return INSTRID_DIRECT_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return INSTRID_DIRECT_AVX2;
#endif
  return INSTRID_DIRECT_NONE;
}

int instrid_conv_direct_isa_usable(instrid_direct_isa isa)
{
  return isa != INSTRID_DIRECT_NONE && isa <= instrid_conv_direct_best_isa();
}

int instrid_conv_direct_covers(const instrid_conv_geom *g, int pool_mode, int pool_kh, int pool_kw)
{
  if (g->n != 1 || g->groups != 1)
    return 0;
  if (pool_mode < 0)
    return 1;
  return pool_kh == 2 && pool_kw == 2 && g->h_out >= 2 && g->w_out >= 2;
}

size_t instrid_conv_direct_packed_floats(const instrid_conv_geom *g)
{
  int overflow = 0;
  const size_t blocks = ((size_t)g->c_out + OC - 1) / OC;
  size_t per_block = instrid_mul_size((size_t)g->kh * g->kw, (size_t)g->c_in, &overflow);
  per_block = instrid_mul_size(instrid_add_size(per_block, 1, &overflow), OC, &overflow);
  const size_t n = instrid_mul_size(blocks, per_block, &overflow);
  return overflow ? SIZE_MAX : n;
}

size_t instrid_conv_direct_scratch_floats(const instrid_conv_geom *g)
{
  if (g->ph == 0 && g->pw == 0)
    return 0;
  int overflow = 0;
  size_t n = instrid_mul_size((size_t)g->h_in + 2 * (size_t)g->ph,
                              (size_t)g->w_in + 2 * (size_t)g->pw, &overflow);
  n = instrid_mul_size(n, (size_t)g->c_in, &overflow);
  return overflow ? SIZE_MAX : n;
}

void instrid_conv_direct_pack(const instrid_conv_geom *g, const float *weight, const float *bias,
                              float *packed)
{
  const size_t taps = (size_t)g->kh * g->kw * g->c_in;
  const size_t block_floats = (taps + 1) * OC;
  const int n_blocks = (g->c_out + OC - 1) / OC;
  memset(packed, 0, sizeof(float) * block_floats * n_blocks);
  for (int o = 0; o < g->c_out; o++) {
    float *blk = packed + (size_t)(o / OC) * block_floats;
    const int lane = o % OC;
    blk[lane] = bias ? bias[o] : 0.0f;
    for (int c = 0; c < g->c_in; c++)
      for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
          const size_t tap = ((size_t)i * g->kw + j) * g->c_in + c;
          blk[OC + tap * OC + lane] = weight[(((size_t)o * g->c_in + c) * g->kh + i) * g->kw + j];
        }
  }
}

/* in (h_in, w_in, c) -> x (h_in + 2 ph, w_in + 2 pw, c) with a zero border. */
static void pad_hwc(const instrid_conv_geom *g, const float *in, float *x)
{
  const size_t c = (size_t)g->c_in;
  const size_t row = ((size_t)g->w_in + 2 * (size_t)g->pw) * c;
  const size_t border = (size_t)g->pw * c, inner = (size_t)g->w_in * c;
  memset(x, 0, sizeof(float) * row * g->ph);
  for (int h = 0; h < g->h_in; h++) {
    float *dst = x + ((size_t)h + g->ph) * row;
    memset(dst, 0, sizeof(float) * border);
    memcpy(dst + border, in + (size_t)h * inner, sizeof(float) * inner);
    memset(dst + border + inner, 0, sizeof(float) * border);
  }
  memset(x + ((size_t)g->h_in + g->ph) * row, 0, sizeof(float) * row * g->ph);
}

/* Sweeps one weight block over conv rows [0, rows) and pixels [0, cols): x is the padded input,
 * y the block's first channel of the output. */
static void block_forward(instrid_direct_isa isa, const direct_block *b, const float *x, int rows,
                          int cols, float *y)
{
  const int pooled = b->pool_mode >= 0;
#if HAVE_X86_KERNELS
  const int px = isa == INSTRID_DIRECT_AVX512 ? AVX512_PX : AVX2_PX;
  for (int oh = 0; oh < rows; oh += 2) {
    const int n_rows = rows - oh < 2 ? 1 : 2;
    const float *x_row = x + (size_t)oh * b->step_h;
    float *y_row = y + (size_t)(pooled ? oh / 2 : oh) * b->y_row;
    for (int ow = 0; ow < cols; ow += px) {
      const int n_px = cols - ow < px ? cols - ow : px;
      const float *xt = x_row + (size_t)ow * b->step_w;
      float *yt = y_row + (size_t)(pooled ? ow / 2 : ow) * b->c_out;
      if (isa == INSTRID_DIRECT_AVX512) {
        tile_avx512_any(b, xt, yt, n_rows, n_px);
      } else {
        tile_avx2_any(b, 0, xt, yt, n_rows, n_px);
        if (b->n_oc > 16)
          tile_avx2_any(b, 1, xt, yt + 16, n_rows, n_px);
      }
    }
  }
#else
  (void)isa, (void)b, (void)x, (void)rows, (void)cols, (void)y, (void)pooled;
#endif
}

void instrid_conv_direct_forward(instrid_direct_isa isa, const instrid_conv_geom *g,
                                 const float *packed, int relu, int pool_mode, const float *in,
                                 float *out, float *scratch)
{
  const float *x = in;
  if (g->ph || g->pw) {
    pad_hwc(g, in, scratch);
    x = scratch;
  }
  const size_t row = ((size_t)g->w_in + 2 * (size_t)g->pw) * g->c_in;
  const int pooled = pool_mode >= 0;
  /* A pool with floor drops the last conv row / column when their count is odd. */
  const int rows = pooled ? g->h_out / 2 * 2 : g->h_out;
  const int cols = pooled ? g->w_out / 2 * 2 : g->w_out;
  const size_t block_floats = ((size_t)g->kh * g->kw * g->c_in + 1) * OC;
  direct_block b = {
      .c_in = g->c_in,
      .kh = g->kh,
      .kw = g->kw,
      /* With dw = 1 a kernel row's taps are kw * c_in consecutive floats of the input and of
       * the packed weights: one loop over them, which matters when c_in is small (the
       * one-channel spectrogram: 3 loops of 3 instead of 9 of 1). */
      .run = g->dw == 1 ? g->kw * g->c_in : g->c_in,
      .run_taps = g->dw == 1 ? g->kw : 1,
      .tap_h = (size_t)g->dh * row,
      .tap_w = (size_t)g->dw * g->c_in,
      .step_h = (size_t)g->sh * row,
      .step_w = (size_t)g->sw * g->c_in,
      .relu = relu,
      .pool_mode = pool_mode,
      .c_out = g->c_out,
      .y_row = (size_t)(pooled ? g->w_out / 2 : g->w_out) * g->c_out,
  };
  for (int oc0 = 0; oc0 < g->c_out; oc0 += OC) {
    b.bias = packed + (size_t)(oc0 / OC) * block_floats;
    b.w = b.bias + OC;
    b.n_oc = g->c_out - oc0 < OC ? g->c_out - oc0 : OC;
    block_forward(isa, &b, x, rows, cols, out + oc0);
  }
}
