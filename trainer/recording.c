/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* recording.c — the list of recordings the readers produce and dataset.c serves (recording.h).
 */
#include "recording.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *path_join(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  char *p = malloc(la + lb + 2);
  if (!p)
    return NULL;
  memcpy(p, a, la);
  size_t at = la;
  if (la == 0 || a[la - 1] != '/')
    p[at++] = '/';
  memcpy(p + at, b, lb + 1);
  return p;
}

void recording_clear(dataset_recording *rec)
{
  free(rec->audio_path);
  free(rec->intervals);
  rec->audio_path = NULL;
  rec->intervals = NULL;
}

void recording_list_clear(recording_list *list)
{
  for (size_t i = 0; i < list->n; i++)
    recording_clear(&list->items[i]);
  free(list->items);
  memset(list, 0, sizeof *list);
}

instrid_status recording_list_push(recording_list *list, dataset_recording *rec, instrid_error *err)
{
  if (list->n == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 64;
    dataset_recording *grown =
        cap > SIZE_MAX / sizeof *grown ? NULL : realloc(list->items, cap * sizeof *grown);
    if (!grown) {
      recording_clear(rec);
      return instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory");
    }
    list->items = grown;
    list->cap = cap;
  }
  list->items[list->n++] = *rec;
  memset(rec, 0, sizeof *rec);
  return INSTRID_OK;
}
