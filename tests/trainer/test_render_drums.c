/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_render_drums.c — instrid-render --drums-prob: the MIDI reader's time signature, the
 * generated drum part (GM percussion keys of both classes, a kick on every bar's downbeat at the
 * song's meter and tempo, over the whole song, the same notes for the same seed), and pieces
 * rendered from a tiny MIDI file without percussion: with probability 1 every piece has drums
 * and cymbals labels over most of its length, audible, and says so in its description; a song
 * with a percussion part gets none; probability 0 renders the same fixture_smf as a run without the
 * option; the same fixture_smf with 1 and 2 jobs. And a second SoundFont of an engine keeps playing
 * after its first stem.
 * The rendering checks need a GM SoundFont from Debian's packages; they skip (77) without one.
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "classes.h"
#include "drums.h"
#include "fixtures.h"
#include "render.h"
#include "smf.h"

/* ---- a tiny Standard MIDI File: conductor track (tempo, optional meter) + piano + violin ---- */

#define DIVISION 480
#define TEMPO_US 600000 /* 100 bpm */
#define N_BEATS 24      /* 14.4 s */

/* channel 9 for the second part when `percussion`; a 3/4 time signature when meter_num == 3 */
static int write_midi(const char *path, int meter_num, int percussion)
{
  fixture_smf o = {.n = 0}, t = {.n = 0};
  memcpy(o.b, "MThd", 4);
  o.n = 4;
  fixture_smf_put32(&o, 6);
  fixture_smf_put8(&o, 0);
  fixture_smf_put8(&o, 1);
  fixture_smf_put8(&o, 0);
  fixture_smf_put8(&o, 3);
  fixture_smf_put8(&o, DIVISION >> 8);
  fixture_smf_put8(&o, DIVISION & 0xff);
  fixture_smf_put_vlq(&t, 0); /* tempo */
  fixture_smf_put8(&t, 0xff);
  fixture_smf_put8(&t, 0x51);
  fixture_smf_put8(&t, 3);
  fixture_smf_put8(&t, TEMPO_US >> 16);
  fixture_smf_put8(&t, (TEMPO_US >> 8) & 0xff);
  fixture_smf_put8(&t, TEMPO_US & 0xff);
  if (meter_num) { /* meter_num/4, 24 clocks per click, 8 32nds per quarter */
    fixture_smf_put_vlq(&t, 0);
    fixture_smf_put8(&t, 0xff);
    fixture_smf_put8(&t, 0x58);
    fixture_smf_put8(&t, 4);
    fixture_smf_put8(&t, (unsigned)meter_num);
    fixture_smf_put8(&t, 2);
    fixture_smf_put8(&t, 24);
    fixture_smf_put8(&t, 8);
  }
  fixture_smf_end_track(&t);
  fixture_smf_put_chunk(&o, &t);
  for (int part = 0; part < 2; part++) {
    int ch = part == 0 ? 0 : percussion ? 9 : 1;
    t.n = 0;
    fixture_smf_put_vlq(&t, 0);
    fixture_smf_put8(&t, 0xc0 | (unsigned)ch);
    fixture_smf_put8(&t, part == 0 ? 0 : 40); /* piano, violin */
    int step = part == 0 ? 1 : 2;             /* quarters, halves */
    for (int b = 0; b < N_BEATS; b += step) {
      int pitch = ch == 9 ? 38 : part == 0 ? 60 + (b * 5) % 12 : 72 + (b * 7) % 12;
      fixture_smf_put_vlq(&t, 0);
      fixture_smf_put8(&t, 0x90 | (unsigned)ch);
      fixture_smf_put8(&t, (unsigned)pitch);
      fixture_smf_put8(&t, 80);
      fixture_smf_put_vlq(&t, (unsigned)(step * DIVISION));
      fixture_smf_put8(&t, (unsigned)pitch);
      fixture_smf_put8(&t, 0);
    }
    fixture_smf_end_track(&t);
    fixture_smf_put_chunk(&o, &t);
  }
  return fixture_smf_write(path, &o);
}

/* ---- the generated part --------------------------------------------------------------------- */

/* Mixtures through FluidSynth alone, every piece with all its parts and no recorded phrase. */
static void fluid_mix_options(render_options *ro)
{
  render_options_default(ro);
  ro->sources = SOURCE_FLUID;
  ro->solo_prob = 0.0;
  ro->phrase_prob = 0.0;
}

static void test_meter(const char *tmp)
{
  char path[512], err[256];
  snprintf(path, sizeof path, "%s/waltz.mid", tmp);
  CHECK(write_midi(path, 3, 0) == 0, "cannot write %s", path);
  smf_song *s = smf_read_file(path, err, sizeof err);
  CHECK(s && s->meter_num == 3 && s->meter_den == 4, "3/4 read as %d/%d", s ? s->meter_num : -1,
        s ? s->meter_den : -1);
  smf_song_free(s);
  snprintf(path, sizeof path, "%s/plain.mid", tmp);
  CHECK(write_midi(path, 0, 0) == 0, "cannot write %s", path);
  s = smf_read_file(path, err, sizeof err);
  CHECK(s && s->meter_num == 0 && s->meter_den == 0, "no time signature read as %d/%d",
        s ? s->meter_num : -1, s ? s->meter_den : -1);
  CHECK(s && !drums_song_has_percussion(s), "no percussion part");
  smf_song_free(s);
  snprintf(path, sizeof path, "%s/perc.mid", tmp);
  CHECK(write_midi(path, 0, 1) == 0, "cannot write %s", path);
  s = smf_read_file(path, err, sizeof err);
  CHECK(s && drums_song_has_percussion(s), "a percussion part");
  smf_song_free(s);
}

/* The generated part of the song in `path`: keys, classes, a kick on every downbeat. */
static void check_generated(const char *path, double bar_beats)
{
  char err[256];
  smf_song *song = smf_read_file(path, err, sizeof err);
  CHECK(song != NULL, "%s", err);
  if (!song)
    return;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    splitmix_rng r1 = splitmix_derive(seed, 4), r2 = splitmix_derive(seed, 4);
    smf_part a, b;
    CHECK(drums_generate(song, &r1, &a) == 0 && drums_generate(song, &r2, &b) == 0,
          "generate failed");
    int same = a.channel == 9 && a.n_notes == b.n_notes;
    for (size_t i = 0; same && i < a.n_notes; i++) /* field by field: the padding is not set */
      same = a.notes[i].start_s == b.notes[i].start_s && a.notes[i].end_s == b.notes[i].end_s &&
             a.notes[i].start_beat == b.notes[i].start_beat &&
             a.notes[i].dur_beats == b.notes[i].dur_beats && a.notes[i].pitch == b.notes[i].pitch &&
             a.notes[i].velocity == b.notes[i].velocity;
    CHECK(same, "seed %d: not the same notes twice", (int)seed);
    int n_class[TAXONOMY_N] = {0}, bars_kicked = 0, bad_key = 0, unordered = 0;
    int n_bars = (int)ceil(N_BEATS / bar_beats - 1e-9);
    for (size_t i = 0; i < a.n_notes; i++) {
      const smf_note *n = &a.notes[i];
      bad_key += n->pitch < 35 || n->pitch > 81 || n->velocity < 1 || n->velocity > 127;
      n_class[render_class_of_drum_key(n->pitch)]++;
      unordered += i > 0 && n->start_s < a.notes[i - 1].start_s;
      /* a kick on a downbeat, 0.6 s a beat, within the humanising jitter */
      double bar = n->start_beat / bar_beats;
      if ((n->pitch == 35 || n->pitch == 36) && fabs(bar - round(bar)) < 1e-9)
        bars_kicked++;
      CHECK(fabs(n->start_s - n->start_beat * 0.6) < 0.011, "hit at beat %.3f sounds at %.3f s",
            n->start_beat, n->start_s);
    }
    CHECK(!bad_key && !unordered, "seed %d: %d bad keys, %d out of order", (int)seed, bad_key,
          unordered);
    CHECK(n_class[TAX_DRUMS] > 0 && n_class[TAX_CYMBALS] > 0, "seed %d: %d drums, %d cymbals",
          (int)seed, n_class[TAX_DRUMS], n_class[TAX_CYMBALS]);
    CHECK(bars_kicked == n_bars, "seed %d: %d of %d bars start with a kick (%.0f beats a bar)",
          (int)seed, bars_kicked, n_bars, bar_beats);
    CHECK(a.n_notes > 0 && a.notes[a.n_notes - 1].start_s > (N_BEATS - bar_beats) * 0.6 &&
              a.notes[a.n_notes - 1].start_s < N_BEATS * 0.6,
          "seed %d: the beat stops at %.2f s of %.2f", (int)seed,
          a.n_notes ? a.notes[a.n_notes - 1].start_s : -1.0, N_BEATS * 0.6);
    free(a.notes);
    free(b.notes);
  }
  smf_song_free(song);
}

