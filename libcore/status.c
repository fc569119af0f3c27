/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status.c — error values and messages, the planner lock and aligned allocation. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
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
   * nor resident memory. The raw pointer sits just before the 64-byte aligned block, and
   * before it a 0 (a mapping's size for instrid_alloc_floats_filled). */
  if (bytes > SIZE_MAX - 64 - 2 * sizeof(void *))
    return NULL;
  char *raw = calloc(1, bytes + 64 + 2 * sizeof(void *));
  if (!raw)
    return NULL;
  uintptr_t at = ((uintptr_t)(raw + 2 * sizeof(void *)) + 63) & ~(uintptr_t)63;
  ((void **)at)[-1] = raw;
  ((size_t *)at)[-2] = 0; /* not a mapping of ours (see instrid_alloc_floats_filled) */
  return (float *)at;
}

/* Blocks from this size on are mapped whole. */
#define FILLED_MAP_BYTES ((size_t)1 << 20)
/* Transparent huge pages: a block of at least this size starts on such a boundary and asks
 * the kernel for huge pages (MADV_HUGEPAGE), which back it with one fault per 2 MiB instead of
 * 512 and one TLB entry; in a virtual machine with shadow page tables every first touch of a
 * 4 KiB page also costs an exit, several milliseconds for a model's 4 MiB. */
#define FILLED_HUGE_BYTES ((size_t)2 << 20)

float *instrid_alloc_floats_filled(size_t n)
{
#if defined(MAP_POPULATE) && defined(MAP_ANONYMOUS)
  int overflow = 0;
  size_t bytes = instrid_mul_size(n ? n : 1, sizeof(float), &overflow);
  const size_t page = 4096;
#if defined(MADV_HUGEPAGE)
  if (!overflow && bytes >= FILLED_HUGE_BYTES && bytes <= SIZE_MAX - 2 * FILLED_HUGE_BYTES - page) {
    /* One page in front holds the mapping's size; the block starts on the next huge-page
     * boundary. Only the whole huge pages inside the block are advised, so the tail stays in
     * small pages and the resident size is the block's, as with MAP_POPULATE. */
    size_t span = (bytes + page - 1) / page * page;
    size_t total = span + FILLED_HUGE_BYTES + page;
    char *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map != MAP_FAILED) {
      uintptr_t first = (uintptr_t)map + page;
      char *at = (char *)((first + FILLED_HUGE_BYTES - 1) & ~(uintptr_t)(FILLED_HUGE_BYTES - 1));
      (void)madvise(at, bytes / FILLED_HUGE_BYTES * FILLED_HUGE_BYTES, MADV_HUGEPAGE);
      /* Filled now, as MAP_POPULATE would: in one call where the kernel can (Linux 5.14 on;
       * the small pages of the tail are then not faulted in one by one), else one write per
       * page (the memory is zero already). */
      int populated = 0;
#if defined(MADV_POPULATE_WRITE)
      populated = madvise(at, span, MADV_POPULATE_WRITE) == 0;
#endif
      for (size_t off = 0; !populated && off < span; off += page)
        ((volatile char *)at)[off] = 0;
      ((void **)at)[-1] = map;
      ((size_t *)at)[-2] = total;
      return (float *)at;
    }
  }
#endif
  if (!overflow && bytes >= FILLED_MAP_BYTES && bytes <= SIZE_MAX - 2 * page) {
    /* One page in front holds the mapping's size; the block starts on the next page. */
    size_t total = (bytes + page - 1) / page * page + page;
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (map != MAP_FAILED) {
      char *at = (char *)map + page;
      ((void **)at)[-1] = map;
      ((size_t *)at)[-2] = total;
      return (float *)at;
    }
  }
#endif
  return instrid_alloc_floats(n);
}

void instrid_free_aligned(void *p)
{
  if (!p)
    return;
  size_t mapped = ((size_t *)p)[-2];
  if (mapped)
    munmap(((void **)p)[-1], mapped);
  else
    free(((void **)p)[-1]);
}
