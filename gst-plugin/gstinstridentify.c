/* gstinstridentify.c — the instridentify element: passes audio through untouched, converts a
 * copy to the model's rate in mono, runs libinstrid on it in a worker thread and reports the
 * instruments it hears as bus messages and tags.
 */

/**
 * SECTION:element-instridentify
 * @title: instridentify
 *
 * Identifies which of the model's instruments play in an audio stream. The audio leaves the
 * element untouched (the element is a passthrough #GstAudioFilter accepting every format,
 * layout, rate from 8 to 192 kHz and 1 to 8 channels); a copy is converted with
 * #GstAudioConverter to mono (the mean of all channels) at the model's sample rate and fed to a
 * libinstrid stream, which computes a log-mel spectrogram and runs the model's network on
 * windows of it, one window every #GstInstrIdentify:interval.
 *
 * ## Messages
 *
 * When #GstInstrIdentify:post-messages is %TRUE, the element posts one element message per
 * analysed window, whose structure is named `instridentify`:
 *
 * - `timestamp` (#GstClockTime): the timestamp of the window's first sample, derived from the
 *   buffer timestamps.
 * - `stream-time` (#GstClockTime): the same instant in stream time.
 * - `running-time` (#GstClockTime): the same instant in running time.
 * - `duration` (#GstClockTime): the length of audio the window covers (windows overlap when
 *   the interval is shorter than a window).
 * - `labels` (#GST_TYPE_ARRAY of strings): every class of the model, in model order.
 * - `probabilities` (#GST_TYPE_ARRAY of doubles): the probability of each class, aligned with
 *   `labels`, each in [0, 1].
 * - `instruments` (#GST_TYPE_ARRAY of strings): the classes whose probability is at or above
 *   their threshold (#GstInstrIdentify:threshold, or the model's per-class thresholds), most
 *   probable first.
 *
 * At EOS, before EOS goes downstream, the element posts one message named
 * `instridentify-summary` with the same fields for the whole stream: `timestamp` is the start
 * of the analysed audio, `duration` its length (0 for an empty stream), and one more field,
 * `windows` (#guint64), the number of windows aggregated. A summary covers everything since
 * the start or the last flush.
 *
 * The summary's probability for a class is the mean of its highest 10% of window probabilities
 * (at least one window). A plain mean over the whole stream would bury an instrument that
 * plays in part of a piece (a solo, an intro); the maximum would let one spurious window decide.
 * With the top 10%, an instrument that plays clearly for a tenth of the stream scores as if it
 * played throughout, while an isolated spike is diluted by the windows around it. The
 * aggregation keeps a 256-bin histogram per class, so its memory does not grow with the stream.
 *
 * ## Tags
 *
 * When #GstInstrIdentify:tags is %TRUE, the element pushes a stream tag event downstream each
 * time the set of detected instruments changes, and once more at EOS with the summary's
 * instruments. Its tags are merged into the latest stream tags that came from upstream, so the
 * file's own title, artist and comments survive. The tags are:
 *
 * - `instrid-instruments` (string, one value per instrument, most probable first; read as one
 *   string they are joined with commas).
 * - `instrid-probabilities` (string): `violin=0.93,piano=0.81`.
 * - #GST_TAG_EXTENDED_COMMENT `INSTRUMENTS=violin,piano` and
 *   `INSTRUMENT_PROBABILITIES=violin:0.93,piano:0.81`, which Vorbis-comment and ID3 writers
 *   store as they are.
 *
 * When no instrument is detected the two custom tags are absent and the comment reads
 * `INSTRUMENTS=`.
 *
 * ## Timing
 *
 * Timestamps come from the buffers. A DISCONT buffer, a new segment, new caps and a flush
 * start the window sequence again (a flush, or a new stream, also restarts the summary). GAP
 * buffers and GAP events count as silence; NaN samples count as silence and infinities as full
 * scale. At EOS the last, partial window is analysed (padded with silence) when it holds at
 * least half a window of audio that no earlier window covered, or, in a stream shorter than a
 * window, at least half a window of audio at all; shorter remainders are too short to mean
 * anything and are not reported. (With the default hop of half a window the remainder after
 * the last window is always shorter than that.)
 *
 * ## Latency
 *
 * The audio passes through untouched and without delay, so the element adds no latency to the
 * pipeline and answers the LATENCY query with upstream's values. Results lag their audio: a
 * window's message is posted once its last sample has arrived and the network has run on it
 * (in a worker thread, so the streaming thread only converts and queues samples and never
 * waits longer than one window's computation). In a live pipeline a result is thus posted about
 * one buffer duration plus one window's computation after the end of its audio.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m filesrc location=song.ogg ! decodebin ! audioconvert ! instridentify ! fakesink
 * ]|
 */

