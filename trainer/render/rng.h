/* rng.h — the renderer's random numbers: splitmix64, seeded per piece so that a corpus depends on
 * the seed only, not on the number of jobs or the order they finish in.
 */
#ifndef INSTRID_RENDER_RNG_H
#define INSTRID_RENDER_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t state;
} render_rng;

static inline uint64_t rng_next(render_rng *r)
{
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A generator for stream `stream` of seed, independent of every other stream. */
static inline render_rng rng_derive(uint64_t seed, uint64_t stream)
{
  render_rng r = {seed ^ (stream * 0xd1b54a32d192ed03ull)};
  rng_next(&r);
  return r;
}

/* Uniform in [0, 1). */
static inline double rng_uniform(render_rng *r)
{
  return (double)(rng_next(r) >> 11) * 0x1p-53;
}
static inline double rng_range(render_rng *r, double lo, double hi)
{
  return lo + (hi - lo) * rng_uniform(r);
}
/* Uniform integer in [0, n), n > 0. */
static inline uint64_t rng_below(render_rng *r, uint64_t n)
{
  return rng_next(r) % n;
}

#endif /* INSTRID_RENDER_RNG_H */
