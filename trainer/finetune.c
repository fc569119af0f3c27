/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* finetune.c — instrid-train --init: a new head on an existing model, learning-rate groups,
 * and the frozen-backbone path that trains the head on vectors computed once by libcore. */
#include "finetune.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audioset_map.h"
#include "checkpoint.h"
#include "internal.h"
#include "layers.h"
#include "metrics.h"
#include "netgrad.h"
#include "rng.h"

#define MAX_CACHE_THREADS 16

struct finetune {
  instrid_model *src;
  const instrid_model_desc *sd; /* the source's description (unfolded parameters) */
  finetune_options opt;
  uint32_t n_targets, n_src_classes, n_out;
  uint32_t src_dense; /* index of the source's last DENSE */
  uint32_t own;       /* opt.own_embedding: the doubled DENSE's index, else 0 */
  uint32_t frozen;    /* layers [0, frozen) have learning rate 0 */

  instrid_model_desc arch;
  instrid_layer_desc *layers; /* (arch.n_layers) */
  float *params, *lr_scale;   /* (arch.n_params) */
  size_t *offset;             /* (arch.n_layers + 1): first parameter of each layer */
  instrid_shape *shapes;      /* (arch.n_layers): output of each layer */
  const char **names;         /* (n_out) */
  char (*aux_names)[INSTRID_MAX_CLASS_NAME + 1]; /* (n_src_classes) renamed on a clash */
  uint32_t by_name, by_map, by_random;

  uint32_t split;            /* 0: no frozen-backbone path */
  instrid_model_desc head;   /* layers [split, end) on (1, C, 1) */
  example_source wrap_inner; /* finetune_wrap_source's inner source */
};

void finetune_options_default(finetune_options *o)
{
  memset(o, 0, sizeof *o);
  o->freeze_until = UINT32_MAX;
  o->lr_backbone = 1.0f;
  o->blend = -1.0f;
}

static instrid_status layer_offsets(const instrid_model_desc *d, instrid_shape *shapes,
                                    size_t *offset, instrid_error *err)
{
  instrid_shape input = {1, d->frontend.n_mels, d->window_frames};
  instrid_status s = instrid_arch_shapes(d->layers, d->n_layers, input, shapes, err);
  if (s != INSTRID_OK)
    return s;
  offset[0] = 0;
  for (uint32_t i = 0; i < d->n_layers; i++)
    offset[i + 1] = offset[i] + instrid_layer_param_count(&d->layers[i], i ? shapes[i - 1] : input);
  return INSTRID_OK;
}

static int find_class(const instrid_model_desc *d, const char *name)
{
  for (uint32_t k = 0; k < d->n_classes; k++)
    if (strcmp(d->class_names[k], name) == 0)
      return (int)k;
  return -1;
}

static int elementwise(uint32_t type)
{
  return type == INSTRID_LAYER_HARDSWISH || type == INSTRID_LAYER_RELU ||
         type == INSTRID_LAYER_SIGMOID || type == INSTRID_LAYER_EMBEDDING ||
         type == INSTRID_LAYER_DROPOUT;
}

/* Reshaping the embedding layer e and the head, which hold old_n parameters between them, into
 * new_n: new parameter and learning-rate arrays with everything before e copied (*np, *nl); the
 * caller writes e's and the head's new values after it, then finish_reshape installs them. */
static instrid_status begin_reshape(const finetune *f, uint32_t e, size_t old_n, size_t new_n,
                                    float **np, float **nl, instrid_error *err)
{
  const size_t total = f->arch.n_params - old_n + new_n;
  *np = malloc(sizeof(float) * total);
  *nl = malloc(sizeof(float) * total);
  if (!*np || !*nl) {
    free(*np), free(*nl);
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
  }
  memcpy(*np, f->params, sizeof(float) * f->offset[e]);
  return INSTRID_OK;
}

/* Installs begin_reshape's arrays: e gets `outputs` outputs; offsets and shapes recomputed. */
static instrid_status finish_reshape(finetune *f, uint32_t e, size_t old_n, size_t new_n, float *np,
                                     float *nl, size_t outputs, instrid_error *err)
{
  free(f->params);
  free(f->lr_scale);
  f->params = np;
  f->lr_scale = nl;
  f->arch.params = np;
  f->arch.n_params = f->arch.n_params - old_n + new_n;
  f->layers[e].p[0] = (uint32_t)outputs;
  instrid_status s = layer_offsets(&f->arch, f->shapes, f->offset, err);
  if (s != INSTRID_OK)
    return s;
  if (f->offset[f->arch.n_layers] != f->arch.n_params)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "embedding layer %u reshaped: parameter count mismatch", e);
  return INSTRID_OK;
}

/* The embedding layer *e: the DENSE on a vector before the head with only activations,
 * EMBEDDING and DROPOUT between (mn04's 384 -> 512); an error naming `what` when there is none. */
static instrid_status embedding_layer(finetune *f, const char *init_path, const char *what,
                                      uint32_t *e, instrid_error *err)
{
  uint32_t i = f->src_dense;
  while (i > 0 && elementwise(f->layers[i - 1].type))
    i--;
  *e = i ? i - 1 : 0;
  if (i < 2 || f->layers[*e].type != INSTRID_LAYER_DENSE || f->shapes[*e - 1].h != 1 ||
      f->shapes[*e - 1].w != 1)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "%s: no DENSE on a vector before the head (with only activations, "
                             "EMBEDDING and DROPOUT between): %s",
                             init_path, what);
  return INSTRID_OK;
}

/* opt.own_embedding (finetune.h): doubles the DENSE e before the head, rows [D, 2D) a copy of
 * rows [0, D); the head's weight (n_out, D) becomes (n_out, 2D): target rows read the copy
 * (their columns [0, D) zero), source rows the original (columns [D, 2D) zero). With
 * FINETUNE_OWN_MEAN_MAX the global mean pool before e gives the maxima too (C -> 2C values) and
 * both halves' columns on the maxima start at zero. The network's outputs are unchanged. Sets
 * f->own, f->params, f->arch.n_params, offsets and shapes. */
