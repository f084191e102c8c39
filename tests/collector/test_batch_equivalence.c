/*
 * test_batch_equivalence.c - the batch path and --per-event must tell the same story. The
 * batch rules (counters, execution stack, exclusive time) run in the BPF walker and in the
 * collector's decoder, the per-event rules in the per-event programs; `record` adds the
 * walker's counts (batches the ring buffer had no room for) to the decoder's. A drift between
 * them would change one path's numbers only: run the same deterministic workloads through both
 * and compare everything that does not depend on timing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

TestSuite(batch_equivalence, .init = make_data_path, .fini = remove_data, .timeout = 120);

/* `ahprof record [--per-event] -- CMD`, then its report. */
static json_object *record_launched(char *const cmd[], bool per_event)
{
    return record_launched_report(per_event ? "--per-event" : NULL, cmd);
}

static const char *path_name(bool per_event)
{
    return per_event ? "per-event" : "batch";
}

static json_object *array_of(json_object *root, const char *key)
{
    json_object *arr;
    cr_assert(json_object_object_get_ex(root, key, &arr), "missing %s", key);
    return arr;
}

/* Nothing was lost or unexplained on either path: the comparison is of complete data. */
static void expect_complete(json_object *r, const char *what, bool per_event)
{
    cr_assert_eq(get_int(r, "lost_events"), 0, "%s %s: %lld events lost", what,
                 path_name(per_event), get_int(r, "lost_events"));
    json_object *anomalies;
    cr_assert(json_object_object_get_ex(r, "anomalies", &anomalies));
    static const char *const keys[] = {"unmatched_after", "unclosed_before", "duplicate_init",
                                       "unknown_kind", "stack_overflow"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_expect_eq(get_int(anomalies, keys[i]), 0, "%s %s: anomaly %s = %lld", what,
                     path_name(per_event), keys[i], get_int(anomalies, keys[i]));
    cr_expect(json_object_get_boolean(json_object_object_get(r, "counters_exact")),
              "%s %s: counters not exact", what, path_name(per_event));
}

/* Within one report, the in-kernel/decoder counters and the events agree on every type,
 * times included: both come from the same timestamps by the same rules. */
static void expect_counters_match_events(json_object *r, const char *what, bool per_event)
{
    json_object *types = array_of(r, "types");
    static const char *const keys[] = {"created",   "destroyed",   "active",
                                       "callbacks", "callback_ns", "exclusive_ns"};
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i), *k = counters_of(t);
        const char *name = json_object_get_string(json_object_object_get(t, "name"));
        for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
            cr_expect_eq(get_int(k, keys[j]), get_int(t, keys[j]),
                         "%s %s: %s counters.%s %lld, events say %lld", what, path_name(per_event),
                         name, keys[j], get_int(k, keys[j]), get_int(t, keys[j]));
        cr_expect_leq(get_int(t, "exclusive_ns"), get_int(t, "callback_ns"),
                      "%s %s: %s exclusive time above inclusive", what, path_name(per_event), name);
    }
}

static long long edge_count(json_object *r, const char *parent, const char *child)
{
    json_object *edges = array_of(r, "edges");
    for (size_t i = 0; i < json_object_array_length(edges); i++) {
        json_object *e = json_object_array_get_idx(edges, i);
        if (strcmp(json_object_get_string(json_object_object_get(e, "parent")), parent) == 0 &&
            strcmp(json_object_get_string(json_object_object_get(e, "child")), child) == 0)
            return get_int(e, "count");
    }
    return -1;
}

static long long callback_total(json_object *r, bool counters)
{
    json_object *types = array_of(r, "types");
    long long total = 0;
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i);
        total += get_int(counters ? counters_of(t) : t, "callbacks");
    }
    return total;
}

/* The two reports of one deterministic workload: identical counts per type (events and
 * counters), identical edges, identical callback totals. */
