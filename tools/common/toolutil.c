/* toolutil.c — finding the element and --version, for the commands under tools/. */
#include "toolutil.h"

#include <stdio.h>

#include <gst/gst.h>

#include "instrid-tools-config.h"

const gchar *instrid_tool_plugin_dir(void)
{
  return INSTRID_PLUGIN_DIR;
}

gboolean instrid_tool_find_element(void)
{
  GstElementFactory *factory = gst_element_factory_find("instridentify");
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
