/* testmodel.c — writes the tests' small random model (see testmodel.h). */
#include "testmodel.h"

#include "arch.h"

const char *const test_model_names[TEST_MODEL_N_CLASSES] = {"violin", "piano", "flute",
                                                            "drums",  "voice", "guitar"};

instrid_status test_model_write(const char *path, unsigned long long seed, instrid_error *err)
{
  return test_model_write_arch(path, "tiny", TEST_MODEL_N_CLASSES, seed, err);
}

instrid_status test_model_write_arch(const char *path, const char *arch_name, unsigned n_classes,
                                     unsigned long long seed, instrid_error *err)
{
  instrid_arch *arch = NULL;
  instrid_status st = instrid_arch_build(arch_name, n_classes, seed, NULL, &arch, err);
  if (st != INSTRID_OK)
    return st;
  float *thresholds = instrid_arch_thresholds(arch);
  for (unsigned i = 0; i < n_classes && i < TEST_MODEL_N_CLASSES && st == INSTRID_OK; i++) {
    thresholds[i] = 0.3f + 0.1f * (float)i;
    st = instrid_arch_set_class_name(arch, i, test_model_names[i], err);
  }
  if (st == INSTRID_OK)
    st = instrid_arch_set_provenance(arch, "tests/gst: tiny random model", err);
  if (st == INSTRID_OK)
    st = instrid_model_write(instrid_arch_desc(arch), path, err);
  instrid_arch_free(arch);
  return st;
}
