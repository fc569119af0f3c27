/* test_summary.c — the whole-stream summary (top-10% mean per class, in fixed memory) and the
 * decision rule (thresholds, order), against values worked out by hand. */
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

int main(void)
{
  test_summary_values();
  test_decide();
  return check_exit();
}
