/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_eval.c — instrid-eval: its figures on a hand-computed example (masked entries and a class
 * without positives included), the bootstrap's intervals on sets whose answers are known, then
 * the command end to end on a tiny CSV set with a random model through the instridentify element
 * (--bootstrap and --compare included; exit 77 when the element cannot be found).
 * Usage: test_eval PATH_TO_INSTRID_EVAL
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "check.h"
#include "dataset.h"
#include "evalmetrics.h"
#include "fixtures.h"
#include "instrid.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_hand_example(void)
{
  /* 4 examples x 3 classes. Class 0: AP = 0.5 * 1 + 0.5 * 2/3; at 0.5: TP 1, FP 1, FN 1.
   * Class 1: example 2 is unknown (its 0.6 would be a false alarm if counted): AP 1, TP 1,
   * FN 1. Class 2 has no positive: excluded from every mean. */
  const float scores[] = {0.9f,      0.2f, 0.9f, /**/ 0.8f, 0.7f, 0.1f,
                          /**/ 0.3f, 0.6f, 0.1f, /**/ 0.1f, 0.4f, 0.1f};
  const float targets[] = {1, 0, 0, /**/ 0, 1, 0, /**/ 1, 0, 0, /**/ 0, 1, 0};
  const float mask[] = {1, 1, 1, /**/ 1, 1, 1, /**/ 1, 0, 1, /**/ 1, 1, 1};
  const float thr[] = {0.5f, 0.5f, 0.5f};
  eval_report r;
  CHECK(eval_report_compute(&r, scores, targets, mask, 4, 3, thr), "alloc");
  CHECK(NEAR(r.ap[0], 0.5 + 0.5 * 2.0 / 3.0), "AP0 %f", r.ap[0]);
  CHECK(NEAR(r.ap[1], 1.0), "AP1 %f", r.ap[1]);
  CHECK(isnan(r.ap[2]) && isnan(r.f1[2]), "class 2 excluded");
  CHECK(r.tp[0] == 1 && r.fp[0] == 1 && r.fn[0] == 1, "counts 0");
  CHECK(r.tp[1] == 1 && r.fp[1] == 0 && r.fn[1] == 1 && r.n_known[1] == 3, "counts 1");
  CHECK(NEAR(r.precision[0], 0.5) && NEAR(r.recall[0], 0.5) && NEAR(r.f1[0], 0.5), "PRF 0");
  CHECK(NEAR(r.precision[1], 1.0) && NEAR(r.recall[1], 0.5) && NEAR(r.f1[1], 2.0 / 3.0), "PRF 1");
  CHECK(r.n_defined == 2, "defined %zu", r.n_defined);
  CHECK(NEAR(r.map, (0.5 + 1.0 / 3.0 + 1.0) / 2.0), "mAP %f", r.map);
  CHECK(NEAR(r.macro_f1, (0.5 + 2.0 / 3.0) / 2.0), "macro %f", r.macro_f1);
  /* micro over classes 0 and 1: TP 2, FP 1, FN 2 -> 4 / 7 */
  CHECK(NEAR(r.micro_f1, 4.0 / 7.0), "micro %f", r.micro_f1);
  /* false alarms: class 2 on example 0 (class 0 playing), class 0 on example 1 (class 1) */
  CHECK(r.n_confusions == 2, "confusions %zu", r.n_confusions);
  if (r.n_confusions == 2) {
    CHECK(r.confusions[0].truth == 0 && r.confusions[0].predicted == 2 &&
              r.confusions[0].count == 1,
          "confusion 0");
    CHECK(r.confusions[1].truth == 1 && r.confusions[1].predicted == 0, "confusion 1");
  }
  eval_report_clear(&r);
}

/* n examples x 2 classes: class 0 positive on even examples, class 1 on every third. */
static void two_classes(size_t n, float *targets, float *mask)
{
  for (size_t i = 0; i < n; i++) {
    targets[2 * i] = i % 2 == 0;
    targets[2 * i + 1] = i % 3 == 0;
    mask[2 * i] = mask[2 * i + 1] = 1;
  }
}

