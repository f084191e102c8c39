/*
 * test_fork.c - a traced program's children never crash (src/lib/fork.c, docs/probes.md,
 * "Fork"). The kernel turns a 5-byte-nop probe site that a traced process has hit into a call
 * to a trampoline page of that process; fork() copies the call but not the page. Each test
 * attaches a real tracer (ahprof record or top, batch or --per-event, or bpftrace on ah:init)
 * to tests/targets/forker while it raises events, lets the probe sites be hit, then has it
 * make a child that raises libah events itself (fork) or runs a fresh image (vfork + exec,
 * posix_spawn), and asserts the child exited 0, not killed by SIGSEGV. The static and shared
 * builds of libah both run. The last tests profile the child on its own afterwards.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define FORKER AHP_BUILD "/targets/forker"
#define FORKER_STATIC AHP_BUILD "/targets/forker-static"
#define LIBAH_SO AHP_BUILD "/libah.so"

enum tracer { RECORD, RECORD_PER_EVENT, TOP, TOP_PER_EVENT, BPFTRACE };

/* Whether the kernel patched a probe site into a call: the hazard the test is about. */
static bool has_trampoline(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        found |= strstr(line, "[uprobes-trampoline]") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Start TRACER on PID and wait until its probes are attached. */
static void start_tracer(struct proc *tr, enum tracer which, const char *pid, bool static_link)
{
    switch (which) {
    case RECORD:
    case RECORD_PER_EVENT: {
        char *argv[] = {AHPROF,
                        "record",
                        "-o",
                        data_path,
                        "-p",
                        (char *)pid,
                        which == RECORD_PER_EVENT ? "--per-event" : NULL,
                        NULL};
        proc_start(tr, argv);
        cr_assert(proc_wait_stderr(tr, "recording pid", 15000), "record did not attach");
        break;
    }
    case TOP:
    case TOP_PER_EVENT: {
        char *argv[] = {AHPROF,
                        "top",
                        "--json",
                        "-p",
                        (char *)pid,
                        "0.1",
                        which == TOP_PER_EVENT ? "--per-event" : NULL,
                        NULL};
        proc_start(tr, argv);
        char line[1 << 14];
        cr_assert(proc_read_line(tr, line, sizeof(line), 15000), "top printed nothing");
        break;
    }
    case BPFTRACE: {
        char prog[512];
        snprintf(prog, sizeof(prog), "usdt:%s:ah:init { @inits = count(); }",
                 static_link ? FORKER_STATIC : LIBAH_SO);
        char *argv[] = {"/usr/bin/bpftrace", "-p", (char *)pid, "-e", prog, NULL};
        proc_start(tr, argv);
        char line[512];
        cr_assert(proc_read_line(tr, line, sizeof(line), 30000) &&
                      strstr(line, "Attaching") != NULL,
                  "bpftrace did not attach");
        break;
    }
    }
}

/* The forker's verdict on its child: "child exited 0" is the only good one. */
static void expect_child_ok(struct proc *target)
{
    char line[256] = "";
    cr_assert(proc_read_line(target, line, sizeof(line), 20000), "no word from the forker");
    cr_expect_str_eq(line, "child exited 0", "the traced program's child: %s", line);
    cr_expect_eq(proc_wait(target, 10000), 0);
}

static void fork_under(enum tracer which, const char *how, bool static_link)
{
    char pid[32];
    struct proc target, tr;
    char *targv[] = {static_link ? FORKER_STATIC : FORKER, (char *)how, "2000", NULL};
    start_ready_target(&target, targv, pid);
    start_tracer(&tr, which, pid, static_link);
    usleep(300 * 1000); /* ~3000 lifecycles: every site is hit, and patched if it can be */
    if (!has_trampoline(target.pid))
        cr_log_warn("no [uprobes-trampoline] in the target: this kernel does not optimise "
                    "uprobes, the hazard is not exercised");
    cr_assert(write(target.in_fd, "\n", 1) == 1);
    expect_child_ok(&target);
    kill(tr.pid, SIGINT);
    cr_expect_eq(proc_wait(&tr, 20000), 0, "the tracer did not end cleanly");
}

TestSuite(fork, .init = make_data_path, .fini = remove_data, .timeout = 120);

Test(fork, record_batch_static)
{
    fork_under(RECORD, "fork", true);
}
Test(fork, record_batch_shared)
{
    fork_under(RECORD, "fork", false);
}
Test(fork, record_per_event_static)
{
    fork_under(RECORD_PER_EVENT, "fork", true);
}
Test(fork, record_per_event_shared)
{
    fork_under(RECORD_PER_EVENT, "fork", false);
}
Test(fork, top_batch_static)
{
    fork_under(TOP, "fork", true);
}
Test(fork, top_batch_shared)
{
    fork_under(TOP, "fork", false);
}
Test(fork, top_per_event_static)
{
    fork_under(TOP_PER_EVENT, "fork", true);
}
Test(fork, top_per_event_shared)
{
    fork_under(TOP_PER_EVENT, "fork", false);
}
Test(fork, bpftrace_static)
{
    fork_under(BPFTRACE, "fork", true);
}
Test(fork, bpftrace_shared)
{
    fork_under(BPFTRACE, "fork", false);
}
Test(fork, vfork_exec_static)
{
    fork_under(RECORD, "vfork", true);
}
Test(fork, vfork_exec_shared)
{
    fork_under(RECORD, "vfork", false);
}
Test(fork, posix_spawn_static)
{
    fork_under(RECORD_PER_EVENT, "spawn", true);
}
Test(fork, posix_spawn_shared)
{
    fork_under(RECORD_PER_EVENT, "spawn", false);
}

/* Launched by ahprof (`record -- forker fork N`): the same child, the same verdict, which
 * the forker also leaves in its exit status (record's launched program). */
Test(fork, record_launch)
{
    struct proc tr;
    char *argv[] = {AHPROF, "record", "-o", data_path, "--", FORKER_STATIC, "fork", "2000", NULL};
    proc_start(&tr, argv);
    cr_assert(proc_wait_stderr(&tr, "recording pid", 15000), "record did not start");
    usleep(300 * 1000);
    cr_assert(write(tr.in_fd, "\n", 1) == 1);
    char *out = proc_read_all(tr.out_fd, 20000);
    cr_expect(strstr(out, "child exited 0") != NULL, "the launched program's child: %s", out);
    cr_expect_eq(proc_wait(&tr, 20000), 0);
    free(out);
}

/* The child outlives the parent's tracer and is then profiled on its own with `top -p`:
 * its STAY callbacks are seen, and it still exits 0 on SIGTERM. */
static void child_profiled_later(bool static_link, bool parent_traced_meanwhile)
{
    char pid[32];
    struct proc target, tr;
    char *targv[] = {static_link ? FORKER_STATIC : FORKER, "stay", "100", NULL};
    start_ready_target(&target, targv, pid);
    start_tracer(&tr, RECORD, pid, static_link);
    usleep(300 * 1000);
    if (!parent_traced_meanwhile) {
        kill(tr.pid, SIGINT);
        cr_expect_eq(proc_wait(&tr, 20000), 0);
    }
    cr_assert(write(target.in_fd, "\n", 1) == 1);
    char line[256] = "";
    cr_assert(proc_read_line(&target, line, sizeof(line), 20000), "no child pid");
    int child = 0;
    cr_assert(sscanf(line, "child %d", &child) == 1, "unexpected: %s", line);
    char cpid[32];
    snprintf(cpid, sizeof(cpid), "%d", child);
    char *out = NULL, *err = NULL;
    char *top[] = {AHPROF, "top", "--json", "-p", cpid, "0.3", "2", NULL};
    cr_expect_eq(run_capture(top, &out, &err, 30000), 0, "top -p CHILD: %s", err);
    long long stay_callbacks = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        json_object *obj = json_tokener_parse(l);
        cr_assert_not_null(obj, "not JSON: %s", l);
        json_object *t = find_named(obj, "types", "STAY");
        if (t)
            stay_callbacks += get_int(t, "callbacks");
        json_object_put(obj);
    }
    cr_expect_gt(stay_callbacks, 50, "top -p CHILD saw %lld STAY callbacks", stay_callbacks);
    free(out);
    free(err);
    kill(child, SIGTERM);
    expect_child_ok(&target);
    if (parent_traced_meanwhile) {
        kill(tr.pid, SIGINT);
        cr_expect_eq(proc_wait(&tr, 20000), 0);
    }
}

Test(fork, child_profiled_later_static)
{
    child_profiled_later(true, false);
}
Test(fork, child_profiled_later_shared)
{
    child_profiled_later(false, false);
}
Test(fork, child_profiled_while_parent_traced)
{
    child_profiled_later(true, true);
}
