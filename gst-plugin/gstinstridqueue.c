/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstinstridqueue.c — the streaming thread / worker thread queue of instridentify (see
 * gstinstridqueue.h). The streaming thread only copies samples in; the worker copies them out
 * under the lock (after a flush the streaming thread reuses the ring at once) and analyses them
 * without it.
 */
#include <string.h>

#include "gstinstridqueue.h"

void gst_instrid_queue_init(GstInstrIdQueue *q)
{
  memset(q, 0, sizeof *q);
  g_mutex_init(&q->lock);
  g_cond_init(&q->cond);
  g_queue_init(&q->markers);
}

void gst_instrid_queue_clear(GstInstrIdQueue *q)
{
  g_mutex_clear(&q->lock);
  g_cond_clear(&q->cond);
}

/* Drops every marker and sample: call with the lock held. */
static void gst_instrid_queue_empty_locked(GstInstrIdQueue *q)
{
  g_queue_clear_full(&q->markers, g_free);
  q->read = q->write = 0;
  q->done_seq = q->wait_seq;
}

/* SILENCE markers: zeros, a chunk at a time, until done or a flush voids them. */
static void gst_instrid_queue_silence(GstInstrIdQueue *q, guint64 n, gint generation)
{
  memset(q->work, 0, GST_INSTRID_QUEUE_CHUNK * sizeof(gfloat));
  while (n > 0 && g_atomic_int_get(&q->generation) == generation) {
    gsize k = (gsize)MIN(n, (guint64)GST_INSTRID_QUEUE_CHUNK);
    q->on_samples(q->user, q->work, k, generation);
    n -= k;
  }
}

static gpointer gst_instrid_queue_worker(gpointer data)
{
  GstInstrIdQueue *q = data;

  g_mutex_lock(&q->lock);
  while (!q->quit) {
    GstInstrIdMarker *m;
    guint64 limit;
    gsize n, start, first;
    gint generation;

    if (q->flushing) {
      g_cond_wait(&q->cond, &q->lock);
      continue;
    }
    m = g_queue_peek_head(&q->markers);
    if (m != NULL && m->position == q->read) {
      g_queue_pop_head(&q->markers);
      generation = g_atomic_int_get(&q->generation);
      g_mutex_unlock(&q->lock);
      if (m->kind == GST_INSTRID_MARKER_SILENCE)
        gst_instrid_queue_silence(q, m->samples, generation);
      else
        q->on_marker(q->user, m, generation);
      g_mutex_lock(&q->lock);
      if ((m->kind == GST_INSTRID_MARKER_DRAIN || m->kind == GST_INSTRID_MARKER_EOS) &&
          generation == g_atomic_int_get(&q->generation)) {
        q->done_seq = m->seq;
        g_cond_broadcast(&q->cond);
      }
      g_free(m);
      continue;
    }
    limit = m != NULL ? m->position : q->write;
    n = (gsize)MIN(limit - q->read, (guint64)GST_INSTRID_QUEUE_CHUNK);
    if (n == 0) {
      q->worker_idle = q->worker_waiting = TRUE;
      g_cond_wait(&q->cond, &q->lock);
      q->worker_idle = q->worker_waiting = FALSE;
      continue;
    }
    /* A few samples and no marker: more are probably on their way; wait for a batch (the
     * streaming thread signals one), or take these when none comes in time. */
    if (m == NULL && q->write - q->read < GST_INSTRID_QUEUE_WAKE && !q->waited) {
      q->waited = q->worker_waiting = TRUE;
      g_cond_wait_until(&q->cond, &q->lock, g_get_monotonic_time() + GST_INSTRID_QUEUE_WAKE_US);
      q->worker_waiting = FALSE;
      continue;
    }
    q->waited = FALSE;
    start = (gsize)(q->read % q->ring_size);
    first = MIN(n, q->ring_size - start);
    memcpy(q->work, q->ring + start, first * sizeof(gfloat));
    memcpy(q->work + first, q->ring, (n - first) * sizeof(gfloat));
    generation = g_atomic_int_get(&q->generation);
    g_mutex_unlock(&q->lock);

    q->on_samples(q->user, q->work, n, generation);

    g_mutex_lock(&q->lock);
    if (generation == g_atomic_int_get(&q->generation)) {
      q->read += n;
      if (q->room_wanted > 0 && q->ring_size - (gsize)(q->write - q->read) >= q->room_wanted)
        g_cond_broadcast(&q->cond);
    }
  }
  g_mutex_unlock(&q->lock);
  return NULL;
}

