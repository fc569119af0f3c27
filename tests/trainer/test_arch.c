/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_arch.c — the trainer's named architectures (trainer/arch.h): sizes, the He-uniform
 * initialisation, determinism per seed, defaults and the errors; and the one initialisation:
 * instrid_arch_build, the training network (train_net_init, train_net_new without weights) and
 * the training loop (trainer_new without weights) give the same bytes for the same seed, the
 * stream tests/testnet.c's fixtures were made with. (libcore's own tests build their networks
 * with tests/testnet.h instead.)
 */
#include <math.h>
#include <string.h>

#include "arch.h"
#include "check.h"
#include "netgrad.h"
#include "testnet.h"
#include "train.h"

/* instrid_arch_build("tiny", 25, 1): as main gave them before the initialisers were one. */
#define PIN0 0x1.5352a4p-2f
#define PIN71 0x1.a8bc58p-3f
#define PIN112 -0x1.1cdfbep-4f

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

/* Same seed, same architecture: the same weight bytes whichever path builds the network. */
static void test_one_initialisation(void)
{
  static const char *const names[] = {"tiny", "default", "reference", "mn04"};
  static const uint64_t seeds[] = {0, 1, 0x9e3779b97f4a7c15ull};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
      instrid_error err;
      instrid_model_desc d;
      instrid_arch *arch = NULL;
      CHECK(instrid_arch_build(names[k], 25, seeds[s], &d, &arch, &err) == INSTRID_OK, "%s: %s",
            names[k], err.message);
      if (!arch)
        continue;
      instrid_model_desc bare = d;
      bare.params = NULL; /* the training network initialises itself */
      train_net *net = train_net_new(&bare, 1, &err);
      CHECK(net != NULL, "%s: train_net_new: %s", names[k], err.message);
      if (net) {
        const size_t bytes = d.n_params * sizeof(float);
        CHECK(train_net_n_params(net) == d.n_params, "%s: %zu parameters, arch %zu", names[k],
              train_net_n_params(net), d.n_params);
        if (seeds[s] == 0)
          CHECK(memcmp(train_net_params(net), d.params, bytes) == 0,
                "%s: train_net_new without weights differs from instrid_arch_build(seed 0)",
                names[k]);
        train_net_init(net, seeds[s]);
        CHECK(memcmp(train_net_params(net), d.params, bytes) == 0,
              "%s seed %#llx: train_net_init and instrid_arch_build give different weights",
              names[k], (unsigned long long)seeds[s]);
        train_net_init(net, seeds[s] + 1);
        CHECK(memcmp(train_net_params(net), d.params, bytes) != 0, "%s: seed ignored", names[k]);
        train_net_free(net);
      }
      instrid_arch_free(arch);
    }
}

/* The stream itself, which trained models and checkpoints depend on: the fixtures of libcore's
 * tests (tests/testnet.c, an independent copy made before the initialisers were one) and
 * pinned values. */
static void test_stream_pinned(void)
{
  static const char *const names[] = {"tiny", "reference"};
  for (size_t k = 0; k < 2; k++) {
    instrid_error err;
    instrid_model_desc d;
    instrid_arch *arch = NULL;
    testnet *fixture = testnet_build(names[k], 25, 5);
    CHECK(instrid_arch_build(names[k], 25, 5, &d, &arch, &err) == INSTRID_OK && fixture, "%s",
          names[k]);
    if (arch && fixture)
      CHECK(testnet_desc(fixture)->n_params == d.n_params &&
                memcmp(testnet_params(fixture), d.params, d.n_params * sizeof(float)) == 0,
            "%s: weights differ from tests/testnet.c's", names[k]);
    testnet_free(fixture);
    instrid_arch_free(arch);
  }
  instrid_error err;
  instrid_model_desc d;
  instrid_arch *arch = NULL;
  CHECK(instrid_arch_build("tiny", 25, 1, &d, &arch, &err) == INSTRID_OK, "%s", err.message);
  if (!arch)
    return;
  /* conv0 weight[0], [71] (its last); conv1 weight[0] at 112 (after 8 biases and 4 * 8 BN) */
  const float *p = d.params;
  CHECK(p[0] == PIN0 && p[71] == PIN71 && p[112] == PIN112, "tiny seed 1: %a %a %a", (double)p[0],
        (double)p[71], (double)p[112]);
  instrid_arch_free(arch);
}

/* A training loop given an architecture without weights starts where instrid-train --arch
 * starts with the same seed. */
static size_t one_count(void *ctx, dataset_split split)
{
  (void)ctx;
  return split == DATASET_TRAIN ? 4 : 0;
}

static void one_get(void *ctx, dataset_split split, size_t i, int shift_frames, float *features,
                    float *target, float *mask)
{
  (void)split;
  (void)shift_frames;
  const instrid_model_desc *d = ctx;
  memset(features, 0, sizeof(float) * d->frontend.n_mels * d->window_frames);
  for (uint32_t c = 0; c < d->n_classes; c++) {
    target[c] = (float)((i + c) % 2);
    mask[c] = 1.0f;
  }
}

static void test_trainer_initialisation(void)
{
  instrid_error err;
  instrid_model_desc d;
  instrid_arch *arch = NULL;
  CHECK(instrid_arch_build("tiny", 3, 77, &d, &arch, &err) == INSTRID_OK, "%s", err.message);
  if (!arch)
    return;
  instrid_model_desc bare = d;
  bare.params = NULL;
  example_source src = {.count = one_count, .get = one_get, .ctx = &bare};
  train_options opt;
  train_options_default(&opt);
  opt.seed = 77;
  opt.threads = 1;
  opt.batch = 2;
  trainer *t = trainer_new(&bare, &src, &opt, &err);
  CHECK(t != NULL, "trainer_new: %s", err.message);
  if (t)
    CHECK(memcmp(train_net_params(trainer_net(t)), d.params, d.n_params * sizeof(float)) == 0,
          "trainer_new without weights differs from instrid_arch_build with its seed");
  trainer_free(t);
  instrid_arch_free(arch);
}

int main(void)
{
  test_one_initialisation();
  test_stream_pinned();
  test_trainer_initialisation();
  test_reference();
  test_errors();
  test_builtin_archs_fit();
  return check_exit();
}
