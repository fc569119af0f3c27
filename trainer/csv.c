/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* csv.c — RFC 4180 CSV reader used by the MusicNet and OpenMIC readers (see csv.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "internal.h"

/* A label row is a few dozen bytes; anything this long is not a label file. */
#define CSV_RECORD_MAX ((size_t)1 << 20)

struct csv_reader {
  FILE *file;
  char *path;
  char *buf; /* the current record's fields, each NUL-terminated, back to back */
  size_t buf_len, buf_cap;
  size_t *field_at; /* offset of each field in buf */
  size_t n_fields, fields_cap;
  size_t line; /* physical line the reader is on */
  size_t record_line;
  int at_start; /* no record read yet: a BOM may follow */
};

csv_reader *csv_open(const char *path, instrid_error *err)
{
  csv_reader *csv = calloc(1, sizeof *csv);
  if (!csv) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", path);
    return NULL;
  }
  csv->path = strdup(path);
  if (!csv->path) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  csv->file = fopen(path, "rb");
  if (!csv->file) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  /* fopen opens a directory too; reading it would only say "read error". */
  struct stat st;
  if (fstat(fileno(csv->file), &st) == 0 && S_ISDIR(st.st_mode)) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot open: %s", path, strerror(EISDIR));
    goto fail;
  }
  csv->line = 1;
  csv->at_start = 1;
  return csv;
fail:
  csv_close(csv);
  return NULL;
}

void csv_close(csv_reader *csv)
{
  if (!csv)
    return;
  if (csv->file)
    fclose(csv->file);
  free(csv->path);
  free(csv->buf);
  free(csv->field_at);
  free(csv);
}

static int csv_put(csv_reader *csv, char c)
{
  if (csv->buf_len == csv->buf_cap) {
    if (csv->buf_cap >= CSV_RECORD_MAX)
      return -1;
    size_t cap = csv->buf_cap ? csv->buf_cap * 2 : 256;
    char *b = realloc(csv->buf, cap);
    if (!b)
      return -1;
    csv->buf = b;
    csv->buf_cap = cap;
  }
  csv->buf[csv->buf_len++] = c;
  return 0;
}

static int csv_begin_field(csv_reader *csv)
{
  if (csv->n_fields == csv->fields_cap) {
    size_t cap = csv->fields_cap ? csv->fields_cap * 2 : 16;
    size_t *f = realloc(csv->field_at, cap * sizeof *f);
    if (!f)
      return -1;
    csv->field_at = f;
    csv->fields_cap = cap;
  }
  csv->field_at[csv->n_fields++] = csv->buf_len;
  return 0;
}

int csv_next(csv_reader *csv, instrid_error *err)
{
  if (csv->at_start) {
    csv->at_start = 0;
    int c0 = getc(csv->file);
    if (c0 == 0xEF) {
      if (getc(csv->file) != 0xBB || getc(csv->file) != 0xBF) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:1: not UTF-8 text", csv->path);
        return -1;
      }
    } else if (c0 != EOF) {
      ungetc(c0, csv->file);
    }
  }
  for (;;) {
    csv->buf_len = 0;
    csv->n_fields = 0;
    csv->record_line = csv->line;
    int c = getc(csv->file);
    if (c == EOF)
      goto eof;
    /* Blank lines (including a trailing one) carry no record. */
    if (c == '\n') {
      csv->line++;
      continue;
    }
    if (c == '\r') {
      int d = getc(csv->file);
      if (d != '\n' && d != EOF)
        ungetc(d, csv->file);
      csv->line++;
      continue;
    }
    ungetc(c, csv->file);
    break;
  }

  if (csv_begin_field(csv) != 0)
    goto nomem;
  int quoted = 0, after_quote = 0, field_start = 1;
  for (;;) {
    int c = getc(csv->file);
    if (c == EOF) {
      if (ferror(csv->file)) {
        instrid_set_error(err, INSTRID_ERR_IO, "%s:%zu: read error", csv->path, csv->line);
        return -1;
      }
      if (quoted) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:%zu: quoted field (column %zu) never closed",
                          csv->path, csv->record_line, csv->n_fields);
        return -1;
      }
      break;
    }
    if (quoted) {
      if (c == '"') {
        int d = getc(csv->file);
        if (d == '"') {
          if (csv_put(csv, '"') != 0)
            goto nomem;
        } else {
          if (d != EOF)
            ungetc(d, csv->file);
          quoted = 0;
          after_quote = 1;
        }
        continue;
      }
      if (c == '\n')
        csv->line++;
      if (csv_put(csv, (char)c) != 0)
        goto nomem;
      continue;
    }
    if (c == ',') {
      if (csv_put(csv, '\0') != 0 || csv_begin_field(csv) != 0)
        goto nomem;
      after_quote = 0;
      field_start = 1;
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r') {
        int d = getc(csv->file);
        if (d != '\n' && d != EOF)
          ungetc(d, csv->file);
      }
      csv->line++;
      break;
    }
    if (after_quote) {
      instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:%zu: column %zu: text after the closing quote",
                        csv->path, csv->record_line, csv->n_fields);
      return -1;
    }
    if (c == '"' && field_start) {
      quoted = 1;
      field_start = 0;
      continue;
    }
    field_start = 0;
    if (csv_put(csv, (char)c) != 0)
      goto nomem;
  }
  if (csv_put(csv, '\0') != 0)
    goto nomem;
  return 1;

