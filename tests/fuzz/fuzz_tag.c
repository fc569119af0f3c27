/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_tag.c — what instrid-tag parses itself (tools/tag/tagtext.c): the first byte of the
 * input picks the parser (its value modulo 5), the rest is what it reads:
 *   0  --shard K/N                    checked against a reference parse of its own
 *   1  an INSTRID_PROBABILITIES tag   read back from a file: its JSON must parse, numbers only
 *   2  a file name or tag value       as a JSON string: must parse back to the same text
 *   3  --merge's JSON Lines           two files separated by "\n====\n": the merged lines are
 *                                     input records, one per file, sorted, of the best rank
 *   4  a temp copy's name             "BASE/HOST/NAME": a PID only for the exact name
 * In memory, no files: fast and deterministic. GLib criticals and warnings abort (a JSON
 * accessor used on the wrong node type says so with a critical). */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "fuzz.h"
#include "jsontext.h"
#include "tagtext.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

/* A NUL-terminated copy of data[0..size) up to its first NUL (the C strings the tool gets). */
static gchar *text_of(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  return g_strndup((const gchar *)data, nul ? (size_t)(nul - data) : size);
}

/* Parses json; aborts unless it is one value of type want. Returns the root (unref). */
static JsonNode *parse_or_abort(const gchar *json, JsonNodeType want)
{
  JsonParser *p = json_parser_new();
  if (!json_parser_load_from_data(p, json, -1, NULL) || json_parser_get_root(p) == NULL ||
      JSON_NODE_TYPE(json_parser_get_root(p)) != want)
    abort();
  JsonNode *root = json_node_copy(json_parser_get_root(p));
  g_object_unref(p);
  return root;
}

static void fuzz_shard(const gchar *text)
{
  guint k = 0, n = 0;
  gboolean ok = instrid_tag_parse_shard(text, &k, &n);
  /* The reference: DIGITS/DIGITS exactly, values compared as decimal strings. */
  const gchar *slash = strchr(text, '/');
  gboolean shape = slash != NULL && slash != text && slash[1] != '\0';
  for (const gchar *c = text; shape && *c; c++)
    if (c != slash && !g_ascii_isdigit(*c))
      shape = FALSE;
  if (!shape) {
    if (ok)
      abort();
    return;
  }
  /* Without leading zeros, at most 7 digits reach 1000000: compare numerically from there. */
  gchar *a = g_strndup(text, (gsize)(slash - text)), *b = g_strdup(slash + 1);
  const gchar *a1 = a + strspn(a, "0"), *b1 = b + strspn(b, "0");
  gboolean in_range = strlen(a1) <= 7 && strlen(b1) <= 7;
  guint64 va = in_range ? g_ascii_strtoull(a1, NULL, 10) : 0;
  guint64 vb = in_range ? g_ascii_strtoull(b1, NULL, 10) : 0;
  in_range = in_range && va >= 1 && vb >= 1 && va <= vb && vb <= INSTRID_TAG_MAX_SHARDS;
  if (ok != in_range || (ok && (k != va || n != vb)))
    abort();
  g_free(a);
  g_free(b);
}

static void fuzz_probabilities(const gchar *text)
{
  GString *out = g_string_new(NULL);
  instrid_tag_json_probabilities(out, text);
  JsonNode *root = parse_or_abort(out->str, JSON_NODE_OBJECT);
  JsonObject *o = json_node_get_object(root);
  GList *members = json_object_get_members(o);
  guint pairs = 1;
  for (const gchar *c = text; *c; c++)
    pairs += *c == ',';
  if (g_list_length(members) > pairs)
    abort();
  for (GList *l = members; l; l = l->next) {
    JsonNode *v = json_object_get_member(o, l->data);
    GType t = JSON_NODE_HOLDS_VALUE(v) ? json_node_get_value_type(v) : G_TYPE_INVALID;
    if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
      abort();
  }
  g_list_free(members);
  json_node_unref(root);
  g_string_free(out, TRUE);
}

