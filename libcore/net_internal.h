/* net_internal.h — instrumentation of the inference engine for the benchmarks; not installed. */
#ifndef INSTRID_NET_INTERNAL_H
#define INSTRID_NET_INTERNAL_H

#include "instrid.h"

/* While step_seconds is not NULL, every instrid_net_forward adds the thread CPU time of each of
 * its operations to step_seconds[i], i being the first model step (instrid_model's inference plan,
 * after folding) the operation covers: a convolution's slot also holds the ReLU and the pool
 * fused into it, whose own slots stay 0. step_seconds has one slot per step; NULL stops. */
void instrid_net_set_step_timer(instrid_net *net, double *step_seconds);

#endif /* INSTRID_NET_INTERNAL_H */
