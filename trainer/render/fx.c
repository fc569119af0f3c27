/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fx.c — equaliser, pan and reverb for the corpus renderer's stems. */
#include "fx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fx_biquad_init(fx_biquad *bq, fx_biquad_kind kind, double freq_hz, double gain_db, double q,
                    double rate_hz)
{
  double A = pow(10.0, gain_db / 40.0), w0 = 2.0 * M_PI * freq_hz / rate_hz;
  double cw = cos(w0), sw = sin(w0);
  double b0, b1, b2, a0, a1, a2;
  if (kind == FX_BANDPASS) {
    double alpha = sw / (2.0 * q);
    b0 = alpha;
    b1 = 0;
    b2 = -alpha;
    a0 = 1 + alpha;
    a1 = -2 * cw;
    a2 = 1 - alpha;
  } else if (kind == FX_PEAK) {
    double alpha = sw / (2.0 * q);
    b0 = 1 + alpha * A;
    b1 = -2 * cw;
    b2 = 1 - alpha * A;
    a0 = 1 + alpha / A;
    a1 = -2 * cw;
    a2 = 1 - alpha / A;
  } else {
    double alpha = sw / 2.0 * sqrt(2.0); /* shelf slope S = 1 */
    double sa = 2.0 * sqrt(A) * alpha;
    if (kind == FX_LOW_SHELF) {
      b0 = A * ((A + 1) - (A - 1) * cw + sa);
      b1 = 2 * A * ((A - 1) - (A + 1) * cw);
      b2 = A * ((A + 1) - (A - 1) * cw - sa);
      a0 = (A + 1) + (A - 1) * cw + sa;
      a1 = -2 * ((A - 1) + (A + 1) * cw);
      a2 = (A + 1) + (A - 1) * cw - sa;
    } else {
      b0 = A * ((A + 1) + (A - 1) * cw + sa);
      b1 = -2 * A * ((A - 1) + (A + 1) * cw);
      b2 = A * ((A + 1) + (A - 1) * cw - sa);
      a0 = (A + 1) - (A - 1) * cw + sa;
      a1 = 2 * ((A - 1) - (A + 1) * cw);
      a2 = (A + 1) - (A - 1) * cw - sa;
    }
  }
  memset(bq, 0, sizeof(*bq));
  bq->b0 = b0 / a0;
  bq->b1 = b1 / a0;
  bq->b2 = b2 / a0;
  bq->a1 = a1 / a0;
  bq->a2 = a2 / a0;
}

void fx_biquad_run_stereo(fx_biquad *bq, float *x, size_t frames)
{
  for (int c = 0; c < 2; c++) {
    double z1 = bq->z1[c], z2 = bq->z2[c];
    for (size_t i = 0; i < frames; i++) {
      double in = x[2 * i + c], y = bq->b0 * in + z1;
      z1 = bq->b1 * in - bq->a1 * y + z2;
      z2 = bq->b2 * in - bq->a2 * y;
      x[2 * i + c] = (float)y;
    }
    bq->z1[c] = z1;
    bq->z2[c] = z2;
  }
}

double fx_biquad_response_db(const fx_biquad *bq, double freq_hz, double rate_hz)
{
  double w = 2.0 * M_PI * freq_hz / rate_hz;
  /* |B(e^jw)| / |A(e^jw)| */
  double br = bq->b0 + bq->b1 * cos(w) + bq->b2 * cos(2 * w);
  double bi = -bq->b1 * sin(w) - bq->b2 * sin(2 * w);
  double ar = 1.0 + bq->a1 * cos(w) + bq->a2 * cos(2 * w);
  double ai = -bq->a1 * sin(w) - bq->a2 * sin(2 * w);
  return 10.0 * log10((br * br + bi * bi) / (ar * ar + ai * ai));
}

void fx_pan_stereo(float *x, size_t frames, double pan, double gain)
{
  double theta = (pan + 1.0) * M_PI / 4.0; /* 0 .. pi/2 */
  float gl = (float)(gain * cos(theta) * M_SQRT2), gr = (float)(gain * sin(theta) * M_SQRT2);
  for (size_t i = 0; i < frames; i++) {
    x[2 * i] *= gl;
    x[2 * i + 1] *= gr;
  }
}

/* Freeverb-style tunings at 44.1 kHz (mutually prime-ish delays); the right channel's lines are
 * a little longer so the tail decorrelates between channels. */
static const int comb_len[8] = {1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617};
static const int allpass_len[4] = {556, 441, 341, 225};
#define STEREO_SPREAD 23

int fx_reverb_stereo(float *x, size_t frames, double rate_hz, double room_size, double damping,
                     double wet)
{
  double scale = rate_hz / 44100.0;
  size_t total = 0, len[2][12];
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 12; i++) {
      int base = i < 8 ? comb_len[i] : allpass_len[i - 8];
      len[c][i] = (size_t)((base + c * STEREO_SPREAD) * scale) + 1;
      total += len[c][i];
    }
  float *mem = calloc(total, sizeof(float));
  float *tail = malloc(frames * 2 * sizeof(float) + 1);
  if (!mem || !tail) {
    free(mem);
    free(tail);
    return 0;
  }
  float feedback = (float)(0.7 + 0.28 * room_size), damp = (float)(0.05 + 0.4 * damping);
  float *p = mem;
  for (int c = 0; c < 2; c++) {
    float *line[12];
    size_t pos[12] = {0};
    float lp[8] = {0};
    for (int i = 0; i < 12; i++) {
      line[i] = p;
      p += len[c][i];
    }
    for (size_t t = 0; t < frames; t++) {
      float in = 0.5f * (x[2 * t] + x[2 * t + 1]) * 0.1f, out = 0.0f;
      for (int i = 0; i < 8; i++) {
        float y = line[i][pos[i]];
        lp[i] = y * (1.0f - damp) + lp[i] * damp;
        line[i][pos[i]] = in + lp[i] * feedback;
        if (++pos[i] == len[c][i])
          pos[i] = 0;
        out += y;
      }
      for (int i = 8; i < 12; i++) {
        float b = line[i][pos[i]];
        line[i][pos[i]] = out + b * 0.5f;
        out = b - out;
        if (++pos[i] == len[c][i])
          pos[i] = 0;
      }
      tail[2 * t + c] = out;
    }
  }
  for (size_t i = 0; i < frames * 2; i++)
    x[i] += (float)wet * tail[i];
  free(mem);
  free(tail);
  return 1;
}
