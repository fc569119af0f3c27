/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* arch.h — named network architectures ("reference", "tiny", ...) with their front end and a
 * deterministic random initialisation, for the tests, the benchmarks and the trainer.
 *
 * An instrid_arch owns everything its instrid_model_desc points to (layers, parameters, class
 * names, thresholds, provenance); the desc is ready for instrid_model_write as it stands.
 */
#ifndef INSTRID_ARCH_H
#define INSTRID_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "rng.h" /* instrid_rng: the initialisation's generator */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct instrid_arch instrid_arch;

/* Builds architecture `name` with n_classes outputs: its layers, its default front end and
 * window (W, H), parameters by instrid_arch_init_params(seed) (conv and dense weights He-uniform,
 * biases 0, batch norm gamma 1, beta 0, running mean 0, running var 1), class names
 * "class0".."classN-1", thresholds 0.5, no provenance. On success *out_arch owns the storage and,
 * when out_desc is not NULL, *out_desc is a copy of instrid_arch_desc(*out_arch) (its pointers stay
 * valid until instrid_arch_free; take a fresh one after instrid_arch_set_provenance). Errors:
 * INSTRID_ERR_INVALID_ARG (unknown name, listing the known ones; n_classes outside
 * 1..INSTRID_MAX_CLASSES), INSTRID_ERR_NOMEM. */
instrid_status instrid_arch_build(const char *name, uint32_t n_classes, uint64_t seed,
                                  instrid_model_desc *out_desc, instrid_arch **out_arch,
                                  instrid_error *err);
void instrid_arch_free(instrid_arch *arch);

/* The one initialisation of a network's parameters, for instrid_arch_build and for the trainer
 * (train_net_init), so that a seed gives the same weights whichever builds the network: params
 * (n_params floats, the model file's order) for layers on input shape `input`, each tensor as
 * its layer-table entry's spec says (libcore/layer_table.h): INSTRID_INIT_HE uniform in
 * +-sqrt(6 / fan_in), fan_in = count / dims[0], drawn in file order from one instrid_rng seeded
 * with seed (rng.h); INSTRID_INIT_ZERO / _ONE constants. The stream is pinned by checkpoints and
 * trained models: tests/trainer/test_arch.c checks both callers against each other.
 * Errors: INSTRID_ERR_INVALID_ARG (no layers, NULL params, n_params not what the layers need),
 * INSTRID_ERR_FORMAT (the layers do not fit the input, as instrid_arch_shapes). */
instrid_status instrid_arch_init_params(const instrid_layer_desc *layers, uint32_t n_layers,
                                        instrid_shape input, uint64_t seed, float *params,
                                        size_t n_params, instrid_error *err);

/* The architecture names, for --help: i = 0, 1, ... until NULL. */
const char *instrid_arch_name(size_t i);

/* The description, current after any of the setters below. */
const instrid_model_desc *instrid_arch_desc(const instrid_arch *arch);

/* Writable views of what the desc points to; sizes are desc.n_params, desc.n_classes. */
float *instrid_arch_params(instrid_arch *arch);
float *instrid_arch_thresholds(instrid_arch *arch);
instrid_frontend_params *instrid_arch_frontend(instrid_arch *arch); /* e.g. feature_mean/std */
void instrid_arch_set_hop_frames(instrid_arch *arch, uint32_t hop_frames);

/* name: 1..INSTRID_MAX_CLASS_NAME printable ASCII characters, else INSTRID_ERR_INVALID_ARG. */
instrid_status instrid_arch_set_class_name(instrid_arch *arch, uint32_t i, const char *name,
                                           instrid_error *err);
/* Copies text (NULL clears it). */
instrid_status instrid_arch_set_provenance(instrid_arch *arch, const char *text,
                                           instrid_error *err);

/* Replaces every batch norm's running statistics and affine parameters with random ones
 * (gamma in [0.5, 1.5), beta and mean in [-0.5, 0.5), var in [0.5, 2.5)), so that tests exercise
 * batch-norm folding with values that matter. */
void instrid_arch_randomize_batchnorm(instrid_arch *arch, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_ARCH_H */
