/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
/* EfficientAT's (pre-emphasis, symmetric window, center, Kaldi mel, log(x + floor)). */
static instrid_frontend_params params_efficientat(void)
{
  instrid_frontend_params p;
  instrid_frontend_params_efficientat(&p);
  return p;
}

/* The same with an odd FFT, a Hamming window and power 1: the other branches of centring. */
static instrid_frontend_params params_centred_odd(void)
{
  instrid_frontend_params p = params_efficientat();
  p.n_fft = 1023;
  p.win_length = 777;
  p.hop_samples = 301;
  p.window = INSTRID_WINDOW_HAMMING;
  p.power = 1.0f;
  p.mel_norm = INSTRID_MELNORM_SLANEY;
  p.log_mode = INSTRID_LOG_MAX;
  return p;
}

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

/* Samples the front end analyses: the pre-emphasis uses the first one up. */
static size_t filtered_samples(const instrid_frontend_params *p, size_t n)
{
  size_t primed = p->preemphasis != 0.0f ? 1 : 0;
  return n < primed ? 0 : n - primed;
}

/* Frames from n samples, including the flushed end: torch.stft's 1 + n / hop with center. */
static size_t expected_frames(const instrid_frontend_params *p, size_t n)
{
  n = filtered_samples(p, n);
  if (p->center)
    return n < p->n_fft / 2 + 1 ? 0 : 1 + n / p->hop_samples;
  return n < p->n_fft ? 0 : 1 + (n - p->n_fft) / p->hop_samples;
}

