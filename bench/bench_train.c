/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench_train.c — instrid-bench-train: training throughput (windows/s) of the C training loop
 * for an architecture against the same architecture, batch and optimizer in PyTorch, same
 * thread count, in the same run. Medians of several runs. Not a test: numbers depend on the
 * machine. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "dataset.h"
#include "train.h"

#ifndef TORCH_TRAIN_PY
#define TORCH_TRAIN_PY "bench/torch_train.py"
#endif

/* A pool of random windows with random labels, a quarter of them unknown: the loop does all
 * its real work (copy, forward, masked loss, backward, AdamW) on data that costs nothing to
 * make. */
typedef struct {
  size_t n_pool, n_inputs, n_classes, n_windows;
  float *features, *target, *mask;
} random_source;

static size_t random_count(void *ctx, dataset_split split)
{
  const random_source *s = ctx;
  return split == DATASET_TRAIN ? s->n_windows : 0;
}

static void random_get(void *ctx, dataset_split split, size_t i, int shift_frames, float *features,
                       float *target, float *mask)
{
  (void)split;
  (void)shift_frames;
  const random_source *s = ctx;
  size_t j = i % s->n_pool;
  memcpy(features, s->features + j * s->n_inputs, s->n_inputs * sizeof(float));
  memcpy(target, s->target + j * s->n_classes, s->n_classes * sizeof(float));
  memcpy(mask, s->mask + j * s->n_classes, s->n_classes * sizeof(float));
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The layer list as torch_train.py reads it: "type:p0,...,p9:f0;..." */
static void format_layers(const instrid_model_desc *d, char *buf, size_t n)
{
  size_t len = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n_layers && len < n; i++) {
    const instrid_layer_desc *l = &d->layers[i];
    len += (size_t)snprintf(buf + len, n - len, "%s%u:", i ? ";" : "", l->type);
    for (int k = 0; k < INSTRID_LAYER_PARAMS && len < n; k++)
      len += (size_t)snprintf(buf + len, n - len, "%s%u", k ? "," : "", l->p[k]);
    if (len < n)
      len += (size_t)snprintf(buf + len, n - len, ":%g", (double)l->f0);
  }
}

/* Runs torch_train.py and reads "windows_per_second X" from its output; < 0 when it failed. */
static double run_torch(const char *python, const char *script, const instrid_model_desc *d,
                        int batch, int steps, int runs, int threads, float lr, float wd)
{
  static char layers[16384];
  format_layers(d, layers, sizeof layers);
  char cmd[20000];
  snprintf(cmd, sizeof cmd,
           "'%s' '%s' --n-mels %u --frames %u --classes %u --layers '%s' "
           "--batch %d --steps %d --runs %d --threads %d --lr %g --weight-decay %g",
           python, script, d->frontend.n_mels, d->window_frames, d->n_classes, layers, batch, steps,
           runs, threads, (double)lr, (double)wd);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1.0;
  char line[512];
  double wps = -1.0;
  while (fgets(line, sizeof line, p)) {
    double v;
    if (sscanf(line, "windows_per_second %lf", &v) == 1)
      wps = v;
    else
      fputs(line, stdout);
  }
  int st = pclose(p);
  return st == 0 ? wps : -1.0;
}