#include "instrid-gst-config.h"

#include <string.h>

#include "audiopath.h"
#include "decision.h"
#include "gstinstridentify.h"
#include "gstinstridqueue.h"
#include "gstinstridtags.h"
#include "summary.h"

GST_DEBUG_CATEGORY_STATIC(gst_instr_identify_debug);
#define GST_CAT_DEFAULT gst_instr_identify_debug

enum {
  PROP_0,
  PROP_MODEL_LOCATION,
  PROP_INTERVAL,
  PROP_THRESHOLD,
  PROP_POST_MESSAGES,
  PROP_TAGS,
  PROP_LABELS,
};

#define DEFAULT_INTERVAL_NS 0
#define DEFAULT_THRESHOLD -1.0
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_TAGS TRUE

#define INSTR_IDENTIFY_CAPS                                                                        \
  "audio/x-raw, format = (string) " GST_AUDIO_FORMATS_ALL ", rate = (int) [ 8000, 192000 ], "      \
  "channels = (int) [ 1, 8 ], layout = (string) { interleaved, non-interleaved }"

struct _GstInstrIdentify {
  GstAudioFilter parent;

  /* Properties, under the object lock. The model pointer too: labels reads it from any
   * thread, start() and stop() replace it. */
  gchar *model_location;
  guint64 interval_ns;
  gdouble threshold;
  gboolean post_messages;
  gboolean tags;
  gboolean interval_changed;
  instrid_model *model;

  /* Streaming thread only. */
  instrid_audiopath *audiopath;
  gboolean need_reset, need_full_reset;
  GstClockTime next_ts; /* where the next buffer should start, for buffers without one */
  GstSegment segment;

  GstInstrIdQueue queue; /* streaming thread -> worker */
  GstInstrIdTags tags_state;

  /* Worker only (and the streaming thread while the worker waits, after EOS). */
  instrid_stream *stream;
  instrid_summary *summary;
  guint n_classes;
  guint32 sample_rate;
  gdouble *probabilities; /* (n_classes) */
  gdouble *thresholds;    /* (n_classes) the ones in force */
  int *detected;          /* (n_classes) */
  int *last_detected;     /* (n_classes) the set the last tags were made for */
  guint32 *order;         /* (n_classes) class indices, detected first, most probable first */
  GstSegment work_segment;
  GstClockTime base_ts;
  guint64 windows_since_reset;
  GstClockTime summary_start; /* first analysed sample since the last full reset; NONE before */
  guint64 summary_samples;    /* analysed since then, at the model's rate */
  GstSegment summary_segment; /* of the first window, for the stream and running times */
};

#define gst_instr_identify_parent_class parent_class
G_DEFINE_TYPE(GstInstrIdentify, gst_instr_identify, GST_TYPE_AUDIO_FILTER);

static const gchar *plugin_filename; /* set once at plugin init, read-only afterwards */

void gst_instr_identify_set_plugin_filename(const gchar *filename)
{
  if (plugin_filename == NULL && filename != NULL)
    plugin_filename = g_strdup(filename);
}

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                        */

/* The model to load: location when set, else the shipped one: next to the plugin (the copy
 * meson places in the build tree), then the installed one, then the source tree's. NULL when
 * none exists. Reads the file system: never call it with the object lock held. */
