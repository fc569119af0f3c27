/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* frontend.c — streaming log-mel front end: windowed real FFT (FFTW, single precision) of
 * frames that start every hop_samples, a sparse mel filterbank, log and normalisation. */
#include <float.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>

#include <fftw3.h>

#include "hotloop.h"
#include "internal.h"

/* Parameter limits. The upper ones keep every size computed from a model file small enough
 * that no arithmetic below can overflow, and match what a model file may declare. */
#define SAMPLE_RATE_MIN 1000u
#define SAMPLE_RATE_MAX 384000u
#define N_FFT_MIN 16u
#define N_FFT_MAX 65536u
#define N_MELS_MAX 512u

struct instrid_frontend {
  instrid_frontend_params params;
  uint32_t n_bins; /* n_fft / 2 + 1 */

  float *window;         /* (n_fft) win_length samples of window centred in zeros */
  float *frame;          /* (n_fft + 1) samples of the frame being filled, sanitised and
                          * pre-emphasised; the extra one for the first centred frame: a
                          * window into frame_buf that moves on by a hop per frame */
  float *frame_buf;      /* (n_fft + 1 + FRAME_SLIDE_HOPS hop) */
  uint32_t frame_fill;   /* samples of frame already filled */
  uint32_t frame_target; /* frame_fill at which a frame is complete: n_fft, or with center
                          * 2 (n_fft / 2) + 1 before the first frame */
  int started;           /* the first frame has been emitted (or no center: always 1) */
  int have_prev;         /* time-domain pre-emphasis: prev holds the last input sample */
  float prev;
  float emphasis;              /* the time-domain filter's coefficient (emphasis_coefficient) */
  float *tail;                 /* (n_fft / 2) with center: the reflected end, built by flush */
  uint32_t tail_len, tail_pos; /* tail samples built, used */
  int flushing;                /* 1 while flush is appending the tail, 2 when it is done */
  float *fft_in;               /* (n_fft) windowed frame: the plan's input */
  fftwf_complex *fft_out;      /* (n_bins) the plan's output */
  float *spectrum;             /* (n_bins) |X|^power */
  fftwf_plan plan;

  /* Mel filterbank, stored sparsely: band m weighs bins band_first_bin[m] ..
   * band_first_bin[m] + band_n_bins[m] - 1 with weights[band_weight_offset[m] + j]. A triangle
   * spans a few bins out of thousands, so this is n_bins/n_mels times less work than dense. */
  uint32_t *band_first_bin;     /* (n_mels) */
  uint32_t *band_n_bins;        /* (n_mels) may be 0: a band narrower than a bin spacing */
  uint32_t *band_weight_offset; /* (n_mels) */
  float *weights;               /* (sum of band_n_bins) */

  float *energy; /* (n_mels) one frame's band energies */
};

/* ------------------------------------------------------------------------------------------ */
/* Parameters                                                                                   */

