/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* internal.h — helpers shared by libinstrid's own sources; not installed. */
#ifndef INSTRID_INTERNAL_H
#define INSTRID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"

#if defined(__GNUC__)
#define INSTRID_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define INSTRID_PRINTF(a, b)
#endif

/* Fills err (which may be NULL) and returns code, so that callers can write
 * `return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_mels %u > %u", a, b);` */
instrid_status instrid_set_error(instrid_error *err, instrid_status code, const char *fmt, ...)
    INSTRID_PRINTF(3, 4);

/* a * b, or 0 with *overflow set when it does not fit in size_t. */
static inline size_t instrid_mul_size(size_t a, size_t b, int *overflow)
{
  if (a != 0 && b > SIZE_MAX / a) {
    *overflow = 1;
    return 0;
  }
  return a * b;
}

static inline size_t instrid_add_size(size_t a, size_t b, int *overflow)
{
  if (b > SIZE_MAX - a) {
    *overflow = 1;
    return 0;
  }
  return a + b;
}

/* FFTW's planner is not thread-safe: planning and destroying plans happen under this one
 * process-wide lock (the only global mutable state in the library). */
void instrid_fftw_lock(void);
void instrid_fftw_unlock(void);

/* 64-byte aligned allocation of n floats, zeroed; NULL on overflow or failure. Free with
 * instrid_free_aligned. */
float *instrid_alloc_floats(size_t n);
/* The same for memory the caller fills at once (weights): a large block has all its pages
 * mapped in one call (MAP_POPULATE) rather than faulted in one by one, which costs far more
 * (a model's megabytes of weights took tens of milliseconds in page faults at load); from
 * 2 MiB on it starts on a huge-page boundary and asks for transparent huge pages. */
float *instrid_alloc_floats_filled(size_t n);
void instrid_free_aligned(void *p);

/* Removes path.tmp.<pid> files (the temporary names of atomic writes: instrid_model_write,
 * the trainer's feature cache) whose process no longer exists, i.e. left by a writer killed
 * before its rename. Files of live processes, of processes this one may not signal, and of
 * other targets are kept. Silent: a file it cannot remove stays. Only sound when the
 * directory is not shared with writers in another PID namespace. */
void instrid_remove_stale_temps(const char *path);

#endif /* INSTRID_INTERNAL_H */