gboolean gst_instrid_queue_start(GstInstrIdQueue *q, gsize ring_size,
                                 GstInstrIdSamplesFunc on_samples, GstInstrIdMarkerFunc on_marker,
                                 gpointer user)
{
  /* The ring's size comes from the model file: libinstrid keeps it within its limits, and an
   * allocation that still fails is reported, not an abort. */
  q->ring_size = ring_size;
  q->ring = g_try_new(gfloat, ring_size);
  q->work = g_try_new(gfloat, GST_INSTRID_QUEUE_CHUNK);
  if (q->ring == NULL || q->work == NULL) {
    g_clear_pointer(&q->ring, g_free);
    g_clear_pointer(&q->work, g_free);
    q->ring_size = 0;
    return FALSE;
  }
  q->on_samples = on_samples;
  q->on_marker = on_marker;
  q->user = user;
  g_mutex_lock(&q->lock);
  gst_instrid_queue_empty_locked(q);
  q->flushing = FALSE;
  q->quit = FALSE;
  g_mutex_unlock(&q->lock);
  q->thread = g_thread_new("instridentify", gst_instrid_queue_worker, q);
  return TRUE;
}

void gst_instrid_queue_stop(GstInstrIdQueue *q)
{
  if (q->thread != NULL) {
    g_mutex_lock(&q->lock);
    q->quit = TRUE;
    g_cond_broadcast(&q->cond);
    g_mutex_unlock(&q->lock);
    g_thread_join(q->thread);
    q->thread = NULL;
  }
  g_mutex_lock(&q->lock);
  gst_instrid_queue_empty_locked(q);
  g_mutex_unlock(&q->lock);
  g_clear_pointer(&q->ring, g_free);
  g_clear_pointer(&q->work, g_free);
  q->ring_size = 0;
}

void gst_instrid_queue_set_flushing(GstInstrIdQueue *q, gboolean flushing)
{
  g_mutex_lock(&q->lock);
  if (flushing)
    g_atomic_int_inc(&q->generation);
  else
    gst_instrid_queue_empty_locked(q);
  q->flushing = flushing;
  g_cond_broadcast(&q->cond);
  g_mutex_unlock(&q->lock);
}

gint gst_instrid_queue_generation(GstInstrIdQueue *q)
{
  return g_atomic_int_get(&q->generation);
}

gboolean gst_instrid_queue_push_samples(GstInstrIdQueue *q, const gfloat *x, gsize n)
{
  g_mutex_lock(&q->lock);
  while (n > 0) {
    gsize used, start, k, first;

    /* Only a full ring waits; then until half of it (a window's samples) is free, not for
     * every chunk the worker takes, so the two threads do not wake each other per chunk. */
    if (q->write - q->read >= q->ring_size) {
      const gsize want = MAX(q->ring_size / 2, 1);
      while (!q->flushing && q->ring_size - (gsize)(q->write - q->read) < want) {
        q->room_wanted = want;
        g_cond_wait(&q->cond, &q->lock);
      }
      q->room_wanted = 0;
    }
    if (q->flushing) {
      g_mutex_unlock(&q->lock);
      return FALSE;
    }
    used = (gsize)(q->write - q->read);
    k = MIN(n, q->ring_size - used);
    start = (gsize)(q->write % q->ring_size);
    first = MIN(k, q->ring_size - start);
    memcpy(q->ring + start, x, first * sizeof(gfloat));
    memcpy(q->ring, x + first, (k - first) * sizeof(gfloat));
    q->write += k;
    x += k;
    n -= k;
    /* An idle worker hears of any samples (it then waits GST_INSTRID_QUEUE_WAKE_US at most for
     * a batch); one waiting for a batch only of a batch; a busy one of nothing (it looks at the
     * ring before it waits again): each broadcast is a system call, with or without a waiter. */
    if (q->worker_waiting && (q->worker_idle || q->write - q->read >= GST_INSTRID_QUEUE_WAKE))
      g_cond_broadcast(&q->cond);
  }
  g_mutex_unlock(&q->lock);
  return TRUE;
}

void gst_instrid_queue_push_marker(GstInstrIdQueue *q, GstInstrIdMarker *m)
{
  g_mutex_lock(&q->lock);
  m->position = q->write;
  g_queue_push_tail(&q->markers, m);
  g_cond_broadcast(&q->cond);
  g_mutex_unlock(&q->lock);
}

gboolean gst_instrid_queue_push_marker_and_wait(GstInstrIdQueue *q, GstInstrIdMarker *m)
{
  guint64 seq;
  gboolean done;

  g_mutex_lock(&q->lock);
  if (q->flushing) {
    g_mutex_unlock(&q->lock);
    g_free(m);
    return FALSE;
  }
  seq = m->seq = ++q->wait_seq;
  m->position = q->write;
  g_queue_push_tail(&q->markers, m);
  g_cond_broadcast(&q->cond);
  while (q->done_seq < seq && !q->flushing)
    g_cond_wait(&q->cond, &q->lock);
  done = q->done_seq >= seq && !q->flushing;
  g_mutex_unlock(&q->lock);
  return done;
}
