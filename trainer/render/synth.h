/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* synth.h — the renderer's built-in synthesizer (instrid-render --synth-prob): electronic and
 * synthetic timbres that no sampled source has (synth basses, FM electric pianos, drawbar
 * organs, FM bells, synthetic flutes and voices, supersaw leads...), one patch family per kind
 * of sound, every parameter drawn at random so that no two parts sound the same.
 *
 * Four engines, all textbook: subtractive (band-limited saw/pulse/triangle oscillators, a
 * resonant state-variable low-pass with its own envelope, formant/body resonators: basses,
 * leads, pads, strings, brass, reeds, voices), two-operator FM (electric pianos, FM basses,
 * bells), additive/modal (drawbar organs, flutes, piano-ish and mallet partials) and
 * Karplus-Strong plucked strings (guitars).
 *
 * Deterministic: the same patch, note and seed give the same samples. No global state; every
 * function may run on any thread.
 */
#ifndef INSTRID_RENDER_SYNTH_H
#define INSTRID_RENDER_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "smf.h"

#define SYNTH_MAX_PARTIALS 16
#define SYNTH_MAX_RES 5

typedef enum { SYNTH_SUB, SYNTH_FM, SYNTH_ADD, SYNTH_PLUCK } synth_engine;

/* One patch: a class's instrument as drawn for a part. Fields an engine does not use are 0.
 * Times in seconds, pitch depths in semitones, frequencies of the f0-relative kind as ratios. */
typedef struct {
  int cls; /* the taxonomy class it plays */
  synth_engine engine;
  const char *family; /* "fm_epiano", "drawbar_organ"... (static) */
  /* amplitude envelope: linear attack, exponential decay (time constant decay_s) to sustain,
   * after the note-off a release to -60 dB in release_s */
  double attack_s, decay_s, sustain, release_s;
  double vib_rate_hz, vib_depth, vib_delay_s; /* vibrato */
  double trem_rate_hz, trem_depth;            /* amplitude tremolo (vibraphone, rotary) */
  double rotary;                              /* pitch depth that goes with the tremolo */
  double drift;                               /* slow random pitch wander */
  double noise;                               /* breath or bow noise level, before filters */
  double noise_hz;                            /* > 0: the noise band-passed here (x f0) */
  double drive;                               /* > 0: soft clipping tanh(drive x) */
  /* SYNTH_SUB */
  int wave[2];         /* SYNTH_WAVE_* */
  double level[2];     /* the two oscillators' levels */
  double detune_cents; /* the second oscillator's */
  int unison;          /* > 1: that many detuned saws (supersaw) instead of oscillator 1 */
  double spread_cents;
  int octave_up; /* 1: the oscillators an octave up, a sine sub-oscillator on the note */
  double sub;    /* sub-oscillator level (a sine at the note's f0) */
  double pw, pwm_depth, pwm_rate_hz; /* pulse width and its modulation */
  double tilt_hz; /* > 0: a one-pole low-pass there (glottal/bow spectral tilt) */
  double cutoff;  /* low-pass cutoff, x f0 (0: none) */
  double cutoff_min_hz;
  double res;                               /* resonance 0..0.95 */
  int poles;                                /* 2 or 4 */
  double fenv, fenv_attack_s, fenv_decay_s; /* filter envelope: cutoff x (1 + fenv env) */
  int n_res;   /* formant or body resonators: band-passes in parallel, or with cascade set */
  int cascade; /* Klatt's all-pole resonators in series (unit gain at 0 Hz: vowels) */
  double res_hz[SYNTH_MAX_RES], res_bw_hz[SYNTH_MAX_RES], res_gain[SYNTH_MAX_RES];
  double res_mix; /* share of the resonators in the output */
  /* SYNTH_FM: carrier at f0, modulator at mod_ratio f0 with index(t) decaying from index to
   * index x index_sustain (time constant index_decay_s); a second modulator for tines */
  double mod_ratio, index, index_decay_s, index_sustain, feedback;
  double mod2_ratio, index2, index2_decay_s;
  /* SYNTH_ADD: partials at ratio x f0 (stretched by inharmonicity), each with its amplitude
   * and decay time constant (0: sustained); a key click at the onset */
  int n_partials;
  double ratio[SYNTH_MAX_PARTIALS], amp[SYNTH_MAX_PARTIALS], decay[SYNTH_MAX_PARTIALS];
  double inharmonicity; /* f_n = n f0 sqrt(1 + B n^2) on ratio n */
  double click;
  /* SYNTH_PLUCK: Karplus-Strong */
  double pluck_pos; /* 0..0.5 of the string */
  double t60_s;     /* decay of the string while held */
  double tone;      /* excitation brightness 0..1 */
  double body_hz;   /* body/pickup low-pass */
} synth_patch;

enum { SYNTH_WAVE_SAW, SYNTH_WAVE_PULSE, SYNTH_WAVE_TRI, SYNTH_WAVE_SINE };

/* Whether the synthesizer has patches for class cls (a taxonomy index): the pitched classes
 * NSynth has electronic and synthetic versions of. Not drums, cymbals, accordion, banjo,
 * harpsichord, mandolin nor ukulele. */
int synth_can_play(int cls);
/* The number of patch families of a class (0 when it cannot be played) and their names. */
int synth_n_families(int cls);
const char *synth_family_name(int cls, int family);
/* Draws a patch for class cls: family -1 at random among the class's, else that one. 0 on
 * success, -1 for a class the synthesizer cannot play or a family it does not have. */
int synth_patch_draw(synth_patch *p, int cls, int family, splitmix_rng *rng);

/* The frames one note of hold_s seconds lasts with its release. */
size_t synth_note_frames(const synth_patch *p, double hold_s, double rate_hz);
/* Renders one note (MIDI pitch, velocity 1..127: level and brightness) held hold_s seconds then
 * released into out (mono, written from out[0], at most max_frames: the rest of a longer note
 * is cut). seed varies the note (phases, noise, small detuning). Returns the frames written;
 * every sample is finite and within [-1, 1], the peak 0.3..0.9 by velocity. 0 when the note
 * cannot be rendered (bad pitch, no memory). */
size_t synth_note(const synth_patch *p, int pitch, int velocity, double hold_s, double rate_hz,
                  uint64_t seed, float *out, size_t max_frames);

/* Plays a part's notes (times in seconds within the stem; a note with end_s < 0 is skipped)
 * with one patch, adding them to stem (interleaved stereo, frames long, both channels the
 * same). played[i] is set for each note that sounds in the stem. 0, or -1 with errbuf. */
int synth_render_part(const synth_patch *p, const smf_note *notes, size_t n, float *stem,
                      size_t frames, int rate_hz, uint64_t seed, uint8_t *played, char *errbuf,
                      size_t errlen);

#endif /* INSTRID_RENDER_SYNTH_H */
