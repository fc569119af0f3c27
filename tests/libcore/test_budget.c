/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_budget.c — the limits on what a model may demand of its host (budget.c, instrid.h):
 * the cost figures of hand-computable models, the limits' edges, and the crafted files of
 * greedy_models.h refused by instrid_model_load with a message naming the limit and the
 * figure, while the models the project trains load as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "greedy_models.h"
#include "conv_direct.h"
#include "instrid.h"
#include "net_internal.h"
#include "testnet.h"

/* The 32 GiB case by hand: a queue of 2 windows of (65536 - 1) * 65536 + 65536 samples of 4
 * bytes is exactly 32 GiB; one frame of one mel band is the network's input. */
static void test_cost_figures(void)
{
  instrid_model_desc d;
  instrid_model_cost c;
  instrid_error err;
  greedy_model_desc(GREEDY_QUEUE_32GIB, &d);
  CHECK(instrid_model_desc_cost(&d, &c, &err) == INSTRID_OK, "%s", err.message);
  CHECK(c.queue_bytes == 32.0 * 1024 * 1024 * 1024, "queue %.0f bytes", c.queue_bytes);
  CHECK(c.total_bytes == c.stream_bytes + c.queue_bytes, "total %.0f", c.total_bytes);
  /* Activations: the input, 1 x 1 x 65536 floats, is the largest; two buffers of it plus a
   * 64-byte slot each. */
  CHECK(c.activation_bytes == 2.0 * 4 * 65536, "activations %.0f", c.activation_bytes);

  /* The pool case: a 64 x 64 max pool of (1, 512, 1000) has 449 x 937 outputs reading 4096
   * values each; the global mean reads them once more (2 per element) and writes 1 (2), and
   * the sigmoid 4; the network runs every frame, 100 frames a second. */
  greedy_model_desc(GREEDY_SLOW_POOL, &d);
  CHECK(instrid_model_desc_cost(&d, &c, &err) == INSTRID_OK, "%s", err.message);
  const double pool_out = 449.0 * 937.0;
  const double want = 4096.0 * pool_out + 2.0 * pool_out + 2.0 + 4.0;
  CHECK(c.window_ops == want, "window ops %.0f, expected %.0f", c.window_ops, want);
  CHECK(c.ops_per_second == c.frontend_ops_per_second + 100.0 * want, "ops/s %.6g",
        c.ops_per_second);
  CHECK(c.ops_per_second_min_hop == c.ops_per_second, "a one-frame hop is the model's own");

  /* Null arguments are refused, not dereferenced. */
  CHECK(instrid_model_desc_cost(NULL, &c, &err) == INSTRID_ERR_INVALID_ARG, "NULL desc");
  CHECK(instrid_model_desc_cost(&d, NULL, &err) == INSTRID_ERR_INVALID_ARG, "NULL cost");
  CHECK(instrid_model_cost_check(NULL, &err) == INSTRID_ERR_INVALID_ARG, "NULL cost");
}

/* Exactly at a limit is allowed, just over is refused with the limit's name. */
static void test_limit_edges(void)
{
  instrid_model_cost c;
  instrid_error err;
  memset(&c, 0, sizeof c);
  c.total_bytes = (double)INSTRID_MAX_STREAM_BYTES;
  c.ops_per_second = INSTRID_MAX_OPS_PER_SECOND;
  c.ops_per_second_min_hop = INSTRID_MAX_OPS_PER_SECOND_MIN_HOP;
  CHECK(instrid_model_cost_check(&c, &err) == INSTRID_OK, "at the limits: %s", err.message);

  instrid_model_cost over = c;
  over.total_bytes += 1.0;
  CHECK(instrid_model_cost_check(&over, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "INSTRID_MAX_STREAM_BYTES"),
        "one byte over: %s", err.message);
  over = c;
  over.ops_per_second *= 1.0000001;
  CHECK(instrid_model_cost_check(&over, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "INSTRID_MAX_OPS_PER_SECOND of"),
        "ops over: %s", err.message);
  over = c;
  over.ops_per_second_min_hop *= 1.0000001;
  CHECK(instrid_model_cost_check(&over, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, "INSTRID_MAX_OPS_PER_SECOND_MIN_HOP"),
        "min-hop ops over: %s", err.message);
  /* NaN figures (never produced, but a caller could fill the struct) are refused too. */
  over = c;
  over.total_bytes = 0.0 / 0.0;
  CHECK(instrid_model_cost_check(&over, &err) == INSTRID_ERR_FORMAT, "NaN bytes accepted");
}

