/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_render_notes.c — instrid-render's isolated notes (--notes): a small corpus through
 * FluidSynth read back by the trainer's OpenMIC reader, one positive per clip (bass and
 * synthesizer for a GM synth bass), every other class known, audible notes, 16-kHz clips, the
 * same bytes whatever the job count, and the command's errors for bad values.
 * Needs a GM SoundFont from Debian's packages; exits 77 (skip) when none is installed.
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"
#include "check.h"
#include "corpus.h"
#include "fixtures.h"
#include "readers.h"
#include "render.h"

#define OM_BIT(c) (1u << (c))

/* FluidSynth with the SoundFont sf and, at synth_prob, the built-in synthesizer (alone when sf
 * is NULL). */
static int render_notes_in(const char *dir, const char *sf, size_t n, int jobs, uint32_t excluded,
                           double lowrate, double synth_prob, int all_classes)
{
  corpus_options co;
  memset(&co, 0, sizeof(co));
  co.out_dir = dir;
  co.all_classes = all_classes;
  co.openmic = 1;
  co.notes = n;
  co.notes_lowrate_prob = lowrate;
  co.clip_s = 4.0;
  co.test_fraction = 0.2;
  co.seed = 7;
  co.jobs = jobs;
  render_options_default(&co.options);
  co.options.sources = (sf ? SOURCE_FLUID : 0) | (synth_prob > 0 ? SOURCE_SYNTH : 0);
  co.options.synth_prob = synth_prob;
  co.options.excluded_classes = excluded;
  co.config.rate_hz = 44100;
  co.config.soundfonts[0] = sf;
  co.config.n_soundfonts = sf != NULL;
  char err[512];
  int rc = corpus_render(&co, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "corpus_render: %s\n", err);
  return rc;
}

/* The same with OpenMIC's 20 classes as the vocabulary. */
static int render_notes(const char *dir, const char *sf, size_t n, int jobs, uint32_t excluded,
                        double lowrate, double synth_prob)
{
  return render_notes_in(dir, sf, n, jobs, excluded, lowrate, synth_prob, 0);
}

/* The sample rate in an Ogg Vorbis file's identification header, 0 when not found. */
static unsigned ogg_rate(const char *path)
{
  size_t n = 0;
  char *b = fixture_slurp(path, &n);
  unsigned rate = 0;
  for (size_t i = 0; b && i + 16 < n && !rate; i++)
    if (memcmp(b + i, "\x01vorbis", 7) == 0) {
      const unsigned char *p = (const unsigned char *)b + i + 12; /* after version, channels */
      rate = p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24;
    }
  free(b);
  return rate;
}

/* dir/openmic through the trainer's reader, n_clips expected; the OpenMIC classes in *om. */
static void read_clips(const char *dir, size_t n_clips, recording_list *list, uint32_t *om)
{
  char root[1200];
  snprintf(root, sizeof(root), "%s/openmic", dir);
  dataset_options dopt;
  memset(&dopt, 0, sizeof(dopt));
  dataset_stats stats;
  memset(&stats, 0, sizeof(stats));
  instrid_error err;
  memset(&err, 0, sizeof(err));
  CHECK(openmic_read(root, &dopt, list, &stats, &err) == INSTRID_OK, "reader: %s", err.message);
  CHECK(list->n == n_clips, "reader: %zu clips, want %zu", list->n, n_clips);
  *om = 0;
  for (int c = 0; c < TAXONOMY_N; c++)
    if (render_classes[c].openmic)
      *om |= OM_BIT(c);
}

/* Reads dir/openmic with the trainer's reader and checks every clip; returns the number of
 * clips labelled bass and synthesizer together. */