instrid_status instrid_frontend_params_check(const instrid_frontend_params *p, instrid_error *err)
{
  if (!p)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "front-end parameters are NULL");
  if (p->sample_rate < SAMPLE_RATE_MIN || p->sample_rate > SAMPLE_RATE_MAX)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "sample_rate %u Hz outside %u..%u",
                             p->sample_rate, SAMPLE_RATE_MIN, SAMPLE_RATE_MAX);
  if (p->n_fft < N_FFT_MIN || p->n_fft > N_FFT_MAX)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_fft %u outside %u..%u", p->n_fft,
                             N_FFT_MIN, N_FFT_MAX);
  if (p->win_length < 1 || p->win_length > p->n_fft)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "win_length %u outside 1..%u (n_fft)",
                             p->win_length, p->n_fft);
  /* A hop longer than the FFT would leave audio that no frame sees; an instrument detector
   * has no use for that, and refusing it keeps the frame buffer a plain sliding window. */
  if (p->hop_samples < 1 || p->hop_samples > p->n_fft)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "hop_samples %u outside 1..%u (n_fft)",
                             p->hop_samples, p->n_fft);
  uint32_t n_bins = p->n_fft / 2 + 1;
  if (p->n_mels < 1 || p->n_mels > N_MELS_MAX)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_mels %u outside 1..%u", p->n_mels,
                             N_MELS_MAX);
  if (p->n_mels > n_bins)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_mels %u > %u FFT bins (n_fft %u / 2 + 1)",
                             p->n_mels, n_bins, p->n_fft);
  if (p->window != INSTRID_WINDOW_HANN && p->window != INSTRID_WINDOW_HAMMING)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "window %u is not a window kind (0 hann, 1 hamming)", p->window);
  if (p->mel_scale != INSTRID_MEL_SLANEY && p->mel_scale != INSTRID_MEL_HTK &&
      p->mel_scale != INSTRID_MEL_KALDI)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "mel_scale %u is not a mel scale (0 slaney, 1 htk, 2 kaldi)",
                             p->mel_scale);
  if (p->mel_norm != INSTRID_MELNORM_NONE && p->mel_norm != INSTRID_MELNORM_SLANEY)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "mel_norm %u is not a mel norm (0 none, 1 slaney)", p->mel_norm);
  double nyquist_hz = p->sample_rate / 2.0;
  if (!isfinite(p->fmin_hz) || p->fmin_hz < 0.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "fmin_hz %g must be finite and >= 0",
                             (double)p->fmin_hz);
  if (!isfinite(p->fmax_hz) || p->fmax_hz <= p->fmin_hz || p->fmax_hz > nyquist_hz)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "fmax_hz %g outside (fmin_hz %g, sample_rate / 2 = %g]",
                             (double)p->fmax_hz, (double)p->fmin_hz, nyquist_hz);
  if (p->power != 1.0f && p->power != 2.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "power %g must be 1 or 2", (double)p->power);
  if (!isfinite(p->log_floor) || p->log_floor <= 0.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "log_floor %g must be finite and > 0",
                             (double)p->log_floor);
  if (!isfinite(p->feature_mean))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "feature_mean %g must be finite",
                             (double)p->feature_mean);
  if (!isfinite(p->feature_std) || p->feature_std <= 0.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "feature_std %g must be finite and > 0",
                             (double)p->feature_std);
  if (!isfinite(p->preemphasis) || p->preemphasis < 0.0f || p->preemphasis >= 1.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "preemphasis %g outside [0, 1)",
                             (double)p->preemphasis);
  if (p->window_symmetric > 1)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "window_symmetric %u must be 0 (periodic) or 1 (symmetric)",
                             p->window_symmetric);
  if (p->center > 1)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "center %u must be 0 or 1", p->center);
  /* Centred frames: the end is reflected from the last n_fft / 2 + 1 samples, which the frame
   * buffer holds only when a hop leaves that many behind; a hop of 1 would complete two frames
   * with one sample at the start. */
  uint32_t max_centred_hop = p->n_fft - p->n_fft / 2 - 1;
  if (p->center && (p->hop_samples < 2 || p->hop_samples > max_centred_hop))
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "hop_samples %u outside 2..%u (n_fft - n_fft / 2 - 1) with center",
                             p->hop_samples, max_centred_hop);
  if (p->log_mode != INSTRID_LOG_MAX && p->log_mode != INSTRID_LOG_ADD)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "log_mode %u is not a log mode (0 max, 1 add)", p->log_mode);
  if (!isfinite(p->log_gain))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "log_gain %g must be finite",
                             (double)p->log_gain);
  if (p->reference_rate != 0 &&
      (p->reference_rate < SAMPLE_RATE_MIN || p->reference_rate > SAMPLE_RATE_MAX))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "reference_rate %u Hz outside %u..%u",
                             p->reference_rate, SAMPLE_RATE_MIN, SAMPLE_RATE_MAX);
  return INSTRID_OK;
}

float instrid_frontend_silence_value(const instrid_frontend_params *params)
{
  if (!params)
    return 0.0f;
  /* The same expression as the last step of frame_features(), so that a frame of digital
   * silence compares equal to this value, not merely close to it. */
  /* Silence has energy 0: log(max(0, floor)) and log(0 + floor) are both log(floor). */
  return (logf(params->log_floor) + params->log_gain - params->feature_mean) / params->feature_std;
}

/* ------------------------------------------------------------------------------------------ */
/* Window and mel filterbank (built once, in double precision)                                  */

#define TWO_PI (2.0 * 3.14159265358979323846)

/* Sample i of the window, in double. Periodic (denominator win_length) as scipy's
 * get_window(..., fftbins=True) and librosa, or symmetric (win_length - 1) as
 * torch.hann_window(periodic=False), whose one-sample window is 1. */
static double window_value(const instrid_frontend_params *p, uint32_t i)
{
  const double a0 = p->window == INSTRID_WINDOW_HAMMING ? 0.54 : 0.5;
  uint32_t denominator = p->window_symmetric ? p->win_length - 1 : p->win_length;
  if (denominator == 0)
    return 1.0;
  return a0 - (1.0 - a0) * cos(TWO_PI * i / denominator);
}

