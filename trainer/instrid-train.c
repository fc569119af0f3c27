/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* instrid-train.c — the training command: reads MusicNet / OpenMIC trees (published or rendered)
 * through libinstrid's front end, trains a named architecture and writes a model file with
 * validation thresholds and provenance. Exit status: 0 done, 1 failed, 2 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "dataset.h"
#include "finetune.h"
#include "gaincopies.h"
#include "instrid.h"
#include "train.h"

#define PROG "instrid-train"
#define MAX_SOURCES 64

static void usage(FILE *f)
{
  train_options d;
  train_options_default(&d);
  fprintf(
      f, "usage: " PROG " [--musicnet DIR] [--openmic DIR] [--corpus-musicnet DIR ...]\n"
         "                     [--corpus-openmic DIR ...] --out MODEL [options]\n"
         "Trains an instrument classifier on MusicNet and/or OpenMIC-2018 trees (as published,\n"
         "or rendered by instrid-render in the same layouts) and writes MODEL atomically.\n"
         "At least one data folder is required.\n"
         "\n"
         "data:\n"
         "  --musicnet DIR          a MusicNet tree ({train,test}_{data,labels}/, metadata)\n"
         "  --openmic DIR           an OpenMIC-2018 tree (audio/, aggregated labels, partitions/)\n"
         "  --corpus-musicnet DIR   an extra corpus in MusicNet layout (repeatable)\n"
         "  --corpus-openmic DIR    an extra corpus in OpenMIC layout (repeatable)\n"
         "  --cache DIR             feature cache folder (default: none, decode every run)\n"
         "  --val-fraction F        share of MusicNet recordings held out when a tree has no\n"
         "                          test split (default 0.1)\n"
         "  --train-hop N           frames between training windows in a recording\n"
         "                          (default: half the architecture's window)\n"
         "  --max-windows N         training windows per epoch, a fresh random subset each\n"
         "                          epoch (default 0: all)\n"
         "  --max-val-windows N     validation windows, evenly spread (default 0: all)\n"
         "\n"
         "model and optimisation:\n"
         "  --out FILE              the model file to write (required)\n"
         "  --arch NAME             architecture (default \"default\"; known:");
  for (size_t i = 0; instrid_arch_name(i); i++)
    fprintf(f, " %s", instrid_arch_name(i));
  fprintf(f,
          ")\n"
          "  --epochs N              passes over the training windows (default %u)\n"
          "  --batch N               windows per step (default %u)\n"
          "  --lr X                  peak learning rate, AdamW (default %g)\n"
          "  --weight-decay X        decoupled weight decay on conv/dense weights (default %g)\n"
          "  --warmup F              share of steps in linear warm-up before the cosine decay\n"
          "                          (default %g)\n"
          "  --clip-norm X           global gradient-norm clip, 0 = none (default %g)\n"
          "  --loss KIND             bce | balanced | focal (default %s: BCE with pos_weight =\n"
          "                          known negatives / known positives, clamped to\n"
          "                          [1/%g, %g]; plain bce drifts to \"nothing plays\"; the\n"
          "                          head on cached vectors, --pool etc., is balanced only)\n"
          "  --focal-gamma X         focal loss exponent (default %g)\n"
          "  --no-augment            no gain, noise, time shift, SpecAugment masks or mixup\n"
          "  --seed N                weights, order, augmentation, held-out split (default %llu)\n"
          "  --threads N             threads; each batch is split across N network replicas,\n"
          "                          one per thread (default: number of cores, %ld here). The\n"
          "                          result depends on N: resume with the same N\n"
          "\n"
          "fine-tuning (start from a model, e.g. one instrid-import wrote):\n"
          "  --init MODEL            start from MODEL: its front end, window and layers; its\n"
          "                          last DENSE is replaced by a new head for the 25 classes\n"
          "                          (rows from a class of the same name, else the mean of the\n"
          "                          AudioSet classes that name it, else random)\n"
          "  --freeze-until N        layers [0, N) of MODEL stay as they are; 'backbone' (the\n"
          "                          default) freezes every layer before the head, which then\n"
          "                          trains on the backbone's output computed once per window\n"
          "                          (no augmentation); 0 trains every layer\n"
          "  --lr-backbone X         learning-rate multiplier of the unfrozen layers before the\n"
          "                          head (default 1)\n"
          "  --frozen-eval           with --freeze-until N: layers [0, N) run as the element\n"
          "                          runs them (batch norm on its running statistics, which\n"
          "                          then stay; dropout off) and get no backward pass; without\n"
          "                          it they normalise with batch statistics and move their\n"
          "                          running statistics, as PyTorch's train() does\n"
          "  --keep-source-head      keep MODEL's own outputs (frozen) after the 25 classes\n"
          "  --head-random           initialise every row of the new head at random\n"
          "  --own-embedding         with --keep-source-head and a frozen backbone: the head gets\n"
          "                          its own trainable copy of the backbone's last DENSE (the\n"
          "                          embedding); the original stays frozen and feeds the source\n"
          "                          outputs, so they and the blend stay exact (learning-rate\n"
          "                          multiplier --lr-backbone; the model grows by that layer)\n"
          "  --embedding-max         with --own-embedding: the global mean pool before the\n"
          "                          embedding gives each channel's maximum over the window too;\n"
          "                          the copy reads means and maxima (its maxima columns start\n"
          "                          at zero), the original the means only\n"
          "  --head-input WHAT       with --keep-source-head and a frozen backbone: what the head\n"
          "                          reads: embedding (the default: the backbone's last DENSE),\n"
          "                          both (that and the global pool's values before it: mn04's\n"
          "                          512 + 384) or pool (the pool's alone); the embedding layer\n"
          "                          passes the pool through, frozen, so the source outputs and\n"
          "                          the blend stay exact (the model grows by 0.4 M weights)\n"
          "  --blend-source-head G   with --keep-source-head and a frozen backbone: the model\n"
          "                          ends in a BLEND_MAPPED layer, per class G * head + (1 - G)\n"
          "                          * the largest source output the AudioSet map names it with\n"
          "                          (the head alone where none does), 25 outputs; thresholds\n"
          "                          are chosen on the blend's validation outputs\n"
          "  --blend-mode M          with --blend-source-head: linear (the default, as above) or\n"
          "                          noisy-or: 1 - (1 - head)^G * (1 - source)^(1 - G), so that a\n"
          "                          confident head (or source) is not capped by the other\n"
          "  --unblended-out FILE    with --blend-source-head: also write the model without the\n"
          "                          blend (the head's 25 outputs, then the source's)\n"
          "  --blend-loss            with --blend-source-head G > 0 and --pool window or max:\n"
          "                          take the loss on the blend the model will report (the\n"
          "                          source's outputs held fixed), so that the head learns what\n"
          "                          they miss instead of the whole answer\n"
          "  --pool KIND             with a frozen backbone: train the head at clip level on\n"
          "                          OpenMIC-layout clips (clip labels are weak), pooling the\n"
          "                          clip's window logits by max or mean; window = every window\n"
          "                          an example with the clip's labels (the default without\n"
          "                          --pool or --distill). Batches are then of clips\n"
          "  --distill L             with --keep-source-head and a frozen backbone: also pull\n"
          "                          each window's head output, for the classes the AudioSet map\n"
          "                          names, towards the largest mapped source output (BCE,\n"
          "                          weight L); implies --pool max unless --pool is given\n"
          "  --standardize           with --pool or --distill: train the head on its input values\n"
          "                          centred and scaled (mean and deviation per value over the\n"
          "                          training windows), folded back into its weights after each\n"
          "                          step: the same function, better conditioned for AdamW\n"
          "  --vector-cache FILE     with a frozen backbone: keep its output per window in FILE\n"
          "                          and reuse it when the backbone and windows are the same\n"
          "  --gain-copies DB[,DB..] with a frozen backbone: the head also learns every training\n"
          "                          window at each of these gains (dB, -60..60, up to 8), made\n"
          "                          exactly on its mel energies and run through the backbone\n"
          "                          (e.g. -12,+12: a log-mel network hears level as timbre);\n"
          "                          validation windows stay as they are\n"
          "  --provenance-note TEXT  a line added to the model's provenance text (e.g. its\n"
          "                          licence and attributions)\n"
          "\n"
          "checkpoints:\n"
          "  --checkpoint FILE       checkpoint file (default: MODEL.ckpt)\n"
          "  --checkpoint-minutes M  checkpoint every M minutes as well as at every epoch end\n"
          "                          (default %g; 0 = epoch ends only)\n"
          "  --resume                continue from the checkpoint when it exists; the result is\n"
          "                          the same model an uninterrupted run would have written\n"
          "  --stop-after-steps N    stop after N steps in total, leaving a checkpoint and no\n"
          "                          model (for testing --resume; default 0: never)\n"
          "\n"
          "output:\n"
          "  --quiet                 no progress lines (errors and the summary only)\n"
          "  --help                  this text\n"
          "  --version               the version\n"
          "\n"
          "Exit status: 0 a model was written (or --stop-after-steps reached), 1 training\n"
          "failed (said on stderr), 2 bad arguments.\n",
          d.epochs, d.batch, (double)d.lr, (double)d.weight_decay, (double)d.warmup_fraction,
          (double)d.clip_norm, train_loss_name(d.loss), (double)d.pos_weight_max,
          (double)d.pos_weight_max, (double)d.focal_gamma, (unsigned long long)d.seed,
          sysconf(_SC_NPROCESSORS_ONLN), d.checkpoint_minutes);
}

