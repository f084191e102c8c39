/*
 * test_record_limits.c - `ahprof record` against a target that raises events as fast as it
 * can (and one that barely raises any): --duration and SIGINT/SIGTERM end it (not hang: how
 * fast is bench/stop_latency.sh's), its memory stays under the bound `record --help` documents,
 * what it could not keep is counted as lost, and the file survives SIGKILL of ahprof and a full
 * disk up to its last complete chunk. Also `top` stops on SIGINT on the same target.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ahprof.h"
#include "run.h"

TestSuite(record_limits, .init = make_data_path, .fini = remove_data, .timeout = 60);

/* `ahprof record --help`: peak RSS at most 2 x --buffer + 48 MiB (default buffer 64 MiB). */
#define DEFAULT_BUFFER_MIB 128
#define RSS_BOUND_MIB (2 * DEFAULT_BUFFER_MIB + 48)

/* Threads of the flooding target: together they hand over events faster than ahprof can
 * write them, so that its ring buffer is never empty. */
#define FLOOD_THREADS "2"

/* Stopping later than this is a hang (tens of seconds before the bounded reads), whatever the
 * load of the machine: stopping takes under a second when quiet. */
#define HANG_MS 15000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait for P to exit (SIGKILL after TIMEOUT_MS, which fails the test); returns its exit code
 * (128 + signal when killed) and its peak RSS in KiB. */
static int wait_usage(struct proc *p, int timeout_ms, long *maxrss_kib)
{
    int code = proc_wait(p, timeout_ms);
    cr_expect_not(p->timed_out, "pid %d still running after %d ms", p->pid, timeout_ms);
    if (maxrss_kib)
        *maxrss_kib = p->maxrss_kb;
    return code;
}

static void start_target(struct proc *t, const char *mode, const char *arg, char pid[32])
{
    char *argv[] = {WORKLOAD, (char *)mode, (char *)arg, NULL};
    start_ready_target(t, argv, pid);
}

/* A line on stdin ends the stream and trickle modes. */
static void stop_target(struct proc *t)
{
    cr_expect_eq(write(t->in_fd, "\n", 1), 1);
    cr_expect_eq(proc_wait(t, 10000), 0, "the target did not exit cleanly");
}

static bool get_bool(json_object *obj, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return json_object_get_boolean(v);
}

/* Every event the BPF side saw is in the file or counted as lost, once: the in-kernel counters
 * of TYPE (a type of lifecycles: init, before, after, destroy) against events + lost_events.
 * They count a callback at its after, so lifecycles cut by the attach or the stop count
 * differently on both sides, per thread of the target (docs/probes.md, "What is not exact"):
 * up to 2 over at the attach (an after whose before came earlier, or was lost before ahprof
 * saw the thread), 1 over for an event that raced the attach, 1 over at the stop (a before
 * whose after came later), 1 under at the attach (an after in a lost batch whose before came
 * earlier). A lost batch counted twice would be hundreds over. */
#define OVER_PER_THREAD 4
#define UNDER_PER_THREAD 1

static void expect_everything_accounted(json_object *r, const char *type)
{
    json_object *t = find_named(r, "types", type), *k;
    cr_assert_not_null(t, "type %s missing", type);
    cr_assert(json_object_object_get_ex(t, "counters", &k) && k != NULL,
              "no in-kernel counters for %s", type);
    long long seen = get_int(k, "created") + get_int(k, "destroyed") + 2 * get_int(k, "callbacks");
    long long kept = get_int(r, "events"), lost = get_int(r, "lost_events");
    long long threads = atoll(FLOOD_THREADS);
    /* It allowed 4 batches over, and failed under load with 257372 over: events of a thread's
     * first batches after the attach, counted lost by the BPF side and again as raced. */
    cr_expect(kept + lost >= seen - UNDER_PER_THREAD * threads &&
                  kept + lost <= seen + OVER_PER_THREAD * threads,
              "%s: the kernel saw %lld events, the file has %lld and counts %lld lost (%+lld)",
              type, seen, kept, lost, kept + lost - seen);
    cr_log_info("%s: kernel %lld, file %lld, lost %lld (%+lld)", type, seen, kept, lost,
                kept + lost - seen);
}

