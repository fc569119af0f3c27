/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_limits.c — the element given a model file that is valid field by field but over the
 * resource limits of instrid.h (tests/greedy_models.h: a 32 GiB queue, 2 GiB of activations,
 * 6.9 GB of scratch, 100 times slower than real time, ...): the state change fails with an error
 * message naming the file and the limit; nothing is allocated for it and nothing aborts. */
#include <string.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "greedy_models.h"

GST_START_TEST(test_greedy_models_refused)
{
  gchar *dir = g_dir_make_tmp("instrid-limits-XXXXXX", NULL);
  fail_unless(dir != NULL);
  for (int k = 0; k < GREEDY_N_CASES; k++) {
    const greedy_info *info = greedy_model_info((greedy_case)k);
    gchar *name = g_strdup_printf("greedy-%d.instrid", k);
    gchar *path = g_build_filename(dir, name, NULL);
    void *data;
    size_t size;
    greedy_model_bytes((greedy_case)k, &data, &size);
    fail_unless(g_file_set_contents(path, data, (gssize)size, NULL));
    free(data);

    GstElement *el = gst_element_factory_make("instridentify", NULL);
    GstBus *bus = gst_bus_new();
    GError *err = NULL;
    g_object_set(el, "model-location", path, NULL);
    gst_element_set_bus(el, bus);
    fail_unless_equals_int(gst_element_set_state(el, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    fail_unless(msg != NULL, "%s: no error message", info->name);
    gst_message_parse_error(msg, &err, NULL);
    fail_unless(strstr(err->message, path) != NULL, "%s: '%s' does not name the file", info->name,
                err->message);
    fail_unless(strstr(err->message, info->limit) != NULL, "%s: '%s' does not name %s", info->name,
                err->message, info->limit);
    fail_unless(strstr(err->message, info->figure) != NULL, "%s: '%s' does not give '%s'",
                info->name, err->message, info->figure);
    g_error_free(err);
    gst_message_unref(msg);
    fail_unless_equals_int(gst_element_set_state(el, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
    gst_object_unref(el);
    g_unlink(path);
    g_free(path);
    g_free(name);
  }
  g_rmdir(dir);
  g_free(dir);
}
GST_END_TEST;

static Suite *limits_suite(void)
{
  Suite *s = suite_create("instridentify-limits");
  TCase *tc = tcase_create("general");
  tcase_add_test(tc, test_greedy_models_refused);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(limits);