static int check_tree(const char *dir, size_t n_clips, int *rates16)
{
  recording_list list = {0};
  uint32_t om;
  read_clips(dir, n_clips, &list, &om);
  int both = 0;
  *rates16 = 0;
  for (size_t i = 0; i < list.n; i++) {
    const dataset_recording *r = &list.items[i];
    /* every OpenMIC class known (no --withheld), exactly one positive or a synth bass's two */
    CHECK(r->mask_bits == om, "%s: mask %#x", r->audio_path, r->mask_bits);
    int n_pos = __builtin_popcount(r->target_bits);
    int synth_bass = r->target_bits == (OM_BIT(TAX_BASS) | OM_BIT(TAX_SYNTHESIZER));
    CHECK(n_pos == 1 || synth_bass, "%s: targets %#x", r->audio_path, r->target_bits);
    both += synth_bass;
    unsigned rate = ogg_rate(r->audio_path);
    CHECK(rate == 44100 || rate == 16000, "%s: %u Hz", r->audio_path, rate);
    *rates16 += rate == 16000;
    float *x = NULL;
    size_t frames = 0;
    char derr[256];
    if (audio_decode_file(r->audio_path, 44100, 1, &x, &frames, derr, sizeof(derr)) != 0) {
      CHECK(0, "%s", derr);
      continue;
    }
    CHECK(labs((long)frames - 4 * 44100) < 256, "%s: %zu frames", r->audio_path, frames);
    /* the note sounds: RMS of the loudest 100 ms well above silence */
    double best = 0;
    for (size_t s = 0; s + 4410 <= frames; s += 2205) {
      double e = 0;
      for (size_t k = s; k < s + 4410; k++)
        e += (double)x[k] * x[k];
      best = fmax(best, sqrt(e / 4410));
    }
    CHECK(best > 0.01, "%s: silent (RMS %.5f)", r->audio_path, best);
    free(x);
  }
  recording_list_clear(&list);
  return both;
}

/* How many times needle occurs in dir's aggregated OpenMIC labels (-1: no file). */
static int count_labels(const char *dir, const char *needle)
{
  char path[1200];
  snprintf(path, sizeof(path), "%s/openmic/openmic-2018-aggregated-labels.csv", dir);
  char *csv = fixture_slurp(path, NULL);
  int n = csv ? 0 : -1;
  for (char *l = csv; l && (l = strstr(l, needle)); l++)
    n++;
  free(csv);
  return n;
}

static int run_status(const char *cmd)
{
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(const char *bin, const char *tmp)
{
  static const char *bad[] = {"--notes 0",
                              "--notes -3",
                              "--notes 2.5",
                              "--notes x",
                              "--notes 2 --clip 0.2",
                              "--notes 2 --clip 100",
                              "--notes 2 --notes-lowrate-prob 1.5",
                              "--notes 2 --layout musicnet",
                              "--notes 2 --synth-prob 1.5",
                              "--notes 2 --synth-prob -0.1",
                              "--notes 2 --synth-prob x",
                              "--notes 2 --class-weight flute=101",
                              "--notes 2 --class-weight flute=-1",
                              "--notes 2 --class-weight flut=2",
                              "--notes 2 --class-weight flute"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s --out '%s/cli' 2>/dev/null", bin, bad[i], tmp);
    CHECK(run_status(cmd) == 2, "'%s' should exit 2", bad[i]);
  }
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "'%s' --notes 0 --out '%s/cli' 2>&1 | grep -q 'whole number of clips'",
           bin, tmp);
  CHECK(run_status(cmd) == 0, "--notes 0: no clear message");
  snprintf(cmd, sizeof(cmd),
           "'%s' --notes 2 --synth-prob 2 --out '%s/cli' 2>&1 | grep -q 'for --synth-prob'", bin,
           tmp);
  CHECK(run_status(cmd) == 0, "--synth-prob 2: the message does not name the option");
}

/* --synth-prob 1 with the built-in synthesizer as the only source (no SoundFont needed): each
 * clip positive for its class only; a synth-played flute, organ, piano or bass leaves
 * synthesizer unknown (not in the aggregated labels), a synthesizer note knows every class. */
static void test_synth_notes(const char *tmp)
{
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s/synth-notes", tmp);
  uint32_t allowed = OM_BIT(TAX_FLUTE) | OM_BIT(TAX_ORGAN) | OM_BIT(TAX_PIANO) | OM_BIT(TAX_BASS) |
                     OM_BIT(TAX_SYNTHESIZER);
  CHECK(render_notes(dir, NULL, 16, 2, ~allowed & ((1u << TAXONOMY_N) - 1), 0, 1.0) == 0,
        "synth notes");
  recording_list list = {0};
  uint32_t om, seen = 0;
  int n_synth = 0;
  read_clips(dir, 16, &list, &om);
  for (size_t i = 0; i < list.n; i++) {
    const dataset_recording *r = &list.items[i];
    uint32_t t = r->target_bits;
    CHECK(__builtin_popcount(t) == 1 && (t & allowed), "%s: targets %#x", r->audio_path, t);
    uint32_t mask = t == OM_BIT(TAX_SYNTHESIZER) ? om : om & ~OM_BIT(TAX_SYNTHESIZER);
    CHECK(r->mask_bits == mask, "%s: mask %#x, want %#x", r->audio_path, r->mask_bits, mask);
    seen |= t;
    n_synth += t == OM_BIT(TAX_SYNTHESIZER);
  }
  CHECK(__builtin_popcount(seen) >= 4 && (seen & OM_BIT(TAX_SYNTHESIZER)),
        "classes %#x in 16 clips", seen);
  recording_list_clear(&list);
  int synth_rows = count_labels(dir, ",synthesizer,");
  CHECK(synth_rows == n_synth, "%d synthesizer rows, %d synthesizer notes", synth_rows, n_synth);
}