static gchar *gst_instr_identify_model_path(const gchar *location)
{
  gchar *candidates[3] = {NULL, NULL, NULL};
  gchar *found = NULL;
  guint i;

  if (location != NULL && location[0] != '\0')
    return g_strdup(location);
  if (plugin_filename != NULL) {
    gchar *dir = g_path_get_dirname(plugin_filename);
    candidates[0] = g_build_filename(dir, "default.instrid", NULL);
    g_free(dir);
  }
  candidates[1] = g_strdup(INSTRID_DEFAULT_MODEL_INSTALLED);
  candidates[2] = g_strdup(INSTRID_DEFAULT_MODEL_SOURCE);
  for (i = 0; i < G_N_ELEMENTS(candidates); i++) {
    if (found == NULL && candidates[i] != NULL &&
        g_file_test(candidates[i], G_FILE_TEST_IS_REGULAR))
      found = g_strdup(candidates[i]);
    g_free(candidates[i]);
  }
  return found;
}

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                      */

static GstClockTime gst_instr_identify_samples_to_time(GstInstrIdentify *self, guint64 samples)
{
  return gst_util_uint64_scale_int(samples, GST_SECOND, self->sample_rate);
}

/* The thresholds in force: the threshold property for every class when set, else the model's. */
static void gst_instr_identify_update_thresholds(GstInstrIdentify *self, gdouble threshold)
{
  guint i;
  for (i = 0; i < self->n_classes; i++)
    self->thresholds[i] =
        threshold >= 0.0 ? threshold : (gdouble)instrid_model_threshold(self->model, i);
}

static GstMessage *gst_instr_identify_make_message(GstInstrIdentify *self, const gchar *name,
                                                   GstClockTime timestamp, GstClockTime duration,
                                                   const GstSegment *segment, guint n_detected)
{
  GValue labels = G_VALUE_INIT, probs = G_VALUE_INIT, instruments = G_VALUE_INIT;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE, running_time = GST_CLOCK_TIME_NONE;
  GstStructure *s;
  guint i;

  if (GST_CLOCK_TIME_IS_VALID(timestamp) && segment->format == GST_FORMAT_TIME) {
    stream_time = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, timestamp);
    running_time = gst_segment_to_running_time(segment, GST_FORMAT_TIME, timestamp);
  }

  g_value_init(&labels, GST_TYPE_ARRAY);
  g_value_init(&probs, GST_TYPE_ARRAY);
  g_value_init(&instruments, GST_TYPE_ARRAY);
  for (i = 0; i < self->n_classes; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(self->model, i));
    gst_value_array_append_and_take_value(&labels, &v);
    g_value_init(&v, G_TYPE_DOUBLE);
    g_value_set_double(&v, self->probabilities[i]);
    gst_value_array_append_and_take_value(&probs, &v);
  }
  for (i = 0; i < n_detected; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(self->model, self->order[i]));
    gst_value_array_append_and_take_value(&instruments, &v);
  }

  s = gst_structure_new(name, "timestamp", G_TYPE_UINT64, timestamp, "stream-time", G_TYPE_UINT64,
                        stream_time, "running-time", G_TYPE_UINT64, running_time, "duration",
                        G_TYPE_UINT64, duration, NULL);
  gst_structure_take_value(s, "labels", &labels);
  gst_structure_take_value(s, "probabilities", &probs);
  gst_structure_take_value(s, "instruments", &instruments);
  return gst_message_new_element(GST_OBJECT(self), s);
}

/* ------------------------------------------------------------------------------------------ */
/* Worker                                                                                       */

