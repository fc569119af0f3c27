/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tagtext.c — instrid-tag's own parsing and JSON writing (see tagtext.h). */
#include "tagtext.h"

#include "jsontext.h"

#include <string.h>

#include <json-glib/json-glib.h>

const gchar *const instrid_tag_status_names[INSTRID_TAG_N_STATUS] = {"tagged", "skipped",
                                                                     "would-tag", "failed"};

/* Decimal digits at *p (at least one), as a value capped at limit + 1; *p moves past them. */
static guint64 digits(const gchar **p, guint64 limit, gboolean *any)
{
  guint64 v = 0;
  *any = FALSE;
  for (; g_ascii_isdigit(**p); (*p)++) {
    *any = TRUE;
    v = v * 10 + (guint64)(**p - '0');
    if (v > limit)
      v = limit + 1; /* stays above the limit, never overflows */
  }
  return v;
}

gboolean instrid_tag_parse_shard(const gchar *text, guint *k, guint *n)
{
  const gchar *p = text;
  gboolean any;
  guint64 a, b;
  if (text == NULL)
    return FALSE;
  a = digits(&p, INSTRID_TAG_MAX_SHARDS, &any);
  if (!any || *p != '/')
    return FALSE;
  p++;
  b = digits(&p, INSTRID_TAG_MAX_SHARDS, &any);
  if (!any || *p != '\0' || b < 1 || b > INSTRID_TAG_MAX_SHARDS || a < 1 || a > b)
    return FALSE;
  *k = (guint)a;
  *n = (guint)b;
  return TRUE;
}

guint64 instrid_tag_path_hash(const gchar *rel)
{
  guint64 h = 14695981039346656037ULL;
  for (; *rel; rel++) {
    h ^= (guchar)*rel;
    h *= 1099511628211ULL;
  }
  return h;
}

/* A JSON number (RFC 8259): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, nothing else. */
static gboolean is_json_number(const gchar *s)
{
  if (*s == '-')
    s++;
  if (*s == '0')
    s++;
  else if (*s >= '1' && *s <= '9')
    while (g_ascii_isdigit(*s))
      s++;
  else
    return FALSE;
  if (*s == '.') {
    if (!g_ascii_isdigit(*++s))
      return FALSE;
    while (g_ascii_isdigit(*s))
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    if (!g_ascii_isdigit(*s))
      return FALSE;
    while (g_ascii_isdigit(*s))
      s++;
  }
  return *s == '\0';
}

void instrid_tag_json_probabilities(GString *out, const gchar *text)
{
  gchar **pairs = g_strsplit(text != NULL ? text : "", ",", -1);
  guint i, n = 0;
  g_string_append(out, "{");
  for (i = 0; pairs[i] != NULL; i++) {
    gchar *eq = strchr(pairs[i], '=');
    if (eq == NULL || !is_json_number(eq + 1))
      continue; /* not NAME=NUMBER: a tag someone else wrote */
    *eq = '\0';
    g_string_append(out, n++ ? ", " : "");
    instrid_json_string(out, pairs[i]);
    g_string_append_printf(out, ": %s", eq + 1);
  }
  g_string_append(out, "}");
  g_strfreev(pairs);
}

gchar *instrid_tag_temp_name(const gchar *base, const gchar *host, gint pid)
{
  return g_strdup_printf("."
                         "%s" INSTRID_TAG_TEMP_INFIX "%s.%d" INSTRID_TAG_TEMP_SUFFIX,
                         base, host, pid);
}

gint instrid_tag_temp_pid(const gchar *name, const gchar *base, const gchar *host)
{
  const gchar *p = name;
  const gsize nb = strlen(base), nh = strlen(host);
  gboolean any;
  guint64 pid;
  if (p[0] != '.' || strncmp(p + 1, base, nb) != 0)
    return 0;
  p += 1 + nb;
  if (!g_str_has_prefix(p, INSTRID_TAG_TEMP_INFIX))
    return 0;
  p += strlen(INSTRID_TAG_TEMP_INFIX);
  if (strncmp(p, host, nh) != 0 || p[nh] != '.')
    return 0;
  p += nh + 1;
  if (*p < '1' || *p > '9') /* no sign, no leading zero: the name as written */
    return 0;
  pid = digits(&p, G_MAXINT, &any);
  if (pid > G_MAXINT || strcmp(p, INSTRID_TAG_TEMP_SUFFIX) != 0)
    return 0;
  return (gint)pid;
}

/* ------------------------------------------------------------------------------------------ */
/* --merge                                                                                      */

typedef struct {
  gchar *line;
  instrid_tag_status status;
} Record;

