/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* synth.c — the renderer's built-in synthesizer (see synth.h): patch families per class with
 * randomised parameters, and four engines that play one note of a patch.
 */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx.h"
#include "taxonomy.h"

#define TWO_PI 6.283185307179586
#define MAX_UNISON 9

static double U(splitmix_rng *r, double lo, double hi)
{
  return splitmix_range(r, lo, hi);
}

static int coin(splitmix_rng *r, double p)
{
  return splitmix_uniform(r) < p;
}

/* ---- patch families ---------------------------------------------------------------------- */

static void amp_env(synth_patch *p, double attack, double decay, double sustain, double release)
{
  p->attack_s = attack;
  p->decay_s = decay;
  p->sustain = sustain;
  p->release_s = release;
}

static void vibrato(synth_patch *p, splitmix_rng *r, double max_depth)
{
  p->vib_rate_hz = U(r, 4.5, 6.5);
  p->vib_depth = U(r, 0.0, max_depth);
  p->vib_delay_s = U(r, 0.1, 0.6);
  p->drift = U(r, 0.0, 0.06);
}

/* A low-pass at lo..hi times f0, never below a floor drawn log-uniformly in 100 Hz..2 kHz (low
 * notes would else all be dull: real patches are set in Hz as often as by key tracking). */
static void lowpass(synth_patch *p, splitmix_rng *r, double lo, double hi, double max_res)
{
  p->cutoff = U(r, lo, hi);
  p->res = U(r, 0.0, max_res);
  p->poles = coin(r, 0.5) ? 4 : 2;
  p->cutoff_min_hz = exp(U(r, log(100.0), log(2000.0)));
}

/* resonators at hz[i] x scale (each jittered by 10%), bandwidth 8..15% of the frequency */
static void resonators(synth_patch *p, splitmix_rng *r, const double *hz, const double *gain, int n,
                       double scale, double mix)
{
  p->n_res = n;
  for (int i = 0; i < n; i++) {
    p->res_hz[i] = hz[i] * scale * U(r, 0.9, 1.1);
    p->res_bw_hz[i] = p->res_hz[i] * U(r, 0.08, 0.15);
    p->res_gain[i] = gain[i] * U(r, 0.7, 1.0);
  }
  p->res_mix = mix;
}

/* The subtractive engine's two oscillators: wave0 < 0 a saw or a pulse, wave1 < 0 a saw, a
 * pulse or a triangle; the second at a level in [0, level1_hi] detuned by det_lo..det_hi cents;
 * pulse width pw_lo..0.5. */
static void oscillators(synth_patch *p, splitmix_rng *r, int wave0, int wave1, double level1_hi,
                        double det_lo, double det_hi, double pw_lo)
{
  p->engine = SYNTH_SUB;
  p->wave[0] = wave0 >= 0 ? wave0 : coin(r, 0.5) ? SYNTH_WAVE_SAW : SYNTH_WAVE_PULSE;
  p->wave[1] = wave1 >= 0 ? wave1 : (int)splitmix_below(r, 3);
  p->level[0] = 1.0;
  p->level[1] = U(r, 0.0, level1_hi);
  p->detune_cents = U(r, det_lo, det_hi);
  p->pw = U(r, pw_lo, 0.5);
}

static void draw_analog_bass(synth_patch *p, splitmix_rng *r)
{
  oscillators(p, r, -1, -1, 1.0, 3.0, 15.0, 0.2);
  p->octave_up = coin(r, 0.3);
  p->sub = p->octave_up ? U(r, 0.6, 1.2) : coin(r, 0.5) ? U(r, 0.0, 0.6) : 0.0;
  lowpass(p, r, 1.5, 8.0, 0.85);
  p->fenv = U(r, 0.0, 8.0);
  p->fenv_attack_s = 0.002;
  p->fenv_decay_s = U(r, 0.05, 0.6);
  p->drive = coin(r, 0.4) ? U(r, 1.0, 4.0) : 0.0;
  amp_env(p, U(r, 0.002, 0.01), U(r, 0.2, 1.5), U(r, 0.3, 1.0), U(r, 0.05, 0.4));
}

/* The FM engine's modulator: one of four ratios, an index in [index_lo, index_hi] decaying with
 * a time constant in [decay_lo, decay_hi]. */
static void modulator(synth_patch *p, splitmix_rng *r, const double ratios[4], double index_lo,
                      double index_hi, double decay_lo, double decay_hi)
{
  p->engine = SYNTH_FM;
  p->mod_ratio = ratios[splitmix_below(r, 4)];
  p->index = U(r, index_lo, index_hi);
  p->index_decay_s = U(r, decay_lo, decay_hi);
}

static void draw_fm_bass(synth_patch *p, splitmix_rng *r)
{
  static const double ratios[4] = {1.0, 1.0, 2.0, 3.0};
  modulator(p, r, ratios, 1.0, 5.0, 0.05, 0.4);
  p->index_sustain = U(r, 0.1, 0.5);
  p->feedback = U(r, 0.0, 0.6);
  amp_env(p, U(r, 0.002, 0.01), U(r, 0.3, 2.0), U(r, 0.2, 0.9), U(r, 0.05, 0.3));
}

static void draw_breath_flute(synth_patch *p, splitmix_rng *r)
{
  p->engine = SYNTH_ADD;
  p->n_partials = 5;
  static const double hi[5] = {1.0, 0.3, 0.2, 0.08, 0.04};
  for (int k = 0; k < 5; k++) {
    p->ratio[k] = k + 1;
    p->amp[k] = k == 0 ? 1.0 : U(r, hi[k] * 0.15, hi[k]);
  }
  p->noise = U(r, 0.03, 0.15);
  p->noise_hz = U(r, 1.5, 3.0);
  vibrato(p, r, 0.25);
  amp_env(p, U(r, 0.04, 0.15), 1.0, 1.0, U(r, 0.08, 0.3));
}