static void expect_same_reports(json_object *batch, json_object *per_event, const char *what)
{
    expect_complete(batch, what, false);
    expect_complete(per_event, what, true);
    expect_counters_match_events(batch, what, false);
    expect_counters_match_events(per_event, what, true);
    cr_expect_eq(get_int(batch, "events"), get_int(per_event, "events"),
                 "%s: batch %lld events, per-event %lld", what, get_int(batch, "events"),
                 get_int(per_event, "events"));

    json_object *bt = array_of(batch, "types"), *pt = array_of(per_event, "types");
    cr_assert_eq(json_object_array_length(bt), json_object_array_length(pt),
                 "%s: batch %zu types, per-event %zu", what, json_object_array_length(bt),
                 json_object_array_length(pt));
    static const char *const keys[] = {"created", "destroyed", "active", "resolved", "callbacks"};
    static const char *const counter_keys[] = {"created", "destroyed", "active", "callbacks"};
    for (size_t i = 0; i < json_object_array_length(bt); i++) {
        json_object *b = json_object_array_get_idx(bt, i);
        const char *name = json_object_get_string(json_object_object_get(b, "name"));
        json_object *p = find_named(per_event, "types", name);
        cr_assert_not_null(p, "%s: type %s only on the batch path", what, name);
        for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
            cr_expect_eq(get_int(b, keys[j]), get_int(p, keys[j]),
                         "%s: %s %s batch %lld, per-event %lld", what, name, keys[j],
                         get_int(b, keys[j]), get_int(p, keys[j]));
        for (size_t j = 0; j < sizeof(counter_keys) / sizeof(counter_keys[0]); j++)
            cr_expect_eq(
                get_int(counters_of(b), counter_keys[j]), get_int(counters_of(p), counter_keys[j]),
                "%s: %s counters.%s batch %lld, per-event %lld", what, name, counter_keys[j],
                get_int(counters_of(b), counter_keys[j]), get_int(counters_of(p), counter_keys[j]));
    }

    json_object *be = array_of(batch, "edges"), *pe = array_of(per_event, "edges");
    cr_expect_eq(json_object_array_length(be), json_object_array_length(pe),
                 "%s: batch %zu edges, per-event %zu", what, json_object_array_length(be),
                 json_object_array_length(pe));
    for (size_t i = 0; i < json_object_array_length(be); i++) {
        json_object *e = json_object_array_get_idx(be, i);
        const char *parent = json_object_get_string(json_object_object_get(e, "parent"));
        const char *child = json_object_get_string(json_object_object_get(e, "child"));
        cr_expect_eq(get_int(e, "count"), edge_count(per_event, parent, child),
                     "%s: edge %s > %s batch %lld, per-event %lld", what, parent, child,
                     get_int(e, "count"), edge_count(per_event, parent, child));
    }

    cr_expect_eq(callback_total(batch, false), callback_total(per_event, false),
                 "%s: callbacks batch %lld, per-event %lld", what, callback_total(batch, false),
                 callback_total(per_event, false));
    cr_expect_eq(callback_total(batch, true), callback_total(per_event, true),
                 "%s: counted callbacks batch %lld, per-event %lld", what,
                 callback_total(batch, true), callback_total(per_event, true));
}

static void record_both(char *const cmd[], const char *what, long long expected_callbacks)
{
    json_object *batch = record_launched(cmd, false);
    json_object *per_event = record_launched(cmd, true);
    expect_same_reports(batch, per_event, what);
    /* Identical and right: the workload documents how many callbacks it runs. */
    cr_expect_eq(callback_total(batch, false), expected_callbacks, "%s: %lld callbacks", what,
                 callback_total(batch, false));
    json_object_put(batch);
    json_object_put(per_event);
}

Test(batch_equivalence, tree_record)
{
    /* REQ 300 + TIMER 600 + WRITE 600 callbacks, three levels of nesting. */
    char *cmd[] = {WORKLOAD, "tree", "300", NULL};
    record_both(cmd, "tree", 1500);
}

Test(batch_equivalence, threads_record)
{
    char *cmd[] = {WORKLOAD, "threads", "4", "2000", NULL};
    record_both(cmd, "threads", 8000);
}

Test(batch_equivalence, flood_record)
{
    char *cmd[] = {WORKLOAD, "flood", "20000", NULL};
    record_both(cmd, "flood", 20000);
}

/* A mid-run attach to `workload steady 100 2 10`: the runs differ in how much they see, not
 * in what they must say of what existed before: 100 HOLD, all created before the attach and
 * alive throughout, exact on both paths in the events and in the counters. */
