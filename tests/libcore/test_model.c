/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_model.c — the model file: round trips, batch-norm folding, and rejection of truncated,
 * corrupted and out-of-range files with specific errors.
 * meson also runs it under valgrind: every prefix and every flipped byte of a file is loaded
 * from an exact-size copy, so an over-read or a leak on any error path shows up there. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "instrid.h"
#include "model_file.h"
#include "model_internal.h"
#include "rng.h"
#include "testnet.h"

/* The checksum stored in the tiny file make_tiny(3) writes. */
#define TINY_FILE_CRC 0x8032f33fu

static void put_u32_le(uint8_t *p, uint32_t v)
{
  for (int k = 0; k < 4; k++)
    p[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t get_u32_le(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Recomputes the trailing CRC so that a deliberately patched field reaches the field checks. */
static void reseal(uint8_t *buf, size_t size)
{
  put_u32_le(buf + size - 4, instrid_crc32c(buf, size - 4));
}

static int desc_equal(const instrid_model_desc *a, const instrid_model_desc *b)
{
  if (memcmp(&a->frontend, &b->frontend, sizeof a->frontend) != 0)
    return 0;
  if (a->window_frames != b->window_frames || a->hop_frames != b->hop_frames ||
      a->n_classes != b->n_classes || a->n_layers != b->n_layers || a->n_params != b->n_params)
    return 0;
  for (uint32_t i = 0; i < a->n_classes; i++)
    if (strcmp(a->class_names[i], b->class_names[i]) != 0 || a->thresholds[i] != b->thresholds[i])
      return 0;
  const char *pa = a->provenance ? a->provenance : "", *pb = b->provenance ? b->provenance : "";
  if (strcmp(pa, pb) != 0)
    return 0;
  if (memcmp(a->layers, b->layers, a->n_layers * sizeof *a->layers) != 0)
    return 0;
  return memcmp(a->params, b->params, a->n_params * sizeof *a->params) == 0;
}

/* A tiny model with non-trivial batch-norm statistics, thresholds and provenance. */
static testnet *make_tiny(uint32_t n_classes)
{
  testnet *net = testnet_build("tiny", n_classes, 42);
  if (!net)
    exit(1);
  testnet_randomize_batchnorm(net, 7);
  float *t = testnet_thresholds(net);
  for (uint32_t i = 0; i < n_classes; i++)
    t[i] = 0.25f + 0.125f * (float)i;
  testnet_set_class_name(net, 0, "violin");
  testnet_set_provenance(net, "test_model: tiny, seed 42");
  return net;
}

/* CRC-32C one bit at a time, straight from the definition, to check the fast one against. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

static void test_crc32c(void)
{
  /* The standard check value of CRC-32C (iSCSI). */
  CHECK(instrid_crc32c("123456789", 9) == 0xE3069283u, "crc32c(123456789) = 0x%08x",
        instrid_crc32c("123456789", 9));
  CHECK(instrid_crc32c("", 0) == 0, "crc32c of nothing");
  /* Every length 0..100 at every alignment 0..7 (the 8-byte loop and its tail). */
  uint8_t bytes[112];
  for (int i = 0; i < 112; i++)
    bytes[i] = (uint8_t)(i * 37 + 11);
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n <= 100; n++)
      CHECK(instrid_crc32c(bytes + off, n) == crc32c_bitwise(bytes + off, n),
            "crc32c at offset %zu length %zu", off, n);
}

/* libcore's shape inference and parameter count on the reference layer list. */
static void test_reference_shapes(void)
{
  instrid_error err;
  testnet *ref = testnet_build("reference", 25, 1);
  CHECK(ref != NULL, "reference");
  if (!ref)
    return;
  const instrid_model_desc d = *testnet_desc(ref);
  /* 4 conv blocks: 9*(1*32 + 32*64 + 64*128 + 128*256) weights + 480 biases, BN 4*480,
   * dense 512*25 + 25. */
  size_t expect = 9 * (32 + 32 * 64 + 64 * 128 + 128 * 256) + 480 + 4 * 480 + 512 * 25 + 25;
  CHECK(d.n_params == expect, "reference n_params %zu, expected %zu", d.n_params, expect);
  instrid_shape shapes[INSTRID_MAX_LAYERS];
  CHECK(instrid_arch_shapes(d.layers, d.n_layers, (instrid_shape){1, 128, 128}, shapes, &err) ==
            INSTRID_OK,
        "%s", err.message);
  CHECK(shapes[15].c == 256 && shapes[15].h == 8 && shapes[15].w == 8, "after block 4: %ux%ux%u",
        shapes[15].c, shapes[15].h, shapes[15].w);
  CHECK(shapes[17].c == 512 && shapes[17].h == 1 && shapes[17].w == 1, "pooled: %ux%ux%u",
        shapes[17].c, shapes[17].h, shapes[17].w);
  testnet_free(ref);
}

static void test_round_trip_memory(void)
{
  instrid_error err;
  testnet *net = make_tiny(3);
  const instrid_model_desc *d = testnet_desc(net);
  void *buf = NULL;
  size_t size = 0;
  CHECK(instrid_model_write_to_memory(d, &buf, &size, &err) == INSTRID_OK, "%s", err.message);
  instrid_model *m = instrid_model_load_from_memory(buf, size, &err);
  CHECK(m != NULL, "load: %s", err.message);
  if (m) {
    CHECK(desc_equal(d, instrid_model_get_desc(m)), "desc differs after the round trip");
    CHECK(instrid_model_n_classes(m) == 3 &&
              strcmp(instrid_model_class_name(m, 0), "violin") == 0 &&
              strcmp(instrid_model_class_name(m, 2), "class2") == 0 &&
              instrid_model_class_name(m, 3) == NULL,
          "class names");
    CHECK(instrid_model_threshold(m, 1) == 0.375f && isnan(instrid_model_threshold(m, 3)),
          "thresholds");
    CHECK(instrid_model_sample_rate(m) == 8000 && instrid_model_window_frames(m) == 16 &&
              instrid_model_hop_frames(m) == 8 && instrid_model_hop_samples(m) == 128,
          "front end accessors");
    CHECK(strcmp(instrid_model_provenance(m), "test_model: tiny, seed 42") == 0, "provenance");
    /* Writing the loaded description again gives the same bytes: the layout is canonical. */
    void *buf2 = NULL;
    size_t size2 = 0;
    CHECK(instrid_model_write_to_memory(instrid_model_get_desc(m), &buf2, &size2, &err) ==
                  INSTRID_OK &&
              size2 == size && memcmp(buf, buf2, size) == 0,
          "rewrite differs");
    free(buf2);
  }
  /* Little-endian whatever the host: spot-check bytes at documented offsets. */
  const uint8_t *b = buf;
  CHECK(memcmp(b, "INSTRID\x1a", 8) == 0 && b[8] == 1 && b[9] == 0 && b[10] == 0 && b[11] == 0,
        "magic/version bytes");
  CHECK(b[MODEL_FILE_OFFSET_N_MELS] == 16 && b[MODEL_FILE_OFFSET_N_MELS + 1] == 0 &&
            b[MODEL_FILE_OFFSET_SAMPLE_RATE] == 0x40 &&
            b[MODEL_FILE_OFFSET_SAMPLE_RATE + 1] == 0x1F,
        "n_mels 16 and sample_rate 8000 (0x1F40) not little-endian");
  CHECK(get_u32_le(b + MODEL_FILE_OFFSET_TENSOR_DATA) % 64 == 0, "tensor data not aligned");
  /* Pins the format, the RNG and the initialisation: a change to any of them must be
   * deliberate (and, for the format, come with a new version). */
  CHECK(size == 3600 && get_u32_le(b + size - 4) == TINY_FILE_CRC,
        "tiny file: %zu bytes, crc 0x%08x", size, get_u32_le(b + size - 4));
  instrid_model_free(m);
  instrid_model_free(NULL);
  free(buf);
  testnet_free(net);

  /* The reference architecture round-trips too (1.6 MB). */
  testnet *ref = testnet_build("reference", 25, 3);
  CHECK(ref != NULL, "reference");
  testnet_randomize_batchnorm(ref, 4);
  CHECK(instrid_model_write_to_memory(testnet_desc(ref), &buf, &size, &err) == INSTRID_OK, "%s",
        err.message);
  m = instrid_model_load_from_memory(buf, size, &err);
  CHECK(m && desc_equal(testnet_desc(ref), instrid_model_get_desc(m)), "reference round trip: %s",
        m ? "differs" : err.message);
  CHECK(m && m->n_steps == 16 && m->max_activation == 32 * 128 * 128,
        "reference plan: %u steps, max_activation %zu", m ? m->n_steps : 0,
        m ? m->max_activation : 0);
  instrid_model_free(m);
  free(buf);
  testnet_free(ref);
}

/* Offsets inside a tiny model's header, found by walking the variable part as a reader does. */
typedef struct {
  size_t thresholds, layers, table;
} header_offsets;

static header_offsets walk_header(const uint8_t *buf)
{
  header_offsets h;
  uint32_t n_classes = get_u32_le(buf + MODEL_FILE_OFFSET_N_CLASSES);
  uint32_t n_layers = get_u32_le(buf + MODEL_FILE_OFFSET_N_LAYERS);
  size_t pos = MODEL_FILE_FIXED_HEADER_BYTES;
  for (uint32_t i = 0; i < n_classes; i++)
    pos += 1 + buf[pos];
  h.thresholds = pos;
  pos += 4 * (size_t)n_classes + get_u32_le(buf + MODEL_FILE_OFFSET_PROVENANCE_BYTES);
  h.layers = pos;
  h.table = pos + (size_t)MODEL_FILE_LAYER_BYTES * n_layers;
  return h;
}

/* Loads a copy of exactly `size` bytes (so valgrind sees any read past the end) and expects a
 * failure with `code` whose message contains `needle` (may be NULL). */
static void expect_reject(const uint8_t *buf, size_t size, instrid_status code, const char *needle,
                          const char *what)
{
  uint8_t *copy = malloc(size ? size : 1);
  if (size)
    memcpy(copy, buf, size);
  instrid_error err = {INSTRID_OK, ""};
  instrid_model *m = instrid_model_load_from_memory(copy, size, &err);
  CHECK(m == NULL, "%s: accepted", what);
  CHECK(err.code == code, "%s: code %d (%s), expected %d (%s): %s", what, err.code,
        instrid_status_name(err.code), code, instrid_status_name(code), err.message);
  CHECK(strncmp(err.message, "<memory>: ", 10) == 0 && strlen(err.message) > 12,
        "%s: message \"%s\"", what, err.message);
  if (needle)
    CHECK(strstr(err.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.message,
          needle);
  instrid_model_free(m);
  free(copy);
}

static void tiny_file(uint32_t n_classes, uint8_t **buf, size_t *size)
{
  instrid_error err;
  testnet *net = make_tiny(n_classes);
  void *data = NULL;
  if (instrid_model_write_to_memory(testnet_desc(net), &data, size, &err) != INSTRID_OK) {
    fprintf(stderr, "write: %s\n", err.message);
    exit(1);
  }
  *buf = data;
  testnet_free(net);
}

/* Every proper prefix of a valid file is refused as truncated, never read past its end. */
static void test_truncation(void)
{
  uint8_t *buf;
  size_t size;
  tiny_file(3, &buf, &size);
  for (size_t n = 0; n < size; n++) {
    char what[64];
    snprintf(what, sizeof what, "truncated to %zu of %zu bytes", n, size);
    expect_reject(buf, n, INSTRID_ERR_TRUNCATED, NULL, what);
  }
  /* One byte too many is refused too. */
  uint8_t *longer = calloc(size + 1, 1);
  memcpy(longer, buf, size);
  expect_reject(longer, size + 1, INSTRID_ERR_FORMAT, "announces only", "one trailing byte");
  free(longer);
  free(buf);
}

/* Every single flipped byte (all 8 bits, and one bit) is refused; the error says where the
 * damage is when the prologue is hit, else the checksum catches it. */
static void test_corruption(void)
{
  uint8_t *buf;
  size_t size;
  tiny_file(3, &buf, &size);
  for (size_t i = 0; i < size; i++) {
    for (int variant = 0; variant < 2; variant++) {
      uint8_t mask = variant == 0 ? 0xFF : (uint8_t)(1u << (i % 8));
      instrid_status code = INSTRID_ERR_CHECKSUM;
      if (i < MODEL_FILE_OFFSET_VERSION)
        code = INSTRID_ERR_MAGIC;
      else if (i < MODEL_FILE_OFFSET_FLAGS)
        code = INSTRID_ERR_VERSION;
      else if (i < MODEL_FILE_OFFSET_FILE_BYTES)
        code = INSTRID_ERR_FORMAT;
      else if (i < MODEL_FILE_PROLOGUE_BYTES) {
        /* file_bytes: larger than the data is "truncated", smaller "trailing bytes" */
        uint8_t flipped = buf[i] ^ mask;
        code = flipped > buf[i] ? INSTRID_ERR_TRUNCATED : INSTRID_ERR_FORMAT;
      }
      buf[i] ^= mask;
      char what[64];
      snprintf(what, sizeof what, "byte %zu of %zu xor 0x%02x", i, size, mask);
      expect_reject(buf, size, code, NULL, what);
      buf[i] ^= mask;
    }
  }
  free(buf);
}

/* Fields patched to bad values with the checksum re-sealed reach the field checks, which name
 * the field. */
static void expect_patched(uint8_t *buf, size_t size, size_t offset, uint32_t value,
                           instrid_status code, const char *needle, const char *what)
{
  uint8_t saved[4];
  memcpy(saved, buf + offset, 4);
  put_u32_le(buf + offset, value);
  reseal(buf, size);
  expect_reject(buf, size, code, needle, what);
  memcpy(buf + offset, saved, 4);
  reseal(buf, size);
}

static uint32_t f32_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static void test_field_checks(void)
{
  uint8_t *buf;
  size_t size;
  tiny_file(3, &buf, &size);
  header_offsets h = walk_header(buf);
  size_t layer0 = h.layers, layer3 = h.layers + 3 * MODEL_FILE_LAYER_BYTES;

  expect_patched(buf, size, MODEL_FILE_OFFSET_VERSION, 3, INSTRID_ERR_VERSION, "version 3",
                 "version 3");
  expect_patched(buf, size, MODEL_FILE_OFFSET_VERSION, 0, INSTRID_ERR_VERSION, "version 0",
                 "version 0");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_MELS + 8, INSTRID_MEL_KALDI, INSTRID_ERR_FORMAT,
                 "needs file version 2", "kaldi mel scale in a version-1 file");
  expect_patched(buf, size, 0, 0x464C457F, INSTRID_ERR_MAGIC, "magic", "ELF magic");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_MELS, 4000000000u, INSTRID_ERR_FORMAT,
                 "n_mels 4000000000", "n_mels 4e9");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_MELS, 0, INSTRID_ERR_FORMAT, "n_mels 0",
                 "n_mels 0");
  expect_patched(buf, size, MODEL_FILE_OFFSET_SAMPLE_RATE, 0, INSTRID_ERR_FORMAT,
                 "frontend: sample_rate", "sample_rate 0 (front end's own check)");
  expect_patched(buf, size, MODEL_FILE_OFFSET_WINDOW_FRAMES, 0, INSTRID_ERR_FORMAT,
                 "window_frames 0", "window_frames 0");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_CLASSES, 1u << 31, INSTRID_ERR_FORMAT,
                 "n_classes 2147483648", "n_classes 2^31");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_CLASSES, 4, INSTRID_ERR_FORMAT, "class 3 name",
                 "n_classes 4 (names run into the thresholds)");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_LAYERS, 300, INSTRID_ERR_FORMAT, "n_layers 300",
                 "n_layers 300");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_LAYERS, 11, INSTRID_ERR_FORMAT,
                 "tensor_data_offset", "n_layers 11 (the header shifts)");
  expect_patched(buf, size, h.layers + 10 * MODEL_FILE_LAYER_BYTES + 4, 4, INSTRID_ERR_FORMAT,
                 "output 4x1x1 is not n_classes 3", "dense with 4 outputs for 3 classes");
  expect_patched(buf, size, MODEL_FILE_OFFSET_N_TENSORS, 9, INSTRID_ERR_FORMAT, "n_tensors 9",
                 "n_tensors 9");
  expect_patched(buf, size, MODEL_FILE_OFFSET_PROVENANCE_BYTES, 0xFFFFFFFFu, INSTRID_ERR_FORMAT,
                 "provenance_bytes", "provenance_bytes 4e9");
  expect_patched(buf, size, MODEL_FILE_OFFSET_TENSOR_DATA, 128, INSTRID_ERR_FORMAT,
                 "tensor_data_offset 128", "tensor_data_offset 128");
  expect_patched(buf, size, h.thresholds + 4, f32_bits(NAN), INSTRID_ERR_FORMAT,
                 "class 1 (class1): threshold nan", "NaN threshold");
  expect_patched(buf, size, h.thresholds, f32_bits(1.5f), INSTRID_ERR_FORMAT,
                 "class 0 (violin): threshold 1.5", "threshold 1.5");
  {
    /* a control character in a class name */
    uint8_t saved = buf[MODEL_FILE_FIXED_HEADER_BYTES + 2];
    buf[MODEL_FILE_FIXED_HEADER_BYTES + 2] = 0x01;
    reseal(buf, size);
    expect_reject(buf, size, INSTRID_ERR_FORMAT, "class 0 name at offset 112", "name byte 0x01");
    buf[MODEL_FILE_FIXED_HEADER_BYTES + 2] = saved;
    reseal(buf, size);
  }
  expect_patched(buf, size, layer0, 42, INSTRID_ERR_FORMAT, "layer 0: unknown type 42",
                 "layer type 42");
  expect_patched(buf, size, layer0 + 4, 1000000, INSTRID_ERR_FORMAT,
                 "layer 0 (conv2d): c_out 1000000 outside 1..4096", "conv with 1e6 channels");
  expect_patched(buf, size, layer0 + 8, 65, INSTRID_ERR_FORMAT, "layer 0 (conv2d): kh 65",
                 "kernel 65");
  expect_patched(buf, size, layer3 + 4 + 4 * 9, 3, INSTRID_ERR_FORMAT,
                 "layer 3 (conv2d): groups 3 does not divide", "groups 3 of 8 channels");
  expect_patched(buf, size, layer0 + 4 + 4 * 5, 3, INSTRID_ERR_FORMAT,
                 "layer 0 (conv2d): padding 3x1 not below the kernel extent 3x3", "padding 3");
  expect_patched(buf, size, layer3 + 4 + 4 * 3, 0, INSTRID_ERR_FORMAT, "layer 3 (conv2d): sh 0",
                 "stride 0");
  expect_patched(buf, size, h.layers + 1 * MODEL_FILE_LAYER_BYTES + 44, f32_bits(-1.0f),
                 INSTRID_ERR_FORMAT, "layer 1 (batchnorm): eps -1", "eps -1");
  expect_patched(buf, size, h.layers + 2 * MODEL_FILE_LAYER_BYTES + 4, 7, INSTRID_ERR_FORMAT,
                 "layer 2 (relu): unused parameter p[0] is 7", "relu with a parameter");
  expect_patched(buf, size, h.layers + 6 * MODEL_FILE_LAYER_BYTES + 4, 9, INSTRID_ERR_FORMAT,
                 "layer 6 (avgpool): input 8x16 smaller than the window 9x2", "pool window 9");
  expect_patched(buf, size, h.layers + 7 * MODEL_FILE_LAYER_BYTES + 44, f32_bits(1.0f),
                 INSTRID_ERR_FORMAT, "layer 7 (dropout): probability 1", "dropout 1");
  expect_patched(buf, size, h.layers + 9 * MODEL_FILE_LAYER_BYTES + 8, 9, INSTRID_ERR_FORMAT,
                 "layer 9 (global_pool): mode 9", "pool mode 9");
  /* The layer says 5x3 kernels, the tensor table still 3x3: the dims message names both. */
  expect_patched(buf, size, layer0 + 8, 5, INSTRID_ERR_FORMAT,
                 "tensor 0 (conv2d weight of layer 0): dims 8x1x3x3, expected 8x1x5x3",
                 "kernel 5 against a 3x3 tensor");
  expect_patched(buf, size, h.table + 12 + 4 * 3, 5, INSTRID_ERR_FORMAT,
                 "tensor 0 (conv2d weight of layer 0): dims 8x1x3x5, expected 8x1x3x3",
                 "tensor dims patched");
  expect_patched(buf, size, h.table + 8, 7, INSTRID_ERR_FORMAT, "(ndims 7)", "ndims 7");
  expect_patched(buf, size, h.table + MODEL_FILE_TENSOR_ENTRY_BYTES + 4, MODEL_TENSOR_GAMMA,
                 INSTRID_ERR_FORMAT, "expected layer 0 role 1 (bias)", "tensor role");
  expect_patched(buf, size, h.table + 28, 64, INSTRID_ERR_FORMAT,
                 "tensor 0 (conv2d weight of layer 0): offset 64", "tensor offset 64");
  char needle[96];
  uint64_t data_offset = get_u32_le(buf + MODEL_FILE_OFFSET_TENSOR_DATA);
  snprintf(needle, sizeof needle, "offset %llu, expected %llu",
           (unsigned long long)(data_offset + (1ull << 32)), (unsigned long long)data_offset);
  expect_patched(buf, size, h.table + 28 + 4, 1, INSTRID_ERR_FORMAT, needle, "offset 2^32+");
  expect_patched(buf, size, (size_t)data_offset + 4 * 5, f32_bits(NAN), INSTRID_ERR_FORMAT,
                 "tensor 0 (conv2d weight of layer 0): element 5 is nan", "NaN weight");
  expect_patched(buf, size, (size_t)data_offset - 4, 1, INSTRID_ERR_FORMAT,
                 "padding byte at offset", "non-zero padding before the data");
  /* running_var of layer 1 is tensor 5; its offset comes from the table. */
  size_t var1 = get_u32_le(buf + h.table + 5 * MODEL_FILE_TENSOR_ENTRY_BYTES + 28);
  expect_patched(buf, size, var1, f32_bits(-0.5f), INSTRID_ERR_FORMAT,
                 "tensor 5 (batchnorm running_var of layer 1): element 0 is -0.5", "negative var");

  /* The untouched file still loads after all the re-sealing. */
  instrid_error err;
  instrid_model *m = instrid_model_load_from_memory(buf, size, &err);
  CHECK(m != NULL, "restored file: %s", err.message);
  instrid_model_free(m);
  free(buf);
}

