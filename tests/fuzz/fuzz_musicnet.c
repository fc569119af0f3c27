/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_musicnet.c — MusicNet label files through the tree reader (trainer/musicnet.c): a tree
 * of one recording whose labels CSV is the input. A malformed label file is skipped with a
 * message; nothing else may happen. */
#include <sys/stat.h>

#include "readers.h"
#include "fuzz.h"

static char root[600], labels[700];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  char path[700];
  snprintf(root, sizeof root, "%s/musicnet", fuzz_tmpdir());
  snprintf(path, sizeof path, "%s/train_data", root);
  if (mkdir(root, 0700) != 0 || mkdir(path, 0700) != 0)
    abort();
  snprintf(path, sizeof path, "%s/train_data/1727.wav", root);
  fuzz_write(path, (const uint8_t *)"", 0); /* the reader does not decode */
  snprintf(path, sizeof path, "%s/train_labels", root);
  if (mkdir(path, 0700) != 0)
    abort();
  snprintf(labels, sizeof labels, "%s/train_labels/1727.csv", root);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!root[0])
    LLVMFuzzerInitialize(NULL, NULL);
  fuzz_write(labels, data, size);
  dataset_options opt;
  memset(&opt, 0, sizeof opt);
  opt.window_frames = 128;
  opt.hop_frames = 64;
  opt.val_fraction = 0.0f;
  dataset_stats stats;
  memset(&stats, 0, sizeof stats);
  recording_list list = {0};
  instrid_error err = {INSTRID_OK, ""};
  instrid_status st = musicnet_read(root, &opt, &list, &stats, &err);
  if (st == INSTRID_OK) {
    for (size_t i = 0; i < list.n; i++) {
      const dataset_recording *rec = &list.items[i];
      for (int c = 0; c < TAXONOMY_N; c++)
        for (uint32_t k = rec->class_start[c]; k < rec->class_start[c + 1]; k++) {
          const label_interval *t = &rec->intervals[k];
          if (!(t->end_s > t->start_s) || (k > rec->class_start[c] && !(t->start_s > t[-1].end_s)))
            abort(); /* merged, sorted, disjoint */
        }
    }
  } else if (err.message[0] == '\0') {
    abort();
  }
  recording_list_clear(&list);
  return 0;
}
