/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_stream.c — the streaming classifier: the window schedule (count, start, length, hop
 * override, H > W, a hop shortened mid-stream), results independent of the push chunk size and
 * equal to front end + network run by hand, flush, reset, and 8 streams on one model in 8
 * threads matching the same inputs run one after another. Uses the "tiny" fixture network
 * (tests/testnet.h): 8 kHz, n_fft 256, hop 128 samples, 16 mels, W = 16 frames, H = 8.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "rng.h"
#include "testnet.h"
#include "check.h"

#define N_CLASSES 25
#define MAX_WINDOWS 128
#define N_SAMPLES 16000 /* 2 s at 8 kHz: frames k with k*128 + 256 <= 16000, i.e. 124 frames */
#define N_FRAMES 124

static instrid_model *model;
static const instrid_model_desc *desc;

typedef struct {
  size_t n;
  instrid_result meta[MAX_WINDOWS];
  float probs[MAX_WINDOWS][N_CLASSES];
} results;

static void make_audio(float *x, size_t n, uint64_t seed)
{
  instrid_rng rng;
  instrid_rng_seed(&rng, seed);
  double f = 200.0 + 50.0 * (double)(seed % 7);
  for (size_t i = 0; i < n; i++)
    x[i] = (float)(0.4 * sin(2 * M_PI * f * (double)i / 8000.0 * (1.0 + 1e-5 * (double)i)) +
                   0.2 * (instrid_rng_uniform(&rng) - 0.5));
}

static void record(results *r, const instrid_result *res)
{
  if (r->n >= MAX_WINDOWS) {
    CHECK(0, "more than %d windows", MAX_WINDOWS);
    return;
  }
  r->meta[r->n] = *res;
  memcpy(r->probs[r->n], res->probabilities, sizeof(float) * N_CLASSES);
  r->meta[r->n].probabilities = NULL;
  r->n++;
}

/* Pushes x in chunks of `chunk` samples and records every result. */
static void push_all(instrid_stream *st, const float *x, size_t n, size_t chunk, results *r)
{
  size_t at = 0;
  while (at < n) {
    size_t len = n - at < chunk ? n - at : chunk;
    const float *p = x + at;
    while (len > 0) {
      instrid_result res;
      int have = 0;
      size_t k = instrid_stream_push(st, p, len, &res, &have);
      CHECK(k <= len, "consumed %zu of %zu", k, len);
      p += k;
      len -= k;
      at += k;
      if (have)
        record(r, &res);
      else
        CHECK(k > 0, "push made no progress without a result");
    }
  }
}

static int same_results(const results *a, const results *b)
{
  if (a->n != b->n)
    return 0;
  for (size_t i = 0; i < a->n; i++)
    if (a->meta[i].window_index != b->meta[i].window_index ||
        a->meta[i].start_sample != b->meta[i].start_sample ||
        a->meta[i].length_samples != b->meta[i].length_samples ||
        a->meta[i].n_frames != b->meta[i].n_frames ||
        memcmp(a->probs[i], b->probs[i], sizeof a->probs[i]) != 0)
      return 0;
  return 1;
}

/* Every frame of x through a bare front end: frames (N_FRAMES, n_mels). */
static float *frames_by_hand(const float *x, size_t n)
{
  const uint32_t M = desc->frontend.n_mels;
  instrid_frontend *fe = instrid_frontend_new(&desc->frontend, NULL);
  float *frames = calloc((size_t)(N_FRAMES + 1) * M, sizeof(float));
  size_t f = 0;
  while (n > 0) {
    int ready = 0;
    size_t k = instrid_frontend_process(fe, x, n, frames + f * M, &ready);
    x += k;
    n -= k;
    f += ready;
    CHECK(f <= N_FRAMES, "front end made more than %d frames", N_FRAMES);
    if (f > N_FRAMES)
      break;
  }
  CHECK(f == N_FRAMES, "front end made %zu frames, expected %d", f, N_FRAMES);
  instrid_frontend_free(fe);
  return frames;
}

