/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* regress_main.c — replays files through a harness's LLVMFuzzerTestOneInput without libFuzzer,
 * so that the committed corpus (seeds and every input that once crashed) runs in the normal
 * suite with any compiler:
 *   fuzz_<target>_regress DIR_OR_FILE...
 * Prints how many inputs ran; a crash or a sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Harnesses that need no set-up do not define LLVMFuzzerInitialize. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  return 0;
}

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 0;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *grown = realloc(buf, cap * 2);
      if (!grown) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  int ok = buf && !ferror(f);
  fclose(f);
  if (!ok) {
    fprintf(stderr, "%s: cannot read\n", path);
    free(buf);
    return 0;
  }
  /* An exact-size copy, so that an over-read by one byte is caught by the sanitizers. */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) {
    free(buf);
    return 0;
  }
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 1;
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
  LLVMFuzzerInitialize(&argc, &argv);
  size_t ran = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      failed++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      ran += (size_t)run_file(argv[i]);
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) {
      perror(argv[i]);
      failed++;
      continue;
    }
    /* In name order, so that a run is the same on every machine. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.')
        continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **grown = realloc(names, cap * sizeof *names);
        if (!grown)
          break;
        names = grown;
      }
      names[n] = strdup(e->d_name);
      if (names[n])
        n++;
    }
    closedir(d);
    if (n)
      qsort(names, n, sizeof *names, compare_names);
    for (size_t k = 0; k < n; k++) {
      size_t len = strlen(argv[i]) + strlen(names[k]) + 2;
      char *path = malloc(len);
      if (path) {
        snprintf(path, len, "%s/%s", argv[i], names[k]);
        size_t one = (size_t)run_file(path);
        ran += one;
        failed += 1 - one;
        free(path);
      }
      free(names[k]);
    }
    free(names);
  }
  printf("%zu inputs ran, %zu unreadable\n", ran, failed);
  return failed || ran == 0 ? 1 : 0;
}