/* Names in dir other than "." and ".."; fills first with one of them. */
static int count_dir_entries(const char *dir, char *first, size_t first_size)
{
  DIR *d = opendir(dir);
  int n = 0;
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (n++ == 0 && first)
      snprintf(first, first_size, "%s", e->d_name);
  }
  closedir(d);
  return n;
}

static void test_files(void)
{
  char dir[] = "/tmp/instrid-test-model-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp failed");
    return;
  }
  char path[256], missing[256], nodir[256], big[256], name[256];
  snprintf(path, sizeof path, "%s/tiny.instrid", dir);
  snprintf(missing, sizeof missing, "%s/missing.instrid", dir);
  snprintf(nodir, sizeof nodir, "%s/no/such/dir.instrid", dir);
  snprintf(big, sizeof big, "%s/big.instrid", dir);
  instrid_error err;
  testnet *net = make_tiny(3);
  const instrid_model_desc *d = testnet_desc(net);

  /* Write twice (the second replaces the first); only the model is left in the directory. */
  CHECK(instrid_model_write(d, path, &err) == INSTRID_OK, "write: %s", err.message);
  float *t = testnet_thresholds(net);
  t[2] = 0.875f;
  CHECK(instrid_model_write(d, path, &err) == INSTRID_OK, "rewrite: %s", err.message);
  CHECK(count_dir_entries(dir, name, sizeof name) == 1 && strcmp(name, "tiny.instrid") == 0,
        "directory holds more than the model (first: %s)", name);
  instrid_model *m = instrid_model_load(path, &err);
  CHECK(m != NULL, "load %s: %s", path, err.message);
  if (m) {
    CHECK(desc_equal(d, instrid_model_get_desc(m)), "file round trip differs");
    CHECK(instrid_model_threshold(m, 2) == 0.875f, "the second write did not replace the first");
  }
  instrid_model_free(m);

  /* A write that cannot happen leaves nothing behind and names the file. */
  CHECK(instrid_model_write(d, nodir, &err) == INSTRID_ERR_IO && strstr(err.message, nodir),
        "write into a missing directory: %s", err.message);
  t[0] = NAN;
  CHECK(instrid_model_write(d, path, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "class 0 (violin): threshold nan"),
        "NaN threshold written: %s", err.message);
  t[0] = 0.5f;
  CHECK(count_dir_entries(dir, NULL, 0) == 1, "a failed write left a file");
  /* The rename fails (the target is a non-empty directory) after the data was written: the
   * temporary file must go. */
  char subdir[256], inner[256];
  snprintf(subdir, sizeof subdir, "%s/sub", dir);
  snprintf(inner, sizeof inner, "%s/sub/x", dir);
  FILE *keep = NULL;
  if (mkdir(subdir, 0700) == 0 && (keep = fopen(inner, "wb")) != NULL) {
    fclose(keep);
    CHECK(instrid_model_write(d, subdir, &err) == INSTRID_ERR_IO &&
              strstr(err.message, "cannot rename"),
          "write over a directory: %s", err.message);
    CHECK(count_dir_entries(dir, NULL, 0) == 2, "the failed rename left its temporary file");
  }
  remove(inner);
  rmdir(subdir);

  err.code = INSTRID_OK;
  CHECK(instrid_model_load(missing, &err) == NULL && err.code == INSTRID_ERR_IO &&
            strstr(err.message, missing) && strstr(err.message, "No such file"),
        "missing file: %d %s", err.code, err.message);
  CHECK(instrid_model_load(dir, &err) == NULL && err.code == INSTRID_ERR_IO, "directory loaded: %s",
        err.message);

  /* Over 1 GiB is refused before anything is read (a sparse file costs no disk). */
  FILE *f = fopen(big, "wb");
  if (f && ftruncate(fileno(f), (off_t)MODEL_FILE_MAX_BYTES + 1) == 0) {
    fclose(f);
    CHECK(instrid_model_load(big, &err) == NULL && err.code == INSTRID_ERR_FORMAT &&
              strstr(err.message, "over the limit"),
          "1 GiB + 1 file: %s", err.message);
  } else if (f) {
    fclose(f);
  }
  remove(big);
  remove(path);
  CHECK(rmdir(dir) == 0, "test directory not empty");
  testnet_free(net);
}

