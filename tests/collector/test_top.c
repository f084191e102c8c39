/*
 * test_top.c - `ahprof top` against real targets with real BPF: counts that must be exact,
 * attaching mid-run, launching, target exit, signals, threads, hostile names.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

Test(top, launch_mode_counts_every_event_exactly, .timeout = 60)
{
    char *argv[] = {AHPROF, "top", "--json", "10", "--", WORKLOAD, "tree", "200", NULL};
    json_object *last = top_until_exit(argv);
    expect_type(last, "REQ", 200, 200, 200, 0);
    expect_type(last, "TIMER", 400, 400, 400, 0);
    expect_type(last, "WRITE", 400, 400, 400, 0);
    expect_type(last, "LEAK", 200, 0, 0, 200);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    cr_expect_eq(get_int(last, "unmatched_after"), 0);
    /* 200 REQ x (init, before, after, destroy) + 400 TIMER x 4 + 400 WRITE x 4 + 200 LEAK x 1 */
    cr_expect_eq(get_int(last, "events"), 200 * 4 + 400 * 4 + 400 * 4 + 200);
    json_object_put(last);
}

Test(top, static_executable_is_found, .timeout = 60)
{
    char *argv[] = {AHPROF, "top", "--json", "10", "--", WORKLOAD_STATIC, "tree", "20", NULL};
    json_object *last = top_until_exit(argv);
    expect_type(last, "REQ", 20, 20, 20, 0);
    expect_type(last, "LEAK", 20, 0, 0, 20);
    json_object_put(last);
}

Test(top, threads_and_cross_thread_tasks, .timeout = 60)
{
    char *argv[] = {AHPROF, "top", "--json", "10", "--", WORKLOAD, "threads", "4", "5000", NULL};
    json_object *last = top_until_exit(argv);
    expect_type(last, "TASK", 20000, 20000, 20000, 0);
    cr_expect_eq(get_int(last, "unmatched_after"), 0);
    json_object_put(last);
}

Test(top, nested_callback_time_is_split_exclusive, .timeout = 60)
{
    char *argv[] = {AHPROF, "top", "--json", "10", "--", WORKLOAD, "burn", "4", "50", NULL};
    json_object *last = top_until_exit(argv);
    json_object *burn = find_named(last, "types", "BURN"),
                *idle = find_named(last, "types", "IDLE");
    expect_type(last, "BURN", 4, 4, 4, 0);
    expect_type(last, "IDLE", 4, 4, 4, 0);
    /* The spinning type burned at least 4 x 50 ms; the idle one a small fraction of that. */
    cr_expect_geq(get_int(burn, "exclusive_ns"), 4 * 50 * 1000000LL);
    /* Empty callbacks; 10% leaves room for a preempted one or a probe's first hit. */
    cr_expect_lt(get_int(idle, "exclusive_ns") * 10, get_int(burn, "exclusive_ns"));
    json_object_put(last);
}

Test(top, attach_mid_run_counts_resources_created_before, .timeout = 60)
{
    char *wargv[] = {WORKLOAD, "hold", "1000", NULL};
    struct proc w;
    char pid[32];
    start_ready_target(&w, wargv, pid);
    char *targv[] = {AHPROF, "top", "--json", "-p", pid, "0.2", NULL};
    struct proc t;
    proc_start(&t, targv);
    char out[1 << 16];
    cr_assert(proc_read_line(&t, out, sizeof(out), 20000), "no interval from ahprof top");
    json_object *first = json_tokener_parse(out);
    cr_assert_not_null(first);
    /* All 1000 were created before ahprof came: none seen, all active at once. */
    expect_type(first, "HOLD", 0, 0, 0, 1000);
    json_object_put(first);

    /* Let the target finish: it destroys the HOLDs, runs 10 AFTER and exits. */
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    json_object *last = NULL;
    while (proc_read_line(&t, out, sizeof(out), 20000)) {
        if (last)
            json_object_put(last);
        last = json_tokener_parse(out);
        cr_assert_not_null(last);
    }
    cr_expect_eq(proc_wait(&t, 10000), 0, "ahprof top must exit 0 when its target exits");
    cr_expect_eq(proc_wait(&w, 10000), 0);
    cr_assert_not_null(last);
    expect_type(last, "HOLD", 0, 1000, 0, 0);
    expect_type(last, "AFTER", 10, 10, 10, 0);
    json_object_put(last);
}

