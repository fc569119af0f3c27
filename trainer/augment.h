/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* augment.h — data augmentation on cached log-mel windows (gain, noise, SpecAugment masks,
 * mixup). Random numbers come from rng.h's instrid_rng: the trainer never uses rand(); every
 * stream is derived from the run's seed and a position (instrid_rng_seed_stream with epoch,
 * example index, ...), so results do not depend on the order in which threads or resumed runs
 * reach them.
 */
#ifndef INSTRID_AUGMENT_H
#define INSTRID_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"
#include "rng.h"

/* ------------------------------------------------------------------------------------------ */
/* Augmentation. Features are one window (n_mels, W) row-major, normalised as the front end
 * makes them: f = (ln(max(E, log_floor)) - feature_mean) / feature_std, E the mel energy. */

typedef struct {
  float gain_prob;           /* chance of a gain change */
  float gain_db_max;         /* gain uniform in [-max, +max] dB */
  float noise_prob;          /* chance of added noise */
  float noise_snr_db_min;    /* noise level below the window's mean energy, uniform in */
  float noise_snr_db_max;    /*   [min, max] dB */
  uint32_t shift_frames_max; /* time shift uniform in [-max, +max] frames (through the dataset) */
  float time_mask_prob;      /* chance of SpecAugment time masks */
  uint32_t time_masks;       /* how many */
  uint32_t time_mask_frames_max;
  float freq_mask_prob; /* chance of SpecAugment frequency masks */
  uint32_t freq_masks;
  uint32_t freq_mask_bands_max;
  float mixup_prob;       /* chance that a window is mixed with another one of the batch */
  float mixup_weight_min; /* weight of the other window uniform in [min, max]; max <= 0.5 */
  float mixup_weight_max; /*   is enough since either window can be the other one */
} augment_options;

/* Settings that suit windows of window_frames frames and n_mels bands (masks scale with them). */
void augment_options_default(augment_options *opt, uint32_t n_mels, uint32_t window_frames);
/* Everything off. */
void augment_options_none(augment_options *opt);

/* Multiplies the audio by gain_db: adds power * ln(g) / std to every feature above the floor
 * (the floor stands for "no energy", which stays none). Features never go below the floor. */
void augment_gain(const instrid_frontend_params *fe, float *features, size_t n, float gain_db);

/* Adds noise energy in the linear domain, snr_db below the window's mean mel energy, with a
 * per-entry fluctuation from rng. */
void augment_noise(const instrid_frontend_params *fe, float *features, size_t n, float snr_db,
                   instrid_rng *rng);

/* SpecAugment: frames [t0, t0 + len) or bands [f0, f0 + len) become silence. Clipped to the
 * window. */
void augment_time_mask(float *features, uint32_t n_mels, uint32_t window_frames, uint32_t t0,
                       uint32_t len, float silence);
void augment_freq_mask(float *features, uint32_t n_mels, uint32_t window_frames, uint32_t f0,
                       uint32_t len, float silence);

/* Mixes window b into window a with weight w (a keeps 1 - w). Features: the log of the mixed
 * linear energies, ln((1-w) E_a + w E_b), which is what the front end sees when two sources
 * sound together (their power spectra add when they are uncorrelated); a plain mix of log-mels
 * would be a geometric mean, a spectrum no real mixture has, and would make a loud instrument
 * vanish when mixed with silence. Targets: the union. A class is known in the mix when known in
 * both windows or positive in either. target_a/mask_a are updated in place (n_classes). */
void augment_mixup(const instrid_frontend_params *fe, float *features_a, const float *features_b,
                   size_t n, float w, float *target_a, float *mask_a, const float *target_b,
                   const float *mask_b, size_t n_classes);

/* Applies gain, noise and masks to one window as opt and rng decide (mixup and shift are the
 * trainer's, since they need a second window or the dataset). */
void augment_window(const augment_options *opt, const instrid_frontend_params *fe, float *features,
                    uint32_t n_mels, uint32_t window_frames, instrid_rng *rng);

#endif /* INSTRID_AUGMENT_H */
