/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_concurrent_pipelines.c — load: 16 pipelines with the instridentify element running at
 * once in one process, pinned to 2 CPU cores, each giving exactly (bit for bit) the windows and
 * summary it gives when run alone. The 16 inputs differ in waveform, rate, channels and length.
 */
#include <sched.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "check.h"
#include "testmodel.h"

#define N_PIPELINES 16
#define N_CORES 2

typedef struct {
  GArray *values; /* every window's timestamp and probabilities, then the summary's, as doubles */
  guint windows;
  gboolean summary;
  gchar *error;
} Result;

typedef struct {
  guint index;
  const gchar *model;
  Result *result;
  /* The barrier all pipelines wait at, prerolled, before any plays. */
  GMutex *lock;
  GCond *cond;
  guint *ready;
} Job;

static gchar *description(guint i, const gchar *model)
{
  static const gchar *const waves[] = {"sine", "square", "saw", "triangle", "sine-table", "ticks"};
  static const gint rates[] = {8000, 16000, 22050, 44100, 48000};
  return g_strdup_printf("audiotestsrc wave=%s freq=%u volume=%.2f num-buffers=%u "
                         "samplesperbuffer=1024 ! audio/x-raw,format=S16LE,rate=%d,channels=%u ! "
                         "instridentify model-location=\"%s\" ! fakesink sync=false",
                         waves[i % G_N_ELEMENTS(waves)], 220 + 97 * i, 0.3 + 0.04 * i, 20 + 3 * i,
                         rates[i % G_N_ELEMENTS(rates)], 1 + i % 2, model);
}

static void append_array(GArray *out, const GstStructure *s, const gchar *field)
{
  const GValue *array = gst_structure_get_value(s, field);
  guint i, n = array != NULL ? gst_value_array_get_size(array) : 0;
  for (i = 0; i < n; i++) {
    gdouble v = g_value_get_double(gst_value_array_get_value(array, i));
    g_array_append_val(out, v);
  }
}

static gpointer run_job(gpointer data)
{
  Job *job = data;
  Result *r = job->result;
  gchar *desc = description(job->index, job->model);
  GError *gerr = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &gerr);
  GstBus *bus;
  gboolean done = FALSE;

  g_free(desc);
  r->values = g_array_new(FALSE, FALSE, sizeof(gdouble));
  if (pipeline == NULL) {
    r->error = g_strdup(gerr->message);
    g_error_free(gerr);
    return NULL;
  }
  bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PAUSED);
  gst_element_get_state(pipeline, NULL, NULL, GST_CLOCK_TIME_NONE);
  if (job->lock != NULL) {
    g_mutex_lock(job->lock);
    (*job->ready)++;
    g_cond_broadcast(job->cond);
    while (*job->ready < N_PIPELINES)
      g_cond_wait(job->cond, job->lock);
    g_mutex_unlock(job->lock);
  }
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  while (!done) {
    GstMessage *msg = gst_bus_timed_pop_filtered(
        bus, 120 * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_ELEMENT);
    const GstStructure *s;
    guint64 ts = 0;
    if (msg == NULL) {
      r->error = g_strdup("no EOS within 120 s");
      break;
    }
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error(msg, &gerr, NULL);
      r->error = g_strdup(gerr->message);
      g_clear_error(&gerr);
      done = TRUE;
      break;
    case GST_MESSAGE_EOS:
      done = TRUE;
      break;
    default:
      s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "instridentify")) {
        gdouble t;
        gst_structure_get_uint64(s, "timestamp", &ts);
        t = (gdouble)ts;
        g_array_append_val(r->values, t);
        append_array(r->values, s, "probabilities");
        r->windows++;
      } else if (gst_structure_has_name(s, "instridentify-summary")) {
        append_array(r->values, s, "probabilities");
        r->summary = TRUE;
      }
      break;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return NULL;
}

/* Runs on the first N_CORES CPUs this process may use, as on a small machine. */
static void pin_to_cores(void)
{
  cpu_set_t mask, pinned;
  int cpu, kept = 0;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0)
    return;
  CPU_ZERO(&pinned);
  for (cpu = 0; cpu < CPU_SETSIZE && kept < N_CORES; cpu++)
    if (CPU_ISSET(cpu, &mask)) {
      CPU_SET(cpu, &pinned);
      kept++;
    }
  sched_setaffinity(0, sizeof pinned, &pinned);
}

int main(int argc, char **argv)
{
  Result serial[N_PIPELINES], together[N_PIPELINES];
  Job jobs[N_PIPELINES];
  GThread *threads[N_PIPELINES];
  GMutex lock;
  GCond cond;
  guint ready = 0, i;
  instrid_error err = {0};
  gchar *dir = g_dir_make_tmp("instrid-load-XXXXXX", NULL);
  gchar *model = g_build_filename(dir, "tiny.instrid", NULL);

  pin_to_cores(); /* before any thread exists, so every thread inherits it */
  gst_init(&argc, &argv);
  CHECK(test_model_write(model, 7, &err) == INSTRID_OK, "%s", err.message);
  memset(serial, 0, sizeof serial);
  memset(together, 0, sizeof together);

  for (i = 0; i < N_PIPELINES; i++) {
    Job job = {i, model, &serial[i], NULL, NULL, NULL};
    run_job(&job);
  }

  g_mutex_init(&lock);
  g_cond_init(&cond);
  for (i = 0; i < N_PIPELINES; i++) {
    jobs[i] = (Job){i, model, &together[i], &lock, &cond, &ready};
    threads[i] = g_thread_new("pipeline", run_job, &jobs[i]);
  }
  for (i = 0; i < N_PIPELINES; i++)
    g_thread_join(threads[i]);

  for (i = 0; i < N_PIPELINES; i++) {
    CHECK(serial[i].error == NULL, "pipeline %u alone: %s", i, serial[i].error);
    CHECK(together[i].error == NULL, "pipeline %u of 16: %s", i, together[i].error);
    CHECK(serial[i].summary && together[i].summary, "pipeline %u: no summary", i);
    /* 20 + 3i buffers of 1024 frames: at least 0.42 s, several windows each. */
    CHECK(serial[i].windows >= 2, "pipeline %u: %u windows", i, serial[i].windows);
    CHECK(together[i].windows == serial[i].windows, "pipeline %u: %u windows, %u alone", i,
          together[i].windows, serial[i].windows);
    CHECK(together[i].values->len == serial[i].values->len &&
              memcmp(together[i].values->data, serial[i].values->data,
                     serial[i].values->len * sizeof(gdouble)) == 0,
          "pipeline %u: results differ from the serial run", i);
    g_array_free(serial[i].values, TRUE);
    g_array_free(together[i].values, TRUE);
    g_free(serial[i].error);
    g_free(together[i].error);
  }
  g_mutex_clear(&lock);
  g_cond_clear(&cond);
  g_unlink(model);
  g_rmdir(dir);
  g_free(model);
  g_free(dir);
  return check_exit();
}
