/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* evalmetrics.c — instrid-eval's figures; AP comes from the trainer's metrics.c so validation
 * during training and evaluation afterwards compute it the same way. */
#include "evalmetrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"

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

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of v[0..n), sorted ascending, linearly between order statistics; NAN when
 * n = 0. */
static double quantile(const double *v, size_t n, double q)
{
  if (n == 0)
    return NAN;
  double at = q * (double)(n - 1);
  size_t i = (size_t)at;
  return i + 1 < n ? v[i] + (at - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

int eval_bootstrap(const float *scores, const float *thresholds, const float *scores_b,
                   const float *thresholds_b, const float *targets, const float *mask,
                   size_t n_examples, size_t n_classes, size_t resamples, uint64_t seed,
                   eval_interval *out)
{
  memset(out, 0, sizeof(*out));
  out->map_lo = out->map_hi = out->macro_f1_lo = out->macro_f1_hi = out->p_better = NAN;
  out->resamples = resamples;
  if (n_examples == 0 || n_classes == 0 || resamples == 0)
    return 1;
  if (n_examples > SIZE_MAX / sizeof(float) / n_classes / 4)
    return 0;
  size_t cells = n_examples * n_classes;
  float *buf = malloc(4 * cells * sizeof(float));
  double *maps = malloc(resamples * sizeof(double)), *f1s = malloc(resamples * sizeof(double));
  if (!buf || !maps || !f1s) {
    free(buf);
    free(maps);
    free(f1s);
    return 0;
  }
  float *s = buf, *t = buf + cells, *m = buf + 2 * cells, *sb = buf + 3 * cells;
  splitmix_rng rng = splitmix_derive(seed, 0);
  size_t used = 0, better = 0;
  int ok = 1;
  for (size_t r = 0; r < resamples && ok; r++) {
    for (size_t i = 0; i < n_examples; i++) {
      size_t j = (size_t)splitmix_below(&rng, n_examples);
      memcpy(s + i * n_classes, scores + j * n_classes, n_classes * sizeof(float));
      memcpy(t + i * n_classes, targets + j * n_classes, n_classes * sizeof(float));
      memcpy(m + i * n_classes, mask + j * n_classes, n_classes * sizeof(float));
      if (scores_b)
        memcpy(sb + i * n_classes, scores_b + j * n_classes, n_classes * sizeof(float));
    }
    eval_report a, b;
    if (!eval_report_compute(&a, s, t, m, n_examples, n_classes, thresholds)) {
      ok = 0;
      break;
    }
    if (scores_b && !eval_report_compute(&b, sb, t, m, n_examples, n_classes, thresholds_b)) {
      eval_report_clear(&a);
      ok = 0;
      break;
    }
    if (a.n_defined > 0) {
      maps[used] = scores_b ? b.map - a.map : a.map;
      f1s[used] = scores_b ? b.macro_f1 - a.macro_f1 : a.macro_f1;
      better += scores_b && b.map > a.map;
      used++;
    }
    eval_report_clear(&a);
    if (scores_b)
      eval_report_clear(&b);
  }
  if (ok) {
    qsort(maps, used, sizeof(double), cmp_double);
    qsort(f1s, used, sizeof(double), cmp_double);
    out->used = used;
    out->map_lo = quantile(maps, used, 0.05);
    out->map_hi = quantile(maps, used, 0.95);
    out->macro_f1_lo = quantile(f1s, used, 0.05);
    out->macro_f1_hi = quantile(f1s, used, 0.95);
    if (scores_b && used)
      out->p_better = (double)better / (double)used;
  }
  free(buf);
  free(maps);
  free(f1s);
  return ok;
}