/* Applies a new interval, when the property changed, before the next window. */
static void gst_instr_identify_apply_interval(GstInstrIdentify *self)
{
  guint64 interval_ns, frame_ns, frames;
  guint32 hop_frames = 0; /* the model's own */
  gboolean changed;
  instrid_error err;

  GST_OBJECT_LOCK(self);
  changed = self->interval_changed;
  self->interval_changed = FALSE;
  interval_ns = self->interval_ns;
  GST_OBJECT_UNLOCK(self);
  if (!changed)
    return;

  if (interval_ns > 0) {
    frame_ns = gst_util_uint64_scale_int(instrid_model_hop_samples(self->model), GST_SECOND,
                                         self->sample_rate);
    /* Rounded to the nearest hop without interval_ns + frame_ns / 2, which wraps for intervals
     * near G_MAXUINT64 and would turn "as rarely as possible" into every frame. */
    frames = frame_ns > 0 ? interval_ns / frame_ns +
                                (interval_ns % frame_ns >= frame_ns - frame_ns / 2 ? 1 : 0)
                          : 1;
    hop_frames = (guint32)CLAMP(frames, 1, 65536);
  }
  if (instrid_stream_set_hop_frames(self->stream, hop_frames, &err) != INSTRID_OK)
    GST_WARNING_OBJECT(self, "interval %" G_GUINT64_FORMAT " ns: %s", interval_ns, err.message);
  else
    GST_DEBUG_OBJECT(self, "interval %" G_GUINT64_FORMAT " ns -> %u frames", interval_ns,
                     instrid_stream_get_hop_frames(self->stream));
}

static void gst_instr_identify_worker_result(GstInstrIdentify *self, const instrid_result *r,
                                             gint generation)
{
  const guint n = self->n_classes;
  gboolean post, tags, changed = FALSE;
  gdouble threshold;
  guint i, n_detected;
  guint64 end_sample, covered;
  GstClockTime ts = GST_CLOCK_TIME_NONE, duration;

  GST_OBJECT_LOCK(self);
  post = self->post_messages;
  tags = self->tags;
  threshold = self->threshold;
  GST_OBJECT_UNLOCK(self);

  for (i = 0; i < n; i++) {
    gdouble p = r->probabilities[i];
    /* NaN fails every comparison: it becomes 0, so it never reaches a message. */
    self->probabilities[i] = p >= 0.0 ? MIN(p, 1.0) : 0.0;
  }
  instrid_summary_add(self->summary, self->probabilities);

  end_sample = instrid_stream_samples(self->stream);
  covered = end_sample > r->start_sample ? end_sample - r->start_sample : 0;
  duration = gst_instr_identify_samples_to_time(self, MIN(covered, r->length_samples));
  if (GST_CLOCK_TIME_IS_VALID(self->base_ts))
    ts = self->base_ts + gst_instr_identify_samples_to_time(self, r->start_sample);

  gst_instr_identify_update_thresholds(self, threshold);
  n_detected =
      instrid_decide(n, self->probabilities, self->thresholds, self->detected, self->order);
  for (i = 0; i < n; i++) {
    changed |= self->detected[i] != self->last_detected[i];
    self->last_detected[i] = self->detected[i];
  }

  /* A window computed from audio that a flush has since thrown away is not reported. */
  if (gst_instrid_queue_generation(&self->queue) != generation)
    return;
  /* The tags are pending before the window's message is posted: whoever sees the message and
   * then pushes a buffer gets them. */
  if (tags && changed)
    gst_instrid_tags_set_pending(
        &self->tags_state,
        gst_instrid_tags_make(self->model, self->probabilities, self->order, n_detected));
  if (post)
    gst_element_post_message(GST_ELEMENT(self),
                             gst_instr_identify_make_message(self, "instridentify", ts, duration,
                                                             &self->work_segment, n_detected));
}

static void gst_instr_identify_worker_samples(gpointer data, const gfloat *x, gsize n,
                                              gint generation)
{
  GstInstrIdentify *self = data;

  gst_instr_identify_apply_interval(self);
  while (n > 0) {
    instrid_result r;
    int have_result = 0;
    gsize k = instrid_stream_push(self->stream, x, n, &r, &have_result);
    x += k;
    n -= k;
    self->summary_samples += k;
    if (have_result) {
      self->windows_since_reset++;
      gst_instr_identify_worker_result(self, &r, generation);
    } else if (k == 0)
      break;
  }
}