/* A writer killed before its rename leaves path.tmp.<pid>; the next write of the path removes
 * it when that process is gone, and keeps every other file. */
static void test_stale_temps(void)
{
  char dir[] = "/tmp/instrid-test-stale-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp failed");
    return;
  }
  pid_t dead = fork();
  if (dead == 0)
    _exit(0);
  CHECK(dead > 0 && waitpid(dead, NULL, 0) == dead, "fork");
  char path[64], stale[128], alive[128], other[128], odd[128];
  snprintf(path, sizeof path, "%s/m.instrid", dir);
  snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)dead);
  snprintf(alive, sizeof alive, "%s.tmp.%ld", path, (long)getppid());
  snprintf(other, sizeof other, "%s/other.instrid.tmp.%ld", dir, (long)dead);
  snprintf(odd, sizeof odd, "%s.tmp.%ldx", path, (long)dead);
  const char *made[] = {stale, alive, other, odd};
  for (size_t i = 0; i < 4; i++) {
    FILE *f = fopen(made[i], "wb");
    CHECK(f && fputs("half a model", f) >= 0 && fclose(f) == 0, "create %s", made[i]);
  }
  testnet *net = make_tiny(3);
  instrid_error err;
  CHECK(instrid_model_write(testnet_desc(net), path, &err) == INSTRID_OK, "write: %s", err.message);
  CHECK(access(stale, F_OK) != 0, "the dead writer's %s is still there", stale);
  CHECK(access(alive, F_OK) == 0, "a live process's temporary file was removed");
  CHECK(access(other, F_OK) == 0, "another target's temporary file was removed");
  CHECK(access(odd, F_OK) == 0, "a name that is not .tmp.<pid> was removed");
  CHECK(count_dir_entries(dir, NULL, 0) == 4, "model + 3 kept files");
  remove(path);
  for (size_t i = 1; i < 4; i++)
    remove(made[i]);
  CHECK(rmdir(dir) == 0, "test directory not empty");
  testnet_free(net);
}

