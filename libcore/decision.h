/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

/* Settling, for results that describe a whole stream (stream tags): a class settles as playing
 * once it has been detected in min_windows consecutive windows, and stays settled until the
 * caller clears settled[] (a new stream). run[] counts each class's current run of detected
 * windows. Updates run[] and settled[] from one window's detected[] and returns 1 when a class
 * settled with this window, else 0. min_windows 0 counts as 1. */
int instrid_settle(uint32_t n_classes, const int *detected, uint32_t min_windows, uint32_t *run,
                   int *settled);

/* Per-class thresholds from text such as "violin=0.3,piano=0.6": each named class's threshold
 * in thresholds[] (n_classes of names) is set, the others are left as they are. Names are
 * matched exactly, spaces around names and values are ignored, an empty text sets nothing.
 * INSTRID_ERR_INVALID_ARG naming the first bad entry (an unknown class, a value outside 0..1,
 * no '='), in which case thresholds[] is left untouched. */
instrid_status instrid_thresholds_parse(const char *text, uint32_t n_classes,
                                        const char *const *names, double *thresholds,
                                        instrid_error *err);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_DECISION_H */
