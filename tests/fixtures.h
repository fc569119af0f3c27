/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fixtures.h — small file helpers that more than one C test needs: reading a whole file back or
 * comparing two, writing a text file, a mono 16-bit PCM WAV or a MIDI file, finding a GM SoundFont,
 * removing a tree a test made. Test code: each returns a failure for the caller to report. */
#ifndef INSTRID_TESTS_FIXTURES_H
#define INSTRID_TESTS_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* The whole of path, NUL-terminated (text can be used as a string), or NULL when it cannot be
 * read; *size (when size is not NULL) gets its length in bytes. The caller frees. */
char *fixture_slurp(const char *path, size_t *size);

/* Writes n samples as a canonical 44-byte-header WAV: PCM, one channel, 16 bits, little-endian.
 * Returns 0, or -1 when the file cannot be written. */
int fixture_write_wav_pcm16(const char *path, uint32_t rate_hz, const int16_t *samples, size_t n);

/* The same of a sine: round(amplitude * sin(2 pi freq_hz t)) (amplitude in 16-bit units) for
 * seconds, at rate_hz. Returns 0, or -1 when it cannot be written. */
int fixture_write_wav_sine(const char *path, uint32_t rate_hz, double seconds, double freq_hz,
                           double amplitude);

/* Writes text to path (replacing it). Returns 0, or -1 when it cannot be written. */
int fixture_write_text(const char *path, const char *text);

/* 1 when both files can be read and hold the same bytes, else 0. */
int fixture_same_file(const char *a, const char *b);

/* A General MIDI SoundFont that Debian's packages install (TimGM6mb, FluidR3_GM) and that can be
 * read, or NULL when none is (the rendering tests then skip their rendering checks). */
const char *fixture_gm_soundfont(void);

/* A Standard MIDI File being written in memory (the render tests' songs): bytes appended by
 * the fixture_smf_* calls, big-endian as the format wants, and written out whole. */
typedef struct {
  unsigned char b[8192];
  size_t n;
} fixture_smf;
void fixture_smf_put(fixture_smf *o, const void *p, size_t n);
void fixture_smf_put8(fixture_smf *o, unsigned v);
void fixture_smf_put32(fixture_smf *o, unsigned v);
/* a variable-length quantity (delta times, lengths) */
void fixture_smf_put_vlq(fixture_smf *o, unsigned v);
/* appends track t as an MTrk chunk of o; fixture_smf_end_track first ends t with its meta event */
void fixture_smf_put_chunk(fixture_smf *o, const fixture_smf *t);
void fixture_smf_end_track(fixture_smf *t);
/* Writes o to path. Returns 0, or -1 when it cannot be written. */
int fixture_smf_write(const char *path, const fixture_smf *o);

/* Removes path and, when it is a folder, everything below it (links are not followed).
 * Returns 0, or -1 when something could not be removed. */
int fixture_remove_tree(const char *path);

#endif
