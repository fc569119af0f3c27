/* test_frontend.c — the streaming log-mel front end: chunking-independent frames, frame
 * placement and window centring, NaN/Inf handling, silence, and parameter checking. (Numerical
 * agreement with a double-precision reference is mel_reference.py's job.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "instrid.h"

/* The two parameter sets of the task: a music-style and a speech-style front end. */
static instrid_frontend_params params_music(void)
{
  return (instrid_frontend_params){
      .sample_rate = 22050,
      .n_fft = 1024,
      .win_length = 1024,
      .hop_samples = 512,
      .n_mels = 128,
      .window = INSTRID_WINDOW_HANN,
      .mel_scale = INSTRID_MEL_SLANEY,
      .mel_norm = INSTRID_MELNORM_SLANEY,
      .fmin_hz = 0.0f,
      .fmax_hz = 11025.0f,
      .power = 2.0f,
      .log_floor = 1e-10f,
      .feature_mean = 0.0f,
      .feature_std = 1.0f,
  };
}

static instrid_frontend_params params_speech(void)
{
  return (instrid_frontend_params){
      .sample_rate = 16000,
      .n_fft = 512,
      .win_length = 400,
      .hop_samples = 160,
      .n_mels = 64,
      .window = INSTRID_WINDOW_HAMMING,
      .mel_scale = INSTRID_MEL_HTK,
      .mel_norm = INSTRID_MELNORM_NONE,
      .fmin_hz = 20.0f,
      .fmax_hz = 7600.0f,
      .power = 1.0f,
      .log_floor = 1e-5f,
      .feature_mean = -4.0f,
      .feature_std = 2.5f,
  };
}

/* A linear chirp over the whole band plus LCG noise: deterministic and broadband. */
static float *make_signal(size_t n, uint32_t sample_rate)
{
  float *x = malloc(n * sizeof *x);
  if (!x)
    return NULL;
  uint32_t state = 2024;
  double seconds = (double)n / sample_rate, f1 = 0.45 * sample_rate;
  for (size_t i = 0; i < n; i++) {
    double t = (double)i / sample_rate;
    state = state * 1664525u + 1013904223u;
    double noise = (double)(state >> 8) / 16777216.0 - 0.5;
    x[i] = (float)(0.5 * sin(3.14159265358979 * f1 * t * t / seconds) + 0.05 * noise);
  }
  return x;
}

static size_t expected_frames(const instrid_frontend_params *p, size_t n)
{
  return n < p->n_fft ? 0 : 1 + (n - p->n_fft) / p->hop_samples;
}

/* Feeds x to fe `chunk` samples at a time (0: all at once); stores up to max_frames frames in
 * out and returns how many frames came out. */
static size_t run(instrid_frontend *fe, const float *x, size_t n, size_t chunk, float *out,
                  size_t max_frames, uint32_t n_mels)
{
  size_t frames = 0;
  size_t step = chunk ? chunk : n;
  for (size_t pos = 0; pos < n;) {
    size_t len = n - pos < step ? n - pos : step;
    const float *c = x + pos;
    pos += len;
    while (len > 0) {
      int ready = -1;
      size_t used = instrid_frontend_process(fe, c, len, out + frames * n_mels, &ready);
      CHECK(used > 0 && used <= len, "consumed %zu of %zu", used, len);
      CHECK(ready == 0 || ready == 1, "frame_ready %d", ready);
      if (used == 0)
        return frames;
      c += used;
      len -= used;
      if (ready && ++frames == max_frames)
        return frames;
    }
  }
  return frames;
}

