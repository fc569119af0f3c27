/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridqueue.h — the queue between instridentify's streaming thread and its worker
 * thread: a ring of mono samples at the audio path's output rate, markers placed at positions in
 * it, and the worker thread that takes both in order and hands them to the element's callbacks.
 */
#ifndef GST_INSTRID_QUEUE_H
#define GST_INSTRID_QUEUE_H

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_INSTRID_MARKER_RESET,   /* a new window sequence (full: a new summary too) */
  GST_INSTRID_MARKER_SILENCE, /* `samples` samples of silence, made by the worker (GAP events) */
  GST_INSTRID_MARKER_DRAIN,   /* the streaming thread waits until everything before it is done */
  GST_INSTRID_MARKER_EOS,     /* the end of the stream; waited for like DRAIN */
} GstInstrIdMarkerKind;

typedef struct {
  GstInstrIdMarkerKind kind;
  guint64 position;     /* the ring's write position when it was queued */
  guint64 seq;          /* DRAIN, EOS: its number among the markers waited for */
  gboolean full;        /* RESET: restart the summary too */
  GstClockTime base_ts; /* RESET: timestamp of the first sample after it */
  GstSegment segment;   /* RESET: the segment those samples belong to */
  guint32 rate;    /* RESET: their rate (the audio path's output: the model's or the input's) */
  guint64 samples; /* SILENCE: how many, at the current rate */
} GstInstrIdMarker;

/* Called on the worker thread with no lock held. generation identifies the flush period the
 * data belongs to (see gst_instrid_queue_generation). */
typedef void (*GstInstrIdSamplesFunc)(gpointer user, const gfloat *x, gsize n, gint generation);
typedef void (*GstInstrIdMarkerFunc)(gpointer user, const GstInstrIdMarker *m, gint generation);

typedef struct {
  GMutex lock;
  GCond cond;
  gfloat *ring; /* (ring_size) */
  gsize ring_size;
  guint64 read, write;     /* samples taken and queued since the queue was last cleared */
  gboolean waited;         /* worker: it waited once for a batch since it last took samples */
  gsize room_wanted;       /* streaming thread waits for this much room (0: not waiting) */
  gboolean worker_idle;    /* worker waits with nothing to take */
  gboolean worker_waiting; /* worker waits for samples (idle, or for a batch) */
  GQueue markers;          /* GstInstrIdMarker*, by position */
  gboolean flushing, quit;
  guint64 wait_seq, done_seq; /* markers waited for: the last queued, the last done */
  gint generation;            /* bumped by every flush; read atomically */
  GThread *thread;
  gfloat *work; /* (GST_INSTRID_QUEUE_CHUNK) worker only */
  GstInstrIdSamplesFunc on_samples;
  GstInstrIdMarkerFunc on_marker;
  gpointer user;
} GstInstrIdQueue;

/* The worker hands over at most this many samples at a time. */
#define GST_INSTRID_QUEUE_CHUNK 4096
/* The streaming thread wakes the worker for samples only once this many wait (or with a
 * marker); a worker that finds fewer, and no marker, takes them after at most
 * GST_INSTRID_QUEUE_WAKE_US. A decoder's buffers (about 1,000 frames) then cost a quarter of
 * the wake-ups, and a result is late by at most that delay in a live pipeline. */
#define GST_INSTRID_QUEUE_WAKE 4096
#define GST_INSTRID_QUEUE_WAKE_US (20 * G_TIME_SPAN_MILLISECOND)

void gst_instrid_queue_init(GstInstrIdQueue *q);
void gst_instrid_queue_clear(GstInstrIdQueue *q);
/* Allocates a ring of ring_size samples and starts the worker thread; FALSE when out of
 * memory. */
gboolean gst_instrid_queue_start(GstInstrIdQueue *q, gsize ring_size,
                                 GstInstrIdSamplesFunc on_samples, GstInstrIdMarkerFunc on_marker,
                                 gpointer user);
/* Stops and joins the worker, drops what is queued and frees the ring. */
void gst_instrid_queue_stop(GstInstrIdQueue *q);

/* TRUE: what is queued is void, waits end, pushes fail (FLUSH_START, PAUSED to READY).
 * FALSE: the queue is emptied and takes data again (FLUSH_STOP). */
void gst_instrid_queue_set_flushing(GstInstrIdQueue *q, gboolean flushing);
gint gst_instrid_queue_generation(GstInstrIdQueue *q);

/* Streaming thread. Appends samples, waiting for room while the worker is a full ring behind.
 * FALSE when flushing. */
gboolean gst_instrid_queue_push_samples(GstInstrIdQueue *q, const gfloat *x, gsize n);
/* Appends a marker (taken over) after the samples queued so far. */
void gst_instrid_queue_push_marker(GstInstrIdQueue *q, GstInstrIdMarker *m);
/* Appends a DRAIN or EOS marker and waits until the worker has handled it. FALSE when a flush
 * came first. */
gboolean gst_instrid_queue_push_marker_and_wait(GstInstrIdQueue *q, GstInstrIdMarker *m);

G_END_DECLS

#endif /* GST_INSTRID_QUEUE_H */
