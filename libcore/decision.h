/* decision.h — the decision rule: which classes count as playing given their probabilities
 * and per-class thresholds, and in what order they are listed. No GStreamer.
 */
#ifndef INSTRID_DECISION_H
#define INSTRID_DECISION_H

#include <stdint.h>

#include "instrid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A class is detected when its probability is at or above its threshold (NaN never is).
 * Fills detected[n_classes] (0/1) and order[n_classes] with every class index: the detected
 * classes first, most probable first, then the others, most probable first; ties keep class
 * order. Returns the number of detected classes. Never allocates. */
uint32_t instrid_decide(uint32_t n_classes, const double *probabilities, const double *thresholds,
                        int *detected, uint32_t *order);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_DECISION_H */
