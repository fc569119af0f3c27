/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* analysis.c — stream + decision + summary + settling (see analysis.h). */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "decision.h"
#include "internal.h"
#include "summary.h"

struct instrid_analysis {
  const instrid_model *model;
  instrid_stream *stream;
  instrid_summary *summary;
  uint32_t n_classes;
  uint32_t settle_windows;
  uint64_t windows_since_reset; /* since the last reset of any kind */
  uint64_t samples;             /* analysed since the last full reset */
  double *probabilities;        /* (n_classes) */
  double *thresholds;           /* (n_classes) */
  double *settled_thresholds;   /* (n_classes) scratch: 0 for settled classes, 2 for others */
  int *detected;                /* (n_classes) */
  int *settled;                 /* (n_classes) */
  uint32_t *order;              /* (n_classes) */
  uint32_t *run;                /* (n_classes) consecutive detected windows */
};

instrid_analysis *instrid_analysis_new(const instrid_model *model, instrid_error *err)
{
  if (!model) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "instrid_analysis_new: model is NULL");
    return NULL;
  }
  instrid_analysis *a = calloc(1, sizeof *a);
  if (!a) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating an analysis");
    return NULL;
  }
  uint32_t n = a->n_classes = instrid_model_n_classes(model);
  a->model = model;
  a->settle_windows = 1;
  a->stream = instrid_stream_new(model, err);
  if (!a->stream)
    goto fail;
  a->summary = instrid_summary_new(n, err);
  if (!a->summary)
    goto fail;
  a->probabilities = calloc(n, sizeof *a->probabilities);
  a->thresholds = calloc(n, sizeof *a->thresholds);
  a->settled_thresholds = calloc(n, sizeof *a->settled_thresholds);
  a->detected = calloc(n, sizeof *a->detected);
  a->settled = calloc(n, sizeof *a->settled);
  a->order = calloc(n, sizeof *a->order);
  a->run = calloc(n, sizeof *a->run);
  if (!a->probabilities || !a->thresholds || !a->settled_thresholds || !a->detected ||
      !a->settled || !a->order || !a->run) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating an analysis");
    goto fail;
  }
  for (uint32_t i = 0; i < n; i++)
    a->thresholds[i] = instrid_model_threshold(model, i);
  return a;

fail:
  instrid_analysis_free(a);
  return NULL;
}

void instrid_analysis_free(instrid_analysis *a)
{
  if (!a)
    return;
  instrid_stream_free(a->stream);
  instrid_summary_free(a->summary);
  free(a->probabilities);
  free(a->thresholds);
  free(a->settled_thresholds);
  free(a->detected);
  free(a->settled);
  free(a->order);
  free(a->run);
  free(a);
}

uint32_t instrid_analysis_sample_rate(const instrid_analysis *a)
{
  return instrid_stream_sample_rate(a->stream);
}

instrid_status instrid_analysis_set_sample_rate(instrid_analysis *a, uint32_t rate,
                                                instrid_error *err)
{
  uint32_t old_rate = instrid_stream_sample_rate(a->stream);
  if (rate == old_rate) {
    instrid_analysis_reset(a, 0);
    return INSTRID_OK;
  }
  instrid_status st = instrid_stream_set_sample_rate(a->stream, rate, err);
  if (st != INSTRID_OK)
    return st;
  a->samples = (uint64_t)((double)a->samples * rate / old_rate + 0.5);
  instrid_analysis_reset(a, 0);
  return INSTRID_OK;
}

void instrid_analysis_reset(instrid_analysis *a, int full)
{
  instrid_stream_reset(a->stream);
  a->windows_since_reset = 0;
  if (full) {
    instrid_summary_reset(a->summary);
    a->samples = 0;
    memset(a->settled, 0, a->n_classes * sizeof *a->settled);
    memset(a->run, 0, a->n_classes * sizeof *a->run);
  }
}

instrid_status instrid_analysis_set_hop_frames(instrid_analysis *a, uint32_t hop_frames,
                                               instrid_error *err)
{
  return instrid_stream_set_hop_frames(a->stream, hop_frames, err);
}

uint32_t instrid_analysis_get_hop_frames(const instrid_analysis *a)
{
  return instrid_stream_get_hop_frames(a->stream);
}

void instrid_analysis_set_thresholds(instrid_analysis *a, const double *thresholds)
{
  memcpy(a->thresholds, thresholds, a->n_classes * sizeof *a->thresholds);
}

/* ns per frame hop, at least 1. */
static uint64_t analysis_frame_ns(const instrid_analysis *a)
{
  uint64_t ns = (uint64_t)instrid_model_hop_samples(a->model) * 1000000000u /
                instrid_model_sample_rate(a->model);
  return ns ? ns : 1;
}

instrid_status instrid_analysis_set_interval_ns(instrid_analysis *a, uint64_t interval_ns,
                                                instrid_error *err)
{
  uint32_t hop_frames = 0; /* the model's own */
  if (interval_ns > 0) {
    uint64_t frame_ns = analysis_frame_ns(a);
    /* Rounded to the nearest hop without interval_ns + frame_ns / 2, which wraps for intervals
     * near UINT64_MAX and would turn "as rarely as possible" into every frame. */
    uint64_t frames =
        interval_ns / frame_ns + (interval_ns % frame_ns >= frame_ns - frame_ns / 2 ? 1 : 0);
    hop_frames = frames < 1 ? 1 : (frames > 65536 ? 65536 : (uint32_t)frames);
  }
  return instrid_stream_set_hop_frames(a->stream, hop_frames, err);
}

