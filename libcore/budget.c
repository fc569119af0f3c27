/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* budget.c — what a model demands of its host (memory per stream, operations per second of
 * audio), computed from the layer list and the front end before anything is allocated, and the
 * limits instrid_model_load holds a file to (INSTRID_MAX_* in instrid.h).
 *
 * Each field of a model file has a range of its own (model_file.h), but a file that keeps every
 * field in range can still multiply them into 32 GiB of activations or a network 100 times
 * slower than real time. The figures here are upper bounds on what instrid_stream_new and the
 * element allocate and on the arithmetic instrid_stream_push performs, so that a model within
 * the limits is one whose streams fit, whatever kernel net.c picks for this CPU. The network's
 * scratch and packed weights follow net.c's own plan (instrid_conv_hwc_plan, the layer
 * table's scratch_floats): a channels-last convolution takes tiles of its im2col, not all of
 * it, and only those convolutions have packed weights.
 *
 * Everything is counted in doubles: every term is a product of a few fields each below 2^32,
 * so a double holds it to within a part in 2^52 and cannot overflow, and the limits are far
 * below where the rounding would matter.
 */
#include <math.h>
#include <string.h>

#include "conv_direct.h"
#include "internal.h"
#include "layer_table.h"
#include "net_internal.h"

/* Floats of the padded tail instrid_alloc_floats-style slots add per tensor (64-byte slots). */
#define SLOT_FLOATS 16.0

static double shape_elems(instrid_shape s)
{
  return (double)s.c * s.h * s.w;
}

static double max2(double a, double b)
{
  return a > b ? a : b;
}

/* The scratch and packed-weight floats net.c may plan for the convolution at layer i run
 * channels-last: the largest over the kernels it may pick (direct or gemm, whatever the CPU)
 * and over fusing the pool that follows or not (a residual's skip can prevent the fusion). */
static void conv_hwc_cost(const instrid_layer_desc *layers, uint32_t n_layers, uint32_t i,
                          const instrid_conv_geom *g, double *scratch, double *packed)
{
  int pool_mode = -1, pool_kh = 1, pool_kw = 1;
  /* net.c fuses a ReLU and then a pool that follow the convolution, a batch norm folded into
   * it and dropouts (no-ops) between them. */
  uint32_t j = i + 1;
  while (j < n_layers &&
         (layers[j].type == INSTRID_LAYER_DROPOUT || layers[j].type == INSTRID_LAYER_BATCHNORM))
    j++;
  if (j < n_layers && layers[j].type == INSTRID_LAYER_RELU) {
    j++;
    while (j < n_layers && layers[j].type == INSTRID_LAYER_DROPOUT)
      j++;
  }
  /* POOL p: kh, kw, sh, sw */
  if (j < n_layers &&
      (layers[j].type == INSTRID_LAYER_MAXPOOL || layers[j].type == INSTRID_LAYER_AVGPOOL) &&
      layers[j].p[0] == layers[j].p[2] && layers[j].p[1] == layers[j].p[3]) {
    pool_mode = layers[j].type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX : INSTRID_POOL_MEAN;
    pool_kh = (int)layers[j].p[0];
    pool_kw = (int)layers[j].p[1];
  }
  *scratch = 0.0;
  *packed = 0.0;
  for (int fused = 0; fused < (pool_mode >= 0 ? 2 : 1); fused++)
    for (int isa = INSTRID_DIRECT_NONE; isa <= INSTRID_DIRECT_AVX2; isa++) {
      instrid_conv_hwc c;
      size_t s = SIZE_MAX;
      if (!instrid_conv_hwc_plan(&c, g, isa, 0, fused ? pool_mode : -1, pool_kh, pool_kw, &s))
        s = c.packed_floats = SIZE_MAX; /* stays far over every limit as a double */
      *scratch = max2(*scratch, (double)s);
      *packed = max2(*packed, (double)c.packed_floats + SLOT_FLOATS);
    }
}

/* Arithmetic of one layer on one window, and the scratch (floats) and packed-weight copy
 * (floats) the inference engine may keep for it; channels_last: 1 when net.c may run it
 * channels-last (every layer before it does), 2 when it surely does (and no residual's skip
 * starts at or before it). */
static void layer_cost(const instrid_layer_desc *layers, uint32_t n_layers, uint32_t i,
                       const instrid_shape *shapes, instrid_shape in, int channels_last,
                       double *ops, double *scratch, double *packed)
{
  const instrid_layer_desc *l = &layers[i];
  const instrid_shape out = shapes[i];
  const uint32_t *p = l->p;
  const double n_in = shape_elems(in), n_out = shape_elems(out);
  const instrid_layer_entry *e = instrid_layer_entry_find(l->type);
  instrid_layer_params params;
  *scratch = 0.0;
  *packed = 0.0;
  memset(&params, 0, sizeof params);
  if (e != NULL)
    e->unpack(l, &params);
  /* Run channels-first, a layer has the scratch its table entry asks for (net.c skips it for
   * a pointwise convolution, which reads its input as the gemm's matrix). */
  int pointwise = 0;
  instrid_conv_geom g;
  if (l->type == INSTRID_LAYER_CONV2D) {
    instrid_conv_geom_from_params(&params.conv, in, 1, &g);
    instrid_conv_geom_init(&g);
    pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  }
  if (e != NULL && e->scratch_floats != NULL && !pointwise) {
    size_t s = e->scratch_floats(&params, in, out, 1, 0);
    *scratch = (double)s; /* SIZE_MAX on overflow: over every limit */
  }
  switch (l->type) {
  case INSTRID_LAYER_CONV2D: {
    const double groups = p[9] ? p[9] : 1;
    const double k = (double)in.c / groups * p[1] * p[2];
    *ops = 2.0 * k * n_out + n_out; /* multiply-adds, then the bias */
    if (channels_last) {
      double s, w;
      conv_hwc_cost(layers, n_layers, i, &g, &s, &w);
      /* Before any residual's skip it surely runs channels-last; after one it may not. */
      *scratch = channels_last > 1 ? s : max2(*scratch, s);
      *packed = w;
    }
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
  /* The first layer whose input a residual adds: net.c's channels-last run ends there. */
  uint32_t first_skip = desc->n_layers;
  for (uint32_t i = 0; i < desc->n_layers; i++)
    if (desc->layers[i].type == INSTRID_LAYER_RESIDUAL_ADD && desc->layers[i].p[0] <= i &&
        i - desc->layers[i].p[0] > 0 && i - desc->layers[i].p[0] < first_skip)
      first_skip = i - desc->layers[i].p[0];
  int channels_last = 1;
  for (uint32_t i = 0; i < desc->n_layers; i++) {
    double o, s, w;
    if (desc->layers[i].type == INSTRID_LAYER_RESIDUAL_ADD)
      buffers += 1.0;
    if (desc->layers[i].type == INSTRID_LAYER_EMBEDDING)
      embedding = shape_elems(in) + SLOT_FLOATS;
    channels_last = !channels_last || !instrid_layer_runs_channels_last(desc->layers[i].type) ? 0
                    : i < first_skip                                                          ? 2
                                                                                              : 1;
    layer_cost(desc->layers, desc->n_layers, i, shapes, in, channels_last, &o, &s, &w);
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
