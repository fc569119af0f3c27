/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_audiopath.c — one audio path for training and serving: the same file decoded by the
 * trainer's decoder and feature cache (trainer/decode.c, featcache.c, normalised as the dataset
 * does) and analysed by the element gives bit-identical log-mel frames, on both routes: at the
 * input's own rate when its Nyquist frequency reaches the model's fmax (44.1 and 48 kHz here:
 * no resampler, the at-input-rate front end) and resampled otherwise (8 kHz); NaN and Inf are
 * sanitised before anything mixes or resamples them (NaN is exactly 0, Inf exactly full scale,
 * whatever the rate).
 *
 * The element's log-mel frames are made visible with an "identity" model: one dense layer whose
 * weights are the identity, so each window's 256 "probabilities" are its 16 x 16 features
 * (normalised into (0, 1) by the model's feature mean and std, so nothing is clamped).
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "check.h"
#include "audiopath.h"
#include "featcache.h"

#define RATE 16000
#define N_MELS 16
#define W 16
#define H 8
#define N_OUT (N_MELS * W)

static gchar *dir;

static instrid_status write_identity_model(const char *path, instrid_error *err)
{
  static char names[N_OUT][8];
  static const char *name_ptrs[N_OUT];
  static float thresholds[N_OUT];
  static float params[N_OUT * N_OUT + N_OUT];
  instrid_layer_desc dense = {.type = INSTRID_LAYER_DENSE, .p = {N_OUT}};
  instrid_model_desc d = {
      .frontend = {.sample_rate = RATE,
                   .n_fft = 256,
                   .win_length = 256,
                   .hop_samples = 160, /* 10 ms: 441 samples at 44.1 kHz, 480 at 48 kHz */
                   .n_mels = N_MELS,
                   .window = INSTRID_WINDOW_HANN,
                   .mel_scale = INSTRID_MEL_SLANEY,
                   .mel_norm = INSTRID_MELNORM_SLANEY,
                   .fmin_hz = 30.0f,
                   .fmax_hz = RATE / 2.0f, /* 8 kHz: inputs from 16 kHz up are not resampled */
                   .power = 2.0f,
                   .log_floor = 1e-10f,
                   /* log-mel values lie in about [-23, 9]: these map them into (0, 1) */
                   .feature_mean = -24.0f,
                   .feature_std = 34.0f},
      .window_frames = W,
      .hop_frames = H,
      .n_classes = N_OUT,
      .class_names = name_ptrs,
      .thresholds = thresholds,
      .provenance = "tests/gst: identity model",
      .n_layers = 1,
      .layers = &dense,
      .params = params,
      .n_params = G_N_ELEMENTS(params)};
  for (int i = 0; i < N_OUT; i++) {
    g_snprintf(names[i], sizeof names[i], "f%d", i);
    name_ptrs[i] = names[i];
    thresholds[i] = 0.5f;
    params[i * N_OUT + i] = 1.0f;
  }
  return instrid_model_write(&d, path, err);
}

/* A little-endian IEEE-float WAV of n frames of ch channels (44-byte header). */
static void write_float_wav(const char *path, guint32 rate, guint16 ch, const float *x, gsize n)
{
  guint32 data = (guint32)(n * ch * 4);
  guint8 h[44];
  FILE *f = fopen(path, "wb");
  memcpy(h, "RIFF", 4);
  GST_WRITE_UINT32_LE(h + 4, 36 + data);
  memcpy(h + 8, "WAVEfmt ", 8);
  GST_WRITE_UINT32_LE(h + 16, 16);
  GST_WRITE_UINT16_LE(h + 20, 3); /* WAVE_FORMAT_IEEE_FLOAT */
  GST_WRITE_UINT16_LE(h + 22, ch);
  GST_WRITE_UINT32_LE(h + 24, rate);
  GST_WRITE_UINT32_LE(h + 28, rate * ch * 4);
  GST_WRITE_UINT16_LE(h + 32, ch * 4);
  GST_WRITE_UINT16_LE(h + 34, 32);
  memcpy(h + 36, "data", 4);
  GST_WRITE_UINT32_LE(h + 40, data);
  CHECK(f != NULL && fwrite(h, 1, 44, f) == 44 && fwrite(x, 4, n * ch, f) == n * ch,
        "cannot write %s", path);
  if (f != NULL)
    fclose(f);
}

/* Stereo test audio: two tones and hashed noise; bad != 0 puts NaN every 997th and +-Inf every
 * 1499th sample (as `replacement` when bad == 2: 0 for NaN, +-1 for Inf). */
static float *make_audio(guint32 rate, gsize n, int bad)
{
  float *x = g_new(float, n * 2);
  for (gsize i = 0; i < n; i++)
    for (int c = 0; c < 2; c++) {
      double t = (double)i / rate;
      guint32 hash = (guint32)(i * 2654435761u) ^ (guint32)(c * 40503u);
      float v =
          (float)(0.3 * sin(2 * G_PI * (440.0 + 200 * c) * t) + 0.2 * sin(2 * G_PI * 3100.0 * t) +
                  0.1 * (((hash >> 8) & 0xffff) / 65536.0 - 0.5));
      if (bad && (i + c) % 997 == 0)
        v = bad == 1 ? NAN : 0.0f;
      else if (bad && (i + 3 * c) % 1499 == 0)
        v = bad == 1 ? (c ? -INFINITY : INFINITY) : (c ? -1.0f : 1.0f);
      x[i * 2 + c] = v;
    }
  return x;
}

/* 2.5 s of make_audio(rate, ..., bad) as a stereo float WAV at path. */
static void write_audio(const char *path, guint32 rate, int bad)
{
  gsize n = rate * 5 / 2;
  float *x = make_audio(rate, n, bad);
  write_float_wav(path, rate, 2, x, n);
  g_free(x);
}

typedef struct {
  GArray *windows; /* N_OUT floats per window, in order */
} Windows;

/* The element's window outputs for path: filesrc ! decodebin ! instridentify ! fakesink; whole
 * windows only, which last window_ns. */
static Windows element_windows(const char *path, const char *model, guint64 window_ns)
{
  gchar *desc = g_strdup_printf("filesrc location=\"%s\" ! decodebin ! instridentify "
                                "model-location=\"%s\" tags=false ! fakesink",
                                path, model);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &error);
  Windows w = {g_array_new(FALSE, FALSE, sizeof(float))};
  GstBus *bus;
  GstMessage *m;

  CHECK(pipeline != NULL, "%s: %s", desc, error ? error->message : "?");
  g_free(desc);
  if (pipeline == NULL)
    return w;
  bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  while ((m = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                         GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS |
                                             GST_MESSAGE_ERROR)) != NULL) {
    const GstStructure *s = gst_message_get_structure(m);
    gboolean end = GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT;
    CHECK(GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR, "error from the pipeline on %s", path);
    if (!end && gst_structure_has_name(s, "instridentify")) {
      const GValue *a = gst_structure_get_value(s, "probabilities");
      guint64 duration = 0;
      gst_structure_get_uint64(s, "duration", &duration);
      /* Whole windows only: a last, padded one is not all audio. */
      if (duration == window_ns)
        for (guint i = 0; i < gst_value_array_get_size(a); i++) {
          float v = (float)g_value_get_double(gst_value_array_get_value(a, i));
          g_array_append_val(w.windows, v);
        }
    }
    gst_message_unref(m);
    if (end)
      break;
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return w;
}