struct instrid_tag_merge {
  GHashTable *by_file; /* file -> Record */
  JsonParser *parser;
};

static void record_free(gpointer p)
{
  Record *r = p;
  g_free(r->line);
  g_free(r);
}

/* failed < skipped < tagged or would-tag. */
static gint rank_of(instrid_tag_status s)
{
  return s == INSTRID_TAG_FAILED ? 0 : s == INSTRID_TAG_SKIPPED ? 1 : 2;
}

/* The deepest nesting of arrays and objects in line (outside strings), counted up to
 * INSTRID_TAG_MAX_DEPTH + 1: JSON parsers recurse once per level, and a record has two. */
static guint nesting(const gchar *line, gsize len)
{
  guint depth = 0, deepest = 0;
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len && deepest <= INSTRID_TAG_MAX_DEPTH; i++) {
    gchar c = line[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest)
        deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return deepest;
}

/* member of o when it is a string, else NULL. */
static const gchar *string_member(JsonObject *o, const gchar *member)
{
  JsonNode *node = json_object_get_member(o, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
      json_node_get_value_type(node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string(node);
}

instrid_tag_merge *instrid_tag_merge_new(void)
{
  instrid_tag_merge *m = g_new0(instrid_tag_merge, 1);
  m->by_file = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, record_free);
  m->parser = json_parser_new();
  return m;
}

/* The record in line[0..len), or FALSE. */
static gboolean parse_record(instrid_tag_merge *m, const gchar *line, gsize len, gchar **file,
                             instrid_tag_status *status)
{
  JsonNode *root;
  const gchar *f, *s;
  guint i;
  if (memchr(line, '\0', len) != NULL || nesting(line, len) > INSTRID_TAG_MAX_DEPTH ||
      !json_parser_load_from_data(m->parser, line, (gssize)len, NULL) ||
      (root = json_parser_get_root(m->parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    return FALSE;
  f = string_member(json_node_get_object(root), "file");
  s = string_member(json_node_get_object(root), "status");
  if (f == NULL || s == NULL)
    return FALSE;
  for (i = 0; i < INSTRID_TAG_N_STATUS; i++)
    if (strcmp(s, instrid_tag_status_names[i]) == 0)
      break;
  if (i == INSTRID_TAG_N_STATUS)
    return FALSE;
  *file = g_strdup(f);
  *status = (instrid_tag_status)i;
  return TRUE;
}

guint instrid_tag_merge_add(instrid_tag_merge *m, const gchar *text, gsize len, const gchar *source,
                            GString *complaints)
{
  guint bad = 0, ln = 0;
  gsize start = 0;
  while (start < len) {
    const gchar *nl = memchr(text + start, '\n', len - start);
    gsize end = nl != NULL ? (gsize)(nl - text) : len, a = start, b = end;
    gchar *file = NULL;
    instrid_tag_status status;
    Record *old;
    ln++;
    start = end + 1;
    while (a < b && g_ascii_isspace(text[a]))
      a++;
    while (b > a && g_ascii_isspace(text[b - 1]))
      b--;
    if (a == b)
      continue;
    if (!parse_record(m, text + a, b - a, &file, &status)) {
      /* A run killed mid-line leaves a partial last line: name it and go on. */
      g_string_append_printf(complaints, "%s:%u: not a record of instrid-tag; ignored\n", source,
                             ln);
      bad++;
      continue;
    }
    /* Later records win, unless they rank lower. */
    old = g_hash_table_lookup(m->by_file, file);
    if (old == NULL || rank_of(status) >= rank_of(old->status)) {
      Record *rec = g_new(Record, 1);
      rec->line = g_strndup(text + a, b - a);
      rec->status = status;
      g_hash_table_insert(m->by_file, file, rec);
    } else {
      g_free(file);
    }
  }
  return bad;
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(a, b);
}

void instrid_tag_merge_finish(instrid_tag_merge *m, GString *out,
                              guint counts[INSTRID_TAG_N_STATUS])
{
  GList *keys = g_list_sort(g_hash_table_get_keys(m->by_file), compare_strings), *l;
  memset(counts, 0, INSTRID_TAG_N_STATUS * sizeof counts[0]);
  for (l = keys; l != NULL; l = l->next) {
    const Record *rec = g_hash_table_lookup(m->by_file, l->data);
    counts[rec->status]++;
    g_string_append(out, rec->line);
    g_string_append_c(out, '\n');
  }
  g_list_free(keys);
}

void instrid_tag_merge_free(instrid_tag_merge *m)
{
  if (m == NULL)
    return;
  g_hash_table_destroy(m->by_file);
  g_object_unref(m->parser);
  g_free(m);
}
