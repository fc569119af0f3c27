/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rng.h — the random numbers of the trainer, the renderer, the benchmarks and the tests: one
 * header, header only, so that every stream is the same on every host and in every program.
 *
 * Two generators, both fixed forever because checkpoints, trained models and rendered corpora
 * depend on their exact streams (tests/trainer/test_rng.c pins values of each):
 *
 *   splitmix64 (Steele, Lea and Flood 2014): 64 bits of state advanced by the golden-ratio
 *   increment and mixed. rng_splitmix64 is the step; it also seeds xoshiro and hashes seeds
 *   (rng_hash64). splitmix_rng wraps it as the renderer's per-piece streams (splitmix_derive).
 *
 *   xoshiro256** (Blackman and Vigna 2018), seeded through splitmix64: instrid_rng, the training
 *   loop's generator (shuffles, augmentation, initialisation).
 *
 * Conversions keep the bits they always had: floats take the top 24 bits (exact in a float),
 * doubles the top 53.
 */
#ifndef INSTRID_RNG_H
#define INSTRID_RNG_H

#include <stdint.h>

/* ---- splitmix64 ------------------------------------------------------------------------- */

/* Advances *state and returns the next output. From state 0: 0xe220a8397b1dcdaf,
 * 0x6e789e6aa1b965f4, 0x06c45d188009454f. */
static inline uint64_t rng_splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The output splitmix64 gives from state x: a 64-bit hash of x (for seeds and keys). */
static inline uint64_t rng_hash64(uint64_t x)
{
  return rng_splitmix64(&x);
}

/* Uniform in [0, 1) from the next splitmix64 output, 24 random bits. */
static inline float rng_splitmix_float(uint64_t *state)
{
  return (float)(rng_splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

/* A splitmix64 stream: the renderer's generator, one per piece, stem and choice, so that a
 * corpus depends on the seed only, not on the number of jobs or the order they finish in. */
typedef struct {
  uint64_t state;
} splitmix_rng;

static inline uint64_t splitmix_next(splitmix_rng *r)
{
  return rng_splitmix64(&r->state);
}

/* A generator for stream `stream` of seed, independent of every other stream. */
static inline splitmix_rng splitmix_derive(uint64_t seed, uint64_t stream)
{
  splitmix_rng r = {seed ^ (stream * 0xd1b54a32d192ed03ull)};
  splitmix_next(&r);
  return r;
}

/* Uniform in [0, 1), 53 random bits. */
static inline double splitmix_uniform(splitmix_rng *r)
{
  return (double)(splitmix_next(r) >> 11) * 0x1p-53;
}

static inline double splitmix_range(splitmix_rng *r, double lo, double hi)
{
  return lo + (hi - lo) * splitmix_uniform(r);
}

/* Integer in [0, n), n > 0 (by remainder: biased by at most n / 2^64). */
static inline uint64_t splitmix_below(splitmix_rng *r, uint64_t n)
{
  return splitmix_next(r) % n;
}

/* ---- xoshiro256** ----------------------------------------------------------------------- */

typedef struct {
  uint64_t s[4];
} instrid_rng;

/* The state is four splitmix64 outputs from seed. */
static inline void instrid_rng_seed(instrid_rng *rng, uint64_t seed)
{
  for (int i = 0; i < 4; i++)
    rng->s[i] = rng_splitmix64(&seed);
}

/* Seeds stream (a, b) of seed: each coordinate goes through splitmix64 before the next is mixed
 * in, so that nearby (a, b) pairs give unrelated streams (e.g. (epoch, position)). */
static inline void instrid_rng_seed_stream(instrid_rng *rng, uint64_t seed, uint64_t a, uint64_t b)
{
  uint64_t st = seed;
  uint64_t h = rng_splitmix64(&st);
  st = h ^ (a * 0xd1b54a32d192ed03ull);
  h = rng_splitmix64(&st);
  st = h ^ (b * 0xabc98388fb8fac03ull);
  instrid_rng_seed(rng, rng_splitmix64(&st));
}

static inline uint64_t instrid_rng_rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t instrid_rng_next(instrid_rng *rng)
{
  uint64_t *s = rng->s;
  uint64_t result = instrid_rng_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = instrid_rng_rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1), 24 random bits. */
static inline float instrid_rng_uniform(instrid_rng *rng)
{
  return (float)(instrid_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

static inline float instrid_rng_range(instrid_rng *rng, float lo, float hi)
{
  return lo + (hi - lo) * instrid_rng_uniform(rng);
}

/* Integer in [0, n) from the top 32 bits by multiply-shift (Lemire), n > 0. */
static inline uint32_t instrid_rng_below(instrid_rng *rng, uint32_t n)
{
  return (uint32_t)(((instrid_rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

#endif /* INSTRID_RNG_H */
