/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model.c — architecture shapes, the model file (layout in model_file.h): writing it
 * atomically, loading it with every field checked before use, and folding batch norm into the
 * convolutions to make the inference plan net.c runs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "layer_table.h"
#include "model_file.h"
#include "model_internal.h"

_Static_assert(sizeof(float) == 4, "the model file stores IEEE-754 binary32 floats");

/* ------------------------------------------------------------------------------------------ */
/* Byte order: every multi-byte value goes through these, so big-endian hosts read and write
 * the same files. */

static void put_u32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
  put_u32(p, (uint32_t)v);
  put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t float_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_float(uint32_t u)
{
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint64_t align_up_u64(uint64_t x)
{
  return (x + (MODEL_FILE_ALIGNMENT - 1)) & ~(uint64_t)(MODEL_FILE_ALIGNMENT - 1);
}

/* Slice-by-8: eight bytes per step through eight tables, about five times faster than a byte
 * at a time. The tables are rebuilt per call (2048 entries, negligible next to a model) so that
 * the library keeps no global mutable state. t[k][i] is the CRC of byte i followed by k zeros. */
#if defined(__GNUC__) && defined(__x86_64__)
/* SSE4.2's crc32 instruction computes CRC-32C itself, 8 bytes at a time: a model file's
 * checksum then costs a fraction of the table-driven loop's time at every load. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(const uint8_t *p, size_t n)
{
  uint64_t crc = 0xFFFFFFFFu;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    crc = __builtin_ia32_crc32di(crc, v);
  }
  uint32_t c = (uint32_t)crc;
  for (; n > 0; n--, p++)
    c = __builtin_ia32_crc32qi(c, *p);
  return c ^ 0xFFFFFFFFu;
}
#endif

uint32_t instrid_crc32c(const void *data, size_t n)
{
#if defined(__GNUC__) && defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2"))
    return crc32c_sse42(data, n);
#endif
  uint32_t t[8][256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (int k = 1; k < 8; k++)
    for (uint32_t i = 0; i < 256; i++)
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];

  const uint8_t *p = data;
  uint32_t crc = 0xFFFFFFFFu;
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo = crc ^ get_u32(p), hi = get_u32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; n--, p++)
    crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

/* ------------------------------------------------------------------------------------------ */
/* Layers: names, tensors, shapes, all from the layer table (layer_table.h) */

static const char *layer_type_name(uint32_t type)
{
  const instrid_layer_entry *e = instrid_layer_entry_find(type);
  return e ? e->name : "unknown";
}

static const char *tensor_role_name(uint32_t role)
{
  switch (role) {
  case MODEL_TENSOR_WEIGHT:
    return "weight";
  case MODEL_TENSOR_BIAS:
    return "bias";
  case MODEL_TENSOR_GAMMA:
    return "gamma";
  case MODEL_TENSOR_BETA:
    return "beta";
  case MODEL_TENSOR_RUNNING_MEAN:
    return "running_mean";
  case MODEL_TENSOR_RUNNING_VAR:
    return "running_var";
  }
  return "unknown";
}

static unsigned layer_n_tensors(uint32_t type)
{
  const instrid_layer_entry *e = instrid_layer_entry_find(type);
  return e ? e->n_tensors : 0;
}

typedef instrid_tensor_spec tensor_spec;

/* Tensor k (< layer_n_tensors) of a layer whose input shape is `in`, as the file must hold
 * it. Only called on layers that passed check_layer, so every product fits. */
static tensor_spec layer_tensor_spec(const instrid_layer_desc *l, instrid_shape in, unsigned k)
{
  tensor_spec t;
  memset(&t, 0, sizeof t);
  const instrid_layer_entry *e = instrid_layer_entry_find(l->type);
  if (!e || !e->tensor || k >= e->n_tensors)
    return t;
  instrid_layer_params p;
  e->unpack(l, &p);
  e->tensor(&p, in, k, &t);
  t.count = t.ndims ? 1 : 0;
  for (uint32_t d = 0; d < t.ndims; d++)
    t.count *= t.dims[d];
  return t;
}

size_t instrid_layer_param_count(const instrid_layer_desc *layer, instrid_shape in)
{
  if (!layer)
    return 0;
  uint64_t total = 0;
  unsigned n = layer_n_tensors(layer->type);
  for (unsigned k = 0; k < n; k++) {
    /* The products below are of u32 values and can reach 2^128 only for garbage layers: the
     * saturating sum keeps the answer meaningful ("too many") instead of wrapping. */
    tensor_spec t = layer_tensor_spec(layer, in, k);
    uint64_t c = 1;
    for (uint32_t d = 0; d < t.ndims; d++) {
      if (t.dims[d] != 0 && c > UINT64_MAX / t.dims[d])
        return SIZE_MAX;
      c *= t.dims[d];
    }
    if (c > UINT64_MAX - total)
      return SIZE_MAX;
    total += c;
  }
  return total > SIZE_MAX ? SIZE_MAX : (size_t)total;
}

static int in_range(uint32_t v, uint32_t lo, uint32_t hi)
{
  return v >= lo && v <= hi;
}

/* Checks layer i's parameters against its input shape and computes its output shape: the
 * generic rules here, the type's own in its table entry. */
static instrid_status check_layer(const instrid_layer_ctx *ctx, instrid_shape *out,
                                  instrid_error *err)
{
  const uint32_t i = ctx->index;
  const instrid_layer_desc *l = &ctx->layers[i];
  const instrid_layer_entry *e = instrid_layer_entry_find(l->type);
  if (!e)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u: unknown type %u", i, l->type);
  const char *tn = e->name;
  for (unsigned k = e->n_int_params; k < INSTRID_LAYER_PARAMS; k++)
    if (l->p[k] != 0)
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "layer %u (%s): unused parameter p[%u] is %u, must be 0", i, tn, k,
                               l->p[k]);
  if (!e->uses_f0 && l->f0 != 0.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (%s): unused parameter f0 is %g, must be 0", i, tn,
                             (double)l->f0);
  instrid_layer_params p;
  e->unpack(l, &p);
  instrid_status st = e->check(&p, ctx, out, err);
  if (st != INSTRID_OK)
    return st;
  if (out->c > MODEL_MAX_DIM || out->h > MODEL_MAX_DIM || out->w > MODEL_MAX_DIM ||
      (uint64_t)out->c * out->h * out->w > MODEL_MAX_ACTIVATION)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "layer %u (%s): output %ux%ux%u too large", i,
                             tn, out->c, out->h, out->w);
  size_t n_params = instrid_layer_param_count(l, ctx->in);
  if (n_params > MODEL_MAX_PARAMS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "layer %u (%s): %zu parameters, over the limit of %llu", i, tn,
                             n_params, (unsigned long long)MODEL_MAX_PARAMS);
  return INSTRID_OK;
}

