/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridtags.c — instridentify's tags (see gstinstridtags.h). */
#include <gst/tag/tag.h>

#include "gstinstridentify.h"
#include "gstinstridtags.h"

void gst_instrid_tags_register(void)
{
  gst_tag_register(GST_INSTR_IDENTIFY_TAG_INSTRUMENTS, GST_TAG_FLAG_META, G_TYPE_STRING,
                   "instruments", "instruments identified in the audio, most probable first",
                   gst_tag_merge_strings_with_comma);
  gst_tag_register(GST_INSTR_IDENTIFY_TAG_PROBABILITIES, GST_TAG_FLAG_META, G_TYPE_STRING,
                   "instrument probabilities",
                   "identified instruments with their probabilities, e.g. violin=0.93,piano=0.81",
                   gst_tag_merge_use_first);
}

void gst_instrid_tags_init(GstInstrIdTags *t)
{
  t->upstream = t->own = t->pending = NULL;
  g_mutex_init(&t->lock);
}

void gst_instrid_tags_clear(GstInstrIdTags *t)
{
  gst_instrid_tags_reset(t);
  g_mutex_clear(&t->lock);
}

void gst_instrid_tags_drop_pending(GstInstrIdTags *t)
{
  GstTagList *pending;
  g_mutex_lock(&t->lock);
  pending = t->pending;
  t->pending = NULL;
  g_mutex_unlock(&t->lock);
  if (pending != NULL)
    gst_tag_list_unref(pending);
}

void gst_instrid_tags_reset(GstInstrIdTags *t)
{
  gst_instrid_tags_drop_pending(t);
  g_clear_pointer(&t->upstream, gst_tag_list_unref);
  g_clear_pointer(&t->own, gst_tag_list_unref);
}

GstTagList *gst_instrid_tags_make(const instrid_model *model, const gdouble *probabilities,
                                  const guint32 *order, guint n_detected)
{
  GstTagList *tags = gst_tag_list_new_empty();
  GString *names = g_string_new(NULL), *with_eq = g_string_new(NULL);
  GString *with_colon = g_string_new(NULL);
  gchar *comment;
  guint i;

  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
  for (i = 0; i < n_detected; i++) {
    const gchar *name = instrid_model_class_name(model, order[i]);
    gchar p[G_ASCII_DTOSTR_BUF_SIZE];

    /* Locale-independent, two decimals. */
    g_ascii_formatd(p, sizeof p, "%.2f", probabilities[order[i]]);
    gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_INSTR_IDENTIFY_TAG_INSTRUMENTS, name, NULL);
    g_string_append_printf(names, "%s%s", i ? "," : "", name);
    g_string_append_printf(with_eq, "%s%s=%s", i ? "," : "", name, p);
    g_string_append_printf(with_colon, "%s%s:%s", i ? "," : "", name, p);
  }
  if (n_detected > 0)
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_INSTR_IDENTIFY_TAG_PROBABILITIES,
                     with_eq->str, NULL);
  comment = g_strdup_printf(GST_INSTR_IDENTIFY_COMMENT_INSTRUMENTS "=%s", names->str);
  gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, comment, NULL);
  g_free(comment);
  comment = g_strdup_printf(GST_INSTR_IDENTIFY_COMMENT_PROBABILITIES "=%s", with_colon->str);
  gst_tag_list_add(tags, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, comment, NULL);
  g_free(comment);
  g_string_free(names, TRUE);
  g_string_free(with_eq, TRUE);
  g_string_free(with_colon, TRUE);
  return tags;
}

static gboolean gst_instrid_tags_is_own_comment(const gchar *comment)
{
  return g_str_has_prefix(comment, GST_INSTR_IDENTIFY_COMMENT_INSTRUMENTS "=") ||
         g_str_has_prefix(comment, GST_INSTR_IDENTIFY_COMMENT_PROBABILITIES "=");
}

/* upstream (may be NULL) with our tags in place of any earlier ones of ours. */
static GstTagList *gst_instrid_tags_merge(const GstTagList *upstream, const GstTagList *own)
{
  GstTagList *merged;
  guint i, n;

  if (upstream == NULL)
    return gst_tag_list_copy(own);
  merged = gst_tag_list_copy(upstream);
  gst_tag_list_set_scope(merged, GST_TAG_SCOPE_STREAM);
  gst_tag_list_remove_tag(merged, GST_INSTR_IDENTIFY_TAG_INSTRUMENTS);
  gst_tag_list_remove_tag(merged, GST_INSTR_IDENTIFY_TAG_PROBABILITIES);
  /* Keep upstream's other comments, drop only the keys we write. */
  gst_tag_list_remove_tag(merged, GST_TAG_EXTENDED_COMMENT);
  n = gst_tag_list_get_tag_size(upstream, GST_TAG_EXTENDED_COMMENT);
  for (i = 0; i < n; i++) {
    const gchar *c = NULL;
    if (gst_tag_list_peek_string_index(upstream, GST_TAG_EXTENDED_COMMENT, i, &c) &&
        !gst_instrid_tags_is_own_comment(c))
      gst_tag_list_add(merged, GST_TAG_MERGE_APPEND, GST_TAG_EXTENDED_COMMENT, c, NULL);
  }
  gst_tag_list_insert(merged, own, GST_TAG_MERGE_APPEND);
  return merged;
}

void gst_instrid_tags_set_pending(GstInstrIdTags *t, GstTagList *tags)
{
  GstTagList *old;
  g_mutex_lock(&t->lock);
  old = t->pending;
  t->pending = tags;
  g_mutex_unlock(&t->lock);
  if (old != NULL)
    gst_tag_list_unref(old);
}

GstEvent *gst_instrid_tags_event(GstInstrIdTags *t, GstTagList *own)
{
  if (t->own != NULL)
    gst_tag_list_unref(t->own);
  t->own = own;
  return gst_event_new_tag(gst_instrid_tags_merge(t->upstream, own));
}

GstEvent *gst_instrid_tags_take_pending_event(GstInstrIdTags *t)
{
  GstTagList *pending;
  g_mutex_lock(&t->lock);
  pending = t->pending;
  t->pending = NULL;
  g_mutex_unlock(&t->lock);
  return pending != NULL ? gst_instrid_tags_event(t, pending) : NULL;
}

GstEvent *gst_instrid_tags_upstream_event(GstInstrIdTags *t, GstEvent *event)
{
  GstTagList *tl;
  gst_event_parse_tag(event, &tl);
  if (gst_tag_list_get_scope(tl) != GST_TAG_SCOPE_STREAM)
    return event;
  if (t->upstream != NULL)
    gst_tag_list_unref(t->upstream);
  t->upstream = gst_tag_list_ref(tl);
  /* Stream tags replace each other downstream: keep ours in the new list. */
  if (t->own == NULL)
    return event;
  gst_event_unref(event);
  return gst_event_new_tag(gst_instrid_tags_merge(t->upstream, t->own));
}
