/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layers.h — the compute kernels the layer table's entries (layer_table.h, libcore/layers/)
 * call: convolution (im2col + sgemm, depthwise), pooling, dense, activations. The entries are
 * shared by inference (net.c) and the trainer (trainer/netgrad.c).
 *
 * Activations are (N, C, H, W) row-major: N examples, C channels, H = frequency, W = time.
 * None of these allocate; scratch comes from the caller (sizes from the _scratch functions).
 * Not part of the installed public API: libinstrid's internal surface for its own tools.
 */
#ifndef INSTRID_LAYERS_H
#define INSTRID_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "layer_table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int n;                      /* batch */
  int c_in, h_in, w_in;       /* input (N, c_in, h_in, w_in) */
  int c_out, kh, kw;          /* weight (c_out, c_in/groups, kh, kw) */
  int sh, sw, ph, pw, dh, dw; /* stride, zero padding, dilation */
  int groups;
  int h_out, w_out; /* derived by instrid_conv_geom_init */
} instrid_conv_geom;

/* Fills h_out/w_out from the rest; returns 0 when the geometry is invalid. */
int instrid_conv_geom_init(instrid_conv_geom *g);
/* Floats of scratch instrid_conv2d_forward needs (im2col buffer for one example). */
size_t instrid_conv_scratch_floats(const instrid_conv_geom *g);

/* out (N, c_out, h_out, w_out) = conv(in (N, c_in, h_in, w_in), weight) + bias.
 * bias may be NULL. im2col + one sgemm per example and group. */
void instrid_conv2d_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                            const float *bias, float *out, float *scratch);

/* An activation applied by a convolution to its output as it adds the bias (net.c fuses a
 * RELU or HARDSWISH step that follows a convolution): the same operations as the step's own
 * forward, so the values are the same bits, without a second pass over the output. */
typedef enum {
  INSTRID_ACT_NONE = 0,
  INSTRID_ACT_RELU = 1,
  INSTRID_ACT_HARDSWISH = 2,
} instrid_act;

/* instrid_conv2d_forward / instrid_depthwise_forward, then act on every output. */
void instrid_conv2d_forward_act(const instrid_conv_geom *g, const float *in, const float *weight,
                                const float *bias, instrid_act act, float *out, float *scratch);
void instrid_depthwise_forward_act(const instrid_conv_geom *g, const float *in, const float *weight,
                                   const float *bias, instrid_act act, float *out, float *scratch);

/* im2col for one example and one group: col (c_in/groups*kh*kw, h_out*w_out). Exposed so the
 * trainer's backward pass reuses it (and its inverse, col2im, which accumulates). */
void instrid_im2col(const instrid_conv_geom *g, const float *in_one_group, float *col);
void instrid_col2im(const instrid_conv_geom *g, const float *col, float *in_one_group_accum);

/* Depthwise convolution (groups == c_in == c_out): a direct kernel, scratch of
 * instrid_depthwise_scratch_floats. Backward for one example: dweight accumulates, din (may be
 * NULL) accumulates too (the caller zeroes it). */
int instrid_conv_is_depthwise(const instrid_conv_geom *g);
size_t instrid_depthwise_scratch_floats(const instrid_conv_geom *g);
void instrid_depthwise_forward(const instrid_conv_geom *g, const float *in, const float *weight,
                               const float *bias, float *out, float *scratch);
void instrid_depthwise_backward(const instrid_conv_geom *g, const float *in, const float *weight,
                                const float *dout, float *dweight, float *din);
/* The depthwise kernel at a given register width in floats: 16 (AVX-512), 8 (AVX2) or 4 (the
 * baseline); instrid_depthwise_forward(_act) take the best this CPU runs. Every width gives the
 * same bits; the tests run each usable one. */
int instrid_depthwise_best_width(void);
int instrid_depthwise_width_usable(int width);
void instrid_depthwise_forward_width(int width, const instrid_conv_geom *g, const float *in,
                                     const float *weight, const float *bias, instrid_act act,
                                     float *out, float *scratch);