/* Input samples up to and including the one that completes the first frame. */
static size_t first_frame_samples(const instrid_frontend_params *p)
{
  size_t primed = p->preemphasis != 0.0f ? 1 : 0;
  return (p->center ? p->n_fft / 2 + 1 : p->n_fft) + primed;
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
  /* The end of the stream: only a centred front end has frames left. */
  while (frames < max_frames && instrid_frontend_flush(fe, out + frames * n_mels))
    frames++;
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

  /* One sample short of the first frame: no frame, everything consumed, and nothing to flush;
   * the next sample completes it. */
  instrid_frontend_reset(fe);
  int ready = -1;
  size_t short_n = first_frame_samples(&p) - 1;
  size_t used = instrid_frontend_process(fe, x, short_n, features, &ready);
  CHECK(used == short_n && ready == 0, "%s: short input: used %zu ready %d", name, used, ready);
  used = instrid_frontend_process(fe, x, 0, features, &ready);
  CHECK(used == 0 && ready == 0, "%s: empty input: used %zu ready %d", name, used, ready);
  used = instrid_frontend_process(fe, x + short_n, 1, features, &ready);
  CHECK(used == 1 && ready == 1, "%s: the first frame's last sample: used %zu ready %d", name, used,
        ready);
  CHECK(memcmp(features, reference, p.n_mels * sizeof(float)) == 0,
        "%s: the first frame differs when it is fed sample by sample", name);
  instrid_frontend_reset(fe);
  instrid_frontend_process(fe, x, short_n, features, &ready);
  CHECK(instrid_frontend_flush(fe, features) == 0, "%s: flush of a too-short stream gave a frame",
        name);

  /* After a flush the next sample starts a new stream: the same frames again. */
  if (p.center) {
    size_t got = run(fe, x, n, 4096, features, frames + 1, p.n_mels);
    CHECK(got == frames && !memcmp(reference, features, frames * p.n_mels * sizeof(float)),
          "%s: a stream after a flush differs (%zu frames)", name, got);
  }

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

  long pad = (long)(p.n_fft - p.win_length) / 2;
  size_t heard = 0;
  float silence = instrid_frontend_silence_value(&p);
  /* In the filtered signal y the click is at y[click - 1] (= 1) and y[click] (= -a) with
   * pre-emphasis, whose output starts at the stream's second sample. */
  int emphasis = p.preemphasis != 0.0f;
  long click_first = (long)click - emphasis, click_last = (long)click - emphasis + emphasis;
  for (size_t k = 0; k < frames; k++) {
    long start = (long)(k * p.hop_samples) - (p.center ? (long)(p.n_fft / 2) : 0);
    /* A Hann window is exactly 0 at its first sample, a symmetric one at its last too; Hamming
     * is not. */
    int hann = p.window == INSTRID_WINDOW_HANN;
    long first = pad + (hann ? 1 : 0);
    long last = pad + (long)p.win_length - 1 - (hann && p.window_symmetric ? 1 : 0);
    int inside = click_last >= start + first && click_first <= start + last;
    int silent = 1;
    for (uint32_t m = 0; m < p.n_mels; m++)
      silent &= features[k * p.n_mels + m] == silence;
    CHECK(silent == !inside, "%s: frame %zu (samples %ld..%ld, click at %zu) %s", name, k, start,
          start + (long)p.n_fft - 1, click, silent ? "silent" : "not silent");
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
SPOIL(scale_kind, p->mel_scale = 3)
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
SPOIL(emphasis_negative, p->preemphasis = -0.5f)
SPOIL(emphasis_one, p->preemphasis = 1.0f)
SPOIL(emphasis_nan, p->preemphasis = NAN)
SPOIL(symmetric_two, p->window_symmetric = 2)
SPOIL(center_two, p->center = 2)
SPOIL(center_hop_long, (p->center = 1, p->hop_samples = p->n_fft / 2))
SPOIL(center_hop_one, (p->center = 1, p->hop_samples = 1))
SPOIL(log_mode_two, p->log_mode = 2)
SPOIL(emphasis_rate_low, p->reference_rate = 999)

static void test_params_check(void)
{
  const bad_params cases[] = {
      {"sample_rate", sr_low},
      {"sample_rate", sr_high},
      {"n_fft", fft_low},
      {"n_fft", fft_high},
      {"win_length", win_zero},
      {"win_length", win_long},
      {"hop_samples", hop_zero},
      {"hop_samples", hop_long},
      {"n_mels", mels_zero},
      {"n_mels", mels_high},
      {"n_mels", mels_bins},
      {"window", window_kind},
      {"mel_scale", scale_kind},
      {"mel_norm", norm_kind},
      {"fmin_hz", fmin_negative},
      {"fmin_hz", fmin_nan},
      {"fmax_hz", fmax_equal},
      {"fmax_hz", fmax_nyquist},
      {"fmax_hz", fmax_nan},
      {"fmax_hz", fmax_inf},
      {"power", power_three},
      {"power", power_zero},
      {"power", power_nan},
      {"log_floor", floor_zero},
      {"log_floor", floor_negative},
      {"log_floor", floor_nan},
      {"log_floor", floor_inf},
      {"feature_mean", mean_nan},
      {"feature_mean", mean_inf},
      {"feature_std", std_zero},
      {"feature_std", std_negative},
      {"feature_std", std_nan},
      {"preemphasis", emphasis_negative},
      {"preemphasis", emphasis_one},
      {"preemphasis", emphasis_nan},
      {"window_symmetric", symmetric_two},
      {"center", center_two},
      {"hop_samples", center_hop_long},
      {"hop_samples", center_hop_one},
      {"log_mode", log_mode_two},
      {"reference_rate", emphasis_rate_low},
  };
  instrid_error err;
  instrid_frontend_params good[4] = {params_music(), params_speech(), params_efficientat(),
                                     params_centred_odd()};
  for (int g = 0; g < 4; g++) {
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

/* The documented EfficientAT values, field by field. */
static void test_efficientat_values(void)
{
  instrid_frontend_params p = params_efficientat();
  CHECK(p.sample_rate == 32000 && p.n_fft == 1024 && p.win_length == 800 && p.hop_samples == 320 &&
            p.n_mels == 128,
        "efficientat sizes %u %u %u %u %u", p.sample_rate, p.n_fft, p.win_length, p.hop_samples,
        p.n_mels);
  CHECK(p.window == INSTRID_WINDOW_HANN && p.window_symmetric == 1 && p.center == 1 &&
            p.mel_scale == INSTRID_MEL_KALDI && p.mel_norm == INSTRID_MELNORM_NONE &&
            p.log_mode == INSTRID_LOG_ADD && p.reference_rate == 0,
        "efficientat kinds");
  CHECK(p.preemphasis == 0.97f && p.fmin_hz == 0.0f && p.fmax_hz == 15000.0f && p.power == 2.0f &&
            p.log_floor == 1e-5f && p.feature_mean == -4.5f && p.feature_std == 5.0f,
        "efficientat values");
  /* Silence: (log(1e-5) + 4.5) / 5. */
  float silence = instrid_frontend_silence_value(&p);
  CHECK(fabsf(silence - (float)((log(1e-5) + 4.5) / 5.0)) < 1e-6f, "efficientat silence %g",
        silence);
}

/* Mean and largest |difference| of the features of the same sound analysed at 32 kHz and,
 * through the at-input-rate front end, at 44.1 kHz, over the frames both cover. */
static void for_rate_distance(const instrid_frontend_params *model, uint32_t rate, double *mean,
                              double *worst)
{
  instrid_frontend_params q;
  instrid_error err;
  *mean = *worst = INFINITY;
  if (instrid_frontend_params_for_rate(model, rate, &q, &err) != INSTRID_OK)
    return;
  const double seconds = 1.0;
  size_t n_a = (size_t)(seconds * model->sample_rate), n_b = (size_t)(seconds * rate);
  float *a = malloc(n_a * sizeof *a), *b = malloc(n_b * sizeof *b);
  size_t fa = expected_frames(model, n_a), fb = expected_frames(&q, n_b);
  float *ma = calloc(fa * model->n_mels + 1, sizeof *ma), *mb = calloc(fb * q.n_mels + 1, 4);
  instrid_frontend *fea = instrid_frontend_new(model, &err);
  instrid_frontend *feb = instrid_frontend_new(&q, &err);
  if (a && b && ma && mb && fea && feb) {
    /* Tones at 110 Hz .. 13 kHz with a slow tremolo, the same continuous sound at both rates. */
    const double freqs[] = {110.0, 440.0, 1234.5, 3000.0, 7021.0, 13000.0};
    for (int r = 0; r < 2; r++) {
      double sr = r ? rate : model->sample_rate;
      size_t n = r ? n_b : n_a;
      float *x = r ? b : a;
      for (size_t i = 0; i < n; i++) {
        double t = i / sr, v = 0.0;
        for (int k = 0; k < 6; k++)
          v += 0.1 * (1.0 + 0.5 * sin(2 * 3.14159265358979 * (1.5 + k) * t)) *
               sin(2 * 3.14159265358979 * freqs[k] * t + k);
        x[i] = (float)v;
      }
    }
    size_t ga = run(fea, a, n_a, 0, ma, fa, model->n_mels);
    size_t gb = run(feb, b, n_b, 0, mb, fb, q.n_mels);
    size_t frames = ga < gb ? ga : gb, count = 0;
    double sum = 0.0, big = 0.0;
    /* Skip the edge frames: the hops differ slightly (441 / 44100 vs 320 / 32000 s exactly
     * here), but the reflected ends do not line up to the sample. */
    for (size_t k = 2; k + 2 < frames; k++)
      for (uint32_t m = 0; m < model->n_mels; m++) {
        double d = fabs((double)ma[k * model->n_mels + m] - mb[k * model->n_mels + m]);
        sum += d;
        big = d > big ? d : big;
        count++;
      }
    *mean = count ? sum / count : INFINITY;
    *worst = count ? big : INFINITY;
  }
  instrid_frontend_free(fea);
  instrid_frontend_free(feb);
  free(a);
  free(b);
  free(ma);
  free(mb);
}

static void test_for_rate(void)
{
  instrid_frontend_params model = params_efficientat(), q;
  instrid_error err;
  CHECK(instrid_frontend_params_for_rate(&model, 44100, &q, &err) == INSTRID_OK, "44.1 kHz: %s",
        err.message);
  CHECK(q.sample_rate == 44100 && q.win_length == 1103 && q.hop_samples == 441 && q.n_fft == 1408 &&
            q.n_mels == 128 && q.reference_rate == 32000 && q.preemphasis == 0.97f &&
            q.fmin_hz == 0.0f && q.fmax_hz == 15000.0f && q.center,
        "44.1 kHz: rate %u win %u hop %u n_fft %u emphasis rate %u", q.sample_rate, q.win_length,
        q.hop_samples, q.n_fft, q.reference_rate);
  /* Energies scale by n_fft * sum(w^2): about (1408 * 1103) / (1024 * 800) more at 44.1 kHz. */
  double g = log(1408.0 * 1103.0 / (1024.0 * 800.0));
  CHECK(q.feature_mean == model.feature_mean && q.feature_std == model.feature_std &&
            fabs(q.log_gain + g) < 0.01 && fabs(log(model.log_floor / q.log_floor) + g) < 0.01,
        "44.1 kHz: mean %g gain %g floor %g", (double)q.feature_mean, (double)q.log_gain,
        (double)q.log_floor);
  CHECK(instrid_frontend_params_for_rate(&model, 48000, &q, &err) == INSTRID_OK &&
            q.n_fft == 1536 && q.win_length == 1200 && q.hop_samples == 480,
        "48 kHz: n_fft %u win %u hop %u", q.n_fft, q.win_length, q.hop_samples);
  CHECK(instrid_frontend_params_for_rate(&model, 32000, &q, &err) == INSTRID_OK &&
            memcmp(&q, &model, sizeof q) == 0,
        "the model's own rate is not a copy");
  CHECK(instrid_frontend_params_for_rate(&model, 22050, &q, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "fmax"),
        "22.05 kHz (Nyquist below 15 kHz) accepted: %s", err.message);
  CHECK(instrid_frontend_params_for_rate(&model, 999, &q, &err) == INSTRID_ERR_INVALID_ARG,
        "999 Hz accepted");
  instrid_frontend_params_for_rate(&model, 44100, &q, &err);
  instrid_frontend_params q2;
  CHECK(instrid_frontend_params_for_rate(&q, 48000, &q2, &err) == INSTRID_ERR_INVALID_ARG,
        "a derived front end derived again");
  CHECK(instrid_frontend_params_for_rate(NULL, 48000, &q2, &err) == INSTRID_ERR_INVALID_ARG,
        "NULL model");

  /* The same sound at 32 kHz and at 48 kHz gives nearly the same features (normalised log
   * mel): at 48 kHz the FFT (1536) has the same bin spacing, so what is left is the pre-emphasis
   * and rounding. At 44.1 kHz (n_fft 1408) the bins are 31.32 Hz apart, not 31.25, and the
   * narrow low bands of steady tones (this signal's worst case) read the skirts of the tones at
   * slightly other frequencies (with n_fft 1440, 30.6 Hz apart, the mean was 0.044). Without
   * the energy scale both would be off by about 0.1. */
  double mean, worst;
  for_rate_distance(&model, 48000, &mean, &worst);
  printf("at-input-rate 48 kHz vs 32 kHz, tones: mean |diff| %.4f, max %.4f\n", mean, worst);
  CHECK(mean < 0.002 && worst < 0.02, "48 kHz features: mean |diff| %g, max %g", mean, worst);
  for_rate_distance(&model, 44100, &mean, &worst);
  printf("at-input-rate 44.1 kHz vs 32 kHz, tones: mean |diff| %.4f, max %.4f\n", mean, worst);
  CHECK(mean < 0.025 && worst < 0.4, "44.1 kHz features: mean |diff| %g, max %g", mean, worst);
}

int main(void)
{
  test_chunking("music", params_music());
  test_chunking("speech", params_speech());
  test_frame_placement("music", params_music());
  test_frame_placement("speech", params_speech());
  test_chunking("efficientat", params_efficientat());
  test_chunking("centred-odd", params_centred_odd());
  test_frame_placement("efficientat", params_efficientat());
  test_frame_placement("centred-odd", params_centred_odd());
  test_efficientat_values();
  test_for_rate();
  test_silence_and_non_finite();
  test_params_check();
  return check_exit();
}
