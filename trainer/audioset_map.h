/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audioset_map.h — which AudioSet classes name each of instrid's 25 classes: the one table the
 * importer's tests, the fine-tuning (distillation towards a pretrained network's mapped
 * outputs) and the evaluation of an AudioSet-class model use. */
#ifndef INSTRID_AUDIOSET_MAP_H
#define INSTRID_AUDIOSET_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *audioset; /* AudioSet display name, as in class_labels_indices.csv */
  const char *instrid;  /* taxonomy class name */
} instrid_audioset_entry;

/* Each AudioSet class names at most one taxonomy class. bassoon, oboe and viola have none
 * (AudioSet has no class for them). */
extern const instrid_audioset_entry instrid_audioset_map[];
extern const size_t instrid_audioset_map_n;

/* The taxonomy class an AudioSet display name maps to, or NULL. */
const char *instrid_audioset_class(const char *audioset_name);

/* For source classes src[0..n_src) (e.g. a model's 527 AudioSet names) and target classes
 * dst[0..n_dst) (e.g. the taxonomy): target_of[i] = index in dst of the class src[i] maps to,
 * or -1. Returns how many source classes map to a target. */
uint32_t instrid_audioset_map_indices(const char *const *src, uint32_t n_src,
                                      const char *const *dst, uint32_t n_dst, int32_t *target_of);

/* mapped[t] = max of scores[i] over the source classes with target_of[i] == t; targets no
 * source class maps to get `none` (e.g. 0). */
void instrid_audioset_map_scores(const float *scores, const int32_t *target_of, uint32_t n_src,
                                 float *mapped, uint32_t n_dst, float none);

#endif /* INSTRID_AUDIOSET_MAP_H */
