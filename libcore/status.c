/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status.c — error values and messages, the planner lock and aligned allocation. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *instrid_status_name(instrid_status status)
{
  switch (status) {
  case INSTRID_OK:
    return "ok";
  case INSTRID_ERR_IO:
    return "input/output error";
  case INSTRID_ERR_TRUNCATED:
    return "file truncated";
  case INSTRID_ERR_MAGIC:
    return "not an instrid model file";
  case INSTRID_ERR_VERSION:
    return "unsupported model file version";
  case INSTRID_ERR_CHECKSUM:
    return "checksum mismatch";
  case INSTRID_ERR_FORMAT:
    return "invalid or inconsistent field";
  case INSTRID_ERR_NOMEM:
    return "out of memory";
  case INSTRID_ERR_INVALID_ARG:
    return "invalid argument";
  }
  return "unknown error";
}

instrid_status instrid_set_error(instrid_error *err, instrid_status code, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

static pthread_mutex_t fftw_planner_mutex = PTHREAD_MUTEX_INITIALIZER;

void instrid_fftw_lock(void)
{
  pthread_mutex_lock(&fftw_planner_mutex);
}

void instrid_fftw_unlock(void)
{
  pthread_mutex_unlock(&fftw_planner_mutex);
}

float *instrid_alloc_floats(size_t n)
{
  int overflow = 0;
  size_t bytes = instrid_mul_size(n ? n : 1, sizeof(float), &overflow);
  if (overflow)
    return NULL;
  bytes = (bytes + 63) & ~(size_t)63;
  /* calloc, not posix_memalign + memset: a large block comes from fresh zero pages that are
   * only faulted in when touched, so a stream's upper-bound scratch that a network never
   * reaches costs neither start-up time (an mn04 stream's buffers took about 40 ms to zero)
   * nor resident memory. The raw pointer sits just before the 64-byte aligned block. */
  if (bytes > SIZE_MAX - 64 - sizeof(void *))
    return NULL;
  char *raw = calloc(1, bytes + 64 + sizeof(void *));
  if (!raw)
    return NULL;
  uintptr_t at = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
  ((void **)at)[-1] = raw;
  return (float *)at;
}

void instrid_free_aligned(void *p)
{
  if (p)
    free(((void **)p)[-1]);
}