static void fuzz_string(const gchar *text)
{
  GString *out = g_string_new(NULL);
  instrid_json_string(out, text);
  JsonNode *root = parse_or_abort(out->str, JSON_NODE_VALUE);
  if (json_node_get_value_type(root) != G_TYPE_STRING)
    abort();
  const gchar *back = json_node_get_string(root);
  /* Valid UTF-8 comes back as it was; anything else as valid UTF-8 of at least its length. */
  if (g_utf8_validate(text, -1, NULL)
          ? strcmp(back, text) != 0
          : !g_utf8_validate(back, -1, NULL) || strlen(back) < strlen(text))
    abort();
  json_node_unref(root);
  g_string_free(out, TRUE);
}

/* The file and rank of a line the way the harness reads a record, independently of tagtext.c:
 * FALSE for anything merge must refuse. */
static gboolean reference_record(const gchar *line, gsize len, gchar **file, gint *rank)
{
  if (memchr(line, 0, len))
    return FALSE;
  /* Depth as JSON counts it, strings skipped. */
  guint depth = 0, deepest = 0;
  gboolean in_str = FALSE;
  for (gsize i = 0; i < len; i++) {
    if (in_str) {
      if (line[i] == '\\')
        i++;
      else if (line[i] == '"')
        in_str = FALSE;
    } else if (line[i] == '"') {
      in_str = TRUE;
    } else if (line[i] == '[' || line[i] == '{') {
      deepest = MAX(deepest, ++depth);
    } else if ((line[i] == ']' || line[i] == '}') && depth) {
      depth--;
    }
  }
  if (deepest > INSTRID_TAG_MAX_DEPTH)
    return FALSE;
  JsonParser *p = json_parser_new();
  gboolean ok = FALSE;
  if (json_parser_load_from_data(p, line, (gssize)len, NULL) && json_parser_get_root(p) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    JsonNode *f = json_object_get_member(o, "file"), *s = json_object_get_member(o, "status");
    if (f && s && JSON_NODE_HOLDS_VALUE(f) && JSON_NODE_HOLDS_VALUE(s) &&
        json_node_get_value_type(f) == G_TYPE_STRING &&
        json_node_get_value_type(s) == G_TYPE_STRING) {
      const gchar *st = json_node_get_string(s);
      *rank = strcmp(st, "failed") == 0                                   ? 0
              : strcmp(st, "skipped") == 0                                ? 1
              : strcmp(st, "tagged") == 0 || strcmp(st, "would-tag") == 0 ? 2
                                                                          : -1;
      if (*rank >= 0) {
        *file = g_strdup(json_node_get_string(f));
        ok = TRUE;
      }
    }
  }
  g_object_unref(p);
  return ok;
}

static gint rank_of_line(const gchar *line)
{
  gchar *file = NULL;
  gint rank = -1;
  if (!reference_record(line, strlen(line), &file, &rank))
    abort(); /* merge printed a line that is not a record */
  g_free(file);
  return rank;
}