eof:
  if (ferror(csv->file)) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s:%zu: read error", csv->path, csv->line);
    return -1;
  }
  return 0;
nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "%s:%zu: record too long or out of memory", csv->path,
                    csv->record_line);
  return -1;
}

size_t csv_n_fields(const csv_reader *csv)
{
  return csv->n_fields;
}

const char *csv_field(const csv_reader *csv, size_t i)
{
  return i < csv->n_fields ? csv->buf + csv->field_at[i] : "";
}

size_t csv_line(const csv_reader *csv)
{
  return csv->record_line;
}

const char *csv_path(const csv_reader *csv)
{
  return csv->path;
}

instrid_status csv_expect_header(csv_reader *csv, const char *const *names, size_t n_names,
                                 instrid_error *err)
{
  int r = csv_next(csv, err);
  if (r < 0)
    return err ? err->code : INSTRID_ERR_FORMAT;
  if (r == 0)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:1: empty file, expected header %s,...",
                             csv->path, names[0]);
  for (size_t i = 0; i < n_names; i++) {
    if (i >= csv->n_fields)
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "%s:%zu: column %zu: header ends, expected '%s'", csv->path,
                               csv->record_line, i + 1, names[i]);
    if (strcmp(csv_field(csv, i), names[i]) != 0)
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "%s:%zu: column %zu: header is '%s', expected '%s'", csv->path,
                               csv->record_line, i + 1, csv_field(csv, i), names[i]);
  }
  if (csv->n_fields != n_names)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s:%zu: column %zu: unexpected extra header column '%s'", csv->path,
                             csv->record_line, n_names + 1, csv_field(csv, n_names));
  return INSTRID_OK;
}

instrid_status csv_expect_fields(const csv_reader *csv, size_t n, instrid_error *err)
{
  if (csv->n_fields != n)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:%zu: %zu columns, expected %zu",
                             csv->path, csv->record_line, csv->n_fields, n);
  return INSTRID_OK;
}

instrid_status csv_field_long(const csv_reader *csv, size_t i, const char *column_name, long lo,
                              long hi, long *out, instrid_error *err)
{
  const char *s = csv_field(csv, i);
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s:%zu: column %zu (%s): '%s' is not a whole number in [%ld, %ld]",
                             csv->path, csv->record_line, i + 1, column_name, s, lo, hi);
  *out = v;
  return INSTRID_OK;
}

instrid_status csv_field_double(const csv_reader *csv, size_t i, const char *column_name, double lo,
                                double hi, double *out, instrid_error *err)
{
  const char *s = csv_field(csv, i);
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s:%zu: column %zu (%s): '%s' is not a number in [%g, %g]", csv->path,
                             csv->record_line, i + 1, column_name, s, lo, hi);
  *out = v;
  return INSTRID_OK;
}