instrid_status instrid_arch_shapes(const instrid_layer_desc *layers, uint32_t n_layers,
                                   instrid_shape input, instrid_shape *out, instrid_error *err)
{
  if (n_layers == 0 || n_layers > INSTRID_MAX_LAYERS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_layers %u outside 1..%u", n_layers,
                             INSTRID_MAX_LAYERS);
  if (!layers || !out)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "layers and out must not be NULL");
  if (input.c == 0 || input.h == 0 || input.w == 0 || input.c > MODEL_MAX_DIM ||
      input.h > MODEL_MAX_DIM || input.w > MODEL_MAX_DIM ||
      (uint64_t)input.c * input.h * input.w > MODEL_MAX_ACTIVATION)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "input shape %ux%ux%u out of range", input.c,
                             input.h, input.w);
  instrid_layer_ctx ctx = {0, input, input, out, layers};
  for (uint32_t i = 0; i < n_layers; i++) {
    ctx.index = i;
    instrid_status st = check_layer(&ctx, &out[i], err);
    if (st != INSTRID_OK)
      return st;
    ctx.in = out[i];
  }
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Whole-description checks, shared by the writer and the reader so that whatever is written
 * can be read back and whatever is read could have been written. */

static instrid_status check_frontend(const instrid_frontend_params *fe, instrid_error *err)
{
  /* A cheap bound of our own first: n_mels sizes the network input, and this file must not
   * depend on how strict the front end's own check is for its arithmetic to be safe. */
  if (!in_range(fe->n_mels, 1, MODEL_MAX_N_MELS))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "frontend: n_mels %u outside 1..%u",
                             fe->n_mels, MODEL_MAX_N_MELS);
  instrid_status st = instrid_frontend_params_check(fe, err);
  if (st != INSTRID_OK && err && strncmp(err->message, "frontend", 8) != 0) {
    char msg[INSTRID_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "frontend: %.240s", err->message);
    memcpy(err->message, msg, sizeof msg);
  }
  return st;
}

/* The file version a front end needs: 2 when it uses anything version 1 cannot say. */
static uint32_t frontend_file_version(const instrid_frontend_params *fe)
{
  return (fe->preemphasis != 0.0f || fe->window_symmetric || fe->center || fe->log_mode ||
          fe->mel_scale == INSTRID_MEL_KALDI)
             ? 2u
             : 1u;
}

static uint64_t fixed_header_bytes(uint32_t version)
{
  return version >= 2 ? MODEL_FILE_V2_HEADER_BYTES : MODEL_FILE_FIXED_HEADER_BYTES;
}

static int class_name_ok(const char *name, size_t len)
{
  if (len < 1 || len > INSTRID_MAX_CLASS_NAME)
    return 0;
  for (size_t k = 0; k < len; k++)
    if (name[k] < 0x20 || name[k] > 0x7E)
      return 0;
  return 1;
}

/* Everything but the parameter values. Fills shapes[n_layers] and the parameter and tensor
 * counts the layers imply. */
static instrid_status check_desc_meta(const instrid_model_desc *d, instrid_shape *shapes,
                                      size_t *n_params, uint32_t *n_tensors, instrid_error *err)
{
  instrid_status st = check_frontend(&d->frontend, err);
  if (st != INSTRID_OK)
    return st;
  if (d->frontend.reference_rate != 0 || d->frontend.log_gain != 0.0f)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "frontend: reference_rate %u, log_gain %g: an at-input-rate front "
                             "end is not a model's (both must be 0 in a model)",
                             d->frontend.reference_rate, (double)d->frontend.log_gain);
  if (!in_range(d->window_frames, 1, MODEL_MAX_WINDOW_FRAMES))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "window_frames %u outside 1..%u",
                             d->window_frames, MODEL_MAX_WINDOW_FRAMES);
  if (!in_range(d->hop_frames, 1, MODEL_MAX_WINDOW_FRAMES))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "hop_frames %u outside 1..%u", d->hop_frames,
                             MODEL_MAX_WINDOW_FRAMES);
  if (!in_range(d->n_classes, 1, INSTRID_MAX_CLASSES))
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "n_classes %u outside 1..%u", d->n_classes,
                             INSTRID_MAX_CLASSES);
  if (!d->class_names || !d->thresholds)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                             "class_names and thresholds must not be NULL");
  for (uint32_t i = 0; i < d->n_classes; i++) {
    const char *name = d->class_names[i];
    if (!name || !class_name_ok(name, strnlen(name, INSTRID_MAX_CLASS_NAME + 1)))
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "class %u: name must be 1..%d printable ASCII characters", i,
                               INSTRID_MAX_CLASS_NAME);
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(name, d->class_names[j]) == 0)
        return instrid_set_error(err, INSTRID_ERR_FORMAT, "class %u: name \"%s\" repeats class %u",
                                 i, name, j);
    float t = d->thresholds[i];
    if (!(t >= 0.0f && t <= 1.0f))
      return instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "class %u (%s): threshold %g outside [0, 1]", i, name, (double)t);
  }
  if (d->provenance && strlen(d->provenance) > MODEL_FILE_MAX_PROVENANCE)
    return instrid_set_error(err, INSTRID_ERR_FORMAT, "provenance longer than %u bytes",
                             MODEL_FILE_MAX_PROVENANCE);
  instrid_shape input = {1, d->frontend.n_mels, d->window_frames};
  st = instrid_arch_shapes(d->layers, d->n_layers, input, shapes, err);
  if (st != INSTRID_OK)
    return st;
  instrid_shape last = shapes[d->n_layers - 1];
  if ((uint64_t)last.c * last.h * last.w != d->n_classes)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "the last layer's output %ux%ux%u is not n_classes %u values", last.c,
                             last.h, last.w, d->n_classes);
  uint64_t total = 0;
  uint32_t tensors = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    instrid_shape in = i ? shapes[i - 1] : input;
    total += instrid_layer_param_count(&d->layers[i], in); /* each <= 2^28: no overflow */
    tensors += layer_n_tensors(d->layers[i].type);
  }
  if (total > MODEL_MAX_PARAMS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%llu parameters in all, over the limit of %llu",
                             (unsigned long long)total, (unsigned long long)MODEL_MAX_PARAMS);
  *n_params = (size_t)total;
  *n_tensors = tensors;
  return INSTRID_OK;
}

