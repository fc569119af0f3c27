/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netgrad.h — the training network: forward in training mode (batch-norm batch statistics,
 * dropout) and backward for every layer type, both from libinstrid's layer table
 * (libcore/layer_table.h: one entry per type, shared with the inference engine).
 *
 * llm.c layout: every parameter lives in ONE contiguous float block, layer after layer in the
 * model file's order (instrid_model_desc.params), so saving, zeroing, clipping and the AdamW
 * update are single loops; the gradients are a second block with the same layout. Batch-norm
 * running mean/var are kept in the parameter block (the file stores them there too); the
 * forward pass updates them and the trainable mask keeps the optimizer off them.
 *
 * Thread-safety: a train_net belongs to one thread at a time. The GEMMs use OpenBLAS, with
 * whatever threading the caller set.
 */
#ifndef INSTRID_NETGRAD_H
#define INSTRID_NETGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_net train_net;

/* Builds a training network for arch->layers (n_layers), input (1, frontend.n_mels,
 * window_frames), arch->n_classes outputs, for batches of 1..max_batch examples. When
 * arch->params is non-NULL (n_params must then match) those are the initial weights; else
 * the weights are initialised as by train_net_init(net, 0). Other pointer fields of arch
 * (class_names, thresholds, provenance) are NOT copied: they must outlive the net if
 * train_net_desc is used. The layers are copied.
 * Errors: INSTRID_ERR_FORMAT (shapes do not fit, last layer's size != n_classes, unsupported
 * layer type), INSTRID_ERR_INVALID_ARG (max_batch < 1, n_params mismatch), INSTRID_ERR_NOMEM. */
train_net *train_net_new(const instrid_model_desc *arch, int max_batch, instrid_error *err);
void train_net_free(train_net *net);

/* Re-initialises every parameter from seed by instrid_arch_init_params (trainer/arch.h), the
 * initialisation instrid_arch_build uses: the same seed gives the same weights as
 * instrid_arch_build of the same layers (conv/dense weights He-uniform, biases 0, BN gamma 1,
 * beta 0, running mean 0, running var 1). */
void train_net_init(train_net *net, uint64_t seed);

size_t train_net_n_params(const train_net *net);
int train_net_max_batch(const train_net *net);
int train_net_n_inputs(const train_net *net);  /* n_mels * window_frames, per example */
int train_net_n_outputs(const train_net *net); /* n_classes, per example */

float *train_net_params(train_net *net); /* (n_params) in model-file order */
float *train_net_grads(train_net *net);  /* (n_params), same layout */
/* (n_params): 1 where weight decay applies (conv and dense weights), 0 for biases, BN. */
const uint8_t *train_net_decay_mask(const train_net *net);
/* (n_params): 0 for BN running mean/var (updated by the forward pass, not by the optimizer),
 * 1 for everything else. */
const uint8_t *train_net_trainable_mask(const train_net *net);

/* Forward pass of n examples (1 <= n <= max_batch; anything else leaves logits untouched).
 * x (N, 1, n_mels, W), i.e. each example is train_dataset_get's features[mel * W + t].
 * logits (N, C): the network's output WITHOUT the final SIGMOID layer when the architecture
 * ends in one (the loss works on logits).
 * training != 0: batch norm normalises with the batch's statistics (biased variance) and
 *   updates its running mean/var with momentum 0.1 (PyTorch: r = 0.9 r + 0.1 batch, unbiased
 *   variance for the running estimate); dropout zeroes each activation with its probability p
 *   and scales survivors by 1/(1-p), drawing from *rng (any seed; advanced; NULL = a state
 *   the net keeps). Activations are kept for train_net_backward.
 * training == 0: batch norm uses the running statistics, dropout is the identity; rng may be
 *   NULL. Matches instrid_net_forward of the same weights (before its SIGMOID). */
void train_net_forward(train_net *net, const float *x, int n, int training, uint64_t *rng,
                       float *logits);

/* Backward pass for the last train_net_forward (which must have been in training mode, or
 * the batch-norm gradients are those of the eval-mode function): dlogits (N, C) is dLoss /
 * dlogits. ACCUMULATES into the gradient block (call train_net_zero_grad first). dx may be
 * NULL; when not, receives dLoss / dx (N, 1, n_mels, W) (for tests). */
void train_net_backward(train_net *net, const float *dlogits, float *dx);

void train_net_zero_grad(train_net *net);

/* Layers [0, n) of later passes run as at inference even in training mode (batch norm on its
 * running statistics, which then stay as they are; dropout off), as the element runs a frozen
 * backbone, and get no backward pass (their parameters get no gradient; dx, when asked for,
 * still goes through them). For layers whose parameters are frozen. 0 (the default): none. */
void train_net_set_frozen_prefix(train_net *net, int n);

/* arch (as passed to train_net_new) with params/n_params pointing at the net's current
 * parameters, ready for instrid_model_write. Valid while the net lives and is not stepped. */
void train_net_desc(const train_net *net, instrid_model_desc *out);

/* Multiply-adds of one example's forward pass, times 2 (as instrid_net_flops). */
double train_net_flops_per_example(const train_net *net);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_NETGRAD_H */
