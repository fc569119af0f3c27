/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audio.h — audio file input and output for the corpus renderer: any format GStreamer decodes in,
 * 16-bit PCM WAV and Ogg Vorbis out. Errors come back as a one-line message.
 */
#ifndef INSTRID_RENDER_AUDIO_H
#define INSTRID_RENDER_AUDIO_H

#include <stddef.h>

/* Decodes a file to interleaved float at rate_hz with `channels` channels (GStreamer:
 * filesrc ! decodebin ! audioconvert ! audioresample ! appsink). *out is malloc'ed; *frames is
 * the length in frames. Returns 0 on success, -1 with errbuf filled. gst_init must have run. */
int audio_decode_file(const char *path, int rate_hz, int channels, float **out, size_t *frames,
                      char *errbuf, size_t errlen);

/* Writes interleaved float samples (clipped to [-1, 1]) as 16-bit PCM WAV, atomically
 * (path.tmp then rename). */
int audio_write_wav(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                    char *errbuf, size_t errlen);

/* Encodes interleaved float as Ogg Vorbis (quality 0..1) through GStreamer. The Ogg stream
 * serial number is fixed to `serial` so that the same audio gives the same bytes. */
int audio_write_ogg(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                    float quality, unsigned serial, char *errbuf, size_t errlen);
/* The same, the file at file_rate_hz (audioresample from rate_hz when they differ): a 16 kHz
 * file is band-limited below 8 kHz as real low-rate recordings are. */
int audio_write_ogg_at(const char *path, const float *x, size_t frames, int channels, int rate_hz,
                       int file_rate_hz, float quality, unsigned serial, char *errbuf,
                       size_t errlen);

typedef enum { AUDIO_CODEC_MP3 = 0, AUDIO_CODEC_VORBIS = 1, AUDIO_CODEC_OPUS = 2 } audio_codec;
#define AUDIO_N_CODECS 3

/* "mp3", "vorbis", "opus". */
const char *audio_codec_name(audio_codec codec);

/* Encodes interleaved float x at kbps (per stream) and decodes it back into x, in-process
 * through GStreamer (lamemp3enc/mpg123audiodec, vorbisenc/vorbisdec, opusenc/opusdec): the
 * artefacts of the lossy files real recordings arrive as. The same input gives the same output.
 * The codec's delay stays in; the length is kept. Returns 0, or -1 with errbuf (x may then be
 * partly replaced). */
int audio_codec_roundtrip(float *x, size_t frames, int channels, int rate_hz, audio_codec codec,
                          int kbps, char *errbuf, size_t errlen);

#endif /* INSTRID_RENDER_AUDIO_H */
