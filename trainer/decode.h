/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* decode.h — decodes any audio file GStreamer can read to mono float samples at a given rate,
 * or on the element's route for a model (at the file's own rate when the model's front end can
 * run at it):
 * filesrc ! decodebin ! appsink, each decoded buffer through the element's own audio path
 * (audio/audiopath.h: NaN/Inf sanitised, channels averaged, resampled), so the trainer hears
 * exactly what the element hears.
 */
#ifndef INSTRID_DECODE_H
#define INSTRID_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "instrid.h"

/* Receives consecutive chunks of samples (mono, float, at the requested rate). Returns 0 to go
 * on, non-zero to stop decoding (decode_audio_file then returns INSTRID_ERR_INVALID_ARG with
 * the message "stopped by the consumer"). */
typedef int (*decode_chunk_fn)(void *user, const float *samples, size_t n_samples);

/* Decodes path and hands every chunk to on_chunk, in order. Initialises GStreamer on first use.
 * Errors (INSTRID_ERR_IO: missing/unreadable file; INSTRID_ERR_FORMAT: not audio, corrupt
 * stream, no audio track) fill err with a one-line message naming the file and GStreamer's
 * reason. A file that decodes to zero samples is an INSTRID_ERR_FORMAT error. *n_samples_out,
 * when not NULL, receives the total. */
instrid_status decode_audio_file(const char *path, uint32_t sample_rate, decode_chunk_fn on_chunk,
                                 void *user, uint64_t *n_samples_out, instrid_error *err);

/* Told the rate of the samples before the first chunk. Returns 0 to go on, non-zero to stop
 * (as decode_chunk_fn). */
typedef int (*decode_rate_fn)(void *user, uint32_t rate);

/* Decodes path on the element's route for a model whose front end is fe
 * (instrid_audiopath_route_rate): at the file's own rate when fe can run at it (libinstrid's
 * at-input-rate front end, instrid_frontend_params_for_rate), else resampled to fe's rate.
 * on_rate hears the rate before the first chunk; later caps of another rate are converted to
 * it. Otherwise as decode_audio_file; *rate_out (when not NULL) receives the rate, 0 when no
 * audio came. */
instrid_status decode_audio_file_routed(const char *path, const instrid_frontend_params *fe,
                                        decode_rate_fn on_rate, decode_chunk_fn on_chunk,
                                        void *user, uint64_t *n_samples_out, uint32_t *rate_out,
                                        instrid_error *err);

/* Convenience: decodes the whole file into a malloc'ed array (*samples, freed with free()). */
instrid_status decode_audio_file_to_array(const char *path, uint32_t sample_rate, float **samples,
                                          size_t *n_samples, instrid_error *err);
/* The same on the element's route for front end fe (decode_audio_file_routed); *rate receives
 * the samples' rate. */
instrid_status decode_audio_file_to_array_routed(const char *path,
                                                 const instrid_frontend_params *fe, float **samples,
                                                 size_t *n_samples, uint32_t *rate,
                                                 instrid_error *err);

#endif /* INSTRID_DECODE_H */
