/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* example.c — the built-in example score for `instrid-render --example`: 30 s at 120 bpm, piano
 * alone, a violin joining at 10 s, flute and drums joining at 20 s. Written in code so that the
 * README's first command needs no MIDI file.
 */
#include <stdlib.h>

#include "render.h"

#define BPM 120.0
#define BEAT_S (60.0 / BPM)

typedef struct {
  smf_note *v;
  size_t n, cap;
} note_vec;

static int add(note_vec *nv, double beat, double beats, int pitch, int velocity)
{
  if (nv->n == nv->cap) {
    size_t cap = nv->cap ? nv->cap * 2 : 128;
    smf_note *p = realloc(nv->v, cap * sizeof(smf_note));
    if (!p)
      return 0;
    nv->v = p;
    nv->cap = cap;
  }
  nv->v[nv->n++] = (smf_note){beat * BEAT_S, (beat + beats) * BEAT_S, beat,
                              beats,         (uint8_t)pitch,          (uint8_t)velocity};
  return 1;
}

smf_song *render_example_song(void)
{
  /* C - A minor - F - G, one chord per bar, 15 bars */
  static const int roots[4] = {48, 45, 41, 43};
  static const int thirds[4] = {4, 3, 4, 4};
  static const int violin_line[8] = {76, 72, 74, 71, 72, 69, 72, 74};
  static const int flute_line[16] = {79, 81, 79, 76, 77, 76, 74, 72,
                                     74, 76, 77, 79, 81, 79, 77, 74};
  note_vec piano = {0}, violin = {0}, flute = {0}, drums = {0};
  smf_song *song = calloc(1, sizeof(*song));
  int ok = song != NULL;
  for (int bar = 0; ok && bar < 15; bar++) {
    int r = roots[bar % 4], t = thirds[bar % 4];
    double b = bar * 4.0;
    ok = add(&piano, b, 4.0, r, 70) && add(&piano, b, 2.0, r + 12, 64) &&
         add(&piano, b + 2, 2.0, r + 12 + t, 64) && add(&piano, b + 1, 1.0, r + 19, 60) &&
         add(&piano, b + 3, 1.0, r + 19, 60);
    if (ok && b >= 20.0) /* violin from 10 s: two half notes per bar */
      ok = add(&violin, b, 2.0, violin_line[(bar * 2) % 8], 80) &&
           add(&violin, b + 2, 2.0, violin_line[(bar * 2 + 1) % 8], 80);
    if (ok && b >= 40.0) { /* flute and drums from 20 s */
      for (int e = 0; ok && e < 8; e++)
        ok = add(&flute, b + e * 0.5, 0.45, flute_line[(bar * 8 + e) % 16], 75) &&
             add(&drums, b + e * 0.5, 0.25, 42, e % 2 ? 60 : 90);
      for (int q = 0; ok && q < 4; q++)
        ok = add(&drums, b + q, 0.25, q % 2 ? 38 : 36, 100);
    }
  }
  ok = ok && smf_song_add_part(song, 0, 0, "Piano", piano.v, piano.n) &&
       smf_song_add_part(song, 40, 1, "Violin", violin.v, violin.n) &&
       smf_song_add_part(song, 73, 2, "Flute", flute.v, flute.n) &&
       smf_song_add_part(song, -1, 9, "Drums", drums.v, drums.n);
  free(piano.v);
  free(violin.v);
  free(flute.v);
  free(drums.v);
  if (!ok) {
    smf_song_free(song);
    return NULL;
  }
  return song;
}