/* Rows of n outputs: o[r][i] = act(o[r][i] + bias[r]) (without the add when bias is NULL;
 * nothing at all without a bias or an activation), in one pass: the bias loop's operations and
 * then instrid_relu_forward's or instrid_hardswish_forward's. */
void instrid_bias_act_rows(float *o, int rows, size_t n, const float *bias, instrid_act act);

/* 1x1 convolution (stride 1, no padding, one group), channels first, its bias (or NULL) and
 * activation included: out (c_out, hw) = act(bias + weight (c_out, c_in) * in (c_in, hw)); in
 * and out must not overlap. Where instrid_pointwise_usable() (AVX-512), pointwise.c's kernel:
 * each output summed over c_in in order from zero, one rounding per multiply-add (as fmaf),
 * then the bias added and the activation applied, in registers. Elsewhere OpenBLAS's sgemm,
 * then instrid_bias_act_rows. Either gives the same bits on every call. */
int instrid_pointwise_usable(void);
void instrid_pointwise_forward(int c_out, int c_in, size_t hw, const float *weight,
                               const float *bias, instrid_act act, const float *in, float *out);

/* The geometry of a CONV2D layer with parameters c on input `in`, n examples (h_out, w_out
 * filled in). */
void instrid_conv_geom_from_params(const instrid_conv2d_params *c, instrid_shape in, int n,
                                   instrid_conv_geom *g);

/* BLEND_MAPPED's value of one class from the head's probability and the largest mapped source's:
 * mode INSTRID_BLEND_LINEAR or INSTRID_BLEND_NOISY_OR (instrid.h), gamma the head's weight. */
float instrid_blend_value(uint32_t mode, float gamma, float head, float src);
void instrid_relu_forward(float *x, size_t n);    /* in place */
void instrid_sigmoid_forward(float *x, size_t n); /* in place, numerically stable */
/* y = x * min(max(x + 3, 0), 6) / 6 (PyTorch's hardswish); y may be x. */
void instrid_hardswish_forward(const float *x, float *y, size_t n);
/* y = x + skip; y may be x. */
void instrid_add_forward(const float *x, const float *skip, float *y, size_t n);
/* Squeeze-excitation gate of one example x (c, hw): s = per-channel mean, h = relu(w1 s + b1)
 * (w1 (sq, c)), z = w2 h + b2 (w2 (c, sq)), g = sigmoid(z) (EfficientAT's SqueezeExcitation). */
void instrid_squeeze_excite_gate(int c, int sq, size_t hw, const float *x, const float *w1,
                                 const float *b1, const float *w2, const float *b2, float *s,
                                 float *h, float *z, float *g);
/* y[c] = x[c] * g[c] per channel plane of hw values; y may be x. */
void instrid_scale_channels(int c, size_t hw, const float *x, const float *g, float *y);

/* Batch norm at inference: y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.
 * x (N, C, HW) in place. */
void instrid_batchnorm_inference(int n, int c, int hw, const float *gamma, const float *beta,
                                 const float *mean, const float *var, float eps, float *x);

/* Max or average pooling (mode INSTRID_POOL_MEAN or INSTRID_POOL_MAX), no padding, floor.
 * argmax (N, C, h_out, w_out), may be NULL: index of the winning input within its plane, for
 * the backward pass. */
void instrid_pool2d_forward(int mode, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
                            const float *in, float *out, int32_t *argmax);

/* Global pooling over axes (INSTRID_AXIS_* flags) with mode INSTRID_POOL_*; output shape from
 * instrid_arch_shapes. argmax as above (for MAX parts; size of the max part of the output),
 * may be NULL. */
void instrid_global_pool_forward(int axes, int mode, int n, int c, int h, int w, const float *in,
                                 float *out, int32_t *argmax);

/* y (N, out) = x (N, in) * weight^T (weight is (out, in)) + bias. One sgemm. */
void instrid_dense_forward(int n, int in, int out, const float *x, const float *weight,
                           const float *bias, float *y);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_LAYERS_H */
