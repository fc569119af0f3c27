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

#include <math.h>
#include <string.h>

#include <gst/tag/tag.h>

#include "gstinstridentify.h"

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

/* The streaming thread converts at most this many input frames at a time, so its scratch is
 * allocated once per caps whatever the buffer size. */
#define CONVERT_CHUNK_FRAMES 4096
/* The worker takes at most this many samples from the queue at a time. */
#define WORKER_CHUNK_SAMPLES 4096
#define SUMMARY_BINS 256
#define SUMMARY_TOP_FRACTION 0.10

#define INSTR_IDENTIFY_CAPS                                                                        \
  "audio/x-raw, format = (string) " GST_AUDIO_FORMATS_ALL ", rate = (int) [ 8000, 192000 ], "      \
  "channels = (int) [ 1, 8 ], layout = (string) { interleaved, non-interleaved }"

typedef enum { MARKER_RESET, MARKER_EOS } MarkerKind;

/* A control point in the sample queue: applies when the worker has read up to position. */
typedef struct {
  MarkerKind kind;
  guint64 position;     /* ring_write when it was queued */
  gboolean full;        /* RESET: also restart the summary */
  GstClockTime base_ts; /* RESET: timestamp of the first sample after it */
  GstSegment segment;   /* RESET: the segment those samples belong to */
} Marker;

/* The whole-stream aggregate behind the summary message. */
typedef struct {
  guint64 n_windows;
  guint32 *counts;          /* (n_classes, SUMMARY_BINS) windows per probability bin */
  gdouble *sums;            /* (n_classes, SUMMARY_BINS) sum of their probabilities */
  GstClockTime start_ts;    /* first analysed sample since the last full reset; NONE before */
  guint64 analysed_samples; /* at the model's rate */
  GstSegment segment;       /* of the first window, for the stream and running times */
} Summary;

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
  GstAudioConverter *converter;
  gfloat *converted; /* (converted_max) mono samples at the model's rate */
  gsize converted_max;
  guint8 *silence; /* CONVERT_CHUNK_FRAMES frames of silence in the input format */
  gboolean need_reset, need_full_reset;
  GstClockTime next_ts; /* where the next buffer should start, for buffers without one */
  GstSegment segment;
  GstTagList *upstream_tags; /* latest stream-scope tags from upstream, or NULL */
  GstTagList *own_tags;      /* latest tags of ours pushed downstream, or NULL */

  /* The queue between the streaming thread and the worker, under queue_lock. */
  GMutex queue_lock;
  GCond queue_cond;
  gfloat *ring; /* (ring_size) mono samples at the model's rate */
  gsize ring_size;
  guint64 ring_read, ring_write; /* samples read and written since the queue was cleared */
  GQueue markers;
  gboolean flushing, quit, eos_done;
  gint generation;          /* bumped by every flush; read atomically by the worker */
  GstTagList *pending_tags; /* made by the worker, pushed by the streaming thread */
  GThread *worker;

  /* Worker only (and the streaming thread once the worker has acknowledged EOS). */
  instrid_stream *stream;
  guint n_classes;
  guint32 sample_rate;
  gfloat *work;            /* (WORKER_CHUNK_SAMPLES) */
  gdouble *probabilities;  /* (n_classes) */
  gboolean *detected;      /* (n_classes) scratch */
  gboolean *last_detected; /* (n_classes) the set the last tags were made for */
  guint *order;            /* (n_classes) scratch: class indices, most probable first */
  GstSegment work_segment;
  GstClockTime base_ts;
  guint64 windows_since_reset;
  Summary summary;
};

#define gst_instr_identify_parent_class parent_class
G_DEFINE_TYPE(GstInstrIdentify, gst_instr_identify, GST_TYPE_AUDIO_FILTER);

static const gchar *plugin_filename; /* set once at plugin init, read-only afterwards */

void gst_instr_identify_set_plugin_filename(const gchar *filename)
{
  if (plugin_filename == NULL && filename != NULL)
    plugin_filename = g_strdup(filename);
}

void gst_instr_identify_register_tags(void)
{
  gst_tag_register(GST_INSTR_IDENTIFY_TAG_INSTRUMENTS, GST_TAG_FLAG_META, G_TYPE_STRING,
                   "instruments", "instruments identified in the audio, most probable first",
                   gst_tag_merge_strings_with_comma);
  gst_tag_register(GST_INSTR_IDENTIFY_TAG_PROBABILITIES, GST_TAG_FLAG_META, G_TYPE_STRING,
                   "instrument probabilities",
                   "identified instruments with their probabilities, e.g. violin=0.93,piano=0.81",
                   gst_tag_merge_use_first);
}

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                        */

/* The model used when model-location is not set: next to the plugin (the copy meson places in
 * the build tree), then the installed one, then the source tree's. NULL when none exists. */
