/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridentifyprivate.h — the instridentify element's instance, shared by its two sources:
 * gstinstridentify.c (the streaming thread and GStreamer's entry points) and
 * gstinstridworker.c (the worker thread's side: the analysis, window messages, settled tags).
 */
#ifndef GST_INSTR_IDENTIFY_PRIVATE_H
#define GST_INSTR_IDENTIFY_PRIVATE_H

#include "analysis.h"
#include "audiopath.h"
#include "gstinstridentify.h"
#include "gstinstridqueue.h"
#include "gstinstridtags.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN(gst_instr_identify_debug);

struct _GstInstrIdentify {
  GstAudioFilter parent;

  /* Properties, under the object lock. The model pointer too: labels reads it from any
   * thread, start() and stop() replace it. */
  gchar *model_location;
  guint64 interval_ns;
  gdouble threshold;
  gchar *thresholds;
  guint64 tag_dwell_ns;
  gboolean post_messages;
  gboolean post_embedding;
  gboolean tags;
  gboolean settings_changed; /* interval, threshold(s) or dwell: for the worker to apply */
  instrid_model *model;

  /* Streaming thread only. */
  instrid_audiopath *audiopath;
  guint32 path_rate; /* the audio path's output rate (instrid_audiopath_route_rate) */
  gboolean need_reset, need_full_reset;
  gboolean has_data;    /* audio since the stream's start, so it has a summary to give */
  gboolean reverse;     /* a negative-rate segment: not analysed */
  GstClockTime next_ts; /* where the next buffer should start */
  GstSegment segment;
  guint64 discontinuities, restarts;
  GstClockTime missing_ns;

  GstInstrIdQueue queue; /* streaming thread -> worker */
  GstInstrIdTags tags_state;

  /* Worker only (and the streaming thread while the worker waits, at the end of a stream). */
  instrid_analysis *analysis;
  guint n_classes;
  guint32 sample_rate; /* the analysis's rate, which its windows count samples at */
  GstSegment work_segment;
  GstClockTime base_ts;
  GstClockTime summary_start; /* first analysed sample of the stream; NONE before */
  GstSegment summary_segment; /* of the first window, for the stream and running times */
};

/* The worker's callbacks for the queue (gstinstridworker.c). */
void gst_instr_identify_worker_samples(gpointer data, const gfloat *x, gsize n, gint generation);
void gst_instr_identify_worker_marker(gpointer data, const GstInstrIdMarker *m, gint generation);

static inline GstClockTime gst_instr_identify_samples_to_time(GstInstrIdentify *self,
                                                              guint64 samples)
{
  return gst_util_uint64_scale_int(samples, GST_SECOND, self->sample_rate);
}

G_END_DECLS

#endif /* GST_INSTR_IDENTIFY_PRIVATE_H */
