/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* openmic.c — reads an OpenMIC-2018 tree as published:
 *   <root>/audio/<first 3 chars of key>/<key>.ogg
 *   <root>/openmic-2018-aggregated-labels.csv   sample_key,instrument,relevance,num_responses
 *   <root>/class-map.json                       {"accordion": 0, ...} (20 classes)
 *   <root>/partitions/split01_{train,test}.csv  one key per line, no header
 * A (clip, class) pair listed in the aggregated labels is known: positive when relevance >= 0.5,
 * negative below. Pairs not listed, and the taxonomy classes outside OpenMIC's vocabulary
 * (bassoon, harpsichord, horn, oboe, viola), are unknown: mask 0, never negatives. Clip labels
 * hold for every window of the clip. Validation is split01_test. Clips may be .ogg (as
 * published), .flac or .wav (trees written by scripts/fetch-data).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "readers.h"
#include "recording.h"
#include "internal.h"

#define OPENMIC_POSITIVE_RELEVANCE 0.5

static const char *const openmic_label_columns[] = {
    "sample_key",
    "instrument",
    "relevance",
    "num_responses",
};

/* ---- class-map.json: a flat object of "name": index pairs -------------------------------- */

static char *read_small_file(const char *path, size_t max_bytes, instrid_error *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *text = malloc(max_bytes + 1);
  size_t n = text ? fread(text, 1, max_bytes + 1, f) : 0;
  int failed = !text || ferror(f);
  fclose(f);
  if (failed || n > max_bytes) {
    free(text);
    instrid_set_error(err, failed ? INSTRID_ERR_IO : INSTRID_ERR_FORMAT, "%s: %s", path,
                      failed ? "cannot read" : "too large for a class map");
    return NULL;
  }
  text[n] = '\0';
  return text;
}

