/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* frontend_dump.c — runs libinstrid's front end over raw float32 audio and writes the features
 * as raw float32 (frames x n_mels), for mel_reference.py; with --bench, times the front end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "instrid.h"

static void usage(FILE *out)
{
  fprintf(out, "usage: frontend_dump [options] IN.f32 OUT.f32\n"
               "       frontend_dump [options] --bench SECONDS\n"
               "IN: mono float32 samples (native endianness). OUT: float32 features, frame after\n"
               "frame, n_mels each (log mel, normalised by --mean/--std).\n"
               "options (default):\n"
               "  --sample-rate HZ (22050)  --n-fft N (1024)  --win-length N (n_fft)\n"
               "  --hop N (512)  --n-mels N (128)  --window hann|hamming (hann)\n"
               "  --mel-scale slaney|htk (slaney)  --mel-norm slaney|none (slaney)\n"
               "  --fmin HZ (0)  --fmax HZ (sample_rate/2)  --power 1|2 (2)\n"
               "  --log-floor X (1e-10)  --mean X (0)  --std X (1)\n"
               "  --preemphasis A (0)  --symmetric 0|1 (0)  --center 0|1 (0)\n"
               "  --log-mode max|add (max)  --mel-scale also kaldi\n"
               "  --efficientat: EfficientAT's parameters (options after it override them)\n"
               "  --input-rate HZ: the at-input-rate front end for audio at HZ\n"
               "  --chunk N: feed the audio N samples at a time (whole file)\n"
               "With --center the end of the stream is flushed (reflected).\n");
}

static int parse_u32(const char *s, uint32_t *v)
{
  char *end;
  errno = 0;
  unsigned long x = strtoul(s, &end, 10);
  if (errno || end == s || *end || x > UINT32_MAX)
    return -1;
  *v = (uint32_t)x;
  return 0;
}

static int parse_float(const char *s, float *v)
{
  char *end;
  errno = 0;
  *v = strtof(s, &end);
  return (errno || end == s || *end) ? -1 : 0;
}

