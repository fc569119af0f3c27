/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* toolutil.c — finding the element and --version, for the commands under tools/. */
#include "toolutil.h"

#include <stdio.h>

#include <gst/gst.h>

#include "instrid-tools-config.h"

const gchar *instrid_tool_plugin_dir(void)
{
  return INSTRID_PLUGIN_DIR;
}

/* The plugin folder relative to this executable, when it runs from an installed bindir; NULL
 * when that folder does not exist (a build tree, or a prefix without the plugin). */
static gchar *plugin_dir_beside_executable(void)
{
  gchar *exe, *dir, *path, *real = NULL;
  if (INSTRID_PLUGIN_DIR_FROM_BINDIR[0] == '\0')
    return NULL;
  exe = g_file_read_link("/proc/self/exe", NULL);
  if (exe == NULL)
    return NULL;
  dir = g_path_get_dirname(exe);
  path = g_build_filename(dir, INSTRID_PLUGIN_DIR_FROM_BINDIR, NULL);
  if (g_file_test(path, G_FILE_TEST_IS_DIR))
    real = g_canonicalize_filename(path, NULL);
  g_free(path);
  g_free(dir);
  g_free(exe);
  return real;
}

gboolean instrid_tool_find_element(void)
{
  GstElementFactory *factory = gst_element_factory_find("instridentify");
  if (factory == NULL) {
    /* The prefix this command is installed in first (it may have been moved or installed
     * with DESTDIR), then the folder it was configured for. */
    gchar *beside = plugin_dir_beside_executable();
    if (beside != NULL) {
      gst_registry_scan_path(gst_registry_get(), beside);
      factory = gst_element_factory_find("instridentify");
      g_free(beside);
    }
  }
  if (factory == NULL && g_file_test(INSTRID_PLUGIN_DIR, G_FILE_TEST_IS_DIR)) {
    gst_registry_scan_path(gst_registry_get(), INSTRID_PLUGIN_DIR);
    factory = gst_element_factory_find("instridentify");
  }
  if (factory == NULL)
    return FALSE;
  gst_object_unref(factory);
  return TRUE;
}

void instrid_tool_print_version(const gchar *prog)
{
  printf("%s %s\nplugin folder when installed: %s\n", prog, INSTRID_VERSION, INSTRID_PLUGIN_DIR);
}

GstMessage *instrid_tool_next_element_message(GstBus *bus, GstElement *id, guint stall_s,
                                              gchar **error, gboolean *model_error)
{
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop(bus, (GstClockTime)stall_s * GST_SECOND);
    GError *gerr = NULL;

    if (msg == NULL) {
      if (*error == NULL)
        *error =
            g_strdup_printf("the pipeline stalled (no message for %u s): a damaged file?", stall_s);
      return NULL;
    }
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT:
      return msg;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error(msg, &gerr, NULL);
      if (*error == NULL)
        *error = g_strdup(gerr->message);
      if (GST_MESSAGE_SRC(msg) == GST_OBJECT(id) && gerr->domain == GST_RESOURCE_ERROR)
        *model_error = TRUE;
      g_clear_error(&gerr);
      gst_message_unref(msg);
      return NULL;
    case GST_MESSAGE_EOS:
      gst_message_unref(msg);
      return NULL;
    default:
      gst_message_unref(msg);
      break;
    }
  }
}
