/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* budget.c — what a model demands of its host (memory per stream, operations per second of
 * audio), computed from the layer list and the front end before anything is allocated, and the
 * limits instrid_model_load holds a file to (INSTRID_MAX_* in instrid.h).
 *
 * Each field of a model file has a range of its own (model_file.h), but a file that keeps every
 * field in range can still multiply them into 32 GiB of activations or a network 100 times
 * slower than real time. The figures here are upper bounds on what instrid_stream_new and the
 * element allocate and on the arithmetic instrid_stream_push performs, so that a model within
 * the limits is one whose streams fit, whatever kernel net.c picks for this CPU.
 *
 * Everything is counted in doubles: every term is a product of a few fields each below 2^32,
 * so a double holds it to within a part in 2^52 and cannot overflow, and the limits are far
 * below where the rounding would matter.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Floats of the padded tail instrid_alloc_floats-style slots add per tensor (64-byte slots). */
#define SLOT_FLOATS 16.0

/* Output channels of conv_direct.c's packed weight blocks, at most (INSTRID_DIRECT_OC is 32
 * on AVX-512; the bound below only needs an upper value). */
#define DIRECT_OC_MAX 64.0

static double shape_elems(instrid_shape s)
{
  return (double)s.c * s.h * s.w;
}

/* Arithmetic of one layer on one window, and the scratch (floats) and packed-weight copy
 * (floats) the inference engine may keep for it. */
static void layer_cost(const instrid_layer_desc *l, instrid_shape in, instrid_shape out,
                       double *ops, double *scratch, double *packed)
{
  const uint32_t *p = l->p;
  const double n_in = shape_elems(in), n_out = shape_elems(out);
  *scratch = 0.0;
  *packed = 0.0;
  switch (l->type) {
  case INSTRID_LAYER_CONV2D: {
    const double groups = p[9] ? p[9] : 1;
    const double k = (double)in.c / groups * p[1] * p[2];
    const double pixels = (double)out.h * out.w;
    *ops = 2.0 * k * n_out + n_out; /* multiply-adds, then the bias */
    /* The largest of: a whole im2col of the output plus a pooled tile's conv output (the gemm
     * paths take tiles of it), and the zero-padded input (the direct kernel). */
    double im2col = k * pixels + pixels * out.c;
    double padded = ((double)in.h + 2.0 * p[5]) * ((double)in.w + 2.0 * p[6]) * in.c;
    *scratch = im2col > padded ? im2col : padded;
    /* Weights reordered channels-last, or packed in blocks of output channels with the bias. */
    *packed = ((double)out.c + DIRECT_OC_MAX) * ((double)p[1] * p[2] * in.c + 1.0) + SLOT_FLOATS;
    break;
  }
  case INSTRID_LAYER_DENSE:
    *ops = 2.0 * n_in * n_out + n_out;
    break;
  case INSTRID_LAYER_MAXPOOL:
  case INSTRID_LAYER_AVGPOOL:
    *ops = (double)p[0] * p[1] * n_out; /* every output reads its whole window */
    break;
  case INSTRID_LAYER_GLOBAL_POOL:
    *ops = 2.0 * n_in + 2.0 * n_out;
    break;
  case INSTRID_LAYER_BATCHNORM:
    *ops = 2.0 * n_in;
    break;
  case INSTRID_LAYER_RELU:
  case INSTRID_LAYER_DROPOUT:
    *ops = n_in;
    break;
  case INSTRID_LAYER_SIGMOID:
    *ops = 4.0 * n_in;
    break;
  default:
    /* A type without a case here: a few operations per element in and out, and two per
     * parameter (what an element-wise layer or a squeeze-and-excitation block costs). */
    *ops = 4.0 * (n_in + n_out) + 2.0 * (double)instrid_layer_param_count(l, in);
    *scratch = n_in + n_out;
    break;
  }
}

/* Operations the front end performs per frame: pre-emphasis of the hop's new samples, window,
 * real FFT (about 2.5 n log2 n), power, the sparse mel filterbank (each bin lies in at most two
 * bands), log and normalisation. */
static double frontend_frame_ops(const instrid_frontend_params *fe)
{
  const double n = fe->n_fft, bins = (double)(fe->n_fft / 2 + 1);
  const double weights = 2.0 * bins + fe->n_mels;
  return 2.0 * fe->hop_samples + 2.0 * n + 2.5 * n * log2(n) + 3.0 * bins + 2.0 * weights +
         8.0 * fe->n_mels;
}

/* Bytes an instrid_frontend holds: window, frame (n + 1), the reflected tail of a centred
 * stream (n / 2 + 1), FFT input, spectrum, FFT output (complex), three u32 per band, the
 * filterbank's weights, and the row of doubles it is built from. */
static double frontend_bytes(const instrid_frontend_params *fe)
{
  const double n = fe->n_fft, bins = (double)(fe->n_fft / 2 + 1);
  const double weights = 2.0 * bins + fe->n_mels;
  return 4.0 * (3.5 * n + 2.0 + bins) + 8.0 * bins + 12.0 * fe->n_mels + 4.0 * weights + 8.0 * bins;
}

