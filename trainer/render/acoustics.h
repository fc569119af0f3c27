/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acoustics.h — what real recordings add to a mix after the players: the room (convolution with
 * a real or synthetic impulse response), the microphone and its placement (an EQ colour), a
 * compressor, and (in audio.h) a lossy codec round trip. Applied by render_song to the whole
 * piece when the render options ask for them; every random choice comes from the caller's seed.
 */
#ifndef INSTRID_RENDER_ACOUSTICS_H
#define INSTRID_RENDER_ACOUSTICS_H

#include <stddef.h>

#include "rng.h"

/* Convolves interleaved stereo x (frames long) with a mono impulse response and mixes the result
 * with the dry signal: y = (1 - wet) x + wet (x * ir), the tail cut at the end of the buffer.
 * FFT overlap-add. Returns 0 on allocation failure (x unchanged), 1 otherwise. */
int acoustics_convolve(float *x, size_t frames, const float *ir, size_t ir_frames, double wet);

/* A synthetic room response of rt60_s (exponentially decaying noise after a direct impulse and
 * a few early reflections), unit energy, at most max_frames long. Returns its length. */
size_t acoustics_synthetic_ir(float *ir, size_t max_frames, double rate_hz, double rt60_s,
                              splitmix_rng *rng);

/* Makes an impulse response usable: starts it at its direct sound (the first sample within
 * 20 dB of the peak), cuts it to max_frames and scales it to unit energy. Returns the new
 * length (0 when it is silent). */
size_t acoustics_prepare_ir(float *ir, size_t frames, size_t max_frames);

/* A microphone's colour: low cut, one or two presence/proximity bumps, a high roll-off, drawn
 * from rng. In place on interleaved stereo. */
void acoustics_mic_colour(float *x, size_t frames, double rate_hz, splitmix_rng *rng);

/* Feed-forward stereo-linked compressor: above threshold_db (dBFS, on a peak envelope with
 * attack_ms/release_ms), the level is reduced by (1 - 1/ratio) of the excess. No make-up gain
 * (the mix is normalised afterwards). */
void acoustics_compress(float *x, size_t frames, double rate_hz, double threshold_db, double ratio,
                        double attack_ms, double release_ms);

#endif /* INSTRID_RENDER_ACOUSTICS_H */
