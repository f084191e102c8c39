/*
 * test_top_stream.c - `ahprof top` on the batch path streams every batch to ahprof, whose
 * decoder keeps top's aggregates and writes the live table; a batch the ring buffer has no room
 * for is walked by the BPF side instead, for its counts and its live slots. With real BPF and a
 * ring buffer made to overflow on purpose (ahprof stopped while the target works): the counts
 * stay exact, the loss is counted, a resource whose destroy was in a lost batch does not stay
 * alive in the live table (never-ran would name it), and one created or run in a lost batch is
 * in it as such (its age known, its callback seen). Also: --buffer is parsed like record's, and
 * the decoder's live_untracked is exact on the streamed path.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint_checks.h"
#include "run.h"

TestSuite(top_stream, .timeout = 60);

/* The never-ran warning on TYPE in interval O, or NULL. */
static json_object *never_ran_of(json_object *o, const char *type)
{
    json_object *w = warnings_of(o);
    for (size_t k = 0; k < json_object_array_length(w); k++) {
        json_object *x = json_object_array_get_idx(w, k);
        if (strcmp(str_of(x, "lint"), "never-ran") == 0 && strcmp(str_of(x, "type"), type) == 0)
            return x;
    }
    return NULL;
}

/* The next interval top printed (NULL at its EOF or after TIMEOUT_MS). */
static json_object *next_interval(struct proc *top, int timeout_ms)
{
    static char line[1 << 16];
    if (!proc_read_line(top, line, sizeof(line), timeout_ms))
        return NULL;
    json_object *o = json_tokener_parse(line);
    cr_assert_not_null(o, "top printed what is not JSON: %.200s", line);
    return o;
}

/* Stop TOP (SIGSTOP), tell its target to go (a line on its stdin, which top does not read and
 * the target inherits, as in test_pending.c), wait for the target's "done", and let top go on.
 * Top's ring buffer is then full with the first of the target's batches: the later ones were
 * walked by the BPF side. */
static void target_works_while_top_is_stopped(struct proc *top)
{
    cr_assert_eq(kill(top->pid, SIGSTOP), 0);
    cr_assert_eq(write(top->in_fd, "go\n", 3), 3);
    bool done = proc_wait_stderr(top, "done", 30000); /* the target's stdout: top's stderr */
    kill(top->pid, SIGCONT);
    cr_assert(done, "the target did not finish its lifecycles");
}

#define HELD 100
#define HELD_S "100"
/* 4 records of 32 bytes each: 25.6 MB of records, 24 times the 1 MiB ring buffer. */
#define FILLS 200000
#define FILLS_S "200000"

/* `top --buffer 1` over `workload hold-lost`: the K HOLDs are created (and seen alive, never
 * run) while top reads; then top is stopped while the target raises M FILL lifecycles and
 * destroys the K HOLDs after them, so that their destroys are in batches the full ring buffer
 * has no room for; then top goes on. */