/* Parameter values: finite, and variances non-negative so that folding is defined. */
static instrid_status check_param_values(const instrid_model_desc *d, const instrid_shape *shapes,
                                         instrid_error *err)
{
  instrid_shape input = {1, d->frontend.n_mels, d->window_frames};
  size_t at = 0;
  uint32_t tensor = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    instrid_shape in = i ? shapes[i - 1] : input;
    for (unsigned k = 0; k < layer_n_tensors(l->type); k++, tensor++) {
      tensor_spec t = layer_tensor_spec(l, in, k);
      for (size_t j = 0; j < t.count; j++) {
        float v = d->params[at + j];
        if (!isfinite(v) || (t.non_negative && v < 0.0f))
          return instrid_set_error(
              err, INSTRID_ERR_FORMAT, "tensor %u (%s %s of layer %u): element %zu is %g", tensor,
              layer_type_name(l->type), tensor_role_name(t.role), i, j, (double)v);
      }
      at += t.count;
    }
  }
  return INSTRID_OK;
}

instrid_status instrid_model_desc_param_count(const instrid_model_desc *desc, size_t *n_params,
                                              instrid_error *err)
{
  if (!desc || !n_params)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "desc and n_params must not be NULL");
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  instrid_shape input = {1, desc->frontend.n_mels, desc->window_frames};
  instrid_status st = instrid_arch_shapes(desc->layers, desc->n_layers, input, shapes, err);
  if (st != INSTRID_OK)
    return st;
  uint64_t total = 0;
  for (uint32_t i = 0; i < desc->n_layers; i++)
    total += instrid_layer_param_count(&desc->layers[i], i ? shapes[i - 1] : input);
  if (total > MODEL_MAX_PARAMS)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%llu parameters in all, over the limit of %llu",
                             (unsigned long long)total, (unsigned long long)MODEL_MAX_PARAMS);
  *n_params = (size_t)total;
  return INSTRID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing */

/* Byte offsets of the file's parts, computed once and followed by the writer. */
typedef struct {
  uint64_t header_end;  /* end of the tensor table */
  uint64_t data_offset; /* first tensor */
  uint64_t file_bytes;
} file_layout;

static file_layout compute_layout(const instrid_model_desc *d, const instrid_shape *shapes,
                                  uint32_t n_tensors, size_t provenance_bytes)
{
  instrid_shape input = {1, d->frontend.n_mels, d->window_frames};
  file_layout L;
  uint64_t pos = fixed_header_bytes(frontend_file_version(&d->frontend));
  for (uint32_t i = 0; i < d->n_classes; i++)
    pos += 1 + strlen(d->class_names[i]);
  pos += 4 * (uint64_t)d->n_classes + provenance_bytes;
  pos += (uint64_t)MODEL_FILE_LAYER_BYTES * d->n_layers;
  pos += (uint64_t)MODEL_FILE_TENSOR_ENTRY_BYTES * n_tensors;
  L.header_end = pos;
  L.data_offset = align_up_u64(pos);
  pos = L.data_offset;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    instrid_shape in = i ? shapes[i - 1] : input;
    for (unsigned k = 0; k < layer_n_tensors(d->layers[i].type); k++)
      pos = align_up_u64(pos) + 4 * layer_tensor_spec(&d->layers[i], in, k).count;
  }
  L.file_bytes = pos + MODEL_FILE_CHECKSUM_BYTES;
  return L;
}

static void serialise(const instrid_model_desc *d, const instrid_shape *shapes, uint32_t n_tensors,
                      size_t provenance_bytes, const file_layout *L, uint8_t *buf)
{
  const instrid_frontend_params *fe = &d->frontend;
  instrid_shape input = {1, fe->n_mels, d->window_frames};
  uint8_t *p = buf;
  memcpy(p, MODEL_FILE_MAGIC, MODEL_FILE_MAGIC_BYTES);
  const uint32_t version = frontend_file_version(fe);
  put_u32(p + MODEL_FILE_OFFSET_VERSION, version);
  put_u32(p + MODEL_FILE_OFFSET_FLAGS, 0);
  put_u64(p + MODEL_FILE_OFFSET_FILE_BYTES, L->file_bytes);
  const uint32_t ints[8] = {fe->sample_rate, fe->n_fft,  fe->win_length, fe->hop_samples,
                            fe->n_mels,      fe->window, fe->mel_scale,  fe->mel_norm};
  const float floats[6] = {fe->fmin_hz,   fe->fmax_hz,      fe->power,
                           fe->log_floor, fe->feature_mean, fe->feature_std};
  p = buf + MODEL_FILE_OFFSET_SAMPLE_RATE;
  for (int k = 0; k < 8; k++, p += 4)
    put_u32(p, ints[k]);
  for (int k = 0; k < 6; k++, p += 4)
    put_u32(p, float_bits(floats[k]));
  const uint32_t counts[6] = {d->window_frames, d->hop_frames, d->n_classes,
                              d->n_layers,      n_tensors,     (uint32_t)provenance_bytes};
  for (int k = 0; k < 6; k++, p += 4)
    put_u32(p, counts[k]);
  put_u64(p, L->data_offset);
  p += 8;
  if (version >= 2) {
    put_u32(p, float_bits(fe->preemphasis));
    put_u32(p + 4, fe->window_symmetric);
    put_u32(p + 8, fe->center);
    put_u32(p + 12, fe->log_mode);
    p += 16;
  }

  for (uint32_t i = 0; i < d->n_classes; i++) {
    size_t len = strlen(d->class_names[i]);
    *p++ = (uint8_t)len;
    memcpy(p, d->class_names[i], len);
    p += len;
  }
  for (uint32_t i = 0; i < d->n_classes; i++, p += 4)
    put_u32(p, float_bits(d->thresholds[i]));
  if (provenance_bytes)
    memcpy(p, d->provenance, provenance_bytes);
  p += provenance_bytes;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    put_u32(p, d->layers[i].type);
    for (int k = 0; k < INSTRID_LAYER_PARAMS; k++)
      put_u32(p + 4 + 4 * k, d->layers[i].p[k]);
    put_u32(p + 44, float_bits(d->layers[i].f0));
    p += MODEL_FILE_LAYER_BYTES;
  }

  /* The table and the data together: each tensor's offset is decided as it is written. */
  uint64_t pos = L->data_offset;
  size_t at = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    instrid_shape in = i ? shapes[i - 1] : input;
    for (unsigned k = 0; k < layer_n_tensors(d->layers[i].type); k++) {
      tensor_spec t = layer_tensor_spec(&d->layers[i], in, k);
      pos = align_up_u64(pos);
      put_u32(p, i);
      put_u32(p + 4, t.role);
      put_u32(p + 8, t.ndims);
      for (int dd = 0; dd < 4; dd++)
        put_u32(p + 12 + 4 * dd, t.dims[dd]);
      put_u64(p + 28, pos);
      p += MODEL_FILE_TENSOR_ENTRY_BYTES;
      uint8_t *data = buf + pos;
      for (uint64_t j = 0; j < t.count; j++)
        put_u32(data + 4 * j, float_bits(d->params[at + j]));
      at += t.count;
      pos += 4 * t.count;
    }
  }
  /* Padding bytes are zero because the buffer came from calloc. */
  put_u32(buf + L->file_bytes - 4, instrid_crc32c(buf, (size_t)L->file_bytes - 4));
}

