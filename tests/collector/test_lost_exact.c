/*
 * test_lost_exact.c - `ahprof record` over a flood stopped by SIGTERM: every event the BPF side
 * counted (the in-kernel per-type counters the file keeps) is in the file or in its lost count,
 * and nothing is counted twice. The target's threads outnumber the cores many times over, so
 * that most of them are waiting for a CPU when ahprof attaches and hand over their first batch
 * after the attach while a small ring buffer is full: the case where the attach check used to
 * count again, as "raced the attach", events the ring buffer had already counted lost.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

TestSuite(lost_exact, .init = make_data_path, .fini = remove_data, .timeout = 60);

/* What the file and the counters may tell apart, per thread of the target (docs/probes.md,
 * "What is not exact"); they count a callback at its after. At the attach, an after whose before
 * came earlier (counted in the file, not in the counters; twice over when its before was in a
 * batch the ring buffer lost before ahprof saw the thread), and an event that raced the attach
 * (counted lost, seen nowhere); at the stop, a before whose after came later. */
#define OVER_PER_THREAD 4
/* An after in a lost batch whose before came before the attach: counted (untimed) by the BPF
 * side, one event of it in the lost count. */
#define UNDER_PER_THREAD 1

struct outcome {
    long long seen, kept, lost, lost_at_stop;
};

/* Record the flood of THREADS threads with a ring buffer of BUFFER_MIB MiB (PER_EVENT: with
 * --per-event), stop it with SIGTERM after RECORD_MS, and read back what the file says. */
static struct outcome record_flood(const char *threads, const char *buffer_mib, bool per_event,
                                   int record_ms)
{
    struct proc t, a;
    char pid[32];
    char *targv[] = {WORKLOAD, "stream", (char *)threads, NULL};
    start_ready_target(&t, targv, pid);
    char *argv[] = {AHPROF, "record",  "-j", "-b", (char *)buffer_mib,
                    "-o",   data_path, "-p", pid,  per_event ? "--per-event" : NULL,
                    NULL};
    proc_start(&a, argv);
    cr_assert(proc_wait_stderr(&a, "recording pid", 20000), "record did not start");
    usleep((useconds_t)record_ms * 1000);
    kill(a.pid, SIGTERM);
    char *summary_text = proc_read_all(a.out_fd, 30000);
    int code = proc_wait(&a, 30000);
    cr_expect_eq(write(t.in_fd, "\n", 1), 1);
    cr_expect_eq(proc_wait(&t, 10000), 0, "the target did not exit cleanly");
    cr_assert_eq(code, 0, "record exited %d", code);
    json_object *summary = json_tokener_parse(summary_text);
    cr_assert_not_null(summary, "record's summary is not JSON: %s", summary_text);
    free(summary_text);

    json_object *r = report_json_at(data_path);
    json_object *type = find_named(r, "types", "STREAM"), *k;
    cr_assert_not_null(type, "type STREAM missing");
    cr_assert(json_object_object_get_ex(type, "counters", &k) && k != NULL,
              "no in-kernel counters for STREAM");
    struct outcome o = {
        /* The target raises nothing but STREAM lifecycles: init, before, after, destroy. */
        .seen = get_int(k, "created") + get_int(k, "destroyed") + 2 * get_int(k, "callbacks"),
        .kept = get_int(r, "events"),
        .lost = get_int(r, "lost_events"),
        .lost_at_stop = get_int(summary, "lost_at_stop"),
    };
    cr_expect_eq(get_int(summary, "events"), o.kept, "the summary and the file disagree");
    cr_expect_eq(get_int(summary, "lost_events"), o.lost, "the summary and the file disagree");
    cr_expect_eq(get_int(summary, "malformed_batches") + get_int(summary, "malformed_records") +
                     get_int(summary, "unreadable_batches"),
                 0, "the workload wrote nothing malformed");
    json_object_put(summary);
    json_object_put(r);
    return o;
}

static void expect_exact(const char *threads, const char *buffer_mib, bool per_event, int runs)
{
    long long n = atoll(threads);
    const char *how = per_event ? " --per-event" : "";
    for (int i = 0; i < runs; i++) {
        struct outcome o = record_flood(threads, buffer_mib, per_event, 500);
        long long off = o.kept + o.lost - o.seen;
        cr_log_info("%s threads, --buffer %s%s: kernel %lld, file %lld, lost %lld (%lld at the "
                    "stop): %+lld",
                    threads, buffer_mib, how, o.seen, o.kept, o.lost, o.lost_at_stop, off);
        cr_expect_gt(o.lost, 0, "the flood never filled the ring buffer: nothing tested");
        cr_expect(off >= -UNDER_PER_THREAD * n && off <= OVER_PER_THREAD * n,
                  "%s threads, --buffer %s MiB%s, run %d: the kernel counted %lld events, the "
                  "file has %lld and counts %lld lost: %+lld",
                  threads, buffer_mib, how, i + 1, o.seen, o.kept, o.lost, off);
    }
}

/* A 1 MiB ring buffer is full within a millisecond of the attach. */
Test(lost_exact, many_threads_one_mib_buffer)
{
    expect_exact("32", "1", false, 2);
}

Test(lost_exact, many_threads_four_mib_buffer)
{
    expect_exact("32", "4", false, 1);
}

/* The default buffer: what it still holds at the stop is read, and counted lost when ahprof has
 * no time left to write it (lost_at_stop, 0.2 to 2 million events here), on top of what the
 * ring buffer had no room for. */
Test(lost_exact, few_threads_default_buffer)
{
    expect_exact("4", "128", false, 1);
}

/* One probe per event: the ring buffer loses single events, not batches. The five probes are
 * attached one at a time: while ah:before counted and ah:after did not yet, the callbacks begun
 * stayed open on their thread's BPF stack, deeper than it stores, and no later callback of the
 * thread was counted (27 thousand to 1.5 million events over, before the programs started
 * counting only once all were attached). */
Test(lost_exact, many_threads_one_mib_buffer_per_event)
{
    expect_exact("32", "1", true, 1);
}
