/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* run_model.c — runs a model file through libcore's streaming classifier over raw samples and
 * prints every window's outputs, with the element's end-of-stream rule. Used by the import
 * tests and scripts/check-mn04.py.
 *
 * usage: run_model MODEL.instrid SAMPLES.f32 [CHUNK [INPUT_RATE]]
 *   SAMPLES.f32  mono float32 little-endian samples at the model's rate (or INPUT_RATE)
 *   CHUNK        samples per push (default 4096), to check chunking does not matter
 *   INPUT_RATE   the samples' rate: the at-input-rate stream (instrid_stream_new_for_rate)
 * Output: one line per window: "window_index n_frames v0 v1 ..." (%.9g). Exit 1 on error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "instrid.h"

static void print_result(const instrid_result *r, uint32_t n_classes)
{
  printf("%llu %u", (unsigned long long)r->window_index, r->n_frames);
  for (uint32_t k = 0; k < n_classes; k++)
    printf(" %.9g", r->probabilities[k]);
  printf("\n");
}

int main(int argc, char **argv)
{
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: run_model MODEL.instrid SAMPLES.f32 [CHUNK [INPUT_RATE]]\n");
    return 2;
  }
  size_t chunk = argc >= 4 ? (size_t)strtoul(argv[3], NULL, 10) : 4096;
  uint32_t input_rate = argc == 5 ? (uint32_t)strtoul(argv[4], NULL, 10) : 0;
  if (chunk == 0)
    chunk = 1;
  instrid_error err;
  instrid_model *m = instrid_model_load(argv[1], &err);
  if (!m) {
    fprintf(stderr, "run_model: %s: %s\n", argv[1], err.message);
    return 1;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    fprintf(stderr, "run_model: cannot open %s\n", argv[2]);
    instrid_model_free(m);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  size_t n = bytes > 0 ? (size_t)bytes / sizeof(float) : 0;
  float *x = malloc((n ? n : 1) * sizeof(float));
  if (!x || fread(x, sizeof(float), n, f) != n) {
    fprintf(stderr, "run_model: cannot read %s\n", argv[2]);
    fclose(f);
    free(x);
    instrid_model_free(m);
    return 1;
  }
  fclose(f);
  instrid_stream *st =
      input_rate ? instrid_stream_new_for_rate(m, input_rate, &err) : instrid_stream_new(m, &err);
  if (!st) {
    fprintf(stderr, "run_model: %s\n", err.message);
    free(x);
    instrid_model_free(m);
    return 1;
  }
  const uint32_t nc = instrid_model_n_classes(m), W = instrid_model_window_frames(m);
  const uint32_t H = instrid_stream_get_hop_frames(st);
  uint64_t windows = 0;
  instrid_result r;
  for (size_t off = 0; off < n;) {
    size_t len = n - off < chunk ? n - off : chunk;
    const float *p = x + off;
    while (len > 0) {
      int have = 0;
      size_t k = instrid_stream_push(st, p, len, &r, &have);
      p += k;
      len -= k;
      off += k;
      if (have) {
        print_result(&r, nc);
        windows++;
      }
    }
  }
  /* The element's end of stream: the last partial window when it holds at least half a window
   * of audio no earlier window covered (any audio when no window came yet). */
  uint32_t min_frames = windows > 0 ? (W + 1) / 2 : 1;
  if (windows > 0 && H < W)
    min_frames += W - H;
  while (min_frames <= W && instrid_stream_flush(st, min_frames, &r))
    print_result(&r, nc);
  instrid_stream_free(st);
  free(x);
  instrid_model_free(m);
  return 0;
}
