/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* finetune.h — training from an existing model (instrid-train --init): an imported EfficientAT
 * network or any instrid model. The model's last DENSE (and its SIGMOID) is replaced by a new
 * head for the target classes; the source head can stay as auxiliary outputs after them; each
 * parameter gets a learning-rate multiplier (0 = frozen) by layer group.
 *
 * Head initialisation, row by row: a target class with the same name as a source class takes
 * that row (fine-tuning a model with the same classes continues from it); else the mean of the
 * rows of the source classes the AudioSet map (audioset_map.h) sends to it (so an imported
 * AudioSet network starts from its mapped outputs in logit space); else small random weights and
 * a bias of -3 (probability 0.05).
 *
 * When every layer before the head is frozen and the head follows a point where the activation
 * is a vector (after the global pooling), the frozen part is a fixed function of the window:
 * finetune_cache runs it once per window through libcore's inference (batch norm with its
 * running statistics, exactly what the element computes) and the trainer trains only the head
 * on those vectors (finetune_head_arch). Otherwise the whole network goes to the trainer, with
 * the frozen layers' parameters untouched by the optimizer (their batch norms still normalise
 * with batch statistics in training mode, as PyTorch's train() does).
 */
#ifndef INSTRID_FINETUNE_H
#define INSTRID_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "headbag.h"
#include "instrid.h"
#include "train.h"

typedef struct {
  /* Layers [0, freeze_until) of the source model are frozen (UINT32_MAX: every layer before the
   * head). Counted in the source's layer list (the model file's, batch norms included). */
  uint32_t freeze_until;
  float lr_backbone;    /* learning-rate multiplier of the unfrozen layers before the head */
  int keep_source_head; /* the source's outputs stay, frozen, after the target classes */
  int head_random;      /* 1: every new row random (no name or map initialisation) */
  /* >= 0 (needs keep_source_head): the written model ends in a BLEND_MAPPED layer that outputs,
   * per target class, blend * head + (1 - blend) * the largest source output the AudioSet map
   * names it with (the head alone where none does); the model then has the target classes
   * only. < 0: off. */
  float blend;
  /* INSTRID_BLEND_LINEAR (the formula above, the default 0) or INSTRID_BLEND_NOISY_OR:
   * 1 - (1 - head)^blend (1 - source)^(1 - blend) (instrid.h, BLEND_MAPPED) */
  uint32_t blend_mode;
  /* 1 (needs keep_source_head and freeze_until UINT32_MAX): the head gets its own trainable copy
   * of the backbone's last DENSE (the one before the head with only activations, EMBEDDING and
   * DROPOUT between, on a vector). That layer is doubled: its first half stays the source's,
   * frozen, and alone feeds the source outputs (which, and the blend, stay exactly the
   * source's); the second half starts as a copy, trains (learning-rate multiplier lr_backbone)
   * and alone feeds the target rows (their columns on the first half stay zero). Everything
   * before it is frozen, so the trainer works on the vectors before it (the global pool's
   * output), computed once. FINETUNE_OWN_MEAN_MAX: the global mean pool before that layer
   * gives each channel's maximum too (INSTRID_POOL_MEAN_MAX_CONCAT, twice the values); the copy
   * reads both (its columns on the maxima start at zero), the original the means only, so the
   * source outputs stay exact. */
  int own_embedding; /* FINETUNE_OWN_* */
  /* What the head reads (needs keep_source_head, freeze_until UINT32_MAX, no own_embedding):
   * FINETUNE_INPUT_EMBEDDING the embedding layer's output (the default); FINETUNE_INPUT_BOTH
   * that and the global pool's C values before it (mn04: 512 + 384), FINETUNE_INPUT_POOL the
   * pool's alone. The embedding layer (the DENSE on the pool) gains C rows, an identity with
   * bias 3 and frozen, which pass the pool's values through its activation (x + 3 for x >= 0
   * under a hard-swish or ReLU); the source rows read the embedding only, so the source outputs
   * and the blend stay the source's; the target rows start at zero on the pool's columns (and,
   * FINETUNE_INPUT_POOL, stay at zero on the embedding's). Everything before the head stays a
   * fixed function of the window, so the head trains on cached vectors as usual. */
  int head_input; /* FINETUNE_INPUT_* */
} finetune_options;

enum { FINETUNE_OWN_NONE = 0, FINETUNE_OWN_PLAIN = 1, FINETUNE_OWN_MEAN_MAX = 2 };
enum { FINETUNE_INPUT_EMBEDDING = 0, FINETUNE_INPUT_BOTH = 1, FINETUNE_INPUT_POOL = 2 };

void finetune_options_default(finetune_options *o);

typedef struct finetune finetune;

/* Loads init_path and builds the network for classes[0..n_classes) (the names must outlive the
 * finetune). Errors: the model's (INSTRID_ERR_IO, _FORMAT, ...), INSTRID_ERR_FORMAT when its last
 * layers are not DENSE [SIGMOID], INSTRID_ERR_INVALID_ARG for bad options. */