static void usage(FILE *f)
{
  fprintf(f, "usage: instrid-bench-train [--arch NAME | --model FILE] [--batch N] [--steps N]\n"
             "                           [--runs N] [--threads N] [--no-torch]\n"
             "Training steps per second of the C loop (forward, masked balanced BCE, backward,\n"
             "AdamW) against PyTorch with the same architecture, batch, optimizer and threads.\n"
             "  --arch NAME    architecture (default \"default\")\n"
             "  --model FILE   the network of a model file instead (e.g. an imported mn04),\n"
             "                 every layer trained, starting from its weights\n"
             "  --batch N      windows per step (default 64)\n"
             "  --steps N      timed steps per run (default 20)\n"
             "  --runs N       runs; the median is reported (default 5)\n"
             "  --threads N    BLAS / torch threads (default: number of cores)\n"
             "  --no-torch     C only\n"
             "  --python PATH  the Python with torch (default /usr/bin/python3)\n"
             "  --torch-script PATH  torch_train.py (default: the source tree's)\n");
}

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"arch", required_argument, NULL, 'a'},
      {"batch", required_argument, NULL, 'b'},
      {"steps", required_argument, NULL, 's'},
      {"runs", required_argument, NULL, 'r'},
      {"threads", required_argument, NULL, 't'},
      {"no-torch", no_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {"model", required_argument, NULL, 'm'},
      {"python", required_argument, NULL, 'p'},
      {"torch-script", required_argument, NULL, 'T'},
      {NULL, 0, NULL, 0},
  };
  const char *arch_name = "default", *model_path = NULL, *python = "/usr/bin/python3";
  const char *torch_script = TORCH_TRAIN_PY;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int batch = 64, steps = 20, runs = 5, threads = cores > 0 ? (int)cores : 1, torch = 1;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'a':
      arch_name = optarg;
      break;
    case 'm':
      model_path = optarg;
      break;
    case 'p':
      python = optarg;
      break;
    case 'T':
      torch_script = optarg;
      break;
    case 'b':
      batch = atoi(optarg);
      break;
    case 's':
      steps = atoi(optarg);
      break;
    case 'r':
      runs = atoi(optarg);
      break;
    case 't':
      threads = atoi(optarg);
      break;
    case 'n':
      torch = 0;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      fprintf(stderr, "instrid-bench-train: bad option '%s' (see --help)\n", argv[optind - 1]);
      return 2;
    }
  }
  if (batch < 1 || steps < 1 || runs < 1 || runs > 100 || threads < 1) {
    fprintf(stderr, "instrid-bench-train: batch, steps, threads >= 1, runs 1..100\n");
    return 2;
  }

  instrid_error err;
  instrid_arch *arch = NULL;
  instrid_model *model = NULL;
  instrid_model_desc desc;
  if (model_path) {
    model = instrid_model_load(model_path, &err);
    if (!model) {
      fprintf(stderr, "instrid-bench-train: %s\n", err.message);
      return 2;
    }
    desc = *instrid_model_get_desc(model);
    arch_name = model_path;
  } else if (instrid_arch_build(arch_name, TAXONOMY_N, 1, &desc, &arch, &err) != INSTRID_OK) {
    fprintf(stderr, "instrid-bench-train: %s\n", err.message);
    return 2;
  }
  random_source src = {256,
                       (size_t)desc.frontend.n_mels * desc.window_frames,
                       desc.n_classes,
                       (size_t)batch * (size_t)(steps + 2),
                       NULL,
                       NULL,
                       NULL};
  src.features = malloc(src.n_pool * src.n_inputs * sizeof(float));
  src.target = malloc(src.n_pool * src.n_classes * sizeof(float));
  src.mask = malloc(src.n_pool * src.n_classes * sizeof(float));
  if (!src.features || !src.target || !src.mask) {
    fprintf(stderr, "instrid-bench-train: out of memory\n");
    return 1;
  }
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, 1, 2, 3);
  for (size_t i = 0; i < src.n_pool * src.n_inputs; i++)
    src.features[i] = 2.0f * instrid_rng_uniform(&rng) - 1.0f;
  for (size_t i = 0; i < src.n_pool * src.n_classes; i++) {
    src.target[i] = instrid_rng_uniform(&rng) < 0.2f;
    src.mask[i] = instrid_rng_uniform(&rng) < 0.75f;
  }

  train_options opt;
  train_options_default(&opt);
  opt.epochs = 1;
  opt.batch = (uint32_t)batch;
  opt.threads = threads;
  opt.augment = 0; /* PyTorch gets ready-made tensors: compare the training step itself */
  opt.checkpoint_minutes = 0.0;
  opt.max_windows = src.n_windows;

  printf("arch %s, batch %d, %d threads, %d runs of %d steps, AdamW, balanced masked BCE\n",
         arch_name, batch, threads, runs, steps);
  /* C and PyTorch runs alternate, so that both see the same load on a shared machine; the
   * ratio of each pair is reported too. */
  double c_wps[100], t_wps[100], ratio[100];
  int n_torch = 0;
  example_source es = {random_count, random_get, &src, NULL};
  for (int r = 0; r < runs; r++) {
    opt.seed = (uint64_t)r + 1;
    trainer *t = trainer_new(&desc, &es, &opt, &err);
    if (!t || trainer_run(t, &err) != INSTRID_OK) {
      fprintf(stderr, "instrid-bench-train: %s\n", err.message);
      return 1;
    }
    c_wps[r] = trainer_windows_per_second(t);
    if (r == 0)
      printf("(%.1f MFLOP/window forward, %zu parameters)\n",
             train_net_flops_per_example(trainer_net(t)) / 1e6, train_net_n_params(trainer_net(t)));
    trainer_free(t);
    double tw = torch ? run_torch(python, torch_script, &desc, batch, steps, 1, threads, opt.lr,
                                  opt.weight_decay)
                      : -1.0;
    if (tw > 0.0) {
      t_wps[n_torch] = tw;
      ratio[n_torch++] = c_wps[r] / tw;
      printf("run %d: C %.1f, PyTorch %.1f windows/s\n", r + 1, c_wps[r], tw);
    } else {
      printf("run %d: C %.1f windows/s\n", r + 1, c_wps[r]);
    }
  }
  double c_median = median(c_wps, runs);
  printf("C      : %8.1f windows/s (median of %d)\n", c_median, runs);
  if (torch && n_torch == runs) {
    double t_median = median(t_wps, runs);
    printf("PyTorch: %8.1f windows/s (median of %d)\n", t_median, runs);
    printf("ratio C / PyTorch: %.2f (medians), %.2f (median of paired runs)\n", c_median / t_median,
           median(ratio, runs));
  } else if (torch) {
    printf("PyTorch: not available (python3-torch missing or the script failed)\n");
  }
  free(src.features);
  free(src.target);
  free(src.mask);
  instrid_arch_free(arch);
  instrid_model_free(model);
  return 0;
}
