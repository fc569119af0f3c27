/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* musicnet.c — reads a MusicNet tree as published:
 *   <root>/{train_data,test_data}/<id>.wav  and  <root>/{train_labels,test_labels}/<id>.csv
 * with the label header start_time,end_time,instrument,note,start_beat,end_beat,note_value
 * (times in samples at 44.1 kHz, instrument = 1-based GM program). Any audio format GStreamer
 * reads may stand in for .wav (instrid-render writes the same layout). musicnet_metadata.csv,
 * when present, is not needed: the label files say everything the trainer uses.
 *
 * Validation: the test_data recordings when test_data/ holds any; otherwise a seeded,
 * order-independent choice of val_fraction of the RECORDINGS, so no recording has windows in
 * both splits.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "internal.h"
#include "readers.h"
#include "recording.h"
#include "rng.h"

static const char *const musicnet_label_columns[] = {
    "start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value",
};
#define MUSICNET_LABEL_COLUMNS 7

typedef struct {
  int cls;
  label_interval t;
} class_interval;

static int compare_class_interval(const void *a, const void *b)
{
  const class_interval *x = a, *y = b;
  if (x->cls != y->cls)
    return x->cls < y->cls ? -1 : 1;
  if (x->t.start_s != y->t.start_s)
    return x->t.start_s < y->t.start_s ? -1 : 1;
  return 0;
}

/* Reads one label file into rec's per-class merged intervals. */
static instrid_status read_labels(const char *csv_path, dataset_recording *rec, instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  class_interval *notes = NULL;
  size_t n = 0, cap = 0;
  csv_reader *csv = csv_open(csv_path, err);
  if (!csv)
    return err ? err->code : INSTRID_ERR_IO;
  status = csv_expect_header(csv, musicnet_label_columns, MUSICNET_LABEL_COLUMNS, err);
  if (status != INSTRID_OK)
    goto done;
  int r;
  while ((r = csv_next(csv, err)) == 1) {
    long start, end, program, note;
    double beat, beats;
    if ((status = csv_expect_fields(csv, MUSICNET_LABEL_COLUMNS, err)) != INSTRID_OK ||
        (status = csv_field_long(csv, 0, "start_time", 0, 1L << 40, &start, err)) != INSTRID_OK ||
        (status = csv_field_long(csv, 1, "end_time", start, 1L << 40, &end, err)) != INSTRID_OK ||
        (status = csv_field_long(csv, 2, "instrument", 1, 128, &program, err)) != INSTRID_OK ||
        (status = csv_field_long(csv, 3, "note", 0, 127, &note, err)) != INSTRID_OK ||
        (status = csv_field_double(csv, 4, "start_beat", -1e9, 1e9, &beat, err)) != INSTRID_OK ||
        (status = csv_field_double(csv, 5, "end_beat", 0.0, 1e9, &beats, err)) != INSTRID_OK)
      goto done;
    int cls = instrid_taxonomy_from_gm_program((int)program);
    if (cls < 0 || end == start)
      continue;
    if (n == cap) {
      size_t c = cap ? cap * 2 : 256;
      class_interval *grown =
          c > SIZE_MAX / sizeof *grown ? NULL : realloc(notes, c * sizeof *grown);
      if (!grown) {
        status = instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", csv_path);
        goto done;
      }
      notes = grown;
      cap = c;
    }
    notes[n].cls = cls;
    notes[n].t.start_s = (double)start / MUSICNET_LABEL_RATE_HZ;
    notes[n].t.end_s = (double)end / MUSICNET_LABEL_RATE_HZ;
    n++;
  }
  if (r < 0) {
    status = err ? err->code : INSTRID_ERR_FORMAT;
    goto done;
  }

  /* Sort by class then start, and merge overlapping or touching notes of a class in place. */
  if (n > 0)
    qsort(notes, n, sizeof *notes, compare_class_interval);
  size_t merged = 0;
  for (size_t i = 0; i < n; i++) {
    if (merged > 0 && notes[merged - 1].cls == notes[i].cls &&
        notes[i].t.start_s <= notes[merged - 1].t.end_s) {
      if (notes[i].t.end_s > notes[merged - 1].t.end_s)
        notes[merged - 1].t.end_s = notes[i].t.end_s;
      continue;
    }
    notes[merged++] = notes[i];
  }
  rec->intervals = malloc((merged ? merged : 1) * sizeof *rec->intervals);
  if (!rec->intervals) {
    status = instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", csv_path);
    goto done;
  }
  size_t k = 0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    rec->class_start[c] = (uint32_t)k;
    while (k < merged && notes[k].cls == c) {
      rec->intervals[k] = notes[k].t;
      k++;
    }
  }
  rec->class_start[TAXONOMY_N] = (uint32_t)k;
  rec->mask_bits = (1u << TAXONOMY_N) - 1;

done:
  free(notes);
  csv_close(csv);
  return status;
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* Sorted names of the regular files in dir (hidden files left out); *n = 0 and NULL names when
 * dir does not exist. */
static instrid_status list_files(const char *dir, char ***names_out, size_t *n_out,
                                 instrid_error *err)
{
  *names_out = NULL;
  *n_out = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return INSTRID_OK;
    return instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", dir, strerror(errno));
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char *full = path_join(dir, e->d_name);
    struct stat st;
    int regular = full && stat(full, &st) == 0 && S_ISREG(st.st_mode);
    free(full);
    if (!regular)
      continue;
    if (n == cap) {
      size_t c = cap ? cap * 2 : 64;
      char **grown = realloc(names, c * sizeof *names);
      if (!grown)
        goto nomem;
      names = grown;
      cap = c;
    }
    if (!(names[n] = strdup(e->d_name)))
      goto nomem;
    n++;
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof *names, compare_names);
  *names_out = names;
  *n_out = n;
  return INSTRID_OK;
