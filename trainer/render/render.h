/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* render.h — turns one MIDI song into a labelled mix: picks a class and a sound source for each
 * part (FluidSynth through General MIDI SoundFonts, the Philharmonia sampler, Hydrogen drum
 * kits), renders every part as its own stem, varies tempo, transposition, gain, pan, EQ and
 * reverb, and mixes the stems so the note labels stay exact.
 *
 * A render_engine belongs to one thread (it owns a FluidSynth instance); the sample_library it
 * uses may be shared by all engines.
 */
#ifndef INSTRID_RENDER_H
#define INSTRID_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "classes.h"
#include "rng.h"
#include "sampler.h"
#include "sfz.h"
#include "smf.h"

#define RENDER_MAX_SOUNDFONTS 8
#define RENDER_MAX_STEMS 6
#define RENDER_MAX_SFZ 64

typedef struct {
  const char *soundfonts[RENDER_MAX_SOUNDFONTS]; /* GM SoundFonts (.sf2/.sf3) */
  int n_soundfonts;
  sample_library *library; /* may be NULL: FluidSynth only */
  int rate_hz;
  /* Real multisampled libraries: sfz[i] plays class sfz_class[i] (TAX_DRUMS: GM percussion
   * parts, labelled drums or cymbals by key). Shared by every engine. */
  sfz_instrument *sfz[RENDER_MAX_SFZ];
  int sfz_class[RENDER_MAX_SFZ];
  int n_sfz;
  /* Room impulse responses (mono, at rate_hz, prepared by acoustics_prepare_ir). */
  const float *const *irs;
  const size_t *ir_frames;
  int n_irs;
} render_config;

typedef struct render_engine render_engine;

render_engine *render_engine_new(const render_config *cfg, char *errbuf, size_t errlen);
void render_engine_free(render_engine *eng);

/* SOURCE_SYNTH: the built-in synthesizer (synth.h), used only when synth_prob > 0. */
enum {
  SOURCE_FLUID = 1,
  SOURCE_SAMPLER = 2,
  SOURCE_KIT = 4,
  SOURCE_SFZ = 8,
  SOURCE_SYNTH = 16,
  SOURCE_ALL = 31
};

typedef struct {
  double excerpt_s;     /* > 0: render this long an excerpt from a random place; 0: whole song */
  int max_instruments;  /* 1..RENDER_MAX_STEMS parts kept */
  double solo_prob;     /* probability that only one part is kept */
  double reassign_prob; /* probability that a part with a program gets another class (by range) */
  double phrase_prob;   /* probability of adding a recorded Philharmonia phrase as a stem */
  double sampler_prob;  /* when a class has both, probability of the sampler over FluidSynth */
  int sources;          /* SOURCE_* bits allowed */
  int vary;             /* 1: random tempo, transposition, gain, pan, EQ, reverb; 0: as written */
  uint32_t excluded_classes; /* bit c set: class c is never chosen for a pitched part */
  double sfz_prob; /* when an SFZ library can play a class, probability of it over the others */
  /* The acoustics of real recordings, applied to the whole piece (0 = never; with all four at
   * 0 the output is what it was before they existed, byte for byte): */
  double room_prob;     /* convolution with a room (a real response from cfg.irs or synthetic) */
  double mic_prob;      /* a microphone's EQ colour */
  double compress_prob; /* a compressor, 2:1 to 8:1 */
  double codec_prob;    /* a lossy codec round trip: mp3, Vorbis or Opus at a random bitrate */
  int keep_program;     /* 1: a part's written GM program, when it is one of its class's, is always
                         * the one FluidSynth plays (isolated notes); 0: half the time with vary */
  int excerpt_from_start; /* 1: an excerpt starts where the song does (isolated notes keep their
                           * attack); 0: at a random place where some part plays */
  /* Probability that a song without a percussion part gets a generated drum part (drums.c) as
   * one more stem, from its own stream of random numbers (0: never, and the output is what it
   * was before this existed). It counts within max_instruments: when the parts drawn already
   * fill it, it replaces one of them; a solo piece (solo_prob) and max_instruments 1 get none. */
  double drums_prob;
  /* Probability that a piece is register-matched: every pitched part after the first moved by
   * whole octaves (on top of the piece's transposition) so that its median note lies within a
   * tritone of the first part's, before its class is kept or drawn (a class whose range cannot
   * hold it there moves it back by an octave, as before). Instruments in one register hide each
   * other, the hard case of a mix. From its own stream of random numbers (0: never, and the
   * output is what it was before this existed). */
  double match_register_prob;
  /* Probability that the built-in synthesizer (synth.h) plays a pitched part whose class it can
   * play, from its own stream of random numbers (0: never, and the output is what it was before
   * it existed). A class only the synthesizer can play (the others left out) always gets it. */
  double synth_prob;
  /* Relative odds of each class wherever a class is drawn for a part or a note (a reassigned
   * part among the classes whose range holds it, an isolated note among the classes the sources
   * play); 0 = never drawn. All 1 (the default) is an even draw, the same bytes as before the
   * weights existed. Balances corpora in which range alone makes some classes rare (flute,
   * trumpet and the other narrow-range classes in mixtures). */
  double class_weight[TAXONOMY_N];
} render_options;

