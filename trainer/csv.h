/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* csv.h — a small RFC 4180 CSV reader for the dataset label files: quoted fields with ""
 * escapes and embedded newlines, CRLF or LF, an optional UTF-8 BOM, and errors that name the
 * file, the line and the column.
 */
#ifndef INSTRID_CSV_H
#define INSTRID_CSV_H

#include <stddef.h>

#include "instrid.h"

typedef struct csv_reader csv_reader;

/* Opens path for reading. NULL with err filled (INSTRID_ERR_IO) when it cannot be opened. */
csv_reader *csv_open(const char *path, instrid_error *err);
void csv_close(csv_reader *csv);

/* Reads the next record: 1 when a record was read, 0 at end of file, -1 on error (an
 * unterminated quote, a character after a closing quote, a record too long, a read error).
 * Blank lines are skipped. The fields stay valid until the next call. */
int csv_next(csv_reader *csv, instrid_error *err);

size_t csv_n_fields(const csv_reader *csv);
/* Field i of the current record (NUL-terminated, quotes removed), or "" past the end. */
const char *csv_field(const csv_reader *csv, size_t i);
/* The physical line the current record starts on, 1-based. */
size_t csv_line(const csv_reader *csv);
const char *csv_path(const csv_reader *csv);

/* Reads the first record and checks that it is exactly the given column names, in order.
 * On a mismatch, err names the file, line 1, the column number and both names. */
instrid_status csv_expect_header(csv_reader *csv, const char *const *names, size_t n_names,
                                 instrid_error *err);

/* Checks that the current record has exactly n fields; err names file and line otherwise. */
instrid_status csv_expect_fields(const csv_reader *csv, size_t n, instrid_error *err);

/* Field i parsed as a whole number / a finite real in [lo, hi]; err names file, line, column
 * number and column_name otherwise. */
instrid_status csv_field_long(const csv_reader *csv, size_t i, const char *column_name, long lo,
                              long hi, long *out, instrid_error *err);
instrid_status csv_field_double(const csv_reader *csv, size_t i, const char *column_name, double lo,
                                double hi, double *out, instrid_error *err);

#endif /* INSTRID_CSV_H */
