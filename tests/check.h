/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check.h — the one assertion of the C unit tests: CHECK(cond, fmt, ...) reports file:line, the
 * condition and a message on stderr and counts the failure, so that one run shows every broken
 * check; main() ends with `return check_exit();`. Header only: each test is one source file. */
#ifndef INSTRID_TESTS_CHECK_H
#define INSTRID_TESTS_CHECK_H

#include <stdio.h>

/* The exit status meson reads as "skipped". */
#define CHECK_EXIT_SKIP 77

static int check_failures;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

/* The test's exit status: 1 after any failed check (with their count on stderr), else
 * CHECK_EXIT_SKIP when skipped is set (the test could not run its main part), else 0. */
static inline int check_exit_skipped(int skipped)
{
  if (check_failures) {
    fprintf(stderr, "%d check(s) failed\n", check_failures);
    return 1;
  }
  return skipped ? CHECK_EXIT_SKIP : 0;
}

static inline int check_exit(void)
{
  return check_exit_skipped(0);
}

#endif
