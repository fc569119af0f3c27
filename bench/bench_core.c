/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench_core.c — instrid-bench-core: one-thread speed of libinstrid's front end and network on
 * the named architectures (random weights), the convolutions' GFLOP/s against this machine's
 * sgemm peak measured in the same run, and, when PyTorch is importable, the same network in
 * PyTorch (bench/torch_ref.py) on the same weights and window. First, EfficientAT's front end
 * alone: at 32 kHz, and at 44.1 kHz in the at-input-rate mode (no resampler).
 *
 * Usage: instrid-bench-core [--arch NAME]... [--runs N] [--audio-seconds S] [--no-torch]
 *                           [--torch-ref PATH] [--kernel best|avx512|avx2|gemm]
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "conv_direct.h"
#include "model_internal.h"
#include "net_internal.h"

#ifndef TORCH_REF_PY
#define TORCH_REF_PY "bench/torch_ref.py"
#endif

/* cblas.h of OpenBLAS declares it; other CBLAS headers do not. */
void openblas_set_num_threads(int num_threads);

typedef struct {
  const char *archs[16];
  int n_archs;
  int runs;
  double audio_seconds;
  int torch;
  const char *torch_ref;
  int kernel; /* -1: what instrid_net_new picks; else an instrid_direct_isa */
} bench_options;

static const char *const kernel_names[] = {"gemm", "avx2", "avx512"};

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of this thread. The machine this runs on is shared: wall time then measures the
 * other jobs as much as this one, CPU time only the work itself (BLAS runs on this thread). */
static double cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* Median seconds of one row-major sgemm C (m, n) = A (m, k) * B^T, B (n, k): the shape the
 * network's channels-last convolutions run. */
static double sgemm_seconds(int m, int n, int k, int trans_b, int runs)
{
  float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
  float *c = malloc(sizeof(float) * (size_t)m * n);
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return NAN;
  }
  for (size_t i = 0; i < (size_t)m * k; i++)
    a[i] = (float)(i % 17) * 0.01f;
  for (size_t i = 0; i < (size_t)k * n; i++)
    b[i] = (float)(i % 13) * 0.01f;
  double *t = malloc(sizeof(double) * (size_t)runs);
  for (int r = -2; r < runs; r++) {
    double t0 = cpu_seconds();
    if (trans_b)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    if (r >= 0)
      t[r] = cpu_seconds() - t0;
  }
  double s = median(t, runs);
  free(t), free(a), free(b), free(c);
  return s;
}

/* Deterministic test audio: a few partials with vibrato over pink-ish noise. */
static void make_audio(float *x, size_t n, uint32_t rate)
{
  instrid_rng rng;
  instrid_rng_seed(&rng, 99);
  float lp = 0.0f;
  for (size_t i = 0; i < n; i++) {
    double t = (double)i / rate;
    double f0 = 220.0 * (1.0 + 0.01 * sin(2 * M_PI * 5.0 * t));
    double v = 0.3 * sin(2 * M_PI * f0 * t) + 0.15 * sin(2 * M_PI * 2 * f0 * t) +
               0.05 * sin(2 * M_PI * 3 * f0 * t);
    lp = 0.95f * lp + 0.05f * (instrid_rng_uniform(&rng) - 0.5f);
    x[i] = (float)v + lp;
  }
}

/* Memory bandwidth of a plain copy of `bytes` (read + write counted), GB/s, median of runs:
 * a buffer far larger than the caches measures DRAM; one the size of a layer's data measures the
 * cache level that layer lives in. */