static gchar *gst_instr_identify_default_model(void)
{
  gchar *candidates[3] = {NULL, NULL, NULL};
  gchar *found = NULL;
  guint i;

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

/* The path the element will load: model-location, or the default. Call with the object lock. */
static gchar *gst_instr_identify_model_path_locked(GstInstrIdentify *self)
{
  if (self->model_location != NULL && self->model_location[0] != '\0')
    return g_strdup(self->model_location);
  return gst_instr_identify_default_model();
}

/* ------------------------------------------------------------------------------------------ */
/* Results: messages and tags                                                                   */

static gdouble gst_instr_identify_threshold_of(const instrid_model *model, gdouble override,
                                               guint i)
{
  return override >= 0.0 ? override : (gdouble)instrid_model_threshold(model, i);
}

/* Fills detected and order (all classes, most probable first; ties keep model order) and
 * returns the number of detected classes, which come first in order. */
static guint gst_instr_identify_decide(const instrid_model *model, guint n_classes,
                                       const gdouble *probabilities, gdouble threshold,
                                       gboolean *detected, guint *order)
{
  guint i, n_detected = 0;

  for (i = 0; i < n_classes; i++) {
    detected[i] = probabilities[i] >= gst_instr_identify_threshold_of(model, threshold, i);
    n_detected += detected[i] ? 1 : 0;
  }
  /* Insertion sort: n_classes is small and this must not allocate. */
  for (i = 0; i < n_classes; i++) {
    guint j = i, cls = i;
    while (j > 0 && probabilities[order[j - 1]] < probabilities[cls]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = cls;
  }
  /* The detected classes are the most probable ones only with a common threshold; with
   * per-class thresholds, move the detected ones to the front, keeping their order. */
  {
    guint w = 0;
    for (i = 0; i < n_classes; i++) {
      if (detected[order[i]]) {
        guint cls = order[i], k;
        for (k = i; k > w; k--)
          order[k] = order[k - 1];
        order[w++] = cls;
      }
    }
  }
  return n_detected;
}

static GstMessage *gst_instr_identify_make_message(GstInstrIdentify *self, const gchar *name,
                                                   GstClockTime timestamp, GstClockTime duration,
                                                   const GstSegment *segment,
                                                   const instrid_model *model, guint n_classes,
                                                   const gdouble *probabilities, const guint *order,
                                                   guint n_detected)
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
  for (i = 0; i < n_classes; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(model, i));
    gst_value_array_append_and_take_value(&labels, &v);
    g_value_init(&v, G_TYPE_DOUBLE);
    g_value_set_double(&v, probabilities[i]);
    gst_value_array_append_and_take_value(&probs, &v);
  }
  for (i = 0; i < n_detected; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(model, order[i]));
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

/* Our tags for a set of detected classes (the first n_detected of order). */
static GstTagList *gst_instr_identify_make_tags(const instrid_model *model,
                                                const gdouble *probabilities, const guint *order,
                                                guint n_detected)
{
  GstTagList *tags = gst_tag_list_new_empty();
  GString *names = g_string_new(NULL), *with_eq = g_string_new(NULL);
  GString *with_colon = g_string_new(NULL);
  gchar *comment;
  guint i;

  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
  for (i = 0; i < n_detected; i++) {
    const gchar *name = instrid_model_class_name(model, order[i]);
    gchar p[G_ASCII_DTOSTR_BUF_SIZE];

    /* Locale-independent, two decimals. */
    g_ascii_formatd(p, sizeof p, "%.2f", probabilities[order[i]]);
    gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_INSTR_IDENTIFY_TAG_INSTRUMENTS, name, NULL);
    g_string_append_printf(names, "%s%s", i ? "," : "", name);
    g_string_append_printf(with_eq, "%s%s=%s", i ? "," : "", name, p);
    g_string_append_printf(with_colon, "%s%s:%s", i ? "," : "", name, p);
  }
  if (n_detected > 0)
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_INSTR_IDENTIFY_TAG_PROBABILITIES,
                     with_eq->str, NULL);
  comment = g_strdup_printf(GST_INSTR_IDENTIFY_COMMENT_INSTRUMENTS "=%s", names->str);
  gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, comment, NULL);
  g_free(comment);
  comment = g_strdup_printf(GST_INSTR_IDENTIFY_COMMENT_PROBABILITIES "=%s", with_colon->str);
  gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, comment, NULL);
  g_free(comment);
  g_string_free(names, TRUE);
  g_string_free(with_eq, TRUE);
  g_string_free(with_colon, TRUE);
  return tags;
}

static gboolean gst_instr_identify_is_own_comment(const gchar *comment)
{
  return g_str_has_prefix(comment, GST_INSTR_IDENTIFY_COMMENT_INSTRUMENTS "=") ||
         g_str_has_prefix(comment, GST_INSTR_IDENTIFY_COMMENT_PROBABILITIES "=");
}

/* upstream (may be NULL) with our tags in place of any earlier ones of ours. */
static GstTagList *gst_instr_identify_merge_tags(const GstTagList *upstream, const GstTagList *own)
{
  GstTagList *merged;
  guint i, n;

  if (upstream == NULL)
    return gst_tag_list_copy(own);
  merged = gst_tag_list_copy(upstream);
  gst_tag_list_set_scope(merged, GST_TAG_SCOPE_STREAM);
  gst_tag_list_remove_tag(merged, GST_INSTR_IDENTIFY_TAG_INSTRUMENTS);
  gst_tag_list_remove_tag(merged, GST_INSTR_IDENTIFY_TAG_PROBABILITIES);
  /* Keep upstream's other comments, drop only the keys we write. */
  gst_tag_list_remove_tag(merged, GST_TAG_EXTENDED_COMMENT);
  n = gst_tag_list_get_tag_size(upstream, GST_TAG_EXTENDED_COMMENT);
  for (i = 0; i < n; i++) {
    const gchar *c = NULL;
    if (gst_tag_list_peek_string_index(upstream, GST_TAG_EXTENDED_COMMENT, i, &c) &&
        !gst_instr_identify_is_own_comment(c))
      gst_tag_list_add(merged, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, c, NULL);
  }
  gst_tag_list_insert(merged, own, GST_TAG_MERGE_APPEND);
  return merged;
}

