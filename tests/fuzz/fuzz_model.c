/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_model.c — the model loader, and a stream run with what loads.
 * The input is a model file whose length field and checksum are re-sealed before loading, so
 * that mutations reach the field checks behind them (the checksum and length checks themselves
 * are covered by tests/libcore/test_model.c, byte by byte). A model that loads and is cheap
 * enough to run quickly is built into a stream and fed audio up to two windows and a flush. */
#include <math.h>

#include "fuzz.h"
#include "instrid.h"
#include "model_file.h"

static void put_u32(uint8_t *p, uint32_t v)
{
  for (int k = 0; k < 4; k++)
    p[k] = (uint8_t)(v >> (8 * k));
}

/* Only models this cheap are run: the loader's own limits are far above what a fuzzer can
 * afford per input. */
#define RUN_MAX_BYTES (64.0 * 1024 * 1024)
#define RUN_MAX_WINDOW_OPS 2e7
#define RUN_MAX_SAMPLES (1u << 18)
/* Operations per input in all (front end and every window of the audio fed): two windows of a
 * model with long windows and a short hop ran for seconds per input under the sanitizers (a
 * fuzzer timeout: tests/fuzz/corpus/model/timeout-511-frame-windows.instrid, the tiny model
 * with W = 511). Past this the input is cut short; the flush still analyses one window. */
#define RUN_MAX_OPS 5e7

static void run_stream(const instrid_model *m)
{
  instrid_error err;
  instrid_model_cost cost;
  const instrid_model_desc *d = instrid_model_get_desc(m);
  if (instrid_model_desc_cost(d, &cost, &err) != INSTRID_OK) {
    fprintf(stderr, "a loaded model cannot be costed: %s\n", err.message);
    abort();
  }
  if (cost.total_bytes > RUN_MAX_BYTES || cost.window_ops > RUN_MAX_WINDOW_OPS)
    return;
  instrid_stream *st = instrid_stream_new(m, &err);
  if (!st)
    return; /* out of memory is a fair refusal; anything else would show in the sanitizers */
  uint64_t window_samples =
      (uint64_t)(d->window_frames - 1) * d->frontend.hop_samples + d->frontend.n_fft;
  uint64_t n = 2 * window_samples + d->frontend.hop_samples;
  if (n > RUN_MAX_SAMPLES)
    n = RUN_MAX_SAMPLES;
  double affordable = RUN_MAX_OPS / cost.ops_per_second * d->frontend.sample_rate;
  if ((double)n > affordable)
    n = (uint64_t)affordable; /* a partial window then: the flush below still runs one */
  float x[512];
  uint32_t lcg = 12345;
  uint64_t fed = 0;
  while (fed < n) {
    size_t chunk = n - fed < 512 ? (size_t)(n - fed) : 512;
    for (size_t i = 0; i < chunk; i++) {
      lcg = lcg * 1664525u + 1013904223u;
      x[i] = (float)((int32_t)lcg) / 2147483648.0f;
    }
    const float *p = x;
    size_t left = chunk;
    while (left > 0) {
      instrid_result r;
      int have = 0;
      size_t k = instrid_stream_push(st, p, left, &r, &have);
      if (k == 0 && !have) {
        fprintf(stderr, "instrid_stream_push consumed nothing\n");
        abort();
      }
      p += k;
      left -= k;
    }
    fed += chunk;
  }
  instrid_result r;
  instrid_stream_flush(st, 1, &r);
  instrid_stream_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > (1u << 20))
    return 0;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  if (size >= MODEL_FILE_PROLOGUE_BYTES + MODEL_FILE_CHECKSUM_BYTES) {
    put_u32(buf + MODEL_FILE_OFFSET_FILE_BYTES, (uint32_t)size);
    put_u32(buf + MODEL_FILE_OFFSET_FILE_BYTES + 4, 0);
    put_u32(buf + size - 4, instrid_crc32c(buf, size - 4));
  }
  instrid_error err;
  instrid_model *m = instrid_model_load_from_memory(buf, size, &err);
  if (m) {
    /* The accessors on what loaded. */
    uint32_t n = instrid_model_n_classes(m);
    for (uint32_t i = 0; i < n; i++)
      if (!instrid_model_class_name(m, i) || !(instrid_model_threshold(m, i) >= 0.0f))
        abort();
    (void)instrid_model_provenance(m);
    run_stream(m);
    instrid_model_free(m);
  } else if (err.message[0] == '\0') {
    abort(); /* every refusal says why */
  }
  free(buf);
  return 0;
}