/* The network on frames [start, start + n_real), silence-padded to W, by hand. */
static void window_by_hand(instrid_net *net, const float *frames, uint64_t start, uint32_t n_real,
                           float *probs)
{
  const uint32_t M = desc->frontend.n_mels, W = desc->window_frames;
  float features[16 * 16];
  float silence = instrid_frontend_silence_value(&desc->frontend);
  for (uint32_t t = 0; t < W; t++)
    for (uint32_t m = 0; m < M; m++)
      features[m * W + t] = t < n_real ? frames[(start + t) * M + m] : silence;
  instrid_net_forward(net, features, probs);
}

/* The same for any model description d (frames laid out (frame, n_mels)). */
static void window_by_hand_in(instrid_net *net, const instrid_model_desc *d, const float *frames,
                              uint64_t start, uint32_t n_real, float *probs)
{
  const uint32_t M = d->frontend.n_mels, W = d->window_frames;
  float features[16 * 16];
  float silence = instrid_frontend_silence_value(&d->frontend);
  for (uint32_t t = 0; t < W; t++)
    for (uint32_t m = 0; m < M; m++)
      features[m * W + t] = t < n_real ? frames[(start + t) * M + m] : silence;
  instrid_net_forward(net, features, probs);
}

static void check_against_hand(const char *what, const results *r, const float *frames,
                               uint32_t hop)
{
  instrid_net *net = instrid_net_new(model, NULL);
  const uint32_t W = desc->window_frames;
  size_t expect_n = (N_FRAMES - W) / hop + 1;
  CHECK(r->n == expect_n, "%s: %zu windows, expected %zu", what, r->n, expect_n);
  for (size_t i = 0; i < r->n && i < expect_n; i++) {
    const instrid_result *m = &r->meta[i];
    CHECK(m->window_index == i, "%s: window %zu has index %llu", what, i,
          (unsigned long long)m->window_index);
    CHECK(m->start_sample == i * hop * 128, "%s: window %zu starts at %llu", what, i,
          (unsigned long long)m->start_sample);
    CHECK(m->length_samples == 15 * 128 + 256, "%s: length %llu", what,
          (unsigned long long)m->length_samples);
    CHECK(m->n_frames == W, "%s: window %zu has %u frames", what, i, m->n_frames);
    float want[N_CLASSES];
    window_by_hand(net, frames, i * hop, W, want);
    CHECK(memcmp(want, r->probs[i], sizeof want) == 0, "%s: window %zu differs from by-hand", what,
          i);
  }
  instrid_net_free(net);
}