static void test_chunking(const char *name, instrid_frontend_params p)
{
  const size_t n = 3 * p.sample_rate / 2 + 37; /* not a whole number of hops */
  const size_t chunks[] = {0, 1, 7, 4096};
  size_t frames = expected_frames(&p, n);
  float *x = make_signal(n, p.sample_rate);
  float *reference = calloc(frames * p.n_mels + 1, sizeof(float));
  float *features = calloc(frames * p.n_mels + 1, sizeof(float));
  instrid_error err;
  instrid_frontend *fe = instrid_frontend_new(&p, &err);
  CHECK(fe != NULL, "%s: %s", name, err.message);
  if (!x || !reference || !features || !fe)
    goto done;

  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    float *dst = c == 0 ? reference : features;
    instrid_frontend_reset(fe);
    size_t got = run(fe, x, n, chunks[c], dst, frames + 1, p.n_mels);
    CHECK(got == frames, "%s chunk %zu: %zu frames, expected %zu", name, chunks[c], got, frames);
    if (c > 0)
      CHECK(memcmp(reference, features, frames * p.n_mels * sizeof(float)) == 0,
            "%s: chunks of %zu give different features", name, chunks[c]);
  }

  /* Not vacuous: the features vary, are finite, and are above silence somewhere. */
  float silence = instrid_frontend_silence_value(&p), lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < frames * p.n_mels; i++) {
    CHECK(isfinite(reference[i]), "%s: feature %zu = %g", name, i, reference[i]);
    lo = fminf(lo, reference[i]);
    hi = fmaxf(hi, reference[i]);
  }
  CHECK(hi - lo > 2.0f && hi > silence, "%s: features span only %g..%g", name, lo, hi);

  /* A fresh front end gives the same as a reset one, and reset forgets a partial frame. */
  instrid_frontend *fresh = instrid_frontend_new(&p, &err);
  CHECK(fresh != NULL, "%s", err.message);
  if (fresh) {
    run(fresh, x + 1000, 3000, 0, features, frames, p.n_mels);
    instrid_frontend_reset(fresh);
    size_t got = run(fresh, x, n, 4096, features, frames + 1, p.n_mels);
    CHECK(got == frames && !memcmp(reference, features, frames * p.n_mels * sizeof(float)),
          "%s: reset does not forget earlier audio", name);
  }
  instrid_frontend_free(fresh);

  /* Fewer samples than one FFT: no frame, everything consumed. */
  instrid_frontend_reset(fe);
  int ready = -1;
  size_t used = instrid_frontend_process(fe, x, p.n_fft - 1, features, &ready);
  CHECK(used == p.n_fft - 1 && ready == 0, "%s: short input: used %zu ready %d", name, used, ready);
  used = instrid_frontend_process(fe, x, 0, features, &ready);
  CHECK(used == 0 && ready == 0, "%s: empty input: used %zu ready %d", name, used, ready);

done:
  instrid_frontend_free(fe);
  free(x);
  free(reference);
  free(features);
}

/* One click in silence: frame k must see it exactly when it falls inside the window part of
 * [k * hop, k * hop + n_fft), i.e. the frames start at k * hop and the window is centred. */
static void test_frame_placement(const char *name, instrid_frontend_params p)
{
  const size_t n = 8000, click = 5000;
  float *x = calloc(n, sizeof *x);
  size_t frames = expected_frames(&p, n);
  float *features = calloc(frames * p.n_mels, sizeof *features);
  instrid_error err;
  instrid_frontend *fe = instrid_frontend_new(&p, &err);
  CHECK(fe != NULL, "%s", err.message);
  if (!x || !features || !fe)
    goto done;
  x[click] = 1.0f;
  CHECK(run(fe, x, n, 0, features, frames, p.n_mels) == frames, "%s: frame count", name);

  size_t pad = (p.n_fft - p.win_length) / 2, heard = 0;
  float silence = instrid_frontend_silence_value(&p);
  for (size_t k = 0; k < frames; k++) {
    size_t start = k * p.hop_samples;
    /* A periodic Hann window is exactly 0 at its first sample; Hamming is not. */
    size_t first = pad + (p.window == INSTRID_WINDOW_HANN ? 1 : 0), last = pad + p.win_length - 1;
    int inside = click >= start + first && click <= start + last;
    int silent = 1;
    for (uint32_t m = 0; m < p.n_mels; m++)
      silent &= features[k * p.n_mels + m] == silence;
    CHECK(silent == !inside, "%s: frame %zu (samples %zu..%zu, click at %zu) %s", name, k, start,
          start + p.n_fft - 1, click, silent ? "silent" : "not silent");
    heard += !silent;
  }
  CHECK(heard >= 2, "%s: the click is in %zu frames", name, heard);

done:
  instrid_frontend_free(fe);
  free(x);
  free(features);
}