nomem:
  closedir(d);
  free_names(names, n);
  return instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", dir);
}

static int dir_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads <root>/<split>_data with <root>/<split>_labels; appends to out. */
static instrid_status read_split(const char *root, const char *data_name, const char *labels_name,
                                 dataset_split split, recording_list *out, dataset_stats *stats,
                                 size_t *n_read, instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  char *data_dir = path_join(root, data_name);
  char *labels_dir = path_join(root, labels_name);
  char **names = NULL;
  size_t n_names = 0;
  *n_read = 0;
  if (!data_dir || !labels_dir) {
    status = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto done;
  }
  if ((status = list_files(data_dir, &names, &n_names, err)) != INSTRID_OK)
    goto done;
  if (n_names > 0 && !dir_exists(labels_dir)) {
    status = instrid_set_error(err, INSTRID_ERR_FORMAT,
                               "%s: not a MusicNet tree: %s/ has audio but %s/ is missing", root,
                               data_name, labels_name);
    goto done;
  }
  for (size_t i = 0; i < n_names; i++) {
    /* The id is the file name without its extension: 1727.wav -> 1727.csv. */
    char *id = names[i];
    char *dot = strrchr(id, '.');
    size_t id_len = dot ? (size_t)(dot - id) : strlen(id);
    char csv_name[512];
    if (id_len + 5 > sizeof csv_name) {
      fprintf(stderr, "instrid: skipping %s/%s: file name too long\n", data_dir, id);
      stats->files_skipped++;
      continue;
    }
    memcpy(csv_name, id, id_len);
    memcpy(csv_name + id_len, ".csv", 5);
    char *csv_path = path_join(labels_dir, csv_name);
    dataset_recording rec = {.kind = DATASET_MUSICNET, .split = split};
    rec.audio_path = path_join(data_dir, id);
    if (!csv_path || !rec.audio_path) {
      free(csv_path);
      recording_clear(&rec);
      status = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
      goto done;
    }
    struct stat st;
    if (stat(csv_path, &st) != 0) {
      fprintf(stderr, "instrid: skipping %s: no label file %s\n", rec.audio_path, csv_path);
      stats->files_skipped++;
      free(csv_path);
      recording_clear(&rec);
      continue;
    }
    instrid_error label_err = {INSTRID_OK, ""};
    status = read_labels(csv_path, &rec, &label_err);
    free(csv_path);
    if (status != INSTRID_OK && status != INSTRID_ERR_NOMEM) {
      /* One recording's labels are unusable; the tree's other recordings are not. */
      fprintf(stderr, "instrid: skipping %s: %s\n", rec.audio_path, label_err.message);
      stats->files_skipped++;
      recording_clear(&rec);
      status = INSTRID_OK;
      continue;
    }
    if (status == INSTRID_OK)
      status = recording_list_push(out, &rec, err);
    else {
      instrid_set_error(err, status, "%s", label_err.message);
      recording_clear(&rec);
    }
    if (status != INSTRID_OK)
      goto done;
    (*n_read)++;
  }
done:
  free_names(names, n_names);
  free(data_dir);
  free(labels_dir);
  return status;
}

typedef struct {
  uint64_t rank;
  size_t index;
} held_out_rank;

static int compare_rank(const void *a, const void *b)
{
  const held_out_rank *x = a, *y = b;
  if (x->rank != y->rank)
    return x->rank < y->rank ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Ranks each recording by a hash of (seed, file name) and holds out the lowest ranks, so the
 * choice depends on the seed and the names, not on directory order or on other recordings. */
static instrid_status hold_out(recording_list *list, size_t first, size_t n, float fraction,
                               uint64_t seed, instrid_error *err)
{
  if (n < 2 || !(fraction > 0.0f))
    return INSTRID_OK;
  size_t n_val = (size_t)lround((double)fraction * (double)n);
  if (n_val < 1)
    n_val = 1;
  if (n_val > n - 1)
    n_val = n - 1;
  held_out_rank *ranks = malloc(n * sizeof *ranks);
  if (!ranks)
    return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const char *path = list->items[first + i].audio_path;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    uint64_t h = rng_hash64(seed);
    for (const char *p = name; *p; p++)
      h = rng_hash64(h ^ (unsigned char)*p);
    ranks[i].rank = h;
    ranks[i].index = first + i;
  }
  qsort(ranks, n, sizeof *ranks, compare_rank);
  for (size_t i = 0; i < n_val; i++)
    list->items[ranks[i].index].split = DATASET_VAL;
  free(ranks);
  return INSTRID_OK;
}

instrid_status musicnet_read(const char *root, const dataset_options *opt, recording_list *out,
                             dataset_stats *stats, instrid_error *err)
{
  char *train_dir = path_join(root, "train_data");
  char *test_dir = path_join(root, "test_data");
  int has_train = train_dir && dir_exists(train_dir);
  int has_test = test_dir && dir_exists(test_dir);
  free(train_dir);
  free(test_dir);
  if (!has_train && !has_test)
    return instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s: not a MusicNet tree (neither train_data/ nor test_data/)", root);
  size_t first = out->n, n_train = 0, n_test = 0;
  instrid_status status =
      read_split(root, "train_data", "train_labels", DATASET_TRAIN, out, stats, &n_train, err);
  if (status == INSTRID_OK)
    status = read_split(root, "test_data", "test_labels", DATASET_VAL, out, stats, &n_test, err);
  if (status == INSTRID_OK && n_test == 0)
    status = hold_out(out, first, n_train, opt->val_fraction, opt->seed, err);
  return status;
}
