/*
 * ah_tp.h - LTTng-UST tracepoint provider "ahbench_lttng" for the LTTng comparison benchmark
 * (bench/lttng/run.sh). Its one tracepoint, ahbench_lttng:event, records what one libah
 * event carries: the kind of event (init, before, after, destroy), the resource id, the trigger
 * id (0 when there is none) and the resource type.
 *
 * The provider is built into the benchmark program itself (ah_tp.c, static linkage), so that
 * the tracepoint call is the plain LTTng-UST fast path: a load and a predicted branch while no
 * session records it, the probe (ring-buffer reservation, copy, commit) while one does.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ahbench_lttng

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./ah_tp.h"

#if !defined(AH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define AH_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

/* clang-format off */
LTTNG_UST_TRACEPOINT_EVENT(
    ahbench_lttng, event,
    LTTNG_UST_TP_ARGS(uint8_t, kind, uint64_t, id, uint64_t, arg, int32_t, type),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint8_t, kind, kind)
        lttng_ust_field_integer(uint64_t, id, id)
        lttng_ust_field_integer(uint64_t, arg, arg)
        lttng_ust_field_integer(int32_t, type, type)
    )
)
/* clang-format on */

#endif /* AH_TP_H */

#include <lttng/tracepoint-event.h>