/* The window, centred in the FFT like librosa's pad_center and torch.stft. */
static void window_fill(float *window, const instrid_frontend_params *p)
{
  uint32_t offset = (p->n_fft - p->win_length) / 2;
  for (uint32_t i = 0; i < p->win_length; i++)
    window[offset + i] = (float)window_value(p, i);
}

/* Slaney's Auditory Toolbox scale (librosa's default, htk=False): linear below 1 kHz at
 * 200/3 Hz per mel, logarithmic above at 27 mels per factor 6.4. */
#define SLANEY_HZ_PER_MEL (200.0 / 3.0)
#define SLANEY_BREAK_HZ 1000.0
#define SLANEY_BREAK_MEL (SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL)
#define SLANEY_LOG_STEP (0.06875177742094912) /* log(6.4) / 27 */

static double hz_to_mel(double hz, uint32_t scale)
{
  if (scale == INSTRID_MEL_KALDI)
    return 1127.0 * log(1.0 + hz / 700.0);
  if (scale == INSTRID_MEL_HTK)
    return 2595.0 * log10(1.0 + hz / 700.0);
  if (hz < SLANEY_BREAK_HZ)
    return hz / SLANEY_HZ_PER_MEL;
  return SLANEY_BREAK_MEL + log(hz / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP;
}

static double mel_to_hz(double mel, uint32_t scale)
{
  if (scale == INSTRID_MEL_KALDI)
    return 700.0 * (exp(mel / 1127.0) - 1.0);
  if (scale == INSTRID_MEL_HTK)
    return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
  if (mel < SLANEY_BREAK_MEL)
    return mel * SLANEY_HZ_PER_MEL;
  return SLANEY_BREAK_HZ * exp(SLANEY_LOG_STEP * (mel - SLANEY_BREAK_MEL));
}

/* Edge m of the filterbank in Hz: n_mels + 2 edges equally spaced in mel from fmin to fmax;
 * band m rises from edge m to edge m + 1 and falls to edge m + 2. */
static double mel_edge_hz(const instrid_frontend_params *p, uint32_t m)
{
  double mel_lo = hz_to_mel(p->fmin_hz, p->mel_scale);
  double mel_hi = hz_to_mel(p->fmax_hz, p->mel_scale);
  return mel_to_hz(mel_lo + (mel_hi - mel_lo) * m / (p->n_mels + 1), p->mel_scale);
}

static double bin_hz(const instrid_frontend_params *p, uint32_t k)
{
  return (double)k * p->sample_rate / p->n_fft;
}

/* Weight of bin k in band m given its three edges, librosa.filters.mel's formula. */
static double triangle_weight(double f_hz, double lo_hz, double centre_hz, double hi_hz,
                              double norm)
{
  double rising = (f_hz - lo_hz) / (centre_hz - lo_hz);
  double falling = (hi_hz - f_hz) / (hi_hz - centre_hz);
  double w = rising < falling ? rising : falling;
  return w > 0.0 ? w * norm : 0.0;
}

/* Power response at f_hz of y[n] = x[n] - a x[n - 1] running at `rate`. */
static double emphasis_response(double a, double rate, double f_hz)
{
  return 1.0 + a * a - 2.0 * a * cos(TWO_PI * f_hz / rate);
}

/* The coefficient the time-domain filter runs with: the model's, or in the at-input-rate mode
 * a^(reference_rate / sample_rate), which puts the filter's zero at the same frequency in
 * Hz: its response then matches the model's at low frequencies up to a constant, so strong
 * low notes are attenuated before the window as they are at the model's rate. */
static double emphasis_coefficient(const instrid_frontend_params *p)
{
  if (p->reference_rate == 0)
    return p->preemphasis;
  return pow(p->preemphasis, (double)p->reference_rate / p->sample_rate);
}

/* Band m's edges, computed once per band: in mel for Kaldi, in Hz for the others. */
typedef struct {
  double left, centre, right, norm;
} band_edges;

static band_edges band_edges_of(const instrid_frontend_params *p, uint32_t m)
{
  band_edges b;
  if (p->mel_scale == INSTRID_MEL_KALDI) {
    /* torchaudio.compliance.kaldi.get_mel_banks: n_mels + 2 edges equally spaced in mel. */
    double mel_lo = hz_to_mel(p->fmin_hz, p->mel_scale);
    double delta = (hz_to_mel(p->fmax_hz, p->mel_scale) - mel_lo) / (p->n_mels + 1);
    b.left = mel_lo + m * delta;
    b.centre = b.left + delta;
    b.right = b.centre + delta;
    b.norm = 2.0 / (mel_to_hz(b.right, p->mel_scale) - mel_to_hz(b.left, p->mel_scale));
  } else {
    b.left = mel_edge_hz(p, m);
    b.centre = mel_edge_hz(p, m + 1);
    b.right = mel_edge_hz(p, m + 2);
    b.norm = 2.0 / (b.right - b.left);
  }
  if (p->mel_norm != INSTRID_MELNORM_SLANEY)
    b.norm = 1.0;
  return b;
}

/* Where bin k lies on the axis the triangles are drawn on: in mel for Kaldi, in Hz otherwise
 * (computed once per bin, not once per band and bin). */
static double bin_position(const instrid_frontend_params *p, uint32_t k)
{
  if (p->mel_scale == INSTRID_MEL_KALDI)
    return hz_to_mel(bin_hz(p, k), p->mel_scale);
  return bin_hz(p, k);
}

/* Weight of bin k (at position pos, bin_position) in band b, before the sparse store. */
static double band_weight(const instrid_frontend_params *p, const band_edges *b, uint32_t k,
                          double pos)
{
  /* Kaldi: triangles over bins 0 .. n_fft / 2 - 1 (the Nyquist bin has weight 0). */
  if (p->mel_scale == INSTRID_MEL_KALDI && k >= p->n_fft / 2)
    return 0.0;
  /* Outside (left, right) one side of the triangle is <= 0: weight 0 (the edges increase). */
  if (pos <= b->left || pos >= b->right)
    return 0.0;
  double w = triangle_weight(pos, b->left, b->centre, b->right, b->norm);
  if (!(w > 0.0))
    return 0.0;
  return w;
}

/* Band m's weight on each of this front end's bins, into row[0 .. n_bins). In the
 * at-input-rate mode each weight carries the pre-emphasis correction: the reference rate's
 * filter response over that of the filter that ran (for power 1, a magnitude, its square
 * root). pos: bin_position of every bin. */
static void band_row(const instrid_frontend_params *p, uint32_t m, const double *pos, double *row,
                     uint32_t n_bins)
{
  band_edges b = band_edges_of(p, m);
  double a_ran = emphasis_coefficient(p);
  for (uint32_t k = 0; k < n_bins; k++) {
    double w = band_weight(p, &b, k, pos[k]);
    if (w > 0.0 && p->reference_rate != 0 && p->preemphasis != 0.0f) {
      double f = bin_hz(p, k);
      double r = emphasis_response(p->preemphasis, p->reference_rate, f) /
                 emphasis_response(a_ran, p->sample_rate, f);
      w *= p->power == 2.0f ? r : sqrt(r);
    }
    row[k] = w;
  }
}

/* Builds the sparse filterbank: first pass finds each band's non-zero bins, second fills. */
static instrid_status filterbank_build(instrid_frontend *fe, instrid_error *err)
{
  const instrid_frontend_params *p = &fe->params;
  double *row = malloc(sizeof *row * 2 * fe->n_bins);
  if (!row)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "mel filterbank: out of memory");
  double *pos = row + fe->n_bins;
  for (uint32_t k = 0; k < fe->n_bins; k++)
    pos[k] = bin_position(p, k);
  size_t n_weights = 0;
  for (uint32_t m = 0; m < p->n_mels; m++) {
    band_row(p, m, pos, row, fe->n_bins);
    uint32_t first = 0, n = 0;
    for (uint32_t k = 0; k < fe->n_bins; k++) {
      if (row[k] > 0.0) {
        if (n == 0)
          first = k;
        n = k - first + 1;
      }
    }
    fe->band_first_bin[m] = first;
    fe->band_n_bins[m] = n;
    fe->band_weight_offset[m] = (uint32_t)n_weights;
    n_weights += n; /* at most n_mels * n_bins <= 512 * 32769: no overflow */
  }
  fe->weights = instrid_alloc_floats(n_weights);
  if (!fe->weights) {
    free(row);
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "mel filterbank: %zu weights", n_weights);
  }
  for (uint32_t m = 0; m < p->n_mels; m++) {
    band_row(p, m, pos, row, fe->n_bins);
    float *w = fe->weights + fe->band_weight_offset[m];
    for (uint32_t j = 0; j < fe->band_n_bins[m]; j++)
      w[j] = (float)row[fe->band_first_bin[m] + j];
  }
  free(row);
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* EfficientAT's parameters and the at-input-rate mode                                        */

