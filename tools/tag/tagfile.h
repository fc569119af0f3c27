/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tagfile.h — reads and writes instrid's own tags in audio files through TagLib, in place,
 * touching only those tags (every other tag, picture and the audio data are left as they are).
 * Formats: FLAC, Ogg Vorbis, Opus (Vorbis comments), MP3 (ID3v2, TXXX frames), M4A/MP4
 * (iTunes freeform atoms "----:com.apple.iTunes:KEY").
 */
#ifndef INSTRID_TAGFILE_H
#define INSTRID_TAGFILE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Field names, the same in every format. */
#define INSTRID_TAG_INSTRUMENTS "INSTRUMENTS"
#define INSTRID_TAG_PROBABILITIES "INSTRID_PROBABILITIES"
#define INSTRID_TAG_MODEL "INSTRID_MODEL"

typedef struct {
  char **instruments;  /* NULL-terminated, one value each (g_strfreev) */
  char *probabilities; /* "violin=0.934,piano=0.812,...", or NULL */
  char *model;         /* the model identity the tags were made with, or NULL */
} instrid_tagset;

/* The format name ("FLAC", "Ogg Vorbis", "Opus", "MP3", "M4A") of a file TagLib can tag, or
 * NULL with *error set (g_free) when it cannot open it or the format is not one of these. */
const char *instrid_tagfile_format(const char *path, char **error);

/* Reads instrid's tags; fields absent from the file are NULL (instruments: an empty list).
 * Returns 0, or -1 with *error set. Clear the set with instrid_tagset_clear. */
int instrid_tagfile_read(const char *path, instrid_tagset *out, char **error);

/* Replaces instrid's three tags in the file at path (in place: callers that need an atomic
 * replacement write a copy). Returns 0, or -1 with *error set. */
int instrid_tagfile_write(const char *path, const instrid_tagset *tags, char **error);

void instrid_tagset_clear(instrid_tagset *set);

#ifdef __cplusplus
}
#endif

#endif
