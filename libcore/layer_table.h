/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_table.h — one entry per layer type (darknet's per-layer table, llm.c's _forward /
 * _backward pairs with the shapes in the arguments). An entry holds everything the library and
 * the trainer know about a type: its named parameters (read from the file's p[10] / f0), the
 * model-file checks and shape inference, its tensors (role, dims, initialisation, decay), the
 * forward pass and the backward pass. model.c (checks, tensors, inference plan), net.c (the
 * channels-first steps) and the trainer (trainer/netgrad.c) iterate this table; adding a layer
 * type is one entry in libcore/layers/ plus its gradient test.
 *
 * Activations are (N, C, H, W) row-major, channels first. Nothing here allocates: scratch and
 * training state come from the caller, sized by the entry's functions.
 * Not installed: libinstrid's internal surface for its own tools and trainer.
 */
#ifndef INSTRID_LAYER_TABLE_H
#define INSTRID_LAYER_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The named parameters of each type; p[i] / f0 in the model file, in this field order. */
typedef struct {
  uint32_t c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups; /* p[0..9] */
} instrid_conv2d_params;
typedef struct {
  float eps; /* f0 */
} instrid_batchnorm_params;
typedef struct {
  uint32_t kh, kw, sh, sw; /* p[0..3] */
} instrid_pool2d_params;
typedef struct {
  uint32_t axes, mode; /* p[0], p[1]: INSTRID_AXIS_* flags, INSTRID_POOL_* */
} instrid_global_pool_params;
typedef struct {
  uint32_t out_features; /* p[0] */
} instrid_dense_params;
typedef struct {
  float p; /* f0: drop probability */
} instrid_dropout_params;
typedef struct {
  uint32_t squeeze; /* p[0]: channels of the bottleneck */
} instrid_squeeze_excite_params;
typedef struct {
  uint32_t back; /* p[0]: y = x + the input of layer (this index - back). In an inference plan
                    (instrid_step) the value is remapped to step indices. */
} instrid_residual_add_params;
typedef struct {
  uint32_t out;  /* p[0]: classes C; the input is C class values then the source values */
  uint32_t mode; /* p[1]: INSTRID_BLEND_LINEAR (0) or INSTRID_BLEND_NOISY_OR (1) */
} instrid_blend_mapped_params;

typedef union {
  instrid_conv2d_params conv;
  instrid_batchnorm_params bn;
  instrid_pool2d_params pool;
  instrid_global_pool_params gpool;
  instrid_dense_params dense;
  instrid_dropout_params dropout;
  instrid_squeeze_excite_params se;
  instrid_residual_add_params residual;
  instrid_blend_mapped_params blend;
} instrid_layer_params;

/* Tensor roles as the model file stores them (model_file.h). */
enum {
  INSTRID_TENSOR_WEIGHT = 0,
  INSTRID_TENSOR_BIAS = 1,
  INSTRID_TENSOR_GAMMA = 2,
  INSTRID_TENSOR_BETA = 3,
  INSTRID_TENSOR_RUNNING_MEAN = 4,
  INSTRID_TENSOR_RUNNING_VAR = 5,
};

/* How a fresh network initialises a tensor. HE: uniform in +-sqrt(6 / fan_in), fan_in =
 * count / dims[0]; the others constants. */
typedef enum {
  INSTRID_INIT_HE = 0,
  INSTRID_INIT_ZERO = 1,
  INSTRID_INIT_ONE = 2,
} instrid_init_kind;

typedef struct {
  uint32_t role;
  uint32_t ndims;
  uint32_t dims[4];
  uint64_t count;   /* product of dims (0 when ndims is 0) */
  int init;         /* instrid_init_kind */
  int decay;        /* weight decay applies (weights, not biases or norms) */
  int trainable;    /* 0: updated by the forward pass (batch-norm running statistics) */
  int non_negative; /* the file's values must be >= 0 (variances) */
} instrid_tensor_spec;

/* What a check sees: the layer's index and input shape, and every earlier output shape (for
 * layers that reach back, like RESIDUAL_ADD). */
typedef struct {
  uint32_t index;
  instrid_shape in;
  instrid_shape input;              /* the network's input */
  const instrid_shape *outs;        /* outs[j], j < index: output of layer j */
  const instrid_layer_desc *layers; /* the whole list (layers[index] is this one) */
} instrid_layer_ctx;

/* Arguments of a forward pass over a batch of n examples. */
typedef struct {
  int n;
  const float *const *t; /* the layer's tensors, in the entry's order (at inference a CONV2D's
                            weight and bias have its batch norm folded in) */
  const float *x;        /* (n, in) */
  float *y;              /* (n, out); may be x for entries with INSTRID_LAYER_IN_PLACE */
  const float *skip;     /* RESIDUAL_ADD: (n, out), the input of the layer `back` before */
  float *scratch;        /* scratch_floats(.., backward = 0) floats */
  float *state;          /* training: state_floats floats kept for backward; NULL at inference */
  int training;          /* batch statistics, dropout; else inference behaviour */
  uint64_t *rng;         /* dropout draws (training only): uniform(rng) in [0, 1) */
  float (*uniform)(uint64_t *rng);
} instrid_layer_fwd;

/* Arguments of a backward pass for the last forward (same n). Parameter gradients ACCUMULATE
 * into dt; dx (may be NULL: not wanted) is written, except dskip which accumulates. */
typedef struct {
  int n;
  const float *const *t; /* the tensors the forward used (unfolded) */
  float *const *dt;      /* their gradients, same layout */
  const float *x;        /* the forward's input; NOT valid for TRAIN_IN_PLACE entries */
  const float *y;        /* the forward's output */
  const float *dy;       /* (n, out) */
  float *dx;             /* (n, in) or NULL */
  float *dskip;          /* RESIDUAL_ADD: (n, out), accumulates */
  float *scratch;        /* scratch_floats(.., backward = 1) floats */
  const float *state;    /* what the forward left */
  int training;          /* whether that forward was in training mode */
} instrid_layer_bwd;

enum {
  /* forward may run with y == x (element by element, or it reads x before writing y) */
  INSTRID_LAYER_IN_PLACE = 1,
  /* backward does not read x, so training may run the forward in place too */
  INSTRID_LAYER_TRAIN_IN_PLACE = 2,
  /* backward reads y: the layer after must not overwrite it in place */
  INSTRID_LAYER_BACKWARD_READS_Y = 4,
};

typedef struct instrid_layer_entry {
  uint32_t type; /* instrid_layer_type */
  const char *name;
  unsigned n_int_params; /* p[0..n) are read; the rest must be 0 */
  int uses_f0;           /* else f0 must be 0 */
  unsigned n_tensors;
  unsigned flags; /* INSTRID_LAYER_* */
  void (*unpack)(const instrid_layer_desc *d, instrid_layer_params *p);
  /* Checks p against ctx (ranges, fit to the input) and gives the output shape. The generic
   * checks (unused p[] and f0 zero, output and parameter limits) are done by the caller. */
  instrid_status (*check)(const instrid_layer_params *p, const instrid_layer_ctx *ctx,
                          instrid_shape *out, instrid_error *err);
  /* Tensor k < n_tensors for input shape in (only after check passed). NULL when none. */
  void (*tensor)(const instrid_layer_params *p, instrid_shape in, unsigned k,
                 instrid_tensor_spec *t);
  /* Multiply-adds times 2 of one example's forward; NULL: 0. */
  double (*flops)(const instrid_layer_params *p, instrid_shape in, instrid_shape out);
  /* Scratch floats for a batch of up to max_batch (forward: backward = 0); NULL: 0. SIZE_MAX on
   * overflow. */
  size_t (*scratch_floats)(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                           int max_batch, int backward);
  /* Training state floats for a batch of up to max_batch; NULL: 0. */
  size_t (*state_floats)(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                         int max_batch);
  void (*forward)(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                  const instrid_layer_fwd *a);
  void (*backward)(const instrid_layer_params *p, instrid_shape in, instrid_shape out,
                   const instrid_layer_bwd *a);
} instrid_layer_entry;

/* The entry of a type, NULL when the library does not know it. */
const instrid_layer_entry *instrid_layer_entry_find(uint32_t type);
/* Entries i = 0, 1, ... until NULL. */
const instrid_layer_entry *instrid_layer_entry_at(size_t i);

/* The entries, one per file in libcore/layers/. */
extern const instrid_layer_entry instrid_layer_conv2d;
extern const instrid_layer_entry instrid_layer_batchnorm;
extern const instrid_layer_entry instrid_layer_relu;
extern const instrid_layer_entry instrid_layer_maxpool;
extern const instrid_layer_entry instrid_layer_avgpool;
extern const instrid_layer_entry instrid_layer_global_pool;
extern const instrid_layer_entry instrid_layer_dense;
extern const instrid_layer_entry instrid_layer_sigmoid;
extern const instrid_layer_entry instrid_layer_dropout;
extern const instrid_layer_entry instrid_layer_hardswish;
extern const instrid_layer_entry instrid_layer_squeeze_excite;
extern const instrid_layer_entry instrid_layer_residual_add;
extern const instrid_layer_entry instrid_layer_embedding;
extern const instrid_layer_entry instrid_layer_blend_mapped;

/* Helpers the entries share. */
static inline size_t instrid_shape_floats(instrid_shape s)
{
  return (size_t)s.c * s.h * s.w;
}
/* The generic shape and parameter limits of the model file (model_file.h). */
int instrid_layer_dim_ok(uint64_t v);

#ifdef __cplusplus
}
#endif
#endif /* INSTRID_LAYER_TABLE_H */
