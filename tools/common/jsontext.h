/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* jsontext.h — JSON text the tools write (GLib only, so instrid-tag's parsing library and its
 * fuzzer can link it without GStreamer). */
#ifndef INSTRID_JSONTEXT_H
#define INSTRID_JSONTEXT_H

#include <glib.h>

/* s as a JSON string (quoted, escaped). A byte that is not part of valid UTF-8 (a file name
 * in another encoding) becomes U+FFFD, so the line stays valid JSON. */
void instrid_json_string(GString *out, const gchar *s);

#endif
