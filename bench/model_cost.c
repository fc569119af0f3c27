/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model_cost.c — prints what each model file given demands of its host (instrid_model_cost:
 * memory per stream, operations per second of audio) against the limits in instrid.h.
 *   instrid-model-cost FILE...
 * A file over a limit is refused by instrid_model_load, whose message gives the figure.
 * Exit status 0 when every file loads, 1 when one is over a limit, 2 on another error. */
#include <stdio.h>

#include "instrid.h"

int main(int argc, char **argv)
{
  int rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: instrid-model-cost FILE...\n");
    return 2;
  }
  printf("limits: %.0f MiB per stream, %.3g ops/s at the model's hop, %.3g ops/s at a "
         "one-frame hop\n",
         (double)INSTRID_MAX_STREAM_BYTES / 1048576.0, INSTRID_MAX_OPS_PER_SECOND,
         INSTRID_MAX_OPS_PER_SECOND_MIN_HOP);
  for (int i = 1; i < argc; i++) {
    instrid_error err;
    instrid_model *m = instrid_model_load(argv[i], &err);
    if (!m) {
      printf("%s: %s\n", argv[i], err.message);
      rc = rc > 1 ? rc : (err.code == INSTRID_ERR_FORMAT ? 1 : 2);
      continue;
    }
    instrid_model_cost c;
    if (instrid_model_desc_cost(instrid_model_get_desc(m), &c, &err) != INSTRID_OK) {
      printf("%s: %s\n", argv[i], err.message);
      rc = 2;
    } else {
      printf("%s: stream %.2f MiB (activations %.2f, scratch+packed %.2f, queue %.2f); "
             "%.3g ops per window; %.3g ops/s at hop %u frames (front end %.3g); %.3g ops/s "
             "at a one-frame hop\n",
             argv[i], c.total_bytes / 1048576.0, c.activation_bytes / 1048576.0,
             c.scratch_bytes / 1048576.0, c.queue_bytes / 1048576.0, c.window_ops, c.ops_per_second,
             instrid_model_hop_frames(m), c.frontend_ops_per_second, c.ops_per_second_min_hop);
    }
    instrid_model_free(m);
  }
  return rc;
}