/* Streaming thread: pushes our tags merged with upstream's. Takes ownership of own. */
static void gst_instr_identify_push_tags(GstInstrIdentify *self, GstTagList *own)
{
  GstTagList *merged = gst_instr_identify_merge_tags(self->upstream_tags, own);

  if (self->own_tags != NULL)
    gst_tag_list_unref(self->own_tags);
  self->own_tags = own;
  GST_DEBUG_OBJECT(self, "pushing tags %" GST_PTR_FORMAT, merged);
  gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(self), gst_event_new_tag(merged));
}

/* Streaming thread: pushes the tags the worker made since the last buffer, if any. */
static void gst_instr_identify_push_pending_tags(GstInstrIdentify *self)
{
  GstTagList *pending;

  g_mutex_lock(&self->queue_lock);
  pending = self->pending_tags;
  self->pending_tags = NULL;
  g_mutex_unlock(&self->queue_lock);
  if (pending != NULL)
    gst_instr_identify_push_tags(self, pending);
}

/* ------------------------------------------------------------------------------------------ */
/* Summary                                                                                      */

static void gst_instr_identify_summary_reset(GstInstrIdentify *self)
{
  Summary *s = &self->summary;
  s->n_windows = 0;
  memset(s->counts, 0, sizeof(guint32) * self->n_classes * SUMMARY_BINS);
  memset(s->sums, 0, sizeof(gdouble) * self->n_classes * SUMMARY_BINS);
  s->start_ts = GST_CLOCK_TIME_NONE;
  s->analysed_samples = 0;
  gst_segment_init(&s->segment, GST_FORMAT_TIME);
}

static void gst_instr_identify_summary_add(GstInstrIdentify *self, const gdouble *probabilities)
{
  Summary *s = &self->summary;
  guint i;

  for (i = 0; i < self->n_classes; i++) {
    guint bin = (guint)(probabilities[i] * SUMMARY_BINS);
    if (bin >= SUMMARY_BINS)
      bin = SUMMARY_BINS - 1;
    s->counts[i * SUMMARY_BINS + bin]++;
    s->sums[i * SUMMARY_BINS + bin] += probabilities[i];
  }
  s->n_windows++;
}

/* Per class: the mean of the top SUMMARY_TOP_FRACTION of window probabilities. Whole bins are
 * exact; the one bin taken in part contributes its own mean. */
