/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gaincopies.h — every training window again at other levels, for the head trained on the
 * frozen backbone's cached vectors (instrid-train --gain-copies), which no random augmentation
 * reaches: the backbone runs once per window, before training.
 *
 * A recording's level is arbitrary (a sample library's notes sit 20 dB under a mastered song),
 * but a log-mel network is not level-invariant: the floor of the log and every nonlinearity after
 * it see a louder window as another sound. Copies at fixed gains, computed exactly on the mel
 * energies (augment_gain), let the head learn the same labels across levels.
 */
#ifndef INSTRID_GAINCOPIES_H
#define INSTRID_GAINCOPIES_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "train.h"

#define GAIN_COPIES_MAX 8
#define GAIN_COPIES_DB_MAX 60.0f

typedef struct {
  example_source inner;
  instrid_frontend_params fe;
  size_t n_features; /* floats per window: n_mels * window_frames */
  float gains_db[GAIN_COPIES_MAX];
  size_t n_gains;
  size_t n_train;        /* inner's training windows */
  size_t n_val;          /* inner's validation windows */
  uint32_t group_stride; /* above every recording number of inner */
} gain_copies;

/* Sets g up over inner (which must outlive g): its training split becomes inner's windows as
 * they are, then all of them again at gains_db[0], then at gains_db[1]...; copy k of window i is
 * window k * n_train + i, with inner's targets and masks, in a recording numbered inner's + k *
 * group_stride (clip pooling never mixes copies). The validation split stays inner's. fe is the
 * front end that made the features (the model's). Errors: INSTRID_ERR_INVALID_ARG for no gains or
 * more than GAIN_COPIES_MAX, a gain outside +-GAIN_COPIES_DB_MAX dB or not finite, or recording
 * numbers that would not fit in 32 bits. */
instrid_status gain_copies_init(gain_copies *g, const example_source *inner,
                                const instrid_frontend_params *fe, uint32_t n_mels,
                                uint32_t window_frames, const float *gains_db, size_t n_gains,
                                instrid_error *err);

/* The source over g (valid while g lives). */
example_source gain_copies_source(gain_copies *g);

/* A hash of the gains, for keys of caches made through the source (0 for none). */
uint64_t gain_copies_key(const gain_copies *g);

/* Parses "DB[,DB...]" (e.g. "-12,+12") into gains (at most GAIN_COPIES_MAX); returns the count,
 * or 0 with err set naming the bad item. */
size_t gain_copies_parse(const char *text, float *gains, instrid_error *err);

#endif /* INSTRID_GAINCOPIES_H */
