/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_train.c — the training loop end to end on two synthetic instruments rendered to audio
 * and framed by libinstrid's front end in memory, checkpoint/resume bit-identity, and the
 * augmentation transforms against their closed forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "augment.h"
#include "check.h"
#include "checkpoint.h"
#include "gaincopies.h"
#include "train.h"

/* ------------------------------------------------------------------------------------------ */
/* Two instruments: "reed", a low tone of odd harmonics (1/n), and "bell", a higher tone with
 * every harmonic decaying as 1/n^2 and a percussive envelope. Each window holds either, both or
 * neither at random pitches and levels, over faint noise. */

enum {
  TOY_W = 32, /* frames per window */
  TOY_MELS = 32,
  TOY_SHIFT_MAX = 4, /* frames rendered either side for time shifts */
  TOY_CLASSES = 2,
  TOY_TRAIN = 768,
  TOY_VAL = 128,
};

static const instrid_frontend_params toy_fe = {.sample_rate = 16000,
                                               .n_fft = 512,
                                               .win_length = 512,
                                               .hop_samples = 256,
                                               .n_mels = TOY_MELS,
                                               .window = INSTRID_WINDOW_HANN,
                                               .mel_scale = INSTRID_MEL_SLANEY,
                                               .mel_norm = INSTRID_MELNORM_SLANEY,
                                               .fmin_hz = 50.0f,
                                               .fmax_hz = 8000.0f,
                                               .power = 2.0f,
                                               .log_floor = 1e-10f,
                                               .feature_mean = -8.0f,
                                               .feature_std = 4.0f};

typedef struct {
  size_t n[2];
  float *frames[2]; /* (n, TOY_MELS, TOY_W + 2 * TOY_SHIFT_MAX) per split */
  float *target[2]; /* (n, TOY_CLASSES) */
  float *mask[2];
  float silence;
} toy_source;

static void render_tone(float *x, size_t n, float f0, float level, int odd_only, int decay)
{
  const float sr = (float)toy_fe.sample_rate;
  for (int h = 1; h * f0 < 0.45f * sr; h++) {
    if (odd_only && h % 2 == 0)
      continue;
    float a = level * (odd_only ? 1.0f / (float)h : 1.0f / (float)(h * h));
    float w = 2.0f * (float)M_PI * f0 * (float)h / sr;
    for (size_t i = 0; i < n; i++) {
      float env = decay ? expf(-3.0f * (float)(i % 4000) / 4000.0f) : 1.0f;
      x[i] += a * env * sinf(w * (float)i);
    }
  }
}

static int toy_make(toy_source *s, uint64_t seed)
{
  const uint32_t frames = TOY_W + 2 * TOY_SHIFT_MAX;
  const size_t n_samples = (size_t)(frames - 1) * toy_fe.hop_samples + toy_fe.n_fft;
  instrid_error err;
  instrid_frontend *fe = instrid_frontend_new(&toy_fe, &err);
  float *audio = malloc(n_samples * sizeof *audio), mel[TOY_MELS];
  if (!fe || !audio) {
    fprintf(stderr, "front end: %s\n", fe ? "out of memory" : err.message);
    instrid_frontend_free(fe);
    free(audio);
    return 0;
  }
  memset(s, 0, sizeof *s);
  s->silence = instrid_frontend_silence_value(&toy_fe);
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, seed, 0, 0);
  for (int split = 0; split < 2; split++) {
    size_t n = split == DATASET_TRAIN ? TOY_TRAIN : TOY_VAL;
    s->n[split] = n;
    s->frames[split] = malloc(n * TOY_MELS * frames * sizeof(float));
    s->target[split] = malloc(n * TOY_CLASSES * sizeof(float));
    s->mask[split] = malloc(n * TOY_CLASSES * sizeof(float));
    if (!s->frames[split] || !s->target[split] || !s->mask[split])
      return 0;
    for (size_t i = 0; i < n; i++) {
      int reed = instrid_rng_uniform(&rng) < 0.5f, bell = instrid_rng_uniform(&rng) < 0.5f;
      for (size_t j = 0; j < n_samples; j++)
        audio[j] = 0.003f * (2.0f * instrid_rng_uniform(&rng) - 1.0f);
      float level = powf(10.0f, instrid_rng_range(&rng, -1.0f, 0.0f));
      if (reed)
        render_tone(audio, n_samples, instrid_rng_range(&rng, 110.0f, 260.0f), 0.3f * level, 1, 0);
      if (bell)
        render_tone(audio, n_samples, instrid_rng_range(&rng, 500.0f, 1100.0f), 0.3f * level, 0, 1);
      instrid_frontend_reset(fe);
      const float *x = audio;
      size_t left = n_samples;
      uint32_t t = 0;
      while (left > 0 && t < frames) {
        int ready;
        size_t k = instrid_frontend_process(fe, x, left, mel, &ready);
        x += k;
        left -= k;
        if (ready) {
          for (uint32_t m = 0; m < TOY_MELS; m++)
            s->frames[split][(i * TOY_MELS + m) * frames + t] = mel[m];
          t++;
        }
      }
      if (t != frames) {
        fprintf(stderr, "front end gave %u frames, expected %u\n", t, frames);
        return 0;
      }
      float *tg = s->target[split] + i * TOY_CLASSES, *mk = s->mask[split] + i * TOY_CLASSES;
      tg[0] = (float)reed;
      tg[1] = (float)bell;
      mk[0] = mk[1] = 1.0f;
      /* One training label in ten is unknown and carries a wrong target: masking must keep
       * it out of the loss. */
      if (split == DATASET_TRAIN && i % 10 == 3) {
        mk[i % 20 == 3] = 0.0f;
        tg[i % 20 == 3] = 1.0f - tg[i % 20 == 3];
      }
    }
  }
  instrid_frontend_free(fe);
  free(audio);
  return 1;
}

