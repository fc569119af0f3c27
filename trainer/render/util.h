/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h — file-system helpers shared by the renderer's parts. */
#ifndef INSTRID_RENDER_UTIL_H
#define INSTRID_RENDER_UTIL_H

#include <stddef.h>

/* Names in dir (no dot files), sorted, optionally only those ending in suffix (case-insensitive).
 * 0 on success; free with render_free_names. */
int render_list_dir(const char *dir, const char *suffix, char ***names, size_t *n);
void render_free_names(char **names, size_t n);
/* snprintf for paths: 0, or -1 when the result did not fit (out then holds a truncated path
 * that no caller uses). */
int render_path(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* mkdir -p; 0 on success. */
int render_mkdirs(const char *path);

#endif /* INSTRID_RENDER_UTIL_H */