static instrid_status own_embedding(finetune *f, const char *init_path, instrid_error *err)
{
  uint32_t e;
  instrid_status found = embedding_layer(f, init_path, "no embedding layer to copy", &e, err);
  if (found != INSTRID_OK)
    return found;
  const int with_max = f->opt.own_embedding == FINETUNE_OWN_MEAN_MAX;
  instrid_layer_desc *pool = &f->layers[e - 1];
  if (with_max && (pool->type != INSTRID_LAYER_GLOBAL_POOL || pool->p[1] != INSTRID_POOL_MEAN))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "%s: layer %u before the embedding layer is not a global mean pool: "
                             "no maxima to add",
                             init_path, e - 1);
  const size_t D = f->layers[e].p[0], in = f->shapes[e - 1].c, n_out = f->n_out;
  const size_t in2 = with_max ? 2 * in : in;
  const size_t old_n = D * in + D + n_out * D, new_n = 2 * D * in2 + 2 * D + n_out * 2 * D;
  float *np, *nl;
  instrid_status s = begin_reshape(f, e, old_n, new_n, &np, &nl, err);
  if (s != INSTRID_OK)
    return s;
  const float *W = f->params + f->offset[e], *B = W + D * in;
  const float *H = f->params + f->offset[f->src_dense], *HB = H + n_out * D;
  float *q = np + f->offset[e];
  for (size_t r = 0; r < 2 * D; r++, q += in2) {
    memcpy(q, W + (r % D) * in, sizeof(float) * in);
    memset(q + in, 0, sizeof(float) * (in2 - in));
  }
  memcpy(q, B, sizeof(float) * D);
  memcpy(q + D, B, sizeof(float) * D);
  q += 2 * D;
  for (size_t k = 0; k < n_out; k++, q += 2 * D) {
    int target = k < f->n_targets;
    memset(q + (target ? 0 : D), 0, sizeof(float) * D);
    memcpy(q + (target ? D : 0), H + k * D, sizeof(float) * D);
  }
  memcpy(q, HB, sizeof(float) * n_out);
  if (with_max)
    pool->p[1] = INSTRID_POOL_MEAN_MAX_CONCAT;
  s = finish_reshape(f, e, old_n, new_n, np, nl, 2 * D, err);
  if (s != INSTRID_OK)
    return s;
  f->own = e;
  return INSTRID_OK;
}

/* opt.head_input (finetune.h): the embedding layer e (D outputs on the global pool's C values)
 * gains C rows after its D: an identity with bias 3, so that after its activation (hard-swish
 * or ReLU: x + 3 for every x >= 0; the pool of a hard-swish, x >= -0.375, stays within 0.17 of
 * it) the head reads the pool's values beside the embedding. e stays frozen. The head's weight
 * (n_out, D) becomes (n_out, D + C): target rows keep their D columns (FINETUNE_INPUT_BOTH) or
 * get zeros there that stay (FINETUNE_INPUT_POOL), and start at zero on the C new ones; source
 * rows read the embedding only, so the source outputs and the blend are the source's. Sets
 * f->params, f->arch.n_params, offsets and shapes; *pool_layer = e. */
static instrid_status pool_beside_embedding(finetune *f, const char *init_path,
                                            uint32_t *pool_layer, instrid_error *err)
{
  uint32_t e;
  instrid_status found = embedding_layer(f, init_path, "no pool to give the head", &e, err);
  if (found != INSTRID_OK)
    return found;
  for (uint32_t i = e + 1; i < f->src_dense; i++)
    if (f->layers[i].type == INSTRID_LAYER_SIGMOID)
      return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                               "%s: a sigmoid between the embedding layer and the head would "
                               "squash the pool's values",
                               init_path);
  const size_t D = f->layers[e].p[0], C = f->shapes[e - 1].c, n_out = f->n_out;
  if (D + C > INSTRID_MAX_CLASSES)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "%s: embedding %zu + pool %zu values: more than the %d a head "
                             "vector may have",
                             init_path, D, C, INSTRID_MAX_CLASSES);
  const size_t old_n = D * C + D + n_out * D, new_n = (D + C) * C + (D + C) + n_out * (D + C);
  float *np, *nl;
  instrid_status s = begin_reshape(f, e, old_n, new_n, &np, &nl, err);
  if (s != INSTRID_OK)
    return s;
  const float *W = f->params + f->offset[e], *B = W + D * C;
  const float *H = f->params + f->offset[f->src_dense], *HB = H + n_out * D;
  float *q = np + f->offset[e];
  memcpy(q, W, sizeof(float) * D * C);
  q += D * C;
  memset(q, 0, sizeof(float) * C * C);
  for (size_t r = 0; r < C; r++)
    q[r * C + r] = 1.0f;
  q += C * C;
  memcpy(q, B, sizeof(float) * D);
  for (size_t r = 0; r < C; r++)
    q[D + r] = 3.0f;
  q += D + C;
  for (size_t k = 0; k < n_out; k++, q += D + C) {
    int keep = k >= f->n_targets || f->opt.head_input != FINETUNE_INPUT_POOL;
    if (keep)
      memcpy(q, H + k * D, sizeof(float) * D);
    else
      memset(q, 0, sizeof(float) * D);
    memset(q + D, 0, sizeof(float) * C);
  }
  memcpy(q, HB, sizeof(float) * n_out);
  s = finish_reshape(f, e, old_n, new_n, np, nl, D + C, err);
  if (s != INSTRID_OK)
    return s;
  *pool_layer = e;
  return INSTRID_OK;
}

