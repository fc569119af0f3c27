/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* smf.h — a Standard MIDI File reader for the corpus renderer: notes per (track, channel) part,
 * with times in seconds through the file's tempo map and in beats for the MusicNet columns.
 */
#ifndef INSTRID_SMF_H
#define INSTRID_SMF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  double start_s, end_s;        /* through the tempo map */
  double start_beat, dur_beats; /* quarter notes from the file start */
  uint8_t pitch;                /* MIDI note number */
  uint8_t velocity;             /* 1..127 */
} smf_note;

/* One part: the notes of one channel within one track, in onset order. */
typedef struct {
  smf_note *notes;
  size_t n_notes;
  int program;   /* 0-based GM program of the first program change, -1 when the part has none */
  int channel;   /* 0..15; 9 is the GM percussion channel */
  char name[64]; /* the track name meta event, "" when none */
} smf_part;

typedef struct {
  smf_part *parts;
  size_t n_parts;
  double duration_s;        /* end of the last note */
  int meter_num, meter_den; /* the file's first time signature (6, 8 for 6/8); 0, 0: none */
} smf_song;

/* Parses a file or a memory image. Returns NULL on error with a one-line reason in errbuf. */
smf_song *smf_read_file(const char *path, char *errbuf, size_t errlen);
smf_song *smf_read_memory(const uint8_t *data, size_t size, char *errbuf, size_t errlen);
void smf_song_free(smf_song *song);

/* Appends a part (the notes are copied); used to build scores in code. 0 on allocation failure. */
int smf_song_add_part(smf_song *song, int program, int channel, const char *name,
                      const smf_note *notes, size_t n_notes);

/* The MusicNet word for a duration in beats ("Quarter", "Dotted Eighth", "Triplet Sixteenth"...).
 */
const char *smf_note_value_name(double dur_beats);

#endif /* INSTRID_SMF_H */
