/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_gapless.c — gapless playback as music players do it: playbin with instridentify as its
 * audio filter and the next track set from `about-to-finish`, over three generated tracks. Each
 * track gets its own summary with its own window count, and the element's tags downstream
 * belong to the track they follow: after each STREAM_START, the next tags of ours are that
 * track's final ones (none of the last track's carried over).
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "check.h"
#include "fixtures.h"
#include "testmodel.h"

#define N_TRACKS 3

static gchar *uris[N_TRACKS];
static guint next_track = 1;
static GString *events; /* 'S' per STREAM_START, 'T' per tag event holding our tags */
static GMutex events_lock;

static void on_about_to_finish(GstElement *playbin, gpointer data)
{
  (void)data;
  if (next_track < N_TRACKS)
    g_object_set(playbin, "uri", uris[next_track++], NULL);
}

static GstPadProbeReturn on_sink_event(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  (void)pad;
  (void)data;
  g_mutex_lock(&events_lock);
  if (GST_EVENT_TYPE(ev) == GST_EVENT_STREAM_START) {
    g_string_append_c(events, 'S');
  } else if (GST_EVENT_TYPE(ev) == GST_EVENT_TAG) {
    GstTagList *tl;
    gst_event_parse_tag(ev, &tl);
    if (gst_tag_list_get_tag_size(tl, GST_TAG_EXTENDED_COMMENT) > 0) {
      const gchar *c;
      guint i, n = gst_tag_list_get_tag_size(tl, GST_TAG_EXTENDED_COMMENT);
      for (i = 0; i < n; i++)
        if (gst_tag_list_peek_string_index(tl, GST_TAG_EXTENDED_COMMENT, i, &c) &&
            g_str_has_prefix(c, "INSTRUMENTS=")) {
          g_string_append_c(events, 'T');
          break;
        }
    }
  }
  g_mutex_unlock(&events_lock);
  return GST_PAD_PROBE_OK;
}

/* Windows of n samples at the test model's rate: full ones, and a last one with half a window
 * of audio no earlier window covered (any audio when there is no full one). */
static guint expected_windows(guint64 n)
{
  const guint64 W = TEST_MODEL_WINDOW_FRAMES, H = TEST_MODEL_HOP_FRAMES;
  guint64 frames = (n - TEST_MODEL_N_FFT) / TEST_MODEL_HOP_SAMPLES + 1;
  guint64 full = frames >= W ? (frames - W) / H + 1 : 0;
  guint64 rest = frames - full * H;
  if (full == 0)
    return frames > 0 ? 1 : 0;
  return (guint)(full + (rest >= (W + 1) / 2 + W - H && rest <= W ? 1 : 0));
}

int main(int argc, char **argv)
{
  const guint seconds_x10[N_TRACKS] = {15, 20, 25};
  gchar *dir, *model, *paths[N_TRACKS], *desc;
  guint64 windows[N_TRACKS];
  guint n_summaries = 0, t;
  instrid_error err;
  GstElement *playbin, *filter, *sink;
  GstPad *pad;
  GstBus *bus;
  GstMessage *msg;
  gboolean done = FALSE;

  gst_init(&argc, &argv);
  events = g_string_new(NULL);
  g_mutex_init(&events_lock);
  dir = g_dir_make_tmp("instrid-gapless-XXXXXX", NULL);
  model = g_build_filename(dir, "tiny.instrid", NULL);
  CHECK(test_model_write(model, 1, &err) == INSTRID_OK, "model: %s", err.message);
  for (t = 0; t < N_TRACKS; t++) {
    gsize n = seconds_x10[t] * TEST_MODEL_RATE / 10, i;
    gint16 *x = g_new(gint16, n);
    for (i = 0; i < n; i++)
      x[i] = (gint16)(8000 * sin(2 * G_PI * (300.0 + 500.0 * t) * i / TEST_MODEL_RATE));
    paths[t] = g_strdup_printf("%s/track%u.wav", dir, t);
    CHECK(fixture_write_wav_pcm16(paths[t], TEST_MODEL_RATE, x, n) == 0, "cannot write %s",
          paths[t]);
    uris[t] = gst_filename_to_uri(paths[t], NULL);
    g_free(x);
  }

  playbin = gst_element_factory_make("playbin", NULL);
  desc = g_strdup_printf("instridentify model-location=\"%s\" tag-dwell=%" G_GUINT64_FORMAT, model,
                         G_MAXUINT64);
  filter = gst_parse_bin_from_description(desc, TRUE, NULL);
  sink = gst_element_factory_make("fakesink", NULL);
  CHECK(playbin != NULL && filter != NULL && sink != NULL, "playbin, instridentify or fakesink");
  if (playbin == NULL || filter == NULL || sink == NULL)
    return check_exit();
  g_object_set(sink, "sync", FALSE, NULL);
  pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_sink_event, NULL, NULL);
  gst_object_unref(pad);
  g_object_set(playbin, "uri", uris[0], "audio-filter", filter, "audio-sink", sink, NULL);
  g_signal_connect(playbin, "about-to-finish", G_CALLBACK(on_about_to_finish), NULL);

  bus = gst_element_get_bus(playbin);
  CHECK(gst_element_set_state(playbin, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE, "play");
  while (!done && (msg = gst_bus_timed_pop(bus, GST_CLOCK_TIME_NONE)) != NULL) {
    const GstStructure *s = gst_message_get_structure(msg);
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error(msg, &e, NULL);
      CHECK(0, "error: %s", e->message);
      g_error_free(e);
      done = TRUE;
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
      done = TRUE;
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT &&
               gst_structure_has_name(s, "instridentify-summary")) {
      if (n_summaries < N_TRACKS)
        gst_structure_get_uint64(s, "windows", &windows[n_summaries]);
      n_summaries++;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(playbin, GST_STATE_NULL);

  CHECK(next_track == N_TRACKS, "about-to-finish came %u times", next_track - 1);
  CHECK(n_summaries == N_TRACKS, "%u summaries for %u tracks", n_summaries, N_TRACKS);
  for (t = 0; t < N_TRACKS && t < n_summaries; t++)
    CHECK(windows[t] == expected_windows(seconds_x10[t] * TEST_MODEL_RATE / 10),
          "track %u: %llu windows, expected %u", t, (unsigned long long)windows[t],
          expected_windows(seconds_x10[t] * TEST_MODEL_RATE / 10));
  CHECK(strcmp(events->str, "STSTST") == 0, "events downstream: %s (want STSTST)", events->str);

  gst_object_unref(bus);
  gst_object_unref(playbin);
  for (t = 0; t < N_TRACKS; t++) {
    g_unlink(paths[t]);
    g_free(paths[t]);
    g_free(uris[t]);
  }
  g_unlink(model);
  g_rmdir(dir);
  g_free(model);
  g_free(dir);
  g_free(desc);
  g_string_free(events, TRUE);
  return check_exit();
}
