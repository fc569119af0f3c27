/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audiopath.c — decoded audio to the model's input samples (see audiopath.h): two
 * GstAudioConverters with the sanitising step between them.
 */
#include <math.h>
#include <string.h>

#include "audiopath.h"
#include "hotloop.h"

/* Input frames converted at a time, so the scratch is allocated once. */
#define AUDIOPATH_CHUNK_FRAMES 4096
/* audioresample's default quality (0..10), the filter the shipped model was trained behind. */
#define AUDIOPATH_RESAMPLER_QUALITY 4

/* Inputs mixed to mono in one pass of our own when nothing is resampled (the formats decoders
 * give); every other input goes through the two converters. */
typedef enum { DIRECT_NONE, DIRECT_S16, DIRECT_S32, DIRECT_F32 } audiopath_direct;

struct instrid_audiopath {
  audiopath_direct direct;   /* not DIRECT_NONE: unpack, sanitise and mix in one loop */
  GstAudioConverter *unpack; /* input -> F32 interleaved, same rate and channels */
  GstAudioConverter *mix;    /* F32 interleaved -> F32 mono at the model's rate */
  gint rate, channels;
  gsize bpf, bps;    /* input bytes per frame, per sample */
  gboolean planar;   /* input non-interleaved */
  gboolean is_float; /* input may hold NaN and Inf */
  gfloat *unpacked;  /* (AUDIOPATH_CHUNK_FRAMES, channels) */
  gfloat *out;       /* (out_max) */
  gsize out_max;
};

guint32 instrid_audiopath_route_rate(const instrid_frontend_params *fe, gint input_rate)
{
  instrid_frontend_params at_rate;
  /* Only where the hop scales exactly, so that frames (and window timestamps) keep the model's
   * timing without drifting: 10 ms at 32 kHz is 441 samples at 44.1 kHz, 480 at 48 kHz. */
  if (input_rate > 0 && fe->sample_rate > 0 &&
      (guint64)input_rate * fe->hop_samples % fe->sample_rate == 0 &&
      instrid_frontend_params_for_rate(fe, (uint32_t)input_rate, &at_rate, NULL) == INSTRID_OK)
    return (guint32)input_rate;
  return fe->sample_rate;
}

