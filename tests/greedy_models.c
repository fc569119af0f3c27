/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* greedy_models.c — see greedy_models.h. */
#include "greedy_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testnet.h"

static const greedy_info infos[GREEDY_N_CASES] = {
    [GREEDY_QUEUE_32GIB] = {"queue 32 GiB", "INSTRID_MAX_STREAM_BYTES", "queue 32768"},
    [GREEDY_ACTIVATIONS_2GB] = {"activations 2 GiB", "INSTRID_MAX_STREAM_BYTES",
                                "activations 2048"},
    [GREEDY_SCRATCH_7GB] = {"scratch 6.9 GB", "INSTRID_MAX_STREAM_BYTES", "scratch 6"},
    [GREEDY_SLOW_POOL] = {"slow pool", "INSTRID_MAX_OPS_PER_SECOND of", "1.72e+11 operations"},
    [GREEDY_SLOW_MIN_HOP] = {"slow at a one-frame hop", "INSTRID_MAX_OPS_PER_SECOND_MIN_HOP",
                             "1.83e+12 operations"},
    [GREEDY_SLOW_FRONTEND] = {"slow front end", "INSTRID_MAX_OPS_PER_SECOND of",
                              "1.15e+12 operations"},
};

const greedy_info *greedy_model_info(greedy_case c)
{
  return &infos[c];
}

static const char *const class_names[] = {"a"};
static const float thresholds[] = {0.5f};
static instrid_layer_desc layers[8];
static float *params;

static instrid_frontend_params frontend(uint32_t sample_rate, uint32_t n_fft, uint32_t hop,
                                        uint32_t n_mels)
{
  instrid_frontend_params fe = testnet_frontend(sample_rate, n_fft, hop, n_mels);
  fe.mel_norm = INSTRID_MELNORM_NONE;
  fe.fmin_hz = 0.0f;
  return fe;
}

static instrid_layer_desc layer(uint32_t type, uint32_t p0, uint32_t p1, uint32_t p2, uint32_t p3)
{
  instrid_layer_desc l;
  memset(&l, 0, sizeof l);
  l.type = type;
  l.p[0] = p0;
  l.p[1] = p1;
  l.p[2] = p2;
  l.p[3] = p3;
  return l;
}

static instrid_layer_desc conv(uint32_t c_out, uint32_t k)
{
  instrid_layer_desc l = layer(INSTRID_LAYER_CONV2D, c_out, k, k, 1);
  l.p[4] = l.p[7] = l.p[8] = l.p[9] = 1;
  return l;
}

void greedy_model_desc(greedy_case c, instrid_model_desc *d)
{
  memset(d, 0, sizeof *d);
  d->n_classes = 1;
  d->class_names = class_names;
  d->thresholds = thresholds;
  d->layers = layers;
  uint32_t n = 0;
  switch (c) {
  case GREEDY_QUEUE_32GIB:
    d->frontend = frontend(16000, 65536, 65536, 1);
    d->window_frames = d->hop_frames = 65536;
    break;
  case GREEDY_ACTIVATIONS_2GB:
    d->frontend = frontend(16000, 8192, 8192, 512);
    d->window_frames = d->hop_frames = 65536;
    layers[n++] = conv(8, 1); /* 8 x 512 x 65536 = 2^28 floats */
    break;
  case GREEDY_SCRATCH_7GB:
    d->frontend = frontend(16000, 1024, 160, 512);
    d->window_frames = d->hop_frames = 1000;
    /* A sigmoid first, so that the convolution runs channels-first (net.c's channels-last
     * run takes convolutions, batch norms, ReLUs and pools only), with a whole im2col:
     * K = 4096 per output, 449 x 937 outputs. (Channels-last it would take tiles of it.) */
    layers[n++] = layer(INSTRID_LAYER_SIGMOID, 0, 0, 0, 0);
    layers[n++] = conv(1, 64);
    break;
  case GREEDY_SLOW_POOL:
    d->frontend = frontend(16000, 1024, 160, 512);
    d->window_frames = 1000;
    d->hop_frames = 1;
    layers[n++] = layer(INSTRID_LAYER_MAXPOOL, 64, 64, 1, 1);
    break;
  case GREEDY_SLOW_MIN_HOP:
    d->frontend = frontend(16000, 1024, 160, 512);
    d->window_frames = d->hop_frames = 10000;
    layers[n++] = layer(INSTRID_LAYER_MAXPOOL, 64, 64, 1, 1);
    break;
  case GREEDY_SLOW_FRONTEND:
    d->frontend = frontend(384000, 65536, 1, 1);
    d->window_frames = d->hop_frames = 1;
    break;
  default:
    fprintf(stderr, "greedy_model_desc: no case %d\n", (int)c);
    exit(1);
  }
  /* Every case ends in one probability: mean over both axes, then a dense layer when there is
   * more than one channel, then a sigmoid. */
  layers[n++] = layer(INSTRID_LAYER_GLOBAL_POOL, INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME,
                      INSTRID_POOL_MEAN, 0, 0);
  if (c == GREEDY_ACTIVATIONS_2GB)
    layers[n++] = layer(INSTRID_LAYER_DENSE, 1, 0, 0, 0);
  layers[n++] = layer(INSTRID_LAYER_SIGMOID, 0, 0, 0, 0);
  d->n_layers = n;

  instrid_error err;
  size_t n_params;
  if (instrid_model_desc_param_count(d, &n_params, &err) != INSTRID_OK) {
    fprintf(stderr, "greedy_model_desc(%s): %s\n", infos[c].name, err.message);
    exit(1);
  }
  free(params);
  params = calloc(n_params ? n_params : 1, sizeof *params);
  if (!params) {
    fprintf(stderr, "greedy_model_desc: out of memory\n");
    exit(1);
  }
  d->params = params;
  d->n_params = n_params;
}

void greedy_model_bytes(greedy_case c, void **data, size_t *size)
{
  instrid_model_desc d;
  instrid_error err;
  greedy_model_desc(c, &d);
  if (instrid_model_write_to_memory(&d, data, size, &err) != INSTRID_OK) {
    fprintf(stderr, "greedy_model_bytes(%s): %s\n", infos[c].name, err.message);
    exit(1);
  }
}
