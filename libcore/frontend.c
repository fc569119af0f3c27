/* frontend.c — streaming log-mel front end: windowed real FFT (FFTW, single precision) of
 * frames that start every hop_samples, a sparse mel filterbank, log and normalisation. */
#include <float.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>

#include <fftw3.h>

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

  float *window;          /* (n_fft) win_length samples of window centred in zeros */
  float *frame;           /* (n_fft) samples of the frame being filled, sanitised */
  uint32_t frame_fill;    /* samples of frame already filled */
  float *fft_in;          /* (n_fft) windowed frame: the plan's input */
  fftwf_complex *fft_out; /* (n_bins) the plan's output */
  float *spectrum;        /* (n_bins) |X|^power */
  fftwf_plan plan;

  /* Mel filterbank, stored sparsely: band m weighs bins band_first_bin[m] ..
   * band_first_bin[m] + band_n_bins[m] - 1 with weights[band_weight_offset[m] + j]. A triangle
   * spans a few bins out of thousands, so this is n_bins/n_mels times less work than dense. */
  uint32_t *band_first_bin;     /* (n_mels) */
  uint32_t *band_n_bins;        /* (n_mels) may be 0: a band narrower than a bin spacing */
  uint32_t *band_weight_offset; /* (n_mels) */
  float *weights;               /* (sum of band_n_bins) */
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
  if (p->mel_scale != INSTRID_MEL_SLANEY && p->mel_scale != INSTRID_MEL_HTK)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "mel_scale %u is not a mel scale (0 slaney, 1 htk)", p->mel_scale);
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
  return INSTRID_OK;
}

float instrid_frontend_silence_value(const instrid_frontend_params *params)
{
  if (!params)
    return 0.0f;
  /* The same expression as the last step of frame_features(), so that a frame of digital
   * silence compares equal to this value, not merely close to it. */
  return (logf(params->log_floor) - params->feature_mean) / params->feature_std;
}

/* ------------------------------------------------------------------------------------------ */
/* Window and mel filterbank (built once, in double precision)                                  */

static void window_fill(float *window, const instrid_frontend_params *p)
{
  /* Periodic window (denominator win_length, not win_length - 1), as scipy's
   * get_window(..., fftbins=True) and librosa; centred like librosa's pad_center. */
  const double a0 = p->window == INSTRID_WINDOW_HAMMING ? 0.54 : 0.5;
  const double two_pi = 2.0 * 3.14159265358979323846;
  uint32_t offset = (p->n_fft - p->win_length) / 2;
  for (uint32_t i = 0; i < p->win_length; i++)
    window[offset + i] = (float)(a0 - (1.0 - a0) * cos(two_pi * i / p->win_length));
}

/* Slaney's Auditory Toolbox scale (librosa's default, htk=False): linear below 1 kHz at
 * 200/3 Hz per mel, logarithmic above at 27 mels per factor 6.4. */
#define SLANEY_HZ_PER_MEL (200.0 / 3.0)
#define SLANEY_BREAK_HZ 1000.0
#define SLANEY_BREAK_MEL (SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL)
#define SLANEY_LOG_STEP (0.06875177742094912) /* log(6.4) / 27 */