static void test_silence_and_non_finite(void)
{
  instrid_frontend_params p = params_speech();
  /* log(1e-5f) = -11.512925, (-11.512925 + 4) / 2.5 = -3.005170 */
  float silence = instrid_frontend_silence_value(&p);
  CHECK(fabsf(silence - -3.005170f) < 1e-5f, "silence value %.7g", silence);
  CHECK(instrid_frontend_silence_value(NULL) == 0.0f, "silence value of NULL params");

  const size_t n = 4000;
  size_t frames = expected_frames(&p, n);
  float *x = calloc(n, sizeof *x), *clean = malloc(n * sizeof *clean);
  float *features = calloc(frames * p.n_mels, sizeof(float));
  float *expected = calloc(frames * p.n_mels, sizeof(float));
  instrid_error err;
  instrid_frontend *fe = instrid_frontend_new(&p, &err);
  CHECK(fe != NULL, "%s", err.message);
  if (!x || !clean || !features || !expected || !fe)
    goto done;

  CHECK(run(fe, x, n, 0, features, frames, p.n_mels) == frames, "silence frame count");
  size_t not_silent = 0;
  for (size_t i = 0; i < frames * p.n_mels; i++)
    not_silent += features[i] != silence;
  CHECK(not_silent == 0, "%zu features of digital silence differ from the silence value",
        not_silent);

  /* NaN -> 0, +-Inf -> +-1: the same features, bit for bit, as the cleaned signal. */
  float *noisy = make_signal(n, p.sample_rate);
  if (!noisy)
    goto done;
  memcpy(x, noisy, n * sizeof *x);
  memcpy(clean, noisy, n * sizeof *x);
  free(noisy);
  for (size_t i = 100; i < n; i += 397) {
    int kind = (int)(i % 3);
    x[i] = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
    clean[i] = kind == 0 ? 0.0f : kind == 1 ? 1.0f : -1.0f;
  }
  instrid_frontend_reset(fe);
  CHECK(run(fe, x, n, 0, features, frames, p.n_mels) == frames, "non-finite frame count");
  instrid_frontend_reset(fe);
  run(fe, clean, n, 0, expected, frames, p.n_mels);
  size_t non_finite = 0;
  for (size_t i = 0; i < frames * p.n_mels; i++)
    non_finite += !isfinite(features[i]);
  CHECK(non_finite == 0, "%zu non-finite features from NaN/Inf input", non_finite);
  CHECK(memcmp(features, expected, frames * p.n_mels * sizeof(float)) == 0,
        "NaN/Inf input differs from the same input with 0/+-1 in their place");

  /* Finite but absurdly loud input overflows the float FFT; features must stay finite. */
  for (size_t i = 0; i < n; i++)
    x[i] = (i % 2 ? 1e30f : -3e37f);
  instrid_frontend_reset(fe);
  run(fe, x, n, 0, features, frames, p.n_mels);
  non_finite = 0;
  for (size_t i = 0; i < frames * p.n_mels; i++)
    non_finite += !isfinite(features[i]);
  CHECK(non_finite == 0, "%zu non-finite features from huge input", non_finite);

done:
  instrid_frontend_free(fe);
  free(x);
  free(clean);
  free(features);
  free(expected);
}

typedef struct {
  const char *field; /* must appear in the message */
  void (*spoil)(instrid_frontend_params *p);
} bad_params;

#define SPOIL(fn, stmt)                                                                            \
  static void fn(instrid_frontend_params *p)                                                       \
  {                                                                                                \
    stmt;                                                                                          \
  }
SPOIL(sr_low, p->sample_rate = 999)
SPOIL(sr_high, p->sample_rate = 384001)
SPOIL(fft_low, p->n_fft = 15)
SPOIL(fft_high, p->n_fft = 65537)
SPOIL(win_zero, p->win_length = 0)
SPOIL(win_long, p->win_length = p->n_fft + 1)
SPOIL(hop_zero, p->hop_samples = 0)
SPOIL(hop_long, p->hop_samples = p->n_fft + 1)
SPOIL(mels_zero, p->n_mels = 0)
SPOIL(mels_high, p->n_mels = 513)
SPOIL(mels_bins, (p->n_fft = 64, p->win_length = 64, p->hop_samples = 32, p->n_mels = 34))
SPOIL(window_kind, p->window = 2)
SPOIL(scale_kind, p->mel_scale = 2)
SPOIL(norm_kind, p->mel_norm = 7)
SPOIL(fmin_negative, p->fmin_hz = -1.0f)
SPOIL(fmin_nan, p->fmin_hz = NAN)
SPOIL(fmax_equal, p->fmax_hz = p->fmin_hz)
SPOIL(fmax_nyquist, p->fmax_hz = p->sample_rate / 2.0f + 1.0f)
SPOIL(fmax_nan, p->fmax_hz = NAN)
SPOIL(fmax_inf, p->fmax_hz = INFINITY)
SPOIL(power_three, p->power = 3.0f)
SPOIL(power_zero, p->power = 0.0f)
SPOIL(power_nan, p->power = NAN)
SPOIL(floor_zero, p->log_floor = 0.0f)
SPOIL(floor_negative, p->log_floor = -1e-10f)
SPOIL(floor_nan, p->log_floor = NAN)
SPOIL(floor_inf, p->log_floor = INFINITY)
SPOIL(mean_nan, p->feature_mean = NAN)
SPOIL(mean_inf, p->feature_mean = -INFINITY)
SPOIL(std_zero, p->feature_std = 0.0f)
SPOIL(std_negative, p->feature_std = -1.0f)
SPOIL(std_nan, p->feature_std = NAN)

