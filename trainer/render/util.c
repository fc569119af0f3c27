/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.c — directory listing and creation for the renderer. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int render_list_dir(const char *dir, const char *suffix, char ***names, size_t *n)
{
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    size_t len = strlen(e->d_name);
    if (suffix) {
      size_t sl = strlen(suffix);
      if (len < sl || strcasecmp(e->d_name + len - sl, suffix) != 0)
        continue;
    }
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      char **p = realloc(*names, cap * sizeof(char *));
      if (!p)
        goto fail;
      *names = p;
    }
    if (!((*names)[*n] = strdup(e->d_name)))
      goto fail;
    (*n)++;
  }
  closedir(d);
  if (*n)
    qsort(*names, *n, sizeof(char *), cmp_name);
  return 0;
fail:
  closedir(d);
  render_free_names(*names, *n);
  *names = NULL;
  *n = 0;
  return -1;
}

void render_free_names(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int render_mkdirs(const char *path)
{
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof(buf))
    return -1;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

int render_path(char *out, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  return k < 0 || (size_t)k >= n ? -1 : 0;
}