finetune *finetune_new(const char *init_path, const char *const *classes, uint32_t n_classes,
                       const finetune_options *opt, uint64_t seed, instrid_error *err)
{
  if (!init_path || !classes || n_classes == 0 || !opt || !(opt->lr_backbone >= 0.0f)) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                      "finetune_new: no model, no classes or a negative learning-rate multiplier");
    return NULL;
  }
  if (opt->head_input != FINETUNE_INPUT_EMBEDDING &&
      (opt->head_input > FINETUNE_INPUT_POOL || !opt->keep_source_head ||
       opt->freeze_until != UINT32_MAX || opt->own_embedding)) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                      "the pool beside the embedding needs a known head input, the source outputs "
                      "kept, no layer unfrozen and no own copy of the embedding layer");
    return NULL;
  }
  if (opt->own_embedding && (!opt->keep_source_head || opt->freeze_until != UINT32_MAX)) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                      "an own copy of the embedding layer needs the source outputs kept and no "
                      "other layer unfrozen");
    return NULL;
  }
  finetune *f = calloc(1, sizeof *f);
  if (!f) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    return NULL;
  }
  f->opt = *opt;
  f->src = instrid_model_load(init_path, err);
  if (!f->src)
    goto fail;
  f->sd = instrid_model_get_desc(f->src);
  const instrid_model_desc *sd = f->sd;
  f->n_targets = n_classes;
  f->n_src_classes = sd->n_classes;
  f->n_out = n_classes + (opt->keep_source_head ? sd->n_classes : 0);

  /* The source must end in DENSE [SIGMOID]: that DENSE is the head we replace. */
  uint32_t L = sd->n_layers;
  while (L > 0 && sd->layers[L - 1].type == INSTRID_LAYER_SIGMOID)
    L--;
  if (L == 0 || sd->layers[L - 1].type != INSTRID_LAYER_DENSE || L < sd->n_layers - 1) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "%s: the model does not end in DENSE [SIGMOID]: no head to replace",
                      init_path);
    goto fail;
  }
  f->src_dense = L - 1;
  if (f->n_out > INSTRID_MAX_CLASSES) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "%u outputs: too many", f->n_out);
    goto fail;
  }

  /* The new layer list: the source's up to its last DENSE, a new DENSE, a SIGMOID. */
  uint32_t n_layers = f->src_dense + 2;
  f->layers = calloc(n_layers, sizeof *f->layers);
  f->offset = calloc((size_t)sd->n_layers + 2, sizeof *f->offset);
  f->shapes = calloc((size_t)sd->n_layers + 2, sizeof *f->shapes);
  f->names = calloc(f->n_out, sizeof *f->names);
  if (!f->layers || !f->offset || !f->shapes || !f->names)
    goto nomem;
  memcpy(f->layers, sd->layers, sizeof *f->layers * f->src_dense);
  f->layers[f->src_dense] = sd->layers[f->src_dense];
  f->layers[f->src_dense].p[0] = f->n_out;
  f->layers[f->src_dense + 1] = (instrid_layer_desc){.type = INSTRID_LAYER_SIGMOID};
  for (uint32_t k = 0; k < n_classes; k++)
    f->names[k] = classes[k];
  /* An auxiliary output whose name a target class has too becomes "source NAME". */
  if (f->n_out > n_classes) {
    f->aux_names = calloc(sd->n_classes, sizeof *f->aux_names);
    if (!f->aux_names)
      goto nomem;
  }
  for (uint32_t k = n_classes; k < f->n_out; k++) {
    const char *name = sd->class_names[k - n_classes];
    int clash = 0;
    for (uint32_t j = 0; j < n_classes; j++)
      clash |= strcmp(classes[j], name) == 0;
    snprintf(f->aux_names[k - n_classes], sizeof f->aux_names[0], "%s%s", clash ? "source " : "",
             name);
    f->names[k] = f->aux_names[k - n_classes];
  }

  /* Source parameter offsets, to find its head's weights. */
  size_t *src_off = calloc((size_t)sd->n_layers + 1, sizeof *src_off);
  instrid_shape *src_shapes = calloc(sd->n_layers, sizeof *src_shapes);
  if (!src_off || !src_shapes) {
    free(src_off);
    free(src_shapes);
    goto nomem;
  }
  instrid_status st = layer_offsets(sd, src_shapes, src_off, err);
  size_t head_in = src_off[f->src_dense + 1] - src_off[f->src_dense];
  head_in = head_in / sd->n_classes - 1; /* weight (C, in) + bias (C) */
  const float *src_w = sd->params + src_off[f->src_dense], *src_b = src_w + sd->n_classes * head_in;
  size_t prefix = src_off[f->src_dense];
  free(src_off);
  free(src_shapes);
  if (st != INSTRID_OK)
    goto fail;

  f->arch = *sd;
  f->arch.n_layers = n_layers;
  f->arch.layers = f->layers;
  f->arch.n_classes = f->n_out;
  f->arch.class_names = f->names;
  f->arch.thresholds = NULL;
  f->arch.provenance = NULL;
  f->arch.n_params = prefix + (size_t)f->n_out * (head_in + 1);
  f->params = malloc(sizeof(float) * f->arch.n_params);
  f->lr_scale = malloc(sizeof(float) * f->arch.n_params);
  if (!f->params || !f->lr_scale)
    goto nomem;
  memcpy(f->params, sd->params, sizeof(float) * prefix);
  f->arch.params = f->params;
  if (layer_offsets(&f->arch, f->shapes, f->offset, err) != INSTRID_OK)
    goto fail;
  if (f->offset[n_layers] != f->arch.n_params) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "head parameter count mismatch");
    goto fail;
  }

  /* The new head's rows. */
  float *w = f->params + prefix, *b = w + (size_t)f->n_out * head_in;
  int32_t *target_of = malloc(sizeof(int32_t) * sd->n_classes);
  if (!target_of)
    goto nomem;
  instrid_audioset_map_indices(sd->class_names, sd->n_classes, classes, n_classes, target_of);
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, seed, 0x46494e45ull, 0);
  float bound = 0.01f;
  for (uint32_t k = 0; k < n_classes; k++) {
    float *row = w + (size_t)k * head_in;
    int same = opt->head_random ? -1 : find_class(sd, classes[k]);
    uint32_t n_map = 0;
    if (same >= 0) {
      memcpy(row, src_w + (size_t)same * head_in, sizeof(float) * head_in);
      b[k] = src_b[same];
      f->by_name++;
      continue;
    }
    memset(row, 0, sizeof(float) * head_in);
    b[k] = 0.0f;
    if (!opt->head_random)
      for (uint32_t i = 0; i < sd->n_classes; i++)
        if (target_of[i] == (int32_t)k) {
          for (size_t j = 0; j < head_in; j++)
            row[j] += src_w[(size_t)i * head_in + j];
          b[k] += src_b[i];
          n_map++;
        }
    if (n_map) {
      for (size_t j = 0; j < head_in; j++)
        row[j] /= (float)n_map;
      b[k] /= (float)n_map;
      f->by_map++;
    } else {
      for (size_t j = 0; j < head_in; j++)
        row[j] = bound * (2.0f * instrid_rng_uniform(&rng) - 1.0f);
      b[k] = -3.0f;
      f->by_random++;
    }
  }
  free(target_of);
  for (uint32_t k = n_classes; k < f->n_out; k++) {
    memcpy(w + (size_t)k * head_in, src_w + (size_t)(k - n_classes) * head_in,
           sizeof(float) * head_in);
    b[k] = src_b[k - n_classes];
  }

  if (opt->own_embedding) {
    if (own_embedding(f, init_path, err) != INSTRID_OK)
      goto fail;
    head_in = f->layers[f->own].p[0];
    prefix = f->offset[f->src_dense];
  }
  uint32_t pool_layer = 0;
  if (opt->head_input != FINETUNE_INPUT_EMBEDDING) {
    if (pool_beside_embedding(f, init_path, &pool_layer, err) != INSTRID_OK)
      goto fail;
    head_in = f->layers[pool_layer].p[0];
    prefix = f->offset[f->src_dense];
  }

  /* Learning-rate groups. */
  uint32_t freeze = opt->freeze_until > f->src_dense ? f->src_dense : opt->freeze_until;
  if (f->own)
    freeze = f->own;
  f->frozen = freeze;
  for (uint32_t i = 0; i < n_layers; i++)
    for (size_t j = f->offset[i]; j < f->offset[i + 1]; j++)
      f->lr_scale[j] = i < freeze ? 0.0f : i < f->src_dense ? opt->lr_backbone : 1.0f;
  if (f->own) {
    /* The original half of the doubled layer stays the source's, and the target rows read the
     * copy only (their columns on the original half stay zero): with --lr-backbone 0 this is
     * the plain frozen head. */
    size_t D = head_in / 2, in = f->shapes[f->own - 1].c;
    float *ls = f->lr_scale + f->offset[f->own];
    for (size_t j = 0; j < D * in; j++)
      ls[j] = 0.0f;
    for (size_t j = 0; j < D; j++)
      ls[2 * D * in + j] = 0.0f;
    for (uint32_t k = 0; k < n_classes; k++)
      for (size_t j = 0; j < D; j++)
        f->lr_scale[prefix + (size_t)k * head_in + j] = 0.0f;
  }
  if (opt->head_input == FINETUNE_INPUT_POOL) /* the target rows' embedding columns stay 0 */
    for (uint32_t k = 0; k < n_classes; k++)
      for (size_t j = 0; j < head_in - f->shapes[pool_layer - 1].c; j++)
        f->lr_scale[prefix + (size_t)k * head_in + j] = 0.0f;
  for (uint32_t k = n_classes; k < f->n_out; k++) {
    for (size_t j = 0; j < head_in; j++)
      f->lr_scale[prefix + (size_t)k * head_in + j] = 0.0f;
    f->lr_scale[prefix + (size_t)f->n_out * head_in + k] = 0.0f;
  }

  /* The frozen-backbone path: every parameter before the head frozen, and the head's input (or
   * that of the dropout layers just before it) a vector. */
  uint32_t first_trainable = n_layers;
  for (uint32_t i = 0; i < n_layers && first_trainable == n_layers; i++)
    for (size_t j = f->offset[i]; j < f->offset[i + 1]; j++)
      if (f->lr_scale[j] > 0.0f) {
        first_trainable = i;
        break;
      }
  uint32_t s = first_trainable;
  while (s > 1 && f->layers[s - 1].type == INSTRID_LAYER_DROPOUT)
    s--;
  if (s >= 1 && s <= f->src_dense && f->shapes[s - 1].h == 1 && f->shapes[s - 1].w == 1 &&
      f->shapes[s - 1].c <= INSTRID_MAX_CLASSES) {
    f->split = s;
    f->head = f->arch;
    f->head.frontend.n_mels = f->shapes[s - 1].c;
    f->head.window_frames = 1;
    f->head.hop_frames = 1;
    f->head.n_layers = n_layers - s;
    f->head.layers = f->layers + s;
    f->head.params = f->params + f->offset[s];
    f->head.n_params = f->arch.n_params - f->offset[s];
  }
  return f;

nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
fail:
  finetune_free(f);
  return NULL;
}

void finetune_free(finetune *f)
{
  if (!f)
    return;
  instrid_model_free(f->src);
  free(f->layers);
  free(f->params);
  free(f->lr_scale);
  free(f->offset);
  free(f->shapes);
  free(f->names);
  free(f->aux_names);
  free(f);
}

const instrid_model_desc *finetune_arch(const finetune *f)
{
  return &f->arch;
}

const float *finetune_lr_scale(const finetune *f)
{
  return f->lr_scale;
}

uint32_t finetune_head_layer(const finetune *f)
{
  return f->src_dense;
}

uint32_t finetune_frozen_layers(const finetune *f)
{
  return f->frozen;
}

uint32_t finetune_own_embedding_layer(const finetune *f)
{
  return f->own;
}

uint32_t finetune_n_outputs(const finetune *f)
{
  return f->n_out;
}

void finetune_init_counts(const finetune *f, uint32_t *by_name, uint32_t *by_map, uint32_t *random)
{
  *by_name = f->by_name;
  *by_map = f->by_map;
  *random = f->by_random;
}

const instrid_model *finetune_source(const finetune *f)
{
  return f->src;
}

uint32_t finetune_split(const finetune *f)
{
  return f->split;
}

const instrid_model_desc *finetune_head_arch(const finetune *f)
{
  return f->split ? &f->head : NULL;
}

