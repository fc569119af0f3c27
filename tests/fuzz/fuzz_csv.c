/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_csv.c — the CSV reader (trainer/csv.c): every record, every field through the string,
 * whole-number and real accessors, and the header check. The input is written to a file
 * because the reader opens a path. */
#include "csv.h"
#include "fuzz.h"

static const char *const header[] = {"start_time", "end_time", "instrument"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char path[600];
  snprintf(path, sizeof path, "%s/input.csv", fuzz_tmpdir());
  fuzz_write(path, data, size);
  instrid_error err;
  csv_reader *csv = csv_open(path, &err);
  if (!csv)
    abort(); /* the file was just written */
  /* The first record as a header (a mismatch is an ordinary error), then the rest. */
  (void)csv_expect_header(csv, header, 3, &err);
  int r;
  size_t records = 0;
  while ((r = csv_next(csv, &err)) == 1) {
    size_t n = csv_n_fields(csv);
    if (csv_line(csv) == 0)
      abort();
    (void)csv_expect_fields(csv, 3, &err);
    for (size_t i = 0; i <= n; i++) { /* one past the end returns "" */
      const char *f = csv_field(csv, i);
      if (!f || (i == n && f[0] != '\0'))
        abort();
      long l;
      double d;
      (void)csv_field_long(csv, i, "column", -1000000, 1000000, &l, &err);
      (void)csv_field_double(csv, i, "column", -1e9, 1e9, &d, &err);
    }
    records++;
  }
  if (r < 0 && err.message[0] == '\0')
    abort();
  csv_close(csv);
  return 0;
}
