/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* toolutil.h — what every command that drives the element shares: finding the instridentify
 * element (also when installed outside GStreamer's own plugin folder) and --version.
 */
#ifndef INSTRID_TOOLUTIL_H
#define INSTRID_TOOLUTIL_H

#include <glib.h>
#include <gst/gst.h>

/* Exit statuses of the tools that drive the element (documented in README.md). */
#define INSTRID_EXIT_OK 0     /* every file done */
#define INSTRID_EXIT_FAILED 1 /* some files failed; the others were done */
#define INSTRID_EXIT_USAGE 2  /* bad arguments, or nothing can be done (element or model) */

/* Makes sure the instridentify element can be created: when GStreamer's registry does not hold
 * it (GST_PLUGIN_PATH unset and a prefix GStreamer does not search), the plugin folder of the
 * prefix this command runs from is scanned, then the one it was configured for. Call after
 * gst_init. FALSE when it is found nowhere. */
gboolean instrid_tool_find_element(void);

/* The folder `meson install` puts the plugin in (absolute). */
const gchar *instrid_tool_plugin_dir(void);

/* Prints "PROG VERSION" and the plugin folder to stdout (for --version). */
void instrid_tool_print_version(const gchar *prog);

/* Pops the pipeline's messages up to the next element message and returns it (the caller
 * unrefs it). Returns NULL at the end: EOS, an error (its message in *error unless one is
 * there already; *model_error set when the element `id` posted a resource error, which is
 * always about its model), or no message at all for stall_s seconds (some damaged files make
 * GStreamer's demuxers stop without an error or EOS; *error then says so). */
GstMessage *instrid_tool_next_element_message(GstBus *bus, GstElement *id, guint stall_s,
                                              gchar **error, gboolean *model_error);

#endif