finetune *finetune_new(const char *init_path, const char *const *classes, uint32_t n_classes,
                       const finetune_options *opt, uint64_t seed, instrid_error *err);
void finetune_free(finetune *f);

/* The whole network to train: the source's layers before its last DENSE, the new DENSE, a
 * SIGMOID; its front end and window; params set (n_params). Valid while f lives. */
const instrid_model_desc *finetune_arch(const finetune *f);
/* (n_params of finetune_arch) learning-rate multipliers: 0 frozen. */
const float *finetune_lr_scale(const finetune *f);
/* Index of the new DENSE in finetune_arch. */
uint32_t finetune_head_layer(const finetune *f);
/* The layers [0, N) whose parameters all have learning rate 0 (opt.freeze_until clamped to the
 * head, or the own embedding layer's index). */
uint32_t finetune_frozen_layers(const finetune *f);
/* opt.own_embedding: the index of the doubled DENSE in finetune_arch; else 0. */
uint32_t finetune_own_embedding_layer(const finetune *f);
/* Outputs: the target classes, then (keep_source_head) the source's. */
uint32_t finetune_n_outputs(const finetune *f);
/* How the target rows were initialised: by name, by the AudioSet map, at random. */
void finetune_init_counts(const finetune *f, uint32_t *by_name, uint32_t *by_map, uint32_t *random);
const instrid_model *finetune_source(const finetune *f);

/* An example_source over `inner` (n_classes targets) for the whole network: the auxiliary
 * outputs get mask 0 (no label), so only the target classes drive the loss. `f` and `inner`
 * must outlive it; the returned source's ctx is f. */
example_source finetune_wrap_source(finetune *f, const example_source *inner);

/* ---- the frozen-backbone path ---------------------------------------------------------- */

/* The first layer the trainer must see when the backbone is frozen and the head starts at a
 * vector (the layers before it then run once per window in libcore); 0 when that does not
 * apply and the whole network must be trained. */
uint32_t finetune_split(const finetune *f);

/* The head alone: layers [split, end) of finetune_arch on an input of (1, C, 1), C the
 * vector's size; the same front end otherwise. Valid while f lives; NULL when split is 0. */
const instrid_model_desc *finetune_head_arch(const finetune *f);
const float *finetune_head_lr_scale(const finetune *f);

/* Runs layers [0, split) over every window of both splits of `inner` (threads in parallel) and
 * keeps the vectors, targets and masks. The returned source serves them (shift is ignored: no
 * time-shift augmentation on vectors). progress(ctx, done, total) may be NULL. */
typedef struct finetune_cache finetune_cache;
finetune_cache *finetune_cache_new(finetune *f, const example_source *inner, int threads,
                                   void (*progress)(void *ctx, size_t done, size_t total),
                                   void *progress_ctx, instrid_error *err);
/* The same, keeping the vectors in the file at path (NULL: none): when the file holds vectors
 * for this backbone and exactly these windows (their recordings, targets and masks, and
 * key_salt: whatever else makes inner's features what they are, such as gain_copies_key; 0 for
 * nothing), they are read instead of computed; else they are computed and the file (re)written.
 * The source's get then runs twice per window (once without the network). */
finetune_cache *finetune_cache_new_file(finetune *f, const example_source *inner, int threads,
                                        void (*progress)(void *ctx, size_t done, size_t total),
                                        void *progress_ctx, const char *path, uint64_t key_salt,
                                        instrid_error *err);
void finetune_cache_free(finetune_cache *c);
/* The cache as headbag's data (valid while c lives): vectors, targets, masks, recordings, and
 * the AudioSet map as the teachers' map when the source's outputs are kept. */
void finetune_cache_headbag(const finetune_cache *c, headbag_data *d);
example_source finetune_cache_source(finetune_cache *c);

/* Writes the whole model: finetune_arch's parameters with the head's (or, head_params NULL,
 * the whole network's params_full) trained values, the given thresholds for the target classes
 * (the source's for the auxiliary outputs), class names and provenance. */
instrid_status finetune_write(const finetune *f, const float *head_params, const float *params_full,
                              const float *thresholds, const char *provenance, const char *path,
                              instrid_error *err);
/* The same without the blend layer even when opt.blend >= 0: the target classes' head outputs
 * then the source's (to measure the blend's parts). */
instrid_status finetune_write_unblended(const finetune *f, const float *head_params,
                                        const float *thresholds, const char *provenance,
                                        const char *path, instrid_error *err);

/* With opt.blend >= 0 and the frozen-backbone path: the blended outputs of the head (trained
 * parameters head_params) on the cache's validation windows, and per target class the
 * F1-maximising threshold there (fallback 0.5 where a class has no known positive) into
 * thresholds (n_targets); the validation mAP and macro-F1 of the blend into *map / *macro_f1
 * (may be NULL). */
instrid_status finetune_blend_thresholds(const finetune *f, const finetune_cache *c,
                                         const float *head_params, float *thresholds, double *map,
                                         double *macro_f1, instrid_error *err);

#endif /* INSTRID_FINETUNE_H */
