/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridentify.c — the instridentify element: passes audio through untouched, feeds a copy
 * through the shared audio path to a libinstrid analysis in a worker thread, and reports the
 * instruments it hears as bus messages and stream tags.
 */

/**
 * SECTION:element-instridentify
 * @title: instridentify
 *
 * Identifies which of the model's instruments play in an audio stream. The audio leaves the
 * element untouched (a passthrough #GstAudioFilter for every format, layout, rate from 8 to
 * 192 kHz and 1 to 8 channels); a copy goes through the audio path the trainer decodes with
 * (NaN and infinities replaced, channels averaged) into a libinstrid analysis: a log-mel
 * spectrogram and the model's network on windows of it, one every #GstInstrIdentify:interval.
 * When the input's Nyquist frequency reaches the model's highest mel band and the model's hop
 * is a whole number of samples at the input's rate (44.1 and 48 kHz for the shipped model), the
 * spectrogram is computed at the input's own rate with the same window and hop durations and
 * the same bands in Hz, and nothing is resampled; otherwise a Kaiser-windowed sinc resamples
 * the audio to the model's rate first.
 *
 * ## Messages
 *
 * When #GstInstrIdentify:post-messages is %TRUE, each analysed window posts an element message
 * named `instridentify`:
 *
 * - `timestamp` (#GstClockTime): the window's first sample, from the buffer timestamps;
 *   `stream-time` and `running-time` (#GstClockTime): the same instant in those times.
 * - `duration` (#GstClockTime): the audio the window covers (windows overlap when the interval
 *   is shorter than a window).
 * - `labels` (#GST_TYPE_ARRAY of strings): every class of the model, in model order.
 * - `probabilities` (#GST_TYPE_ARRAY of doubles): each class's probability in [0, 1].
 * - `instruments` (#GST_TYPE_ARRAY of strings): the classes at or above their threshold, most
 *   probable first.
 * - `embedding` (#GST_TYPE_ARRAY of doubles), only when #GstInstrIdentify:post-embedding is
 *   %TRUE: the window's embedding, the activation the model marks with its EMBEDDING layer (for
 *   mn04 models the values before the classifier: 512 for a plain import, 896 for the shipped
 *   default model, whose head also reads the 384 pooled channels, each + 3), for similarity
 *   search or for flagging sounds unlike any class; empty when the model has no EMBEDDING
 *   layer.
 *
 * At the end of each stream (EOS, or the next STREAM_START in gapless playback) one message
 * named `instridentify-summary` has the same fields for the stream (`timestamp`: the start of
 * the analysed audio, `duration`: its length, 0 for an empty stream) and these:
 *
 * - `windows` (#guint64): the windows aggregated.
 * - `discontinuities` (#guint64): buffers upstream marked DISCONT (damaged or missing data).
 * - `missing` (#GstClockTime): audio missing at them, analysed as silence.
 * - `restarts` (#guint64): those with a jump in time beyond the tolerance, where the window
 *   sequence started again.
 *
 * A summary covers a stream since its STREAM_START or the last flush. A class's summary
 * probability is the mean of its highest 10% of window probabilities: an instrument playing
 * clearly for a tenth of the stream scores as if it played throughout, a lone spike is diluted.
 *
 * A class is detected at or above its threshold: the one #GstInstrIdentify:thresholds gives it
 * (`violin=0.3,piano=0.6`), else #GstInstrIdentify:threshold when not negative, else the
 * model's own.
 *
 * ## Tags
 *
 * With #GstInstrIdentify:tags, stream tags describe the stream, not the moment: an instrument
 * joins them once detected without a break for #GstInstrIdentify:tag-dwell (2 s), and stays; a
 * tag event goes out only when one joins, so a stream has about as many tag events as
 * instruments (the messages carry the per-window truth). At the end of the stream the final tags
 * hold the summary's instruments. They are merged into upstream's latest stream tags (a file's
 * title and comments survive); at a STREAM_START both are forgotten, so in gapless playback no
 * track carries the last one's. The tags: `instrid-instruments` (one string per instrument, most
 * probable first), `instrid-probabilities` (`violin=0.93,piano=0.81`, the summary's so far),
 * and #GST_TAG_EXTENDED_COMMENT `INSTRUMENTS=violin,piano` and
 * `INSTRUMENT_PROBABILITIES=violin:0.93,piano:0.81` (`INSTRUMENTS=` when none).
 *
 * What reaches files: encoders and muxers write tags into headers before the audio, so in a
 * re-encoding pipeline (`... ! instridentify ! vorbisenc ! oggmux ! filesink`) these arrive too
 * late and are not stored; `instrid-tag` analyses files and writes the results into their tags
 * in place. playbin's `get-audio-tags` reports its input streams' tags, upstream of an audio
 * filter, so it does not show these: read the tag events, the sink's TAG messages or the
 * element's messages.
 *
 * ## Timing and damaged input
 *
 * Timestamps come from the buffers. A new segment, new caps and a flush restart the window
 * sequence. A DISCONT buffer restarts it only when its timestamp is more than 1 s from where the
 * last buffer ended: a smaller jump forward is analysed as silence, a small overlap absorbed,
 * and a DISCONT without a jump (a damaged MP3 or Ogg frame) changes nothing; each is counted in
 * the summary and the first ten of a stream posted as warnings. GAP buffers and events are
 * silence; a GAP event's silence is analysed by the worker thread, not the streaming thread (as
 * audio is: about 1.3 ms per second of gap with the shipped model). NaN samples are silence and
 * infinities full scale, before mixing and resampling. At the end of a stream the last, partial
 * window is analysed, padded with silence, when it holds at least half a window of audio no earlier
 * window covered (in a stream that gave no window yet, such as one shorter than a window: any
 * audio).
 *
 * Reverse playback (a negative segment rate) is not analysed: the audio passes through, a
 * warning says so, and analysis resumes with the next forward segment.
 *
 * ## Latency and control
 *
 * The element adds no latency (LATENCY queries get upstream's values). A window's message is
 * posted once its last sample has arrived and the worker thread has run the network on it; the
 * streaming thread waits only when the worker is two windows behind, and a DRAIN query returns
 * once the worker has caught up. #GstInstrIdentify:interval and #GstInstrIdentify:threshold
 * follow control bindings, synchronised at each buffer's stream time.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m filesrc location=song.ogg ! decodebin ! audioconvert ! instridentify ! fakesink
 * ]|
 */