static float *read_samples(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  float *x = NULL;
  size_t cap = 0;
  *n = 0;
  for (;;) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 65536;
      float *bigger = realloc(x, cap * sizeof *x);
      if (!bigger) {
        free(x);
        fclose(f);
        return NULL;
      }
      x = bigger;
    }
    size_t got = fread(x + *n, sizeof *x, cap - *n, f);
    *n += got;
    if (got == 0)
      break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(x);
    return NULL;
  }
  return x;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
  instrid_frontend_params p = {
      .sample_rate = 22050,
      .n_fft = 1024,
      .win_length = 0,
      .hop_samples = 512,
      .n_mels = 128,
      .window = INSTRID_WINDOW_HANN,
      .mel_scale = INSTRID_MEL_SLANEY,
      .mel_norm = INSTRID_MELNORM_SLANEY,
      .fmin_hz = 0.0f,
      .fmax_hz = -1.0f,
      .power = 2.0f,
      .log_floor = 1e-10f,
      .feature_mean = 0.0f,
      .feature_std = 1.0f,
  };
  uint32_t chunk = 0, input_rate = 0;
  float bench_seconds = 0.0f;
  const char *positional[2] = {NULL, NULL};
  int n_positional = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--efficientat")) {
      instrid_frontend_params_efficientat(&p);
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      if (n_positional == 2) {
        usage(stderr);
        return 2;
      }
      positional[n_positional++] = a;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "frontend_dump: %s needs a value\n", a);
      return 2;
    }
    const char *v = argv[++i];
    int bad = 0;
    if (!strcmp(a, "--sample-rate"))
      bad = parse_u32(v, &p.sample_rate);
    else if (!strcmp(a, "--n-fft"))
      bad = parse_u32(v, &p.n_fft);
    else if (!strcmp(a, "--win-length"))
      bad = parse_u32(v, &p.win_length);
    else if (!strcmp(a, "--hop"))
      bad = parse_u32(v, &p.hop_samples);
    else if (!strcmp(a, "--n-mels"))
      bad = parse_u32(v, &p.n_mels);
    else if (!strcmp(a, "--chunk"))
      bad = parse_u32(v, &chunk);
    else if (!strcmp(a, "--input-rate"))
      bad = parse_u32(v, &input_rate);
    else if (!strcmp(a, "--symmetric"))
      bad = parse_u32(v, &p.window_symmetric);
    else if (!strcmp(a, "--center"))
      bad = parse_u32(v, &p.center);
    else if (!strcmp(a, "--preemphasis"))
      bad = parse_float(v, &p.preemphasis);
    else if (!strcmp(a, "--log-mode"))
      bad = !strcmp(v, "max")   ? (p.log_mode = INSTRID_LOG_MAX, 0)
            : !strcmp(v, "add") ? (p.log_mode = INSTRID_LOG_ADD, 0)
                                : -1;
    else if (!strcmp(a, "--window"))
      bad = !strcmp(v, "hann")      ? (p.window = INSTRID_WINDOW_HANN, 0)
            : !strcmp(v, "hamming") ? (p.window = INSTRID_WINDOW_HAMMING, 0)
                                    : -1;
    else if (!strcmp(a, "--mel-scale"))
      bad = !strcmp(v, "slaney")  ? (p.mel_scale = INSTRID_MEL_SLANEY, 0)
            : !strcmp(v, "htk")   ? (p.mel_scale = INSTRID_MEL_HTK, 0)
            : !strcmp(v, "kaldi") ? (p.mel_scale = INSTRID_MEL_KALDI, 0)
                                  : -1;
    else if (!strcmp(a, "--mel-norm"))
      bad = !strcmp(v, "slaney") ? (p.mel_norm = INSTRID_MELNORM_SLANEY, 0)
            : !strcmp(v, "none") ? (p.mel_norm = INSTRID_MELNORM_NONE, 0)
                                 : -1;
    else if (!strcmp(a, "--fmin"))
      bad = parse_float(v, &p.fmin_hz);
    else if (!strcmp(a, "--fmax"))
      bad = parse_float(v, &p.fmax_hz);
    else if (!strcmp(a, "--power"))
      bad = parse_float(v, &p.power);
    else if (!strcmp(a, "--log-floor"))
      bad = parse_float(v, &p.log_floor);
    else if (!strcmp(a, "--mean"))
      bad = parse_float(v, &p.feature_mean);
    else if (!strcmp(a, "--std"))
      bad = parse_float(v, &p.feature_std);
    else if (!strcmp(a, "--bench"))
      bad = parse_float(v, &bench_seconds) || !(bench_seconds > 0.0f);
    else {
      fprintf(stderr, "frontend_dump: unknown option %s\n", a);
      return 2;
    }
    if (bad) {
      fprintf(stderr, "frontend_dump: bad value '%s' for %s\n", v, a);
      return 2;
    }
  }
  if (p.win_length == 0)
    p.win_length = p.n_fft;
  if (p.fmax_hz < 0.0f)
    p.fmax_hz = p.sample_rate / 2.0f;
  if (bench_seconds > 0.0f ? n_positional != 0 : n_positional != 2) {
    usage(stderr);
    return 2;
  }

  instrid_error err;
  if (input_rate && instrid_frontend_params_for_rate(&p, input_rate, &p, &err) != INSTRID_OK) {
    fprintf(stderr, "frontend_dump: %s\n", err.message);
    return 1;
  }
  instrid_frontend *fe = instrid_frontend_new(&p, &err);
  if (!fe) {
    fprintf(stderr, "frontend_dump: %s\n", err.message);
    return 1;
  }
  float *mel = malloc(p.n_mels * sizeof *mel);
  size_t n = 0;
  float *x = NULL;
  if (bench_seconds > 0.0f) {
    n = (size_t)(bench_seconds * p.sample_rate);
    x = malloc((n ? n : 1) * sizeof *x);
    uint32_t state = 12345;
    for (size_t i = 0; x && i < n; i++) {
      state = state * 1664525u + 1013904223u;
      x[i] = (float)(state >> 8) / 16777216.0f - 0.5f;
    }
  } else {
    x = read_samples(positional[0], &n);
  }
  if (!mel || !x) {
    fprintf(stderr, "frontend_dump: cannot read %s\n", positional[0] ? positional[0] : "audio");
    return 1;
  }

  FILE *out = NULL;
  if (bench_seconds <= 0.0f && !(out = fopen(positional[1], "wb"))) {
    fprintf(stderr, "frontend_dump: cannot write %s: %s\n", positional[1], strerror(errno));
    return 1;
  }
  size_t step = chunk ? chunk : (n ? n : 1);
  size_t frames = 0;
  double t0 = now_s();
  for (size_t pos = 0; pos < n;) {
    size_t len = n - pos < step ? n - pos : step;
    const float *c = x + pos;
    pos += len;
    while (len > 0) {
      int ready;
      size_t used = instrid_frontend_process(fe, c, len, mel, &ready);
      c += used;
      len -= used;
      if (ready) {
        frames++;
        if (out && fwrite(mel, sizeof *mel, p.n_mels, out) != p.n_mels) {
          fprintf(stderr, "frontend_dump: cannot write %s\n", positional[1]);
          return 1;
        }
      }
    }
  }
  while (instrid_frontend_flush(fe, mel)) {
    frames++;
    if (out && fwrite(mel, sizeof *mel, p.n_mels, out) != p.n_mels) {
      fprintf(stderr, "frontend_dump: cannot write %s\n", positional[1]);
      return 1;
    }
  }
  double elapsed_s = now_s() - t0;
  if (out && fclose(out) != 0) {
    fprintf(stderr, "frontend_dump: cannot write %s\n", positional[1]);
    return 1;
  }
  if (bench_seconds > 0.0f)
    printf("%zu frames from %.1f s of audio in %.3f s: %.4f ms per second of audio "
           "(%.2f us per frame)\n",
           frames, n / (double)p.sample_rate, elapsed_s,
           1e3 * elapsed_s / (n / (double)p.sample_rate), 1e6 * elapsed_s / (double)frames);
  free(x);
  free(mel);
  instrid_frontend_free(fe);
  return 0;
}