static void draw_synth_flute(synth_patch *p, splitmix_rng *r)
{
  static const int waves[] = {SYNTH_WAVE_TRI, SYNTH_WAVE_PULSE, SYNTH_WAVE_SINE};
  p->engine = SYNTH_SUB;
  p->wave[0] = waves[splitmix_below(r, 3)];
  p->level[0] = 1.0;
  p->pw = U(r, 0.3, 0.5);
  lowpass(p, r, 2.0, 5.0, 0.3);
  p->poles = 2;
  p->noise = U(r, 0.02, 0.1);
  vibrato(p, r, 0.3);
  amp_env(p, U(r, 0.02, 0.12), 1.0, 1.0, U(r, 0.1, 0.4));
}

static void draw_drawbar_organ(synth_patch *p, splitmix_rng *r)
{
  /* 16', 8', 5 1/3', 4', 2 2/3', 2', 1 3/5', 1 1/3', 1' as multiples of the 8' pitch; each
   * drawbar step is 3 dB */
  static const double footage[9] = {0.5, 1, 1.5, 2, 3, 4, 5, 6, 8};
  p->engine = SYNTH_ADD;
  p->n_partials = 9;
  int level8 = 5 + (int)splitmix_below(r, 4);
  for (int k = 0; k < 9; k++) {
    int level = k == 1         ? level8
                : k == 0       ? (coin(r, 0.35) ? (int)splitmix_below(r, (uint64_t)level8 + 1) : 0)
                : coin(r, 0.6) ? (int)splitmix_below(r, 9)
                               : 0;
    p->ratio[k] = footage[k];
    p->amp[k] = level ? pow(10.0, (level - 8) * 3.0 / 20.0) : 0.0;
  }
  p->click = coin(r, 0.5) ? U(r, 0.1, 0.5) : 0.0;
  if (coin(r, 0.5)) { /* rotary speaker, slow or fast */
    p->trem_rate_hz = coin(r, 0.5) ? U(r, 0.7, 1.5) : U(r, 5.5, 7.0);
    p->trem_depth = U(r, 0.1, 0.4);
    p->rotary = U(r, 0.02, 0.1);
  }
  amp_env(p, U(r, 0.003, 0.01), 1.0, 1.0, U(r, 0.02, 0.1));
}

static void draw_fm_epiano(synth_patch *p, splitmix_rng *r)
{
  p->engine = SYNTH_FM;
  p->mod_ratio = 1.0;
  p->index = U(r, 0.8, 3.0);
  p->index_decay_s = U(r, 0.2, 1.0);
  p->index_sustain = U(r, 0.05, 0.3);
  p->mod2_ratio = U(r, 13.0, 15.0); /* the tine's metallic attack */
  p->index2 = U(r, 0.2, 1.5);
  p->index2_decay_s = U(r, 0.01, 0.05);
  if (coin(r, 0.4)) {
    p->trem_rate_hz = U(r, 3.0, 6.0);
    p->trem_depth = U(r, 0.1, 0.35);
  }
  amp_env(p, U(r, 0.001, 0.004), U(r, 0.8, 3.0), 0.0, U(r, 0.1, 0.4));
}

static void draw_clav(synth_patch *p, splitmix_rng *r)
{
  p->engine = SYNTH_SUB;
  p->wave[0] = SYNTH_WAVE_PULSE;
  p->level[0] = 1.0;
  p->pw = U(r, 0.1, 0.35);
  p->cutoff = U(r, 3.0, 10.0);
  p->res = U(r, 0.2, 0.7);
  p->poles = 2;
  p->cutoff_min_hz = 200.0;
  p->fenv = U(r, 2.0, 8.0);
  p->fenv_attack_s = 0.001;
  p->fenv_decay_s = U(r, 0.05, 0.3);
  p->drive = coin(r, 0.3) ? U(r, 1.0, 3.0) : 0.0;
  amp_env(p, 0.001, U(r, 0.3, 1.2), 0.0, U(r, 0.02, 0.1));
}

static void draw_additive_piano(synth_patch *p, splitmix_rng *r)
{
  p->engine = SYNTH_ADD;
  p->n_partials = 12;
  double slope = U(r, 0.8, 1.6), t = U(r, 1.5, 5.0);
  for (int k = 0; k < 12; k++) {
    p->ratio[k] = k + 1;
    p->amp[k] = pow(k + 1.0, -slope) * U(r, 0.6, 1.0);
    p->decay[k] = t / (1.0 + 0.4 * k);
  }
  p->inharmonicity = U(r, 0.0001, 0.0008);
  p->click = U(r, 0.0, 0.2);
  amp_env(p, U(r, 0.001, 0.003), 1.0, 1.0, U(r, 0.1, 0.3));
}

/* three modes of a bar: ratios, decay of the fundamental's mode in [t_lo, t_hi] */
static void modal_bar(synth_patch *p, splitmix_rng *r, const double ratio[3], double t_lo,
                      double t_hi)
{
  p->engine = SYNTH_ADD;
  p->n_partials = 3;
  double t = U(r, t_lo, t_hi);
  double amp[3] = {1.0, U(r, 0.1, 0.4), U(r, 0.02, 0.15)};
  double decay[3] = {t, t * U(r, 0.15, 0.3), t * U(r, 0.05, 0.15)};
  for (int k = 0; k < 3; k++) {
    p->ratio[k] = ratio[k];
    p->amp[k] = amp[k];
    p->decay[k] = decay[k];
  }
  p->click = U(r, 0.1, 0.4);
  amp_env(p, 0.001, 1.0, 1.0, U(r, 0.05, 0.3));
}

static void draw_marimba(synth_patch *p, splitmix_rng *r)
{
  static const double ratio[3] = {1.0, 3.99, 9.9};
  modal_bar(p, r, ratio, 0.4, 1.5);
}

static void draw_xylophone(synth_patch *p, splitmix_rng *r)
{
  static const double ratio[3] = {1.0, 3.0, 6.0};
  modal_bar(p, r, ratio, 0.2, 0.6);
}

