/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audioset_map.c — the AudioSet -> taxonomy table (see audioset_map.h). The names are AudioSet's
 * display names exactly (ontology CC BY 4.0). A class is mapped when its name names the
 * instrument (or a kind of it); parents such as "Keyboard (musical)", "Brass instrument" or
 * "Plucked string instrument" and genres such as "Drum and bass" are not. scripts/check-mn04.py
 * reads this table too (one {"AudioSet name", "class"} pair per line). */
#include <string.h>

#include "audioset_map.h"

const instrid_audioset_entry instrid_audioset_map[] = {
    {"Accordion", "accordion"},
    {"Banjo", "banjo"},
    {"Bass guitar", "bass"},
    {"Double bass", "bass"},
    {"Cello", "cello"},
    {"Clarinet", "clarinet"},
    {"Cymbal", "cymbals"},
    {"Hi-hat", "cymbals"},
    {"Drum kit", "drums"},
    {"Drum", "drums"},
    {"Snare drum", "drums"},
    {"Bass drum", "drums"},
    {"Drum roll", "drums"},
    {"Drum machine", "drums"},
    {"Timpani", "drums"},
    {"Flute", "flute"},
    {"Guitar", "guitar"},
    {"Electric guitar", "guitar"},
    {"Acoustic guitar", "guitar"},
    {"Steel guitar, slide guitar", "guitar"},
    {"Tapping (guitar technique)", "guitar"},
    {"Harpsichord", "harpsichord"},
    {"French horn", "horn"},
    {"Mallet percussion", "mallet_percussion"},
    {"Marimba, xylophone", "mallet_percussion"},
    {"Glockenspiel", "mallet_percussion"},
    {"Vibraphone", "mallet_percussion"},
    {"Mandolin", "mandolin"},
    {"Organ", "organ"},
    {"Electronic organ", "organ"},
    {"Hammond organ", "organ"},
    {"Piano", "piano"},
    {"Electric piano", "piano"},
    {"Saxophone", "saxophone"},
    {"Synthesizer", "synthesizer"},
    {"Trombone", "trombone"},
    {"Trumpet", "trumpet"},
    {"Ukulele", "ukulele"},
    {"Violin, fiddle", "violin"},
    {"Singing", "voice"},
    {"Male singing", "voice"},
    {"Female singing", "voice"},
    {"Child singing", "voice"},
    {"Choir", "voice"},
};
const size_t instrid_audioset_map_n = sizeof instrid_audioset_map / sizeof instrid_audioset_map[0];

const char *instrid_audioset_class(const char *audioset_name)
{
  if (!audioset_name)
    return NULL;
  for (size_t i = 0; i < instrid_audioset_map_n; i++)
    if (strcmp(instrid_audioset_map[i].audioset, audioset_name) == 0)
      return instrid_audioset_map[i].instrid;
  return NULL;
}

uint32_t instrid_audioset_map_indices(const char *const *src, uint32_t n_src,
                                      const char *const *dst, uint32_t n_dst, int32_t *target_of)
{
  uint32_t mapped = 0;
  for (uint32_t i = 0; i < n_src; i++) {
    target_of[i] = -1;
    const char *c = instrid_audioset_class(src[i]);
    if (!c)
      continue;
    for (uint32_t t = 0; t < n_dst; t++)
      if (dst[t] && strcmp(dst[t], c) == 0) {
        target_of[i] = (int32_t)t;
        mapped++;
        break;
      }
  }
  return mapped;
}

void instrid_audioset_map_scores(const float *scores, const int32_t *target_of, uint32_t n_src,
                                 float *mapped, uint32_t n_dst, float none)
{
  for (uint32_t t = 0; t < n_dst; t++) {
    int any = 0;
    float best = 0.0f;
    for (uint32_t i = 0; i < n_src; i++)
      if (target_of[i] == (int32_t)t && (!any || scores[i] > best)) {
        best = scores[i];
        any = 1;
      }
    mapped[t] = any ? best : none;
  }
}