instrid_status instrid_model_write_to_memory(const instrid_model_desc *desc, void **data,
                                             size_t *size, instrid_error *err)
{
  if (!desc || !data || !size)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "desc, data and size must not be NULL");
  *data = NULL;
  *size = 0;
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  size_t n_params;
  uint32_t n_tensors;
  instrid_status st = check_desc_meta(desc, shapes, &n_params, &n_tensors, err);
  if (st != INSTRID_OK)
    return st;
  if (desc->n_params != n_params || (n_params && !desc->params))
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "n_params is %zu, the layers need %zu",
                             desc->n_params, n_params);
  st = check_param_values(desc, shapes, err);
  if (st != INSTRID_OK)
    return st;
  size_t provenance_bytes = desc->provenance ? strlen(desc->provenance) : 0;
  file_layout L = compute_layout(desc, shapes, n_tensors, provenance_bytes);
  if (L.file_bytes > MODEL_FILE_MAX_BYTES || L.file_bytes > SIZE_MAX)
    return instrid_set_error(
        err, INSTRID_ERR_FORMAT, "the model would take %llu bytes, over the limit of %llu",
        (unsigned long long)L.file_bytes, (unsigned long long)MODEL_FILE_MAX_BYTES);
  uint8_t *buf = calloc(1, (size_t)L.file_bytes);
  if (!buf)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate %llu bytes",
                             (unsigned long long)L.file_bytes);
  serialise(desc, shapes, n_tensors, provenance_bytes, &L, buf);
  *data = buf;
  *size = (size_t)L.file_bytes;
  return INSTRID_OK;
}

/* Makes the rename itself durable; failure here leaves a complete file either way. */
static void sync_parent_dir(const char *path)
{
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else if ((size_t)(slash - path) < sizeof dir)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  else
    return;
  FILE *f = fopen(dir, "r");
  if (f) {
    fsync(fileno(f));
    fclose(f);
  }
}

void instrid_remove_stale_temps(const char *path)
{
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char dir[4096];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else if ((size_t)(slash - path) < sizeof dir)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  else
    return;
  size_t base_len = strlen(base);
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
      continue;
    const char *digits = name + base_len + 5;
    char *end = NULL;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (digits[0] < '1' || digits[0] > '9' || *end != '\0' || errno != 0 || pid > INT_MAX ||
        pid == (long)getpid())
      continue;
    /* Alive, or not ours to signal (EPERM): a writer may still be at work. */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    char full[8192];
    if (snprintf(full, sizeof full, "%s/%s", dir, name) < (int)sizeof full)
      unlink(full);
  }
  closedir(d);
}

instrid_status instrid_model_write(const instrid_model_desc *desc, const char *path,
                                   instrid_error *err)
{
  if (!path)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "path must not be NULL");
  void *data = NULL;
  size_t size = 0;
  instrid_status st = instrid_model_write_to_memory(desc, &data, &size, err);
  if (st != INSTRID_OK)
    return st;

  /* A writer killed between creating its temporary file and renaming it leaves the file; the
   * next write of the same path removes those of processes that no longer exist. */
  instrid_remove_stale_temps(path);
  char *tmp = NULL;
  FILE *f = NULL;
  int n = snprintf(NULL, 0, "%s.tmp.%ld", path, (long)getpid());
  if (n < 0 || !(tmp = malloc((size_t)n + 1))) {
    st = instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: cannot allocate the temporary name", path);
    goto done;
  }
  snprintf(tmp, (size_t)n + 1, "%s.tmp.%ld", path, (long)getpid());
  f = fopen(tmp, "wb");
  if (!f) {
    st = instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    goto done;
  }
  if (fwrite(data, 1, size, f) != size || fflush(f) != 0 || fsync(fileno(f)) != 0) {
    st = instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    goto done;
  }
  int close_failed = fclose(f) != 0;
  f = NULL;
  if (close_failed) {
    st = instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot close: %s", tmp, strerror(errno));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    st = instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot rename to %s: %s", tmp, path,
                           strerror(errno));
    goto done;
  }
  sync_parent_dir(path);
  st = INSTRID_OK;

done:
  if (f)
    fclose(f);
  if (st != INSTRID_OK && tmp)
    remove(tmp);
  free(tmp);
  free(data);
  return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading */

/* What the model owns besides the folded weights; model->storage points here. */
typedef struct {
  char **names;      /* n_classes pointers into name_chars */
  char *name_chars;  /* n_classes slots of INSTRID_MAX_CLASS_NAME + 1 bytes */
  float *thresholds; /* n_classes */
  char *provenance;  /* NUL-terminated */
  instrid_layer_desc *layers;
  float *params; /* n_params, as in the file */
} model_storage;

