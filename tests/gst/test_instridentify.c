/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_instridentify.c — gst-check tests of the instridentify element: message count and
 * timestamps, fields, buffer-size independence, tags, summary, flush, caps changes, bad models,
 * NaN input, live latency and state cycles. All run on the tiny random model of testmodel.h.
 */
#include <math.h>
#include <string.h>

#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include "testmodel.h"

static gchar *model_path;

#define MS (GST_MSECOND)
/* Window hop and length of the test model at its default interval. */
#define HOP_NS (TEST_MODEL_HOP_FRAMES * TEST_MODEL_HOP_SAMPLES * GST_SECOND / TEST_MODEL_RATE)
#define WINDOW_SAMPLES ((TEST_MODEL_WINDOW_FRAMES - 1) * TEST_MODEL_HOP_SAMPLES + TEST_MODEL_N_FFT)

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                      */

/* The windows the element reports for n samples at the model's rate, hop_frames apart: the
 * full ones, plus the partial last one when it has half a window of audio no window covered
 * (any audio at all when there is no full one). */
static guint expected_windows(guint64 n, guint hop_frames)
{
  const guint64 W = TEST_MODEL_WINDOW_FRAMES;
  guint64 frames = n >= TEST_MODEL_N_FFT ? (n - TEST_MODEL_N_FFT) / TEST_MODEL_HOP_SAMPLES + 1 : 0;
  guint64 full = frames >= W ? (frames - W) / hop_frames + 1 : 0;
  guint64 next = full * hop_frames;
  guint64 min = full > 0 ? (W + 1) / 2 + (hop_frames < W ? W - hop_frames : 0) : 1;
  gboolean partial = frames > next && MIN(frames - next, W) >= min && min <= W;
  return (guint)(full + (partial ? 1 : 0));
}

/* A deterministic test signal whose value depends only on the absolute frame index, so that
 * any chunking gives the same audio: two tones and a little hashed noise. */
static gdouble signal_at(guint64 frame, gint rate, gint channel)
{
  gdouble t = (gdouble)frame / rate;
  guint32 h = (guint32)(frame * 2654435761u) ^ (guint32)(frame >> 7);
  gdouble noise = ((h >> 8) & 0xffff) / 65536.0 - 0.5;
  return (0.4 * sin(2 * G_PI * 440.0 * t) + 0.2 * sin(2 * G_PI * 1234.5 * t) + 0.1 * noise) *
         (1.0 - 0.1 * channel);
}

/* Interleaved audio of format ("S16LE", "F32LE"), rate and channels in default positions. */
static GstAudioInfo audio_info(const gchar *format, gint rate, gint channels)
{
  GstAudioInfo info;
  gst_audio_info_init(&info);
  gst_audio_info_set_format(&info, gst_audio_format_from_string(format), rate, channels, NULL);
  return info;
}

/* frames of the test signal starting at absolute frame `offset`, in the caps' format. */
static GstBuffer *make_buffer(const GstAudioInfo *info, guint64 offset, guint frames,
                              GstClockTime base_ts)
{
  const gint rate = GST_AUDIO_INFO_RATE(info), channels = GST_AUDIO_INFO_CHANNELS(info);
  GstBuffer *buf = gst_buffer_new_allocate(NULL, (gsize)frames * GST_AUDIO_INFO_BPF(info), NULL);
  GstMapInfo map;
  guint i;
  gint c;

  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (i = 0; i < frames; i++) {
    for (c = 0; c < channels; c++) {
      gdouble v = signal_at(offset + i, rate, c);
      /* interleaved: frame after frame; non-interleaved: one plane per channel */
      gsize at = GST_AUDIO_INFO_LAYOUT(info) == GST_AUDIO_LAYOUT_INTERLEAVED
                     ? (gsize)i * channels + c
                     : (gsize)c * frames + i;
      if (GST_AUDIO_INFO_FORMAT(info) == GST_AUDIO_FORMAT_S16)
        ((gint16 *)map.data)[at] = (gint16)lrint(v * 32767.0);
      else
        ((gfloat *)map.data)[at] = (gfloat)v;
    }
  }
  gst_buffer_unmap(buf, &map);
  if (GST_AUDIO_INFO_LAYOUT(info) == GST_AUDIO_LAYOUT_NON_INTERLEAVED)
    gst_buffer_add_audio_meta(buf, info, frames, NULL);
  GST_BUFFER_PTS(buf) = base_ts + gst_util_uint64_scale_int(offset, GST_SECOND, rate);
  GST_BUFFER_DURATION(buf) = gst_util_uint64_scale_int(offset + frames, GST_SECOND, rate) -
                             gst_util_uint64_scale_int(offset, GST_SECOND, rate);
  GST_BUFFER_OFFSET(buf) = offset;
  return buf;
}

/* Pushes total frames of the test signal in buffers of buffer_frames, the first one DISCONT. */
static void push_signal(GstHarness *h, const GstAudioInfo *info, GstClockTime base_ts,
                        guint64 total, guint buffer_frames)
{
  guint64 offset;
  for (offset = 0; offset < total; offset += buffer_frames) {
    guint n = (guint)MIN((guint64)buffer_frames, total - offset);
    GstBuffer *buf = make_buffer(info, offset, n, base_ts);
    if (offset == 0)
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
}

/* An instridentify in a harness fed audio as *info describes, posting to *bus; extra
 * properties as in g_object_set. */
static GstHarness *harness_new_audio(GstBus **bus, const GstAudioInfo *info,
                                     const gchar *first_prop, ...)
{
  GstElement *el = gst_element_factory_make("instridentify", NULL);
  GstCaps *caps = gst_audio_info_to_caps(info);
  GstHarness *h;
  va_list ap;

  fail_unless(el != NULL, "instridentify not found: is GST_PLUGIN_PATH set?");
  g_object_set(el, "model-location", model_path, NULL);
  if (first_prop != NULL) {
    va_start(ap, first_prop);
    g_object_set_valist(G_OBJECT(el), first_prop, ap);
    va_end(ap);
  }
  *bus = gst_bus_new();
  gst_element_set_bus(el, *bus);
  h = gst_harness_new_with_element(el, "sink", "src");
  gst_object_unref(el);
  gst_harness_set_src_caps(h, caps);
  return h;
}

static void harness_free(GstHarness *h, GstBus *bus)
{
  gst_harness_teardown(h);
  gst_bus_set_flushing(bus, TRUE);
  gst_object_unref(bus);
}

typedef struct {
  GPtrArray *windows; /* GstStructure*, in posting order */
  GstStructure *summary;
  GPtrArray *warnings; /* gchar*: the warnings' texts */
} Results;

/* Ends the stream with EOS and returns what the element posted. */
static Results collect_at_eos(GstHarness *h, GstBus *bus)
{
  Results r = {g_ptr_array_new_with_free_func((GDestroyNotify)gst_structure_free), NULL,
               g_ptr_array_new_with_free_func(g_free)};
  GstMessage *m;

  gst_harness_push_event(h, gst_event_new_eos());
  while ((m = gst_bus_pop(bus)) != NULL) {
    const GstStructure *s = gst_message_get_structure(m);
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      GError *err = NULL;
      gst_message_parse_warning(m, &err, NULL);
      g_ptr_array_add(r.warnings, g_strdup(err->message));
      g_error_free(err);
    } else if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT) {
      /* not ours */
    } else if (gst_structure_has_name(s, "instridentify"))
      g_ptr_array_add(r.windows, gst_structure_copy(s));
    else if (gst_structure_has_name(s, "instridentify-summary")) {
      fail_unless(r.summary == NULL, "two summaries");
      r.summary = gst_structure_copy(s);
    }
    gst_message_unref(m);
  }
  return r;
}

static void results_clear(Results *r)
{
  g_ptr_array_unref(r->windows);
  g_ptr_array_unref(r->warnings);
  if (r->summary != NULL)
    gst_structure_free(r->summary);
}

/* A whole stream: total frames of the test signal as push_signal pushes them, then EOS; returns
 * what the element posted. */
static Results run_signal(GstHarness *h, GstBus *bus, const GstAudioInfo *info,
                          GstClockTime base_ts, guint64 total, guint buffer_frames)
{
  push_signal(h, info, base_ts, total, buffer_frames);
  return collect_at_eos(h, bus);
}

static GstClockTime field_time(const GstStructure *s, const gchar *name)
{
  guint64 v = 0;
  fail_unless(gst_structure_get_uint64(s, name, &v), "field %s missing", name);
  return v;
}

static gdouble probability(const GstStructure *s, guint i)
{
  const GValue *a = gst_structure_get_value(s, "probabilities");
  return g_value_get_double(gst_value_array_get_value(a, i));
}

/* The first n windows of a and b have the same probabilities, within tolerance. */
static void check_same_probabilities(const Results *a, const Results *b, guint n, gdouble tolerance,
                                     const gchar *what)
{
  guint k, i;
  for (k = 0; k < n; k++)
    for (i = 0; i < TEST_MODEL_N_CLASSES; i++) {
      gdouble pa = probability(g_ptr_array_index(a->windows, k), i);
      gdouble pb = probability(g_ptr_array_index(b->windows, k), i);
      fail_unless(fabs(pa - pb) < tolerance, "%s: window %u class %u: %.7f vs %.7f", what, k, i, pb,
                  pa);
    }
}

