/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_acoustics.c — the renderer's room, microphone, compressor and codec round trip against
 * closed forms (direct convolution, the compressor's static curve), and a piece rendered through
 * an SFZ library with every acoustic effect on: deterministic for a seed, labelled, described.
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acoustics.h"
#include "audio.h"
#include "check.h"
#include "fixtures.h"
#include "render.h"

static void test_convolve(void)
{
  const size_t frames = 3000, ir_n = 700;
  float *x = malloc(2 * frames * sizeof(float)), *ref = calloc(2 * frames, sizeof(float));
  float *ir = malloc(ir_n * sizeof(float));
  splitmix_rng r = splitmix_derive(7, 1);
  for (size_t i = 0; i < 2 * frames; i++)
    x[i] = (float)splitmix_range(&r, -1, 1);
  for (size_t i = 0; i < ir_n; i++)
    ir[i] = (float)(splitmix_range(&r, -1, 1) * exp(-(double)i / 150.0));
  for (size_t i = 0; i < frames; i++)
    for (size_t k = 0; k <= i && k < ir_n; k++) {
      ref[2 * i] += ir[k] * x[2 * (i - k)];
      ref[2 * i + 1] += ir[k] * x[2 * (i - k) + 1];
    }
  float *dry = malloc(2 * frames * sizeof(float));
  memcpy(dry, x, 2 * frames * sizeof(float));
  CHECK(acoustics_convolve(x, frames, ir, ir_n, 0.75) == 1, "convolve");
  double worst = 0.0;
  for (size_t i = 0; i < 2 * frames; i++)
    worst = fmax(worst, fabs(x[i] - (0.25 * dry[i] + 0.75 * ref[i])));
  CHECK(worst < 1e-4, "FFT overlap-add vs direct convolution: max error %g", worst);
  free(x);
  free(ref);
  free(ir);
  free(dry);
}

static double energy(const float *x, size_t from, size_t to)
{
  double e = 0.0;
  for (size_t i = from; i < to; i++)
    e += (double)x[i] * x[i];
  return e;
}

static void test_impulse_responses(void)
{
  const double rate = 44100;
  size_t max = 2 * 44100;
  float *ir = malloc(max * sizeof(float));
  splitmix_rng r = splitmix_derive(3, 2);
  size_t n = acoustics_synthetic_ir(ir, max, rate, 0.8, &r);
  CHECK(n == (size_t)(0.8 * rate), "length %zu", n);
  CHECK(fabs(energy(ir, 0, n) - 1.0) < 1e-4, "unit energy %g", energy(ir, 0, n));
  /* -60 dB over rt60: the last tenth holds far less than the second tenth */
  double early = energy(ir, n / 10, n / 5), late = energy(ir, n - n / 10, n);
  CHECK(late < early * 1e-3, "decay: %g then %g", early, late);
  n = acoustics_synthetic_ir(ir, 1000, rate, 0.8, &r);
  CHECK(n == 1000, "capped at max_frames: %zu", n);

  /* a recorded response: 100 samples of silence before the direct sound */
  memset(ir, 0, 2000 * sizeof(float));
  ir[100] = 0.5f;
  ir[300] = 0.25f;
  n = acoustics_prepare_ir(ir, 2000, 1000);
  CHECK(n == 1000 && fabs(ir[0] - 0.5 / sqrt(0.3125)) < 1e-6 &&
            fabs(ir[200] - 0.25 / sqrt(0.3125)) < 1e-6,
        "starts at the direct sound, unit energy: n %zu ir[0] %g", n, (double)ir[0]);
  memset(ir, 0, 100 * sizeof(float));
  CHECK(acoustics_prepare_ir(ir, 100, 100) == 0, "silence is no response");
  free(ir);
}

static void test_compressor(void)
{
  /* a constant level of 0.5 (-6.02 dBFS), threshold -20 dB, 4:1: the excess of 13.98 dB comes
   * down to a quarter, i.e. the gain is -10.49 dB once the envelope has settled */
  const size_t frames = 44100;
  float *x = malloc(2 * frames * sizeof(float));
  for (size_t i = 0; i < 2 * frames; i++)
    x[i] = 0.5f;
  acoustics_compress(x, frames, 44100, -20.0, 4.0, 5.0, 100.0);
  double want = 0.5 * pow(10.0, -0.75 * (20.0 * log10(0.5) + 20.0) / 20.0);
  CHECK(fabs(x[2 * (frames - 1)] - want) < 1e-4 && fabs(x[2 * (frames - 1) + 1] - want) < 1e-4,
        "static curve: %g, want %g", (double)x[2 * (frames - 1)], want);
  /* below the threshold nothing changes */
  for (size_t i = 0; i < 2 * frames; i++)
    x[i] = 0.05f;
  acoustics_compress(x, frames, 44100, -20.0, 4.0, 5.0, 100.0);
  CHECK(x[2 * (frames - 1)] == 0.05f, "below threshold: %g", (double)x[2 * (frames - 1)]);

  /* the microphone colour is a filter: a sine stays a sine of the same frequency, deterministic */
  for (size_t i = 0; i < frames; i++)
    x[2 * i] = x[2 * i + 1] = (float)(0.3 * sin(2 * M_PI * 1000.0 * (double)i / 44100));
  float *y = malloc(2 * frames * sizeof(float));
  memcpy(y, x, 2 * frames * sizeof(float));
  splitmix_rng a = splitmix_derive(11, 3), b = splitmix_derive(11, 3);
  acoustics_mic_colour(x, frames, 44100, &a);
  acoustics_mic_colour(y, frames, 44100, &b);
  CHECK(memcmp(x, y, 2 * frames * sizeof(float)) == 0, "mic colour deterministic");
  free(x);
  free(y);
}

static int upward_crossings(const float *x, size_t from, size_t to)
{
  int n = 0;
  for (size_t i = from + 1; i < to; i++)
    n += x[2 * (i - 1)] < 0.0f && x[2 * i] >= 0.0f;
  return n;
}

static void test_codecs(void)
{
  const size_t frames = 44100;
  float *x = malloc(2 * frames * sizeof(float)), *y = malloc(2 * frames * sizeof(float));
  float *z = malloc(2 * frames * sizeof(float));
  for (size_t i = 0; i < frames; i++)
    x[2 * i] = x[2 * i + 1] = (float)(0.4 * sin(2 * M_PI * 440.0 * (double)i / 44100));
  for (int c = 0; c < AUDIO_N_CODECS; c++) {
    char err[512] = "";
    memcpy(y, x, 2 * frames * sizeof(float));
    memcpy(z, x, 2 * frames * sizeof(float));
    int ry = audio_codec_roundtrip(y, frames, 2, 44100, (audio_codec)c, 64, err, sizeof err);
    int rz = audio_codec_roundtrip(z, frames, 2, 44100, (audio_codec)c, 64, err, sizeof err);
    CHECK(ry == 0 && rz == 0, "%s: %s", audio_codec_name((audio_codec)c), err);
    if (ry || rz)
      continue;
    CHECK(memcmp(y, z, 2 * frames * sizeof(float)) == 0, "%s: same input, same output",
          audio_codec_name((audio_codec)c));
    /* still the sine: its level within 1 dB and its 440 periods a second (the codec delay and
     * ramp aside: measured over 0.2..0.9 s) */
    double ex = energy(x, (size_t)(0.4 * frames), (size_t)(1.8 * frames));
    double ey = energy(y, (size_t)(0.4 * frames), (size_t)(1.8 * frames));
    CHECK(fabs(10.0 * log10(ey / ex)) < 1.0, "%s: level changed by %.2f dB",
          audio_codec_name((audio_codec)c), 10.0 * log10(ey / ex));
    int k = upward_crossings(y, (size_t)(0.2 * frames), (size_t)(0.9 * frames));
    CHECK(abs(k - 308) <= 1, "%s: %d periods in 0.7 s", audio_codec_name((audio_codec)c), k);
    CHECK(memcmp(x, y, 2 * frames * sizeof(float)) != 0, "%s: the audio went through a codec",
          audio_codec_name((audio_codec)c));
  }
  free(x);
  free(y);
  free(z);
}

static void write_sine(const char *path, double seconds, double freq_hz)
{
  size_t n = (size_t)(seconds * 44100);
  int16_t *x = malloc(n * sizeof *x);
  for (size_t i = 0; x && i < n; i++)
    x[i] = (int16_t)lrint(12000.0 * sin(2.0 * M_PI * freq_hz * (double)i / 44100));
  if (!x || fixture_write_wav_pcm16(path, 44100, x, n) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  free(x);
}

/* The example song (piano, violin, flute, drums) through SFZ libraries only, every acoustic
 * effect on: twice the same bytes, labels for the classes the libraries play, a description. */
static void test_render_sfz(void)
{
  char dir[] = "/tmp/instrid-acoustics-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return;
  }
  char path[512], wav[512];
  snprintf(wav, sizeof wav, "%s/a.wav", dir);
  write_sine(wav, 1.0, 440.0);
  snprintf(path, sizeof path, "%s/tone.sfz", dir);
  FILE *f = fopen(path, "w");
  fputs("<group> ampeg_release=0.2\n<region> sample=a.wav pitch_keycenter=69\n", f);
  fclose(f);
  char err[512] = "", warn[512] = "";
  sfz_instrument *tone = sfz_load(path, err, sizeof err, warn, sizeof warn);
  CHECK(tone, "load: %s", err);
  if (!tone)
    return;
  render_config cfg = {.rate_hz = 44100, .n_sfz = 3};
  cfg.sfz[0] = cfg.sfz[1] = cfg.sfz[2] = tone;
  cfg.sfz_class[0] = TAX_PIANO;
  cfg.sfz_class[1] = TAX_VIOLIN;
  cfg.sfz_class[2] = TAX_DRUMS;
  render_engine *eng = render_engine_new(&cfg, err, sizeof err);
  smf_song *song = render_example_song();
  CHECK(eng && song, "%s", err);
  render_options ro;
  render_options_default(&ro);
  ro.sources = SOURCE_SFZ;
  ro.excerpt_s = 8.0;
  ro.room_prob = ro.mic_prob = ro.compress_prob = ro.codec_prob = 1.0;
  render_piece a, b;
  int ra = render_song(eng, song, &ro, 42, &a, err, sizeof err);
  CHECK(ra == 0, "render: %s", err);
  int rb = render_song(eng, song, &ro, 42, &b, err, sizeof err);
  CHECK(rb == 0, "render again: %s", err);
  if (ra == 0 && rb == 0) {
    CHECK(a.frames == b.frames && memcmp(a.audio, b.audio, 2 * a.frames * sizeof(float)) == 0,
          "same seed, same audio");
    CHECK(strstr(a.description, "[sfz tone.sfz]") && strstr(a.description, "| room[") &&
              strstr(a.description, "| mic") && strstr(a.description, "| comp ") &&
              (strstr(a.description, "mp3") || strstr(a.description, "vorbis") ||
               strstr(a.description, "opus")),
          "description: %s", a.description);
    int flute = 0, played = 0;
    for (size_t i = 0; i < a.n_labels; i++) {
      flute += a.labels[i].cls == TAX_FLUTE;
      played += a.labels[i].cls == TAX_PIANO || a.labels[i].cls == TAX_VIOLIN;
    }
    CHECK(flute == 0 && played > 0, "labels: %d flute (no library), %d piano/violin", flute,
          played);
    float peak = 0.0f;
    for (size_t i = 0; i < 2 * a.frames; i++)
      peak = fmaxf(peak, fabsf(a.audio[i]));
    CHECK(peak > 0.2f && peak < 1.2f, "level after the codec: peak %g", (double)peak);
  }
  if (ra == 0)
    render_piece_clear(&a);
  if (rb == 0)
    render_piece_clear(&b);
  smf_song_free(song);
  render_engine_free(eng);
  sfz_free(tone);
  unlink(wav);
  unlink(path);
  rmdir(dir);
}

int main(void)
{
  gst_init(NULL, NULL);
  test_convolve();
  test_impulse_responses();
  test_compressor();
  test_codecs();
  test_render_sfz();
  return check_exit();
}