#include "instrid-gst-config.h"

#include <string.h>

#include "gstinstridentifyprivate.h"
#include "gstinstridmessage.h"
#include "gstinstridmodel.h"

GST_DEBUG_CATEGORY(gst_instr_identify_debug);
#define GST_CAT_DEFAULT gst_instr_identify_debug

enum {
  PROP_0,
  PROP_MODEL_LOCATION,
  PROP_INTERVAL,
  PROP_THRESHOLD,
  PROP_THRESHOLDS,
  PROP_TAG_DWELL,
  PROP_POST_MESSAGES,
  PROP_POST_EMBEDDING,
  PROP_TAGS,
  PROP_LABELS,
};

#define DEFAULT_INTERVAL_NS 0
#define DEFAULT_THRESHOLD -1.0
#define DEFAULT_TAG_DWELL_NS (2 * GST_SECOND)
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_POST_EMBEDDING FALSE
#define DEFAULT_TAGS TRUE

/* A DISCONT buffer within this of where the previous one ended does not restart the windows. */
#define DISCONT_TOLERANCE_NS GST_SECOND
/* Differences below this are rounding, not missing audio. */
#define DISCONT_SLACK_NS GST_MSECOND
/* Discontinuities of a stream posted as warnings; the rest are counted in the summary. */
#define DISCONT_MAX_WARNINGS 10

#define INSTR_IDENTIFY_CAPS                                                                        \
  "audio/x-raw, format = (string) " GST_AUDIO_FORMATS_ALL ", rate = (int) [ 8000, 192000 ], "      \
  "channels = (int) [ 1, 8 ], layout = (string) { interleaved, non-interleaved }"

#define gst_instr_identify_parent_class parent_class
G_DEFINE_TYPE(GstInstrIdentify, gst_instr_identify, GST_TYPE_AUDIO_FILTER);

/* ------------------------------------------------------------------------------------------ */
/* Streaming thread                                                                             */