static void gst_instr_identify_summary_probabilities(const GstInstrIdentify *self,
                                                     gdouble *probabilities)
{
  const Summary *s = &self->summary;
  guint64 top = (guint64)ceil(SUMMARY_TOP_FRACTION * (gdouble)s->n_windows);
  guint i;

  if (top == 0)
    top = 1;
  for (i = 0; i < self->n_classes; i++) {
    guint64 taken = 0;
    gdouble sum = 0.0;
    gint bin;

    for (bin = SUMMARY_BINS - 1; bin >= 0 && taken < top; bin--) {
      guint32 count = s->counts[i * SUMMARY_BINS + bin];
      gdouble bin_sum = s->sums[i * SUMMARY_BINS + bin];
      if (count == 0)
        continue;
      if (taken + count <= top) {
        taken += count;
        sum += bin_sum;
      } else {
        sum += bin_sum / count * (gdouble)(top - taken);
        taken = top;
      }
    }
    probabilities[i] = s->n_windows > 0 ? CLAMP(sum / (gdouble)top, 0.0, 1.0) : 0.0;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Worker                                                                                       */

static GstClockTime gst_instr_identify_samples_to_time(GstInstrIdentify *self, guint64 samples)
{
  return gst_util_uint64_scale_int(samples, GST_SECOND, self->sample_rate);
}

/* Applies a new interval, when the property changed, before the next window. */
static void gst_instr_identify_apply_interval(GstInstrIdentify *self)
{
  guint64 interval_ns;
  gboolean changed;

  GST_OBJECT_LOCK(self);
  changed = self->interval_changed;
  self->interval_changed = FALSE;
  interval_ns = self->interval_ns;
  GST_OBJECT_UNLOCK(self);
  if (!changed)
    return;

  {
    guint32 hop_frames = 0; /* the model's own */
    instrid_error err;
    if (interval_ns > 0) {
      guint64 frame_ns = gst_util_uint64_scale_int(instrid_model_hop_samples(self->model),
                                                   GST_SECOND, self->sample_rate);
      /* Rounded to the nearest hop without interval_ns + frame_ns / 2, which wraps for
       * intervals near G_MAXUINT64 and would turn "as rarely as possible" into every frame. */
      guint64 frames =
          frame_ns > 0
              ? interval_ns / frame_ns + (interval_ns % frame_ns >= frame_ns - frame_ns / 2 ? 1 : 0)
              : 1;
      hop_frames = (guint32)CLAMP(frames, 1, 65536);
    }
    if (instrid_stream_set_hop_frames(self->stream, hop_frames, &err) != INSTRID_OK)
      GST_WARNING_OBJECT(self, "interval %" G_GUINT64_FORMAT " ns: %s", interval_ns, err.message);
    else
      GST_DEBUG_OBJECT(self, "interval %" G_GUINT64_FORMAT " ns -> %u frames", interval_ns,
                       instrid_stream_get_hop_frames(self->stream));
  }
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
  gst_instr_identify_summary_add(self, self->probabilities);

  end_sample = instrid_stream_samples(self->stream);
  covered = end_sample > r->start_sample ? end_sample - r->start_sample : 0;
  duration = gst_instr_identify_samples_to_time(self, MIN(covered, r->length_samples));
  if (GST_CLOCK_TIME_IS_VALID(self->base_ts))
    ts = self->base_ts + gst_instr_identify_samples_to_time(self, r->start_sample);

  n_detected = gst_instr_identify_decide(self->model, n, self->probabilities, threshold,
                                         self->detected, self->order);
  for (i = 0; i < n; i++) {
    changed |= self->detected[i] != self->last_detected[i];
    self->last_detected[i] = self->detected[i];
  }

  /* A window computed from audio that a flush has since thrown away is not reported. */
  if (g_atomic_int_get(&self->generation) != generation)
    return;
  if (post) {
    GstMessage *m = gst_instr_identify_make_message(self, "instridentify", ts, duration,
                                                    &self->work_segment, self->model, n,
                                                    self->probabilities, self->order, n_detected);
    gst_element_post_message(GST_ELEMENT(self), m);
  }
  if (tags && changed) {
    GstTagList *t =
        gst_instr_identify_make_tags(self->model, self->probabilities, self->order, n_detected);
    g_mutex_lock(&self->queue_lock);
    if (self->pending_tags != NULL)
      gst_tag_list_unref(self->pending_tags);
    self->pending_tags = t;
    g_mutex_unlock(&self->queue_lock);
  }
}

static void gst_instr_identify_worker_analyse(GstInstrIdentify *self, const gfloat *x, gsize n,
                                              gint generation)
{
  gst_instr_identify_apply_interval(self);
  while (n > 0) {
    instrid_result r;
    int have_result = 0;
    gsize k = instrid_stream_push(self->stream, x, n, &r, &have_result);
    x += k;
    n -= k;
    self->summary.analysed_samples += k;
    if (have_result) {
      self->windows_since_reset++;
      gst_instr_identify_worker_result(self, &r, generation);
    } else if (k == 0)
      break;
  }
}

static void gst_instr_identify_worker_reset(GstInstrIdentify *self, const Marker *m)
{
  instrid_stream_reset(self->stream);
  self->windows_since_reset = 0;
  self->base_ts = m->base_ts;
  self->work_segment = m->segment;
  if (m->full) {
    gst_instr_identify_summary_reset(self);
    memset(self->last_detected, 0, sizeof(gboolean) * self->n_classes);
  }
  if (!GST_CLOCK_TIME_IS_VALID(self->summary.start_ts)) {
    self->summary.start_ts = m->base_ts;
    self->summary.segment = m->segment;
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

static gpointer gst_instr_identify_worker_main(gpointer data)
{
  GstInstrIdentify *self = data;

  g_mutex_lock(&self->queue_lock);
  while (!self->quit) {
    Marker *m;
    guint64 limit;
    gsize n, start, first;
    gint generation;

    if (self->flushing) {
      g_cond_wait(&self->queue_cond, &self->queue_lock);
      continue;
    }
    m = g_queue_peek_head(&self->markers);
    if (m != NULL && m->position == self->ring_read) {
      g_queue_pop_head(&self->markers);
      generation = g_atomic_int_get(&self->generation);
      g_mutex_unlock(&self->queue_lock);
      if (m->kind == MARKER_RESET)
        gst_instr_identify_worker_reset(self, m);
      else
        gst_instr_identify_worker_finish(self, generation);
      g_mutex_lock(&self->queue_lock);
      if (m->kind == MARKER_EOS && generation == g_atomic_int_get(&self->generation)) {
        self->eos_done = TRUE;
        g_cond_broadcast(&self->queue_cond);
      }
      g_free(m);
      continue;
    }
    limit = m != NULL ? m->position : self->ring_write;
    n = (gsize)MIN(limit - self->ring_read, (guint64)WORKER_CHUNK_SAMPLES);
    if (n == 0) {
      g_cond_wait(&self->queue_cond, &self->queue_lock);
      continue;
    }
    /* Copy out under the lock: after a flush the streaming thread reuses the ring at once. */
    start = (gsize)(self->ring_read % self->ring_size);
    first = MIN(n, self->ring_size - start);
    memcpy(self->work, self->ring + start, first * sizeof(gfloat));
    memcpy(self->work + first, self->ring, (n - first) * sizeof(gfloat));
    generation = g_atomic_int_get(&self->generation);
    g_mutex_unlock(&self->queue_lock);

    gst_instr_identify_worker_analyse(self, self->work, n, generation);

    g_mutex_lock(&self->queue_lock);
    if (generation == g_atomic_int_get(&self->generation)) {
      self->ring_read += n;
      g_cond_broadcast(&self->queue_cond);
    }
  }
  g_mutex_unlock(&self->queue_lock);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming thread: the queue                                                                  */

static void gst_instr_identify_clear_queue_locked(GstInstrIdentify *self)
{
  Marker *m;
  while ((m = g_queue_pop_head(&self->markers)) != NULL)
    g_free(m);
  self->ring_read = self->ring_write = 0;
  self->eos_done = FALSE;
  if (self->pending_tags != NULL) {
    gst_tag_list_unref(self->pending_tags);
    self->pending_tags = NULL;
  }
}

static void gst_instr_identify_queue_marker(GstInstrIdentify *self, Marker *m)
{
  g_mutex_lock(&self->queue_lock);
  m->position = self->ring_write;
  g_queue_push_tail(&self->markers, m);
  g_cond_broadcast(&self->queue_cond);
  g_mutex_unlock(&self->queue_lock);
}

/* Queues samples for the worker, waiting for room when it is a full ring behind (so the
 * streaming thread waits at most about one window's computation). FALSE when flushing. */
static gboolean gst_instr_identify_queue_samples(GstInstrIdentify *self, const gfloat *x, gsize n)
{
  g_mutex_lock(&self->queue_lock);
  while (n > 0) {
    gsize used, start, k, first;

    while (!self->flushing && self->ring_write - self->ring_read >= self->ring_size)
      g_cond_wait(&self->queue_cond, &self->queue_lock);
    if (self->flushing) {
      g_mutex_unlock(&self->queue_lock);
      return FALSE;
    }
    used = (gsize)(self->ring_write - self->ring_read);
    k = MIN(n, self->ring_size - used);
    start = (gsize)(self->ring_write % self->ring_size);
    first = MIN(k, self->ring_size - start);
    memcpy(self->ring + start, x, first * sizeof(gfloat));
    memcpy(self->ring, x + first, (k - first) * sizeof(gfloat));
    self->ring_write += k;
    x += k;
    n -= k;
    g_cond_broadcast(&self->queue_cond);
  }
  g_mutex_unlock(&self->queue_lock);
  return TRUE;
}

/* Starts a new window sequence at timestamp ts when an event or flag asked for one. */
static void gst_instr_identify_maybe_reset(GstInstrIdentify *self, GstClockTime ts)
{
  Marker *m;

  if (!self->need_reset)
    return;
  if (!GST_CLOCK_TIME_IS_VALID(ts))
    ts = GST_CLOCK_TIME_IS_VALID(self->next_ts) ? self->next_ts : 0;
  m = g_new0(Marker, 1);
  m->kind = MARKER_RESET;
  m->full = self->need_full_reset;
  m->base_ts = ts;
  m->segment = self->segment;
  if (self->converter != NULL)
    gst_audio_converter_reset(self->converter);
  gst_instr_identify_queue_marker(self, m);
  self->need_reset = self->need_full_reset = FALSE;
}

/* Converts frames of input (planes as GstAudioBuffer lays them out; NULL = silence) and
 * queues the result. FALSE when flushing. */
static gboolean gst_instr_identify_convert(GstInstrIdentify *self, gpointer *planes, gsize frames)
{
  const GstAudioInfo *info = GST_AUDIO_FILTER_INFO(self);
  const gint channels = GST_AUDIO_INFO_CHANNELS(info);
  const gboolean interleaved = GST_AUDIO_INFO_LAYOUT(info) == GST_AUDIO_LAYOUT_INTERLEAVED;
  gsize offset = 0;

  while (offset < frames) {
    gsize chunk = MIN(frames - offset, (gsize)CONVERT_CHUNK_FRAMES);
    gpointer in[8];
    gpointer out[1];
    gsize out_frames, i;
    gint c;

    for (c = 0; c < (interleaved ? 1 : channels); c++) {
      if (planes == NULL)
        in[c] = self->silence + (gsize)c * CONVERT_CHUNK_FRAMES * GST_AUDIO_INFO_WIDTH(info) / 8;
      else if (interleaved)
        in[c] = (guint8 *)planes[0] + offset * GST_AUDIO_INFO_BPF(info);
      else
        in[c] = (guint8 *)planes[c] + offset * (GST_AUDIO_INFO_WIDTH(info) / 8);
    }
    out_frames = gst_audio_converter_get_out_frames(self->converter, chunk);
    if (out_frames > self->converted_max) {
      self->converted = g_renew(gfloat, self->converted, out_frames);
      self->converted_max = out_frames;
    }
    out[0] = self->converted;
    if (!gst_audio_converter_samples(self->converter, GST_AUDIO_CONVERTER_FLAG_NONE, in, chunk, out,
                                     out_frames)) {
      GST_WARNING_OBJECT(self, "conversion of %" G_GSIZE_FORMAT " frames failed", chunk);
      return TRUE;
    }
    for (i = 0; i < out_frames; i++) {
      gfloat v = self->converted[i];
      if (!isfinite(v))
        self->converted[i] = isnan(v) ? 0.0f : (v > 0.0f ? 1.0f : -1.0f);
    }
    if (!gst_instr_identify_queue_samples(self, self->converted, out_frames))
      return FALSE;
    offset += chunk;
  }
  return TRUE;
}

/* Feeds frames of silence at timestamp ts (GAP buffers and events). */
static gboolean gst_instr_identify_silence(GstInstrIdentify *self, GstClockTime ts, gsize frames)
{
  gst_instr_identify_maybe_reset(self, ts);
  return gst_instr_identify_convert(self, NULL, frames);
}

/* ------------------------------------------------------------------------------------------ */
/* GstBaseTransform / GstAudioFilter                                                            */

static GstFlowReturn gst_instr_identify_transform_ip(GstBaseTransform *trans, GstBuffer *buf)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  const GstAudioInfo *info = GST_AUDIO_FILTER_INFO(self);
  GstClockTime ts = GST_BUFFER_PTS(buf);
  gsize frames;
  gboolean ok;

  if (self->converter == NULL)
    return GST_FLOW_NOT_NEGOTIATED;
  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT))
    self->need_reset = TRUE;
  frames = gst_buffer_get_size(buf) / GST_AUDIO_INFO_BPF(info);

  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_GAP)) {
    ok = gst_instr_identify_silence(self, ts, frames);
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
    gst_instr_identify_maybe_reset(self, ts);
    frames = abuf.n_samples;
    ok = gst_instr_identify_convert(self, abuf.planes, frames);
    gst_audio_buffer_unmap(&abuf);
  }
  if (!ok)
    return GST_FLOW_FLUSHING;
  if (GST_CLOCK_TIME_IS_VALID(ts))
    self->next_ts = ts + gst_util_uint64_scale_int(frames, GST_SECOND, GST_AUDIO_INFO_RATE(info));
  else if (GST_CLOCK_TIME_IS_VALID(self->next_ts))
    self->next_ts += gst_util_uint64_scale_int(frames, GST_SECOND, GST_AUDIO_INFO_RATE(info));

  gst_instr_identify_push_pending_tags(self);
  return GST_FLOW_OK;
}

