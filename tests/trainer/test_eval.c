/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_eval.c — instrid-eval: its figures on a hand-computed example (masked entries and a class
 * without positives included), then the command end to end on a tiny CSV set with a random
 * model through the instridentify element (exit 77 when the element cannot be found).
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
      {"--csv %s", 1, "instrid-eval: %s: cannot open: Is a directory\n"},
  };
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    char args[1024], expected[1024];
    snprintf(args, sizeof(args), bad[k].args, dir);
    snprintf(expected, sizeof(expected), bad[k].said, dir);
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
  int ran = argc > 1 ? test_end_to_end(argv[1]) : 0;
  return check_exit_skipped(!ran);
}