static double hz_to_mel(double hz, uint32_t scale)
{
  if (scale == INSTRID_MEL_HTK)
    return 2595.0 * log10(1.0 + hz / 700.0);
  if (hz < SLANEY_BREAK_HZ)
    return hz / SLANEY_HZ_PER_MEL;
  return SLANEY_BREAK_MEL + log(hz / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP;
}

static double mel_to_hz(double mel, uint32_t scale)
{
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

/* Builds the sparse filterbank: first pass finds each band's non-zero bins, second fills. */
static instrid_status filterbank_build(instrid_frontend *fe, instrid_error *err)
{
  const instrid_frontend_params *p = &fe->params;
  size_t n_weights = 0;
  for (uint32_t m = 0; m < p->n_mels; m++) {
    double lo = mel_edge_hz(p, m), centre = mel_edge_hz(p, m + 1), hi = mel_edge_hz(p, m + 2);
    double norm = p->mel_norm == INSTRID_MELNORM_SLANEY ? 2.0 / (hi - lo) : 1.0;
    uint32_t first = 0, n = 0;
    for (uint32_t k = 0; k < fe->n_bins; k++) {
      if (triangle_weight(bin_hz(p, k), lo, centre, hi, norm) > 0.0) {
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
  if (!fe->weights)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "mel filterbank: %zu weights", n_weights);
  for (uint32_t m = 0; m < p->n_mels; m++) {
    double lo = mel_edge_hz(p, m), centre = mel_edge_hz(p, m + 1), hi = mel_edge_hz(p, m + 2);
    double norm = p->mel_norm == INSTRID_MELNORM_SLANEY ? 2.0 / (hi - lo) : 1.0;
    float *w = fe->weights + fe->band_weight_offset[m];
    for (uint32_t j = 0; j < fe->band_n_bins[m]; j++)
      w[j] = (float)triangle_weight(bin_hz(p, fe->band_first_bin[m] + j), lo, centre, hi, norm);
  }
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifetime                                                                                     */

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
  fe->frame = instrid_alloc_floats(n_fft);
  fe->fft_in = instrid_alloc_floats(n_fft);
  fe->spectrum = instrid_alloc_floats(fe->n_bins);
  fe->fft_out = fftwf_alloc_complex(fe->n_bins);
  fe->band_first_bin = calloc(n_mels, sizeof *fe->band_first_bin);
  fe->band_n_bins = calloc(n_mels, sizeof *fe->band_n_bins);
  fe->band_weight_offset = calloc(n_mels, sizeof *fe->band_weight_offset);
  if (!fe->window || !fe->frame || !fe->fft_in || !fe->spectrum || !fe->fft_out ||
      !fe->band_first_bin || !fe->band_n_bins || !fe->band_weight_offset) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "front end: out of memory for n_fft %u", n_fft);
    goto fail;
  }
  window_fill(fe->window, params);
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
  instrid_free_aligned(fe->frame);
  instrid_free_aligned(fe->fft_in);
  instrid_free_aligned(fe->spectrum);
  instrid_free_aligned(fe->weights);
  free(fe->band_first_bin);
  free(fe->band_n_bins);
  free(fe->band_weight_offset);
  free(fe);
}

void instrid_frontend_reset(instrid_frontend *fe)
{
  if (!fe)
    return;
  fe->frame_fill = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Processing                                                                                   */

/* One complete frame in fe->frame -> n_mels features. */
static void frame_features(instrid_frontend *fe, float *mel_out)
{
  const instrid_frontend_params *p = &fe->params;
  for (uint32_t i = 0; i < p->n_fft; i++)
    fe->fft_in[i] = fe->frame[i] * fe->window[i];
  fftwf_execute(fe->plan);

  if (p->power == 2.0f) {
    for (uint32_t k = 0; k < fe->n_bins; k++) {
      float re = fe->fft_out[k][0], im = fe->fft_out[k][1];
      fe->spectrum[k] = re * re + im * im;
    }
  } else {
    for (uint32_t k = 0; k < fe->n_bins; k++) {
      float re = fe->fft_out[k][0], im = fe->fft_out[k][1];
      fe->spectrum[k] = sqrtf(re * re + im * im);
    }
  }

  for (uint32_t m = 0; m < p->n_mels; m++) {
    const float *w = fe->weights + fe->band_weight_offset[m];
    const float *s = fe->spectrum + fe->band_first_bin[m];
    float energy = 0.0f;
    for (uint32_t j = 0; j < fe->band_n_bins[m]; j++)
      energy += w[j] * s[j];
    /* Finite input loud enough (|x| around 1e17 and up) overflows the float FFT to Inf or
     * NaN; call that the loudest representable energy so that features stay finite. */
    if (!(energy <= FLT_MAX))
      energy = FLT_MAX;
    float floored = energy > p->log_floor ? energy : p->log_floor;
    mel_out[m] = (logf(floored) - p->feature_mean) / p->feature_std;
  }
}

size_t instrid_frontend_process(instrid_frontend *fe, const float *x, size_t n, float *mel_out,
                                int *frame_ready)
{
  *frame_ready = 0;
  const uint32_t n_fft = fe->params.n_fft, hop = fe->params.hop_samples;
  size_t want = n_fft - fe->frame_fill;
  size_t take = n < want ? n : want;
  float *dst = fe->frame + fe->frame_fill;
  for (size_t i = 0; i < take; i++) {
    float v = x[i];
    /* One NaN or Inf would poison a whole frame through the FFT; mapping them to 0 and the
     * full-scale value keeps the stream usable after a glitch. */
    if (!isfinite(v))
      v = isnan(v) ? 0.0f : (v > 0.0f ? 1.0f : -1.0f);
    dst[i] = v;
  }
  fe->frame_fill += (uint32_t)take;

  if (fe->frame_fill == n_fft) {
    frame_features(fe, mel_out);
    *frame_ready = 1;
    /* Slide by one hop: the next frame starts hop samples later and shares the rest. The copy
     * is n_fft - hop floats, small beside the FFT, and keeps the FFT input contiguous. */
    memmove(fe->frame, fe->frame + hop, (size_t)(n_fft - hop) * sizeof(float));
    fe->frame_fill = n_fft - hop;
  }
  return take;
}
