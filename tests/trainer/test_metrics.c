/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_metrics.c — masked average precision, F1 and the threshold choice against values worked
 * out by hand (and matching scikit-learn's average_precision_score / f1_score). */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "metrics.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_average_precision(void)
{
  /* Ranked: + - + - - +. AP = (1/3)(1/1 + 2/3 + 3/6) = 13/18. The 7th entry outranks them all
   * but is unknown: it must change nothing. */
  const float s[7] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.95f};
  const float y[7] = {1, 0, 1, 0, 0, 1, 0};
  const float m[7] = {1, 1, 1, 1, 1, 1, 0};
  double ap = metrics_average_precision(s, y, m, 7, 1);
  CHECK(NEAR(ap, 13.0 / 18.0), "AP %.12f, want %.12f", ap, 13.0 / 18.0);

  /* Unmasking the 7th (a negative on top) lowers every precision: (1/2 + 2/4 + 3/7) / 3. */
  const float m_all[7] = {1, 1, 1, 1, 1, 1, 1};
  ap = metrics_average_precision(s, y, m_all, 7, 1);
  CHECK(NEAR(ap, (0.5 + 0.5 + 3.0 / 7.0) / 3.0), "AP unmasked %.12f", ap);

  /* Ties form one cut: {0.9: +, -} then {0.1: +}: 0.5 * 1/2 + 0.5 * 2/3 = 7/12. */
  const float st[3] = {0.9f, 0.9f, 0.1f}, yt[3] = {1, 0, 1}, mt[3] = {1, 1, 1};
  ap = metrics_average_precision(st, yt, mt, 3, 1);
  CHECK(NEAR(ap, 7.0 / 12.0), "AP with ties %.12f, want 7/12", ap);

  /* No known positive: undefined. Perfect ranking: 1. */
  const float y0[3] = {0, 0, 0}, ypos[3] = {1, 1, 0}, sp[3] = {3, 2, 1};
  CHECK(isnan(metrics_average_precision(st, y0, mt, 3, 1)), "AP without positives");
  CHECK(NEAR(metrics_average_precision(sp, ypos, mt, 3, 1), 1.0), "perfect AP");

  /* Stride: column 1 of a (3, 2) matrix. */
  const float sm[6] = {0, 3, 0, 1, 0, 2}, ym[6] = {0, 1, 0, 0, 0, 1}, mm[6] = {1, 1, 1, 1, 1, 1};
  CHECK(NEAR(metrics_average_precision(sm + 1, ym + 1, mm + 1, 3, 2), 1.0), "strided AP");
}

static void test_threshold(void)
{
  /* + + - + - -: cuts after 1..6 kept give F1 = 2TP/(kept + 3) = 2/4, 4/5, 4/6, 6/7, 6/8, 6/9.
   * Best: keep 4, F1 6/7, cut midway between 0.6 and 0.5. The unknown 0.55 is ignored. */
  const float s[7] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.55f};
  const float y[7] = {1, 1, 0, 1, 0, 0, 1};
  const float m[7] = {1, 1, 1, 1, 1, 1, 0};
  double f1;
  double cut = metrics_best_f1_threshold(s, y, m, 7, 1, 0.5, &f1);
  CHECK(NEAR(f1, 6.0 / 7.0), "best F1 %.12f, want 6/7", f1);
  CHECK(fabs(cut - 0.55) < 1e-6, "cut %.9f, want 0.55", cut);
  CHECK(NEAR(metrics_f1_at(s, y, m, 7, 1, cut), 6.0 / 7.0), "F1 at the cut");
  CHECK(NEAR(metrics_f1_at(s, y, m, 7, 1, 0.85), 2.0 / 4.0), "F1 at 0.85");

  /* + - + - - +: keep 3 and keep 6 both give F1 2/3; the higher cut wins (fewer alarms). */
  const float y2[6] = {1, 0, 1, 0, 0, 1};
  cut = metrics_best_f1_threshold(s, y2, m, 6, 1, 0.5, &f1);
  CHECK(NEAR(f1, 2.0 / 3.0) && fabs(cut - 0.65) < 1e-6, "tie: F1 %.9f cut %.9f", f1, cut);

  /* All positives: keep everything; the cut is the lowest score itself. */
  const float y3[3] = {1, 1, 1}, s3[3] = {0.2f, 0.7f, 0.4f}, m3[3] = {1, 1, 1};
  cut = metrics_best_f1_threshold(s3, y3, m3, 3, 1, 0.5, &f1);
  CHECK(NEAR(f1, 1.0) && fabs(cut - 0.2) < 1e-6, "all positive: F1 %g cut %g", f1, cut);

  /* No positive: the fallback, F1 undefined. */
  const float y4[3] = {0, 0, 0};
  cut = metrics_best_f1_threshold(s3, y4, m3, 3, 1, 0.123, &f1);
  CHECK(cut == 0.123 && isnan(f1), "no positive: cut %g F1 %g", cut, f1);
}

static void test_report(void)
{
  /* Class 0 and class 2 are perfectly ranked (by falling and rising scores), class 1 has no
   * known positive (its only positive is masked). */
  enum { N = 4, C = 3 };
  const float s[N * C] = {4, 4, 1, 3, 3, 2, 2, 2, 3, 1, 1, 4};
  const float y[N * C] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1};
  const float m[N * C] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  metrics_report r;
  CHECK(metrics_report_init(&r, C), "init");
  CHECK(metrics_evaluate(&r, s, y, m, N, 0.0), "evaluate");
  CHECK(NEAR(r.ap[0], 1.0) && isnan(r.ap[1]) && NEAR(r.ap[2], 1.0), "AP %g %g %g", r.ap[0], r.ap[1],
        r.ap[2]);
  CHECK(r.n_defined == 2 && NEAR(r.map, 1.0) && NEAR(r.macro_f1, 1.0), "means %zu %g %g",
        r.n_defined, r.map, r.macro_f1);
  CHECK(r.n_known[1] == 3 && r.n_positive[1] == 0 && r.threshold[1] == 0.0, "class 1 %zu %zu %g",
        r.n_known[1], r.n_positive[1], r.threshold[1]);
  CHECK(fabs(r.threshold[0] - 2.5) < 1e-6 && fabs(r.threshold[2] - 2.5) < 1e-6, "thresholds %g %g",
        r.threshold[0], r.threshold[2]);
  metrics_report_clear(&r);

  /* A class ranked badly: positives at the two lowest scores of four: AP (1/3 + 2/4) / 2. */
  const float s2[4] = {4, 3, 2, 1}, y2[4] = {0, 0, 1, 1}, m2[4] = {1, 1, 1, 1};
  CHECK(metrics_report_init(&r, 1) && metrics_evaluate(&r, s2, y2, m2, 4, 0.0), "evaluate 2");
  CHECK(NEAR(r.ap[0], (1.0 / 3.0 + 0.5) / 2.0), "bad ranking AP %g", r.ap[0]);
  /* F1: keep 1..4 -> 0, 0, 2/5, 4/6: keep all; cut = lowest score 1. */
  CHECK(NEAR(r.f1[0], 4.0 / 6.0) && fabs(r.threshold[0] - 1.0) < 1e-9, "bad ranking F1 %g at %g",
        r.f1[0], r.threshold[0]);
  metrics_report_clear(&r);
  metrics_report_clear(NULL);
}

int main(void)
{
  test_average_precision();
  test_threshold();
  test_report();
  return check_exit();
}