/* --all-classes: notes drawn among all 25 classes, each clip known for all 25 (class-map.json
 * names them), one positive; bassoon, harpsichord, horn, oboe and viola among the positives.
 * Without a MIDI file to label, --layout musicnet refuses it. */
static void test_all_classes(const char *bin, const char *tmp, const char *sf)
{
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s/all-classes", tmp);
  CHECK(render_notes_in(dir, sf, 30, 2, 0, 0, 0.0, 1) == 0, "render with all classes");
  recording_list list = {0};
  uint32_t om;
  read_clips(dir, 30, &list, &om);
  const uint32_t all = (1u << TAXONOMY_N) - 1, not_om = all & ~om;
  uint32_t seen = 0;
  for (size_t i = 0; i < list.n; i++) {
    const dataset_recording *r = &list.items[i];
    CHECK(r->mask_bits == all, "%s: mask %#x, want every class", r->audio_path, r->mask_bits);
    int n_pos = __builtin_popcount(r->target_bits);
    CHECK(n_pos == 1 || r->target_bits == (OM_BIT(TAX_BASS) | OM_BIT(TAX_SYNTHESIZER)),
          "%s: targets %#x", r->audio_path, r->target_bits);
    seen |= r->target_bits;
  }
  CHECK(__builtin_popcount(seen & not_om) >= 2, "classes OpenMIC does not name among 30 notes: %#x",
        seen & not_om);
  recording_list_clear(&list);
  char cmd[2048];
  snprintf(cmd, sizeof(cmd),
           "'%s' --all-classes --layout musicnet --out '%s/cli' x.mid 2>&1 | grep -q 'all-classes'",
           bin, tmp);
  CHECK(run_status(cmd) == 0, "--all-classes --layout musicnet: no message naming the option");
  snprintf(cmd, sizeof(cmd),
           "'%s' --all-classes --layout musicnet --out '%s/cli' x.mid 2>/dev/null", bin, tmp);
  CHECK(run_status(cmd) == 2, "--all-classes --layout musicnet should exit 2");
}

/* --synth-prob 0 writes the same bytes as no option at all. */
static void test_synth_prob_zero(const char *bin, const char *tmp)
{
  char cmd[4096];
  snprintf(cmd, sizeof(cmd),
           "'%s' --quiet --notes 4 --seed 2 --out '%s/p-none' && "
           "'%s' --quiet --notes 4 --seed 2 --synth-prob 0 --out '%s/p-zero' && "
           "diff -r '%s/p-none' '%s/p-zero' >/dev/null",
           bin, tmp, bin, tmp, tmp, tmp);
  CHECK(run_status(cmd) == 0, "--synth-prob 0 changed the output");
}

/* render_class_draw: all weights 1 is the even reservoir draw, number for number; weights give
 * the odds they say (20,000 draws of 5 candidates, one at 3: 3/7 of the picks, within 0.02 for
 * this seed); weight 0 is never picked. */