instrid_status instrid_analysis_set_threshold_settings(instrid_analysis *a, double common,
                                                       const char *per_class, instrid_error *err)
{
  for (uint32_t i = 0; i < a->n_classes; i++)
    a->thresholds[i] = common >= 0.0 ? common : instrid_model_threshold(a->model, i);
  return instrid_thresholds_parse(
      per_class, a->n_classes, instrid_model_get_desc(a->model)->class_names, a->thresholds, err);
}

void instrid_analysis_set_settle_ns(instrid_analysis *a, uint64_t dwell_ns)
{
  uint64_t window_ns = analysis_frame_ns(a) * instrid_stream_get_hop_frames(a->stream);
  uint64_t windows = dwell_ns / window_ns + (dwell_ns % window_ns ? 1 : 0);
  a->settle_windows = windows < 1 ? 1 : (windows > UINT32_MAX ? UINT32_MAX : (uint32_t)windows);
}

void instrid_analysis_set_settle_windows(instrid_analysis *a, uint32_t windows)
{
  a->settle_windows = windows ? windows : 1;
}

uint64_t instrid_analysis_windows(const instrid_analysis *a)
{
  return instrid_summary_windows(a->summary);
}

/* One result of the stream: clamped, summarised, decided, settled. */
static void analysis_window(instrid_analysis *a, const instrid_result *r, instrid_window *w)
{
  for (uint32_t i = 0; i < a->n_classes; i++) {
    double p = r->probabilities[i];
    /* NaN fails every comparison: it becomes 0, so it never reaches a caller. */
    a->probabilities[i] = p >= 0.0 ? (p <= 1.0 ? p : 1.0) : 0.0;
  }
  instrid_summary_add(a->summary, a->probabilities);
  a->windows_since_reset++;

  uint64_t end = instrid_stream_samples(a->stream);
  uint64_t covered = end > r->start_sample ? end - r->start_sample : 0;
  w->start_sample = r->start_sample;
  w->length_samples = covered < r->length_samples ? covered : r->length_samples;
  w->probabilities = a->probabilities;
  w->embedding = r->embedding;
  w->embedding_size = r->embedding_size;
  w->detected = a->detected;
  w->order = a->order;
  w->n_detected =
      instrid_decide(a->n_classes, a->probabilities, a->thresholds, a->detected, a->order);
  w->settled_changed =
      instrid_settle(a->n_classes, a->detected, a->settle_windows, a->run, a->settled);
}

size_t instrid_analysis_push(instrid_analysis *a, const float *x, size_t n, instrid_window *window,
                             int *have_window)
{
  size_t used = 0;
  *have_window = 0;
  while (used < n) {
    instrid_result r;
    int have = 0;
    size_t k = instrid_stream_push(a->stream, x + used, n - used, &r, &have);
    used += k;
    a->samples += k;
    if (have) {
      analysis_window(a, &r, window);
      *have_window = 1;
      break;
    }
    if (k == 0)
      break;
  }
  return used;
}

/* The frames the last window shares with the window before it do not count as new audio.
 * With the hop at half a window or less a last window never qualifies after a first one: the
 * remainder is then shorter than a hop. A stream that gave no window yet gets one for any
 * audio at all, padded with silence (as the trainer pads a recording shorter than a window):
 * else a note shorter than half a window would have no result. */
int instrid_analysis_finish(instrid_analysis *a, instrid_window *window)
{
  const uint32_t w = instrid_model_window_frames(a->model);
  uint32_t hop = instrid_stream_get_hop_frames(a->stream);
  uint32_t min_frames = a->windows_since_reset > 0 ? (w + 1) / 2 : 1;
  instrid_result r;

  if (a->windows_since_reset > 0 && hop < w)
    min_frames += w - hop;
  if (min_frames > w || !instrid_stream_flush(a->stream, min_frames, &r))
    return 0;
  analysis_window(a, &r, window);
  return 1;
}

/* The whole stream as one window, decided with thresholds. */
static void whole_stream_window(instrid_analysis *a, instrid_window *window,
                                const double *thresholds)
{
  window->start_sample = 0;
  window->length_samples = a->samples;
  window->probabilities = a->probabilities;
  window->embedding = NULL;
  window->embedding_size = 0;
  window->detected = a->detected;
  window->order = a->order;
  window->n_detected =
      instrid_decide(a->n_classes, a->probabilities, thresholds, a->detected, a->order);
  window->settled_changed = 0;
}

void instrid_analysis_summary(instrid_analysis *a, instrid_window *window)
{
  instrid_summary_probabilities(a->summary, a->probabilities);
  whole_stream_window(a, window, a->thresholds);
}

void instrid_analysis_settled(instrid_analysis *a, instrid_window *window)
{
  /* The decision rule with thresholds that pass the settled classes and no other. */
  instrid_summary_probabilities(a->summary, a->probabilities);
  for (uint32_t i = 0; i < a->n_classes; i++)
    a->settled_thresholds[i] = a->settled[i] ? 0.0 : 2.0;
  whole_stream_window(a, window, a->settled_thresholds);
}
