/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gaincopies.c — see gaincopies.h. */
#include "gaincopies.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "checkpoint.h"
#include "internal.h"

/* Recording number of inner's window i, as finetune_cache numbers them when inner has none. */
static uint32_t inner_group(const gain_copies *g, dataset_split split, size_t i, int *weak)
{
  *weak = 0;
  if (g->inner.group)
    return g->inner.group(g->inner.ctx, split, i, weak);
  return (uint32_t)(split == DATASET_VAL ? g->n_train + i : i);
}

instrid_status gain_copies_init(gain_copies *g, const example_source *inner,
                                const instrid_frontend_params *fe, uint32_t n_mels,
                                uint32_t window_frames, const float *gains_db, size_t n_gains,
                                instrid_error *err)
{
  memset(g, 0, sizeof *g);
  if (!inner || !fe || !gains_db || n_gains == 0 || n_gains > GAIN_COPIES_MAX)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "gain copies: %zu gains (1 to %d)",
                             n_gains, GAIN_COPIES_MAX);
  for (size_t k = 0; k < n_gains; k++)
    if (!(fabsf(gains_db[k]) <= GAIN_COPIES_DB_MAX))
      return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                               "gain copies: %g dB is outside -%g..%g dB", (double)gains_db[k],
                               (double)GAIN_COPIES_DB_MAX, (double)GAIN_COPIES_DB_MAX);
  g->inner = *inner;
  g->fe = *fe;
  g->n_features = (size_t)n_mels * window_frames;
  memcpy(g->gains_db, gains_db, sizeof(float) * n_gains);
  g->n_gains = n_gains;
  g->n_train = inner->count(inner->ctx, DATASET_TRAIN);
  g->n_val = inner->count(inner->ctx, DATASET_VAL);
  uint64_t top = 0;
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < (s ? g->n_val : g->n_train); i++) {
      int weak;
      uint32_t r = inner_group(g, s ? DATASET_VAL : DATASET_TRAIN, i, &weak);
      if (r > top)
        top = r;
    }
  if ((top + 1) * (n_gains + 1) > UINT32_MAX)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "gain copies: %zu copies of %llu recordings do not fit in 32 bits",
                             n_gains, (unsigned long long)(top + 1));
  g->group_stride = (uint32_t)(top + 1);
  return INSTRID_OK;
}

static size_t copies_count(void *ctx, dataset_split split)
{
  const gain_copies *g = ctx;
  return split == DATASET_VAL ? g->n_val : g->n_train * (g->n_gains + 1);
}

static void copies_get(void *ctx, dataset_split split, size_t i, int shift_frames, float *features,
                       float *target, float *mask)
{
  const gain_copies *g = ctx;
  if (split == DATASET_VAL) {
    g->inner.get(g->inner.ctx, split, i, shift_frames, features, target, mask);
    return;
  }
  size_t k = i / g->n_train, j = i % g->n_train;
  g->inner.get(g->inner.ctx, split, j, shift_frames, features, target, mask);
  if (k > 0)
    augment_gain(&g->fe, features, g->n_features, g->gains_db[k - 1]);
}

static uint32_t copies_group(void *ctx, dataset_split split, size_t i, int *weak)
{
  const gain_copies *g = ctx;
  if (split == DATASET_VAL)
    return inner_group(g, split, i, weak);
  size_t k = i / g->n_train;
  return inner_group(g, split, i % g->n_train, weak) + (uint32_t)k * g->group_stride;
}

example_source gain_copies_source(gain_copies *g)
{
  example_source s = {copies_count, copies_get, g, copies_group};
  return s;
}

uint64_t gain_copies_key(const gain_copies *g)
{
  if (!g || g->n_gains == 0)
    return 0;
  return checkpoint_hash(CHECKPOINT_HASH_INIT, g->gains_db, sizeof(float) * g->n_gains);
}

size_t gain_copies_parse(const char *text, float *gains, instrid_error *err)
{
  size_t n = 0;
  const char *p = text ? text : "";
  for (;;) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || (*end != ',' && *end != '\0') || !(fabs(v) <= GAIN_COPIES_DB_MAX)) {
      size_t len = strcspn(p, ",");
      instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                        "'%.*s' is not a gain in dB from -%g to %g (a list like -12,+12)",
                        (int)(len > 40 ? 40 : len), p, (double)GAIN_COPIES_DB_MAX,
                        (double)GAIN_COPIES_DB_MAX);
      return 0;
    }
    if (n == GAIN_COPIES_MAX) {
      instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "more than %d gains", GAIN_COPIES_MAX);
      return 0;
    }
    gains[n++] = (float)v;
    if (*end == '\0')
      return n;
    p = end + 1;
  }
}
