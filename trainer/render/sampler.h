/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sampler.h — real recorded instruments for the corpus renderer: a sampler over the Philharmonia
 * orchestra notes (data.csv) that pitch-shifts the nearest recorded note by resampling, and
 * Hydrogen drum kits (drumkit.xml) mapped onto General MIDI percussion keys.
 *
 * A sample_library is shared by every rendering thread: decoded samples are cached inside it
 * under its own lock (up to a memory cap), everything else is read-only after opening.
 */
#ifndef INSTRID_RENDER_SAMPLER_H
#define INSTRID_RENDER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "smf.h"

typedef struct sample_library sample_library;

/* Either directory may be NULL (or missing: then that part is empty and *warn says so).
 * philharmonia_dir holds data.csv; drumkits_dir holds <kit>/drumkit.xml. cache_mb caps the
 * decoded-sample cache. Returns NULL only on allocation failure or an unreadable data.csv. */
sample_library *sample_library_open(const char *philharmonia_dir, const char *drumkits_dir,
                                    size_t cache_mb, char *errbuf, size_t errlen);
void sample_library_free(sample_library *lib);

/* Single-note samples of a class (render_classes index), 0 when none. */
size_t sample_library_notes_of_class(const sample_library *lib, int cls);
/* Recorded phrases of a class (whole melodic passages, used as they are). */
size_t sample_library_phrases_of_class(const sample_library *lib, int cls);
size_t sample_library_n_kits(const sample_library *lib);
const char *sample_library_kit_name(const sample_library *lib, size_t kit);

/* Frequency ratio that takes a recording at source_hz to MIDI note target (A4 = 440 Hz):
 * reading the recording at this many input samples per output sample. */
double sampler_pitch_ratio(int target_note, double source_hz);

/* dst[i] = src(start + i * ratio) by cubic (Catmull-Rom) interpolation, zero outside src.
 * Returns how many dst samples lie within src. */
size_t sampler_resample(const float *src, size_t n_src, double start, double ratio, float *dst,
                        size_t n_dst);

/* Renders the notes of a part with class cls's Philharmonia notes, mixed (added) into out
 * (interleaved stereo, frames long, rate_hz) with the note times offset by -t0_s. Notes whose
 * nearest recording is more than max_shift semitones away are not played; played[i] says which
 * were (the caller writes labels for those only). seed picks among equal candidates.
 * Returns the number of notes played, -1 on a decoding error (errbuf). */
long sampler_render_part(sample_library *lib, int cls, const smf_note *notes, size_t n_notes,
                         double t0_s, int max_shift, float *out, size_t frames, int rate_hz,
                         uint64_t seed, uint8_t *played, char *errbuf, size_t errlen);

/* Whether a recorded note of class cls lies within max_shift semitones of note. */
int sampler_can_play(const sample_library *lib, int cls, int note, int max_shift);

/* Adds one recorded phrase of class cls (chosen by seed) at out frame `at`, scaled by gain;
 * returns its length in frames (clipped to the buffer) and its first note in *note, or -1. */
long sampler_add_phrase(sample_library *lib, int cls, uint64_t seed, float *out, size_t frames,
                        size_t at, int rate_hz, int *note, char *errbuf, size_t errlen);

/* Renders a GM percussion part with drum kit `kit`; played[i] as above (keys the kit cannot
 * play stay silent and unlabelled). */
long drumkit_render_part(sample_library *lib, size_t kit, const smf_note *notes, size_t n_notes,
                         double t0_s, float *out, size_t frames, int rate_hz, uint64_t seed,
                         uint8_t *played, char *errbuf, size_t errlen);

#endif /* INSTRID_RENDER_SAMPLER_H */
