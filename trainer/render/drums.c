/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* drums.c — a generated drum part over a song's length (see drums.h). */
#include "drums.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int drums_song_has_percussion(const smf_song *song)
{
  for (size_t p = 0; p < song->n_parts; p++)
    if (song->parts[p].channel == 9 && song->parts[p].n_notes > 0)
      return 1;
  return 0;
}

/* ---- the song's beats in seconds -------------------------------------------------------- */

typedef struct {
  double beat, s;
} beat_point;

typedef struct {
  beat_point *pt;
  size_t n;
} beat_map;

static int cmp_point(const void *a, const void *b)
{
  const beat_point *x = a, *y = b;
  if (x->beat != y->beat)
    return x->beat < y->beat ? -1 : 1;
  return (x->s > y->s) - (x->s < y->s);
}

/* Every note's onset and end give a (beat, second) pair of the tempo map; between them the map
 * is linear. Returns 0 on allocation failure. */
static int beat_map_build(const smf_song *song, beat_map *m)
{
  size_t n = 0;
  for (size_t p = 0; p < song->n_parts; p++)
    n += 2 * song->parts[p].n_notes;
  m->pt = malloc((n ? n : 1) * sizeof(beat_point));
  m->n = 0;
  if (!m->pt)
    return 0;
  for (size_t p = 0; p < song->n_parts; p++)
    for (size_t i = 0; i < song->parts[p].n_notes; i++) {
      const smf_note *nt = &song->parts[p].notes[i];
      if (!(nt->start_beat >= 0) || !isfinite(nt->start_s))
        continue;
      m->pt[m->n++] = (beat_point){nt->start_beat, nt->start_s};
      if (nt->dur_beats > 0 && isfinite(nt->end_s))
        m->pt[m->n++] = (beat_point){nt->start_beat + nt->dur_beats, nt->end_s};
    }
  qsort(m->pt, m->n, sizeof(beat_point), cmp_point);
  /* one point per beat, seconds never going back */
  size_t w = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (w > 0 && (m->pt[i].beat - m->pt[w - 1].beat < 1e-6 || m->pt[i].s <= m->pt[w - 1].s))
      continue;
    m->pt[w++] = m->pt[i];
  }
  m->n = w;
  return 1;
}

/* Seconds per beat between two points, or 0.5 (120 bpm) when that is not a tempo. */
static double slope(const beat_point *a, const beat_point *b)
{
  double spb = (b->s - a->s) / (b->beat - a->beat);
  return spb > 0.05 && spb < 5.0 ? spb : 0.5;
}

static double beat_to_s(const beat_map *m, double beat)
{
  if (m->n == 0)
    return beat * 0.5;
  if (m->n == 1)
    return m->pt[0].s + (beat - m->pt[0].beat) * 0.5;
  size_t lo = 0, hi = m->n - 1; /* the segment [lo, lo + 1] that holds beat (or the nearest) */
  if (beat <= m->pt[0].beat) {
    hi = 1;
  } else if (beat >= m->pt[m->n - 1].beat) {
    lo = m->n - 2;
  } else {
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (m->pt[mid].beat <= beat)
        lo = mid;
      else
        hi = mid;
    }
  }
  hi = lo + 1;
  return m->pt[lo].s + (beat - m->pt[lo].beat) * slope(&m->pt[lo], &m->pt[hi]);
}

/* ---- the groove ----------------------------------------------------------------------------- */

typedef struct {
  smf_note *notes;
  size_t n, cap;
  int ok;
} note_list;

static void add_hit(note_list *l, const beat_map *m, splitmix_rng *rng, double beat,
                    double dur_beats, int key, double velocity, double jitter_s)
{
  if (!l->ok)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 256;
    smf_note *p = realloc(l->notes, cap * sizeof(smf_note));
    if (!p) {
      l->ok = 0;
      return;
    }
    l->notes = p;
    l->cap = cap;
  }
  /* humanised: velocity +-10, timing +-jitter_s */
  double v = velocity + splitmix_range(rng, -10.0, 10.0);
  int vel = (int)lround(v < 1 ? 1 : v > 127 ? 127 : v);
  double shift = splitmix_range(rng, -jitter_s, jitter_s);
  double on = beat_to_s(m, beat) + shift, off = beat_to_s(m, beat + dur_beats) + shift;
  if (on < 0)
    on = 0;
  if (off < on + 0.02)
    off = on + 0.02;
  l->notes[l->n++] = (smf_note){on, off, beat, dur_beats, (uint8_t)key, (uint8_t)vel};
}

static int cmp_onset(const void *a, const void *b)
{
  const smf_note *x = a, *y = b;
  if (x->start_s != y->start_s)
    return x->start_s < y->start_s ? -1 : 1;
  return (int)x->pitch - (int)y->pitch;
}

static int pick(splitmix_rng *rng, const int *keys, size_t n)
{
  return keys[splitmix_below(rng, (uint64_t)n)];
}

