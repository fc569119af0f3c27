/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* instrid-tag.c — writes the instruments the instridentify element hears into audio files' own
 * tags, in place and without re-encoding: each file is analysed through
 * `filesrc ! decodebin ! audioconvert ! instridentify ! fakesink` (its instridentify-summary
 * message), then a copy beside it is tagged through TagLib, synced and renamed over it, so a
 * kill at any moment leaves the old file or the new one, whole. One JSON line per file on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gst/gst.h>

#include "tagfile.h"
#include "jsontext.h"
#include "tagtext.h"
#include "toolutil.h"
#include "instrid-tools-config.h"

#define PROG "instrid-tag"
#define MAX_JOBS 256
#define COPY_CHUNK (1 << 20)

static const gchar *const audio_extensions[] = {".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a"};

typedef struct {
  gchar *path; /* as given or found; what the JSON line names */
  gchar *rel;  /* relative to the root it was found under: what --shard hashes */
} Item;

typedef struct {
  /* Options. */
  gint jobs;
  guint stall_s;
  gboolean force, dry_run, progress;
  guint shard_k, shard_n; /* 1-based; 0/0 when not sharding */
  gchar *model_path;
  gchar *model_id;

  /* The work, shared by the job threads. */
  GPtrArray *items; /* Item* */
  gint next;        /* atomically: the next item to take */
  gint stop;        /* atomically: the model failed, take nothing more */
  GMutex out_lock;  /* stdout, stderr and the counters below */
  guint done, tagged, skipped, failed;
  gboolean model_failed;
  gint64 t_start_us;
  gint progress_shown;
} Run;

/* ------------------------------------------------------------------------------------------ */
/* Test hook: INSTRID_TAG_KILL_AT=N sends SIGKILL to the process at the Nth step of the file
 * replacement (counted over the whole run), so a test can stop it at every point of a write. */

static gint kill_at = -1;
static gint kill_count;

static void kill_point(void)
{
  if (kill_at > 0 && g_atomic_int_add(&kill_count, 1) + 1 == kill_at)
    raise(SIGKILL);
}

/* ------------------------------------------------------------------------------------------ */
/* Analysis through the element                                                                 */

typedef struct {
  gchar **labels;         /* model order */
  gdouble *probabilities; /* aligned with labels */
  gchar **instruments;    /* most probable first */
  gchar *error;
  gboolean model_error;
} Analysis;

static void analysis_clear(Analysis *a)
{
  g_strfreev(a->labels);
  g_free(a->probabilities);
  g_strfreev(a->instruments);
  g_free(a->error);
  memset(a, 0, sizeof *a);
}

static gchar **strings_from_array(const GValue *array)
{
  guint i, n = array != NULL && GST_VALUE_HOLDS_ARRAY(array) ? gst_value_array_get_size(array) : 0;
  gchar **out = g_new0(gchar *, n + 1);
  for (i = 0; i < n; i++)
    out[i] = g_value_dup_string(gst_value_array_get_value(array, i));
  return out;
}

/* Some damaged files make GStreamer's demuxers stop without an error or EOS (seen with a
 * truncated Ogg file, about one run in twenty under load): a pipeline that posts no message at
 * all for stall_s seconds is abandoned and the file reported, so one bad file cannot hold up a
 * library. */