static guint array_size(const GstStructure *s, const gchar *name)
{
  const GValue *a = gst_structure_get_value(s, name);
  fail_unless(a != NULL && GST_VALUE_HOLDS_ARRAY(a), "field %s is not an array", name);
  return gst_value_array_get_size(a);
}

static const gchar *array_string(const GstStructure *s, const gchar *name, guint i)
{
  return g_value_get_string(gst_value_array_get_value(gst_structure_get_value(s, name), i));
}

/* Checks one result's arrays: labels in model order, probabilities in [0, 1], instruments =
 * the classes at or above their threshold, most probable first. */
static void check_fields(const GstStructure *s, gdouble threshold)
{
  guint i, n_detected = 0;

  fail_unless_equals_int(array_size(s, "labels"), TEST_MODEL_N_CLASSES);
  fail_unless_equals_int(array_size(s, "probabilities"), TEST_MODEL_N_CLASSES);
  for (i = 0; i < TEST_MODEL_N_CLASSES; i++) {
    gdouble p = probability(s, i), t = threshold >= 0 ? threshold : 0.3 + 0.1 * i;
    fail_unless_equals_string(array_string(s, "labels", i), test_model_names[i]);
    fail_unless(p >= 0.0 && p <= 1.0, "probability %g outside [0, 1]", p);
    if (p >= t - 1e-6)
      n_detected++;
  }
  fail_unless_equals_int(array_size(s, "instruments"), n_detected);
  for (i = 0; i < n_detected; i++) {
    const gchar *name = array_string(s, "instruments", i);
    guint k;
    for (k = 0; k < TEST_MODEL_N_CLASSES; k++)
      if (strcmp(name, test_model_names[k]) == 0)
        break;
    fail_unless(k < TEST_MODEL_N_CLASSES, "unknown instrument %s", name);
    fail_unless(probability(s, k) >= (threshold >= 0 ? threshold : 0.3 + 0.1 * k) - 1e-6);
    if (i > 0 && threshold >= 0) {
      const gchar *prev = array_string(s, "instruments", i - 1);
      guint j;
      for (j = 0; strcmp(prev, test_model_names[j]) != 0; j++)
        ;
      fail_unless(probability(s, j) >= probability(s, k), "instruments not most probable first");
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                        */

/* 2.05 s at 8, 44.1 and 96 kHz, S16 and F32, 1, 2 and 6 channels: 14 windows every 128 ms from
 * the first buffer's timestamp, each 272 ms long, and a summary of 2.05 s. */
GST_START_TEST(test_timestamps_formats)
{
  const gint rates[] = {8000, 44100, 96000};
  const gchar *formats[] = {"S16LE", "F32LE"};
  const gint channels[] = {1, 2, 6};
  const GstClockTime base = 3 * GST_SECOND;
  guint ri, fi, ci, k;

  fail_unless_equals_int(expected_windows(16400, TEST_MODEL_HOP_FRAMES), 14);
  for (ri = 0; ri < G_N_ELEMENTS(rates); ri++)
    for (fi = 0; fi < G_N_ELEMENTS(formats); fi++)
      for (ci = 0; ci < G_N_ELEMENTS(channels); ci++) {
        GstAudioInfo info = audio_info(formats[fi], rates[ri], channels[ci]);
        GstBus *bus;
        GstHarness *h = harness_new_audio(&bus, &info, NULL);
        GstSegment seg;
        Results r;

        /* A segment starting at base, so running time = timestamp - base. */
        gst_segment_init(&seg, GST_FORMAT_TIME);
        seg.start = seg.time = base;
        gst_harness_push_event(h, gst_event_new_segment(&seg));
        r = run_signal(h, bus, &info, base, (guint64)rates[ri] * 205 / 100, (guint)rates[ri] / 50);

        fail_unless_equals_int(r.windows->len, 14);
        for (k = 0; k < r.windows->len; k++) {
          const GstStructure *s = g_ptr_array_index(r.windows, k);
          fail_unless_equals_uint64(field_time(s, "timestamp"), base + k * HOP_NS);
          fail_unless_equals_uint64(field_time(s, "running-time"), k * HOP_NS);
          fail_unless_equals_uint64(field_time(s, "stream-time"), base + k * HOP_NS);
          fail_unless_equals_uint64(field_time(s, "duration"),
                                    WINDOW_SAMPLES * GST_SECOND / TEST_MODEL_RATE);
          check_fields(s, -1.0);
        }
        fail_unless(r.summary != NULL);
        fail_unless_equals_uint64(field_time(r.summary, "timestamp"), base);
        /* The resampler may give a sample more or less: 125 us at the model's rate. */
        fail_unless(labs((glong)field_time(r.summary, "duration") - (glong)(2050 * MS)) <=
                        (glong)(GST_SECOND / TEST_MODEL_RATE),
                    "summary duration %" GST_TIME_FORMAT " at %s %d Hz %d ch",
                    GST_TIME_ARGS(field_time(r.summary, "duration")), formats[fi], rates[ri],
                    channels[ci]);
        check_fields(r.summary, -1.0);

        results_clear(&r);
        harness_free(h, bus);
      }
}
GST_END_TEST;

/* The same audio in buffers of 1 sample to 1 s gives the same windows and probabilities. */
GST_START_TEST(test_buffer_size_independence)
{
  const guint sizes[] = {44100, 1, 7, 441, 4410};
  const GstAudioInfo info = audio_info("S16LE", 44100, 2);
  Results ref = {NULL, NULL, NULL};
  guint si, k;

  for (si = 0; si < G_N_ELEMENTS(sizes); si++) {
    GstBus *bus;
    GstHarness *h = harness_new_audio(&bus, &info, NULL);
    Results r = run_signal(h, bus, &info, 0, 44100 * 13 / 10, sizes[si]);

    fail_unless_equals_int(r.windows->len, expected_windows(10400, TEST_MODEL_HOP_FRAMES));
    fail_unless_equals_int(r.windows->len, 9);
    if (si == 0) {
      ref = r;
    } else {
      gchar *what = g_strdup_printf("buffers of %u", sizes[si]);
      for (k = 0; k < r.windows->len; k++)
        fail_unless_equals_uint64(field_time(g_ptr_array_index(ref.windows, k), "timestamp"),
                                  field_time(g_ptr_array_index(r.windows, k), "timestamp"));
      check_same_probabilities(&ref, &r, r.windows->len, 1e-5, what);
      g_free(what);
      results_clear(&r);
    }
    harness_free(h, bus);
  }
  results_clear(&ref);
}
GST_END_TEST;

/* Non-interleaved input gives the same results as the same audio interleaved. */
GST_START_TEST(test_non_interleaved)
{
  Results res[2];
  guint pass;

  for (pass = 0; pass < 2; pass++) {
    GstAudioInfo info = audio_info("F32LE", 48000, 2);
    GstBus *bus;
    GstHarness *h;

    info.layout = pass == 0 ? GST_AUDIO_LAYOUT_INTERLEAVED : GST_AUDIO_LAYOUT_NON_INTERLEAVED;
    h = harness_new_audio(&bus, &info, NULL);
    res[pass] = run_signal(h, bus, &info, 0, 48000 * 205 / 100, 960);
    fail_unless_equals_int(res[pass].windows->len, 14);
    harness_free(h, bus);
  }
  check_same_probabilities(&res[0], &res[1], 14, 1e-6, "non-interleaved");
  results_clear(&res[0]);
  results_clear(&res[1]);
}
GST_END_TEST;

/* With one threshold for all classes the instruments are exactly the classes at or above it,
 * most probable first; the labels property matches the messages. */
GST_START_TEST(test_fields_threshold)
{
  const GstAudioInfo info = audio_info("F32LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, "threshold", 0.5, NULL);
  gchar **labels = NULL;
  Results r;
  guint k;

  g_object_get(h->element, "labels", &labels, NULL);
  fail_unless_equals_int(g_strv_length(labels), TEST_MODEL_N_CLASSES);
  for (k = 0; k < TEST_MODEL_N_CLASSES; k++)
    fail_unless_equals_string(labels[k], test_model_names[k]);
  g_strfreev(labels);

  r = run_signal(h, bus, &info, 0, 16400, 800);
  fail_unless_equals_int(r.windows->len, 14);
  for (k = 0; k < r.windows->len; k++)
    check_fields(g_ptr_array_index(r.windows, k), 0.5);
  check_fields(r.summary, 0.5);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* The summary: every window counted, each probability the mean of the class's top 10% of
 * windows (here ceil(0.1 * 14) = 2 windows). */
GST_START_TEST(test_summary)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  Results r = run_signal(h, bus, &info, 0, 16400, 1000);
  guint64 n_windows = 0;
  guint i, k;

  fail_unless_equals_int(r.windows->len, 14);
  fail_unless(gst_structure_get_uint64(r.summary, "windows", &n_windows));
  fail_unless_equals_uint64(n_windows, 14);
  for (i = 0; i < TEST_MODEL_N_CLASSES; i++) {
    gdouble best = -1, second = -1;
    for (k = 0; k < r.windows->len; k++) {
      gdouble p = probability(g_ptr_array_index(r.windows, k), i);
      if (p > best) {
        second = best;
        best = p;
      } else if (p > second) {
        second = p;
      }
    }
    /* The histogram is exact unless the two share a bin with others: within a bin (1/256). */
    fail_unless(fabs(probability(r.summary, i) - (best + second) / 2) <= 1.0 / 256,
                "class %u: summary %g, top-2 mean %g", i, probability(r.summary, i),
                (best + second) / 2);
  }
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* An empty stream ends with a summary of duration 0 and no instruments. */
GST_START_TEST(test_empty_stream)
{
  const GstAudioInfo info = audio_info("S16LE", 44100, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  guint64 n_windows = 1;
  Results r;
  guint i;

  r = collect_at_eos(h, bus);
  fail_unless_equals_int(r.windows->len, 0);
  fail_unless(r.summary != NULL);
  fail_unless_equals_uint64(field_time(r.summary, "duration"), 0);
  fail_unless_equals_uint64(field_time(r.summary, "timestamp"), 0);
  fail_unless(gst_structure_get_uint64(r.summary, "windows", &n_windows));
  fail_unless_equals_uint64(n_windows, 0);
  fail_unless_equals_int(array_size(r.summary, "instruments"), 0);
  for (i = 0; i < TEST_MODEL_N_CLASSES; i++)
    fail_unless_equals_float(probability(r.summary, i), 0.0);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* A stream shorter than a window: one padded window as soon as it has a frame of audio (200
 * samples are less than one FFT frame; 1000 are 6 frames, less than half the 16-frame window). */
GST_START_TEST(test_short_stream)
{
  const guint64 lengths[] = {200, 1000, 1200, 2000};
  const guint expected[] = {0, 1, 1, 1};
  const GstAudioInfo info = audio_info("F32LE", 8000, 1);
  guint i;

  for (i = 0; i < G_N_ELEMENTS(lengths); i++) {
    GstBus *bus;
    GstHarness *h = harness_new_audio(&bus, &info, NULL);
    Results r;
    fail_unless_equals_int(expected_windows(lengths[i], TEST_MODEL_HOP_FRAMES), expected[i]);
    r = run_signal(h, bus, &info, 0, lengths[i], 160);
    fail_unless_equals_int(r.windows->len, expected[i]);
    if (expected[i] == 1)
      fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, 0), "duration"),
                                lengths[i] * GST_SECOND / TEST_MODEL_RATE);
    fail_unless_equals_uint64(field_time(r.summary, "duration"),
                              lengths[i] * GST_SECOND / TEST_MODEL_RATE);
    results_clear(&r);
    harness_free(h, bus);
  }
}
GST_END_TEST;

/* interval = 256 ms: windows 256 ms apart; the partial last one (258 ms of new audio) is
 * analysed and its duration is the audio it covers. */
GST_START_TEST(test_interval)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, "interval", (guint64)(256 * MS), NULL);
  Results r = run_signal(h, bus, &info, 0, 16400, 1000);
  guint k;

  fail_unless_equals_int(expected_windows(16400, 16), 8);
  fail_unless_equals_int(r.windows->len, 8);
  for (k = 0; k < r.windows->len; k++)
    fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"),
                              k * 256 * MS);
  fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, 7), "duration"),
                            (16400 - 7 * 2048) * GST_SECOND / TEST_MODEL_RATE);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* Changing the interval while playing applies from a later window; never retroactively. */
