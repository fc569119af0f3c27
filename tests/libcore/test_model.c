/* test_model.c — the model file: round trips, batch-norm folding, and rejection of truncated,
 * corrupted and out-of-range files with specific errors.
 * Usage: test_model [--corruption-only]   (the valgrind run uses the exhaustive part only) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "arch.h"
#include "instrid.h"
#include "model_file.h"
#include "model_internal.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

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
static instrid_arch *make_tiny(uint32_t n_classes)
{
  instrid_error err;
  instrid_arch *arch = NULL;
  if (instrid_arch_build("tiny", n_classes, 42, NULL, &arch, &err) != INSTRID_OK) {
    fprintf(stderr, "instrid_arch_build: %s\n", err.message);
    exit(1);
  }
  instrid_arch_randomize_batchnorm(arch, 7);
  float *t = instrid_arch_thresholds(arch);
  for (uint32_t i = 0; i < n_classes; i++)
    t[i] = 0.25f + 0.125f * (float)i;
  instrid_arch_set_class_name(arch, 0, "violin", &err);
  instrid_arch_set_provenance(arch, "test_model: tiny, seed 42", &err);
  return arch;
}

static void test_crc32c(void)
{
  /* The standard check value of CRC-32C (iSCSI). */
  CHECK(instrid_crc32c("123456789", 9) == 0xE3069283u, "crc32c(123456789) = 0x%08x",
        instrid_crc32c("123456789", 9));
}

static void test_arch(void)
{
  instrid_error err;
  instrid_model_desc d;
  instrid_arch *ref = NULL;
  CHECK(instrid_arch_build("reference", 25, 1, &d, &ref, &err) == INSTRID_OK, "%s", err.message);
  if (!ref)
    return;
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
  /* He-uniform: the first conv's bound is sqrt(6/9); every weight inside, spread across it. */
  float bound = sqrtf(6.0f / 9.0f), lo = 1, hi = -1;
  for (int j = 0; j < 32 * 9; j++) {
    lo = fminf(lo, d.params[j]);
    hi = fmaxf(hi, d.params[j]);
  }
  CHECK(lo >= -bound && hi <= bound && lo < -0.7f * bound && hi > 0.7f * bound,
        "conv0 weights in [%g, %g], bound %g", lo, hi, bound);
  CHECK(d.params[32 * 9] == 0.0f && d.params[32 * 9 + 32] == 1.0f &&
            d.params[32 * 9 + 32 * 4] == 1.0f,
        "bias 0 and gamma 1, var 1");
  CHECK(d.thresholds[24] == 0.5f && strcmp(d.class_names[3], "class3") == 0, "defaults");

  /* Same seed, same weights; another seed, others. */
  instrid_arch *again = NULL, *other = NULL;
  instrid_arch_build("reference", 25, 1, NULL, &again, &err);
  instrid_arch_build("reference", 25, 2, NULL, &other, &err);
  CHECK(memcmp(instrid_arch_params(again), d.params, d.n_params * sizeof(float)) == 0,
        "same seed differs");
  CHECK(memcmp(instrid_arch_params(other), d.params, d.n_params * sizeof(float)) != 0,
        "other seed equal");
  instrid_arch_free(again);
  instrid_arch_free(other);
  instrid_arch_free(ref);

  instrid_arch *bad = NULL;
  CHECK(instrid_arch_build("nonesuch", 3, 1, NULL, &bad, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "nonesuch") && strstr(err.message, "tiny") && !bad,
        "unknown name: %s", err.message);
  CHECK(instrid_arch_build("tiny", 0, 1, NULL, &bad, &err) == INSTRID_ERR_INVALID_ARG,
        "n_classes 0 accepted");
  CHECK(instrid_arch_name(0) && !instrid_arch_name(100), "name list");
  instrid_arch_free(NULL);
}

static void test_round_trip_memory(void)
{
  instrid_error err;
  instrid_arch *arch = make_tiny(3);
  const instrid_model_desc *d = instrid_arch_desc(arch);
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
  instrid_model_free(m);
  instrid_model_free(NULL);
  free(buf);
  instrid_arch_free(arch);
}

int main(int argc, char **argv)
{
  int corruption_only = argc > 1 && strcmp(argv[1], "--corruption-only") == 0;
  if (!corruption_only) {
    test_crc32c();
    test_arch();
    test_round_trip_memory();
  }
  if (failures) {
    fprintf(stderr, "test_model: %d checks failed\n", failures);
    return 1;
  }
  return 0;
}