static void analyse(const gchar *path, const gchar *model_path, guint stall_s, Analysis *a)
{
  GstElement *pipeline, *src, *id;
  GstBus *bus;
  GError *gerr = NULL;
  GstMessage *msg;

  memset(a, 0, sizeof *a);
  pipeline = gst_parse_launch("filesrc name=src ! decodebin ! audioconvert ! "
                              "instridentify name=id ! fakesink sync=false",
                              &gerr);
  if (pipeline == NULL) {
    a->error = g_strdup_printf("cannot build the pipeline: %s", gerr->message);
    g_clear_error(&gerr);
    return;
  }
  src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  id = gst_bin_get_by_name(GST_BIN(pipeline), "id");
  g_object_set(src, "location", path, NULL);
  g_object_set(id, "model-location", model_path, NULL);
  gst_object_unref(src);

  bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING); /* a failure posts an error */
  while ((msg = instrid_tool_next_element_message(bus, id, stall_s, &a->error, &a->model_error)) !=
         NULL) {
    const GstStructure *s = gst_message_get_structure(msg);
    if (gst_structure_has_name(s, "instridentify-summary")) {
      const GValue *probs = gst_structure_get_value(s, "probabilities");
      guint i, n;
      analysis_clear(a);
      a->labels = strings_from_array(gst_structure_get_value(s, "labels"));
      a->instruments = strings_from_array(gst_structure_get_value(s, "instruments"));
      n = g_strv_length(a->labels);
      a->probabilities = g_new0(gdouble, n + 1);
      for (i = 0; probs != NULL && i < n && i < gst_value_array_get_size(probs); i++)
        a->probabilities[i] = g_value_get_double(gst_value_array_get_value(probs, i));
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(id);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  if (a->error == NULL && a->labels == NULL)
    a->error = g_strdup("the stream ended without a result (no audio?)");
}

/* "violin=0.934,piano=0.812,...": every class, most probable first (model order on ties). */
static gchar *probabilities_text(const Analysis *a)
{
  guint n = g_strv_length(a->labels), i, j;
  guint *order = g_new(guint, n);
  GString *out = g_string_new(NULL);
  for (i = 0; i < n; i++) {
    /* Insertion sort: stable, and n is small. */
    for (j = i; j > 0 && a->probabilities[order[j - 1]] < a->probabilities[i]; j--)
      order[j] = order[j - 1];
    order[j] = i;
  }
  for (i = 0; i < n; i++) {
    gchar num[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(out, "%s%s=%s", i ? "," : "", a->labels[order[i]],
                           g_ascii_formatd(num, sizeof num, "%.3f", a->probabilities[order[i]]));
  }
  g_free(order);
  return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------------------------------ */
/* Replacing a file atomically                                                                  */

/* Removes temp copies of base in dir left by a process of this host that no longer runs (one
 * killed while writing). Copies of running processes and of other hosts are left alone. */
static void remove_stale_temps(const gchar *dir, const gchar *base)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const gchar *name;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    gint pid = instrid_tag_temp_pid(name, base, g_get_host_name());
    if (pid > 0 && (pid == getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))) {
      gchar *path = g_build_filename(dir, name, NULL);
      unlink(path);
      g_free(path);
    }
  }
  if (d != NULL)
    g_dir_close(d);
}

static gboolean copy_fd(int from, int to, gchar **error)
{
  static __thread gchar buf[64 * 1024];
  for (;;) {
    ssize_t n = copy_file_range(from, NULL, to, NULL, COPY_CHUNK, 0);
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
      break; /* not offered here: plain reads and writes below */
    if (n < 0) {
      *error = g_strdup_printf("cannot copy the file: %s", g_strerror(errno));
      return FALSE;
    }
    if (n == 0)
      return TRUE;
    kill_point();
  }
  for (;;) {
    ssize_t n = read(from, buf, sizeof buf), off = 0;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *error = g_strdup_printf("cannot read the file: %s", g_strerror(errno));
      return FALSE;
    }
    if (n == 0)
      return TRUE;
    while (off < n) {
      ssize_t w = write(to, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        *error = g_strdup_printf("cannot write the copy: %s", g_strerror(errno));
        return FALSE;
      }
      off += w;
    }
    kill_point();
  }
}

