/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* evalmetrics.c — instrid-eval's figures; AP comes from the trainer's metrics.c so validation
 * during training and evaluation afterwards compute it the same way. */
#include "evalmetrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

void eval_report_clear(eval_report *r)
{
  free(r->ap);
  free(r->precision);
  free(r->recall);
  free(r->f1);
  free(r->tp);
  free(r->fp);
  free(r->fn);
  free(r->n_positive);
  free(r->n_known);
  free(r->confusions);
  memset(r, 0, sizeof(*r));
}

static int cmp_confusion(const void *a, const void *b)
{
  const eval_confusion *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  if (x->truth != y->truth)
    return x->truth < y->truth ? -1 : 1;
  return x->predicted < y->predicted ? -1 : x->predicted > y->predicted;
}

int eval_report_compute(eval_report *r, const float *scores, const float *targets,
                        const float *mask, size_t n_examples, size_t n_classes,
                        const float *thresholds)
{
  memset(r, 0, sizeof(*r));
  size_t c = n_classes ? n_classes : 1;
  if (c > SIZE_MAX / c)
    return 0;
  r->n_classes = n_classes;
  r->n_examples = n_examples;
  r->ap = calloc(c, sizeof(double));
  r->precision = calloc(c, sizeof(double));
  r->recall = calloc(c, sizeof(double));
  r->f1 = calloc(c, sizeof(double));
  r->tp = calloc(c, sizeof(size_t));
  r->fp = calloc(c, sizeof(size_t));
  r->fn = calloc(c, sizeof(size_t));
  r->n_positive = calloc(c, sizeof(size_t));
  r->n_known = calloc(c, sizeof(size_t));
  size_t *pairs = calloc(c * c, sizeof(size_t));
  if (!r->ap || !r->precision || !r->recall || !r->f1 || !r->tp || !r->fp || !r->fn ||
      !r->n_positive || !r->n_known || !pairs) {
    free(pairs);
    eval_report_clear(r);
    return 0;
  }
  for (size_t i = 0; i < n_examples; i++) {
    const float *s = scores + i * n_classes, *t = targets + i * n_classes,
                *m = mask + i * n_classes;
    for (size_t k = 0; k < n_classes; k++) {
      if (m[k] == 0.0f)
        continue;
      int pos = t[k] > 0.5f, pred = s[k] >= thresholds[k];
      r->n_known[k]++;
      r->n_positive[k] += pos;
      r->tp[k] += pos && pred;
      r->fp[k] += !pos && pred;
      r->fn[k] += pos && !pred;
      if (!pos && pred) /* a false alarm: blame every class that was really playing */
        for (size_t j = 0; j < n_classes; j++)
          if (m[j] != 0.0f && t[j] > 0.5f)
            pairs[j * n_classes + k]++;
    }
  }
  double sum_ap = 0, sum_f1 = 0;
  size_t tp = 0, fp = 0, fn = 0;
  for (size_t k = 0; k < n_classes; k++) {
    r->ap[k] = metrics_average_precision(scores + k, targets + k, mask + k, n_examples, n_classes);
    double p_den = (double)(r->tp[k] + r->fp[k]), r_den = (double)(r->tp[k] + r->fn[k]);
    r->precision[k] = p_den > 0 ? r->tp[k] / p_den : NAN;
    r->recall[k] = r_den > 0 ? r->tp[k] / r_den : NAN;
    if (r->n_positive[k] == 0) {
      r->f1[k] = NAN;
      r->ap[k] = NAN;
      continue;
    }
    /* F1 = 2TP / (2TP + FP + FN): defined (0) even when nothing was predicted */
    r->f1[k] = 2.0 * r->tp[k] / (2.0 * r->tp[k] + r->fp[k] + r->fn[k]);
    sum_ap += r->ap[k];
    sum_f1 += r->f1[k];
    tp += r->tp[k];
    fp += r->fp[k];
    fn += r->fn[k];
    r->n_defined++;
  }
  r->map = r->n_defined ? sum_ap / (double)r->n_defined : NAN;
  r->macro_f1 = r->n_defined ? sum_f1 / (double)r->n_defined : NAN;
  r->micro_f1 = r->n_defined && (2 * tp + fp + fn) > 0 ? 2.0 * tp / (2.0 * tp + fp + fn) : NAN;
  size_t n_conf = 0;
  for (size_t i = 0; i < n_classes * n_classes; i++)
    n_conf += pairs[i] > 0;
  r->confusions = calloc(n_conf ? n_conf : 1, sizeof(eval_confusion));
  if (!r->confusions) {
    free(pairs);
    eval_report_clear(r);
    return 0;
  }
  for (size_t j = 0; j < n_classes; j++)
    for (size_t k = 0; k < n_classes; k++)
      if (pairs[j * n_classes + k])
        r->confusions[r->n_confusions++] = (eval_confusion){j, k, pairs[j * n_classes + k]};
  qsort(r->confusions, r->n_confusions, sizeof(eval_confusion), cmp_confusion);
  free(pairs);
  return 1;
}