static void draw_vibraphone(synth_patch *p, splitmix_rng *r)
{
  static const double ratio[3] = {1.0, 4.0, 10.0};
  modal_bar(p, r, ratio, 1.5, 4.0);
  if (coin(r, 0.6)) {
    p->trem_rate_hz = U(r, 3.0, 8.0);
    p->trem_depth = U(r, 0.2, 0.6);
  }
}

static void draw_fm_bell(synth_patch *p, splitmix_rng *r)
{
  static const double ratios[4] = {3.5, 1.4, 2.76, 4.2};
  modulator(p, r, ratios, 1.0, 4.0, 0.5, 2.0);
  p->index_sustain = 0.1;
  amp_env(p, 0.001, U(r, 1.0, 4.0), 0.0, U(r, 0.3, 1.0));
}

static void draw_plucked(synth_patch *p, splitmix_rng *r)
{
  /* an acoustic guitar's air and top-plate resonances */
  static const double body[3] = {100, 200, 400}, gain[3] = {1.0, 0.8, 0.5};
  p->engine = SYNTH_PLUCK;
  resonators(p, r, body, gain, 3, U(r, 0.85, 1.15), U(r, 0.2, 0.5));
  p->pluck_pos = U(r, 0.08, 0.3);
  p->t60_s = U(r, 1.5, 6.0);
  p->tone = U(r, 0.3, 0.9);
  p->body_hz = U(r, 2000.0, 6000.0);
  amp_env(p, 0.0, 1.0, 1.0, U(r, 0.05, 0.2));
}

static void draw_electric_guitar(synth_patch *p, splitmix_rng *r)
{
  draw_plucked(p, r);
  p->n_res = 0; /* a solid body */
  p->t60_s = U(r, 2.0, 6.0);
  p->drive = U(r, 1.5, 6.0);
  p->body_hz = U(r, 1500.0, 4000.0);
}

static void draw_formant_voice(synth_patch *p, splitmix_rng *r)
{
  /* F1..F5 of a, e, i, o, u (adult male); a female or child voice scales them up */
  static const double vowels[5][5] = {{730, 1090, 2440, 3400, 4000},
                                      {530, 1840, 2480, 3400, 4000},
                                      {270, 2290, 3010, 3500, 4100},
                                      {570, 840, 2410, 3300, 3900},
                                      {300, 870, 2240, 3300, 3900}};
  static const double gain[5] = {1.0, 0.6, 0.35, 0.2, 0.1};
  p->engine = SYNTH_SUB;
  p->wave[0] = SYNTH_WAVE_SAW;
  p->level[0] = 1.0;
  p->tilt_hz = U(r, 1500.0, 5000.0); /* vocal effort: the saw's -6 dB/octave, less above */
  resonators(p, r, vowels[splitmix_below(r, 5)], gain, 5, coin(r, 0.5) ? U(r, 1.12, 1.22) : 1.0,
             1.0);
  p->cascade = 1;
  p->noise = U(r, 0.01, 0.08);
  vibrato(p, r, 0.6);
  amp_env(p, U(r, 0.03, 0.15), 1.0, 1.0, U(r, 0.1, 0.3));
}

static void draw_bowed(synth_patch *p, splitmix_rng *r)
{
  /* the violin's main body and bridge resonances; the viola's and the cello's lower */
  static const double body[4] = {280, 460, 550, 3000}, gain[4] = {1.0, 0.8, 0.8, 0.5};
  double scale = p->cls == TAX_CELLO ? 0.45 : p->cls == TAX_VIOLA ? 0.75 : 1.0;
  oscillators(p, r, SYNTH_WAVE_SAW, SYNTH_WAVE_SAW, 0.5, 2.0, 8.0, 0.5);
  lowpass(p, r, 4.0, 12.0, 0.3);
  p->poles = 2;
  p->cutoff_min_hz = U(r, 800.0, 2000.0) * scale;
  p->fenv = U(r, 0.0, 1.0);
  p->fenv_attack_s = U(r, 0.05, 0.2);
  p->fenv_decay_s = 0.3;
  resonators(p, r, body, gain, 4, scale, U(r, 0.3, 0.6));
  p->noise = U(r, 0.005, 0.03);
  vibrato(p, r, 0.35);
  amp_env(p, U(r, 0.05, 0.3), 1.0, U(r, 0.8, 1.0), U(r, 0.1, 0.4));
}

static void draw_brass(synth_patch *p, splitmix_rng *r)
{
  double formant = p->cls == TAX_TRUMPET ? U(r, 1000, 1500) : U(r, 450, 800), gain = 1.0;
  int horn = p->cls == TAX_HORN;
  oscillators(p, r, SYNTH_WAVE_SAW, SYNTH_WAVE_SAW, 0.6, 2.0, 10.0, 0.5);
  lowpass(p, r, horn ? 1.0 : 1.5, horn ? 2.5 : 4.0, 0.3);
  p->fenv = horn ? U(r, 0.5, 2.0) : U(r, 1.5, 5.0);
  p->fenv_attack_s = U(r, 0.03, 0.12);
  p->fenv_decay_s = U(r, 0.1, 0.5);
  p->drive = U(r, 0.0, 1.5);
  resonators(p, r, &formant, &gain, 1, 1.0, U(r, 0.1, 0.4));
  vibrato(p, r, 0.15);
  amp_env(p, U(r, 0.02, 0.08), U(r, 0.2, 0.8), U(r, 0.7, 1.0), U(r, 0.05, 0.2));
}

static void reed(synth_patch *p, splitmix_rng *r, int wave, double pw, double cut_lo, double cut_hi,
                 const double *formants, int n_formants, double mix)
{
  static const double gain[2] = {1.0, 0.6};
  p->engine = SYNTH_SUB;
  p->wave[0] = wave;
  p->level[0] = 1.0;
  p->pw = pw;
  lowpass(p, r, cut_lo, cut_hi, 0.4);
  p->poles = 2;
  if (n_formants)
    resonators(p, r, formants, gain, n_formants, 1.0, mix);
  p->noise = U(r, 0.01, 0.06);
  vibrato(p, r, 0.25);
  amp_env(p, U(r, 0.02, 0.08), 1.0, U(r, 0.85, 1.0), U(r, 0.05, 0.25));
}

