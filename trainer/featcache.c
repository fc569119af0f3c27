/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* featcache.c — decode once, memory-map forever: the feature cache (layout in featcache.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode.h"
#include "featcache.h"
#include "internal.h"

static const char featcache_magic[8] = {'I', 'N', 'S', 'T', 'R', 'I', 'D', 'F'};

struct featcache_file {
  const float *frames; /* (n_frames, n_mels) */
  uint64_t n_frames, n_samples;
  uint32_t n_mels;
  void *map; /* the mapped cache file, or NULL */
  size_t map_bytes;
  float *owned; /* frames held in memory when not cached */
};

/* ---- hashing ------------------------------------------------------------------------------ */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  return h;
}

static uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
  unsigned char b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  return fnv1a(h, b, 8);
}

static uint64_t fnv1a_f32(uint64_t h, float v)
{
  uint32_t u;
  memcpy(&u, &v, 4);
  return fnv1a_u64(h, u);
}

/* Every field that changes the raw frames; feature_mean/std are applied when serving. */
static uint64_t hash_frontend(uint64_t h, const instrid_frontend_params *p)
{
  h = fnv1a_u64(h, FEATCACHE_VERSION);
  h = fnv1a_u64(h, p->sample_rate);
  h = fnv1a_u64(h, p->n_fft);
  h = fnv1a_u64(h, p->win_length);
  h = fnv1a_u64(h, p->hop_samples);
  h = fnv1a_u64(h, p->n_mels);
  h = fnv1a_u64(h, p->window);
  h = fnv1a_u64(h, p->mel_scale);
  h = fnv1a_u64(h, p->mel_norm);
  h = fnv1a_f32(h, p->fmin_hz);
  h = fnv1a_f32(h, p->fmax_hz);
  h = fnv1a_f32(h, p->power);
  h = fnv1a_f32(h, p->log_floor);
  /* The version-2 fields, only when set, so that caches of version-1 front ends stay valid. */
  if (p->preemphasis != 0.0f || p->window_symmetric || p->center || p->log_mode ||
      p->reference_rate) {
    h = fnv1a_f32(h, p->preemphasis);
    h = fnv1a_u64(h, p->window_symmetric);
    h = fnv1a_u64(h, p->center);
    h = fnv1a_u64(h, p->log_mode);
    h = fnv1a_u64(h, p->reference_rate);
    h = fnv1a_u64(h, 2); /* 2: with the reflected end's frames (1 was without) */
  }
  return h;
}

/* Frame data is hashed a 64-bit word at a time: a byte-wise FNV over hundreds of megabytes of
 * frames would cost more than the page faults. */
static uint64_t hash_frames(const void *data, size_t n_bytes)
{
  const unsigned char *p = data;
  uint64_t h = FNV_OFFSET;
  size_t i = 0;
  for (; i + 8 <= n_bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * FNV_PRIME;
    h ^= h >> 29;
  }
  return fnv1a(h, p + i, n_bytes - i);
}

/* ---- header ------------------------------------------------------------------------------- */

typedef struct {
  uint32_t n_mels;
  uint64_t key, n_frames, n_samples, data_checksum;
} cache_header;

static void put_u32(unsigned char *b, uint32_t v)
{
  memcpy(b, &v, 4);
}
static void put_u64(unsigned char *b, uint64_t v)
{
  memcpy(b, &v, 8);
}
static uint32_t get_u32(const unsigned char *b)
{
  uint32_t v;
  memcpy(&v, b, 4);
  return v;
}
static uint64_t get_u64(const unsigned char *b)
{
  uint64_t v;
  memcpy(&v, b, 8);
  return v;
}

static void header_encode(const cache_header *h, unsigned char out[FEATCACHE_HEADER_BYTES])
{
  memset(out, 0, FEATCACHE_HEADER_BYTES);
  memcpy(out, featcache_magic, 8);
  put_u32(out + 8, FEATCACHE_VERSION);
  put_u32(out + 12, h->n_mels);
  put_u64(out + 16, h->key);
  put_u64(out + 24, h->n_frames);
  put_u64(out + 32, h->n_samples);
  put_u64(out + 40, h->data_checksum);
  put_u64(out + 48, fnv1a(FNV_OFFSET, out, 48));
}