static void gst_instr_identify_worker_reset(GstInstrIdentify *self, const GstInstrIdMarker *m)
{
  instrid_stream_reset(self->stream);
  self->windows_since_reset = 0;
  self->base_ts = m->base_ts;
  self->work_segment = m->segment;
  if (m->full) {
    instrid_summary_reset(self->summary);
    self->summary_start = GST_CLOCK_TIME_NONE;
    self->summary_samples = 0;
    memset(self->last_detected, 0, sizeof(int) * self->n_classes);
  }
  if (!GST_CLOCK_TIME_IS_VALID(self->summary_start)) {
    self->summary_start = m->base_ts;
    self->summary_segment = m->segment;
  }
}

/* At EOS: the last, partial window is analysed when it holds at least half a window of audio
 * that no earlier window covered (the frames it shares with the window before it do not
 * count). With the hop at half a window or less that never happens after a first window: the
 * remainder is then shorter than a hop. */
static void gst_instr_identify_worker_finish(GstInstrIdentify *self, gint generation)
{
  const guint32 window = instrid_model_window_frames(self->model);
  guint32 hop, min_frames;
  instrid_result r;

  gst_instr_identify_apply_interval(self);
  hop = instrid_stream_get_hop_frames(self->stream);
  min_frames = (window + 1) / 2;
  if (self->windows_since_reset > 0 && hop < window)
    min_frames += window - hop;
  if (min_frames <= window && instrid_stream_flush(self->stream, min_frames, &r))
    gst_instr_identify_worker_result(self, &r, generation);
}

static void gst_instr_identify_worker_marker(gpointer data, const GstInstrIdMarker *m,
                                             gint generation)
{
  GstInstrIdentify *self = data;

  if (m->kind == GST_INSTRID_MARKER_RESET)
    gst_instr_identify_worker_reset(self, m);
  else if (m->kind == GST_INSTRID_MARKER_EOS)
    gst_instr_identify_worker_finish(self, generation);
}

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
  return instrid_audiopath_convert(self->audiopath, planes, frames,
                                   gst_instr_identify_queue_samples, self);
}

/* At EOS: drains the resampler, waits for the worker to analyse everything (including the
 * last partial window), then posts the summary and pushes the final tags. */
static void gst_instr_identify_finish(GstInstrIdentify *self)
{
  GstClockTime start, duration;
  GstSegment segment;
  GstInstrIdMarker *m;
  gboolean post, tags;
  gdouble threshold;
  guint n_detected;

  if (self->stream == NULL)
    return;
  if (self->audiopath != NULL && !self->need_reset &&
      !instrid_audiopath_drain(self->audiopath, gst_instr_identify_queue_samples, self))
    return;
  m = g_new0(GstInstrIdMarker, 1);
  m->kind = GST_INSTRID_MARKER_EOS;
  if (!gst_instrid_queue_push_marker_and_wait(&self->queue, m))
    return;
  /* The summary's tags supersede the pending ones. */
  gst_instrid_tags_drop_pending(&self->tags_state);

  /* The worker is idle until more samples come, which only this thread queues. */
  instrid_summary_probabilities(self->summary, self->probabilities);
  start = self->summary_start;
  segment = self->summary_segment;
  if (!GST_CLOCK_TIME_IS_VALID(start)) {
    segment = self->segment;
    start = segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID(segment.start)
                ? segment.start
                : 0;
  }
  duration = gst_instr_identify_samples_to_time(self, self->summary_samples);

  GST_OBJECT_LOCK(self);
  post = self->post_messages;
  tags = self->tags;
  threshold = self->threshold;
  GST_OBJECT_UNLOCK(self);

  gst_instr_identify_update_thresholds(self, threshold);
  n_detected = instrid_decide(self->n_classes, self->probabilities, self->thresholds,
                              self->detected, self->order);
  if (post) {
    GstMessage *msg = gst_instr_identify_make_message(self, "instridentify-summary", start,
                                                      duration, &segment, n_detected);
    gst_structure_set((GstStructure *)gst_message_get_structure(msg), "windows", G_TYPE_UINT64,
                      instrid_summary_windows(self->summary), NULL);
    gst_element_post_message(GST_ELEMENT(self), msg);
  }
  if (tags)
    gst_pad_push_event(
        GST_BASE_TRANSFORM_SRC_PAD(self),
        gst_instrid_tags_event(
            &self->tags_state,
            gst_instrid_tags_make(self->model, self->probabilities, self->order, n_detected)));
}