instrid_audiopath *instrid_audiopath_new(const GstAudioInfo *info, guint32 sample_rate,
                                         instrid_error *err)
{
  instrid_audiopath *p = g_new0(instrid_audiopath, 1);
  GstAudioInfo f32, mono;
  GstStructure *config;

  p->rate = GST_AUDIO_INFO_RATE(info);
  p->channels = GST_AUDIO_INFO_CHANNELS(info);
  p->bpf = GST_AUDIO_INFO_BPF(info);
  p->bps = GST_AUDIO_INFO_WIDTH(info) / 8;
  p->planar = GST_AUDIO_INFO_LAYOUT(info) == GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  p->is_float = GST_AUDIO_FORMAT_INFO_IS_FLOAT(info->finfo);

  /* Same channels in the same positions: the first converter neither mixes nor resamples. */
  f32 = *info;
  f32.finfo = gst_audio_format_get_info(GST_AUDIO_FORMAT_F32);
  f32.layout = GST_AUDIO_LAYOUT_INTERLEAVED;
  f32.bpf = 4 * p->channels;
  p->unpack =
      gst_audio_converter_new(GST_AUDIO_CONVERTER_FLAG_NONE, (GstAudioInfo *)info, &f32, NULL);

  gst_audio_info_init(&mono);
  gst_audio_info_set_format(&mono, GST_AUDIO_FORMAT_F32, (gint)sample_rate, 1, NULL);
  config = gst_structure_new_empty("GstAudioConverterConfig");
  if (p->channels > 1) {
    /* The mean of all channels, whatever their positions: unambiguous for unpositioned and
     * surround layouts alike, and what (L + R) / 2 is for stereo. */
    GValue matrix = G_VALUE_INIT, row = G_VALUE_INIT;
    gint c;
    g_value_init(&matrix, GST_TYPE_ARRAY);
    g_value_init(&row, GST_TYPE_ARRAY);
    for (c = 0; c < p->channels; c++) {
      GValue v = G_VALUE_INIT;
      g_value_init(&v, G_TYPE_FLOAT);
      g_value_set_float(&v, 1.0f / (gfloat)p->channels);
      gst_value_array_append_and_take_value(&row, &v);
    }
    gst_value_array_append_and_take_value(&matrix, &row);
    gst_structure_take_value(config, GST_AUDIO_CONVERTER_OPT_MIX_MATRIX, &matrix);
  }
  gst_audio_resampler_options_set_quality(GST_AUDIO_RESAMPLER_METHOD_KAISER,
                                          AUDIOPATH_RESAMPLER_QUALITY, p->rate, (gint)sample_rate,
                                          config);
  gst_structure_set(config, GST_AUDIO_CONVERTER_OPT_RESAMPLER_METHOD,
                    GST_TYPE_AUDIO_RESAMPLER_METHOD, GST_AUDIO_RESAMPLER_METHOD_KAISER, NULL);
  p->mix = gst_audio_converter_new(GST_AUDIO_CONVERTER_FLAG_NONE, &f32, &mono, config);

  if (p->unpack == NULL || p->mix == NULL) {
    if (err != NULL) {
      err->code = INSTRID_ERR_INVALID_ARG;
      g_snprintf(err->message, sizeof err->message,
                 "no conversion from %d Hz, %d channels of %s to %u Hz mono", p->rate, p->channels,
                 GST_AUDIO_INFO_NAME(info), sample_rate);
    }
    instrid_audiopath_free(p);
    return NULL;
  }
  p->unpacked = g_new(gfloat, (gsize)AUDIOPATH_CHUNK_FRAMES * p->channels);
  p->out_max = MAX(gst_audio_converter_get_out_frames(p->mix, AUDIOPATH_CHUNK_FRAMES),
                   (gsize)AUDIOPATH_CHUNK_FRAMES) +
               64;
  p->out = g_new(gfloat, p->out_max);
  if ((guint32)p->rate == sample_rate && !p->planar) {
    switch (GST_AUDIO_INFO_FORMAT(info)) {
    case GST_AUDIO_FORMAT_S16:
      p->direct = DIRECT_S16;
      break;
    case GST_AUDIO_FORMAT_S32:
      p->direct = DIRECT_S32;
      break;
    case GST_AUDIO_FORMAT_F32:
      p->direct = DIRECT_F32;
      break;
    default:
      break;
    }
  }
  return p;
}

void instrid_audiopath_free(instrid_audiopath *p)
{
  if (p == NULL)
    return;
  if (p->unpack != NULL)
    gst_audio_converter_free(p->unpack);
  if (p->mix != NULL)
    gst_audio_converter_free(p->mix);
  g_free(p->unpacked);
  g_free(p->out);
  g_free(p);
}

void instrid_audiopath_reset(instrid_audiopath *p)
{
  gst_audio_converter_reset(p->unpack);
  gst_audio_converter_reset(p->mix);
}

gint instrid_audiopath_input_rate(const instrid_audiopath *p)
{
  return p->rate;
}

/* NaN -> 0, +-Inf -> +-1: what the front end documents, done before mixing and resampling so a
 * bad sample stays one bad sample. */
static void audiopath_sanitise(gfloat *x, gsize n)
{
  gsize i;
  for (i = 0; i < n; i++)
    if (!isfinite(x[i]))
      x[i] = isnan(x[i]) ? 0.0f : (x[i] > 0.0f ? 1.0f : -1.0f);
}

/* Mixes and resamples chunk frames of p->unpacked and hands the result to out. */
static gboolean audiopath_mix(instrid_audiopath *p, gsize chunk, instrid_audiopath_out_fn out,
                              gpointer user)
{
  gpointer in[1] = {p->unpacked}, outp[1];
  gsize out_frames = gst_audio_converter_get_out_frames(p->mix, chunk);

  if (out_frames > p->out_max) {
    p->out = g_renew(gfloat, p->out, out_frames);
    p->out_max = out_frames;
  }
  outp[0] = p->out;
  if (!gst_audio_converter_samples(p->mix, GST_AUDIO_CONVERTER_FLAG_NONE, in, chunk, outp,
                                   out_frames))
    return TRUE; /* cannot happen with the formats set up in _new; nothing comes out */
  return out_frames == 0 || out(user, p->out, out_frames);
}

/* One sample of the input as a float in [-1, 1], sanitised: what the unpacking converter
 * gives (integers over 2^15 or 2^31, exact) and audiopath_sanitise then makes of it. */
