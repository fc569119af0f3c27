/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_summary.c — the whole-stream summary (top-10% mean per class, in fixed memory) and the
 * decision rule (thresholds, order), settling and per-class threshold text, against values
 * worked out by hand. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "decision.h"
#include "summary.h"

static void test_summary_values(void)
{
  instrid_error err;
  instrid_summary *s = instrid_summary_new(2, &err);
  double p[2], out[2];
  CHECK(s != NULL, "new: %s", err.message);

  /* No window: every class 0. */
  instrid_summary_probabilities(s, out);
  CHECK(out[0] == 0.0 && out[1] == 0.0, "empty: %g %g", out[0], out[1]);
  CHECK(instrid_summary_windows(s) == 0, "windows");

  /* 14 windows: class 0 takes 0.05, 0.10, ... 0.70; class 1 is 0.2 everywhere. The top 10% is
   * ceil(1.4) = 2 windows: class 0 -> (0.70 + 0.65) / 2, class 1 -> 0.2. */
  for (int k = 1; k <= 14; k++) {
    p[0] = 0.05 * k;
    p[1] = 0.2;
    instrid_summary_add(s, p);
  }
  CHECK(instrid_summary_windows(s) == 14, "windows %llu",
        (unsigned long long)instrid_summary_windows(s));
  instrid_summary_probabilities(s, out);
  CHECK(fabs(out[0] - 0.675) < 1e-12, "class 0: %.15g", out[0]);
  CHECK(fabs(out[1] - 0.2) < 1e-12, "class 1: %.15g", out[1]);

  /* One window: the top is that window. Out-of-range values are clamped, NaN counts as 0. */
  instrid_summary_reset(s);
  CHECK(instrid_summary_windows(s) == 0, "reset");
  p[0] = 1.7;
  p[1] = NAN;
  instrid_summary_add(s, p);
  instrid_summary_probabilities(s, out);
  CHECK(out[0] == 1.0 && out[1] == 0.0, "clamped: %g %g", out[0], out[1]);

  /* 100 windows in one bin but for a spike: the top 10 are the spike and 9 of the rest, the
   * partly taken bin contributing its own mean. */
  instrid_summary_reset(s);
  for (int k = 0; k < 100; k++) {
    p[0] = k == 50 ? 0.9 : 0.3;
    p[1] = k < 10 ? 0.8 : 0.0; /* a solo: a tenth of the stream */
    instrid_summary_add(s, p);
  }
  instrid_summary_probabilities(s, out);
  CHECK(fabs(out[0] - (0.9 + 9 * 0.3) / 10) < 1e-12, "spike: %.15g", out[0]);
  CHECK(fabs(out[1] - 0.8) < 1e-12, "solo: %.15g", out[1]);
  instrid_summary_free(s);
  instrid_summary_free(NULL);

  CHECK(instrid_summary_new(0, &err) == NULL && err.code == INSTRID_ERR_INVALID_ARG,
        "0 classes accepted");
  CHECK(instrid_summary_new(INSTRID_MAX_CLASSES + 1, &err) == NULL, "too many classes accepted");
}

static void test_decide(void)
{
  const double p[5] = {0.2, 0.9, 0.5, NAN, 0.5};
  const double common[5] = {0.4, 0.4, 0.4, 0.4, 0.4};
  const double per_class[5] = {0.1, 0.95, 0.5, 0.0, 0.6};
  int detected[5];
  uint32_t order[5];

  /* One threshold: 1, 2, 4 detected (2 before 4: equal, class order); then 0, then NaN. */
  CHECK(instrid_decide(5, p, common, detected, order) == 3, "common: count");
  const uint32_t want_common[5] = {1, 2, 4, 0, 3};
  CHECK(memcmp(order, want_common, sizeof order) == 0, "common order %u %u %u %u %u", order[0],
        order[1], order[2], order[3], order[4]);
  CHECK(detected[1] && detected[2] && detected[4] && !detected[0] && !detected[3], "common set");

  /* Per class: 0 (0.2 >= 0.1) and 2 (at its threshold) detected, 1 (0.9 < 0.95) not, NaN never;
   * the detected ones first, most probable first, then the rest. */
  CHECK(instrid_decide(5, p, per_class, detected, order) == 2, "per class: count");
  const uint32_t want_per_class[5] = {2, 0, 1, 4, 3};
  CHECK(memcmp(order, want_per_class, sizeof order) == 0, "per-class order %u %u %u %u %u",
        order[0], order[1], order[2], order[3], order[4]);
  CHECK(detected[0] && detected[2] && !detected[1] && !detected[3] && !detected[4],
        "per-class set");
}

