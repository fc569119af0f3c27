/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_render.c — instrid-render's parts: the MIDI reader on a file the test writes, the sampler's
 * pitch-shift math, the effects, and a corpus rendered through a GM SoundFont into both layouts
 * (labels, files, withheld fraction, same fixture_smf for the same seed whatever the job count).
 * Needs a GM SoundFont from Debian's packages; exits 77 (skip) when none is installed.
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "audio.h"
#include "check.h"
#include "classes.h"
#include "corpus.h"
#include "fixtures.h"
#include "fx.h"
#include "render.h"
#include "sampler.h"
#include "smf.h"

/* ---- a minimal Standard MIDI File writer --------------------------------------------------- */

typedef struct {
  unsigned tick, len;
  int pitch, vel;
} tnote;

/* One track: optional program change, notes (non-overlapping, in order), end of track. */
static void put_track(fixture_smf *o, int channel, int program, const tnote *notes, int n,
                      int tempo_us)
{
  fixture_smf t = {.n = 0};
  if (tempo_us > 0) {
    fixture_smf_put_vlq(&t, 0);
    fixture_smf_put8(&t, 0xff);
    fixture_smf_put8(&t, 0x51);
    fixture_smf_put8(&t, 3);
    fixture_smf_put8(&t, (unsigned)tempo_us >> 16);
    fixture_smf_put8(&t, ((unsigned)tempo_us >> 8) & 0xff);
    fixture_smf_put8(&t, (unsigned)tempo_us & 0xff);
  }
  if (program >= 0) {
    fixture_smf_put_vlq(&t, 0);
    fixture_smf_put8(&t, 0xc0 | (unsigned)channel);
    fixture_smf_put8(&t, (unsigned)program);
  }
  unsigned now = 0;
  for (int i = 0; i < n; i++) {
    fixture_smf_put_vlq(&t, notes[i].tick - now);
    fixture_smf_put8(&t, 0x90 | (unsigned)channel);
    fixture_smf_put8(&t, (unsigned)notes[i].pitch);
    fixture_smf_put8(&t, (unsigned)notes[i].vel);
    /* note-off as note-on with velocity 0, under running status */
    fixture_smf_put_vlq(&t, notes[i].len);
    fixture_smf_put8(&t, (unsigned)notes[i].pitch);
    fixture_smf_put8(&t, 0);
    now = notes[i].tick + notes[i].len;
  }
  fixture_smf_end_track(&t);
  fixture_smf_put_chunk(o, &t);
}

#define DIVISION 480
#define TEMPO_US 600000 /* 100 bpm: a beat is 0.6 s */

static const tnote piano_notes[] = {
    {0, 480, 60, 90}, {480, 480, 64, 80}, {960, 960, 67, 70}, {1920, 480, 72, 100}};
static const tnote violin_notes[] = {{240, 720, 76, 80}, {1200, 1200, 79, 90}};

/* The piano part and a second part (GM program, notes) in a format-1 file. */
static int write_two_part_midi(const char *path, int program, const tnote *notes, int n)
{
  fixture_smf o = {.n = 0};
  fixture_smf_put(&o, "MThd", 4);
  fixture_smf_put32(&o, 6);
  fixture_smf_put8(&o, 0);
  fixture_smf_put8(&o, 1); /* format 1 */
  fixture_smf_put8(&o, 0);
  fixture_smf_put8(&o, 3); /* tracks */
  fixture_smf_put8(&o, DIVISION >> 8);
  fixture_smf_put8(&o, DIVISION & 0xff);
  put_track(&o, 0, -1, NULL, 0, TEMPO_US); /* conductor track */
  put_track(&o, 0, 0, piano_notes, 4, 0);  /* acoustic grand */
  put_track(&o, 1, program, notes, n, 0);
  return fixture_smf_write(path, &o);
}

static int write_test_midi(const char *path)
{
  return write_two_part_midi(path, 40, violin_notes, 2); /* violin */
}

/* ---- helpers -------------------------------------------------------------------------------- */

static int count_lines(const char *s)
{
  int n = 0;
  for (; s && *s; s++)
    n += *s == '\n';
  return n;
}

