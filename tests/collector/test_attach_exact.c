/*
 * test_attach_exact.c - counts after a mid-run attach are exact, attach after attach: one
 * long-running target, `ahprof record -p` and `ahprof top -p` attached and detached over and
 * over. Each detach leaves the target's threads holding buffered records (they block with a
 * partly filled buffer), each attach must count what exists from the registry and what
 * happens next from the probes, never both and never neither.
 *
 * The truth: `workload steady 100 2 10` holds 100 HOLD for its whole life, and each of its 2
 * threads has at most one CHURN and one CHILD alive at any moment.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

TestSuite(attach_exact, .init = make_data_path, .fini = remove_data, .timeout = 150);

#define HOLDS 100
#define THREADS 2

static void start_steady(struct proc *target, char pid[32])
{
    char *argv[] = {WORKLOAD, "steady", "100", "2", "10", NULL};
    start_ready_target(target, argv, pid);
}

static void stop_steady(struct proc *target)
{
    kill(target->pid, SIGKILL);
    proc_wait(target, 5000);
}

/* ACTIVE (and the in-kernel counters' active, when COUNTERS) of every type as the truth
 * allows it: HOLD exactly, CHURN and CHILD between 0 and one per thread. */
static void expect_truth(json_object *root, const char *what, int cycle, bool counters)
{
    static const char *const churning[] = {"CHURN", "CHILD"};
    json_object *hold = find_named(root, "types", "HOLD");
    cr_assert_not_null(hold, "%s cycle %d: HOLD missing", what, cycle);
    cr_assert_eq(get_int(hold, "active"), HOLDS, "%s cycle %d: HOLD active %lld", what, cycle,
                 get_int(hold, "active"));
    if (counters) {
        json_object *k;
        cr_assert(json_object_object_get_ex(hold, "counters", &k));
        cr_assert_eq(get_int(k, "active"), HOLDS, "%s cycle %d: HOLD counters active %lld", what,
                     cycle, get_int(k, "active"));
    }
    for (int i = 0; i < 2; i++) {
        json_object *t = find_named(root, "types", churning[i]);
        if (t == NULL)
            continue; /* attached while the threads slept: nothing of it yet */
        long long active = get_int(t, "active");
        cr_assert(active >= 0 && active <= THREADS, "%s cycle %d: %s active %lld", what, cycle,
                  churning[i], active);
        if (counters) {
            json_object *k;
            cr_assert(json_object_object_get_ex(t, "counters", &k));
            active = get_int(k, "active");
            cr_assert(active >= 0 && active <= THREADS, "%s cycle %d: %s counters active %lld",
                      what, cycle, churning[i], active);
        }
    }
}

static void record_cycles(int cycles, bool per_event)
{
    struct proc target;
    char pid[32];
    start_steady(&target, pid);
    const char *what = per_event ? "record --per-event" : "record";
    for (int cycle = 0; cycle < cycles; cycle++) {
        char *argv[] = {AHPROF, "record", "-q", "-d",      "0.01",
                        "-p",   pid,      "-o", data_path, per_event ? "--per-event" : NULL,
                        NULL};
        char *err = NULL;
        int code = run_capture(argv, NULL, &err, 30000);
        cr_assert_eq(code, 0, "%s cycle %d exited %d: %s", what, cycle, code, err);
        free(err);
        json_object *root = report_json();
        cr_assert_eq(get_int(root, "lost_events"), 0, "%s cycle %d: %lld lost", what, cycle,
                     get_int(root, "lost_events"));
        expect_truth(root, what, cycle, true);
        json_object_put(root);
    }
    stop_steady(&target);
}

/* 50 cycles, not 100: with the fix of 981d74d reverted, 13 runs failed (lost events) at cycle
 * 1, 2, 2, 3, 4, 4, 4, 5, 5, 5, 8, 12 and 48, about 1 cycle in 9: 50 cycles miss that
 * regression about 3 times in 1000, in half the time (each cycle is a record start, ~0.8 s). */
Test(attach_exact, batch_record_50_attach_detach_cycles)
{
    record_cycles(50, false);
}

Test(attach_exact, per_event_record_attach_detach_cycles)
{
    record_cycles(8, true);
}

/* top computes ACTIVE in the kernel's counters and its own snapshot arithmetic only. */
Test(attach_exact, top_attach_detach_cycles)
{
    struct proc target;
    char pid[32];
    start_steady(&target, pid);
    for (int cycle = 0; cycle < 6; cycle++) {
        bool per_event = cycle % 3 == 2;
        char *argv[] = {AHPROF, "top",  "--json", "-p",
                        pid,    "0.01", "1",      per_event ? "--per-event" : NULL,
                        NULL};
        char *out = NULL, *err = NULL;
        int code = run_capture(argv, &out, &err, 30000);
        cr_assert_eq(code, 0, "top cycle %d exited %d: %s", cycle, code, err);
        json_object *root = json_tokener_parse(out);
        cr_assert_not_null(root, "top cycle %d: not JSON: %.200s", cycle, out);
        cr_assert_eq(get_int(root, "lost_events"), 0);
        expect_truth(root, per_event ? "top --per-event" : "top", cycle, false);
        json_object_put(root);
        free(out);
        free(err);
    }
    stop_steady(&target);
}