/* Defaults for corpus rendering. */
void render_options_default(render_options *opt);
/* The defaults less every random variation (vary 0, reassign_prob 0): a song played as written,
 * by the sources given (SOURCE_* bits), as the built-in example is. */
void render_options_as_written(render_options *opt, int sources);

typedef struct {
  uint32_t start, end; /* samples at the engine's rate, within the piece */
  int cls;             /* render_classes index */
  int note;            /* MIDI note (the percussion key for drums and cymbals) */
  double start_beat, dur_beats;
} render_label;

typedef struct {
  float *audio; /* interleaved stereo, `frames` long */
  size_t frames;
  double start_s;       /* where the excerpt starts in the (tempo-scaled) song */
  render_label *labels; /* sorted by start */
  size_t n_labels;
  double class_seconds[TAXONOMY_N]; /* how long each class sounds (sum of its notes) */
  char description[512];  /* "violin[philharmonia] + piano[FluidR3_GM.sf2 p0]"; a generated drum
                           * part reads "drums[generated, kit GMRockKit]" */
  int first_program;      /* GM program FluidSynth played the first stem with when that stem is
                           * pitched; -1 otherwise (another source, drums, no stem) */
  uint32_t synth_classes; /* bit c: the built-in synthesizer played a part labelled class c */
} render_piece;

/* Renders song with the randomness of seed. Returns 0, or -1 with errbuf (then *piece is
 * empty). A song none of whose parts can be rendered is an error too. */
int render_song(render_engine *eng, const smf_song *song, const render_options *opt, uint64_t seed,
                render_piece *piece, char *errbuf, size_t errlen);
void render_piece_clear(render_piece *piece);

/* Whether some source allowed by opt can play class cls (never when opt->excluded_classes has
 * it): pitched classes through FluidSynth,
 * the sampler or an SFZ library; drums and cymbals through a kit, a GM SoundFont's percussion or
 * a drum SFZ library. */
int render_class_available(const render_engine *eng, const render_options *opt, int cls);

/* One candidate of a draw of classes (render_options.class_weight): the candidates are offered in
 * turn with *n and *total starting at 0, and a return of 1 makes cls the pick so far. With every
 * weight 1 it is the even reservoir draw (one splitmix_below per candidate). */
int render_class_draw(const render_options *opt, splitmix_rng *rng, int cls, uint64_t *n,
                      double *total);

/* Isolated notes (instrid-render --notes, notes.c). render_note_class draws a class (evenly, or by
 * opt->class_weight) among those some source allowed by opt can play (-1: none). render_note_song
 * makes one note of class cls a one-part song: a pitched class plays one of its GM programs (none
 * for mandolin and ukulele: the renderer picks the source), a pitch drawn uniformly in its range,
 * velocity 25..127, held 0.5..3.5 s (at most clip_s - 0.5 s) from 0..0.2 s; drums and cymbals play
 * one hit or a one-bar pattern of hits of their GM percussion keys. program >= 0 plays that GM
 * program instead of one drawn among the class's. *program_out is the GM program written (-1:
 * none). NULL with errbuf for a bad class or when memory runs out. */
int render_note_class(const render_engine *eng, const render_options *opt, splitmix_rng *rng);
smf_song *render_note_song(int cls, int program, double clip_s, splitmix_rng *rng, int *program_out,
                           char *errbuf, size_t errlen);

/* The built-in example score (~30 s): piano alone, then a violin joins, then flute and drums. */
smf_song *render_example_song(void);

#endif /* INSTRID_RENDER_H */