static void test_bootstrap(void)
{
  enum { N = 40 };
  float targets[2 * N], mask[2 * N], perfect[2 * N], noisy[2 * N], worst[2 * N];
  const float thr[] = {0.5f, 0.5f};
  two_classes(N, targets, mask);
  uint64_t h = 12345;
  for (size_t i = 0; i < 2 * N; i++) {
    perfect[i] = targets[i] > 0.5f ? 0.9f : 0.1f;
    worst[i] = 1.0f - perfect[i];
    h = h * 6364136223846793005ull + 1442695040888963407ull; /* noise in [0, 0.8) */
    noisy[i] = 0.3f * targets[i] + (float)((h >> 40) & 0xffff) / 65536.0f * 0.8f;
  }
  eval_interval a, b;
  /* a perfect ranking: every draw scores 1 */
  CHECK(eval_bootstrap(perfect, thr, NULL, NULL, targets, mask, N, 2, 500, 1, &a), "alloc");
  CHECK(a.resamples == 500 && a.used == 500, "draws %zu used %zu", a.resamples, a.used);
  CHECK(NEAR(a.map_lo, 1) && NEAR(a.map_hi, 1) && NEAR(a.macro_f1_lo, 1) && NEAR(a.macro_f1_hi, 1),
        "perfect: %f-%f, %f-%f", a.map_lo, a.map_hi, a.macro_f1_lo, a.macro_f1_hi);
  CHECK(isnan(a.p_better), "p_better only when compared");
  /* a noisy one: an interval of some width around the whole set's figure, the same every run */
  eval_report r;
  CHECK(eval_report_compute(&r, noisy, targets, mask, N, 2, thr), "alloc");
  CHECK(eval_bootstrap(noisy, thr, NULL, NULL, targets, mask, N, 2, 1000, 1, &a), "alloc");
  CHECK(eval_bootstrap(noisy, thr, NULL, NULL, targets, mask, N, 2, 1000, 1, &b), "alloc");
  CHECK(a.map_lo < r.map && r.map < a.map_hi && a.map_hi - a.map_lo > 0.05 &&
            a.map_hi - a.map_lo < 0.5 && r.map > 0.5 && r.map < 1.0,
        "noisy: mAP %f in %f-%f", r.map, a.map_lo, a.map_hi);
  CHECK(a.macro_f1_lo < r.macro_f1 && r.macro_f1 < a.macro_f1_hi, "noisy: macro-F1 %f in %f-%f",
        r.macro_f1, a.macro_f1_lo, a.macro_f1_hi);
  CHECK(a.map_lo == b.map_lo && a.map_hi == b.map_hi && a.macro_f1_lo == b.macro_f1_lo,
        "the same seed, the same figures");
  CHECK(eval_bootstrap(noisy, thr, NULL, NULL, targets, mask, N, 2, 1000, 2, &b), "alloc");
  CHECK(a.map_lo != b.map_lo || a.map_hi != b.map_hi, "another seed, other draws");
  eval_report_clear(&r);
  /* paired: a model against itself differs by nothing; the perfect one beats the worst */
  CHECK(eval_bootstrap(noisy, thr, noisy, thr, targets, mask, N, 2, 500, 1, &a), "alloc");
  CHECK(a.map_lo == 0 && a.map_hi == 0 && a.macro_f1_lo == 0 && a.macro_f1_hi == 0 &&
            a.p_better == 0,
        "itself: %f-%f, p %f", a.map_lo, a.map_hi, a.p_better);
  CHECK(eval_bootstrap(worst, thr, perfect, thr, targets, mask, N, 2, 500, 1, &a), "alloc");
  CHECK(a.map_lo > 0.4 && a.macro_f1_lo > 0.9 && a.p_better == 1.0,
        "perfect - worst: %f-%f, F1 %f-%f, p %f", a.map_lo, a.map_hi, a.macro_f1_lo, a.macro_f1_hi,
        a.p_better);
  /* a class with a single positive leaves the draws that miss it: the used draws stay all */
  float one_t[2 * N], one_m[2 * N];
  two_classes(N, one_t, one_m);
  for (size_t i = 0; i < N; i++)
    one_t[2 * i + 1] = i == 7;
  CHECK(eval_bootstrap(perfect, thr, NULL, NULL, one_t, one_m, N, 2, 200, 1, &a), "alloc");
  CHECK(a.used == 200, "a draw with one defined class still counts: %zu", a.used);
  /* nothing to draw from */
  CHECK(eval_bootstrap(perfect, thr, NULL, NULL, targets, mask, 0, 2, 100, 1, &a), "alloc");
  CHECK(a.used == 0 && isnan(a.map_lo) && isnan(a.map_hi), "empty set: NAN");
}

