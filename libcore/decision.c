/* decision.c — the decision rule (see decision.h). */
#include "decision.h"

uint32_t instrid_decide(uint32_t n_classes, const double *probabilities, const double *thresholds,
                        int *detected, uint32_t *order)
{
  uint32_t n_detected = 0;
  for (uint32_t i = 0; i < n_classes; i++) {
    detected[i] = probabilities[i] >= thresholds[i];
    n_detected += (uint32_t)detected[i];
  }
  /* Insertion sort, stable: the class count is small and this must not allocate. NaN sorts
   * as the least probable. */
  for (uint32_t i = 0; i < n_classes; i++) {
    uint32_t j = i;
    double p = probabilities[i] == probabilities[i] ? probabilities[i] : -1.0;
    while (j > 0) {
      double q = probabilities[order[j - 1]];
      if (q != q)
        q = -1.0;
      if (!(q < p))
        break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  /* The detected classes are the most probable ones only with a common threshold: move them
   * to the front, keeping their order. */
  uint32_t w = 0;
  for (uint32_t i = 0; i < n_classes; i++) {
    if (detected[order[i]]) {
      uint32_t cls = order[i];
      for (uint32_t k = i; k > w; k--)
        order[k] = order[k - 1];
      order[w++] = cls;
    }
  }
  return n_detected;
}