static void fuzz_merge(const uint8_t *data, size_t size)
{
  const uint8_t *parts[2];
  size_t lens[2];
  fuzz_split(data, size, "\n====\n", &parts[0], &lens[0], &parts[1], &lens[1]);

  instrid_tag_merge *m = instrid_tag_merge_new();
  GString *complaints = g_string_new(NULL), *out = g_string_new(NULL);
  /* file -> best rank seen, and the set of stripped input lines. */
  GHashTable *best = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  GHashTable *lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  guint bad = 0, expected_bad = 0, counts[INSTRID_TAG_N_STATUS];
  for (int f = 0; f < 2; f++) {
    const gchar *text = (const gchar *)parts[f];
    bad += instrid_tag_merge_add(m, text, lens[f], f ? "b.jsonl" : "a.jsonl", complaints);
    gsize start = 0;
    while (start < lens[f]) {
      const gchar *nl = memchr(text + start, '\n', lens[f] - start);
      gsize end = nl ? (gsize)(nl - text) : lens[f], a = start, b = end;
      start = end + 1;
      while (a < b && g_ascii_isspace(text[a]))
        a++;
      while (b > a && g_ascii_isspace(text[b - 1]))
        b--;
      if (a == b)
        continue;
      gchar *file = NULL;
      gint rank;
      if (!reference_record(text + a, b - a, &file, &rank)) {
        expected_bad++;
        continue;
      }
      gpointer old;
      if (!g_hash_table_lookup_extended(best, file, NULL, &old) || GPOINTER_TO_INT(old) < rank)
        g_hash_table_insert(best, g_strdup(file), GINT_TO_POINTER(rank));
      g_hash_table_add(lines, g_strndup(text + a, b - a));
      g_free(file);
    }
  }
  if (bad != expected_bad)
    abort();
  /* One complaint line per bad line. */
  guint complaint_lines = 0;
  for (const gchar *c = complaints->str; *c; c++)
    complaint_lines += *c == '\n';
  if (complaint_lines != bad)
    abort();

  instrid_tag_merge_finish(m, out, counts);
  /* Every line ends with a newline: the last part is the empty string after it. */
  if (out->len > 0 && out->str[out->len - 1] != '\n')
    abort();
  gchar **printed = g_strsplit(out->str, "\n", -1);
  guint n = out->len > 0 ? g_strv_length(printed) : 1;
  if (n - 1 != g_hash_table_size(best))
    abort();
  guint total = 0;
  for (guint s = 0; s < INSTRID_TAG_N_STATUS; s++)
    total += counts[s];
  if (total != n - 1)
    abort();
  gchar *prev = NULL;
  for (guint i = 0; i + 1 < n; i++) {
    gchar *file = NULL;
    gint rank;
    if (!g_hash_table_contains(lines, printed[i]) ||
        !reference_record(printed[i], strlen(printed[i]), &file, &rank))
      abort();
    /* Sorted, one line per file, and the best rank that file had. */
    if ((prev && strcmp(prev, file) >= 0) ||
        GPOINTER_TO_INT(g_hash_table_lookup(best, file)) != rank_of_line(printed[i]))
      abort();
    g_free(prev);
    prev = file;
  }
  g_free(prev);
  g_strfreev(printed);
  g_hash_table_destroy(lines);
  g_hash_table_destroy(best);
  g_string_free(out, TRUE);
  g_string_free(complaints, TRUE);
  instrid_tag_merge_free(m);
}

static void fuzz_temp_name(const uint8_t *data, size_t size)
{
  const uint8_t *base, *rest, *host, *name;
  size_t nbase, nrest, nhost, nname;
  fuzz_split(data, size, "/", &base, &nbase, &rest, &nrest);
  fuzz_split(rest, nrest, "/", &host, &nhost, &name, &nname);
  gchar *b = text_of(base, nbase), *h = text_of(host, nhost), *nm = text_of(name, nname);
  gint pid = instrid_tag_temp_pid(nm, b, h);
  if (pid < 0)
    abort();
  if (pid > 0) {
    gchar *again = instrid_tag_temp_name(b, h, pid);
    if (strcmp(again, nm) != 0)
      abort();
    g_free(again);
  }
  /* Every name the tool writes is read back with its PID. */
  gint p = 1 + (gint)(g_str_hash(nm) % G_MAXINT);
  gchar *made = instrid_tag_temp_name(b, h, p);
  if (instrid_tag_temp_pid(made, b, h) != p)
    abort();
  g_free(made);
  g_free(b);
  g_free(h);
  g_free(nm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  const uint8_t mode = data[0] % 5;
  data++;
  size--;
  if (mode == 3) {
    fuzz_merge(data, size);
  } else if (mode == 4) {
    fuzz_temp_name(data, size);
  } else {
    gchar *text = text_of(data, size);
    if (mode == 0)
      fuzz_shard(text);
    else if (mode == 1)
      fuzz_probabilities(text);
    else
      fuzz_string(text);
    g_free(text);
  }
  return 0;
}
