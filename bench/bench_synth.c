/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench_synth.c — instrid-bench-synth: the renderer's built-in synthesizer, family by family:
 * CPU time per second of note and how the patches differ (spectral centroid, the share of energy
 * above 2 kHz, how much of the level is left at 1 s), over notes of the class's middle octave.
 *
 *   instrid-bench-synth [NOTES_PER_FAMILY]   (default 20)
 */
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "classes.h"
#include "synth.h"

#define RATE 44100.0
#define FFT_N 16384

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double rms(const float *x, size_t n)
{
  double e = 0.0;
  for (size_t i = 0; i < n; i++)
    e += (double)x[i] * x[i];
  return sqrt(e / (double)n);
}

int main(int argc, char **argv)
{
  int per_family = argc > 1 ? atoi(argv[1]) : 20;
  if (per_family < 1 || per_family > 10000) {
    fprintf(stderr, "usage: instrid-bench-synth [NOTES_PER_FAMILY 1..10000]\n");
    return 2;
  }
  size_t cap = (size_t)(4.0 * RATE);
  float *x = malloc(cap * sizeof(float));
  float *in = fftwf_malloc(FFT_N * sizeof(float));
  fftwf_complex *spec = fftwf_malloc((FFT_N / 2 + 1) * sizeof(fftwf_complex));
  if (!x || !in || !spec)
    return 1;
  fftwf_plan plan = fftwf_plan_dft_r2c_1d(FFT_N, in, spec, FFTW_ESTIMATE);
  printf("%-18s %-16s %9s %12s %10s %10s\n", "class", "family", "x realtime", "centroid Hz",
         "> 2 kHz", "left at 1s");
  double total_audio = 0.0, total_cpu = 0.0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    for (int f = 0; f < synth_n_families(c); f++) {
      double cpu = 0.0, audio = 0.0, centroid = 0.0, high = 0.0, left = 0.0;
      for (int k = 0; k < per_family; k++) {
        splitmix_rng r = splitmix_derive(77, (uint64_t)(c * 1000 + f * 100 + k));
        synth_patch p;
        synth_patch_draw(&p, c, f, &r);
        int mid = (render_classes[c].lo + render_classes[c].hi) / 2;
        int pitch = mid - 6 + (int)splitmix_below(&r, 13);
        int vel = 40 + (int)splitmix_below(&r, 88);
        double t0 = now_s();
        size_t n = synth_note(&p, pitch, vel, 2.0, RATE, (uint64_t)k, x, cap);
        cpu += now_s() - t0;
        audio += (double)n / RATE;
        /* the spectrum of 16384 samples from 50 ms, Hann-windowed */
        for (int i = 0; i < FFT_N; i++) {
          size_t at = (size_t)(0.05 * RATE) + (size_t)i;
          in[i] = (at < n ? x[at] : 0.0f) * (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / (FFT_N - 1)));
        }
        fftwf_execute(plan);
        double num = 0.0, den = 0.0, hi = 0.0, all = 0.0;
        for (int b = 1; b <= FFT_N / 2; b++) {
          double hz = b * RATE / FFT_N;
          double m2 = (double)spec[b][0] * spec[b][0] + (double)spec[b][1] * spec[b][1];
          num += sqrt(m2) * hz;
          den += sqrt(m2);
          all += m2;
          hi += hz > 2000.0 ? m2 : 0.0;
        }
        centroid += den > 0 ? num / den : 0.0;
        high += all > 0 ? hi / all : 0.0;
        double early = rms(x + (size_t)(0.05 * RATE), (size_t)(0.1 * RATE));
        double late = rms(x + (size_t)(1.0 * RATE), (size_t)(0.1 * RATE));
        left += early > 0 ? late / early : 0.0;
      }
      total_audio += audio;
      total_cpu += cpu;
      printf("%-18s %-16s %9.0f %12.0f %9.1f%% %10.2f\n", instrid_taxonomy[c],
             synth_family_name(c, f), audio / cpu, centroid / per_family, 100.0 * high / per_family,
             left / per_family);
    }
  }
  printf("all families: %.1f s of notes in %.3f s of CPU (%.0fx real time, one thread)\n",
         total_audio, total_cpu, total_audio / total_cpu);
  fftwf_destroy_plan(plan);
  fftwf_free(in);
  fftwf_free(spec);
  free(x);
  return 0;
}
