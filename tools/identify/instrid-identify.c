/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* instrid-identify.c — names the instruments in audio files: runs
 * `filesrc ! decodebin ! audioconvert ! instridentify ! fakesink` on each file and prints a
 * timeline, a per-instrument activity row and a summary (or JSON with --json).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

#include "jsontext.h"
#include "toolutil.h"

#define ACTIVITY_COLUMNS 60
/* Longer intervals than this are surely a mistake (and seconds * GST_SECOND must fit). */
#define MAX_INTERVAL_S 3600

typedef struct {
  GstClockTime start, duration;
  gdouble *probabilities; /* n_labels */
  gchar **instruments;    /* NULL-terminated, most probable first */
} Window;

typedef struct {
  gchar **labels; /* NULL-terminated, model order */
  guint n_labels;
  GArray *windows; /* Window */
  gboolean have_summary;
  Window summary;
  guint64 summary_windows;
  gchar *error;         /* one line, or NULL */
  gboolean model_error; /* the element could not load the model: no file can be analysed */
} FileResult;

typedef struct {
  gchar *model;
  gdouble threshold;
  gdouble interval_s;
  gboolean json;
  gboolean version;
  gint stall_s; /* a pipeline that posts nothing for this long is given up (a damaged file) */
} Options;

/* ------------------------------------------------------------------------------------------ */
/* Reading the element's messages                                                               */

static gchar **strings_from_array(const GValue *array)
{
  guint i, n = array != NULL ? gst_value_array_get_size(array) : 0;
  gchar **out = g_new0(gchar *, n + 1);
  for (i = 0; i < n; i++)
    out[i] = g_value_dup_string(gst_value_array_get_value(array, i));
  return out;
}

static void window_from_structure(const GstStructure *s, guint n_labels, Window *w)
{
  const GValue *probs = gst_structure_get_value(s, "probabilities");
  guint i, n = probs != NULL ? gst_value_array_get_size(probs) : 0;

  w->start = w->duration = GST_CLOCK_TIME_NONE;
  gst_structure_get_uint64(s, "timestamp", &w->start);
  gst_structure_get_uint64(s, "duration", &w->duration);
  w->probabilities = g_new0(gdouble, n_labels);
  for (i = 0; i < n && i < n_labels; i++)
    w->probabilities[i] = g_value_get_double(gst_value_array_get_value(probs, i));
  w->instruments = strings_from_array(gst_structure_get_value(s, "instruments"));
}

static void window_clear(Window *w)
{
  g_free(w->probabilities);
  g_strfreev(w->instruments);
}

static void file_result_clear(FileResult *r)
{
  guint i;
  for (i = 0; r->windows != NULL && i < r->windows->len; i++)
    window_clear(&g_array_index(r->windows, Window, i));
  if (r->windows != NULL)
    g_array_free(r->windows, TRUE);
  if (r->have_summary)
    window_clear(&r->summary);
  g_strfreev(r->labels);
  g_free(r->error);
  memset(r, 0, sizeof *r);
}