/* One line on stderr and exit status 2: what a script calling us needs to see. */
static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see --help)\n");
  va_end(ap);
  return 2;
}

static int parse_u64(const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
  char *end;
  errno = 0;
  if (*s == '-')
    return 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return 0;
  *out = v;
  return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return 0;
  *out = v;
  return 1;
}

static int is_dir(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ------------------------------------------------------------------------------------------ */
/* Progress */

typedef struct {
  int tty; /* one live line rewritten with \r */
  int quiet;
  int line_open; /* a \r line is on screen without its newline */
  const char *const *class_names;
} progress_state;

static void format_duration(char *buf, size_t n, double seconds)
{
  long s = seconds > 0 && seconds < 1e8 ? (long)(seconds + 0.5) : 0;
  if (s >= 3600)
    snprintf(buf, n, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else
    snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

static void on_progress(void *ctx, const train_progress *p)
{
  progress_state *ps = ctx;
  if (ps->quiet)
    return;
  char eta[32];
  format_duration(eta, sizeof eta, p->eta_seconds);
  if (p->phase == TRAIN_PHASE_EPOCH_END) {
    if (ps->line_open)
      fputc('\n', stderr);
    ps->line_open = 0;
    if (p->val)
      fprintf(stderr,
              "epoch %u/%u done: step %llu, loss %.4f, validation mAP %.4f, macro-F1 %.4f "
              "(%zu classes)\n",
              p->epoch + 1, p->epochs, (unsigned long long)p->step, p->loss, p->val->map,
              p->val->macro_f1, p->val->n_defined);
    else
      fprintf(stderr, "epoch %u/%u done: step %llu, loss %.4f (no validation split)\n",
              p->epoch + 1, p->epochs, (unsigned long long)p->step, p->loss);
    return;
  }
  if (p->phase == TRAIN_PHASE_CHECKPOINT) {
    if (!ps->tty)
      fprintf(stderr, "checkpoint at step %llu\n", (unsigned long long)p->step);
    return;
  }
  char line[200];
  snprintf(line, sizeof line,
           "epoch %u/%u  step %llu/%llu  %.0f windows/s  loss %.4f  lr %.2e  ETA %s", p->epoch + 1,
           p->epochs, (unsigned long long)p->step, (unsigned long long)p->total_steps,
           p->windows_per_second, p->loss, p->lr, eta);
  if (ps->tty) {
    fprintf(stderr, "\r%-100s", line);
    ps->line_open = 1;
  } else {
    fprintf(stderr, "%s\n", line);
  }
  fflush(stderr);
}

static void on_cache_progress(void *ctx, size_t done, size_t total)
{
  const progress_state *ps = ctx;
  if (ps->quiet)
    return;
  fprintf(stderr, "%s" PROG ": backbone output %zu/%zu windows%s", ps->tty ? "\r" : "",
          done < total ? done : total, total, ps->tty && done < total ? "" : "\n");
  fflush(stderr);
}

/* ------------------------------------------------------------------------------------------ */
/* Provenance and summary */

/* A growing string; appends are no-ops after an allocation failure (then text is NULL). */
typedef struct {
  char *text;
  size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
  if (b->cap && !b->text)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
      return;
    if (b->text && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
    char *t = realloc(b->text, cap);
    if (!t) {
      free(b->text);
      b->text = NULL;
      b->cap = 1;
      return;
    }
    b->text = t;
    b->cap = cap;
  }
}

static double nan_to(double x, double v)
{
  return isnan(x) ? v : x;
}

/* The table lists the trained classes, the first n_listed of desc (the source's kept outputs
 * after them have no label and no figure). */
static void print_summary(FILE *f, trainer *t, const instrid_model_desc *desc,
                          const dataset_stats *stats, uint32_t n_listed)
{
  const metrics_report *val = trainer_validation(t);
  const float *th = trainer_thresholds(t), *pw = trainer_pos_weight(t);
  fprintf(f, "\n%-18s %8s %8s %7s %7s %9s %6s\n", "class", "val pos", "known", "AP", "F1",
          "threshold", "pos_w");
  for (uint32_t k = 0; k < n_listed && k < desc->n_classes; k++) {
    if (val && val->n_positive[k] > 0)
      fprintf(f, "%-18s %8zu %8zu %7.4f %7.4f %9.4f %6.2f\n", desc->class_names[k],
              val->n_positive[k], val->n_known[k], val->ap[k], val->f1[k], (double)th[k],
              (double)pw[k]);
    else
      fprintf(f, "%-18s %8zu %8zu %7s %7s %9.4f %6.2f\n", desc->class_names[k],
              val ? val->n_positive[k] : 0, val ? val->n_known[k] : 0, "-", "-", (double)th[k],
              (double)pw[k]);
  }
  if (n_listed < desc->n_classes)
    fprintf(f, "(the source's %u outputs follow, their rows not trained: not listed)\n",
            desc->n_classes - n_listed);
  if (val)
    fprintf(f, "validation: mAP %.4f, macro-F1 %.4f over %zu classes with known positives\n",
            nan_to(val->map, 0), nan_to(val->macro_f1, 0), val->n_defined);
  fprintf(f,
          "data: %zu files (%zu from cache), %zu skipped, %.1f h of audio; windows: %zu train, "
          "%zu validation\n",
          stats->files_ok, stats->cache_hits, stats->files_skipped, stats->seconds_audio / 3600.0,
          stats->windows[DATASET_TRAIN], stats->windows[DATASET_VAL]);
  char dur[32];
  format_duration(dur, sizeof dur, trainer_train_seconds(t));
  fprintf(f, "training: %llu steps in %s, %.0f windows/s\n",
          (unsigned long long)trainer_steps_done(t), dur, trainer_windows_per_second(t));
}

static char *make_provenance(int argc, char **argv, const dataset_source *sources, int n_sources,
                             const dataset_stats *stats, trainer *t, const char *arch_name,
                             const train_options *opt, const instrid_model_desc *desc,
                             const finetune *ft, const finetune_options *fopt,
                             const headbag_options *hb, const headbag_result *hr,
                             const gain_copies *gc, const char *note)
{
  strbuf b = {0};
  sb_printf(&b, "command:");
  for (int i = 0; i < argc; i++)
    sb_printf(&b, " %s", argv[i]);
  time_t now = time(NULL);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  sb_printf(&b, "\nwritten: %s by instrid-train\n", when);
  for (int i = 0; i < n_sources; i++)
    sb_printf(&b, "data: %s %s\n", sources[i].kind == DATASET_MUSICNET ? "musicnet" : "openmic",
              sources[i].dir);
  sb_printf(&b,
            "data counts: %zu files (%zu skipped), %.1f h audio, %zu train windows, %zu "
            "validation windows\n",
            stats->files_ok, stats->files_skipped, stats->seconds_audio / 3600.0,
            stats->windows[DATASET_TRAIN], stats->windows[DATASET_VAL]);
  if (hr)
    sb_printf(&b,
              "training: arch %s, head at clip level (pool %s, distillation %g%s%s), %u epochs, "
              "%llu steps, batch %u clips, lr %g, weight decay %g, loss balanced, seed %llu; %zu "
              "train / %zu validation clips\n",
              arch_name, headbag_pool_name(hb->pool), (double)hb->distill,
              hb->blend_gamma > 0.0f ? ", loss through the blend" : "",
              hb->standardize ? ", inputs standardised" : "", hb->epochs,
              (unsigned long long)hr->steps, hb->batch, (double)hb->lr, (double)hb->weight_decay,
              (unsigned long long)hb->seed, hr->bags[0], hr->bags[1]);
  else
    sb_printf(&b,
              "training: arch %s, %u epochs, %llu steps, batch %u, lr %g, weight decay %g, loss "
              "%s, augment %s, seed %llu\n",
              arch_name, opt->epochs, (unsigned long long)trainer_steps_done(t), opt->batch,
              (double)opt->lr, (double)opt->weight_decay, train_loss_name(opt->loss),
              opt->augment ? "on" : "off", (unsigned long long)opt->seed);
  if (ft) {
    uint32_t by_name, by_map, by_random;
    finetune_init_counts(ft, &by_name, &by_map, &by_random);
    sb_printf(&b,
              "fine-tuned from %s: head at layer %u replaced (%u outputs; rows %u by class name, "
              "%u from the AudioSet map, %u random), ",
              arch_name, finetune_head_layer(ft), finetune_n_outputs(ft), by_name, by_map,
              by_random);
    if (finetune_own_embedding_layer(ft))
      sb_printf(&b, "backbone frozen, the head's own copy of layer %u (the embedding) trained%s",
                finetune_own_embedding_layer(ft),
                fopt->own_embedding == FINETUNE_OWN_MEAN_MAX ? " on the pool's means and maxima"
                                                             : "");
    else if (fopt->freeze_until == UINT32_MAX && fopt->head_input == FINETUNE_INPUT_BOTH)
      sb_printf(&b, "backbone frozen, the head reading the embedding and the global pool");
    else if (fopt->freeze_until == UINT32_MAX && fopt->head_input == FINETUNE_INPUT_POOL)
      sb_printf(&b, "backbone frozen, the head reading the global pool");
    else if (fopt->freeze_until == UINT32_MAX)
      sb_printf(&b, "backbone frozen");
    else
      sb_printf(&b, "layers 0..%u frozen%s", fopt->freeze_until,
                opt->frozen_prefix ? " (run as at inference)" : "");
    sb_printf(&b, ", lr multiplier %g before the head%s%s", (double)fopt->lr_backbone,
              fopt->keep_source_head ? ", source outputs kept after the 25 classes" : "",
              finetune_split(ft) ? "; head trained on the backbone's output" : "");
    for (size_t k = 0; k < gc->n_gains; k++)
      sb_printf(&b, "%s%+g dB", k ? ", " : ", every training window also at ",
                (double)gc->gains_db[k]);
    sb_printf(&b, "\n");
    /* The source's provenance, indented, so that the chain back to the weights stays in the
     * file. */
    const char *sp = instrid_model_provenance(finetune_source(ft));
    sb_printf(&b, "source model's provenance:\n");
    while (*sp) {
      const char *nl = strchr(sp, '\n');
      int len = nl ? (int)(nl - sp) : (int)strlen(sp);
      sb_printf(&b, "  %.*s\n", len, sp);
      sp += len + (nl != NULL);
    }
  }
  const metrics_report *val = hr ? (hr->bags[1] ? &hr->val : NULL) : trainer_validation(t);
  if (val) {
    sb_printf(&b, "validation%s: mAP %.4f, macro-F1 %.4f over %zu classes; AP per class:",
              hr ? " (clips)" : "", nan_to(val->map, 0), nan_to(val->macro_f1, 0), val->n_defined);
    /* The metrics cover the trained classes only: with --keep-source-head the model has more
     * outputs (the source's classes) than the report has entries. */
    size_t n_rated = val->n_classes < desc->n_classes ? val->n_classes : desc->n_classes;
    for (size_t k = 0; k < n_rated; k++)
      if (val->n_positive[k] > 0)
        sb_printf(&b, " %s %.3f", desc->class_names[k], val->ap[k]);
    sb_printf(&b, "\nthresholds: chosen per class on validation to maximise F1\n");
  } else {
    sb_printf(&b, "validation: none (thresholds 0.5)\n");
  }
  if (note)
    sb_printf(&b, "note: %s\n", note);
  return b.text;
}

/* Appends line to *provenance; 0 when out of memory. */
static int append_line(char **provenance, const char *line)
{
  char *np = malloc(strlen(*provenance) + strlen(line) + 1);
  if (!np)
    return 0;
  strcpy(np, *provenance);
  strcat(np, line);
  free(*provenance);
  *provenance = np;
  return 1;
}

/* --blend-source-head: chooses the blended model's thresholds, writes the unblended head when
 * asked, and notes the blend in the provenance. *th is the head's thresholds on entry and the
 * blend's (in blend_th) on return. Returns 0, or -1 after printing why. */
static int apply_blend(finetune *ft, finetune_cache *fcache, const float *params, float blend,
                       uint32_t mode, const char *unblended_out, int quiet, char **provenance,
                       const float **th, float blend_th[TAXONOMY_N])
{
  double bmap = NAN, bf1 = NAN;
  instrid_error err = {0};
  if (finetune_blend_thresholds(ft, fcache, params, blend_th, &bmap, &bf1, &err) != INSTRID_OK ||
      (unblended_out &&
       finetune_write_unblended(ft, params, *th, *provenance, unblended_out, &err) != INSTRID_OK)) {
    fprintf(stderr, PROG ": %s\n", err.message);
    return -1;
  }
  *th = blend_th;
  char line[200];
  const char *formula = mode == INSTRID_BLEND_NOISY_OR
                            ? "noisy-OR, 1 - (1 - head)^%g * (1 - mapped source outputs)^%g"
                            : "%g * head + %g * mapped source outputs";
  int len = snprintf(line, sizeof line, "blend: ");
  len += snprintf(line + len, sizeof line - (size_t)len, formula, (double)blend, 1.0 - blend);
  snprintf(line + len, sizeof line - (size_t)len,
           "; validation windows mAP %.4f, macro-F1 %.4f at the blend's thresholds\n", bmap, bf1);
  if (!append_line(provenance, line)) {
    fprintf(stderr, PROG ": out of memory\n");
    return -1;
  }
  if (!quiet)
    fprintf(stderr, PROG ": %s", line);
  return 0;
}

/* --pool/--distill: the head trained at clip level on the cached vectors (headbag.h), then
 * written like the frozen-backbone path of the generic trainer. Returns the exit status. */
static int run_headbag(int argc, char **argv, const dataset_source *sources, int n_sources,
                       const dataset_stats *stats, const char *arch_name, const train_options *opt,
                       const instrid_model_desc *desc, finetune *ft, const finetune_options *fopt,
                       finetune_cache *fcache, int pool, float distill, int blend_loss,
                       int standardize, const char *out, const char *unblended_out,
                       const char *checkpoint, const gain_copies *gc, const char *note, int quiet)
{
  headbag_options hb;
  headbag_options_default(&hb);
  hb.pool = pool >= 0 ? (headbag_pool)pool : HEADBAG_POOL_MAX;
  hb.distill = distill;
  hb.blend_gamma = blend_loss ? fopt->blend : 0.0f;
  hb.standardize = standardize;
  hb.blend_mode = fopt->blend_mode;
  hb.epochs = opt->epochs;
  hb.batch = opt->batch;
  hb.lr = opt->lr;
  hb.weight_decay = opt->weight_decay;
  hb.warmup_fraction = opt->warmup_fraction;
  hb.pos_weight_max = opt->pos_weight_max;
  hb.seed = opt->seed;
  hb.checkpoint_path = checkpoint;
  hb.resume = opt->resume;
  headbag_data data;
  finetune_cache_headbag(fcache, &data);
  const instrid_model_desc *head = finetune_head_arch(ft);
  size_t n_params = (size_t)data.n_out * (data.dim + 1);
  instrid_error err = {0};
  headbag_result res = {0};
  char *provenance = NULL;
  int status = 1;
  if (head->n_params != n_params) {
    fprintf(stderr, PROG ": --pool/--distill need a head that is one DENSE on the vector\n");
    return 1;
  }
  float *params = malloc(sizeof(float) * n_params);
  if (!params) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  memcpy(params, head->params, sizeof(float) * n_params);
  if (!quiet)
    fprintf(stderr, PROG ": head at clip level: pool %s, distillation %g,%s %u epochs\n",
            headbag_pool_name(hb.pool), (double)hb.distill,
            hb.blend_gamma > 0.0f ? " loss through the blend," : "", hb.epochs);
  if (headbag_train(&data, &hb, params, finetune_head_lr_scale(ft), &res, &err) != INSTRID_OK) {
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  if (!quiet)
    fprintf(stderr, PROG ": %llu steps over %zu train clips in %.1f s, last epoch's loss %.4f\n",
            (unsigned long long)res.steps, res.bags[0], res.seconds, res.last_epoch_loss);
  if (res.stopped) {
    status = 0;
    goto done;
  }
  provenance = make_provenance(argc, argv, sources, n_sources, stats, NULL, arch_name, opt, desc,
                               ft, fopt, &hb, &res, gc, note);
  if (!provenance) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  const float *th = res.thresholds;
  float blend_th[TAXONOMY_N];
  if (fopt->blend >= 0.0f && apply_blend(ft, fcache, params, fopt->blend, fopt->blend_mode,
                                         unblended_out, quiet, &provenance, &th, blend_th) != 0)
    goto done;
  if (finetune_write(ft, params, NULL, th, provenance, out, &err) != INSTRID_OK) {
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  printf("\n%-18s %8s %7s %9s %6s\n", "class", "val pos", "AP", "threshold", "pos_w");
  for (uint32_t k = 0; k < data.n_targets; k++)
    if (res.bags[1] && res.val.n_positive[k] > 0)
      printf("%-18s %8zu %7.4f %9.4f %6.2f\n", desc->class_names[k], res.val.n_positive[k],
             res.val.ap[k], (double)th[k], (double)res.pos_weight[k]);
  if (res.bags[1])
    printf("validation (clips, head alone): mAP %.4f, macro-F1 %.4f over %zu classes\n",
           nan_to(res.val.map, 0), nan_to(res.val.macro_f1, 0), res.val.n_defined);
  printf("data: %zu files (%zu from cache), %zu skipped, %.1f h of audio; clips: %zu train, %zu "
         "validation\n",
         stats->files_ok, stats->cache_hits, stats->files_skipped, stats->seconds_audio / 3600.0,
         res.bags[0], res.bags[1]);
  printf("training: %llu steps in %.1f s\n", (unsigned long long)res.steps, res.seconds);
  printf("model written to %s\n", out);
  status = 0;
done:
  free(provenance);
  free(params);
  headbag_result_clear(&res);
  return status;
}

/* ------------------------------------------------------------------------------------------ */

enum {
  O_MUSICNET = 256,
  O_OPENMIC,
  O_CORPUS_MUSICNET,
  O_CORPUS_OPENMIC,
  O_OUT,
  O_EPOCHS,
  O_BATCH,
  O_LR,
  O_WEIGHT_DECAY,
  O_WARMUP,
  O_CLIP,
  O_ARCH,
  O_SEED,
  O_THREADS,
  O_CACHE,
  O_CHECKPOINT,
  O_CHECKPOINT_MINUTES,
  O_RESUME,
  O_LOSS,
  O_FOCAL_GAMMA,
  O_NO_AUGMENT,
  O_VAL_FRACTION,
  O_TRAIN_HOP,
  O_MAX_WINDOWS,
  O_MAX_VAL_WINDOWS,
  O_STOP_AFTER,
  O_QUIET,
  O_HELP,
  O_INIT,
  O_FREEZE_UNTIL,
  O_LR_BACKBONE,
  O_KEEP_SOURCE_HEAD,
  O_BLEND_SOURCE_HEAD,
  O_BLEND_MODE,
  O_UNBLENDED_OUT,
  O_BLEND_LOSS,
  O_STANDARDIZE,
  O_HEAD_RANDOM,
  O_OWN_EMBEDDING,
  O_EMBEDDING_MAX,
  O_HEAD_INPUT,
  O_FROZEN_EVAL,
  O_POOL,
  O_DISTILL,
  O_VECTOR_CACHE,
  O_GAIN_COPIES,
  O_PROVENANCE_NOTE,
  O_VERSION,
};

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"musicnet", required_argument, NULL, O_MUSICNET},
      {"openmic", required_argument, NULL, O_OPENMIC},
      {"corpus-musicnet", required_argument, NULL, O_CORPUS_MUSICNET},
      {"corpus-openmic", required_argument, NULL, O_CORPUS_OPENMIC},
      {"out", required_argument, NULL, O_OUT},
      {"epochs", required_argument, NULL, O_EPOCHS},
      {"batch", required_argument, NULL, O_BATCH},
      {"lr", required_argument, NULL, O_LR},
      {"weight-decay", required_argument, NULL, O_WEIGHT_DECAY},
      {"warmup", required_argument, NULL, O_WARMUP},
      {"clip-norm", required_argument, NULL, O_CLIP},
      {"arch", required_argument, NULL, O_ARCH},
      {"seed", required_argument, NULL, O_SEED},
      {"threads", required_argument, NULL, O_THREADS},
      {"cache", required_argument, NULL, O_CACHE},
      {"checkpoint", required_argument, NULL, O_CHECKPOINT},
      {"checkpoint-minutes", required_argument, NULL, O_CHECKPOINT_MINUTES},
      {"resume", no_argument, NULL, O_RESUME},
      {"loss", required_argument, NULL, O_LOSS},
      {"focal-gamma", required_argument, NULL, O_FOCAL_GAMMA},
      {"no-augment", no_argument, NULL, O_NO_AUGMENT},
      {"val-fraction", required_argument, NULL, O_VAL_FRACTION},
      {"train-hop", required_argument, NULL, O_TRAIN_HOP},
      {"max-windows", required_argument, NULL, O_MAX_WINDOWS},
      {"max-val-windows", required_argument, NULL, O_MAX_VAL_WINDOWS},
      {"stop-after-steps", required_argument, NULL, O_STOP_AFTER},
      {"quiet", no_argument, NULL, O_QUIET},
      {"help", no_argument, NULL, O_HELP},
      {"init", required_argument, NULL, O_INIT},
      {"freeze-until", required_argument, NULL, O_FREEZE_UNTIL},
      {"lr-backbone", required_argument, NULL, O_LR_BACKBONE},
      {"keep-source-head", no_argument, NULL, O_KEEP_SOURCE_HEAD},
      {"blend-source-head", required_argument, NULL, O_BLEND_SOURCE_HEAD},
      {"blend-mode", required_argument, NULL, O_BLEND_MODE},
      {"unblended-out", required_argument, NULL, O_UNBLENDED_OUT},
      {"blend-loss", no_argument, NULL, O_BLEND_LOSS},
      {"standardize", no_argument, NULL, O_STANDARDIZE},
      {"head-random", no_argument, NULL, O_HEAD_RANDOM},
      {"own-embedding", no_argument, NULL, O_OWN_EMBEDDING},
      {"embedding-max", no_argument, NULL, O_EMBEDDING_MAX},
      {"head-input", required_argument, NULL, O_HEAD_INPUT},
      {"frozen-eval", no_argument, NULL, O_FROZEN_EVAL},
      {"pool", required_argument, NULL, O_POOL},
      {"distill", required_argument, NULL, O_DISTILL},
      {"vector-cache", required_argument, NULL, O_VECTOR_CACHE},
      {"gain-copies", required_argument, NULL, O_GAIN_COPIES},
      {"provenance-note", required_argument, NULL, O_PROVENANCE_NOTE},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0},
  };
  train_options opt;
  train_options_default(&opt);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  opt.threads = cores > 0 ? (int)cores : 1;
  dataset_source sources[MAX_SOURCES];
  int n_sources = 0, quiet = 0;
  const char *out = NULL, *arch_name = "default", *cache = NULL, *checkpoint = NULL;
  double val_fraction = 0.1;
  unsigned long long train_hop = 0, u;
  double x;
  const char *init = NULL;
  finetune_options fopt;
  finetune_options_default(&fopt);
  int arch_given = 0, finetune_given = 0, blend_mode_given = 0, frozen_eval = 0, embedding_max = 0;
  const char *unblended_out = NULL, *vector_cache = NULL, *note = NULL, *loss_given = NULL;
  int clip_given = 0, blend_loss = 0, standardize = 0;
  int pool = -1; /* -1: not given */
  float gains_db[GAIN_COPIES_MAX];
  size_t n_gains = 0;
  gain_copies gc = {0}; /* no gains (n_gains 0) until it wraps the source */
  float distill = 0.0f;

  opterr = 0; /* getopt's own messages are not one clear line; we print ours */
  int c;
  while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
    switch (c) {
    case O_MUSICNET:
    case O_OPENMIC:
    case O_CORPUS_MUSICNET:
    case O_CORPUS_OPENMIC:
      if (n_sources == MAX_SOURCES)
        return usage_error("more than %d data folders", MAX_SOURCES);
      if (!is_dir(optarg))
        return usage_error("--%s %s: no such folder",
                           c == O_MUSICNET          ? "musicnet"
                           : c == O_OPENMIC         ? "openmic"
                           : c == O_CORPUS_MUSICNET ? "corpus-musicnet"
                                                    : "corpus-openmic",
                           optarg);
      sources[n_sources].kind =
          (c == O_MUSICNET || c == O_CORPUS_MUSICNET) ? DATASET_MUSICNET : DATASET_OPENMIC;
      sources[n_sources++].dir = optarg;
      break;
    case O_OUT:
      out = optarg;
      break;
    case O_EPOCHS:
      if (!parse_u64(optarg, 1, 100000, &u))
        return usage_error("--epochs %s: want an integer 1..100000", optarg);
      opt.epochs = (uint32_t)u;
      break;
    case O_BATCH:
      if (!parse_u64(optarg, 1, 65536, &u))
        return usage_error("--batch %s: want an integer 1..65536", optarg);
      opt.batch = (uint32_t)u;
      break;
    case O_LR:
      if (!parse_double(optarg, 1e-9, 10.0, &x))
        return usage_error("--lr %s: want a number in (0, 10]", optarg);
      opt.lr = (float)x;
      break;
    case O_WEIGHT_DECAY:
      if (!parse_double(optarg, 0.0, 10.0, &x))
        return usage_error("--weight-decay %s: want a number in [0, 10]", optarg);
      opt.weight_decay = (float)x;
      break;
    case O_WARMUP:
      if (!parse_double(optarg, 0.0, 0.99, &x))
        return usage_error("--warmup %s: want a fraction in [0, 0.99]", optarg);
      opt.warmup_fraction = (float)x;
      break;
    case O_CLIP:
      clip_given = 1;
      if (!parse_double(optarg, 0.0, 1e6, &x))
        return usage_error("--clip-norm %s: want a number >= 0", optarg);
      opt.clip_norm = (float)x;
      break;
    case O_ARCH:
      arch_name = optarg;
      arch_given = 1;
      break;
    case O_INIT:
      init = optarg;
      break;
    case O_FREEZE_UNTIL:
      if (strcmp(optarg, "backbone") == 0)
        fopt.freeze_until = UINT32_MAX;
      else if (parse_u64(optarg, 0, INSTRID_MAX_LAYERS, &u))
        fopt.freeze_until = (uint32_t)u;
      else
        return usage_error("--freeze-until %s: want a layer count 0..%d or 'backbone'", optarg,
                           INSTRID_MAX_LAYERS);
      finetune_given = 1;
      break;
    case O_LR_BACKBONE:
      if (!parse_double(optarg, 0.0, 100.0, &x))
        return usage_error("--lr-backbone %s: want a multiplier in [0, 100]", optarg);
      fopt.lr_backbone = (float)x;
      finetune_given = 1;
      break;
    case O_KEEP_SOURCE_HEAD:
      fopt.keep_source_head = 1;
      finetune_given = 1;
      break;
    case O_BLEND_SOURCE_HEAD:
      if (!parse_double(optarg, 0.0, 1.0, &x))
        return usage_error("--blend-source-head %s: want a weight in [0, 1]", optarg);
      fopt.blend = (float)x;
      finetune_given = 1;
      break;
    case O_BLEND_MODE:
      if (strcmp(optarg, "linear") == 0)
        fopt.blend_mode = INSTRID_BLEND_LINEAR;
      else if (strcmp(optarg, "noisy-or") == 0)
        fopt.blend_mode = INSTRID_BLEND_NOISY_OR;
      else
        return usage_error("--blend-mode %s: want linear or noisy-or", optarg);
      blend_mode_given = 1;
      break;
    case O_UNBLENDED_OUT:
      unblended_out = optarg;
      break;
    case O_BLEND_LOSS:
      blend_loss = 1;
      break;
    case O_STANDARDIZE:
      standardize = 1;
      break;
    case O_HEAD_RANDOM:
      fopt.head_random = 1;
      finetune_given = 1;
      break;
    case O_OWN_EMBEDDING:
      fopt.own_embedding = FINETUNE_OWN_PLAIN; /* --embedding-max makes it MEAN_MAX below */
      finetune_given = 1;
      break;
    case O_EMBEDDING_MAX:
      embedding_max = 1;
      finetune_given = 1;
      break;
    case O_HEAD_INPUT:
      if (strcmp(optarg, "embedding") == 0)
        fopt.head_input = FINETUNE_INPUT_EMBEDDING;
      else if (strcmp(optarg, "both") == 0)
        fopt.head_input = FINETUNE_INPUT_BOTH;
      else if (strcmp(optarg, "pool") == 0)
        fopt.head_input = FINETUNE_INPUT_POOL;
      else
        return usage_error("--head-input '%s': not embedding, both or pool", optarg);
      finetune_given = 1;
      break;
    case O_FROZEN_EVAL:
      frozen_eval = 1;
      finetune_given = 1;
      break;
    case O_POOL:
      pool = headbag_pool_from_name(optarg);
      if (pool < 0)
        return usage_error("--pool %s: want window, max or mean", optarg);
      finetune_given = 1;
      break;
    case O_DISTILL:
      if (!parse_double(optarg, 0.0, 100.0, &x))
        return usage_error("--distill %s: want a weight in [0, 100]", optarg);
      distill = (float)x;
      finetune_given = 1;
      break;
    case O_VECTOR_CACHE:
      vector_cache = optarg;
      finetune_given = 1;
      break;
    case O_GAIN_COPIES: {
      instrid_error gerr = {0};
      n_gains = gain_copies_parse(optarg, gains_db, &gerr);
      if (n_gains == 0)
        return usage_error("--gain-copies %s: %s", optarg, gerr.message);
      finetune_given = 1;
      break;
    }
    case O_PROVENANCE_NOTE:
      if (strchr(optarg, '\n'))
        return usage_error("--provenance-note: one line, no newline");
      note = optarg;
      break;
    case O_SEED:
      if (!parse_u64(optarg, 0, UINT64_MAX, &u))
        return usage_error("--seed %s: want a non-negative integer", optarg);
      opt.seed = u;
      break;
    case O_THREADS:
      if (!parse_u64(optarg, 1, 1024, &u))
        return usage_error("--threads %s: want an integer 1..1024", optarg);
      opt.threads = (int)u;
      break;
    case O_CACHE:
      cache = optarg;
      break;
    case O_CHECKPOINT:
      checkpoint = optarg;
      break;
    case O_CHECKPOINT_MINUTES:
      if (!parse_double(optarg, 0.0, 1e6, &x))
        return usage_error("--checkpoint-minutes %s: want a number >= 0", optarg);
      opt.checkpoint_minutes = x;
      break;
    case O_RESUME:
      opt.resume = 1;
      break;
    case O_LOSS: {
      int k = train_loss_from_name(optarg);
      if (k < 0)
        return usage_error("--loss %s: want bce, balanced or focal", optarg);
      opt.loss = (train_loss_kind)k;
      loss_given = optarg;
      break;
    }
    case O_FOCAL_GAMMA:
      if (!parse_double(optarg, 0.0, 10.0, &x))
        return usage_error("--focal-gamma %s: want a number in [0, 10]", optarg);
      opt.focal_gamma = (float)x;
      break;
    case O_NO_AUGMENT:
      opt.augment = 0;
      break;
    case O_VAL_FRACTION:
      if (!parse_double(optarg, 0.0, 0.9, &val_fraction))
        return usage_error("--val-fraction %s: want a fraction in [0, 0.9]", optarg);
      break;
    case O_TRAIN_HOP:
      if (!parse_u64(optarg, 1, 65536, &train_hop))
        return usage_error("--train-hop %s: want an integer 1..65536", optarg);
      break;
    case O_MAX_WINDOWS:
      if (!parse_u64(optarg, 0, SIZE_MAX, &u))
        return usage_error("--max-windows %s: want a non-negative integer", optarg);
      opt.max_windows = (size_t)u;
      break;
    case O_MAX_VAL_WINDOWS:
      if (!parse_u64(optarg, 0, SIZE_MAX, &u))
        return usage_error("--max-val-windows %s: want a non-negative integer", optarg);
      opt.max_val_windows = (size_t)u;
      break;
    case O_STOP_AFTER:
      if (!parse_u64(optarg, 0, UINT64_MAX, &u))
        return usage_error("--stop-after-steps %s: want a non-negative integer", optarg);
      opt.stop_after_steps = u;
      break;
    case O_QUIET:
      quiet = 1;
      break;
    case O_HELP:
      usage(stdout);
      return 0;
    case O_VERSION:
      printf(PROG " %s\n", INSTRID_VERSION);
      return 0;
    case ':':
      return usage_error("%s needs a value", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return usage_error("unexpected argument '%s'", argv[optind]);
  if (n_sources == 0)
    return usage_error("no data: give --musicnet, --openmic or a --corpus-* folder");
  if (!out)
    return usage_error("--out MODEL is required");
  {
    /* Fail now, not after hours of training, when the model cannot be written there. */
    char dir[4096];
    const char *slash = strrchr(out, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) + (slash == out) : 1,
             slash ? out : ".");
    if (!is_dir(dir))
      return usage_error("--out %s: folder %s does not exist", out, dir);
    if (is_dir(out))
      return usage_error("--out %s is a folder: give the model file's name", out);
    /* Create (and remove) the very temporary file the model write will use: this catches a
     * folder without write permission, a read-only file system and the like, as root too. */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s.tmp.%ld", out, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      return usage_error("--out %s: cannot create a file there: %s", out, strerror(errno));
    close(fd);
    unlink(probe);
  }
  if (cache && !is_dir(cache))
    return usage_error("--cache %s: no such folder", cache);
  if (init && arch_given)
    return usage_error("--init and --arch exclude each other: the model gives the architecture");
  if (!init && finetune_given)
    return usage_error("--freeze-until, --lr-backbone, --frozen-eval, --keep-source-head, "
                       "--blend-source-head, --head-random, --own-embedding, --embedding-max, "
                       "--head-input, --pool, --distill, --vector-cache and --gain-copies need "
                       "--init");
  if (embedding_max && !fopt.own_embedding)
    return usage_error("--embedding-max needs --own-embedding (the maxima feed the head's own "
                       "copy of the embedding layer)");
  if (embedding_max)
    fopt.own_embedding = FINETUNE_OWN_MEAN_MAX;
  if ((pool >= 0 || distill > 0.0f || vector_cache) && fopt.freeze_until != UINT32_MAX)
    return usage_error("--pool, --distill and --vector-cache need the whole backbone frozen");
  if (n_gains && fopt.freeze_until != UINT32_MAX)
    return usage_error("--gain-copies needs the whole backbone frozen (the head on its cached "
                       "output; training through the network has its own random gain)");
  /* The head trained on cached vectors (headbag.h) has one loss, BCE with the per-class
   * pos_weight of --loss balanced, and no gradient clipping: refuse what it would ignore. */
  if ((pool >= 0 || distill > 0.0f || vector_cache) && loss_given &&
      opt.loss != TRAIN_LOSS_BALANCED)
    return usage_error("--loss %s: the head trained on cached vectors (--pool, --distill, "
                       "--vector-cache) uses balanced BCE only",
                       loss_given);
  if ((pool >= 0 || distill > 0.0f || vector_cache) && clip_given)
    return usage_error("--clip-norm: the head trained on cached vectors (--pool, --distill, "
                       "--vector-cache) clips no gradient");
  if (distill > 0.0f && !fopt.keep_source_head)
    return usage_error("--distill needs --keep-source-head (the teachers are the source's "
                       "outputs)");
  if (frozen_eval && (fopt.freeze_until == UINT32_MAX || fopt.freeze_until == 0))
    return usage_error("--frozen-eval needs --freeze-until N with N > 0 (the frozen layers it "
                       "runs as at inference)");
  if (fopt.own_embedding && !fopt.keep_source_head)
    return usage_error("--own-embedding needs --keep-source-head (without the source's outputs, "
                       "--freeze-until unfreezes the embedding layer itself)");
  if (fopt.own_embedding && fopt.freeze_until != UINT32_MAX)
    return usage_error("--own-embedding and --freeze-until exclude each other: the copy is the "
                       "only layer before the head that trains");
  if (fopt.own_embedding && (pool >= 0 || distill > 0.0f))
    return usage_error("--own-embedding: --pool and --distill train a head that is one DENSE; "
                       "the head with its own embedding layer trains window by window");
  if (fopt.head_input != FINETUNE_INPUT_EMBEDDING && !fopt.keep_source_head)
    return usage_error("--head-input needs --keep-source-head (the embedding layer that passes "
                       "the pool through must keep feeding the source outputs)");
  if (fopt.head_input != FINETUNE_INPUT_EMBEDDING && fopt.freeze_until != UINT32_MAX)
    return usage_error("--head-input and --freeze-until exclude each other: the pool reaches "
                       "the head through frozen layers");
  if (fopt.head_input != FINETUNE_INPUT_EMBEDDING && fopt.own_embedding)
    return usage_error("--head-input and --own-embedding exclude each other: both reshape the "
                       "embedding layer");
  if (unblended_out && fopt.blend < 0.0f)
    return usage_error("--unblended-out needs --blend-source-head");
  if (blend_mode_given && fopt.blend < 0.0f)
    return usage_error("--blend-mode needs --blend-source-head");
  if (standardize && pool < 0 && !(distill > 0.0f))
    return usage_error("--standardize needs --pool or --distill (the head trained on the "
                       "cached vectors)");
  if (blend_loss && !(fopt.blend > 0.0f))
    return usage_error("--blend-loss needs --blend-source-head G with G > 0 (the head's weight "
                       "in the blend it is trained through)");
  if (blend_loss && pool != HEADBAG_POOL_WINDOW && pool != HEADBAG_POOL_MAX)
    return usage_error("--blend-loss needs --pool window or --pool max (the blend is taken at a "
                       "window of the cached vectors)");
  if (fopt.blend >= 0.0f && (!fopt.keep_source_head || fopt.freeze_until != UINT32_MAX))
    return usage_error("--blend-source-head needs --keep-source-head and the whole backbone "
                       "frozen");

  int status = 1;
  instrid_error err = {0};
  instrid_arch *arch = NULL;
  train_dataset *ds = NULL;
  trainer *t = NULL;
  char *provenance = NULL, *checkpoint_owned = NULL;
  instrid_model_desc desc;
  finetune *ft = NULL;
  finetune_cache *fcache = NULL;

  if (init) {
    ft = finetune_new(init, instrid_taxonomy, TAXONOMY_N, &fopt, opt.seed, &err);
    if (!ft) {
      fprintf(stderr, PROG ": --init %s\n", err.message);
      goto done;
    }
    desc = *finetune_arch(ft);
    arch_name = init;
    if (!quiet) {
      uint32_t by_name, by_map, by_random;
      finetune_init_counts(ft, &by_name, &by_map, &by_random);
      fprintf(stderr,
              PROG ": --init %s: %u layers, new head at layer %u with %u outputs (rows: %u by "
                   "class name, %u from the AudioSet map, %u random)%s\n",
              init, desc.n_layers, finetune_head_layer(ft), finetune_n_outputs(ft), by_name, by_map,
              by_random,
              finetune_split(ft) ? "; backbone frozen: the head trains on its output" : "");
    }
  } else {
    if (instrid_arch_build(arch_name, TAXONOMY_N, opt.seed, NULL, &arch, &err) != INSTRID_OK) {
      status = 2; /* an unknown --arch is a command-line error */
      fprintf(stderr, PROG ": --arch: %s\n", err.message);
      goto done;
    }
    for (uint32_t k = 0; k < TAXONOMY_N; k++) {
      if (instrid_arch_set_class_name(arch, k, instrid_taxonomy[k], &err) != INSTRID_OK) {
        fprintf(stderr, PROG ": %s\n", err.message);
        goto done;
      }
    }
    desc = *instrid_arch_desc(arch);
  }

  dataset_options dopt = {
      .window_frames = desc.window_frames,
      .hop_frames =
          train_hop ? (uint32_t)train_hop : (desc.window_frames / 2 ? desc.window_frames / 2 : 1),
      .val_fraction = (float)val_fraction,
      .seed = opt.seed,
      .cache_dir = cache,
      .verbose = !quiet,
      /* --threads defaults to the core count, which may exceed what decoding takes. */
      .decode_threads =
          opt.threads < DATASET_MAX_DECODE_THREADS ? opt.threads : DATASET_MAX_DECODE_THREADS,
  };
  ds = train_dataset_open(sources, n_sources, &desc.frontend, &dopt, &err);
  if (!ds) {
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  /* The network should see unit-scale input whatever the data: the front end's normalisation
   * comes from the training split itself (never from validation or evaluation audio). A model
   * to fine-tune keeps its own. */
  if (!init) {
    float mean, std;
    if (train_dataset_feature_moments(ds, &mean, &std, &err) != INSTRID_OK) {
      fprintf(stderr, PROG ": %s\n", err.message);
      goto done;
    }
    instrid_frontend_params *fe = instrid_arch_frontend(arch);
    fe->feature_mean = mean;
    fe->feature_std = std > 1e-3f ? std : 1.0f;
    desc = *instrid_arch_desc(arch);
    if (train_dataset_set_normalization(ds, fe->feature_mean, fe->feature_std, &err) !=
        INSTRID_OK) {
      fprintf(stderr, PROG ": %s\n", err.message);
      goto done;
    }
    if (!quiet)
      fprintf(stderr, PROG ": feature normalisation from the training split: mean %.3f, std %.3f\n",
              fe->feature_mean, fe->feature_std);
  }
  const dataset_stats *stats = train_dataset_stats(ds);

  if (!checkpoint) {
    size_t n = strlen(out) + 6;
    checkpoint_owned = malloc(n);
    if (!checkpoint_owned) {
      fprintf(stderr, PROG ": out of memory\n");
      goto done;
    }
    snprintf(checkpoint_owned, n, "%s.ckpt", out);
    checkpoint = checkpoint_owned;
  }
  opt.checkpoint_path = checkpoint;
  progress_state ps = {isatty(STDERR_FILENO), quiet, 0, desc.class_names};
  opt.progress = on_progress;
  opt.progress_ctx = &ps;
  opt.progress_seconds = ps.tty ? 0.5 : 30.0;

  example_source src = example_source_from_dataset(ds);
  instrid_model_desc train_desc = desc;
  if (ft && finetune_split(ft)) {
    /* Frozen backbone: its output once per window, then the head alone. */
    if (n_gains) {
      /* every training window again at each gain: the copies join the training split */
      if (gain_copies_init(&gc, &src, &desc.frontend, desc.frontend.n_mels, desc.window_frames,
                           gains_db, n_gains, &err) != INSTRID_OK) {
        fprintf(stderr, PROG ": --gain-copies: %s\n", err.message);
        goto done;
      }
      src = gain_copies_source(&gc);
    }
    if (!quiet)
      fprintf(stderr, PROG ": computing the frozen backbone's output for %zu windows\n",
              src.count(src.ctx, DATASET_TRAIN) + src.count(src.ctx, DATASET_VAL));
    progress_state cps = {isatty(STDERR_FILENO), quiet, 0, desc.class_names};
    fcache = finetune_cache_new_file(ft, &src, opt.threads, on_cache_progress, &cps, vector_cache,
                                     gain_copies_key(&gc), &err);
    if (!fcache) {
      fprintf(stderr, PROG ": %s\n", err.message);
      goto done;
    }
    if (pool >= 0 || distill > 0.0f) {
      status = run_headbag(argc, argv, sources, n_sources, stats, arch_name, &opt, &desc, ft, &fopt,
                           fcache, pool, distill, blend_loss, standardize, out, unblended_out,
                           checkpoint, &gc, note, quiet);
      goto done;
    }
    src = finetune_cache_source(fcache);
    train_desc = *finetune_head_arch(ft);
    opt.lr_scale = finetune_head_lr_scale(ft);
    opt.augment = 0; /* nothing to augment on vectors */
  } else if (pool >= 0 || distill > 0.0f || vector_cache || n_gains) {
    fprintf(stderr, PROG ": --pool, --distill, --vector-cache and --gain-copies need a backbone "
                         "frozen up to a vector\n");
    goto done;
  } else if (ft) {
    src = finetune_wrap_source(ft, &src);
    opt.lr_scale = finetune_lr_scale(ft);
    if (frozen_eval)
      opt.frozen_prefix = finetune_frozen_layers(ft);
  }
  t = trainer_new(&train_desc, &src, &opt, &err);
  if (!t) {
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  if (!quiet)
    fprintf(stderr,
            PROG ": arch %s (%zu parameters, %.1f MFLOP/window), %zu train / %zu validation "
                 "windows, batch %u, %u epochs, %d threads\n",
            arch_name, train_net_n_params(trainer_net(t)),
            train_net_flops_per_example(trainer_net(t)) / 1e6, trainer_n_train(t), trainer_n_val(t),
            opt.batch, opt.epochs, opt.threads);
  if (trainer_run(t, &err) != INSTRID_OK) {
    if (ps.line_open)
      fputc('\n', stderr);
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  if (ps.line_open)
    fputc('\n', stderr);
  if (trainer_stopped(t)) {
    fprintf(stderr, PROG ": stopped after %llu steps as asked; checkpoint in %s\n",
            (unsigned long long)trainer_steps_done(t), checkpoint);
    status = 0;
    goto done;
  }
  provenance = make_provenance(argc, argv, sources, n_sources, stats, t, arch_name, &opt, &desc, ft,
                               &fopt, NULL, NULL, &gc, note);
  if (!provenance) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  if (ft) {
    instrid_model_desc trained;
    train_net_desc(trainer_net(t), &trained);
    int split = finetune_split(ft) != 0;
    const float *th = trainer_thresholds(t);
    float blend_th[TAXONOMY_N];
    if (fopt.blend >= 0.0f && apply_blend(ft, fcache, trained.params, fopt.blend, fopt.blend_mode,
                                          unblended_out, quiet, &provenance, &th, blend_th) != 0)
      goto done;
    if (finetune_write(ft, split ? trained.params : NULL, split ? NULL : trained.params, th,
                       provenance, out, &err) != INSTRID_OK) {
      fprintf(stderr, PROG ": %s\n", err.message);
      goto done;
    }
  } else if (trainer_write_model(t, out, provenance, &err) != INSTRID_OK) {
    fprintf(stderr, PROG ": %s\n", err.message);
    goto done;
  }
  print_summary(stdout, t, &desc, stats, ft ? TAXONOMY_N : desc.n_classes);
  printf("model written to %s\n", out);
  status = 0;

done:
  free(provenance);
  free(checkpoint_owned);
  trainer_free(t);
  finetune_cache_free(fcache);
  finetune_free(ft);
  train_dataset_free(ds);
  instrid_arch_free(arch);
  return status;
}
