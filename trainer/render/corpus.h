/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* corpus.h — a rendered corpus on disk in the MusicNet and OpenMIC-2018 layouts, so that the
 * trainer reads it through the same readers as the published data sets.
 */
#ifndef INSTRID_RENDER_CORPUS_H
#define INSTRID_RENDER_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"

typedef struct {
  const char *out_dir;   /* <out>/musicnet and/or <out>/openmic */
  int musicnet, openmic; /* which layouts to write */
  char **midi_files;     /* the MIDI files to draw from */
  size_t n_midi;
  double hours;              /* > 0: draw songs at random until this much audio */
  size_t pieces;             /* else: this many pieces per layout (0: one per MIDI file) */
  double musicnet_excerpt_s; /* MusicNet pieces: excerpt length, 0 = whole songs */
  double clip_s;             /* OpenMIC clip length (10 s as published) */
  double openmic_share;      /* share of --hours given to OpenMIC when both layouts */
  double test_fraction;      /* pieces to test_data / split01_test */
  double withheld_fraction;  /* OpenMIC (clip, class) pairs left out of the labels */
  /* OpenMIC layout: label every class of the taxonomy (class-map.json names the 25), not only
   * OpenMIC's 20. The renderer plays bassoon, harpsichord, horn, oboe and viola in OpenMIC
   * clips too (a part's GM program, a reassignment by range); with OpenMIC's vocabulary they
   * stay unknown there, with this they are known, present or absent. --notes draws among the
   * 25. */
  int all_classes;
  /* > 0: isolated notes instead of MIDI files (render_note_song): this many OpenMIC-layout clips
   * of one note each, musicnet and midi_files unused. A clip is positive for its class only,
   * except GM synth basses: bass and synthesizer. A clip whose part the built-in synthesizer
   * played as another class than synthesizer leaves synthesizer unknown (in every OpenMIC
   * clip, not only these). */
  size_t notes;
  double notes_lowrate_prob; /* --notes: probability of writing a clip at 16 kHz */
  uint64_t seed;
  int jobs;
  int verbose;
  render_options options;
  render_config config; /* one render_engine per job is made from it */
} corpus_options;

/* Renders the whole corpus (with opt->notes, the isolated notes). MIDI files that cannot be read
 * are reported once on stderr (also when not verbose) and left out; pieces that fail to render are
 * reported when verbose and replaced by another draw. Returns 0, or -1 with errbuf on a fatal error
 * (among them: no readable MIDI file without opt->notes). */
int corpus_render(const corpus_options *opt, char *errbuf, size_t errlen);

/* Collects .mid/.midi files under a directory (recursively) or takes a file as it is; appends
 * to *files. 0 on success. */
int corpus_collect_midi(const char *path, char ***files, size_t *n);

#endif /* INSTRID_RENDER_CORPUS_H */
