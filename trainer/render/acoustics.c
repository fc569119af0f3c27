/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acoustics.c — room, microphone and compressor for the corpus renderer (see acoustics.h). The
 * convolution is an FFT overlap-add with a small radix-2 transform of its own, so that a 10-s
 * piece through a 2-s response costs milliseconds, not minutes.
 */
#include "acoustics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fx.h"

/* In-place iterative radix-2 FFT of n (a power of two) complex values; inverse when sign > 0
 * (unscaled). */
static void fft(double *re, double *im, size_t n, int sign)
{
  for (size_t i = 1, j = 0; i < n; i++) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1)
      j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    double ang = sign * 2.0 * M_PI / (double)len;
    double wr = cos(ang), wi = sin(ang);
    for (size_t i = 0; i < n; i += len) {
      double cr = 1.0, ci = 0.0;
      for (size_t k = 0; k < len / 2; k++) {
        size_t a = i + k, b = i + k + len / 2;
        double tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        double nr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = nr;
      }
    }
  }
}

int acoustics_convolve(float *x, size_t frames, const float *ir, size_t ir_frames, double wet)
{
  if (frames == 0 || ir_frames == 0)
    return 1;
  size_t n = 1;
  while (n < 2 * ir_frames)
    n <<= 1;
  size_t block = n - ir_frames + 1; /* input frames per FFT so that nothing wraps around */
  double *hr = calloc(n, sizeof(double)), *hi = calloc(n, sizeof(double));
  double *ar = malloc(n * sizeof(double)), *ai = malloc(n * sizeof(double));
  float *y = calloc(2 * frames, sizeof(float));
  if (!hr || !hi || !ar || !ai || !y) {
    free(hr);
    free(hi);
    free(ar);
    free(ai);
    free(y);
    return 0;
  }
  for (size_t i = 0; i < ir_frames; i++)
    hr[i] = ir[i];
  fft(hr, hi, n, -1);
  /* both channels in one complex transform: left in the real part, right in the imaginary;
   * the response is real, so the product keeps them apart */
  for (size_t start = 0; start < frames; start += block) {
    size_t len = frames - start < block ? frames - start : block;
    memset(ar, 0, n * sizeof(double));
    memset(ai, 0, n * sizeof(double));
    for (size_t i = 0; i < len; i++) {
      ar[i] = x[2 * (start + i)];
      ai[i] = x[2 * (start + i) + 1];
    }
    fft(ar, ai, n, -1);
    for (size_t k = 0; k < n; k++) {
      double r = ar[k] * hr[k] - ai[k] * hi[k];
      ai[k] = ar[k] * hi[k] + ai[k] * hr[k];
      ar[k] = r;
    }
    fft(ar, ai, n, 1);
    for (size_t i = 0; i < n && start + i < frames; i++) {
      y[2 * (start + i)] += (float)(ar[i] / (double)n);
      y[2 * (start + i) + 1] += (float)(ai[i] / (double)n);
    }
  }
  for (size_t i = 0; i < 2 * frames; i++)
    x[i] = (float)((1.0 - wet) * x[i] + wet * y[i]);
  free(hr);
  free(hi);
  free(ar);
  free(ai);
  free(y);
  return 1;
}

static void unit_energy(float *ir, size_t n)
{
  double e = 0.0;
  for (size_t i = 0; i < n; i++)
    e += (double)ir[i] * ir[i];
  if (e <= 0.0)
    return;
  float g = (float)(1.0 / sqrt(e));
  for (size_t i = 0; i < n; i++)
    ir[i] *= g;
}

size_t acoustics_synthetic_ir(float *ir, size_t max_frames, double rate_hz, double rt60_s,
                              splitmix_rng *rng)
{
  size_t n = (size_t)(rt60_s * rate_hz);
  if (n > max_frames)
    n = max_frames;
  if (n < 2)
    n = max_frames < 2 ? max_frames : 2;
  memset(ir, 0, n * sizeof(float));
  ir[0] = 1.0f;
  /* early reflections within 5..40 ms */
  for (int k = 0; k < 6; k++) {
    size_t at = (size_t)(splitmix_range(rng, 0.005, 0.04) * rate_hz);
    if (at < n)
      ir[at] += (float)splitmix_range(rng, -0.6, 0.6);
  }
  /* diffuse tail: -60 dB after rt60_s, starting 10 ms in */
  double decay = log(1000.0) / (rt60_s * rate_hz);
  size_t from = (size_t)(0.01 * rate_hz);
  for (size_t i = from; i < n; i++)
    ir[i] += (float)(0.3 * splitmix_range(rng, -1.0, 1.0) * exp(-decay * (double)(i - from)));
  unit_energy(ir, n);
  return n;
}

size_t acoustics_prepare_ir(float *ir, size_t frames, size_t max_frames)
{
  float peak = 0.0f;
  for (size_t i = 0; i < frames; i++)
    peak = fabsf(ir[i]) > peak ? fabsf(ir[i]) : peak;
  if (peak <= 0.0f)
    return 0;
  size_t first = 0;
  while (first < frames && fabsf(ir[first]) < 0.1f * peak)
    first++;
  size_t n = frames - first < max_frames ? frames - first : max_frames;
  memmove(ir, ir + first, n * sizeof(float));
  unit_energy(ir, n);
  return n;
}

void acoustics_mic_colour(float *x, size_t frames, double rate_hz, splitmix_rng *rng)
{
  fx_biquad bq;
  /* low cut (or proximity boost) */
  fx_biquad_init(&bq, FX_LOW_SHELF, splitmix_range(rng, 60, 200), splitmix_range(rng, -12, 4), 0.7,
                 rate_hz);
  fx_biquad_run_stereo(&bq, x, frames);
  int bumps = 1 + (int)splitmix_below(rng, 2);
  for (int b = 0; b < bumps; b++) {
    fx_biquad_init(&bq, FX_PEAK, exp(splitmix_range(rng, log(400), log(8000))),
                   splitmix_range(rng, -6, 6), splitmix_range(rng, 0.7, 3.0), rate_hz);
    fx_biquad_run_stereo(&bq, x, frames);
  }
  /* high roll-off: cheap microphones, distance, air */
  fx_biquad_init(&bq, FX_HIGH_SHELF, splitmix_range(rng, 5000, 12000), splitmix_range(rng, -12, 1),
                 0.7, rate_hz);
  fx_biquad_run_stereo(&bq, x, frames);
}

void acoustics_compress(float *x, size_t frames, double rate_hz, double threshold_db, double ratio,
                        double attack_ms, double release_ms)
{
  double att = exp(-1.0 / (attack_ms * 1e-3 * rate_hz));
  double rel = exp(-1.0 / (release_ms * 1e-3 * rate_hz));
  double env = 0.0, slope = 1.0 - 1.0 / ratio;
  for (size_t i = 0; i < frames; i++) {
    double level = fmax(fabs(x[2 * i]), fabs(x[2 * i + 1]));
    double c = level > env ? att : rel;
    env = c * env + (1.0 - c) * level;
    double db = 20.0 * log10(env + 1e-12);
    if (db > threshold_db) {
      float g = (float)pow(10.0, -slope * (db - threshold_db) / 20.0);
      x[2 * i] *= g;
      x[2 * i + 1] *= g;
    }
  }
}