static const char *skip_space(const char *p)
{
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

static size_t line_of(const char *text, const char *p)
{
  size_t line = 1;
  for (const char *q = text; q < p; q++)
    line += *q == '\n';
  return line;
}

/* Sets bit c of *vocabulary for every taxonomy class the class map names. The indices are
 * OpenMIC's own and not needed: names are matched to the taxonomy. */
static instrid_status read_class_map(const char *path, uint32_t *vocabulary, instrid_error *err)
{
  char *text = read_small_file(path, 1 << 16, err);
  if (!text)
    return err ? err->code : INSTRID_ERR_IO;
  instrid_status status = INSTRID_OK;
  const char *p = skip_space(text);
  *vocabulary = 0;
  if (*p != '{')
    goto syntax;
  p = skip_space(p + 1);
  if (*p == '}')
    goto empty;
  for (;;) {
    if (*p != '"')
      goto syntax;
    const char *name = ++p;
    while (*p && *p != '"' && *p != '\\')
      p++;
    if (*p != '"')
      goto syntax;
    char buf[64];
    size_t len = (size_t)(p - name);
    if (len >= sizeof buf)
      goto syntax;
    memcpy(buf, name, len);
    buf[len] = '\0';
    p = skip_space(p + 1);
    if (*p != ':')
      goto syntax;
    p = skip_space(p + 1);
    char *end;
    errno = 0;
    long index = strtol(p, &end, 10);
    if (end == p || errno != 0 || index < 0)
      goto syntax;
    p = skip_space(end);
    int c = instrid_taxonomy_index(buf);
    if (c < 0) {
      status = instrid_set_error(err, INSTRID_ERR_FORMAT,
                                 "%s:%zu: class '%s' is not in the instrid taxonomy", path,
                                 line_of(text, name), buf);
      goto done;
    }
    *vocabulary |= 1u << c;
    if (*p == ',') {
      p = skip_space(p + 1);
      continue;
    }
    if (*p == '}')
      break;
    goto syntax;
  }
  if (*skip_space(p + 1) != '\0')
    goto syntax;
  if (*vocabulary == 0)
    goto empty;
  goto done;
syntax:
  status = instrid_set_error(err, INSTRID_ERR_FORMAT,
                             "%s:%zu: expected a JSON object of \"class\": index pairs", path,
                             line_of(text, p));
  goto done;
empty:
  status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: no classes", path);
done:
  free(text);
  return status;
}

/* ---- aggregated labels ------------------------------------------------------------------- */

typedef struct {
  char *key;
  uint32_t target_bits, mask_bits;
} clip_labels;

typedef struct {
  clip_labels *items;
  size_t n, cap;
} clip_table;

static void clip_table_clear(clip_table *t)
{
  for (size_t i = 0; i < t->n; i++)
    free(t->items[i].key);
  free(t->items);
  memset(t, 0, sizeof *t);
}

static int compare_clip(const void *a, const void *b)
{
  return strcmp(((const clip_labels *)a)->key, ((const clip_labels *)b)->key);
}

/* Keys become path components: refuse anything that could step outside audio/. */
static int key_is_safe(const char *key)
{
  if (key[0] == '\0' || key[0] == '.')
    return 0;
  for (const char *p = key; *p; p++)
    if (*p == '/' || *p == '\\' || !isprint((unsigned char)*p))
      return 0;
  return 1;
}

static instrid_status read_labels(const char *path, uint32_t vocabulary, clip_table *table,
                                  instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  csv_reader *csv = csv_open(path, err);
  if (!csv)
    return err ? err->code : INSTRID_ERR_IO;
  if ((status = csv_expect_header(csv, openmic_label_columns, 4, err)) != INSTRID_OK)
    goto done;
  int r;
  while ((r = csv_next(csv, err)) == 1) {
    double relevance;
    long responses;
    if ((status = csv_expect_fields(csv, 4, err)) != INSTRID_OK ||
        (status = csv_field_double(csv, 2, "relevance", 0.0, 1.0, &relevance, err)) != INSTRID_OK ||
        (status = csv_field_long(csv, 3, "num_responses", 0, 1L << 30, &responses, err)) !=
            INSTRID_OK)
      goto done;
    const char *key = csv_field(csv, 0);
    if (!key_is_safe(key)) {
      status = instrid_set_error(err, INSTRID_ERR_FORMAT,
                                 "%s:%zu: column 1 (sample_key): '%s' is not a sample key", path,
                                 csv_line(csv), key);
      goto done;
    }
    int c = instrid_taxonomy_index(csv_field(csv, 1));
    if (c < 0 || !(vocabulary & (1u << c))) {
      status = instrid_set_error(err, INSTRID_ERR_FORMAT,
                                 "%s:%zu: column 2 (instrument): '%s' is not in class-map.json",
                                 path, csv_line(csv), csv_field(csv, 1));
      goto done;
    }
    /* Rows of one clip are adjacent in the published file; look back before adding. */
    clip_labels *clip = NULL;
    if (table->n > 0 && strcmp(table->items[table->n - 1].key, key) == 0)
      clip = &table->items[table->n - 1];
    if (!clip) {
      if (table->n == table->cap) {
        size_t cap = table->cap ? table->cap * 2 : 1024;
        clip_labels *grown = realloc(table->items, cap * sizeof *grown);
        if (!grown)
          goto nomem;
        table->items = grown;
        table->cap = cap;
      }
      clip = &table->items[table->n];
      clip->target_bits = clip->mask_bits = 0;
      if (!(clip->key = strdup(key)))
        goto nomem;
      table->n++;
    }
    clip->mask_bits |= 1u << c;
    if (relevance >= OPENMIC_POSITIVE_RELEVANCE)
      clip->target_bits |= 1u << c;
    else
      clip->target_bits &= ~(1u << c);
  }
  if (r < 0) {
    status = err ? err->code : INSTRID_ERR_FORMAT;
    goto done;
  }

  /* Sort, then fold together the rows of a clip that were not adjacent. */
  if (table->n > 0)
    qsort(table->items, table->n, sizeof *table->items, compare_clip);
  size_t kept = 0;
  for (size_t i = 0; i < table->n; i++) {
    if (kept > 0 && strcmp(table->items[kept - 1].key, table->items[i].key) == 0) {
      clip_labels *into = &table->items[kept - 1];
      into->target_bits =
          (into->target_bits & ~table->items[i].mask_bits) | table->items[i].target_bits;
      into->mask_bits |= table->items[i].mask_bits;
      free(table->items[i].key);
      continue;
    }
    table->items[kept++] = table->items[i];
  }
  table->n = kept;
  goto done;
nomem:
  status = instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", path);
done:
  csv_close(csv);
  return status;
}

/* ---- partitions -------------------------------------------------------------------------- */

/* audio/<first 3 chars>/<key>.ogg as published; trees written by scripts/fetch-data hold
 * lossless .flac or .wav clips under the same name instead. The first that exists wins; when
 * none does, the .ogg path is kept and reported missing when it is decoded. */
static instrid_status clip_audio_path(const char *root, const char *key, const char *where,
                                      size_t line, char **out, instrid_error *err)
{
  static const char *const extensions[] = {"ogg", "flac", "wav"};
  *out = NULL;
  for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
    char rel[600];
    int len = snprintf(rel, sizeof rel, "audio/%.3s/%s.%s", key, key, extensions[i]);
    if (len < 0 || (size_t)len >= sizeof rel)
      return instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:%zu: sample key too long", where, line);
    char *full = path_join(root, rel);
    if (!full)
      return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    if (i == 0)
      *out = full;
    if (access(full, F_OK) == 0) {
      if (i > 0) {
        free(*out);
        *out = full;
      }
      return INSTRID_OK;
    }
    if (i > 0)
      free(full);
  }
  return INSTRID_OK;
}

