/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c — instrid-eval: runs the instridentify element over every file of a labelled set
 * (filesrc ! decodebin ! audioconvert ! instridentify ! fakesink, the summary message's
 * probabilities) and reports per-class AP, precision, recall and F1 at the model's thresholds,
 * mAP, macro- and micro-F1 and the most frequent confusions, as text, JSON or an SVG chart;
 * with --bootstrap, how far those figures move when the set is drawn again, and with --compare,
 * a second model's figures on the same files and how sure the set is of the difference.
 */
#include <errno.h>
#include <getopt.h>
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "dataset.h"
#include "readers.h"
#include "recording.h"
#include "evalmetrics.h"
#include "instrid.h"
#include "toolutil.h"

/* A MusicNet class counts as playing in a file from this much sounding time (the reader's
 * per-window minimum, applied to the whole file). */
#define MUSICNET_FILE_MIN_S 0.1

typedef struct {
  char *path;
  float *target, *mask; /* (n_classes) over the model's classes */
} eval_item;

typedef struct {
  eval_item *items;
  size_t n, cap;
} eval_set;

static void set_free(eval_set *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->items[i].path);
    free(s->items[i].target);
    free(s->items[i].mask);
  }
  free(s->items);
  memset(s, 0, sizeof(*s));
}

static eval_item *set_push(eval_set *s, const char *path, size_t n_classes)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    eval_item *p = realloc(s->items, cap * sizeof(eval_item));
    if (!p)
      return NULL;
    s->items = p;
    s->cap = cap;
  }
  eval_item *it = &s->items[s->n];
  it->path = strdup(path);
  it->target = calloc(n_classes, sizeof(float));
  it->mask = calloc(n_classes, sizeof(float));
  if (!it->path || !it->target || !it->mask) {
    free(it->path);
    free(it->target);
    free(it->mask);
    return NULL;
  }
  s->n++;
  return it;
}

static int model_class(const instrid_model *m, const char *name)
{
  for (uint32_t k = 0; k < instrid_model_n_classes(m); k++)
    if (strcmp(instrid_model_class_name(m, k), name) == 0)
      return (int)k;
  return -1;
}

/* `path,labels[,kind,note]`: labels separated by ';', paths relative to the CSV. Every model
 * class is known for every file (the set says everything that plays). */
