/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testnet.h — the networks libcore's and the element's tests run, built here rather than by the
 * trainer (trainer/arch.c), so that those tests do not change when the trainer's architectures
 * do. Two layer lists:
 *
 *   "tiny"      a few hundred parameters on 16 mels x 16 frames at 8 kHz (n_fft 256, hop 128,
 *               windows every 8 frames), touching every layer type and every convolution option
 *               (stride, asymmetric padding, dilation, groups): fast exhaustive tests.
 *   "reference" 4 x [conv 3x3, batch norm, ReLU, max-pool 2x2] with 32-64-128-256 channels on
 *               128 mels x 128 frames at 22.05 kHz, mean over frequency, mean and max over time,
 *               dense, sigmoid: a realistic size.
 *
 * The layer types themselves are tested one by one (tests/libcore/test_layers.c,
 * tests/trainer/test_gradients.c); these are whole networks for the model-file, network, stream
 * and element tests.
 *
 * Weights: convolution and dense weights He-uniform (bound sqrt(6 / fan_in)) from xoshiro256**
 * (trainer/common/rng.h) seeded with `seed`, biases 0; batch norm gamma 1, beta 0, mean 0,
 * var 1 until testnet_randomize_batchnorm. Class names "class0".., thresholds 0.5. The same
 * seed gives the same bytes on every host.
 */
#ifndef INSTRID_TESTS_TESTNET_H
#define INSTRID_TESTS_TESTNET_H

#include <stdint.h>

#include "instrid.h"

typedef struct testnet testnet;

/* NULL on an unknown name, n_classes outside 1..INSTRID_MAX_CLASSES, or no memory (with the
 * reason on stderr: test code). */
testnet *testnet_build(const char *name, uint32_t n_classes, uint64_t seed);
void testnet_free(testnet *net);

/* The description, ready for instrid_model_write; its pointers stay valid until testnet_free
 * (take it again after testnet_set_provenance). */
const instrid_model_desc *testnet_desc(const testnet *net);
float *testnet_params(testnet *net);     /* desc.n_params, writable */
float *testnet_thresholds(testnet *net); /* desc.n_classes, writable */
/* name: at most INSTRID_MAX_CLASS_NAME characters (longer is cut); text NULL clears. */
void testnet_set_class_name(testnet *net, uint32_t i, const char *name);
void testnet_set_provenance(testnet *net, const char *text);

/* The front end of both networks (and of other tests' hand-made models): a Hann window as long as
 * the FFT, Slaney mel scale and area normalisation from 30 Hz to Nyquist, power spectrum, log
 * floor 1e-10, no normalisation (mean 0, std 1). A test that needs another value sets that field
 * on the result. */
instrid_frontend_params testnet_frontend(uint32_t sample_rate, uint32_t n_fft, uint32_t hop_samples,
                                         uint32_t n_mels);

/* Random batch-norm statistics and affine parameters (gamma in [0.5, 1.5), beta and mean in
 * [-0.5, 0.5), var in [0.5, 2.5)), so that tests exercise batch-norm folding with values that
 * matter. */
void testnet_randomize_batchnorm(testnet *net, uint64_t seed);

#endif /* INSTRID_TESTS_TESTNET_H */
