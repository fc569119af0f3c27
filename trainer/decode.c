/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* decode.c — GStreamer decoding of one audio file to mono float samples (see decode.h):
 * decodebin's buffers, as they come, through the element's own audio path (audio/audiopath.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include "audiopath.h"
#include "decode.h"
#include "internal.h"

typedef struct {
  const char *path;
  decode_chunk_fn on_chunk;
  void *user;
  uint32_t sample_rate;              /* of the output; 0 until the route decides it */
  const instrid_frontend_params *fe; /* the route's model front end, or NULL: sample_rate */
  decode_rate_fn on_rate;
  GstElement *sink;             /* where decodebin's audio pad goes */
  int linked;                   /* an audio pad was linked */
  int stopped;                  /* the consumer asked to stop */
  int bad_caps;                 /* caps the audio path cannot convert */
  GstCaps *caps;                /* of the buffers path converts */
  instrid_audiopath *audiopath; /* created at the first buffer and at every caps change */
  uint64_t n_samples;
} decode_job;

static void on_pad_added(GstElement *decodebin, GstPad *pad, gpointer data)
{
  decode_job *job = data;
  (void)decodebin;
  GstCaps *caps = gst_pad_get_current_caps(pad);
  if (!caps)
    caps = gst_pad_query_caps(pad, NULL);
  const GstStructure *s = caps ? gst_caps_get_structure(caps, 0) : NULL;
  int is_audio = s && g_str_has_prefix(gst_structure_get_name(s), "audio/");
  if (caps)
    gst_caps_unref(caps);
  /* Only the first audio stream is decoded; other streams stay unlinked, which decodebin
   * tolerates as long as one pad is linked. */
  if (!is_audio || job->linked)
    return;
  GstPad *sink = gst_element_get_static_pad(job->sink, "sink");
  if (gst_pad_link(pad, sink) == GST_PAD_LINK_OK)
    job->linked = 1;
  gst_object_unref(sink);
}

static gboolean emit_samples(gpointer data, const gfloat *x, gsize n)
{
  decode_job *job = data;
  job->n_samples += n;
  if (job->on_chunk(job->user, x, n) != 0) {
    job->stopped = 1;
    return FALSE;
  }
  return TRUE;
}

/* A new audio path for new caps (the element sets up a new one likewise). */
static int update_audiopath(decode_job *job, GstCaps *caps)
{
  GstAudioInfo info;
  if (job->caps != NULL && gst_caps_is_equal(job->caps, caps))
    return 1;
  gst_caps_replace(&job->caps, caps);
  instrid_audiopath_free(job->audiopath);
  job->audiopath = NULL;
  if (gst_audio_info_from_caps(&info, caps)) {
    if (job->sample_rate == 0) {
      /* The element's route (it asks the same function at caps time). */
      job->sample_rate = instrid_audiopath_route_rate(job->fe, GST_AUDIO_INFO_RATE(&info));
      if (job->on_rate && job->on_rate(job->user, job->sample_rate) != 0) {
        job->stopped = 1;
        return 0;
      }
    }
    job->audiopath = instrid_audiopath_new(&info, job->sample_rate, NULL);
  }
  job->bad_caps = job->audiopath == NULL;
  return !job->bad_caps;
}

static GstFlowReturn on_new_sample(GstAppSink *appsink, gpointer data)
{
  decode_job *job = data;
  GstSample *sample = gst_app_sink_pull_sample(appsink);
  if (!sample)
    return GST_FLOW_EOS;
  GstFlowReturn ret = GST_FLOW_OK;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  GstCaps *caps = gst_sample_get_caps(sample);
  if (!caps || !update_audiopath(job, caps))
    ret = GST_FLOW_NOT_NEGOTIATED;
  if (ret == GST_FLOW_OK && buffer) {
    GstAudioInfo info;
    GstAudioBuffer abuf;
    gst_audio_info_from_caps(&info, caps);
    /* As the element does: GAP buffers are silence, whatever their bytes. */
    if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_GAP)) {
      if (!instrid_audiopath_convert(job->audiopath, NULL,
                                     gst_buffer_get_size(buffer) / GST_AUDIO_INFO_BPF(&info),
                                     emit_samples, job))
        ret = GST_FLOW_ERROR;
    } else if (gst_audio_buffer_map(&abuf, &info, buffer, GST_MAP_READ)) {
      if (!instrid_audiopath_convert(job->audiopath, abuf.planes, abuf.n_samples, emit_samples,
                                     job))
        ret = GST_FLOW_ERROR;
      gst_audio_buffer_unmap(&abuf);
    }
  }
  gst_sample_unref(sample);
  return ret;
}