Test(record_limits, duration_is_honoured_on_a_flooding_target)
{
    struct proc t, a;
    char pid[32];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    char *argv[] = {AHPROF, "record", "-d", "1", "-o", data_path, "-p", pid, NULL};
    long long start = now_ms();
    proc_start(&a, argv);
    cr_assert(proc_wait_stderr(&a, "recording pid", 20000), "record did not start");
    long long recording = now_ms();
    int code = wait_usage(&a, 30000, NULL);
    long long took = now_ms() - recording, total = now_ms() - start;
    stop_target(&t);
    cr_assert_eq(code, 0, "record exited %d", code);
    /* Before the bounded reads it ran 41 s past a 1 s duration: a hang bound, not a speed
     * claim (bench/stop_latency.sh measures how long stopping takes). */
    cr_expect_lt(took, HANG_MS, "record -d 1 ended %lld ms after it started recording", took);
    cr_log_info("record -d 1: %lld ms from the start of the recording, %lld ms in all", took,
                total);
    json_object *r = report_json_at(data_path);
    cr_expect(get_bool(r, "clean_end"));
    cr_expect_gt(get_int(r, "events"), 0);
    expect_everything_accounted(r, "STREAM");
    json_object_put(r);
}

static void signal_stops_recording(int sig)
{
    struct proc t, a;
    char pid[32];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    char *argv[] = {AHPROF, "record", "-o", data_path, "-p", pid, NULL};
    proc_start(&a, argv);
    cr_assert(proc_wait_stderr(&a, "recording pid", 20000), "record did not start");
    usleep(800000);
    long long start = now_ms();
    kill(a.pid, sig);
    int code = wait_usage(&a, 30000, NULL);
    long long took = now_ms() - start;
    stop_target(&t);
    cr_assert_eq(code, 0, "record exited %d after %s", code, strsignal(sig));
    /* Without the bounded reads it ran tens of seconds (a hang bound, not a speed claim). */
    cr_expect_lt(took, HANG_MS, "record took %lld ms to stop after %s", took, strsignal(sig));
    cr_log_info("record stopped %lld ms after %s", took, strsignal(sig));
    json_object *r = report_json_at(data_path);
    cr_expect(get_bool(r, "clean_end"));
    cr_expect_gt(get_int(r, "events"), 0);
    expect_everything_accounted(r, "STREAM");
    json_object_put(r);
}

Test(record_limits, sigint_stops_a_recording_within_a_second)
{
    signal_stops_recording(SIGINT);
}

Test(record_limits, sigterm_stops_a_recording_within_a_second)
{
    signal_stops_recording(SIGTERM);
}

Test(record_limits, memory_stays_under_the_documented_bound)
{
    struct proc t, a;
    char pid[32];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    char *argv[] = {AHPROF, "record", "-q", "-d", "3", "-o", data_path, "-p", pid, NULL};
    proc_start(&a, argv);
    long maxrss_kib = 0;
    int code = wait_usage(&a, 30000, &maxrss_kib);
    stop_target(&t);
    cr_assert_eq(code, 0, "record exited %d", code);
    cr_expect_lt(maxrss_kib, RSS_BOUND_MIB * 1024L, "peak RSS %ld KiB, bound %d MiB", maxrss_kib,
                 RSS_BOUND_MIB);
    cr_log_info("record peak RSS %ld KiB (bound %d MiB)", maxrss_kib, RSS_BOUND_MIB);
}