/* Settling: a class settles after min_windows detected windows in a row, a break restarts the
 * count, and a settled class stays settled. */
static void test_settle(void)
{
  /* class 0: on on off on on on; class 1: on off on off on off; class 2: never */
  const int pattern[6][3] = {{1, 1, 0}, {1, 0, 0}, {0, 1, 0}, {1, 0, 0}, {1, 1, 0}, {1, 0, 0}};
  const int want_changed[6] = {0, 0, 0, 0, 0, 1};
  uint32_t run[3] = {0, 0, 0};
  int settled[3] = {0, 0, 0};
  for (int k = 0; k < 6; k++) {
    int changed = instrid_settle(3, pattern[k], 3, run, settled);
    CHECK(changed == want_changed[k], "window %d: changed %d", k, changed);
  }
  CHECK(settled[0] && !settled[1] && !settled[2], "settled %d %d %d", settled[0], settled[1],
        settled[2]);
  CHECK(run[0] == 3 && run[1] == 0, "runs %u %u", run[0], run[1]);
  /* Once settled, a break does not unsettle; 0 windows counts as 1. */
  const int none[3] = {0, 0, 0}, one[3] = {0, 1, 0};
  CHECK(instrid_settle(3, none, 3, run, settled) == 0 && settled[0], "unsettled by a break");
  CHECK(instrid_settle(3, one, 0, run, settled) == 1 && settled[1], "0 windows is not 1");
}

static void test_thresholds_parse(void)
{
  const char *const names[3] = {"violin", "piano", "guitar (distorted electric)"};
  double t[3] = {0.5, 0.5, 0.5};
  instrid_error err;

  CHECK(instrid_thresholds_parse(" violin = 0.3 ,piano=1,, guitar (distorted electric)=.25", 3,
                                 names, t, &err) == INSTRID_OK,
        "good text: %s", err.message);
  CHECK(t[0] == 0.3 && t[1] == 1.0 && t[2] == 0.25, "values %g %g %g", t[0], t[1], t[2]);
  CHECK(instrid_thresholds_parse("", 3, names, t, &err) == INSTRID_OK && t[0] == 0.3, "empty");
  CHECK(instrid_thresholds_parse(NULL, 3, names, t, &err) == INSTRID_OK, "NULL");

  /* A bad entry changes nothing, and the message names it. */
  static const struct {
    const char *text, *says;
  } bad[] = {{"violin=0.1,cello=0.2", "no class 'cello'"},
             {"violin=0.1,piano=1.5", "'1.5' for piano"},
             {"violin=0.1,piano", "'piano' is not class=value"},
             {"violin=", "'' for violin"},
             {"violin=0,5", "'5' is not class=value"},
             {"violin=-0.1", "'-0.1' for violin"},
             {"violin=nan", "'nan' for violin"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double u[3] = {0.5, 0.5, 0.5};
    CHECK(instrid_thresholds_parse(bad[i].text, 3, names, u, &err) == INSTRID_ERR_INVALID_ARG,
          "'%s' accepted", bad[i].text);
    CHECK(strstr(err.message, bad[i].says) != NULL, "'%s': message '%s'", bad[i].text, err.message);
    CHECK(u[0] == 0.5 && u[1] == 0.5 && u[2] == 0.5, "'%s' changed thresholds", bad[i].text);
  }
}

int main(void)
{
  test_summary_values();
  test_decide();
  test_settle();
  test_thresholds_parse();
  return check_exit();
}
