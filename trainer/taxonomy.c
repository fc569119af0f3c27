/* taxonomy.c — the 25 instrument classes and how General MIDI programs (MusicNet's instrument
 * codes, and what instrid-render writes) map onto them.
 */
#include <string.h>

#include "dataset.h"

const char *const instrid_taxonomy[TAXONOMY_N] = {
    "accordion", "banjo", "bass",   "bassoon",     "cello",       "clarinet",          "cymbals",
    "drums",     "flute", "guitar", "harpsichord", "horn",        "mallet_percussion", "mandolin",
    "oboe",      "organ", "piano",  "saxophone",   "synthesizer", "trombone",          "trumpet",
    "ukulele",   "viola", "violin", "voice",
};

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
