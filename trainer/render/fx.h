/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fx.h — the effects the renderer applies to each stem: a biquad equaliser, constant-power pan
 * and a Schroeder reverb (parallel feedback combs with damping, then series all-passes).
 */
#ifndef INSTRID_RENDER_FX_H
#define INSTRID_RENDER_FX_H

#include <stddef.h>

typedef struct {
  double b0, b1, b2, a1, a2; /* normalised by a0 */
  double z1[2], z2[2];       /* transposed direct form II state, per channel */
} fx_biquad;

/* FX_BANDPASS: constant 0-dB peak gain at freq_hz, bandwidth freq_hz / q (gain_db unused). */
typedef enum { FX_LOW_SHELF, FX_HIGH_SHELF, FX_PEAK, FX_BANDPASS } fx_biquad_kind;

/* RBJ cookbook coefficients; q is the peak's quality (shelves use slope 1). */
void fx_biquad_init(fx_biquad *bq, fx_biquad_kind kind, double freq_hz, double gain_db, double q,
                    double rate_hz);
/* In place on interleaved stereo. */
void fx_biquad_run_stereo(fx_biquad *bq, float *x, size_t frames);
/* One sample through channel 0 (mono use, e.g. the synthesizer's resonators). */
static inline double fx_biquad_step(fx_biquad *bq, double in)
{
  double y = bq->b0 * in + bq->z1[0];
  bq->z1[0] = bq->b1 * in - bq->a1 * y + bq->z2[0];
  bq->z2[0] = bq->b2 * in - bq->a2 * y;
  return y;
}

/* Gain of the filter at freq_hz, in dB (for tests). */
double fx_biquad_response_db(const fx_biquad *bq, double freq_hz, double rate_hz);

/* Constant-power balance of an interleaved stereo signal: pan in [-1, 1], 0 = centre. */
void fx_pan_stereo(float *x, size_t frames, double pan, double gain);

/* Adds a reverberated copy of x (interleaved stereo) to x: room_size in [0, 1] scales the comb
 * feedback (decay), damping in [0, 1] the high-frequency loss, wet the level of the tail.
 * The tail is cut at the end of the buffer. Returns 0 on allocation failure (x unchanged). */
int fx_reverb_stereo(float *x, size_t frames, double rate_hz, double room_size, double damping,
                     double wet);

#endif /* INSTRID_RENDER_FX_H */
