/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* instrid.h — the public API of libinstrid: a streaming log-mel front end, a CNN inference
 * engine and the model file that describes both. Knows nothing of GStreamer.
 *
 * Thread-safety: an instrid_model is immutable once loaded and may be used by any number of
 * threads at once; every other object (instrid_frontend, instrid_net, instrid_stream) belongs
 * to one thread at a time, and two of them never share mutable state.
 *
 * Conventions (libebur128-style): constructors return NULL on failure and fill the
 * instrid_error passed in (which may be NULL); _free functions accept NULL; functions that can
 * fail return an instrid_status and fill the error. Nothing here prints or exits. Each function
 * that can fail lists the codes it returns ("Errors:"); every other function cannot fail.
 */
#ifndef INSTRID_H
#define INSTRID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                       */

typedef enum {
  INSTRID_OK = 0,
  INSTRID_ERR_IO,          /* a file could not be opened, read or written */
  INSTRID_ERR_TRUNCATED,   /* the file ends before the data its header announces */
  INSTRID_ERR_MAGIC,       /* not an instrid model file */
  INSTRID_ERR_VERSION,     /* a model file version this library does not read */
  INSTRID_ERR_CHECKSUM,    /* the stored checksum does not match the contents */
  INSTRID_ERR_FORMAT,      /* a field is out of range or inconsistent with another */
  INSTRID_ERR_NOMEM,       /* an allocation failed or a size overflowed */
  INSTRID_ERR_INVALID_ARG, /* a caller passed a value outside its documented range */
} instrid_status;

#define INSTRID_ERROR_MESSAGE_MAX 256

typedef struct {
  instrid_status code;
  char message[INSTRID_ERROR_MESSAGE_MAX]; /* one line, no trailing newline */
} instrid_error;

/* A static English name for a status ("checksum mismatch", ...). */
const char *instrid_status_name(instrid_status status);

/* ------------------------------------------------------------------------------------------ */
/* Front end: streaming log-mel spectrogram                                                    */

typedef enum { INSTRID_WINDOW_HANN = 0, INSTRID_WINDOW_HAMMING = 1 } instrid_window_kind;
/* MEL_KALDI: 1127 ln(1 + f / 700), triangles in mel space over the FFT bins below Nyquist (the
 * Nyquist bin gets weight 0), as torchaudio.compliance.kaldi.get_mel_banks without VTLN.
 * SLANEY and HTK: triangles in Hz over every bin, as librosa.filters.mel. */
typedef enum {
  INSTRID_MEL_SLANEY = 0,
  INSTRID_MEL_HTK = 1,
  INSTRID_MEL_KALDI = 2
} instrid_mel_scale;
/* MELNORM_SLANEY scales each triangle by 2 / (f_right - f_left) (equal area), as librosa's
 * norm='slaney'. */
typedef enum { INSTRID_MELNORM_NONE = 0, INSTRID_MELNORM_SLANEY = 1 } instrid_mel_norm;
/* LOG_MAX: log(max(E, log_floor)). LOG_ADD: log(E + log_floor) (EfficientAT's log(x + 1e-5)). */
typedef enum { INSTRID_LOG_MAX = 0, INSTRID_LOG_ADD = 1 } instrid_log_mode;

