/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* drums.h — a generated drum part for a song that has none (instrid-render --drums-prob): the
 * licensed scores are classical, so without it the model never hears drums and cymbals inside
 * a mix.
 */
#ifndef INSTRID_RENDER_DRUMS_H
#define INSTRID_RENDER_DRUMS_H

#include "rng.h"
#include "smf.h"

/* Whether some part of the song is on the GM percussion channel. */
int drums_song_has_percussion(const smf_song *song);

/* Fills *part with a beat over the whole song, on the percussion channel (program -1, named
 * "generated drums"), notes in onset order. Bars follow the song's first time signature (4/4
 * when it has none) and its tempo, read from its notes' beats and seconds. One groove per piece,
 * drawn from rng: kick and snare (backbeat, four on the floor, or a waltz's oom-pah-pah), a
 * timekeeper (closed or pedal hi-hat, ride) in quarters, 8ths or 16ths (triplet 8ths in compound
 * meters), open hi-hats now and then, a crash on bar 1 and after fills, tom fills at the end of
 * 4- or 8-bar phrases; velocities and timing humanised. GM percussion keys only, so every drum
 * source plays it and render_class_of_drum_key labels each hit drums or cymbals. Returns 0, or
 * -1 when the song has no notes or memory runs out (then part->notes is NULL). The caller frees
 * part->notes. */
int drums_generate(const smf_song *song, splitmix_rng *rng, smf_part *part);

#endif /* INSTRID_RENDER_DRUMS_H */