/* Runs the pipeline on one file and gathers every message of the element. */
static void analyse_file(const gchar *path, const Options *opt, FileResult *r)
{
  GstElement *pipeline = NULL, *src, *id;
  GstBus *bus = NULL;
  GError *gerr = NULL;
  FILE *f;
  GstMessage *msg;

  memset(r, 0, sizeof *r);
  r->windows = g_array_new(FALSE, TRUE, sizeof(Window));

  /* A plain check first gives the clearest message for the commonest mistake. */
  f = fopen(path, "rb");
  if (f == NULL) {
    r->error = g_strdup(g_strerror(errno));
    return;
  }
  fclose(f);

  pipeline = gst_parse_launch("filesrc name=src ! decodebin ! audioconvert ! "
                              "instridentify name=id ! fakesink sync=false",
                              &gerr);
  if (pipeline == NULL) {
    r->error = g_strdup_printf("cannot build the pipeline: %s", gerr->message);
    g_clear_error(&gerr);
    return;
  }
  src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  id = gst_bin_get_by_name(GST_BIN(pipeline), "id");
  g_object_set(src, "location", path, NULL);
  if (opt->model != NULL)
    g_object_set(id, "model-location", opt->model, NULL);
  if (opt->threshold >= 0.0)
    g_object_set(id, "threshold", opt->threshold, NULL);
  if (opt->interval_s > 0.0)
    g_object_set(id, "interval", (guint64)(opt->interval_s * GST_SECOND), NULL);
  g_object_get(id, "labels", &r->labels, NULL);
  gst_object_unref(src);

  bus = gst_element_get_bus(pipeline);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* The error message on the bus says why. */
  }
  while ((msg = instrid_tool_next_element_message(bus, id, (guint)opt->stall_s, &r->error,
                                                  &r->model_error)) != NULL) {
    const GstStructure *s = gst_message_get_structure(msg);
    if (r->labels == NULL || r->labels[0] == NULL) {
      g_strfreev(r->labels);
      r->labels = strings_from_array(gst_structure_get_value(s, "labels"));
    }
    r->n_labels = g_strv_length(r->labels);
    if (gst_structure_has_name(s, "instridentify")) {
      Window w;
      window_from_structure(s, r->n_labels, &w);
      g_array_append_val(r->windows, w);
    } else if (gst_structure_has_name(s, "instridentify-summary")) {
      if (r->have_summary)
        window_clear(&r->summary);
      window_from_structure(s, r->n_labels, &r->summary);
      gst_structure_get_uint64(s, "windows", &r->summary_windows);
      r->have_summary = TRUE;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(id);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  if (r->error == NULL && !r->have_summary)
    r->error = g_strdup("the stream ended without a result");
  if (r->labels != NULL)
    r->n_labels = g_strv_length(r->labels);
}

/* ------------------------------------------------------------------------------------------ */
/* Terminal output                                                                              */

static void format_time(GstClockTime t, gchar *buf, gsize size)
{
  guint64 s = GST_CLOCK_TIME_IS_VALID(t) ? (t + GST_SECOND / 2) / GST_SECOND : 0;
  if (s >= 3600)
    g_snprintf(buf, size, "%u:%02u:%02u", (guint)(s / 3600), (guint)(s / 60 % 60), (guint)(s % 60));
  else
    g_snprintf(buf, size, "%u:%02u", (guint)(s / 60), (guint)(s % 60));
}

static gboolean same_set(gchar **a, gchar **b)
{
  guint i;
  if (g_strv_length(a) != g_strv_length(b))
    return FALSE;
  for (i = 0; a[i] != NULL; i++)
    if (!g_strv_contains((const gchar *const *)b, a[i]))
      return FALSE;
  return TRUE;
}

static gchar *join_or_none(gchar **names)
{
  return names[0] != NULL ? g_strjoinv(", ", names) : g_strdup("(none)");
}

static GstClockTime window_end(const Window *w)
{
  return w->start + (GST_CLOCK_TIME_IS_VALID(w->duration) ? w->duration : 0);
}

static void print_text(const gchar *path, const FileResult *r)
{
  const guint n = r->windows->len;
  GstClockTime total = r->summary.start + r->summary.duration;
  gchar t0[32], t1[32];
  guint i, k;

  format_time(r->summary.duration, t0, sizeof t0);
  printf("%s  (%s, %u windows)\n", path, t0, n);

  /* Timeline: runs of windows with the same set of instruments, as segments from the first
   * window's start to the next run's start. */
  for (i = 0; i < n;) {
    const Window *first = &g_array_index(r->windows, Window, i);
    GstClockTime end;
    gchar *names;
    guint j = i + 1;
    while (j < n && same_set(first->instruments, g_array_index(r->windows, Window, j).instruments))
      j++;
    end = j < n ? g_array_index(r->windows, Window, j).start
                : window_end(&g_array_index(r->windows, Window, j - 1));
    format_time(first->start, t0, sizeof t0);
    format_time(end, t1, sizeof t1);
    names = join_or_none(first->instruments);
    printf("  %7s-%-7s  %s\n", t0, t1, names);
    g_free(names);
    i = j;
  }

  /* Activity: one row per instrument detected anywhere, one column per slice of the stream;
   * '#' where the window owning the slice's middle (from its start to the next window's)
   * detected it. */
  if (n > 0 && total > g_array_index(r->windows, Window, 0).start) {
    const guint columns = ACTIVITY_COLUMNS;
    const GstClockTime t_start = g_array_index(r->windows, Window, 0).start;
    const GstClockTime span = total - t_start;
    gboolean header = FALSE;

    for (k = 0; k < r->n_labels; k++) {
      gchar row[ACTIVITY_COLUMNS + 1];
      guint active = 0, c, w = 0;
      for (i = 0; i < n; i++)
        if (g_strv_contains((const gchar *const *)g_array_index(r->windows, Window, i).instruments,
                            r->labels[k]))
          active++;
      if (active == 0)
        continue;
      for (c = 0; c < columns; c++) {
        GstClockTime t = t_start + gst_util_uint64_scale(2 * c + 1, span, 2 * columns);
        while (w + 1 < n && g_array_index(r->windows, Window, w + 1).start <= t)
          w++;
        row[c] =
            g_strv_contains((const gchar *const *)g_array_index(r->windows, Window, w).instruments,
                            r->labels[k])
                ? '#'
                : '.';
      }
      row[columns] = '\0';
      if (!header) {
        format_time(t_start, t0, sizeof t0);
        format_time(total, t1, sizeof t1);
        printf("\n  %-18s %-*s%s\n", "activity", (int)columns - (int)strlen(t1), t0, t1);
        header = TRUE;
      }
      printf("  %-18s %s %3u%%\n", r->labels[k], row, active * 100 / n);
    }
  }

  printf("\n  summary:");
  if (r->summary.instruments[0] == NULL)
    printf(" no instrument above its threshold");
  for (i = 0; r->summary.instruments[i] != NULL; i++) {
    for (k = 0; k < r->n_labels; k++)
      if (strcmp(r->labels[k], r->summary.instruments[i]) == 0)
        printf("%s %s %.2f", i ? "," : "", r->labels[k], r->summary.probabilities[k]);
  }
  printf("\n\n");
}

/* ------------------------------------------------------------------------------------------ */
/* JSON output                                                                                  */

static void json_seconds(GString *out, GstClockTime t)
{
  if (GST_CLOCK_TIME_IS_VALID(t))
    g_string_append_printf(out, "%.3f", (gdouble)t / GST_SECOND);
  else
    g_string_append(out, "null");
}

static void json_window(GString *out, const FileResult *r, const Window *w)
{
  guint i;
  g_string_append(out, "{\"start_s\": ");
  json_seconds(out, w->start);
  g_string_append(out, ", \"duration_s\": ");
  json_seconds(out, w->duration);
  g_string_append(out, ", \"instruments\": [");
  for (i = 0; w->instruments[i] != NULL; i++) {
    if (i)
      g_string_append(out, ", ");
    instrid_json_string(out, w->instruments[i]);
  }
  g_string_append(out, "], \"probabilities\": [");
  for (i = 0; i < r->n_labels; i++)
    g_string_append_printf(out, "%s%.4f", i ? ", " : "", w->probabilities[i]);
  g_string_append(out, "]}");
}

static void json_file(GString *out, const gchar *path, const FileResult *r)
{
  guint i;
  g_string_append(out, "{\"file\": ");
  instrid_json_string(out, path);
  if (r->error != NULL) {
    g_string_append(out, ", \"error\": ");
    instrid_json_string(out, r->error);
    g_string_append(out, "}");
    return;
  }
  g_string_append(out, ", \"labels\": [");
  for (i = 0; i < r->n_labels; i++) {
    if (i)
      g_string_append(out, ", ");
    instrid_json_string(out, r->labels[i]);
  }
  g_string_append(out, "],\n  \"summary\": ");
  json_window(out, r, &r->summary);
  g_string_append(out, ",\n  \"windows\": [");
  for (i = 0; i < r->windows->len; i++) {
    g_string_append(out, i ? ",\n    " : "\n    ");
    json_window(out, r, &g_array_index(r->windows, Window, i));
  }
  g_string_append(out, "]}");
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
  Options opt = {NULL, -1.0, 0.0, FALSE, FALSE, 60};
  gchar **files = NULL;
  GOptionEntry entries[] = {
      {"json", 'j', 0, G_OPTION_ARG_NONE, &opt.json, "Print JSON for machines", NULL},
      {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt.model,
       "Model file (default: the model shipped with the plugin)", "PATH"},
      {"threshold", 't', 0, G_OPTION_ARG_DOUBLE, &opt.threshold,
       "One threshold for every class, 0..1 (default: the model's per-class thresholds)", "P"},
      {"interval", 'i', 0, G_OPTION_ARG_DOUBLE, &opt.interval_s,
       "Seconds between windows, up to 3600 (default: the model's)", "S"},
      {"stall-timeout", 0, 0, G_OPTION_ARG_INT, &opt.stall_s,
       "Give up a file whose pipeline posts nothing for S seconds, 1..86400 (default 60)", "S"},
      {"version", 'V', 0, G_OPTION_ARG_NONE, &opt.version, "Print the version and exit", NULL},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE..."},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionContext *ctx = g_option_context_new("- name the instruments playing in audio files");
  GError *gerr = NULL;
  GString *json = NULL;
  int failed = 0, status = 2; /* 2 until the arguments are known good */
  guint i;

  g_option_context_set_summary(ctx, "Exit status: 0 every file analysed, 1 some files failed "
                                    "(each named on stderr; the others\nwere analysed) or the "
                                    "model cannot be loaded, 2 bad arguments or no element.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    fprintf(stderr, "instrid-identify: %s\n", gerr->message);
    g_error_free(gerr);
    goto out;
  }
  if (opt.version) {
    instrid_tool_print_version("instrid-identify");
    status = 0;
    goto out;
  }
  if (files == NULL || files[0] == NULL) {
    fprintf(stderr, "usage: instrid-identify [--json] [--model PATH] [--threshold P] "
                    "[--interval S] FILE...\n");
    goto out;
  }
  /* -1 (the default) leaves the model's per-class thresholds; anything else outside 0..1,
   * NaN included, would be ignored or clamped silently by the element. */
  if (opt.threshold != -1.0 && !(opt.threshold >= 0.0 && opt.threshold <= 1.0)) {
    fprintf(stderr, "instrid-identify: --threshold must be between 0 and 1\n");
    goto out;
  }
  if (!(opt.interval_s >= 0.0 && opt.interval_s <= MAX_INTERVAL_S)) {
    fprintf(stderr, "instrid-identify: --interval must be between 0 and %d seconds\n",
            MAX_INTERVAL_S);
    goto out;
  }
  if (opt.stall_s < 1 || opt.stall_s > 86400) {
    fprintf(stderr, "instrid-identify: --stall-timeout must be between 1 and 86400 seconds\n");
    goto out;
  }
  gst_init(NULL, NULL);
  if (!instrid_tool_find_element()) {
    fprintf(stderr, "instrid-identify: the instridentify element is not installed "
                    "(set GST_PLUGIN_PATH to the folder holding libgstinstrid.so)\n");
    goto out;
  }
  json = g_string_new("[");

  for (i = 0; files[i] != NULL; i++) {
    FileResult r;
    analyse_file(files[i], &opt, &r);
    if (r.model_error) {
      /* Every other file would fail the same way: say it once, for the model. */
      fprintf(stderr, "instrid-identify: %s\n", r.error);
      file_result_clear(&r);
      failed++;
      break;
    }
    if (r.error != NULL) {
      fprintf(stderr, "instrid-identify: %s: %s\n", files[i], r.error);
      failed++;
    } else if (!opt.json) {
      print_text(files[i], &r);
    }
    if (opt.json) {
      g_string_append(json, i ? ",\n " : "\n ");
      json_file(json, files[i], &r);
    }
    file_result_clear(&r);
  }
  if (opt.json) {
    g_string_append(json, "\n]\n");
    fputs(json->str, stdout);
  }
  status = failed > 0 ? 1 : 0;
out:
  /* Every exit frees what the option parser and the loop allocated (ASan and valgrind see no
   * leak on any path, tests/gst/meson.build: instrid-identify-leaks). */
  if (json)
    g_string_free(json, TRUE);
  g_strfreev(files);
  g_free(opt.model);
  g_option_context_free(ctx);
  return status;
}
