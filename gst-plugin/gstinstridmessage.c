/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridmessage.c — the element messages instridentify posts (see gstinstridmessage.h). */
#include "gstinstridmessage.h"

GstMessage *gst_instrid_message_new(GstObject *src, const instrid_model *model, const gchar *name,
                                    GstClockTime timestamp, GstClockTime duration,
                                    const GstSegment *segment, const instrid_window *w)
{
  GValue labels = G_VALUE_INIT, probs = G_VALUE_INIT, instruments = G_VALUE_INIT;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE, running_time = GST_CLOCK_TIME_NONE;
  GstStructure *s;
  guint i;

  if (GST_CLOCK_TIME_IS_VALID(timestamp) && segment->format == GST_FORMAT_TIME) {
    stream_time = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, timestamp);
    running_time = gst_segment_to_running_time(segment, GST_FORMAT_TIME, timestamp);
  }
  g_value_init(&labels, GST_TYPE_ARRAY);
  g_value_init(&probs, GST_TYPE_ARRAY);
  g_value_init(&instruments, GST_TYPE_ARRAY);
  for (i = 0; i < instrid_model_n_classes(model); i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(model, i));
    gst_value_array_append_and_take_value(&labels, &v);
    g_value_init(&v, G_TYPE_DOUBLE);
    g_value_set_double(&v, w->probabilities[i]);
    gst_value_array_append_and_take_value(&probs, &v);
  }
  for (i = 0; i < w->n_detected; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, instrid_model_class_name(model, w->order[i]));
    gst_value_array_append_and_take_value(&instruments, &v);
  }
  s = gst_structure_new(name, "timestamp", G_TYPE_UINT64, timestamp, "stream-time", G_TYPE_UINT64,
                        stream_time, "running-time", G_TYPE_UINT64, running_time, "duration",
                        G_TYPE_UINT64, duration, NULL);
  gst_structure_take_value(s, "labels", &labels);
  gst_structure_take_value(s, "probabilities", &probs);
  gst_structure_take_value(s, "instruments", &instruments);
  return gst_message_new_element(src, s);
}

void gst_instrid_message_add_embedding(GstMessage *msg, const instrid_window *w)
{
  GValue emb = G_VALUE_INIT;
  guint i;

  g_value_init(&emb, GST_TYPE_ARRAY);
  for (i = 0; i < w->embedding_size; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_DOUBLE);
    g_value_set_double(&v, w->embedding[i]);
    gst_value_array_append_and_take_value(&emb, &v);
  }
  gst_structure_take_value(gst_message_writable_structure(msg), "embedding", &emb);
}
