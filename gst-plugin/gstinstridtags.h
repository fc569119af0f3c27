/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridtags.h — instridentify's tag bookkeeping: the tags it makes from a result, merged
 * into the latest stream tags from upstream, and handed from the worker thread to the
 * streaming thread (which alone pushes serialized events).
 */
#ifndef GST_INSTRID_TAGS_H
#define GST_INSTRID_TAGS_H

#include <gst/gst.h>

#include "instrid.h"

G_BEGIN_DECLS

typedef struct {
  /* Streaming thread only. */
  GstTagList *upstream; /* latest stream-scope tags from upstream, or NULL */
  GstTagList *own;      /* latest tags of ours pushed downstream, or NULL */
  /* Made by the worker, pushed by the streaming thread with the next buffer; under lock. */
  GMutex lock;
  GstTagList *pending;
} GstInstrIdTags;

void gst_instrid_tags_register(void);

void gst_instrid_tags_init(GstInstrIdTags *t);
void gst_instrid_tags_clear(GstInstrIdTags *t);
/* Forgets upstream's tags, ours and the pending ones (a new stream, stop). */
void gst_instrid_tags_reset(GstInstrIdTags *t);
/* Drops the pending tags only (a flush, or the summary's tags superseding them). */
void gst_instrid_tags_drop_pending(GstInstrIdTags *t);

/* Our tags for the first n_detected classes of order (all classes, most probable first). */
GstTagList *gst_instrid_tags_make(const instrid_model *model, const gdouble *probabilities,
                                  const guint32 *order, guint n_detected);

/* Worker: makes tags (taken over) the next ones to push, replacing older pending ones. */
void gst_instrid_tags_set_pending(GstInstrIdTags *t, GstTagList *tags);
/* Streaming thread: the tag event to push for our new tags (taken over), merged with upstream's
 * stream tags. */
GstEvent *gst_instrid_tags_event(GstInstrIdTags *t, GstTagList *own);
/* Streaming thread: the event for the pending tags, or NULL when there are none. */
GstEvent *gst_instrid_tags_take_pending_event(GstInstrIdTags *t);
/* Streaming thread: a tag event from upstream (taken over); returns the event to forward, with
 * ours merged in when it holds stream tags. */
GstEvent *gst_instrid_tags_upstream_event(GstInstrIdTags *t, GstEvent *event);

G_END_DECLS

#endif /* GST_INSTRID_TAGS_H */
