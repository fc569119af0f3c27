/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* make_test_model.c — writes the tests' small random model to a file (for the Python tests),
 * or a random-weight model of another architecture (for bench/bench_pipeline.sh). */
#include <stdio.h>
#include <stdlib.h>

#include "testmodel.h"

int main(int argc, char **argv)
{
  instrid_error err;
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: make_test_model OUT.instrid [ARCH [N_CLASSES]]\n");
    return 2;
  }
  const char *arch = argc > 2 ? argv[2] : "tiny";
  unsigned n_classes = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : TEST_MODEL_N_CLASSES;
  if (test_model_write_arch(argv[1], arch, n_classes, 1, &err) != INSTRID_OK) {
    fprintf(stderr, "make_test_model: %s: %s\n", argv[1], err.message);
    return 1;
  }
  return 0;
}
