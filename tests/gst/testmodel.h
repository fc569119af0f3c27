/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testmodel.h — the small random model the element's tests load: tests/testnet.h's "tiny"
 * network (8 kHz, 128-sample hop, 16-frame windows every 8 frames) with six named classes.
 */
#ifndef INSTRID_TESTMODEL_H
#define INSTRID_TESTMODEL_H

#include "instrid.h"

#define TEST_MODEL_N_CLASSES 6
#define TEST_MODEL_RATE 8000
#define TEST_MODEL_HOP_SAMPLES 128
#define TEST_MODEL_N_FFT 256
#define TEST_MODEL_WINDOW_FRAMES 16
#define TEST_MODEL_HOP_FRAMES 8

extern const char *const test_model_names[TEST_MODEL_N_CLASSES];

/* Writes the model to path; thresholds are 0.3, 0.4, ... per class. */
instrid_status test_model_write(const char *path, unsigned long long seed, instrid_error *err);

/* Any tests/testnet.h network ("tiny", "reference") with random weights and n_classes classes (the
 * first six named as above, the rest "classN"), for benchmarks of the element's speed. */
instrid_status test_model_write_arch(const char *path, const char *arch_name, unsigned n_classes,
                                     unsigned long long seed, instrid_error *err);

#endif /* INSTRID_TESTMODEL_H */
