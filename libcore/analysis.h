/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* analysis.h — a stream's analysis as the element runs it, without GStreamer: samples in
 * (mono, at the model's rate or the input's, see instrid_analysis_set_sample_rate), windows out
 * with their decision, the last partial window at the end, the whole-stream summary and the settled
 * set for stream tags. The GStreamer element is a thin layer over it (timestamps, messages, tags,
 * threads), as rganalysis is over its DSP core.
 *
 * Thread-safety: one analysis belongs to one thread at a time; the model may be shared.
 */
#ifndef INSTRID_ANALYSIS_H
#define INSTRID_ANALYSIS_H

#include <stdint.h>

#include "instrid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t start_sample;       /* first sample since the last reset, at the analysis's rate */
  uint64_t length_samples;     /* samples of audio it covers (a last window: what arrived) */
  const double *probabilities; /* n_classes in [0, 1] (NaN from the network becomes 0) */
  const int *detected;         /* n_classes: at or above the class's threshold */
  const uint32_t *order;       /* n_classes: detected first, most probable first */
  uint32_t n_detected;         /* the first n_detected of order are the detected classes */
  int settled_changed;         /* a class settled with this window (see instrid_settle) */
  const float *embedding;      /* the window's embedding (instrid_result), NULL for summaries */
  uint32_t embedding_size;     /* and models without an EMBEDDING layer (then 0) */
} instrid_window;              /* valid until the next call on the analysis */

typedef struct instrid_analysis instrid_analysis;

/* NULL on failure (INSTRID_ERR_INVALID_ARG, INSTRID_ERR_NOMEM) with err filled. Thresholds
 * start as the model's, settling at one window. */
instrid_analysis *instrid_analysis_new(const instrid_model *model, instrid_error *err);
void instrid_analysis_free(instrid_analysis *a);

/* The rate the analysis takes samples at: the model's (at creation), or the input rate
 * instrid_analysis_set_sample_rate chose. Window sample counts are at this rate. */
uint32_t instrid_analysis_sample_rate(const instrid_analysis *a);
/* Takes samples at rate from now on: the model's rate, or an input rate its front end can be
 * derived for (instrid_stream_new_for_rate: the at-input-rate mode, no resampling). Starts a
 * new window sequence (as instrid_analysis_reset(a, 0)); the summary, the settled set, the
 * thresholds and the interval are kept, and the analysed-sample count is rescaled to the new
 * rate. Errors: as instrid_stream_new_for_rate (the analysis is then unchanged). */
instrid_status instrid_analysis_set_sample_rate(instrid_analysis *a, uint32_t rate,
                                                instrid_error *err);
/* A new window sequence (a jump in time, new caps). full: a new stream too: the summary, the
 * settled set and the analysed-sample count start again. */
void instrid_analysis_reset(instrid_analysis *a, int full);
/* Frames between window starts (see instrid_stream_set_hop_frames). */
instrid_status instrid_analysis_set_hop_frames(instrid_analysis *a, uint32_t hop_frames,
                                               instrid_error *err);
uint32_t instrid_analysis_get_hop_frames(const instrid_analysis *a);
/* The interval between windows in nanoseconds, rounded to the nearest frame hop and limited to
 * 1..65536 hops; 0 = the model's own. */
instrid_status instrid_analysis_set_interval_ns(instrid_analysis *a, uint64_t interval_ns,
                                                instrid_error *err);
/* n_classes thresholds, copied; used from the next window on (and by the summary). */
void instrid_analysis_set_thresholds(instrid_analysis *a, const double *thresholds);
/* Thresholds from settings: per_class (see instrid_thresholds_parse; NULL = none) for the classes
 * it names, else common when >= 0, else the model's. A bad per_class text is reported
 * (INSTRID_ERR_INVALID_ARG) and left out: the others apply. */
instrid_status instrid_analysis_set_threshold_settings(instrid_analysis *a, double common,
                                                       const char *per_class, instrid_error *err);
/* Consecutive detected windows before a class settles (0 counts as 1). */
void instrid_analysis_set_settle_windows(instrid_analysis *a, uint32_t windows);
/* The same as a time: the windows, at the current interval, that span dwell_ns (at least 1). */
void instrid_analysis_set_settle_ns(instrid_analysis *a, uint64_t dwell_ns);

/* Feeds samples; returns how many it consumed, stopping after a window when one is ready
 * (*have_window = 1 and *window filled). Call in a loop like instrid_stream_push. */
size_t instrid_analysis_push(instrid_analysis *a, const float *x, size_t n, instrid_window *window,
                             int *have_window);
/* At the end of the audio: the last, partial window, padded with silence, when it holds at
 * least half a window of audio that no earlier window covered (in a stream that gave no window
 * yet: any audio at all). Returns 1 with *window filled, else 0. With a
 * centred front end the first call may return a full window completed by the reflected end:
 * call until it returns 0. */
int instrid_analysis_finish(instrid_analysis *a, instrid_window *window);

/* The whole stream since the last full reset: the summary's probabilities (see summary.h)
 * and their decision; start_sample 0, length_samples = samples analysed. */
void instrid_analysis_summary(instrid_analysis *a, instrid_window *window);
/* The settled classes as detected, with the summary's probabilities so far, most probable
 * first: what stream tags should say now. */
void instrid_analysis_settled(instrid_analysis *a, instrid_window *window);
/* Windows analysed since the last full reset. */
uint64_t instrid_analysis_windows(const instrid_analysis *a);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_ANALYSIS_H */
