/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* table.c — the registry of layer types: one entry per file of this directory. */
#include "internal.h"
#include "layer_table.h"
#include "model_file.h"

static const instrid_layer_entry *const entries[] = {
    &instrid_layer_conv2d,    &instrid_layer_batchnorm,      &instrid_layer_relu,
    &instrid_layer_maxpool,   &instrid_layer_avgpool,        &instrid_layer_global_pool,
    &instrid_layer_dense,     &instrid_layer_sigmoid,        &instrid_layer_dropout,
    &instrid_layer_hardswish, &instrid_layer_squeeze_excite, &instrid_layer_residual_add,
    &instrid_layer_embedding, &instrid_layer_blend_mapped,
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

const instrid_layer_entry *instrid_layer_entry_find(uint32_t type)
{
  for (size_t i = 0; i < N_ENTRIES; i++)
    if (entries[i]->type == type)
      return entries[i];
  return NULL;
}

const instrid_layer_entry *instrid_layer_entry_at(size_t i)
{
  return i < N_ENTRIES ? entries[i] : NULL;
}

int instrid_layer_dim_ok(uint64_t v)
{
  return v <= MODEL_MAX_DIM;
}