typedef struct {
  uint32_t sample_rate; /* Hz; audio must be resampled to this rate before the front end */
  uint32_t n_fft;       /* FFT size in samples (any size >= 16 FFTW handles) */
  uint32_t win_length;  /* analysis window length in samples, <= n_fft, centred in the FFT */
  uint32_t hop_samples; /* samples between frame starts */
  uint32_t n_mels;      /* mel bands */
  uint32_t window;      /* instrid_window_kind (periodic unless window_symmetric) */
  uint32_t mel_scale;   /* instrid_mel_scale */
  uint32_t mel_norm;    /* instrid_mel_norm */
  float fmin_hz;        /* lowest mel edge */
  float fmax_hz;        /* highest mel edge, <= sample_rate / 2 */
  float power;          /* 1 = magnitude, 2 = power spectrum */
  float log_floor;      /* feature = log(max(mel_energy, log_floor)) (log_mode), natural log */
  float feature_mean;   /* then (feature - feature_mean) / feature_std, so the network sees */
  float feature_std;    /* roughly unit-scale input; 0 and 1 leave features as they are */
  /* Version-2 fields; all 0 gives the version-1 front end above. */
  float preemphasis;         /* a in [0, 1): the front end analyses y[n] = x[n + 1] - a x[n], the
                              * stream's first sample only primes the filter (EfficientAT's
                              * conv1d with kernel (-a, 1), no padding); 0 = off */
  uint32_t window_symmetric; /* 1: symmetric window (denominator win_length - 1), as
                              * torch.hann_window(periodic=False); 0: periodic */
  uint32_t center;           /* 1: frame k is centred on sample k * hop_samples; the start (and,
                              * by instrid_frontend_flush, the end) is reflect-padded by
                              * n_fft / 2, as torch.stft(center=True, pad_mode='reflect') */
  uint32_t log_mode;         /* instrid_log_mode */
  /* Never in a model file (0 there): set by instrid_frontend_params_for_rate to the model's
   * rate. The pre-emphasis is then the one defined at that rate, y(t) = x(t) - a x(t - 1/rate):
   * the filter runs with a^(reference_rate / sample_rate), which has its zero at the same
   * frequency in Hz, and the mel weights carry the ratio of the two filters' power responses
   * at each bin. */
  uint32_t reference_rate;
  /* Never in a model file (0 there): set by instrid_frontend_params_for_rate to log(g), g the
   * ratio of the model rate's energies to this rate's. Each log energy gets it added before
   * the normalisation, (log(E + floor) + log_gain - feature_mean) / feature_std, so features
   * are in the model's units and raw frames (mean 0, std 1) are too: normalised later with the
   * model's mean and std they are bit-identical to this front end's. */
  float log_gain;
} instrid_frontend_params;

/* Frame k covers samples [k * hop_samples, k * hop_samples + n_fft) of the stream since the
 * last reset (no centring, no padding), so the frames are the same whatever the chunking.
 * With center, frame k covers [k * hop_samples - n_fft / 2, ...): the first frame comes once
 * n_fft / 2 + 1 samples have arrived, its missing past reflected (x[-j] = x[j]); at the end of
 * the stream instrid_frontend_flush gives the frames whose future is reflected likewise
 * (x[N - 1 + j] = x[N - 1 - j]), so a whole clip gives 1 + N / hop_samples frames, torch.stft's
 * count. With preemphasis, "samples" are those of the filtered signal, one fewer than the
 * stream's (frame k's samples are input samples k * hop_samples + 1 ..., or with center its
 * centre is input sample k * hop_samples + 1). */
typedef struct instrid_frontend instrid_frontend;

/* Errors: INSTRID_ERR_INVALID_ARG (params NULL), INSTRID_ERR_FORMAT (a field out of range,
 * named), INSTRID_ERR_NOMEM. */
instrid_frontend *instrid_frontend_new(const instrid_frontend_params *params, instrid_error *err);
void instrid_frontend_free(instrid_frontend *fe);
void instrid_frontend_reset(instrid_frontend *fe);
/* Checks every field of params; returns INSTRID_ERR_FORMAT naming the first bad field. */
/* Errors: INSTRID_ERR_INVALID_ARG (params NULL), INSTRID_ERR_FORMAT. */
instrid_status instrid_frontend_params_check(const instrid_frontend_params *params,
                                             instrid_error *err);

/* Consumes samples from x until one frame is complete or x is exhausted and returns how many
 * it consumed. When a frame completes, its n_mels features go to mel_out and *frame_ready is
 * set to 1 (else 0). NaN becomes 0 and +-Inf is clamped to +-1 on the way in. Call in a loop:
 *   while (n > 0) { size_t k = instrid_frontend_process(fe, x, n, mel, &ready); x += k; n -= k;
 * ...} Never allocates. */
size_t instrid_frontend_process(instrid_frontend *fe, const float *x, size_t n, float *mel_out,
                                int *frame_ready);

