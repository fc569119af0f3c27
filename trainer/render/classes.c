/* classes.c — General MIDI program <-> class tables for the corpus renderer, matching the
 * MusicNet reader's table (trainer/taxonomy.c) for every canonical program written here: drums
 * 119 (synth drum), cymbals 120 (reverse cymbal). GM has no mandolin nor ukulele program: those
 * classes are rendered into the OpenMIC layout only (their codes below are never written), and
 * the ukulele's GM source is a nylon guitar held to the ukulele's range (pick_source, render.c).
 */
#include "classes.h"

#include <string.h>

#define END -1
const render_class render_classes[RENDER_N_CLASSES] = {
    [CLS_ACCORDION] = {"accordion", 22, {21, 23, END}, 41, 93, 1, 1},
    [CLS_BANJO] = {"banjo", 106, {105, END}, 48, 81, 1, 1},
    [CLS_BASS] = {"bass", 44, {32, 33, 34, 35, 36, 37, 43, END}, 28, 67, 1, 1},
    [CLS_BASSOON] = {"bassoon", 71, {70, END}, 34, 75, 0, 1},
    [CLS_CELLO] = {"cello", 43, {42, END}, 36, 76, 1, 1},
    [CLS_CLARINET] = {"clarinet", 72, {71, END}, 50, 91, 1, 1},
    [CLS_CYMBALS] = {"cymbals", 120, {END}, 42, 59, 1, 0},
    [CLS_DRUMS] = {"drums", 119, {END}, 35, 81, 1, 0},
    [CLS_FLUTE] = {"flute", 74, {72, 73, 74, END}, 60, 96, 1, 1},
    [CLS_GUITAR] = {"guitar", 25, {24, 25, 26, 27, 28, 29, 30, END}, 40, 84, 1, 1},
    [CLS_HARPSICHORD] = {"harpsichord", 7, {6, END}, 29, 89, 0, 1},
    [CLS_HORN] = {"horn", 61, {60, END}, 34, 77, 0, 1},
    [CLS_MALLET] = {"mallet_percussion", 13, {8, 9, 11, 12, 13, 14, END}, 48, 96, 1, 1},
    [CLS_MANDOLIN] = {"mandolin", 107, {END}, 55, 88, 1, 1},
    [CLS_OBOE] = {"oboe", 69, {68, 69, END}, 58, 91, 0, 1},
    [CLS_ORGAN] = {"organ", 17, {16, 17, 18, 19, 20, END}, 36, 96, 1, 1},
    [CLS_PIANO] = {"piano", 1, {0, 1, 2, 3, 4, 5, END}, 21, 108, 1, 1},
    [CLS_SAXOPHONE] = {"saxophone", 66, {64, 65, 66, 67, END}, 44, 81, 1, 1},
    [CLS_SYNTH] = {"synthesizer",
                   81,
                   {38, 39, 50, 51, 62, 63, 80, 81, 82, 83, 84, 85,
                    86, 87, 88, 89, 90, 91, 92, 93, 94, 95, END},
                   28,
                   96,
                   1,
                   1},
    [CLS_TROMBONE] = {"trombone", 58, {57, END}, 40, 72, 1, 1},
    [CLS_TRUMPET] = {"trumpet", 57, {56, 59, END}, 54, 84, 1, 1},
    [CLS_UKULELE] = {"ukulele", 108, {END}, 60, 81, 1, 1},
    [CLS_VIOLA] = {"viola", 42, {41, END}, 48, 88, 0, 1},
    [CLS_VIOLIN] = {"violin", 41, {40, 110, END}, 55, 100, 1, 1},
    [CLS_VOICE] = {"voice", 53, {52, 53, 54, END}, 43, 81, 1, 1},
};

int render_class_of_program(int program0)
{
  for (int c = 0; c < RENDER_N_CLASSES; c++)
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
    return CLS_CYMBALS;
  default:
    return CLS_DRUMS;
  }
}

int render_class_index(const char *name)
{
  for (int c = 0; c < RENDER_N_CLASSES; c++)
    if (strcmp(render_classes[c].name, name) == 0)
      return c;
  return -1;
}