static void draw_clarinet(synth_patch *p, splitmix_rng *r)
{
  reed(p, r, SYNTH_WAVE_PULSE, 0.5, 2.0, 6.0, NULL, 0, 0.0); /* a square: odd harmonics */
  p->pwm_depth = U(r, 0.0, 0.04);
  p->pwm_rate_hz = U(r, 0.2, 1.0);
}

static void draw_saxophone(synth_patch *p, splitmix_rng *r)
{
  static const double formants[2] = {650, 2000};
  reed(p, r, SYNTH_WAVE_SAW, 0.5, 3.0, 8.0, formants, 2, U(r, 0.2, 0.5));
  p->wave[1] = SYNTH_WAVE_PULSE;
  p->level[1] = U(r, 0.0, 0.6);
  p->pw = U(r, 0.2, 0.45);
  p->drive = U(r, 0.5, 2.0);
}

static void draw_oboe(synth_patch *p, splitmix_rng *r)
{
  static const double formants[2] = {1250, 3000};
  reed(p, r, SYNTH_WAVE_PULSE, U(r, 0.1, 0.25), 6.0, 12.0, formants, 2, U(r, 0.5, 0.7));
}

static void draw_bassoon(synth_patch *p, splitmix_rng *r)
{
  static const double formants[2] = {470, 1170};
  reed(p, r, SYNTH_WAVE_PULSE, U(r, 0.15, 0.35), 2.0, 5.0, formants, 2, U(r, 0.4, 0.6));
  p->cutoff_min_hz = 300.0;
}

static void draw_supersaw(synth_patch *p, splitmix_rng *r)
{
  p->engine = SYNTH_SUB;
  p->unison = 5 + 2 * (int)splitmix_below(r, 3);
  p->spread_cents = U(r, 10.0, 40.0);
  p->level[0] = 1.0;
  lowpass(p, r, 3.0, 20.0, 0.5);
  p->fenv = U(r, 0.0, 3.0);
  p->fenv_attack_s = U(r, 0.002, 0.3);
  p->fenv_decay_s = U(r, 0.1, 1.0);
  vibrato(p, r, 0.1);
  amp_env(p, coin(r, 0.5) ? U(r, 0.005, 0.05) : U(r, 0.1, 0.5), U(r, 0.2, 1.0), U(r, 0.6, 1.0),
          U(r, 0.1, 1.2));
}

static void draw_pwm_pad(synth_patch *p, splitmix_rng *r)
{
  oscillators(p, r, SYNTH_WAVE_PULSE, SYNTH_WAVE_PULSE, 1.0, 3.0, 12.0, 0.3);
  p->pwm_depth = U(r, 0.1, 0.4);
  p->pwm_rate_hz = U(r, 0.2, 5.0);
  lowpass(p, r, 2.0, 10.0, 0.4);
  vibrato(p, r, 0.1);
  amp_env(p, U(r, 0.01, 0.8), U(r, 0.3, 1.5), U(r, 0.6, 1.0), U(r, 0.2, 1.5));
}

static void draw_synth_lead(synth_patch *p, splitmix_rng *r)
{
  oscillators(p, r, -1, -1, 0.8, 0.0, 20.0, 0.15);
  lowpass(p, r, 2.0, 12.0, 0.9);
  p->fenv = U(r, 1.0, 6.0);
  p->fenv_attack_s = U(r, 0.002, 0.05);
  p->fenv_decay_s = U(r, 0.1, 0.8);
  p->drive = coin(r, 0.3) ? U(r, 1.0, 4.0) : 0.0;
  vibrato(p, r, 0.4);
  amp_env(p, U(r, 0.002, 0.05), U(r, 0.2, 1.0), U(r, 0.5, 1.0), U(r, 0.05, 0.5));
}

typedef struct {
  const char *name;
  void (*draw)(synth_patch *p, splitmix_rng *r);
} family;

#define FAMILY(name)                                                                               \
  {                                                                                                \
#name, draw_##name                                                                             \
  }
static const family bass_f[] = {FAMILY(analog_bass), FAMILY(fm_bass)};
static const family flute_f[] = {FAMILY(breath_flute), FAMILY(synth_flute)};
static const family organ_f[] = {FAMILY(drawbar_organ)};
static const family piano_f[] = {FAMILY(fm_epiano), FAMILY(clav), FAMILY(additive_piano)};
static const family mallet_f[] = {FAMILY(marimba), FAMILY(xylophone), FAMILY(vibraphone),
                                  FAMILY(fm_bell)};
static const family guitar_f[] = {FAMILY(plucked), FAMILY(electric_guitar)};
static const family voice_f[] = {FAMILY(formant_voice)};
static const family bowed_f[] = {FAMILY(bowed)};
static const family brass_f[] = {FAMILY(brass)};
static const family clarinet_f[] = {FAMILY(clarinet)};
static const family sax_f[] = {FAMILY(saxophone)};
static const family oboe_f[] = {FAMILY(oboe)};
static const family bassoon_f[] = {FAMILY(bassoon)};
static const family synth_f[] = {FAMILY(supersaw), FAMILY(pwm_pad), FAMILY(synth_lead)};

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))
static const struct {
  const family *f;
  int n;
} class_families[TAXONOMY_N] = {
    [TAX_BASS] = {bass_f, N_OF(bass_f)},
    [TAX_FLUTE] = {flute_f, N_OF(flute_f)},
    [TAX_ORGAN] = {organ_f, N_OF(organ_f)},
    [TAX_PIANO] = {piano_f, N_OF(piano_f)},
    [TAX_MALLET_PERCUSSION] = {mallet_f, N_OF(mallet_f)},
    [TAX_GUITAR] = {guitar_f, N_OF(guitar_f)},
    [TAX_VOICE] = {voice_f, N_OF(voice_f)},
    [TAX_VIOLIN] = {bowed_f, N_OF(bowed_f)},
    [TAX_VIOLA] = {bowed_f, N_OF(bowed_f)},
    [TAX_CELLO] = {bowed_f, N_OF(bowed_f)},
    [TAX_TRUMPET] = {brass_f, N_OF(brass_f)},
    [TAX_TROMBONE] = {brass_f, N_OF(brass_f)},
    [TAX_HORN] = {brass_f, N_OF(brass_f)},
    [TAX_CLARINET] = {clarinet_f, N_OF(clarinet_f)},
    [TAX_SAXOPHONE] = {sax_f, N_OF(sax_f)},
    [TAX_OBOE] = {oboe_f, N_OF(oboe_f)},
    [TAX_BASSOON] = {bassoon_f, N_OF(bassoon_f)},
    [TAX_SYNTHESIZER] = {synth_f, N_OF(synth_f)},
};

