/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smf.c — Standard MIDI File (format 0/1) parsing into notes per part, with the tempo map applied.
 * Only what rendering needs: notes, program changes, tempo, the first time signature and track
 * names; the rest is skipped.
 */
#include "smf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EV_ON, EV_OFF, EV_PROG, EV_TEMPO };

typedef struct {
  uint64_t tick;
  uint32_t track;
  uint32_t tempo_us; /* EV_TEMPO: microseconds per quarter note */
  uint8_t kind, channel, a, b;
} raw_event;

typedef struct {
  raw_event *ev;
  size_t n, cap;
} event_list;

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
  if (!errbuf || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

static int push_event(event_list *l, raw_event e)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 1024;
    if (cap > SIZE_MAX / sizeof(raw_event))
      return 0;
    raw_event *p = realloc(l->ev, cap * sizeof(raw_event));
    if (!p)
      return 0;
    l->ev = p;
    l->cap = cap;
  }
  l->ev[l->n++] = e;
  return 1;
}

static uint32_t be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* Variable-length quantity; 0 when it runs past end or over 4 bytes. */
static int read_vlq(const uint8_t **pp, const uint8_t *end, uint32_t *out)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    if (*pp >= end)
      return 0;
    uint8_t c = *(*pp)++;
    v = (v << 7) | (c & 0x7f);
    if (!(c & 0x80)) {
      *out = v;
      return 1;
    }
  }
  return 0;
}

/* The earliest time signature met so far (tick UINT64_MAX: none). */
typedef struct {
  uint64_t tick;
  int num, den;
} meter_seen;

static int parse_track(const uint8_t *p, const uint8_t *end, uint32_t track, event_list *l,
                       char *name, size_t name_len, meter_seen *meter, char *errbuf, size_t errlen)
{
  uint64_t tick = 0;
  uint8_t status = 0;
  while (p < end) {
    uint32_t delta;
    if (!read_vlq(&p, end, &delta))
      goto truncated;
    tick += delta;
    if (p >= end)
      goto truncated;
    uint8_t c = *p;
    if (c & 0x80) {
      status = c;
      p++;
    } else if (status == 0 || status >= 0xf0) {
      set_err(errbuf, errlen, "track %u: data byte without running status", track);
      return 0;
    }
    if (status == 0xff) {
      if (p >= end)
        goto truncated;
      uint8_t type = *p++;
      uint32_t len;
      if (!read_vlq(&p, end, &len) || len > (size_t)(end - p))
        goto truncated;
      if (type == 0x51 && len == 3) {
        raw_event e = {.tick = tick,
                       .track = track,
                       .kind = EV_TEMPO,
                       .tempo_us = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]};
        if (e.tempo_us == 0)
          e.tempo_us = 500000;
        if (!push_event(l, e))
          goto nomem;
      } else if (type == 0x58 && len >= 2 && tick < meter->tick) {
        if (p[0] >= 1 && p[0] <= 32 && p[1] <= 5) {
          meter->tick = tick;
          meter->num = p[0];
          meter->den = 1 << p[1];
        }
      } else if (type == 0x03 && name[0] == '\0') {
        size_t n = len < name_len - 1 ? len : name_len - 1;
        for (size_t i = 0; i < n; i++) /* keep names printable: they end up in progress lines */
          name[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != ',') ? (char)p[i] : '_';
        name[n] = '\0';
      } else if (type == 0x2f) {
        return 1;
      }
      p += len;
      status = 0; /* meta and sysex events cancel running status */
      continue;
    }
    if (status == 0xf0 || status == 0xf7) {
      uint32_t len;
      if (!read_vlq(&p, end, &len) || len > (size_t)(end - p))
        goto truncated;
      p += len;
      status = 0;
      continue;
    }
    uint8_t kind = status & 0xf0, ch = status & 0x0f;
    int n_data = (kind == 0xc0 || kind == 0xd0) ? 1 : 2;
    if ((size_t)(end - p) < (size_t)n_data)
      goto truncated;
    uint8_t a = p[0] & 0x7f, b = n_data == 2 ? (p[1] & 0x7f) : 0;
    p += n_data;
    raw_event e = {.tick = tick, .track = track, .channel = ch, .a = a, .b = b};
    if (kind == 0x90 && b > 0) {
      e.kind = EV_ON;
    } else if (kind == 0x80 || kind == 0x90) {
      e.kind = EV_OFF;
    } else if (kind == 0xc0) {
      e.kind = EV_PROG;
    } else {
      continue;
    }
    if (!push_event(l, e))
      goto nomem;
  }
  return 1;
