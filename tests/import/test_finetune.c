/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_finetune.c — instrid-train --init's building blocks (trainer/finetune.h) on the "tiny"
 * architecture with AudioSet-style class names: the new head's rows (by name, by the AudioSet
 * map, random), the learning-rate groups, the auxiliary outputs, the frozen-backbone path (its
 * vectors, then the head trained on them, must give what libcore computes for the written
 * model), frozen parameters untouched by training, and a model without a head refused. Then
 * instrid-train itself (argv[1]) end to end: --init on such a model, --keep-source-head
 * --blend-source-head --unblended-out --pool max --distill --standardize on a small OpenMIC-layout
 * tree, and the blended model checked against the unblended one through libcore. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "check.h"
#include "finetune.h"
#include "fixtures.h"
#include "optim.h"
#include "taxonomy.h"
#include "train.h"

#define N_SRC 6
static const char *const src_names[N_SRC] = {"Speech",   "Violin, fiddle", "Drum",
                                             "Drum kit", "Music",          "cello"};

/* Synthetic windows: deterministic features, every class known, class k positive when
 * (i + k) % 3 == 0. */
typedef struct {
  uint32_t n_in;
  size_t n[2];
} synth;

static size_t synth_count(void *ctx, dataset_split split)
{
  return ((synth *)ctx)->n[split];
}

static void synth_get(void *ctx, dataset_split split, size_t i, int shift, float *x, float *target,
                      float *mask)
{
  (void)shift;
  synth *s = ctx;
  for (uint32_t j = 0; j < s->n_in; j++)
    x[j] = sinf(0.37f * (float)j + 1.3f * (float)i + (split == DATASET_VAL ? 0.5f : 0.0f));
  for (uint32_t k = 0; k < TAXONOMY_N; k++) {
    target[k] = (i + k) % 3 == 0 ? 1.0f : 0.0f;
    mask[k] = 1.0f;
  }
}

static size_t layer_param_offset(const instrid_model_desc *d, uint32_t layer)
{
  instrid_shape shapes[INSTRID_MAX_LAYERS], in = {1, d->frontend.n_mels, d->window_frames};
  instrid_arch_shapes(d->layers, d->n_layers, in, shapes, NULL);
  size_t off = 0;
  for (uint32_t i = 0; i < layer; i++)
    off += instrid_layer_param_count(&d->layers[i], i ? shapes[i - 1] : in);
  return off;
}

/* adamw_step with per-parameter multipliers: 0 leaves a parameter (and its moments) alone, 0.5
 * moves it as a step at half the rate (decay included) would. */
static void check_adamw_lr_scale(void)
{
  float p[3] = {1.0f, 1.0f, 1.0f}, q[3] = {1.0f, 1.0f, 1.0f}, g[3] = {0.3f, 0.3f, 0.3f};
  float m[3] = {0}, v[3] = {0}, m2[3] = {0}, v2[3] = {0};
  const float scale[3] = {0.0f, 0.5f, 1.0f};
  adamw_config cfg = {0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, scale};
  adamw_config half = {0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, NULL};
  for (uint64_t step = 1; step <= 3; step++) {
    adamw_step(p, g, m, v, NULL, NULL, 3, &cfg, step);
    adamw_step(q, g, m2, v2, NULL, NULL, 3, &half, step);
  }
  CHECK(p[0] == 1.0f && m[0] == 0.0f && v[0] == 0.0f, "scale 0: untouched (%g)", (double)p[0]);
  CHECK(fabsf(p[1] - q[1]) < 1e-7f, "scale 0.5 == half the lr: %g vs %g", (double)p[1],
        (double)q[1]);
  CHECK(p[2] < p[1] && p[1] < 1.0f, "scale 1 moves further: %g %g", (double)p[2], (double)p[1]);
}

/* A source model as an importer writes one: the "tiny" network whose last DENSE has outputs named
 * names[0..n) (AudioSet's names, some of them mapped), batch-norm statistics and thresholds that
 * are not the defaults, a provenance text; written to path. NULL (reported) on failure. */
static instrid_arch *write_source_model(const char *path, const char *const *names, uint32_t n)
{
  instrid_error err = {0};
  instrid_arch *arch = NULL;
  CHECK(instrid_arch_build("tiny", n, 7, NULL, &arch, &err) == INSTRID_OK, "%s", err.message);
  if (!arch)
    return NULL;
  for (uint32_t k = 0; k < n; k++)
    instrid_arch_set_class_name(arch, k, names[k], &err);
  instrid_arch_randomize_batchnorm(arch, 3);
  instrid_arch_set_provenance(arch, "source line one\nsource line two", &err);
  for (uint32_t k = 0; k < n; k++)
    instrid_arch_thresholds(arch)[k] = 0.1f * (float)(k + 1);
  if (instrid_model_write(instrid_arch_desc(arch), path, &err) != INSTRID_OK) {
    CHECK(0, "write %s: %s", path, err.message);
    instrid_arch_free(arch);
    return NULL;
  }
  return arch;
}

/* ---- instrid-train --init ... --blend-source-head, end to end ------------------------------ */

/* The source's outputs for the command-line test and, by hand, the taxonomy classes the AudioSet
 * map sends them to (-1: none): drums has two sources (the blend takes the larger), bassoon and
 * the rest none. */
#define N_CLI_SRC 7
static const char *const cli_src_names[N_CLI_SRC] = {
    "Violin, fiddle", "Speech", "Drum kit", "Snare drum", "Piano", "Dog", "Music"};
static const int cli_src_class[N_CLI_SRC] = {TAX_VIOLIN, -1, TAX_DRUMS, TAX_DRUMS,
                                             TAX_PIANO,  -1, -1};

/* An OpenMIC-layout tree under dir/om (as scripts/fetch-data writes it: .wav clips, every class
 * in the class map): four training clips and two validation clips of a second of sine each, each
 * labelled for violin, drums and piano (positive or negative). */
static int write_openmic_tree(const char *dir)
{
  static const char *const keys[6] = {"a00001_0", "a00002_0", "a00003_0",
                                      "a00004_0", "b00001_0", "b00002_0"};
  char path[512], map[1024] = "{", labels[2048] = "sample_key,instrument,relevance,num_responses\n";
  for (int c = 0; c < TAXONOMY_N; c++) {
    char row[64];
    snprintf(row, sizeof row, "%s\"%s\": %d", c ? ", " : "", instrid_taxonomy[c], c);
    strcat(map, row);
  }
  strcat(map, "}\n");
  for (int i = 0; i < 6; i++) {
    char row[160];
    snprintf(row, sizeof row, "%s,violin,%s,1\n%s,drums,%s,1\n%s,piano,%s,1\n", keys[i],
             i % 2 ? "1.0" : "0.0", keys[i], i % 3 ? "0.0" : "1.0", keys[i],
             i == 1 || i == 4 ? "1.0" : "0.0");
    strcat(labels, row);
  }
  int bad = 0;
  snprintf(path, sizeof path, "%s/om", dir);
  bad |= mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/om/audio", dir);
  bad |= mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/om/audio/a00", dir);
  bad |= mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/om/audio/b00", dir);
  bad |= mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/om/partitions", dir);
  bad |= mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/om/class-map.json", dir);
  bad |= fixture_write_text(path, map);
  snprintf(path, sizeof path, "%s/om/openmic-2018-aggregated-labels.csv", dir);
  bad |= fixture_write_text(path, labels);
  snprintf(path, sizeof path, "%s/om/partitions/split01_train.csv", dir);
  bad |= fixture_write_text(path, "a00001_0\na00002_0\na00003_0\na00004_0\n");
  snprintf(path, sizeof path, "%s/om/partitions/split01_test.csv", dir);
  bad |= fixture_write_text(path, "b00001_0\nb00002_0\n");
  for (int i = 0; i < 6; i++) {
    snprintf(path, sizeof path, "%s/om/audio/%.3s/%s.wav", dir, keys[i], keys[i]);
    bad |= fixture_write_wav_sine(path, 8000, 1.0, 300.0 + 170.0 * i, 9000.0);
  }
  CHECK(bad == 0, "cannot write the OpenMIC tree under %s", dir);
  return bad ? -1 : 0;
}