int synth_n_families(int cls)
{
  return cls >= 0 && cls < TAXONOMY_N ? class_families[cls].n : 0;
}

int synth_can_play(int cls)
{
  return synth_n_families(cls) > 0;
}

const char *synth_family_name(int cls, int family)
{
  return family >= 0 && family < synth_n_families(cls) ? class_families[cls].f[family].name : NULL;
}

int synth_patch_draw(synth_patch *p, int cls, int family, splitmix_rng *rng)
{
  int n = synth_n_families(cls);
  if (n == 0 || family >= n)
    return -1;
  if (family < 0)
    family = (int)splitmix_below(rng, (uint64_t)n);
  memset(p, 0, sizeof(*p));
  p->cls = cls;
  p->family = class_families[cls].f[family].name;
  class_families[cls].f[family].draw(p, rng);
  return 0;
}

/* ---- what every engine shares: envelope, modulation, noise ------------------------------- */

typedef struct {
  const synth_patch *p;
  double rate, f0, vel; /* vel in (0, 1] */
  size_t hold_n, len;
  /* amplitude envelope */
  size_t attack_n;
  double decay, decay_mul, release, release_mul;
  /* modulators */
  double vib_phase, vib_inc, trem_phase, trem_inc, drift_now, drift_target;
  size_t vib_delay_n;
  uint64_t noise_state;
} voice;

/* Uniform in [-1, 1): the note's own noise and small random choices. */
static double white(voice *v)
{
  return (double)(rng_splitmix64(&v->noise_state) >> 11) * 0x1p-52 - 1.0;
}

static void voice_init(voice *v, const synth_patch *p, int pitch, int velocity, double hold_s,
                       double rate, uint64_t seed, size_t len)
{
  memset(v, 0, sizeof(*v));
  v->p = p;
  v->rate = rate;
  v->noise_state = seed;
  /* every note a little different: +-3 cents, its own vibrato and tremolo phases */
  double cents = 6.0 * (white(v) * 0.5);
  v->f0 = 440.0 * pow(2.0, (pitch - 69 + cents / 100.0) / 12.0);
  v->vel = velocity / 127.0;
  v->hold_n = (size_t)(hold_s * rate);
  v->len = len;
  v->attack_n = (size_t)(p->attack_s * rate);
  v->decay = 1.0;
  v->decay_mul = exp(-1.0 / (fmax(p->decay_s, 1e-3) * rate));
  v->release = 1.0;
  v->release_mul = exp(-6.9 / (fmax(p->release_s, 1e-3) * rate));
  v->vib_phase = TWO_PI * fabs(white(v));
  v->vib_inc = TWO_PI * p->vib_rate_hz * (1.0 + 0.05 * white(v)) / rate;
  v->vib_delay_n = (size_t)(p->vib_delay_s * rate);
  v->trem_phase = TWO_PI * fabs(white(v));
  v->trem_inc = TWO_PI * p->trem_rate_hz / rate;
}

/* The amplitude envelope at sample n (call once per sample, in order). */
static double envelope(voice *v, size_t n)
{
  double a;
  if (n < v->attack_n) {
    a = (double)n / (double)v->attack_n;
  } else {
    a = v->p->sustain + (1.0 - v->p->sustain) * v->decay;
    v->decay *= v->decay_mul;
  }
  if (n >= v->hold_n) {
    a *= v->release;
    v->release *= v->release_mul;
  }
  return a;
}

/* Pitch factor at sample n (vibrato, rotary, drift); *amp gets the tremolo's gain. */
static double modulate(voice *v, size_t n, double *amp)
{
  const synth_patch *p = v->p;
  double semis = 0.0;
  if (p->vib_depth > 0 && n >= v->vib_delay_n) {
    double ramp = (double)(n - v->vib_delay_n) / (0.3 * v->rate);
    semis += p->vib_depth * (ramp < 1.0 ? ramp : 1.0) * sin(v->vib_phase);
  }
  v->vib_phase += v->vib_inc;
  double trem = sin(v->trem_phase);
  v->trem_phase += v->trem_inc;
  if (v->vib_phase > TWO_PI)
    v->vib_phase -= TWO_PI;
  if (v->trem_phase > TWO_PI)
    v->trem_phase -= TWO_PI;
  *amp = 1.0 - p->trem_depth * 0.5 * (1.0 + trem);
  semis += p->rotary * trem;
  if (p->drift > 0) { /* a new target every 50 ms, approached smoothly */
    if (n % (size_t)(0.05 * v->rate + 1) == 0)
      v->drift_target = p->drift * white(v);
    v->drift_now += (v->drift_target - v->drift_now) * (20.0 / v->rate);
    semis += v->drift_now;
  }
  return semis == 0.0 ? 1.0 : exp(semis * (M_LN2 / 12.0));
}

/* Band-passed noise (breath), or white when the patch has no band. */
typedef struct {
  fx_biquad band;
  int banded;
} noise_source;