void instrid_frontend_params_efficientat(instrid_frontend_params *p)
{
  if (!p)
    return;
  *p = (instrid_frontend_params){.sample_rate = 32000,
                                 .n_fft = 1024,
                                 .win_length = 800,
                                 .hop_samples = 320,
                                 .n_mels = 128,
                                 .window = INSTRID_WINDOW_HANN,
                                 .mel_scale = INSTRID_MEL_KALDI,
                                 .mel_norm = INSTRID_MELNORM_NONE,
                                 .fmin_hz = 0.0f,
                                 .fmax_hz = 15000.0f,
                                 .power = 2.0f,
                                 .log_floor = 1e-5f,
                                 .feature_mean = -4.5f,
                                 .feature_std = 5.0f,
                                 .preemphasis = 0.97f,
                                 .window_symmetric = 1,
                                 .center = 1,
                                 .log_mode = INSTRID_LOG_ADD};
}

/* FFTW's efficient sizes (its manual): 2^a 3^b 5^c 7^d 11^e 13^f with e + f <= 1. */
static int fftw_friendly(uint32_t n)
{
  static const uint32_t primes[] = {2, 3, 5, 7};
  for (int i = 0; i < 4; i++)
    while (n % primes[i] == 0)
      n /= primes[i];
  return n == 1 || n == 11 || n == 13;
}

