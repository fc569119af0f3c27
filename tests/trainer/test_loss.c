/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_loss.c — masked BCE (plain, pos_weight, focal) against central differences and known
 * values, AdamW against hand-computed steps, gradient clipping, the learning-rate schedule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loss.h"
#include "optim.h"

static int close_to(double a, double b, double abs_tol, double rel_tol)
{
  return fabs(a - b) <= abs_tol + rel_tol * fmax(fabs(a), fabs(b));
}

enum { N = 4, C = 5 };

static void fill(float *logits, float *target, float *mask)
{
  /* Fixed values: logits over [-6, 6], targets mostly hard 0/1 with one soft label, every
   * fourth entry unknown. */
  for (int i = 0; i < N * C; i++) {
    logits[i] = -6.0f + 12.0f * (float)((i * 7) % (N * C)) / (float)(N * C - 1);
    target[i] = (float)((i * 3 + 1) % 2);
    mask[i] = (i % 4 == 3) ? 0.0f : 1.0f;
  }
  target[5] = 0.3f;
}

static void test_known_values(void)
{
  /* Single entries against the closed form: BCE(z, y=1) = log(1 + e^-z). */
  float z = 0.0f, y = 1.0f, m = 1.0f, d;
  float loss = masked_bce_with_logits(&z, &y, &m, 1, 1, NULL, 0.0f, &d);
  CHECK(close_to(loss, log(2.0), 1e-7, 1e-6), "BCE(0, 1) = %g, want log 2", loss);
  CHECK(close_to(d, -0.5, 1e-7, 1e-6), "dBCE(0, 1) = %g, want -0.5", d);

  z = 2.0f, y = 0.0f;
  loss = masked_bce_with_logits(&z, &y, &m, 1, 1, NULL, 0.0f, &d);
  CHECK(close_to(loss, log1p(exp(2.0)), 1e-7, 1e-6), "BCE(2, 0) = %g", loss);
  CHECK(close_to(d, 1.0 / (1.0 + exp(-2.0)), 1e-7, 1e-6), "dBCE(2, 0) = %g", d);

  /* Stable at extreme logits: no inf/nan, and the right asymptotes. */
  z = 100.0f, y = 0.0f;
  loss = masked_bce_with_logits(&z, &y, &m, 1, 1, NULL, 0.0f, &d);
  CHECK(close_to(loss, 100.0, 1e-4, 1e-6) && close_to(d, 1.0, 1e-6, 0), "BCE(100, 0) = %g, %g",
        loss, d);
  z = -100.0f, y = 0.0f;
  loss = masked_bce_with_logits(&z, &y, &m, 1, 1, NULL, 0.0f, &d);
  CHECK(loss >= 0.0f && loss < 1e-30 && fabsf(d) < 1e-30, "BCE(-100, 0) = %g, %g", loss, d);

  /* pos_weight 3 triples the positive term; focal gamma 2 at p = 0.5 scales it by 0.25. */
  float w = 3.0f;
  z = 0.0f, y = 1.0f;
  loss = masked_bce_with_logits(&z, &y, &m, 1, 1, &w, 0.0f, NULL);
  CHECK(close_to(loss, 3.0 * log(2.0), 1e-7, 1e-6), "pos_weight BCE = %g", loss);
  loss = masked_bce_with_logits(&z, &y, &m, 1, 1, NULL, 2.0f, NULL);
  CHECK(close_to(loss, 0.25 * log(2.0), 1e-7, 1e-6), "focal BCE = %g", loss);

  /* Mean over known entries: two entries, one masked, equals the single entry's loss. */
  float zz[2] = {0.0f, 5.0f}, yy[2] = {1.0f, 1.0f}, mm[2] = {1.0f, 0.0f}, dd[2];
  loss = masked_bce_with_logits(zz, yy, mm, 1, 2, NULL, 0.0f, dd);
  CHECK(close_to(loss, log(2.0), 1e-7, 1e-6), "masked mean = %g", loss);
  CHECK(close_to(dd[0], -0.5, 1e-7, 1e-6) && dd[1] == 0.0f, "masked grads %g %g", dd[0], dd[1]);

  /* Nothing known: loss 0, all gradients 0. */
  mm[0] = 0.0f;
  dd[0] = dd[1] = 7.0f;
  loss = masked_bce_with_logits(zz, yy, mm, 1, 2, NULL, 0.0f, dd);
  CHECK(loss == 0.0f && dd[0] == 0.0f && dd[1] == 0.0f, "all masked: %g %g %g", loss, dd[0], dd[1]);
}