Test(top, sigint_finishes_output_and_exits_zero, .timeout = 60)
{
    char *wargv[] = {WORKLOAD, "hold", "5", NULL};
    struct proc w;
    char pid[32];
    start_ready_target(&w, wargv, pid);
    char *targv[] = {AHPROF, "top", "--json", "-p", pid, "30", NULL};
    struct proc t;
    proc_start(&t, targv);
    usleep(1500 * 1000); /* attached by then (the interval is 30 s, nothing printed yet) */
    kill(t.pid, SIGINT);
    char out[1 << 16];
    cr_assert(proc_read_line(&t, out, sizeof(out), 10000), "no final interval after SIGINT");
    json_object *obj = json_tokener_parse(out);
    cr_assert_not_null(obj);
    expect_type(obj, "HOLD", 0, 0, 0, 5);
    json_object_put(obj);
    cr_expect_eq(proc_wait(&t, 10000), 0);
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    proc_wait(&w, 10000);
}

Test(top, hostile_type_names_are_escaped, .timeout = 60)
{
    char *argv[] = {AHPROF, "top", "-C", "10", "--", WORKLOAD, "names", NULL};
    char *out = NULL;
    int code = run_capture(argv, &out, NULL, 30000);
    cr_assert_eq(code, 0);
    for (const char *c = out; *c; c++)
        cr_expect(*c == '\n' || (*c >= 0x20 && *c < 0x7f), "raw byte 0x%02x reached the terminal",
                  (unsigned char)*c);
    cr_expect(strstr(out, "esc\\x1b[31mred") != NULL, "ESC shown escaped: %s", out);
    cr_expect(strstr(out, "new\\x0aline") != NULL, "newline shown escaped");
    free(out);

    char *jargv[] = {AHPROF, "top", "--json", "10", "--", WORKLOAD, "names", NULL};
    json_object *last = top_until_exit(jargv);
    expect_type(last, "new\nline", 1, 1, 1, 0);
    expect_type(last, "esc\x1b[31mred\x1b[0m", 1, 1, 1, 0);
    expect_type(last, "<script>alert(1)</script>", 1, 1, 1, 0);
    expect_type(last, "quo\"te'd", 1, 1, 1, 0);
    json_object_put(last);
}

Test(top, target_in_another_mount_namespace, .timeout = 60)
{
    /* Like a container: the target's libah lives on a tmpfs only its mount namespace sees, so
     * ahprof must read it through /proc/PID/root. */
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/ahprof-ns-%d", getpid());
    char *wargv[] = {"/usr/bin/unshare",
                     "-m",
                     "--propagation",
                     "private",
                     "/bin/sh",
                     "-c",
                     "mkdir -p \"$0\" && mount -t tmpfs none \"$0\" && "
                     "cp \"$1/libah.so.0\" \"$1/targets/workload\" \"$0/\" && "
                     "LD_LIBRARY_PATH=\"$0\" exec \"$0/workload\" hold 50",
                     dir,
                     AHP_BUILD,
                     NULL};
    struct proc w;
    char pid[32]; /* unshare exec'ed sh, which exec'ed workload: the same process */
    start_ready_target(&w, wargv, pid);
    char path[128];
    snprintf(path, sizeof(path), "%s/libah.so.0", dir);
    cr_assert(access(path, F_OK) != 0, "the library must be invisible from here");

    char *targv[] = {AHPROF, "top", "--json", "-p", pid, "0.2", "1", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(targv, &out, &err, 30000);
    cr_assert_eq(code, 0, "ahprof top failed: %s", err);
    json_object *obj = json_tokener_parse(out);
    cr_assert_not_null(obj, "not JSON: %s", out);
    expect_type(obj, "HOLD", 0, 0, 0, 50);
    json_object_put(obj);
    free(out);
    free(err);
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    cr_expect_eq(proc_wait(&w, 10000), 0);
    rmdir(dir);
}

Test(top, other_processes_using_libah_are_not_counted, .timeout = 60)
{
    /* The BPF programs have no pid filter of their own: the per-pid attach must keep a
     * neighbour that maps the same libah out of the figures. */
    char *wargv[] = {WORKLOAD, "hold", "5", NULL};
    struct proc w;
    char pid[32];
    start_ready_target(&w, wargv, pid);
    char *nargv[] = {WORKLOAD, "-s", "1", "flood", "300000", NULL};
    struct proc neighbour;
    proc_start(&neighbour, nargv);

    char *targv[] = {AHPROF, "top", "--json", "-p", pid, "3", "1", NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(targv, &out, NULL, 30000), 0);
    json_object *obj = json_tokener_parse(out);
    cr_assert_not_null(obj, "not JSON: %s", out);
    cr_expect_null(find_named(obj, "types", "FLOOD"), "the neighbour's events were counted");
    cr_expect_eq(get_int(obj, "events"), 0);
    expect_type(obj, "HOLD", 0, 0, 0, 5);
    json_object_put(obj);
    free(out);
    cr_expect_eq(proc_wait(&neighbour, 30000), 0);
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    proc_wait(&w, 10000);
}
