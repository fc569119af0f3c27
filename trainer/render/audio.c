/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audio.c — GStreamer decoding to float, a WAV writer and an Ogg Vorbis encoder (appsrc pipeline)
 * for the corpus renderer.
 */
#include "audio.h"
#include "util.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Waits for EOS or an error on the pipeline's bus; returns 0 on EOS. */
static int wait_eos(GstElement *pipeline, char *errbuf, size_t errlen, const char *path)
{
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg =
      gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int rc = 0;
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gst_message_parse_error(msg, &e, NULL);
    snprintf(errbuf, errlen, "%.300s: %s", path, e ? e->message : "GStreamer error");
    g_clear_error(&e);
    rc = -1;
  }
  if (msg)
    gst_message_unref(msg);
  gst_object_unref(bus);
  return rc;
}

int audio_decode_file(const char *path, int rate_hz, int channels, float **out, size_t *frames,
                      char *errbuf, size_t errlen)
{
  *out = NULL;
  *frames = 0;
  if (access(path, R_OK) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot open", path);
    return -1;
  }
  GError *perr = NULL;
  GstElement *pipeline = gst_parse_launch(
      "filesrc name=src ! decodebin ! audioconvert ! audioresample ! appsink name=sink sync=false",
      &perr);
  if (!pipeline) {
    snprintf(errbuf, errlen, "GStreamer: %s", perr ? perr->message : "cannot build pipeline");
    g_clear_error(&perr);
    return -1;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_object_set(src, "location", path, NULL);
  GstCaps *caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "F32LE", "layout",
                                      G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, rate_hz,
                                      "channels", G_TYPE_INT, channels, NULL);
  gst_app_sink_set_caps(GST_APP_SINK(sink), caps);
  gst_caps_unref(caps);

  float *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    rc = -1;
    wait_eos(pipeline, errbuf, errlen, path);
    if (errbuf && errlen && errbuf[0] == '\0')
      snprintf(errbuf, errlen, "%.300s: cannot decode", path);
  }
  while (rc == 0) {
    GstSample *sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
    if (!sample)
      break;
    GstBuffer *b = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
      size_t k = map.size / sizeof(float);
      if (n + k > cap) {
        size_t ncap = cap ? cap : 1 << 16;
        while (ncap < n + k)
          ncap *= 2;
        float *p = ncap <= SIZE_MAX / sizeof(float) ? realloc(buf, ncap * sizeof(float)) : NULL;
        if (!p) {
          snprintf(errbuf, errlen, "%.300s: out of memory", path);
          rc = -1;
        } else {
          buf = p;
          cap = ncap;
        }
      }
      if (rc == 0) {
        memcpy(buf + n, map.data, k * sizeof(float));
        n += k;
      }
      gst_buffer_unmap(b, &map);
    }
    gst_sample_unref(sample);
  }
  if (rc == 0 && !gst_app_sink_is_eos(GST_APP_SINK(sink)))
    rc = wait_eos(pipeline, errbuf, errlen, path) ? -1 : 0;
  if (rc == 0) {
    /* the error may have been posted before the sink saw anything */
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (msg) {
      GError *e = NULL;
      gst_message_parse_error(msg, &e, NULL);
      snprintf(errbuf, errlen, "%.300s: %s", path, e ? e->message : "GStreamer error");
      g_clear_error(&e);
      gst_message_unref(msg);
      rc = -1;
    }
    gst_object_unref(bus);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  if (rc == 0 && n == 0) {
    snprintf(errbuf, errlen, "%.300s: no audio", path);
    rc = -1;
  }
  if (rc != 0) {
    free(buf);
    return -1;
  }
  *out = buf;
  *frames = n / (size_t)channels;
  return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = v >> 24;
}

static void put_le16(uint8_t *p, uint16_t v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

int audio_write_wav(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                    char *errbuf, size_t errlen)
{
  size_t n = frames * (size_t)channels;
  if (channels <= 0 || frames > (SIZE_MAX / 2) / (size_t)channels || n * 2 > 0xffffffffu - 44) {
    snprintf(errbuf, errlen, "%.300s: too long for a WAV file", path);
    return -1;
  }
  char tmp[4096];
  render_path(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", tmp, strerror(errno));
    return -1;
  }
  uint8_t h[44];
  memcpy(h, "RIFF", 4);
  put_le32(h + 4, (uint32_t)(36 + n * 2));
  memcpy(h + 8, "WAVEfmt ", 8);
  put_le32(h + 16, 16);
  put_le16(h + 20, 1); /* PCM */
  put_le16(h + 22, (uint16_t)channels);
  put_le32(h + 24, (uint32_t)rate_hz);
  put_le32(h + 28, (uint32_t)rate_hz * (uint32_t)channels * 2);
  put_le16(h + 32, (uint16_t)(channels * 2));
  put_le16(h + 34, 16);
  memcpy(h + 36, "data", 4);
  put_le32(h + 40, (uint32_t)(n * 2));
  int ok = fwrite(h, 1, 44, f) == 44;
  uint8_t blk[8192];
  for (size_t i = 0; ok && i < n;) {
    size_t k = 0;
    for (; k < sizeof(blk) / 2 && i < n; k++, i++) {
      float v = x[i] * 32767.0f;
      v = v > 32767.0f ? 32767.0f : v < -32767.0f ? -32767.0f : v;
      int16_t s = (int16_t)(v >= 0 ? v + 0.5f : v - 0.5f);
      put_le16(blk + 2 * k, (uint16_t)s);
    }
    ok = fwrite(blk, 2, k, f) == k;
  }
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    snprintf(errbuf, errlen, "%.300s: write failed", path);
    return -1;
  }
  return 0;
}

