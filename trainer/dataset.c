/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dataset.c — training windows over MusicNet and OpenMIC recordings: reads the trees, decodes
 * or maps each file's frames through the feature cache, and serves (features, target, mask).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "readers.h"
#include "recording.h"
#include "featcache.h"
#include "internal.h"

typedef struct {
  uint32_t recording;
  uint32_t start_frame;
} window_ref;

struct train_dataset {
  instrid_frontend_params fe;
  uint32_t window_frames, n_mels;
  float silence;        /* the normalised feature of digital silence */
  double window_s;      /* length of the audio a window covers */
  double min_overlap_s; /* MusicNet presence threshold for this window length */
  recording_list recordings;
  featcache_file **frames; /* per recording; NULL for a skipped one */
  window_ref *windows[2];  /* per split */
  dataset_stats stats;
};

/* Windows start every hop_frames frames and lie wholly inside the recording; a recording
 * shorter than one window gives one window, padded with silence after its end (as the element
 * flushes the end of a stream). */
static size_t windows_of(uint64_t n_frames, uint32_t window_frames, uint32_t hop_frames)
{
  if (n_frames <= window_frames)
    return 1;
  return (size_t)((n_frames - window_frames) / hop_frames + 1);
}

static instrid_status check_options(const instrid_frontend_params *fe, const dataset_options *opt,
                                    instrid_error *err)
{
  if (!opt)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "dataset options missing");
  if (opt->window_frames == 0 || opt->window_frames > (1u << 20))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "window_frames %u outside 1..%u",
                             opt->window_frames, 1u << 20);
  if (opt->hop_frames == 0)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "hop_frames must be >= 1");
  if (!(opt->val_fraction >= 0.0f && opt->val_fraction < 1.0f))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "val_fraction %g outside [0, 1)",
                             (double)opt->val_fraction);
  if (opt->decode_threads < 0 || opt->decode_threads > DATASET_MAX_DECODE_THREADS)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "decode_threads %d outside 0..%d",
                             opt->decode_threads, DATASET_MAX_DECODE_THREADS);
  return instrid_frontend_params_check(fe, err);
}

/* Decoding the recordings, possibly several at a time: workers take the next file index under
 * the lock, decode or map it outside the lock, and report (stderr, stats) under it. */
typedef struct {
  train_dataset *ds;
  const instrid_frontend_params *fe;
  const dataset_options *opt;
  pthread_mutex_t lock;
  size_t next, done;
  int warned_cache;
} load_job;

static void *load_worker(void *arg)
{
  load_job *job = arg;
  train_dataset *ds = job->ds;
  size_t n_rec = ds->recordings.n;
  for (;;) {
    pthread_mutex_lock(&job->lock);
    size_t i = job->next++;
    pthread_mutex_unlock(&job->lock);
    if (i >= n_rec)
      return NULL;
    const char *path = ds->recordings.items[i].audio_path;
    featcache_outcome outcome;
    instrid_error file_err = {0}, cache_err = {0};
    featcache_file *f =
        featcache_open(job->opt->cache_dir, path, job->fe, &outcome, &cache_err, &file_err);
    pthread_mutex_lock(&job->lock);
    ds->frames[i] = f;
    job->done++;
    if (!f) {
      /* The message names the file; a run goes on without it. */
      fprintf(stderr, "instrid: skipping %s: %s\n", path, file_err.message);
      ds->stats.files_skipped++;
    } else {
      if (outcome == FEATCACHE_UNCACHED && job->opt->cache_dir && !job->warned_cache) {
        fprintf(stderr, "instrid: feature cache not written (%s); keeping frames in memory\n",
                cache_err.message);
        job->warned_cache = 1;
      }
      ds->stats.files_ok++;
      ds->stats.cache_hits += outcome == FEATCACHE_HIT;
      ds->stats.seconds_audio += (double)featcache_n_samples(f) / (double)job->fe->sample_rate;
    }
    if (job->opt->verbose && (job->done % 100 == 0 || job->done == n_rec))
      fprintf(stderr, "instrid: %zu/%zu files ready (%zu from cache, %zu skipped)\n", job->done,
              n_rec, ds->stats.cache_hits, ds->stats.files_skipped);
    pthread_mutex_unlock(&job->lock);
  }
}

static instrid_status load_all(train_dataset *ds, const instrid_frontend_params *fe,
                               const dataset_options *opt, instrid_error *err)
{
  load_job job = {.ds = ds, .fe = fe, .opt = opt};
  if (pthread_mutex_init(&job.lock, NULL) != 0)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot create a mutex");
  int n_threads = opt->decode_threads > 1 ? opt->decode_threads : 1;
  if ((size_t)n_threads > ds->recordings.n)
    n_threads = ds->recordings.n > 0 ? (int)ds->recordings.n : 1;
  pthread_t threads[DATASET_MAX_DECODE_THREADS];
  if (n_threads > DATASET_MAX_DECODE_THREADS)
    n_threads = DATASET_MAX_DECODE_THREADS;
  int started = 0;
  for (; started < n_threads - 1; started++)
    if (pthread_create(&threads[started], NULL, load_worker, &job) != 0)
      break; /* fewer threads is slower, not wrong */
  load_worker(&job);
  for (int t = 0; t < started; t++)
    pthread_join(threads[t], NULL);
  pthread_mutex_destroy(&job.lock);
  return INSTRID_OK;
}

