/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridentify.h — the instridentify element: a passthrough audio filter that names the
 * instruments playing in the stream with libinstrid and reports them as bus messages and tags.
 */
#ifndef GST_INSTR_IDENTIFY_H
#define GST_INSTR_IDENTIFY_H

#include <gst/audio/audio.h>
#include <gst/audio/gstaudiofilter.h>
#include <gst/gst.h>

#include "instrid.h"

G_BEGIN_DECLS

#define GST_TYPE_INSTR_IDENTIFY (gst_instr_identify_get_type())
G_DECLARE_FINAL_TYPE(GstInstrIdentify, gst_instr_identify, GST, INSTR_IDENTIFY, GstAudioFilter)

/* Custom tags, registered at plugin load (gst_instrid_tags_register). */
/* The detected instruments, one string per instrument, most probable first. */
#define GST_INSTR_IDENTIFY_TAG_INSTRUMENTS "instrid-instruments"
/* "violin=0.93,piano=0.81": each detected instrument with its probability (2 decimals). */
#define GST_INSTR_IDENTIFY_TAG_PROBABILITIES "instrid-probabilities"

/* The keys the element writes into GST_TAG_EXTENDED_COMMENT ("INSTRUMENTS=violin,piano",
 * "INSTRUMENT_PROBABILITIES=violin:0.93,piano:0.81") so Vorbis-comment and ID3 writers keep them.
 */
#define GST_INSTR_IDENTIFY_COMMENT_INSTRUMENTS "INSTRUMENTS"
#define GST_INSTR_IDENTIFY_COMMENT_PROBABILITIES "INSTRUMENT_PROBABILITIES"

G_END_DECLS

#endif /* GST_INSTR_IDENTIFY_H */
