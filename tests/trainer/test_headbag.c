/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_headbag.c — clip-level head training (trainer/headbag.h): the loss and its gradient go
 * through the pooling (max: only the highest window of a clip; mean: 1/n each), unknown labels
 * are left out, the distillation term's gradient against central differences, the loss through
 * the element's blend (its value and gradient, both modes, the refusals), bags, a toy run
 * where the instrument sounds in one window of each positive clip, and resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "headbag.h"
#include "layers.h"

static float sigm(float x)
{
  return 1.0f / (1.0f + expf(-x));
}

static int near(double a, double b, double tol)
{
  return fabs(a - b) <= tol * (1.0 + fabs(b));
}

/* Options with a pooling and a distillation weight, no blend (valid until the next call). */
static const headbag_options *opts(headbag_pool pool, float distill)
{
  static headbag_options o;
  headbag_options_default(&o);
  o.pool = pool;
  o.distill = distill;
  return &o;
}

/* One clip of three windows, one class, no source outputs: vectors (1,0), (0,1), (2,0); the
 * head w = (1, 0), b = 0 gives logits 1, 0, 2. */
static void pooling_gradients(void)
{
  const float vec[] = {1, 0, 0, 1, 2, 0};
  float target[] = {1, 1, 1}, mask[] = {1, 1, 1};
  const uint32_t group[] = {7, 7, 7};
  const uint8_t weak[] = {1, 1, 1};
  headbag_data d = {.dim = 2, .n_out = 1, .n_targets = 1};
  d.split[0] = (headbag_split){3, vec, target, mask, group, weak};
  const float params[] = {1, 0, 0}; /* w0, w1, b */
  float grad[3];
  size_t start = 0, len = 3;

  /* max: the clip's logit is window 2's (2); only it gets the gradient. */
  double loss = headbag_loss_grad(&d, 0, &start, &len, 1, opts(HEADBAG_POOL_MAX, 0.0f), params,
                                  NULL, NULL, grad);
  double g = sigm(2.0f) - 1.0;
  CHECK(near(loss, log1p(exp(-2.0)), 1e-6), "max loss %g", loss);
  CHECK(near(grad[0], 2.0 * g, 1e-5) && grad[1] == 0.0f && near(grad[2], g, 1e-5),
        "max: gradient only through the highest window: %g %g %g (want %g 0 %g)", grad[0], grad[1],
        grad[2], 2.0 * g, g);

  /* The same clip as three windows with the clip's label each ("window"): window 1, where the
   * instrument may not sound, is pushed up too (a non-zero gradient on w1). */
  size_t st3[] = {0, 1, 2}, ln3[] = {1, 1, 1};
  headbag_loss_grad(&d, 0, st3, ln3, 3, opts(HEADBAG_POOL_WINDOW, 0.0f), params, NULL, NULL, grad);
  CHECK(near(grad[1], (sigm(0.0f) - 1.0) / 3.0, 1e-5), "window: w1 gradient %g", grad[1]);

  /* mean: logit 1, the gradient shared by the three windows. */
  loss = headbag_loss_grad(&d, 0, &start, &len, 1, opts(HEADBAG_POOL_MEAN, 0.0f), params, NULL,
                           NULL, grad);
  g = sigm(1.0f) - 1.0;
  CHECK(near(loss, log1p(exp(-1.0)), 1e-6), "mean loss %g", loss);
  CHECK(near(grad[0], g * 3.0 / 3.0, 1e-5) && near(grad[1], g / 3.0, 1e-5) &&
            near(grad[2], g, 1e-5),
        "mean: gradient %g %g %g", grad[0], grad[1], grad[2]);

  /* A negative clip under max: only the highest window is pushed down, with pos_weight unused. */
  target[0] = target[1] = target[2] = 0;
  const float pw = 5.0f;
  headbag_loss_grad(&d, 0, &start, &len, 1, opts(HEADBAG_POOL_MAX, 0.0f), params, &pw, NULL, grad);
  g = sigm(2.0f);
  CHECK(near(grad[0], 2.0 * g, 1e-5) && grad[1] == 0.0f && near(grad[2], g, 1e-5),
        "max negative: %g %g %g", grad[0], grad[1], grad[2]);

  /* An unknown label (mask 0) is no negative: no loss, no gradient. */
  mask[0] = mask[1] = mask[2] = 0;
  loss = headbag_loss_grad(&d, 0, &start, &len, 1, opts(HEADBAG_POOL_MAX, 0.0f), params, NULL, NULL,
                           grad);
  CHECK(loss == 0.0 && grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f,
        "masked: loss %g, gradient %g %g %g", loss, grad[0], grad[1], grad[2]);
}