static int load_csv_set(const char *csv_path, const instrid_model *m, eval_set *set, char *errbuf,
                        size_t errlen)
{
  instrid_error err = {0};
  csv_reader *csv = csv_open(csv_path, &err);
  if (!csv) {
    snprintf(errbuf, errlen, "%s", err.message);
    return -1;
  }
  size_t nc = instrid_model_n_classes(m);
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", csv_path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[1] = '\0';
  else
    dir[0] = '\0';
  int r = csv_next(csv, &err);
  if (r < 0) {
    snprintf(errbuf, errlen, "%s", err.message);
    csv_close(csv);
    return -1;
  }
  if (r != 1 || csv_n_fields(csv) < 2 || strcmp(csv_field(csv, 0), "path") != 0 ||
      strcmp(csv_field(csv, 1), "labels") != 0) {
    snprintf(errbuf, errlen, "%s: line 1: the header must begin with path,labels", csv_path);
    csv_close(csv);
    return -1;
  }
  while ((r = csv_next(csv, &err)) == 1) {
    if (csv_n_fields(csv) < 2) {
      snprintf(errbuf, errlen, "%s: line %zu: expected path,labels", csv_path, csv_line(csv));
      csv_close(csv);
      return -1;
    }
    char path[8192];
    const char *p = csv_field(csv, 0);
    snprintf(path, sizeof(path), "%s%s", p[0] == '/' ? "" : dir, p);
    eval_item *it = set_push(set, path, nc);
    if (!it) {
      snprintf(errbuf, errlen, "out of memory");
      csv_close(csv);
      return -1;
    }
    for (size_t k = 0; k < nc; k++)
      it->mask[k] = 1.0f;
    char labels[4096];
    snprintf(labels, sizeof(labels), "%s", csv_field(csv, 1));
    char *save = NULL;
    for (char *tok = strtok_r(labels, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
      /* "piano; drums " names piano and drums: spaces around a name are not part of it. */
      while (*tok == ' ' || *tok == '\t')
        tok++;
      for (char *end = tok + strlen(tok); end > tok && (end[-1] == ' ' || end[-1] == '\t');)
        *--end = '\0';
      if (*tok == '\0')
        continue;
      int k = model_class(m, tok);
      if (k < 0) {
        snprintf(errbuf, errlen, "%s: line %zu: '%s' is not one of the model's classes", csv_path,
                 csv_line(csv), tok);
        csv_close(csv);
        return -1;
      }
      it->target[k] = 1.0f;
    }
  }
  csv_close(csv);
  if (r < 0) {
    snprintf(errbuf, errlen, "%s", err.message);
    return -1;
  }
  return 0;
}

/* MusicNet or OpenMIC tree, through the trainer's own readers (same targets and masks). */
static int load_tree(const char *root, dataset_kind kind, int all_splits, const instrid_model *m,
                     eval_set *set, char *errbuf, size_t errlen)
{
  dataset_options o = {.window_frames = 1, .hop_frames = 1, .val_fraction = 0.2, .seed = 1};
  recording_list list = {0};
  dataset_stats stats = {0};
  instrid_error err = {0};
  instrid_status st = kind == DATASET_MUSICNET ? musicnet_read(root, &o, &list, &stats, &err)
                                               : openmic_read(root, &o, &list, &stats, &err);
  if (st != INSTRID_OK) {
    snprintf(errbuf, errlen, "%s", err.message);
    recording_list_clear(&list);
    return -1;
  }
  size_t nc = instrid_model_n_classes(m);
  int to_model[TAXONOMY_N];
  for (int c = 0; c < TAXONOMY_N; c++)
    to_model[c] = model_class(m, instrid_taxonomy[c]);
  for (size_t i = 0; i < list.n; i++) {
    const dataset_recording *rec = &list.items[i];
    if (!all_splits && rec->split != DATASET_VAL)
      continue;
    eval_item *it = set_push(set, rec->audio_path, nc);
    if (!it) {
      snprintf(errbuf, errlen, "out of memory");
      recording_list_clear(&list);
      return -1;
    }
    /* model classes outside the taxonomy stay unknown (mask 0) */
    for (int c = 0; c < TAXONOMY_N; c++) {
      int k = to_model[c];
      if (k < 0)
        continue;
      if (kind == DATASET_OPENMIC) {
        it->mask[k] = (rec->mask_bits >> c) & 1u ? 1.0f : 0.0f;
        it->target[k] = (rec->target_bits >> c) & 1u ? 1.0f : 0.0f;
      } else {
        double s = 0;
        for (uint32_t j = rec->class_start[c]; j < rec->class_start[c + 1]; j++)
          s += rec->intervals[j].end_s - rec->intervals[j].start_s;
        it->mask[k] = 1.0f;
        it->target[k] = s >= MUSICNET_FILE_MIN_S ? 1.0f : 0.0f;
      }
    }
  }
  recording_list_clear(&list);
  return 0;
}

/* Runs the element over one file; fills probs (model order) from the summary message.
 * Returns 0, or -1 with a one-line reason. */
static int identify_file(const char *path, const char *model_path, const instrid_model *m,
                         float *probs, char *errbuf, size_t errlen)
{
  GError *perr = NULL;
  GstElement *pipeline = gst_parse_launch(
      "filesrc name=src ! decodebin ! audioconvert ! instridentify name=id ! fakesink sync=false",
      &perr);
  /* A missing element still gives a (partial) pipeline, with the error set. */
  if (!pipeline || perr) {
    if (pipeline)
      gst_object_unref(pipeline);
    snprintf(errbuf, errlen,
             "cannot build the pipeline (%s); is GST_PLUGIN_PATH set to the "
             "directory of the instrid plugin?",
             perr ? perr->message : "?");
    g_clear_error(&perr);
    return -2;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *id = gst_bin_get_by_name(GST_BIN(pipeline), "id");
  g_object_set(src, "location", path, NULL);
  g_object_set(id, "model-location", model_path, NULL);
  gst_object_unref(src);
  gst_object_unref(id);
  GstBus *bus = gst_element_get_bus(pipeline);
  int rc = -1, have = 0;
  snprintf(errbuf, errlen, "%.400s: no summary from the element", path);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    snprintf(errbuf, errlen, "%.400s: cannot start the pipeline", path);
  for (;;) {
    /* Any message counts as progress; a pipeline silent for a minute (a demuxer stopped on a
     * damaged file) is given up so that the rest of the set is still scored. */
    GstMessage *msg = gst_bus_timed_pop(bus, 60 * GST_SECOND);
    if (!msg) {
      snprintf(errbuf, errlen, "%.400s: the pipeline stalled (no message for 60 s)", path);
      break;
    }
    GstMessageType type = GST_MESSAGE_TYPE(msg);
    if (type == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error(msg, &e, NULL);
      snprintf(errbuf, errlen, "%.400s: %s", path, e ? e->message : "error");
      g_clear_error(&e);
      gst_message_unref(msg);
      break;
    }
    if (type == GST_MESSAGE_EOS) {
      gst_message_unref(msg);
      rc = have ? 0 : -1;
      break;
    }
    const GstStructure *s = gst_message_get_structure(msg);
    if (s && gst_structure_has_name(s, "instridentify-summary")) {
      const GValue *labels = gst_structure_get_value(s, "labels");
      const GValue *values = gst_structure_get_value(s, "probabilities");
      if (labels && values && GST_VALUE_HOLDS_ARRAY(labels) && GST_VALUE_HOLDS_ARRAY(values) &&
          gst_value_array_get_size(labels) == gst_value_array_get_size(values)) {
        for (uint32_t k = 0; k < instrid_model_n_classes(m); k++)
          probs[k] = NAN;
        for (guint i = 0; i < gst_value_array_get_size(labels); i++) {
          const GValue *lv = gst_value_array_get_value(labels, i);
          const GValue *pv = gst_value_array_get_value(values, i);
          int k = G_VALUE_HOLDS_STRING(lv) ? model_class(m, g_value_get_string(lv)) : -1;
          if (k >= 0 && G_VALUE_HOLDS_DOUBLE(pv))
            probs[k] = (float)g_value_get_double(pv);
        }
        have = 1;
        for (uint32_t k = 0; k < instrid_model_n_classes(m); k++)
          have = have && !isnan(probs[k]);
        if (!have)
          snprintf(errbuf, errlen, "%.400s: the summary's labels do not match the model", path);
      }
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return rc;
}

/* ---- output ---------------------------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, "%.6g", v);
}

static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", (unsigned char)*s);
    else
      fputc(*s, f);
  }
  fputc('"', f);
}

static void print_text(FILE *f, const eval_report *r, const instrid_model *m, size_t max_conf)
{
  fprintf(f, "%-18s %6s %6s %6s %6s %6s %9s\n", "class", "AP", "P", "R", "F1", "thr", "pos/known");
  for (size_t k = 0; k < r->n_classes; k++) {
    if (r->n_positive[k] == 0)
      continue;
    fprintf(f, "%-18s %6.3f ", instrid_model_class_name(m, (uint32_t)k), r->ap[k]);
    if (isnan(r->precision[k]))
      fprintf(f, "%6s ", "-");
    else
      fprintf(f, "%6.3f ", r->precision[k]);
    fprintf(f, "%6.3f %6.3f %6.2f %4zu/%-4zu\n", r->recall[k], r->f1[k],
            (double)instrid_model_threshold(m, (uint32_t)k), r->n_positive[k], r->n_known[k]);
  }
  fprintf(f, "mAP %.3f, macro-F1 %.3f, micro-F1 %.3f over %zu classes with a known positive\n",
          r->map, r->macro_f1, r->micro_f1, r->n_defined);
  if (r->n_defined < r->n_classes) {
    fprintf(f, "excluded (no known positive):");
    for (size_t k = 0; k < r->n_classes; k++)
      if (r->n_positive[k] == 0)
        fprintf(f, " %s", instrid_model_class_name(m, (uint32_t)k));
    fputc('\n', f);
  }
  if (r->n_confusions) {
    fprintf(f, "most frequent confusions (false alarm <- class really playing):\n");
    for (size_t i = 0; i < r->n_confusions && i < max_conf; i++)
      fprintf(f, "  %-18s <- %-18s %zu\n",
              instrid_model_class_name(m, (uint32_t)r->confusions[i].predicted),
              instrid_model_class_name(m, (uint32_t)r->confusions[i].truth),
              r->confusions[i].count);
  }
}

/* What --bootstrap and --compare add to the report (NULL members: not asked for). */
typedef struct {
  const eval_interval *alone;  /* --bootstrap: model A's own intervals */
  const eval_report *b;        /* --compare: model B's figures */
  const char *b_path;          /* its file */
  const eval_interval *paired; /* --compare with --bootstrap: B minus A */
} eval_extras;

static void print_extras_text(FILE *f, const eval_extras *x, const eval_report *a)
{
  if (x->alone)
    fprintf(f,
            "bootstrap over the %zu files (%zu draws): mAP 90%% interval %.3f-%.3f, macro-F1 "
            "%.3f-%.3f\n",
            a->n_examples, x->alone->used, x->alone->map_lo, x->alone->map_hi,
            x->alone->macro_f1_lo, x->alone->macro_f1_hi);
  if (x->b)
    fprintf(f, "compared: %s: mAP %.3f (%+.3f), macro-F1 %.3f (%+.3f), micro-F1 %.3f (%+.3f)\n",
            x->b_path, x->b->map, x->b->map - a->map, x->b->macro_f1, x->b->macro_f1 - a->macro_f1,
            x->b->micro_f1, x->b->micro_f1 - a->micro_f1);
  if (x->paired)
    fprintf(f,
            "compared, paired bootstrap (%zu draws): mAP difference 90%% interval %+.3f to %+.3f, "
            "macro-F1 %+.3f to %+.3f; the compared model's mAP higher in %.0f%% of the draws\n",
            x->paired->used, x->paired->map_lo, x->paired->map_hi, x->paired->macro_f1_lo,
            x->paired->macro_f1_hi, 100.0 * x->paired->p_better);
}

static void json_pair(FILE *f, const char *name, double lo, double hi)
{
  fprintf(f, "\"%s\": [", name);
  json_num(f, lo);
  fputs(", ", f);
  json_num(f, hi);
  fputc(']', f);
}

/* `"name": {"draws": .., "used": .., "map<suffix>": [lo, hi], "macro_f1<suffix>": [lo, hi]`, the
 * object left open. */
static void json_interval(FILE *f, const char *name, const eval_interval *iv, const char *suffix)
{
  char key[64];
  fprintf(f, "\"%s\": {\"draws\": %zu, \"used\": %zu, ", name, iv->resamples, iv->used);
  snprintf(key, sizeof(key), "map%s", suffix);
  json_pair(f, key, iv->map_lo, iv->map_hi);
  snprintf(key, sizeof(key), "macro_f1%s", suffix);
  fputs(", ", f);
  json_pair(f, key, iv->macro_f1_lo, iv->macro_f1_hi);
}

static void print_extras_json(FILE *f, const eval_extras *x)
{
  if (x->alone) {
    fputs(",\n ", f);
    json_interval(f, "bootstrap", x->alone, "_90");
    fputc('}', f);
  }
  if (x->b) {
    fprintf(f, ",\n \"compare\": {\"model\": ");
    json_str(f, x->b_path);
    fprintf(f, ", \"map\": ");
    json_num(f, x->b->map);
    fprintf(f, ", \"macro_f1\": ");
    json_num(f, x->b->macro_f1);
    fprintf(f, ", \"micro_f1\": ");
    json_num(f, x->b->micro_f1);
    fprintf(f, ", \"ap\": [");
    for (size_t k = 0; k < x->b->n_classes; k++) {
      fputs(k ? ", " : "", f);
      json_num(f, x->b->ap[k]);
    }
    fputc(']', f);
    if (x->paired) {
      fputs(", ", f);
      json_interval(f, "paired_bootstrap", x->paired, "_difference_90");
      fprintf(f, ", \"p_better\": ");
      json_num(f, x->paired->p_better);
      fputc('}', f);
    }
    fputc('}', f);
  }
}

static void print_json(FILE *f, const eval_report *r, const instrid_model *m, const char *model,
                       const char *set_name, size_t n_files, size_t n_unreadable, size_t max_conf,
                       const eval_extras *x)
{
  fprintf(f, "{\"model\": ");
  json_str(f, model);
  fprintf(f, ", \"set\": ");
  json_str(f, set_name);
  fprintf(f, ", \"files\": %zu, \"evaluated\": %zu, \"unreadable\": %zu,\n \"classes\": [", n_files,
          r->n_examples, n_unreadable);
  for (size_t k = 0; k < r->n_classes; k++) {
    fprintf(f, "%s\n  {\"name\": ", k ? "," : "");
    json_str(f, instrid_model_class_name(m, (uint32_t)k));
    fprintf(f, ", \"ap\": ");
    json_num(f, r->ap[k]);
    fprintf(f, ", \"precision\": ");
    json_num(f, r->precision[k]);
    fprintf(f, ", \"recall\": ");
    json_num(f, r->recall[k]);
    fprintf(f, ", \"f1\": ");
    json_num(f, r->f1[k]);
    fprintf(f, ", \"threshold\": ");
    json_num(f, instrid_model_threshold(m, (uint32_t)k));
    fprintf(f,
            ", \"positives\": %zu, \"known\": %zu, \"tp\": %zu, \"fp\": %zu, \"fn\": %zu, "
            "\"excluded\": %s}",
            r->n_positive[k], r->n_known[k], r->tp[k], r->fp[k], r->fn[k],
            r->n_positive[k] ? "false" : "true");
  }
  fprintf(f, "],\n \"map\": ");
  json_num(f, r->map);
  fprintf(f, ", \"macro_f1\": ");
  json_num(f, r->macro_f1);
  fprintf(f, ", \"micro_f1\": ");
  json_num(f, r->micro_f1);
  fprintf(f, ", \"classes_defined\": %zu,\n \"confusions\": [", r->n_defined);
  for (size_t i = 0; i < r->n_confusions && i < max_conf; i++) {
    fprintf(f, "%s{\"true\": ", i ? ", " : "");
    json_str(f, instrid_model_class_name(m, (uint32_t)r->confusions[i].truth));
    fprintf(f, ", \"predicted\": ");
    json_str(f, instrid_model_class_name(m, (uint32_t)r->confusions[i].predicted));
    fprintf(f, ", \"count\": %zu}", r->confusions[i].count);
  }
  fputc(']', f);
  print_extras_json(f, x);
  fprintf(f, "}\n");
}

/* Horizontal bars of per-class AP, with the mAP as a dashed line. */
static int write_svg(const char *path, const eval_report *r, const instrid_model *m,
                     const char *title)
{
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  const int row = 22, left = 150, width = 420, top = 40;
  int h = top + row * (int)r->n_defined + 40;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n",
          left + width + 80, h);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">");
  for (const char *s = title; *s; s++) { /* escape for XML */
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else
      fputc(*s, f);
  }
  fprintf(f, " — per-class AP (mAP %.3f)</text>\n", r->map);
  int y = top;
  for (size_t k = 0; k < r->n_classes; k++) {
    if (r->n_positive[k] == 0)
      continue;
    double ap = r->ap[k];
    int w = (int)lround(ap * width);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 6, y + 15,
            instrid_model_class_name(m, (uint32_t)k));
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#4682b4\"/>\n", left,
            y + 3, w, row - 6);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.2f</text>\n", left + w + 4, y + 15, ap);
    y += row;
  }
  int mx = left + (int)lround(r->map * width);
  fprintf(f,
          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" "
          "stroke-dasharray=\"4 3\"/>\n",
          mx, top, mx, y);
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, top, left,
          y);
  for (int t = 0; t <= 4; t++)
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.2f</text>\n", left + t * width / 4,
            y + 16, t / 4.0);
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : -1;
}