static void storage_free(model_storage *s)
{
  if (!s)
    return;
  free(s->names);
  free(s->name_chars);
  free(s->thresholds);
  free(s->provenance);
  free(s->layers);
  instrid_free_aligned(s->params);
  free(s);
}

void instrid_model_free(instrid_model *model)
{
  if (!model)
    return;
  storage_free(model->storage);
  free(model->steps);
  instrid_free_aligned(model->folded);
  free(model);
}

/* A bounds-checked cursor over the file; a read past the end is a format error because the
 * file's length already matched file_bytes when the cursor starts. */
typedef struct {
  const uint8_t *data;
  size_t size;
  size_t pos;
  instrid_error *err;
} reader;

static int take(reader *r, size_t n, const char *field, const uint8_t **p)
{
  if (n > r->size - r->pos) {
    instrid_set_error(r->err, INSTRID_ERR_FORMAT,
                      "%s at offset %zu runs past the end of the data (%zu bytes)", field, r->pos,
                      r->size);
    return 0;
  }
  *p = r->data + r->pos;
  r->pos += n;
  return 1;
}

/* Builds the inference plan: BATCHNORM folded into the CONV2D before it (unless the batch
 * norm's input is a residual's skip), DROPOUT dropped, RESIDUAL_ADD's `back` remapped to steps.
 */
static instrid_status build_steps(instrid_model *m, const instrid_shape *shapes, instrid_error *err)
{
  const instrid_model_desc *d = &m->desc;
  uint64_t folded_floats = 0;
  instrid_shape in = m->input;
  /* Every tensor a step reads gets a copy in a 16-float (64-byte) aligned slot, so that GEMM
   * operands start aligned and folding can write them; a lone batch norm two more (scale and
   * shift). A folded batch norm's slots go unused. */
  for (uint32_t i = 0; i < d->n_layers; i++) {
    for (unsigned k = 0; k < layer_n_tensors(d->layers[i].type); k++)
      folded_floats += (layer_tensor_spec(&d->layers[i], in, k).count + 15) & ~(uint64_t)15;
    if (d->layers[i].type == INSTRID_LAYER_BATCHNORM)
      folded_floats += 2 * (((uint64_t)in.c + 15) & ~(uint64_t)15);
    in = shapes[i];
  }
  /* skip_input[j]: a later RESIDUAL_ADD adds the input of layer j. */
  uint8_t skip_input[INSTRID_MAX_LAYERS] = {0};
  for (uint32_t i = 0; i < d->n_layers; i++)
    if (d->layers[i].type == INSTRID_LAYER_RESIDUAL_ADD)
      skip_input[i - d->layers[i].p[0]] = 1;
  m->steps = calloc(d->n_layers, sizeof *m->steps);
  m->folded = instrid_alloc_floats_filled((size_t)folded_floats);
  if (!m->steps || !m->folded)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate the inference plan");

  /* out_step[i]: the step whose output is layer i's output (-1: the network input). */
  int32_t out_step[INSTRID_MAX_LAYERS];
  float *slot = m->folded;
  const float *param = d->params;
  size_t max_act = (size_t)m->input.c * m->input.h * m->input.w;
  in = m->input;
  m->n_steps = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    const instrid_layer_entry *e = instrid_layer_entry_find(l->type);
    instrid_shape out = shapes[i];
    size_t act = (size_t)out.c * out.h * out.w;
    if (act > max_act)
      max_act = act;
    instrid_step *prev = m->n_steps ? &m->steps[m->n_steps - 1] : NULL;

    if (l->type == INSTRID_LAYER_DROPOUT) {
      /* identity at inference */
    } else if (l->type == INSTRID_LAYER_BATCHNORM && prev &&
               prev->layer.type == INSTRID_LAYER_CONV2D && !skip_input[i]) {
      /* w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps), per output
       * channel; the conv's weight and bias are already copies in `folded`. */
      uint32_t c = in.c;
      const float *gamma = param, *beta = param + c, *mean = param + 2 * c, *var = param + 3 * c;
      float *w = (float *)prev->weight, *b = (float *)prev->bias;
      size_t per_channel = layer_tensor_spec(&prev->layer, prev->in, 0).count / c;
      for (uint32_t ch = 0; ch < c; ch++) {
        float sc = (float)((double)gamma[ch] / sqrt((double)var[ch] + (double)l->f0));
        for (size_t j = 0; j < per_channel; j++)
          w[ch * per_channel + j] *= sc;
        b[ch] = (b[ch] - mean[ch]) * sc + beta[ch];
      }
    } else {
      instrid_step *st = &m->steps[m->n_steps++];
      memset(st, 0, sizeof *st);
      st->layer = *l;
      st->entry = e;
      e->unpack(l, &st->params);
      st->in = in;
      st->out = out;
      const float *t = param;
      for (unsigned k = 0; k < e->n_tensors; k++) {
        size_t count = (size_t)layer_tensor_spec(l, in, k).count;
        memcpy(slot, t, count * sizeof *slot);
        st->t[k] = slot;
        slot += (count + 15) & ~(size_t)15;
        t += count;
      }
      st->weight = st->t[0];
      st->bias = st->t[1];
      if (l->type == INSTRID_LAYER_BATCHNORM) {
        /* A lone batch norm: scale and shift, for the channels-last loop in net.c. */
        uint32_t c = in.c;
        float *scale = slot, *shift = slot + ((c + 15) & ~(size_t)15);
        slot = shift + ((c + 15) & ~(size_t)15);
        for (uint32_t ch = 0; ch < c; ch++) {
          scale[ch] = (float)((double)st->t[0][ch] / sqrt((double)st->t[3][ch] + (double)l->f0));
          shift[ch] = st->t[1][ch] - st->t[2][ch] * scale[ch];
        }
        st->weight = scale;
        st->bias = shift;
      }
      if (l->type == INSTRID_LAYER_RESIDUAL_ADD) {
        const uint32_t src = i - l->p[0];
        st->skip_from = src ? (uint32_t)(out_step[src - 1] + 1) : 0;
        st->params.residual.back = (m->n_steps - 1) - st->skip_from;
      }
    }
    if (l->type == INSTRID_LAYER_EMBEDDING)
      m->embedding_size = (uint32_t)((size_t)in.c * in.h * in.w);
    out_step[i] = (int32_t)m->n_steps - 1;
    param += instrid_layer_param_count(l, in);
    in = out;
  }
  m->max_activation = max_act;
  return INSTRID_OK;
}