/* The FFTW-friendly size nearest to `target` that is at least `min` (ties: the larger). */
static uint32_t nearest_fftw_size(double target, uint32_t min)
{
  uint32_t up = (uint32_t)ceil(target) > min ? (uint32_t)ceil(target) : min;
  while (!fftw_friendly(up))
    up++;
  for (uint32_t down = (uint32_t)floor(target); down >= min && down > 0; down--) {
    if (fftw_friendly(down))
      return target - down < up - target ? down : up;
    if (target - down >= up - target)
      break;
  }
  return up;
}

static double window_sum_squares(const instrid_frontend_params *p)
{
  double s = 0.0;
  for (uint32_t i = 0; i < p->win_length; i++) {
    double w = window_value(p, i);
    s += w * w;
  }
  return s;
}

instrid_status instrid_frontend_params_for_rate(const instrid_frontend_params *model,
                                                uint32_t input_rate, instrid_frontend_params *out,
                                                instrid_error *err)
{
  if (!model || !out)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "instrid_frontend_params_for_rate: NULL argument");
  instrid_status st = instrid_frontend_params_check(model, err);
  if (st != INSTRID_OK)
    return st;
  if (model->reference_rate != 0)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "front end already derived for %u Hz (reference_rate %u)",
                             model->sample_rate, model->reference_rate);
  if (input_rate < SAMPLE_RATE_MIN || input_rate > SAMPLE_RATE_MAX)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "input rate %u Hz outside %u..%u",
                             input_rate, SAMPLE_RATE_MIN, SAMPLE_RATE_MAX);
  if (input_rate / 2.0 < model->fmax_hz)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "input rate %u Hz: its Nyquist frequency is below the model's "
                             "fmax_hz %g (resample instead)",
                             input_rate, (double)model->fmax_hz);
  *out = *model;
  if (input_rate == model->sample_rate)
    return INSTRID_OK;

  const double ratio = (double)input_rate / model->sample_rate;
  instrid_frontend_params p = *model;
  p.sample_rate = input_rate;
  p.win_length = (uint32_t)lround(model->win_length * ratio);
  p.hop_samples = (uint32_t)lround(model->hop_samples * ratio);
  if (p.win_length < 1)
    p.win_length = 1;
  if (p.hop_samples < 1)
    p.hop_samples = 1;
  /* n_fft: the FFTW-friendly size nearest the scaled one, at least the window. The nearer it
   * is, the nearer the bins lie to the model's (which matters in the low bands, one or two
   * bins wide): 1408 at 44.1 kHz for 1024 at 32 kHz (bins 31.32 Hz apart, not 31.25). */
  p.n_fft = nearest_fftw_size(model->n_fft * ratio, p.win_length);
  if (p.center) {
    uint32_t max_hop = p.n_fft - p.n_fft / 2 - 1;
    if (p.hop_samples > max_hop)
      p.hop_samples = max_hop;
  }
  /* The pre-emphasis of the model's rate. */
  p.reference_rate = model->sample_rate;
  /* Energy scale. The same sound sampled at rate r with power spectral density S(f) per Hz
   * has E|X(f)|^2 = S(f) r sum(w^2) in a bin at f, and a band of fixed width in Hz sums
   * n_fft / r bins: power-2 energies scale by n_fft sum(w^2). Magnitudes (power 1) scale by
   * sqrt(r sum(w^2)) n_fft / r. (A steady tone gives the same ratio.) */
  double s_model = window_sum_squares(model), s_input = window_sum_squares(&p);
  double g; /* model energy / input-rate energy */
  if (model->power == 2.0f)
    g = (model->n_fft * s_model) / ((double)p.n_fft * s_input);
  else
    g = ((double)model->n_fft / p.n_fft) *
        sqrt((s_model / model->sample_rate) / (s_input / input_rate));
  /* log(g E + floor) = log(g) + log(E + floor / g), and likewise for the max: the gain moves
   * into log_floor and log_gain, exactly; feature_mean and feature_std stay the model's. */
  p.log_floor = (float)(model->log_floor / g);
  p.log_gain = (float)log(g);
  st = instrid_frontend_params_check(&p, err);
  if (st != INSTRID_OK)
    return st;
  *out = p;
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifetime                                                                                     */