Test(top_stream, ring_full_keeps_counts_exact_and_nothing_falsely_alive)
{
    char *argv[] = {AHPROF,        "top",         "--json", "--buffer", "1",
                    "--no-kernel", "--never-ran", "100ms",  "0.2",      "--",
                    WORKLOAD,      "hold-lost",   HELD_S,   FILLS_S,    NULL};
    struct proc top;
    proc_start(&top, argv);
    cr_assert(proc_wait_stderr(&top, "ready", 30000), "the target did not get ready");

    /* Before the stop: the K HOLDs are in the live table, which never-ran reads (so the check
     * after the stop can fail). */
    json_object *o = NULL;
    bool seen_alive = false;
    for (int i = 0; i < 50 && !seen_alive; i++) {
        o = next_interval(&top, 5000);
        cr_assert_not_null(o, "top stopped before the HOLDs were seen");
        json_object *hold = find_named(o, "types", "HOLD"), *w = never_ran_of(o, "HOLD");
        seen_alive = hold && get_int(hold, "active") == HELD && w && get_int(w, "count") == HELD;
        cr_expect_eq(get_int(o, "lost_events"), 0, "lost before the stop");
        json_object_put(o);
    }
    cr_assert(seen_alive, "never-ran never named the %d live HOLDs", HELD);

    target_works_while_top_is_stopped(&top);
    cr_assert_eq(write(top.in_fd, "\n", 1), 1); /* the target exits, then top */

    int n;
    json_object *last = top_final_interval(&top, &n); /* exit 0, the last interval final */

    long long records = 4LL * FILLS + 4 + 2LL * HELD, lost = get_int(last, "lost_events");
    cr_log_info("%d intervals after the stop; events %lld, lost %lld", n, get_int(last, "events"),
                lost);
    cr_expect_gt(lost, 0, "the ring buffer never overflowed: nothing tested");
    cr_expect_leq(lost, records);
    cr_expect_eq(get_int(last, "events"), records, "events");
    cr_expect_eq(get_int(last, "malformed_batches") + get_int(last, "malformed_records"), 0);
    expect_type(last, "HOLD", HELD + 1, HELD + 1, 1, 0);
    expect_type(last, "FILL", FILLS, FILLS, FILLS, 0);
    json_object *hold = find_named(last, "types", "HOLD");
    cr_assert_not_null(hold);
    /* oldest_active_s follows the counts (0 whenever active is 0): the live table shows in
     * never-ran. */
    json_object *oldest;
    cr_assert(json_object_object_get_ex(hold, "oldest_active_s", &oldest));
    cr_expect_eq(json_object_get_double(oldest), 0.0);
    json_object *w = never_ran_of(last, "HOLD");
    cr_expect_null(w, "%lld HOLDs destroyed in lost batches still alive in the live table",
                   w ? get_int(w, "count") : 0);
    char all[1024];
    describe(warnings_of(last), all, sizeof(all));
    cr_expect_eq(json_object_array_length(warnings_of(last)), 0, "warnings [%s]", all);
    json_object_put(last);
}

#define RAN 30
#define RAN_S "30"

/* The other way round, `workload create-lost`: top is stopped while the target raises M FILL
 * lifecycles, then creates K HOLDs and runs J of them, all in batches the full ring buffer has
 * no room for. Once top goes on, the K are in the live table as created since the attach (not
 * taken for ones older than the attach), and never-ran names the K - J that never ran: the
 * counts-only walk applied the inits and the callbacks' starts. The FILLs' ids come before the
 * HOLDs' and M + K is below the table's 262144 slots: the decoder, catching up on the FILLs,
 * does not meet the HOLDs' slots. */
Test(top_stream, ring_full_tracks_what_lost_batches_created_and_ran)
{
    char *argv[] = {AHPROF,        "top",   "--json", "--buffer", "1",      "--no-kernel",
                    "--never-ran", "100ms", "0.2",    "--",       WORKLOAD, "create-lost",
                    HELD_S,        RAN_S,   FILLS_S,  NULL};
    struct proc top;
    proc_start(&top, argv);
    cr_assert(proc_wait_stderr(&top, "ready", 30000), "the target did not get ready");
    json_object *o = next_interval(&top, 5000);
    cr_assert_not_null(o, "no interval before the stop");
    json_object_put(o);
    target_works_while_top_is_stopped(&top);

    /* The HOLDs are a little older than 100 ms within a few intervals. */
    json_object *hold = NULL, *w = NULL;
    bool judged = false;
    for (int i = 0; i < 50 && !judged; i++) {
        o = next_interval(&top, 5000);
        cr_assert_not_null(o, "top stopped before the HOLDs were judged");
        hold = find_named(o, "types", "HOLD");
        cr_assert_not_null(hold, "no HOLD");
        json_object *oldest;
        cr_assert(json_object_object_get_ex(hold, "oldest_active_s", &oldest));
        judged = json_object_get_double(oldest) > 0.15;
        if (!judged)
            json_object_put(o);
    }
    cr_assert(judged, "the HOLDs never got 150 ms old");
    cr_log_info("events %lld, lost %lld", get_int(o, "events"), get_int(o, "lost_events"));
    cr_expect_gt(get_int(o, "lost_events"), 0, "the ring buffer never overflowed: nothing tested");
    cr_expect_eq(get_int(o, "events"), 4LL * FILLS + 4 + HELD + 2 * RAN, "events");
    expect_type(o, "HOLD", HELD + 1, 1, RAN + 1, HELD);
    expect_type(o, "FILL", FILLS, FILLS, FILLS, 0);
    json_object *before;
    cr_assert(json_object_object_get_ex(hold, "oldest_before_attach", &before));
    cr_expect(!json_object_get_boolean(before),
              "HOLDs created in lost batches taken for ones older than the attach");
    w = never_ran_of(o, "HOLD");
    cr_expect_not_null(w, "never-ran does not name the HOLDs created in lost batches");
    if (w)
        cr_expect_eq(get_int(w, "count"), HELD - RAN, "never-ran counts %lld HOLDs",
                     get_int(w, "count"));
    json_object_put(o);

    cr_assert_eq(write(top.in_fd, "\n", 1), 1); /* the target destroys them and exits */
    char *rest = proc_read_all(top.out_fd, 20000);
    free(rest);
    int code = proc_wait(&top, 10000);
    cr_assert_eq(code, 0, "top exited %d", code);
}