/* At end of stream: with center, gives the frames that reach past the last sample, one per
 * call (returns 1 and fills mel_out), then returns 0; without center, or when fewer than
 * n_fft / 2 + 1 samples arrived (too short to reflect, where torch.stft fails), returns 0.
 * Ends the stream: the next sample pushed starts a new one, as after instrid_frontend_reset. */
int instrid_frontend_flush(instrid_frontend *fe, float *mel_out);

/* The parameters the front end runs with. */
const instrid_frontend_params *instrid_frontend_get_params(const instrid_frontend *fe);

/* The value a frame of digital silence produces in every band (log_floor, normalised). */
float instrid_frontend_silence_value(const instrid_frontend_params *params);

/* EfficientAT's front end (its models' AugmentMelSTFT at inference): 32 kHz, pre-emphasis 0.97,
 * n_fft 1024, symmetric Hann window of 800 samples centred in the FFT, hop 320, center, power 2,
 * 128 Kaldi mel bands from 0 to 15000 Hz, log(E + 1e-5), then (x + 4.5) / 5 (feature_mean -4.5,
 * feature_std 5). */
void instrid_frontend_params_efficientat(instrid_frontend_params *params);

/* The at-input-rate mode: a front end for audio at input_rate that computes what `model` (the
 * model's front end) computes at its own rate, without resampling: the same window and hop
 * durations (win_length and hop_samples scaled and rounded), n_fft scaled and rounded to the
 * nearest size >= win_length of FFTW's fast form 2^a 3^b 5^c 7^d 11^e 13^f (e + f <= 1):
 * 1408 at 44.1 kHz, 1536 at 48 kHz for 1024 at 32 kHz; the same mel bands in Hz
 * built on this FFT's bins, the model rate's pre-emphasis (reference_rate), and the scale of
 * the energies matched (log_floor and log_gain absorb it exactly). The hop is rounded, so
 * frames drift from the model's timing when input_rate * hop_samples is not a multiple of the
 * model's rate (it is at 44.1 and 48 kHz for hop 320 at 32 kHz). input_rate == sample_rate copies
 * `model`. Errors: INSTRID_ERR_INVALID_ARG (NULL, input_rate outside 1000..384000 Hz or with its
 * Nyquist below fmax_hz, model already derived), INSTRID_ERR_FORMAT (model fails
 * instrid_frontend_params_check). */
/* Errors: INSTRID_ERR_INVALID_ARG (NULL, a rate out of range), INSTRID_ERR_FORMAT (model params
 * invalid). */
