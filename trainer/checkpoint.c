/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* checkpoint.c — atomic, checksummed save and load of the trainer's state (see checkpoint.h
 * for the layout). */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char checkpoint_magic[8] = {'I', 'D', 'C', 'K', 'P', 'T', '\r', '\n'};
enum { CHECKPOINT_VERSION = 1 };

uint64_t checkpoint_hash(uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* A FILE writer that hashes as it goes and remembers the first failure. */
typedef struct {
  FILE *f;
  uint64_t hash;
  int failed;
} hashed_writer;

static void hw_put(hashed_writer *w, const void *data, size_t n)
{
  if (w->failed || n == 0)
    return;
  w->hash = checkpoint_hash(w->hash, data, n);
  if (fwrite(data, 1, n, w->f) != n)
    w->failed = 1;
}

static void hw_u32(hashed_writer *w, uint32_t x)
{
  hw_put(w, &x, sizeof x);
}

static void hw_u64(hashed_writer *w, uint64_t x)
{
  hw_put(w, &x, sizeof x);
}

static void hw_f64(hashed_writer *w, double x)
{
  hw_put(w, &x, sizeof x);
}

/* fsync of the folder that holds path, so that the rename itself survives a crash. */
static void sync_parent_dir(const char *path)
{
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    strcpy(dir, ".");
  } else {
    size_t len = (size_t)(slash - path);
    if (len == 0)
      len = 1; /* "/file" lives in "/" */
    if (len >= sizeof dir)
      return;
    memcpy(dir, path, len);
    dir[len] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd); /* best effort: some file systems refuse fsync on folders */
    close(fd);
  }
}

instrid_status checkpoint_write(const char *path, const checkpoint_state *st, instrid_error *err)
{
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  if (!tmp)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);

  hashed_writer w = {fopen(tmp, "wb"), CHECKPOINT_HASH_INIT, 0};
  if (!w.f) {
    instrid_status s =
        instrid_set_error(err, INSTRID_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    free(tmp);
    return s;
  }
  hw_put(&w, checkpoint_magic, sizeof checkpoint_magic);
  hw_u32(&w, CHECKPOINT_VERSION);
  hw_u32(&w, 0);
  hw_u64(&w, st->options_hash);
  hw_u64(&w, st->seed);
  hw_u64(&w, st->step);
  hw_u64(&w, st->epoch);
  hw_u64(&w, st->step_in_epoch);
  hw_u64(&w, st->rng_state);
  hw_f64(&w, st->train_seconds);
  hw_f64(&w, st->epoch_loss_sum);
  hw_u64(&w, (uint64_t)st->n_params);
  hw_put(&w, st->params, st->n_params * sizeof(float));
  hw_put(&w, st->adam_m, st->n_params * sizeof(float));
  hw_put(&w, st->adam_v, st->n_params * sizeof(float));
  uint64_t sum = w.hash;
  if (!w.failed && fwrite(&sum, sizeof sum, 1, w.f) != 1)
    w.failed = 1;
  if (!w.failed && (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0))
    w.failed = 1;
  int saved_errno = errno;
  if (fclose(w.f) != 0 && !w.failed) {
    w.failed = 1;
    saved_errno = errno;
  }
  if (w.failed) {
    instrid_status s =
        instrid_set_error(err, INSTRID_ERR_IO, "cannot write %s: %s", tmp, strerror(saved_errno));
    unlink(tmp);
    free(tmp);
    return s;
  }
  if (rename(tmp, path) != 0) {
    instrid_status s = instrid_set_error(err, INSTRID_ERR_IO, "cannot rename %s to %s: %s", tmp,
                                         path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return s;
  }
  free(tmp);
  sync_parent_dir(path);
  return INSTRID_OK;
}

/* A FILE reader that hashes as it goes; 0 when the file ends early. */
typedef struct {
  FILE *f;
  uint64_t hash;
} hashed_reader;

static int hr_get(hashed_reader *r, void *data, size_t n)
{
  if (n == 0)
    return 1;
  if (fread(data, 1, n, r->f) != n)
    return 0;
  r->hash = checkpoint_hash(r->hash, data, n);
  return 1;
}

instrid_status checkpoint_read(const char *path, checkpoint_state *st, instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  hashed_reader r = {fopen(path, "rb"), CHECKPOINT_HASH_INIT};
  if (!r.f)
    return instrid_set_error(err, INSTRID_ERR_IO, "cannot open %s: %s", path, strerror(errno));

  char magic[8];
  uint32_t version, zero;
  uint64_t n_params, stored_sum;
  checkpoint_state got = *st;
  if (!hr_get(&r, magic, sizeof magic)) {
    status = instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%s: truncated header", path);
    goto done;
  }
  if (memcmp(magic, checkpoint_magic, sizeof magic) != 0) {
    status = instrid_set_error(err, INSTRID_ERR_MAGIC, "%s: not an instrid checkpoint", path);
    goto done;
  }
  if (!hr_get(&r, &version, 4) || !hr_get(&r, &zero, 4) || !hr_get(&r, &got.options_hash, 8) ||
      !hr_get(&r, &got.seed, 8) || !hr_get(&r, &got.step, 8) || !hr_get(&r, &got.epoch, 8) ||
      !hr_get(&r, &got.step_in_epoch, 8) || !hr_get(&r, &got.rng_state, 8) ||
      !hr_get(&r, &got.train_seconds, 8) || !hr_get(&r, &got.epoch_loss_sum, 8) ||
      !hr_get(&r, &n_params, 8)) {
    status = instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%s: truncated header", path);
    goto done;
  }
  if (version != CHECKPOINT_VERSION) {
    status = instrid_set_error(err, INSTRID_ERR_VERSION, "%s: checkpoint version %u, expected %u",
                               path, version, (unsigned)CHECKPOINT_VERSION);
    goto done;
  }
  if (n_params != (uint64_t)st->n_params) {
    status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: %llu parameters, this network has %zu",
                               path, (unsigned long long)n_params, st->n_params);
    goto done;
  }
  /* Read into the caller's buffers only once the checksum is known good would need a second
   * copy of the weights; instead the caller treats a failed read as "buffers undefined". */
  if (!hr_get(&r, st->params, st->n_params * sizeof(float)) ||
      !hr_get(&r, st->adam_m, st->n_params * sizeof(float)) ||
      !hr_get(&r, st->adam_v, st->n_params * sizeof(float))) {
    status = instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%s: truncated tensors", path);
    goto done;
  }
  uint64_t computed = r.hash;
  if (fread(&stored_sum, sizeof stored_sum, 1, r.f) != 1) {
    status = instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%s: missing checksum", path);
    goto done;
  }
  if (stored_sum != computed) {
    status = instrid_set_error(err, INSTRID_ERR_CHECKSUM, "%s: checksum mismatch", path);
    goto done;
  }
  if (fgetc(r.f) != EOF) {
    status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: bytes after the checksum", path);
    goto done;
  }
  if (got.step_in_epoch > got.step) {
    status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: inconsistent step counters", path);
    goto done;
  }
  *st = got;

done:
  fclose(r.f);
  return status;
}