const float *finetune_head_lr_scale(const finetune *f)
{
  return f->split ? f->lr_scale + f->offset[f->split] : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The source wrapper: auxiliary outputs unlabelled */

static size_t wrap_count(void *ctx, dataset_split split)
{
  finetune *f = ctx;
  return f->wrap_inner.count(f->wrap_inner.ctx, split);
}

static void wrap_get(void *ctx, dataset_split split, size_t i, int shift, float *features,
                     float *target, float *mask)
{
  finetune *f = ctx;
  f->wrap_inner.get(f->wrap_inner.ctx, split, i, shift, features, target, mask);
  for (uint32_t k = f->n_targets; k < f->n_out; k++)
    target[k] = mask[k] = 0.0f;
}

static uint32_t wrap_group(void *ctx, dataset_split split, size_t i, int *weak)
{
  finetune *f = ctx;
  return f->wrap_inner.group(f->wrap_inner.ctx, split, i, weak);
}

example_source finetune_wrap_source(finetune *f, const example_source *inner)
{
  f->wrap_inner = *inner;
  example_source s = {wrap_count, wrap_get, f, inner->group ? wrap_group : NULL};
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* The frozen-backbone cache */

struct finetune_cache {
  finetune *f;
  uint32_t dim;
  size_t n[2];
  float *vec[2], *target[2], *mask[2]; /* (n, dim), (n, n_out), (n, n_out) */
  uint32_t *group[2];                  /* (n) the window's recording */
  uint8_t *weak[2];                    /* (n) 1: clip labels */
  int32_t *teacher_of;                 /* (n_src) target class of each source output, or -1 */
};

typedef struct {
  finetune_cache *c;
  void (*progress)(void *ctx, size_t done, size_t total); /* thread 0 only */
  void *progress_ctx;
  const example_source *inner;
  instrid_model *prefix;
  int thread, threads;
  size_t done;
  int ok;
  char message[INSTRID_ERROR_MESSAGE_MAX];
} cache_job;

static void *cache_worker(void *arg)
{
  cache_job *job = arg;
  finetune_cache *c = job->c;
  const instrid_model_desc *d = &c->f->arch;
  size_t n_in = (size_t)d->frontend.n_mels * d->window_frames;
  instrid_error err = {0};
  instrid_net *net = instrid_net_new(job->prefix, &err);
  float *x = instrid_alloc_floats(n_in);
  if (!net || !x) {
    snprintf(job->message, sizeof job->message, "%s", net ? "out of memory" : err.message);
    instrid_net_free(net);
    instrid_free_aligned(x);
    return NULL;
  }
  for (int s = 0; s < 2; s++)
    for (size_t i = (size_t)job->thread; i < c->n[s]; i += (size_t)job->threads) {
      float *target = c->target[s] + i * c->f->n_out, *mask = c->mask[s] + i * c->f->n_out;
      job->inner->get(job->inner->ctx, (dataset_split)s, i, 0, x, target, mask);
      instrid_net_forward(net, x, c->vec[s] + i * c->dim);
      job->done++;
      /* Thread 0 reports for all, estimating the others' share by its own. */
      if (job->progress && job->done % 256 == 0)
        job->progress(job->progress_ctx, job->done * (size_t)job->threads, c->n[0] + c->n[1]);
    }
  instrid_net_free(net);
  instrid_free_aligned(x);
  job->ok = 1;
  return NULL;
}

/* The layers before the split as a model of their own (its "classes" are the vector's
 * components), so libcore's inference runs them. */
static instrid_model *prefix_model(const finetune *f, instrid_error *err)
{
  uint32_t dim = f->shapes[f->split - 1].c;
  char(*names)[16] = calloc(dim, sizeof *names);
  const char **np = calloc(dim, sizeof *np);
  float *th = calloc(dim, sizeof *th);
  instrid_model *m = NULL;
  if (!names || !np || !th) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (uint32_t k = 0; k < dim; k++) {
    snprintf(names[k], sizeof names[k], "v%u", k);
    np[k] = names[k];
    th[k] = 0.5f;
  }
  instrid_model_desc d = f->arch;
  d.n_layers = f->split;
  d.n_classes = dim;
  d.class_names = np;
  d.thresholds = th;
  d.provenance = NULL;
  d.n_params = f->offset[f->split];
  void *data = NULL;
  size_t size = 0;
  if (instrid_model_write_to_memory(&d, &data, &size, err) == INSTRID_OK)
    m = instrid_model_load_from_memory(data, size, err);
  free(data);
done:
  free(names);
  free(np);
  free(th);
  return m;
}

/* The vector file: "IDVECS1\n", u64 key, u32 dim, u32 zero, u64 n[0], u64 n[1], the vectors
 * of both splits (f32), u64 FNV-1a 64 of every byte before it. The key hashes the backbone's
 * parameters, front end and window, and every window's recording, targets and masks. */
static const char VEC_MAGIC[8] = {'I', 'D', 'V', 'E', 'C', 'S', '1', '\n'};

static uint64_t cache_key(const finetune_cache *c)
{
  const finetune *f = c->f;
  uint64_t h = CHECKPOINT_HASH_INIT;
  h = checkpoint_hash(h, f->params, sizeof(float) * f->offset[f->split]);
  h = checkpoint_hash(h, &f->arch.frontend, sizeof f->arch.frontend);
  h = checkpoint_hash(h, &f->arch.window_frames, sizeof f->arch.window_frames);
  for (int s = 0; s < 2; s++) {
    h = checkpoint_hash(h, &c->n[s], sizeof c->n[s]);
    h = checkpoint_hash(h, c->group[s], sizeof(uint32_t) * c->n[s]);
    h = checkpoint_hash(h, c->weak[s], c->n[s]);
    h = checkpoint_hash(h, c->target[s], sizeof(float) * c->n[s] * f->n_out);
    h = checkpoint_hash(h, c->mask[s], sizeof(float) * c->n[s] * f->n_out);
  }
  return h;
}

static int read_vectors(finetune_cache *c, const char *path, uint64_t key)
{
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return 0;
  char magic[8];
  uint64_t k, n0, n1, sum, h = CHECKPOINT_HASH_INIT;
  uint32_t dim, zero;
  int ok = fread(magic, 8, 1, fp) == 1 && memcmp(magic, VEC_MAGIC, 8) == 0 &&
           fread(&k, 8, 1, fp) == 1 && fread(&dim, 4, 1, fp) == 1 && fread(&zero, 4, 1, fp) == 1 &&
           fread(&n0, 8, 1, fp) == 1 && fread(&n1, 8, 1, fp) == 1 && k == key && dim == c->dim &&
           n0 == c->n[0] && n1 == c->n[1];
  if (ok) {
    h = checkpoint_hash(h, magic, 8);
    h = checkpoint_hash(h, &k, 8);
    h = checkpoint_hash(h, &dim, 4);
    h = checkpoint_hash(h, &zero, 4);
    h = checkpoint_hash(h, &n0, 8);
    h = checkpoint_hash(h, &n1, 8);
    for (int s = 0; s < 2 && ok; s++) {
      ok = fread(c->vec[s], sizeof(float) * c->dim, c->n[s], fp) == c->n[s];
      h = checkpoint_hash(h, c->vec[s], sizeof(float) * c->dim * c->n[s]);
    }
    ok = ok && fread(&sum, 8, 1, fp) == 1 && sum == h;
  }
  fclose(fp);
  return ok;
}

/* Atomically (path.tmp, then rename); a failure only costs the next run the recomputation. */
static void write_vectors(const finetune_cache *c, const char *path, uint64_t key)
{
  size_t n = strlen(path) + 5;
  char *tmp = malloc(n);
  if (!tmp)
    return;
  snprintf(tmp, n, "%s.tmp", path);
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    free(tmp);
    return;
  }
  uint64_t h = CHECKPOINT_HASH_INIT, n0 = c->n[0], n1 = c->n[1];
  uint32_t dim = c->dim, zero = 0;
  int ok = 1;
#define W(p, size)                                                                                 \
  do {                                                                                             \
    ok = ok && fwrite(p, 1, size, fp) == (size);                                                   \
    h = checkpoint_hash(h, p, size);                                                               \
  } while (0)
  W(VEC_MAGIC, 8);
  W(&key, 8);
  W(&dim, 4);
  W(&zero, 4);
  W(&n0, 8);
  W(&n1, 8);
  for (int s = 0; s < 2; s++)
    W(c->vec[s], sizeof(float) * c->dim * c->n[s]);
#undef W
  ok = ok && fwrite(&h, 8, 1, fp) == 1;
  ok = fclose(fp) == 0 && ok;
  if (!ok || rename(tmp, path) != 0)
    remove(tmp);
  free(tmp);
}

finetune_cache *finetune_cache_new(finetune *f, const example_source *inner, int threads,
                                   void (*progress)(void *ctx, size_t done, size_t total),
                                   void *progress_ctx, instrid_error *err)
{
  return finetune_cache_new_file(f, inner, threads, progress, progress_ctx, NULL, 0, err);
}

finetune_cache *finetune_cache_new_file(finetune *f, const example_source *inner, int threads,
                                        void (*progress)(void *ctx, size_t done, size_t total),
                                        void *progress_ctx, const char *path, uint64_t key_salt,
                                        instrid_error *err)
{
  if (!f->split) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                      "finetune_cache_new: the backbone is not frozen up to a vector");
    return NULL;
  }
  finetune_cache *c = calloc(1, sizeof *c);
  if (!c) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    return NULL;
  }
  c->f = f;
  c->dim = f->shapes[f->split - 1].c;
  for (int s = 0; s < 2; s++) {
    c->n[s] = inner->count(inner->ctx, (dataset_split)s);
    size_t n = c->n[s] ? c->n[s] : 1;
    c->vec[s] = malloc(sizeof(float) * n * c->dim);
    c->target[s] = calloc(n * f->n_out, sizeof(float));
    c->mask[s] = calloc(n * f->n_out, sizeof(float));
    c->group[s] = calloc(n, sizeof(uint32_t));
    c->weak[s] = calloc(n, 1);
    if (!c->vec[s] || !c->target[s] || !c->mask[s] || !c->group[s] || !c->weak[s]) {
      instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory caching %zu vectors", n);
      finetune_cache_free(c);
      return NULL;
    }
  }
  c->teacher_of = malloc(sizeof(int32_t) * f->n_src_classes);
  if (!c->teacher_of) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    finetune_cache_free(c);
    return NULL;
  }
  instrid_audioset_map_indices(f->sd->class_names, f->n_src_classes, f->names, f->n_targets,
                               c->teacher_of);
  /* Recordings, targets and masks first (cheap: no network), so that a vector file made from
   * the same windows can stand in for the backbone. A source without recordings gives every
   * window its own, labelled per window. */
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < c->n[s]; i++) {
      int weak = 0;
      c->group[s][i] = inner->group ? inner->group(inner->ctx, (dataset_split)s, i, &weak)
                                    : (uint32_t)(i + (s ? c->n[0] : 0));
      c->weak[s][i] = (uint8_t)(weak != 0);
    }
  uint64_t key = 0;
  if (path) {
    size_t n_in = (size_t)f->arch.frontend.n_mels * f->arch.window_frames;
    float *x = instrid_alloc_floats(n_in);
    if (!x) {
      instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      finetune_cache_free(c);
      return NULL;
    }
    for (int s = 0; s < 2; s++)
      for (size_t i = 0; i < c->n[s]; i++)
        inner->get(inner->ctx, (dataset_split)s, i, 0, x, c->target[s] + i * f->n_out,
                   c->mask[s] + i * f->n_out);
    instrid_free_aligned(x);
    for (int s = 0; s < 2; s++)
      for (size_t i = 0; i < c->n[s]; i++)
        for (uint32_t k = f->n_targets; k < f->n_out; k++)
          c->target[s][i * f->n_out + k] = c->mask[s][i * f->n_out + k] = 0.0f;
    key = cache_key(c);
    if (key_salt) /* 0 keeps the keys of files written before the salt existed */
      key = checkpoint_hash(key, &key_salt, sizeof key_salt);
    if (read_vectors(c, path, key)) {
      if (progress)
        progress(progress_ctx, c->n[0] + c->n[1], c->n[0] + c->n[1]);
      return c;
    }
  }
  instrid_model *prefix = prefix_model(f, err);
  if (!prefix) {
    finetune_cache_free(c);
    return NULL;
  }
  if (threads < 1)
    threads = 1;
  if (threads > MAX_CACHE_THREADS)
    threads = MAX_CACHE_THREADS;
  cache_job jobs[MAX_CACHE_THREADS];
  pthread_t tid[MAX_CACHE_THREADS];
  int started[MAX_CACHE_THREADS] = {0};
  for (int r = 0; r < threads; r++)
    jobs[r] =
        (cache_job){c, r ? NULL : progress, progress_ctx, inner, prefix, r, threads, 0, 0, {0}};
  /* One BLAS thread per worker: the workers are the parallelism. */
  if (threads > 1)
    openblas_set_num_threads(1);
  for (int r = 1; r < threads; r++)
    started[r] = pthread_create(&tid[r], NULL, cache_worker, &jobs[r]) == 0;
  cache_worker(&jobs[0]);
  for (int r = 1; r < threads; r++) {
    if (started[r])
      pthread_join(tid[r], NULL);
    else
      cache_worker(&jobs[r]);
  }
  instrid_model_free(prefix);
  for (int r = 0; r < threads; r++)
    if (!jobs[r].ok) {
      instrid_set_error(err, INSTRID_ERR_NOMEM, "computing the backbone's vectors: %s",
                        jobs[r].message);
      finetune_cache_free(c);
      return NULL;
    }
  if (progress)
    progress(progress_ctx, c->n[0] + c->n[1], c->n[0] + c->n[1]);
  /* The auxiliary outputs carry no label. */
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < c->n[s]; i++)
      for (uint32_t k = f->n_targets; k < f->n_out; k++)
        c->target[s][i * f->n_out + k] = c->mask[s][i * f->n_out + k] = 0.0f;
  if (path)
    write_vectors(c, path, key);
  return c;
}