/* The trainer's log-mel frames of path: the feature cache's raw frames (decoded on the
 * element's route), normalised as train_dataset does; (n_frames, N_MELS). */
static float *trainer_frames(const char *path, const instrid_model *model, gsize *n_frames)
{
  const instrid_frontend_params *fe = &instrid_model_get_desc(model)->frontend;
  featcache_outcome outcome;
  instrid_error err = {0};
  featcache_file *f = featcache_open(NULL, path, fe, &outcome, NULL, &err);
  float *frames;

  *n_frames = 0;
  CHECK(f != NULL, "trainer's features: %s", err.message);
  if (f == NULL)
    return g_new0(float, 1);
  *n_frames = featcache_n_frames(f);
  frames = g_new(float, *n_frames *N_MELS + 1);
  for (gsize i = 0; i < *n_frames * N_MELS; i++)
    frames[i] = (featcache_frames(f)[i] - fe->feature_mean) / fe->feature_std;
  featcache_free(f);
  return frames;
}

/* Every whole window the element reports holds exactly the trainer's frames, bit for bit. The
 * file holds n samples at rate; route_rate is the rate it must be analysed at. */
static void check_identical(const char *wav, const char *model_path, const instrid_model *model,
                            guint32 rate, gsize n, guint32 route_rate)
{
  const instrid_frontend_params *model_fe = &instrid_model_get_desc(model)->frontend;
  instrid_frontend_params fe;
  instrid_error err;
  gsize n_frames, k, n_windows, mismatches = 0, outside = 0, want_frames;
  float *frames;
  Windows w;

  /* The route: at the input's rate or the model's, and the frames it makes. */
  CHECK(instrid_audiopath_route_rate(model_fe, (gint)rate) == route_rate,
        "%s: route %u Hz, expected %u", wav, instrid_audiopath_route_rate(model_fe, (gint)rate),
        route_rate);
  CHECK(instrid_frontend_params_for_rate(model_fe, route_rate, &fe, &err) == INSTRID_OK, "%s: %s",
        wav, err.message);
  want_frames = ((guint64)n * route_rate / rate - fe.n_fft) / fe.hop_samples + 1;
  frames = trainer_frames(wav, model, &n_frames);
  CHECK(n_frames + 1 >= want_frames && n_frames <= want_frames + 1,
        "%s: %zu frames at %u Hz, expected about %zu (hop %u)", wav, n_frames, route_rate,
        want_frames, fe.hop_samples);
  w = element_windows(wav, model_path,
                      gst_util_uint64_scale_int((guint64)(W - 1) * fe.hop_samples + fe.n_fft,
                                                GST_SECOND, (gint)route_rate));

  n_windows = w.windows->len / N_OUT;
  CHECK(n_frames >= W && n_windows == (n_frames - W) / H + 1, "%s: %zu windows for %zu frames", wav,
        n_windows, n_frames);
  for (k = 0; k < n_windows && (k * H + W) <= n_frames; k++)
    for (int m = 0; m < N_MELS; m++)
      for (int t = 0; t < W; t++) {
        float e = g_array_index(w.windows, float, k *N_OUT + m * W + t);
        float r = frames[(k * H + t) * N_MELS + m];
        mismatches += memcmp(&e, &r, sizeof e) != 0;
        outside += !(e > 0.0f && e < 1.0f);
      }
  CHECK(mismatches == 0, "%s: %zu of %zu features differ", wav, mismatches, n_windows * N_OUT);
  CHECK(outside == 0, "%s: %zu features clamped: the identity model's scaling is off", wav,
        outside);
  g_array_unref(w.windows);
  g_free(frames);
}

