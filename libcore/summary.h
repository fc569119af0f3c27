/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* summary.h — the whole-stream summary of window results: per class, the mean of the highest
 * 10% of window probabilities, kept in fixed memory however long the stream. No GStreamer.
 *
 * Why the top 10%: a plain mean over the whole stream would bury an instrument that plays in
 * part of a piece (a solo, an intro); the maximum would let one spurious window decide. With
 * the top 10%, an instrument that plays clearly for a tenth of the stream scores as if it
 * played throughout, while an isolated spike is diluted by the windows around it.
 *
 * Thread-safety: a summary belongs to one thread at a time.
 */
#ifndef INSTRID_SUMMARY_H
#define INSTRID_SUMMARY_H

#include <stdint.h>

#include "instrid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Probability bins per class: the summary is exact except for the one bin it takes in part,
 * which contributes its own mean (an error below 1 / INSTRID_SUMMARY_BINS). */
#define INSTRID_SUMMARY_BINS 256
/* The fraction of windows, the highest ones, each class's summary is the mean of. */
#define INSTRID_SUMMARY_TOP_FRACTION 0.10

typedef struct instrid_summary instrid_summary;

/* A summary of n_classes (1..INSTRID_MAX_CLASSES) classes, with no window yet. NULL on failure
 * (INSTRID_ERR_INVALID_ARG, INSTRID_ERR_NOMEM) with err filled. */
instrid_summary *instrid_summary_new(uint32_t n_classes, instrid_error *err);
void instrid_summary_free(instrid_summary *summary);
/* Forgets every window. */
void instrid_summary_reset(instrid_summary *summary);
/* Adds one window's n_classes probabilities; values outside [0, 1] are clamped, NaN counts
 * as 0. Never allocates. */
void instrid_summary_add(instrid_summary *summary, const double *probabilities);
/* Windows added since the last reset. */
uint64_t instrid_summary_windows(const instrid_summary *summary);
/* The summary's n_classes probabilities: per class the mean of its highest
 * ceil(INSTRID_SUMMARY_TOP_FRACTION * windows) window probabilities (at least one window);
 * all 0 when no window was added. */
void instrid_summary_probabilities(const instrid_summary *summary, double *probabilities);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_SUMMARY_H */
