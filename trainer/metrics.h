/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics.h — validation figures for multi-label tagging with unknown labels: per-class average
 * precision, F1 and the F1-maximising decision threshold, with masked entries ignored.
 */
#ifndef INSTRID_METRICS_H
#define INSTRID_METRICS_H

#include <stddef.h>

/* All matrices are (n_examples, n_classes) row-major: scores[i * n_classes + k]. Scores are any
 * monotone confidence (logits or probabilities); targets and mask are in {0, 1}; mask 0 means
 * the label is unknown and the entry takes no part in any figure. */

/* Average precision of one class, as scikit-learn's average_precision_score: the sum over
 * distinct score cuts, highest first, of (recall gained at the cut) * (precision at the cut);
 * tied scores form one cut. stride is the distance between consecutive examples (n_classes for
 * a column of a matrix). Returns NAN when the class has no known positive (or when the sort
 * buffer cannot be allocated). */
double metrics_average_precision(const float *scores, const float *targets, const float *mask,
                                 size_t n_examples, size_t stride);

/* The F1-maximising cut of one class: predicting positive when score >= the returned cut gives
 * *best_f1 (ties broken towards the higher cut: fewer false alarms). The cut returned lies
 * midway between the lowest score kept and the highest score left out, so that it still
 * separates them after rounding; when every known entry is kept it is that lowest score.
 * With no known positive, *best_f1 = NAN and fallback is returned. */
double metrics_best_f1_threshold(const float *scores, const float *targets, const float *mask,
                                 size_t n_examples, size_t stride, double fallback,
                                 double *best_f1);

/* F1 of one class when predicting positive for score >= threshold; NAN with no known positive
 * and no prediction on a known entry (F1 is 0/0 there). */
double metrics_f1_at(const float *scores, const float *targets, const float *mask,
                     size_t n_examples, size_t stride, double threshold);

typedef struct {
  size_t n_classes;
  double *ap;         /* (n_classes) NAN when the class has no known positive in the split */
  double *f1;         /* (n_classes) at threshold[k] */
  double *threshold;  /* (n_classes) in score units */
  size_t *n_positive; /* (n_classes) known positives */
  size_t *n_known;    /* (n_classes) known entries */
  double map;         /* mean of the defined APs (NAN when none) */
  double macro_f1;    /* mean of the defined F1s */
  size_t n_defined;   /* classes that have a known positive */
} metrics_report;

/* Allocates the report's arrays for n_classes; 0 on failure (report then holds NULLs). */
int metrics_report_init(metrics_report *r, size_t n_classes);
void metrics_report_clear(metrics_report *r);

/* Fills every per-class figure and the means from one split's scores. Thresholds are chosen per
 * class to maximise F1 (fallback where a class has no known positive). Returns 0 on allocation
 * failure. */
int metrics_evaluate(metrics_report *r, const float *scores, const float *targets,
                     const float *mask, size_t n_examples, double fallback_threshold);

#endif /* INSTRID_METRICS_H */
