/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_arch.c — the trainer's named architectures (trainer/arch.h): sizes, the He-uniform
 * initialisation, determinism per seed, defaults and the errors. (libcore's own tests build their
 * networks with tests/testnet.h instead.)
 */
#include <math.h>
#include <string.h>

#include "arch.h"
#include "check.h"

static void test_reference(void)
{
  instrid_error err;
  instrid_model_desc d;
  instrid_arch *ref = NULL;
  CHECK(instrid_arch_build("reference", 25, 1, &d, &ref, &err) == INSTRID_OK, "%s", err.message);
  if (!ref)
    return;
  /* 4 conv blocks: 9*(1*32 + 32*64 + 64*128 + 128*256) weights + 480 biases, BN 4*480,
   * dense 512*25 + 25. */
  size_t expect = 9 * (32 + 32 * 64 + 64 * 128 + 128 * 256) + 480 + 4 * 480 + 512 * 25 + 25;
  CHECK(d.n_params == expect, "reference n_params %zu, expected %zu", d.n_params, expect);
  /* He-uniform: the first conv's bound is sqrt(6/9); every weight inside, spread across it. */
  float bound = sqrtf(6.0f / 9.0f), lo = 1, hi = -1;
  for (int j = 0; j < 32 * 9; j++) {
    lo = fminf(lo, d.params[j]);
    hi = fmaxf(hi, d.params[j]);
  }
  CHECK(lo >= -bound && hi <= bound && lo < -0.7f * bound && hi > 0.7f * bound,
        "conv0 weights in [%g, %g], bound %g", lo, hi, bound);
  CHECK(d.params[32 * 9] == 0.0f && d.params[32 * 9 + 32] == 1.0f &&
            d.params[32 * 9 + 32 * 4] == 1.0f,
        "bias 0 and gamma 1, var 1");
  CHECK(d.thresholds[24] == 0.5f && strcmp(d.class_names[3], "class3") == 0, "defaults");

  /* Same seed, same weights; another seed, others. */
  instrid_arch *again = NULL, *other = NULL;
  instrid_arch_build("reference", 25, 1, NULL, &again, &err);
  instrid_arch_build("reference", 25, 2, NULL, &other, &err);
  CHECK(again && memcmp(instrid_arch_params(again), d.params, d.n_params * sizeof(float)) == 0,
        "same seed differs");
  CHECK(other && memcmp(instrid_arch_params(other), d.params, d.n_params * sizeof(float)) != 0,
        "other seed equal");
  instrid_arch_free(again);
  instrid_arch_free(other);
  instrid_arch_free(ref);
}

static void test_errors(void)
{
  instrid_error err;
  instrid_arch *bad = NULL;
  CHECK(instrid_arch_build("nonesuch", 3, 1, NULL, &bad, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "nonesuch") && strstr(err.message, "tiny") && !bad,
        "unknown name: %s", err.message);
  CHECK(instrid_arch_build("tiny", 0, 1, NULL, &bad, &err) == INSTRID_ERR_INVALID_ARG,
        "n_classes 0 accepted");
  CHECK(instrid_arch_name(0) && !instrid_arch_name(100), "name list");
  instrid_arch_free(NULL);
}

/* Every built-in architecture the trainer offers stays well inside libcore's limits on what a
 * model may demand (instrid_model_cost_check). */
static void test_builtin_archs_fit(void)
{
  static const char *const names[] = {"tiny", "default"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    instrid_error err;
    instrid_arch *arch = NULL;
    CHECK(instrid_arch_build(names[k], 25, 1, NULL, &arch, &err) == INSTRID_OK, "%s: %s", names[k],
          err.message);
    if (!arch)
      continue;
    instrid_model_cost c;
    CHECK(instrid_model_desc_cost(instrid_arch_desc(arch), &c, &err) == INSTRID_OK, "%s: %s",
          names[k], err.message);
    CHECK(instrid_model_cost_check(&c, &err) == INSTRID_OK, "%s: %s", names[k], err.message);
    /* A tenth of each limit at most: the limits are not tight around what is trained. */
    CHECK(c.total_bytes < 0.1 * (double)INSTRID_MAX_STREAM_BYTES, "%s: %.0f bytes", names[k],
          c.total_bytes);
    CHECK(c.ops_per_second < 0.1 * INSTRID_MAX_OPS_PER_SECOND, "%s: %.3g ops/s", names[k],
          c.ops_per_second);
    instrid_arch_free(arch);
  }
}

int main(void)
{
  test_reference();
  test_errors();
  test_builtin_archs_fit();
  return check_exit();
}