static double copy_gbps(size_t bytes, int runs)
{
  char *a = malloc(bytes), *b = malloc(bytes);
  double *t = malloc(sizeof(double) * (size_t)runs);
  double gbps = NAN;
  if (a && b && t) {
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    const int reps = bytes >= ((size_t)32 << 20) ? 1 : (int)(((size_t)64 << 20) / bytes);
    for (int r = -1; r < runs; r++) {
      double t0 = cpu_seconds();
      for (int k = 0; k < reps; k++) {
        memcpy(k & 1 ? a : b, k & 1 ? b : a, bytes);
        __asm__ volatile("" ::: "memory");
      }
      if (r >= 0)
        t[r] = cpu_seconds() - t0;
    }
    gbps = 2.0 * (double)bytes * reps / median(t, runs) * 1e-9;
  }
  free(a), free(b), free(t);
  return gbps;
}

static int write_floats(const char *path, const float *x, size_t n)
{
  FILE *f = fopen(path, "wb");
  if (!f)
    return 0;
  int ok = fwrite(x, sizeof(float), n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Runs torch_ref.py on the model file and one window; returns its exit status (-1 when it
 * could not run). */
static int run_torch(const bench_options *opt, const char *dir, const char *model_path,
                     const float *features, size_t n_features, const float *out, uint32_t n_classes,
                     double c_ms)
{
  char feat_path[4200], out_path[4200], runs[32], cms[64];
  snprintf(feat_path, sizeof feat_path, "%s/features.f32", dir);
  snprintf(out_path, sizeof out_path, "%s/c_output.f32", dir);
  if (!write_floats(feat_path, features, n_features) || !write_floats(out_path, out, n_classes)) {
    fprintf(stderr, "instrid-bench-core: cannot write to %s: %s\n", dir, strerror(errno));
    return -1;
  }
  snprintf(runs, sizeof runs, "%d", opt->runs);
  snprintf(cms, sizeof cms, "%.6f", c_ms);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execl("/usr/bin/python3", "python3", opt->torch_ref, "--model", model_path, "--features",
          feat_path, "--expect", out_path, "--c-ms", cms, "--runs", runs, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

static int torch_available(void)
{
  fflush(stdout);
  return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

static int bench_arch(const bench_options *opt, const char *name, double peak_gflops)
{
  instrid_error err = {0};
  instrid_model_desc desc;
  instrid_arch *arch = NULL;
  instrid_model *model = NULL;
  instrid_net *net = NULL;
  instrid_frontend *fe = NULL;
  float *audio = NULL, *features = NULL, *out = NULL, *mel = NULL;
  double *t = NULL, *wall = NULL, *step_s = NULL;
  int rc = 1;
  char dir[] = "/tmp/instrid-bench-XXXXXX", model_path[4200];
  int have_dir = mkdtemp(dir) != NULL;
  model_path[0] = 0;

  if (!have_dir) {
    fprintf(stderr, "instrid-bench-core: mkdtemp: %s\n", strerror(errno));
    goto done;
  }
  /* mn04 with its 527 AudioSet classes, as imported; the others with the 25 instruments. */
  const uint32_t n_classes = strcmp(name, "mn04") == 0 ? 527 : 25;
  if (instrid_arch_build(name, n_classes, 1, &desc, &arch, &err) != INSTRID_OK)
    goto fail;
  instrid_arch_randomize_batchnorm(arch, 2);
  desc = *instrid_arch_desc(arch);
  /* The network reads the model through the file, exactly as the element does. */
  snprintf(model_path, sizeof model_path, "%s/model.instrid", dir);
  if (instrid_model_write(&desc, model_path, &err) != INSTRID_OK)
    goto fail;
  model = instrid_model_load(model_path, &err);
  if (!model)
    goto fail;
  net = opt->kernel < 0 ? instrid_net_new(model, &err)
                        : instrid_net_new_with_kernel(model, opt->kernel, &err);
  if (!net)
    goto fail;
  fe = instrid_frontend_new(&desc.frontend, &err);
  if (!fe)
    goto fail;

  const instrid_frontend_params *fp = &desc.frontend;
  const uint32_t W = desc.window_frames, M = fp->n_mels;
  const size_t n_audio = (size_t)(opt->audio_seconds * fp->sample_rate);
  const size_t n_feat = (size_t)M * W;
  audio = malloc(sizeof(float) * n_audio);
  features = malloc(sizeof(float) * n_feat);
  out = malloc(sizeof(float) * desc.n_classes);
  mel = malloc(sizeof(float) * M);
  t = malloc(sizeof(double) * (size_t)opt->runs);
  wall = malloc(sizeof(double) * (size_t)opt->runs);
  step_s = calloc(model->n_steps, sizeof(double));
  if (!audio || !features || !out || !mel || !t || !wall || !step_s) {
    fprintf(stderr, "instrid-bench-core: out of memory\n");
    goto done;
  }
  make_audio(audio, n_audio, fp->sample_rate);

  printf("\n== %s: input (1, %u, %u), %u classes, %zu parameters, %.1f MFLOP per window\n", name, M,
         W, desc.n_classes, desc.n_params, instrid_net_flops(model) * 1e-6);
  printf("convolution kernel: %s\n",
         kernel_names[opt->kernel < 0 ? (int)instrid_conv_direct_best_isa() : opt->kernel]);
  printf("depthwise kernel: %d floats per register\n", instrid_depthwise_best_width());
  printf("1x1 convolutions: %s\n",
         instrid_pointwise_usable() ? "pointwise.c's AVX-512 kernel" : "OpenBLAS sgemm");

  /* Front end: all the audio, frame by frame; features of the last W frames kept as the
   * network's input so that the network sees real log-mels. */
  size_t frames = 0;
  for (int r = -1; r < opt->runs; r++) {
    instrid_frontend_reset(fe);
    frames = 0;
    double t0 = cpu_seconds();
    const float *x = audio;
    size_t left = n_audio;
    while (left > 0) {
      int ready = 0;
      size_t k = instrid_frontend_process(fe, x, left, mel, &ready);
      x += k;
      left -= k;
      if (ready) {
        uint32_t col = (uint32_t)(frames % W);
        for (uint32_t m = 0; m < M; m++)
          features[(size_t)m * W + col] = mel[m];
        frames++;
      }
    }
    if (r >= 0)
      t[r] = cpu_seconds() - t0;
  }
  const double fe_ms_per_s = median(t, opt->runs) * 1e3 / opt->audio_seconds;
  printf("front end: %.3f ms per second of audio (%zu frames of %u mels; median of %d)\n",
         fe_ms_per_s, frames, M, opt->runs);

  /* Network. */
  for (int r = 0; r < 3; r++)
    instrid_net_forward(net, features, out);
  for (int r = 0; r < opt->runs; r++) {
    double w0 = now_seconds(), t0 = cpu_seconds();
    instrid_net_forward(net, features, out);
    t[r] = cpu_seconds() - t0;
    wall[r] = now_seconds() - w0;
  }
  double net_ms_min = 1e300;
  for (int r = 0; r < opt->runs; r++)
    net_ms_min = fmin(net_ms_min, t[r] * 1e3);
  const double net_ms = median(t, opt->runs) * 1e3;
  printf("network: %.3f ms per window (median of %d, fastest %.3f; wall-clock median %.3f), "
         "%.1f GFLOP/s overall\n",
         net_ms, opt->runs, net_ms_min, median(wall, opt->runs) * 1e3,
         instrid_net_flops(model) / (net_ms * 1e-3) * 1e-9);

  /* Per step, from separate timed runs (the timer adds two clock reads per op). */
  instrid_net_set_step_timer(net, step_s);
  for (int r = 0; r < opt->runs; r++)
    instrid_net_forward(net, features, out);
  instrid_net_set_step_timer(net, NULL);
  double conv_flops = 0.0, conv_s = 0.0, gemm_conv_flops = 0.0, gemm_conv_s = 0.0;
  double dw_bytes = 0.0, dw_s = 0.0, dw_max_bytes = 0.0;
  printf("  step  layer           in (C,H,W)          MFLOP    ms     GFLOP/s  (conv includes its "
         "fused bias/ReLU/pool)\n");
  for (uint32_t i = 0; i < model->n_steps; i++) {
    const instrid_step *s = &model->steps[i];
    const double flops = s->entry->flops ? s->entry->flops(&s->params, s->in, s->out) : 0.0;
    const double sec = step_s[i] / opt->runs, ms = sec * 1e3;
    const char *kind = s->entry->name;
    if (s->layer.type == INSTRID_LAYER_CONV2D) {
      conv_flops += flops;
      conv_s += sec;
      const instrid_conv2d_params *c = &s->params.conv;
      if (c->groups > 1 && c->groups == s->in.c && c->groups == s->out.c) {
        kind = "conv2d dw";
        /* what it must move: input, output and weights, once each */
        double bytes =
            4.0 * ((double)s->in.c * s->in.h * s->in.w + (double)s->out.c * s->out.h * s->out.w +
                   (double)c->c_out * c->kh * c->kw);
        dw_bytes += bytes;
        dw_s += sec;
        if (bytes > dw_max_bytes)
          dw_max_bytes = bytes;
      } else if (c->groups == 1) {
        kind = c->kh == 1 && c->kw == 1 ? "conv2d 1x1" : "conv2d";
        gemm_conv_flops += flops;
        gemm_conv_s += sec;
      }
    }
    printf("  %4u  %-14s  (%4u,%4u,%4u)  %8.2f  %7.3f  %6.1f\n", i, kind, s->in.c, s->in.h, s->in.w,
           flops * 1e-6, ms, flops > 0 && ms > 0 ? flops / (ms * 1e-3) * 1e-9 : 0.0);
  }
  const double conv_gflops = conv_flops / conv_s * 1e-9;
  printf("convolutions: %.1f GFLOP/s = %.0f%% of the 1024^3 sgemm peak (%.1f GFLOP/s)\n",
         conv_gflops, 100.0 * conv_gflops / peak_gflops, peak_gflops);

  /* The dense (one-group) convolutions as bare gemms of their full (pixels, c_out, K) shape:
   * what OpenBLAS itself reaches on them, without im2col and epilogue. */
  double gemm_s = 0.0;
  for (uint32_t i = 0; i < model->n_steps; i++) {
    const instrid_step *s = &model->steps[i];
    if (s->layer.type != INSTRID_LAYER_CONV2D || s->params.conv.groups != 1)
      continue;
    int k = (int)(s->in.c * s->params.conv.kh * s->params.conv.kw);
    gemm_s += sgemm_seconds((int)(s->out.h * s->out.w), (int)s->out.c, k, 1, opt->runs);
  }
  if (gemm_conv_s > 0.0)
    printf("one-group convolutions: %.1f GFLOP/s; their shapes as bare sgemms: %.1f GFLOP/s; "
           "the convolutions reach %.0f%% of that\n",
           gemm_conv_flops / gemm_conv_s * 1e-9, gemm_conv_flops / gemm_s * 1e-9,
           100.0 * (gemm_conv_flops / gemm_conv_s) / (gemm_conv_flops / gemm_s));
  if (dw_s > 0.0) {
    /* Memory-bound: bytes it must move per second against plain copies in this run. */
    const double dw_gbps = dw_bytes / dw_s * 1e-9;
    const double dram = copy_gbps((size_t)256 << 20, 5);
    const double cached = copy_gbps((size_t)dw_max_bytes, opt->runs);
    printf("depthwise convolutions: %.3f ms per window, %.1f GB/s of input + output + weights; "
           "memcpy %.1f GB/s at 256 MiB (DRAM), %.1f GB/s at %.2f MiB (the largest depthwise "
           "layer's data, cache-resident): %.0f%% and %.0f%% of those\n",
           dw_s * 1e3, dw_gbps, dram, cached, dw_max_bytes / 1048576.0, 100.0 * dw_gbps / dram,
           100.0 * dw_gbps / cached);
  }

  /* Real time: the front end for each second plus one window every H frames. */
  const double windows_per_s =
      (double)fp->sample_rate / ((double)desc.hop_frames * fp->hop_samples);
  const double ms_per_s = fe_ms_per_s + windows_per_s * net_ms;
  const double window_s = ((double)(W - 1) * fp->hop_samples + fp->n_fft) / fp->sample_rate;
  printf("network per second of audio (windows back to back, %.2f s each): %.3f ms, %.0fx "
         "faster than real time\n",
         window_s, net_ms / window_s, 1e3 * window_s / net_ms);
  printf("real-time factor at hop %u frames (%.2f windows/s): %.4f (front end %.3f + network "
         "%.3f ms per second of audio), %.0fx faster than real time\n",
         desc.hop_frames, windows_per_s, ms_per_s * 1e-3, fe_ms_per_s, windows_per_s * net_ms,
         1e3 / ms_per_s);

  rc = 0;
  if (opt->torch) {
    int trc = run_torch(opt, dir, model_path, features, n_feat, out, desc.n_classes, net_ms);
    if (trc < 0)
      printf("torch: could not run %s\n", opt->torch_ref);
    else if (trc != 0) {
      printf("torch: outputs DISAGREE with the C network (exit %d)\n", trc);
      rc = 1;
    }
  }
  goto done;

fail:
  fprintf(stderr, "instrid-bench-core: %s: %s\n", name, err.message);
done:
  if (have_dir) {
    char path[4300];
    const char *files[] = {"model.instrid", "features.f32", "c_output.f32"};
    for (size_t i = 0; i < 3; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, files[i]);
      unlink(path);
    }
    rmdir(dir);
  }
  free(audio), free(features), free(out), free(mel), free(t), free(wall), free(step_s);
  instrid_frontend_free(fe);
  instrid_net_free(net);
  instrid_model_free(model);
  instrid_arch_free(arch);
  return rc;
}

/* One front end over `seconds` of audio at its rate (frame after frame, as a stream would),
 * flushed at the end: median CPU ms per second of audio over opt->runs runs (one warm-up). */
static double frontend_ms_per_second(const bench_options *opt, const instrid_frontend_params *p,
                                     size_t *frames_out)
{
  instrid_error err;
  instrid_frontend *fe = instrid_frontend_new(p, &err);
  const size_t n = (size_t)(opt->audio_seconds * p->sample_rate);
  float *audio = malloc(sizeof(float) * n), *mel = malloc(sizeof(float) * p->n_mels);
  double *t = malloc(sizeof(double) * (size_t)opt->runs);
  double ms = -1.0;
  if (!fe || !audio || !mel || !t) {
    fprintf(stderr, "instrid-bench-core: front end: %s\n", fe ? "out of memory" : err.message);
    goto done;
  }
  make_audio(audio, n, p->sample_rate);
  for (int r = -1; r < opt->runs; r++) {
    instrid_frontend_reset(fe);
    size_t frames = 0;
    double t0 = cpu_seconds();
    for (size_t at = 0; at < n;) {
      int ready = 0;
      at += instrid_frontend_process(fe, audio + at, n - at, mel, &ready);
      frames += (size_t)ready;
    }
    while (instrid_frontend_flush(fe, mel))
      frames++;
    if (r >= 0)
      t[r] = cpu_seconds() - t0;
    *frames_out = frames;
  }
  ms = median(t, opt->runs) * 1e3 / opt->audio_seconds;
done:
  instrid_frontend_free(fe);
  free(audio);
  free(mel);
  free(t);
  return ms;
}

/* EfficientAT's front end at its own 32 kHz, and for 44.1 kHz input in the at-input-rate mode. */
static void bench_efficientat_frontend(const bench_options *opt)
{
  instrid_frontend_params p, q;
  instrid_error err;
  instrid_frontend_params_efficientat(&p);
  if (instrid_frontend_params_for_rate(&p, 44100, &q, &err) != INSTRID_OK) {
    fprintf(stderr, "instrid-bench-core: %s\n", err.message);
    return;
  }
  size_t f32 = 0, f44 = 0;
  double ms32 = frontend_ms_per_second(opt, &p, &f32);
  double ms44 = frontend_ms_per_second(opt, &q, &f44);
  printf("\n== EfficientAT front end (n_fft %u, win %u, hop %u, %u Kaldi mels, pre-emphasis)\n",
         p.n_fft, p.win_length, p.hop_samples, p.n_mels);
  printf("front end at 32 kHz: %.3f ms per second of audio (%zu frames; median of %d)\n", ms32, f32,
         opt->runs);
  printf("front end at 44.1 kHz, at input rate (n_fft %u, win %u, hop %u): %.3f ms per second "
         "of audio (%zu frames; median of %d)\n",
         q.n_fft, q.win_length, q.hop_samples, ms44, f44, opt->runs);
}

static void usage(FILE *f)
{
  fprintf(f, "usage: instrid-bench-core [--arch NAME]... [--runs N] [--audio-seconds S] "
             "[--no-torch] [--torch-ref PATH] [--kernel best|avx512|avx2|gemm]\narchitectures:");
  for (size_t i = 0; instrid_arch_name(i); i++)
    fprintf(f, " %s", instrid_arch_name(i));
  fprintf(f, "\n");
}

int main(int argc, char **argv)
{
  bench_options opt = {
      .runs = 15, .audio_seconds = 10.0, .torch = 1, .torch_ref = TORCH_REF_PY, .kernel = -1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--arch") && v) {
      if (opt.n_archs == 16) {
        fprintf(stderr, "instrid-bench-core: at most 16 --arch\n");
        return 2;
      }
      opt.archs[opt.n_archs++] = v;
      i++;
    } else if (!strcmp(a, "--runs") && v) {
      opt.runs = atoi(v);
      i++;
    } else if (!strcmp(a, "--audio-seconds") && v) {
      opt.audio_seconds = atof(v);
      i++;
    } else if (!strcmp(a, "--torch-ref") && v) {
      opt.torch_ref = v;
      i++;
    } else if (!strcmp(a, "--kernel") && v) {
      opt.kernel = -2;
      if (!strcmp(v, "best"))
        opt.kernel = -1;
      for (int k = 0; k < 3; k++)
        if (!strcmp(v, kernel_names[k]))
          opt.kernel = k;
      if (opt.kernel == -2) {
        usage(stderr);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--no-torch")) {
      opt.torch = 0;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (opt.runs < 7 || opt.audio_seconds < 1.0) {
    fprintf(stderr, "instrid-bench-core: --runs must be >= 7 and --audio-seconds >= 1\n");
    return 2;
  }
  if (opt.n_archs == 0)
    opt.archs[opt.n_archs++] = "reference";

  /* One thread: the element runs BLAS single-threaded, and the comparison is per core. */
  openblas_set_num_threads(1);
  const double peak_s = sgemm_seconds(1024, 1024, 1024, 0, opt.runs);
  const double peak_gflops = 2.0 * 1024 * 1024 * 1024 / peak_s * 1e-9;
  printf("one thread; times are this thread's CPU time, medians; sgemm 1024^3: %.1f GFLOP/s "
         "(median of %d)\n",
         peak_gflops, opt.runs);
  if (opt.torch && !torch_available()) {
    printf("torch: /usr/bin/python3 cannot import torch; comparison skipped\n");
    opt.torch = 0;
  }
  bench_efficientat_frontend(&opt);
  int rc = 0;
  for (int i = 0; i < opt.n_archs; i++)
    rc |= bench_arch(&opt, opt.archs[i], peak_gflops);
  return rc;
}