/* Starts a new window sequence at timestamp ts when an event or flag asked for one. */
static void gst_instr_identify_maybe_reset(GstInstrIdentify *self, GstClockTime ts)
{
  GstInstrIdMarker *m;

  if (!self->need_reset)
    return;
  if (!GST_CLOCK_TIME_IS_VALID(ts))
    ts = GST_CLOCK_TIME_IS_VALID(self->next_ts) ? self->next_ts : 0;
  m = g_new0(GstInstrIdMarker, 1);
  m->kind = GST_INSTRID_MARKER_RESET;
  m->full = self->need_full_reset;
  m->base_ts = ts;
  m->segment = self->segment;
  m->rate = self->path_rate;
  if (self->audiopath != NULL)
    instrid_audiopath_reset(self->audiopath);
  gst_instrid_queue_push_marker(&self->queue, m);
  self->need_reset = self->need_full_reset = FALSE;
}

static gboolean gst_instr_identify_queue_samples(gpointer data, const gfloat *x, gsize n)
{
  GstInstrIdentify *self = data;
  return gst_instrid_queue_push_samples(&self->queue, x, n);
}

/* Converts frames of input (planes as GstAudioBuffer lays them out; NULL = silence) at
 * timestamp ts and queues them. FALSE when flushing. */
static gboolean gst_instr_identify_analyse(GstInstrIdentify *self, GstClockTime ts,
                                           gpointer *planes, gsize frames)
{
  gst_instr_identify_maybe_reset(self, ts);
  self->has_data |= frames > 0;
  return instrid_audiopath_convert(self->audiopath, planes, frames,
                                   gst_instr_identify_queue_samples, self);
}

/* frames of silence at ts (a GAP event): the resampler's history is pushed out here, the rest
 * is made and analysed by the worker, so a long gap costs the streaming thread nothing. */
static gboolean gst_instr_identify_gap(GstInstrIdentify *self, GstClockTime ts, gsize frames)
{
  gsize now = MIN(frames, instrid_audiopath_latency(self->audiopath));
  GstInstrIdMarker *m;

  if (!gst_instr_identify_analyse(self, ts, NULL, now))
    return FALSE;
  self->has_data |= frames > 0;
  m = g_new0(GstInstrIdMarker, 1);
  m->kind = GST_INSTRID_MARKER_SILENCE;
  m->samples = gst_util_uint64_scale_int_round(frames - now, (gint)self->path_rate,
                                               instrid_audiopath_input_rate(self->audiopath));
  gst_instrid_queue_push_marker(&self->queue, m);
  return TRUE;
}

/* A DISCONT buffer at ts: restarts the windows only on a jump beyond DISCONT_TOLERANCE_NS; a
 * smaller gap is filled with silence. Counts and reports it. FALSE when flushing. */
static gboolean gst_instr_identify_discont(GstInstrIdentify *self, GstClockTime ts)
{
  const gint rate = GST_AUDIO_INFO_RATE(GST_AUDIO_FILTER_INFO(self));
  GstClockTimeDiff jump = 0;
  gboolean ok = TRUE;

  if (self->need_reset || !self->has_data)
    return TRUE; /* the first buffer of a stream or segment: nothing to continue */
  if (GST_CLOCK_TIME_IS_VALID(ts) && GST_CLOCK_TIME_IS_VALID(self->next_ts))
    jump = GST_CLOCK_DIFF(self->next_ts, ts);
  self->discontinuities++;
  if (jump > (GstClockTimeDiff)DISCONT_TOLERANCE_NS ||
      jump < -(GstClockTimeDiff)DISCONT_TOLERANCE_NS) {
    self->restarts++;
    self->need_reset = TRUE;
  } else if (jump > (GstClockTimeDiff)DISCONT_SLACK_NS) {
    self->missing_ns += (GstClockTime)jump;
    ok = gst_instr_identify_analyse(self, ts, NULL,
                                    gst_util_uint64_scale_int((guint64)jump, rate, GST_SECOND));
  }
  if (self->discontinuities <= DISCONT_MAX_WARNINGS)
    GST_ELEMENT_WARNING(
        self, STREAM, DECODE,
        ("Discontinuity in the audio at %" GST_TIME_FORMAT ": %s", GST_TIME_ARGS(ts),
         self->need_reset                            ? "a jump in time, the analysis starts again"
         : jump > (GstClockTimeDiff)DISCONT_SLACK_NS ? "missing audio analysed as silence"
                                                     : "no gap in time, the analysis goes on"),
        ("jump %" GST_STIME_FORMAT "%s", GST_STIME_ARGS(jump),
         self->discontinuities == DISCONT_MAX_WARNINGS
             ? "; further discontinuities are only counted in the summary"
             : ""));
  return ok;
}