static void usage(FILE *f)
{
  fprintf(
      f,
      "Usage: instrid-eval --model FILE (--csv FILE | --musicnet DIR | --openmic DIR) [OPTION]...\n"
      "Runs the instridentify element (filesrc ! decodebin ! audioconvert ! instridentify ! "
      "fakesink)\n"
      "over every file of a labelled set and reports, from each file's instridentify-summary\n"
      "message, per-class AP, precision, recall and F1 at the model's thresholds, mAP, macro- and\n"
      "micro-F1 and the most frequent confusions. Classes with no known positive in the set are\n"
      "excluded from the means and listed; OpenMIC's unknown (clip, class) pairs are masked out.\n"
      "\n"
      "  --model FILE      the model (.instrid) the element loads\n"
      "  --csv FILE        a CSV with header path,labels[,kind,note]: labels separated by ';', "
      "paths\n"
      "                    relative to the CSV; every class is known for every file\n"
      "  --musicnet DIR    a MusicNet tree (test_data, or a seeded 20%% of recordings without "
      "it);\n"
      "                    a class plays in a file when its notes sound at least 0.1 s\n"
      "  --openmic DIR     an OpenMIC-2018 tree (split01_test)\n"
      "  --all             every recording of the tree, not only its test split\n"
      "  --max-files N     only the first N files\n"
      "  --json            the report as JSON on stdout\n"
      "  --svg FILE        a bar chart of per-class AP\n"
      "  --confusions N    confusions listed (default 10)\n"
      "  --bootstrap N     also N draws of the files with replacement (seeded: the same figures\n"
      "                    every run), and the 90%% interval of mAP and macro-F1 over them: how\n"
      "                    far the figures would move on another set of this size (100..100000)\n"
      "  --compare FILE    a second model (the same classes) over the same files: its figures and\n"
      "                    their difference; with --bootstrap, the paired interval of the\n"
      "                    difference and the share of draws where FILE's mAP is higher\n"
      "  --quiet           no progress on stderr\n"
      "  --help            this text\n"
      "  --version         the version\n"
      "The element must be findable: GST_PLUGIN_PATH=<build>/gst-plugin when not installed.\n"
      "Unreadable files are reported one line each on stderr, counted, and left out. Exit status:\n"
      "0 when at least one file was evaluated, 1 otherwise, 2 for a usage error.\n");
}