/* The writer refuses what a reader would refuse. */
static void test_writer_checks(void)
{
  instrid_error err;
  testnet *net = make_tiny(3);
  instrid_model_desc d = *testnet_desc(net);
  void *buf = NULL;
  size_t size = 0;

  instrid_model_desc bad = d;
  bad.n_params = d.n_params - 1;
  CHECK(instrid_model_write_to_memory(&bad, &buf, &size, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "n_params is 490, the layers need 491") && !buf,
        "n_params mismatch: %s", err.message);
  const char *dup[3] = {"violin", "cello", "violin"};
  bad = d;
  bad.class_names = dup;
  CHECK(instrid_model_write_to_memory(&bad, &buf, &size, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "class 2: name \"violin\" repeats class 0"),
        "duplicate names: %s", err.message);
  const char *longname[3] = {"violin", "cello",
                             "a-name-of-sixty-four-characters-which-is-one-more-than-allowed-x"};
  bad.class_names = longname;
  CHECK(instrid_model_write_to_memory(&bad, &buf, &size, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "class 2: name must be 1..63"),
        "64-byte name: %s", err.message);
  float *p = testnet_params(net);
  p[d.n_params - 1] = INFINITY;
  CHECK(instrid_model_write_to_memory(&d, &buf, &size, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "tensor 13 (dense bias of layer 10): element 2 is inf"),
        "Inf bias: %s", err.message);
  p[d.n_params - 1] = 0.0f;
  const char *four[4] = {"a", "b", "c", "d"};
  const float four_thresholds[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  bad = d;
  bad.n_classes = 4;
  bad.class_names = four;
  bad.thresholds = four_thresholds;
  CHECK(instrid_model_write_to_memory(&bad, &buf, &size, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "output 3x1x1 is not n_classes 4"),
        "n_classes 4 against a 3-output dense: %s", err.message);
  CHECK(instrid_model_write_to_memory(&d, &buf, &size, &err) == INSTRID_OK, "%s", err.message);
  free(buf);

  size_t n = 0;
  CHECK(instrid_model_desc_param_count(&d, &n, &err) == INSTRID_OK && n == 491,
        "tiny param count %zu, expected 80 + 32 + 296 + 32 + 51 = 491", n);
  /* The grouped, strided, dilated conv: weight (8, 8/2, 3, 3) + bias 8, on input (8, 16, 16). */
  CHECK(instrid_layer_param_count(&d.layers[3], (instrid_shape){8, 16, 16}) == 296,
        "grouped conv params %zu",
        instrid_layer_param_count(&d.layers[3], (instrid_shape){8, 16, 16}));
  CHECK(instrid_layer_param_count(&d.layers[2], (instrid_shape){8, 16, 16}) == 0, "relu params");
  instrid_layer_desc pool = {INSTRID_LAYER_MAXPOOL, {4, 4, 4, 4}, 0.0f};
  instrid_shape out[1];
  CHECK(instrid_arch_shapes(&pool, 1, (instrid_shape){1, 3, 8}, out, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "layer 0 (maxpool): input 3x8 smaller than the window 4x4"),
        "pool larger than input: %s", err.message);
  CHECK(instrid_arch_shapes(&pool, 1, (instrid_shape){1, 9, 8}, out, &err) == INSTRID_OK &&
            out[0].c == 1 && out[0].h == 2 && out[0].w == 2,
        "pool 9x8 -> %ux%u", out[0].h, out[0].w);
  testnet_free(net);
}

/* The plan: batch norm folded into the conv before it (same outputs as conv then BN), dropout
 * gone, a batch norm with no conv before it kept as scale and shift. */
static void test_folding(void)
{
  instrid_error err;
  testnet *net = make_tiny(3);
  const instrid_model_desc *d = testnet_desc(net);
  void *buf = NULL;
  size_t size = 0;
  instrid_model_write_to_memory(d, &buf, &size, &err);
  instrid_model *m = instrid_model_load_from_memory(buf, size, &err);
  free(buf);
  CHECK(m != NULL, "%s", err.message);
  if (!m) {
    testnet_free(net);
    return;
  }
  static const uint32_t types[9] = {
      INSTRID_LAYER_CONV2D,      INSTRID_LAYER_RELU,    INSTRID_LAYER_CONV2D,
      INSTRID_LAYER_RELU,        INSTRID_LAYER_AVGPOOL, INSTRID_LAYER_GLOBAL_POOL,
      INSTRID_LAYER_GLOBAL_POOL, INSTRID_LAYER_DENSE,   INSTRID_LAYER_SIGMOID};
  CHECK(m->n_steps == 9, "%u steps, expected 9", m->n_steps);
  for (uint32_t i = 0; i < 9 && i < m->n_steps; i++)
    CHECK(m->steps[i].layer.type == types[i], "step %u type %u, expected %u", i,
          m->steps[i].layer.type, types[i]);
  CHECK(m->max_activation == 8 * 16 * 16, "max_activation %zu", m->max_activation);
  CHECK(m->steps[2].in.c == 8 && m->steps[2].in.h == 16 && m->steps[2].out.h == 8 &&
            m->steps[2].out.w == 16 && m->steps[5].in.h == 4 && m->steps[5].in.w == 8 &&
            m->steps[6].out.c == 16,
        "step shapes");

  /* Layer 0 + 1 by hand: w' = w * g / sqrt(v + eps), b' = (b - mean) * g / sqrt(v + eps) + beta,
   * with the random running statistics make_tiny set. */
  const float *w = d->params, *b = w + 72, *g = b + 8, *beta = g + 8, *mean = beta + 8,
              *var = mean + 8;
  float eps = d->layers[1].f0, worst = 0.0f;
  for (int c = 0; c < 8; c++) {
    double s = g[c] / sqrt((double)var[c] + eps);
    for (int j = 0; j < 9; j++)
      worst = fmaxf(worst, fabsf(m->steps[0].weight[c * 9 + j] - (float)(w[c * 9 + j] * s)));
    worst = fmaxf(worst, fabsf(m->steps[0].bias[c] - (float)((b[c] - mean[c]) * s + beta[c])));
  }
  CHECK(worst < 1e-6f, "folded conv 0 differs from the formula by %g", worst);
  CHECK(fabsf(g[0] - 1.0f) > 1e-3f || fabsf(var[0] - 1.0f) > 1e-3f,
        "batch norm statistics not randomised, folding untested");
  /* The file keeps the unfolded values. */
  CHECK(memcmp(instrid_model_get_desc(m)->params, d->params, d->n_params * sizeof(float)) == 0,
        "desc params were modified by folding");
  instrid_model_free(m);

  /* A batch norm first (no conv before it) stays a step: (1,4,4) -> BN -> mean -> dense 2. */
  instrid_model_desc s = *d;
  s.frontend.n_mels = 4;
  s.window_frames = 4;
  s.n_classes = 2;
  instrid_layer_desc layers[3] = {
      {INSTRID_LAYER_BATCHNORM, {0}, 0.25f},
      {INSTRID_LAYER_GLOBAL_POOL, {INSTRID_AXIS_FREQ | INSTRID_AXIS_TIME, INSTRID_POOL_MEAN}, 0},
      {INSTRID_LAYER_DENSE, {2}, 0}};
  float params[4 + 2 + 2] = {2.0f, 0.5f, 1.0f, 0.75f, 1.0f, -1.0f, 0.0f, 0.0f};
  s.layers = layers;
  s.n_layers = 3;
  s.params = params;
  s.n_params = 8;
  CHECK(instrid_model_write_to_memory(&s, &buf, &size, &err) == INSTRID_OK, "%s", err.message);
  m = instrid_model_load_from_memory(buf, size, &err);
  free(buf);
  CHECK(m && m->n_steps == 3 && m->steps[0].layer.type == INSTRID_LAYER_BATCHNORM,
        "standalone batch norm: %s", m ? "wrong plan" : err.message);
  if (m && m->n_steps == 3) {
    /* scale = 2 / sqrt(0.75 + 0.25) = 2, shift = 0.5 - 1 * 2 = -1.5 */
    CHECK(m->steps[0].weight[0] == 2.0f && m->steps[0].bias[0] == -1.5f,
          "scale %g shift %g, expected 2 -1.5", m->steps[0].weight[0], m->steps[0].bias[0]);
    CHECK(m->max_activation == 16 && m->steps[2].in.c == 1 && m->steps[2].out.c == 2,
          "standalone plan shapes");
  }
  instrid_model_free(m);
  testnet_free(net);
}

/* Random damage to the header and tensor table with the checksum re-sealed, so that garbage
 * reaches every field check: the loader may accept a file that is still consistent, but it
 * must never crash, over-read (valgrind) or fail without a message. */
static void test_resealed_garbage(void)
{
  uint8_t *buf;
  size_t size;
  tiny_file(3, &buf, &size);
  size_t data_offset = get_u32_le(buf + MODEL_FILE_OFFSET_TENSOR_DATA);
  uint8_t *copy = malloc(size);
  instrid_rng rng;
  instrid_rng_seed(&rng, 1234);
  int rejected = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(copy, buf, size);
    int n_bytes = 1 + (int)(instrid_rng_next(&rng) % 4);
    for (int k = 0; k < n_bytes; k++) {
      size_t at = MODEL_FILE_PROLOGUE_BYTES +
                  (size_t)(instrid_rng_next(&rng) % (data_offset - MODEL_FILE_PROLOGUE_BYTES));
      copy[at] = (uint8_t)instrid_rng_next(&rng);
    }
    reseal(copy, size);
    instrid_error err = {INSTRID_OK, ""};
    instrid_model *m = instrid_model_load_from_memory(copy, size, &err);
    if (!m) {
      rejected++;
      CHECK(err.code != INSTRID_OK && strlen(err.message) > 12, "iteration %d: code %d \"%s\"",
            iter, err.code, err.message);
    }
    instrid_model_free(m);
  }
  /* Most random damage breaks some rule; a few changes (a name letter, a threshold, the
   * provenance) are legitimately accepted. */
  CHECK(rejected > 2500, "only %d of 3000 damaged headers rejected", rejected);
  free(copy);
  free(buf);
}

