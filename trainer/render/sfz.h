/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sfz.h — real multisampled instruments for the corpus renderer: an SFZ reader (the opcodes the
 * free sample libraries in data/sources.toml use) and a player that sounds MIDI notes through it.
 *
 * Supported: headers <control> <global> <master> <group> <region> (opcodes inherit downwards;
 * a new header resets its level and the ones below), default_path, #define $NAME value,
 * #include "file"; sample, lokey/hikey/key (numbers or note names, c4 = 60), pitch_keycenter,
 * pitch_keytrack, lovel/hivel, seq_length/seq_position (round robins), trigger=attack|release,
 * loop_mode (no_loop, one_shot, loop_continuous, loop_sustain), loop_start/loop_end (also
 * loopstart/loopend), offset, tune, transpose, volume, amp_veltrack, ampeg_attack/hold/decay/
 * sustain/release. Other opcodes are counted and named in the warnings; malformed text is
 * skipped with a warning naming file:line. Only an unreadable file or no playable region is an
 * error.
 *
 * An sfz_instrument is shared by every rendering thread: samples are decoded on first use under
 * its own lock, everything else is read-only after loading.
 */
#ifndef INSTRID_RENDER_SFZ_H
#define INSTRID_RENDER_SFZ_H

#include <stddef.h>
#include <stdint.h>

#include "smf.h"

typedef enum { SFZ_TRIGGER_ATTACK = 0, SFZ_TRIGGER_RELEASE = 1 } sfz_trigger;
typedef enum {
  SFZ_LOOP_UNSET = 0, /* the sample's own choice: no loop */
  SFZ_NO_LOOP,
  SFZ_ONE_SHOT,
  SFZ_LOOP_CONTINUOUS,
  SFZ_LOOP_SUSTAIN
} sfz_loop_mode;

typedef struct {
  size_t sample;       /* index into the instrument's sample paths */
  int lokey, hikey;    /* MIDI notes, inclusive */
  int lovel, hivel;    /* 1..127, inclusive */
  int pitch_keycenter; /* the note the sample sounds at */
  int pitch_keytrack;  /* cents per key (100) */
  int seq_length, seq_position;
  sfz_trigger trigger;
  sfz_loop_mode loop_mode;
  int64_t loop_start, loop_end; /* frames at the sample's own rate; end inclusive, -1 unset */
  int64_t offset;               /* frames skipped at the start */
  double tune_cents;
  int transpose;
  double volume_db;
  double amp_veltrack; /* percent */
  double attack_s, hold_s, decay_s, sustain_pct, release_s;
  int line; /* where the region was closed, for messages */
} sfz_region;

typedef struct sfz_instrument sfz_instrument;

/* Reads an SFZ file. Warnings (unknown opcodes, malformed lines) go to warnbuf, one per line,
 * the first few of them, with a count; warnbuf may be NULL. NULL with errbuf on an unreadable
 * file or when no region names a sample. */
sfz_instrument *sfz_load(const char *path, char *errbuf, size_t errlen, char *warnbuf,
                         size_t warnlen);
/* The same from text in memory; name is used in messages, dir resolves sample paths. */
sfz_instrument *sfz_parse(const char *text, const char *name, const char *dir, char *errbuf,
                          size_t errlen, char *warnbuf, size_t warnlen);
void sfz_free(sfz_instrument *ins);

size_t sfz_n_regions(const sfz_instrument *ins);
const sfz_region *sfz_region_at(const sfz_instrument *ins, size_t i);
/* Full path of a region's sample (default_path and the file's folder applied). */
const char *sfz_sample_path(const sfz_instrument *ins, size_t sample);
const char *sfz_name(const sfz_instrument *ins);
/* Lowest and highest key any attack region covers. */
void sfz_key_range(const sfz_instrument *ins, int *lo, int *hi);

/* Regions that a note-on (or note-off, trigger release) of key at velocity plays for the
 * seq-th note of the part (round robins: seq counts from 0). Writes at most max indices. */
size_t sfz_match(const sfz_instrument *ins, int key, int velocity, sfz_trigger trigger,
                 uint64_t seq, size_t *out, size_t max);

/* Plays the notes of a part through the instrument, mixed (added) into out (interleaved
 * stereo, frames long, at rate_hz) with note times offset by -t0_s; played[i] says which notes
 * sounded. Notes with end_s < 0 are skipped. A sample that cannot be decoded leaves its regions
 * silent (errbuf says which); -1 when that left every note silent. Returns the number played. */
long sfz_render_part(sfz_instrument *ins, const smf_note *notes, size_t n_notes, double t0_s,
                     float *out, size_t frames, int rate_hz, uint8_t *played, char *errbuf,
                     size_t errlen);

/* Gain of the amplitude envelope t_s after note-on, the note released at off_s (< 0: held). */
double sfz_envelope(const sfz_region *r, double t_s, double off_s);

/* MIDI note of "60", "c4", "C#4", "db3", "a-1"; -1 when it is none. */
int sfz_parse_note(const char *s);

#endif /* INSTRID_RENDER_SFZ_H */