/* The frame buffer holds a frame (n_fft + 1 samples at most) and room for the frame's window
 * to move on by FRAME_SLIDE_HOPS hops before the samples it keeps are copied back. */
#define FRAME_SLIDE_HOPS 32

static size_t frame_buf_floats(const instrid_frontend_params *p)
{
  return (size_t)p->n_fft + 1 + (size_t)FRAME_SLIDE_HOPS * p->hop_samples;
}

instrid_frontend *instrid_frontend_new(const instrid_frontend_params *params, instrid_error *err)
{
  if (instrid_frontend_params_check(params, err) != INSTRID_OK)
    return NULL;
  instrid_frontend *fe = calloc(1, sizeof *fe);
  if (!fe) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "front end: out of memory");
    return NULL;
  }
  fe->params = *params;
  fe->n_bins = params->n_fft / 2 + 1;
  uint32_t n_fft = params->n_fft, n_mels = params->n_mels;

  fe->window = instrid_alloc_floats(n_fft);
  fe->frame_buf = instrid_alloc_floats(frame_buf_floats(params));
  fe->frame = fe->frame_buf;
  fe->tail = instrid_alloc_floats(n_fft / 2 + 1);
  fe->fft_in = instrid_alloc_floats(n_fft);
  fe->spectrum = instrid_alloc_floats(fe->n_bins);
  fe->energy = instrid_alloc_floats(n_mels);
  fe->fft_out = fftwf_alloc_complex(fe->n_bins);
  fe->band_first_bin = calloc(n_mels, sizeof *fe->band_first_bin);
  fe->band_n_bins = calloc(n_mels, sizeof *fe->band_n_bins);
  fe->band_weight_offset = calloc(n_mels, sizeof *fe->band_weight_offset);
  if (!fe->window || !fe->frame_buf || !fe->tail || !fe->fft_in || !fe->spectrum || !fe->energy ||
      !fe->fft_out || !fe->band_first_bin || !fe->band_n_bins || !fe->band_weight_offset) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "front end: out of memory for n_fft %u", n_fft);
    goto fail;
  }
  window_fill(fe->window, params);
  fe->emphasis = (float)emphasis_coefficient(params);
  if (filterbank_build(fe, err) != INSTRID_OK)
    goto fail;

  /* FFTW_ESTIMATE, not MEASURE: a measured plan depends on timing, so two streams (or two
   * runs) could pick different algorithms and produce features that differ in the last bit. */
  instrid_fftw_lock();
  fe->plan = fftwf_plan_dft_r2c_1d((int)n_fft, fe->fft_in, fe->fft_out, FFTW_ESTIMATE);
  instrid_fftw_unlock();
  if (!fe->plan) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "front end: FFTW could not plan n_fft %u", n_fft);
    goto fail;
  }
  instrid_frontend_reset(fe);
  return fe;

fail:
  instrid_frontend_free(fe);
  return NULL;
}