static void noise_init(noise_source *ns, const voice *v)
{
  ns->banded = v->p->noise_hz > 0;
  double hz = fmin(v->p->noise_hz * v->f0, 0.45 * v->rate);
  if (ns->banded)
    fx_biquad_init(&ns->band, FX_BANDPASS, hz, 0.0, 2.0, v->rate);
}

static double noise_next(noise_source *ns, voice *v)
{
  double x = white(v);
  return ns->banded ? fx_biquad_step(&ns->band, x) * 2.0 : x;
}

/* The patch's formant or body resonators for this note. */
static void resonators_init(const voice *v, fx_biquad res[SYNTH_MAX_RES])
{
  const synth_patch *p = v->p;
  for (int i = 0; i < p->n_res && i < SYNTH_MAX_RES; i++) {
    double hz = p->res_hz[i], bw = p->res_bw_hz[i];
    if (i == 0 && p->cascade && hz < 1.1 * v->f0) /* a singer raises F1 to the pitch */
      hz = 1.1 * v->f0;
    hz = fmin(hz, 0.45 * v->rate);
    if (p->cascade) { /* Klatt (1980): y = A x + B y[-1] + C y[-2], A = 1 - B - C */
      double c = -exp(-TWO_PI * bw / v->rate);
      double b = 2.0 * exp(-M_PI * bw / v->rate) * cos(TWO_PI * hz / v->rate);
      memset(&res[i], 0, sizeof(res[i]));
      res[i].b0 = 1.0 - b - c;
      res[i].a1 = -b;
      res[i].a2 = -c;
    } else {
      fx_biquad_init(&res[i], FX_BANDPASS, hz, 0.0, hz / bw, v->rate);
    }
  }
}

/* One sample through the resonators: in series, or in parallel mixed with the input. */
static double resonate(const synth_patch *p, fx_biquad res[SYNTH_MAX_RES], double s)
{
  int n = p->n_res < SYNTH_MAX_RES ? p->n_res : SYNTH_MAX_RES;
  if (p->cascade) {
    for (int i = 0; i < n; i++)
      s = fx_biquad_step(&res[i], s);
    return s;
  }
  if (n == 0)
    return s;
  double r = 0.0;
  for (int i = 0; i < n; i++)
    r += p->res_gain[i] * fx_biquad_step(&res[i], s);
  return (1.0 - p->res_mix) * s + p->res_mix * 2.0 * r;
}

/* ---- subtractive ---------------------------------------------------------------------- */

/* The polyBLEP correction for a step at phase 0 (t in [0, 1), dt the phase increment). */
static double blep(double t, double dt)
{
  if (t < dt) {
    t /= dt;
    return t + t - t * t - 1.0;
  }
  if (t > 1.0 - dt) {
    t = (t - 1.0) / dt;
    return t * t + t + t + 1.0;
  }
  return 0.0;
}

static double oscillator(int wave, double ph, double dt, double pw)
{
  switch (wave) {
  case SYNTH_WAVE_SAW:
    return 2.0 * ph - 1.0 - blep(ph, dt);
  case SYNTH_WAVE_PULSE: {
    double t2 = ph + 1.0 - pw;
    t2 -= floor(t2);
    /* less its mean 2 pw - 1: no DC to leak out of the release */
    return (ph < pw ? 1.0 : -1.0) + blep(ph, dt) - blep(t2, dt) - (2.0 * pw - 1.0);
  }
  case SYNTH_WAVE_TRI:
    return 4.0 * fabs(ph - 0.5) - 1.0;
  default:
    return sin(TWO_PI * ph);
  }
}

static double wrap(double ph)
{
  return ph >= 1.0 ? ph - floor(ph) : ph;
}

/* Zavalishin's topology-preserving state-variable filter, low-pass output. */
typedef struct {
  double ic1, ic2;
} svf;

static double svf_lp(svf *s, double x, double g, double k)
{
  double a1 = 1.0 / (1.0 + g * (g + k)), a2 = g * a1, a3 = g * a2;
  double v3 = x - s->ic2;
  double v1 = a1 * s->ic1 + a2 * v3;
  double v2 = s->ic2 + a2 * s->ic1 + a3 * v3;
  s->ic1 = 2.0 * v1 - s->ic1;
  s->ic2 = 2.0 * v2 - s->ic2;
  return v2;
}