/* At the end of a stream (EOS, or STREAM_START of the next one): drains the resampler, waits
 * for the worker to analyse everything (including the last partial window), then posts the
 * summary and pushes the final tags. */
static void gst_instr_identify_finish(GstInstrIdentify *self)
{
  GstClockTime start;
  GstSegment segment;
  GstInstrIdMarker *m;
  instrid_window w;
  gboolean post, tags;

  if (self->analysis == NULL)
    return;
  if (self->audiopath != NULL && !self->need_reset &&
      !instrid_audiopath_drain(self->audiopath, gst_instr_identify_queue_samples, self))
    return;
  m = g_new0(GstInstrIdMarker, 1);
  m->kind = GST_INSTRID_MARKER_EOS;
  if (!gst_instrid_queue_push_marker_and_wait(&self->queue, m))
    return;
  self->has_data = FALSE;
  /* The summary's tags supersede the pending ones. */
  gst_instrid_tags_drop_pending(&self->tags_state);

  /* The worker is idle until more samples come, which only this thread queues. */
  instrid_analysis_summary(self->analysis, &w);
  start = self->summary_start;
  segment = self->summary_segment;
  if (!GST_CLOCK_TIME_IS_VALID(start)) {
    segment = self->segment;
    start = segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID(segment.start)
                ? segment.start
                : 0;
  }
  GST_OBJECT_LOCK(self);
  post = self->post_messages;
  tags = self->tags;
  GST_OBJECT_UNLOCK(self);

  if (post) {
    GstMessage *msg = gst_instrid_message_new(
        GST_OBJECT(self), self->model, "instridentify-summary", start,
        gst_instr_identify_samples_to_time(self, w.length_samples), &segment, &w);
    gst_structure_set((GstStructure *)gst_message_get_structure(msg), "windows", G_TYPE_UINT64,
                      instrid_analysis_windows(self->analysis), "discontinuities", G_TYPE_UINT64,
                      self->discontinuities, "missing", G_TYPE_UINT64, self->missing_ns, "restarts",
                      G_TYPE_UINT64, self->restarts, NULL);
    gst_element_post_message(GST_ELEMENT(self), msg);
  }
  if (tags)
    gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(self),
                       gst_instrid_tags_event(&self->tags_state,
                                              gst_instrid_tags_make(self->model, w.probabilities,
                                                                    w.order, w.n_detected)));
}

