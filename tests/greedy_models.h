/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* greedy_models.h — model files that keep every field within its own range but demand absurd
 * totals of their host (issue 11.1), written with the project's own writer so that they carry a
 * valid checksum. instrid_model_load must refuse each, before allocating, with a message naming
 * the limit. Shared by tests/libcore/test_budget.c and the element's tests. */
#ifndef INSTRID_TESTS_GREEDY_MODELS_H
#define INSTRID_TESTS_GREEDY_MODELS_H

#include <stddef.h>

#include "instrid.h"

typedef enum {
  GREEDY_QUEUE_32GIB,     /* W = 65536 frames of 65536 samples: a 32 GiB sample queue */
  GREEDY_ACTIVATIONS_2GB, /* a 1x1 convolution to 2^28 floats: 2 GiB of activations, 4 GiB queue */
  GREEDY_SCRATCH_7GB,     /* a 64x64 convolution of 512 x 1000 run channels-first: 6.9 GB
                           * of im2col scratch */
  GREEDY_SLOW_POOL,       /* a 64x64 max pool every frame: 170 G operations per audio second */
  GREEDY_SLOW_MIN_HOP,    /* the same pool on 10 s windows: fine at its hop, 1.8 T at one frame */
  GREEDY_SLOW_FRONTEND,   /* a 65536-point FFT every sample at 384 kHz: 1.15 T per audio second */
  GREEDY_N_CASES
} greedy_case;

typedef struct {
  const char *name;
  const char *limit;  /* the limit's name, which the refusal must mention */
  const char *figure; /* a piece of the message that gives the model's figure */
} greedy_info;

const greedy_info *greedy_model_info(greedy_case c);
/* Fills desc (parameters zero, owned by static storage until the next call) for case c. */
void greedy_model_desc(greedy_case c, instrid_model_desc *desc);
/* Writes case c to a malloc'ed buffer with instrid_model_write_to_memory; exits on failure. */
void greedy_model_bytes(greedy_case c, void **data, size_t *size);

#endif