/* ---- the file's identity -------------------------------------------------------------------- */

typedef struct {
  char *abs_path;
  char *cache_path; /* NULL without a cache_dir */
  uint64_t key;
} cache_identity;

static instrid_status identify(const char *cache_dir, const char *audio_path,
                               const instrid_frontend_params *fe, cache_identity *id,
                               instrid_error *err)
{
  memset(id, 0, sizeof *id);
  struct stat st;
  if (stat(audio_path, &st) != 0)
    return instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", audio_path, strerror(errno));
  id->abs_path = realpath(audio_path, NULL);
  if (!id->abs_path)
    return instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", audio_path, strerror(errno));
  uint64_t name_hash = hash_frontend(FNV_OFFSET, fe);
  name_hash = fnv1a(name_hash, id->abs_path, strlen(id->abs_path) + 1);
  int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  id->key = fnv1a_u64(fnv1a_u64(name_hash, (uint64_t)st.st_size), (uint64_t)mtime_ns);
  if (cache_dir) {
    size_t n = strlen(cache_dir) + 1 + 16 + sizeof ".feat";
    id->cache_path = malloc(n);
    if (!id->cache_path) {
      free(id->abs_path);
      id->abs_path = NULL;
      return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    }
    snprintf(id->cache_path, n, "%s/%016llx.feat", cache_dir, (unsigned long long)name_hash);
  }
  return INSTRID_OK;
}

static void identity_clear(cache_identity *id)
{
  free(id->abs_path);
  free(id->cache_path);
  memset(id, 0, sizeof *id);
}

char *featcache_path(const char *cache_dir, const char *audio_path,
                     const instrid_frontend_params *fe)
{
  cache_identity id;
  if (!cache_dir || identify(cache_dir, audio_path, fe, &id, NULL) != INSTRID_OK)
    return NULL;
  char *path = id.cache_path;
  id.cache_path = NULL;
  identity_clear(&id);
  return path;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Maps a cache file and checks all of it; NULL when absent or not to be trusted. */
static featcache_file *map_valid(const char *cache_path, uint64_t key, uint32_t n_mels)
{
  int fd = open(cache_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  void *map = MAP_FAILED;
  size_t bytes = 0;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)FEATCACHE_HEADER_BYTES ||
      (uint64_t)st.st_size > SIZE_MAX)
    goto invalid;
  bytes = (size_t)st.st_size;
  map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    goto invalid;
  const unsigned char *b = map;
  if (memcmp(b, featcache_magic, 8) != 0 || get_u32(b + 8) != FEATCACHE_VERSION ||
      get_u64(b + 48) != fnv1a(FNV_OFFSET, b, 48) || get_u64(b + 16) != key ||
      get_u32(b + 12) != n_mels)
    goto invalid;
  uint64_t n_frames = get_u64(b + 24);
  int overflow = 0;
  size_t data_bytes = instrid_mul_size(instrid_mul_size((size_t)n_frames, n_mels, &overflow),
                                       sizeof(float), &overflow);
  if (overflow || n_frames == 0 || n_frames > SIZE_MAX ||
      data_bytes != bytes - FEATCACHE_HEADER_BYTES ||
      hash_frames(b + FEATCACHE_HEADER_BYTES, data_bytes) != get_u64(b + 40))
    goto invalid;
  featcache_file *f = calloc(1, sizeof *f);
  if (!f)
    goto invalid;
  close(fd);
  f->map = map;
  f->map_bytes = bytes;
  f->frames = (const float *)(b + FEATCACHE_HEADER_BYTES);
  f->n_frames = n_frames;
  f->n_mels = n_mels;
  f->n_samples = get_u64(b + 32);
  return f;
invalid:
  if (map != MAP_FAILED)
    munmap(map, bytes);
  close(fd);
  return NULL;
}

/* ---- building ----------------------------------------------------------------------------- */

