/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* taxonomy.h — the 25 instrument classes instrid knows, in model order, and how General MIDI
 * programs map onto them. The one table of class names: the data readers (trainer/), the corpus
 * renderer (trainer/render/) and instrid-eval all read it; tests/trainer/test_taxonomy.c ties
 * them together.
 *
 * The order is part of every model trained by instrid-train (output k is class k): append new
 * classes at the end, never reorder.
 */
#ifndef INSTRID_TAXONOMY_H
#define INSTRID_TAXONOMY_H

#define TAXONOMY_N 25

/* Class indices, in the order of instrid_taxonomy (alphabetical). */
enum {
  TAX_ACCORDION,
  TAX_BANJO,
  TAX_BASS,
  TAX_BASSOON,
  TAX_CELLO,
  TAX_CLARINET,
  TAX_CYMBALS,
  TAX_DRUMS,
  TAX_FLUTE,
  TAX_GUITAR,
  TAX_HARPSICHORD,
  TAX_HORN,
  TAX_MALLET_PERCUSSION,
  TAX_MANDOLIN,
  TAX_OBOE,
  TAX_ORGAN,
  TAX_PIANO,
  TAX_SAXOPHONE,
  TAX_SYNTHESIZER,
  TAX_TROMBONE,
  TAX_TRUMPET,
  TAX_UKULELE,
  TAX_VIOLA,
  TAX_VIOLIN,
  TAX_VOICE
};

/* Class names as in the model file, class-map.json and the label files. */
extern const char *const instrid_taxonomy[TAXONOMY_N];

/* Index of a class name in the taxonomy, or -1 (also for NULL). */
int instrid_taxonomy_index(const char *name);

/* Class index of a 1-based General MIDI program (MusicNet's instrument code), or -1 when no
 * class describes it. */
int instrid_taxonomy_from_gm_program(int program);

/* The 1-based General MIDI program that stands for class c in MusicNet label files (what
 * instrid-render writes; instrid_taxonomy_from_gm_program maps it back to c), or 0 for the
 * classes General MIDI has no program for (mandolin, ukulele: only OpenMIC labels them) and
 * for c outside 0..TAXONOMY_N-1. */
int instrid_taxonomy_gm_program(int c);

#endif /* INSTRID_TAXONOMY_H */
