/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_openmic.c — an OpenMIC tree's text files through its reader (trainer/openmic.c). The
 * input holds the class map, the aggregated labels and the two partitions, separated by lines
 * of "====": each part goes to its file, missing parts are empty files. */
#include <sys/stat.h>

#include "readers.h"
#include "fuzz.h"

static char root[600];
static const char *const files[4] = {"class-map.json", "openmic-2018-aggregated-labels.csv",
                                     "partitions/split01_train.csv", "partitions/split01_test.csv"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  char path[700];
  snprintf(root, sizeof root, "%s/openmic", fuzz_tmpdir());
  snprintf(path, sizeof path, "%s/partitions", root);
  if (mkdir(root, 0700) != 0 || mkdir(path, 0700) != 0)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!root[0])
    LLVMFuzzerInitialize(NULL, NULL);
  const uint8_t *rest = data;
  size_t n_rest = size;
  for (int k = 0; k < 4; k++) {
    const uint8_t *part;
    size_t n_part;
    fuzz_split(rest, n_rest, "\n====\n", &part, &n_part, &rest, &n_rest);
    char path[800];
    snprintf(path, sizeof path, "%s/%s", root, files[k]);
    fuzz_write(path, part, n_part);
  }
  dataset_options opt;
  memset(&opt, 0, sizeof opt);
  opt.window_frames = 128;
  opt.hop_frames = 64;
  dataset_stats stats;
  memset(&stats, 0, sizeof stats);
  recording_list list = {0};
  instrid_error err = {INSTRID_OK, ""};
  instrid_status st = openmic_read(root, &opt, &list, &stats, &err);
  if (st == INSTRID_OK) {
    for (size_t i = 0; i < list.n; i++) {
      const dataset_recording *rec = &list.items[i];
      if (!rec->audio_path || (rec->target_bits & ~rec->mask_bits) != 0)
        abort(); /* a positive is always known */
    }
  } else if (err.message[0] == '\0') {
    abort();
  }
  recording_list_clear(&list);
  return 0;
}
