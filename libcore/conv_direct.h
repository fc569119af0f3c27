/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv_direct.h — direct channels-last convolution (AVX-512 or AVX2+FMA microkernels) with the
 * bias, a ReLU and a 2x2 stride-2 pool fused into the register tile; used by net.c. Not installed.
 *
 * Activations are (H, W, C) row-major. Weights are packed once (instrid_conv_direct_pack) into
 * blocks of INSTRID_DIRECT_OC output channels: per block, the block's bias (OC floats, zero
 * past c_out), then the weights (kh, kw, c_in, OC), zero past c_out. Nothing allocates.
 */
#ifndef INSTRID_CONV_DIRECT_H
#define INSTRID_CONV_DIRECT_H

#include <stddef.h>

#include "layers.h"

/* Output channels per packed weight block: two AVX-512 registers, four AVX2 ones. */
#define INSTRID_DIRECT_OC 32

typedef enum {
  INSTRID_DIRECT_NONE = 0, /* no kernel for this CPU: the caller runs its gemm path */
  INSTRID_DIRECT_AVX2 = 1, /* AVX2 + FMA, 16 ymm registers */
  INSTRID_DIRECT_AVX512 = 2,
} instrid_direct_isa;

/* The best kernel this CPU (and OS) runs. */
instrid_direct_isa instrid_conv_direct_best_isa(void);
/* Whether isa's kernel was compiled in and this CPU runs it. */
int instrid_conv_direct_isa_usable(instrid_direct_isa isa);

/* Whether the kernels cover the convolution g (one example, one group; any kernel size,
 * stride, padding and dilation) followed by pool_mode (-1 none, INSTRID_POOL_MAX or
 * INSTRID_POOL_MEAN) over pool_kh x pool_kw windows of the same stride. */
int instrid_conv_direct_covers(const instrid_conv_geom *g, int pool_mode, int pool_kh, int pool_kw);

/* Floats of the packed weights and bias; SIZE_MAX on overflow. */
size_t instrid_conv_direct_packed_floats(const instrid_conv_geom *g);
/* Floats of scratch instrid_conv_direct_forward needs (the zero-padded input); SIZE_MAX on
 * overflow. */
size_t instrid_conv_direct_scratch_floats(const instrid_conv_geom *g);

/* weight (c_out, c_in, kh, kw), bias (c_out) or NULL -> packed (see above). */
void instrid_conv_direct_pack(const instrid_conv_geom *g, const float *weight, const float *bias,
                              float *packed);

/* out = pool(relu?(conv(in) + bias)). in (h_in, w_in, c_in); out (h_out, w_out, c_out), or with
 * a pool (h_out / 2, w_out / 2, c_out) (floor). isa must be usable. The same input gives the
 * same bits on every call and thread: each output sums its products in one fixed order. */
void instrid_conv_direct_forward(instrid_direct_isa isa, const instrid_conv_geom *g,
                                 const float *packed, int relu, int pool_mode, const float *in,
                                 float *out, float *scratch);

#endif /* INSTRID_CONV_DIRECT_H */