static int write_wav(const char *path, double freq_hz, double seconds)
{
  const int rate = 16000;
  int n = (int)(seconds * rate);
  int16_t *x = malloc(sizeof *x * (size_t)n);
  if (!x)
    return -1;
  for (int i = 0; i < n; i++)
    x[i] = (int16_t)(8000 * sin(2 * M_PI * freq_hz * i / rate) * (1 + (i % 97) / 970.0));
  int ret = fixture_write_wav_pcm16(path, rate, x, (size_t)n);
  free(x);
  return ret;
}

static int run(const char *cmd)
{
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 when the element is there; 0 skips the end-to-end part. */
/* instrid-eval over DIR/clean.csv with DIR/model.instrid compared with itself, 200 draws, with
 * `flags`; its standard output (free it), *status its exit status. */
static char *compare_with_itself(const char *eval_bin, const char *dir, const char *flags,
                                 int *status)
{
  char cmd[4096], path[1024];
  snprintf(cmd, sizeof(cmd),
           "'%s' --quiet %s --model %s/model.instrid --csv %s/clean.csv --bootstrap 200 "
           "--compare %s/model.instrid > %s/cmp.out 2> %s/err6.txt",
           eval_bin, flags, dir, dir, dir, dir, dir);
  *status = run(cmd);
  snprintf(path, sizeof(path), "%s/cmp.out", dir);
  return fixture_slurp(path, NULL);
}

static int test_end_to_end(const char *eval_bin)
{
  GstElementFactory *fac = gst_element_factory_find("instridentify");
  if (!fac) {
    fprintf(stderr, "instridentify not found (GST_PLUGIN_PATH=%s): end-to-end part skipped\n",
            g_getenv("GST_PLUGIN_PATH") ? g_getenv("GST_PLUGIN_PATH") : "");
    return 0;
  }
  gst_object_unref(fac);
  char dir[] = "/tmp/instrid-test-eval-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return 1;
  }
  char path[512], cmd[2048];
  /* a random "tiny" model over the 25 classes */
  instrid_model_desc desc;
  instrid_arch *arch = NULL;
  instrid_error err = {0};
  CHECK(instrid_arch_build("tiny", TAXONOMY_N, 7, &desc, &arch, &err) == INSTRID_OK, "%s",
        err.message);
  if (!arch)
    return 1;
  for (uint32_t k = 0; k < TAXONOMY_N; k++)
    instrid_arch_set_class_name(arch, k, instrid_taxonomy[k], &err);
  snprintf(path, sizeof(path), "%s/model.instrid", dir);
  CHECK(instrid_model_write(instrid_arch_desc(arch), path, &err) == INSTRID_OK, "%s", err.message);
  /* the same model with another name for its first class: not comparable with it */
  instrid_arch_set_class_name(arch, 0, "kazoo", &err);
  snprintf(path, sizeof(path), "%s/other-classes.instrid", dir);
  CHECK(instrid_model_write(instrid_arch_desc(arch), path, &err) == INSTRID_OK, "%s", err.message);
  instrid_arch_free(arch);

  snprintf(path, sizeof(path), "%s/a.wav", dir);
  write_wav(path, 440, 2.0);
  snprintf(path, sizeof(path), "%s/b.wav", dir);
  write_wav(path, 1000, 1.5);
  snprintf(path, sizeof(path), "%s/c.wav", dir);
  write_wav(path, 220, 2.5);
  snprintf(path, sizeof(path), "%s/corrupt.wav", dir);
  FILE *f = fopen(path, "w");
  fputs("RIFF this is not audio at all", f);
  fclose(f);
  snprintf(path, sizeof(path), "%s/labels.csv", dir);
  f = fopen(path, "w");
  fputs("path,labels,kind,note\n"
        "a.wav,violin;piano,synthetic,\"two, labels\"\n"
        "b.wav,flute,synthetic,\n"
        "missing.wav,piano,synthetic,\n"
        "c.wav,piano,synthetic,\n"
        "corrupt.wav,cello,synthetic,\n",
        f);
  fclose(f);
  snprintf(cmd, sizeof(cmd),
           "'%s' --quiet --json --model %s/model.instrid --csv %s/labels.csv --svg %s/ap.svg "
           "> %s/out.json 2> %s/err.txt",
           eval_bin, dir, dir, dir, dir, dir);
  int st = run(cmd);
  snprintf(path, sizeof(path), "%s/out.json", dir);
  char *json = fixture_slurp(path, NULL);
  snprintf(path, sizeof(path), "%s/err.txt", dir);
  char *errs = fixture_slurp(path, NULL);
  CHECK(st == 0, "exit %d; stderr:\n%s", st, errs ? errs : "");
  CHECK(json && strstr(json, "\"files\": 5, \"evaluated\": 3, \"unreadable\": 2"), "counts: %s",
        json ? json : "(none)");
  /* one line per unreadable file, naming it */
  int lines = 0;
  for (const char *p = errs; p && *p; p++)
    lines += *p == '\n';
  CHECK(errs && lines == 2 && strstr(errs, "missing.wav") && strstr(errs, "corrupt.wav"),
        "stderr:\n%s", errs ? errs : "");
  /* piano (2 files), violin and flute have positives; cello's only file was unreadable */
  CHECK(json && strstr(json, "\"classes_defined\": 3"), "defined");
  CHECK(json && strstr(json, "{\"name\": \"accordion\", \"ap\": null"), "accordion excluded");
  CHECK(json && strstr(json, "\"name\": \"cello\", \"ap\": null"), "cello excluded");
  const char *p = json ? strstr(json, "\"name\": \"piano\", \"ap\": ") : NULL;
  double ap = p ? atof(p + strlen("\"name\": \"piano\", \"ap\": ")) : -1;
  CHECK(ap > 0.0 && ap <= 1.0, "piano AP %f", ap);
  p = json ? strstr(json, "\"map\": ") : NULL;
  double map = p ? atof(p + 7) : -1;
  CHECK(map > 0.0 && map <= 1.0, "mAP %f", map);
  snprintf(path, sizeof(path), "%s/ap.svg", dir);
  char *svgt = fixture_slurp(path, NULL);
  CHECK(svgt && strstr(svgt, "<svg") && strstr(svgt, ">piano</text>") && strstr(svgt, "</svg>"),
        "svg");
  free(svgt);
  free(json);
  free(errs);

  /* a label that is not a class: a clear error, exit 1 */
  snprintf(path, sizeof(path), "%s/bad.csv", dir);
  f = fopen(path, "w");
  fputs("path,labels\na.wav,kazoo\n", f);
  fclose(f);
  snprintf(cmd, sizeof(cmd),
           "'%s' --quiet --model %s/model.instrid --csv %s/bad.csv 2> %s/err2.txt", eval_bin, dir,
           dir, dir);
  st = run(cmd);
  snprintf(path, sizeof(path), "%s/err2.txt", dir);
  errs = fixture_slurp(path, NULL);
  CHECK(st == 1 && errs && strstr(errs, "kazoo") && strstr(errs, "line 2"), "bad label: %d %s", st,
        errs ? errs : "");
  free(errs);

  /* Spaces around a label and an empty one after the last ';' (hand-written CSVs, CRLF): the
   * same figures as the clean file. */
  snprintf(path, sizeof(path), "%s/clean.csv", dir);
  f = fopen(path, "w");
  fputs("path,labels\na.wav,violin;piano\nb.wav,flute\n", f);
  fclose(f);
  snprintf(path, sizeof(path), "%s/spaced.csv", dir);
  f = fopen(path, "w");
  fputs("path,labels\r\na.wav, violin ; piano ;\r\nb.wav,flute \r\n", f);
  fclose(f);
  char *reports[2];
  for (int k = 0; k < 2; k++) {
    snprintf(cmd, sizeof(cmd),
             "'%s' --quiet --json --model %s/model.instrid --csv %s/%s.csv > %s/out%d.json "
             "2> %s/err3.txt",
             eval_bin, dir, dir, k ? "spaced" : "clean", dir, k, dir);
    st = run(cmd);
    CHECK(st == 0, "%s.csv: exit %d", k ? "spaced" : "clean", st);
    snprintf(path, sizeof(path), "%s/out%d.json", dir, k);
    reports[k] = fixture_slurp(path, NULL);
  }
  /* the reports name their CSV; compare from the figures on */
  const char *figures[2] = {reports[0] ? strstr(reports[0], "\"files\"") : NULL,
                            reports[1] ? strstr(reports[1], "\"files\"") : NULL};
  CHECK(figures[0] && figures[1] && strcmp(figures[0], figures[1]) == 0,
        "spaced labels:\n%s\nclean labels:\n%s", reports[1] ? reports[1] : "",
        reports[0] ? reports[0] : "");
  free(reports[0]);
  free(reports[1]);

  /* --bootstrap and --compare: a model against itself differs by nothing, every draw */
  char *cmp = compare_with_itself(eval_bin, dir, "", &st);
  CHECK(st == 0 && cmp && strstr(cmp, "bootstrap over the 2 files (200 draws): mAP 90% interval") &&
            strstr(cmp, "model.instrid: mAP ") && strstr(cmp, "(+0.000), macro-F1 ") &&
            strstr(cmp, "mAP difference 90% interval +0.000 to +0.000, macro-F1 +0.000 to "
                        "+0.000; the compared model's mAP higher in 0% of the draws"),
        "compared with itself: exit %d:\n%s", st, cmp ? cmp : "");
  free(cmp);
  cmp = compare_with_itself(eval_bin, dir, "--json", &st);
  CHECK(st == 0 && cmp && strstr(cmp, "\"bootstrap\": {\"draws\": 200, \"used\": 200, ") &&
            strstr(cmp, "\"map_difference_90\": [0, 0], \"macro_f1_difference_90\": [0, 0], "
                        "\"p_better\": 0}}}"),
        "JSON: exit %d:\n%s", st, cmp ? cmp : "");
  free(cmp);

  /* Bad values and inputs: one line naming the problem, exit 2 for usage, 1 otherwise. */
  static const struct {
    const char *args;
    int status;
    const char *said;
  } bad[] = {
      {"--csv %s/clean.csv --max-files 0", 2,
       "instrid-eval: bad value '0' for --max-files (a whole number >= 1)\n"},
      {"--csv %s/clean.csv --max-files -1", 2,
       "instrid-eval: bad value '-1' for --max-files (a whole number >= 1)\n"},
      {"--csv %s/clean.csv --confusions x", 2,
       "instrid-eval: bad value 'x' for --confusions (a whole number >= 0)\n"},
      {"--csv %s/clean.csv --bootstrap 99", 2,
       "instrid-eval: bad value '99' for --bootstrap (a whole number of draws, 100..100000)\n"},
      {"--csv %s/clean.csv --bootstrap 100001", 2,
       "instrid-eval: bad value '100001' for --bootstrap (a whole number of draws, "
       "100..100000)\n"},
      {"--csv %s/clean.csv --compare %s/other-classes.instrid", 1,
       "instrid-eval: --compare %s/other-classes.instrid: its classes are not those of "
       "%s/model.instrid (a comparison needs the same classes in the same order)\n"},
      {"--csv %s/clean.csv --compare %s/clean.csv", 1,
       "instrid-eval: --compare: %s/clean.csv: not an instrid model file (bad magic)\n"},
      {"--csv %s", 1, "instrid-eval: %s: cannot open: Is a directory\n"},
  };
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    char args[1024], expected[1024];
    snprintf(args, sizeof(args), bad[k].args, dir, dir);
    snprintf(expected, sizeof(expected), bad[k].said, dir, dir);
    snprintf(cmd, sizeof(cmd), "'%s' --quiet --model %s/model.instrid %s 2> %s/err4.txt", eval_bin,
             dir, args, dir);
    st = run(cmd);
    snprintf(path, sizeof(path), "%s/err4.txt", dir);
    errs = fixture_slurp(path, NULL);
    CHECK(st == bad[k].status && errs && strcmp(errs, expected) == 0, "%s: exit %d, said: %s", args,
          st, errs ? errs : "");
    free(errs);
  }
  /* A model that does not load is named once. */
  snprintf(path, sizeof(path), "%s/clean.csv", dir);
  snprintf(cmd, sizeof(cmd), "'%s' --quiet --model %s --csv %s 2> %s/err5.txt", eval_bin, path,
           path, dir);
  st = run(cmd);
  char expected[1024];
  snprintf(expected, sizeof(expected), "instrid-eval: %s: not an instrid model file (bad magic)\n",
           path);
  snprintf(path, sizeof(path), "%s/err5.txt", dir);
  errs = fixture_slurp(path, NULL);
  CHECK(st == 1 && errs && strcmp(errs, expected) == 0, "bad model: exit %d, said: %s", st,
        errs ? errs : "");
  free(errs);
  if (fixture_remove_tree(dir) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return 1;
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  test_hand_example();
  test_bootstrap();
  int ran = argc > 1 ? test_end_to_end(argv[1]) : 0;
  return check_exit_skipped(!ran);
}