static void check_train_blend_cli(const char *train_bin)
{
  char dir[] = "/tmp/instrid-test-finetune-XXXXXX", path[512], cmd[2048];
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return;
  }
  snprintf(path, sizeof path, "%s/src.instrid", dir);
  instrid_arch *src = write_source_model(path, cli_src_names, N_CLI_SRC);
  instrid_arch_free(src);
  if (!src || write_openmic_tree(dir) != 0) {
    fixture_remove_tree(dir);
    return;
  }
  snprintf(cmd, sizeof cmd,
           "'%s' --quiet --openmic %s/om --init %s/src.instrid --keep-source-head "
           "--blend-source-head 0.3 --unblended-out %s/unblended.instrid --pool max --distill 0.5 "
           "--standardize --epochs 1 --batch 2 --threads 1 --seed 5 --out %s/blend.instrid "
           "> %s/stdout.txt 2> %s/stderr.txt",
           train_bin, dir, dir, dir, dir, dir, dir);
  int st = system(cmd);
  snprintf(path, sizeof path, "%s/stderr.txt", dir);
  char *errs = fixture_slurp(path, NULL);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "instrid-train: status %d; stderr:\n%s", st,
        errs ? errs : "");
  free(errs);

  instrid_error err = {0};
  snprintf(path, sizeof path, "%s/blend.instrid", dir);
  instrid_model *mb = instrid_model_load(path, &err);
  CHECK(mb != NULL, "the blended model loads: %s", err.message);
  snprintf(path, sizeof path, "%s/unblended.instrid", dir);
  instrid_model *mu = instrid_model_load(path, &err);
  CHECK(mu != NULL, "the unblended model loads: %s", err.message);
  if (!mb || !mu)
    goto done;

  /* The blended model: the 25 classes, in the taxonomy's names and order, from BLEND_MAPPED
   * with gamma 0.3 where a source output maps to the class and 1 elsewhere. */
  const instrid_model_desc *db = instrid_model_get_desc(mb);
  int names_ok = instrid_model_n_classes(mb) == TAXONOMY_N;
  for (uint32_t k = 0; names_ok && k < TAXONOMY_N; k++)
    names_ok = strcmp(instrid_model_class_name(mb, k), instrid_taxonomy[k]) == 0;
  CHECK(names_ok, "blended model: %u classes named as the taxonomy", instrid_model_n_classes(mb));
  const instrid_layer_desc *last = &db->layers[db->n_layers - 1];
  CHECK(last->type == INSTRID_LAYER_BLEND_MAPPED && last->p[0] == TAXONOMY_N,
        "the blended model ends in BLEND_MAPPED (type %d, out %u)", (int)last->type, last->p[0]);
  const float *gamma = db->params + db->n_params - TAXONOMY_N;
  const float *map = gamma - TAXONOMY_N * N_CLI_SRC;
  int has_source[TAXONOMY_N] = {0}, map_ok = 1, gamma_ok = 1;
  for (uint32_t j = 0; j < N_CLI_SRC; j++)
    if (cli_src_class[j] >= 0)
      has_source[cli_src_class[j]] = 1;
  for (uint32_t c = 0; c < TAXONOMY_N; c++) {
    gamma_ok &= gamma[c] == (has_source[c] ? 0.3f : 1.0f);
    for (uint32_t j = 0; j < N_CLI_SRC; j++)
      map_ok &= map[c * N_CLI_SRC + j] == (cli_src_class[j] == (int)c ? 1.0f : 0.0f);
  }
  CHECK(gamma_ok, "gamma 0.3 for violin, drums, piano, 1 elsewhere (violin %g, bassoon %g)",
        (double)gamma[TAX_VIOLIN], (double)gamma[TAX_BASSOON]);
  CHECK(map_ok, "the stored map is the AudioSet map of the source's names");
  CHECK(strstr(instrid_model_provenance(mb), "blend: 0.3 * head + 0.7 * mapped source outputs") &&
            strstr(instrid_model_provenance(mb), "distillation 0.5, inputs standardised"),
        "the provenance notes the blend and the standardised inputs:\n%s",
        instrid_model_provenance(mb));

  /* The unblended model: the head's 25 outputs, then the source's own. */
  names_ok = instrid_model_n_classes(mu) == TAXONOMY_N + N_CLI_SRC;
  for (uint32_t k = 0; names_ok && k < TAXONOMY_N + N_CLI_SRC; k++)
    names_ok = strcmp(instrid_model_class_name(mu, k),
                      k < TAXONOMY_N ? instrid_taxonomy[k] : cli_src_names[k - TAXONOMY_N]) == 0;
  CHECK(names_ok, "unblended model: the 25 classes then the source's %u outputs (%u in all)",
        N_CLI_SRC, instrid_model_n_classes(mu));

  /* Both through libcore on the same windows: blend = 0.3 * head + 0.7 * max(mapped source
   * outputs), the head alone where no source maps. */
  instrid_net *nb = instrid_net_new(mb, &err), *nu = instrid_net_new(mu, &err);
  CHECK(nb && nu, "nets: %s", err.message);
  const size_t n_in = (size_t)db->frontend.n_mels * db->window_frames;
  float *x = malloc(sizeof(float) * n_in);
  float yb[TAXONOMY_N], yu[TAXONOMY_N + N_CLI_SRC];
  double worst = 0.0;
  int moved = 0;
  for (int w = 0; nb && nu && x && w < 3; w++) {
    for (size_t i = 0; i < n_in; i++)
      x[i] = 1.5f * sinf(0.23f * (float)i + 0.9f * (float)w) + 0.1f * (float)w;
    instrid_net_forward(nb, x, yb);
    instrid_net_forward(nu, x, yu);
    for (uint32_t c = 0; c < TAXONOMY_N; c++) {
      float m = -1.0f;
      for (uint32_t j = 0; j < N_CLI_SRC; j++)
        if (cli_src_class[j] == (int)c && yu[TAXONOMY_N + j] > m)
          m = yu[TAXONOMY_N + j];
      float want = m < 0.0f ? yu[c] : 0.3f * yu[c] + 0.7f * m;
      double d = fabs((double)yb[c] - (double)want);
      worst = d > worst ? d : worst;
      moved |= m >= 0.0f && fabsf(yb[c] - yu[c]) > 1e-4f;
    }
    CHECK(yb[TAX_BASSOON] == yu[TAX_BASSOON], "bassoon is the head's alone: %g vs %g",
          (double)yb[TAX_BASSOON], (double)yu[TAX_BASSOON]);
  }
  CHECK(x && worst <= 1e-6, "blend vs 0.3 * head + 0.7 * mapped max: worst difference %g", worst);
  CHECK(moved, "the blend moves some mapped class away from the head's output");
  free(x);
  instrid_net_free(nb);
  instrid_net_free(nu);
