/*
 * test_handover.c - a thread's batch reaches `record` in parts (switch-outs, then its flush):
 * however the parts fall, a callback opened in one generation and closed in the next keeps
 * its time in the counters, as in the events. tests/targets/handover.c makes a switch-out read
 * a whole generation (its init and before) before a flush that finds nothing new; the BPF side
 * sent no message for that flush, the decoder took the next generation for one after a lost
 * batch and counted every callback untimed (counters.callback_ns ~0, events ~2 ms each).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "run.h"

#define HANDOVER AHP_BUILD "/targets/handover"
#define SPANS 20
#define SPAN_MIN_NS 2000000ll /* each callback sleeps 2 ms */

TestSuite(handover, .init = make_data_path, .fini = remove_data, .timeout = 60);

Test(handover, flush_after_switch_out_read_all)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", SPANS);
    char *cmd[] = {HANDOVER, n, NULL};
    json_object *r = record_launched_report(NULL, cmd);
    cr_assert_eq(get_int(r, "lost_events"), 0, "%lld events lost", get_int(r, "lost_events"));
    json_object *anomalies;
    cr_assert(json_object_object_get_ex(r, "anomalies", &anomalies));
    cr_expect_eq(get_int(anomalies, "unmatched_after"), 0);
    cr_expect_eq(get_int(anomalies, "unclosed_before"), 0);
    expect_type(r, "SPAN", SPANS, SPANS, SPANS, 0);

    json_object *span = find_named(r, "types", "SPAN"), *k = counters_of(span);
    long long events_ns = get_int(span, "callback_ns"), counted_ns = get_int(k, "callback_ns");
    cr_expect_eq(get_int(k, "callbacks"), SPANS, "counters.callbacks %lld",
                 get_int(k, "callbacks"));
    cr_expect_geq(events_ns, SPANS * SPAN_MIN_NS, "events: callback_ns %lld", events_ns);
    cr_expect_eq(counted_ns, events_ns, "counters.callback_ns %lld, events say %lld", counted_ns,
                 events_ns);
    cr_expect_eq(get_int(k, "exclusive_ns"), get_int(span, "exclusive_ns"),
                 "counters.exclusive_ns %lld, events say %lld", get_int(k, "exclusive_ns"),
                 get_int(span, "exclusive_ns"));
    json_object_put(r);
}