/* Parses and checks the whole file; messages are prefixed with `name` by the caller. */
static instrid_model *parse_model(const uint8_t *data, size_t size, instrid_error *err)
{
  instrid_model *m = NULL;
  model_storage *s = NULL;
  instrid_shape shapes[INSTRID_MAX_LAYERS];

  if (memcmp(data, MODEL_FILE_MAGIC,
             size < MODEL_FILE_MAGIC_BYTES ? size : MODEL_FILE_MAGIC_BYTES) != 0) {
    instrid_set_error(err, INSTRID_ERR_MAGIC, "not an instrid model file (bad magic)");
    return NULL;
  }
  if (size > MODEL_FILE_MAX_BYTES) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "%zu bytes, over the limit of %llu", size,
                      (unsigned long long)MODEL_FILE_MAX_BYTES);
    return NULL;
  }
  if (size < MODEL_FILE_PROLOGUE_BYTES) {
    instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%zu bytes, shorter than the %d-byte prologue",
                      size, MODEL_FILE_PROLOGUE_BYTES);
    return NULL;
  }
  uint32_t version = get_u32(data + MODEL_FILE_OFFSET_VERSION);
  if (version < MODEL_FILE_VERSION_MIN || version > MODEL_FILE_VERSION) {
    instrid_set_error(err, INSTRID_ERR_VERSION,
                      "file version %u, this library reads versions %u..%u", version,
                      MODEL_FILE_VERSION_MIN, MODEL_FILE_VERSION);
    return NULL;
  }
  const uint64_t header_bytes = fixed_header_bytes(version);
  uint32_t flags = get_u32(data + MODEL_FILE_OFFSET_FLAGS);
  if (flags != 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "flags 0x%x at offset %d, must be 0", flags,
                      MODEL_FILE_OFFSET_FLAGS);
    return NULL;
  }
  uint64_t file_bytes = get_u64(data + MODEL_FILE_OFFSET_FILE_BYTES);
  if (file_bytes > size) {
    instrid_set_error(err, INSTRID_ERR_TRUNCATED, "%zu bytes, the header announces %llu", size,
                      (unsigned long long)file_bytes);
    return NULL;
  }
  if (file_bytes < size) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "%zu bytes, the header announces only %llu", size,
                      (unsigned long long)file_bytes);
    return NULL;
  }
  if (size < header_bytes + MODEL_FILE_CHECKSUM_BYTES) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "file_bytes %zu too small for the header", size);
    return NULL;
  }
  uint32_t stored_crc = get_u32(data + size - 4);
  uint32_t crc = instrid_crc32c(data, size - 4);
  if (crc != stored_crc) {
    instrid_set_error(err, INSTRID_ERR_CHECKSUM, "checksum 0x%08x, the file says 0x%08x", crc,
                      stored_crc);
    return NULL;
  }
  reader r = {data, size - MODEL_FILE_CHECKSUM_BYTES, (size_t)header_bytes, err};

  m = calloc(1, sizeof *m);
  s = calloc(1, sizeof *s);
  if (!m || !s) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate the model");
    goto fail;
  }
  m->storage = s;
  instrid_model_desc *d = &m->desc;
  instrid_frontend_params *fe = &d->frontend;
  const uint8_t *p = data + MODEL_FILE_OFFSET_SAMPLE_RATE;
  uint32_t *ints[8] = {&fe->sample_rate, &fe->n_fft,  &fe->win_length, &fe->hop_samples,
                       &fe->n_mels,      &fe->window, &fe->mel_scale,  &fe->mel_norm};
  float *floats[6] = {&fe->fmin_hz,   &fe->fmax_hz,      &fe->power,
                      &fe->log_floor, &fe->feature_mean, &fe->feature_std};
  for (int k = 0; k < 8; k++, p += 4)
    *ints[k] = get_u32(p);
  for (int k = 0; k < 6; k++, p += 4)
    *floats[k] = bits_float(get_u32(p));
  d->window_frames = get_u32(p);
  d->hop_frames = get_u32(p + 4);
  d->n_classes = get_u32(p + 8);
  d->n_layers = get_u32(p + 12);
  uint32_t n_tensors = get_u32(p + 16);
  uint32_t provenance_bytes = get_u32(p + 20);
  uint64_t data_offset = get_u64(p + 24);
  if (version >= 2) {
    const uint8_t *v2 = data + MODEL_FILE_OFFSET_PREEMPHASIS;
    fe->preemphasis = bits_float(get_u32(v2));
    fe->window_symmetric = get_u32(v2 + 4);
    fe->center = get_u32(v2 + 8);
    fe->log_mode = get_u32(v2 + 12);
  }
  /* One model, one file: each version holds exactly the front ends it is needed for. */
  if (version == 1 && fe->mel_scale == INSTRID_MEL_KALDI) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "mel_scale 2 (kaldi) at offset 48 needs file version 2, the file says 1");
    goto fail;
  }
  if (version == 2 && frontend_file_version(fe) == 1) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "file version 2 with a front end version 1 holds (write it as version 1)");
    goto fail;
  }

  /* Counts that size allocations are bounded first. */
  if (!in_range(d->n_classes, 1, INSTRID_MAX_CLASSES)) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "n_classes %u at offset %d outside 1..%u",
                      d->n_classes, MODEL_FILE_OFFSET_N_CLASSES, INSTRID_MAX_CLASSES);
    goto fail;
  }
  if (!in_range(d->n_layers, 1, INSTRID_MAX_LAYERS)) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "n_layers %u at offset %d outside 1..%u",
                      d->n_layers, MODEL_FILE_OFFSET_N_LAYERS, INSTRID_MAX_LAYERS);
    goto fail;
  }
  if (provenance_bytes > MODEL_FILE_MAX_PROVENANCE) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "provenance_bytes %u at offset %d over %u",
                      provenance_bytes, MODEL_FILE_OFFSET_PROVENANCE_BYTES,
                      MODEL_FILE_MAX_PROVENANCE);
    goto fail;
  }
  s->names = calloc(d->n_classes, sizeof *s->names);
  s->name_chars = calloc(d->n_classes, INSTRID_MAX_CLASS_NAME + 1);
  s->thresholds = calloc(d->n_classes, sizeof *s->thresholds);
  s->provenance = calloc((size_t)provenance_bytes + 1, 1);
  s->layers = calloc(d->n_layers, sizeof *s->layers);
  if (!s->names || !s->name_chars || !s->thresholds || !s->provenance || !s->layers) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate the header");
    goto fail;
  }

  for (uint32_t i = 0; i < d->n_classes; i++) {
    char field[64];
    snprintf(field, sizeof field, "class %u name", i);
    size_t at = r.pos;
    if (!take(&r, 1, field, &p))
      goto fail;
    size_t len = p[0];
    if (!take(&r, len, field, &p))
      goto fail;
    if (!class_name_ok((const char *)p, len)) {
      instrid_set_error(err, INSTRID_ERR_FORMAT,
                        "class %u name at offset %zu: length %zu or characters outside 1..%d "
                        "printable ASCII",
                        i, at, len, INSTRID_MAX_CLASS_NAME);
      goto fail;
    }
    s->names[i] = s->name_chars + (size_t)i * (INSTRID_MAX_CLASS_NAME + 1);
    memcpy(s->names[i], p, len);
  }
  if (!take(&r, 4 * (size_t)d->n_classes, "thresholds", &p))
    goto fail;
  for (uint32_t i = 0; i < d->n_classes; i++)
    s->thresholds[i] = bits_float(get_u32(p + 4 * i));
  size_t provenance_at = r.pos;
  if (!take(&r, provenance_bytes, "provenance", &p))
    goto fail;
  if (memchr(p, 0, provenance_bytes)) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "provenance at offset %zu contains a NUL byte",
                      provenance_at);
    goto fail;
  }
  memcpy(s->provenance, p, provenance_bytes);
  if (!take(&r, (size_t)MODEL_FILE_LAYER_BYTES * d->n_layers, "layer list", &p))
    goto fail;
  for (uint32_t i = 0; i < d->n_layers; i++, p += MODEL_FILE_LAYER_BYTES) {
    s->layers[i].type = get_u32(p);
    for (int k = 0; k < INSTRID_LAYER_PARAMS; k++)
      s->layers[i].p[k] = get_u32(p + 4 + 4 * k);
    s->layers[i].f0 = bits_float(get_u32(p + 44));
  }
  d->class_names = (const char *const *)s->names;
  d->thresholds = s->thresholds;
  d->provenance = s->provenance;
  d->layers = s->layers;

  size_t n_params;
  uint32_t expected_tensors;
  if (check_desc_meta(d, shapes, &n_params, &expected_tensors, err) != INSTRID_OK)
    goto fail;
  if (n_tensors != expected_tensors) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "n_tensors %u at offset %d, the layers need %u",
                      n_tensors, MODEL_FILE_OFFSET_N_TENSORS, expected_tensors);
    goto fail;
  }
  /* The totals the fields multiply into, before anything is allocated for the parameters
   * (budget.c; the limits are in instrid.h). */
  instrid_model_cost cost;
  if (instrid_model_desc_cost(d, &cost, err) != INSTRID_OK ||
      instrid_model_cost_check(&cost, err) != INSTRID_OK)
    goto fail;
  size_t table_at = r.pos;
  const uint8_t *table;
  if (!take(&r, (size_t)MODEL_FILE_TENSOR_ENTRY_BYTES * n_tensors, "tensor table", &table))
    goto fail;
  if (data_offset != align_up_u64(r.pos)) {
    instrid_set_error(err, INSTRID_ERR_FORMAT,
                      "tensor_data_offset %llu at offset %d, expected %llu (table end %zu "
                      "rounded up to %d)",
                      (unsigned long long)data_offset, MODEL_FILE_OFFSET_TENSOR_DATA,
                      (unsigned long long)align_up_u64(r.pos), r.pos, MODEL_FILE_ALIGNMENT);
    goto fail;
  }

  s->params = instrid_alloc_floats_filled(n_params);
  if (!s->params) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "cannot allocate %zu parameters", n_params);
    goto fail;
  }
  d->params = s->params;
  d->n_params = n_params;
  m->input = (instrid_shape){1, fe->n_mels, d->window_frames};

  uint64_t pos = r.pos; /* end of what has been accounted for; the gaps must be zero */
  size_t at = 0;
  uint32_t tensor = 0;
  for (uint32_t i = 0; i < d->n_layers; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    instrid_shape in = i ? shapes[i - 1] : m->input;
    for (unsigned k = 0; k < layer_n_tensors(l->type); k++, tensor++) {
      const uint8_t *e = table + (size_t)tensor * MODEL_FILE_TENSOR_ENTRY_BYTES;
      tensor_spec t = layer_tensor_spec(l, in, k);
      uint32_t f_layer = get_u32(e), f_role = get_u32(e + 4), f_ndims = get_u32(e + 8);
      uint32_t f_dims[4] = {get_u32(e + 12), get_u32(e + 16), get_u32(e + 20), get_u32(e + 24)};
      uint64_t f_offset = get_u64(e + 28);
      size_t entry_at = table_at + (size_t)tensor * MODEL_FILE_TENSOR_ENTRY_BYTES;
      const char *tn = layer_type_name(l->type), *rn = tensor_role_name(t.role);
      if (f_layer != i || f_role != t.role) {
        instrid_set_error(err, INSTRID_ERR_FORMAT,
                          "tensor %u (table entry at offset %zu): layer %u role %u (%s), "
                          "expected layer %u role %u (%s)",
                          tensor, entry_at, f_layer, f_role, tensor_role_name(f_role), i, t.role,
                          rn);
        goto fail;
      }
      if (f_ndims != t.ndims || memcmp(f_dims, t.dims, sizeof f_dims) != 0) {
        char got[64], want[64];
        int g = 0, w = 0;
        for (uint32_t dd = 0; dd < 4 && dd < (f_ndims ? f_ndims : 1); dd++)
          g += snprintf(got + g, sizeof got - (size_t)g, dd ? "x%u" : "%u", f_dims[dd]);
        if (f_ndims > 4)
          snprintf(got + g, sizeof got - (size_t)g, " (ndims %u)", f_ndims);
        for (uint32_t dd = 0; dd < t.ndims; dd++)
          w += snprintf(want + w, sizeof want - (size_t)w, dd ? "x%u" : "%u", t.dims[dd]);
        instrid_set_error(err, INSTRID_ERR_FORMAT,
                          "tensor %u (%s %s of layer %u): dims %s, expected %s", tensor, tn, rn, i,
                          got, want);
        goto fail;
      }
      uint64_t want_offset = align_up_u64(pos);
      if (f_offset != want_offset) {
        instrid_set_error(err, INSTRID_ERR_FORMAT,
                          "tensor %u (%s %s of layer %u): offset %llu, expected %llu", tensor, tn,
                          rn, i, (unsigned long long)f_offset, (unsigned long long)want_offset);
        goto fail;
      }
      /* count <= 2^28 and offsets <= file size <= 1 GiB: these sums cannot overflow. */
      uint64_t end = f_offset + 4 * t.count;
      if (end > r.size) {
        instrid_set_error(err, INSTRID_ERR_FORMAT,
                          "tensor %u (%s %s of layer %u): data [%llu, %llu) runs past the "
                          "end of the data at %zu",
                          tensor, tn, rn, i, (unsigned long long)f_offset, (unsigned long long)end,
                          r.size);
        goto fail;
      }
      for (uint64_t b = pos; b < f_offset; b++)
        if (data[b] != 0) {
          instrid_set_error(err, INSTRID_ERR_FORMAT, "padding byte at offset %llu is not zero",
                            (unsigned long long)b);
          goto fail;
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __FLT_MANT_DIG__ == 24
      /* The file's little-endian float32 is the host's float. */
      memcpy(s->params + at, data + f_offset, (size_t)t.count * sizeof(float));
#else
      for (uint64_t j = 0; j < t.count; j++)
        s->params[at + j] = bits_float(get_u32(data + f_offset + 4 * j));
#endif
      at += (size_t)t.count;
      pos = end;
    }
  }
  if (tensor == 0) {
    /* No tensors: the padding up to tensor_data_offset still has to be zero. */
    for (uint64_t b = pos; b < data_offset && b < r.size; b++)
      if (data[b] != 0) {
        instrid_set_error(err, INSTRID_ERR_FORMAT, "padding byte at offset %llu is not zero",
                          (unsigned long long)b);
        goto fail;
      }
    pos = data_offset;
  }
  if (pos != r.size) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "the tensors end at %llu, the checksum is at %zu",
                      (unsigned long long)pos, r.size);
    goto fail;
  }
  if (check_param_values(d, shapes, err) != INSTRID_OK)
    goto fail;
  if (build_steps(m, shapes, err) != INSTRID_OK)
    goto fail;
  return m;