GST_START_TEST(test_interval_change_playing)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  GstClockTime prev_step = 0;
  Results r;
  guint64 offset;
  guint k;

  for (offset = 0; offset < 24000; offset += 800) {
    GstBuffer *buf = make_buffer(&info, offset, 800, 0);
    if (offset == 8000)
      g_object_set(h->element, "interval", (guint64)(256 * MS), NULL);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  r = collect_at_eos(h, bus);
  fail_unless(r.windows->len > 10);
  for (k = 1; k < r.windows->len; k++) {
    GstClockTime step = field_time(g_ptr_array_index(r.windows, k), "timestamp") -
                        field_time(g_ptr_array_index(r.windows, k - 1), "timestamp");
    fail_unless(step == 128 * MS || step == 256 * MS, "step %" GST_TIME_FORMAT,
                GST_TIME_ARGS(step));
    fail_unless(step >= prev_step, "the interval went back");
    /* Every window starting after the change was pushed is on the new interval. */
    if (field_time(g_ptr_array_index(r.windows, k - 1), "timestamp") >= GST_SECOND)
      fail_unless_equals_uint64(step, 256 * MS);
    prev_step = step;
  }
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* The interval's extremes: 1 ns is one frame hop, G_MAXUINT64 the longest hop (65536 frames),
 * not a wrapped-around short one. */
GST_START_TEST(test_interval_extremes)
{
  static const struct {
    guint64 interval_ns;
    guint hop_frames;
  } cases[] = {{1, 1}, {G_MAXUINT64, 65536}, {G_MAXUINT64 - 1, 65536}};
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  guint c, k;

  for (c = 0; c < G_N_ELEMENTS(cases); c++) {
    GstBus *bus;
    GstHarness *h = harness_new_audio(&bus, &info, "interval", cases[c].interval_ns, NULL);
    const guint expected = expected_windows(16400, cases[c].hop_frames);
    Results r = run_signal(h, bus, &info, 0, 16400, 1000);

    fail_unless_equals_int(r.windows->len, expected);
    for (k = 0; k < r.windows->len; k++)
      fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"),
                                (guint64)k * cases[c].hop_frames * TEST_MODEL_HOP_SAMPLES *
                                    GST_SECOND / TEST_MODEL_RATE);
    results_clear(&r);
    harness_free(h, bus);
  }
  fail_unless_equals_int(expected_windows(16400, 1), 112);
  fail_unless_equals_int(expected_windows(16400, 65536), 1);
}
GST_END_TEST;

/* A planar buffer without the GstAudioMeta that says where its planes are is an error that
 * says so, not a critical warning from gst_audio_buffer_map. */
GST_START_TEST(test_non_interleaved_without_meta)
{
  GstAudioInfo info = audio_info("F32LE", 8000, 2);
  GstBus *bus;
  GstHarness *h;
  GstBuffer *buf = gst_buffer_new_allocate(NULL, 2 * 400 * sizeof(gfloat), NULL);
  GstMessage *msg;
  GError *err = NULL;

  info.layout = GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  h = harness_new_audio(&bus, &info, NULL);
  gst_buffer_memset(buf, 0, 0, 2 * 400 * sizeof(gfloat));
  GST_BUFFER_PTS(buf) = 0;
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  fail_unless(msg != NULL, "no error message");
  gst_message_parse_error(msg, &err, NULL);
  fail_unless(g_error_matches(err, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT));
  fail_unless_equals_string(err->message, "Non-interleaved audio buffer without a GstAudioMeta");
  g_error_free(err);
  gst_message_unref(msg);
  harness_free(h, bus);
}
GST_END_TEST;

static GstTagList *last_tags(GstHarness *h, guint *n_tag_events)
{
  GstTagList *last = NULL;
  GstEvent *ev;
  *n_tag_events = 0;
  while ((ev = gst_harness_try_pull_event(h)) != NULL) {
    if (GST_EVENT_TYPE(ev) == GST_EVENT_TAG) {
      GstTagList *tl;
      gst_event_parse_tag(ev, &tl);
      if (gst_tag_list_get_scope(tl) == GST_TAG_SCOPE_STREAM) {
        if (last != NULL)
          gst_tag_list_unref(last);
        last = gst_tag_list_ref(tl);
        (*n_tag_events)++;
      }
    }
    gst_event_unref(ev);
  }
  return last;
}