static void render_sub(voice *v, float *out)
{
  const synth_patch *p = v->p;
  double ph[MAX_UNISON + 1], det[MAX_UNISON];
  int unison = p->unison > 1 ? (p->unison > MAX_UNISON ? MAX_UNISON : p->unison) : 0;
  for (int k = 0; k <= MAX_UNISON; k++)
    ph[k] = fabs(white(v));
  for (int k = 0; k < unison; k++)
    det[k] = pow(2.0, p->spread_cents * ((double)k / (unison - 1) - 0.5) / 1200.0);
  double det2 = pow(2.0, p->detune_cents / 1200.0), sub_ph = 0.0, pwm_ph = 0.0;
  double mult = p->octave_up ? 2.0 : 1.0;
  double bright = 0.5 + v->vel, tilt = 0.0, tilt_a = 0.0, g = 0.0, k = 2.0 - 2.0 * p->res;
  if (p->tilt_hz > 0)
    tilt_a = 1.0 - exp(-TWO_PI * p->tilt_hz / v->rate);
  svf f1 = {0}, f2 = {0};
  fx_biquad res[SYNTH_MAX_RES];
  resonators_init(v, res);
  noise_source ns;
  noise_init(&ns, v);
  size_t fenv_attack = (size_t)(p->fenv_attack_s * v->rate) + 1;
  double fenv_mul = exp(-1.0 / (fmax(p->fenv_decay_s, 1e-3) * v->rate)), fenv_decay = 1.0;
  double drive_norm = p->drive > 0 ? 1.0 / tanh(p->drive) : 1.0;
  for (size_t n = 0; n < v->len; n++) {
    double amp, f = v->f0 * modulate(v, n, &amp), dt = f * mult / v->rate;
    double pw = p->pw;
    if (p->pwm_depth > 0) {
      pw += p->pwm_depth * sin(TWO_PI * pwm_ph);
      pwm_ph = wrap(pwm_ph + p->pwm_rate_hz / v->rate);
      pw = pw < 0.05 ? 0.05 : pw > 0.95 ? 0.95 : pw;
    }
    double s = 0.0;
    if (unison) {
      for (int u = 0; u < unison; u++) {
        s += oscillator(SYNTH_WAVE_SAW, ph[u], dt * det[u], pw);
        ph[u] = wrap(ph[u] + dt * det[u]);
      }
      s *= p->level[0] / sqrt((double)unison);
    } else {
      s = p->level[0] * oscillator(p->wave[0], ph[0], dt, pw);
      ph[0] = wrap(ph[0] + dt);
    }
    if (p->level[1] > 0) {
      s += p->level[1] * oscillator(p->wave[1], ph[MAX_UNISON], dt * det2, pw);
      ph[MAX_UNISON] = wrap(ph[MAX_UNISON] + dt * det2);
    }
    if (p->sub > 0) {
      s += p->sub * sin(TWO_PI * sub_ph);
      sub_ph = wrap(sub_ph + f / v->rate);
    }
    if (p->noise > 0)
      s += p->noise * noise_next(&ns, v);
    if (tilt_a > 0) {
      tilt += tilt_a * (s - tilt);
      s = tilt;
    }
    if (p->cutoff > 0) {
      if (n % 16 == 0) {
        double fe = n < fenv_attack ? (double)n / (double)fenv_attack : fenv_decay;
        double fc = f * p->cutoff * bright * (1.0 + p->fenv * v->vel * fe);
        fc = fmin(fmax(fc, fmax(p->cutoff_min_hz, 20.0)), 0.45 * v->rate);
        g = tan(M_PI * fc / v->rate);
      }
      if (n >= fenv_attack)
        fenv_decay *= fenv_mul;
      s = svf_lp(&f1, s, g, k);
      if (p->poles == 4)
        s = svf_lp(&f2, s, g, 2.0);
    }
    s = resonate(p, res, s);
    if (p->drive > 0)
      s = tanh(p->drive * s) * drive_norm;
    out[n] = (float)(s * amp * envelope(v, n));
  }
}

/* ---- FM --------------------------------------------------------------------------------- */

static void render_fm(voice *v, float *out)
{
  const synth_patch *p = v->p;
  double pc = 0.0, pm = fabs(white(v)), pm2 = fabs(white(v)), prev = 0.0;
  double bright = 0.4 + 0.8 * v->vel, idx_decay = 1.0, idx2 = 1.0;
  double idx_mul = exp(-1.0 / (fmax(p->index_decay_s, 1e-3) * v->rate));
  double idx2_mul = exp(-1.0 / (fmax(p->index2_decay_s, 1e-3) * v->rate));
  for (size_t n = 0; n < v->len; n++) {
    double amp, f = v->f0 * modulate(v, n, &amp) / v->rate;
    double index = p->index * bright * (p->index_sustain + (1.0 - p->index_sustain) * idx_decay);
    double m = sin(TWO_PI * pm + p->feedback * prev);
    prev = m;
    double phase_mod = index * m;
    if (p->index2 > 0) {
      phase_mod += p->index2 * bright * idx2 * sin(TWO_PI * pm2);
      idx2 *= idx2_mul;
      pm2 = wrap(pm2 + f * p->mod2_ratio);
    }
    idx_decay *= idx_mul;
    double s = sin(TWO_PI * pc + phase_mod);
    pc = wrap(pc + f);
    pm = wrap(pm + f * p->mod_ratio);
    out[n] = (float)(s * amp * envelope(v, n));
  }
}

/* ---- additive / modal ----------------------------------------------------------------- */

static void render_add(voice *v, float *out)
{
  const synth_patch *p = v->p;
  double ph[SYNTH_MAX_PARTIALS], inc[SYNTH_MAX_PARTIALS], a[SYNTH_MAX_PARTIALS],
      mul[SYNTH_MAX_PARTIALS];
  int n_part = 0;
  double norm = sqrt(1.0 + p->inharmonicity);
  for (int k = 0; k < p->n_partials && k < SYNTH_MAX_PARTIALS; k++) {
    double r = p->ratio[k];
    double hz = v->f0 * r * sqrt(1.0 + p->inharmonicity * r * r) / norm;
    if (p->amp[k] <= 0 || hz > 0.45 * v->rate)
      continue;
    /* soft notes are darker: the partials above the fundamental lose up to 0.7 per octave */
    a[n_part] = p->amp[k] * (r > 1.0 ? pow(r, -0.7 * (1.0 - v->vel)) : 1.0);
    inc[n_part] = hz / v->rate;
    mul[n_part] = p->decay[k] > 0 ? exp(-1.0 / (p->decay[k] * v->rate)) : 1.0;
    ph[n_part++] = fabs(white(v));
  }
  noise_source ns;
  noise_init(&ns, v);
  double click_mul = exp(-1.0 / (0.002 * v->rate)), click = p->click * v->vel;
  for (size_t n = 0; n < v->len; n++) {
    double amp, pf = modulate(v, n, &amp), s = 0.0;
    for (int k = 0; k < n_part; k++) {
      s += a[k] * sin(TWO_PI * ph[k]);
      ph[k] = wrap(ph[k] + inc[k] * pf);
      a[k] *= mul[k];
    }
    if (p->noise > 0)
      s += p->noise * noise_next(&ns, v);
    if (click > 1e-6) {
      s += click * white(v);
      click *= click_mul;
    }
    out[n] = (float)(s * amp * envelope(v, n));
  }
}

/* ---- Karplus-Strong ------------------------------------------------------------------- */