/* A whole number from min up, with nothing after it. */
static int parse_count(const char *s, long min, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || v < min)
    return 0;
  *out = v;
  return 1;
}

int main(int argc, char **argv)
{
  enum {
    O_MODEL = 256,
    O_CSV,
    O_MUSICNET,
    O_OPENMIC,
    O_ALL,
    O_MAX,
    O_JSON,
    O_SVG,
    O_CONF,
    O_BOOT,
    O_COMPARE,
    O_QUIET,
    O_HELP,
    O_VERSION
  };
  static const struct option longopts[] = {{"model", required_argument, 0, O_MODEL},
                                           {"csv", required_argument, 0, O_CSV},
                                           {"musicnet", required_argument, 0, O_MUSICNET},
                                           {"openmic", required_argument, 0, O_OPENMIC},
                                           {"all", no_argument, 0, O_ALL},
                                           {"max-files", required_argument, 0, O_MAX},
                                           {"json", no_argument, 0, O_JSON},
                                           {"svg", required_argument, 0, O_SVG},
                                           {"confusions", required_argument, 0, O_CONF},
                                           {"bootstrap", required_argument, 0, O_BOOT},
                                           {"compare", required_argument, 0, O_COMPARE},
                                           {"quiet", no_argument, 0, O_QUIET},
                                           {"help", no_argument, 0, O_HELP},
                                           {"version", no_argument, 0, O_VERSION},
                                           {0, 0, 0, 0}};
  const char *model_path = NULL, *csv = NULL, *mn = NULL, *om = NULL, *svg = NULL;
  const char *compare_path = NULL;
  int all = 0, json = 0, quiet = 0, opt;
  long max_files = -1, max_conf = 10, boot = 0;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case O_MODEL:
      model_path = optarg;
      break;
    case O_CSV:
      csv = optarg;
      break;
    case O_MUSICNET:
      mn = optarg;
      break;
    case O_OPENMIC:
      om = optarg;
      break;
    case O_ALL:
      all = 1;
      break;
    case O_MAX:
      if (!parse_count(optarg, 1, &max_files)) {
        fprintf(stderr, "instrid-eval: bad value '%s' for --max-files (a whole number >= 1)\n",
                optarg);
        return 2;
      }
      break;
    case O_JSON:
      json = 1;
      break;
    case O_SVG:
      svg = optarg;
      break;
    case O_CONF:
      if (!parse_count(optarg, 0, &max_conf)) {
        fprintf(stderr, "instrid-eval: bad value '%s' for --confusions (a whole number >= 0)\n",
                optarg);
        return 2;
      }
      break;
    case O_BOOT:
      if (!parse_count(optarg, 100, &boot) || boot > 100000) {
        fprintf(stderr,
                "instrid-eval: bad value '%s' for --bootstrap (a whole number of draws, "
                "100..100000)\n",
                optarg);
        return 2;
      }
      break;
    case O_COMPARE:
      compare_path = optarg;
      break;
    case O_QUIET:
      quiet = 1;
      break;
    case O_HELP:
      usage(stdout);
      return 0;
    case O_VERSION:
      instrid_tool_print_version("instrid-eval");
      return 0;
    default:
      fprintf(stderr, "instrid-eval: see --help\n");
      return 2;
    }
  }
  if (!model_path || (!!csv + !!mn + !!om) != 1 || optind != argc) {
    fprintf(stderr, "instrid-eval: need --model and exactly one of --csv, --musicnet, --openmic "
                    "(see --help)\n");
    return 2;
  }
  gst_init(&argc, &argv);
  if (!instrid_tool_find_element()) { /* the installed plugin too */
    fprintf(stderr, "instrid-eval: the instridentify element is not installed (set "
                    "GST_PLUGIN_PATH to the folder holding libgstinstrid.so)\n");
    return 2;
  }
  instrid_error ierr = {0};
  instrid_model *m = instrid_model_load(model_path, &ierr);
  if (!m) {
    /* libinstrid's messages name the file already; say it once. */
    if (strstr(ierr.message, model_path) != NULL)
      fprintf(stderr, "instrid-eval: %s\n", ierr.message);
    else
      fprintf(stderr, "instrid-eval: %s: %s\n", model_path, ierr.message);
    return 1;
  }
  size_t nc = instrid_model_n_classes(m);
  instrid_model *mb = NULL;
  if (compare_path) {
    mb = instrid_model_load(compare_path, &ierr);
    int same = mb && instrid_model_n_classes(mb) == nc;
    for (size_t k = 0; same && k < nc; k++)
      same = strcmp(instrid_model_class_name(m, (uint32_t)k),
                    instrid_model_class_name(mb, (uint32_t)k)) == 0;
    if (!same) {
      if (!mb && strstr(ierr.message, compare_path) != NULL) /* named already: say it once */
        fprintf(stderr, "instrid-eval: --compare: %s\n", ierr.message);
      else if (!mb)
        fprintf(stderr, "instrid-eval: --compare %s: %s\n", compare_path, ierr.message);
      else
        fprintf(stderr,
                "instrid-eval: --compare %s: its classes are not those of %s (a comparison "
                "needs the same classes in the same order)\n",
                compare_path, model_path);
      instrid_model_free(mb);
      instrid_model_free(m);
      return 1;
    }
  }
  eval_set set = {0};
  char err[1024];
  const char *set_name = csv ? csv : mn ? mn : om;
  int rc = csv ? load_csv_set(csv, m, &set, err, sizeof(err))
               : load_tree(mn ? mn : om, mn ? DATASET_MUSICNET : DATASET_OPENMIC, all, m, &set, err,
                           sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "instrid-eval: %s\n", err);
    instrid_model_free(mb);
    instrid_model_free(m);
    set_free(&set);
    return 1;
  }
  size_t n = set.n;
  if (max_files > 0 && (size_t)max_files < n)
    n = (size_t)max_files;
  float *scores = malloc((n ? n : 1) * nc * sizeof(float));
  float *targets = malloc((n ? n : 1) * nc * sizeof(float));
  float *mask = malloc((n ? n : 1) * nc * sizeof(float));
  float *thresholds = malloc(nc * sizeof(float));
  float *scores_b = mb ? malloc((n ? n : 1) * nc * sizeof(float)) : NULL;
  float *thresholds_b = mb ? malloc(nc * sizeof(float)) : NULL;
  if (!scores || !targets || !mask || !thresholds || (mb && (!scores_b || !thresholds_b))) {
    fprintf(stderr, "instrid-eval: out of memory\n");
    return 1;
  }
  for (size_t k = 0; k < nc; k++) {
    thresholds[k] = instrid_model_threshold(m, (uint32_t)k);
    if (mb)
      thresholds_b[k] = instrid_model_threshold(mb, (uint32_t)k);
  }
  size_t ok = 0, unreadable = 0;
  int fatal = 0;
  for (size_t i = 0; i < n && !fatal; i++) {
    int r = identify_file(set.items[i].path, model_path, m, scores + ok * nc, err, sizeof(err));
    if (r == -2) { /* no element at all: every file would fail the same way */
      fprintf(stderr, "instrid-eval: %s\n", err);
      fatal = 1;
      break;
    }
    if (r == 0 && mb) /* a file counts when both models could read it */
      r = identify_file(set.items[i].path, compare_path, mb, scores_b + ok * nc, err, sizeof(err));
    if (r != 0) {
      fprintf(stderr, "instrid-eval: unreadable: %s\n", err);
      unreadable++;
      continue;
    }
    memcpy(targets + ok * nc, set.items[i].target, nc * sizeof(float));
    memcpy(mask + ok * nc, set.items[i].mask, nc * sizeof(float));
    ok++;
    if (!quiet && (ok % 10 == 0 || i + 1 == n))
      fprintf(stderr, "instrid-eval: %zu/%zu files\n", i + 1, n);
  }
  /* both cleared at the end whatever happened (a failed compute leaves its report cleared) */
  eval_report rep = {0}, rep_b = {0};
  eval_interval alone, paired;
  eval_extras extras = {0};
  int status = 1;
  if (fatal) {
    status = 1;
  } else if (ok == 0) {
    fprintf(stderr, "instrid-eval: no file could be evaluated (%zu unreadable)\n", unreadable);
  } else if (!eval_report_compute(&rep, scores, targets, mask, ok, nc, thresholds) ||
             (mb && !eval_report_compute(&rep_b, scores_b, targets, mask, ok, nc, thresholds_b)) ||
             (boot && !eval_bootstrap(scores, thresholds, NULL, NULL, targets, mask, ok, nc,
                                      (size_t)boot, 1, &alone)) ||
             (mb && boot &&
              !eval_bootstrap(scores, thresholds, scores_b, thresholds_b, targets, mask, ok, nc,
                              (size_t)boot, 1, &paired))) {
    fprintf(stderr, "instrid-eval: out of memory\n");
  } else {
    extras.alone = boot ? &alone : NULL;
    extras.b = mb ? &rep_b : NULL;
    extras.b_path = compare_path;
    extras.paired = mb && boot ? &paired : NULL;
    if (json) {
      print_json(stdout, &rep, m, model_path, set_name, n, unreadable, (size_t)max_conf, &extras);
    } else {
      printf("instrid-eval: %s on %s: %zu files evaluated, %zu unreadable\n", model_path, set_name,
             ok, unreadable);
      print_text(stdout, &rep, m, (size_t)max_conf);
      print_extras_text(stdout, &extras, &rep);
    }
    if (svg && write_svg(svg, &rep, m, set_name) != 0)
      fprintf(stderr, "instrid-eval: %s: cannot write\n", svg);
    else
      status = 0;
  }
  eval_report_clear(&rep);
  eval_report_clear(&rep_b);
  free(scores);
  free(scores_b);
  free(thresholds_b);
  instrid_model_free(mb);
  free(targets);
  free(mask);
  free(thresholds);
  set_free(&set);
  instrid_model_free(m);
  return status;
}
