/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridmodel.c — finding and loading instridentify's model (see gstinstridmodel.h). */
#include "instrid-gst-config.h"

#include <string.h>

#include "gstinstridmodel.h"

static const gchar *plugin_filename; /* set once at plugin init, read-only afterwards */

void gst_instrid_model_set_plugin_filename(const gchar *filename)
{
  if (plugin_filename == NULL && filename != NULL)
    plugin_filename = g_strdup(filename);
}

/* The model to load: location when set, else the shipped one: next to the plugin, then the
 * installed one, then the source tree's. NULL when none exists. */
static gchar *gst_instrid_model_path(const gchar *location)
{
  gchar *candidates[3] = {NULL, NULL, NULL};
  gchar *found = NULL;
  guint i;

  if (location != NULL && location[0] != '\0')
    return g_strdup(location);
  if (plugin_filename != NULL) {
    gchar *dir = g_path_get_dirname(plugin_filename);
    candidates[0] = g_build_filename(dir, "default.instrid", NULL);
    g_free(dir);
  }
  candidates[1] = g_strdup(INSTRID_DEFAULT_MODEL_INSTALLED);
  candidates[2] = g_strdup(INSTRID_DEFAULT_MODEL_SOURCE);
  for (i = 0; i < G_N_ELEMENTS(candidates); i++) {
    if (found == NULL && candidates[i] != NULL &&
        g_file_test(candidates[i], G_FILE_TEST_IS_REGULAR))
      found = g_strdup(candidates[i]);
    g_free(candidates[i]);
  }
  return found;
}

instrid_model *gst_instrid_model_load(const gchar *location, GError **error, gchar **debug)
{
  gchar *path = gst_instrid_model_path(location);
  instrid_error err = {INSTRID_OK, ""};
  instrid_model *model;

  if (path == NULL) {
    g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
                "No instrument model: model-location is not set and no default model was found");
    if (debug != NULL)
      *debug = g_strdup_printf("looked next to the plugin, in %s and in %s",
                               INSTRID_DEFAULT_MODEL_INSTALLED, INSTRID_DEFAULT_MODEL_SOURCE);
    return NULL;
  }
  model = instrid_model_load(path, &err);
  if (model == NULL) {
    /* libinstrid's messages name the file already; say it once. */
    if (strstr(err.message, path) != NULL)
      g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
                  "Could not load instrument model: %s", err.message);
    else
      g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
                  "Could not load instrument model \"%s\": %s", path, err.message);
    if (debug != NULL)
      *debug = g_strdup_printf("instrid_model_load: %s", instrid_status_name(err.code));
  }
  g_free(path);
  return model;
}

gchar **gst_instrid_model_class_names(const instrid_model *model)
{
  guint i, n = model != NULL ? instrid_model_n_classes(model) : 0;
  gchar **names = g_new0(gchar *, n + 1);
  for (i = 0; i < n; i++)
    names[i] = g_strdup(instrid_model_class_name(model, i));
  return names;
}

gchar **gst_instrid_model_labels(const gchar *location)
{
  instrid_model *model = gst_instrid_model_load(location, NULL, NULL);
  gchar **names = gst_instrid_model_class_names(model);
  instrid_model_free(model);
  return names;
}