static int render_pluck(voice *v, float *out)
{
  const synth_patch *p = v->p;
  /* loop delay rate / f0 = N samples + half a sample (the two-point average) + d (all-pass) */
  double period = v->rate / v->f0 - 0.5;
  size_t len = (size_t)floor(period - 0.1);
  if (len < 2)
    len = 2;
  double d = period - (double)len, ap = (1.0 - d) / (1.0 + d);
  float *line = malloc(len * sizeof(float));
  if (!line)
    return -1;
  /* excitation: noise, low-passed by tone and velocity, combed at the pluck position */
  double lp = 0.0, lp_a = 0.05 + 0.95 * p->tone * (0.1 + 0.9 * v->vel), mean = 0.0;
  for (size_t i = 0; i < len; i++) {
    lp += lp_a * (white(v) - lp);
    line[i] = (float)lp;
  }
  size_t at = (size_t)(p->pluck_pos * (double)len);
  for (size_t i = len; i-- > at && at > 0;)
    line[i] -= line[i - at];
  for (size_t i = 0; i < len; i++)
    mean += line[i];
  for (size_t i = 0; i < len; i++)
    line[i] -= (float)(mean / (double)len);
  double held = pow(10.0, -3.0 / (v->f0 * fmax(p->t60_s, 0.05)));
  double damped = pow(10.0, -3.0 / (v->f0 * fmax(p->release_s, 0.02)));
  double prev = 0.0, ap_in = 0.0, ap_out = 0.0, body = 0.0;
  double body_a = 1.0 - exp(-TWO_PI * p->body_hz / v->rate);
  fx_biquad res[SYNTH_MAX_RES];
  resonators_init(v, res);
  double drive_norm = p->drive > 0 ? 1.0 / tanh(p->drive) : 1.0;
  size_t pos = 0;
  for (size_t n = 0; n < v->len; n++) {
    double x = line[pos];
    double loss = n < v->hold_n ? held : damped;
    double avg = loss * 0.5 * (x + prev);
    prev = x;
    double y = ap * avg + ap_in - ap * ap_out;
    ap_in = avg;
    ap_out = y;
    line[pos] = (float)y;
    pos = pos + 1 == len ? 0 : pos + 1;
    double s = x;
    if (p->drive > 0)
      s = tanh(p->drive * s * 4.0) * drive_norm;
    body += body_a * (resonate(p, res, s) - body);
    out[n] = (float)(body * envelope(v, n));
  }
  free(line);
  return 0;
}

/* ---- notes and parts ------------------------------------------------------------------ */

size_t synth_note_frames(const synth_patch *p, double hold_s, double rate_hz)
{
  return (size_t)((fmax(hold_s, 0.0) + p->release_s) * rate_hz) + 1;
}

size_t synth_note(const synth_patch *p, int pitch, int velocity, double hold_s, double rate_hz,
                  uint64_t seed, float *out, size_t max_frames)
{
  if (pitch < 0 || pitch > 127 || rate_hz < 8000 || max_frames == 0)
    return 0;
  size_t len = synth_note_frames(p, hold_s, rate_hz);
  if (len > max_frames)
    len = max_frames;
  voice v;
  voice_init(&v, p, pitch,
             velocity < 1     ? 1
             : velocity > 127 ? 127
                              : velocity,
             hold_s, rate_hz, seed, len);
  memset(out, 0, len * sizeof(float));
  switch (p->engine) {
  case SYNTH_SUB:
    render_sub(&v, out);
    break;
  case SYNTH_FM:
    render_fm(&v, out);
    break;
  case SYNTH_ADD:
    render_add(&v, out);
    break;
  case SYNTH_PLUCK:
    if (render_pluck(&v, out) != 0)
      return 0; /* no memory for the string's delay line */
    break;
  }
  /* DC blocker, then the peak to 0.3..0.9 by velocity */
  double x1 = 0.0, y1 = 0.0, r = 1.0 - TWO_PI * 10.0 / rate_hz, peak = 0.0;
  for (size_t n = 0; n < len; n++) {
    double x = isfinite(out[n]) ? out[n] : 0.0, y = x - x1 + r * y1;
    x1 = x;
    y1 = y;
    out[n] = (float)y;
    peak = fmax(peak, fabs(y));
  }
  if (peak > 0) {
    float gain = (float)((0.3 + 0.6 * v.vel) / peak);
    for (size_t n = 0; n < len; n++)
      out[n] *= gain;
  }
  return len;
}

int synth_render_part(const synth_patch *p, const smf_note *notes, size_t n, float *stem,
                      size_t frames, int rate_hz, uint64_t seed, uint8_t *played, char *errbuf,
                      size_t errlen)
{
  float *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < n; i++) {
    played[i] = 0;
    const smf_note *nt = &notes[i];
    if (nt->end_s <= 0 || nt->start_s * rate_hz >= (double)frames)
      continue;
    long start = lround(nt->start_s * rate_hz);
    size_t skip = start < 0 ? (size_t)-start : 0;
    size_t want = synth_note_frames(p, nt->end_s - nt->start_s, rate_hz);
    size_t room = frames - (size_t)(start + (long)skip) + skip; /* frames from the note's start */
    if (want > room)
      want = room;
    if (want <= skip)
      continue;
    if (want > cap) {
      float *b = realloc(buf, want * sizeof(float));
      if (!b) {
        free(buf);
        snprintf(errbuf, errlen, "out of memory");
        return -1;
      }
      buf = b;
      cap = want;
    }
    size_t got = synth_note(p, nt->pitch, nt->velocity, nt->end_s - nt->start_s, rate_hz,
                            rng_hash64(seed ^ (i * 0x9e3779b97f4a7c15ull)), buf, want);
    if (got == 0) { /* the arguments are valid here: only memory fails */
      free(buf);
      snprintf(errbuf, errlen, "out of memory for a synthesizer note");
      return -1;
    }
    for (size_t k = skip; k < got; k++) {
      size_t at = (size_t)(start + (long)k);
      stem[2 * at] += buf[k];
      stem[2 * at + 1] += buf[k];
    }
    played[i] = got > skip;
  }
  free(buf);
  return 0;
}
