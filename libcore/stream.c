/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stream.c — the streaming classifier: front-end frames into a ring of the last W frames, a
 * window every H frames through the network. Everything is allocated in instrid_stream_new.
 *
 * Window schedule: window 0 starts at frame 0; window k+1 starts hop frames after window k,
 * hop being the stream's hop when window k+1 is decided (so a new hop applies from the next
 * window on). A window is analysed as soon as its last frame arrives. When H > W the frames
 * between windows are never analysed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model_internal.h"

struct instrid_stream {
  const instrid_model *model;
  instrid_frontend *fe;
  instrid_net *net;
  uint32_t n_mels, window_frames, hop_override; /* hop_override 0 = the model's default */
  uint64_t hop_samples, n_fft;
  int64_t frame0_offset; /* first input sample of frame 0: +1 with pre-emphasis (its first sample
                          * primes the filter), -n_fft/2 with center (reflected past) */
  int centred;           /* flush drains the front end's reflected end */
  float silence;         /* feature value of a silent frame, for padding a flushed window */

  float *ring;          /* (W, n_mels): frame f lives in row f % W */
  float *frame;         /* (n_mels) the frame the front end is filling */
  float *features;      /* (n_mels, W) the window handed to the network */
  float *probabilities; /* (n_classes) */

  uint64_t frames;       /* frames completed since reset */
  uint64_t samples;      /* samples consumed since reset */
  uint64_t window_index; /* windows analysed since reset */
  uint64_t last_start;   /* first frame of the last analysed window (valid when window_index) */
  uint64_t flushed_at;   /* frames when flush last analysed a window; UINT64_MAX = never */
};

static uint32_t stream_hop(const instrid_stream *st)
{
  return st->hop_override ? st->hop_override : st->model->desc.hop_frames;
}

/* First frame of the next window to analyse. A hop shortened after frames have gone past
 * would put it before the oldest frame still in the ring; it then starts at that frame. */
static uint64_t next_start(const instrid_stream *st)
{
  if (st->window_index == 0)
    return 0;
  uint64_t s = st->last_start + stream_hop(st);
  if (st->frames > st->window_frames && s < st->frames - st->window_frames)
    s = st->frames - st->window_frames;
  return s;
}

/* Makes fe (the model's front end, or one derived from it for another rate) the stream's. */
static void stream_use_frontend(instrid_stream *st, instrid_frontend *fe)
{
  const instrid_frontend_params *fp = instrid_frontend_get_params(fe);
  st->fe = fe;
  st->hop_samples = fp->hop_samples;
  st->n_fft = fp->n_fft;
  st->frame0_offset =
      (fp->preemphasis != 0.0f ? 1 : 0) - (fp->center ? (int64_t)(fp->n_fft / 2) : 0);
  st->centred = fp->center != 0;
  st->silence = instrid_frontend_silence_value(fp);
}

/* A stream whose front end is `fp`: the model's own, or one derived from it for another rate. */
static instrid_stream *stream_new(const instrid_model *model, const instrid_frontend_params *fp,
                                  instrid_error *err)
{
  instrid_stream *st = calloc(1, sizeof *st);
  if (!st) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating a stream");
    return NULL;
  }
  const instrid_model_desc *d = &model->desc;
  st->model = model;
  st->n_mels = d->frontend.n_mels;
  st->window_frames = d->window_frames;
  instrid_frontend *fe = instrid_frontend_new(fp, err);
  if (!fe)
    goto fail;
  stream_use_frontend(st, fe);
  st->net = instrid_net_new(model, err);
  if (!st->net)
    goto fail;
  int overflow = 0;
  size_t window_floats = instrid_mul_size(st->n_mels, st->window_frames, &overflow);
  if (overflow)
    goto nomem;
  st->ring = instrid_alloc_floats(window_floats);
  st->features = instrid_alloc_floats(window_floats);
  st->frame = instrid_alloc_floats(st->n_mels);
  st->probabilities = instrid_alloc_floats(d->n_classes);
  if (!st->ring || !st->features || !st->frame || !st->probabilities)
    goto nomem;
  instrid_stream_reset(st);
  return st;

nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating stream buffers");
fail:
  instrid_stream_free(st);
  return NULL;
}

instrid_stream *instrid_stream_new(const instrid_model *model, instrid_error *err)
{
  if (!model) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "instrid_stream_new: model is NULL");
    return NULL;
  }
  return stream_new(model, &model->desc.frontend, err);
}

instrid_stream *instrid_stream_new_for_rate(const instrid_model *model, uint32_t input_rate,
                                            instrid_error *err)
{
  if (!model) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "instrid_stream_new_for_rate: model is NULL");
    return NULL;
  }
  instrid_frontend_params fp;
  if (instrid_frontend_params_for_rate(&model->desc.frontend, input_rate, &fp, err) != INSTRID_OK)
    return NULL;
  return stream_new(model, &fp, err);
}

instrid_status instrid_stream_set_sample_rate(instrid_stream *st, uint32_t input_rate,
                                              instrid_error *err)
{
  if (!st)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "instrid_stream_set_sample_rate: stream is NULL");
  instrid_frontend_params fp;
  instrid_status status =
      instrid_frontend_params_for_rate(&st->model->desc.frontend, input_rate, &fp, err);
  if (status != INSTRID_OK)
    return status;
  /* Only the front end depends on the rate: the network, its packed weights and the buffers
   * stay. */
  instrid_frontend *fe = instrid_frontend_new(&fp, err);
  if (!fe)
    return err ? err->code : INSTRID_ERR_NOMEM;
  instrid_frontend_free(st->fe);
  stream_use_frontend(st, fe);
  instrid_stream_reset(st);
  return INSTRID_OK;
}

