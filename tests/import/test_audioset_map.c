/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_audioset_map.c — the AudioSet -> taxonomy table: every entry names a taxonomy class and
 * a distinct AudioSet class, the examples the design names, the classes AudioSet lacks, the
 * index mapping over a model's class list and the max over mapped scores. */
#include <string.h>

#include "audioset_map.h"
#include "check.h"
#include "taxonomy.h"

int main(void)
{
  CHECK(instrid_audioset_map_n >= 25, "%zu entries", instrid_audioset_map_n);
  for (size_t i = 0; i < instrid_audioset_map_n; i++) {
    const instrid_audioset_entry *e = &instrid_audioset_map[i];
    CHECK(instrid_taxonomy_index(e->instrid) >= 0, "entry %zu: '%s' is not a taxonomy class", i,
          e->instrid);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(instrid_audioset_map[j].audioset, e->audioset) != 0, "'%s' listed twice",
            e->audioset);
  }
  CHECK(strcmp(instrid_audioset_class("Violin, fiddle"), "violin") == 0, "violin");
  CHECK(strcmp(instrid_audioset_class("Drum kit"), "drums") == 0, "drums");
  CHECK(strcmp(instrid_audioset_class("Double bass"), "bass") == 0, "double bass");
  CHECK(strcmp(instrid_audioset_class("Bass guitar"), "bass") == 0, "bass guitar");
  CHECK(instrid_audioset_class("Music") == NULL, "Music maps to nothing");
  CHECK(instrid_audioset_class("Keyboard (musical)") == NULL, "a parent class maps to nothing");
  CHECK(instrid_audioset_class("Speech") == NULL, "speech is not voice (singing)");
  CHECK(instrid_audioset_class(NULL) == NULL, "NULL");
  /* Every taxonomy class has an AudioSet class except bassoon, oboe and viola. */
  for (int t = 0; t < TAXONOMY_N; t++) {
    int n = 0;
    for (size_t i = 0; i < instrid_audioset_map_n; i++)
      n += strcmp(instrid_audioset_map[i].instrid, instrid_taxonomy[t]) == 0;
    int none = !strcmp(instrid_taxonomy[t], "bassoon") || !strcmp(instrid_taxonomy[t], "oboe") ||
               !strcmp(instrid_taxonomy[t], "viola");
    CHECK(none ? n == 0 : n >= 1, "%s: %d AudioSet classes", instrid_taxonomy[t], n);
  }

  /* A model's classes (AudioSet names, some unmapped) onto a target list. */
  const char *src[] = {"Speech", "Violin, fiddle", "Drum", "Drum kit", "Music", "Cello"};
  const char *dst[] = {"drums", "violin", "oboe"};
  int32_t target_of[6];
  uint32_t n = instrid_audioset_map_indices(src, 6, dst, 3, target_of);
  CHECK(n == 3, "%u mapped (Cello has no target in dst)", n);
  CHECK(target_of[0] == -1 && target_of[1] == 1 && target_of[2] == 0 && target_of[3] == 0 &&
            target_of[4] == -1 && target_of[5] == -1,
        "target_of %d %d %d %d %d %d", target_of[0], target_of[1], target_of[2], target_of[3],
        target_of[4], target_of[5]);
  const float scores[] = {0.9f, 0.25f, 0.125f, 0.5f, 0.75f, 0.875f};
  float mapped[3];
  instrid_audioset_map_scores(scores, target_of, 6, mapped, 3, -1.0f);
  CHECK(mapped[0] == 0.5f && mapped[1] == 0.25f && mapped[2] == -1.0f, "mapped %g %g %g", mapped[0],
        mapped[1], mapped[2]);
  return check_exit();
}