static gboolean same_file_state(const struct stat *a, const struct stat *b)
{
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Copies real (a resolved path) to a temp file beside it, tags the copy, syncs it and renames
 * it over real, then syncs the folder. before: real's state when it was analysed; a file
 * changed since is left alone. */
static gboolean replace_tagged(const gchar *real, const struct stat *before,
                               const instrid_tagset *tags, gchar **error)
{
  gchar *dir = g_path_get_dirname(real), *base = g_path_get_basename(real);
  gchar *tmp_name = instrid_tag_temp_name(base, g_get_host_name(), (int)getpid());
  gchar *tmp = g_build_filename(dir, tmp_name, NULL);
  struct stat now;
  int src = -1, dst = -1, dfd;
  gboolean ok = FALSE;

  src = open(real, O_RDONLY | O_CLOEXEC);
  if (src < 0 || fstat(src, &now) != 0) {
    *error = g_strdup_printf("cannot open: %s", g_strerror(errno));
    goto out;
  }
  if (!same_file_state(before, &now)) {
    *error = g_strdup("the file changed while it was analysed; left as it is");
    goto out;
  }
  dst = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (dst < 0) {
    *error = g_strdup_printf("cannot create a copy beside it (%s): %s", tmp, g_strerror(errno));
    goto out;
  }
  kill_point();
  if (!copy_fd(src, dst, error))
    goto out;
  /* The copy gets the original's permissions, and its owner where we may set it. */
  if (fchmod(dst, now.st_mode & 07777) != 0) {
    *error = g_strdup_printf("cannot set the copy's permissions: %s", g_strerror(errno));
    goto out;
  }
  if (fchown(dst, now.st_uid, now.st_gid) != 0) {
    /* Not the owner's or root: the copy stays ours, as any editor's would. */
  }
  if (close(dst) != 0) {
    dst = -1;
    *error = g_strdup_printf("cannot write the copy: %s", g_strerror(errno));
    goto out;
  }
  dst = -1;
  kill_point();
  if (instrid_tagfile_write(tmp, tags, error) != 0)
    goto out;
  kill_point();
  dst = open(tmp, O_RDONLY | O_CLOEXEC);
  if (dst < 0 || fsync(dst) != 0) {
    *error = g_strdup_printf("cannot sync the copy: %s", g_strerror(errno));
    goto out;
  }
  kill_point();
  if (rename(tmp, real) != 0) {
    *error = g_strdup_printf("cannot rename the tagged copy over the file: %s", g_strerror(errno));
    goto out;
  }
  kill_point();
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* the rename is durable once the folder is */
    close(dfd);
  }
  ok = TRUE;
out:
  if (src >= 0)
    close(src);
  if (dst >= 0)
    close(dst);
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  g_free(tmp_name);
  g_free(base);
  g_free(dir);
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* One file                                                                                     */

typedef instrid_tag_status Status;
#define ST_TAGGED INSTRID_TAG_TAGGED
#define ST_SKIPPED INSTRID_TAG_SKIPPED
#define ST_WOULD_TAG INSTRID_TAG_WOULD_TAG
#define ST_FAILED INSTRID_TAG_FAILED

static gchar *json_record(const gchar *path, Status st, const gchar *format,
                          const instrid_tagset *tags, const gchar *error)
{
  GString *out = g_string_new("{\"file\": ");
  guint i;

  instrid_json_string(out, path);
  g_string_append_printf(out, ", \"status\": \"%s\"", instrid_tag_status_names[st]);
  if (format != NULL) {
    g_string_append(out, ", \"format\": ");
    instrid_json_string(out, format);
  }
  if (tags != NULL) {
    g_string_append(out, ", \"instruments\": [");
    for (i = 0; tags->instruments != NULL && tags->instruments[i] != NULL; i++) {
      g_string_append(out, i ? ", " : "");
      instrid_json_string(out, tags->instruments[i]);
    }
    g_string_append(out, "], \"probabilities\": ");
    instrid_tag_json_probabilities(out, tags->probabilities);
    g_string_append(out, ", \"model\": ");
    instrid_json_string(out, tags->model != NULL ? tags->model : "");
  }
  if (error != NULL) {
    g_string_append(out, ", \"error\": ");
    instrid_json_string(out, error);
  }
  g_string_append(out, "}");
  return g_string_free(out, FALSE);
}

static void progress_draw_locked(Run *run)
{
  const guint total = run->items->len, width = 30;
  gdouble elapsed = (g_get_monotonic_time() - run->t_start_us) / 1e6;
  gdouble rate = elapsed > 0 ? run->done / elapsed : 0;
  guint filled = total ? run->done * width / total : width, i;
  gchar bar[64];
  gchar eta[32] = "";

  for (i = 0; i < width; i++)
    bar[i] = i < filled ? '#' : '-';
  bar[width] = '\0';
  if (rate > 0 && run->done < total) {
    guint s = (guint)((total - run->done) / rate + 0.5);
    g_snprintf(eta, sizeof eta, " ETA %u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
  }
  fprintf(stderr, "\r\033[K[%s] %u/%u files, %.1f/s, %u failed%s", bar, run->done, total, rate,
          run->failed, eta);
  fflush(stderr);
  run->progress_shown = TRUE;
}

static void report(Run *run, const gchar *path, Status st, const gchar *format,
                   const instrid_tagset *tags, const gchar *error)
{
  gchar *line = json_record(path, st, format, tags, error);
  g_mutex_lock(&run->out_lock);
  run->done++;
  if (st == ST_FAILED) {
    run->failed++;
    if (run->progress_shown)
      fputs("\r\033[K", stderr);
    fprintf(stderr, PROG ": %s: %s\n", path, error);
  } else if (st == ST_SKIPPED) {
    run->skipped++;
  } else {
    run->tagged++;
  }
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  if (run->progress)
    progress_draw_locked(run);
  g_mutex_unlock(&run->out_lock);
  g_free(line);
}

static void process(Run *run, const Item *item)
{
  instrid_tagset existing = {NULL, NULL, NULL}, fresh = {NULL, NULL, NULL};
  gchar *real = NULL, *dir, *base, *error = NULL;
  const gchar *format;
  struct stat st;
  Analysis a;

  real = realpath(item->path, NULL);
  if (real == NULL || stat(real, &st) != 0) {
    error = g_strdup(g_strerror(errno));
    report(run, item->path, ST_FAILED, NULL, NULL, error);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    report(run, item->path, ST_FAILED, NULL, NULL, "not a regular file");
    goto out;
  }
  dir = g_path_get_dirname(real);
  base = g_path_get_basename(real);
  remove_stale_temps(dir, base);
  g_free(dir);
  g_free(base);

  format = instrid_tagfile_format(real, &error);
  if (format == NULL || instrid_tagfile_read(real, &existing, &error) != 0) {
    report(run, item->path, ST_FAILED, NULL, NULL, error);
    goto out;
  }
  if (!run->force && existing.model != NULL && strcmp(existing.model, run->model_id) == 0) {
    report(run, item->path, ST_SKIPPED, format, &existing, NULL);
    goto out;
  }

  analyse(real, run->model_path, run->stall_s, &a);
  if (a.error != NULL) {
    if (a.model_error) {
      /* Every file would fail the same way: stop taking files, say it once. */
      g_mutex_lock(&run->out_lock);
      if (!run->model_failed)
        fprintf(stderr, "%s" PROG ": %s\n", run->progress_shown ? "\r\033[K" : "", a.error);
      run->model_failed = TRUE;
      g_mutex_unlock(&run->out_lock);
      g_atomic_int_set(&run->stop, 1);
    } else {
      report(run, item->path, ST_FAILED, format, NULL, a.error);
    }
    analysis_clear(&a);
    goto out;
  }
  fresh.instruments = g_strdupv(a.instruments);
  fresh.probabilities = probabilities_text(&a);
  fresh.model = g_strdup(run->model_id);
  analysis_clear(&a);

  if (run->dry_run)
    report(run, item->path, ST_WOULD_TAG, format, &fresh, NULL);
  else if (replace_tagged(real, &st, &fresh, &error))
    report(run, item->path, ST_TAGGED, format, &fresh, NULL);
  else
    report(run, item->path, ST_FAILED, format, NULL, error);
out:
  instrid_tagset_clear(&existing);
  instrid_tagset_clear(&fresh);
  g_free(error);
  free(real);
}

static gpointer job_thread(gpointer data)
{
  Run *run = data;
  for (;;) {
    gint i;
    if (g_atomic_int_get(&run->stop))
      break;
    i = g_atomic_int_add(&run->next, 1);
    if (i >= (gint)run->items->len)
      break;
    process(run, g_ptr_array_index(run->items, i));
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Finding the files and sharing them out                                                       */

static void item_free(gpointer p)
{
  Item *item = p;
  g_free(item->path);
  g_free(item->rel);
  g_free(item);
}

static gboolean is_audio_name(const gchar *name)
{
  gchar *lower = g_ascii_strdown(name, -1);
  gboolean yes = FALSE;
  guint i;
  for (i = 0; i < G_N_ELEMENTS(audio_extensions) && !yes; i++)
    yes = g_str_has_suffix(lower, audio_extensions[i]);
  g_free(lower);
  return yes && !(name[0] == '.' && strstr(name, INSTRID_TAG_TEMP_INFIX) != NULL);
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Adds the audio files under dir (sorted by name, byte order, folders depth first). Symbolic
 * links to folders are not followed (no loops); links to files are. */
static void walk(GPtrArray *items, const gchar *dir, const gchar *rel, guint *unreadable)
{
  GError *gerr = NULL;
  GDir *d = g_dir_open(dir, 0, &gerr);
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const gchar *name;
  guint i;

  if (d == NULL) {
    fprintf(stderr, PROG ": %s\n", gerr->message);
    g_error_free(gerr);
    (*unreadable)++;
    g_ptr_array_free(names, TRUE);
    return;
  }
  while ((name = g_dir_read_name(d)) != NULL)
    g_ptr_array_add(names, g_strdup(name));
  g_dir_close(d);
  g_ptr_array_sort(names, compare_names);
  for (i = 0; i < names->len; i++) {
    const gchar *n = g_ptr_array_index(names, i);
    gchar *path = g_build_filename(dir, n, NULL);
    gchar *sub = rel[0] != '\0' ? g_strconcat(rel, "/", n, NULL) : g_strdup(n);
    struct stat lst, st;
    if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode)) {
      walk(items, path, sub, unreadable);
    } else if (is_audio_name(n) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      Item *item = g_new(Item, 1);
      item->path = path;
      item->rel = sub;
      g_ptr_array_add(items, item);
      continue;
    }
    g_free(path);
    g_free(sub);
  }
  g_ptr_array_free(names, TRUE);
}

/* ------------------------------------------------------------------------------------------ */
/* --merge: the JSON Lines of several runs (shards, or a run and its resume) as one            */

static int merge(gchar **files)
{
  instrid_tag_merge *m = instrid_tag_merge_new();
  GString *out = g_string_new(NULL), *complaints = g_string_new(NULL);
  guint i, bad = 0, counts[INSTRID_TAG_N_STATUS];

  for (i = 0; files[i] != NULL; i++) {
    gchar *text = NULL, **lines;
    gsize len = 0;
    guint ln;
    GError *gerr = NULL;
    if (!g_file_get_contents(files[i], &text, &len, &gerr)) {
      fprintf(stderr, PROG ": %s\n", gerr->message);
      g_error_free(gerr);
      bad++;
      continue;
    }
    g_string_truncate(complaints, 0);
    bad += instrid_tag_merge_add(m, text, len, files[i], complaints);
    lines = g_strsplit(complaints->str, "\n", -1);
    for (ln = 0; lines[ln] != NULL; ln++)
      if (lines[ln][0] != '\0')
        fprintf(stderr, PROG ": %s\n", lines[ln]);
    g_strfreev(lines);
    g_free(text);
  }
  instrid_tag_merge_finish(m, out, counts);
  fputs(out->str, stdout);
  fprintf(stderr, PROG ": %u files: %u tagged, %u skipped, %u would-tag, %u failed\n",
          counts[ST_TAGGED] + counts[ST_SKIPPED] + counts[ST_WOULD_TAG] + counts[ST_FAILED],
          counts[ST_TAGGED], counts[ST_SKIPPED], counts[ST_WOULD_TAG], counts[ST_FAILED]);
  g_string_free(out, TRUE);
  g_string_free(complaints, TRUE);
  instrid_tag_merge_free(m);
  return bad > 0 ? INSTRID_EXIT_FAILED : INSTRID_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The model: the element loads the file named here, and its identity goes into the tags        */

/* The model the element loads when model-location is unset: next to the plugin, then the
 * installed one, then the source tree's (the element's own order). */
static gchar *default_model_path(void)
{
  GstElementFactory *factory = gst_element_factory_find("instridentify");
  GstPlugin *plugin =
      factory != NULL ? gst_plugin_feature_get_plugin(GST_PLUGIN_FEATURE(factory)) : NULL;
  gchar *candidates[3] = {NULL, g_strdup(INSTRID_DEFAULT_MODEL_INSTALLED),
                          g_strdup(INSTRID_DEFAULT_MODEL_SOURCE)};
  gchar *found = NULL;
  guint i;

  if (plugin != NULL && gst_plugin_get_filename(plugin) != NULL) {
    gchar *dir = g_path_get_dirname(gst_plugin_get_filename(plugin));
    candidates[0] = g_build_filename(dir, "default.instrid", NULL);
    g_free(dir);
  }
  for (i = 0; i < G_N_ELEMENTS(candidates); i++) {
    if (found == NULL && candidates[i] != NULL &&
        g_file_test(candidates[i], G_FILE_TEST_IS_REGULAR))
      found = g_strdup(candidates[i]);
    g_free(candidates[i]);
  }
  if (plugin != NULL)
    gst_object_unref(plugin);
  if (factory != NULL)
    gst_object_unref(factory);
  return found;
}

/* "NAME sha256:HEX16 instrid VERSION": the model file's name and content, and the element's
 * version (the summary rule is the element's). Two runs with the same identity tag alike. */
static gchar *model_identity(const gchar *path, gchar **error)
{
  GstElementFactory *factory = gst_element_factory_find("instridentify");
  GstPlugin *plugin = gst_plugin_feature_get_plugin(GST_PLUGIN_FEATURE(factory));
  gchar *data = NULL, *base, *sum, *id;
  gsize size;
  GError *gerr = NULL;

  if (!g_file_get_contents(path, &data, &size, &gerr)) {
    *error = g_strdup_printf("cannot read the model: %s", gerr->message);
    g_error_free(gerr);
    gst_object_unref(plugin);
    gst_object_unref(factory);
    return NULL;
  }
  sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, size);
  base = g_path_get_basename(path);
  sum[16] = '\0';
  id = g_strdup_printf("%s sha256:%s instrid %s", base, sum, gst_plugin_get_version(plugin));
  g_free(base);
  g_free(sum);
  g_free(data);
  gst_object_unref(plugin);
  gst_object_unref(factory);
  return id;
}

/* ------------------------------------------------------------------------------------------ */

static const gchar summary_text[] =
    "Analyses each audio FILE (and every .flac .ogg .oga .opus .mp3 .m4a file under each DIR)\n"
    "with the instridentify element and writes the instruments into the file's own tags, in\n"
    "place without re-encoding, keeping its other tags: INSTRUMENTS (one value per instrument,\n"
    "most probable first), INSTRID_PROBABILITIES (every class, e.g. violin=0.934,piano=0.812)\n"
    "and INSTRID_MODEL (the model file's name and SHA-256 and the element's version). Files\n"
    "already tagged with the same INSTRID_MODEL are skipped (see --force). Each file is\n"
    "replaced atomically: a tagged copy is written beside it, synced and renamed over it.\n"
    "\n"
    "One JSON object per file on stdout as it finishes: file, status (tagged, skipped,\n"
    "would-tag, failed), format, instruments, probabilities, model, error. A progress bar goes\n"
    "to stderr when it is a terminal.\n"
    "\n"
    "--merge FILE... prints the JSON Lines of several runs (shards, a run and its resume) as\n"
    "one, a line per file sorted by name; later records win, but a failure never hides a success\n"
    "and a skip never hides the run that tagged the file.\n"
    "\n"
    "Exit status: 0 every file tagged or skipped, 1 some files failed (each named on stderr;\n"
    "the others were done), 2 bad arguments, or nothing could be done (no element, no model).";

int main(int argc, char **argv)
{
  Run run;
  gchar **args = NULL, *shard = NULL, *model = NULL, *error = NULL;
  gboolean version = FALSE, do_merge = FALSE, no_progress = FALSE;
  gint jobs = 1, stall_s = 60;
  GOptionEntry entries[] = {
      {"jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "Files analysed at once (default 1)", "N"},
      {"force", 'f', 0, G_OPTION_ARG_NONE, &run.force,
       "Analyse and tag files already tagged by the same model", NULL},
      {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &run.dry_run, "Analyse and report, write nothing",
       NULL},
      {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
       "Model file (default: the model shipped with the plugin)", "PATH"},
      {"shard", 0, 0, G_OPTION_ARG_STRING, &shard,
       "Only the K-th of N shares of the files (by a hash of each path relative to its DIR)",
       "K/N"},
      {"merge", 0, 0, G_OPTION_ARG_NONE, &do_merge, "Merge the JSON Lines files given as arguments",
       NULL},
      {"stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall_s,
       "Give a file up when its pipeline posts nothing for S seconds (default 60)", "S"},
      {"no-progress", 0, 0, G_OPTION_ARG_NONE, &no_progress, "No progress bar", NULL},
      {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args, NULL, "FILE|DIR..."},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionContext *ctx;
  GError *gerr = NULL;
  GHashTable *seen;
  GThread **threads;
  guint i, unreadable = 0;
  int status;

  memset(&run, 0, sizeof run);
  ctx = g_option_context_new("FILE|DIR... - write the instruments into audio files' tags");
  g_option_context_set_summary(ctx, summary_text);
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    fprintf(stderr, PROG ": %s (see --help)\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  g_option_context_free(ctx);
  if (version) {
    instrid_tool_print_version(PROG);
    status = INSTRID_EXIT_OK;
    goto out;
  }
  if (args == NULL || args[0] == NULL) {
    fprintf(stderr, "usage: " PROG " [--jobs N] [--force] [--dry-run] [--model PATH] "
                    "[--shard K/N] FILE|DIR...\n       " PROG " --merge FILE.jsonl...\n");
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  if (do_merge) {
    status = merge(args);
    goto out;
  }
  if (jobs < 1 || jobs > MAX_JOBS) {
    fprintf(stderr, PROG ": --jobs must be between 1 and %d\n", MAX_JOBS);
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  if (stall_s < 1 || stall_s > 86400) {
    fprintf(stderr, PROG ": --stall-timeout must be between 1 and 86400 seconds\n");
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  run.stall_s = (guint)stall_s;
  if (shard != NULL && !instrid_tag_parse_shard(shard, &run.shard_k, &run.shard_n)) {
    fprintf(stderr, PROG ": --shard wants K/N with 1 <= K <= N, e.g. 2/8 (got '%s')\n", shard);
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  if (g_getenv("INSTRID_TAG_KILL_AT") != NULL)
    kill_at = atoi(g_getenv("INSTRID_TAG_KILL_AT"));

  gst_init(NULL, NULL);
  if (!instrid_tool_find_element()) {
    fprintf(stderr, PROG ": the instridentify element is not installed (set GST_PLUGIN_PATH to "
                         "the folder holding libgstinstrid.so)\n");
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  run.model_path = model != NULL ? g_strdup(model) : default_model_path();
  if (run.model_path == NULL) {
    fprintf(stderr, PROG ": no model: the default model is not installed (use --model)\n");
    status = INSTRID_EXIT_USAGE;
    goto out;
  }
  run.model_id = model_identity(run.model_path, &error);
  if (run.model_id == NULL) {
    fprintf(stderr, PROG ": %s: %s\n", run.model_path, error);
    status = INSTRID_EXIT_USAGE;
    goto out;
  }

  /* The files: each DIR walked, each FILE as given; one entry per real file. */
  run.items = g_ptr_array_new_with_free_func(item_free);
  for (i = 0; args[i] != NULL; i++) {
    struct stat st;
    if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      walk(run.items, args[i], "", &unreadable);
    } else {
      Item *item = g_new(Item, 1);
      item->path = g_strdup(args[i]);
      item->rel = g_path_get_basename(args[i]);
      g_ptr_array_add(run.items, item);
    }
  }
  seen = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
  for (i = 0; i < run.items->len;) {
    Item *item = g_ptr_array_index(run.items, i);
    gchar *real = realpath(item->path, NULL);
    gboolean drop =
        run.shard_n > 0 && instrid_tag_path_hash(item->rel) % run.shard_n != run.shard_k - 1;
    if (!drop && real != NULL && g_hash_table_contains(seen, real))
      drop = TRUE;
    if (!drop && real != NULL) {
      g_hash_table_add(seen, real);
      real = NULL;
    }
    free(real);
    if (drop)
      g_ptr_array_remove_index(run.items, i);
    else
      i++;
  }
  g_hash_table_destroy(seen);

  run.jobs = MIN(jobs, (gint)MAX(run.items->len, 1));
  run.progress = !no_progress && isatty(STDERR_FILENO);
  g_mutex_init(&run.out_lock);
  run.t_start_us = g_get_monotonic_time();
  threads = g_new0(GThread *, run.jobs);
  for (i = 0; i < (guint)run.jobs; i++)
    threads[i] = g_thread_new("instrid-tag", job_thread, &run);
  for (i = 0; i < (guint)run.jobs; i++)
    g_thread_join(threads[i]);
  g_free(threads);

  if (run.progress_shown)
    fputc('\n', stderr);
  fprintf(stderr, PROG ": %u files: %u %s, %u skipped, %u failed (%.1f s)\n", run.done, run.tagged,
          run.dry_run ? "would be tagged" : "tagged", run.skipped, run.failed,
          (g_get_monotonic_time() - run.t_start_us) / 1e6);
  status = run.model_failed          ? INSTRID_EXIT_USAGE
           : run.failed + unreadable ? INSTRID_EXIT_FAILED
                                     : INSTRID_EXIT_OK;
  g_ptr_array_free(run.items, TRUE);
  g_mutex_clear(&run.out_lock);
out:
  g_free(run.model_path);
  g_free(run.model_id);
  g_free(model);
  g_free(shard);
  g_free(error);
  g_strfreev(args);
  return status;
}