/* A new stream (or a flush): the summary, the counts and the settled set start again. */
static void gst_instr_identify_new_stream(GstInstrIdentify *self)
{
  self->need_reset = self->need_full_reset = TRUE;
  self->has_data = FALSE;
  self->discontinuities = self->restarts = 0;
  self->missing_ns = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* GstBaseTransform / GstAudioFilter                                                            */

/* Control bindings (interval, threshold) follow the stream time of each buffer. */
static void gst_instr_identify_before_transform(GstBaseTransform *trans, GstBuffer *buf)
{
  GstClockTime t =
      gst_segment_to_stream_time(&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  if (GST_CLOCK_TIME_IS_VALID(t))
    gst_object_sync_values(GST_OBJECT(trans), t);
}

static GstFlowReturn gst_instr_identify_transform_ip(GstBaseTransform *trans, GstBuffer *buf)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  const GstAudioInfo *info = GST_AUDIO_FILTER_INFO(self);
  GstClockTime ts = GST_BUFFER_PTS(buf);
  GstEvent *tag_event;
  gsize frames = gst_buffer_get_size(buf) / GST_AUDIO_INFO_BPF(info);
  gboolean ok = TRUE;

  if (self->audiopath == NULL)
    return GST_FLOW_NOT_NEGOTIATED;
  if (self->reverse)
    return GST_FLOW_OK;
  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT))
    ok = gst_instr_identify_discont(self, ts);

  if (ok && GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_GAP)) {
    ok = gst_instr_identify_analyse(self, ts, NULL, frames);
  } else if (ok) {
    GstAudioBuffer abuf;
    /* Planar audio must say where its planes are (gst_audio_buffer_map asserts it). */
    if (GST_AUDIO_INFO_LAYOUT(info) == GST_AUDIO_LAYOUT_NON_INTERLEAVED &&
        gst_buffer_get_audio_meta(buf) == NULL) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                        ("Non-interleaved audio buffer without a GstAudioMeta"),
                        ("upstream must attach a GstAudioMeta to planar buffers"));
      return GST_FLOW_ERROR;
    }
    if (!gst_audio_buffer_map(&abuf, info, buf, GST_MAP_READ)) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map the audio buffer"), (NULL));
      return GST_FLOW_ERROR;
    }
    frames = abuf.n_samples;
    ok = gst_instr_identify_analyse(self, ts, abuf.planes, frames);
    gst_audio_buffer_unmap(&abuf);
  }
  if (!ok)
    return GST_FLOW_FLUSHING;
  if (GST_CLOCK_TIME_IS_VALID(ts))
    self->next_ts = ts + gst_util_uint64_scale_int(frames, GST_SECOND, GST_AUDIO_INFO_RATE(info));
  else if (GST_CLOCK_TIME_IS_VALID(self->next_ts))
    self->next_ts += gst_util_uint64_scale_int(frames, GST_SECOND, GST_AUDIO_INFO_RATE(info));

  /* Tags the worker made since the last buffer. */
  tag_event = gst_instrid_tags_take_pending_event(&self->tags_state);
  if (tag_event != NULL)
    gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(self), tag_event);
  return GST_FLOW_OK;
}

static gboolean gst_instr_identify_setup(GstAudioFilter *filter, const GstAudioInfo *info)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(filter);
  instrid_error err;

  if (self->analysis == NULL) {
    GST_ERROR_OBJECT(self, "caps before the element was started");
    return FALSE;
  }
  /* At the input's rate when the model's front end can run at it (no resampler), else at the
   * model's: the route the trainer's decoder takes too. The worker moves its analysis to this
   * rate at the reset marker the next audio brings. */
  self->path_rate = instrid_audiopath_route_rate(&instrid_model_get_desc(self->model)->frontend,
                                                 GST_AUDIO_INFO_RATE(info));
  instrid_audiopath_free(self->audiopath);
  self->audiopath = instrid_audiopath_new(info, self->path_rate, &err);
  if (self->audiopath == NULL) {
    GST_ERROR_OBJECT(self, "%s", err.message);
    return FALSE;
  }
  self->need_reset = TRUE;
  GST_DEBUG_OBJECT(self, "analysing %" GST_PTR_FORMAT, info);
  return TRUE;
}

static gboolean gst_instr_identify_stop(GstBaseTransform *trans);