static void test_chunking_and_schedule(void)
{
  float *x = malloc(sizeof(float) * N_SAMPLES);
  make_audio(x, N_SAMPLES, 1);
  float *frames = frames_by_hand(x, N_SAMPLES);
  instrid_error err = {0};
  instrid_stream *st = instrid_stream_new(model, &err);
  CHECK(st != NULL, "stream_new: %s", err.message);
  if (!st)
    return;
  CHECK(instrid_stream_get_hop_frames(st) == 8, "default hop %u",
        instrid_stream_get_hop_frames(st));

  static results base, other;
  const size_t chunks[] = {N_SAMPLES, 1, 7, 4096};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    results *r = c == 0 ? &base : &other;
    memset(r, 0, sizeof *r);
    instrid_stream_reset(st);
    push_all(st, x, N_SAMPLES, chunks[c], r);
    CHECK(instrid_stream_samples(st) == N_SAMPLES, "samples %llu",
          (unsigned long long)instrid_stream_samples(st));
    if (c == 0) {
      /* Windows start at frames 0, 8, ..., 104 (104 + 16 <= 124 frames): 14 of them. */
      CHECK(base.n == 14, "%zu windows", base.n);
      check_against_hand("default hop", &base, frames, 8);
    } else {
      CHECK(same_results(&base, &other), "chunk %zu: results differ from whole-buffer push",
            chunks[c]);
    }
  }

  /* Flush: the next window would start at frame 112; 12 frames of it arrived. */
  instrid_result res;
  CHECK(instrid_stream_flush(st, 13, &res) == 0, "flush with min_frames 13 analysed");
  CHECK(instrid_stream_flush(st, 12, &res) == 1, "flush with min_frames 12 did nothing");
  CHECK(res.window_index == 14 && res.start_sample == 112 * 128 && res.n_frames == 12 &&
            res.length_samples == 15 * 128 + 256,
        "flushed window %llu start %llu frames %u", (unsigned long long)res.window_index,
        (unsigned long long)res.start_sample, res.n_frames);
  {
    instrid_net *net = instrid_net_new(model, NULL);
    float want[N_CLASSES];
    window_by_hand(net, frames, 112, 12, want);
    CHECK(memcmp(want, res.probabilities, sizeof want) == 0, "flushed window differs");
    instrid_net_free(net);
  }
  CHECK(instrid_stream_flush(st, 1, &res) == 0, "second flush analysed again");

  /* Hop override, including H > W (frames between windows skipped). */
  const uint32_t hops[] = {5, 20, 1};
  for (size_t h = 0; h < sizeof hops / sizeof hops[0]; h++) {
    CHECK(instrid_stream_set_hop_frames(st, hops[h], &err) == INSTRID_OK, "set hop %u", hops[h]);
    CHECK(instrid_stream_get_hop_frames(st) == hops[h], "get hop");
    memset(&other, 0, sizeof other);
    instrid_stream_reset(st); /* keeps the override */
    push_all(st, x, N_SAMPLES, 1000, &other);
    char what[32];
    snprintf(what, sizeof what, "hop %u", hops[h]);
    check_against_hand(what, &other, frames, hops[h]);
  }
  /* With H = 20 > W the last window starts at 100 and the next at 120: 4 frames to flush. */
  instrid_stream_set_hop_frames(st, 20, NULL);
  instrid_stream_reset(st);
  memset(&other, 0, sizeof other);
  push_all(st, x, N_SAMPLES, N_SAMPLES, &other);
  CHECK(instrid_stream_flush(st, 5, &res) == 0, "H>W: flush with 5 of 4 frames");
  CHECK(instrid_stream_flush(st, 4, &res) == 1 && res.n_frames == 4 &&
            res.start_sample == 120 * 128,
        "H>W: flush gave %u frames at %llu", res.n_frames, (unsigned long long)res.start_sample);

  CHECK(instrid_stream_set_hop_frames(st, 65537, &err) == INSTRID_ERR_INVALID_ARG,
        "hop 65537 accepted");
  CHECK(instrid_stream_set_hop_frames(st, 0, &err) == INSTRID_OK &&
            instrid_stream_get_hop_frames(st) == 8,
        "hop 0 does not restore the default");

  /* A hop changed mid-stream applies from the next window. Hop 40: window 0 at frame 16; at
   * 50 frames (6528 samples) window 1 (frames 40..55) is still incomplete. Shortening the hop
   * to 2 puts the next window at frame 2, long gone from the ring: it starts at the oldest frame
   * kept, 34, and is complete already, so the next push returns it without consuming. */
  instrid_stream_set_hop_frames(st, 40, NULL);
  instrid_stream_reset(st);
  memset(&other, 0, sizeof other);
  push_all(st, x, 256 + 49 * 128, 333, &other);
  CHECK(other.n == 1 && other.meta[0].start_sample == 0, "hop 40: %zu windows", other.n);
  instrid_stream_set_hop_frames(st, 2, NULL);
  int have = 0;
  size_t k = instrid_stream_push(st, x + 6528, 100, &res, &have);
  CHECK(k == 0 && have && res.start_sample == 34 * 128 && res.window_index == 1,
        "after shortening: consumed %zu, have %d, start %llu", k, have,
        (unsigned long long)res.start_sample);
  memset(&other, 0, sizeof other);
  push_all(st, x + 6528, N_SAMPLES - 6528, 4096, &other);
  /* then 36, 38, ..., 108 (108 + 16 = 124) */
  CHECK(other.n == 37 && other.meta[0].start_sample == 36 * 128 &&
            other.meta[36].start_sample == 108 * 128,
        "after shortening: %zu windows", other.n);
  /* A hop lengthened mid-stream: from hop 2, after the window at frame 0 switch to 30. */
  instrid_stream_set_hop_frames(st, 2, NULL);
  instrid_stream_reset(st);
  memset(&other, 0, sizeof other);
  push_all(st, x, 256 + 15 * 128, 256 + 15 * 128, &other); /* exactly frame 15: window 0 */
  instrid_stream_set_hop_frames(st, 30, NULL);
  push_all(st, x + 256 + 15 * 128, N_SAMPLES - (256 + 15 * 128), 999, &other);
  CHECK(other.n == 4 && other.meta[1].start_sample == 30 * 128 &&
            other.meta[3].start_sample == 90 * 128,
        "lengthened hop: %zu windows", other.n);

  instrid_stream_free(st);
  free(frames);
  free(x);
}

