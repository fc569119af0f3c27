/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testmodel.c — writes the tests' small random model (see testmodel.h). */
#include "testmodel.h"

#include <stdio.h>

#include "testnet.h"

const char *const test_model_names[TEST_MODEL_N_CLASSES] = {"violin", "piano", "flute",
                                                            "drums",  "voice", "guitar"};

instrid_status test_model_write(const char *path, unsigned long long seed, instrid_error *err)
{
  return test_model_write_arch(path, "tiny", TEST_MODEL_N_CLASSES, seed, err);
}

instrid_status test_model_write_arch(const char *path, const char *arch_name, unsigned n_classes,
                                     unsigned long long seed, instrid_error *err)
{
  testnet *net = testnet_build(arch_name, n_classes, seed);
  if (!net) {
    if (err) {
      err->code = INSTRID_ERR_INVALID_ARG;
      snprintf(err->message, sizeof err->message, "no test network \"%s\" with %u classes",
               arch_name, n_classes);
    }
    return INSTRID_ERR_INVALID_ARG;
  }
  float *thresholds = testnet_thresholds(net);
  for (unsigned i = 0; i < n_classes && i < TEST_MODEL_N_CLASSES; i++) {
    thresholds[i] = 0.3f + 0.1f * (float)i;
    testnet_set_class_name(net, i, test_model_names[i]);
  }
  testnet_set_provenance(net, "tests/gst: tiny random model");
  instrid_status st = instrid_model_write(testnet_desc(net), path, err);
  testnet_free(net);
  return st;
}
