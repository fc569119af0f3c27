/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* evalmetrics.h — the figures instrid-eval reports for a labelled set: per-class AP, precision,
 * recall and F1 at the model's thresholds, mAP, macro- and micro-F1, and the most frequent
 * confusions. Unknown (masked) entries take no part in any figure.
 */
#ifndef INSTRID_EVALMETRICS_H
#define INSTRID_EVALMETRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  size_t truth, predicted; /* class indices: `predicted` fired where `truth` was playing */
  size_t count;
} eval_confusion;

typedef struct {
  size_t n_classes, n_examples;
  /* per class (n_classes) */
  double *ap;        /* NAN when the class has no known positive */
  double *precision; /* NAN when nothing known was predicted positive */
  double *recall;    /* NAN when no known positive */
  double *f1;        /* NAN when no known positive */
  size_t *tp, *fp, *fn, *n_positive, *n_known;
  double map;                 /* mean AP over classes with a known positive (NAN when none) */
  double macro_f1;            /* mean F1 over the same classes */
  double micro_f1;            /* F1 of the summed TP/FP/FN of those classes */
  size_t n_defined;           /* classes with a known positive */
  eval_confusion *confusions; /* most frequent first */
  size_t n_confusions;
} eval_report;

/* scores, targets, mask: (n_examples, n_classes) row-major; thresholds: (n_classes). A class is
 * predicted when score >= threshold. Returns 0 on allocation failure. */
int eval_report_compute(eval_report *r, const float *scores, const float *targets,
                        const float *mask, size_t n_examples, size_t n_classes,
                        const float *thresholds);
void eval_report_clear(eval_report *r);

/* How far a set's figures can be trusted: a percentile bootstrap over its examples. */
typedef struct {
  size_t resamples; /* draws made */
  size_t used;      /* draws with at least one class with a known positive (the rest skipped) */
  double map_lo, map_hi;           /* 5th and 95th percentiles of mAP over the draws */
  double macro_f1_lo, macro_f1_hi; /* the same for macro-F1 */
  double p_better;                 /* compared: the share of draws where B's mAP is above A's */
} eval_interval;

/* `resamples` draws of n_examples examples with replacement (splitmix64 from `seed`: the same
 * arguments give the same figures), each scored as eval_report_compute does (a class with no
 * known positive in a draw is left out of that draw's means, as a class with none in the set
 * is). Without scores_b the intervals are of the figures themselves; with scores_b (a second
 * model's scores for the same examples, judged at thresholds_b) they are of B's figure minus
 * A's on the same draws, and p_better is set (else NAN). Returns 0 on allocation failure. */
int eval_bootstrap(const float *scores, const float *thresholds, const float *scores_b,
                   const float *thresholds_b, const float *targets, const float *mask,
                   size_t n_examples, size_t n_classes, size_t resamples, uint64_t seed,
                   eval_interval *out);

#endif /* INSTRID_EVALMETRICS_H */