static instrid_status read_partition(const char *root, const char *path, dataset_split split,
                                     const clip_table *table, recording_list *out,
                                     instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  size_t unlabelled = 0;
  char first_unlabelled[64] = "";
  csv_reader *csv = csv_open(path, err);
  if (!csv)
    return err ? err->code : INSTRID_ERR_IO;
  int r;
  while ((r = csv_next(csv, err)) == 1) {
    if ((status = csv_expect_fields(csv, 1, err)) != INSTRID_OK)
      goto done;
    const char *key = csv_field(csv, 0);
    if (!key_is_safe(key)) {
      status =
          instrid_set_error(err, INSTRID_ERR_FORMAT, "%s:%zu: column 1: '%s' is not a sample key",
                            path, csv_line(csv), key);
      goto done;
    }
    clip_labels probe = {.key = (char *)key};
    const clip_labels *clip =
        table->n ? bsearch(&probe, table->items, table->n, sizeof *table->items, compare_clip)
                 : NULL;
    if (!clip) {
      /* Nothing known about this clip: every class would be masked, it teaches nothing. */
      if (unlabelled++ == 0)
        snprintf(first_unlabelled, sizeof first_unlabelled, "%s", key);
      continue;
    }
    dataset_recording rec = {.kind = DATASET_OPENMIC,
                             .split = split,
                             .target_bits = clip->target_bits,
                             .mask_bits = clip->mask_bits};
    if ((status = clip_audio_path(root, key, path, csv_line(csv), &rec.audio_path, err)) !=
        INSTRID_OK)
      goto done;
    if ((status = recording_list_push(out, &rec, err)) != INSTRID_OK)
      goto done;
  }
  if (r < 0)
    status = err ? err->code : INSTRID_ERR_FORMAT;
done:
  /* Said even when quiet: a partition naming clips the labels do not know is a broken tree. */
  if (unlabelled > 0)
    fprintf(stderr, "instrid: %s: %zu keys have no labels and were left out (the first: %s)\n",
            path, unlabelled, first_unlabelled);
  csv_close(csv);
  return status;
}

instrid_status openmic_read(const char *root, const dataset_options *opt, recording_list *out,
                            dataset_stats *stats, instrid_error *err)
{
  (void)stats; /* missing OpenMIC audio is found, reported and counted when it is decoded */
  (void)opt;   /* nothing in an OpenMIC tree depends on the options */
  instrid_status status = INSTRID_OK;
  clip_table table = {0};
  uint32_t vocabulary = 0;
  char *class_map = path_join(root, "class-map.json");
  char *labels = path_join(root, "openmic-2018-aggregated-labels.csv");
  char *train = path_join(root, "partitions/split01_train.csv");
  char *test = path_join(root, "partitions/split01_test.csv");
  if (!class_map || !labels || !train || !test) {
    status = instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    goto done;
  }
  if ((status = read_class_map(class_map, &vocabulary, err)) != INSTRID_OK ||
      (status = read_labels(labels, vocabulary, &table, err)) != INSTRID_OK ||
      (status = read_partition(root, train, DATASET_TRAIN, &table, out, err)) != INSTRID_OK ||
      (status = read_partition(root, test, DATASET_VAL, &table, out, err)) != INSTRID_OK)
    goto done;
done:
  clip_table_clear(&table);
  free(class_map);
  free(labels);
  free(train);
  free(test);
  return status;
}
