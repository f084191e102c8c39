/*
 * test_report_runq.c - run-queue delay per type in a `record --cpu` recording (the KSTATS
 * chunk) and in `report`, with real BPF against tests/targets/runq_truths.c.
 *
 * The truth: two threads pinned to one CPU spin in SPIN callbacks, so every time one is
 * switched out it waits in the run queue for at least the other's scheduler slice (EEVDF's
 * base slice is 0.75 ms x (1 + log2 CPUs), 1.5 ms on 2 CPUs; the tick cuts it no shorter
 * than that; other load on that CPU only makes the wait longer). The NAP thread, pinned
 * elsewhere, sleeps 2 ms inside each of its 100 callbacks: a woken sleeper runs at once on a
 * CPU that has no runnable thread of ours, so its waits are microseconds, unless the
 * machine's other load is in the way. The asserted bounds leave room for that load on a
 * shared 2-core VM: SPIN's p50 at least 0.5 ms (its bucket's upper bound: half the base
 * slice fits in it), NAP's p50 at least two log2 buckets (4x) below SPIN's, and both types
 * counted (every NAP wakeup is one wait; SPIN, 2 x 400 ms of CPU on one CPU, is switched out
 * hundreds of times, at least 20 here).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define RUNQ_TRUTHS AHP_BUILD "/targets/runq_truths"

/* Record runq_truths with `ahprof record -p PID OPT` into data_path, from before it starts to
 * its end. With KILL_AFTER_MS, ahprof gets SIGKILL that long after the target is done (the
 * target still alive), so that the file ends as a crash leaves it. */
static void record_runq(const char *opt, int kill_after_ms)
{
    struct proc target, rec;
    char pid[32];
    char *targv[] = {RUNQ_TRUTHS, NULL};
    start_ready_target(&target, targv, pid);
    char *rargv[] = {AHPROF, "record", "-p", pid, "-o", data_path, (char *)opt, NULL};
    proc_start(&rec, rargv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char line[64];
    cr_assert(proc_read_line(&target, line, sizeof(line), 30000) && strcmp(line, "done") == 0,
              "runq_truths did not finish");
    if (kill_after_ms > 0) {
        usleep((useconds_t)kill_after_ms * 1000);
        cr_assert_eq(kill(rec.pid, SIGKILL), 0);
        proc_capture(&rec, NULL, NULL, 10000);
        proc_capture(&target, NULL, NULL, 10000);
        return;
    }
    cr_assert_eq(proc_capture(&target, NULL, NULL, 10000), 0);
    char *err = NULL;
    cr_assert_eq(proc_capture(&rec, NULL, &err, 20000), 0, "record failed: %s", err);
    free(err);
}

static bool has_key(json_object *o, const char *key)
{
    json_object *v;
    return o != NULL && json_object_object_get_ex(o, key, &v);
}

/* The truths above, on report --json's types. */
static void expect_runq_truths(json_object *r)
{
    json_object *spin = find_named(r, "types", "SPIN"), *nap = find_named(r, "types", "NAP");
    cr_assert_not_null(spin);
    cr_assert_not_null(nap);
    long long spin_n = get_int(spin, "runq_count"), nap_n = get_int(nap, "runq_count");
    long long spin50 = get_int(spin, "runq_p50_ns"), spin99 = get_int(spin, "runq_p99_ns");
    long long nap50 = get_int(nap, "runq_p50_ns");
    cr_log_info("SPIN: %lld waits, p50 %lld ns, p99 %lld ns; NAP: %lld waits, p50 %lld ns", spin_n,
                spin50, spin99, nap_n, nap50);
    cr_expect_geq(spin_n, 20, "SPIN: %lld run-queue waits", spin_n);
    cr_expect_geq(nap_n, 100, "NAP: %lld run-queue waits, one per wakeup expected", nap_n);
    cr_expect_leq(nap_n, 200, "NAP: %lld run-queue waits", nap_n);
    cr_expect_geq(spin50, 524287, "SPIN p50 %lld ns: below a scheduler slice", spin50);
    cr_expect_geq(spin99, spin50);
    cr_expect_leq(nap50 * 4, spin50 + 1, "NAP p50 %lld ns not well below SPIN's %lld ns", nap50,
                  spin50);
}

TestSuite(report_runq, .timeout = 120, .init = make_data_path, .fini = remove_data);

/* Two spinners sharing a CPU wait a slice each time; a sleeper elsewhere barely waits: in
 * report --json under top's names, and in the text report's KERNEL section. */
Test(report_runq, spinners_sharing_a_cpu_wait_a_slice)
{
    record_runq("--cpu", 0);
    json_object *r = report_json();
    expect_runq_truths(r);
    json_object *kernel, *outside;
    cr_assert(json_object_object_get_ex(r, "kernel", &kernel) && kernel != NULL);
    cr_assert(json_object_object_get_ex(kernel, "outside_callbacks", &outside));
    cr_expect(has_key(outside, "runq_count"), "no runq_count outside callbacks");
    json_object_put(r);

    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_capture(argv, &out, &err, 60000), 0, "report: %s", err);
    cr_expect_not_null(strstr(out, "RUNQ50_MS"), "no run-queue columns: %s", out);
    const char *row = strstr(out, "\nSPIN ");
    cr_expect_not_null(row, "no SPIN row in: %s", out);
    free(out);
    free(err);
}

/* A recording without the kernel view has no run-queue figure: no zeros that look measured. */
Test(report_runq, no_figures_without_cpu)
{
    record_runq(NULL, 0);
    json_object *r = report_json();
    json_object *spin = find_named(r, "types", "SPIN");
    cr_assert_not_null(spin);
    cr_expect(!has_key(spin, "runq_count") && !has_key(spin, "runq_p50_ns") &&
                  !has_key(spin, "runq_p99_ns"),
              "run-queue figures without --cpu");
    json_object_put(r);
}

/* record writes the aggregates every 2 s while they change: a recording whose ahprof was
 * killed (no end, no final KSTATS) still has the ones written before. */
Test(report_runq, killed_recording_keeps_the_last_figures)
{
    record_runq("--cpu", 3000);
    json_object *r = report_json();
    json_object *v;
    cr_assert(json_object_object_get_ex(r, "truncated", &v));
    cr_expect(json_object_get_boolean(v), "the killed recording is not truncated");
    expect_runq_truths(r);
    json_object_put(r);
}