/* The analytic gradient of the target row (w0..w2, b0 of a 3-dimensional head whose bias row
 * starts at 3 * n_out) against central differences of the loss. */
static void check_target_gradient(const headbag_data *d, const size_t *start, const size_t *len,
                                  size_t n, const headbag_options *o, float *params,
                                  const float *pw, const float *teacher, const float *grad,
                                  const char *what)
{
  float g2[64];
  const int idx[] = {0, 1, 2, 3 * (int)d->n_out};
  for (int k = 0; k < 4; k++) {
    float p0 = params[idx[k]], h = 1e-3f;
    params[idx[k]] = p0 + h;
    double lp = headbag_loss_grad(d, 0, start, len, n, o, params, pw, teacher, g2);
    params[idx[k]] = p0 - h;
    double lm = headbag_loss_grad(d, 0, start, len, n, o, params, pw, teacher, g2);
    params[idx[k]] = p0;
    double num = (lp - lm) / (2.0 * h);
    CHECK(fabs(num - grad[idx[k]]) < 2e-3, "%s, parameter %d: analytic %g, numeric %g", what,
          idx[k], grad[idx[k]], num);
  }
}

/* Distillation: one target class and two source outputs mapped to it; the teacher is the larger
 * of their probabilities; the analytic gradient of the whole loss against central differences. */
static void distillation_gradient(void)
{
  enum { D = 3, N = 4, O = 3 };
  float vec[N * D], target[N * O] = {0}, mask[N * O] = {0};
  uint32_t group[N] = {0, 0, 1, 2};
  uint8_t weak[N] = {1, 1, 1, 1};
  for (int i = 0; i < N * D; i++)
    vec[i] = sinf(1.7f * (float)i + 0.3f);
  target[0] = target[O] = 1.0f; /* clip 0 positive */
  mask[0] = mask[O] = 1.0f;
  mask[2 * O] = 1.0f; /* clip 1 negative; clip 2 unknown */
  const int32_t teacher_of[2] = {0, 0};
  headbag_data d = {.dim = D, .n_out = O, .n_targets = 1, .teacher_of = teacher_of};
  d.split[0] = (headbag_split){N, vec, target, mask, group, weak};
  float params[O * (D + 1)];
  for (int i = 0; i < O * (D + 1); i++)
    params[i] = 0.4f * cosf(2.3f * (float)i);
  float *teacher = headbag_teachers(&d, 0, params);
  CHECK(teacher != NULL, "teachers");
  if (!teacher)
    return;
  /* Teacher of window 0: the larger of the two source outputs' probabilities. */
  float z1 = params[O * D + 1], z2 = params[O * D + 2];
  for (int j = 0; j < D; j++) {
    z1 += params[1 * D + j] * vec[j];
    z2 += params[2 * D + j] * vec[j];
  }
  CHECK(near(teacher[0], fmax(sigm(z1), sigm(z2)), 1e-6), "teacher %g", teacher[0]);

  size_t start[] = {0, 2, 3}, len[] = {2, 1, 1};
  float grad[O * (D + 1)], g2[O * (D + 1)];
  const float pw = 2.0f, lambda = 0.7f;
  headbag_loss_grad(&d, 0, start, len, 3, opts(HEADBAG_POOL_MAX, lambda), params, &pw, teacher,
                    grad);
  /* Target row (w0, b0) only; the source rows get no gradient. */
  check_target_gradient(&d, start, len, 3, opts(HEADBAG_POOL_MAX, lambda), params, &pw, teacher,
                        grad, "distillation");
  for (int k = D; k < O * D; k++)
    CHECK(grad[k] == 0.0f, "source row gradient %g at %d", grad[k], k);
  /* Without distillation the unknown clip 2 contributes nothing. */
  size_t s2 = 3, l2 = 1;
  double l0 =
      headbag_loss_grad(&d, 0, &s2, &l2, 1, opts(HEADBAG_POOL_MAX, 0.0f), params, &pw, NULL, g2);
  CHECK(l0 == 0.0 && g2[0] == 0.0f, "unknown clip without distillation: loss %g", l0);
  free(teacher);
}