train_dataset *train_dataset_open(const dataset_source *sources, int n_sources,
                                  const instrid_frontend_params *fe, const dataset_options *opt,
                                  instrid_error *err)
{
  if (!fe || check_options(fe, opt, err) != INSTRID_OK)
    return NULL;
  if (!sources || n_sources <= 0) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "no data sources");
    return NULL;
  }
  train_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    return NULL;
  }
  ds->fe = *fe;
  ds->window_frames = opt->window_frames;
  ds->n_mels = fe->n_mels;
  ds->silence = instrid_frontend_silence_value(fe);
  ds->window_s =
      ((double)(opt->window_frames - 1) * fe->hop_samples + fe->n_fft) / (double)fe->sample_rate;
  ds->min_overlap_s = MUSICNET_MIN_OVERLAP_FRACTION * ds->window_s;
  if (ds->min_overlap_s > MUSICNET_MIN_OVERLAP_S)
    ds->min_overlap_s = MUSICNET_MIN_OVERLAP_S;

  for (int s = 0; s < n_sources; s++) {
    instrid_status status;
    if (!sources[s].dir) {
      instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "source %d has no directory", s);
      goto fail;
    }
    if (sources[s].kind == DATASET_MUSICNET)
      status = musicnet_read(sources[s].dir, opt, &ds->recordings, &ds->stats, err);
    else if (sources[s].kind == DATASET_OPENMIC)
      status = openmic_read(sources[s].dir, opt, &ds->recordings, &ds->stats, err);
    else
      status = instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "source %d: unknown kind %d", s,
                                 (int)sources[s].kind);
    if (status != INSTRID_OK)
      goto fail;
  }
  if (ds->recordings.n > UINT32_MAX) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "too many recordings");
    goto fail;
  }

  size_t n_rec = ds->recordings.n;
  ds->frames = calloc(n_rec ? n_rec : 1, sizeof *ds->frames);
  if (!ds->frames) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (load_all(ds, fe, opt, err) != INSTRID_OK)
    goto fail;

  /* Count, then fill, the windows of each split. */
  size_t count[2] = {0, 0};
  for (size_t i = 0; i < n_rec; i++)
    if (ds->frames[i]) {
      size_t k = windows_of(featcache_n_frames(ds->frames[i]), opt->window_frames, opt->hop_frames);
      if (k > SIZE_MAX / sizeof(window_ref) - count[ds->recordings.items[i].split]) {
        instrid_set_error(err, INSTRID_ERR_NOMEM, "too many windows");
        goto fail;
      }
      count[ds->recordings.items[i].split] += k;
    }
  if (count[DATASET_TRAIN] + count[DATASET_VAL] == 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "no usable audio: %zu recordings listed, %zu skipped", n_rec,
                      ds->stats.files_skipped);
    goto fail;
  }
  for (int s = 0; s < 2; s++) {
    ds->windows[s] = malloc((count[s] ? count[s] : 1) * sizeof(window_ref));
    if (!ds->windows[s]) {
      instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      goto fail;
    }
  }
  for (size_t i = 0; i < n_rec; i++) {
    if (!ds->frames[i])
      continue;
    dataset_split split = ds->recordings.items[i].split;
    uint64_t n_frames = featcache_n_frames(ds->frames[i]);
    size_t k = windows_of(n_frames, opt->window_frames, opt->hop_frames);
    for (size_t w = 0; w < k; w++) {
      uint64_t start = (uint64_t)w * opt->hop_frames;
      if (start > UINT32_MAX) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: too long (%llu frames)",
                          ds->recordings.items[i].audio_path, (unsigned long long)n_frames);
        goto fail;
      }
      window_ref *ref = &ds->windows[split][ds->stats.windows[split]++];
      ref->recording = (uint32_t)i;
      ref->start_frame = (uint32_t)start;
    }
  }
  return ds;
fail:
  train_dataset_free(ds);
  return NULL;
}

void train_dataset_free(train_dataset *ds)
{
  if (!ds)
    return;
  if (ds->frames)
    for (size_t i = 0; i < ds->recordings.n; i++)
      featcache_free(ds->frames[i]);
  free(ds->frames);
  free(ds->windows[0]);
  free(ds->windows[1]);
  recording_list_clear(&ds->recordings);
  free(ds);
}

size_t train_dataset_count(const train_dataset *ds, dataset_split split)
{
  return (split == DATASET_TRAIN || split == DATASET_VAL) ? ds->stats.windows[split] : 0;
}

