/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz.h — what the fuzz harnesses share. Each harness defines LLVMFuzzerTestOneInput (and may
 * define LLVMFuzzerInitialize); built with clang's -fsanitize=fuzzer it is a libFuzzer target,
 * linked with regress_main.c (any compiler) it replays the committed corpus in the normal
 * suite. Harnesses must be deterministic and must not leak or keep state between inputs. */
#ifndef INSTRID_FUZZ_H
#define INSTRID_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ftw.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static inline char *fuzz_dir(void)
{
  static char dir[512];
  return dir;
}

static inline void fuzz_remove_tmpdir(void)
{
  if (fuzz_dir()[0])
    nftw(fuzz_dir(), fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A scratch directory of this process (made once, under $TMPDIR or /tmp, removed at exit), or
 * exits. */
static inline const char *fuzz_tmpdir(void)
{
  char *dir = fuzz_dir();
  if (!dir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, 512, "%s/instrid-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
      perror("instrid fuzz: mkdtemp");
      exit(1);
    }
    atexit(fuzz_remove_tmpdir);
  }
  return dir;
}

/* Writes data to path (replacing it), or exits: the harness cannot go on without the file. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* Splits data at the first occurrence of sep (not included in either part): the part before
 * goes to *a, the rest to *b. Without sep, everything is *a and *b is empty. */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a,
                              size_t *na, const uint8_t **b, size_t *nb)
{
  size_t n = strlen(sep);
  for (size_t i = 0; i + n <= size; i++)
    if (memcmp(data + i, sep, n) == 0) {
      *a = data;
      *na = i;
      *b = data + i + n;
      *nb = size - i - n;
      return;
    }
  *a = data;
  *na = size;
  *b = data + size;
  *nb = 0;
}

#endif