/* dir's OpenMIC aggregated labels per class: rows listed and rows positive; bad counts the rows
 * that do not parse or name no class of the taxonomy, and a wrong header. */
typedef struct {
  int rows[TAXONOMY_N], positive[TAXONOMY_N], bad, total;
} label_counts;

static int count_openmic_labels(const char *dir, label_counts *lc)
{
  char path[1200];
  snprintf(path, sizeof(path), "%s/openmic/openmic-2018-aggregated-labels.csv", dir);
  memset(lc, 0, sizeof(*lc));
  char *labels = fixture_slurp(path, NULL);
  if (!labels)
    return -1;
  const char *header = "sample_key,instrument,relevance,num_responses\n";
  lc->bad = strncmp(labels, header, strlen(header)) != 0;
  for (char *l = strchr(labels, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
    char key[64], inst[64];
    double rel;
    int nr, c = -1;
    if (sscanf(l + 1, "%63[^,],%63[^,],%lf,%d", key, inst, &rel, &nr) != 4 ||
        (c = instrid_taxonomy_index(inst)) < 0) {
      lc->bad++;
      continue;
    }
    lc->total++;
    lc->rows[c]++;
    lc->positive[c] += rel >= 0.5;
  }
  free(labels);
  return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_smf(const char *midi)
{
  char err[256];
  smf_song *s = smf_read_file(midi, err, sizeof(err));
  CHECK(s != NULL, "%s", err);
  if (!s)
    return;
  CHECK(s->n_parts == 2, "parts %zu", s->n_parts);
  if (s->n_parts == 2) {
    const smf_part *p = &s->parts[0], *v = &s->parts[1];
    CHECK(p->program == 0 && p->channel == 0 && p->n_notes == 4, "piano part %d %d %zu", p->program,
          p->channel, p->n_notes);
    CHECK(v->program == 40 && v->channel == 1 && v->n_notes == 2, "violin part");
    /* tick 960 at 100 bpm and 480 ticks per beat: 2 beats = 1.2 s; length 960 ticks = 1.2 s */
    CHECK(fabs(p->notes[2].start_s - 1.2) < 1e-9 && fabs(p->notes[2].end_s - 2.4) < 1e-9,
          "times %f %f", p->notes[2].start_s, p->notes[2].end_s);
    CHECK(fabs(p->notes[2].start_beat - 2.0) < 1e-12 && fabs(p->notes[2].dur_beats - 2.0) < 1e-12,
          "beats");
    CHECK(p->notes[3].pitch == 72 && p->notes[3].velocity == 100, "pitch/velocity");
    CHECK(fabs(v->notes[0].start_s - 0.3) < 1e-9, "violin onset %f", v->notes[0].start_s);
    CHECK(fabs(s->duration_s - 2.4 * 1.25) < 1e-9, "duration %f", s->duration_s); /* 2400 ticks */
  }
  smf_song_free(s);
  const unsigned char junk[] = "MThd\0\0\0\6\0\1\0\1\1\340MTrk\0\0\0\10\0\220\74"; /* cut short */
  s = smf_read_memory(junk, sizeof(junk) - 1, err, sizeof(err));
  CHECK(s == NULL && strstr(err, "truncated") != NULL, "truncated file accepted: %s", err);
  smf_song_free(s);
  CHECK(strcmp(smf_note_value_name(1.0), "Quarter") == 0, "quarter");
  CHECK(strcmp(smf_note_value_name(0.75), "Dotted Eighth") == 0, "dotted eighth");
  CHECK(strcmp(smf_note_value_name(1.0 / 3), "Triplet Eighth") == 0, "triplet eighth");
}

/* Note pairing, as the linear reader does it: overlapping notes of one pitch pair in order, a
 * note-off of another channel or track does not end a note, an unmatched note-on ends at its
 * part's last event, a program set on the channel by another track is the fallback. */
static void test_smf_pairing(void)
{
  /* format 1, 2 tracks, 96 ticks per beat (120 bpm: 1 tick = 1/192 s) */
  static const unsigned char file[] = {
      'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, 2, 0, 96,
      /* track 0: program 40 on channel 0, no notes */
      'M', 'T', 'r', 'k', 0, 0, 0, 7, 0, 0xc0, 40, 0, 0xff, 0x2f, 0,
      /* track 1, channel 0 */
      'M', 'T', 'r', 'k', 0, 0, 0, 36, 0, 0x90, 60, 100, /* t 0: on 60 (a) */
      10, 0x90, 60, 90,                                  /* t 10: on 60 (b) */
      10, 0x81, 60, 0,  /* t 20: off 60 on channel 1: ends nothing on channel 0 */
      0, 0x80, 60, 0,   /* t 20: off 60: ends a */
      10, 0x90, 60, 0,  /* t 30: on with velocity 0 = off 60: ends b */
      10, 0x90, 62, 80, /* t 40: on 62, never released (c) */
      10, 0x90, 64, 70, /* t 50: on 64 (d) */
      10, 0x80, 64, 0,  /* t 60: off 64: ends d; the last event of channel 0 */
      0, 0xff, 0x2f, 0};
  char err[256];
  smf_song *s = smf_read_memory(file, sizeof file, err, sizeof err);
  CHECK(s != NULL, "%s", err);
  if (!s)
    return;
  /* channel 0 of track 1; channel 1 of track 1 has only a note-off: no part */
  CHECK(s->n_parts == 1, "parts %zu", s->n_parts);
  const smf_part *p = &s->parts[0];
  CHECK(p->channel == 0 && p->program == 40 && p->n_notes == 4, "part ch %d prog %d notes %zu",
        p->channel, p->program, p->n_notes);
  static const double want[4][2] = {{0, 20}, {10, 30}, {40, 60}, {50, 60}}; /* ticks */
  for (size_t i = 0; i < 4 && i < p->n_notes; i++)
    CHECK(fabs(p->notes[i].start_s - want[i][0] / 192.0) < 1e-12 &&
              fabs(p->notes[i].end_s - want[i][1] / 192.0) < 1e-12 &&
              fabs(p->notes[i].dur_beats - (want[i][1] - want[i][0]) / 96.0) < 1e-12,
          "note %zu: %g..%g s, %g beats", i, p->notes[i].start_s, p->notes[i].end_s,
          p->notes[i].dur_beats);
  CHECK(p->n_notes == 4 && p->notes[0].velocity == 100 && p->notes[1].velocity == 90 &&
            p->notes[2].pitch == 62,
        "order of onsets");
  smf_song_free(s);
}

static void test_pitch_shift(void)
{
  CHECK(fabs(sampler_pitch_ratio(69, 440.0) - 1.0) < 1e-12, "A4 ratio");
  CHECK(fabs(sampler_pitch_ratio(81, 440.0) - 2.0) < 1e-12, "octave up");
  CHECK(fabs(sampler_pitch_ratio(57, 440.0) - 0.5) < 1e-12, "octave down");
  /* Philharmonia's data.csv states C4 as 261.63 Hz: to D4 is two semitones */
  CHECK(fabs(sampler_pitch_ratio(62, 261.63) - 293.6648 / 261.63) < 1e-5, "C4 -> D4 %f",
        sampler_pitch_ratio(62, 261.63));

  /* A 440 Hz sine read at the D5-over-A4 ratio must come out at 587.33 Hz. */
  const int rate = 44100;
  size_t n = (size_t)rate * 2;
  float *src = malloc(n * sizeof(float)), *dst = malloc((size_t)rate * sizeof(float));
  for (size_t i = 0; i < n; i++)
    src[i] = (float)sin(2 * M_PI * 440.0 * (double)i / rate);
  double ratio = sampler_pitch_ratio(74, 440.0);
  size_t inside = sampler_resample(src, n, 0.0, ratio, dst, (size_t)rate);
  CHECK(inside == (size_t)rate, "inside %zu", inside);
  int crossings = 0;
  for (int i = 1; i < rate; i++)
    crossings += (dst[i - 1] < 0) != (dst[i] < 0);
  double f = crossings / 2.0;
  CHECK(fabs(f - 587.33) < 1.0, "measured %.2f Hz", f);
  /* interpolation error on a smooth signal stays small */
  double max_err = 0;
  for (int i = 0; i < rate; i++)
    max_err = fmax(max_err, fabs(dst[i] - sin(2 * M_PI * 440.0 * ratio * i / rate)));
  CHECK(max_err < 2e-3, "cubic error %g", max_err);
  /* ratio 1 from an integer start reproduces the samples; beyond the end gives silence */
  inside = sampler_resample(src, 100, 10.0, 1.0, dst, 100);
  CHECK(inside == 90 && dst[0] == src[10] && dst[50] == src[60] && dst[95] == 0.0f,
        "identity read (%zu)", inside);
  free(src);
  free(dst);
}

static void test_fx(void)
{
  fx_biquad bq;
  fx_biquad_init(&bq, FX_PEAK, 1000.0, 6.0, 1.0, 44100.0);
  CHECK(fabs(fx_biquad_response_db(&bq, 1000.0, 44100.0) - 6.0) < 1e-6, "peak gain");
  CHECK(fabs(fx_biquad_response_db(&bq, 20.0, 44100.0)) < 0.05, "peak far away");
  fx_biquad_init(&bq, FX_LOW_SHELF, 200.0, -6.0, 0.7, 44100.0);
  CHECK(fabs(fx_biquad_response_db(&bq, 10.0, 44100.0) + 6.0) < 0.1, "low shelf");
  CHECK(fabs(fx_biquad_response_db(&bq, 10000.0, 44100.0)) < 0.1, "low shelf top");
  /* an impulse through the reverb leaves a tail that decays */
  size_t n = 44100 * 2;
  float *x = calloc(2 * n, sizeof(float));
  x[0] = x[1] = 1.0f;
  CHECK(fx_reverb_stereo(x, n, 44100.0, 0.5, 0.5, 0.5), "reverb alloc");
  double e1 = 0, e2 = 0;
  for (size_t i = 2 * 4410; i < 2 * 22050; i++)
    e1 += (double)x[i] * x[i];
  for (size_t i = 2 * 66150; i < 2 * n; i++)
    e2 += (double)x[i] * x[i];
  CHECK(e1 > 1e-4 && e2 < e1 * 0.5, "tail energy %g then %g", e1, e2);
  free(x);
}

/* A corpus of the MIDI files under dir played by FluidSynth through sf at 44.1 kHz, with every
 * random variation (vary) or as written; the layouts, sizes and seed left to the caller. */
static void fluid_corpus(corpus_options *co, const char *dir, char **files, size_t n_files,
                         const char *sf, int vary)
{
  memset(co, 0, sizeof(*co));
  co->out_dir = dir;
  co->midi_files = files;
  co->n_midi = n_files;
  if (vary)
    render_options_default(&co->options);
  else
    render_options_as_written(&co->options, 0);
  co->options.sources = SOURCE_FLUID;
  co->config.rate_hz = 44100;
  co->config.soundfonts[0] = sf;
  co->config.n_soundfonts = 1;
}

/* Renders the test MIDI into both layouts under dir; 0 on success. */
static int render_corpus(const char *dir, char **files, size_t n_files, const char *sf, int jobs,
                         int vary, char *err, size_t errlen)
{
  corpus_options co;
  fluid_corpus(&co, dir, files, n_files, sf, vary);
  co.musicnet = co.openmic = 1;
  co.pieces = 4;
  co.clip_s = 10.0;
  co.test_fraction = 0.5;
  co.withheld_fraction = 0.25;
  co.seed = 42;
  co.jobs = jobs;
  int rc = corpus_render(&co, err, errlen);
  if (rc != 0)
    fprintf(stderr, "corpus_render: %s\n", err);
  return rc;
}

static void test_corpus(const char *tmp, const char *midi, const char *sf)
{
  char dir[1024], path[1200], path2[1200];
  char *files[1] = {(char *)midi};
  snprintf(dir, sizeof(dir), "%s/plain", tmp);
  char render_err[512];
  CHECK(render_corpus(dir, files, 1, sf, 1, 0, render_err, sizeof(render_err)) == 0,
        "render failed");

  /* MusicNet: 4 pieces, each split to train or test; labels exact without variation */
  int n_wav = 0;
  for (int id = 100000; id < 100004; id++) {
    int found = 0;
    for (int test = 0; test < 2; test++) {
      snprintf(path, sizeof(path), "%s/musicnet/%s_data/%d.wav", dir, test ? "test" : "train", id);
      snprintf(path2, sizeof(path2), "%s/musicnet/%s_labels/%d.csv", dir, test ? "test" : "train",
               id);
      if (access(path, R_OK) != 0)
        continue;
      found++;
      n_wav++;
      char *csv = fixture_slurp(path2, NULL);
      CHECK(csv != NULL, "%s missing", path2);
      if (!csv)
        continue;
      const char *header = "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n";
      CHECK(strncmp(csv, header, strlen(header)) == 0, "header of %s", path2);
      CHECK(count_lines(csv) == 1 + 6, "%s: %d rows", path2, count_lines(csv) - 1);
      /* piano note 3 (tick 960, 1.2 s, two beats) and violin note 1 (tick 1200, 1.5 s) */
      char row[128];
      snprintf(row, sizeof(row), "\n%d,%d,1,67,2,2,Half\n", 52920, 105840);
      CHECK(strstr(csv, row) != NULL, "piano row missing in %s:\n%s", path2, csv);
      snprintf(row, sizeof(row), "\n%d,%d,41,79,2.5,2.5,Unknown\n", 66150, 132300);
      CHECK(strstr(csv, row) != NULL, "violin row missing in %s:\n%s", path2, csv);
      free(csv);
      /* 3 s of notes + 1.5 s of release room, mono 16-bit */
      float *x;
      size_t frames;
      char err[256];
      CHECK(audio_decode_file(path, 44100, 1, &x, &frames, err, sizeof(err)) == 0, "%s", err);
      CHECK(frames == (size_t)(4.5 * 44100), "frames %zu", frames);
      double e = 0;
      for (size_t i = 0; i < frames; i++)
        e += (double)x[i] * x[i];
      CHECK(e > 1.0, "silent rendering");
      free(x);
    }
    CHECK(found == 1, "piece %d in %d splits", id, found);
  }
  CHECK(n_wav == 4, "wav files %d", n_wav);

  /* OpenMIC: 20 classes, 25 % withheld -> exactly 15 rows per clip; piano and violin sound */
  label_counts lc;
  CHECK(count_openmic_labels(dir, &lc) == 0, "no aggregated labels");
  CHECK(lc.total == 4 * 15, "rows %d", lc.total);
  /* every listed piano/violin pair is positive, every other listed pair negative, every class
   * one of OpenMIC's */
  int pos = 0, wrong = lc.bad;
  for (int c = 0; c < TAXONOMY_N; c++) {
    int should = c == TAX_PIANO || c == TAX_VIOLIN;
    wrong += should ? lc.rows[c] - lc.positive[c] : lc.positive[c];
    wrong += render_classes[c].openmic ? 0 : lc.rows[c];
    pos += lc.positive[c];
  }
  CHECK(wrong == 0 && pos > 0 && pos < lc.total, "labels: %d wrong, %d of %d positive", wrong, pos,
        lc.total);
  snprintf(path, sizeof(path), "%s/openmic/class-map.json", dir);
  char *cmap = fixture_slurp(path, NULL);
  CHECK(cmap &&
            strncmp(cmap, "{\"accordion\": 0, \"banjo\": 1, \"bass\": 2, \"cello\": 3", 49) == 0 &&
            strstr(cmap, "\"voice\": 19}") != NULL,
        "class map %s", cmap ? cmap : "(none)");
  free(cmap);
  int keys = 0;
  for (int test = 0; test < 2; test++) {
    snprintf(path, sizeof(path), "%s/openmic/partitions/split01_%s.csv", dir,
             test ? "test" : "train");
    char *part = fixture_slurp(path, NULL);
    CHECK(part != NULL, "%s", path);
    for (char *k = part; k && *k; k = strchr(k, '\n') + 1) {
      char key[64];
      if (sscanf(k, "%63[^\n]", key) != 1)
        break;
      snprintf(path2, sizeof(path2), "%s/openmic/audio/%.3s/%s.ogg", dir, key, key);
      CHECK(access(path2, R_OK) == 0, "%s missing", path2);
      float *x;
      size_t frames;
      char err[256];
      if (audio_decode_file(path2, 44100, 2, &x, &frames, err, sizeof(err)) == 0) {
        CHECK(labs((long)frames - 441000) < 64, "clip frames %zu", frames);
        free(x);
      } else {
        CHECK(0, "%s", err);
      }
      keys++;
    }
    free(part);
  }
  CHECK(keys == 4, "partition keys %d", keys);

  /* Same seed, same bytes, whatever the job count (with every random variation on). */
  char a[1024], b[1024];
  snprintf(a, sizeof(a), "%s/vary1", tmp);
  snprintf(b, sizeof(b), "%s/vary2", tmp);
  CHECK(render_corpus(a, files, 1, sf, 1, 1, render_err, sizeof(render_err)) == 0, "render a");
  CHECK(render_corpus(b, files, 1, sf, 2, 1, render_err, sizeof(render_err)) == 0, "render b");
  static const char *index_files[] = {"musicnet/musicnet_metadata.csv",
                                      "openmic/openmic-2018-aggregated-labels.csv",
                                      "openmic/partitions/split01_train.csv"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/%s", a, index_files[i]);
    snprintf(path2, sizeof(path2), "%s/%s", b, index_files[i]);
    CHECK(fixture_same_file(path, path2), "%s differs", index_files[i]);
  }
  int compared = 0;
  snprintf(path, sizeof(path), "%s/openmic/partitions/split01_train.csv", a);
  char *part = fixture_slurp(path, NULL);
  snprintf(path, sizeof(path), "%s/openmic/partitions/split01_test.csv", a);
  char *part2 = fixture_slurp(path, NULL);
  for (int which = 0; which < 2; which++)
    for (char *k = which ? part2 : part; k && *k; k = strchr(k, '\n') + 1) {
      char key[64];
      if (sscanf(k, "%63[^\n]", key) != 1)
        break;
      snprintf(path, sizeof(path), "%s/openmic/audio/%.3s/%s.ogg", a, key, key);
      snprintf(path2, sizeof(path2), "%s/openmic/audio/%.3s/%s.ogg", b, key, key);
      CHECK(fixture_same_file(path, path2), "%s differs", path);
      compared++;
    }
  free(part);
  free(part2);
  for (int id = 100000; id < 100004; id++)
    for (int test = 0; test < 2; test++) {
      snprintf(path, sizeof(path), "%s/musicnet/%s_data/%d.wav", a, test ? "test" : "train", id);
      snprintf(path2, sizeof(path2), "%s/musicnet/%s_data/%d.wav", b, test ? "test" : "train", id);
      if (access(path, R_OK) == 0) {
        CHECK(fixture_same_file(path, path2), "%s differs", path);
        compared++;
      }
    }
  CHECK(compared == 8, "compared %d files", compared);
}

/* --all-classes: a piece with a bassoon part (a class OpenMIC does not name) rendered into the
 * OpenMIC layout. With OpenMIC's 20 classes the bassoon plays but no label says so (unknown);
 * with the taxonomy's 25 every clip lists all 25, the bassoon and the piano positive, viola,
 * oboe, horn and harpsichord known negatives, and class-map.json names the 25 in order. */
static void test_all_classes(const char *tmp, const char *sf)
{
  static const tnote bassoon_notes[] = {{0, 960, 46, 90}, {960, 960, 50, 90}, {1920, 480, 53, 80}};
  char midi[1024], dir[1024], path[1200];
  snprintf(midi, sizeof(midi), "%s/bassoon.mid", tmp);
  CHECK(write_two_part_midi(midi, 70, bassoon_notes, 3) == 0, "cannot write %s", midi);
  char *files[1] = {midi};
  for (int all = 0; all < 2; all++) {
    corpus_options co;
    snprintf(dir, sizeof(dir), "%s/all%d", tmp, all);
    fluid_corpus(&co, dir, files, 1, sf, 0);
    co.openmic = 1;
    co.all_classes = all;
    co.pieces = 2;
    co.clip_s = 4.0;
    co.seed = 5;
    co.jobs = 1;
    char err[512];
    CHECK(corpus_render(&co, err, sizeof(err)) == 0, "render (all classes %d): %s", all, err);
    label_counts lc;
    CHECK(count_openmic_labels(dir, &lc) == 0, "all classes %d: no aggregated labels", all);
    int rows = lc.total, wrong = lc.bad, bassoon_rows = lc.rows[TAX_BASSOON];
    for (int c = 0; c < TAXONOMY_N; c++)
      wrong += c == TAX_PIANO || c == TAX_BASSOON ? lc.rows[c] - lc.positive[c] : lc.positive[c];
    int known_absent =
        lc.rows[TAX_VIOLA] + lc.rows[TAX_OBOE] + lc.rows[TAX_HORN] + lc.rows[TAX_HARPSICHORD];
    CHECK(wrong == 0, "all classes %d: %d labels wrong", all, wrong);
    CHECK(rows == 2 * (all ? 25 : 20), "all classes %d: %d rows for 2 clips", all, rows);
    CHECK(bassoon_rows == (all ? 2 : 0), "all classes %d: %d bassoon rows", all, bassoon_rows);
    CHECK(known_absent == (all ? 8 : 0), "all classes %d: %d viola, oboe, horn, harpsichord rows",
          all, known_absent);
    snprintf(path, sizeof(path), "%s/openmic/class-map.json", dir);
    char *cmap = fixture_slurp(path, NULL);
    CHECK(cmap &&
              (all ? strstr(cmap, "\"bassoon\": 3, \"cello\": 4") && strstr(cmap, "\"voice\": 24}")
                   : strstr(cmap, "\"cello\": 3") && !strstr(cmap, "bassoon")),
          "all classes %d: class map %s", all, cmap ? cmap : "(none)");
    free(cmap);
  }
}

/* Unreadable MIDI files among good ones: each is reported once, by name and reason, and left
 * out, so the corpus is the one the good file alone gives (test_corpus's "plain"); with no
 * good file at all the run stops with an error saying so. */
static void test_bad_midi(const char *tmp, const char *midi, const char *sf)
{
  char garbage[512], truncated[512], dir[1024], path[1200], path2[1200], err[512];
  snprintf(garbage, sizeof(garbage), "%s/garbage.mid", tmp);
  snprintf(truncated, sizeof(truncated), "%s/truncated.mid", tmp);
  size_t size = 0;
  char *bytes = fixture_slurp(midi, &size);
  FILE *f = fopen(garbage, "wb");
  if (f) {
    fputs("this is not a MIDI file", f);
    fclose(f);
  }
  f = fopen(truncated, "wb");
  if (f && bytes) {
    fwrite(bytes, 1, size - 7, f); /* the last track loses its end */
    fclose(f);
  }
  free(bytes);

  char said_path[1200];
  snprintf(said_path, sizeof(said_path), "%s/stderr.txt", tmp);
  fflush(stderr);
  int saved = dup(2), fd = open(said_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  char *files[3] = {garbage, (char *)midi, truncated};
  snprintf(dir, sizeof(dir), "%s/badmidi", tmp);
  int rc = render_corpus(dir, files, 3, sf, 1, 0, err, sizeof(err));
  char *none[2] = {garbage, truncated};
  snprintf(dir, sizeof(dir), "%s/nomidi", tmp);
  int rc_none = render_corpus(dir, none, 2, sf, 1, 0, err, sizeof(err));
  fflush(stderr);
  dup2(saved, 2);
  close(saved);

  CHECK(rc == 0, "render with bad files among good ones failed");
  CHECK(rc_none != 0 && strcmp(err, "none of the 2 MIDI files could be read") == 0,
        "no readable file: rc %d, '%s'", rc_none, err);
  char *said = fixture_slurp(said_path, NULL);
  char expected[8192];
  snprintf(expected, sizeof(expected),
           "instrid-render: skipping %s: not a Standard MIDI File (no MThd header)\n"
           "instrid-render: skipping %s: track 2 is truncated\n"
           "instrid-render: skipping %s: not a Standard MIDI File (no MThd header)\n"
           "instrid-render: skipping %s: track 2 is truncated\n"
           "corpus_render: none of the 2 MIDI files could be read\n",
           garbage, truncated, garbage, truncated);
  CHECK(said && strcmp(said, expected) == 0, "stderr:\n%s\nexpected:\n%s", said ? said : "",
        expected);
  free(said);
  /* An output folder that cannot be made says why. */
  char *good[1] = {(char *)midi}, expected_err[1200];
  snprintf(dir, sizeof(dir), "%s/out", garbage);
  snprintf(expected_err, sizeof(expected_err),
           "%s/musicnet/train_data: cannot create: Not a directory", dir);
  rc = render_corpus(dir, good, 1, sf, 1, 0, err, sizeof(err));
  CHECK(rc != 0 && strcmp(err, expected_err) == 0, "out under a file: rc %d, '%s'", rc, err);
  static const char *index_files[] = {
      "musicnet/musicnet_metadata.csv", "openmic/openmic-2018-aggregated-labels.csv",
      "openmic/partitions/split01_train.csv", "openmic/partitions/split01_test.csv"};
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof(path), "%s/badmidi/%s", tmp, index_files[i]);
    snprintf(path2, sizeof(path2), "%s/plain/%s", tmp, index_files[i]);
    CHECK(fixture_same_file(path, path2), "%s differs from the good file's corpus", index_files[i]);
  }
}

static void test_example(const char *sf)
{
  render_config cfg = {.soundfonts = {sf}, .n_soundfonts = 1, .rate_hz = 44100};
  char err[256];
  render_engine *eng = render_engine_new(&cfg, err, sizeof(err));
  smf_song *song = render_example_song();
  CHECK(eng && song, "%s", err);
  if (!eng || !song)
    return;
  render_options ro;
  render_options_as_written(&ro, SOURCE_FLUID);
  render_piece pc;
  CHECK(render_song(eng, song, &ro, 1, &pc, err, sizeof(err)) == 0, "%s", err);
  /* piano alone in the first 10 s, violin from 10 s, flute and drums from 20 s */
  int in_first[TAXONOMY_N] = {0}, in_last[TAXONOMY_N] = {0};
  uint32_t ten = 441000, twenty = 882000;
  for (size_t i = 0; i < pc.n_labels; i++) {
    if (pc.labels[i].start < ten)
      in_first[pc.labels[i].cls] = 1;
    if (pc.labels[i].start >= twenty)
      in_last[pc.labels[i].cls] = 1;
  }
  int n_first = 0;
  for (int c = 0; c < TAXONOMY_N; c++)
    n_first += in_first[c];
  CHECK(n_first == 1 && in_first[TAX_PIANO], "first section has %d classes", n_first);
  CHECK(in_last[TAX_PIANO] && in_last[TAX_VIOLIN] && in_last[TAX_FLUTE] && in_last[TAX_DRUMS] &&
            in_last[TAX_CYMBALS],
        "last section");
  CHECK(pc.frames > 30 * 44100 && pc.frames < 33 * 44100, "length %zu", pc.frames);
  render_piece_clear(&pc);
  smf_song_free(song);
  render_engine_free(eng);
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  test_pitch_shift();
  test_fx();
  const char *sf = fixture_gm_soundfont();
  char tmp[] = "/tmp/instrid-test-render-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  char midi[256];
  snprintf(midi, sizeof(midi), "%s/song.mid", tmp);
  CHECK(write_test_midi(midi) == 0, "cannot write %s", midi);
  test_smf(midi);
  test_smf_pairing();
  if (sf) {
    test_corpus(tmp, midi, sf);
    test_bad_midi(tmp, midi, sf);
    test_all_classes(tmp, sf);
    test_example(sf);
  }
  if (!getenv("KEEP") && fixture_remove_tree(tmp) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
  if (!sf)
    fprintf(stderr, "no GM SoundFont installed: rendering checks skipped\n");
  return check_exit_skipped(!sf);
}
