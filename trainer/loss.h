/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loss.h — the multi-label training loss: binary cross-entropy on logits with a mask of known
 * labels (OpenMIC leaves most instruments unlabelled: unknown is not negative), optional
 * per-class positive weights and focal modulation. */
#ifndef INSTRID_LOSS_H
#define INSTRID_LOSS_H

#ifdef __cplusplus
extern "C" {
#endif

/* logits, target, mask: (N, C). target in [0, 1]; mask 1 = known, 0 = unknown.
 * pos_weight: (C) multiplies the positive term of class c (PyTorch's pos_weight), or NULL.
 * focal_gamma: 0 = plain BCE; > 0 multiplies the positive term by (1 - p)^gamma and the
 *   negative term by p^gamma, p = sigmoid(logit) (Lin et al., focal loss, no alpha).
 * Returns the loss summed over known entries divided by their number (0 when none are known).
 * dlogits: (N, C) dLoss/dlogits of that mean, or NULL. Unknown entries contribute nothing:
 * their gradient is exactly 0 and their target and logit do not affect the loss.
 * Numerically stable for any finite logit (log-sigmoid via log1p(exp(-|z|))). */
float masked_bce_with_logits(const float *logits, const float *target, const float *mask, int n,
                             int c, const float *pos_weight, float focal_gamma, float *dlogits);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_LOSS_H */