uint32_t instrid_stream_sample_rate(const instrid_stream *st)
{
  return instrid_frontend_get_params(st->fe)->sample_rate;
}

void instrid_stream_free(instrid_stream *st)
{
  if (!st)
    return;
  instrid_frontend_free(st->fe);
  instrid_net_free(st->net);
  instrid_free_aligned(st->ring);
  instrid_free_aligned(st->features);
  instrid_free_aligned(st->frame);
  instrid_free_aligned(st->probabilities);
  free(st);
}

void instrid_stream_reset(instrid_stream *st)
{
  instrid_frontend_reset(st->fe);
  st->frames = 0;
  st->samples = 0;
  st->window_index = 0;
  st->last_start = 0;
  st->flushed_at = UINT64_MAX;
}

instrid_status instrid_stream_set_hop_frames(instrid_stream *st, uint32_t hop_frames,
                                             instrid_error *err)
{
  if (hop_frames > 65536)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "hop_frames %u outside 1..65536",
                             hop_frames);
  st->hop_override = hop_frames;
  return INSTRID_OK;
}

uint32_t instrid_stream_get_hop_frames(const instrid_stream *st)
{
  return stream_hop(st);
}

uint64_t instrid_stream_samples(const instrid_stream *st)
{
  return st->samples;
}

/* Runs the network on the n_real frames from `start` (all in the ring), padding the rest of
 * the window with silence, and fills *result. */
static void analyse(instrid_stream *st, uint64_t start, uint32_t n_real, instrid_result *result)
{
  const uint32_t W = st->window_frames, M = st->n_mels;
  /* Ring rows are frames; the network wants (n_mels, W): transpose while gathering. */
  for (uint32_t t = 0; t < W; t++) {
    if (t < n_real) {
      const float *row = st->ring + (size_t)((start + t) % W) * M;
      for (uint32_t m = 0; m < M; m++)
        st->features[(size_t)m * W + t] = row[m];
    } else {
      for (uint32_t m = 0; m < M; m++)
        st->features[(size_t)m * W + t] = st->silence;
    }
  }
  instrid_net_forward(st->net, st->features, st->probabilities);
  result->window_index = st->window_index;
  /* The input samples the window's frames see, clipped to the stream (a centred first frame
   * reaches before sample 0). */
  int64_t first = (int64_t)(start * st->hop_samples) + st->frame0_offset;
  int64_t end = first + (int64_t)((uint64_t)(W - 1) * st->hop_samples + st->n_fft);
  if (first < 0)
    first = 0;
  result->start_sample = (uint64_t)first;
  result->length_samples = (uint64_t)(end - first);
  result->n_frames = n_real;
  result->probabilities = st->probabilities;
  result->embedding = instrid_net_embedding(st->net);
  result->embedding_size = result->embedding ? instrid_model_embedding_size(st->model) : 0;
  st->last_start = start;
  st->window_index++;
}

size_t instrid_stream_push(instrid_stream *st, const float *x, size_t n, instrid_result *result,
                           int *have_result)
{
  const uint32_t W = st->window_frames;
  size_t consumed = 0;
  *have_result = 0;

  /* A hop shortened since the last window can leave a window complete already. */
  uint64_t s = next_start(st);
  if (s + W <= st->frames) {
    analyse(st, s, W, result);
    *have_result = 1;
    return 0;
  }

  while (consumed < n) {
    int ready = 0;
    consumed += instrid_frontend_process(st->fe, x + consumed, n - consumed, st->frame, &ready);
    if (!ready)
      continue;
    memcpy(st->ring + (size_t)(st->frames % W) * st->n_mels, st->frame, sizeof(float) * st->n_mels);
    st->frames++;
    if (st->frames == s + W) {
      analyse(st, s, W, result);
      *have_result = 1;
      break;
    }
  }
  st->samples += consumed;
  return consumed;
}

int instrid_stream_flush(instrid_stream *st, uint32_t min_frames, instrid_result *result)
{
  uint64_t s = next_start(st);
  if (st->centred) {
    /* The frames the front end owes the end of the stream (reflected), as long as the next
     * window has room for them; a window they complete is analysed whole. */
    while (st->frames < s + st->window_frames &&
           instrid_frontend_flush(st->fe, st->ring + (size_t)(st->frames % st->window_frames) *
                                                         st->n_mels)) {
      st->frames++;
      if (st->frames == s + st->window_frames) {
        analyse(st, s, st->window_frames, result);
        return 1;
      }
    }
  }
  if (st->flushed_at == st->frames)
    return 0;
  if (st->frames <= s)
    return 0;
  uint64_t n_real = st->frames - s;
  if (n_real > st->window_frames) /* a window a shortened hop left complete, not yet pushed */
    n_real = st->window_frames;
  if (n_real < min_frames)
    return 0;
  analyse(st, s, (uint32_t)n_real, result);
  st->flushed_at = st->frames;
  return 1;
}