instrid_status instrid_frontend_params_for_rate(const instrid_frontend_params *model,
                                                uint32_t input_rate, instrid_frontend_params *out,
                                                instrid_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Network architecture                                                                         */

/* Activations are (C, H, W) row-major per example: C channels, H = frequency (mel bands),
 * W = time (frames). The network's input is (1, n_mels, window_frames). */
typedef enum {
  INSTRID_LAYER_CONV2D = 1,      /* p: c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups
                                    tensors: weight (c_out, c_in/groups, kh, kw), bias (c_out) */
  INSTRID_LAYER_BATCHNORM = 2,   /* f0: eps. tensors: gamma, beta, running_mean, running_var (C).
                                    Folded into the preceding CONV2D at load when there is one. */
  INSTRID_LAYER_RELU = 3,        /* no parameters */
  INSTRID_LAYER_MAXPOOL = 4,     /* p: kh, kw, sh, sw (no padding; floor) */
  INSTRID_LAYER_AVGPOOL = 5,     /* p: kh, kw, sh, sw (no padding; floor) */
  INSTRID_LAYER_GLOBAL_POOL = 6, /* p: axes (INSTRID_AXIS_*), mode (INSTRID_POOL_*) */
  INSTRID_LAYER_DENSE = 7,       /* p: out_features. input is flattened (C*H*W).
                                    tensors: weight (out, in), bias (out) */
  INSTRID_LAYER_SIGMOID = 8,     /* no parameters */
  INSTRID_LAYER_DROPOUT = 9,     /* f0: drop probability; identity at inference */
  INSTRID_LAYER_HARDSWISH = 10,  /* no parameters: y = x * relu6(x + 3) / 6 */
  INSTRID_LAYER_SQUEEZE_EXCITE = 11, /* p: squeeze channels S. tensors: w1 (S, C), b1 (S),
                                        w2 (C, S), b2 (C). s = mean of each channel over H, W;
                                        h = relu(w1 s + b1); g = sigmoid(w2 h + b2);
                                        y[c] = x[c] * g[c] */
  INSTRID_LAYER_RESIDUAL_ADD = 12,   /* p: back (>= 1): y = x + the input of layer (i - back), i
                                        this layer's index; the shapes must match */
  INSTRID_LAYER_EMBEDDING = 13,      /* no parameters; identity that marks its input as the window's
                                        embedding (instrid_result.embedding); at most one */
  INSTRID_LAYER_BLEND_MAPPED = 14,   /* p: classes C, mode; input C class values then S source
                                        values. tensors: map (C, S) (source j names class c when
                                        > 0), gamma (C). With m_c the max of the sources naming c,
                                        mode INSTRID_BLEND_LINEAR (0):
                                          y_c = gamma_c x_c + (1 - gamma_c) m_c,
                                        mode INSTRID_BLEND_NOISY_OR (1):
                                          y_c = 1 - (1 - x_c)^gamma_c (1 - m_c)^(1 - gamma_c);
                                        y_c = x_c when no source names c */
} instrid_layer_type;

/* BLEND_MAPPED's combination (p[1]). Files written before the noisy-OR existed hold 0. */
enum { INSTRID_BLEND_LINEAR = 0, INSTRID_BLEND_NOISY_OR = 1 };

enum { INSTRID_AXIS_FREQ = 1, INSTRID_AXIS_TIME = 2 }; /* bit flags, both = 3 */
enum {
  INSTRID_POOL_MEAN = 0,
  INSTRID_POOL_MAX = 1,
  INSTRID_POOL_MEAN_MAX_CONCAT = 2, /* (mean, max) stacked along channels: C -> 2C */
  INSTRID_POOL_MEAN_PLUS_MAX = 3,   /* mean + max, elementwise */
};

#define INSTRID_LAYER_PARAMS 10
#define INSTRID_MAX_LAYERS 256

typedef struct {
  uint32_t type;                    /* instrid_layer_type */
  uint32_t p[INSTRID_LAYER_PARAMS]; /* integer parameters, meaning by type; unused are 0 */
  float f0;                         /* float parameter, meaning by type */
} instrid_layer_desc;

typedef struct {
  uint32_t c, h, w;
} instrid_shape;

/* Output shape of every layer for an input of (1, n_mels, window_frames): out[i] is the shape
 * after layer i. Returns INSTRID_ERR_FORMAT when a layer does not fit its input. */
/* Errors: INSTRID_ERR_INVALID_ARG (layers or out NULL), INSTRID_ERR_FORMAT. */
instrid_status instrid_arch_shapes(const instrid_layer_desc *layers, uint32_t n_layers,
                                   instrid_shape input, instrid_shape *out, instrid_error *err);

/* Number of float parameters layer i owns, given its input shape (0 for parameterless). */
size_t instrid_layer_param_count(const instrid_layer_desc *layer, instrid_shape in);

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                        */

#define INSTRID_MAX_CLASSES 1024
#define INSTRID_MAX_CLASS_NAME 63

/* Everything a model file holds, as plain memory. Used to write a model (the tests and the
 * trainer build one) and to read a loaded model's description back. */
typedef struct {
  instrid_frontend_params frontend;
  uint32_t window_frames; /* W: frames per network window */
  uint32_t hop_frames;    /* H: default frames between window starts */
  uint32_t n_classes;
  const char *const *class_names; /* n_classes names, each 1..63 bytes, printable ASCII */
  const float *thresholds;        /* n_classes decision thresholds in [0, 1] */
  const char *provenance;         /* free text: training command, data, figures; may be NULL */
  uint32_t n_layers;
  const instrid_layer_desc *layers;
  /* All parameters, layer after layer in order, each layer's tensors in the order listed in
   * instrid_layer_type, each tensor row-major. Length: sum of instrid_layer_param_count. */
  const float *params;
  size_t n_params;
} instrid_model_desc;

/* Total parameter count of an architecture (checks the shapes too). */
/* Errors: INSTRID_ERR_INVALID_ARG, INSTRID_ERR_FORMAT. */
instrid_status instrid_model_desc_param_count(const instrid_model_desc *desc, size_t *n_params,
                                              instrid_error *err);

/* Serialises desc to path atomically (path.tmp.<pid>, fsync, rename). A write first removes the
 * path.tmp.<pid> files of processes that no longer exist (writers killed before their rename);
 * those of live processes are left alone. */
/* Errors: INSTRID_ERR_INVALID_ARG (NULL, n_params mismatch), INSTRID_ERR_FORMAT (a field or
 * value the reader would refuse), INSTRID_ERR_NOMEM, INSTRID_ERR_IO. */
instrid_status instrid_model_write(const instrid_model_desc *desc, const char *path,
                                   instrid_error *err);
/* Serialises to a malloc'ed buffer (*data, *size) the caller frees with free(). */
/* Errors: INSTRID_ERR_INVALID_ARG, INSTRID_ERR_FORMAT, INSTRID_ERR_NOMEM. */
instrid_status instrid_model_write_to_memory(const instrid_model_desc *desc, void **data,
                                             size_t *size, instrid_error *err);

typedef struct instrid_model instrid_model;

/* Loads and checks a model file: every size and count is checked before use, the checksum is
 * verified, batch norm is folded into convolutions. */
/* Errors (both loaders): INSTRID_ERR_INVALID_ARG (path/data NULL), INSTRID_ERR_IO (open, stat,
 * read; not a regular file), INSTRID_ERR_TRUNCATED, INSTRID_ERR_MAGIC, INSTRID_ERR_VERSION,
 * INSTRID_ERR_CHECKSUM, INSTRID_ERR_FORMAT (any field, count, tensor or limit),
 * INSTRID_ERR_NOMEM. */
instrid_model *instrid_model_load(const char *path, instrid_error *err);
instrid_model *instrid_model_load_from_memory(const void *data, size_t size, instrid_error *err);
void instrid_model_free(instrid_model *model);

/* The model's description, as stored in the file (unfolded parameters). Valid while the model
 * lives. */
const instrid_model_desc *instrid_model_get_desc(const instrid_model *model);
uint32_t instrid_model_n_classes(const instrid_model *model);
const char *instrid_model_class_name(const instrid_model *model, uint32_t i);
float instrid_model_threshold(const instrid_model *model, uint32_t i);
uint32_t instrid_model_sample_rate(const instrid_model *model);
uint32_t instrid_model_window_frames(const instrid_model *model);
uint32_t instrid_model_hop_frames(const instrid_model *model);
uint32_t instrid_model_hop_samples(const instrid_model *model);   /* frontend hop */
const char *instrid_model_provenance(const instrid_model *model); /* "" when none */
/* Values in a window's embedding (the input of the EMBEDDING layer); 0 when the model has no
 * EMBEDDING layer. */
uint32_t instrid_model_embedding_size(const instrid_model *model);

/* ------------------------------------------------------------------------------------------ */
/* Resource limits                                                                              */

/* Each field of a model file has its own range (model_file.h); these limit the totals the
 * fields multiply into, so that a valid file cannot make its host allocate gigabytes or fall
 * far behind real time. instrid_model_load refuses a model over any of them with
 * INSTRID_ERR_FORMAT and a message naming the limit and the model's figure; instrid_model_write
 * does not apply them (they are what this library affords a stream, not part of the format).
 *
 * INSTRID_MAX_STREAM_BYTES: memory one stream of the model needs: the front end, the ring of
 *   W frames and the window, the network's two activation buffers (each the largest
 *   activation), its scratch and packed convolution weights, plus a queue of two windows of
 *   samples (what the GStreamer element keeps). The model's own weights are shared by all
 *   streams and bounded by the file size (MODEL_FILE_MAX_BYTES, 1 GiB).
 * INSTRID_MAX_OPS_PER_SECOND: arithmetic operations per second of audio at the model's own
 *   hop: the front end's per frame (window, FFT, mel bands) times frames per second, plus the
 *   network's per window (2 per multiply-add, 1 per element read by a pool, ...) times
 *   windows per second (sample_rate / (hop_samples * hop_frames)).
 * INSTRID_MAX_OPS_PER_SECOND_MIN_HOP: the same at a hop of one frame, the smallest
 *   instrid_stream_set_hop_frames (and the element's interval) allows.
 *
 * Headroom (`instrid-model-cost FILE` prints a file's figures): the default model needs 2 MiB
 * per stream and 0.03 G operations per second of audio at its hop (1.9 G at a one-frame hop);
 * the imported EfficientAT mn04 (128 mel bands, 10 ms hop, 527 classes) 65 MiB (mostly the
 * scratch bound, which counts a whole im2col per convolution), 0.03 G per second at its hop
 * and 8.4 G at a one-frame hop. A network 20 times mn04's compute stays inside the operation
 * limits; memory allows 7 times mn04's. Refused (tests/greedy_models.h): a 32 GiB queue, 2 GiB
 * of activations, 6.9 GB of scratch, 170 G operations per second (100 times slower than real
 * time). */
#define INSTRID_MAX_STREAM_BYTES ((uint64_t)512 << 20) /* 512 MiB */
#define INSTRID_MAX_OPS_PER_SECOND 2e10                /* 20 G operations per audio second */
#define INSTRID_MAX_OPS_PER_SECOND_MIN_HOP 1e12        /* 1 T operations per audio second */

/* What a model demands of its host, as upper bounds (see the limits above). */
typedef struct {
  double stream_bytes;            /* front end, ring, network buffers of one instrid_stream */
  double queue_bytes;             /* two windows of float samples (the element's queue) */
  double total_bytes;             /* stream_bytes + queue_bytes: INSTRID_MAX_STREAM_BYTES */
  double activation_bytes;        /* of which the network's two activation buffers */
  double scratch_bytes;           /* of which the network's scratch and packed weights */
  double window_ops;              /* operations of one window through the network */
  double frontend_ops_per_second; /* the front end's, per second of audio */
  double ops_per_second;          /* at the model's hop: INSTRID_MAX_OPS_PER_SECOND */
  double ops_per_second_min_hop;  /* at a one-frame hop: INSTRID_MAX_OPS_PER_SECOND_MIN_HOP */
} instrid_model_cost;

/* The cost of a model description (the layers are checked as instrid_arch_shapes does). */
/* Errors: INSTRID_ERR_INVALID_ARG, INSTRID_ERR_FORMAT. */
instrid_status instrid_model_desc_cost(const instrid_model_desc *desc, instrid_model_cost *cost,
                                       instrid_error *err);
/* INSTRID_ERR_FORMAT naming the first limit cost exceeds, else INSTRID_OK. */
/* Errors: INSTRID_ERR_INVALID_ARG (cost NULL), INSTRID_ERR_FORMAT (over a limit, named). */
instrid_status instrid_model_cost_check(const instrid_model_cost *cost, instrid_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Network inference (one window at a time)                                                     */

/* Per-thread scratch for running a model's network; allocated once, reused for every window. */
typedef struct instrid_net instrid_net;

/* Errors: INSTRID_ERR_INVALID_ARG (model NULL), INSTRID_ERR_FORMAT (plan inconsistent),
 * INSTRID_ERR_NOMEM. */
instrid_net *instrid_net_new(const instrid_model *model, instrid_error *err);
void instrid_net_free(instrid_net *net);
/* features: (n_mels, window_frames) row-major, i.e. features[mel * W + t].
 * probabilities: n_classes outputs of the network (in [0,1] when the last layer is SIGMOID).
 * Never allocates. */
void instrid_net_forward(instrid_net *net, const float *features, float *probabilities);
/* The embedding of the last window instrid_net_forward ran (instrid_model_embedding_size
 * values, valid until the next forward), or NULL when the model has no EMBEDDING layer. */
const float *instrid_net_embedding(const instrid_net *net);
/* Multiply-adds the convolutions and dense layers of one window perform, times 2. */
double instrid_net_flops(const instrid_model *model);

/* ------------------------------------------------------------------------------------------ */
/* Streaming classifier: front end + windows + network                                          */

typedef struct {
  uint64_t window_index;      /* 0, 1, 2, ... since the last reset */
  uint64_t start_sample;      /* first sample the window's frames see, at the stream's rate,
                               * since reset (a centred first frame's reflected past clipped) */
  uint64_t length_samples;    /* samples from there to the end of its last frame:
                               * (W - 1) * hop + n_fft unclipped */
  uint32_t n_frames;          /* frames of real audio in it (< W only for a flushed last one) */
  const float *probabilities; /* n_classes values, valid until the next call on the stream */
  const float *embedding;     /* the input of the model's EMBEDDING layer (embedding_size values,
                                 valid as probabilities), or NULL when the model has none */
  uint32_t embedding_size;    /* 0 when embedding is NULL */
} instrid_result;

typedef struct instrid_stream instrid_stream;

/* Errors: INSTRID_ERR_INVALID_ARG (model NULL), INSTRID_ERR_FORMAT, INSTRID_ERR_NOMEM (from the
 * front end and the network). */
instrid_stream *instrid_stream_new(const instrid_model *model, instrid_error *err);
/* The at-input-rate mode: a stream fed at input_rate (not resampled to the model's rate) whose
 * front end is instrid_frontend_params_for_rate(model's front end, input_rate); its results'
 * start_sample and length_samples count input samples. Errors as that function's, and
 * INSTRID_ERR_NOMEM. */
/* Errors: as instrid_stream_new, and INSTRID_ERR_INVALID_ARG for an input rate the front end
 * cannot serve. */
instrid_stream *instrid_stream_new_for_rate(const instrid_model *model, uint32_t input_rate,
                                            instrid_error *err);
/* Moves the stream to input_rate as instrid_stream_new_for_rate would make it (input_rate the
 * model's own rate: the model's front end), keeping its network and hop override, cheaper than
 * a new stream; forgets all audio as instrid_stream_reset. Errors: as
 * instrid_stream_new_for_rate; the stream is then unchanged. */
instrid_status instrid_stream_set_sample_rate(instrid_stream *stream, uint32_t input_rate,
                                              instrid_error *err);
/* The rate the stream expects: the model's, or the input rate it was made for. */
uint32_t instrid_stream_sample_rate(const instrid_stream *stream);
void instrid_stream_free(instrid_stream *stream);
/* Forgets all audio (a DISCONT, a flush, a new segment). Keeps the hop override. */
void instrid_stream_reset(instrid_stream *stream);
/* Frames between window starts, 1..65536; 0 restores the model's default. Takes effect from
 * the next window. */
/* Errors: INSTRID_ERR_INVALID_ARG (hop_frames above 65536). */
instrid_status instrid_stream_set_hop_frames(instrid_stream *stream, uint32_t hop_frames,
                                             instrid_error *err);
uint32_t instrid_stream_get_hop_frames(const instrid_stream *stream);

/* Feeds mono float samples at the model's rate. Consumes samples until a window result is
 * ready or x is exhausted and returns the number consumed; when a window is ready it fills
 * *result and sets *have_result = 1. Call in a loop like instrid_frontend_process. A window's
 * result is ready as soon as its last frame has arrived. Never allocates. */
size_t instrid_stream_push(instrid_stream *stream, const float *x, size_t n, instrid_result *result,
                           int *have_result);

/* At end of stream: when at least min_frames frames arrived after the start of the last window
 * that was not analysed, analyses them as one window padded with silence and returns 1 with
 * *result filled; else returns 0. With a centred front end, first takes the frames of the
 * reflected end (instrid_frontend_flush); when they complete a window, that window is
 * returned (whatever min_frames) and the next call continues. Ends the stream: audio pushed
 * after it starts a new one in the front end, so reset the stream first. */
int instrid_stream_flush(instrid_stream *stream, uint32_t min_frames, instrid_result *result);

/* Samples consumed since the last reset (at the model's rate). */
uint64_t instrid_stream_samples(const instrid_stream *stream);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_H */