/* The loss through the blend: one target class, two source outputs mapped to it, four windows
 * (positive, positive, negative, unknown) as bags of one. The loss is the weighted BCE of the
 * element's own blend (instrid_blend_value, libcore) of the head's probability with the
 * teacher; its gradient against central differences; a positive the teacher already hears
 * costs the head almost nothing; unmapped classes keep the plain loss; the refusals. */
static void blend_loss(void)
{
  enum { D = 3, N = 4, O = 3 };
  float vec[N * D], target[N * O] = {0}, mask[N * O] = {0};
  uint32_t group[N] = {0, 1, 2, 3};
  uint8_t weak[N] = {1, 1, 1, 1};
  for (int i = 0; i < N * D; i++)
    vec[i] = sinf(1.3f * (float)i + 0.2f);
  target[0] = target[O] = 1.0f;
  mask[0] = mask[O] = mask[2 * O] = 1.0f; /* window 3 unknown */
  const int32_t teacher_of[2] = {0, 0}, unmapped[2] = {-1, -1};
  headbag_data d = {.dim = D, .n_out = O, .n_targets = 1, .teacher_of = teacher_of};
  d.split[0] = (headbag_split){N, vec, target, mask, group, weak};
  float params[O * (D + 1)];
  for (int i = 0; i < O * (D + 1); i++)
    params[i] = 0.5f * cosf(1.9f * (float)i);
  float *teacher = headbag_teachers(&d, 0, params);
  CHECK(teacher != NULL, "teachers");
  if (!teacher)
    return;
  size_t start[] = {0, 1, 2, 3}, len[] = {1, 1, 1, 1};
  float grad[O * (D + 1)], g2[O * (D + 1)];
  const float pw = 3.0f, gamma = 0.3f;
  const uint32_t modes[2] = {INSTRID_BLEND_LINEAR, INSTRID_BLEND_NOISY_OR};
  for (int mi = 0; mi < 2; mi++) {
    headbag_options o = *opts(HEADBAG_POOL_WINDOW, 0.0f);
    o.blend_gamma = gamma;
    o.blend_mode = modes[mi];
    double loss = headbag_loss_grad(&d, 0, start, len, 4, &o, params, &pw, teacher, grad);
    /* the element's blend of each window's head probability with its teacher */
    double want = 0.0;
    for (int i = 0; i < 3; i++) {
      float z = params[O * D];
      for (int j = 0; j < D; j++)
        z += params[j] * vec[i * D + j];
      double b = instrid_blend_value(modes[mi], gamma, sigm(z), teacher[i]);
      want += target[i * O] > 0.5f ? -pw * log(b) : -log(1.0 - b);
    }
    want /= 3.0;
    CHECK(near(loss, want, 1e-4), "mode %u: loss %g, the element's blend gives %g", modes[mi], loss,
          want);
    check_target_gradient(&d, start, len, 4, &o, params, &pw, teacher, grad,
                          modes[mi] == INSTRID_BLEND_NOISY_OR ? "noisy-OR blend" : "linear blend");
  }
  /* A positive window whose teacher hears the class (0.999) hardly moves the head through the
   * noisy-OR; one whose teacher does not (0.001) gets nearly the plain loss's push. */
  headbag_options o = *opts(HEADBAG_POOL_WINDOW, 0.0f);
  o.blend_gamma = gamma;
  o.blend_mode = INSTRID_BLEND_NOISY_OR;
  float heard[N], deaf[N];
  for (int i = 0; i < N; i++)
    heard[i] = 0.999f, deaf[i] = 0.001f;
  headbag_loss_grad(&d, 0, start, len, 1, &o, params, NULL, heard, grad);
  double g_heard = grad[O * D];
  headbag_loss_grad(&d, 0, start, len, 1, &o, params, NULL, deaf, grad);
  double g_deaf = grad[O * D];
  headbag_loss_grad(&d, 0, start, len, 1, opts(HEADBAG_POOL_WINDOW, 0.0f), params, NULL, NULL,
                    grad);
  double g_plain = grad[O * D];
  CHECK(g_plain < 0.0 && fabs(g_heard) < 0.1 * fabs(g_plain) && g_deaf < 0.0 &&
            fabs(g_deaf) > 0.2 * fabs(g_plain),
        "noisy-OR push on a positive: teacher 0.999 %g, 0.001 %g, plain %g", g_heard, g_deaf,
        g_plain);
  /* A class no source output maps to (teacher NaN) keeps the plain loss. */
  d.teacher_of = unmapped;
  float *none = headbag_teachers(&d, 0, params);
  CHECK(none && isnan(none[0]), "unmapped teacher");
  if (none) {
    double lb = headbag_loss_grad(&d, 0, start, len, 4, &o, params, &pw, none, grad);
    double lp = headbag_loss_grad(&d, 0, start, len, 4, opts(HEADBAG_POOL_WINDOW, 0.0f), params,
                                  &pw, NULL, g2);
    CHECK(lb == lp && memcmp(grad, g2, sizeof grad) == 0, "unmapped: %g against %g", lb, lp);
  }
  free(none);
  d.teacher_of = teacher_of;
  /* Refused: under mean pooling, gamma above 1, an unknown mode, without source outputs. */
  headbag_result r;
  instrid_error err = {0};
  o.pool = HEADBAG_POOL_MEAN;
  CHECK(headbag_train(&d, &o, params, NULL, &r, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "mean"),
        "blend under mean pooling: %s", err.message);
  headbag_result_clear(&r);
  o.pool = HEADBAG_POOL_MAX;
  o.blend_gamma = 1.5f;
  CHECK(headbag_train(&d, &o, params, NULL, &r, &err) == INSTRID_ERR_INVALID_ARG, "gamma 1.5");
  headbag_result_clear(&r);
  o.blend_gamma = gamma;
  o.blend_mode = 7;
  CHECK(headbag_train(&d, &o, params, NULL, &r, &err) == INSTRID_ERR_INVALID_ARG, "mode 7");
  headbag_result_clear(&r);
  o.blend_mode = INSTRID_BLEND_NOISY_OR;
  d.teacher_of = NULL;
  CHECK(headbag_train(&d, &o, params, NULL, &r, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "source"),
        "blend without source outputs: %s", err.message);
  headbag_result_clear(&r);
  free(teacher);
}