static void test_masking(void)
{
  float logits[N * C], target[N * C], mask[N * C], d[N * C];
  float pos_weight[C] = {1.0f, 2.0f, 0.5f, 4.0f, 1.5f};
  fill(logits, target, mask);
  for (int variant = 0; variant < 3; variant++) {
    const float *pw = variant == 1 ? pos_weight : NULL;
    float gamma = variant == 2 ? 2.0f : 0.0f;
    float base = masked_bce_with_logits(logits, target, mask, N, C, pw, gamma, d);
    for (int i = 0; i < N * C; i++) {
      if (mask[i] != 0.0f)
        continue;
      CHECK(d[i] == 0.0f, "variant %d: masked entry %d has gradient %g", variant, i, d[i]);
      /* Changing a masked entry's logit and target leaves the loss bit-identical. */
      float save_z = logits[i], save_y = target[i];
      logits[i] = 37.0f;
      target[i] = 1.0f - save_y;
      float changed = masked_bce_with_logits(logits, target, mask, N, C, pw, gamma, NULL);
      CHECK(changed == base, "variant %d: masked entry %d changes loss %g -> %g", variant, i, base,
            changed);
      logits[i] = save_z;
      target[i] = save_y;
    }
  }
}

/* dlogits against central differences of the returned loss, for all three variants. */
static void test_gradients(void)
{
  float logits[N * C], target[N * C], mask[N * C], d[N * C];
  float pos_weight[C] = {1.0f, 2.0f, 0.5f, 4.0f, 1.5f};
  fill(logits, target, mask);
  /* Keep logits where the loss is not flat in float: |z| <= 6 already. */
  const float eps = 1e-2f;
  for (int variant = 0; variant < 4; variant++) {
    const float *pw = (variant == 1 || variant == 3) ? pos_weight : NULL;
    float gamma = variant == 2 ? 2.0f : variant == 3 ? 1.5f : 0.0f;
    masked_bce_with_logits(logits, target, mask, N, C, pw, gamma, d);
    for (int i = 0; i < N * C; i++) {
      if (mask[i] == 0.0f)
        continue;
      float z = logits[i];
      logits[i] = z + eps;
      double up = masked_bce_with_logits(logits, target, mask, N, C, pw, gamma, NULL);
      logits[i] = z - eps;
      double down = masked_bce_with_logits(logits, target, mask, N, C, pw, gamma, NULL);
      logits[i] = z;
      double numeric = (up - down) / (2.0 * eps);
      CHECK(close_to(numeric, d[i], 2e-5, 1e-2), "variant %d entry %d: numeric %g analytic %g",
            variant, i, numeric, d[i]);
    }
  }
}