/* GStreamer's messages may hold newlines; the caller prints ours on one line. */
static void one_line(char *s)
{
  for (; *s; s++)
    if (*s == '\n' || *s == '\r')
      *s = ' ';
}

static instrid_status decode_job_run(decode_job *job, uint64_t *n_samples_out, instrid_error *err);

instrid_status decode_audio_file(const char *path, uint32_t sample_rate, decode_chunk_fn on_chunk,
                                 void *user, uint64_t *n_samples_out, instrid_error *err)
{
  if (n_samples_out)
    *n_samples_out = 0;
  if (!path || !on_chunk || sample_rate == 0 || sample_rate > 1000000)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "decode: bad arguments");
  decode_job job = {.path = path, .on_chunk = on_chunk, .user = user, .sample_rate = sample_rate};
  return decode_job_run(&job, n_samples_out, err);
}

instrid_status decode_audio_file_routed(const char *path, const instrid_frontend_params *fe,
                                        decode_rate_fn on_rate, decode_chunk_fn on_chunk,
                                        void *user, uint64_t *n_samples_out, uint32_t *rate_out,
                                        instrid_error *err)
{
  if (n_samples_out)
    *n_samples_out = 0;
  if (rate_out)
    *rate_out = 0;
  if (!path || !fe || !on_chunk || fe->sample_rate == 0 || fe->sample_rate > 1000000)
    return instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "decode: bad arguments");
  decode_job job = {.path = path, .on_chunk = on_chunk, .user = user, .fe = fe, .on_rate = on_rate};
  instrid_status st = decode_job_run(&job, n_samples_out, err);
  if (rate_out)
    *rate_out = job.sample_rate;
  return st;
}

/* Decodes job->path through job's callbacks. */
static instrid_status decode_job_run(decode_job *job, uint64_t *n_samples_out, instrid_error *err)
{
  instrid_status status = INSTRID_OK;
  GstElement *pipeline = NULL;
  GError *gerror = NULL;
  const char *path = job->path;

  struct stat st;
  if (stat(path, &st) != 0)
    return instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return instrid_set_error(err, INSTRID_ERR_IO, "%s: not a regular file", path);

  if (!gst_init_check(NULL, NULL, &gerror)) {
    status = instrid_set_error(err, INSTRID_ERR_IO, "GStreamer init failed: %s",
                               gerror ? gerror->message : "unknown reason");
    g_clear_error(&gerror);
    return status;
  }

  pipeline = gst_pipeline_new("instrid-decode");
  GstElement *src = gst_element_factory_make("filesrc", NULL);
  GstElement *decodebin = gst_element_factory_make("decodebin", NULL);
  GstElement *sink = gst_element_factory_make("appsink", NULL);
  if (!pipeline || !src || !decodebin || !sink) {
    /* Elements not yet in a bin are floating; sink the ones that exist before dropping them. */
    GstElement *all[] = {src, decodebin, sink};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      if (all[i])
        gst_object_unref(gst_object_ref_sink(all[i]));
    if (pipeline)
      gst_object_unref(pipeline);
    return instrid_set_error(err, INSTRID_ERR_IO,
                             "%s: a GStreamer element is missing (need filesrc, decodebin, "
                             "appsink)",
                             path);
  }
  job->sink = sink;
  gst_bin_add_many(GST_BIN(pipeline), src, decodebin, sink, NULL);
  g_object_set(src, "location", path, NULL);
  /* Decoded audio in whatever format the decoder gives: the audio path converts it, as the
   * element does. */
  GstCaps *caps = gst_caps_new_empty_simple("audio/x-raw");
  g_object_set(sink, "caps", caps, NULL);
  gst_caps_unref(caps);
  /* Not synchronised to a clock: decode as fast as the CPU goes. */
  g_object_set(sink, "sync", FALSE, NULL);
  GstAppSinkCallbacks callbacks = {.new_sample = on_new_sample};
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, job, NULL);
  g_signal_connect(decodebin, "pad-added", G_CALLBACK(on_pad_added), job);
  if (!gst_element_link(src, decodebin)) {
    status = instrid_set_error(err, INSTRID_ERR_IO, "%s: cannot link the decoding pipeline", path);
    goto done;
  }

  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* The reason, when there is one, is an error message on the bus. */
    status = INSTRID_ERR_FORMAT;
  }
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered(bus, status == INSTRID_OK ? GST_CLOCK_TIME_NONE : 0,
                                               GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gst_object_unref(bus);
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gst_message_parse_error(msg, &e, NULL);
    if (job->stopped) {
      status = instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "%s: stopped by the consumer", path);
    } else if (e && e->domain == GST_RESOURCE_ERROR) {
      status = instrid_set_error(err, INSTRID_ERR_IO, "%s: %s", path, e->message);
    } else if (job->bad_caps) {
      status =
          instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: cannot convert its audio to %u Hz mono",
                            path, job->sample_rate);
    } else if (!job->linked) {
      status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: no audio stream (%s)", path,
                                 e ? e->message : "unknown reason");
    } else {
      status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: %s", path,
                                 e ? e->message : "decoding failed");
    }
    g_clear_error(&e);
  } else if (!msg) {
    status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: cannot start decoding", path);
  }
  if (msg)
    gst_message_unref(msg);
  /* The resampler's last frames, as the element pushes them at EOS. */
  if (status == INSTRID_OK && job->audiopath != NULL &&
      !instrid_audiopath_drain(job->audiopath, emit_samples, job))
    status = instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "%s: stopped by the consumer", path);
  if (status == INSTRID_OK && job->n_samples == 0)
    status = instrid_set_error(err, INSTRID_ERR_FORMAT, "%s: no audio samples decoded", path);
  if (status != INSTRID_OK && err)
    one_line(err->message);