static gboolean has_comment(const GstTagList *tl, const gchar *comment)
{
  guint i, n = gst_tag_list_get_tag_size(tl, GST_TAG_EXTENDED_COMMENT);
  for (i = 0; i < n; i++) {
    const gchar *c;
    if (gst_tag_list_peek_string_index(tl, GST_TAG_EXTENDED_COMMENT, i, &c) &&
        strcmp(c, comment) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Tags on the src pad: ours merged with upstream's title, artist and comments, pushed when the
 * detected set changes and at EOS. */
GST_START_TEST(test_tags_merged)
{
  const GstAudioInfo info = audio_info("S16LE", 44100, 2);
  GstBus *bus;
  /* threshold 0: every class detected, most probable first. */
  GstHarness *h = harness_new_audio(&bus, &info, "threshold", 0.0, NULL);
  GstTagList *up = gst_tag_list_new(GST_TAG_TITLE, "Sonata", GST_TAG_ARTIST, "Someone",
                                    GST_TAG_EXTENDED_COMMENT, "RECORDED=1999", NULL);
  GstTagList *tl;
  gchar *s = NULL, *expected_comment;
  guint n_events, i;
  Results r;
  GString *names = g_string_new(NULL);

  gst_tag_list_set_scope(up, GST_TAG_SCOPE_STREAM);
  gst_harness_push_event(h, gst_event_new_tag(up));
  push_signal(h, &info, 0, 44100, 4410);

  /* Mid-stream, before EOS: our tags are already downstream, merged. */
  tl = last_tags(h, &n_events);
  fail_unless(n_events >= 1);
  fail_unless(tl != NULL);
  fail_unless(gst_tag_list_get_string(tl, GST_TAG_TITLE, &s));
  fail_unless_equals_string(s, "Sonata");
  g_free(s);
  gst_tag_list_unref(tl);

  r = collect_at_eos(h, bus);
  tl = last_tags(h, &n_events);
  fail_unless_equals_int(n_events, 1); /* the final tags, at EOS */
  fail_unless(gst_tag_list_get_string(tl, GST_TAG_TITLE, &s));
  fail_unless_equals_string(s, "Sonata");
  g_free(s);
  fail_unless(gst_tag_list_get_string(tl, GST_TAG_ARTIST, &s));
  fail_unless_equals_string(s, "Someone");
  g_free(s);
  fail_unless(has_comment(tl, "RECORDED=1999"));
  fail_unless_equals_int(gst_tag_list_get_tag_size(tl, "instrid-instruments"),
                         TEST_MODEL_N_CLASSES);
  for (i = 0; i < TEST_MODEL_N_CLASSES; i++) {
    const gchar *name, *summary_name = array_string(r.summary, "instruments", i);
    fail_unless(gst_tag_list_peek_string_index(tl, "instrid-instruments", i, &name));
    fail_unless_equals_string(name, summary_name);
    g_string_append_printf(names, "%s%s", i ? "," : "", name);
  }
  expected_comment = g_strdup_printf("INSTRUMENTS=%s", names->str);
  fail_unless(has_comment(tl, expected_comment), "no %s", expected_comment);
  fail_unless(gst_tag_list_get_string(tl, "instrid-probabilities", &s));
  fail_unless(g_str_has_prefix(s, array_string(r.summary, "instruments", 0)));
  fail_unless(strchr(s, '=') != NULL);
  g_free(s);
  g_free(expected_comment);
  g_string_free(names, TRUE);
  gst_tag_list_unref(tl);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* Upstream tags that come after ours are merged with ours too; tags=false pushes none. */
GST_START_TEST(test_tags_upstream_later_and_off)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, "threshold", 0.0, "tag-dwell", (guint64)0, NULL);
  GstTagList *up = gst_tag_list_new(GST_TAG_TITLE, "Later", NULL), *tl;
  GstMessage *msg;
  gchar *s = NULL;
  guint n_events;

  gst_tag_list_set_scope(up, GST_TAG_SCOPE_STREAM);
  push_signal(h, &info, 0, 8000, 800);
  /* The worker makes a window's tags before it posts the window's message, and the streaming
   * thread pushes them with the next buffer: wait for the first message, then push one. */
  msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_ELEMENT);
  gst_message_unref(msg);
  gst_harness_push(h, make_buffer(&info, 8000, 800, 0));
  tl = last_tags(h, &n_events);
  fail_unless(tl != NULL && n_events >= 1);
  gst_tag_list_unref(tl);
  gst_harness_push_event(h, gst_event_new_tag(up));
  tl = last_tags(h, &n_events);
  fail_unless_equals_int(n_events, 1);
  fail_unless(gst_tag_list_get_string(tl, GST_TAG_TITLE, &s));
  fail_unless_equals_string(s, "Later");
  g_free(s);
  fail_unless_equals_int(gst_tag_list_get_tag_size(tl, "instrid-instruments"),
                         TEST_MODEL_N_CLASSES);
  gst_tag_list_unref(tl);
  harness_free(h, bus);

  h = harness_new_audio(&bus, &info, "tags", FALSE, NULL);
  push_signal(h, &info, 0, 8000, 800);
  gst_harness_push_event(h, gst_event_new_eos());
  tl = last_tags(h, &n_events);
  fail_unless_equals_int(n_events, 0);
  fail_unless(tl == NULL);
  harness_free(h, bus);
}
GST_END_TEST;

/* A flush restarts windows and summary: after a flushing seek to 10 s, windows start again at
 * the new buffers' timestamps, with running time from the new segment. */
GST_START_TEST(test_flush_seek)
{
  const GstAudioInfo info = audio_info("F32LE", 44100, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  const GstClockTime seek_to = 10 * GST_SECOND;
  GstSegment seg;
  guint64 n_windows = 0;
  Results r;
  guint k, first_after = 0;

  push_signal(h, &info, 0, 44100, 4410);
  gst_harness_push_event(h, gst_event_new_flush_start());
  gst_harness_push_event(h, gst_event_new_flush_stop(TRUE));
  gst_segment_init(&seg, GST_FORMAT_TIME);
  seg.start = seg.time = seek_to;
  gst_harness_push_event(h, gst_event_new_segment(&seg));
  r = run_signal(h, bus, &info, seek_to, 44100 * 205 / 100, 4410);

  /* Before the flush: windows of the first second only, as many as were done in time. */
  while (first_after < r.windows->len &&
         field_time(g_ptr_array_index(r.windows, first_after), "timestamp") < seek_to) {
    fail_unless(field_time(g_ptr_array_index(r.windows, first_after), "timestamp") < GST_SECOND);
    first_after++;
  }
  fail_unless(first_after <= 6);
  fail_unless_equals_int(r.windows->len - first_after, 14);
  for (k = first_after; k < r.windows->len; k++) {
    const GstStructure *s = g_ptr_array_index(r.windows, k);
    fail_unless_equals_uint64(field_time(s, "timestamp"), seek_to + (k - first_after) * HOP_NS);
    fail_unless_equals_uint64(field_time(s, "running-time"), (k - first_after) * HOP_NS);
  }
  fail_unless_equals_uint64(field_time(r.summary, "timestamp"), seek_to);
  fail_unless(gst_structure_get_uint64(r.summary, "windows", &n_windows));
  fail_unless_equals_uint64(n_windows, 14);
  fail_unless(labs((glong)field_time(r.summary, "duration") - (glong)(2050 * MS)) <= 125000);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* New caps mid-stream (44.1 kHz stereo S16 to 8 kHz mono F32) restart the windows at the next
 * buffer; the summary covers both parts. */
GST_START_TEST(test_caps_renegotiation)
{
  const GstAudioInfo info1 = audio_info("S16LE", 44100, 2), info2 = audio_info("F32LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info1, NULL);
  guint64 n_windows = 0;
  Results r;
  guint k;

  push_signal(h, &info1, 0, 44100, 4410);
  gst_harness_set_src_caps(h, gst_audio_info_to_caps(&info2));
  r = run_signal(h, bus, &info2, GST_SECOND, 16400, 800);

  fail_unless_equals_int(r.windows->len, 6 + 14);
  for (k = 0; k < 6; k++)
    fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"), k * HOP_NS);
  for (k = 6; k < r.windows->len; k++)
    fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"),
                              GST_SECOND + (k - 6) * HOP_NS);
  fail_unless(gst_structure_get_uint64(r.summary, "windows", &n_windows));
  fail_unless_equals_uint64(n_windows, 20);
  fail_unless(labs((glong)field_time(r.summary, "duration") - (glong)(3050 * MS)) <= 5 * MS);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* GAP buffers count as silence: the same results as buffers of zeros, whatever their bytes. */
GST_START_TEST(test_gap_is_silence)
{
  const GstAudioInfo info = audio_info("S16LE", 16000, 1);
  Results res[2];
  guint pass;

  for (pass = 0; pass < 2; pass++) {
    GstBus *bus;
    GstHarness *h = harness_new_audio(&bus, &info, NULL);
    guint64 offset;
    for (offset = 0; offset < 32800; offset += 800) {
      GstBuffer *buf = gst_buffer_new_allocate(NULL, 800 * 2, NULL);
      gst_buffer_memset(buf, 0, pass == 0 ? 0x00 : 0x55, 800 * 2);
      if (pass == 1)
        GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_GAP);
      GST_BUFFER_PTS(buf) = offset * GST_SECOND / 16000;
      GST_BUFFER_DURATION(buf) = 50 * MS;
      fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
    }
    res[pass] = collect_at_eos(h, bus);
    fail_unless_equals_int(res[pass].windows->len, 14);
    harness_free(h, bus);
  }
  check_same_probabilities(&res[0], &res[1], 14, 1e-6, "GAP");
  results_clear(&res[0]);
  results_clear(&res[1]);
}
GST_END_TEST;

/* NaN and infinite samples never reach the probabilities. */
GST_START_TEST(test_nan_input)
{
  const GstAudioInfo info = audio_info("F32LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  Results r;
  guint64 offset;
  guint k, i;

  for (offset = 0; offset < 16400; offset += 400) {
    GstBuffer *buf = gst_buffer_new_allocate(NULL, 400 * sizeof(gfloat), NULL);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    for (i = 0; i < 400; i++) {
      guint64 n = offset + i;
      gfloat v = (gfloat)signal_at(n, 8000, 0);
      if (n % 7 == 0)
        v = NAN;
      else if (n % 50 == 1)
        v = INFINITY;
      else if (n % 50 == 2)
        v = -INFINITY;
      if (offset >= 8000 && offset < 10000) /* a stretch of nothing but NaN */
        v = NAN;
      ((gfloat *)map.data)[i] = v;
    }
    gst_buffer_unmap(buf, &map);
    GST_BUFFER_PTS(buf) = offset * GST_SECOND / 8000;
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  r = collect_at_eos(h, bus);
  fail_unless_equals_int(r.windows->len, 14);
  for (k = 0; k < r.windows->len; k++) {
    for (i = 0; i < TEST_MODEL_N_CLASSES; i++)
      fail_unless(isfinite(probability(g_ptr_array_index(r.windows, k), i)));
    check_fields(g_ptr_array_index(r.windows, k), -1.0);
  }
  check_fields(r.summary, -1.0);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* A missing, garbage or truncated model fails the state change with an error naming the file
 * and the problem. */
static void check_bad_model(const gchar *path, const gchar *problem)
{
  GstElement *el = gst_element_factory_make("instridentify", NULL);
  GstBus *bus = gst_bus_new();
  GstMessage *msg;
  GError *err = NULL;

  g_object_set(el, "model-location", path, NULL);
  gst_element_set_bus(el, bus);
  fail_unless_equals_int(gst_element_set_state(el, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  fail_unless(msg != NULL, "no error message for %s", path);
  gst_message_parse_error(msg, &err, NULL);
  fail_unless(strstr(err->message, path) != NULL, "'%s' does not name %s", err->message, path);
  /* The problem follows the file name, in libinstrid's words. */
  fail_unless(strlen(strstr(err->message, path) + strlen(path)) > 4, "'%s' says no problem",
              err->message);
  fail_unless(problem == NULL || strstr(err->message, problem) != NULL, "'%s' does not say '%s'",
              err->message, problem);
  g_error_free(err);
  gst_message_unref(msg);
  gst_element_set_state(el, GST_STATE_NULL);
  gst_bus_set_flushing(bus, TRUE);
  gst_object_unref(bus);
  gst_object_unref(el);
}

GST_START_TEST(test_bad_model)
{
  gchar *dir = g_dir_make_tmp("instrid-test-XXXXXX", NULL);
  gchar *missing = g_build_filename(dir, "missing.instrid", NULL);
  gchar *garbage = g_build_filename(dir, "garbage.instrid", NULL);
  gchar *truncated = g_build_filename(dir, "truncated.instrid", NULL);
  gchar *contents = NULL;
  gsize length = 0;

  fail_unless(
      g_file_set_contents(garbage, "this is not a model file at all, not even close", -1, NULL));
  fail_unless(g_file_get_contents(model_path, &contents, &length, NULL));
  fail_unless(g_file_set_contents(truncated, contents, (gssize)length / 2, NULL));

  check_bad_model(missing, "No such file");
  check_bad_model(garbage, "not an instrid model");
  check_bad_model(truncated, NULL);

  g_unlink(garbage);
  g_unlink(truncated);
  g_rmdir(dir);
  g_free(contents);
  g_free(missing);
  g_free(garbage);
  g_free(truncated);
  g_free(dir);
}
GST_END_TEST;

/* A FIFO as model-location is refused before anything waits on it: opening one for reading
 * would block until a writer came. Starting fails naming it; labels reads nothing. */
GST_START_TEST(test_fifo_model)
{
  gchar *dir = g_dir_make_tmp("instrid-test-XXXXXX", NULL);
  gchar *fifo = g_build_filename(dir, "model.fifo", NULL);
  GstElement *el = gst_element_factory_make("instridentify", NULL);
  gchar **labels = NULL;

  fail_unless(mkfifo(fifo, 0600) == 0);
  check_bad_model(fifo, "not a regular file");
  g_object_set(el, "model-location", fifo, NULL);
  g_object_get(el, "labels", &labels, NULL);
  fail_unless_equals_int(g_strv_length(labels), 0);
  g_strfreev(labels);
  gst_object_unref(el);
  g_unlink(fifo);
  g_rmdir(dir);
  g_free(fifo);
  g_free(dir);
}
GST_END_TEST;

/* model-location changed while running: the running model goes on (and labels still names
 * its classes); the new file is read at the next start, where a bad one fails it. */
GST_START_TEST(test_model_location_while_playing)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  gchar *dir = g_dir_make_tmp("instrid-test-XXXXXX", NULL);
  gchar *garbage = g_build_filename(dir, "garbage.instrid", NULL);
  gchar **labels = NULL;
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  Results r;

  fail_unless(g_file_set_contents(garbage, "not a model", -1, NULL));
  g_object_set(h->element, "model-location", garbage, NULL);
  g_object_get(h->element, "labels", &labels, NULL);
  fail_unless_equals_int(g_strv_length(labels), TEST_MODEL_N_CLASSES);
  fail_unless_equals_string(labels[0], test_model_names[0]);
  g_strfreev(labels);
  r = run_signal(h, bus, &info, 0, 16400, 1000);
  fail_unless_equals_int(r.windows->len, 14);
  fail_unless(r.summary != NULL);
  results_clear(&r);

  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_NULL),
                         GST_STATE_CHANGE_SUCCESS);
  g_object_get(h->element, "labels", &labels, NULL);
  fail_unless_equals_int(g_strv_length(labels), 0);
  g_strfreev(labels);
  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_PAUSED),
                         GST_STATE_CHANGE_FAILURE);
  harness_free(h, bus);
  g_unlink(garbage);
  g_rmdir(dir);
  g_free(garbage);
  g_free(dir);
}
GST_END_TEST;

/* Messages posted so far, without waiting. */
static guint count_windows(GstBus *bus)
{
  GstMessage *m;
  guint n = 0;
  while ((m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) != NULL) {
    n += gst_structure_has_name(gst_message_get_structure(m), "instridentify");
    gst_message_unref(m);
  }
  return n;
}

/* A result is ready as soon as its window's last sample has arrived: once the worker has
 * caught up (a DRAIN query waits for it), window k has been posted when the audio reaches its
 * end and not one sample before. Time plays no part: the query waits on the worker. */
GST_START_TEST(test_result_latency)
{
  const GstAudioInfo info = audio_info("F32LE", TEST_MODEL_RATE, 1);
  const guint64 hop = TEST_MODEL_HOP_FRAMES * TEST_MODEL_HOP_SAMPLES;
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  guint64 offset = 0, end;
  guint k;

  for (k = 0; k < 4; k++) {
    /* Up to one sample short of window k's end, then its last sample. */
    end = k * hop + WINDOW_SAMPLES;
    if (end - 1 > offset)
      fail_unless_equals_int(
          gst_harness_push(h, make_buffer(&info, offset, (guint)(end - 1 - offset), 0)),
          GST_FLOW_OK);
    fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
    fail_unless_equals_int(count_windows(bus), 0);
    fail_unless_equals_int(gst_harness_push(h, make_buffer(&info, end - 1, 1, 0)), GST_FLOW_OK);
    fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
    fail_unless_equals_int(count_windows(bus), 1);
    offset = end;
  }
  harness_free(h, bus);
}
GST_END_TEST;

/* Live: the element adds nothing to the latency upstream reports, and a live stream to its
 * end gives the windows its audio holds (the test waits for EOS, not for a time). */
GST_START_TEST(test_live)
{
  gchar *desc =
      g_strdup_printf("audiotestsrc name=src is-live=true num-buffers=100 samplesperbuffer=441 "
                      "wave=pink-noise ! audio/x-raw,rate=44100,channels=2 ! instridentify name=id "
                      "model-location=\"%s\" ! fakesink sync=true",
                      model_path);
  GstElement *pipeline = gst_parse_launch(desc, NULL);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *id = gst_bin_get_by_name(GST_BIN(pipeline), "id");
  GstBus *bus = gst_element_get_bus(pipeline);
  GstQuery *q_src = gst_query_new_latency(), *q_id = gst_query_new_latency();
  GstPad *src_pad = gst_element_get_static_pad(src, "src");
  GstPad *id_pad = gst_element_get_static_pad(id, "src");
  gboolean live_src, live_id;
  GstClockTime min_src, max_src, min_id, max_id;
  GstMessage *msg;
  guint n = 0;

  fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int(gst_element_get_state(pipeline, NULL, NULL, GST_CLOCK_TIME_NONE),
                         GST_STATE_CHANGE_SUCCESS);
  fail_unless(gst_pad_query(src_pad, q_src));
  fail_unless(gst_pad_query(id_pad, q_id));
  gst_query_parse_latency(q_src, &live_src, &min_src, &max_src);
  gst_query_parse_latency(q_id, &live_id, &min_id, &max_id);
  fail_unless(live_src && live_id);
  fail_unless_equals_uint64(min_id, min_src);
  fail_unless_equals_uint64(max_id, max_src);

  /* 1 s of audio: 8000 samples at the model's rate, 6 whole windows, no partial one. */
  while ((msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                           GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS |
                                               GST_MESSAGE_ERROR)) != NULL) {
    gboolean end = GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ELEMENT;
    fail_unless(GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR);
    n += !end && gst_structure_has_name(gst_message_get_structure(msg), "instridentify");
    gst_message_unref(msg);
    if (end)
      break;
  }
  fail_unless_equals_int(expected_windows(8000, TEST_MODEL_HOP_FRAMES), 6);
  fail_unless_equals_int(n, 6);
  gst_element_set_state(pipeline, GST_STATE_NULL);

  gst_query_unref(q_src);
  gst_query_unref(q_id);
  gst_object_unref(src_pad);
  gst_object_unref(id_pad);
  gst_object_unref(src);
  gst_object_unref(id);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  g_free(desc);
}
GST_END_TEST;

/* 100 NULL -> PLAYING -> NULL cycles (run under valgrind too, as its own meson test). */
GST_START_TEST(test_state_cycles)
{
  gchar *desc = g_strdup_printf(
      "audiotestsrc num-buffers=20 samplesperbuffer=1024 ! audio/x-raw,rate=32000 ! "
      "instridentify model-location=\"%s\" ! fakesink sync=false",
      model_path);
  GstElement *pipeline = gst_parse_launch(desc, NULL);
  GstBus *bus = gst_element_get_bus(pipeline);
  guint i, n_eos = 0;

  for (i = 0; i < 100; i++) {
    GstMessage *msg;
    fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    /* Every other cycle runs to EOS; the others stop mid-stream. */
    if (i % 2 == 0) {
      msg = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
      fail_unless(msg != NULL && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS, "cycle %u", i);
      gst_message_unref(msg);
      n_eos++;
    }
    fail_unless_equals_int(gst_element_set_state(pipeline, GST_STATE_NULL),
                           GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  fail_unless_equals_int(n_eos, 50);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  g_free(desc);
}
GST_END_TEST;

/* Properties: defaults, and labels read from the model before the element runs. */
GST_START_TEST(test_properties)
{
  GstElement *el = gst_element_factory_make("instridentify", NULL);
  gchar **labels = NULL;
  guint64 interval = 1;
  gdouble threshold = 0;
  gboolean post = FALSE, tags = FALSE;
  guint i;

  g_object_get(el, "interval", &interval, "threshold", &threshold, "post-messages", &post, "tags",
               &tags, NULL);
  fail_unless_equals_uint64(interval, 0);
  fail_unless_equals_float(threshold, -1.0);
  fail_unless(post && tags);
  g_object_set(el, "model-location", model_path, NULL);
  g_object_get(el, "labels", &labels, NULL);
  fail_unless_equals_int(g_strv_length(labels), TEST_MODEL_N_CLASSES);
  for (i = 0; i < TEST_MODEL_N_CLASSES; i++)
    fail_unless_equals_string(labels[i], test_model_names[i]);
  g_strfreev(labels);
  gst_object_unref(el);
}
GST_END_TEST;

/* post-messages=false posts nothing, not even the summary. */
GST_START_TEST(test_no_messages)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, "post-messages", FALSE, NULL);
  Results r = run_signal(h, bus, &info, 0, 16400, 800);

  fail_unless_equals_int(r.windows->len, 0);
  fail_unless(r.summary == NULL);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* post-embedding: off by default (no field). On, with the test model plus an EMBEDDING layer
 * before its last dense layer, every window's message carries the embedding (the dense layer's
 * input) and the same probabilities as the model without the marker; with the plain test model
 * (no EMBEDDING) the field is an empty array. */
GST_START_TEST(test_post_embedding)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  instrid_error err;
  instrid_model *m = instrid_model_load(model_path, &err);
  const instrid_model_desc *d;
  instrid_layer_desc layers[INSTRID_MAX_LAYERS];
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_model_desc e;
  guint32 i, n = 0, last_dense = 0, emb_size;
  gchar *emb_path = NULL;
  gint fd;
  gboolean on = TRUE;
  GstBus *bus;
  GstHarness *h;
  Results plain, with, empty;

  fail_unless(m != NULL, "%s", err.message);
  d = instrid_model_get_desc(m);
  for (i = 0; i < d->n_layers; i++)
    if (d->layers[i].type == INSTRID_LAYER_DENSE)
      last_dense = i;
  for (i = 0; i < d->n_layers; i++) {
    if (i == last_dense)
      layers[n++] = (instrid_layer_desc){.type = INSTRID_LAYER_EMBEDDING};
    layers[n++] = d->layers[i];
  }
  fail_unless(instrid_arch_shapes(d->layers, d->n_layers,
                                  (instrid_shape){1, d->frontend.n_mels, d->window_frames}, shapes,
                                  &err) == INSTRID_OK);
  emb_size = shapes[last_dense - 1].c * shapes[last_dense - 1].h * shapes[last_dense - 1].w;
  e = *d;
  e.layers = layers;
  e.n_layers = n;
  fd = g_file_open_tmp("instrid-emb-XXXXXX.instrid", &emb_path, NULL);
  fail_unless(fd >= 0);
  g_close(fd, NULL);
  fail_unless(instrid_model_write(&e, emb_path, &err) == INSTRID_OK, "%s", err.message);

  h = harness_new_audio(&bus, &info, NULL);
  g_object_get(gst_harness_find_element(h, "instridentify"), "post-embedding", &on, NULL);
  fail_unless(!on, "post-embedding is on by default");
  plain = run_signal(h, bus, &info, 0, 16400, 800);
  harness_free(h, bus);
  fail_unless(plain.windows->len > 0);
  for (i = 0; i < plain.windows->len; i++)
    fail_if(gst_structure_has_field(g_ptr_array_index(plain.windows, i), "embedding"));

  h = harness_new_audio(&bus, &info, "model-location", emb_path, "post-embedding", TRUE, NULL);
  with = run_signal(h, bus, &info, 0, 16400, 800);
  harness_free(h, bus);
  fail_unless_equals_int(with.windows->len, plain.windows->len);
  check_same_probabilities(&plain, &with, plain.windows->len, 1e-12, "EMBEDDING is the identity");
  for (i = 0; i < with.windows->len; i++) {
    const GstStructure *st = g_ptr_array_index(with.windows, i);
    const GValue *a = gst_structure_get_value(st, "embedding");
    gdouble sum = 0.0;
    guint k;
    fail_unless_equals_int(array_size(st, "embedding"), emb_size);
    for (k = 0; k < emb_size; k++) {
      gdouble v = g_value_get_double(gst_value_array_get_value(a, k));
      fail_unless(isfinite(v));
      sum += fabs(v);
    }
    fail_unless(sum > 0.0, "window %u: an all-zero embedding", i);
  }
  fail_if(gst_structure_has_field(with.summary, "embedding"));

  h = harness_new_audio(&bus, &info, "post-embedding", TRUE, NULL);
  empty = run_signal(h, bus, &info, 0, 16400, 800);
  harness_free(h, bus);
  fail_unless(empty.windows->len > 0);
  fail_unless_equals_int(array_size(g_ptr_array_index(empty.windows, 0), "embedding"), 0);

  results_clear(&plain);
  results_clear(&with);
  results_clear(&empty);
  instrid_model_free(m);
  g_unlink(emb_path);
  g_free(emb_path);
}
GST_END_TEST;

/* ------------------------------------------------------------------------------------------ */
/* Damaged input, gaps, reverse playback                                                        */

/* Whether one of r's warnings contains text. */
static gboolean has_warning(const Results *r, const gchar *text)
{
  guint i;
  for (i = 0; i < r->warnings->len; i++)
    if (strstr(g_ptr_array_index(r->warnings, i), text) != NULL)
      return TRUE;
  return FALSE;
}

static guint64 field_u64(const GstStructure *s, const gchar *name)
{
  guint64 v = G_MAXUINT64;
  fail_unless(gst_structure_get_uint64(s, name, &v), "field %s missing", name);
  return v;
}

/* 16400 samples at 8 kHz in buffers of 800; the buffer at sample 8000 is marked DISCONT and is
 * `shift` frames later than where the one before ended (or, with drop, replaced by nothing). */
static Results run_discont(GstBus *bus, GstHarness *h, const GstAudioInfo *info,
                           gint64 shift_frames)
{
  guint64 offset;
  for (offset = 0; offset < 16400; offset += 800) {
    guint n = (guint)MIN(800, 16400 - offset);
    GstBuffer *buf;
    if (shift_frames > 0 && offset >= 8000 && offset < 8000 + (guint64)shift_frames)
      continue; /* lost */
    buf = make_buffer(info, offset, n, 0);
    if (offset == 0 || offset == 8000 + (guint64)MAX(shift_frames, 0))
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  return collect_at_eos(h, bus);
}

/* A DISCONT flag without a jump in time (a damaged frame a decoder dropped without losing its
 * place) changes nothing: the same 14 windows and probabilities as the clean stream. It is
 * counted and reported. */
GST_START_TEST(test_discont_without_jump)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus, *bus2;
  GstHarness *h = harness_new_audio(&bus, &info, NULL), *h2;
  Results clean = run_signal(h, bus, &info, 0, 16400, 800), r;

  h2 = harness_new_audio(&bus2, &info, NULL);
  r = run_discont(bus2, h2, &info, 0);
  fail_unless_equals_int(r.windows->len, 14);
  check_same_probabilities(&clean, &r, 14, 1e-6, "DISCONT without a jump");
  fail_unless_equals_uint64(field_u64(r.summary, "discontinuities"), 1);
  fail_unless_equals_uint64(field_u64(r.summary, "restarts"), 0);
  fail_unless_equals_uint64(field_u64(r.summary, "missing"), 0);
  fail_unless_equals_uint64(field_u64(clean.summary, "discontinuities"), 0);
  fail_unless(has_warning(&r, "no gap in time"));
  fail_unless_equals_int(clean.warnings->len, 0);
  results_clear(&clean);
  results_clear(&r);
  harness_free(h, bus);
  harness_free(h2, bus2);
}
GST_END_TEST;

/* 100 ms lost before a DISCONT buffer: analysed as silence, so the windows stay on their grid
 * (14 of them, 128 ms apart); the summary says what was missing. */
GST_START_TEST(test_discont_small_gap)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  Results r = run_discont(bus, h, &info, 800);
  guint k;

  fail_unless_equals_int(r.windows->len, 14);
  for (k = 0; k < r.windows->len; k++)
    fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"), k * HOP_NS);
  fail_unless_equals_uint64(field_u64(r.summary, "discontinuities"), 1);
  fail_unless_equals_uint64(field_u64(r.summary, "restarts"), 0);
  fail_unless_equals_uint64(field_u64(r.summary, "missing"), 100 * MS);
  fail_unless_equals_uint64(field_time(r.summary, "duration"), 2050 * MS);
  fail_unless(has_warning(&r, "analysed as silence"));
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* A jump of 9 s is a new window sequence: 6 windows of the first second, 7 from 10 s on. */
GST_START_TEST(test_discont_jump)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  GstBuffer *buf;
  guint64 offset;
  Results r;
  guint k;

  push_signal(h, &info, 0, 8000, 800);
  for (offset = 0; offset < 8400; offset += 800) {
    buf = make_buffer(&info, offset, (guint)MIN(800, 8400 - offset), 10 * GST_SECOND);
    if (offset == 0)
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  r = collect_at_eos(h, bus);
  fail_unless_equals_int(r.windows->len, 6 + 7);
  for (k = 6; k < r.windows->len; k++)
    fail_unless_equals_uint64(field_time(g_ptr_array_index(r.windows, k), "timestamp"),
                              10 * GST_SECOND + (k - 6) * HOP_NS);
  fail_unless_equals_uint64(field_u64(r.summary, "restarts"), 1);
  fail_unless_equals_uint64(field_u64(r.summary, "windows"), 13);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean blocked, release;
} WorkerGate;

/* Holds the worker thread (which posts the window messages) at its first message. */
static GstBusSyncReply gate_sync_handler(GstBus *bus, GstMessage *msg, gpointer data)
{
  WorkerGate *g = data;
  (void)bus;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT) {
    g_mutex_lock(&g->lock);
    g->blocked = TRUE;
    g_cond_broadcast(&g->cond);
    while (!g->release)
      g_cond_wait(&g->cond, &g->lock);
    g_mutex_unlock(&g->lock);
  }
  return GST_BUS_PASS;
}

