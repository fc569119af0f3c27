/* make_test_model.c — writes the tests' small random model to a file, for the Python test. */
#include <stdio.h>
#include <stdlib.h>

#include "testmodel.h"

int main(int argc, char **argv)
{
  instrid_error err;
  if (argc != 2) {
    fprintf(stderr, "usage: make_test_model OUT.instrid\n");
    return 2;
  }
  if (test_model_write(argv[1], 1, &err) != INSTRID_OK) {
    fprintf(stderr, "make_test_model: %s: %s\n", argv[1], err.message);
    return 1;
  }
  return 0;
}
