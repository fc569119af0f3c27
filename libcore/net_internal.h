/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* net_internal.h — the inference engine's internals for the trainer, the tests and the
 * benchmarks: the channels-last convolution of the network's front (which the trainer's forward
 * runs too), the engine's instrumentation. Not installed. */
#ifndef INSTRID_NET_INTERNAL_H
#define INSTRID_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "layers.h"

/* While step_seconds is not NULL, every instrid_net_forward adds the thread CPU time of each of
 * its operations to step_seconds[i], i being the first model step (instrid_model's inference plan,
 * after folding) the operation covers: a convolution's slot also holds the ReLU and the pool
 * fused into it, whose own slots stay 0. step_seconds has one slot per step; NULL stops. */
void instrid_net_set_step_timer(instrid_net *net, double *step_seconds);

/* instrid_net_new with the convolution kernel chosen by the caller rather than for the CPU:
 * direct_isa is an instrid_direct_isa (conv_direct.h), INSTRID_DIRECT_NONE for the portable
 * gemm path. For the tests, which check every kernel this CPU runs against the reference, and
 * the benchmark. Fails with INSTRID_ERR_INVALID_ARG when this CPU cannot run the kernel. */
instrid_net *instrid_net_new_with_kernel(const instrid_model *model, int direct_isa,
                                         instrid_error *err);

/* Bytes of the network's scratch and packed convolution weights, as allocated: what
 * instrid_model_cost's scratch_bytes bounds (tests/libcore/test_budget.c). */
size_t instrid_net_scratch_bytes(const instrid_net *net);

/* Whether the engine runs a layer of this type channels-last when it comes before every layer
 * of another type (the network's front: convolution, batch norm, ReLU, pooling, dropout), and up
 * to a layer whose input a residual adds. */
int instrid_layer_runs_channels_last(uint32_t type);

/* The convolution of the network's front as the engine runs it, one example channels-last:
 * conv_direct.c's kernel where the CPU and the geometry allow, else tiles of im2row rows times
 * the weights (sgemm, or a loop for K <= 16), with the bias, a ReLU and a non-overlapping pool
 * fused. The trainer (trainer/netgrad.c) runs its front convolutions through the same functions,
 * so that training and serving compute them with the same code and the same bits. */
typedef struct {
  instrid_conv_geom g; /* one example */
  int direct;          /* instrid_direct_isa (conv_direct.h) of the kernel, 0: the gemm path */
  int small_k;         /* gemm path: a loop instead of sgemm (one group, K <= 16) */
  int relu;            /* clamp after the bias */
  int pool_mode;       /* -1, or INSTRID_POOL_MAX / _MEAN over pool_kh x pool_kw, same stride */
  int pool_kh, pool_kw;
  int out_h, out_w;     /* the output's height and width (after the pool, floor) */
  int tile_rows;        /* gemm path: conv output rows per tile (multiple of pool_kh) */
  int conv_rows;        /* conv output rows computed (the pool's floor drops some) */
  size_t packed_floats; /* of instrid_conv_hwc_pack's output */
} instrid_conv_hwc;

/* Plans the convolution g (g->n is ignored) with the kernel of isa (an instrid_direct_isa the CPU
 * runs, or INSTRID_DIRECT_NONE for the gemm path; a geometry it does not cover takes the gemm
 * path), then relu and pool_mode (-1: none). *scratch_floats: what forward needs. Returns 0 when
 * a size overflows. */
int instrid_conv_hwc_plan(instrid_conv_hwc *c, const instrid_conv_geom *g, int isa, int relu,
                          int pool_mode, int pool_kh, int pool_kw, size_t *scratch_floats);
/* weight (c_out, c_in/groups, kh, kw), bias (c_out) -> packed (c->packed_floats floats, 64-byte
 * aligned for the direct kernels). */
void instrid_conv_hwc_pack(const instrid_conv_hwc *c, const float *weight, const float *bias,
                           float *packed);
/* out (out_h, out_w, c_out) = pool(relu?(conv(in (h_in, w_in, c_in)) + bias)); bias is the one
 * packed too. The same input gives the same bits on every call and thread. */
void instrid_conv_hwc_forward(const instrid_conv_hwc *c, const float *packed, const float *bias,
                              const float *in, float *out, float *scratch);

/* Layout changes of one example: (h, w, c) -> (c, h, w), the engine's at the end of its
 * channels-last front, and back. */
void instrid_hwc_to_chw(int h, int w, int c, const float *x, float *y);
void instrid_chw_to_hwc(int h, int w, int c, const float *x, float *y);

#endif /* INSTRID_NET_INTERNAL_H */