static inline gfloat direct_sample(const void *in, gsize i, audiopath_direct kind)
{
  if (kind == DIRECT_S16)
    return (gfloat)((const gint16 *)in)[i] * (1.0f / 32768.0f);
  if (kind == DIRECT_S32)
    return (gfloat)((const gint32 *)in)[i] * (1.0f / 2147483648.0f);
  gfloat v = ((const gfloat *)in)[i];
  return isfinite(v) ? v : (isnan(v) ? 0.0f : (v > 0.0f ? 1.0f : -1.0f));
}

HOT_LOOP
static void mix_s16_stereo(const gint16 *restrict in, gsize frames, gfloat scale,
                           gfloat *restrict mono)
{
  for (gsize i = 0; i < frames; i++)
    mono[i] =
        ((gfloat)in[2 * i] * (1.0f / 32768.0f) + (gfloat)in[2 * i + 1] * (1.0f / 32768.0f)) * scale;
}

/* The direct route: frames of interleaved input (NULL = silence) to mono, the channels'
 * mean as the sum in channel order times 1 / channels. */
static void audiopath_direct_mix(const instrid_audiopath *p, const void *in, gsize frames,
                                 gfloat *mono)
{
  const gint ch = p->channels;
  const gfloat scale = 1.0f / (gfloat)ch;
  gsize i;
  if (in == NULL) {
    memset(mono, 0, frames * sizeof(gfloat));
  } else if (ch == 2 && p->direct == DIRECT_S16) {
    mix_s16_stereo(in, frames, scale, mono);
  } else if (ch == 1) {
    for (i = 0; i < frames; i++)
      mono[i] = direct_sample(in, i, p->direct);
  } else if (ch == 2) {
    for (i = 0; i < frames; i++)
      mono[i] =
          (direct_sample(in, 2 * i, p->direct) + direct_sample(in, 2 * i + 1, p->direct)) * scale;
  } else {
    for (i = 0; i < frames; i++) {
      gfloat sum = 0.0f;
      for (gint c = 0; c < ch; c++)
        sum += direct_sample(in, i * (gsize)ch + (gsize)c, p->direct);
      mono[i] = sum * scale;
    }
  }
}

gboolean instrid_audiopath_convert(instrid_audiopath *p, gpointer *planes, gsize frames,
                                   instrid_audiopath_out_fn out, gpointer user)
{
  gsize offset = 0;

  if (p->direct != DIRECT_NONE) {
    while (offset < frames) {
      gsize chunk = MIN(frames - offset, (gsize)AUDIOPATH_CHUNK_FRAMES);
      audiopath_direct_mix(p, planes ? (const guint8 *)planes[0] + offset * p->bpf : NULL, chunk,
                           p->out);
      if (!out(user, p->out, chunk))
        return FALSE;
      offset += chunk;
    }
    return TRUE;
  }

  while (offset < frames) {
    gsize chunk = MIN(frames - offset, (gsize)AUDIOPATH_CHUNK_FRAMES);

    if (planes == NULL) {
      memset(p->unpacked, 0, chunk * p->channels * sizeof(gfloat));
    } else {
      gpointer in[64], unpacked[1] = {p->unpacked};
      gint c;
      for (c = 0; c < (p->planar ? p->channels : 1); c++)
        in[c] = (guint8 *)planes[c] + offset * (p->planar ? p->bps : p->bpf);
      if (!gst_audio_converter_samples(p->unpack, GST_AUDIO_CONVERTER_FLAG_NONE, in, chunk,
                                       unpacked, chunk))
        memset(p->unpacked, 0, chunk * p->channels * sizeof(gfloat));
      if (p->is_float)
        audiopath_sanitise(p->unpacked, chunk * p->channels);
    }
    if (!audiopath_mix(p, chunk, out, user))
      return FALSE;
    offset += chunk;
  }
  return TRUE;
}

gsize instrid_audiopath_latency(const instrid_audiopath *p)
{
  return gst_audio_converter_get_max_latency(p->mix);
}

gboolean instrid_audiopath_drain(instrid_audiopath *p, instrid_audiopath_out_fn out, gpointer user)
{
  gsize latency = instrid_audiopath_latency(p);
  return latency == 0 || instrid_audiopath_convert(p, NULL, latency, out, user);
}