void finetune_cache_free(finetune_cache *c)
{
  if (!c)
    return;
  for (int s = 0; s < 2; s++) {
    free(c->vec[s]);
    free(c->target[s]);
    free(c->mask[s]);
    free(c->group[s]);
    free(c->weak[s]);
  }
  free(c->teacher_of);
  free(c);
}

void finetune_cache_headbag(const finetune_cache *c, headbag_data *d)
{
  memset(d, 0, sizeof *d);
  d->dim = c->dim;
  d->n_out = c->f->n_out;
  d->n_targets = c->f->n_targets;
  for (int s = 0; s < 2; s++)
    d->split[s] =
        (headbag_split){c->n[s], c->vec[s], c->target[s], c->mask[s], c->group[s], c->weak[s]};
  d->teacher_of = d->n_out > d->n_targets ? c->teacher_of : NULL;
}

static size_t cache_count(void *ctx, dataset_split split)
{
  finetune_cache *c = ctx;
  return c->n[split == DATASET_VAL];
}

static void cache_get(void *ctx, dataset_split split, size_t i, int shift, float *features,
                      float *target, float *mask)
{
  (void)shift;
  finetune_cache *c = ctx;
  int s = split == DATASET_VAL;
  uint32_t n_out = c->f->n_out;
  memcpy(features, c->vec[s] + i * c->dim, sizeof(float) * c->dim);
  memcpy(target, c->target[s] + i * n_out, sizeof(float) * n_out);
  memcpy(mask, c->mask[s] + i * n_out, sizeof(float) * n_out);
}