static gboolean gst_instr_identify_start(GstBaseTransform *trans)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  instrid_error err = {INSTRID_OK, ""};
  instrid_model *model;
  instrid_analysis *analysis;
  const instrid_frontend_params *fe;
  gchar *location, *debug = NULL;
  GError *error = NULL;
  guint64 window_samples;
  gsize ring_size;

  GST_OBJECT_LOCK(self);
  location = g_strdup(self->model_location);
  GST_OBJECT_UNLOCK(self);
  model = gst_instrid_model_load(location, &error, &debug);
  if (model == NULL) {
    gst_element_message_full(GST_ELEMENT(self), GST_MESSAGE_ERROR, error->domain, error->code,
                             g_strdup(error->message), debug, __FILE__, GST_FUNCTION, __LINE__);
    g_error_free(error);
    g_free(location);
    return FALSE;
  }
  analysis = instrid_analysis_new(model, &err);
  if (analysis == NULL) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("Could not set up instrument model: %s", err.message), (NULL));
    instrid_model_free(model);
    g_free(location);
    return FALSE;
  }
  g_free(location);

  GST_OBJECT_LOCK(self);
  self->model = model;
  self->settings_changed = TRUE;
  GST_OBJECT_UNLOCK(self);

  self->analysis = analysis;
  self->n_classes = instrid_model_n_classes(model);
  self->sample_rate = self->path_rate = instrid_model_sample_rate(model);
  self->summary_start = GST_CLOCK_TIME_NONE;
  gst_segment_init(&self->summary_segment, GST_FORMAT_TIME);
  gst_segment_init(&self->work_segment, GST_FORMAT_TIME);
  self->base_ts = GST_CLOCK_TIME_NONE;
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  gst_instr_identify_new_stream(self);
  self->reverse = FALSE;
  self->next_ts = GST_CLOCK_TIME_NONE;

  /* Room for two windows: the worker can fall one window behind before the streaming thread
   * has to wait for it. */
  fe = &instrid_model_get_desc(model)->frontend;
  window_samples = (guint64)(instrid_model_window_frames(model) - 1) * fe->hop_samples + fe->n_fft;
  ring_size = (gsize)MAX(2 * window_samples, (guint64)2 * GST_INSTRID_QUEUE_CHUNK);
  if (!gst_instrid_queue_start(&self->queue, ring_size, gst_instr_identify_worker_samples,
                               gst_instr_identify_worker_marker, self)) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("Out of memory for the instrument model's queue of %" G_GSIZE_FORMAT
                       " samples",
                       ring_size),
                      (NULL));
    gst_instr_identify_stop(trans);
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_instr_identify_stop(GstBaseTransform *trans)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  instrid_model *model;

  gst_instrid_queue_stop(&self->queue);
  instrid_audiopath_free(self->audiopath);
  self->audiopath = NULL;
  instrid_analysis_free(self->analysis);
  self->analysis = NULL;
  gst_instrid_tags_reset(&self->tags_state);

  GST_OBJECT_LOCK(self);
  model = self->model;
  self->model = NULL;
  GST_OBJECT_UNLOCK(self);
  instrid_model_free(model);
  return TRUE;
}

static gboolean gst_instr_identify_sink_event(GstBaseTransform *trans, GstEvent *event)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);

  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_FLUSH_START:
    gst_instrid_queue_set_flushing(&self->queue, TRUE);
    break;
  case GST_EVENT_FLUSH_STOP:
    gst_instrid_queue_set_flushing(&self->queue, FALSE);
    gst_instrid_tags_drop_pending(&self->tags_state);
    gst_instr_identify_new_stream(self);
    self->next_ts = GST_CLOCK_TIME_NONE;
    break;
  case GST_EVENT_STREAM_START:
    /* Gapless playback: the last stream ends here without an EOS. Its summary and final tags
     * go first; then neither its tags nor upstream's carry over. */
    if (self->has_data)
      gst_instr_identify_finish(self);
    gst_instrid_tags_reset(&self->tags_state);
    gst_instr_identify_new_stream(self);
    break;
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &self->segment);
    self->need_reset = TRUE;
    self->next_ts = GST_CLOCK_TIME_NONE;
    if (self->segment.rate < 0.0 && !self->reverse)
      GST_ELEMENT_WARNING(self, STREAM, NOT_IMPLEMENTED,
                          ("Reverse playback is not analysed: the audio passes through, and "
                           "analysis resumes with the next forward segment"),
                          ("segment rate %g", self->segment.rate));
    self->reverse = self->segment.rate < 0.0;
    break;
  case GST_EVENT_GAP: {
    GstClockTime ts, duration;
    gst_event_parse_gap(event, &ts, &duration);
    if (self->audiopath != NULL && !self->reverse && GST_CLOCK_TIME_IS_VALID(duration)) {
      gst_instr_identify_gap(
          self, ts,
          gst_util_uint64_scale_int(duration, GST_AUDIO_INFO_RATE(GST_AUDIO_FILTER_INFO(self)),
                                    GST_SECOND));
      if (GST_CLOCK_TIME_IS_VALID(ts))
        self->next_ts = ts + duration;
    }
    break;
  }
  case GST_EVENT_TAG:
    event = gst_instrid_tags_upstream_event(&self->tags_state, event);
    break;
  case GST_EVENT_EOS:
    gst_instr_identify_finish(self);
    break;
  default:
    break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

/* DRAIN: answered once the worker has analysed everything queued, so that whoever asks sees
 * every result the audio so far completes (the resampler keeps its few frames of history). */
