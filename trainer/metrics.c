/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics.c — masked average precision, F1 and threshold choice for the validation pass.
 * Every figure walks the known entries of one class sorted by score, highest first.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  float score;
  float target;
} scored_label;

static int scored_label_cmp_desc(const void *a, const void *b)
{
  float x = ((const scored_label *)a)->score, y = ((const scored_label *)b)->score;
  return (x < y) - (x > y);
}

/* The known entries of one class, sorted by score descending; NULL on allocation failure.
 * *n_known and *n_pos count them. NaN scores sort as the lowest so they never win a cut. */
static scored_label *sorted_known(const float *scores, const float *targets, const float *mask,
                                  size_t n_examples, size_t stride, size_t *n_known, size_t *n_pos)
{
  scored_label *v = malloc((n_examples ? n_examples : 1) * sizeof *v);
  size_t n = 0, pos = 0;
  if (!v)
    return NULL;
  for (size_t i = 0; i < n_examples; i++) {
    size_t j = i * stride;
    if (mask[j] < 0.5f)
      continue;
    v[n].score = isnan(scores[j]) ? -INFINITY : scores[j];
    v[n].target = targets[j] >= 0.5f ? 1.0f : 0.0f;
    pos += v[n].target > 0.0f;
    n++;
  }
  qsort(v, n, sizeof *v, scored_label_cmp_desc);
  *n_known = n;
  *n_pos = pos;
  return v;
}

double metrics_average_precision(const float *scores, const float *targets, const float *mask,
                                 size_t n_examples, size_t stride)
{
  size_t n, pos;
  scored_label *v = sorted_known(scores, targets, mask, n_examples, stride, &n, &pos);
  if (!v)
    return NAN;
  if (pos == 0) {
    free(v);
    return NAN;
  }
  double ap = 0.0;
  size_t tp = 0, kept = 0, i = 0;
  while (i < n) {
    size_t tp_before = tp;
    float s = v[i].score;
    for (; i < n && v[i].score == s; i++) { /* a tie is one cut */
      kept++;
      tp += v[i].target > 0.0f;
    }
    ap += (double)(tp - tp_before) / (double)pos * ((double)tp / (double)kept);
  }
  free(v);
  return ap;
}

double metrics_best_f1_threshold(const float *scores, const float *targets, const float *mask,
                                 size_t n_examples, size_t stride, double fallback, double *best_f1)
{
  size_t n, pos;
  scored_label *v = sorted_known(scores, targets, mask, n_examples, stride, &n, &pos);
  *best_f1 = NAN;
  if (!v)
    return fallback;
  if (pos == 0) {
    free(v);
    return fallback;
  }
  /* F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (kept + pos). Strict > keeps the first (highest)
   * cut among equals. */
  double best = -1.0, cut = fallback;
  size_t tp = 0, kept = 0, i = 0;
  while (i < n) {
    float s = v[i].score;
    for (; i < n && v[i].score == s; i++) {
      kept++;
      tp += v[i].target > 0.0f;
    }
    double f1 = 2.0 * (double)tp / (double)(kept + pos);
    if (f1 > best) {
      best = f1;
      cut = i < n && isfinite(v[i].score) ? 0.5 * ((double)s + (double)v[i].score) : (double)s;
    }
  }
  free(v);
  *best_f1 = best;
  return cut;
}

double metrics_f1_at(const float *scores, const float *targets, const float *mask,
                     size_t n_examples, size_t stride, double threshold)
{
  size_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < n_examples; i++) {
    size_t j = i * stride;
    if (mask[j] < 0.5f)
      continue;
    int predicted = (double)scores[j] >= threshold;
    int actual = targets[j] >= 0.5f;
    tp += predicted && actual;
    fp += predicted && !actual;
    fn += !predicted && actual;
  }
  if (tp + fp + fn == 0)
    return NAN;
  return 2.0 * (double)tp / (double)(2 * tp + fp + fn);
}

int metrics_report_init(metrics_report *r, size_t n_classes)
{
  memset(r, 0, sizeof *r);
  r->n_classes = n_classes;
  r->ap = calloc(n_classes ? n_classes : 1, sizeof *r->ap);
  r->f1 = calloc(n_classes ? n_classes : 1, sizeof *r->f1);
  r->threshold = calloc(n_classes ? n_classes : 1, sizeof *r->threshold);
  r->n_positive = calloc(n_classes ? n_classes : 1, sizeof *r->n_positive);
  r->n_known = calloc(n_classes ? n_classes : 1, sizeof *r->n_known);
  if (!r->ap || !r->f1 || !r->threshold || !r->n_positive || !r->n_known) {
    metrics_report_clear(r);
    return 0;
  }
  return 1;
}

void metrics_report_clear(metrics_report *r)
{
  if (!r)
    return;
  free(r->ap);
  free(r->f1);
  free(r->threshold);
  free(r->n_positive);
  free(r->n_known);
  memset(r, 0, sizeof *r);
}

int metrics_evaluate(metrics_report *r, const float *scores, const float *targets,
                     const float *mask, size_t n_examples, double fallback_threshold)
{
  size_t c = r->n_classes;
  double ap_sum = 0.0, f1_sum = 0.0;
  r->n_defined = 0;
  for (size_t k = 0; k < c; k++) {
    size_t known = 0, pos = 0;
    for (size_t i = 0; i < n_examples; i++) {
      if (mask[i * c + k] >= 0.5f) {
        known++;
        pos += targets[i * c + k] >= 0.5f;
      }
    }
    r->n_known[k] = known;
    r->n_positive[k] = pos;
    r->ap[k] = metrics_average_precision(scores + k, targets + k, mask + k, n_examples, c);
    r->threshold[k] = metrics_best_f1_threshold(scores + k, targets + k, mask + k, n_examples, c,
                                                fallback_threshold, &r->f1[k]);
    if (pos > 0) {
      if (isnan(r->ap[k]))
        return 0; /* only an allocation failure makes a defined AP NaN */
      ap_sum += r->ap[k];
      f1_sum += r->f1[k];
      r->n_defined++;
    }
  }
  r->map = r->n_defined ? ap_sum / (double)r->n_defined : NAN;
  r->macro_f1 = r->n_defined ? f1_sum / (double)r->n_defined : NAN;
  return 1;
}