#define N_THREADS 8

typedef struct {
  const float *x;
  results r;
} thread_job;

static void *thread_main(void *arg)
{
  thread_job *job = arg;
  instrid_stream *st = instrid_stream_new(model, NULL);
  if (!st)
    return NULL;
  push_all(st, job->x, N_SAMPLES, 1000, &job->r);
  instrid_result res;
  if (instrid_stream_flush(st, 1, &res))
    record(&job->r, &res);
  instrid_stream_free(st);
  return NULL;
}

static void test_threads(void)
{
  float *x = malloc(sizeof(float) * N_SAMPLES * N_THREADS);
  thread_job *par = calloc(N_THREADS, sizeof *par), *seq = calloc(N_THREADS, sizeof *seq);
  for (int i = 0; i < N_THREADS; i++) {
    make_audio(x + (size_t)i * N_SAMPLES, N_SAMPLES, 100 + i);
    par[i].x = seq[i].x = x + (size_t)i * N_SAMPLES;
  }
  for (int i = 0; i < N_THREADS; i++)
    thread_main(&seq[i]);
  pthread_t tid[N_THREADS];
  for (int i = 0; i < N_THREADS; i++)
    CHECK(pthread_create(&tid[i], NULL, thread_main, &par[i]) == 0, "pthread_create");
  for (int i = 0; i < N_THREADS; i++)
    pthread_join(tid[i], NULL);
  for (int i = 0; i < N_THREADS; i++) {
    CHECK(seq[i].r.n == 15, "input %d: %zu windows (14 + flushed)", i, seq[i].r.n);
    CHECK(same_results(&seq[i].r, &par[i].r), "input %d: threaded results differ", i);
  }
  /* Different inputs give different outputs: the comparison above is not vacuous. */
  CHECK(memcmp(seq[0].r.probs[3], seq[1].r.probs[3], sizeof seq[0].r.probs[3]) != 0,
        "inputs 0 and 1 gave identical probabilities");
  free(par), free(seq), free(x);
}

static void test_errors(void)
{
  instrid_error err = {0};
  CHECK(instrid_stream_new(NULL, &err) == NULL && err.code == INSTRID_ERR_INVALID_ARG,
        "stream_new(NULL)");
  instrid_stream_free(NULL);
}

/* A centred front end with pre-emphasis (EfficientAT's kind) on the tiny network, hop 64:
 * windows completed by the frames of the reflected end come out of flush, every window equals
 * the network on the front end's frames (flushed ones included) run by hand, the chunking does
 * not matter, and start_sample / length_samples count input samples (the first window's
 * reflected past clipped). */
