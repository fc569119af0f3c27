/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* augment.c — augmentation of normalised log-mel windows.
 * Every transform works in the energy domain the features came from, so that what the network
 * sees in training is something the front end could have produced from real audio.
 */
#include "augment.h"

#include <math.h>
#include <string.h>

void augment_options_none(augment_options *opt)
{
  memset(opt, 0, sizeof *opt);
}

void augment_options_default(augment_options *opt, uint32_t n_mels, uint32_t window_frames)
{
  augment_options_none(opt);
  /* Gain: recordings differ by tens of dB; the log-mel input makes gain an offset the first
   * batch norm mostly removes, but the floor does not move with it, so quiet passages still
   * teach something new. */
  opt->gain_prob = 0.5f;
  opt->gain_db_max = 12.0f;
  opt->noise_prob = 0.3f;
  opt->noise_snr_db_min = 10.0f;
  opt->noise_snr_db_max = 40.0f;
  opt->shift_frames_max = window_frames / 2;
  /* SpecAugment as in Park et al. 2019, scaled to short windows: up to 2 masks of ~1/8 of the
   * axis each. */
  opt->time_mask_prob = 0.5f;
  opt->time_masks = 2;
  opt->time_mask_frames_max = window_frames / 8 ? window_frames / 8 : 1;
  opt->freq_mask_prob = 0.5f;
  opt->freq_masks = 2;
  opt->freq_mask_bands_max = n_mels / 8 ? n_mels / 8 : 1;
  /* Mixup makes polyphony out of solo recordings, which MusicNet's many solo pieces need. */
  opt->mixup_prob = 0.3f;
  opt->mixup_weight_min = 0.2f;
  opt->mixup_weight_max = 0.5f;
}

static float feature_std(const instrid_frontend_params *fe)
{
  return fe->feature_std > 0.0f ? fe->feature_std : 1.0f;
}

/* Feature -> mel energy and back, the exact inverse of the front end's last step:
 * f = (ln(max(E, floor)) + log_gain - mean) / std (LOG_MAX) or (ln(E + floor) + log_gain - mean) /
 * std (LOG_ADD, EfficientAT's log(E + 1e-5)). Under LOG_MAX an energy at or below the floor reads
 * back as the floor. */
static inline double log_floor_of(const instrid_frontend_params *fe)
{
  return fe->log_floor > 0.0f ? fe->log_floor : 1e-10;
}

static inline double feature_to_energy(const instrid_frontend_params *fe, float f)
{
  double e = exp((double)f * feature_std(fe) + fe->feature_mean - fe->log_gain);
  if (fe->log_mode == INSTRID_LOG_ADD)
    e = e > log_floor_of(fe) ? e - log_floor_of(fe) : 0.0;
  return e;
}

static inline float energy_to_feature(const instrid_frontend_params *fe, double e)
{
  double floor = log_floor_of(fe);
  if (fe->log_mode == INSTRID_LOG_ADD)
    e += floor;
  else if (e < floor)
    e = floor;
  return (float)((log(e) + fe->log_gain - fe->feature_mean) / feature_std(fe));
}

void augment_gain(const instrid_frontend_params *fe, float *features, size_t n, float gain_db)
{
  if (fe->log_mode == INSTRID_LOG_ADD) {
    /* ln(E + floor) is no offset of ln(E): through the energies, exactly. */
    double g = pow(10.0, (fe->power > 0.0f ? fe->power : 2.0f) * gain_db / 20.0);
    for (size_t i = 0; i < n; i++)
      features[i] = energy_to_feature(fe, g * feature_to_energy(fe, features[i]));
    return;
  }
  float silence = instrid_frontend_silence_value(fe);
  float power = fe->power > 0.0f ? fe->power : 2.0f;
  /* 20 log10(g) = gain_db; energy scales as g^power. */
  float offset = power * (gain_db / 20.0f) * logf(10.0f) / feature_std(fe);
  /* A small tolerance: features within a rounding error of the floor are the floor. */
  float floor_edge = silence + 1e-4f;
  for (size_t i = 0; i < n; i++) {
    if (features[i] <= floor_edge)
      continue;
    float v = features[i] + offset;
    features[i] = v > silence ? v : silence;
  }
}