/* A GAP event of a minute returns while the worker thread is held: its silence is analysed by
 * the worker, not by the streaming thread (which would wait on the held worker for ever). */
GST_START_TEST(test_gap_event_on_worker)
{
  const GstAudioInfo info = audio_info("F32LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  WorkerGate gate = {0};
  Results r;

  g_mutex_init(&gate.lock);
  g_cond_init(&gate.cond);
  gst_bus_set_sync_handler(bus, gate_sync_handler, &gate, NULL);
  push_signal(h, &info, 0, 8000, 800);
  g_mutex_lock(&gate.lock);
  while (!gate.blocked)
    g_cond_wait(&gate.cond, &gate.lock);
  g_mutex_unlock(&gate.lock);

  fail_unless(gst_harness_push_event(h, gst_event_new_gap(GST_SECOND, 60 * GST_SECOND)));

  g_mutex_lock(&gate.lock);
  gate.release = TRUE;
  g_cond_broadcast(&gate.cond);
  g_mutex_unlock(&gate.lock);
  gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
  r = collect_at_eos(h, bus);
  fail_unless_equals_int(r.windows->len, expected_windows(61 * 8000, TEST_MODEL_HOP_FRAMES));
  fail_unless_equals_uint64(field_time(r.summary, "duration"), 61 * GST_SECOND);
  results_clear(&r);
  harness_free(h, bus);
  g_mutex_clear(&gate.lock);
  g_cond_clear(&gate.cond);
}
GST_END_TEST;

/* Reverse playback is refused with a warning, not analysed backwards; a forward segment after
 * it is analysed again. */
GST_START_TEST(test_reverse_refused)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  GstSegment seg;
  GstMessage *msg;
  GError *err = NULL;
  Results r;

  gst_segment_init(&seg, GST_FORMAT_TIME);
  seg.rate = -1.0;
  seg.stop = 3 * GST_SECOND;
  gst_harness_push_event(h, gst_event_new_segment(&seg));
  push_signal(h, &info, 0, 16400, 800);
  msg = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  fail_unless(msg != NULL, "no warning");
  gst_message_parse_warning(msg, &err, NULL);
  fail_unless(strstr(err->message, "Reverse playback is not analysed") != NULL, "%s", err->message);
  g_error_free(err);
  gst_message_unref(msg);
  fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
  fail_unless_equals_int(count_windows(bus), 0);

  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_harness_push_event(h, gst_event_new_segment(&seg));
  r = run_signal(h, bus, &info, 0, 16400, 800);
  fail_unless_equals_int(r.windows->len, 14);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* ------------------------------------------------------------------------------------------ */
/* Thresholds, control bindings, the tag policy                                                 */

static gboolean has_instrument(const GstStructure *s, const gchar *name)
{
  guint i, n = array_size(s, "instruments");
  for (i = 0; i < n; i++)
    if (strcmp(array_string(s, "instruments", i), name) == 0)
      return TRUE;
  return FALSE;
}

/* Per-class thresholds win over the common one; a bad text is a warning naming the problem and
 * is ignored as a whole. */
GST_START_TEST(test_per_class_thresholds)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h =
      harness_new_audio(&bus, &info, "threshold", 0.5, "thresholds", "violin=0, piano = 1", NULL);
  Results r = run_signal(h, bus, &info, 0, 16400, 800);
  guint k, i;

  fail_unless_equals_int(r.windows->len, 14);
  for (k = 0; k < r.windows->len; k++) {
    const GstStructure *s = g_ptr_array_index(r.windows, k);
    fail_unless(has_instrument(s, "violin"));
    fail_unless(!has_instrument(s, "piano") || probability(s, 1) >= 1.0);
    for (i = 2; i < TEST_MODEL_N_CLASSES; i++)
      fail_unless_equals_int(has_instrument(s, test_model_names[i]), probability(s, i) >= 0.5);
  }
  results_clear(&r);
  harness_free(h, bus);

  h = harness_new_audio(&bus, &info, "threshold", 0.5, "thresholds", "violin=0,cello=0.2", NULL);
  push_signal(h, &info, 0, 16400, 800);
  fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
  r = collect_at_eos(h, bus);
  fail_unless(has_warning(&r, "no class 'cello'"));
  for (k = 0; k < r.windows->len; k++)
    check_fields(g_ptr_array_index(r.windows, k), 0.5);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* A control binding drives threshold: 0 before 3 s (every class detected), 1.0 from 3 s (none).
 * The worker is at most its queue (8192 samples, 1.024 s) behind the streaming thread, which
 * syncs the value at each 100-ms buffer, so windows ending by 1.5 s saw 0 and windows from 3 s
 * on saw 1. */
GST_START_TEST(test_control_binding)
{
  const GstAudioInfo info = audio_info("S16LE", 8000, 1);
  GstBus *bus;
  GstHarness *h = harness_new_audio(&bus, &info, NULL);
  GstControlSource *cs = gst_interpolation_control_source_new();
  Results r;
  guint k, early = 0, late = 0;

  g_object_set(cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set(GST_TIMED_VALUE_CONTROL_SOURCE(cs), 0, 0.0);
  gst_timed_value_control_source_set(GST_TIMED_VALUE_CONTROL_SOURCE(cs), 3 * GST_SECOND, 1.0);
  fail_unless(gst_object_add_control_binding(
      GST_OBJECT(h->element),
      gst_direct_control_binding_new_absolute(GST_OBJECT(h->element), "threshold", cs)));
  r = run_signal(h, bus, &info, 0, 40000, 800);
  for (k = 0; k < r.windows->len; k++) {
    const GstStructure *s = g_ptr_array_index(r.windows, k);
    GstClockTime t = field_time(s, "timestamp");
    if (t + field_time(s, "duration") <= 1500 * MS) {
      fail_unless_equals_int(array_size(s, "instruments"), TEST_MODEL_N_CLASSES);
      early++;
    } else if (t >= 3 * GST_SECOND) {
      fail_unless_equals_int(array_size(s, "instruments"), 0);
      late++;
    }
  }
  fail_unless(early >= 1 && late >= 5, "%u early, %u late windows", early, late);
  gst_object_unref(cs);
  results_clear(&r);
  harness_free(h, bus);
}
GST_END_TEST;

/* The first stream tags name an instrument only once it has been detected for tag-dwell
 * without a break: with every class detected in every window and a dwell of 5 windows, the
 * 4th window makes no tags and the 5th makes them. */
GST_START_TEST(test_tag_dwell)
{
  const GstAudioInfo info = audio_info("F32LE", TEST_MODEL_RATE, 1);
  const guint64 hop = TEST_MODEL_HOP_FRAMES * TEST_MODEL_HOP_SAMPLES;
  GstBus *bus;
  GstHarness *h =
      harness_new_audio(&bus, &info, "threshold", 0.0, "tag-dwell", (guint64)(5 * HOP_NS), NULL);
  GstTagList *tl;
  guint n_events;

  /* Windows 0..3, then one more sample so that pending tags would go out. */
  push_signal(h, &info, 0, 3 * hop + WINDOW_SAMPLES, 64);
  fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
  gst_harness_push(h, make_buffer(&info, 3 * hop + WINDOW_SAMPLES, 1, 0));
  tl = last_tags(h, &n_events);
  fail_unless_equals_int(n_events, 0);
  fail_unless(tl == NULL);
  /* Window 4. */
  gst_harness_push(h, make_buffer(&info, 3 * hop + WINDOW_SAMPLES + 1, (guint)hop - 1, 0));
  fail_unless(gst_pad_peer_query(h->srcpad, gst_query_new_drain()));
  gst_harness_push(h, make_buffer(&info, 4 * hop + WINDOW_SAMPLES, 1, 0));
  tl = last_tags(h, &n_events);
  fail_unless_equals_int(n_events, 1);
  fail_unless_equals_int(gst_tag_list_get_tag_size(tl, "instrid-instruments"),
                         TEST_MODEL_N_CLASSES);
  gst_tag_list_unref(tl);
  harness_free(h, bus);
}
GST_END_TEST;

/* Audio whose character changes every 320 ms: a 440 Hz tone, then hashed noise. */
static GstBuffer *make_alternating(const GstAudioInfo *info, guint64 offset, guint frames)
{
  GstBuffer *buf = gst_buffer_new_allocate(NULL, (gsize)frames * sizeof(gfloat), NULL);
  GstMapInfo map;
  guint i;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (i = 0; i < frames; i++) {
    guint64 n = offset + i;
    guint32 hash = (guint32)(n * 2654435761u);
    ((gfloat *)map.data)[i] = (n / 2560) % 2
                                  ? (gfloat)(((hash >> 8) & 0xffff) / 65536.0 - 0.5)
                                  : (gfloat)(0.5 * sin(2 * G_PI * 440.0 * n / TEST_MODEL_RATE));
  }
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = gst_util_uint64_scale_int(offset, GST_SECOND, GST_AUDIO_INFO_RATE(info));
  return buf;
}

static int compare_doubles(const void *a, const void *b)
{
  gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
  return x < y ? -1 : x > y;
}

/* Stream tags describe the stream: where the per-window set of a class flips back and forth,
 * the tags change once when it settles and once at the end, not at every flip. */
GST_START_TEST(test_tags_settled)
{
  const GstAudioInfo info = audio_info("F32LE", TEST_MODEL_RATE, 1);
  GArray *p0 = g_array_new(FALSE, FALSE, sizeof(gdouble));
  gchar *per_class;
  gdouble median = 0.5;
  guint k, i, changes = 0, n_events = 0, n_distinct = 0, pass;
  GstBus *bus;
  GstHarness *h;
  Results r;
  GstEvent *ev;

  for (pass = 0; pass < 2; pass++) {
    guint64 offset;
    if (pass == 0) {
      h = harness_new_audio(&bus, &info, NULL);
    } else {
      /* Only violin counts, at its median probability: it flips as the audio alternates. */
      per_class = g_strdup_printf("violin=%.6f", median);
      h = harness_new_audio(&bus, &info, "threshold", 1.0, "thresholds", per_class, "tag-dwell",
                            (guint64)(2 * HOP_NS), NULL);
      g_free(per_class);
    }
    for (offset = 0; offset < 10 * TEST_MODEL_RATE; offset += 800)
      fail_unless_equals_int(gst_harness_push(h, make_alternating(&info, offset, 800)),
                             GST_FLOW_OK);
    r = collect_at_eos(h, bus);
    fail_unless(r.windows->len >= 70);
    if (pass == 0) {
      gdouble *sorted;
      for (k = 0; k < r.windows->len; k++) {
        gdouble p = probability(g_ptr_array_index(r.windows, k), 0);
        g_array_append_val(p0, p);
      }
      sorted = g_memdup2(p0->data, p0->len * sizeof(gdouble));
      qsort(sorted, p0->len, sizeof(gdouble), compare_doubles);
      median = sorted[p0->len / 2];
      g_free(sorted);
    } else {
      for (k = 1; k < r.windows->len; k++)
        changes += has_instrument(g_ptr_array_index(r.windows, k), "violin") !=
                   has_instrument(g_ptr_array_index(r.windows, k - 1), "violin");
      for (i = 0; i < TEST_MODEL_N_CLASSES; i++)
        for (k = 0; k < r.windows->len; k++)
          if (has_instrument(g_ptr_array_index(r.windows, k), test_model_names[i])) {
            n_distinct++;
            break;
          }
      while ((ev = gst_harness_try_pull_event(h)) != NULL) {
        n_events += GST_EVENT_TYPE(ev) == GST_EVENT_TAG;
        gst_event_unref(ev);
      }
    }
    results_clear(&r);
    harness_free(h, bus);
  }
  /* The per-window set changed at least 10 times; the tags once per instrument that ever
   * played (as it settled) and once at the end, at most. (A class other than violin counts
   * only where its probability reaches 1.) */
  fail_unless(changes >= 10, "the test audio flipped violin only %u times", changes);
  fail_unless(n_events >= 1 && n_events <= n_distinct + 1,
              "%u tag events for %u instruments and %u changes", n_events, n_distinct, changes);
  g_array_unref(p0);
}
GST_END_TEST;

static Suite *instridentify_suite(void)
{
  Suite *s = suite_create("instridentify");
  TCase *tc = tcase_create("general");

  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_properties);
  tcase_add_test(tc, test_timestamps_formats);
  tcase_add_test(tc, test_buffer_size_independence);
  tcase_add_test(tc, test_non_interleaved);
  tcase_add_test(tc, test_fields_threshold);
  tcase_add_test(tc, test_summary);
  tcase_add_test(tc, test_empty_stream);
  tcase_add_test(tc, test_short_stream);
  tcase_add_test(tc, test_interval);
  tcase_add_test(tc, test_interval_change_playing);
  tcase_add_test(tc, test_interval_extremes);
  tcase_add_test(tc, test_non_interleaved_without_meta);
  tcase_add_test(tc, test_tags_merged);
  tcase_add_test(tc, test_tags_upstream_later_and_off);
  tcase_add_test(tc, test_flush_seek);
  tcase_add_test(tc, test_caps_renegotiation);
  tcase_add_test(tc, test_gap_is_silence);
  tcase_add_test(tc, test_nan_input);
  tcase_add_test(tc, test_bad_model);
  tcase_add_test(tc, test_fifo_model);
  tcase_add_test(tc, test_model_location_while_playing);
  tcase_add_test(tc, test_no_messages);
  tcase_add_test(tc, test_post_embedding);
  tcase_add_test(tc, test_result_latency);
  tcase_add_test(tc, test_live);
  tcase_add_test(tc, test_state_cycles);
  tcase_add_test(tc, test_discont_without_jump);
  tcase_add_test(tc, test_discont_small_gap);
  tcase_add_test(tc, test_discont_jump);
  tcase_add_test(tc, test_gap_event_on_worker);
  tcase_add_test(tc, test_reverse_refused);
  tcase_add_test(tc, test_per_class_thresholds);
  tcase_add_test(tc, test_control_binding);
  tcase_add_test(tc, test_tag_dwell);
  tcase_add_test(tc, test_tags_settled);
  return s;
}

int main(int argc, char **argv)
{
  instrid_error err;
  int fd, failed;

  gst_check_init(&argc, &argv);
  fd = g_file_open_tmp("instrid-test-XXXXXX.instrid", &model_path, NULL);
  if (fd < 0) {
    g_printerr("cannot make a temporary file\n");
    return 1;
  }
  g_close(fd, NULL);
  if (test_model_write(model_path, 1, &err) != INSTRID_OK) {
    g_printerr("cannot write the test model %s: %s\n", model_path, err.message);
    return 1;
  }
  failed = gst_check_run_suite(instridentify_suite(), "instridentify", __FILE__);
  g_unlink(model_path);
  g_free(model_path);
  return failed;
}