static void test_centred(const testnet *net)
{
  instrid_error err = {0};
  instrid_model_desc d = *testnet_desc(net);
  d.frontend.preemphasis = 0.97f;
  d.frontend.window_symmetric = 1;
  d.frontend.center = 1;
  d.frontend.log_mode = INSTRID_LOG_ADD;
  d.frontend.mel_scale = INSTRID_MEL_KALDI;
  d.frontend.hop_samples = 64;
  void *data = NULL;
  size_t size = 0;
  instrid_model *m = NULL;
  if (instrid_model_write_to_memory(&d, &data, &size, &err) != INSTRID_OK ||
      !(m = instrid_model_load_from_memory(data, size, &err))) {
    CHECK(0, "centred model: %s", err.message);
    free(data);
    return;
  }
  free(data);
  const uint32_t M = d.frontend.n_mels, W = d.window_frames, H = d.hop_frames;
  const size_t n = 5057, n_frames = 1 + (n - 1) / 64; /* 80: torch.stft's count */
  float *x = malloc(n * sizeof *x);
  float *frames = calloc((n_frames + 1) * M, sizeof(float));
  make_audio(x, n, 11);

  /* By hand: the front end, then its flushed end. */
  instrid_frontend *fe = instrid_frontend_new(&d.frontend, &err);
  size_t f = 0;
  for (size_t at = 0; at < n && f <= n_frames;) {
    int ready = 0;
    at += instrid_frontend_process(fe, x + at, n - at, frames + f * M, &ready);
    f += ready;
  }
  while (f <= n_frames && instrid_frontend_flush(fe, frames + f * M))
    f++;
  CHECK(f == n_frames, "centred: %zu frames, expected %zu", f, n_frames);
  instrid_frontend_free(fe);

  instrid_net *nn = instrid_net_new(m, &err);
  const size_t chunks[] = {n, 1, 333};
  results first = {0};
  for (int c = 0; c < 3; c++) {
    results *r = calloc(1, sizeof *r);
    instrid_stream *st = instrid_stream_new(m, &err);
    push_all(st, x, n, chunks[c], r);
    instrid_result res;
    size_t pushed = r->n;
    while (r->n < MAX_WINDOWS && instrid_stream_flush(st, 1, &res))
      record(r, &res);
    /* 5056 filtered samples: frames 0..77 complete while pushing, 78 and 79 reflect the
     * end. Windows start every H = 8 frames: 0..8 complete (window 8, frames 64..79, only
     * after flush), then a partial window from frame 72 with 8 frames. */
    size_t complete = (n_frames - W) / H + 1;
    CHECK(r->n == complete + 1, "centred chunk %zu: %zu windows, expected %zu", chunks[c], r->n,
          complete + 1);
    CHECK(pushed < r->n - 1, "centred chunk %zu: no complete window came from flush", chunks[c]);
    for (size_t i = 0; i < r->n; i++) {
      uint64_t start = i * H;
      uint32_t n_real = i < complete ? W : (uint32_t)(n_frames - start);
      float want[N_CLASSES];
      window_by_hand_in(nn, &d, frames, start, n_real, want);
      CHECK(r->meta[i].n_frames == n_real && memcmp(want, r->probs[i], sizeof want) == 0,
            "centred chunk %zu: window %zu (%u frames) differs from the hand-run network",
            chunks[c], i, r->meta[i].n_frames);
      int64_t first_sample = (int64_t)(start * 64) + 1 - 128;
      int64_t end = first_sample + (int64_t)((W - 1) * 64 + 256);
      uint64_t want_start = first_sample < 0 ? 0 : (uint64_t)first_sample;
      CHECK(r->meta[i].start_sample == want_start &&
                r->meta[i].length_samples == (uint64_t)end - want_start,
            "centred window %zu: start %llu length %llu, expected %llu %llu", i,
            (unsigned long long)r->meta[i].start_sample,
            (unsigned long long)r->meta[i].length_samples, (unsigned long long)want_start,
            (unsigned long long)((uint64_t)end - want_start));
    }
    if (c == 0)
      first = *r;
    else
      CHECK(same_results(&first, r), "centred: chunks of %zu give other results", chunks[c]);
    instrid_stream_free(st);
    free(r);
  }
  instrid_net_free(nn);

  /* The at-input-rate stream: 16 kHz input to this 8 kHz model, hop 128 input samples. */
  instrid_stream *st = instrid_stream_new_for_rate(m, 16000, &err);
  CHECK(st && instrid_stream_sample_rate(st) == 16000, "stream for 16 kHz: %s", err.message);
  if (st) {
    float *y = malloc(2 * n * sizeof *y);
    for (size_t i = 0; i < 2 * n; i++)
      y[i] = x[i / 2];
    results *r = calloc(1, sizeof *r);
    push_all(st, y, 2 * n, 1000, r);
    CHECK(r->n == 8 && r->meta[1].start_sample == 8 * 128 + 1 - 256,
          "16 kHz stream: %zu windows, window 1 at %llu", r->n,
          (unsigned long long)(r->n > 1 ? r->meta[1].start_sample : 0));
    free(r);
    free(y);
  }
  instrid_stream_free(st);
  CHECK(instrid_stream_new_for_rate(m, 4000, &err) == NULL && err.code == INSTRID_ERR_INVALID_ARG,
        "a 4 kHz stream accepted (its Nyquist, 2 kHz, is below the model's fmax, 4 kHz)");
  CHECK(instrid_stream_sample_rate(st = instrid_stream_new(m, &err)) == 8000, "model's rate");
  instrid_stream_free(st);
  instrid_model_free(m);
  free(x);
  free(frames);
}