typedef struct {
  instrid_frontend *fe;               /* made when the decoder says the rate */
  const instrid_frontend_params *raw; /* the model's front end, mean 0 and std 1 */
  instrid_error fe_err;
  uint32_t n_mels;
  float *frames; /* (n_frames, n_mels), grown as frames complete */
  size_t n_frames, cap_frames;
  int out_of_memory;
} frame_builder;

/* Room for one more frame; 0 when out of memory (b->out_of_memory set). */
static int frame_room(frame_builder *b)
{
  if (b->n_frames < b->cap_frames)
    return 1;
  size_t cap = b->cap_frames ? b->cap_frames * 2 : 1024;
  int overflow = 0;
  size_t bytes =
      instrid_mul_size(instrid_mul_size(cap, b->n_mels, &overflow), sizeof(float), &overflow);
  float *grown = overflow ? NULL : realloc(b->frames, bytes);
  if (!grown) {
    b->out_of_memory = 1;
    return 0;
  }
  b->frames = grown;
  b->cap_frames = cap;
  return 1;
}

/* The decoder's route decided the rate: the model's front end, or the same front end derived
 * for the file's own rate (its frames are in the model's units, see log_gain), as the element
 * runs it. */
static int start_frontend(void *user, uint32_t rate)
{
  frame_builder *b = user;
  instrid_frontend_params p;
  if (instrid_frontend_params_for_rate(b->raw, rate, &p, &b->fe_err) != INSTRID_OK)
    return 1;
  b->fe = instrid_frontend_new(&p, &b->fe_err);
  return b->fe == NULL;
}

static int push_samples(void *user, const float *x, size_t n)
{
  frame_builder *b = user;
  while (n > 0) {
    if (!frame_room(b))
      return 1;
    int ready = 0;
    size_t used =
        instrid_frontend_process(b->fe, x, n, b->frames + b->n_frames * (size_t)b->n_mels, &ready);
    x += used;
    n -= used;
    if (ready)
      b->n_frames++;
  }
  return 0;
}

static int mkdir_p(const char *dir)
{
  char *p = strdup(dir);
  if (!p)
    return -1;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      free(p);
      return -1;
    }
    *s = '/';
  }
  int r = (mkdir(p, 0755) != 0 && errno != EEXIST) ? -1 : 0;
  free(p);
  return r;
}