/* A toy corpus: clips of 4 windows, D = 4, one class. In a positive clip one window (of 4)
 * carries the instrument (component 0 = 1), the others look like negative clips' windows. */
typedef struct {
  float vec[2][64 * 4 * 4], target[2][64 * 4], mask[2][64 * 4];
  uint32_t group[2][64 * 4];
  uint8_t weak[2][64 * 4];
} toy;

static void make_toy(toy *t)
{
  memset(t, 0, sizeof *t);
  for (int s = 0; s < 2; s++)
    for (int c = 0; c < 64; c++) {
      int positive = (c * 7 + s) % 3 == 0, hot = (c * 5) % 4;
      for (int w = 0; w < 4; w++) {
        int i = c * 4 + w;
        float *v = t->vec[s] + i * 4;
        v[0] = positive && w == hot ? 1.0f : 0.0f;
        v[1] = 0.3f * sinf((float)(i * 3 + s));
        v[2] = 0.3f * cosf((float)(i * 5 + s));
        v[3] = 1.0f;
        t->target[s][i] = (float)positive;
        t->mask[s][i] = 1.0f;
        t->group[s][i] = (uint32_t)(c + 100 * s);
        t->weak[s][i] = 1;
      }
    }
}

/* The toy corpus in t, d over it (both splits, 64 clips of 4 windows each), and options with
 * batches of 8 clips, `epochs` epochs at learning rate lr. */
static void toy_setup(toy *t, headbag_data *d, headbag_options *o, uint32_t epochs, float lr)
{
  make_toy(t);
  memset(d, 0, sizeof *d);
  d->dim = 4;
  d->n_out = 1;
  d->n_targets = 1;
  for (int s = 0; s < 2; s++)
    d->split[s] =
        (headbag_split){256, t->vec[s], t->target[s], t->mask[s], t->group[s], t->weak[s]};
  headbag_options_default(o);
  o->epochs = epochs;
  o->batch = 8;
  o->lr = lr;
}

static void toy_run(void)
{
  static toy t;
  headbag_data d;
  headbag_options o;
  toy_setup(&t, &d, &o, 40, 0.1f);
  o.weight_decay = 0.0f;
  float params[5] = {0};
  headbag_result r;
  instrid_error err = {0};
  CHECK(headbag_train(&d, &o, params, NULL, &r, &err) == INSTRID_OK, "train: %s", err.message);
  CHECK(r.bags[0] == 64 && r.bags[1] == 64, "bags %zu %zu", r.bags[0], r.bags[1]);
  CHECK(r.val.n_defined == 1 && r.val.ap[0] > 0.99, "clip AP %g", r.val.ap[0]);
  /* The instrument's component carries the class: its weight clearly positive. */
  CHECK(params[0] > 1.0f, "w0 %g", params[0]);
  headbag_result_clear(&r);

  /* Strong labels: every window a bag of one. */
  memset(t.weak, 0, sizeof t.weak);
  float p2[5] = {0};
  o.epochs = 1;
  CHECK(headbag_train(&d, &o, p2, NULL, &r, &err) == INSTRID_OK, "train: %s", err.message);
  CHECK(r.bags[0] == 256, "strong labels: %zu bags", r.bags[0]);
  headbag_result_clear(&r);
}