static json_object *record_attached(bool per_event)
{
    struct proc target;
    char pid[32];
    char *wargv[] = {WORKLOAD, "steady", "100", "2", "10", NULL};
    start_ready_target(&target, wargv, pid);
    char *argv[] = {AHPROF, "record", "-q", "-d",      "0.3",
                    "-p",   pid,      "-o", data_path, per_event ? "--per-event" : NULL,
                    NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    kill(target.pid, SIGKILL);
    proc_wait(&target, 5000);
    cr_assert_eq(code, 0, "record -p %s exited %d: %s", path_name(per_event), code, err);
    free(err);
    return report_json();
}

static void expect_steady_truth(json_object *r, bool per_event)
{
    const char *what = "steady attach";
    json_object *hold = find_named(r, "types", "HOLD");
    cr_assert_not_null(hold, "%s %s: HOLD missing", what, path_name(per_event));
    cr_expect_eq(get_int(hold, "active"), 100, "%s %s: HOLD active %lld", what,
                 path_name(per_event), get_int(hold, "active"));
    cr_expect_eq(get_int(counters_of(hold), "active"), 100, "%s %s: HOLD counters active %lld",
                 what, path_name(per_event), get_int(counters_of(hold), "active"));
    cr_expect_eq(get_int(hold, "created"), 0, "%s %s: HOLD created after the attach", what,
                 path_name(per_event));
    cr_expect_eq(get_int(hold, "destroyed"), 0, "%s %s: HOLD destroyed", what,
                 path_name(per_event));
    cr_assert_not_null(find_named(r, "types", "CHURN"), "%s %s: no CHURN in 0.3 s", what,
                       path_name(per_event));
}

Test(batch_equivalence, steady_mid_run_attach_record)
{
    for (int i = 0; i < 2; i++) {
        json_object *r = record_attached(i == 1);
        expect_steady_truth(r, i == 1);
        json_object_put(r);
    }
}

/* `ahprof top --json` to the target's exit; the final interval. */
static json_object *top_final(char *const cmd[], bool per_event)
{
    char *argv[32] = {AHPROF, "top", "--json", "10"};
    int n = 4;
    if (per_event)
        argv[n++] = "--per-event";
    argv[n++] = "--";
    for (int i = 0; cmd[i] && n < 31; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    return top_until_exit(argv);
}

static void top_both(char *const cmd[], const char *what)
{
    json_object *b = top_final(cmd, false), *p = top_final(cmd, true);
    static const char *const totals[] = {
        "events",         "lost_events",       "unmatched_after",
        "live_untracked", "malformed_batches", "malformed_records"};
    for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
        cr_expect_eq(get_int(b, totals[i]), get_int(p, totals[i]),
                     "top %s: %s batch %lld, per-event %lld", what, totals[i],
                     get_int(b, totals[i]), get_int(p, totals[i]));
    cr_expect_eq(get_int(b, "lost_events"), 0, "top %s: lost events", what);
    json_object *bt = array_of(b, "types"), *pt = array_of(p, "types");
    cr_assert_eq(json_object_array_length(bt), json_object_array_length(pt),
                 "top %s: batch %zu types, per-event %zu", what, json_object_array_length(bt),
                 json_object_array_length(pt));
    static const char *const keys[] = {"active", "created", "destroyed", "resolved", "callbacks"};
    for (size_t i = 0; i < json_object_array_length(bt); i++) {
        json_object *t = json_object_array_get_idx(bt, i);
        const char *name = json_object_get_string(json_object_object_get(t, "name"));
        json_object *o = find_named(p, "types", name);
        cr_assert_not_null(o, "top %s: type %s only on the batch path", what, name);
        for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
            cr_expect_eq(get_int(t, keys[j]), get_int(o, keys[j]),
                         "top %s: %s %s batch %lld, per-event %lld", what, name, keys[j],
                         get_int(t, keys[j]), get_int(o, keys[j]));
        for (int path = 0; path < 2; path++) {
            json_object *x = path ? o : t;
            cr_expect_leq(get_int(x, "exclusive_ns"), get_int(x, "callback_ns"),
                          "top %s %s: %s exclusive time above inclusive", what,
                          path ? "per-event" : "batch", name);
        }
    }
    json_object_put(b);
    json_object_put(p);
}

Test(batch_equivalence, tree_top)
{
    char *cmd[] = {WORKLOAD, "tree", "300", NULL};
    top_both(cmd, "tree");
}

Test(batch_equivalence, threads_top)
{
    char *cmd[] = {WORKLOAD, "threads", "4", "2000", NULL};
    top_both(cmd, "threads");
}
