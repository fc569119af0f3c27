/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* taxonomy.c — the 25 instrument classes and how General MIDI programs (MusicNet's instrument
 * codes, and what instrid-render writes) map onto them.
 */
#include <string.h>

#include "taxonomy.h"

/* Both tables are indexed by the TAX_ enum, so that the enum, the names and the programs cannot
 * drift apart. */
const char *const instrid_taxonomy[TAXONOMY_N] = {
    [TAX_ACCORDION] = "accordion",
    [TAX_BANJO] = "banjo",
    [TAX_BASS] = "bass",
    [TAX_BASSOON] = "bassoon",
    [TAX_CELLO] = "cello",
    [TAX_CLARINET] = "clarinet",
    [TAX_CYMBALS] = "cymbals",
    [TAX_DRUMS] = "drums",
    [TAX_FLUTE] = "flute",
    [TAX_GUITAR] = "guitar",
    [TAX_HARPSICHORD] = "harpsichord",
    [TAX_HORN] = "horn",
    [TAX_MALLET_PERCUSSION] = "mallet_percussion",
    [TAX_MANDOLIN] = "mandolin",
    [TAX_OBOE] = "oboe",
    [TAX_ORGAN] = "organ",
    [TAX_PIANO] = "piano",
    [TAX_SAXOPHONE] = "saxophone",
    [TAX_SYNTHESIZER] = "synthesizer",
    [TAX_TROMBONE] = "trombone",
    [TAX_TRUMPET] = "trumpet",
    [TAX_UKULELE] = "ukulele",
    [TAX_VIOLA] = "viola",
    [TAX_VIOLIN] = "violin",
    [TAX_VOICE] = "voice",
};

/* The program written for each class in MusicNet label files (1-based; 0 = none). Each lies in
 * its class's range of gm_ranges below. */
static const int canonical_program[TAXONOMY_N] = {
    [TAX_ACCORDION] = 22,
    [TAX_BANJO] = 106,
    [TAX_BASS] = 44, /* contrabass */
    [TAX_BASSOON] = 71,
    [TAX_CELLO] = 43,
    [TAX_CLARINET] = 72,
    [TAX_CYMBALS] = 120, /* reverse cymbal */
    [TAX_DRUMS] = 119,   /* synth drum */
    [TAX_FLUTE] = 74,
    [TAX_GUITAR] = 25,
    [TAX_HARPSICHORD] = 7,
    [TAX_HORN] = 61,
    [TAX_MALLET_PERCUSSION] = 13, /* marimba */
    [TAX_MANDOLIN] = 0,
    [TAX_OBOE] = 69,
    [TAX_ORGAN] = 17,
    [TAX_PIANO] = 1,
    [TAX_SAXOPHONE] = 66,
    [TAX_SYNTHESIZER] = 81,
    [TAX_TROMBONE] = 58,
    [TAX_TRUMPET] = 57,
    [TAX_UKULELE] = 0,
    [TAX_VIOLA] = 42,
    [TAX_VIOLIN] = 41,
    [TAX_VOICE] = 53,
};

int instrid_taxonomy_gm_program(int c)
{
  return c >= 0 && c < TAXONOMY_N ? canonical_program[c] : 0;
}

int instrid_taxonomy_index(const char *name)
{
  if (!name)
    return -1;
  for (int i = 0; i < TAXONOMY_N; i++)
    if (strcmp(instrid_taxonomy[i], name) == 0)
      return i;
  return -1;
}

/* General MIDI program (1-based, as MusicNet writes it) -> class. Programs no class describes
 * are left out of the table (-1): their notes are ignored, so a window where only they sound
 * has every class absent. MusicNet itself uses only 1, 7, 41-44, 61, 69, 71, 72 and 74.
 *
 *   1-6     pianos, electric pianos        piano
 *   7       harpsichord                    harpsichord
 *   8       clavinet                       piano (struck keyboard)
 *   9-16    celesta .. dulcimer            mallet_percussion
 *   17-21   organs (drawbar .. reed)       organ
 *   22-24   accordion, harmonica, tango    accordion (free reeds; harmonica is the nearest
 *                                          timbre in the taxonomy)
 *   25-32   guitars                        guitar
 *   33-40   basses                         bass
 *   41 violin, 42 viola, 43 cello          violin, viola, cello
 *   44      contrabass                     bass
 *   45-46   tremolo, pizzicato strings     violin (section sounds led by the violins)
 *   47      harp                           none
 *   48      timpani                        drums
 *   49-50   string ensembles               violin
 *   51-52   synth strings                  synthesizer
 *   53-55   choir, voice oohs, synth voice voice
 *   56      orchestra hit                  none
 *   57 trumpet, 58 trombone                trumpet, trombone
 *   59      tuba                           none
 *   60      muted trumpet                  trumpet
 *   61      French horn                    horn
 *   62      brass section                  trumpet
 *   63-64   synth brass                    synthesizer
 *   65-68   saxophones                     saxophone
 *   69 oboe, 70 English horn               oboe
 *   71 bassoon, 72 clarinet                bassoon, clarinet
 *   73-76   piccolo, flute, recorder, pan  flute
 *   77      blown bottle                   none
 *   78      shakuhachi                     flute
 *   79      whistle                        none
 *   80      ocarina                        flute
 *   81-104  synth leads, pads, effects     synthesizer
 *   105     sitar                          none
 *   106     banjo                          banjo
 *   107-112 shamisen .. shanai             none (no class fits)
 *   113     tinkle bell                    none
 *   114     agogo                          drums
 *   115     steel drums                    mallet_percussion
 *   116-119 woodblock, taiko, tom, synth drum  drums
 *   120     reverse cymbal                 cymbals
 *   121-128 sound effects                  none
 *
 * Mandolin and ukulele have no GM program; only OpenMIC labels them.
 */
typedef struct {
  int first, last; /* 1-based GM programs, inclusive */
  const char *name;
} gm_range;

static const gm_range gm_ranges[] = {
    {1, 6, "piano"},          {7, 7, "harpsichord"},
    {8, 8, "piano"},          {9, 16, "mallet_percussion"},
    {17, 21, "organ"},        {22, 24, "accordion"},
    {25, 32, "guitar"},       {33, 40, "bass"},
    {41, 41, "violin"},       {42, 42, "viola"},
    {43, 43, "cello"},        {44, 44, "bass"},
    {45, 46, "violin"},       {48, 48, "drums"},
    {49, 50, "violin"},       {51, 52, "synthesizer"},
    {53, 55, "voice"},        {57, 57, "trumpet"},
    {58, 58, "trombone"},     {60, 60, "trumpet"},
    {61, 61, "horn"},         {62, 62, "trumpet"},
    {63, 64, "synthesizer"},  {65, 68, "saxophone"},
    {69, 70, "oboe"},         {71, 71, "bassoon"},
    {72, 72, "clarinet"},     {73, 76, "flute"},
    {78, 78, "flute"},        {80, 80, "flute"},
    {81, 104, "synthesizer"}, {106, 106, "banjo"},
    {114, 114, "drums"},      {115, 115, "mallet_percussion"},
    {116, 119, "drums"},      {120, 120, "cymbals"},
};

int instrid_taxonomy_from_gm_program(int program)
{
  for (size_t i = 0; i < sizeof gm_ranges / sizeof gm_ranges[0]; i++)
    if (program >= gm_ranges[i].first && program <= gm_ranges[i].last)
      return instrid_taxonomy_index(gm_ranges[i].name);
  return -1;
}
