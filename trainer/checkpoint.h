/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* checkpoint.h — the trainer's resumable state on disk: weights, AdamW moments, position in the
 * run and a hash of the options that shaped it, written atomically and checksummed.
 *
 * Layout (little-endian, as the host; instrid targets little-endian machines only):
 *   magic "IDCKPT\r\n" (8 bytes), u32 version (1), u32 zero,
 *   u64 options_hash, u64 seed, u64 step, u64 epoch, u64 step_in_epoch, u64 rng_state,
 *   f64 train_seconds, f64 epoch_loss_sum, u64 n_params,
 *   f32 params[n_params], f32 adam_m[n_params], f32 adam_v[n_params],
 *   u64 FNV-1a 64 of every byte before it.
 */
#ifndef INSTRID_CHECKPOINT_H
#define INSTRID_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"

typedef struct {
  uint64_t options_hash; /* checkpoint_hash of everything that changes the run's trajectory */
  uint64_t seed;
  uint64_t step;          /* optimizer steps done over the whole run */
  uint64_t epoch;         /* epoch in progress */
  uint64_t step_in_epoch; /* steps of that epoch done */
  uint64_t rng_state;     /* the trainer's running random state (dropout stream) */
  double train_seconds;   /* wall time spent training so far, over every resumed process */
  double epoch_loss_sum;  /* sum of this epoch's step losses so far (for progress only) */
  size_t n_params;
  float *params; /* (n_params) network parameters in model-file order */
  float *adam_m; /* (n_params) AdamW first moments */
  float *adam_v; /* (n_params) AdamW second moments */
} checkpoint_state;

/* FNV-1a 64 of n bytes, continuing from h (start from CHECKPOINT_HASH_INIT). */
#define CHECKPOINT_HASH_INIT 0xcbf29ce484222325ull
uint64_t checkpoint_hash(uint64_t h, const void *data, size_t n);

/* Writes st to path atomically: path.tmp, fsync, rename, fsync of the folder, so that a kill at
 * any moment leaves either the old checkpoint or the new one. Errors: INSTRID_ERR_IO. */
instrid_status checkpoint_write(const char *path, const checkpoint_state *st, instrid_error *err);

/* Reads path into st. st->n_params, st->params, adam_m and adam_v must be set by the caller
 * (the buffers it expects); a file for another parameter count is INSTRID_ERR_FORMAT.
 * Errors: INSTRID_ERR_IO, INSTRID_ERR_MAGIC, INSTRID_ERR_VERSION, INSTRID_ERR_TRUNCATED,
 * INSTRID_ERR_FORMAT, INSTRID_ERR_CHECKSUM. */
instrid_status checkpoint_read(const char *path, checkpoint_state *st, instrid_error *err);

#endif /* INSTRID_CHECKPOINT_H */