truncated:
  set_err(errbuf, errlen, "track %u is truncated", track);
  return 0;
nomem:
  set_err(errbuf, errlen, "out of memory");
  return 0;
}

typedef struct {
  uint64_t tick;
  double seconds;
  double s_per_tick;
} tempo_seg;

static int cmp_tempo(const void *a, const void *b)
{
  const raw_event *x = a, *y = b;
  return x->tick < y->tick ? -1 : x->tick > y->tick;
}

static double tick_to_s(const tempo_seg *seg, size_t n_seg, uint64_t tick)
{
  size_t lo = 0, hi = n_seg; /* last segment starting at or before tick */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (seg[mid].tick <= tick)
      lo = mid;
    else
      hi = mid;
  }
  return seg[lo].seconds + (double)(tick - seg[lo].tick) * seg[lo].s_per_tick;
}

int smf_song_add_part(smf_song *song, int program, int channel, const char *name,
                      const smf_note *notes, size_t n_notes)
{
  if (song->n_parts + 1 > SIZE_MAX / sizeof(smf_part) || n_notes > SIZE_MAX / sizeof(smf_note))
    return 0;
  smf_part *parts = realloc(song->parts, (song->n_parts + 1) * sizeof(smf_part));
  if (!parts)
    return 0;
  song->parts = parts;
  smf_part *pt = &parts[song->n_parts];
  memset(pt, 0, sizeof(*pt));
  pt->notes = malloc((n_notes ? n_notes : 1) * sizeof(smf_note));
  if (!pt->notes)
    return 0;
  if (n_notes)
    memcpy(pt->notes, notes, n_notes * sizeof(smf_note));
  pt->n_notes = n_notes;
  pt->program = program;
  pt->channel = channel;
  snprintf(pt->name, sizeof(pt->name), "%s", name ? name : "");
  song->n_parts++;
  for (size_t i = 0; i < n_notes; i++)
    if (notes[i].end_s > song->duration_s)
      song->duration_s = notes[i].end_s;
  return 1;
}