/* instrid_stream_set_sample_rate: a stream moved to a rate (after audio at another) gives the
 * very results of a stream made for it, keeps its hop override, and is left as it was when
 * the rate is refused. */
static void test_stream_set_rate(void)
{
  enum { RATE2 = 16000, N2 = 2 * N_SAMPLES };
  instrid_error err = {0};
  float *x = malloc(N2 * sizeof *x);
  make_audio(x, N2, 21);
  instrid_stream *st = instrid_stream_new(model, &err);
  instrid_stream *ref = instrid_stream_new_for_rate(model, RATE2, &err);
  instrid_stream *ref_model = instrid_stream_new(model, &err);
  results *got = calloc(1, sizeof *got), *want = calloc(1, sizeof *want);
  CHECK(st && ref && ref_model, "streams: %s", err.message);
  if (!st || !ref || !ref_model)
    goto done;
  CHECK(instrid_stream_set_hop_frames(st, 3, &err) == INSTRID_OK &&
            instrid_stream_set_hop_frames(ref, 3, &err) == INSTRID_OK &&
            instrid_stream_set_hop_frames(ref_model, 3, &err) == INSTRID_OK,
        "hop: %s", err.message);
  push_all(st, x, N_SAMPLES / 2, 777, got); /* audio at the model's rate, then forgotten */
  got->n = 0;
  CHECK(instrid_stream_set_sample_rate(st, RATE2, &err) == INSTRID_OK, "to %u Hz: %s", RATE2,
        err.message);
  CHECK(instrid_stream_sample_rate(st) == RATE2 && instrid_stream_get_hop_frames(st) == 3,
        "rate %u, hop %u", instrid_stream_sample_rate(st), instrid_stream_get_hop_frames(st));
  push_all(st, x, N2, 1000, got);
  push_all(ref, x, N2, 1000, want);
  CHECK(got->n > 3 && same_results(got, want), "%zu windows at %u Hz, %zu from a new stream",
        got->n, RATE2, want->n);

  CHECK(instrid_stream_set_sample_rate(st, 6000, &err) == INSTRID_ERR_INVALID_ARG &&
            instrid_stream_sample_rate(st) == RATE2,
        "6 kHz (Nyquist below fmax) refused, rate kept");
  got->n = want->n = 0;
  instrid_stream_reset(st);
  instrid_stream_reset(ref);
  push_all(st, x, N2, 313, got);
  push_all(ref, x, N2, 313, want);
  CHECK(same_results(got, want), "after a refused rate: other results");

  CHECK(instrid_stream_set_sample_rate(st, desc->frontend.sample_rate, &err) == INSTRID_OK &&
            instrid_stream_sample_rate(st) == desc->frontend.sample_rate,
        "back to the model's rate: %s", err.message);
  got->n = want->n = 0;
  push_all(st, x, N_SAMPLES, 500, got);
  push_all(ref_model, x, N_SAMPLES, 500, want);
  CHECK(got->n > 3 && same_results(got, want), "back at the model's rate: %zu windows, %zu", got->n,
        want->n);
  CHECK(instrid_stream_set_sample_rate(NULL, RATE2, &err) == INSTRID_ERR_INVALID_ARG,
        "NULL stream");
done:
  instrid_stream_free(st);
  instrid_stream_free(ref);
  instrid_stream_free(ref_model);
  free(got);
  free(want);
  free(x);
}

/* An analysis moved to an input rate (the element's at-input-rate route) gives the windows of
 * a stream made for that rate, counts samples at it, keeps its summary and interval, and refuses
 * a rate whose Nyquist frequency is below the model's fmax without changing anything. */