example_source finetune_cache_source(finetune_cache *c)
{
  example_source s = {cache_count, cache_get, c, NULL};
  return s;
}

/* ------------------------------------------------------------------------------------------ */

/* The blend layer's tensors: map (n_targets, n_src) 1 where the AudioSet map sends source class
 * j to target c, gamma (n_targets): opt.blend where some source does, 1 elsewhere. */
static int blend_tensors(const finetune *f, float *map, float *gamma)
{
  int32_t *target_of = malloc(sizeof(int32_t) * f->n_src_classes);
  if (!target_of)
    return 0;
  instrid_audioset_map_indices(f->sd->class_names, f->n_src_classes, f->names, f->n_targets,
                               target_of);
  memset(map, 0, sizeof(float) * f->n_targets * f->n_src_classes);
  for (uint32_t c = 0; c < f->n_targets; c++)
    gamma[c] = 1.0f;
  for (uint32_t j = 0; j < f->n_src_classes; j++)
    if (target_of[j] >= 0) {
      map[(size_t)target_of[j] * f->n_src_classes + j] = 1.0f;
      gamma[target_of[j]] = f->opt.blend;
    }
  free(target_of);
  return 1;
}

/* y (n_targets) from the head's probabilities p (n_out) as BLEND_MAPPED computes it. */
static void blend_one(const finetune *f, const float *map, const float *gamma, const float *p,
                      float *y)
{
  const uint32_t S = f->n_src_classes;
  for (uint32_t c = 0; c < f->n_targets; c++) {
    long best = -1;
    for (uint32_t j = 0; j < S; j++)
      if (map[(size_t)c * S + j] > 0.0f &&
          (best < 0 || p[f->n_targets + j] > p[f->n_targets + best]))
        best = (long)j;
    y[c] = best < 0
               ? p[c]
               : instrid_blend_value(f->opt.blend_mode, gamma[c], p[c], p[f->n_targets + best]);
  }
}