/* Version 2: the EfficientAT front-end fields round-trip, sit at their documented offsets,
 * and a file holds exactly the version its front end needs. */
static void test_version2(void)
{
  instrid_error err;
  testnet *net = make_tiny(3);
  instrid_model_desc d = *testnet_desc(net);
  instrid_frontend_params fe = d.frontend;
  fe.preemphasis = 0.97f;
  fe.window_symmetric = 1;
  fe.center = 1;
  fe.log_mode = INSTRID_LOG_ADD;
  fe.mel_scale = INSTRID_MEL_KALDI;
  fe.log_floor = 1e-5f;
  fe.hop_samples = fe.n_fft / 2 - 1;
  d.frontend = fe;
  void *buf = NULL, *buf2 = NULL;
  size_t size = 0, size2 = 0;
  CHECK(instrid_model_write_to_memory(&d, &buf, &size, &err) == INSTRID_OK, "v2 write: %s",
        err.message);
  if (!buf)
    goto done;
  const uint8_t *b = buf;
  CHECK(get_u32_le(b + MODEL_FILE_OFFSET_VERSION) == 2, "version %u, expected 2",
        get_u32_le(b + MODEL_FILE_OFFSET_VERSION));
  CHECK(get_u32_le(b + MODEL_FILE_OFFSET_PREEMPHASIS) == f32_bits(0.97f) &&
            get_u32_le(b + 116) == 1 && get_u32_le(b + 120) == 1 && get_u32_le(b + 124) == 1,
        "version-2 fields at 112..127");
  CHECK(b[MODEL_FILE_V2_HEADER_BYTES] == strlen("violin"), "class names start at %d",
        MODEL_FILE_V2_HEADER_BYTES);
  /* The same model as version 1 is 16 bytes shorter (before the 64-byte tensor alignment). */
  instrid_model *m = instrid_model_load_from_memory(buf, size, &err);
  CHECK(m != NULL, "v2 load: %s", err.message);
  if (m) {
    CHECK(desc_equal(&d, instrid_model_get_desc(m)), "v2 desc differs after the round trip");
    CHECK(instrid_model_write_to_memory(instrid_model_get_desc(m), &buf2, &size2, &err) ==
                  INSTRID_OK &&
              size2 == size && memcmp(buf, buf2, size) == 0,
          "v2 rewrite differs");
  }
  instrid_model_free(m);

  /* Every prefix is refused, and so is each version-2 field out of range. */
  uint8_t *copy = malloc(size);
  memcpy(copy, buf, size);
  for (size_t cut = 0; cut < size; cut += (cut < 200 ? 1 : 97)) {
    instrid_model *t = instrid_model_load_from_memory(copy, cut, &err);
    CHECK(t == NULL, "v2 prefix of %zu bytes accepted", cut);
    instrid_model_free(t);
  }
  expect_patched(copy, size, MODEL_FILE_OFFSET_PREEMPHASIS, f32_bits(1.5f), INSTRID_ERR_FORMAT,
                 "preemphasis", "preemphasis 1.5");
  expect_patched(copy, size, 116, 2, INSTRID_ERR_FORMAT, "window_symmetric", "symmetric 2");
  expect_patched(copy, size, 120, 7, INSTRID_ERR_FORMAT, "center", "center 7");
  expect_patched(copy, size, 124, 9, INSTRID_ERR_FORMAT, "log_mode", "log_mode 9");
  /* A version-2 file whose front end version 1 could hold is not canonical. */
  put_u32_le(copy + MODEL_FILE_OFFSET_PREEMPHASIS, 0);
  put_u32_le(copy + 116, 0);
  put_u32_le(copy + 120, 0);
  put_u32_le(copy + 124, 0);
  put_u32_le(copy + MODEL_FILE_OFFSET_N_MELS + 8, INSTRID_MEL_SLANEY);
  reseal(copy, size);
  expect_reject(copy, size, INSTRID_ERR_FORMAT, "write it as version 1", "v2 with a v1 front end");
  free(copy);

  /* An at-input-rate front end is not a model's. */
  d.frontend.reference_rate = 44100;
  void *buf3 = NULL;
  size_t size3 = 0;
  CHECK(instrid_model_write_to_memory(&d, &buf3, &size3, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "reference_rate"),
        "a derived front end written: %s", err.message);
  free(buf3);

  /* Each version-2 feature alone makes a version-2 file. */
  for (int k = 0; k < 5; k++) {
    d.frontend = testnet_desc(net)->frontend;
    if (k == 0)
      d.frontend.preemphasis = 0.5f;
    if (k == 1)
      d.frontend.window_symmetric = 1;
    if (k == 2)
      d.frontend.center = 1, d.frontend.hop_samples = d.frontend.n_fft / 4;
    if (k == 3)
      d.frontend.log_mode = INSTRID_LOG_ADD;
    if (k == 4)
      d.frontend.mel_scale = INSTRID_MEL_KALDI;
    void *bk = NULL;
    size_t sk = 0;
    CHECK(instrid_model_write_to_memory(&d, &bk, &sk, &err) == INSTRID_OK, "feature %d: %s", k,
          err.message);
    CHECK(bk && get_u32_le((const uint8_t *)bk + MODEL_FILE_OFFSET_VERSION) == 2,
          "feature %d alone: not version 2", k);
    instrid_model *mk = bk ? instrid_model_load_from_memory(bk, sk, &err) : NULL;
    CHECK(mk && desc_equal(&d, instrid_model_get_desc(mk)), "feature %d: round trip", k);
    instrid_model_free(mk);
    free(bk);
  }

done:
  free(buf);
  free(buf2);
  testnet_free(net);
}

int main(void)
{
  test_crc32c();
  test_reference_shapes();
  test_round_trip_memory();
  test_files();
  test_stale_temps();
  test_writer_checks();
  test_folding();
  test_truncation();
  test_corruption();
  test_field_checks();
  test_resealed_garbage();
  test_version2();
  return check_exit();
}
