/*
 * ah_tp.c - the LTTng-UST probe of provider ahbench_lttng (ah_tp.h), linked statically into
 * the benchmark program. This file instantiates the probe callbacks and the event
 * descriptions; bench_lttng.c defines the tracepoints (LTTNG_UST_TRACEPOINT_DEFINE).
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "ah_tp.h"