smf_song *smf_read_memory(const uint8_t *data, size_t size, char *errbuf, size_t errlen)
{
  event_list l = {0};
  tempo_seg *seg = NULL;
  smf_note *notes = NULL;
  size_t *order = NULL, *next_waiting = NULL; /* per event; per note */
  uint64_t *on_tick = NULL;                   /* per note */
  char(*names)[64] = NULL;
  smf_song *song = calloc(1, sizeof(*song));
  if (!song) {
    set_err(errbuf, errlen, "out of memory");
    return NULL;
  }
  if (size < 14 || memcmp(data, "MThd", 4) != 0 || be32(data + 4) < 6) {
    set_err(errbuf, errlen, "not a Standard MIDI File (no MThd header)");
    goto fail;
  }
  uint32_t hdr_len = be32(data + 4);
  unsigned n_tracks = be16(data + 10);
  uint16_t division = be16(data + 12);
  if (division == 0) {
    set_err(errbuf, errlen, "time division is 0");
    goto fail;
  }
  names = calloc(n_tracks ? n_tracks : 1, sizeof(*names));
  if (!names) {
    set_err(errbuf, errlen, "out of memory");
    goto fail;
  }
  size_t pos = 8 + (size_t)hdr_len;
  unsigned track = 0;
  meter_seen meter = {UINT64_MAX, 0, 0};
  while (track < n_tracks && pos + 8 <= size) {
    uint32_t len = be32(data + pos + 4);
    int is_track = memcmp(data + pos, "MTrk", 4) == 0;
    pos += 8;
    if (len > size - pos) {
      if (!is_track)
        break;
      len = (uint32_t)(size - pos); /* many files in the wild have a wrong last length */
    }
    if (is_track) {
      if (!parse_track(data + pos, data + pos + len, track, &l, names[track], 64, &meter, errbuf,
                       errlen))
        goto fail;
      track++;
    }
    pos += len;
  }
  if (track == 0) {
    set_err(errbuf, errlen, "no MTrk chunk");
    goto fail;
  }
  song->meter_num = meter.num;
  song->meter_den = meter.den;

  /* Tempo map: segments of constant seconds-per-tick, merged from every track. */
  size_t n_tempo = 0;
  for (size_t i = 0; i < l.n; i++)
    n_tempo += l.ev[i].kind == EV_TEMPO;
  seg = malloc((n_tempo + 1) * sizeof(tempo_seg));
  raw_event *tempos = malloc((n_tempo + 1) * sizeof(raw_event));
  if (!seg || !tempos) {
    free(tempos);
    set_err(errbuf, errlen, "out of memory");
    goto fail;
  }
  size_t k = 0;
  for (size_t i = 0; i < l.n; i++)
    if (l.ev[i].kind == EV_TEMPO)
      tempos[k++] = l.ev[i];
  qsort(tempos, n_tempo, sizeof(raw_event), cmp_tempo);
  double ticks_per_beat;
  size_t n_seg = 1;
  if (division & 0x8000) {
    /* SMPTE time: ticks are absolute; beats are counted at 120 bpm for the MusicNet columns. */
    int fps = -(int8_t)(division >> 8);
    double tps = (double)(fps > 0 ? fps : 25) * (double)(division & 0xff ? division & 0xff : 40);
    seg[0] = (tempo_seg){0, 0.0, 1.0 / tps};
    ticks_per_beat = tps * 0.5;
  } else {
    ticks_per_beat = division;
    seg[0] = (tempo_seg){0, 0.0, 0.5 / division}; /* default 120 bpm */
    for (size_t i = 0; i < n_tempo; i++) {
      tempo_seg *last = &seg[n_seg - 1];
      double spt = tempos[i].tempo_us * 1e-6 / division;
      if (tempos[i].tick == last->tick) {
        last->s_per_tick = spt;
      } else {
        double s = last->seconds + (double)(tempos[i].tick - last->tick) * last->s_per_tick;
        seg[n_seg++] = (tempo_seg){tempos[i].tick, s, spt};
      }
    }
  }
  free(tempos);

  /* Parts: every (track, channel) with notes. A note-on pairs with the first unused note-off of
   * the same pitch after it; one left open ends at the part's last event.
   *
   * Linear in the number of events: the events of one track are contiguous in l (tracks are
   * parsed in order), a counting sort by channel gives each part's events in file order, and
   * the note-ons waiting for their note-off wait in one FIFO per pitch. A note-off pairs with
   * the earliest waiting note-on of its pitch, which gives the same pairs as each note-on taking
   * the first unused note-off after it (both match in order). */
  notes = malloc((l.n + 1) * sizeof(smf_note));
  order = malloc((l.n + 1) * sizeof(size_t));
  next_waiting = malloc((l.n + 1) * sizeof(size_t));
  on_tick = malloc((l.n + 1) * sizeof(uint64_t));
  if (!notes || !order || !next_waiting || !on_tick) {
    set_err(errbuf, errlen, "out of memory");
    goto fail;
  }
  /* Fallback program per channel: the first program change on it in any track (format 1 files
   * often set programs from another track). */
  int channel_program[16];
  for (int ch = 0; ch < 16; ch++)
    channel_program[ch] = -1;
  for (size_t i = 0; i < l.n; i++)
    if (l.ev[i].kind == EV_PROG && channel_program[l.ev[i].channel] < 0)
      channel_program[l.ev[i].channel] = l.ev[i].a;
  size_t track_begin = 0;
  for (unsigned t = 0; t < track; t++) {
    size_t track_end = track_begin;
    while (track_end < l.n && l.ev[track_end].track == t)
      track_end++;
    size_t start[17] = {0};
    for (size_t i = track_begin; i < track_end; i++)
      if (l.ev[i].kind != EV_TEMPO)
        start[l.ev[i].channel + 1]++;
    for (int ch = 0; ch < 16; ch++)
      start[ch + 1] += start[ch];
    size_t fill[16];
    memcpy(fill, start, sizeof fill);
    for (size_t i = track_begin; i < track_end; i++)
      if (l.ev[i].kind != EV_TEMPO)
        order[fill[l.ev[i].channel]++] = i;
    for (int ch = 0; ch < 16; ch++) {
      if (start[ch] == start[ch + 1])
        continue;
      size_t n_notes = 0;
      int program = -1;
      uint64_t last_tick = 0;
      size_t head[128], tail[128]; /* waiting note-ons per pitch, as indices into notes */
      for (int pitch = 0; pitch < 128; pitch++)
        head[pitch] = SIZE_MAX;
      for (size_t o = start[ch]; o < start[ch + 1]; o++) {
        const raw_event *e = &l.ev[order[o]];
        last_tick = e->tick;
        if (e->kind == EV_PROG && program < 0)
          program = e->a;
        if (e->kind == EV_OFF) {
          size_t w = head[e->a];
          if (w != SIZE_MAX) {
            head[e->a] = next_waiting[w];
            notes[w].end_s = tick_to_s(seg, n_seg, e->tick);
            notes[w].dur_beats = (double)(e->tick - on_tick[w]) / ticks_per_beat;
          }
          continue;
        }
        if (e->kind != EV_ON)
          continue;
        smf_note *nt = &notes[n_notes];
        nt->pitch = e->a;
        nt->velocity = e->b;
        nt->start_s = tick_to_s(seg, n_seg, e->tick);
        nt->start_beat = (double)e->tick / ticks_per_beat;
        nt->end_s = -1.0; /* until its note-off; else fixed below once the last tick is known */
        nt->dur_beats = -1.0;
        on_tick[n_notes] = e->tick;
        next_waiting[n_notes] = SIZE_MAX;
        if (head[e->a] == SIZE_MAX)
          head[e->a] = n_notes;
        else
          next_waiting[tail[e->a]] = n_notes;
        tail[e->a] = n_notes;
        n_notes++;
      }
      if (n_notes == 0)
        continue;
      for (size_t i = 0; i < n_notes; i++) {
        if (notes[i].end_s < 0) {
          uint64_t start_tick = (uint64_t)llround(notes[i].start_beat * ticks_per_beat);
          uint64_t end_tick =
              last_tick > start_tick ? last_tick : start_tick + (uint64_t)ticks_per_beat;
          notes[i].end_s = tick_to_s(seg, n_seg, end_tick);
          notes[i].dur_beats = (double)(end_tick - start_tick) / ticks_per_beat;
        }
        if (notes[i].end_s <= notes[i].start_s) { /* zero-length notes still sound briefly */
          notes[i].end_s = notes[i].start_s + 0.05;
          notes[i].dur_beats = 0.05 / (seg[0].s_per_tick * ticks_per_beat);
        }
      }
      if (program < 0)
        program = channel_program[ch];
      if (!smf_song_add_part(song, program, ch, names[t], notes, n_notes)) {
        set_err(errbuf, errlen, "out of memory");
        goto fail;
      }
    }
    track_begin = track_end;
  }
  if (song->n_parts == 0) {
    set_err(errbuf, errlen, "no notes");
    goto fail;
  }
  free(notes);
  free(order);
  free(next_waiting);
  free(on_tick);
  free(seg);
  free(names);
  free(l.ev);
  return song;
fail:
  free(notes);
  free(order);
  free(next_waiting);
  free(on_tick);
  free(seg);
  free(names);
  free(l.ev);
  smf_song_free(song);
  return NULL;
}