/* ------------------------------------------------------------------------------------------ */
/* GstBaseTransform / GstAudioFilter                                                            */

static GstFlowReturn gst_instr_identify_transform_ip(GstBaseTransform *trans, GstBuffer *buf)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  const GstAudioInfo *info = GST_AUDIO_FILTER_INFO(self);
  GstClockTime ts = GST_BUFFER_PTS(buf);
  GstEvent *tag_event;
  gsize frames;
  gboolean ok;

  if (self->audiopath == NULL)
    return GST_FLOW_NOT_NEGOTIATED;
  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT))
    self->need_reset = TRUE;
  frames = gst_buffer_get_size(buf) / GST_AUDIO_INFO_BPF(info);

  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_GAP)) {
    ok = gst_instr_identify_analyse(self, ts, NULL, frames);
  } else {
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

  if (self->stream == NULL) {
    GST_ERROR_OBJECT(self, "caps before the element was started");
    return FALSE;
  }
  instrid_audiopath_free(self->audiopath);
  self->audiopath = instrid_audiopath_new(info, self->sample_rate, &err);
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
  instrid_stream *stream;
  instrid_summary *summary = NULL;
  const instrid_frontend_params *fe;
  gchar *location, *path;
  guint n;
  guint64 window_samples;
  gsize ring_size;

  GST_OBJECT_LOCK(self);
  location = g_strdup(self->model_location);
  GST_OBJECT_UNLOCK(self);
  path = gst_instr_identify_model_path(location);
  g_free(location);
  if (path == NULL) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("No instrument model: model-location is not set and no default model "
                       "was found"),
                      ("looked next to the plugin, in %s and in %s",
                       INSTRID_DEFAULT_MODEL_INSTALLED, INSTRID_DEFAULT_MODEL_SOURCE));
    return FALSE;
  }
  model = instrid_model_load(path, &err);
  if (model == NULL) {
    /* libinstrid's messages name the file already; say it once. */
    if (strstr(err.message, path) != NULL)
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                        ("Could not load instrument model: %s", err.message),
                        ("instrid_model_load: %s", instrid_status_name(err.code)));
    else
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                        ("Could not load instrument model \"%s\": %s", path, err.message),
                        ("instrid_model_load: %s", instrid_status_name(err.code)));
    g_free(path);
    return FALSE;
  }
  stream = instrid_stream_new(model, &err);
  if (stream != NULL)
    summary = instrid_summary_new(instrid_model_n_classes(model), &err);
  if (summary == NULL) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("Could not set up instrument model \"%s\": %s", path, err.message), (NULL));
    instrid_stream_free(stream);
    instrid_model_free(model);
    g_free(path);
    return FALSE;
  }
  GST_INFO_OBJECT(self, "loaded model %s", path);
  g_free(path);

  GST_OBJECT_LOCK(self);
  self->model = model;
  self->interval_changed = TRUE;
  GST_OBJECT_UNLOCK(self);

  self->stream = stream;
  self->summary = summary;
  n = self->n_classes = instrid_model_n_classes(model);
  self->sample_rate = instrid_model_sample_rate(model);
  self->probabilities = g_new0(gdouble, n);
  self->thresholds = g_new0(gdouble, n);
  self->detected = g_new0(int, n);
  self->last_detected = g_new0(int, n);
  self->order = g_new0(guint32, n);
  self->summary_start = GST_CLOCK_TIME_NONE;
  self->summary_samples = 0;
  gst_segment_init(&self->summary_segment, GST_FORMAT_TIME);
  gst_segment_init(&self->work_segment, GST_FORMAT_TIME);
  self->base_ts = GST_CLOCK_TIME_NONE;
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  self->need_reset = self->need_full_reset = TRUE;
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
  instrid_stream_free(self->stream);
  self->stream = NULL;
  instrid_summary_free(self->summary);
  self->summary = NULL;
  g_clear_pointer(&self->probabilities, g_free);
  g_clear_pointer(&self->thresholds, g_free);
  g_clear_pointer(&self->detected, g_free);
  g_clear_pointer(&self->last_detected, g_free);
  g_clear_pointer(&self->order, g_free);
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
    self->need_reset = self->need_full_reset = TRUE;
    self->next_ts = GST_CLOCK_TIME_NONE;
    break;
  case GST_EVENT_STREAM_START:
    self->need_reset = self->need_full_reset = TRUE;
    break;
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &self->segment);
    self->need_reset = TRUE;
    self->next_ts = GST_CLOCK_TIME_NONE;
    break;
  case GST_EVENT_GAP: {
    GstClockTime ts, duration;
    gst_event_parse_gap(event, &ts, &duration);
    if (self->audiopath != NULL && GST_CLOCK_TIME_IS_VALID(duration)) {
      gsize frames = gst_util_uint64_scale_int(
          duration, GST_AUDIO_INFO_RATE(GST_AUDIO_FILTER_INFO(self)), GST_SECOND);
      gst_instr_identify_analyse(self, ts, NULL, frames);
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
      self->stream != NULL) {
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
  instrid_model *owned = NULL;
  gchar **labels = NULL;
  gchar *location = NULL, *path;
  guint i, n;

  GST_OBJECT_LOCK(self);
  if (self->model != NULL) {
    n = instrid_model_n_classes(self->model);
    labels = g_new0(gchar *, n + 1);
    for (i = 0; i < n; i++)
      labels[i] = g_strdup(instrid_model_class_name(self->model, i));
  } else {
    location = g_strdup(self->model_location);
  }
  GST_OBJECT_UNLOCK(self);
  if (labels != NULL)
    return labels;

  path = gst_instr_identify_model_path(location);
  if (path != NULL)
    owned = instrid_model_load(path, NULL);
  n = owned != NULL ? instrid_model_n_classes(owned) : 0;
  labels = g_new0(gchar *, n + 1);
  for (i = 0; i < n; i++)
    labels[i] = g_strdup(instrid_model_class_name(owned, i));
  instrid_model_free(owned);
  g_free(path);
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
    self->interval_changed = TRUE;
    break;
  case PROP_THRESHOLD:
    self->threshold = g_value_get_double(value);
    break;
  case PROP_POST_MESSAGES:
    self->post_messages = g_value_get_boolean(value);
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
  case PROP_POST_MESSAGES:
    g_value_set_boolean(value, self->post_messages);
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
                          "every class (-1, or any negative value, = the model's per-class "
                          "thresholds)",
                          -1.0, 1.0, DEFAULT_THRESHOLD,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
                              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean("post-messages", "Post messages",
                           "Post an 'instridentify' element message per window and an "
                           "'instridentify-summary' message at EOS",
                           DEFAULT_POST_MESSAGES,
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
  trans_class->transform_ip_on_passthrough = TRUE;
  filter_class->setup = GST_DEBUG_FUNCPTR(gst_instr_identify_setup);
}

static void gst_instr_identify_init(GstInstrIdentify *self)
{
  self->interval_ns = DEFAULT_INTERVAL_NS;
  self->threshold = DEFAULT_THRESHOLD;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->tags = DEFAULT_TAGS;
  gst_instrid_queue_init(&self->queue);
  gst_instrid_tags_init(&self->tags_state);
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_gap_aware(GST_BASE_TRANSFORM(self), TRUE);
}