instrid_status finetune_blend_thresholds(const finetune *f, const finetune_cache *c,
                                         const float *head_params, float *thresholds,
                                         double *map_out, double *macro_f1, instrid_error *err)
{
  if (f->opt.blend < 0.0f || !f->opt.keep_source_head || !f->split || !c)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "blend thresholds need --keep-source-head and a frozen backbone");
  const size_t n = c->n[1], C = f->n_targets, S = f->n_src_classes;
  const int batch = 256;
  train_net *net = train_net_new(&f->head, batch, err);
  if (!net)
    return err->code;
  memcpy(train_net_params(net), head_params, sizeof(float) * f->head.n_params);
  float *map = malloc(sizeof(float) * C * S), *gamma = malloc(sizeof(float) * C);
  float *logits = malloc(sizeof(float) * batch * f->n_out);
  float *scores = malloc(sizeof(float) * (n ? n : 1) * C);
  float *tg = malloc(sizeof(float) * (n ? n : 1) * C),
        *mk = malloc(sizeof(float) * (n ? n : 1) * C);
  metrics_report r = {0};
  instrid_status st = INSTRID_OK;
  if (!map || !gamma || !logits || !scores || !tg || !mk || !blend_tensors(f, map, gamma) ||
      !metrics_report_init(&r, C)) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (size_t s = 0; s < n; s += batch) {
    int m = (int)(n - s < (size_t)batch ? n - s : (size_t)batch);
    train_net_forward(net, c->vec[1] + s * c->dim, m, 0, NULL, logits);
    for (int e = 0; e < m; e++) {
      float *p = logits + (size_t)e * f->n_out;
      for (uint32_t k = 0; k < f->n_out; k++)
        p[k] = 1.0f / (1.0f + expf(-p[k]));
      blend_one(f, map, gamma, p, scores + (s + e) * C);
      memcpy(tg + (s + e) * C, c->target[1] + (s + e) * f->n_out, sizeof(float) * C);
      memcpy(mk + (s + e) * C, c->mask[1] + (s + e) * f->n_out, sizeof(float) * C);
    }
  }
  if (!metrics_evaluate(&r, scores, tg, mk, n, 0.5)) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (size_t k = 0; k < C; k++)
    thresholds[k] = (float)r.threshold[k];
  if (map_out)
    *map_out = r.map;
  if (macro_f1)
    *macro_f1 = r.macro_f1;
out:
  metrics_report_clear(&r);
  train_net_free(net);
  free(map), free(gamma), free(logits), free(scores), free(tg), free(mk);
  return st;
}

static instrid_status write_model(const finetune *f, int blend, const float *head_params,
                                  const float *params_full, const float *thresholds,
                                  const char *provenance, const char *path, instrid_error *err)
{
  const size_t extra = blend ? (size_t)f->n_targets * f->n_src_classes + f->n_targets : 0;
  float *p = malloc(sizeof(float) * (f->arch.n_params + extra));
  float *th = malloc(sizeof(float) * f->n_out);
  instrid_layer_desc *layers = malloc(sizeof *layers * (f->arch.n_layers + 1));
  if (!p || !th || !layers) {
    free(p);
    free(th);
    free(layers);
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
  }
  if (params_full) {
    memcpy(p, params_full, sizeof(float) * f->arch.n_params);
  } else {
    memcpy(p, f->params, sizeof(float) * f->arch.n_params);
    if (head_params && f->split)
      memcpy(p + f->offset[f->split], head_params,
             sizeof(float) * (f->arch.n_params - f->offset[f->split]));
  }
  for (uint32_t k = 0; k < f->n_out; k++)
    th[k] = k < f->n_targets ? thresholds[k] : f->sd->thresholds[k - f->n_targets];
  instrid_model_desc d = f->arch;
  if (blend) {
    float *map = p + f->arch.n_params, *gamma = map + (size_t)f->n_targets * f->n_src_classes;
    if (!blend_tensors(f, map, gamma)) {
      free(p), free(th), free(layers);
      return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    }
    memcpy(layers, f->arch.layers, sizeof *layers * f->arch.n_layers);
    layers[f->arch.n_layers] = (instrid_layer_desc){.type = INSTRID_LAYER_BLEND_MAPPED,
                                                    .p = {f->n_targets, f->opt.blend_mode}};
    d.layers = layers;
    d.n_layers = f->arch.n_layers + 1;
    d.n_params = f->arch.n_params + extra;
    d.n_classes = f->n_targets;
  }
  d.params = p;
  d.thresholds = th;
  d.provenance = provenance;
  instrid_status s = instrid_model_write(&d, path, err);
  free(p);
  free(th);
  free(layers);
  return s;
}

instrid_status finetune_write(const finetune *f, const float *head_params, const float *params_full,
                              const float *thresholds, const char *provenance, const char *path,
                              instrid_error *err)
{
  return write_model(f, f->opt.blend >= 0.0f && f->opt.keep_source_head, head_params, params_full,
                     thresholds, provenance, path, err);
}

instrid_status finetune_write_unblended(const finetune *f, const float *head_params,
                                        const float *thresholds, const char *provenance,
                                        const char *path, instrid_error *err)
{
  return write_model(f, 0, head_params, NULL, thresholds, provenance, path, err);
}