done:
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  instrid_audiopath_free(job->audiopath);
  if (job->caps)
    gst_caps_unref(job->caps);
  if (n_samples_out)
    *n_samples_out = job->n_samples;
  return status;
}

typedef struct {
  float *samples;
  size_t n, cap;
  int out_of_memory;
} sample_array;

static int append_chunk(void *user, const float *x, size_t n)
{
  sample_array *a = user;
  if (n > a->cap - a->n) {
    size_t cap = a->cap ? a->cap : 65536;
    while (cap - a->n < n) {
      if (cap > SIZE_MAX / 2 / sizeof(float)) {
        a->out_of_memory = 1;
        return 1;
      }
      cap *= 2;
    }
    float *s = realloc(a->samples, cap * sizeof(float));
    if (!s) {
      a->out_of_memory = 1;
      return 1;
    }
    a->samples = s;
    a->cap = cap;
  }
  memcpy(a->samples + a->n, x, n * sizeof(float));
  a->n += n;
  return 0;
}

/* The array's outcome for decode_audio_file_to_array(_routed). */
static instrid_status array_result(sample_array *a, instrid_status status, const char *path,
                                   float **samples, size_t *n_samples, instrid_error *err)
{
  if (status != INSTRID_OK) {
    if (a->out_of_memory)
      status = instrid_set_error(err, INSTRID_ERR_NOMEM, "%s: out of memory", path);
    free(a->samples);
    return status;
  }
  *samples = a->samples;
  *n_samples = a->n;
  return INSTRID_OK;
}

instrid_status decode_audio_file_to_array(const char *path, uint32_t sample_rate, float **samples,
                                          size_t *n_samples, instrid_error *err)
{
  sample_array a = {0};
  *samples = NULL;
  *n_samples = 0;
  return array_result(&a, decode_audio_file(path, sample_rate, append_chunk, &a, NULL, err), path,
                      samples, n_samples, err);
}

instrid_status decode_audio_file_to_array_routed(const char *path,
                                                 const instrid_frontend_params *fe, float **samples,
                                                 size_t *n_samples, uint32_t *rate,
                                                 instrid_error *err)
{
  sample_array a = {0};
  *samples = NULL;
  *n_samples = 0;
  return array_result(&a,
                      decode_audio_file_routed(path, fe, NULL, append_chunk, &a, NULL, rate, err),
                      path, samples, n_samples, err);
}
