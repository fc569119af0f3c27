/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench_smf.c — instrid-bench-smf: the MIDI reader's speed on the files that made it quadratic
 * (issue 11.5): one track of N note-ons that are never released, and N tracks of one note each,
 * plus an ordinary dense file. Prints the CPU time (and wall time) per file and the CPU time per
 * event; not run by `meson test`.
 *
 *   instrid-bench-smf [N_UNMATCHED [N_TRACKS [N_DENSE]]]   (defaults 80000 16000 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smf.h"

typedef struct {
  unsigned char *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) {
      fprintf(stderr, "instrid-bench-smf: out of memory\n");
      exit(1);
    }
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void put32(buf *b, unsigned v)
{
  unsigned char c[4] = {v >> 24, v >> 16, v >> 8, v};
  put(b, c, 4);
}

static void put_header(buf *b, unsigned n_tracks)
{
  put(b, "MThd", 4);
  put32(b, 6);
  unsigned char h[6] = {0, 1, n_tracks >> 8, n_tracks & 0xff, 0x01, 0xe0}; /* format 1, 480 tpq */
  put(b, h, 6);
}

/* A track of `events` (delta-time 0 or 1 byte each, already encoded), with its end meta. */
static void put_track(buf *b, const buf *events)
{
  put(b, "MTrk", 4);
  put32(b, (unsigned)events->n + 4);
  put(b, events->p, events->n);
  put(b, "\x00\xff\x2f\x00", 4);
}

static double clock_s(clockid_t id)
{
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void time_read(const char *what, const buf *file, size_t n_events)
{
  char err[256];
  double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  smf_song *s = smf_read_memory(file->p, file->n, err, sizeof err);
  double dt = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = clock_s(CLOCK_MONOTONIC) - w0;
  if (!s) {
    fprintf(stderr, "instrid-bench-smf: %s: %s\n", what, err);
    exit(1);
  }
  size_t notes = 0;
  for (size_t i = 0; i < s->n_parts; i++)
    notes += s->parts[i].n_notes;
  printf("%-30s %7zu events %6zu parts %7zu notes  CPU %8.4f s (wall %8.4f s) %9.1f ns/event\n",
         what, n_events, s->n_parts, notes, dt, wall, 1e9 * dt / (double)n_events);
  smf_song_free(s);
}

int main(int argc, char **argv)
{
  size_t n_unmatched = argc > 1 ? strtoul(argv[1], NULL, 10) : 80000;
  size_t n_tracks = argc > 2 ? strtoul(argv[2], NULL, 10) : 16000;
  size_t n_dense = argc > 3 ? strtoul(argv[3], NULL, 10) : 200000;
  if (n_tracks > 65535) {
    fprintf(stderr, "instrid-bench-smf: at most 65535 tracks\n");
    return 2;
  }

  /* 1: note-ons never released, one tick apart (running status). */
  buf f = {0}, ev = {0};
  put_header(&f, 1);
  put(&ev, "\x00\x90\x3c\x40", 4);
  for (size_t i = 1; i < n_unmatched; i++) {
    unsigned char e[3] = {1, 36 + (unsigned char)(i % 48), 0x40};
    put(&ev, e, 3);
  }
  put_track(&f, &ev);
  char what[64];
  snprintf(what, sizeof what, "%zu unmatched note-ons", n_unmatched);
  time_read(what, &f, n_unmatched);

  /* 2: one note per track, on every channel in turn. */
  f.n = 0;
  put_header(&f, (unsigned)n_tracks);
  for (size_t t = 0; t < n_tracks; t++) {
    ev.n = 0;
    unsigned char ch = (unsigned char)(t % 16);
    unsigned char e[8] = {0, 0x90 | ch, 60, 0x40, 0x60, 0x80 | ch, 60, 0};
    put(&ev, e, 8);
    put_track(&f, &ev);
  }
  snprintf(what, sizeof what, "%zu tracks of one note", n_tracks);
  time_read(what, &f, 2 * n_tracks);

  /* 3: an ordinary dense file: 16 tracks, chords on and off in turn. */
  f.n = 0;
  put_header(&f, 16);
  for (unsigned t = 0; t < 16; t++) {
    ev.n = 0;
    for (size_t i = 0; i < n_dense / 16 / 2; i++) {
      unsigned char pitch = (unsigned char)(40 + (i * 7 + t) % 40);
      unsigned char e[8] = {0, 0x90 | t, pitch, 0x50, 0x30, 0x80 | t, pitch, 0};
      put(&ev, e, 8);
    }
    put_track(&f, &ev);
  }
  snprintf(what, sizeof what, "16 tracks, %zu events", n_dense);
  time_read(what, &f, n_dense / 16 / 2 * 2 * 16);
  free(f.p);
  free(ev.p);
  return 0;
}