static void test_params_check(void)
{
  const bad_params cases[] = {
      {"sample_rate", sr_low},       {"sample_rate", sr_high},   {"n_fft", fft_low},
      {"n_fft", fft_high},           {"win_length", win_zero},   {"win_length", win_long},
      {"hop_samples", hop_zero},     {"hop_samples", hop_long},  {"n_mels", mels_zero},
      {"n_mels", mels_high},         {"n_mels", mels_bins},      {"window", window_kind},
      {"mel_scale", scale_kind},     {"mel_norm", norm_kind},    {"fmin_hz", fmin_negative},
      {"fmin_hz", fmin_nan},         {"fmax_hz", fmax_equal},    {"fmax_hz", fmax_nyquist},
      {"fmax_hz", fmax_nan},         {"fmax_hz", fmax_inf},      {"power", power_three},
      {"power", power_zero},         {"power", power_nan},       {"log_floor", floor_zero},
      {"log_floor", floor_negative}, {"log_floor", floor_nan},   {"log_floor", floor_inf},
      {"feature_mean", mean_nan},    {"feature_mean", mean_inf}, {"feature_std", std_zero},
      {"feature_std", std_negative}, {"feature_std", std_nan},
  };
  instrid_error err;
  instrid_frontend_params good[2] = {params_music(), params_speech()};
  for (int g = 0; g < 2; g++) {
    memset(&err, 0, sizeof err);
    CHECK(instrid_frontend_params_check(&good[g], &err) == INSTRID_OK, "good set %d: %s", g,
          err.message);
  }
  /* Edges that are allowed. */
  instrid_frontend_params edge = params_music();
  edge.fmax_hz = edge.sample_rate / 2.0f;
  edge.hop_samples = edge.n_fft;
  edge.win_length = 1;
  edge.n_mels = edge.n_fft / 2 + 1;
  edge.n_mels = edge.n_mels > 512 ? 512 : edge.n_mels;
  CHECK(instrid_frontend_params_check(&edge, &err) == INSTRID_OK, "edge set: %s", err.message);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    instrid_frontend_params p = params_music();
    cases[i].spoil(&p);
    memset(&err, 0, sizeof err);
    instrid_status st = instrid_frontend_params_check(&p, &err);
    CHECK(st == INSTRID_ERR_FORMAT && err.code == INSTRID_ERR_FORMAT, "case %zu (%s): status %d", i,
          cases[i].field, (int)st);
    CHECK(strstr(err.message, cases[i].field) != NULL, "case %zu: message '%s' lacks '%s'", i,
          err.message, cases[i].field);
    memset(&err, 0, sizeof err);
    instrid_frontend *fe = instrid_frontend_new(&p, &err);
    CHECK(fe == NULL && err.code == INSTRID_ERR_FORMAT && strstr(err.message, cases[i].field),
          "case %zu: instrid_frontend_new accepted it or lost the message '%s'", i, err.message);
    instrid_frontend_free(fe);
  }

  /* A message names the value too. */
  instrid_frontend_params p = params_music();
  p.n_mels = 600;
  instrid_frontend_params_check(&p, &err);
  CHECK(strstr(err.message, "600") != NULL, "message '%s' lacks the value", err.message);

  CHECK(instrid_frontend_params_check(NULL, &err) == INSTRID_ERR_INVALID_ARG, "NULL params");
  CHECK(instrid_frontend_params_check(&p, NULL) == INSTRID_ERR_FORMAT, "NULL error");
  CHECK(instrid_frontend_new(&p, NULL) == NULL, "new with NULL error");
  instrid_frontend_free(NULL);
}

int main(void)
{
  test_chunking("music", params_music());
  test_chunking("speech", params_speech());
  test_frame_placement("music", params_music());
  test_frame_placement("speech", params_speech());
  test_silence_and_non_finite();
  test_params_check();
  return check_exit();
}