static gboolean gst_instr_identify_query(GstBaseTransform *trans, GstPadDirection direction,
                                         GstQuery *query)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);

  if (direction == GST_PAD_SINK && GST_QUERY_TYPE(query) == GST_QUERY_DRAIN &&
      self->analysis != NULL) {
    GstInstrIdMarker *m = g_new0(GstInstrIdMarker, 1);
    m->kind = GST_INSTRID_MARKER_DRAIN;
    gst_instrid_queue_push_marker_and_wait(&self->queue, m);
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

static GstStateChangeReturn gst_instr_identify_change_state(GstElement *element,
                                                            GstStateChange transition)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(element);

  /* Let a streaming thread waiting on the worker go, so the pads can be deactivated. */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gst_instrid_queue_set_flushing(&self->queue, TRUE);
  return GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
}

/* ------------------------------------------------------------------------------------------ */
/* Properties                                                                                   */

/* The running model's class names; when not running, those of the file the element would load,
 * read with no lock held (a slow or hanging file never blocks other property readers). */
static gchar **gst_instr_identify_labels(GstInstrIdentify *self)
{
  gchar **labels = NULL, *location = NULL;

  GST_OBJECT_LOCK(self);
  if (self->model != NULL)
    labels = gst_instrid_model_class_names(self->model);
  else
    location = g_strdup(self->model_location);
  GST_OBJECT_UNLOCK(self);
  if (labels == NULL)
    labels = gst_instrid_model_labels(location);
  g_free(location);
  return labels;
}

