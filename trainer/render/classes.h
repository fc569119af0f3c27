/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* classes.h — what the renderer needs to know of each class of the taxonomy (taxonomy.h, which
 * holds the names, the order and the program written to MusicNet labels): the General MIDI
 * programs that sound like it, its playing range and OpenMIC membership. Indexed by the TAX_
 * enum.
 */
#ifndef INSTRID_RENDER_CLASSES_H
#define INSTRID_RENDER_CLASSES_H

#include "taxonomy.h"

typedef struct {
  int gm_programs[24]; /* 0-based GM programs that sound like the class; -1 terminated */
  int lo, hi;          /* playing range, MIDI notes (drums: the GM percussion keys used) */
  int openmic;         /* 1 when the class is in OpenMIC-2018's vocabulary */
  int pitched;         /* 0 for drums and cymbals (GM percussion channel) */
} render_class;

extern const render_class render_classes[TAXONOMY_N];

/* Class of a 0-based GM program on a melodic channel, or -1 when no class fits (tuba, string
 * ensembles, sound effects...: the renderer then picks a class by range). */
int render_class_of_program(int program0);
/* Class of a GM percussion key: TAX_CYMBALS for hi-hats, crashes, rides, splashes and chinas,
 * TAX_DRUMS for every other key. */
int render_class_of_drum_key(int key);

#endif /* INSTRID_RENDER_CLASSES_H */
