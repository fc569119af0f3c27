/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* classes.c — General MIDI programs, ranges and OpenMIC membership per class for the corpus
 * renderer. The names and the program written to MusicNet labels are the taxonomy's
 * (trainer/common/taxonomy.c). GM has no mandolin nor ukulele program: those classes are rendered
 * into the OpenMIC layout only, and the ukulele's GM source is a nylon guitar held to the
 * ukulele's range (pick_source, render.c).
 */
#include "classes.h"

#define END -1
const render_class render_classes[TAXONOMY_N] = {
    [TAX_ACCORDION] = {{21, 23, END}, 41, 93, 1, 1},
    [TAX_BANJO] = {{105, END}, 48, 81, 1, 1},
    [TAX_BASS] = {{32, 33, 34, 35, 36, 37, 43, END}, 28, 67, 1, 1},
    [TAX_BASSOON] = {{70, END}, 34, 75, 0, 1},
    [TAX_CELLO] = {{42, END}, 36, 76, 1, 1},
    [TAX_CLARINET] = {{71, END}, 50, 91, 1, 1},
    [TAX_CYMBALS] = {{END}, 42, 59, 1, 0},
    [TAX_DRUMS] = {{END}, 35, 81, 1, 0},
    [TAX_FLUTE] = {{72, 73, 74, END}, 60, 96, 1, 1},
    [TAX_GUITAR] = {{24, 25, 26, 27, 28, 29, 30, END}, 40, 84, 1, 1},
    [TAX_HARPSICHORD] = {{6, END}, 29, 89, 0, 1},
    [TAX_HORN] = {{60, END}, 34, 77, 0, 1},
    [TAX_MALLET_PERCUSSION] = {{8, 9, 11, 12, 13, 14, END}, 48, 96, 1, 1},
    [TAX_MANDOLIN] = {{END}, 55, 88, 1, 1},
    [TAX_OBOE] = {{68, 69, END}, 58, 91, 0, 1},
    [TAX_ORGAN] = {{16, 17, 18, 19, 20, END}, 36, 96, 1, 1},
    [TAX_PIANO] = {{0, 1, 2, 3, 4, 5, END}, 21, 108, 1, 1},
    [TAX_SAXOPHONE] = {{64, 65, 66, 67, END}, 44, 81, 1, 1},
    [TAX_SYNTHESIZER] = {{38, 39, 50, 51, 62, 63, 80, 81, 82, 83, 84, 85,
                          86, 87, 88, 89, 90, 91, 92, 93, 94, 95, END},
                         28,
                         96,
                         1,
                         1},
    [TAX_TROMBONE] = {{57, END}, 40, 72, 1, 1},
    [TAX_TRUMPET] = {{56, 59, END}, 54, 84, 1, 1},
    [TAX_UKULELE] = {{END}, 60, 81, 1, 1},
    [TAX_VIOLA] = {{41, END}, 48, 88, 0, 1},
    [TAX_VIOLIN] = {{40, 110, END}, 55, 100, 1, 1},
    [TAX_VOICE] = {{52, 53, 54, END}, 43, 81, 1, 1},
};

int render_class_of_program(int program0)
{
  for (int c = 0; c < TAXONOMY_N; c++)
    for (int i = 0; render_classes[c].gm_programs[i] != END; i++)
      if (render_classes[c].gm_programs[i] == program0)
        return c;
  return -1;
}

int render_class_of_drum_key(int key)
{
  switch (key) {
  case 42:
  case 44:
  case 46: /* hi-hats */
  case 49:
  case 51:
  case 52:
  case 53:
  case 55:
  case 57:
  case 59: /* crash, ride, china, splash */
    return TAX_CYMBALS;
  default:
    return TAX_DRUMS;
  }
}
