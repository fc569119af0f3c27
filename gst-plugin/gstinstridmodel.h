/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridmodel.h — the model file instridentify loads: where it is when model-location is
 * not set, loading it with errors fit for the bus, and its class names for the labels
 * property. Everything here reads the file system: never call it with the object lock held.
 */
#ifndef GST_INSTRID_MODEL_H
#define GST_INSTRID_MODEL_H

#include <gst/gst.h>

#include "instrid.h"

G_BEGIN_DECLS

/* The plugin's own file, set at plugin init, so the default model that meson places next to it
 * in the build tree is found. */
void gst_instrid_model_set_plugin_filename(const gchar *filename);

/* Loads location's model, or the shipped one when location is NULL or empty. NULL on failure,
 * with *error (GST_RESOURCE_ERROR: NOT_FOUND when there is no model, OPEN_READ when the file
 * cannot be loaded) naming the file and the problem, and *debug (may be NULL) for the log. */
instrid_model *gst_instrid_model_load(const gchar *location, GError **error, gchar **debug);

/* The class names of location's model (or the shipped one), NULL-terminated; empty when it
 * cannot be read. */
gchar **gst_instrid_model_labels(const gchar *location);

/* The class names of a loaded model, NULL-terminated. */
gchar **gst_instrid_model_class_names(const instrid_model *model);

G_END_DECLS

#endif /* GST_INSTRID_MODEL_H */
