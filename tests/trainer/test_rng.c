/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_rng.c — pins values of trainer/common/rng.h's generators. Checkpoints (resume must stay
 * bit-identical), trained models (initialisation, shuffles, augmentation) and rendered corpora
 * (same seed, same bytes) depend on these exact streams: a change here is a change of every
 * stream, not a refactoring. The splitmix64 values from state 0 are the published reference
 * implementation's; the others were taken from the six copies this header replaced.
 */
#include <stdint.h>

#include "check.h"
#include "rng.h"

static void test_splitmix64(void)
{
  uint64_t st = 0;
  static const uint64_t from0[3] = {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
                                    0x06c45d188009454full};
  for (int i = 0; i < 3; i++) {
    uint64_t v = rng_splitmix64(&st);
    CHECK(v == from0[i], "splitmix64 from 0, output %d: %#llx", i, (unsigned long long)v);
  }
  CHECK(st == 3 * 0x9e3779b97f4a7c15ull, "state advances by the golden-ratio increment");
  st = 42;
  CHECK(rng_splitmix64(&st) == 0xbdd732262feb6e95ull &&
            rng_splitmix64(&st) == 0x28efe333b266f103ull,
        "splitmix64 from 42");
  CHECK(rng_hash64(42) == 0xbdd732262feb6e95ull && rng_hash64(0) == 0xe220a8397b1dcdafull,
        "hash = first output");
  st = 0;
  float f = rng_splitmix_float(&st);
  CHECK(f == (float)0xe220a8 / 16777216.0f, "24-bit float %a", (double)f);
}

static void test_splitmix_streams(void)
{
  splitmix_rng r = splitmix_derive(7, 1);
  uint64_t a = splitmix_next(&r), b = splitmix_next(&r);
  CHECK(a == 0xd11f5a75f7215b2aull && b == 0x44a8d3980c1c4143ull, "derive(7, 1): %#llx %#llx",
        (unsigned long long)a, (unsigned long long)b);
  double u = splitmix_uniform(&r);
  CHECK(u == 0x1.9162f03cd3768p-3, "uniform %a", u);
  uint64_t k = splitmix_below(&r, 10);
  CHECK(k == 9, "below(10) %llu", (unsigned long long)k);
  double x = splitmix_range(&r, 2.0, 5.0);
  CHECK(x == 0x1.f3ccab1bf3ddep+1, "range(2, 5) %a", x);
  splitmix_rng s = splitmix_derive(7, 2);
  CHECK(splitmix_next(&s) != a, "streams differ");
}

static void test_xoshiro(void)
{
  instrid_rng r;
  instrid_rng_seed(&r, 1);
  static const uint64_t seed1[3] = {0xb3f2af6d0fc710c5ull, 0x853b559647364ceaull,
                                    0x92f89756082a4514ull};
  for (int i = 0; i < 3; i++) {
    uint64_t v = instrid_rng_next(&r);
    CHECK(v == seed1[i], "xoshiro256** seed 1, output %d: %#llx", i, (unsigned long long)v);
  }
  instrid_rng_seed(&r, 99);
  float u1 = instrid_rng_uniform(&r);
  float u2 = instrid_rng_uniform(&r);
  CHECK(u1 == 0x1.65129cp-2f && u2 == 0x1.20c49cp-1f, "uniform %a %a", (double)u1, (double)u2);

  instrid_rng_seed_stream(&r, 5, 3, 7);
  uint64_t a = instrid_rng_next(&r), b = instrid_rng_next(&r);
  CHECK(a == 0x78ca68c82f682075ull && b == 0xa41a309ef450eefaull, "stream (5, 3, 7): %#llx %#llx",
        (unsigned long long)a, (unsigned long long)b);
  uint32_t k = instrid_rng_below(&r, 1000);
  CHECK(k == 712, "below(1000) %u", k);
  float x = instrid_rng_range(&r, -2.0f, 3.0f);
  CHECK(x == -0x1.e91b9cp+0f, "range(-2, 3) %a", (double)x);
}

int main(void)
{
  test_splitmix64();
  test_splitmix_streams();
  test_xoshiro();
  return check_exit();
}