static int write_all(int fd, const void *data, size_t n)
{
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static instrid_status write_cache(const char *cache_dir, const char *cache_path,
                                  const cache_header *h, const float *frames, instrid_error *err)
{
  if (mkdir_p(cache_dir) != 0)
    return instrid_set_error(err, INSTRID_ERR_IO, "cannot create cache directory %s: %s", cache_dir,
                             strerror(errno));
  size_t n = strlen(cache_path) + 32;
  char *tmp = malloc(n);
  if (!tmp)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
  snprintf(tmp, n, "%s.tmp.%ld", cache_path, (long)getpid());
  /* A writer killed between creating its temporary file and the rename leaves it: those of
   * processes that no longer exist go before this one is written. */
  instrid_remove_stale_temps(cache_path);
  unsigned char header[FEATCACHE_HEADER_BYTES];
  header_encode(h, header);
  size_t data_bytes = (size_t)h->n_frames * h->n_mels * sizeof(float);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  instrid_status status = INSTRID_OK;
  if (fd < 0 || write_all(fd, header, sizeof header) != 0 ||
      write_all(fd, frames, data_bytes) != 0 || fsync(fd) != 0) {
    status = instrid_set_error(err, INSTRID_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  }
  if (fd >= 0 && close(fd) != 0 && status == INSTRID_OK)
    status = instrid_set_error(err, INSTRID_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  if (status == INSTRID_OK && rename(tmp, cache_path) != 0)
    status = instrid_set_error(err, INSTRID_ERR_IO, "cannot rename %s to %s: %s", tmp, cache_path,
                               strerror(errno));
  if (status != INSTRID_OK)
    unlink(tmp);
  free(tmp);
  return status;
}

featcache_file *featcache_open(const char *cache_dir, const char *audio_path,
                               const instrid_frontend_params *fe, featcache_outcome *outcome,
                               instrid_error *cache_problem, instrid_error *err)
{
  featcache_file *f = NULL;
  frame_builder b = {0};
  cache_identity id;
  *outcome = FEATCACHE_UNCACHED;
  if (!audio_path || !fe) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "featcache_open: NULL argument");
    return NULL;
  }
  instrid_frontend_params raw = *fe;
  raw.feature_mean = 0.0f;
  raw.feature_std = 1.0f;
  if (instrid_frontend_params_check(&raw, err) != INSTRID_OK)
    return NULL;
  if (identify(cache_dir, audio_path, &raw, &id, err) != INSTRID_OK)
    return NULL;

  if (id.cache_path) {
    f = map_valid(id.cache_path, id.key, raw.n_mels);
    if (f) {
      *outcome = FEATCACHE_HIT;
      goto done;
    }
  }

  b.n_mels = raw.n_mels;
  b.raw = &raw;
  uint64_t n_samples = 0;
  uint32_t rate = 0;
  if (decode_audio_file_routed(audio_path, &raw, start_frontend, push_samples, &b, &n_samples,
                               &rate, err) != INSTRID_OK) {
    if (b.out_of_memory)
      instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory for its frames", audio_path);
    else if (b.fe_err.code != INSTRID_OK)
      instrid_set_error(err, b.fe_err.code, "%s: %s", audio_path, b.fe_err.message);
    goto done;
  }
  const instrid_frontend_params *used = instrid_frontend_get_params(b.fe);
  /* A centred front end (EfficientAT's) owes the frames of the reflected end, which the
   * stream gives at end of stream too (instrid_stream_flush). */
  while (frame_room(&b) && instrid_frontend_flush(b.fe, b.frames + b.n_frames * (size_t)b.n_mels))
    b.n_frames++;
  if (b.out_of_memory) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory for its frames", audio_path);
    goto done;
  }
  if (b.n_frames == 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "%s: %llu samples at %u Hz, shorter than one frame (%u samples)", audio_path,
                      (unsigned long long)n_samples, rate, used->n_fft);
    goto done;
  }

  /* Counted at the model's rate, whatever rate the route analysed the file at. */
  if (rate != raw.sample_rate)
    n_samples = (uint64_t)((double)n_samples * raw.sample_rate / rate + 0.5);

  if (id.cache_path) {
    cache_header h = {
        .n_mels = raw.n_mels, .key = id.key, .n_frames = b.n_frames, .n_samples = n_samples};
    h.data_checksum = hash_frames(b.frames, b.n_frames * (size_t)b.n_mels * sizeof(float));
    instrid_error werr = {0};
    if (write_cache(cache_dir, id.cache_path, &h, b.frames, &werr) == INSTRID_OK) {
      f = map_valid(id.cache_path, id.key, raw.n_mels);
      if (f) {
        *outcome = FEATCACHE_WRITTEN;
        goto done;
      }
      instrid_set_error(&werr, INSTRID_ERR_IO, "%s did not read back", id.cache_path);
    }
    if (cache_problem)
      *cache_problem = werr;
  }

  f = calloc(1, sizeof *f);
  if (!f) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto done;
  }
  f->owned = b.frames;
  b.frames = NULL;
  f->frames = f->owned;
  f->n_frames = b.n_frames;
  f->n_mels = raw.n_mels;
  f->n_samples = n_samples;
  *outcome = FEATCACHE_UNCACHED;

done:
  instrid_frontend_free(b.fe);
  free(b.frames);
  identity_clear(&id);
  return f;
}

void featcache_free(featcache_file *f)
{
  if (!f)
    return;
  if (f->map)
    munmap(f->map, f->map_bytes);
  free(f->owned);
  free(f);
}

const float *featcache_frames(const featcache_file *f)
{
  return f->frames;
}

uint64_t featcache_n_frames(const featcache_file *f)
{
  return f->n_frames;
}

uint32_t featcache_n_mels(const featcache_file *f)
{
  return f->n_mels;
}

uint64_t featcache_n_samples(const featcache_file *f)
{
  return f->n_samples;
}