static void toy_free(toy_source *s)
{
  for (int k = 0; k < 2; k++) {
    free(s->frames[k]);
    free(s->target[k]);
    free(s->mask[k]);
  }
}

static size_t toy_count(void *ctx, dataset_split split)
{
  return ((toy_source *)ctx)->n[split];
}

static void toy_get(void *ctx, dataset_split split, size_t i, int shift_frames, float *features,
                    float *target, float *mask)
{
  const toy_source *s = ctx;
  const uint32_t frames = TOY_W + 2 * TOY_SHIFT_MAX;
  int shift = shift_frames < -TOY_SHIFT_MAX
                  ? -TOY_SHIFT_MAX
                  : (shift_frames > TOY_SHIFT_MAX ? TOY_SHIFT_MAX : shift_frames);
  for (uint32_t m = 0; m < TOY_MELS; m++)
    memcpy(features + m * TOY_W,
           s->frames[split] + (i * TOY_MELS + m) * frames + TOY_SHIFT_MAX + shift,
           TOY_W * sizeof(float));
  memcpy(target, s->target[split] + i * TOY_CLASSES, TOY_CLASSES * sizeof(float));
  memcpy(mask, s->mask[split] + i * TOY_CLASSES, TOY_CLASSES * sizeof(float));
}

/* A small CNN: two conv blocks, mean and max over time, dense over (channel, band): the
 * instruments differ in where their energy lies, which a mean over frequency would hide. */
