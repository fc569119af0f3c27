/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loss.c — masked binary cross-entropy on logits, with per-class positive weights and focal
 * modulation, and its gradient. Accumulates in double: a batch is N * 25 terms. */
#include "loss.h"

#include <math.h>
#include <stddef.h>

/* log(1 + exp(x)) without overflow for large x or loss of precision for very negative x. */
static double softplus(double x)
{
  return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

float masked_bce_with_logits(const float *logits, const float *target, const float *mask, int n,
                             int c, const float *pos_weight, float focal_gamma, float *dlogits)
{
  double sum = 0.0;
  size_t known = 0;
  size_t total = (n > 0 && c > 0) ? (size_t)n * (size_t)c : 0;

  for (size_t i = 0; i < total; i++)
    known += mask[i] != 0.0f;

  double inv_known = known ? 1.0 / (double)known : 0.0;
  double gamma = focal_gamma;

  for (size_t i = 0; i < total; i++) {
    if (mask[i] == 0.0f) {
      if (dlogits)
        dlogits[i] = 0.0f;
      continue;
    }
    double z = logits[i], y = target[i];
    double w = pos_weight ? pos_weight[i % (size_t)c] : 1.0;
    /* log p and log(1 - p) straight from the logit: p = sigmoid(z), 1 - p = sigmoid(-z). */
    double log_p = -softplus(-z), log_q = -softplus(z);
    double p = exp(log_p), q = exp(log_q);
    double loss, grad;
    if (gamma == 0.0) {
      loss = -(w * y * log_p + (1.0 - y) * log_q);
      grad = w * y * (p - 1.0) + (1.0 - y) * p;
    } else {
      /* L = -(w y q^g log p + (1 - y) p^g log q), with dp/dz = p q:
       * d/dz [q^g log p] = q^g (q - g p log p),  d/dz [p^g log q] = p^g (g q log q - p). */
      double qg = pow(q, gamma), pg = pow(p, gamma);
      loss = -(w * y * qg * log_p + (1.0 - y) * pg * log_q);
      grad = -w * y * qg * (q - gamma * p * log_p) - (1.0 - y) * pg * (gamma * q * log_q - p);
    }
    sum += loss;
    if (dlogits)
      dlogits[i] = (float)(grad * inv_known);
  }
  return (float)(sum * inv_known);
}
