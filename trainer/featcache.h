/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* featcache.h — the on-disk feature cache: the log-mel frames of one audio file, decoded once
 * through GStreamer and libinstrid's front end, then memory-mapped on every later epoch and run.
 *
 * A cache file, <cache_dir>/<name>.feat, native byte order (the cache is local to a machine):
 *
 *   offset  size  field
 *   0       8     magic "INSTRIDF"
 *   8       4     version (FEATCACHE_VERSION)
 *   12      4     n_mels
 *   16      8     key: FNV-1a 64 of the version, every front-end field that shapes the raw
 *                 frames, the audio file's absolute path, its size and its mtime (ns)
 *   24      8     n_frames
 *   32      8     n_samples: samples decoded, counted at the model's rate (rescaled when the
 *                 file was analysed at its own rate)
 *   40      8     data checksum: FNV-1a 64 of the frame bytes
 *   48      8     header checksum: FNV-1a 64 of bytes 0..47
 *   56      8     reserved, 0
 *   64      ...   frames, float32, (n_frames, n_mels) row-major
 *
 * <name> is the hex FNV-1a 64 of the front-end fields and the absolute path only, so when the
 * audio file changes (size or mtime) its one cache file is rebuilt in place rather than a new
 * one piling up; when the front end changes, the name changes. A file whose magic, version,
 * key, size or either checksum is wrong is rebuilt, never trusted. Files are written to
 * <name>.feat.tmp.<pid>, fsync'ed and renamed, so a reader never sees a partial file; a write
 * first removes the <name>.feat.tmp.<pid> files of processes that no longer exist (a trainer
 * killed mid-write), as instrid_model_write does.
 *
 * Frames are stored raw: computed with feature_mean = 0 and feature_std = 1, so that choosing
 * normalisation statistics (which the trainer may compute from these very frames) does not
 * invalidate the cache. The front end's normalised feature is (raw - mean) / std, which is
 * exactly what libinstrid computes.
 */
#ifndef INSTRID_FEATCACHE_H
#define INSTRID_FEATCACHE_H

#include <stdint.h>

#include "instrid.h"

/* 2: audio decoded through audio/audiopath.c (the element's path: channel mean, NaN/Inf
 * sanitised before a Kaiser resampler) instead of audioconvert ! audioresample.
 * 3: on the element's route: a file whose Nyquist frequency reaches the front end's fmax is
 * analysed at its own rate (instrid_frontend_params_for_rate, frames in the model's units),
 * not resampled. */
#define FEATCACHE_VERSION 3u
#define FEATCACHE_HEADER_BYTES 64u

typedef struct featcache_file featcache_file;

typedef enum {
  FEATCACHE_HIT = 0,      /* a valid cache file was mapped */
  FEATCACHE_WRITTEN = 1,  /* decoded, written to the cache, mapped */
  FEATCACHE_UNCACHED = 2, /* decoded into memory: no cache_dir, or writing it failed */
} featcache_outcome;

/* The raw frames of audio_path under front end fe (its feature_mean and feature_std are
 * ignored), on the element's route: at the file's own rate when fe can run at it (the frames
 * then come from instrid_frontend_params_for_rate's front end, in fe's units), else resampled
 * to fe's rate. cache_dir NULL decodes into memory; otherwise cache_dir is created if needed. When
 * the cache cannot be written, the frames are kept in memory, *outcome says FEATCACHE_UNCACHED
 * and *cache_problem (when not NULL) receives the reason. NULL with err filled when the audio
 * cannot be decoded or is shorter than one frame (err names the file). */
featcache_file *featcache_open(const char *cache_dir, const char *audio_path,
                               const instrid_frontend_params *fe, featcache_outcome *outcome,
                               instrid_error *cache_problem, instrid_error *err);
void featcache_free(featcache_file *f);

/* (n_frames, n_mels) row-major raw frames, valid while f lives. */
const float *featcache_frames(const featcache_file *f);
uint64_t featcache_n_frames(const featcache_file *f);
uint32_t featcache_n_mels(const featcache_file *f);
uint64_t featcache_n_samples(const featcache_file *f);

/* The cache file path for audio_path under fe (malloc'ed; NULL when the audio file's absolute
 * path cannot be resolved). For tests and tools. */
char *featcache_path(const char *cache_dir, const char *audio_path,
                     const instrid_frontend_params *fe);

#endif /* INSTRID_FEATCACHE_H */