smf_song *smf_read_file(const char *path, char *errbuf, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(errbuf, errlen, "%s: cannot open", path);
    return NULL;
  }
  uint8_t *buf = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size == cap) {
      cap = cap ? cap * 2 : 65536;
      if (cap > ((size_t)64 << 20)) { /* MIDI files are small; refuse anything absurd */
        free(buf);
        fclose(f);
        set_err(errbuf, errlen, "%s: larger than 64 MiB", path);
        return NULL;
      }
      uint8_t *p = realloc(buf, cap);
      if (!p) {
        free(buf);
        fclose(f);
        set_err(errbuf, errlen, "out of memory");
        return NULL;
      }
      buf = p;
    }
    size_t got = fread(buf + size, 1, cap - size, f);
    size += got;
    if (got == 0)
      break;
  }
  fclose(f);
  char inner[200];
  smf_song *song = smf_read_memory(buf, size, inner, sizeof(inner));
  free(buf);
  if (!song)
    set_err(errbuf, errlen, "%s: %s", path, inner);
  return song;
}

void smf_song_free(smf_song *song)
{
  if (!song)
    return;
  for (size_t i = 0; i < song->n_parts; i++)
    free(song->parts[i].notes);
  free(song->parts);
  free(song);
}

const char *smf_note_value_name(double dur_beats)
{
  static const struct {
    double beats;
    const char *name;
  } table[] = {
      {4.0, "Whole"},
      {3.0, "Dotted Half"},
      {2.0, "Half"},
      {1.5, "Dotted Quarter"},
      {1.0, "Quarter"},
      {2.0 / 3, "Triplet Quarter"},
      {0.75, "Dotted Eighth"},
      {0.5, "Eighth"},
      {1.0 / 3, "Triplet Eighth"},
      {0.375, "Dotted Sixteenth"},
      {0.25, "Sixteenth"},
      {1.0 / 6, "Triplet Sixteenth"},
      {0.125, "Thirty Second"},
      {0.0625, "Sixty Fourth"},
  };
  const char *best = "Unknown";
  double best_err = 0.08; /* log2 distance: beyond this the value has no name */
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    double e = fabs(log2(dur_beats > 1e-6 ? dur_beats : 1e-6) - log2(table[i].beats));
    if (e < best_err) {
      best_err = e;
      best = table[i].name;
    }
  }
  return best;
}