/* 4 events every 20 ms: far fewer than an events chunk holds (1365) in the 2 s recorded. */
Test(record_limits, sigkill_keeps_what_was_recorded_up_to_the_last_second)
{
    struct proc t, a;
    char pid[32];
    start_target(&t, "trickle", "20", pid);
    char *argv[] = {AHPROF, "record", "-o", data_path, "-p", pid, NULL};
    proc_start(&a, argv);
    cr_assert(proc_wait_stderr(&a, "recording pid", 20000), "record did not start");
    usleep(2000000);
    kill(a.pid, SIGKILL);
    int code = wait_usage(&a, 10000, NULL);
    stop_target(&t);
    cr_assert_eq(code, 128 + SIGKILL);
    json_object *r = report_json_at(data_path);
    cr_expect(get_bool(r, "truncated"));
    cr_expect_eq(get_int(r, "trailing_bytes"), 0, "the file does not end at a chunk boundary");
    /* 2 s at 200 events/s, of which at most about the last second may be missing. */
    long long events = get_int(r, "events");
    cr_expect_geq(events, 150, "only %lld events survived", events);
    json_object_put(r);
}

/* The disk fills after a few hundred KiB: record stops with exit 1 and one clear line, and
 * what it wrote is readable up to its last complete chunk. The file system is a tmpfs in a
 * private mount namespace, so that nothing else sees it. */
Test(record_limits, full_disk_stops_cleanly_and_leaves_a_readable_prefix)
{
    struct proc t;
    char pid[32], dir[64];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    snprintf(dir, sizeof(dir), "/tmp/ahprof-full-%d", getpid());
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
    char *argv[] = {"/usr/bin/unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "/bin/sh",
                    "-c",
                    "mount -t tmpfs -o size=512k ahprof-full \"$1\" || exit 99; "
                    "\"$2\" record -q -o \"$1/f\" -p \"$3\"; rc=$?; cp \"$1/f\" \"$4\"; exit $rc",
                    "sh",
                    dir,
                    AHPROF,
                    pid,
                    data_path,
                    NULL};
    char *err = NULL;
    long long start = now_ms();
    int code = run_capture(argv, NULL, &err, 30000);
    long long took = now_ms() - start;
    stop_target(&t);
    rmdir(dir);
    cr_assert_neq(code, 99, "cannot mount a tmpfs: %s", err);
    cr_expect_eq(code, 1, "record exited %d on a full disk: %s", code, err);
    cr_expect_not_null(strstr(err, "No space left on device"), "stderr: %s", err);
    cr_expect_lt(took, HANG_MS, "record took %lld ms to give up", took);
    json_object *r = report_json_at(data_path);
    cr_expect(get_bool(r, "truncated"));
    cr_expect_eq(get_int(r, "trailing_bytes"), 0, "the file does not end at a chunk boundary");
    cr_expect_gt(get_int(r, "events"), 0);
    json_object_put(r);
    free(err);
}

Test(record_limits, dev_full_is_an_error)
{
    struct proc t;
    char pid[32];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    char *argv[] = {AHPROF, "record", "-q", "-o", "/dev/full", "-p", pid, NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    stop_target(&t);
    cr_expect_eq(code, 1, "record exited %d: %s", code, err);
    cr_expect_not_null(strstr(err, "No space left on device"), "stderr: %s", err);
    free(err);
}

Test(record_limits, top_stops_on_sigint_on_a_flooding_target)
{
    struct proc t, a;
    char pid[32];
    start_target(&t, "stream", FLOOD_THREADS, pid);
    char *argv[] = {AHPROF, "top", "--json", "1", "-p", pid, NULL};
    proc_start(&a, argv);
    char line[8192];
    cr_assert(proc_read_line(&a, line, sizeof(line), 20000), "top printed nothing");
    long long start = now_ms();
    kill(a.pid, SIGINT);
    int code = wait_usage(&a, 30000, NULL);
    long long took = now_ms() - start;
    stop_target(&t);
    cr_expect_eq(code, 0, "top exited %d", code);
    cr_expect_lt(took, HANG_MS, "top took %lld ms to stop after SIGINT", took);
}
