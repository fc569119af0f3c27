/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* optim.c — AdamW over one flat parameter block, global-norm clipping, warm-up + cosine
 * learning-rate schedule. Single loops over the block (llm.c layout). */
#include "optim.h"

#include <math.h>

void adamw_step(float *params, const float *grads, float *m, float *v, const uint8_t *decay_mask,
                const uint8_t *trainable_mask, size_t n, const adamw_config *cfg, uint64_t step)
{
  if (step < 1)
    step = 1;
  /* Bias corrections in double: beta2^step underflows float precision late in training. */
  double bc1 = 1.0 - pow(cfg->beta1, (double)step);
  double bc2 = 1.0 - pow(cfg->beta2, (double)step);
  float b1 = cfg->beta1, b2 = cfg->beta2, lr = cfg->lr, eps = cfg->eps;
  float decay = 1.0f - cfg->lr * cfg->weight_decay;
  const float *scale = cfg->lr_scale;
  float inv_bc1 = (float)(1.0 / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));

  for (size_t i = 0; i < n; i++) {
    if (trainable_mask && !trainable_mask[i])
      continue;
    float step_lr = lr, step_decay = decay;
    if (scale) {
      if (scale[i] == 0.0f)
        continue;
      step_lr = lr * scale[i];
      step_decay = 1.0f - step_lr * cfg->weight_decay;
    }
    float g = grads[i];
    float p = params[i];
    if (!decay_mask || decay_mask[i])
      p *= step_decay;
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    float m_hat = m[i] * inv_bc1;
    float denom = sqrtf(v[i]) * inv_sqrt_bc2 + eps;
    params[i] = p - step_lr * m_hat / denom;
  }
}

float clip_grad_norm(float *grads, const uint8_t *trainable_mask, size_t n, float max_norm)
{
  double sum_sq = 0.0;
  for (size_t i = 0; i < n; i++)
    if (!trainable_mask || trainable_mask[i])
      sum_sq += (double)grads[i] * grads[i];
  double norm = sqrt(sum_sq);
  if (max_norm > 0.0f && norm > max_norm) {
    float scale = (float)(max_norm / (norm + 1e-6));
    for (size_t i = 0; i < n; i++)
      if (!trainable_mask || trainable_mask[i])
        grads[i] *= scale;
  }
  return (float)norm;
}

float lr_schedule(float base_lr, uint64_t step, uint64_t warmup_steps, uint64_t total_steps)
{
  if (warmup_steps > 0 && step <= warmup_steps)
    return base_lr * (float)((double)step / (double)warmup_steps);
  if (step >= total_steps || total_steps <= warmup_steps)
    return 0.0f;
  double t = (double)(step - warmup_steps) / (double)(total_steps - warmup_steps);
  return (float)(base_lr * 0.5 * (1.0 + cos(M_PI * t)));
}
