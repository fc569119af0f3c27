/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* jsontext.c — see jsontext.h. */
#include "jsontext.h"

#include <string.h>

void instrid_json_string(GString *out, const gchar *s)
{
  const gchar *end = s + strlen(s);
  g_string_append_c(out, '"');
  while (s < end) {
    const gchar *valid_end;
    /* The longest valid UTF-8 run, written as it is (escaping what JSON requires). */
    g_utf8_validate(s, end - s, &valid_end);
    for (; s < valid_end; s++) {
      guchar c = (guchar)*s;
      if (c == '"' || c == '\\')
        g_string_append_printf(out, "\\%c", c);
      else if (c < 0x20)
        g_string_append_printf(out, "\\u%04x", c);
      else
        g_string_append_c(out, (gchar)c);
    }
    if (s < end) {
      g_string_append(out, "\\ufffd"); /* one byte that starts no valid character */
      s++;
    }
  }
  g_string_append_c(out, '"');
}
