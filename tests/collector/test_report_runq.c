/*
 * test_report_runq.c - run-queue delay per type in a `record --cpu` recording (the KSTATS
 * chunk) and in `report`, with real BPF against tests/targets/runq_truths.c.
 *
 * The truth: two SCHED_RR threads (priority 1) pinned to one CPU spin in SPIN callbacks, so
 * each one, when its round-robin quantum ends, waits in the run queue for the other's whole
 * quantum (sched_rr_timeslice_ms, 100 ms by default): the SPIN p50 is that quantum, within
 * the log2 bucket. Why real time: with normal threads the wait is a CFS/EEVDF slice (about
 * 1.5 ms on 2 CPUs), but on a shared VM every wakeup of another process on that CPU also
 * preempts a spinner for a few microseconds, and those short waits outnumbered the slices in
 * a run here (SPIN p50 32 us out of 2809 waits); normal threads cannot preempt real-time
 * ones, so only the quantum rotations remain (and, if the kernel's fair server lends CPU to
 * normal threads, waits of tens of ms, long too). The NAP thread, normal priority and pinned
 * elsewhere, sleeps 2 ms inside each of its 100 callbacks: a woken sleeper runs at once on a
 * CPU without our spinners, so its waits are microseconds (8 to 16 us here), and even behind
 * other processes' load milliseconds at most. Bounds: SPIN p50 at least half the quantum,
 * NAP p50 at least 16x below SPIN's; NAP counted once per wakeup (a wakeup that races its
 * own switch-out is not counted: 90 of 100 at least); SPIN at least 4 waits (2 x 400 ms of
 * CPU in 100 ms quanta).
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

/* The round-robin quantum of SCHED_RR threads, ns. */
static long long rr_quantum_ns(void)
{
    FILE *f = fopen("/proc/sys/kernel/sched_rr_timeslice_ms", "r");
    long long ms = 100;
    if (f != NULL) {
        if (fscanf(f, "%lld", &ms) != 1)
            ms = 100;
        fclose(f);
    }
    return ms * 1000000;
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
    long long quantum = rr_quantum_ns();
    cr_expect_geq(spin_n, 4, "SPIN: %lld run-queue waits", spin_n);
    cr_expect_geq(nap_n, 90, "NAP: %lld run-queue waits, one per wakeup expected", nap_n);
    cr_expect_leq(nap_n, 200, "NAP: %lld run-queue waits", nap_n);
    cr_expect_geq(spin50, quantum / 2, "SPIN p50 %lld ns: below the %lld ns quantum", spin50,
                  quantum);
    cr_expect_geq(spin99, spin50);
    cr_expect_leq(nap50 * 16, spin50 + 1, "NAP p50 %lld ns not well below SPIN's %lld ns", nap50,
                  spin50);
}

TestSuite(report_runq, .timeout = 120, .init = make_data_path, .fini = remove_data);

/* Two spinners sharing a CPU wait a quantum each time; a sleeper elsewhere barely waits: in
 * report --json under top's names, and in the text report's KERNEL section. */
Test(report_runq, spinners_sharing_a_cpu_wait_a_quantum)
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
    cr_expect_not_null(strstr(out, "RUNQ50_US"), "no run-queue columns: %s", out);
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