void augment_noise(const instrid_frontend_params *fe, float *features, size_t n, float snr_db,
                   instrid_rng *rng)
{
  if (n == 0)
    return;
  double mean_energy = 0.0;
  for (size_t i = 0; i < n; i++)
    mean_energy += feature_to_energy(fe, features[i]);
  mean_energy /= (double)n;
  double level = mean_energy * pow(10.0, -snr_db / 10.0);
  for (size_t i = 0; i < n; i++) {
    /* A mel band sums many FFT bins of noise, so its energy fluctuates far less than one bin's
     * exponential law: +-50 % is about right for the narrowest bands and harmless for wide
     * ones. */
    double e = feature_to_energy(fe, features[i]) + level * (0.5 + instrid_rng_uniform(rng));
    features[i] = energy_to_feature(fe, e);
  }
}

void augment_time_mask(float *features, uint32_t n_mels, uint32_t window_frames, uint32_t t0,
                       uint32_t len, float silence)
{
  if (t0 >= window_frames)
    return;
  uint32_t t1 = len > window_frames - t0 ? window_frames : t0 + len;
  for (uint32_t m = 0; m < n_mels; m++)
    for (uint32_t t = t0; t < t1; t++)
      features[(size_t)m * window_frames + t] = silence;
}

void augment_freq_mask(float *features, uint32_t n_mels, uint32_t window_frames, uint32_t f0,
                       uint32_t len, float silence)
{
  if (f0 >= n_mels)
    return;
  uint32_t f1 = len > n_mels - f0 ? n_mels : f0 + len;
  for (uint32_t m = f0; m < f1; m++)
    for (uint32_t t = 0; t < window_frames; t++)
      features[(size_t)m * window_frames + t] = silence;
}

void augment_mixup(const instrid_frontend_params *fe, float *features_a, const float *features_b,
                   size_t n, float w, float *target_a, float *mask_a, const float *target_b,
                   const float *mask_b, size_t n_classes)
{
  for (size_t i = 0; i < n; i++) {
    double e =
        (1.0 - w) * feature_to_energy(fe, features_a[i]) + w * feature_to_energy(fe, features_b[i]);
    features_a[i] = energy_to_feature(fe, e);
  }
  for (size_t k = 0; k < n_classes; k++) {
    int pos_a = mask_a[k] >= 0.5f && target_a[k] >= 0.5f;
    int pos_b = mask_b[k] >= 0.5f && target_b[k] >= 0.5f;
    int known_both = mask_a[k] >= 0.5f && mask_b[k] >= 0.5f;
    target_a[k] = (pos_a || pos_b) ? 1.0f : 0.0f;
    mask_a[k] = (pos_a || pos_b || known_both) ? 1.0f : 0.0f;
  }
}

void augment_window(const augment_options *opt, const instrid_frontend_params *fe, float *features,
                    uint32_t n_mels, uint32_t window_frames, instrid_rng *rng)
{
  size_t n = (size_t)n_mels * window_frames;
  float silence = instrid_frontend_silence_value(fe);
  /* The decisions and amounts are drawn first, whatever they decide, so that changing one
   * probability does not change which gain or SNR the other windows get. */
  float u_gain = instrid_rng_uniform(rng), gain_db = instrid_rng_range(rng, -1.0f, 1.0f);
  float u_noise = instrid_rng_uniform(rng);
  float snr = instrid_rng_range(rng, opt->noise_snr_db_min, opt->noise_snr_db_max);
  float u_time = instrid_rng_uniform(rng), u_freq = instrid_rng_uniform(rng);

  if (u_gain < opt->gain_prob)
    augment_gain(fe, features, n, gain_db * opt->gain_db_max);
  if (u_noise < opt->noise_prob)
    augment_noise(fe, features, n, snr, rng);
  if (u_time < opt->time_mask_prob && opt->time_mask_frames_max > 0) {
    for (uint32_t j = 0; j < opt->time_masks; j++) {
      uint32_t len = instrid_rng_below(rng, opt->time_mask_frames_max + 1);
      uint32_t t0 = instrid_rng_below(rng, window_frames);
      augment_time_mask(features, n_mels, window_frames, t0, len, silence);
    }
  }
  if (u_freq < opt->freq_mask_prob && opt->freq_mask_bands_max > 0) {
    for (uint32_t j = 0; j < opt->freq_masks; j++) {
      uint32_t len = instrid_rng_below(rng, opt->freq_mask_bands_max + 1);
      uint32_t f0 = instrid_rng_below(rng, n_mels);
      augment_freq_mask(features, n_mels, window_frames, f0, len, silence);
    }
  }
}