fail:
  if (m)
    instrid_model_free(m);
  else
    storage_free(s);
  return NULL;
}

static instrid_model *load_named(const void *data, size_t size, const char *name,
                                 instrid_error *err)
{
  instrid_error local;
  local.code = INSTRID_OK;
  local.message[0] = '\0';
  instrid_model *m = parse_model(data, size, &local);
  if (!m && err) {
    err->code = local.code;
    snprintf(err->message, sizeof err->message, "%s: %.200s", name, local.message);
  }
  return m;
}

instrid_model *instrid_model_load_from_memory(const void *data, size_t size, instrid_error *err)
{
  if (!data && size) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "data must not be NULL");
    return NULL;
  }
  static const uint8_t empty[1] = {0};
  return load_named(data ? data : empty, size, "<memory>", err);
}

instrid_model *instrid_model_load(const char *path, instrid_error *err)
{
  if (!path) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "path must not be NULL");
    return NULL;
  }
  /* O_NONBLOCK: opening a FIFO for reading would wait for a writer; the fstat below refuses
   * it as not a regular file before anything is read. Reads of regular files ignore it. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (!f) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  uint8_t *buf = NULL;
  instrid_model *m = NULL;
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(sb.st_mode)) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  if ((uint64_t)sb.st_size > MODEL_FILE_MAX_BYTES) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: %lld bytes, over the limit of %llu", path,
                      (long long)sb.st_size, (unsigned long long)MODEL_FILE_MAX_BYTES);
    goto done;
  }
  size_t size = (size_t)sb.st_size;
  /* Filled by the read at once: mapped whole, not faulted in page by page. */
  buf = (uint8_t *)instrid_alloc_floats_filled(size / sizeof(float) + 1);
  if (!buf) {
    instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size);
    goto done;
  }
  if (fread(buf, 1, size, f) != size) {
    instrid_set_error(err, ferror(f) ? INSTRID_ERR_IO : INSTRID_ERR_TRUNCATED,
                      "%s: cannot read %zu bytes", path, size);
    goto done;
  }
  m = load_named(buf, size, path, err);

