/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* optim.h — the optimizer, kept apart from the backward pass: AdamW over the network's one
 * parameter block, global-norm gradient clipping and the learning-rate schedule. */
#ifndef INSTRID_OPTIM_H
#define INSTRID_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  float lr;           /* this step's learning rate (from lr_schedule) */
  float beta1, beta2; /* moment decay rates, typically 0.9, 0.999 */
  float eps;          /* added to sqrt(v_hat), typically 1e-8 */
  float weight_decay; /* decoupled (Loshchilov & Hutter): p -= lr * weight_decay * p */
  /* (n) per-parameter multipliers of lr (learning-rate groups; 0 leaves a parameter as it is),
   * or NULL: all 1 */
  const float *lr_scale;
} adamw_config;

/* One AdamW step, PyTorch's torch.optim.AdamW arithmetic:
 *   p -= lr * wd * p                      (only where decay_mask[i])
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
 * params, grads, m, v: (n); m and v start at 0 and belong to the caller. decay_mask and
 * trainable_mask: (n) or NULL (NULL = all ones). Entries with trainable_mask 0 are not touched
 * (params, m and v stay as they are), nor are those with cfg->lr_scale 0; elsewhere lr is
 * lr * lr_scale[i] in both lines that use it. step is 1-based. */
void adamw_step(float *params, const float *grads, float *m, float *v, const uint8_t *decay_mask,
                const uint8_t *trainable_mask, size_t n, const adamw_config *cfg, uint64_t step);

/* Scales grads (n) so that their L2 norm over the trainable entries (trainable_mask may be
 * NULL) is at most max_norm (<= 0: no clipping). Returns the norm before clipping. */
float clip_grad_norm(float *grads, const uint8_t *trainable_mask, size_t n, float max_norm);

/* Learning rate for 1-based step: linear warm-up base_lr * step / warmup_steps for
 * step <= warmup_steps, then cosine decay base_lr * 0.5 * (1 + cos(pi * t)),
 * t = (step - warmup_steps) / (total_steps - warmup_steps), reaching 0 at total_steps and
 * staying there. warmup_steps 0 = no warm-up. */
float lr_schedule(float base_lr, uint64_t step, uint64_t warmup_steps, uint64_t total_steps);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_OPTIM_H */