static const instrid_layer_desc toy_layers[] = {
    {INSTRID_LAYER_CONV2D, {8, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 0.0f},
    {INSTRID_LAYER_BATCHNORM, {0}, 1e-5f},
    {INSTRID_LAYER_RELU, {0}, 0.0f},
    {INSTRID_LAYER_MAXPOOL, {2, 2, 2, 2}, 0.0f},
    {INSTRID_LAYER_CONV2D, {16, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 0.0f},
    {INSTRID_LAYER_BATCHNORM, {0}, 1e-5f},
    {INSTRID_LAYER_RELU, {0}, 0.0f},
    {INSTRID_LAYER_MAXPOOL, {2, 2, 2, 2}, 0.0f},
    {INSTRID_LAYER_GLOBAL_POOL, {INSTRID_AXIS_TIME, INSTRID_POOL_MEAN_MAX_CONCAT}, 0.0f},
    {INSTRID_LAYER_DROPOUT, {0}, 0.1f},
    {INSTRID_LAYER_DENSE, {TOY_CLASSES}, 0.0f},
    {INSTRID_LAYER_SIGMOID, {0}, 0.0f},
};
static const char *const toy_names[TOY_CLASSES] = {"reed", "bell"};
static const float toy_thresholds[TOY_CLASSES] = {0.5f, 0.5f};

static instrid_model_desc toy_arch(void)
{
  instrid_model_desc d = {0};
  d.frontend = toy_fe;
  d.window_frames = TOY_W;
  d.hop_frames = TOY_W / 2;
  d.n_classes = TOY_CLASSES;
  d.class_names = toy_names;
  d.thresholds = toy_thresholds;
  d.n_layers = sizeof toy_layers / sizeof toy_layers[0];
  d.layers = toy_layers;
  return d;
}

static void toy_options(train_options *opt)
{
  train_options_default(opt);
  opt->epochs = 6;
  opt->batch = 32;
  opt->lr = 5e-3f;
  opt->seed = 7;
  opt->threads = 1;
  opt->checkpoint_minutes = 0.0;
}

/* ------------------------------------------------------------------------------------------ */

static void test_toy_end_to_end(toy_source *toy)
{
  instrid_model_desc arch = toy_arch();
  example_source src = {toy_count, toy_get, toy, NULL};
  train_options opt;
  toy_options(&opt);
  instrid_error err;
  trainer *t = trainer_new(&arch, &src, &opt, &err);
  CHECK(t != NULL, "trainer_new: %s", err.message);
  if (!t)
    return;
  CHECK(trainer_n_train(t) == TOY_TRAIN && trainer_n_val(t) == TOY_VAL, "split sizes %zu %zu",
        trainer_n_train(t), trainer_n_val(t));
  /* Balanced loss: about half the windows hold each instrument, so the weights are near 1. */
  const float *pw = trainer_pos_weight(t);
  CHECK(pw[0] > 0.7f && pw[0] < 1.4f && pw[1] > 0.7f && pw[1] < 1.4f, "pos_weight %g %g", pw[0],
        pw[1]);
  CHECK(trainer_run(t, &err) == INSTRID_OK, "trainer_run: %s", err.message);
  CHECK(trainer_steps_done(t) == 6 * (TOY_TRAIN / 32), "steps %llu",
        (unsigned long long)trainer_steps_done(t));
  const metrics_report *val = trainer_validation(t);
  CHECK(val != NULL, "no validation figures");
  if (val) {
    fprintf(stderr, "toy: AP reed %.4f bell %.4f, F1 %.4f %.4f, %.0f windows/s\n", val->ap[0],
            val->ap[1], val->f1[0], val->f1[1], trainer_windows_per_second(t));
    CHECK(val->ap[0] > 0.95 && val->ap[1] > 0.95, "AP %g %g, want > 0.95", val->ap[0], val->ap[1]);
    CHECK(val->map > 0.95 && val->macro_f1 > 0.85, "mAP %g macro-F1 %g", val->map, val->macro_f1);
  }
  const float *th = trainer_thresholds(t);
  CHECK(th[0] > 0.0f && th[0] < 1.0f && th[1] > 0.0f && th[1] < 1.0f, "thresholds %g %g", th[0],
        th[1]);

  /* The written model carries the thresholds and provenance and classifies the validation
   * windows like the trainer did. */
  char path[] = "/tmp/instrid-test-train-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "mkstemp");
  if (fd >= 0) {
    close(fd);
    CHECK(trainer_write_model(t, path, "toy provenance", &err) == INSTRID_OK, "write: %s",
          err.message);
    instrid_model *model = instrid_model_load(path, &err);
    CHECK(model != NULL, "load: %s", err.message);
    if (model) {
      CHECK(strcmp(instrid_model_provenance(model), "toy provenance") == 0, "provenance");
      CHECK(instrid_model_threshold(model, 0) == th[0] &&
                instrid_model_threshold(model, 1) == th[1],
            "thresholds in the file");
      CHECK(strcmp(instrid_model_class_name(model, 1), "bell") == 0, "class name");
      instrid_net *net = instrid_net_new(model, &err);
      float features[TOY_MELS * TOY_W], target[2], mask[2], prob[2];
      size_t correct = 0, known = 0;
      for (size_t i = 0; net && i < TOY_VAL; i++) {
        toy_get(toy, DATASET_VAL, i, 0, features, target, mask);
        instrid_net_forward(net, features, prob);
        for (int k = 0; k < 2; k++) {
          known++;
          correct += (prob[k] >= th[k]) == (target[k] >= 0.5f);
        }
      }
      CHECK(known > 0 && (double)correct / (double)known > 0.9, "model file accuracy %zu/%zu",
            correct, known);
      instrid_net_free(net);
      instrid_model_free(model);
    }
    unlink(path);
  }
  trainer_free(t);
}

/* Trains 2 epochs straight, then again stopped after `stop` steps and resumed in a fresh
 * trainer: the final parameters must be the same bits. threads > 1 splits each batch across
 * replicas on their own threads. */
static void test_resume_bit_identical(toy_source *toy, uint64_t stop, int threads)
{
  instrid_model_desc arch = toy_arch();
  example_source src = {toy_count, toy_get, toy, NULL};
  train_options opt;
  toy_options(&opt);
  opt.epochs = 2;
  opt.threads = threads;
  instrid_error err;

  trainer *straight = trainer_new(&arch, &src, &opt, &err);
  CHECK(straight && trainer_run(straight, &err) == INSTRID_OK, "straight run: %s", err.message);
  if (!straight)
    return;

  char dir[] = "/tmp/instrid-test-resume-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    trainer_free(straight);
    return;
  }
  char ckpt[128];
  snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
  opt.checkpoint_path = ckpt;
  opt.resume = 1;
  opt.stop_after_steps = stop;
  trainer *first = trainer_new(&arch, &src, &opt, &err);
  CHECK(first && trainer_run(first, &err) == INSTRID_OK, "first part: %s", err.message);
  CHECK(first && trainer_stopped(first) && trainer_steps_done(first) == stop,
        "stopped after %llu steps", first ? (unsigned long long)trainer_steps_done(first) : 0ull);
  trainer_free(first); /* everything in memory is gone, as after kill -9 */

  opt.stop_after_steps = 0;
  trainer *second = trainer_new(&arch, &src, &opt, &err);
  CHECK(second && trainer_run(second, &err) == INSTRID_OK, "resumed part: %s", err.message);
  if (second) {
    CHECK(!trainer_stopped(second) && trainer_steps_done(second) == trainer_steps_done(straight),
          "resumed run ends at step %llu", (unsigned long long)trainer_steps_done(second));
    size_t n = train_net_n_params(trainer_net(straight));
    const float *a = train_net_params(trainer_net(straight));
    const float *b = train_net_params(trainer_net(second));
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
      differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    CHECK(differ == 0, "stop at %llu, %d threads: %zu of %zu parameters differ after resume",
          (unsigned long long)stop, threads, differ, n);
    CHECK(memcmp(trainer_thresholds(straight), trainer_thresholds(second),
                 TOY_CLASSES * sizeof(float)) == 0,
          "thresholds differ after resume");
  }
  trainer_free(second);

  /* A checkpoint only resumes the run that wrote it. */
  opt.lr *= 2.0f;
  trainer *other = trainer_new(&arch, &src, &opt, &err);
  if (other) {
    instrid_status s = trainer_run(other, &err);
    CHECK(s == INSTRID_ERR_FORMAT, "resume with other options: status %d (%s)", (int)s,
          err.message);
    trainer_free(other);
  }

  /* A damaged checkpoint is refused by its checksum. */
  FILE *f = fopen(ckpt, "r+b");
  if (f) {
    fseek(f, 200, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    opt.lr /= 2.0f;
    trainer *damaged = trainer_new(&arch, &src, &opt, &err);
    if (damaged) {
      instrid_status s = trainer_run(damaged, &err);
      CHECK(s == INSTRID_ERR_CHECKSUM, "damaged checkpoint: status %d (%s)", (int)s, err.message);
      trainer_free(damaged);
    }
  }
  unlink(ckpt);
  rmdir(dir);
  trainer_free(straight);
}

/* ------------------------------------------------------------------------------------------ */
/* Augmentation against closed forms */

static void test_augment(void)
{
  const instrid_frontend_params *fe = &toy_fe;
  float silence = instrid_frontend_silence_value(fe);
  float x[4] = {silence, 0.0f, 1.0f, silence + 0.5f};

  /* +6.0206 dB is a factor 2 in amplitude, 4 in power: +ln 4 / std; the floor stays. */
  augment_gain(fe, x, 4, 20.0f * log10f(2.0f));
  CHECK(x[0] == silence, "gain moved the floor: %g", x[0]);
  CHECK(fabsf(x[1] - logf(4.0f) / 4.0f) < 1e-5f && fabsf(x[2] - 1.0f - logf(4.0f) / 4.0f) < 1e-5f,
        "gain +6 dB: %g %g", x[1], x[2]);
  /* A large cut clamps at the floor instead of going below it. */
  augment_gain(fe, x, 4, -200.0f);
  CHECK(x[1] == silence && x[3] == silence, "gain -200 dB: %g %g", x[1], x[3]);

  /* Mixup with a silent window at weight w: ln((1-w) E) = f + ln(1-w) / std. */
  float a[3] = {0.0f, 1.0f, -1.0f}, b[3] = {silence, silence, silence};
  float ta[4] = {1, 0, 0, 0}, ma[4] = {1, 1, 0, 0};
  float tb[4] = {0, 1, 1, 0}, mb[4] = {1, 1, 1, 0};
  augment_mixup(fe, a, b, 3, 0.25f, ta, ma, tb, mb, 4);
  for (int i = 0; i < 3; i++) {
    float want = (float)(i == 0 ? 0 : (i == 1 ? 1 : -1)) + logf(0.75f) / 4.0f;
    CHECK(fabsf(a[i] - want) < 1e-4f, "mixup feature %d: %g want %g", i, a[i], want);
  }
  /* Class 0 positive in a; 1 positive in b; 2 unknown in a but positive in b (known positive);
   * 3 unknown in both. */
  CHECK(ta[0] == 1 && ma[0] == 1 && ta[1] == 1 && ma[1] == 1 && ta[2] == 1 && ma[2] == 1 &&
            ma[3] == 0,
        "mixup labels %g/%g %g/%g %g/%g %g/%g", ta[0], ma[0], ta[1], ma[1], ta[2], ma[2], ta[3],
        ma[3]);
  /* Negative in both stays a known negative; negative in one and unknown in the other is
   * unknown. */
  float tc[2] = {0, 0}, mc[2] = {1, 1}, td[2] = {0, 0}, md[2] = {1, 0}, e1[1] = {0}, e2[1] = {0};
  augment_mixup(fe, e1, e2, 1, 0.5f, tc, mc, td, md, 2);
  CHECK(tc[0] == 0 && mc[0] == 1 && mc[1] == 0, "mixup negatives %g/%g %g", tc[0], mc[0], mc[1]);

  /* Masks fill exactly their rectangle with the silence value. */
  float w[4 * 6];
  for (int i = 0; i < 24; i++)
    w[i] = 1.0f;
  augment_time_mask(w, 4, 6, 4, 10, silence); /* clipped to frames 4, 5 */
  augment_freq_mask(w, 4, 6, 1, 1, silence);  /* band 1 */
  int n_silent = 0, wrong = 0;
  for (int m = 0; m < 4; m++)
    for (int t = 0; t < 6; t++) {
      int want = t >= 4 || m == 1;
      n_silent += w[m * 6 + t] == silence;
      wrong += (w[m * 6 + t] == silence) != want;
    }
  CHECK(n_silent == 12 && wrong == 0, "masks: %d silent, %d wrong", n_silent, wrong);

  /* Noise at 0 dB SNR on a flat window adds about its own energy: +ln 2 / std on average. */
  float flat[256];
  for (int i = 0; i < 256; i++)
    flat[i] = 0.5f;
  instrid_rng rng;
  instrid_rng_seed_stream(&rng, 1, 2, 3);
  augment_noise(fe, flat, 256, 0.0f, &rng);
  double mean = 0.0;
  for (int i = 0; i < 256; i++)
    mean += flat[i];
  mean /= 256.0;
  CHECK(fabs(mean - (0.5 + log(2.0) / 4.0)) < 0.02, "noise 0 dB: mean %g", mean);

  /* Positional streams: same coordinates, same numbers; neighbours differ. */
  instrid_rng r1, r2, r3;
  instrid_rng_seed_stream(&r1, 9, 4, 5);
  instrid_rng_seed_stream(&r2, 9, 4, 5);
  instrid_rng_seed_stream(&r3, 9, 4, 6);
  uint64_t v1 = instrid_rng_next(&r1), v2 = instrid_rng_next(&r2), v3 = instrid_rng_next(&r3);
  CHECK(v1 == v2 && v1 != v3, "rng streams");
}

/* EfficientAT's front end, f = (ln(E + 1e-5) + 4.5) / 5 (LOG_ADD): gain and mixup work on the
 * energies, so they are exact there too, where an offset of the log would not be. */
static void test_augment_log_add(void)
{
  instrid_frontend_params fe = toy_fe;
  fe.log_mode = INSTRID_LOG_ADD;
  fe.log_floor = 1e-5f;
  fe.feature_mean = -4.5f;
  fe.feature_std = 5.0f;
  const double energies[4] = {0.0, 1e-6, 1e-3, 10.0};
  float x[4];
  for (int i = 0; i < 4; i++)
    x[i] = (float)((log(energies[i] + 1e-5) + 4.5) / 5.0);
  float silence = instrid_frontend_silence_value(&fe);
  augment_gain(&fe, x, 4, 20.0f); /* 20 dB: 10 in amplitude, 100 in power */
  for (int i = 0; i < 4; i++) {
    float want = (float)((log(100.0 * energies[i] + 1e-5) + 4.5) / 5.0);
    CHECK(fabsf(x[i] - want) < 2e-5f, "LOG_ADD gain +20 dB, energy %g: %g want %g", energies[i],
          x[i], want);
  }
  CHECK(fabsf(x[0] - silence) < 1e-6f, "LOG_ADD gain moved silence: %g (silence %g)", x[0],
        silence);
  /* back down by 20 dB: the same features again */
  augment_gain(&fe, x, 4, -20.0f);
  for (int i = 0; i < 4; i++) {
    float want = (float)((log(energies[i] + 1e-5) + 4.5) / 5.0);
    CHECK(fabsf(x[i] - want) < 2e-5f, "LOG_ADD gain round trip %d: %g want %g", i, x[i], want);
  }
  /* Mixup of 1e-3 with silence at w = 0.5: ln(0.5e-3 + 1e-5), not the log's offset. */
  float a[1] = {(float)((log(1e-3 + 1e-5) + 4.5) / 5.0)}, b[1] = {silence};
  float ta[1] = {1}, ma[1] = {1}, tb[1] = {0}, mb[1] = {1};
  augment_mixup(&fe, a, b, 1, 0.5f, ta, ma, tb, mb, 1);
  float want = (float)((log(0.5e-3 + 1e-5) + 4.5) / 5.0);
  CHECK(fabsf(a[0] - want) < 2e-5f, "LOG_ADD mixup: %g want %g", a[0], want);
}

/* A source of 3 training windows (recordings 0, 0, 1: one clip of two windows) and 2 validation
 * windows (recording 5), each window's features its index + 1, one class. */
static size_t tiny_count(void *ctx, dataset_split split)
{
  (void)ctx;
  return split == DATASET_VAL ? 2 : 3;
}

static void tiny_get(void *ctx, dataset_split split, size_t i, int shift, float *features,
                     float *target, float *mask)
{
  (void)ctx;
  (void)shift;
  for (int k = 0; k < 4; k++)
    features[k] = (float)(i + 1) + (split == DATASET_VAL ? 10.0f : 0.0f);
  target[0] = (float)(i % 2);
  mask[0] = 1.0f;
}

static uint32_t tiny_group(void *ctx, dataset_split split, size_t i, int *weak)
{
  (void)ctx;
  *weak = 1;
  return split == DATASET_VAL ? 5 : (i < 2 ? 0 : 1);
}

static void test_gain_copies(void)
{
  example_source inner = {tiny_count, tiny_get, NULL, tiny_group};
  gain_copies g;
  instrid_error err = {0};
  const float gains[2] = {-6.0f, 12.0f};
  CHECK(gain_copies_init(&g, &inner, &toy_fe, 2, 2, gains, 2, &err) == INSTRID_OK,
        "gain copies init: %s", err.message);
  example_source s = gain_copies_source(&g);
  CHECK(s.count(s.ctx, DATASET_TRAIN) == 9 && s.count(s.ctx, DATASET_VAL) == 2,
        "gain copies counts %zu %zu", s.count(s.ctx, DATASET_TRAIN), s.count(s.ctx, DATASET_VAL));
  /* copy k of window i is window 3k + i: inner's labels, the features at gain k, recordings
   * numbered apart (stride 6: above recording 5) and still weak */
  for (size_t i = 0; i < 9; i++) {
    float f[4], t[1], m[1], want[4], wt[1], wm[1];
    s.get(s.ctx, DATASET_TRAIN, i, 0, f, t, m);
    tiny_get(NULL, DATASET_TRAIN, i % 3, 0, want, wt, wm);
    if (i >= 3)
      augment_gain(&toy_fe, want, 4, gains[i / 3 - 1]);
    int weak = 0;
    uint32_t r = s.group(s.ctx, DATASET_TRAIN, i, &weak);
    uint32_t want_r = (i % 3 < 2 ? 0 : 1) + (uint32_t)(i / 3) * 6;
    CHECK(memcmp(f, want, sizeof f) == 0 && t[0] == wt[0] && m[0] == 1.0f && r == want_r && weak,
          "gain copy %zu: feature %g (want %g), target %g, recording %u (want %u), weak %d", i,
          f[0], want[0], t[0], r, want_r, weak);
  }
  /* the -6 dB copy is quieter, the +12 dB one louder, by exactly their share of the log */
  float f0[4], f1[4], f2[4], t[1], m[1];
  s.get(s.ctx, DATASET_TRAIN, 0, 0, f0, t, m);
  s.get(s.ctx, DATASET_TRAIN, 3, 0, f1, t, m);
  s.get(s.ctx, DATASET_TRAIN, 6, 0, f2, t, m);
  float step = 2.0f * logf(10.0f) / 20.0f / toy_fe.feature_std; /* per dB, power 2 */
  CHECK(fabsf(f1[0] - f0[0] + 6.0f * step) < 1e-5f && fabsf(f2[0] - f0[0] - 12.0f * step) < 1e-5f,
        "gain copies levels: %g %g %g", f0[0], f1[0], f2[0]);
  /* validation: inner's, untouched */
  float v[4], vt[1], vm[1];
  s.get(s.ctx, DATASET_VAL, 1, 0, v, vt, vm);
  int weak = 0;
  CHECK(v[0] == 12.0f && s.group(s.ctx, DATASET_VAL, 1, &weak) == 5, "gain copies validation: %g",
        v[0]);
  /* the key names the gains; another list, another key */
  gain_copies h;
  const float other[2] = {-6.0f, 6.0f};
  CHECK(gain_copies_init(&h, &inner, &toy_fe, 2, 2, other, 2, &err) == INSTRID_OK, "init 2");
  CHECK(gain_copies_key(&g) != 0 && gain_copies_key(&g) != gain_copies_key(&h) &&
            gain_copies_key(NULL) == 0,
        "gain copies keys");

  /* bad input: each refused with a message that names it */
  const float bad[1] = {61.0f};
  CHECK(gain_copies_init(&h, &inner, &toy_fe, 2, 2, bad, 1, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "61"),
        "gain 61 dB: %s", err.message);
  CHECK(gain_copies_init(&h, &inner, &toy_fe, 2, 2, gains, 0, &err) == INSTRID_ERR_INVALID_ARG,
        "no gains accepted");
  float parsed[GAIN_COPIES_MAX];
  CHECK(gain_copies_parse("-12,+12", parsed, &err) == 2 && parsed[0] == -12.0f &&
            parsed[1] == 12.0f,
        "parse -12,+12");
  const char *wrong[] = {"", "12,", "x", "12,,3", "nan", "-70", "1,2,3,4,5,6,7,8,9"};
  for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
    err.message[0] = '\0';
    CHECK(gain_copies_parse(wrong[k], parsed, &err) == 0 && err.message[0], "parse '%s' accepted",
          wrong[k]);
  }
}

int main(void)
{
  test_augment();
  test_augment_log_add();
  test_gain_copies();
  toy_source toy;
  if (!toy_make(&toy, 42)) {
    fprintf(stderr, "cannot make the toy data\n");
    return 1;
  }
  test_toy_end_to_end(&toy);
  test_resume_bit_identical(&toy, 5, 1);              /* mid-epoch */
  test_resume_bit_identical(&toy, TOY_TRAIN / 32, 1); /* at the epoch's last step */
  test_resume_bit_identical(&toy, 7, 2);              /* two replicas */
  toy_free(&toy);
  return check_exit();
}
