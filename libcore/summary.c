/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* summary.c — the whole-stream summary: a histogram of window probabilities per class (see
 * summary.h). */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "summary.h"

struct instrid_summary {
  uint32_t n_classes;
  uint64_t n_windows;
  uint32_t *counts; /* (n_classes, INSTRID_SUMMARY_BINS) windows per probability bin */
  double *sums;     /* (n_classes, INSTRID_SUMMARY_BINS) sum of their probabilities */
};

instrid_summary *instrid_summary_new(uint32_t n_classes, instrid_error *err)
{
  if (n_classes == 0 || n_classes > INSTRID_MAX_CLASSES) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "summary: %u classes (1..%u)", n_classes,
                      INSTRID_MAX_CLASSES);
    return NULL;
  }
  instrid_summary *s = calloc(1, sizeof *s);
  if (!s)
    goto nomem;
  s->n_classes = n_classes;
  s->counts = calloc((size_t)n_classes * INSTRID_SUMMARY_BINS, sizeof *s->counts);
  s->sums = calloc((size_t)n_classes * INSTRID_SUMMARY_BINS, sizeof *s->sums);
  if (!s->counts || !s->sums)
    goto nomem;
  return s;

nomem:
  instrid_summary_free(s);
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating a summary");
  return NULL;
}

void instrid_summary_free(instrid_summary *s)
{
  if (!s)
    return;
  free(s->counts);
  free(s->sums);
  free(s);
}

void instrid_summary_reset(instrid_summary *s)
{
  size_t n = (size_t)s->n_classes * INSTRID_SUMMARY_BINS;
  for (size_t i = 0; i < n; i++) {
    s->counts[i] = 0;
    s->sums[i] = 0.0;
  }
  s->n_windows = 0;
}

void instrid_summary_add(instrid_summary *s, const double *probabilities)
{
  for (uint32_t i = 0; i < s->n_classes; i++) {
    double p = probabilities[i];
    /* NaN fails every comparison and becomes 0. */
    p = p >= 0.0 ? (p <= 1.0 ? p : 1.0) : 0.0;
    uint32_t bin = (uint32_t)(p * INSTRID_SUMMARY_BINS);
    if (bin >= INSTRID_SUMMARY_BINS)
      bin = INSTRID_SUMMARY_BINS - 1;
    s->counts[(size_t)i * INSTRID_SUMMARY_BINS + bin]++;
    s->sums[(size_t)i * INSTRID_SUMMARY_BINS + bin] += p;
  }
  s->n_windows++;
}

uint64_t instrid_summary_windows(const instrid_summary *s)
{
  return s->n_windows;
}

/* Whole bins are exact; the one bin taken in part contributes its own mean. */
void instrid_summary_probabilities(const instrid_summary *s, double *probabilities)
{
  uint64_t top = (uint64_t)ceil(INSTRID_SUMMARY_TOP_FRACTION * (double)s->n_windows);
  if (top == 0)
    top = 1;
  for (uint32_t i = 0; i < s->n_classes; i++) {
    const uint32_t *counts = s->counts + (size_t)i * INSTRID_SUMMARY_BINS;
    const double *sums = s->sums + (size_t)i * INSTRID_SUMMARY_BINS;
    uint64_t taken = 0;
    double sum = 0.0;
    for (int bin = INSTRID_SUMMARY_BINS - 1; bin >= 0 && taken < top; bin--) {
      if (counts[bin] == 0)
        continue;
      if (taken + counts[bin] <= top) {
        taken += counts[bin];
        sum += sums[bin];
      } else {
        sum += sums[bin] / counts[bin] * (double)(top - taken);
        taken = top;
      }
    }
    double p = s->n_windows > 0 ? sum / (double)top : 0.0;
    probabilities[i] = p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
  }
}