/* ---- rendered pieces ------------------------------------------------------------------------ */

static double covered_s(const render_piece *pc, double rate)
{
  uint32_t to = 0;
  double s = 0.0;
  for (size_t i = 0; i < pc->n_labels; i++) { /* sorted by start */
    const render_label *l = &pc->labels[i];
    if ((l->cls != TAX_DRUMS && l->cls != TAX_CYMBALS) || l->end <= to)
      continue;
    s += (double)(l->end - (l->start > to ? l->start : to)) / rate;
    to = l->end;
  }
  return s;
}

static int same_piece(const render_piece *a, const render_piece *b)
{
  return a->frames == b->frames && a->n_labels == b->n_labels &&
         memcmp(a->audio, b->audio, 2 * a->frames * sizeof(float)) == 0 &&
         memcmp(a->labels, b->labels, a->n_labels * sizeof(render_label)) == 0 &&
         strcmp(a->description, b->description) == 0;
}

static void test_pieces(const char *tmp, const char *sf)
{
  char path[512], perc[512], err[256];
  snprintf(path, sizeof path, "%s/plain.mid", tmp);
  snprintf(perc, sizeof perc, "%s/perc.mid", tmp);
  render_config cfg = {.soundfonts = {sf}, .n_soundfonts = 1, .rate_hz = 44100};
  render_engine *eng = render_engine_new(&cfg, err, sizeof err);
  smf_song *song = smf_read_file(path, err, sizeof err);
  smf_song *song_perc = smf_read_file(perc, err, sizeof err);
  CHECK(eng && song && song_perc, "%s", err);
  if (!eng || !song || !song_perc)
    return;
  render_options ro;
  fluid_mix_options(&ro);
  for (uint64_t seed = 1; seed <= 3; seed++) {
    render_piece with, without, again;
    ro.drums_prob = 1.0;
    CHECK(render_song(eng, song, &ro, seed, &with, err, sizeof err) == 0, "%s", err);
    double len_s = (double)with.frames / 44100;
    double cov = covered_s(&with, 44100);
    CHECK(cov > 0.8 * len_s, "seed %d: drums and cymbals over %.1f s of %.1f", (int)seed, cov,
          len_s);
    CHECK(with.class_seconds[TAX_DRUMS] > 0.5 * len_s && with.class_seconds[TAX_CYMBALS] > 0,
          "seed %d: drums %.1f s, cymbals %.1f s", (int)seed, with.class_seconds[TAX_DRUMS],
          with.class_seconds[TAX_CYMBALS]);
    CHECK(strncmp(with.description, "drums[generated, ", 17) == 0, "seed %d: described as %s",
          (int)seed, with.description);
    /* audible over the whole piece: every second holds sound */
    int quiet_seconds = 0;
    for (size_t s0 = 0; s0 + 44100 <= with.frames; s0 += 44100) {
      double e = 0;
      for (size_t i = 2 * s0; i < 2 * (s0 + 44100); i++)
        e += (double)with.audio[i] * with.audio[i];
      quiet_seconds += sqrt(e / (2 * 44100)) < 1e-3;
    }
    CHECK(quiet_seconds == 0, "seed %d: %d silent seconds", (int)seed, quiet_seconds);
    /* the same fixture_smf again */
    CHECK(render_song(eng, song, &ro, seed, &again, err, sizeof err) == 0, "%s", err);
    CHECK(same_piece(&with, &again), "seed %d: not the same piece twice", (int)seed);
    render_piece_clear(&again);
    /* probability 0: the piece of the defaults */
    ro.drums_prob = 0.0;
    CHECK(render_song(eng, song, &ro, seed, &without, err, sizeof err) == 0, "%s", err);
    CHECK(covered_s(&without, 44100) == 0.0 && !strstr(without.description, "generated"),
          "seed %d: drums without --drums-prob: %s", (int)seed, without.description);
    render_piece_clear(&with);
    render_piece_clear(&without);
    /* a song with a percussion part: nothing generated, the same piece as without */
    ro.drums_prob = 1.0;
    CHECK(render_song(eng, song_perc, &ro, seed, &with, err, sizeof err) == 0, "%s", err);
    ro.drums_prob = 0.0;
    CHECK(render_song(eng, song_perc, &ro, seed, &without, err, sizeof err) == 0, "%s", err);
    CHECK(same_piece(&with, &without) && !strstr(with.description, "generated"),
          "seed %d: percussion song changed by --drums-prob: %s", (int)seed, with.description);
    render_piece_clear(&with);
    render_piece_clear(&without);
  }
  /* max_instruments 2, two parts drawn: the drums take one part's place */
  ro.max_instruments = 2;
  ro.drums_prob = 1.0;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    render_piece pc;
    CHECK(render_song(eng, song, &ro, seed, &pc, err, sizeof err) == 0, "%s", err);
    int pitched = 0;
    for (int c = 0; c < TAXONOMY_N; c++)
      pitched += c != TAX_DRUMS && c != TAX_CYMBALS && pc.class_seconds[c] > 0;
    CHECK(pitched == 1 && covered_s(&pc, 44100) > 0, "seed %d: %d pitched classes with drums (%s)",
          (int)seed, pitched, pc.description);
    render_piece_clear(&pc);
  }
  smf_song_free(song);
  smf_song_free(song_perc);
  render_engine_free(eng);
}