done:
  instrid_model_free(mb);
  instrid_model_free(mu);
  fixture_remove_tree(dir);
}

/* finetune_new on path with plain's options (*f0) and with o's (*f), both or neither: on failure
 * the check names `what`, path is removed and 0 returned. */
static int finetune_pair(const char *path, const finetune_options *plain, const finetune_options *o,
                         finetune **f0, finetune **f, const char *what)
{
  instrid_error err = {0};
  *f0 = finetune_new(path, instrid_taxonomy, TAXONOMY_N, plain, 1, &err);
  *f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, o, 1, &err);
  CHECK(*f0 && *f, "finetune_new with and without %s: %s", what, err.message);
  if (*f0 && *f)
    return 1;
  finetune_free(*f0);
  finetune_free(*f);
  remove(path);
  return 0;
}

/* Window i of s's validation split through the source model's net ns and the trained model's
 * nt (x: the input, pt: nt's outputs, the targets then the source's N_SRC): the largest
 * difference between their source outputs. */
static float source_output_gap(instrid_net *ns, instrid_net *nt, synth *s, size_t i, float *x,
                               float *pt)
{
  float ps[N_SRC], tg[TAXONOMY_N], mk[TAXONOMY_N], d = 0.0f;
  synth_get(s, DATASET_VAL, i, 0, x, tg, mk);
  instrid_net_forward(ns, x, ps);
  instrid_net_forward(nt, x, pt);
  for (int k = 0; k < N_SRC; k++)
    d = fmaxf(d, fabsf(ps[k] - pt[TAXONOMY_N + k]));
  return d;
}

/* A trainer for f's head on the cached vectors cs: 3 epochs of 8, lr 1e-2, no augmentation, one
 * thread, f's learning-rate groups. */
static trainer *head_trainer(const finetune *f, const example_source *cs, instrid_error *err)
{
  train_options opt;
  train_options_default(&opt);
  opt.epochs = 3;
  opt.batch = 8;
  opt.lr = 1e-2f;
  opt.augment = 0;
  opt.threads = 1;
  opt.lr_scale = finetune_head_lr_scale(f);
  return trainer_new(finetune_head_arch(f), cs, &opt, err);
}

/* Trains f's head (head_trainer) on the cached vectors of s's examples (the cache in *c: the
 * caller frees it, and the trainer returned) and checks what training changed: every parameter
 * whose learning rate is 0 kept its value, and some parameter j < limit with j % period >= from
 * (period 0: any j < limit), `what`, moved. Returns the trainer after its run, or NULL. */
static trainer *train_head_checked(finetune *f, synth *s, size_t limit, size_t period, size_t from,
                                   const char *what, finetune_cache **c)
{
  instrid_error err = {0};
  example_source inner = {synth_count, synth_get, s, NULL};
  *c = finetune_cache_new(f, &inner, 1, NULL, NULL, &err);
  CHECK(*c != NULL, "cache: %s", err.message);
  if (!*c)
    return NULL;
  example_source cs = finetune_cache_source(*c);
  const instrid_model_desc *h = finetune_head_arch(f);
  trainer *t = head_trainer(f, &cs, &err);
  CHECK(t != NULL, "trainer: %s", err.message);
  if (!t || trainer_run(t, &err) != INSTRID_OK) {
    trainer_free(t);
    return NULL;
  }
  const float *q = train_net_params(trainer_net(t)), *q0 = h->params;
  const float *hl = finetune_head_lr_scale(f);
  int kept = 1, moved = 0;
  for (size_t j = 0; j < h->n_params; j++) {
    if (hl[j] == 0.0f)
      kept &= q[j] == q0[j];
    else if (j < limit && (period == 0 || j % period >= from))
      moved |= q[j] != q0[j];
  }
  CHECK(kept && moved, "frozen parameters kept (%d), %s moved (%d)", kept, what, moved);
  return t;
}

/* ---- --own-embedding: the head's own copy of the embedding layer --------------------------- */

/* A source like mn04's tail: tiny's layers up to its global pools (8 channels; pool_mode
 * INSTRID_POOL_MEAN_MAX_CONCAT, tiny's, gives a 16-value vector, INSTRID_POOL_MEAN 8 values),
 * then DENSE 12, HARDSWISH, EMBEDDING, DROPOUT, DENSE (the source's outputs), SIGMOID; written to
 * path. Returns 0 on success. */
static int write_embedding_source(const char *path, uint32_t pool_mode)
{
  instrid_error err = {0};
  instrid_model_desc base;
  instrid_arch *tiny = NULL;
  CHECK(instrid_arch_build("tiny", N_SRC, 7, &base, &tiny, &err) == INSTRID_OK, "%s", err.message);
  if (!tiny)
    return -1;
  instrid_layer_desc L[16];
  memcpy(L, base.layers, sizeof L[0] * 10); /* ... global pool over time: (16, 1, 1) */
  L[9].p[1] = pool_mode;
  L[10] = (instrid_layer_desc){.type = INSTRID_LAYER_DENSE, .p = {12}};
  L[11] = (instrid_layer_desc){.type = INSTRID_LAYER_HARDSWISH};
  L[12] = (instrid_layer_desc){.type = INSTRID_LAYER_EMBEDDING};
  L[13] = (instrid_layer_desc){.type = INSTRID_LAYER_DROPOUT, .f0 = 0.1f};
  L[14] = (instrid_layer_desc){.type = INSTRID_LAYER_DENSE, .p = {N_SRC}};
  L[15] = (instrid_layer_desc){.type = INSTRID_LAYER_SIGMOID};
  instrid_shape in = {1, base.frontend.n_mels, base.window_frames}, shapes[16];
  size_t n = 0;
  int ok = instrid_arch_shapes(L, 16, in, shapes, &err) == INSTRID_OK;
  for (uint32_t i = 0; ok && i < 16; i++)
    n += instrid_layer_param_count(&L[i], i ? shapes[i - 1] : in);
  float *p = ok ? malloc(sizeof(float) * n) : NULL;
  ok = p && instrid_arch_init_params(L, 16, in, 11, p, n, &err) == INSTRID_OK;
  float th[N_SRC];
  for (int k = 0; k < N_SRC; k++)
    th[k] = 0.5f;
  instrid_model_desc d = base;
  d.layers = L;
  d.n_layers = 16;
  d.params = p;
  d.n_params = n;
  d.class_names = src_names;
  d.thresholds = th;
  ok = ok && instrid_model_write(&d, path, &err) == INSTRID_OK;
  CHECK(ok, "write the embedding source: %s", err.message);
  free(p);
  instrid_arch_free(tiny);
  return ok ? 0 : -1;
}