typedef struct {
  gfloat x[64];
  gsize n;
} Collected;

static gboolean collect(gpointer user, const gfloat *x, gsize n)
{
  Collected *c = user;
  for (gsize i = 0; i < n && c->n < G_N_ELEMENTS(c->x); i++)
    c->x[c->n++] = x[i];
  return TRUE;
}

/* Without resampling, interleaved S16 stereo is mixed by the path's own loop: exactly the
 * mean of the two samples scaled by 2^-15; planar S16 (GStreamer's converters) agrees to float
 * rounding; a rate below the model's fmax is resampled (the converter has a latency). */
static void check_direct_mix(void)
{
  GstAudioInfo inter, planar;
  gint16 s[64 * 2], left[64], right[64];
  gpointer inter_planes[1] = {s}, planar_planes[2] = {left, right};
  Collected a = {{0}, 0}, b = {{0}, 0};
  instrid_audiopath *pa, *pb;
  gsize worst_direct = 0, worst_planar = 0;

  for (int i = 0; i < 64; i++) {
    left[i] = s[2 * i] = (gint16)(i * 997 % 65536 - 32768);
    right[i] = s[2 * i + 1] = (gint16)(32767 - i * 523);
  }
  gst_audio_info_set_format(&inter, GST_AUDIO_FORMAT_S16, 44100, 2, NULL);
  gst_audio_info_set_format(&planar, GST_AUDIO_FORMAT_S16, 44100, 2, NULL);
  planar.layout = GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  pa = instrid_audiopath_new(&inter, 44100, NULL);
  pb = instrid_audiopath_new(&planar, 44100, NULL);
  CHECK(pa && pb && instrid_audiopath_latency(pa) == 0, "paths at 44.1 kHz without resampling");
  if (pa && pb) {
    instrid_audiopath_convert(pa, inter_planes, 64, collect, &a);
    instrid_audiopath_convert(pb, planar_planes, 64, collect, &b);
    CHECK(a.n == 64 && b.n == 64, "64 samples out: %zu, %zu", a.n, b.n);
    for (gsize i = 0; i < a.n && i < b.n; i++) {
      gfloat want = ((gfloat)s[2 * i] / 32768.0f + (gfloat)s[2 * i + 1] / 32768.0f) * 0.5f;
      worst_direct += a.x[i] != want;
      worst_planar += fabsf(b.x[i] - want) > 1e-6f;
    }
    CHECK(worst_direct == 0 && worst_planar == 0,
          "%zu direct samples not the exact mean, %zu planar ones off by more than 1e-6",
          worst_direct, worst_planar);
  }
  instrid_audiopath_free(pa);
  instrid_audiopath_free(pb);
  pa = instrid_audiopath_new(&inter, RATE, NULL);
  CHECK(pa != NULL && instrid_audiopath_latency(pa) > 0, "44.1 -> 16 kHz resamples");
  instrid_audiopath_free(pa);
}

