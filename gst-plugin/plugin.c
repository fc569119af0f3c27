/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* plugin.c — registers the instrid plugin: the instridentify element and its tags. */
#include "instrid-gst-config.h"

#include <cblas.h>
#include <gst/gst.h>

#include "gstinstridentify.h"
#include "gstinstridmodel.h"
#include "gstinstridtags.h"

static gboolean plugin_init(GstPlugin *plugin)
{
  /* The pipeline already runs elements in threads of their own; OpenBLAS threads on top of
   * them would only compete for the same cores. */
  openblas_set_num_threads(1);
  gst_instrid_tags_register();
  gst_instrid_model_set_plugin_filename(gst_plugin_get_filename(plugin));
  return gst_element_register(plugin, "instridentify", GST_RANK_NONE, GST_TYPE_INSTR_IDENTIFY);
}

/* GST_PLUGIN_DEFINE leaves the descriptor's reserved padding to zero-initialisation. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, instrid,
                  "Musical instrument identification", plugin_init, VERSION, GST_LICENSE,
                  GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