static gboolean gst_instr_identify_setup(GstAudioFilter *filter, const GstAudioInfo *info)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(filter);
  GstAudioInfo out_info;
  GstStructure *config;
  gint channels = GST_AUDIO_INFO_CHANNELS(info);

  if (self->stream == NULL) {
    GST_ERROR_OBJECT(self, "caps before the element was started");
    return FALSE;
  }
  gst_audio_info_init(&out_info);
  gst_audio_info_set_format(&out_info, GST_AUDIO_FORMAT_F32, (gint)self->sample_rate, 1, NULL);

  config = gst_structure_new_empty("GstAudioConverterConfig");
  if (channels > 1) {
    /* The mean of all channels, whatever their positions: unambiguous for unpositioned and
     * surround layouts alike, and what (L + R) / 2 is for stereo. */
    GValue matrix = G_VALUE_INIT, row = G_VALUE_INIT;
    gint c;
    g_value_init(&matrix, GST_TYPE_ARRAY);
    g_value_init(&row, GST_TYPE_ARRAY);
    for (c = 0; c < channels; c++) {
      GValue v = G_VALUE_INIT;
      g_value_init(&v, G_TYPE_FLOAT);
      g_value_set_float(&v, 1.0f / (gfloat)channels);
      gst_value_array_append_and_take_value(&row, &v);
    }
    gst_value_array_append_and_take_value(&matrix, &row);
    gst_structure_take_value(config, GST_AUDIO_CONVERTER_OPT_MIX_MATRIX, &matrix);
  }

  if (self->converter != NULL)
    gst_audio_converter_free(self->converter);
  self->converter = gst_audio_converter_new(GST_AUDIO_CONVERTER_FLAG_NONE, (GstAudioInfo *)info,
                                            &out_info, config);
  if (self->converter == NULL) {
    GST_ERROR_OBJECT(self, "no converter from %d Hz %d channels %s to the model's %u Hz mono",
                     GST_AUDIO_INFO_RATE(info), channels, GST_AUDIO_INFO_NAME(info),
                     self->sample_rate);
    return FALSE;
  }

  g_free(self->silence);
  self->silence = g_malloc((gsize)CONVERT_CHUNK_FRAMES * GST_AUDIO_INFO_BPF(info));
  gst_audio_format_info_fill_silence(info->finfo, self->silence,
                                     (gsize)CONVERT_CHUNK_FRAMES * GST_AUDIO_INFO_BPF(info));
  g_free(self->converted);
  self->converted_max =
      gst_util_uint64_scale_int_ceil(CONVERT_CHUNK_FRAMES, (gint)self->sample_rate,
                                     GST_AUDIO_INFO_RATE(info)) +
      64;
  self->converted = g_try_new(gfloat, self->converted_max);
  if (self->converted == NULL) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, FAILED,
        ("Out of memory for %" G_GSIZE_FORMAT " converted samples", self->converted_max), (NULL));
    self->converted_max = 0;
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
  const instrid_frontend_params *fe;
  gchar *path;
  guint n;
  guint64 window_samples;

  GST_OBJECT_LOCK(self);
  path = gst_instr_identify_model_path_locked(self);
  GST_OBJECT_UNLOCK(self);
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
  if (stream == NULL) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED,
                      ("Could not set up instrument model \"%s\": %s", path, err.message), (NULL));
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
  n = self->n_classes = instrid_model_n_classes(model);
  self->sample_rate = instrid_model_sample_rate(model);
  /* Sizes that come from the model file are allocated with g_try_*: libinstrid keeps them
   * within INSTRID_MAX_STREAM_BYTES, and an allocation that still fails is an error message,
   * not an abort. */
  self->work = g_try_new(gfloat, WORKER_CHUNK_SAMPLES);
  self->probabilities = g_try_new0(gdouble, n);
  self->detected = g_try_new0(gboolean, n);
  self->last_detected = g_try_new0(gboolean, n);
  self->order = g_try_new0(guint, n);
  self->summary.counts = g_try_new0(guint32, (gsize)n * SUMMARY_BINS);
  self->summary.sums = g_try_new0(gdouble, (gsize)n * SUMMARY_BINS);

  /* Room for two windows: the worker can fall one window behind before the streaming thread
   * has to wait for it. */
  fe = &instrid_model_get_desc(model)->frontend;
  window_samples = (guint64)(instrid_model_window_frames(model) - 1) * fe->hop_samples + fe->n_fft;
  self->ring_size = (gsize)MAX(2 * window_samples, (guint64)2 * WORKER_CHUNK_SAMPLES);
  self->ring = g_try_new(gfloat, self->ring_size);
  if (self->work == NULL || self->probabilities == NULL || self->detected == NULL ||
      self->last_detected == NULL || self->order == NULL || self->summary.counts == NULL ||
      self->summary.sums == NULL || self->ring == NULL) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, FAILED,
        ("Out of memory for the instrument model's buffers (a queue of %" G_GSIZE_FORMAT
         " samples, %u classes)",
         self->ring_size, n),
        (NULL));
    gst_instr_identify_stop(trans);
    return FALSE;
  }
  gst_instr_identify_summary_reset(self);
  gst_segment_init(&self->work_segment, GST_FORMAT_TIME);
  self->base_ts = GST_CLOCK_TIME_NONE;

  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  self->need_reset = self->need_full_reset = TRUE;
  self->next_ts = GST_CLOCK_TIME_NONE;

  g_mutex_lock(&self->queue_lock);
  gst_instr_identify_clear_queue_locked(self);
  self->flushing = FALSE;
  self->quit = FALSE;
  g_mutex_unlock(&self->queue_lock);
  self->worker = g_thread_new("instridentify", gst_instr_identify_worker_main, self);
  return TRUE;
}