const dataset_stats *train_dataset_stats(const train_dataset *ds)
{
  return &ds->stats;
}

/* Seconds of [t0, t1) that the merged intervals [a, b) cover. */
static double covered_seconds(const label_interval *a, size_t n, double t0, double t1)
{
  /* First interval ending after t0 (intervals are disjoint and sorted, so ends are sorted). */
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid].end_s <= t0)
      lo = mid + 1;
    else
      hi = mid;
  }
  double sum = 0.0;
  for (size_t i = lo; i < n && a[i].start_s < t1; i++) {
    double s = a[i].start_s > t0 ? a[i].start_s : t0;
    double e = a[i].end_s < t1 ? a[i].end_s : t1;
    if (e > s)
      sum += e - s;
  }
  return sum;
}

uint32_t train_dataset_window_group(const train_dataset *ds, dataset_split split, size_t i,
                                    int *weak)
{
  const window_ref *ref = &ds->windows[split][i];
  *weak = ds->recordings.items[ref->recording].kind == DATASET_OPENMIC;
  return ref->recording;
}

void train_dataset_get(const train_dataset *ds, dataset_split split, size_t i, int shift_frames,
                       float *features, float *target, float *mask)
{
  const window_ref *ref = &ds->windows[split][i];
  const dataset_recording *rec = &ds->recordings.items[ref->recording];
  const featcache_file *file = ds->frames[ref->recording];
  const float *frames = featcache_frames(file); /* (n_frames, n_mels) raw */
  uint64_t n_frames = featcache_n_frames(file);
  uint32_t W = ds->window_frames, n_mels = ds->n_mels;

  /* Shifted windows stay inside the recording (no invented silence in training); only a
   * recording shorter than a window is padded, at its end. */
  int64_t start = (int64_t)ref->start_frame + shift_frames;
  int64_t last_start = n_frames > W ? (int64_t)(n_frames - W) : 0;
  if (start < 0)
    start = 0;
  if (start > last_start)
    start = last_start;
  uint64_t real = n_frames - (uint64_t)start;
  if (real > W)
    real = W;

  const float mean = ds->fe.feature_mean, std = ds->fe.feature_std;
  for (uint32_t t = 0; t < W; t++) {
    if (t < real) {
      const float *frame = frames + ((size_t)start + t) * n_mels;
      for (uint32_t m = 0; m < n_mels; m++)
        features[(size_t)m * W + t] = (frame[m] - mean) / std;
    } else {
      for (uint32_t m = 0; m < n_mels; m++)
        features[(size_t)m * W + t] = ds->silence;
    }
  }

  if (rec->kind == DATASET_OPENMIC) {
    for (int c = 0; c < TAXONOMY_N; c++) {
      target[c] = (float)((rec->target_bits >> c) & 1u);
      mask[c] = (float)((rec->mask_bits >> c) & 1u);
    }
    return;
  }
  double t0 = (double)start * ds->fe.hop_samples / ds->fe.sample_rate;
  double t1 = t0 + ds->window_s;
  for (int c = 0; c < TAXONOMY_N; c++) {
    const label_interval *a = rec->intervals + rec->class_start[c];
    size_t n = rec->class_start[c + 1] - rec->class_start[c];
    target[c] = covered_seconds(a, n, t0, t1) >= ds->min_overlap_s ? 1.0f : 0.0f;
    mask[c] = 1.0f;
  }
}

instrid_status train_dataset_feature_moments(const train_dataset *ds, float *mean, float *std,
                                             instrid_error *err)
{
  /* Sums in double per recording, then across recordings, so hours of frames do not lose the
   * small terms. */
  double sum = 0.0, sum_sq = 0.0, count = 0.0;
  for (size_t r = 0; r < ds->recordings.n; r++) {
    if (!ds->frames[r] || ds->recordings.items[r].split != DATASET_TRAIN)
      continue;
    const float *x = featcache_frames(ds->frames[r]);
    size_t n = (size_t)featcache_n_frames(ds->frames[r]) * ds->n_mels;
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
      s += x[i];
      s2 += (double)x[i] * x[i];
    }
    sum += s;
    sum_sq += s2;
    count += (double)n;
  }
  if (count == 0.0)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "no training frames");
  double m = sum / count;
  double var = sum_sq / count - m * m;
  *mean = (float)m;
  *std = (float)sqrt(var > 1e-12 ? var : 1e-12);
  return INSTRID_OK;
}

instrid_status train_dataset_set_normalization(train_dataset *ds, float mean, float std,
                                               instrid_error *err)
{
  if (!ds)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "no dataset");
  if (!isfinite(mean) || !isfinite(std) || !(std > 0.0f))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "feature normalisation mean %g, std %g: need finite values, std > 0",
                             (double)mean, (double)std);
  ds->fe.feature_mean = mean;
  ds->fe.feature_std = std;
  ds->silence = instrid_frontend_silence_value(&ds->fe);
  return INSTRID_OK;
}