static void gst_instr_identify_set_property(GObject *object, guint prop_id, const GValue *value,
                                            GParamSpec *pspec)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(object);

  GST_OBJECT_LOCK(self);
  switch (prop_id) {
  case PROP_MODEL_LOCATION:
    g_free(self->model_location);
    self->model_location = g_value_dup_string(value);
    break;
  case PROP_INTERVAL:
    self->interval_ns = g_value_get_uint64(value);
    self->settings_changed = TRUE;
    break;
  case PROP_THRESHOLD:
    self->threshold = g_value_get_double(value);
    self->settings_changed = TRUE;
    break;
  case PROP_THRESHOLDS:
    g_free(self->thresholds);
    self->thresholds = g_value_dup_string(value);
    self->settings_changed = TRUE;
    break;
  case PROP_TAG_DWELL:
    self->tag_dwell_ns = g_value_get_uint64(value);
    self->settings_changed = TRUE;
    break;
  case PROP_POST_MESSAGES:
    self->post_messages = g_value_get_boolean(value);
    break;
  case PROP_POST_EMBEDDING:
    self->post_embedding = g_value_get_boolean(value);
    break;
  case PROP_TAGS:
    self->tags = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_instr_identify_get_property(GObject *object, guint prop_id, GValue *value,
                                            GParamSpec *pspec)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(object);

  if (prop_id == PROP_LABELS) {
    g_value_take_boxed(value, gst_instr_identify_labels(self));
    return;
  }
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
  case PROP_MODEL_LOCATION:
    g_value_set_string(value, self->model_location);
    break;
  case PROP_INTERVAL:
    g_value_set_uint64(value, self->interval_ns);
    break;
  case PROP_THRESHOLD:
    g_value_set_double(value, self->threshold);
    break;
  case PROP_THRESHOLDS:
    g_value_set_string(value, self->thresholds);
    break;
  case PROP_TAG_DWELL:
    g_value_set_uint64(value, self->tag_dwell_ns);
    break;
  case PROP_POST_MESSAGES:
    g_value_set_boolean(value, self->post_messages);
    break;
  case PROP_POST_EMBEDDING:
    g_value_set_boolean(value, self->post_embedding);
    break;
  case PROP_TAGS:
    g_value_set_boolean(value, self->tags);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_instr_identify_finalize(GObject *object)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(object);

  g_free(self->model_location);
  g_free(self->thresholds);
  gst_instrid_queue_clear(&self->queue);
  gst_instrid_tags_clear(&self->tags_state);
  G_OBJECT_CLASS(parent_class)->finalize(object);
}
static void gst_instr_identify_class_init(GstInstrIdentifyClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstAudioFilterClass *filter_class = GST_AUDIO_FILTER_CLASS(klass);
  GstCaps *caps;

  GST_DEBUG_CATEGORY_INIT(gst_instr_identify_debug, "instridentify", 0,
                          "instrument identification");

  gobject_class->set_property = gst_instr_identify_set_property;
  gobject_class->get_property = gst_instr_identify_get_property;
  gobject_class->finalize = gst_instr_identify_finalize;

  g_object_class_install_property(
      gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string("model-location", "Model location",
                          "Path of the instrid model file (NULL = the model shipped with the "
                          "plugin); read when the element starts (READY to PAUSED): a change "
                          "while it runs takes effect at the next start",
                          NULL,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(
      gobject_class, PROP_INTERVAL,
      g_param_spec_uint64("interval", "Interval",
                          "Nanoseconds between results, rounded to the model's frame hop and "
                          "limited to 1..65536 hops (0 = the model's own hop); a change takes "
                          "effect from the next window",
                          0, G_MAXUINT64, DEFAULT_INTERVAL_NS,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
                              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLD,
      g_param_spec_double("threshold", "Threshold",
                          "Probability at or above which an instrument counts as playing, for "
                          "every class that 'thresholds' does not name (-1, or any negative "
                          "value, = the model's per-class thresholds)",
                          -1.0, 1.0, DEFAULT_THRESHOLD,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
                              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLDS,
      g_param_spec_string("thresholds", "Per-class thresholds",
                          "Thresholds of named classes, e.g. \"violin=0.3,piano=0.6\"; they win "
                          "over 'threshold'. An unknown class or a value outside 0..1 is "
                          "reported as a warning and the whole text ignored",
                          NULL,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_TAG_DWELL,
      g_param_spec_uint64("tag-dwell", "Tag dwell",
                          "Nanoseconds an instrument must be detected without a break before "
                          "the stream's tags name it (0 = one window)",
                          0, G_MAXUINT64, DEFAULT_TAG_DWELL_NS,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean("post-messages", "Post messages",
                           "Post an 'instridentify' element message per window and an "
                           "'instridentify-summary' message at EOS",
                           DEFAULT_POST_MESSAGES,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_POST_EMBEDDING,
      g_param_spec_boolean("post-embedding", "Post embedding",
                           "Add the window's embedding (the input of the model's EMBEDDING "
                           "layer) to each 'instridentify' message as the field 'embedding'",
                           DEFAULT_POST_EMBEDDING,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_TAGS,
      g_param_spec_boolean("tags", "Tags",
                           "Push the detected instruments downstream as tags, merged with the "
                           "stream's own tags",
                           DEFAULT_TAGS,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_LABELS,
      g_param_spec_boxed("labels", "Labels",
                         "The model's class names, in the order of the messages' arrays "
                         "(the running model's, else model-location's; empty when it cannot be "
                         "read)",
                         G_TYPE_STRV, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata(
      element_class, "Instrument identification", "Filter/Analyzer/Audio",
      "Identifies the musical instruments playing in the audio and posts them as messages "
      "and tags",
      "instrid developers");

  caps = gst_caps_from_string(INSTR_IDENTIFY_CAPS);
  gst_audio_filter_class_add_pad_templates(filter_class, caps);
  gst_caps_unref(caps);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_instr_identify_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR(gst_instr_identify_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_instr_identify_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_instr_identify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_instr_identify_query);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_instr_identify_transform_ip);
  trans_class->before_transform = GST_DEBUG_FUNCPTR(gst_instr_identify_before_transform);
  trans_class->transform_ip_on_passthrough = TRUE;
  filter_class->setup = GST_DEBUG_FUNCPTR(gst_instr_identify_setup);
}

static void gst_instr_identify_init(GstInstrIdentify *self)
{
  self->interval_ns = DEFAULT_INTERVAL_NS;
  self->threshold = DEFAULT_THRESHOLD;
  self->tag_dwell_ns = DEFAULT_TAG_DWELL_NS;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->post_embedding = DEFAULT_POST_EMBEDDING;
  self->tags = DEFAULT_TAGS;
  gst_instrid_queue_init(&self->queue);
  gst_instrid_tags_init(&self->tags_state);
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_gap_aware(GST_BASE_TRANSFORM(self), TRUE);
}