int main(int argc, char **argv)
{
  gchar *model_path, *wav44, *wav48, *wav16, *wav8, *bad44, *fixed44;
  instrid_error err;
  instrid_model *model;

  gst_init(&argc, &argv);
  dir = g_dir_make_tmp("instrid-audiopath-XXXXXX", NULL);
  model_path = g_build_filename(dir, "identity.instrid", NULL);
  wav44 = g_build_filename(dir, "stereo44.wav", NULL);
  wav48 = g_build_filename(dir, "stereo48.wav", NULL);
  wav16 = g_build_filename(dir, "stereo16.wav", NULL);
  wav8 = g_build_filename(dir, "stereo8.wav", NULL);
  bad44 = g_build_filename(dir, "nan44.wav", NULL);
  fixed44 = g_build_filename(dir, "fixed44.wav", NULL);
  CHECK(write_identity_model(model_path, &err) == INSTRID_OK, "model: %s", err.message);
  model = instrid_model_load(model_path, &err);
  CHECK(model != NULL, "load: %s", err.message);
  if (model == NULL)
    return check_exit();

  /* 2.5 s at 44.1 and 48 kHz (analysed at their own rates), at the model's own 16 kHz, and at
   * 8 kHz (below the model's fmax: resampled), clean and with NaN/Inf. */
  write_audio(wav44, 44100, 0);
  write_audio(wav48, 48000, 0);
  write_audio(wav16, 16000, 1);
  write_audio(wav8, 8000, 1);
  write_audio(bad44, 44100, 1);
  write_audio(fixed44, 44100, 2);

  check_direct_mix();
  check_identical(wav44, model_path, model, 44100, 110250, 44100);
  check_identical(wav48, model_path, model, 48000, 120000, 48000);
  check_identical(wav16, model_path, model, 16000, 40000, RATE);
  check_identical(wav8, model_path, model, 8000, 20000, RATE);
  check_identical(bad44, model_path, model, 44100, 110250, 44100);

  /* Sanitised before resampling: NaN is exactly a 0 sample and Inf exactly a full-scale one,
   * so the two files give the same frames to the last bit. */
  {
    gsize n_bad, n_fixed;
    float *bad = trainer_frames(bad44, model, &n_bad);
    float *fixed = trainer_frames(fixed44, model, &n_fixed);
    CHECK(n_bad == n_fixed && n_bad > 0 && memcmp(bad, fixed, n_bad * N_MELS * sizeof(float)) == 0,
          "NaN/Inf at 44.1 kHz do not give the frames of 0 and +-1");
    g_free(bad);
    g_free(fixed);
  }

  instrid_model_free(model);
  g_unlink(model_path);
  g_unlink(wav44);
  g_unlink(wav48);
  g_unlink(wav16);
  g_unlink(wav8);
  g_unlink(bad44);
  g_unlink(fixed44);
  g_rmdir(dir);
  g_free(model_path);
  g_free(wav44);
  g_free(wav48);
  g_free(wav16);
  g_free(wav8);
  g_free(bad44);
  g_free(fixed44);
  g_free(dir);
  return check_exit();
}