void instrid_frontend_free(instrid_frontend *fe)
{
  if (!fe)
    return;
  if (fe->plan) {
    instrid_fftw_lock();
    fftwf_destroy_plan(fe->plan);
    instrid_fftw_unlock();
  }
  fftwf_free(fe->fft_out);
  instrid_free_aligned(fe->window);
  instrid_free_aligned(fe->frame_buf);
  instrid_free_aligned(fe->tail);
  instrid_free_aligned(fe->fft_in);
  instrid_free_aligned(fe->spectrum);
  instrid_free_aligned(fe->weights);
  free(fe->band_first_bin);
  free(fe->band_n_bins);
  free(fe->band_weight_offset);
  instrid_free_aligned(fe->energy);
  free(fe);
}

const instrid_frontend_params *instrid_frontend_get_params(const instrid_frontend *fe)
{
  return &fe->params;
}

void instrid_frontend_reset(instrid_frontend *fe)
{
  if (!fe)
    return;
  /* With center, the first samples go to the middle of the frame; the first half is their
   * reflection, filled in when n_fft / 2 + 1 samples have arrived. */
  uint32_t half = fe->params.n_fft / 2;
  fe->frame = fe->frame_buf;
  fe->frame_fill = fe->params.center ? half : 0;
  fe->frame_target = fe->params.center ? 2 * half + 1 : fe->params.n_fft;
  fe->started = !fe->params.center;
  fe->have_prev = 0;
  fe->prev = 0.0f;
  fe->tail_len = fe->tail_pos = 0;
  fe->flushing = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Processing                                                                                   */

/* fft_in = frame * window */
HOT_LOOP
static void window_frame(const float *restrict frame, const float *restrict window,
                         float *restrict out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = frame[i] * window[i];
}

/* spectrum = |X|^2 or |X| of the interleaved (re, im) bins */
HOT_LOOP
static void power_spectrum(const float *restrict x, float *restrict spectrum, size_t n_bins,
                           int squared)
{
  if (squared) {
    for (size_t k = 0; k < n_bins; k++)
      spectrum[k] = x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1];
  } else {
    for (size_t k = 0; k < n_bins; k++)
      spectrum[k] = sqrtf(x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1]);
  }
}

/* Band energies: band m sums w[j] * s[j] for j in order from 0. */
static void mel_energies(const instrid_frontend *fe, float *energy)
{
  for (uint32_t m = 0; m < fe->params.n_mels; m++) {
    const float *w = fe->weights + fe->band_weight_offset[m];
    const float *s = fe->spectrum + fe->band_first_bin[m];
    float e = 0.0f;
    for (uint32_t j = 0; j < fe->band_n_bins[m]; j++)
      e += w[j] * s[j];
    energy[m] = e;
  }
}

/* One complete frame in fe->frame -> n_mels features. */
static void frame_features(instrid_frontend *fe, float *mel_out)
{
  const instrid_frontend_params *p = &fe->params;
  const uint32_t n_mels = p->n_mels;
  window_frame(fe->frame, fe->window, fe->fft_in, p->n_fft);
  fftwf_execute(fe->plan);
  power_spectrum(&fe->fft_out[0][0], fe->spectrum, fe->n_bins, p->power == 2.0f);

  float *energy = fe->energy;
  mel_energies(fe, energy);

  /* In three passes, so that the bands' chains overlap: the energy's floor, its log, the
   * normalisation (each element's operations as before, in the same order). */
  const float floor = p->log_floor;
  for (uint32_t m = 0; m < n_mels; m++) {
    float e = energy[m];
    /* Finite input loud enough (|x| around 1e17 and up) overflows the float FFT to Inf or
     * NaN; call that the loudest representable energy so that features stay finite. */
    if (!(e <= FLT_MAX))
      e = FLT_MAX;
    energy[m] = p->log_mode == INSTRID_LOG_ADD ? e + floor : (e > floor ? e : floor);
  }
  for (uint32_t m = 0; m < n_mels; m++)
    mel_out[m] = logf(energy[m]);
  const float gain = p->log_gain, mean = p->feature_mean, std = p->feature_std;
  for (uint32_t m = 0; m < n_mels; m++)
    mel_out[m] = (mel_out[m] + gain - mean) / std;
}

/* One NaN or Inf would poison a whole frame through the FFT; mapping them to 0 and the
 * full-scale value keeps the stream usable after a glitch. */
static inline float sanitise(float v)
{
  if (!isfinite(v))
    v = isnan(v) ? 0.0f : (v > 0.0f ? 1.0f : -1.0f);
  return v;
}

