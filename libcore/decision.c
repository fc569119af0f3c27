/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* decision.c — the decision rule (see decision.h). */
#include <ctype.h>
#include <string.h>

#include "decision.h"
#include "internal.h"

uint32_t instrid_decide(uint32_t n_classes, const double *probabilities, const double *thresholds,
                        int *detected, uint32_t *order)
{
  uint32_t n_detected = 0;
  for (uint32_t i = 0; i < n_classes; i++) {
    detected[i] = probabilities[i] >= thresholds[i];
    n_detected += (uint32_t)detected[i];
  }
  /* Insertion sort, stable: the class count is small and this must not allocate. NaN sorts
   * as the least probable. */
  for (uint32_t i = 0; i < n_classes; i++) {
    uint32_t j = i;
    double p = probabilities[i] == probabilities[i] ? probabilities[i] : -1.0;
    while (j > 0) {
      double q = probabilities[order[j - 1]];
      if (q != q)
        q = -1.0;
      if (!(q < p))
        break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  /* The detected classes are the most probable ones only with a common threshold: move them
   * to the front, keeping their order. */
  uint32_t w = 0;
  for (uint32_t i = 0; i < n_classes; i++) {
    if (detected[order[i]]) {
      uint32_t cls = order[i];
      for (uint32_t k = i; k > w; k--)
        order[k] = order[k - 1];
      order[w++] = cls;
    }
  }
  return n_detected;
}

int instrid_settle(uint32_t n_classes, const int *detected, uint32_t min_windows, uint32_t *run,
                   int *settled)
{
  int changed = 0;
  if (min_windows == 0)
    min_windows = 1;
  for (uint32_t i = 0; i < n_classes; i++) {
    run[i] = detected[i] ? (run[i] < UINT32_MAX ? run[i] + 1 : run[i]) : 0;
    if (!settled[i] && run[i] >= min_windows) {
      settled[i] = 1;
      changed = 1;
    }
  }
  return changed;
}

static const char *skip_spaces(const char *s, const char *end)
{
  while (s < end && isspace((unsigned char)*s))
    s++;
  return s;
}

static const char *trim_end(const char *s, const char *end)
{
  while (end > s && isspace((unsigned char)end[-1]))
    end--;
  return end;
}

/* A decimal number "d", "d.ddd" or ".ddd" into *t; locale-independent (strtod reads "0,5" in
 * some locales and not "0.5"). Returns 0 when s[0..len) is not such a number. */
static int parse_decimal(const char *s, size_t len, double *t)
{
  /* Digits as an integer, divided once by a power of ten: "0.3" gives the double nearest 0.3,
   * as strtod would. At most 15 digits, so the integer is exact. */
  double mantissa = 0.0, scale = 1.0;
  int digits = 0, dot = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.' && !dot) {
      dot = 1;
    } else if (s[i] >= '0' && s[i] <= '9' && digits < 15) {
      mantissa = mantissa * 10.0 + (s[i] - '0');
      if (dot)
        scale *= 10.0;
      digits++;
    } else {
      return 0;
    }
  }
  *t = mantissa / scale;
  return digits > 0;
}

instrid_status instrid_thresholds_parse(const char *text, uint32_t n_classes,
                                        const char *const *names, double *thresholds,
                                        instrid_error *err)
{
  /* Two passes: check everything, then set, so that a bad entry changes nothing. */
  for (int pass = 0; pass < 2; pass++) {
    const char *s = text ? text : "";
    while (*s) {
      const char *comma = strchr(s, ',');
      const char *end = comma ? comma : s + strlen(s);
      const char *eq = memchr(s, '=', (size_t)(end - s));
      const char *name = skip_spaces(s, end);
      int entry_len = (int)(end - s);
      if (name == end) { /* an empty entry ("a=0.1,,b=0.2", or a trailing comma) */
        s = comma ? comma + 1 : end;
        continue;
      }
      if (!eq)
        return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                                 "thresholds: '%.*s' is not class=value", entry_len, s);
      const char *name_end = trim_end(name, eq);
      uint32_t cls = n_classes;
      for (uint32_t i = 0; i < n_classes; i++)
        if (strlen(names[i]) == (size_t)(name_end - name) &&
            memcmp(names[i], name, (size_t)(name_end - name)) == 0)
          cls = i;
      if (cls == n_classes)
        return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                                 "thresholds: the model has no class '%.*s'",
                                 (int)(name_end - name), name);
      const char *v = skip_spaces(eq + 1, end), *v_end = trim_end(v, end);
      size_t len = (size_t)(v_end - v);
      double t = -1.0;
      if (!parse_decimal(v, len, &t) || t > 1.0)
        return instrid_set_error(err, INSTRID_ERR_INVALID_ARG,
                                 "thresholds: '%.*s' for %s is not a value in 0..1", (int)len, v,
                                 names[cls]);
      if (pass == 1)
        thresholds[cls] = t;
      s = comma ? comma + 1 : end;
    }
  }
  return INSTRID_OK;
}