instrid_status instrid_model_desc_cost(const instrid_model_desc *desc, instrid_model_cost *cost,
                                       instrid_error *err)
{
  if (!desc || !cost)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "desc and cost must not be NULL");
  memset(cost, 0, sizeof *cost);
  const instrid_frontend_params *fe = &desc->frontend;
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  const instrid_shape input = {1, fe->n_mels, desc->window_frames};
  instrid_status st = instrid_arch_shapes(desc->layers, desc->n_layers, input, shapes, err);
  if (st != INSTRID_OK)
    return st;
  if (fe->sample_rate == 0 || fe->hop_samples == 0 || fe->n_fft == 0 || desc->hop_frames == 0)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "sample_rate, hop_samples, n_fft and hop_frames must not be 0");

  /* The network: ping-pong activation buffers of the largest activation, one scratch of
   * the largest need, the packed weights of every convolution. */
  double max_act = shape_elems(input), scratch = 0.0, packed = 0.0, ops = 0.0;
  /* Each residual can hold one more activation buffer alive (net.c's buffer assignment); the
   * embedding has a buffer of its own. */
  double buffers = 2.0, embedding = 0.0;
  instrid_shape in = input;
  for (uint32_t i = 0; i < desc->n_layers; i++) {
    double o, s, w;
    if (desc->layers[i].type == INSTRID_LAYER_RESIDUAL_ADD)
      buffers += 1.0;
    if (desc->layers[i].type == INSTRID_LAYER_EMBEDDING)
      embedding = shape_elems(in) + SLOT_FLOATS;
    layer_cost(&desc->layers[i], in, shapes[i], &o, &s, &w);
    ops += o;
    packed += w;
    if (s > scratch)
      scratch = s;
    if (shape_elems(shapes[i]) > max_act)
      max_act = shape_elems(shapes[i]);
    in = shapes[i];
  }
  const double window_floats = (double)fe->n_mels * desc->window_frames;
  const double net_floats = buffers * (max_act + SLOT_FLOATS) + embedding + scratch + packed;
  /* The stream: its front end, the ring of W frames, the window handed to the network, one
   * frame and the probabilities. */
  const double stream_floats = 2.0 * window_floats + fe->n_mels + desc->n_classes;
  cost->activation_bytes = 4.0 * buffers * max_act;
  cost->scratch_bytes = 4.0 * (scratch + packed);
  cost->stream_bytes = frontend_bytes(fe) + 4.0 * (net_floats + stream_floats);
  /* A queue of two windows of samples at the model's rate, as the element keeps. */
  const double window_samples = ((double)desc->window_frames - 1.0) * fe->hop_samples + fe->n_fft;
  cost->queue_bytes = 4.0 * 2.0 * window_samples;
  cost->total_bytes = cost->stream_bytes + cost->queue_bytes;

  const double frames_per_second = (double)fe->sample_rate / fe->hop_samples;
  cost->window_ops = ops;
  cost->frontend_ops_per_second = frontend_frame_ops(fe) * frames_per_second;
  cost->ops_per_second = cost->frontend_ops_per_second + ops * frames_per_second / desc->hop_frames;
  cost->ops_per_second_min_hop = cost->frontend_ops_per_second + ops * frames_per_second;
  return INSTRID_OK;
}

instrid_status instrid_model_cost_check(const instrid_model_cost *c, instrid_error *err)
{
  if (!c)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "cost must not be NULL");
  const double mib = 1024.0 * 1024.0;
  if (!(c->total_bytes <= (double)INSTRID_MAX_STREAM_BYTES))
    return instrid_set_error(
        err, INSTRID_ERR_FORMAT,
        "a stream would need %.0f MiB (activations %.0f, scratch %.0f, queue %.0f), over the "
        "limit INSTRID_MAX_STREAM_BYTES of %.0f MiB",
        c->total_bytes / mib, c->activation_bytes / mib, c->scratch_bytes / mib,
        c->queue_bytes / mib, (double)INSTRID_MAX_STREAM_BYTES / mib);
  if (!(c->ops_per_second <= INSTRID_MAX_OPS_PER_SECOND))
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%.3g operations per second of audio at the model's hop (%.3g per "
                             "window), over the limit INSTRID_MAX_OPS_PER_SECOND of %.3g",
                             c->ops_per_second, c->window_ops, INSTRID_MAX_OPS_PER_SECOND);
  if (!(c->ops_per_second_min_hop <= INSTRID_MAX_OPS_PER_SECOND_MIN_HOP))
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%.3g operations per second of audio at a hop of one frame (%.3g "
                             "per window), over the limit INSTRID_MAX_OPS_PER_SECOND_MIN_HOP of "
                             "%.3g",
                             c->ops_per_second_min_hop, c->window_ops,
                             INSTRID_MAX_OPS_PER_SECOND_MIN_HOP);
  return INSTRID_OK;
}
