/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridworker.c — instridentify's worker thread side: applies changed settings, runs the
 * libinstrid analysis on the samples and markers the queue hands over, posts each window's
 * message and makes the stream tags when an instrument settles. The streaming thread never
 * touches what this file touches, except at the end of a stream while the worker waits.
 */
#include "gstinstridentifyprivate.h"
#include "gstinstridmessage.h"

#define GST_CAT_DEFAULT gst_instr_identify_debug

/* Applies changed settings (interval, thresholds, dwell) before the next window. */
static void gst_instr_identify_apply_settings(GstInstrIdentify *self)
{
  guint64 interval_ns, dwell_ns;
  gdouble threshold;
  gchar *thresholds;
  gboolean changed;
  instrid_error err;

  GST_OBJECT_LOCK(self);
  changed = self->settings_changed;
  self->settings_changed = FALSE;
  interval_ns = self->interval_ns;
  threshold = self->threshold;
  thresholds = changed ? g_strdup(self->thresholds) : NULL;
  dwell_ns = self->tag_dwell_ns;
  GST_OBJECT_UNLOCK(self);
  if (!changed)
    return;
  if (instrid_analysis_set_interval_ns(self->analysis, interval_ns, &err) != INSTRID_OK)
    GST_WARNING_OBJECT(self, "interval %" G_GUINT64_FORMAT " ns: %s", interval_ns, err.message);
  if (instrid_analysis_set_threshold_settings(self->analysis, threshold, thresholds, &err) !=
      INSTRID_OK)
    GST_ELEMENT_WARNING(self, LIBRARY, SETTINGS, ("%s", err.message),
                        ("thresholds=\"%s\" is ignored", thresholds));
  instrid_analysis_set_settle_ns(self->analysis, dwell_ns);
  g_free(thresholds);
}

/* One window: its message, and new tags when an instrument settled with it. */
static void gst_instr_identify_worker_window(GstInstrIdentify *self, const instrid_window *w,
                                             gint generation)
{
  GstClockTime ts = GST_CLOCK_TIME_NONE;
  GstMessage *msg = NULL;
  gboolean post, tags, embedding;

  GST_OBJECT_LOCK(self);
  post = self->post_messages;
  embedding = self->post_embedding;
  tags = self->tags;
  GST_OBJECT_UNLOCK(self);

  /* A window computed from audio that a flush has since thrown away is not reported. */
  if (gst_instrid_queue_generation(&self->queue) != generation)
    return;
  if (GST_CLOCK_TIME_IS_VALID(self->base_ts))
    ts = self->base_ts + gst_instr_identify_samples_to_time(self, w->start_sample);
  if (post)
    msg = gst_instrid_message_new(GST_OBJECT(self), self->model, "instridentify", ts,
                                  gst_instr_identify_samples_to_time(self, w->length_samples),
                                  &self->work_segment, w);
  if (msg != NULL && embedding)
    gst_instrid_message_add_embedding(msg, w);
  /* The tags are pending before the window's message is posted: whoever sees the message and
   * then pushes a buffer gets them. (w's arrays are reused from here on.) */
  if (tags && w->settled_changed) {
    instrid_window settled;
    instrid_analysis_settled(self->analysis, &settled);
    gst_instrid_tags_set_pending(&self->tags_state,
                                 gst_instrid_tags_make(self->model, settled.probabilities,
                                                       settled.order, settled.n_detected));
  }
  if (msg != NULL)
    gst_element_post_message(GST_ELEMENT(self), msg);
}

void gst_instr_identify_worker_samples(gpointer data, const gfloat *x, gsize n, gint generation)
{
  GstInstrIdentify *self = data;

  gst_instr_identify_apply_settings(self);
  while (n > 0) {
    instrid_window w;
    int have = 0;
    gsize k = instrid_analysis_push(self->analysis, x, n, &w, &have);
    x += k;
    n -= k;
    if (have)
      gst_instr_identify_worker_window(self, &w, generation);
    else if (k == 0)
      break;
  }
}

void gst_instr_identify_worker_marker(gpointer data, const GstInstrIdMarker *m, gint generation)
{
  GstInstrIdentify *self = data;
  instrid_window w;

  if (m->kind == GST_INSTRID_MARKER_RESET) {
    /* New caps may have changed the audio path's rate: the analysis follows it (its front end
     * at the input's rate, or back at the model's). */
    if (m->rate != 0 && m->rate != instrid_analysis_sample_rate(self->analysis)) {
      instrid_error err;
      if (instrid_analysis_set_sample_rate(self->analysis, m->rate, &err) != INSTRID_OK)
        GST_ELEMENT_ERROR(
            self, RESOURCE, FAILED,
            ("Could not set up the instrument model for %u Hz: %s", m->rate, err.message), (NULL));
      self->sample_rate = instrid_analysis_sample_rate(self->analysis);
    }
    instrid_analysis_reset(self->analysis, m->full);
    self->base_ts = m->base_ts;
    self->work_segment = m->segment;
    if (m->full || !GST_CLOCK_TIME_IS_VALID(self->summary_start)) {
      self->summary_start = m->base_ts;
      self->summary_segment = m->segment;
    }
  } else if (m->kind == GST_INSTRID_MARKER_EOS) {
    gst_instr_identify_apply_settings(self);
    /* With a centred front end the reflected end can complete a full window before the
     * partial last one: finish until it has nothing more (each call ends frames for good). */
    while (instrid_analysis_finish(self->analysis, &w))
      gst_instr_identify_worker_window(self, &w, generation);
  }
}
