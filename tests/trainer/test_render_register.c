/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_render_register.c — instrid-render --match-register: a song whose two parts lie three
 * octaves apart (a low piano line, a high violin line) rendered with probability 1 has the two
 * parts' median notes within an octave in every piece (the written spread is 36 semitones, and
 * so it stays with probability 0); the same piece for the same seed; probability 0 renders the
 * piece of the defaults byte for byte; and the command line refuses values outside 0..1 and the
 * option with --notes.
 * Needs a GM SoundFont from Debian's packages; skips (77) without one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "classes.h"
#include "render.h"
#include "smf.h"

#define BEAT_S 0.5

/* Piano: a line around C4 (median 60); violin: around C7 (median 96); eight beats of each. Either
 * can play in the other's register. */
static smf_song *two_registers(void)
{
  static const int low[8] = {57, 59, 60, 62, 64, 62, 60, 59};
  static const int high[8] = {93, 95, 96, 98, 100, 98, 96, 95};
  smf_note a[8], b[8];
  for (int i = 0; i < 8; i++) {
    a[i] = (smf_note){i * BEAT_S, (i + 0.9) * BEAT_S, i, 0.9, (uint8_t)low[i], 80};
    b[i] = (smf_note){i * BEAT_S, (i + 0.9) * BEAT_S, i, 0.9, (uint8_t)high[i], 80};
  }
  smf_song *song = calloc(1, sizeof(*song));
  if (song && smf_song_add_part(song, 0, 0, "Piano", a, 8) &&
      smf_song_add_part(song, 40, 1, "Violin", b, 8))
    return song;
  smf_song_free(song);
  return NULL;
}

/* The spread of the two pitched classes' median label notes; -1 unless exactly two sound. */
static int spread(const render_piece *pc)
{
  int med[2], n = 0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    int count[128] = {0}, total = 0;
    for (size_t i = 0; i < pc->n_labels; i++)
      if (pc->labels[i].cls == c) {
        count[pc->labels[i].note & 127]++;
        total++;
      }
    if (total == 0)
      continue;
    if (n == 2)
      return -1;
    for (int k = 0, seen = 0; k < 128; k++)
      if ((seen += count[k]) * 2 >= total) {
        med[n++] = k;
        break;
      }
  }
  return n == 2 ? abs(med[0] - med[1]) : -1;
}

static int same_piece(const render_piece *a, const render_piece *b)
{
  return a->frames == b->frames && a->n_labels == b->n_labels &&
         memcmp(a->audio, b->audio, 2 * a->frames * sizeof(float)) == 0 &&
         memcmp(a->labels, b->labels, a->n_labels * sizeof(render_label)) == 0 &&
         strcmp(a->description, b->description) == 0;
}

static void test_pieces(const char *sf)
{
  char err[256];
  render_config cfg = {.soundfonts = {sf}, .n_soundfonts = 1, .rate_hz = 22050};
  render_engine *eng = render_engine_new(&cfg, err, sizeof err);
  smf_song *song = two_registers();
  CHECK(eng && song, "%s", eng ? "out of memory" : err);
  if (!eng || !song) {
    render_engine_free(eng);
    smf_song_free(song);
    return;
  }
  render_options ro;
  render_options_default(&ro);
  ro.sources = SOURCE_FLUID;
  ro.solo_prob = 0.0;
  ro.phrase_prob = 0.0;
  ro.reassign_prob = 0.5; /* written and reassigned classes both */
  int matched_pieces = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    render_piece m, again, plain, dflt;
    ro.match_register_prob = 1.0;
    CHECK(render_song(eng, song, &ro, seed, &m, err, sizeof err) == 0, "%s", err);
    CHECK(render_song(eng, song, &ro, seed, &again, err, sizeof err) == 0, "%s", err);
    CHECK(same_piece(&m, &again), "seed %d: not the same piece twice", (int)seed);
    ro.match_register_prob = 0.0;
    CHECK(render_song(eng, song, &ro, seed, &plain, err, sizeof err) == 0, "%s", err);
    render_options d;
    render_options_default(&d);
    d.sources = ro.sources;
    d.solo_prob = ro.solo_prob;
    d.phrase_prob = ro.phrase_prob;
    d.reassign_prob = ro.reassign_prob;
    CHECK(render_song(eng, song, &d, seed, &dflt, err, sizeof err) == 0, "%s", err);
    CHECK(same_piece(&plain, &dflt), "seed %d: probability 0 is not the default piece", (int)seed);
    int s_m = spread(&m), s_plain = spread(&plain);
    if (s_m >= 0) {
      matched_pieces++;
      CHECK(s_m <= 12, "seed %d: matched parts %d semitones apart (%s)", (int)seed, s_m,
            m.description);
    }
    if (s_plain >= 0)
      CHECK(s_plain >= 24, "seed %d: unmatched parts only %d semitones apart (%s)", (int)seed,
            s_plain, plain.description);
    render_piece_clear(&m);
    render_piece_clear(&again);
    render_piece_clear(&plain);
    render_piece_clear(&dflt);
  }
  CHECK(matched_pieces >= 6, "only %d of 8 pieces with two pitched classes", matched_pieces);
  smf_song_free(song);
  render_engine_free(eng);
}

static void test_cli(const char *render)
{
  static const char *bad[] = {"--match-register 1.5 --out /nonexistent x.mid",
                              "--match-register -0.1 --out /nonexistent x.mid",
                              "--match-register 0.5 --notes 3 --out /nonexistent"};
  for (int i = 0; i < 3; i++) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", render, bad[i]);
    int rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s: exit %d, not 2", bad[i],
          rc == -1 ? -1 : WEXITSTATUS(rc));
  }
}

int main(int argc, char **argv)
{
  if (argc > 1)
    test_cli(argv[1]);
  static const char *candidates[] = {"/usr/share/sounds/sf2/TimGM6mb.sf2",
                                     "/usr/share/sounds/sf2/FluidR3_GM.sf2"};
  const char *sf = NULL;
  for (int i = 0; i < 2 && !sf; i++)
    if (access(candidates[i], R_OK) == 0)
      sf = candidates[i];
  if (sf)
    test_pieces(sf);
  else
    fprintf(stderr, "no GM SoundFont installed: rendering checks skipped\n");
  return check_exit_skipped(!sf);
}