/* The largest difference between outputs [first, n_out) of networks a and a0 (eval mode) over
 * four training examples of s; 1 when a network cannot be built. */
static float worst_output_difference(const instrid_model_desc *a, const instrid_model_desc *a0,
                                     synth *s, float *x, uint32_t first, uint32_t n_out)
{
  instrid_error err = {0};
  float tg[TAXONOMY_N], mk[TAXONOMY_N], y[TAXONOMY_N + N_SRC], y0[TAXONOMY_N + N_SRC];
  train_net *n1 = train_net_new(a, 1, &err), *n0 = train_net_new(a0, 1, &err);
  float worst = 1.0f;
  if (x && n1 && n0) {
    worst = 0.0f;
    for (size_t i = 0; i < 4; i++) {
      synth_get(s, DATASET_TRAIN, i, 0, x, tg, mk);
      train_net_forward(n1, x, 1, 0, NULL, y);
      train_net_forward(n0, x, 1, 0, NULL, y0);
      for (uint32_t k = first; k < n_out; k++)
        worst = fmaxf(worst, fabsf(y[k] - y0[k]));
    }
  }
  train_net_free(n1);
  train_net_free(n0);
  return worst;
}

/* Options o (one that reshapes the embedding layer) refused without the source outputs, with
 * --freeze-until, and on tiny_path, which has no embedding layer (the message naming `needle`). */
static void check_reshape_refusals(const char *path, const char *tiny_path, finetune_options o,
                                   const char *needle)
{
  instrid_error err = {0};
  o.keep_source_head = 0;
  finetune *f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(!f && err.code == INSTRID_ERR_INVALID_ARG, "without the source outputs: %s", err.message);
  finetune_free(f);
  o.keep_source_head = 1;
  o.freeze_until = 3;
  f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(!f && err.code == INSTRID_ERR_INVALID_ARG, "with --freeze-until: %s", err.message);
  finetune_free(f);
  o.freeze_until = UINT32_MAX;
  f = finetune_new(tiny_path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(!f && err.code == INSTRID_ERR_INVALID_ARG && strstr(err.message, needle),
        "no embedding layer (%s): %s", needle, err.message);
  finetune_free(f);
}

/* The doubled layer: the network's outputs unchanged at first, the original half and the source
 * rows frozen, the copy and the target rows' columns on it trained; after training the source
 * outputs are still the source model's, exactly. With FINETUNE_OWN_MEAN_MAX (mode) the pool
 * before it gives means and maxima (32 values) and both halves' maxima columns start at zero.
 * Refused without the source outputs and where no embedding layer exists (tiny_path: a source
 * ending GLOBAL_POOL, DENSE, SIGMOID). */
static void check_own_embedding(const char *tiny_path, int mode)
{
  char path[64], out[64];
  snprintf(path, sizeof path, "/tmp/test_finetune_emb_%d.instrid", (int)getpid());
  snprintf(out, sizeof out, "/tmp/test_finetune_emb_%d_out.instrid", (int)getpid());
  /* the source's pooled vector: tiny's means and maxima (16), or means only (8) whose maxima
   * the mean-max copy adds */
  const size_t src_in = mode == FINETUNE_OWN_MEAN_MAX ? 8 : 16, in = 16;
  if (write_embedding_source(path, mode == FINETUNE_OWN_MEAN_MAX
                                       ? INSTRID_POOL_MEAN
                                       : INSTRID_POOL_MEAN_MAX_CONCAT) != 0)
    return;
  instrid_error err = {0};
  finetune_options plain, o;
  finetune_options_default(&plain);
  plain.keep_source_head = 1;
  o = plain;
  o.own_embedding = mode;
  o.lr_backbone = 0.5f;
  finetune *f0, *f;
  if (!finetune_pair(path, &plain, &o, &f0, &f, "--own-embedding"))
    return;
  const instrid_model_desc *a = finetune_arch(f), *a0 = finetune_arch(f0);
  const uint32_t n_out = TAXONOMY_N + N_SRC;
  CHECK(finetune_own_embedding_layer(f) == 10 && finetune_own_embedding_layer(f0) == 0 &&
            a->layers[10].p[0] == 24 && a->n_layers == a0->n_layers &&
            a->n_params == a0->n_params + 24 * in - 12 * src_in + 12 + n_out * 12 &&
            a->layers[9].p[1] == INSTRID_POOL_MEAN_MAX_CONCAT,
        "layer 10 doubled to 24 outputs (%u) on %zu values, %zu parameters, pool mode %u",
        a->layers[10].p[0], in, a->n_params, a->layers[9].p[1]);
  CHECK(finetune_split(f) == 10 && finetune_head_arch(f)->frontend.n_mels == in,
        "the trainer starts at the doubled layer, on the %zu-value pooled vector (split %u)", in,
        finetune_split(f));

  /* The same outputs as the plain fine-tuning network (eval mode). */
  synth s = {a->frontend.n_mels * a->window_frames, {24, 8}};
  float *x = malloc(sizeof(float) * s.n_in);
  float worst = worst_output_difference(a, a0, &s, x, 0, n_out);
  CHECK(worst < 1e-5f, "outputs before training equal the plain network's: worst %g",
        (double)worst);

  /* Learning-rate groups. */
  const float *lr = finetune_lr_scale(f);
  size_t e = layer_param_offset(a, 10), hd = layer_param_offset(a, 14);
  int before = 1, orig = 1, copy = 1, tgt = 1, src = 1;
  for (size_t j = 0; j < e; j++)
    before &= lr[j] == 0.0f;
  for (size_t r = 0; r < 24; r++) {
    for (size_t j = 0; j < in; j++)
      *(r < 12 ? &orig : &copy) &= lr[e + r * in + j] == (r < 12 ? 0.0f : 0.5f);
    *(r < 12 ? &orig : &copy) &= lr[e + 24 * in + r] == (r < 12 ? 0.0f : 0.5f);
  }
  for (size_t k = 0; k < n_out; k++) {
    for (size_t j = 0; j < 24; j++)
      *(k < TAXONOMY_N ? &tgt : &src) &=
          lr[hd + k * 24 + j] == (k < TAXONOMY_N && j >= 12 ? 1.0f : 0.0f);
    *(k < TAXONOMY_N ? &tgt : &src) &= lr[hd + n_out * 24 + k] == (k < TAXONOMY_N ? 1.0f : 0.0f);
  }
  CHECK(before && orig && copy && tgt && src,
        "lr: before 0 %d, original half 0 %d, copy 0.5 %d, target rows 1 on the copy's columns "
        "(0 on the original's) %d, source rows 0 %d",
        before, orig, copy, tgt, src);
  /* Initial weights: the copy is the original, on the means the source's (on the maxima zero),
   * target rows read only the copy, source rows only the original. */
  const float *p = a->params;
  const float *ws = a0->params + layer_param_offset(a0, 10);
  int same = memcmp(p + e, p + e + 12 * in, sizeof(float) * 12 * in) == 0 &&
             memcmp(p + e + 24 * in, p + e + 24 * in + 12, sizeof(float) * 12) == 0;
  int zeros = 1;
  for (size_t r = 0; r < 12; r++)
    for (size_t j = 0; j < in; j++)
      same &= p[e + r * in + j] == (j < src_in ? ws[r * src_in + j] : 0.0f);
  for (size_t k = 0; k < n_out; k++)
    for (size_t j = 0; j < 12; j++)
      zeros &= p[hd + k * 24 + (k < TAXONOMY_N ? j : 12 + j)] == 0.0f;
  CHECK(same && zeros, "initial copy (%d) and zero blocks (%d)", same, zeros);

  /* Trained on the cached vectors: the source outputs stay the source model's. */
  finetune_cache *c = NULL;
  if (x) {
    trainer *t = train_head_checked(f, &s, 24 * in + 24, 0, 0, "the copy", &c);
    if (t) {
      const float *q = train_net_params(trainer_net(t));
      float th[TAXONOMY_N];
      for (int k = 0; k < TAXONOMY_N; k++)
        th[k] = 0.5f;
      CHECK(finetune_write(f, q, NULL, th, "own embedding", out, &err) == INSTRID_OK, "%s",
            err.message);
      instrid_model *ms = instrid_model_load(path, &err), *mt = instrid_model_load(out, &err);
      CHECK(ms && mt && instrid_model_n_classes(mt) == n_out, "models load: %s", err.message);
      instrid_net *ns = ms ? instrid_net_new(ms, &err) : NULL;
      instrid_net *nt = mt ? instrid_net_new(mt, &err) : NULL;
      if (ns && nt) {
        float pt[TAXONOMY_N + N_SRC], dsrc = 0.0f;
        for (size_t i = 0; i < 4; i++)
          dsrc = fmaxf(dsrc, source_output_gap(ns, nt, &s, i, x, pt));
        CHECK(dsrc < 1e-6f, "source outputs after training equal the source model's: %g",
              (double)dsrc);
        CHECK(instrid_model_embedding_size(mt) == 24, "the embedding is both halves (%u)",
              instrid_model_embedding_size(mt));
      }
      instrid_net_free(ns);
      instrid_net_free(nt);
      instrid_model_free(ms);
      instrid_model_free(mt);
    }
    trainer_free(t);
  }
  finetune_cache_free(c);
  free(x);
  finetune_free(f0);
  finetune_free(f);

  if (mode == FINETUNE_OWN_MEAN_MAX) {
    /* The maxima need a global mean pool before the embedding layer: tiny's pool gives both. */
    remove(path);
    f = write_embedding_source(path, INSTRID_POOL_MEAN_MAX_CONCAT) == 0
            ? finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err)
            : NULL;
    CHECK(!f && err.code == INSTRID_ERR_INVALID_ARG &&
              strstr(err.message, "not a global mean pool"),
          "maxima without a global mean pool: %s", err.message);
    finetune_free(f);
    remove(path);
    remove(out);
    return;
  }
  /* Refused without the source outputs, with --freeze-until, and without an embedding layer. */
  check_reshape_refusals(path, tiny_path, o, "no embedding layer to copy");
  remove(path);
  remove(out);
}