/* A fresh file name from template (mkstemp's, the file itself removed again); 0 on failure. */
static int temp_name(char *template)
{
  int fd = mkstemp(template);
  CHECK(fd >= 0, "mkstemp");
  if (fd < 0)
    return 0;
  close(fd);
  remove(template);
  return 1;
}

static void resume(void)
{
  static toy t;
  headbag_data d;
  headbag_options o;
  toy_setup(&t, &d, &o, 4, 0.05f);
  o.pool = HEADBAG_POOL_MEAN;
  char path[] = "/tmp/test_headbag_XXXXXX";
  if (!temp_name(path))
    return;
  float a[5] = {0.1f, 0, 0, 0, 0}, b[5] = {0.1f, 0, 0, 0, 0};
  headbag_result r;
  instrid_error err = {0};
  CHECK(headbag_train(&d, &o, a, NULL, &r, &err) == INSTRID_OK, "whole: %s", err.message);
  headbag_result_clear(&r);
  o.checkpoint_path = path;
  o.resume = 1;
  o.stop_after_epochs = 2;
  CHECK(headbag_train(&d, &o, b, NULL, &r, &err) == INSTRID_OK && r.stopped, "stop: %s",
        err.message);
  headbag_result_clear(&r);
  float c[5] = {0.1f, 0, 0, 0, 0}; /* a new process starts from the initial weights again */
  o.stop_after_epochs = 0;
  CHECK(headbag_train(&d, &o, c, NULL, &r, &err) == INSTRID_OK && r.epochs_done == 4, "resume: %s",
        err.message);
  CHECK(memcmp(a, c, sizeof a) == 0, "resumed run differs: %g/%g %g/%g", a[0], c[0], a[4], c[4]);
  CHECK(r.steps == 4 * 8, "steps %llu", (unsigned long long)r.steps);
  headbag_result_clear(&r);
  /* Another run's checkpoint is refused. */
  o.lr = 0.01f;
  CHECK(headbag_train(&d, &o, c, NULL, &r, &err) == INSTRID_ERR_FORMAT, "foreign checkpoint");
  headbag_result_clear(&r);
  remove(path);
  /* Distillation without source outputs is refused. */
  o.checkpoint_path = NULL;
  o.distill = 0.5f;
  CHECK(headbag_train(&d, &o, c, NULL, &r, &err) == INSTRID_ERR_INVALID_ARG, "distill refused");
  headbag_result_clear(&r);
}

/* --standardize: the same head function trained in the centred and scaled space of its inputs.
 * The toy's instrument component rides on a large offset (100 + 0/1) with a constant component
 * (sd 0, left as it is) beside it: plain AdamW ties the weight to the bias and learns slowly;
 * standardised, the same steps separate the clips. A second output, the source's, stays as it
 * was; an all but frozen run (lr 1e-12) gives the starting rows back; resuming is exact. */