static gboolean gst_instr_identify_stop(GstBaseTransform *trans)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);
  instrid_model *model;

  if (self->worker != NULL) {
    g_mutex_lock(&self->queue_lock);
    self->quit = TRUE;
    g_cond_broadcast(&self->queue_cond);
    g_mutex_unlock(&self->queue_lock);
    g_thread_join(self->worker);
    self->worker = NULL;
  }
  g_mutex_lock(&self->queue_lock);
  gst_instr_identify_clear_queue_locked(self);
  g_mutex_unlock(&self->queue_lock);

  if (self->converter != NULL) {
    gst_audio_converter_free(self->converter);
    self->converter = NULL;
  }
  instrid_stream_free(self->stream);
  self->stream = NULL;
  g_clear_pointer(&self->ring, g_free);
  g_clear_pointer(&self->converted, g_free);
  g_clear_pointer(&self->silence, g_free);
  g_clear_pointer(&self->work, g_free);
  g_clear_pointer(&self->probabilities, g_free);
  g_clear_pointer(&self->detected, g_free);
  g_clear_pointer(&self->last_detected, g_free);
  g_clear_pointer(&self->order, g_free);
  g_clear_pointer(&self->summary.counts, g_free);
  g_clear_pointer(&self->summary.sums, g_free);
  g_clear_pointer(&self->upstream_tags, gst_tag_list_unref);
  g_clear_pointer(&self->own_tags, gst_tag_list_unref);
  self->converted_max = 0;

  GST_OBJECT_LOCK(self);
  model = self->model;
  self->model = NULL;
  GST_OBJECT_UNLOCK(self);
  instrid_model_free(model);
  return TRUE;
}

