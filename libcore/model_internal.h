/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model_internal.h — the loaded model as model.c builds it and net.c / stream.c read it. */
#ifndef INSTRID_MODEL_INTERNAL_H
#define INSTRID_MODEL_INTERNAL_H

#include "instrid.h"
#include "layer_table.h"

/* One step of the inference plan: the layers of the file after batch norm has been folded into
 * the convolution before it (a BATCHNORM with no CONV2D before it, or whose input a residual
 * adds, stays a step of its own) and DROPOUT has been dropped. */
typedef struct {
  instrid_layer_desc layer;
  const instrid_layer_entry *entry;
  instrid_layer_params params; /* RESIDUAL_ADD: back counts steps (the plan's own indices) */
  instrid_shape in, out;
  const float *t[4];   /* the tensors the entry's forward reads (aligned copies; a CONV2D's
                          weight and bias with its batch norm folded in) */
  const float *weight; /* t[0]; a lone BATCHNORM: scale (C) = gamma / sqrt(var + eps) */
  const float *bias;   /* t[1]; a lone BATCHNORM: shift (C) = beta - mean * scale */
  uint32_t skip_from;  /* RESIDUAL_ADD: its skip is the input of step skip_from */
} instrid_step;

struct instrid_model {
  instrid_model_desc desc; /* points into the storage below; params unfolded as in the file */
  instrid_shape input;     /* (1, n_mels, window_frames) */
  uint32_t n_steps;
  instrid_step *steps;     /* n_steps */
  size_t max_activation;   /* largest C*H*W over the input and every step's output */
  uint32_t embedding_size; /* C*H*W of the EMBEDDING layer's input; 0 when there is none */
  float *folded;           /* storage for folded weights and biases */
  void *storage;           /* everything else the model owns (names, thresholds, params) */
};

#endif /* INSTRID_MODEL_INTERNAL_H */