/* Ogg's page checksum: CRC-32, polynomial 0x04c11db7, MSB first, initial value 0. */
static uint32_t ogg_crc(const uint8_t *p, size_t n)
{
  uint32_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint32_t)p[i] << 24;
    for (int b = 0; b < 8; b++)
      crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
  }
  return crc;
}

/* oggmux draws the stream serial number at random (the pad-name way of choosing it does not
 * parse "audio_%u" names), so the same audio would give different bytes: set it afterwards in
 * every page and recompute the page checksums. */
static int ogg_set_serial(const char *path, uint32_t serial)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
  int ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
  fclose(f);
  size_t pos = 0, n = ok ? (size_t)size : 0;
  while (ok && pos < n) {
    if (n - pos < 27 || memcmp(buf + pos, "OggS", 4) != 0) {
      ok = 0;
      break;
    }
    uint8_t *pg = buf + pos;
    size_t nseg = pg[26], len = 27 + nseg;
    if (len > n - pos) {
      ok = 0;
      break;
    }
    for (size_t k = 0; k < nseg; k++)
      len += pg[27 + k];
    if (len > n - pos) {
      ok = 0;
      break;
    }
    put_le32(pg + 14, serial);
    memset(pg + 22, 0, 4);
    put_le32(pg + 22, ogg_crc(pg, len));
    pos += len;
  }
  if (ok) {
    f = fopen(path, "wb");
    ok = f && fwrite(buf, 1, n, f) == n;
    if (f)
      ok = (fclose(f) == 0) && ok;
  }
  free(buf);
  return ok ? 0 : -1;
}

int audio_write_ogg(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                    float quality, unsigned serial, char *errbuf, size_t errlen)
{
  return audio_write_ogg_at(path, x, frames, channels, rate_hz, rate_hz, quality, serial, errbuf,
                            errlen);
}

int audio_write_ogg_at(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                       int file_rate_hz, float quality, unsigned serial, char *errbuf,
                       size_t errlen)
{
  char desc[512], tmp[4096], resample[96] = "";
  render_path(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
  if (file_rate_hz != rate_hz)
    snprintf(resample, sizeof(resample), "audioresample ! audio/x-raw,rate=%d ! ", file_rate_hz);
  snprintf(desc, sizeof(desc),
           "appsrc name=src format=time ! %saudioconvert ! vorbisenc quality=%.3f ! "
           "oggmux ! filesink name=sink",
           resample, (double)quality);
  GError *perr = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &perr);
  if (!pipeline) {
    snprintf(errbuf, errlen, "GStreamer: %s", perr ? perr->message : "cannot build pipeline");
    g_clear_error(&perr);
    return -1;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_object_set(sink, "location", tmp, NULL);
  GstCaps *caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "F32LE", "layout",
                                      G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, rate_hz,
                                      "channels", G_TYPE_INT, channels, NULL);
  if (channels == 2)
    gst_caps_set_simple(caps, "channel-mask", GST_TYPE_BITMASK, (guint64)0x3, NULL);
  gst_app_src_set_caps(GST_APP_SRC(src), caps);
  gst_caps_unref(caps);
  int rc = 0;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    snprintf(errbuf, errlen, "%.300s: cannot start the Vorbis encoder", path);
    rc = -1;
  }
  const size_t chunk = 4096;
  for (size_t pos = 0; rc == 0 && pos < frames; pos += chunk) {
    size_t k = frames - pos < chunk ? frames - pos : chunk;
    size_t bytes = k * (size_t)channels * sizeof(float);
    GstBuffer *b = gst_buffer_new_allocate(NULL, bytes, NULL);
    gst_buffer_fill(b, 0, x + pos * (size_t)channels, bytes);
    GST_BUFFER_PTS(b) = gst_util_uint64_scale(pos, GST_SECOND, (guint64)rate_hz);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale(k, GST_SECOND, (guint64)rate_hz);
    if (gst_app_src_push_buffer(GST_APP_SRC(src), b) != GST_FLOW_OK) {
      rc = wait_eos(pipeline, errbuf, errlen, path) ? -1 : -1;
      if (errbuf && errlen && errbuf[0] == '\0')
        snprintf(errbuf, errlen, "%.300s: encoding failed", path);
    }
  }
  if (rc == 0) {
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    rc = wait_eos(pipeline, errbuf, errlen, path);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  if (rc == 0 && ogg_set_serial(tmp, serial) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot rewrite the Ogg serial number", path);
    rc = -1;
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot rename the finished file", path);
    rc = -1;
  }
  if (rc != 0)
    unlink(tmp);
  return rc;
}

