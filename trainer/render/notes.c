/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* notes.c — isolated notes for `instrid-render --notes` (see render.h): one note of one class
 * as a one-part song, which render_song then plays through the sources it chooses, as it plays
 * a MIDI part. NSynth-like examples: one instrument, one pitch, one velocity, a held note and
 * its release.
 */
#include <stdio.h>
#include <stdlib.h>

#include "render.h"

/* GM percussion keys per class (render_class_of_drum_key gives these classes back) that every
 * source plays, the Hydrogen kits included (sampler.c's key_category): kicks, side stick,
 * snares, clap, toms; hi-hats, crashes, rides, china, splash. */
static const int drum_keys[] = {35, 36, 37, 38, 39, 40, 41, 43, 45, 47, 48, 50};
static const int cymbal_keys[] = {42, 44, 46, 49, 51, 52, 53, 55, 57, 59};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static smf_note note_at(double start_s, double end_s, int pitch, int velocity)
{
  /* beats counted at 120 bpm: the OpenMIC layout does not use them */
  return (smf_note){start_s,          end_s, start_s * 2.0, (end_s - start_s) * 2.0, (uint8_t)pitch,
                    (uint8_t)velocity};
}

int render_note_class(const render_engine *eng, const render_options *opt, splitmix_rng *rng)
{
  int pick = -1;
  uint64_t n = 0;
  double total = 0.0;
  for (int c = 0; c < TAXONOMY_N; c++)
    if (render_class_available(eng, opt, c) && render_class_draw(opt, rng, c, &n, &total))
      pick = c;
  return pick;
}

smf_song *render_note_song(int pick, int program, double clip_s, splitmix_rng *rng,
                           int *program_out, char *errbuf, size_t errlen)
{
  if (pick < 0 || pick >= TAXONOMY_N) {
    snprintf(errbuf, errlen, "no class can be played by the sources allowed");
    return NULL;
  }
  const render_class *rc = &render_classes[pick];
  smf_note notes[8];
  size_t n_notes = 0;
  int prog = -1;
  if (rc->pitched) {
    int n_prog = 0;
    while (rc->gm_programs[n_prog] >= 0)
      n_prog++;
    if (n_prog > 0)
      prog = rc->gm_programs[splitmix_below(rng, (uint64_t)n_prog)];
    if (program >= 0)
      prog = program;
    int pitch = rc->lo + (int)splitmix_below(rng, (uint64_t)(rc->hi - rc->lo + 1));
    int velocity = 25 + (int)splitmix_below(rng, 103);
    double onset = splitmix_range(rng, 0.0, 0.2);
    double longest = clip_s - 0.5 - onset;
    double hold = splitmix_range(rng, 0.5, longest > 3.5 ? 3.5 : longest < 0.5 ? 0.5 : longest);
    notes[n_notes++] = note_at(onset, onset + hold, pitch, velocity);
  } else {
    const int *keys = pick == TAX_CYMBALS ? cymbal_keys : drum_keys;
    size_t n_keys = pick == TAX_CYMBALS ? N_OF(cymbal_keys) : N_OF(drum_keys);
    double onset = splitmix_range(rng, 0.0, 0.2);
    if (splitmix_uniform(rng) < 0.5) { /* one hit */
      notes[n_notes++] = note_at(onset, onset + 0.3, keys[splitmix_below(rng, n_keys)],
                                 25 + (int)splitmix_below(rng, 103));
    } else { /* a bar of eighths at 90..150 bpm, each hit half the time, the first always */
      double eighth = 30.0 / splitmix_range(rng, 90.0, 150.0);
      int a = keys[splitmix_below(rng, n_keys)], b = keys[splitmix_below(rng, n_keys)];
      for (int e = 0; e < 8; e++) {
        if (e > 0 && splitmix_uniform(rng) < 0.5)
          continue;
        double t = onset + e * eighth;
        if (t + 0.3 > clip_s)
          break;
        notes[n_notes++] = note_at(t, t + 0.3, splitmix_uniform(rng) < 0.5 ? a : b,
                                   25 + (int)splitmix_below(rng, 103));
      }
    }
  }
  smf_song *song = calloc(1, sizeof(*song));
  if (!song || !smf_song_add_part(song, rc->pitched ? prog : -1, rc->pitched ? 0 : 9,
                                  instrid_taxonomy[pick], notes, n_notes)) {
    smf_song_free(song);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  *program_out = prog;
  return song;
}