done:
  instrid_free_aligned(buf);
  fclose(f);
  return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors */

const instrid_model_desc *instrid_model_get_desc(const instrid_model *model)
{
  return &model->desc;
}

uint32_t instrid_model_n_classes(const instrid_model *model)
{
  return model->desc.n_classes;
}

const char *instrid_model_class_name(const instrid_model *model, uint32_t i)
{
  return i < model->desc.n_classes ? model->desc.class_names[i] : NULL;
}

float instrid_model_threshold(const instrid_model *model, uint32_t i)
{
  return i < model->desc.n_classes ? model->desc.thresholds[i] : NAN;
}

uint32_t instrid_model_sample_rate(const instrid_model *model)
{
  return model->desc.frontend.sample_rate;
}

uint32_t instrid_model_window_frames(const instrid_model *model)
{
  return model->desc.window_frames;
}

uint32_t instrid_model_hop_frames(const instrid_model *model)
{
  return model->desc.hop_frames;
}

uint32_t instrid_model_hop_samples(const instrid_model *model)
{
  return model->desc.frontend.hop_samples;
}

uint32_t instrid_model_embedding_size(const instrid_model *model)
{
  return model->embedding_size;
}

const char *instrid_model_provenance(const instrid_model *model)
{
  return model->desc.provenance ? model->desc.provenance : "";
}