/* ---- --head-input: the global pool beside (or instead of) the embedding ------------------- */

/* The embedding layer gains 8 rows passing the 8-value pool through (identity, bias 3, frozen):
 * the head reads 12 + 8 values. Before training the outputs are the plain network's
 * (FINETUNE_INPUT_BOTH; with FINETUNE_INPUT_POOL the source's); the window's embedding is the
 * source's 12 values then the pool's + 3, and the 12 are the source's embedding layer applied
 * to those pool values; training moves the target rows' pool columns only (and, POOL, leaves
 * their embedding columns at zero); the written model's source outputs are the source model's.
 * Refused with --own-embedding, without the source outputs, with --freeze-until and without an
 * embedding layer (tiny_path). */
static void check_head_input(const char *tiny_path, int mode)
{
  char path[64], out[64];
  snprintf(path, sizeof path, "/tmp/test_finetune_pool_%d.instrid", (int)getpid());
  snprintf(out, sizeof out, "/tmp/test_finetune_pool_%d_out.instrid", (int)getpid());
  if (write_embedding_source(path, INSTRID_POOL_MEAN) != 0)
    return;
  instrid_error err = {0};
  finetune_options plain, o;
  finetune_options_default(&plain);
  plain.keep_source_head = 1;
  o = plain;
  o.head_input = mode;
  finetune *f0, *f;
  if (!finetune_pair(path, &plain, &o, &f0, &f, "--head-input"))
    return;
  const instrid_model_desc *a = finetune_arch(f), *a0 = finetune_arch(f0);
  const uint32_t n_out = TAXONOMY_N + N_SRC;
  const size_t C = 8, D = 12, E = D + C;
  CHECK(a->layers[10].p[0] == E && a->n_layers == a0->n_layers &&
            a->n_params == a0->n_params + C * C + C + n_out * C,
        "layer 10 grows to %zu outputs (%u), %zu parameters (plain %zu)", E, a->layers[10].p[0],
        a->n_params, a0->n_params);
  CHECK(finetune_split(f) == 13 && finetune_head_arch(f)->frontend.n_mels == E &&
            finetune_frozen_layers(f) == 14,
        "the trainer starts after the frozen embedding layer, on %zu values (split %u)", E,
        finetune_split(f));

  /* Before training: the plain network's outputs (BOTH) or its source outputs (POOL). */
  synth s = {a->frontend.n_mels * a->window_frames, {24, 8}};
  float *x = malloc(sizeof(float) * s.n_in);
  float worst =
      worst_output_difference(a, a0, &s, x, mode == FINETUNE_INPUT_POOL ? TAXONOMY_N : 0, n_out);
  CHECK(worst < 1e-5f, "outputs before training equal the plain network's: worst %g",
        (double)worst);

  /* Learning rates: everything before the head 0; target rows 1 (POOL: 0 on the embedding's
   * columns); source rows 0. Initial head: target rows zero on the pool's columns (POOL: on
   * every column), source rows the source's on the embedding's and zero on the pool's. */
  const float *lr = finetune_lr_scale(f), *p = a->params;
  size_t hd = layer_param_offset(a, 14), hd0 = layer_param_offset(a0, 14);
  int before = 1, tgt = 1, src = 1, init = 1;
  for (size_t j = 0; j < hd; j++)
    before &= lr[j] == 0.0f;
  for (size_t k = 0; k < n_out; k++) {
    int target = k < TAXONOMY_N;
    for (size_t j = 0; j < E; j++) {
      int emb_col = j < D;
      float want = target && !(emb_col && mode == FINETUNE_INPUT_POOL) ? 1.0f : 0.0f;
      *(target ? &tgt : &src) &= lr[hd + k * E + j] == want;
      float w = p[hd + k * E + j];
      if (!emb_col || (target && mode == FINETUNE_INPUT_POOL))
        init &= w == 0.0f;
      else
        init &= w == a0->params[hd0 + k * D + j];
    }
  }
  CHECK(before && tgt && src && init,
        "lr: before the head 0 %d, target rows %d, source rows 0 %d; initial head %d", before, tgt,
        src, init);

  /* Trained on the cached vectors; the written model's embedding and source outputs. */
  finetune_cache *c = NULL;
  if (x) {
    trainer *t = train_head_checked(f, &s, TAXONOMY_N * E, E, D, "the pool's columns", &c);
    if (t) {
      const float *q = train_net_params(trainer_net(t));
      float th[TAXONOMY_N];
      for (int k = 0; k < TAXONOMY_N; k++)
        th[k] = 0.5f;
      CHECK(finetune_write(f, q, NULL, th, "pool beside", out, &err) == INSTRID_OK, "%s",
            err.message);
      instrid_model *ms = instrid_model_load(path, &err), *mt = instrid_model_load(out, &err);
      CHECK(ms && mt && instrid_model_embedding_size(mt) == E,
            "models load, the embedding has %zu values: %s", E, err.message);
      instrid_net *ns = ms ? instrid_net_new(ms, &err) : NULL;
      instrid_net *nt =
          mt && instrid_model_embedding_size(mt) == E ? instrid_net_new(mt, &err) : NULL;
      if (ns && nt) {
        const float *W = a0->params + layer_param_offset(a0, 10), *B = W + D * C;
        float pt[TAXONOMY_N + N_SRC], dsrc = 0.0f, demb = 0.0f, lowest = 1e9f;
        for (size_t i = 0; i < 4; i++) {
          dsrc = fmaxf(dsrc, source_output_gap(ns, nt, &s, i, x, pt));
          const float *v = instrid_net_embedding(nt);
          for (size_t r = 0; r < D; r++) { /* the source's embedding layer on the pool */
            float z = B[r];
            for (size_t j = 0; j < C; j++)
              z += W[r * C + j] * (v[D + j] - 3.0f);
            float hs = z * fminf(fmaxf(z + 3.0f, 0.0f), 6.0f) / 6.0f;
            demb = fmaxf(demb, fabsf(hs - v[r]));
          }
          for (size_t j = 0; j < C; j++)
            lowest = fminf(lowest, v[D + j]);
        }
        CHECK(dsrc < 1e-6f, "source outputs after training equal the source model's: %g",
              (double)dsrc);
        CHECK(demb < 1e-4f && lowest >= 3.0f,
              "the embedding's last %zu values are the pool + 3 (lowest %g) that its first %zu "
              "come from: worst %g",
              C, (double)lowest, D, (double)demb);
      }
      instrid_net_free(ns);
      instrid_net_free(nt);
      instrid_model_free(ms);
      instrid_model_free(mt);
    }
    trainer_free(t);
  }
  finetune_cache_free(c);
  free(x);
  finetune_free(f0);
  finetune_free(f);
  if (mode == FINETUNE_INPUT_POOL) {
    remove(path);
    remove(out);
    return;
  }

  /* Refused: with --own-embedding, without the source outputs, with --freeze-until, and where
   * no embedding layer exists. */
  o.own_embedding = FINETUNE_OWN_PLAIN;
  f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(!f && err.code == INSTRID_ERR_INVALID_ARG, "with --own-embedding: %s", err.message);
  finetune_free(f);
  o.own_embedding = FINETUNE_OWN_NONE;
  check_reshape_refusals(path, tiny_path, o, "no pool to give the head");
  remove(path);
  remove(out);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_finetune PATH_TO_INSTRID_TRAIN\n");
    return 2;
  }
  check_adamw_lr_scale();
  check_train_blend_cli(argv[1]);
  char path[64], out[64];
  snprintf(path, sizeof path, "/tmp/test_finetune_%d.instrid", (int)getpid());
  snprintf(out, sizeof out, "/tmp/test_finetune_%d_out.instrid", (int)getpid());
  instrid_error err = {0};
  instrid_arch *arch = write_source_model(path, src_names, N_SRC);
  if (!arch)
    return check_exit();
  const instrid_model_desc *sd = instrid_arch_desc(arch);
  const uint32_t src_dense = sd->n_layers - 2; /* tiny ends in dense, sigmoid */
  const size_t src_head = layer_param_offset(sd, src_dense), head_in = 16;
  const float *sw = sd->params + src_head, *sb = sw + N_SRC * head_in;

  /* Default options: backbone frozen, rows by name / map / random. */
  finetune_options o;
  finetune_options_default(&o);
  finetune *f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(f != NULL, "finetune_new: %s", err.message);
  if (!f)
    return check_exit();
  const instrid_model_desc *a = finetune_arch(f);
  CHECK(a->n_layers == sd->n_layers && a->n_classes == TAXONOMY_N &&
            a->layers[src_dense].type == INSTRID_LAYER_DENSE &&
            a->layers[src_dense].p[0] == TAXONOMY_N &&
            a->layers[a->n_layers - 1].type == INSTRID_LAYER_SIGMOID,
        "new arch: %u layers, %u classes", a->n_layers, a->n_classes);
  CHECK(memcmp(&a->frontend, &sd->frontend, sizeof a->frontend) == 0 &&
            a->window_frames == sd->window_frames,
        "front end and window kept");
  CHECK(strcmp(a->class_names[TAX_VIOLIN], "violin") == 0, "class names are the targets");
  uint32_t by_name, by_map, by_random;
  finetune_init_counts(f, &by_name, &by_map, &by_random);
  CHECK(by_name == 1 && by_map == 2 && by_random == 22, "rows: %u by name, %u map, %u random",
        by_name, by_map, by_random);
  const float *w = a->params + src_head, *b = w + TAXONOMY_N * head_in;
  int same_violin = 1, mean_drums = 1, same_cello = 1;
  for (size_t j = 0; j < head_in; j++) {
    same_violin &= w[TAX_VIOLIN * head_in + j] == sw[1 * head_in + j];
    mean_drums &= fabsf(w[TAX_DRUMS * head_in + j] -
                        0.5f * (sw[2 * head_in + j] + sw[3 * head_in + j])) < 1e-6f;
    same_cello &= w[TAX_CELLO * head_in + j] == sw[5 * head_in + j];
  }
  CHECK(same_violin && b[TAX_VIOLIN] == sb[1], "violin row is 'Violin, fiddle''s");
  CHECK(mean_drums && fabsf(b[TAX_DRUMS] - 0.5f * (sb[2] + sb[3])) < 1e-6f,
        "drums row is the mean of 'Drum' and 'Drum kit'");
  CHECK(same_cello && b[TAX_CELLO] == sb[5], "cello row by name");
  CHECK(b[TAX_OBOE] == -3.0f && fabsf(w[TAX_OBOE * head_in]) <= 0.01f, "oboe row random");
  CHECK(memcmp(a->params, sd->params, sizeof(float) * src_head) == 0, "backbone copied");

  /* Learning-rate groups: everything before the head frozen. */
  const float *lr = finetune_lr_scale(f);
  int frozen = 1, head = 1;
  for (size_t j = 0; j < src_head; j++)
    frozen &= lr[j] == 0.0f;
  for (size_t j = src_head; j < a->n_params; j++)
    head &= lr[j] == 1.0f;
  CHECK(frozen && head, "lr groups: backbone 0, head 1");
  CHECK(finetune_split(f) == src_dense, "split at the head (%u)", finetune_split(f));
  const instrid_model_desc *h = finetune_head_arch(f);
  CHECK(h && h->n_layers == 2 && h->frontend.n_mels == 16 && h->window_frames == 1 &&
            h->n_params == TAXONOMY_N * (head_in + 1),
        "head arch");

  /* The frozen-backbone path: vectors once, the head trained on them. */
  synth s = {sd->frontend.n_mels * sd->window_frames, {40, 12}};
  example_source inner = {synth_count, synth_get, &s, NULL};
  finetune_cache *c = finetune_cache_new(f, &inner, 2, NULL, NULL, &err);
  CHECK(c != NULL, "cache: %s", err.message);
  if (c) {
    example_source cs = finetune_cache_source(c);
    CHECK(cs.count(cs.ctx, DATASET_TRAIN) == 40 && cs.count(cs.ctx, DATASET_VAL) == 12,
          "cache counts");
    trainer *t = head_trainer(f, &cs, &err);
    CHECK(t != NULL, "trainer on the head: %s", err.message);
    if (t) {
      CHECK(trainer_run(t, &err) == INSTRID_OK, "%s", err.message);
      instrid_model_desc trained;
      train_net_desc(trainer_net(t), &trained);
      CHECK(memcmp(trained.params, h->params, sizeof(float) * h->n_params) != 0, "the head moved");
      CHECK(finetune_write(f, trained.params, NULL, trainer_thresholds(t), "fine-tuned", out,
                           &err) == INSTRID_OK,
            "%s", err.message);
      /* libcore on the written model == sigmoid(head(vector)) for a window. */
      instrid_model *m = instrid_model_load(out, &err);
      CHECK(m != NULL, "load the fine-tuned model: %s", err.message);
      if (m) {
        CHECK(instrid_model_n_classes(m) == TAXONOMY_N &&
                  strcmp(instrid_model_class_name(m, TAX_VOICE), "voice") == 0,
              "written classes");
        instrid_net *net = instrid_net_new(m, &err);
        float *x = malloc(sizeof(float) * s.n_in), target[TAXONOMY_N], mask[TAXONOMY_N];
        float vec[16], probs[TAXONOMY_N], logits[TAXONOMY_N];
        synth_get(&s, DATASET_VAL, 5, 0, x, target, mask);
        instrid_net_forward(net, x, probs);
        float ct[TAXONOMY_N], cm[TAXONOMY_N];
        cs.get(cs.ctx, DATASET_VAL, 5, 0, vec, ct, cm);
        train_net_forward(trainer_net(t), vec, 1, 0, NULL, logits);
        float worst = 0.0f;
        for (uint32_t k = 0; k < TAXONOMY_N; k++) {
          float d = fabsf(probs[k] - 1.0f / (1.0f + expf(-logits[k])));
          worst = d > worst ? d : worst;
        }
        CHECK(worst < 1e-5f, "libcore vs cached-vector head: %g", (double)worst);
        free(x);
        instrid_net_free(net);
        instrid_model_free(m);
      }
      trainer_free(t);
    }
    finetune_cache_free(c);
  }
  finetune_free(f);

  /* Source head kept, backbone partly trainable at half rate. */
  o.keep_source_head = 1;
  o.freeze_until = 3;
  o.lr_backbone = 0.5f;
  f = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(f != NULL, "finetune_new (kept head): %s", err.message);
  if (f) {
    a = finetune_arch(f);
    CHECK(finetune_n_outputs(f) == TAXONOMY_N + N_SRC && a->n_classes == TAXONOMY_N + N_SRC &&
              strcmp(a->class_names[TAXONOMY_N + 1], "Violin, fiddle") == 0,
          "outputs: 25 then the source's");
    CHECK(strcmp(a->class_names[TAXONOMY_N + 5], "source cello") == 0, "a clashing name: %s",
          a->class_names[TAXONOMY_N + 5]);
    w = a->params + src_head;
    b = w + (TAXONOMY_N + N_SRC) * head_in;
    CHECK(memcmp(w + TAXONOMY_N * head_in, sw, sizeof(float) * N_SRC * head_in) == 0 &&
              memcmp(b + TAXONOMY_N, sb, sizeof(float) * N_SRC) == 0,
          "source rows copied after the new ones");
    lr = finetune_lr_scale(f);
    size_t l3 = layer_param_offset(a, 3);
    CHECK(lr[0] == 0.0f && lr[l3 - 1] == 0.0f && lr[l3] == 0.5f && lr[src_head - 1] == 0.5f,
          "layers 0..2 frozen, then 0.5");
    CHECK(lr[src_head] == 1.0f && lr[src_head + TAXONOMY_N * head_in] == 0.0f &&
              lr[a->n_params - 1] == 0.0f && lr[a->n_params - N_SRC - 1] == 1.0f,
          "new rows 1, source rows frozen");
    CHECK(finetune_split(f) == 0, "no frozen-backbone path when layers train");
    /* The wrapped source leaves the auxiliary outputs unlabelled. */
    example_source ws = finetune_wrap_source(f, &inner);
    float *x = malloc(sizeof(float) * s.n_in), t2[TAXONOMY_N + N_SRC], m2[TAXONOMY_N + N_SRC];
    ws.get(ws.ctx, DATASET_TRAIN, 0, 0, x, t2, m2);
    CHECK(m2[0] == 1.0f && m2[TAXONOMY_N] == 0.0f && m2[TAXONOMY_N + N_SRC - 1] == 0.0f,
          "aux masks 0");
    free(x);
    /* The whole network trains with the groups: frozen parameters do not move. */
    train_options opt;
    train_options_default(&opt);
    opt.epochs = 1;
    opt.batch = 8;
    opt.threads = 1;
    opt.lr_scale = lr;
    trainer *t = trainer_new(a, &ws, &opt, &err);
    CHECK(t != NULL, "trainer on the whole net: %s", err.message);
    if (t) {
      CHECK(trainer_run(t, &err) == INSTRID_OK, "%s", err.message);
      const float *p = train_net_params(trainer_net(t));
      /* Layer 0's conv weights are frozen (its batch norm's running statistics, layer 1,
       * still move in training mode). */
      size_t l1 = layer_param_offset(a, 1);
      int kept = 1, moved = 0;
      for (size_t j = 0; j < a->n_params; j++) {
        if (lr[j] == 0.0f && (j < l1 || j >= src_head))
          kept &= p[j] == a->params[j];
        if (lr[j] > 0.0f)
          moved |= p[j] != a->params[j];
      }
      CHECK(kept && moved, "frozen rows kept, trainable ones moved");
      CHECK(finetune_write(f, NULL, p, trainer_thresholds(t), "fine-tuned", out, &err) ==
                INSTRID_OK,
            "%s", err.message);
      instrid_model *m = instrid_model_load(out, &err);
      CHECK(m && instrid_model_n_classes(m) == TAXONOMY_N + N_SRC &&
                fabsf(instrid_model_threshold(m, TAXONOMY_N + 2) - 0.3f) < 1e-6f,
            "aux thresholds are the source's");
      instrid_model_free(m);
      trainer_free(t);
    }
    finetune_free(f);
  }

  /* The blend: with the source head kept and the backbone frozen, the written model ends in
   * BLEND_MAPPED with the AudioSet map as its selection and gamma where a source names the
   * class, and has the 25 classes only. */
  {
    finetune_options ob;
    finetune_options_default(&ob);
    ob.keep_source_head = 1;
    ob.blend = 0.25f;
    finetune *fb = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &ob, 1, &err);
    CHECK(fb != NULL && finetune_split(fb) != 0, "finetune_new (blend): %s", err.message);
    finetune_cache *cb = fb ? finetune_cache_new(fb, &inner, 1, NULL, NULL, &err) : NULL;
    CHECK(cb != NULL, "cache (blend): %s", err.message);
    if (fb && cb) {
      const instrid_model_desc *hb = finetune_head_arch(fb);
      float thb[TAXONOMY_N];
      double bmap = -1.0, bf1 = -1.0;
      CHECK(finetune_blend_thresholds(fb, cb, hb->params, thb, &bmap, &bf1, &err) == INSTRID_OK,
            "blend thresholds: %s", err.message);
      int in_range = 1;
      for (int k = 0; k < TAXONOMY_N; k++)
        in_range &= thb[k] >= 0.0f && thb[k] <= 1.0f;
      CHECK(in_range && bmap >= 0.0 && bmap <= 1.0 && bf1 >= 0.0 && bf1 <= 1.0,
            "blend thresholds and figures in range (mAP %g, macro-F1 %g)", bmap, bf1);
      CHECK(finetune_write(fb, hb->params, NULL, thb, "blend", out, &err) == INSTRID_OK, "%s",
            err.message);
      instrid_model *mb = instrid_model_load(out, &err);
      CHECK(mb != NULL, "blended model loads: %s", err.message);
      if (mb) {
        const instrid_model_desc *db = instrid_model_get_desc(mb);
        CHECK(db->n_classes == TAXONOMY_N &&
                  db->layers[db->n_layers - 1].type == INSTRID_LAYER_BLEND_MAPPED &&
                  db->layers[db->n_layers - 1].p[0] == TAXONOMY_N,
              "25 outputs from a BLEND_MAPPED layer");
        const float *gamma = db->params + db->n_params - TAXONOMY_N;
        const float *map = gamma - TAXONOMY_N * N_SRC;
        CHECK(map[TAX_VIOLIN * N_SRC + 1] == 1.0f && map[TAX_VIOLIN * N_SRC + 0] == 0.0f &&
                  map[TAX_DRUMS * N_SRC + 2] == 1.0f && map[TAX_DRUMS * N_SRC + 3] == 1.0f &&
                  map[TAX_DRUMS * N_SRC + 4] == 0.0f,
              "map: violin <- 'Violin, fiddle', drums <- 'Drum', 'Drum kit'");
        CHECK(gamma[TAX_VIOLIN] == 0.25f && gamma[TAX_DRUMS] == 0.25f && gamma[TAX_OBOE] == 1.0f,
              "gamma 0.25 where mapped, 1 for oboe");
        CHECK(db->layers[db->n_layers - 1].p[1] == INSTRID_BLEND_LINEAR, "linear by default");
        /* A mode the reader does not know is refused by name (written, then loaded). */
        instrid_model_desc dx = *db;
        instrid_layer_desc *lx = malloc(sizeof *lx * db->n_layers);
        CHECK(lx != NULL, "out of memory");
        if (lx) {
          memcpy(lx, db->layers, sizeof *lx * db->n_layers);
          lx[db->n_layers - 1].p[1] = 2;
          dx.layers = lx;
          instrid_error ex = {0};
          instrid_model *mx = NULL;
          if (instrid_model_write(&dx, out, &ex) == INSTRID_OK)
            mx = instrid_model_load(out, &ex);
          CHECK(!mx && strstr(ex.message, "mode 2 unknown"), "blend mode 2: '%s'", ex.message);
          instrid_model_free(mx);
          free(lx);
        }
        instrid_model_free(mb);
      }
      /* The noisy-OR blend is written as mode 1. */
      finetune_free(fb);
      ob.blend_mode = INSTRID_BLEND_NOISY_OR;
      fb = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &ob, 1, &err);
      CHECK(fb && finetune_write(fb, finetune_head_arch(fb)->params, NULL, thb, "noisy", out,
                                 &err) == INSTRID_OK,
            "noisy-OR blend written: %s", err.message);
      mb = instrid_model_load(out, &err);
      CHECK(mb &&
                instrid_model_get_desc(mb)->layers[instrid_model_get_desc(mb)->n_layers - 1].p[1] ==
                    INSTRID_BLEND_NOISY_OR,
            "noisy-OR blend loads as mode 1: %s", err.message);
      instrid_model_free(mb);
      ob.blend_mode = INSTRID_BLEND_LINEAR;
    }
    finetune_cache_free(cb);
    finetune_free(fb);
    /* Without a blend there are no blend thresholds. */
    ob.blend = -1.0f;
    fb = finetune_new(path, instrid_taxonomy, TAXONOMY_N, &ob, 1, &err);
    float thx[TAXONOMY_N];
    CHECK(fb && finetune_blend_thresholds(fb, NULL, NULL, thx, NULL, NULL, &err) ==
                    INSTRID_ERR_INVALID_ARG,
          "blend thresholds refused without a blend");
    finetune_free(fb);
  }

  /* A model whose last layer is not DENSE [SIGMOID] has no head to replace. */
  instrid_model_desc bad = *sd;
  bad.n_layers = sd->n_layers - 2; /* ends at the global pool: 16 outputs */
  bad.n_classes = 16;
  const char *names16[16];
  char buf[16][8];
  float th16[16];
  for (int k = 0; k < 16; k++) {
    snprintf(buf[k], sizeof buf[k], "c%d", k);
    names16[k] = buf[k];
    th16[k] = 0.5f;
  }
  bad.class_names = names16;
  bad.thresholds = th16;
  bad.n_params = src_head;
  CHECK(instrid_model_write(&bad, out, &err) == INSTRID_OK, "%s", err.message);
  f = finetune_new(out, instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(f == NULL && err.code == INSTRID_ERR_FORMAT && strstr(err.message, "DENSE"), "no head: %s",
        err.message);
  finetune_free(f);
  f = finetune_new("/nonexistent/model.instrid", instrid_taxonomy, TAXONOMY_N, &o, 1, &err);
  CHECK(f == NULL && err.code == INSTRID_ERR_IO, "missing file: %s", err.message);

  check_own_embedding(path, FINETUNE_OWN_PLAIN);
  check_own_embedding(path, FINETUNE_OWN_MEAN_MAX);
  check_head_input(path, FINETUNE_INPUT_BOTH);
  check_head_input(path, FINETUNE_INPUT_POOL);
  remove(path);
  remove(out);
  instrid_arch_free(arch);
  return check_exit();
}