/* Each crafted file is written by the project's writer (so its checksum and every field are
 * valid) and refused at load with the limit's name and the model's figure. */
static void test_greedy_files(void)
{
  for (int k = 0; k < GREEDY_N_CASES; k++) {
    const greedy_info *info = greedy_model_info((greedy_case)k);
    void *data;
    size_t size;
    greedy_model_bytes((greedy_case)k, &data, &size);
    instrid_error err = {INSTRID_OK, ""};
    instrid_model *m = instrid_model_load_from_memory(data, size, &err);
    CHECK(m == NULL, "%s: loaded", info->name);
    CHECK(err.code == INSTRID_ERR_FORMAT, "%s: %s", info->name, instrid_status_name(err.code));
    CHECK(strstr(err.message, info->limit) != NULL, "%s: message \"%s\" lacks \"%s\"", info->name,
          err.message, info->limit);
    CHECK(strstr(err.message, info->figure) != NULL, "%s: message \"%s\" lacks \"%s\"", info->name,
          err.message, info->figure);
    printf("%-24s %6zu bytes: %s\n", info->name, size, err.message);
    instrid_model_free(m);
    free(data);
  }
}

/* The scratch and packed weights a network really allocates, with the portable kernel and with
 * this CPU's direct one, are within the model's scratch_bytes, and not far below it. */
static void check_scratch_bound(const char *name, const instrid_model *m)
{
  instrid_model_cost c;
  instrid_error err;
  CHECK(instrid_model_desc_cost(instrid_model_get_desc(m), &c, &err) == INSTRID_OK, "%s: %s", name,
        err.message);
  const int kernels[] = {INSTRID_DIRECT_NONE, (int)instrid_conv_direct_best_isa()};
  for (int k = 0; k < 2; k++) {
    instrid_net *net = instrid_net_new_with_kernel(m, kernels[k], &err);
    CHECK(net != NULL, "%s, kernel %d: %s", name, kernels[k], err.message);
    if (!net)
      continue;
    const double real = (double)instrid_net_scratch_bytes(net);
    printf("%-10s kernel %d: scratch+packed %.0f bytes allocated, %.0f bounded\n", name, kernels[k],
           real, c.scratch_bytes);
    CHECK(real <= c.scratch_bytes, "%s, kernel %d: %.0f bytes allocated over the bound %.0f", name,
          kernels[k], real, c.scratch_bytes);
    instrid_net_free(net);
  }
}

static void test_scratch_bound(const char *shipped)
{
  const char *names[] = {"tiny", "reference"};
  for (int i = 0; i < 2; i++) {
    testnet *t = testnet_build(names[i], 5, 7);
    CHECK(t != NULL, "testnet %s", names[i]);
    if (!t)
      continue;
    void *data;
    size_t size;
    instrid_error err;
    CHECK(instrid_model_write_to_memory(testnet_desc(t), &data, &size, &err) == INSTRID_OK, "%s",
          err.message);
    instrid_model *m = instrid_model_load_from_memory(data, size, &err);
    CHECK(m != NULL, "%s: %s", names[i], err.message);
    if (m)
      check_scratch_bound(names[i], m);
    instrid_model_free(m);
    free(data);
    testnet_free(t);
  }
  /* The shipped model (EfficientAT's mn04: depthwise and pointwise convolutions, run
   * channels-first after the first; the bound once counted a whole im2col and a dense packed
   * copy for each, 52 MiB). */
  instrid_error err;
  instrid_model *m = instrid_model_load(shipped, &err);
  CHECK(m != NULL, "%s: %s", shipped, err.message);
  if (m) {
    check_scratch_bound("shipped", m);
    instrid_model_cost c;
    CHECK(instrid_model_desc_cost(instrid_model_get_desc(m), &c, &err) == INSTRID_OK, "%s",
          err.message);
    CHECK(c.scratch_bytes < 1024.0 * 1024.0, "shipped model: scratch+packed %.0f bytes",
          c.scratch_bytes);
  }
  instrid_model_free(m);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_budget SHIPPED_MODEL\n");
    return 2;
  }
  test_cost_figures();
  test_limit_edges();
  test_greedy_files();
  test_scratch_bound(argv[1]);
  return check_exit();
}
