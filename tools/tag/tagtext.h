/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tagtext.h — the text instrid-tag parses or writes itself, apart from GStreamer and TagLib so
 * that tests/fuzz/fuzz_tag.c can drive it: the --shard K/N spec, the JSON of its records (file
 * names and the INSTRID_PROBABILITIES tag read back from files), the names of its temp copies
 * (read back from folders to remove those of killed runs), and --merge's JSON Lines.
 */
#ifndef INSTRID_TAGTEXT_H
#define INSTRID_TAGTEXT_H

#include <glib.h>

G_BEGIN_DECLS

/* A record's status, in the order of instrid_tag_status_names. */
typedef enum {
  INSTRID_TAG_TAGGED,
  INSTRID_TAG_SKIPPED,
  INSTRID_TAG_WOULD_TAG,
  INSTRID_TAG_FAILED,
  INSTRID_TAG_N_STATUS
} instrid_tag_status;
extern const gchar *const instrid_tag_status_names[INSTRID_TAG_N_STATUS];

/* The largest N of --shard K/N. */
#define INSTRID_TAG_MAX_SHARDS 1000000u

/* "K/N" (decimal digits only, 1 <= K <= N <= INSTRID_TAG_MAX_SHARDS): TRUE with *k, *n set. */
gboolean instrid_tag_parse_shard(const gchar *text, guint *k, guint *n);

/* FNV-1a, 64 bits, of a path relative to its DIR: the same on every machine. A path is in
 * shard K of N when its hash modulo N is K - 1. */
guint64 instrid_tag_path_hash(const gchar *rel);

/* An INSTRID_PROBABILITIES tag ("violin=0.934,piano=0.812") as a JSON object of its pairs:
 * each number as written when it is a JSON number; pairs that are not NAME=NUMBER (a tag some
 * other program wrote) are left out. */
void instrid_tag_json_probabilities(GString *out, const gchar *text);

/* Temp copies of a file are named .BASE.instrid-tag.HOST.PID.tmp beside it. */
#define INSTRID_TAG_TEMP_INFIX ".instrid-tag."
#define INSTRID_TAG_TEMP_SUFFIX ".tmp"
gchar *instrid_tag_temp_name(const gchar *base, const gchar *host, gint pid);
/* The PID in name when name is exactly instrid_tag_temp_name(base, host, PID) for a PID > 0
 * (written without leading zeros, at most G_MAXINT); 0 otherwise. */
gint instrid_tag_temp_pid(const gchar *name, const gchar *base, const gchar *host);

/* --merge: the records of several runs, one per file. */
typedef struct instrid_tag_merge instrid_tag_merge;
instrid_tag_merge *instrid_tag_merge_new(void);
/* Adds the JSON Lines text[0..len) of one file (source names it in complaints). A line that
 * is not a record (a JSON object with a string "file" and one of the four statuses, nested at
 * most INSTRID_TAG_MAX_DEPTH deep, no NUL byte) is named in complaints (a line each) and
 * counted. Returns the number of such lines. Blank lines are ignored. */
#define INSTRID_TAG_MAX_DEPTH 16
guint instrid_tag_merge_add(instrid_tag_merge *m, const gchar *text, gsize len, const gchar *source,
                            GString *complaints);
/* The merged records, one line per file sorted by name (byte order), each line as it was read
 * (without surrounding blanks). For each file, later records replace earlier ones unless they
 * rank lower (failed < skipped < tagged, would-tag): a failure never hides a success. counts
 * gets the number of files of each status. */
void instrid_tag_merge_finish(instrid_tag_merge *m, GString *out,
                              guint counts[INSTRID_TAG_N_STATUS]);
void instrid_tag_merge_free(instrid_tag_merge *m);

G_END_DECLS

#endif