static void test_analysis_rate(void)
{
  enum { RATE2 = 16000, N2 = 2 * RATE2 };
  instrid_error err = {0};
  instrid_analysis *a = instrid_analysis_new(model, &err);
  instrid_stream *ref = instrid_stream_new_for_rate(model, RATE2, &err);
  float *x = malloc(N2 * sizeof *x);
  instrid_rng rng;
  instrid_rng_seed(&rng, 11);
  for (int i = 0; i < N2; i++)
    x[i] = 0.5f * (float)sin(0.05 * i) + 0.1f * (instrid_rng_uniform(&rng) - 0.5f);
  CHECK(a && ref, "analysis / stream for %u Hz: %s", RATE2, err.message);
  if (!a || !ref)
    goto done;
  CHECK(instrid_analysis_sample_rate(a) == desc->frontend.sample_rate,
        "starts at the model's rate");
  CHECK(instrid_analysis_set_hop_frames(a, 3, &err) == INSTRID_OK &&
            instrid_stream_set_hop_frames(ref, 3, &err) == INSTRID_OK,
        "hop: %s", err.message);
  /* A few windows at the model's rate first: the summary must carry over. */
  size_t at = 0, ref_at = 0, windows = 0, matched = 0;
  while (at < N_SAMPLES / 2) {
    instrid_window w;
    int have = 0;
    at += instrid_analysis_push(a, x + at, N_SAMPLES / 2 - at, &w, &have);
    windows += (size_t)have;
  }
  CHECK(windows > 0 && instrid_analysis_windows(a) == windows, "%zu windows at the model's rate",
        windows);
  CHECK(instrid_analysis_set_sample_rate(a, RATE2, &err) == INSTRID_OK, "to %u Hz: %s", RATE2,
        err.message);
  CHECK(instrid_analysis_sample_rate(a) == RATE2 && instrid_analysis_get_hop_frames(a) == 3,
        "rate %u, hop %u after the change", instrid_analysis_sample_rate(a),
        instrid_analysis_get_hop_frames(a));
  for (at = 0; at < N2;) {
    instrid_window w;
    instrid_result r;
    int have = 0, have_ref = 0;
    at += instrid_analysis_push(a, x + at, N2 - at, &w, &have);
    if (!have)
      continue;
    windows++;
    /* The reference stream, fed the same samples up to this window. */
    while (!have_ref && ref_at < N2)
      ref_at += instrid_stream_push(ref, x + ref_at, N2 - ref_at, &r, &have_ref);
    if (have_ref && w.start_sample == r.start_sample && w.length_samples == r.length_samples) {
      int same = 1;
      for (uint32_t c = 0; c < N_CLASSES; c++) {
        double p = r.probabilities[c] >= 0.0f
                       ? (r.probabilities[c] <= 1.0f ? r.probabilities[c] : 1.0)
                       : 0.0;
        same &= w.probabilities[c] == p;
      }
      matched += (size_t)same;
    }
  }
  CHECK(matched > 3 && instrid_analysis_windows(a) == windows,
        "%zu windows at %u Hz equal to the stream's for that rate; summary holds %llu of %zu",
        matched, RATE2, (unsigned long long)instrid_analysis_windows(a), windows);
  CHECK(instrid_analysis_set_sample_rate(a, 6000, &err) == INSTRID_ERR_INVALID_ARG &&
            instrid_analysis_sample_rate(a) == RATE2,
        "6 kHz (Nyquist below fmax) refused, rate kept");
  CHECK(instrid_analysis_set_sample_rate(a, desc->frontend.sample_rate, &err) == INSTRID_OK &&
            instrid_analysis_sample_rate(a) == desc->frontend.sample_rate,
        "back to the model's rate: %s", err.message);
done:
  instrid_analysis_free(a);
  instrid_stream_free(ref);
  free(x);
}

int main(void)
{
  instrid_error err = {0};
  testnet *a = testnet_build("tiny", N_CLASSES, 3);
  if (!a)
    return 1;
  testnet_randomize_batchnorm(a, 4);
  void *data = NULL;
  size_t size = 0;
  if (instrid_model_write_to_memory(testnet_desc(a), &data, &size, &err) != INSTRID_OK ||
      !(model = instrid_model_load_from_memory(data, size, &err))) {
    fprintf(stderr, "model: %s\n", err.message);
    return 1;
  }
  free(data);
  test_centred(a);
  testnet_free(a);
  desc = instrid_model_get_desc(model);

  test_chunking_and_schedule();
  test_threads();
  test_errors();
  test_stream_set_rate();
  test_analysis_rate();

  instrid_model_free(model);
  return check_exit();
}
