/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audiopath.h — the one audio path from decoded audio to the model's input: any format, layout,
 * rate and channel count in; mono float samples at the model's rate out. The element and every
 * tool that decodes (trainer/decode.c for instrid-train and instrid-eval's references) use it,
 * so the network hears in training exactly what it hears in service.
 *
 * In order:
 *  1. unpack to 32-bit float at the input rate, every channel kept;
 *  2. sanitise: NaN becomes 0, +-Inf becomes +-1 (full scale), before anything mixes or filters
 *     them (a NaN through a resampler would spread over the filter's length);
 *  3. mix to mono: the mean of all channels, whatever their positions;
 *  4. resample to the output rate with GStreamer's resampler configured as the audioresample
 *     element's defaults (Kaiser-windowed sinc, quality 4); none runs when the output rate is
 *     the input's.
 * The output rate is the route's (instrid_audiopath_route_rate): the input's own rate when the
 * model's front end can run at it (libinstrid's at-input-rate mode: the same window and hop
 * durations, the same mel bands in Hz, so no resampler is needed), else the model's rate. The
 * element and the trainer both ask it, so they take the same route for the same input.
 * Without resampling, 16- and 32-bit integer and 32-bit float interleaved input (what decoders
 * give) takes steps 1-3 in one loop of ours (integers scaled by 2^-15 or 2^-31 as the
 * converter does, the mean as the sum in channel order times 1 / channels); other formats and
 * layouts go through GStreamer's converters.
 * The same input in the same calls gives bit-identical output; the element and the decoder hand
 * it the decoder's buffers as they come.
 */
#ifndef INSTRID_AUDIOPATH_H
#define INSTRID_AUDIOPATH_H

#include <gst/audio/audio.h>

#include "instrid.h"

G_BEGIN_DECLS

typedef struct instrid_audiopath instrid_audiopath;

/* The route for input at input_rate to a model whose front end is fe: input_rate itself when
 * its Nyquist frequency reaches fe's fmax_hz (instrid_frontend_params_for_rate accepts it; the
 * analysis then runs at that rate, instrid_stream_new_for_rate) and fe's hop is a whole number
 * of samples at it (so frames keep the model's timing exactly: any rate that is a multiple of
 * 100 Hz for a 10 ms hop), else fe's sample_rate (the path resamples). */
guint32 instrid_audiopath_route_rate(const instrid_frontend_params *fe, gint input_rate);

/* Receives each converted chunk; returns FALSE to stop (instrid_audiopath_convert then returns
 * FALSE). */
typedef gboolean (*instrid_audiopath_out_fn)(gpointer user, const gfloat *samples, gsize n);

/* A path from audio as info describes to mono at sample_rate (usually the route's). NULL with err
 * filled (INSTRID_ERR_INVALID_ARG) when GStreamer has no converter for it. */
instrid_audiopath *instrid_audiopath_new(const GstAudioInfo *info, guint32 sample_rate,
                                         instrid_error *err);
void instrid_audiopath_free(instrid_audiopath *path);
/* Forgets the resampler's history (a new window sequence). */
void instrid_audiopath_reset(instrid_audiopath *path);

/* Converts frames of input, planes as GstAudioBuffer lays them out (one pointer for interleaved
 * audio, one per channel for planar; NULL = silence), handing the output to out in chunks.
 * FALSE when out asked to stop. */
gboolean instrid_audiopath_convert(instrid_audiopath *path, gpointer *planes, gsize frames,
                                   instrid_audiopath_out_fn out, gpointer user);
/* At the end of the audio: the resampler holds back its last few input frames until more
 * arrive; pushes them out (followed by silence). FALSE when out asked to stop. */
gboolean instrid_audiopath_drain(instrid_audiopath *path, instrid_audiopath_out_fn out,
                                 gpointer user);

/* The input's rate in Hz, for callers that time their input. */
gint instrid_audiopath_input_rate(const instrid_audiopath *path);
/* Input frames the resampler holds back (what instrid_audiopath_drain pushes out). */
gsize instrid_audiopath_latency(const instrid_audiopath *path);

G_END_DECLS

#endif /* INSTRID_AUDIOPATH_H */