static void test_class_draw(void)
{
  render_options even, weighted;
  render_options_default(&even);
  render_options_default(&weighted);
  weighted.class_weight[TAX_FLUTE] = 3.0;
  weighted.class_weight[TAX_OBOE] = 0.0;
  static const int cands[6] = {TAX_FLUTE, TAX_VIOLIN, TAX_OBOE, TAX_TRUMPET, TAX_PIANO, TAX_ORGAN};
  splitmix_rng r1 = splitmix_derive(5, 1), r2 = splitmix_derive(5, 1), r3 = splitmix_derive(9, 1);
  int same = 1, n_flute = 0, n_oboe = 0;
  const int draws = 20000;
  for (int d = 0; d < draws; d++) {
    uint64_t n1 = 0, n2 = 0, n3 = 0;
    double t1 = 0, t3 = 0;
    int p1 = -1, p2 = -1, p3 = -1;
    for (int i = 0; i < 6; i++) {
      if (render_class_draw(&even, &r1, cands[i], &n1, &t1))
        p1 = cands[i];
      if (splitmix_below(&r2, ++n2) == 0)
        p2 = cands[i];
      if (render_class_draw(&weighted, &r3, cands[i], &n3, &t3))
        p3 = cands[i];
    }
    same &= p1 == p2;
    n_flute += p3 == TAX_FLUTE;
    n_oboe += p3 == TAX_OBOE;
  }
  CHECK(same, "even weights are not the even reservoir draw");
  CHECK(fabs((double)n_flute / draws - 3.0 / 7.0) < 0.02, "flute at odds 3 of 7: %d of %d", n_flute,
        draws);
  CHECK(n_oboe == 0, "oboe at weight 0 picked %d times", n_oboe);
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  const char *sf = fixture_gm_soundfont();
  char tmp[] = "/tmp/instrid-test-notes-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_class_draw();
  if (argc > 1)
    test_cli(argv[1], tmp);
  test_synth_notes(tmp);
  if (argc > 1 && sf) {
    test_synth_prob_zero(argv[1], tmp);
    test_all_classes(argv[1], tmp, sf);
  }
  if (sf) {
    char a[1024], b[1024], path[1200], path2[1200];
    int rates16 = 0;
    /* every class FluidSynth can play, half the clips at 16 kHz; jobs 2 then 1, same bytes */
    snprintf(a, sizeof(a), "%s/a", tmp);
    snprintf(b, sizeof(b), "%s/b", tmp);
    CHECK(render_notes(a, sf, 10, 2, 0, 0.5, 0.0) == 0, "render a");
    CHECK(render_notes(b, sf, 10, 1, 0, 0.5, 0.0) == 0, "render b");
    check_tree(a, 10, &rates16);
    CHECK(rates16 > 0 && rates16 < 10, "%d of 10 clips at 16 kHz", rates16);
    static const char *index_files[] = {"openmic-2018-aggregated-labels.csv", "class-map.json",
                                        "partitions/split01_train.csv",
                                        "partitions/split01_test.csv"};
    for (int i = 0; i < 4; i++) {
      snprintf(path, sizeof(path), "%s/openmic/%s", a, index_files[i]);
      snprintf(path2, sizeof(path2), "%s/openmic/%s", b, index_files[i]);
      CHECK(fixture_same_file(path, path2), "%s differs", index_files[i]);
    }
    for (int i = 0; i < 10; i++) {
      snprintf(path, sizeof(path), "%s/openmic/audio/000/%06d_0.ogg", a, i);
      snprintf(path2, sizeof(path2), "%s/openmic/audio/000/%06d_0.ogg", b, i);
      CHECK(fixture_same_file(path, path2), "clip %d differs between --jobs 2 and 1", i);
    }
    /* synthesizer notes only: a GM synth bass among them (seed 7) is labelled bass too */
    snprintf(a, sizeof(a), "%s/synth", tmp);
    CHECK(render_notes(a, sf, 12, 2, ~OM_BIT(TAX_SYNTHESIZER) & ((1u << TAXONOMY_N) - 1), 0, 0.0) ==
              0,
          "render synth");
    int both = check_tree(a, 12, &rates16);
    CHECK(rates16 == 0, "%d clips at 16 kHz without --notes-lowrate-prob", rates16);
    CHECK(both > 0, "no synth bass labelled bass and synthesizer in 12 synthesizer notes");
    int pos_synth = count_labels(a, ",synthesizer,1.0,");
    CHECK(pos_synth == 12, "%d of 12 clips positive for synthesizer", pos_synth);
    /* bass and synthesizer notes: a third of the bass notes are synth basses (corpus.c), so
     * more clips are labelled both than the synthesizer's own 2 synth basses in 22 programs
     * give (12 synthesizer-only notes above); each clip bass or synthesizer or both */
    snprintf(a, sizeof(a), "%s/bass", tmp);
    CHECK(render_notes(a, sf, 16, 2,
                       ~(OM_BIT(TAX_BASS) | OM_BIT(TAX_SYNTHESIZER)) & ((1u << TAXONOMY_N) - 1), 0,
                       0.0) == 0,
          "render bass");
    both = check_tree(a, 16, &rates16);
    CHECK(both >= 3, "%d of 16 bass and synthesizer notes are synth basses", both);
    int pos = count_labels(a, ",1.0,");
    CHECK(pos == 16 + both, "%d positives in 16 clips, %d of them synth basses", pos, both);
  }
  if (!getenv("KEEP") && fixture_remove_tree(tmp) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
  if (!sf)
    fprintf(stderr, "no GM SoundFont installed: rendering checks skipped\n");
  return check_exit_skipped(!sf);
}