int drums_generate(const smf_song *song, splitmix_rng *rng, smf_part *part)
{
  memset(part, 0, sizeof(*part));
  part->program = -1;
  part->channel = 9;
  strcpy(part->name, "generated drums");
  beat_map m;
  if (!beat_map_build(song, &m))
    return -1;
  double end_beat = 0.0;
  for (size_t i = 0; i < m.n; i++)
    end_beat = fmax(end_beat, m.pt[i].beat);
  if (m.n == 0 || end_beat <= 0.0) {
    free(m.pt);
    return -1;
  }

  /* the meter: pulses per bar, each `unit` quarter notes long */
  int num = song->meter_num, den = song->meter_den;
  if (num < 1 || num > 32 || den < 1 || den > 32 || (den & (den - 1)))
    num = den = 4;
  double bar_q = num * 4.0 / den;
  int compound = den >= 8 && num % 3 == 0 && num >= 6;
  int pulses = compound ? num / 3 : num;
  double unit = bar_q / pulses;

  /* one groove for the whole piece */
  static const int kicks[] = {35, 36}, snares[] = {38, 38, 38, 40, 37}, crashes[] = {49, 57},
                   keepers[] = {42, 42, 42, 51, 51, 44, 59}, toms[] = {50, 48, 47, 45, 43, 41};
  int kick = pick(rng, kicks, 2), snare = pick(rng, snares, 5), crash = pick(rng, crashes, 2);
  int keeper = pick(rng, keepers, 7);
  int sub; /* timekeeper strokes per pulse */
  if (compound) {
    sub = splitmix_uniform(rng) < 0.8 ? 3 : 1;
  } else {
    double u = splitmix_uniform(rng);
    sub = u < 0.6 ? 2 : u < 0.85 ? 4 : 1;
    if (unit < 1.0) /* pulses of an 8th (5/8, 7/8): at most 16ths */
      sub = sub > 2 ? 2 : sub;
  }
  /* no strokes faster than ~11 per second at the song's mean tempo */
  double spq = (beat_to_s(&m, end_beat) - beat_to_s(&m, 0.0)) / end_beat;
  while (sub > 1 && unit / sub * spq < 0.09)
    sub = sub == 3 ? 1 : sub / 2;
  int four_floor = !compound && pulses >= 4 && splitmix_uniform(rng) < 0.15;
  int push_kick = pulses >= 4 && splitmix_uniform(rng) < 0.5; /* the "and" before the half bar */
  int open_hats = keeper == 42 && sub >= 2 && splitmix_uniform(rng) < 0.4;
  int phrase = splitmix_uniform(rng) < 0.6 ? 4 : 8;
  double fill_prob = splitmix_range(rng, 0.3, 0.8);
  double dyn = splitmix_range(rng, 0.75, 1.1); /* how hard the drummer plays */
  int crash_first = splitmix_uniform(rng) < 0.8;

  note_list l = {NULL, 0, 0, 1};
  int n_bars = (int)ceil(end_beat / bar_q - 1e-9);
  if (n_bars < 1)
    n_bars = 1;
  int crash_next = crash_first;
  for (int b = 0; b < n_bars && l.ok; b++) {
    double bar = b * bar_q;
    /* a fill over the last pulse or two of a phrase's last bar (never the song's first bar) */
    int fill_pulses = 0;
    if (b > 0 && (b + 1) % phrase == 0 && b + 1 < n_bars && splitmix_uniform(rng) < fill_prob)
      fill_pulses = pulses >= 4 && splitmix_uniform(rng) < 0.35 ? 2 : 1;
    if (fill_pulses > pulses)
      fill_pulses = pulses;
    double fill_from = bar + (pulses - fill_pulses) * unit;
    if (crash_next && bar < end_beat)
      add_hit(&l, &m, rng, bar, bar_q, crash, 112 * dyn, 0.004);
    for (int p = 0; p < pulses; p++) {
      double at = bar + p * unit;
      if (at >= end_beat)
        break;
      if (at >= fill_from - 1e-9) {
        /* toms down the kit, 16ths (triplets in compound meters), a snare or two among them */
        int strokes = compound ? 3 : 4;
        for (int s = 0; s < strokes; s++) {
          double t = at + s * unit / strokes;
          int k = (p - (pulses - fill_pulses)) * strokes + s;
          int key =
              splitmix_uniform(rng) < 0.2 ? snare : toms[(k * 6) / (fill_pulses * strokes) % 6];
          add_hit(&l, &m, rng, t, unit / strokes, key, (90 + 4 * k) * dyn, 0.006);
        }
        if (p == pulses - 1)
          add_hit(&l, &m, rng, at + unit * 0.5, unit * 0.5, kick, 95 * dyn, 0.004);
        continue;
      }
      /* kick and snare */
      int kick_here = p == 0 || four_floor || (pulses >= 4 && pulses % 2 == 0 && p == pulses / 2);
      int snare_here = pulses == 3 ? p > 0 : p % 2 == 1;
      if (kick_here)
        add_hit(&l, &m, rng, at, unit, kick, 105 * dyn, 0.004);
      if (snare_here)
        add_hit(&l, &m, rng, at, unit, snare, (pulses == 3 ? 80 : 108) * dyn, 0.004);
      if (push_kick && p == pulses / 2 - 1)
        add_hit(&l, &m, rng, at + unit * 0.5, unit * 0.5, kick, 90 * dyn, 0.004);
      /* the timekeeper; the crash stands in for it on a crashed downbeat */
      for (int s = 0; s < sub; s++) {
        if (s == 0 && p == 0 && crash_next)
          continue;
        double t = at + s * unit / sub;
        int key = keeper;
        if (open_hats && p == pulses - 1 && s == sub - 1 && splitmix_uniform(rng) < 0.5)
          key = 46;
        double vel = s == 0 ? 88 : (sub == 4 && s % 2 == 1) ? 55 : 70;
        add_hit(&l, &m, rng, t, unit / sub, key, vel * dyn, 0.008);
      }
    }
    crash_next = fill_pulses > 0 || (b + 1) % (2 * phrase) == 0;
    if (crash_next)
      crash_next = splitmix_uniform(rng) < 0.8;
  }
  free(m.pt);
  if (!l.ok || l.n == 0) {
    free(l.notes);
    return -1;
  }
  qsort(l.notes, l.n, sizeof(smf_note), cmp_onset);
  part->notes = l.notes;
  part->n_notes = l.n;
  return 0;
}