/* dst[i] = x[i] - a x[i - 1] (x sanitised; x[-1] = prev): each sample's value depends only
 * on its two inputs, so the loop vectorises, with the same two roundings per sample. */
HOT_LOOP
static void emphasise(const float *x, size_t n, float a, float prev, float *dst)
{
  dst[0] = sanitise(x[0]) - a * prev;
  for (size_t i = 1; i < n; i++)
    dst[i] = sanitise(x[i]) - a * sanitise(x[i - 1]);
}

/* The frame is complete (frame_fill == frame_target): computes it and slides by one hop. */
static void frame_complete(instrid_frontend *fe, float *mel_out)
{
  const uint32_t hop = fe->params.hop_samples;
  if (!fe->started) {
    /* First centred frame: samples 0 .. half sit at frame[half .. 2 half]; the frame's first
     * half is the reflection x[-j] = x[j], i.e. frame[i] = frame[2 half - i]. */
    uint32_t half = fe->params.n_fft / 2;
    for (uint32_t i = 0; i < half; i++)
      fe->frame[i] = fe->frame[2 * half - i];
    fe->started = 1;
  }
  frame_features(fe, mel_out);
  /* Slide by one hop: the next frame starts hop samples later and shares the rest. The window
   * moves on in its buffer; only at the buffer's end are the shared samples (n_fft - hop
   * floats, or one more after the first centred frame) copied back to its start, once per
   * FRAME_SLIDE_HOPS frames instead of once per frame. */
  const size_t keep = (size_t)fe->frame_target - hop;
  if (fe->frame + hop + fe->params.n_fft + 1 <= fe->frame_buf + frame_buf_floats(&fe->params))
    fe->frame += hop;
  else {
    memmove(fe->frame_buf, fe->frame + hop, keep * sizeof(float));
    fe->frame = fe->frame_buf;
  }
  fe->frame_fill = fe->frame_target - hop;
  fe->frame_target = fe->params.n_fft;
}

size_t instrid_frontend_process(instrid_frontend *fe, const float *x, size_t n, float *mel_out,
                                int *frame_ready)
{
  *frame_ready = 0;
  if (fe->flushing)
    instrid_frontend_reset(fe); /* the stream ended with a flush: this is a new one */
  size_t primed = 0;
  const float a = fe->emphasis;
  if (a != 0.0f && !fe->have_prev && n > 0) {
    /* The stream's first sample only primes the filter (EfficientAT: conv1d, no padding). */
    fe->prev = sanitise(x[0]);
    fe->have_prev = 1;
    x++;
    n--;
    primed = 1;
  }
  size_t want = fe->frame_target - fe->frame_fill;
  size_t take = n < want ? n : want;
  float *dst = fe->frame + fe->frame_fill;
  if (a == 0.0f) {
    for (size_t i = 0; i < take; i++)
      dst[i] = sanitise(x[i]);
  } else if (take > 0) {
    emphasise(x, take, a, fe->prev, dst);
    fe->prev = sanitise(x[take - 1]);
  }
  fe->frame_fill += (uint32_t)take;

  if (fe->frame_fill == fe->frame_target) {
    frame_complete(fe, mel_out);
    *frame_ready = 1;
  }
  return take + primed;
}

int instrid_frontend_flush(instrid_frontend *fe, float *mel_out)
{
  if (fe->flushing == 2)
    return 0;
  if (!fe->params.center || !fe->started) {
    fe->flushing = 2; /* nothing to add; the stream has ended all the same */
    return 0;
  }
  const uint32_t n_fft = fe->params.n_fft, half = n_fft / 2;
  if (!fe->flushing) {
    /* The reflected end x[N - 1 + j] = x[N - 1 - j], j = 1 .. half. Once started, the buffer
     * holds at least n_fft - hop >= half + 1 of the last samples (params_check). */
    for (uint32_t j = 0; j < half; j++)
      fe->tail[j] = fe->frame[fe->frame_fill - 2 - j];
    fe->tail_len = half;
    fe->tail_pos = 0;
    fe->flushing = 1;
  }
  uint32_t want = n_fft - fe->frame_fill, left = fe->tail_len - fe->tail_pos;
  uint32_t take = left < want ? left : want;
  memcpy(fe->frame + fe->frame_fill, fe->tail + fe->tail_pos, take * sizeof(float));
  fe->frame_fill += take;
  fe->tail_pos += take;
  if (fe->frame_fill == n_fft) {
    frame_complete(fe, mel_out);
    return 1;
  }
  fe->flushing = 2;
  return 0;
}