/* Streaming thread, at EOS: drains the converter, waits for the worker to analyse everything
 * (including the last partial window), then posts the summary and pushes the final tags. */
static void gst_instr_identify_finish(GstInstrIdentify *self)
{
  GstClockTime start, duration;
  GstSegment segment;
  guint64 n_windows;
  gboolean flushing, post, tags;
  gdouble threshold;
  guint n_detected;
  Marker *m;

  if (self->stream == NULL)
    return;
  if (self->converter != NULL && !self->need_reset) {
    /* The resampler holds back its last few input frames until more arrive. */
    gsize latency = gst_audio_converter_get_max_latency(self->converter);
    if (latency > 0 && !gst_instr_identify_convert(self, NULL, latency))
      return;
  }
  m = g_new0(Marker, 1);
  m->kind = MARKER_EOS;
  gst_instr_identify_queue_marker(self, m);

  g_mutex_lock(&self->queue_lock);
  while (!self->eos_done && !self->flushing)
    g_cond_wait(&self->queue_cond, &self->queue_lock);
  flushing = self->flushing;
  self->eos_done = FALSE;
  if (self->pending_tags != NULL) {
    gst_tag_list_unref(self->pending_tags); /* superseded by the summary's */
    self->pending_tags = NULL;
  }
  g_mutex_unlock(&self->queue_lock);
  if (flushing)
    return;

  /* The worker is idle until more samples come, which only this thread queues. */
  gst_instr_identify_summary_probabilities(self, self->probabilities);
  start = self->summary.start_ts;
  segment = self->summary.segment;
  if (!GST_CLOCK_TIME_IS_VALID(start)) {
    segment = self->segment;
    start = segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID(segment.start)
                ? segment.start
                : 0;
  }
  duration = gst_instr_identify_samples_to_time(self, self->summary.analysed_samples);
  n_windows = self->summary.n_windows;

  GST_OBJECT_LOCK(self);
  post = self->post_messages;
  tags = self->tags;
  threshold = self->threshold;
  GST_OBJECT_UNLOCK(self);

  n_detected = gst_instr_identify_decide(self->model, self->n_classes, self->probabilities,
                                         threshold, self->detected, self->order);
  if (post) {
    GstMessage *msg = gst_instr_identify_make_message(
        self, "instridentify-summary", start, duration, &segment, self->model, self->n_classes,
        self->probabilities, self->order, n_detected);
    GstStructure *s = (GstStructure *)gst_message_get_structure(msg);
    gst_structure_set(s, "windows", G_TYPE_UINT64, n_windows, NULL);
    gst_element_post_message(GST_ELEMENT(self), msg);
  }
  if (tags)
    gst_instr_identify_push_tags(
        self,
        gst_instr_identify_make_tags(self->model, self->probabilities, self->order, n_detected));
}