/* Two SoundFonts in one engine: the second keeps playing after its first stem (a stem's synth
 * used to give the SoundFont a new id, and the engine then looked it up by its old one in vain:
 * every later draw of it fell back to the first SoundFont, and its drum kits were dropped). */
static void test_two_soundfonts(const char *tmp, const char *sf1, const char *sf2)
{
  char path[512], err[256];
  snprintf(path, sizeof path, "%s/plain.mid", tmp);
  render_config cfg = {.soundfonts = {sf1, sf2}, .n_soundfonts = 2, .rate_hz = 22050};
  render_engine *eng = render_engine_new(&cfg, err, sizeof err);
  smf_song *song = smf_read_file(path, err, sizeof err);
  CHECK(eng && song, "%s", err);
  if (!eng || !song)
    return;
  render_options ro;
  fluid_mix_options(&ro);
  ro.drums_prob = 1.0;
  ro.excerpt_s = 3.0;
  const char *base = strrchr(sf2, '/') + 1;
  int stems = 0, second = 0, drums = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    render_piece pc;
    CHECK(render_song(eng, song, &ro, seed, &pc, err, sizeof err) == 0, "%s", err);
    for (const char *p = pc.description; (p = strchr(p, '[')) != NULL; p++) {
      stems++;
      second +=
          strncmp(p + 1, base, strlen(base)) == 0 ||
          (strncmp(p + 1, "generated, ", 11) == 0 && strncmp(p + 12, base, strlen(base)) == 0);
    }
    drums += strstr(pc.description, "drums[generated, ") != NULL;
    render_piece_clear(&pc);
  }
  CHECK(second >= 3 && drums == 8, "%s plays %d of %d stems; drums in %d of 8 pieces", base, second,
        stems, drums);
  smf_song_free(song);
  render_engine_free(eng);
}