static void test_adamw(void)
{
  /* Two parameters, two steps, against the formulas worked by hand:
   * step 1, g = 0.5: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25, update = 0.5 / 0.5 = 1
   * (less eps), so p1 = p0 (1 - lr wd) - lr. */
  adamw_config cfg = {
      .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
  float p[3] = {1.0f, 1.0f, 5.0f}, g[3] = {0.5f, 0.5f, 9.0f}, m[3] = {0}, v[3] = {0};
  uint8_t decay[3] = {1, 0, 1}, trainable[3] = {1, 1, 0};
  adamw_step(p, g, m, v, decay, trainable, 3, &cfg, 1);
  double upd1 = 0.5 / (0.5 + 1e-8);
  CHECK(close_to(p[0], 1.0 * (1.0 - 0.1 * 0.01) - 0.1 * upd1, 1e-7, 1e-6), "adamw p0 %.9g", p[0]);
  CHECK(close_to(p[1], 1.0 - 0.1 * upd1, 1e-7, 1e-6), "adamw p1 (no decay) %.9g", p[1]);
  CHECK(p[2] == 5.0f && m[2] == 0.0f && v[2] == 0.0f, "non-trainable entry touched");
  CHECK(close_to(m[0], 0.05, 1e-9, 1e-6) && close_to(v[0], 0.00025, 1e-10, 1e-4), "moments %g %g",
        m[0], v[0]);

  /* Step 2 with g = -1 on entry 1 (no decay):
   * m = 0.9 * 0.05 - 0.1 = -0.055, v = 0.999 * 0.00025 + 0.001 = 0.00124975,
   * m_hat = -0.055 / 0.19, v_hat = 0.00124975 / (1 - 0.999^2). */
  double p1 = p[1];
  g[1] = -1.0f;
  adamw_step(p, g, m, v, decay, trainable, 3, &cfg, 2);
  double m_hat = -0.055 / (1.0 - 0.81), v_hat = 0.00124975 / (1.0 - 0.998001);
  double want = p1 - 0.1 * m_hat / (sqrt(v_hat) + 1e-8);
  CHECK(close_to(p[1], want, 1e-6, 1e-5), "adamw step 2: %.9g want %.9g", p[1], want);

  /* NULL masks: everything decays and trains. */
  float q = 2.0f, gq = 0.0f, mq = 0.0f, vq = 0.0f;
  adamw_step(&q, &gq, &mq, &vq, NULL, NULL, 1, &cfg, 1);
  CHECK(close_to(q, 2.0 * (1.0 - 0.001), 1e-7, 1e-6), "adamw decay only %.9g", q);
}

static void test_clip(void)
{
  float g[3] = {3.0f, 4.0f, 100.0f};
  uint8_t trainable[3] = {1, 1, 0};
  float norm = clip_grad_norm(g, trainable, 3, 1.0f);
  CHECK(close_to(norm, 5.0, 1e-6, 1e-6), "norm %g", norm);
  CHECK(close_to(g[0], 0.6, 1e-6, 1e-5) && close_to(g[1], 0.8, 1e-6, 1e-5) && g[2] == 100.0f,
        "clipped %g %g %g", g[0], g[1], g[2]);
  float h[2] = {0.3f, 0.4f};
  norm = clip_grad_norm(h, NULL, 2, 1.0f);
  CHECK(close_to(norm, 0.5, 1e-6, 1e-6) && h[0] == 0.3f && h[1] == 0.4f, "unclipped %g", norm);
}

static void test_schedule(void)
{
  const float base = 1e-3f;
  CHECK(close_to(lr_schedule(base, 1, 10, 110), 1e-4, 1e-12, 1e-6), "warm-up step 1");
  CHECK(close_to(lr_schedule(base, 5, 10, 110), 5e-4, 1e-12, 1e-6), "warm-up step 5");
  CHECK(close_to(lr_schedule(base, 10, 10, 110), 1e-3, 1e-12, 1e-6), "end of warm-up");
  CHECK(close_to(lr_schedule(base, 60, 10, 110), 5e-4, 1e-12, 1e-5), "cosine midpoint %g",
        lr_schedule(base, 60, 10, 110));
  double quarter = 1e-3 * 0.5 * (1.0 + cos(M_PI * 0.25));
  CHECK(close_to(lr_schedule(base, 35, 10, 110), quarter, 1e-12, 1e-5), "cosine quarter");
  CHECK(lr_schedule(base, 110, 10, 110) == 0.0f, "end of schedule");
  CHECK(lr_schedule(base, 500, 10, 110) == 0.0f, "after the end");
  CHECK(close_to(lr_schedule(base, 0, 0, 100), 1e-3, 1e-12, 1e-6), "no warm-up, step 0");
  /* Monotone non-increasing after warm-up. */
  float prev = lr_schedule(base, 10, 10, 110);
  for (uint64_t s = 11; s <= 110; s++) {
    float lr = lr_schedule(base, s, 10, 110);
    CHECK(lr <= prev, "schedule rises at step %llu", (unsigned long long)s);
    prev = lr;
  }
}

int main(void)
{
  test_known_values();
  test_masking();
  test_gradients();
  test_adamw();
  test_clip();
  test_schedule();
  return check_exit();
}