static void standardize(void)
{
  static toy t;
  headbag_data d;
  headbag_options o;
  toy_setup(&t, &d, &o, 3, 0.02f);
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 256; i++)
      t.vec[s][i * 4] += 100.0f;
  static float target[2][256 * 2], mask[2][256 * 2];
  for (int s = 0; s < 2; s++) {
    for (int i = 0; i < 256; i++) {
      target[s][i * 2] = t.target[s][i];
      mask[s][i * 2] = 1.0f;
      target[s][i * 2 + 1] = 0.0f;
      mask[s][i * 2 + 1] = 0.0f;
    }
    d.split[s].target = target[s];
    d.split[s].mask = mask[s];
  }
  d.n_out = 2; /* the second row: a frozen source output */
  o.weight_decay = 0.0f;
  const float start[10] = {0, 0, 0, 0, 0.5f, -0.25f, 0.125f, 0.0625f, 0, 0.75f};
  float plain[10], stdz[10];
  memcpy(plain, start, sizeof plain);
  memcpy(stdz, start, sizeof stdz);
  headbag_result r;
  instrid_error err = {0};
  CHECK(headbag_train(&d, &o, plain, NULL, &r, &err) == INSTRID_OK, "plain: %s", err.message);
  double loss_plain = r.last_epoch_loss, ap_plain = r.val.ap[0];
  headbag_result_clear(&r);
  o.standardize = 1;
  CHECK(headbag_train(&d, &o, stdz, NULL, &r, &err) == INSTRID_OK, "standardised: %s", err.message);
  CHECK(r.val.ap[0] > 0.99 && ap_plain < 0.9 && r.last_epoch_loss < 0.9 * loss_plain,
        "standardised: clip AP %g, loss %g; plain: AP %g, loss %g", r.val.ap[0], r.last_epoch_loss,
        ap_plain, loss_plain);
  CHECK(memcmp(stdz + 4, start + 4, 4 * sizeof(float)) == 0 && stdz[9] == start[9],
        "the source's row moved");
  for (int k = 0; k < 10; k++)
    CHECK(isfinite(stdz[k]), "parameter %d: %g", k, stdz[k]);
  /* The weight on the offset component is folded back: the plain logit separates the clips. */
  float zpos = stdz[8] + 101.0f * stdz[0] + stdz[3], zneg = stdz[8] + 100.0f * stdz[0] + stdz[3];
  CHECK(zpos > 0.0f && zneg < 0.0f, "folded rows: logits %g (instrument) and %g (none)", zpos,
        zneg);
  headbag_result_clear(&r);

  /* Into the standardised space and back, without learning: the rows come back. */
  float same[10];
  memcpy(same, start, sizeof same);
  same[0] = 0.3f, same[1] = -0.7f, same[8] = 1.5f;
  float want[10];
  memcpy(want, same, sizeof want);
  o.lr = 1e-12f;
  o.epochs = 1;
  CHECK(headbag_train(&d, &o, same, NULL, &r, &err) == INSTRID_OK, "frozen: %s", err.message);
  for (int k = 0; k < 10; k++)
    CHECK(fabsf(same[k] - want[k]) < 1e-4f * (1.0f + fabsf(want[k])), "round trip %d: %g, want %g",
          k, same[k], want[k]);
  headbag_result_clear(&r);

  /* Resumed from a checkpoint: bit for bit the uninterrupted run; a plain run's checkpoint is
   * another run's. */
  char path[] = "/tmp/test_headbag_std_XXXXXX";
  if (!temp_name(path))
    return;
  o.lr = 0.02f;
  o.epochs = 4;
  float a[10], b[10];
  memcpy(a, start, sizeof a);
  CHECK(headbag_train(&d, &o, a, NULL, &r, &err) == INSTRID_OK, "whole: %s", err.message);
  headbag_result_clear(&r);
  o.checkpoint_path = path;
  o.resume = 1;
  o.stop_after_epochs = 2;
  memcpy(b, start, sizeof b);
  CHECK(headbag_train(&d, &o, b, NULL, &r, &err) == INSTRID_OK && r.stopped, "stop: %s",
        err.message);
  headbag_result_clear(&r);
  o.stop_after_epochs = 0;
  memcpy(b, start, sizeof b);
  CHECK(headbag_train(&d, &o, b, NULL, &r, &err) == INSTRID_OK && r.epochs_done == 4, "resume: %s",
        err.message);
  CHECK(memcmp(a, b, sizeof a) == 0, "resumed run differs: %g/%g %g/%g", a[0], b[0], a[8], b[8]);
  headbag_result_clear(&r);
  o.standardize = 0;
  memcpy(b, start, sizeof b);
  CHECK(headbag_train(&d, &o, b, NULL, &r, &err) == INSTRID_ERR_FORMAT,
        "a standardised run's checkpoint taken by a plain run");
  headbag_result_clear(&r);
  remove(path);
}

int main(void)
{
  pooling_gradients();
  distillation_gradient();
  blend_loss();
  toy_run();
  resume();
  standardize();
  CHECK(headbag_pool_from_name("max") == HEADBAG_POOL_MAX &&
            headbag_pool_from_name("mean") == HEADBAG_POOL_MEAN &&
            headbag_pool_from_name("window") == HEADBAG_POOL_WINDOW &&
            headbag_pool_from_name("sum") == -1,
        "pool names");
  return check_exit();
}
