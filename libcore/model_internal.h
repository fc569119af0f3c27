/* model_internal.h — the loaded model as model.c builds it and net.c / stream.c read it. */
#ifndef INSTRID_MODEL_INTERNAL_H
#define INSTRID_MODEL_INTERNAL_H

#include "instrid.h"

/* One step of the inference plan: the layers of the file after batch norm has been folded into
 * the convolution before it (a BATCHNORM with no CONV2D before it stays a step of its own) and
 * DROPOUT has been dropped. */
typedef struct {
  instrid_layer_desc layer;
  instrid_shape in, out;
  const float *weight; /* CONV2D (c_out, c_in/groups, kh, kw) folded; DENSE (out, in);
                          BATCHNORM: scale (C) = gamma / sqrt(var + eps) */
  const float *bias;   /* CONV2D / DENSE (c_out); BATCHNORM: shift (C) = beta - mean * scale */
} instrid_step;

struct instrid_model {
  instrid_model_desc desc; /* points into the storage below; params unfolded as in the file */
  instrid_shape input;     /* (1, n_mels, window_frames) */
  uint32_t n_steps;
  instrid_step *steps;   /* n_steps */
  size_t max_activation; /* largest C*H*W over the input and every step's output */
  float *folded;         /* storage for folded weights and biases */
  void *storage;         /* everything else the model owns (names, thresholds, params) */
};

#endif /* INSTRID_MODEL_INTERNAL_H */
