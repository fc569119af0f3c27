/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fixtures.c — file helpers shared by the C tests (see fixtures.h). */
#include "fixtures.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *fixture_slurp(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  fclose(f);
  if (!s)
    return NULL;
  s[n] = '\0';
  if (size)
    *size = (size_t)n;
  return s;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

int fixture_write_wav_pcm16(const char *path, uint32_t rate_hz, const int16_t *samples, size_t n)
{
  if (n > (UINT32_MAX - 36) / 2)
    return -1;
  uint32_t data_bytes = (uint32_t)n * 2;
  unsigned char h[44];
  memcpy(h, "RIFF", 4);
  put_le(h + 4, 36 + data_bytes, 4);
  memcpy(h + 8, "WAVEfmt ", 8);
  put_le(h + 16, 16, 4); /* fmt chunk size */
  put_le(h + 20, 1, 2);  /* PCM */
  put_le(h + 22, 1, 2);  /* channels */
  put_le(h + 24, rate_hz, 4);
  put_le(h + 28, rate_hz * 2, 4); /* bytes per second */
  put_le(h + 32, 2, 2);           /* bytes per frame */
  put_le(h + 34, 16, 2);          /* bits per sample */
  memcpy(h + 36, "data", 4);
  put_le(h + 40, data_bytes, 4);
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char b[2];
    put_le(b, (uint16_t)samples[i], 2);
    ok = fwrite(b, 1, 2, f) == 2;
  }
  return fclose(f) == 0 && ok ? 0 : -1;
}

int fixture_write_wav_sine(const char *path, uint32_t rate_hz, double seconds, double freq_hz,
                           double amplitude)
{
  const double two_pi = 6.283185307179586;
  size_t n = (size_t)(seconds * rate_hz);
  int16_t *x = malloc(sizeof *x * (n ? n : 1));
  if (!x)
    return -1;
  for (size_t i = 0; i < n; i++)
    x[i] = (int16_t)lrint(amplitude * sin(two_pi * freq_hz * (double)i / rate_hz));
  int ret = fixture_write_wav_pcm16(path, rate_hz, x, n);
  free(x);
  return ret;
}

int fixture_write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

int fixture_same_file(const char *a, const char *b)
{
  size_t na = 0, nb = 0;
  char *x = fixture_slurp(a, &na), *y = fixture_slurp(b, &nb);
  int same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

const char *fixture_gm_soundfont(void)
{
  static const char *const candidates[] = {"/usr/share/sounds/sf2/TimGM6mb.sf2",
                                           "/usr/share/sounds/sf2/FluidR3_GM.sf2"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (access(candidates[i], R_OK) == 0)
      return candidates[i];
  return NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int fixture_remove_tree(const char *path)
{
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void fixture_smf_put(fixture_smf *o, const void *p, size_t n)
{
  memcpy(o->b + o->n, p, n);
  o->n += n;
}

void fixture_smf_put8(fixture_smf *o, unsigned v)
{
  o->b[o->n++] = (unsigned char)v;
}

void fixture_smf_put32(fixture_smf *o, unsigned v)
{
  for (int s = 24; s >= 0; s -= 8)
    fixture_smf_put8(o, (v >> s) & 0xff);
}

void fixture_smf_put_vlq(fixture_smf *o, unsigned v)
{
  unsigned char tmp[5];
  int n = 0;
  tmp[n++] = v & 0x7f;
  while (v >>= 7)
    tmp[n++] = (unsigned char)(0x80 | (v & 0x7f));
  while (n)
    fixture_smf_put8(o, tmp[--n]);
}

void fixture_smf_put_chunk(fixture_smf *o, const fixture_smf *t)
{
  fixture_smf_put(o, "MTrk", 4);
  fixture_smf_put32(o, (unsigned)t->n);
  fixture_smf_put(o, t->b, t->n);
}

void fixture_smf_end_track(fixture_smf *t)
{
  fixture_smf_put_vlq(t, 0);
  fixture_smf_put8(t, 0xff);
  fixture_smf_put8(t, 0x2f);
  fixture_smf_put8(t, 0);
}

int fixture_smf_write(const char *path, const fixture_smf *o)
{
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(o->b, 1, o->n, f);
  return fclose(f) == 0 && w == o->n ? 0 : -1;
}
