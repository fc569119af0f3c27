/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* net_internal.h — instrumentation of the inference engine for the benchmarks; not installed. */
#ifndef INSTRID_NET_INTERNAL_H
#define INSTRID_NET_INTERNAL_H

#include "instrid.h"

/* While step_seconds is not NULL, every instrid_net_forward adds the thread CPU time of each of
 * its operations to step_seconds[i], i being the first model step (instrid_model's inference plan,
 * after folding) the operation covers: a convolution's slot also holds the ReLU and the pool
 * fused into it, whose own slots stay 0. step_seconds has one slot per step; NULL stops. */
void instrid_net_set_step_timer(instrid_net *net, double *step_seconds);

/* instrid_net_new with the convolution kernel chosen by the caller rather than for the CPU:
 * direct_isa is an instrid_direct_isa (conv_direct.h), INSTRID_DIRECT_NONE for the portable
 * gemm path. For the tests, which check every kernel this CPU runs against the reference, and
 * the benchmark. Fails with INSTRID_ERR_INVALID_ARG when this CPU cannot run the kernel. */
instrid_net *instrid_net_new_with_kernel(const instrid_model *model, int direct_isa,
                                         instrid_error *err);

#endif /* INSTRID_NET_INTERNAL_H */