static gboolean gst_instr_identify_sink_event(GstBaseTransform *trans, GstEvent *event)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(trans);

  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_FLUSH_START:
    g_mutex_lock(&self->queue_lock);
    self->flushing = TRUE;
    g_atomic_int_inc(&self->generation);
    g_cond_broadcast(&self->queue_cond);
    g_mutex_unlock(&self->queue_lock);
    break;
  case GST_EVENT_FLUSH_STOP:
    g_mutex_lock(&self->queue_lock);
    gst_instr_identify_clear_queue_locked(self);
    self->flushing = FALSE;
    g_cond_broadcast(&self->queue_cond);
    g_mutex_unlock(&self->queue_lock);
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
    if (self->converter != NULL && GST_CLOCK_TIME_IS_VALID(duration)) {
      gsize frames = gst_util_uint64_scale_int(
          duration, GST_AUDIO_INFO_RATE(GST_AUDIO_FILTER_INFO(self)), GST_SECOND);
      gst_instr_identify_silence(self, ts, frames);
      if (GST_CLOCK_TIME_IS_VALID(ts))
        self->next_ts = ts + duration;
    }
    break;
  }
  case GST_EVENT_TAG: {
    GstTagList *tl;
    gst_event_parse_tag(event, &tl);
    if (gst_tag_list_get_scope(tl) == GST_TAG_SCOPE_STREAM) {
      if (self->upstream_tags != NULL)
        gst_tag_list_unref(self->upstream_tags);
      self->upstream_tags = gst_tag_list_ref(tl);
      /* Stream tags replace each other downstream: keep ours in the new list. */
      if (self->own_tags != NULL) {
        gst_event_unref(event);
        event =
            gst_event_new_tag(gst_instr_identify_merge_tags(self->upstream_tags, self->own_tags));
      }
    }
    break;
  }
  case GST_EVENT_EOS:
    gst_instr_identify_finish(self);
    break;
  default:
    break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static GstStateChangeReturn gst_instr_identify_change_state(GstElement *element,
                                                            GstStateChange transition)
{
  GstInstrIdentify *self = GST_INSTR_IDENTIFY(element);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* Let a streaming thread waiting on the worker go, so the pads can be deactivated. */
    g_mutex_lock(&self->queue_lock);
    self->flushing = TRUE;
    g_atomic_int_inc(&self->generation);
    g_cond_broadcast(&self->queue_cond);
    g_mutex_unlock(&self->queue_lock);
  }
  return GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
}

/* ------------------------------------------------------------------------------------------ */
/* Properties                                                                                   */

static gchar **gst_instr_identify_labels(GstInstrIdentify *self)
{
  instrid_model *owned = NULL;
  const instrid_model *model;
  gchar **labels;
  guint i, n;

  GST_OBJECT_LOCK(self);
  model = self->model;
  if (model == NULL) {
    /* Not running: read the file the element would load. */
    gchar *path = gst_instr_identify_model_path_locked(self);
    if (path != NULL)
      owned = instrid_model_load(path, NULL);
    g_free(path);
    model = owned;
  }
  n = model != NULL ? instrid_model_n_classes(model) : 0;
  labels = g_new0(gchar *, n + 1);
  for (i = 0; i < n; i++)
    labels[i] = g_strdup(instrid_model_class_name(model, i));
  GST_OBJECT_UNLOCK(self);
  instrid_model_free(owned);
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
  g_mutex_clear(&self->queue_lock);
  g_cond_clear(&self->queue_cond);
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
  g_mutex_init(&self->queue_lock);
  g_cond_init(&self->queue_cond);
  g_queue_init(&self->markers);
  gst_segment_init(&self->segment, GST_FORMAT_TIME);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_gap_aware(GST_BASE_TRANSFORM(self), TRUE);
}