static void expect_usage_error(char *const argv[], bool json, const char *want)
{
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 10000);
    cr_expect_eq(code, 2, "%s %s %s: exit %d, want 2 (stderr: %s)", argv[1], argv[2], argv[3], code,
                 err);
    if (json) {
        json_object *obj = json_tokener_parse(out), *msg;
        cr_assert_not_null(obj, "not JSON: %s", out);
        cr_assert(json_object_object_get_ex(obj, "error", &msg), "no error: %s", out);
        cr_expect(strstr(json_object_get_string(msg), want) != NULL, "error lacks '%s': %s", want,
                  out);
        json_object_put(obj);
    } else {
        cr_expect(strstr(err, want) != NULL, "stderr lacks '%s': %s", want, err);
        cr_expect_str_empty(out, "stdout: %s", out);
    }
    free(out);
    free(err);
}

/* As record's: a power of two from 1 to 2048 MiB; refused before any target is run. */
Test(top_stream, buffer_is_a_power_of_two_mib)
{
    const char *const bad[] = {"3", "0", "4096", "x", "-2", "1e3", "64x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {AHPROF, "top", "--buffer", (char *)bad[i], "--", WORKLOAD,
                        "tree", "1",   NULL};
        expect_usage_error(argv, false, "invalid --buffer");
        /* --json after the bad value: the error is JSON all the same. */
        char *jargv[] = {AHPROF, "top", "--buffer", (char *)bad[i], "--json", "--", WORKLOAD,
                         "tree", "1",   NULL};
        expect_usage_error(jargv, true, "invalid --buffer");
    }
    char *missing[] = {AHPROF, "top", "--buffer", NULL};
    expect_usage_error(missing, false, "--buffer");

    char *help[] = {AHPROF, "top", "--help", NULL};
    char *out = NULL;
    cr_expect_eq(run_capture(help, &out, NULL, 10000), 0);
    cr_expect(strstr(out, "--buffer MIB") != NULL, "top --help lacks --buffer: %s", out);
    free(out);

    /* Good sizes work (not the largest: 2 GiB of ring buffer on a shared test machine). */
    const char *const good[] = {"1", "128"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *argv[] = {AHPROF, "top", "--json", "--no-kernel", "--buffer", (char *)good[i],
                        "0.2",  "--",  WORKLOAD, "tree",        "50",       NULL};
        json_object *last = top_until_exit(argv);
        expect_type(last, "REQ", 50, 50, 50, 0);
        cr_expect_eq(get_int(last, "lost_events"), 0, "--buffer %s", good[i]);
        json_object_put(last);
    }
}