/* The command: --drums-prob 0 writes what a run without it writes; 1 and 2 jobs agree; with
 * probability 1 (no solos, no withheld labels) every clip is labelled drums and cymbals. */
static void test_cli(const char *tmp, const char *render, const char *sf)
{
  const char *runs[4][2] = {{"a", ""},
                            {"b", "--drums-prob 0"},
                            {"c", "--drums-prob 1 --jobs 2"},
                            {"d", "--drums-prob 1 --jobs 1"}};
  char cmd[2048];
  for (int r = 0; r < 4; r++) {
    snprintf(cmd, sizeof cmd,
             "'%s' --out '%s/%s' --layout openmic --pieces 3 --seed 5 --soundfont '%s' --no-kits "
             "--no-sfz --no-sampler --solo-prob 0 --withheld 0 --test-fraction 0 --quiet %s "
             "'%s/plain.mid' '%s/waltz.mid'",
             render, tmp, runs[r][0], sf, runs[r][1], tmp, tmp);
    CHECK(system(cmd) == 0, "failed: %s", cmd);
  }
  for (int pair = 0; pair < 2; pair++) {
    snprintf(cmd, sizeof cmd, "diff -r '%s/%s/openmic' '%s/%s/openmic'", tmp, runs[2 * pair][0],
             tmp, runs[2 * pair + 1][0]);
    CHECK(system(cmd) == 0, "not the same output: %s", cmd);
  }
  /* 3 clips with drums and cymbals at relevance 1 with them; none at all without */
  for (int r = 0; r < 3; r += 2) {
    snprintf(cmd, sizeof cmd,
             "test $(grep -c ',drums,1\\.0,\\|,cymbals,1\\.0,' "
             "'%s/%s/openmic/openmic-2018-aggregated-labels.csv') = %d",
             tmp, runs[r][0], r ? 6 : 0);
    CHECK(system(cmd) == 0, "run %s: %s", runs[r][0], cmd);
  }
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  char tmp[] = "/tmp/instrid-test-drums-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_meter(tmp);
  char path[512];
  snprintf(path, sizeof path, "%s/plain.mid", tmp);
  check_generated(path, 4.0);
  snprintf(path, sizeof path, "%s/waltz.mid", tmp);
  check_generated(path, 3.0);
  const char *sf = NULL;
  static const char *candidates[] = {"/usr/share/sounds/sf2/TimGM6mb.sf2",
                                     "/usr/share/sounds/sf2/FluidR3_GM.sf2"};
  for (int i = 0; i < 2 && !sf; i++)
    if (access(candidates[i], R_OK) == 0)
      sf = candidates[i];
  if (access(candidates[0], R_OK) == 0 && access(candidates[1], R_OK) == 0)
    test_two_soundfonts(tmp, candidates[0], candidates[1]);
  if (sf) {
    test_pieces(tmp, sf);
    if (argc > 1)
      test_cli(tmp, argv[1], sf);
  }
  char cmd[512];
  snprintf(cmd, sizeof cmd, getenv("KEEP") ? "true %s" : "rm -rf '%s'", tmp);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
  if (!sf)
    fprintf(stderr, "no GM SoundFont installed: rendering checks skipped\n");
  return check_exit_skipped(!sf);
}