const char *audio_codec_name(audio_codec codec)
{
  switch (codec) {
  case AUDIO_CODEC_MP3:
    return "mp3";
  case AUDIO_CODEC_VORBIS:
    return "vorbis";
  case AUDIO_CODEC_OPUS:
    return "opus";
  }
  return "?";
}

int audio_codec_roundtrip(float *x, size_t frames, int channels, int rate_hz, audio_codec codec,
                          int kbps, char *errbuf, size_t errlen)
{
  char desc[512];
  const char *enc_dec = codec == AUDIO_CODEC_MP3      ? "lamemp3enc target=bitrate cbr=true "
                                                        "bitrate=%d ! mpegaudioparse ! "
                                                        "mpg123audiodec"
                        : codec == AUDIO_CODEC_VORBIS ? "vorbisenc bitrate=%d000 ! vorbisdec"
                                                      : "audioresample ! audio/x-raw,rate=48000 ! "
                                                        "opusenc bitrate=%d000 ! opusdec";
  char chain[200];
  snprintf(chain, sizeof chain, enc_dec, kbps);
  snprintf(desc, sizeof desc,
           "appsrc name=src format=time ! audioconvert ! %s ! audioconvert ! audioresample ! "
           "appsink name=sink sync=false",
           chain);
  GError *perr = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &perr);
  if (!pipeline) {
    snprintf(errbuf, errlen, "%s round trip: %s", audio_codec_name(codec),
             perr ? perr->message : "cannot build pipeline");
    g_clear_error(&perr);
    return -1;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstCaps *caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "F32LE", "layout",
                                      G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, rate_hz,
                                      "channels", G_TYPE_INT, channels, NULL);
  gst_app_src_set_caps(GST_APP_SRC(src), caps);
  gst_app_sink_set_caps(GST_APP_SINK(sink), caps);
  gst_caps_unref(caps);
  g_object_set(src, "max-bytes", (guint64)0, NULL); /* queue everything: pushed before pulling */
  int rc = gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE ? -1 : 0;
  const size_t chunk = 4096;
  for (size_t at = 0; rc == 0 && at < frames; at += chunk) {
    size_t n = frames - at < chunk ? frames - at : chunk;
    GstBuffer *b =
        gst_buffer_new_memdup(x + at * (size_t)channels, n * (size_t)channels * sizeof(float));
    GST_BUFFER_PTS(b) = gst_util_uint64_scale(at, GST_SECOND, (guint64)rate_hz);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale(n, GST_SECOND, (guint64)rate_hz);
    if (gst_app_src_push_buffer(GST_APP_SRC(src), b) != GST_FLOW_OK)
      rc = -1;
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  /* the decoded audio replaces x; the codec's delay (a few ms to ~50 ms) stays in, the length
   * is kept (cut, or padded with silence) */
  size_t got = 0, total = frames * (size_t)channels;
  while (rc == 0) {
    GstSample *sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
    if (!sample)
      break;
    GstBuffer *b = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
      size_t k = map.size / sizeof(float);
      if (got + k > total)
        k = got < total ? total - got : 0;
      memcpy(x + got, map.data, k * sizeof(float));
      got += k;
      gst_buffer_unmap(b, &map);
    }
    gst_sample_unref(sample);
  }
  if (rc == 0 && !gst_app_sink_is_eos(GST_APP_SINK(sink)))
    rc = wait_eos(pipeline, errbuf, errlen, audio_codec_name(codec));
  else if (rc != 0)
    snprintf(errbuf, errlen, "%s round trip: the pipeline refused the audio",
             audio_codec_name(codec));
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  if (rc == 0 && got == 0) {
    snprintf(errbuf, errlen, "%s round trip: no audio came back", audio_codec_name(codec));
    rc = -1;
  }
  if (rc == 0)
    memset(x + got, 0, (total - got) * sizeof(float));
  return rc;
}