/* live_untracked, kept by the decoder on the batch path (by the BPF side per event): a live
 * table of 1024 slots and 2000 HOLDs alive at once, of consecutive ids (one thread), so that
 * the last 976 find their slot held by a live one. */
static long long untracked_of(const char *path_flag)
{
    char *argv[16] = {AHPROF, "top", "--json", "--no-kernel", "--max-live", "1024", "0.2"};
    int k = 7;
    if (path_flag)
        argv[k++] = (char *)path_flag;
    argv[k++] = "--";
    argv[k++] = WORKLOAD;
    argv[k++] = "hold-lost";
    argv[k++] = "2000";
    argv[k++] = "0";
    argv[k] = NULL;
    struct proc top;
    proc_start(&top, argv);
    cr_assert(proc_wait_stderr(&top, "ready", 30000), "the target did not get ready");
    char *out = NULL, *err = NULL;
    int code = proc_capture(&top, &out, &err, 30000); /* EOF on its stdin: the target goes on */
    cr_assert_eq(code, 0, "top exited %d: %s", code, err);
    json_object *last = last_json_line(out), *v;
    cr_assert(json_object_object_get_ex(last, "final", &v) && json_object_get_boolean(v));
    expect_type(last, "HOLD", 2001, 2001, 1, 0);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    long long untracked = get_int(last, "live_untracked");
    json_object_put(last);
    free(out);
    free(err);
    return untracked;
}

Test(top_stream, live_untracked_exact_on_both_paths)
{
    long long batch = untracked_of(NULL), per_event = untracked_of("--per-event");
    cr_expect_eq(batch, 2000 - 1024, "batch path: %lld untracked", batch);
    cr_expect_eq(per_event, 2000 - 1024, "per-event path: %lld untracked", per_event);
}

/* A busy chain (linty self-retrigger: each BUSYTIMER creates the next in its callback, a link
 * lives ~0.1 us) while top's 1 MiB ring buffer overflows: the ring buffer then holds more ids
 * than the live table has slots, and the destroy marks the BPF side leaves for inits still in
 * the ring buffer were taken by older ids' inits, so their resources stayed alive for ever:
 * OLDEST grew by 1 s a second (seen before live_rules.h kept recent marks). Now an init that
 * finds a recent mark of another id is not tracked (counted in live_untracked), never alive. */
Test(top_stream, ring_full_on_a_busy_chain_leaves_no_stale_resource)
{
    char *argv[] = {
        AHPROF,           "top",        "--json", "--buffer", "1",
        "--no-kernel",    "0.5",        "7",      "--",       AHP_BUILD "/targets/linty",
        "self-retrigger", "1000000000", NULL};
    struct proc top;
    proc_start(&top, argv);
    json_object *o = next_interval(&top, 20000);
    cr_assert_not_null(o, "top printed nothing");
    json_object_put(o);
    /* The reader away for a moment: the ring buffer overflows for sure. */
    cr_assert_eq(kill(top.pid, SIGSTOP), 0);
    usleep(300000);
    kill(top.pid, SIGCONT);
    int n;
    json_object *last = top_final_interval(&top, &n); /* exit 0, the last interval final */
    cr_assert_geq(n, 5, "%d intervals after the stop", n);
    cr_expect_gt(get_int(last, "lost_events"), 0, "the ring buffer never overflowed");
    json_object *busy = find_named(last, "types", "BUSYTIMER"), *oldest;
    cr_assert_not_null(busy);
    cr_assert(json_object_object_get_ex(busy, "oldest_active_s", &oldest));
    cr_log_info("lost %lld, live_untracked %lld, oldest %.3f s", get_int(last, "lost_events"),
                get_int(last, "live_untracked"), json_object_get_double(oldest));
    /* A stale resource would be at least 2 s old by the last interval. */
    cr_expect_lt(json_object_get_double(oldest), 1.0, "a BUSYTIMER alive for %.3f s",
                 json_object_get_double(oldest));
    json_object_put(last);
}
