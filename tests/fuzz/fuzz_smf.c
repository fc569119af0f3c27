/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_smf.c — the Standard MIDI File reader (trainer/render/smf.c) on a memory image; what
 * parses is checked for the invariants the renderer relies on. */
#include <math.h>

#include "fuzz.h"
#include "smf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char errbuf[256];
  errbuf[0] = '\0';
  smf_song *song = smf_read_memory(data, size, errbuf, sizeof errbuf);
  if (!song) {
    if (!errbuf[0])
      abort(); /* every refusal says why */
    return 0;
  }
  for (size_t p = 0; p < song->n_parts; p++) {
    const smf_part *part = &song->parts[p];
    if (part->channel < 0 || part->channel > 15 || part->program < -1 || part->program > 127 ||
        memchr(part->name, '\0', sizeof part->name) == NULL)
      abort();
    for (size_t i = 0; i < part->n_notes; i++) {
      const smf_note *n = &part->notes[i];
      if (!(n->start_s >= 0.0) || !(n->end_s >= n->start_s) || n->end_s > song->duration_s ||
          n->pitch > 127 || n->velocity < 1 || n->velocity > 127 || !isfinite(n->start_beat) ||
          !(n->dur_beats >= 0.0))
        abort();
      (void)smf_note_value_name(n->dur_beats);
    }
  }
  smf_song_free(song);
  return 0;
}
