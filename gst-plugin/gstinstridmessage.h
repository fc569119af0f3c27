/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridmessage.h — the element messages instridentify posts: one per window
 * ("instridentify") and one per stream ("instridentify-summary"), fields as the element's
 * documentation lists them.
 */
#ifndef GST_INSTRID_MESSAGE_H
#define GST_INSTRID_MESSAGE_H

#include <gst/gst.h>

#include "analysis.h"

G_BEGIN_DECLS

/* A message named name from src about w: timestamp, its stream and running times in segment
 * (NONE when they cannot be computed), duration, labels, probabilities, instruments. */
GstMessage *gst_instrid_message_new(GstObject *src, const instrid_model *model, const gchar *name,
                                    GstClockTime timestamp, GstClockTime duration,
                                    const GstSegment *segment, const instrid_window *w);

/* Adds the field "embedding" (array of doubles, as probabilities) with w's embedding, empty when
 * the model has none. msg must be one gst_instrid_message_new made and nobody else holds. */
void gst_instrid_message_add_embedding(GstMessage *msg, const instrid_window *w);

G_END_DECLS

#endif /* GST_INSTRID_MESSAGE_H */
