/*
 * test_stuck.c - `ahprof stuck -p PID` on processes stuck in known ways (tests/targets/
 * stuckers.c): a deadlock between two callbacks, a callback blocked reading an empty pipe, an
 * idle event loop, and a process that damages the execution stack ahprof reads (run with the
 * ASan+UBSan ahprof). The target prints what must be found (ids, tids, mutex addresses, fds);
 * every figure checked comes from there or from the kernel.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define STUCKERS AHP_BUILD "/targets/stuckers"
#define AHPROF_ASAN AHP_BUILD "/asan/ahprof"

static void sanitized(void)
{
    setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1", 1);
    setenv("UBSAN_OPTIONS", "exitcode=87:print_stacktrace=1", 1);
}

TestSuite(stuck, .init = sanitized, .timeout = 60);

/* What the target printed before "ready": NAME VALUE lines. */
struct facts {
    int n;
    char name[16][32];
    unsigned long long value[16];
};

static void start_stucker(struct proc *p, char *const argv[], struct facts *f)
{
    proc_start(p, argv);
    memset(f, 0, sizeof(*f));
    char line[256];
    for (int lines = 0; lines < 32; lines++) {
        cr_assert(proc_read_line(p, line, sizeof(line), 10000), "%s %s did not get ready", argv[0],
                  argv[1]);
        if (strcmp(line, "ready") == 0)
            return;
        cr_assert_lt(f->n, 16);
        cr_assert_eq(sscanf(line, "%31s %llu", f->name[f->n], &f->value[f->n]), 2, "line '%s'",
                     line);
        f->n++;
    }
    cr_assert_fail("no ready line");
}

static unsigned long long fact(const struct facts *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    cr_assert_fail("the target did not say %s", name);
    return 0;
}

static void stop(struct proc *p)
{
    kill(p->pid, SIGKILL);
    proc_wait(p, 10000);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `AHPROF stuck --json -p PID [WINDOW]`, asserted to exit 0 with one JSON object. */
static json_object *stuck_json(const char *ahprof, pid_t pid, const char *window)
{
    char pid_arg[32];
    snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
    char *argv[] = {(char *)ahprof, "stuck", "--json", "-p", pid_arg, NULL, NULL, NULL};
    if (window) {
        argv[5] = "-w";
        argv[6] = (char *)window;
    }
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_assert_eq(code, 0, "ahprof stuck exited %d: %s", code, err);
    cr_assert(err == NULL || strstr(err, "Sanitizer") == NULL, "sanitizer report: %s", err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "not JSON: %.300s", out);
    free(out);
    free(err);
    return root;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return v;
}

static const char *get_str(json_object *obj, const char *key)
{
    json_object *v = get(obj, key);
    return json_object_is_type(v, json_type_null) ? NULL : json_object_get_string(v);
}

static json_object *thread_of(json_object *root, long long tid)
{
    json_object *threads = get(root, "threads");
    for (size_t i = 0; i < json_object_array_length(threads); i++) {
        json_object *t = json_object_array_get_idx(threads, i);
        if (get_int(t, "tid") == tid)
            return t;
    }
    cr_assert_fail("thread %lld not shown", tid);
    return NULL;
}

static json_object *frame(json_object *thread, size_t innermost_index)
{
    json_object *frames = get(get(thread, "async_stack"), "frames");
    cr_assert_gt(json_object_array_length(frames), innermost_index);
    return json_object_array_get_idx(frames, innermost_index);
}

static long long live_count(json_object *root, const char *type)
{
    json_object *live = get(root, "live");
    for (size_t i = 0; i < json_object_array_length(live); i++) {
        json_object *l = json_object_array_get_idx(live, i);
        if (strcmp(get_str(l, "type"), type) == 0)
            return get_int(l, "count");
    }
    return 0;
}

/* A thread waits on the futex of the mutex the other one holds, inside its callback. */
static void expect_deadlocked(json_object *t, const char *type, unsigned long long id,
                              unsigned long long waits_on)
{
    cr_expect_str_eq(get_str(t, "verdict"), "blocked-in-callback");
    cr_expect_str_eq(get_str(t, "state"), "S");
    json_object *sys = get(t, "syscall");
    cr_assert(!json_object_is_type(sys, json_type_null), "no syscall");
    cr_expect_str_eq(get_str(sys, "name"), "futex");
    cr_expect_eq((unsigned long long)get_int(t, "futex_addr"), waits_on);
    cr_expect_str_eq(get_str(get(t, "async_stack"), "status"), "ok");
    cr_expect_str_eq(get_str(frame(t, 0), "type"), type);
    cr_expect_eq((unsigned long long)get_int(frame(t, 0), "id"), id);
    cr_expect(json_object_get_boolean(get(t, "blocked_whole_window")));
    cr_expect_eq(get_int(t, "blocked_ns"), get_int(t, "window_ns"));
    cr_expect_eq(get_int(t, "cpu_ns"), 0);
}

Test(stuck, deadlock_shows_both_threads_their_async_stacks_and_futex_waits)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "deadlock", NULL};
    start_stucker(&p, argv, &f);
    json_object *root = stuck_json(AHPROF, p.pid, NULL);
    stop(&p);
    /* The default window is short (how long stuck takes is bench/stuck.sh's, not a test's). */
    cr_expect_eq(get_int(root, "window_ns"), 200000000LL);

    json_object *a = thread_of(root, (long long)fact(&f, "tid_a"));
    json_object *b = thread_of(root, (long long)fact(&f, "tid_b"));
    expect_deadlocked(a, "LOCKA", fact(&f, "lock_a_id"), fact(&f, "mutex2"));
    expect_deadlocked(b, "LOCKB", fact(&f, "lock_b_id"), fact(&f, "mutex1"));
    /* A's whole async stack: LOCKA created by REQ's scope... no: by the main thread with REQ
     * as its explicit trigger, inside REQ's callback. */
    cr_expect_eq(get_int(get(a, "async_stack"), "depth"), 2);
    cr_expect_eq((unsigned long long)get_int(frame(a, 0), "trigger_id"), fact(&f, "req_id"));
    cr_expect_str_eq(get_str(frame(a, 1), "type"), "REQ");
    cr_expect_eq((unsigned long long)get_int(frame(a, 1), "id"), fact(&f, "req_id"));
    cr_expect_eq(get_int(frame(a, 1), "trigger_id"), 1);
    cr_expect_eq(get_int(get(b, "async_stack"), "depth"), 1);

    /* The two blocked callbacks first; the main thread, in pthread_join outside any
     * callback, after them. */
    cr_expect_lt(get_int(a, "rank"), 2);
    cr_expect_lt(get_int(b, "rank"), 2);
    json_object *main_thread = thread_of(root, (long long)fact(&f, "main_tid"));
    cr_expect_str_eq(get_str(main_thread, "verdict"), "waiting");
    cr_expect_eq(get_int(main_thread, "rank"), 2);
    cr_expect_eq(get_int(get(main_thread, "async_stack"), "depth"), 0);

    /* Who holds each mutex, from glibc's owner field: a cycle of two. */
    cr_expect_eq((unsigned long long)get_int(a, "futex_holder_tid"), fact(&f, "tid_b"));
    cr_expect_eq((unsigned long long)get_int(b, "futex_holder_tid"), fact(&f, "tid_a"));
    cr_expect(json_object_get_boolean(get(a, "deadlocked")));
    cr_expect(json_object_get_boolean(get(b, "deadlocked")));
    cr_expect(!json_object_get_boolean(get(main_thread, "deadlocked")));
    json_object *deadlocks = get(root, "deadlocks");
    cr_assert_eq(json_object_array_length(deadlocks), 1);
    json_object *cycle = json_object_array_get_idx(deadlocks, 0);
    cr_assert_eq(json_object_array_length(cycle), 2);
    unsigned long long low =
        fact(&f, "tid_a") < fact(&f, "tid_b") ? fact(&f, "tid_a") : fact(&f, "tid_b");
    unsigned long long high = fact(&f, "tid_a") ^ fact(&f, "tid_b") ^ low;
    cr_expect_eq((unsigned long long)json_object_get_int64(json_object_array_get_idx(cycle, 0)),
                 low);
    cr_expect_eq((unsigned long long)json_object_get_int64(json_object_array_get_idx(cycle, 1)),
                 high);

    cr_expect_eq(live_count(root, "REQ"), 1);
    cr_expect_eq(live_count(root, "LOCKA"), 1);
    cr_expect_eq(live_count(root, "LOCKB"), 1);
    json_object_put(root);
}

/* How long a thread has been asleep: the scheduler's last switch-in of each deadlocked thread
 * lies between the target's start and its "ready" line. */
Test(stuck, deadlocked_threads_last_ran_before_ready)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "deadlock", NULL};
    double spawned = now_s();
    start_stucker(&p, argv, &f);
    double ready_at = now_s();
    usleep(1000000);
    json_object *root = stuck_json(AHPROF, p.pid, "20ms");
    double done = now_s();
    stop(&p);
    cr_expect(json_object_is_type(get(root, "last_run_error"), json_type_null), "%s",
              get_str(root, "last_run_error"));
    const char *tids[] = {"tid_a", "tid_b"};
    for (int i = 0; i < 2; i++) {
        json_object *t = thread_of(root, (long long)fact(&f, tids[i]));
        double since = (double)get_int(t, "since_last_run_ns") / 1e9;
        /* Blocked before "ready", read after the 1 s sleep that followed it, started after
         * the spawn; 10 ms of slack between the scheduler's clock and ours. */
        cr_expect_geq(since, 0.99, "%s last ran %.3f s ago, ready %.3f s ago", tids[i], since,
                      done - ready_at);
        cr_expect_leq(since, done - spawned + 0.01, "%s last ran %.3f s ago, started %.3f s ago",
                      tids[i], since, done - spawned);
    }
    json_object_put(root);
}

Test(stuck, deadlock_text_names_both_callbacks)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "deadlock", NULL};
    start_stucker(&p, argv, &f);
    char pid_arg[32];
    snprintf(pid_arg, sizeof(pid_arg), "%d", p.pid);
    char *sargv[] = {AHPROF, "stuck", "-p", pid_arg, "-w", "50ms", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(sargv, &out, &err, 30000);
    stop(&p);
    cr_assert_eq(code, 0, "%s", err);
    /* Most suspicious first: both blocked callbacks come before the waiting main thread. */
    const char *first = strstr(out, "blocked-in-callback");
    cr_assert_not_null(first, "%s", out);
    const char *second = strstr(first + 1, "blocked-in-callback");
    cr_assert_not_null(second, "%s", out);
    const char *waiting = strstr(out, ": waiting");
    cr_assert(waiting != NULL && waiting > second, "%s", out);
    cr_expect(strstr(out, "LOCKA") && strstr(out, "LOCKB") && strstr(out, "REQ"), "%s", out);
    cr_expect(strstr(out, "syscall  futex FUTEX_WAIT on 0x"), "%s", out);
    char deadlock[128];
    snprintf(deadlock, sizeof(deadlock),
             "Deadlock: thread %llu waits for %llu, which waits for %llu", fact(&f, "tid_a"),
             fact(&f, "tid_b"), fact(&f, "tid_a"));
    if (fact(&f, "tid_b") < fact(&f, "tid_a"))
        snprintf(deadlock, sizeof(deadlock),
                 "Deadlock: thread %llu waits for %llu, which waits for %llu", fact(&f, "tid_b"),
                 fact(&f, "tid_a"), fact(&f, "tid_b"));
    cr_expect(strstr(out, deadlock), "no '%s' in %s", deadlock, out);
    free(out);
    free(err);
}

Test(stuck, callback_blocked_in_read_names_the_pipe)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "pipe", NULL};
    start_stucker(&p, argv, &f);
    json_object *root = stuck_json(AHPROF, p.pid, "50ms");
    stop(&p);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(t, "verdict"), "blocked-in-callback");
    cr_expect_eq(get_int(t, "rank"), 0);
    cr_expect_str_eq(get_str(get(t, "syscall"), "name"), "read");
    cr_expect_eq((unsigned long long)get_int(t, "fd"), fact(&f, "fd"));
    const char *target = get_str(t, "fd_target");
    cr_assert_not_null(target);
    cr_expect(strncmp(target, "pipe:[", 6) == 0, "fd_target %s", target);
    cr_expect_str_eq(get_str(frame(t, 0), "type"), "PIPEREAD");
    cr_expect(json_object_is_type(get(t, "futex_holder_tid"), json_type_null));
    cr_expect_eq((unsigned long long)get_int(frame(t, 0), "id"), fact(&f, "reader_id"));
    json_object_put(root);
}

Test(stuck, callback_that_computes_is_busy_in_callback)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "busy", NULL};
    start_stucker(&p, argv, &f);
    json_object *root = stuck_json(AHPROF, p.pid, "100ms");
    stop(&p);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(t, "verdict"), "busy-in-callback");
    cr_expect_eq(get_int(t, "rank"), 0);
    cr_expect_gt(get_int(t, "cpu_ns"), 0);
    cr_expect(!json_object_get_boolean(get(t, "blocked_whole_window")));
    cr_expect_str_eq(get_str(frame(t, 0), "type"), "BUSY");
    cr_expect_eq((unsigned long long)get_int(frame(t, 0), "id"), fact(&f, "spinner_id"));
    json_object_put(root);
}

/* A stack that changes under the reader: what is shown is one of the stacks the thread can
 * have, or says that it moved; never a frame that does not belong there. */
Test(stuck, stack_changing_while_read_is_never_made_up)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "churn", NULL};
    start_stucker(&p, argv, &f);
    for (int round = 0; round < 5; round++) {
        json_object *root = stuck_json(AHPROF_ASAN, p.pid, "10ms");
        json_object *t = thread_of(root, (long long)fact(&f, "tid"));
        json_object *stack = get(t, "async_stack");
        const char *status = get_str(stack, "status");
        cr_expect(strcmp(status, "ok") == 0 || strcmp(status, "moving") == 0, "status %s", status);
        long long depth = get_int(stack, "depth");
        json_object *frames = get(stack, "frames");
        cr_expect_leq(depth, 2);
        cr_expect_eq((long long)json_object_array_length(frames), depth);
        if (strcmp(status, "ok") == 0 && depth >= 1) {
            /* outermost last */
            json_object *outer = json_object_array_get_idx(frames, (size_t)depth - 1);
            cr_expect_str_eq(get_str(outer, "type"), "OUTER");
            cr_expect_eq((unsigned long long)get_int(outer, "id"), fact(&f, "outer_id"));
            if (depth == 2) {
                cr_expect_str_eq(get_str(frame(t, 0), "type"), "INNER");
                cr_expect_eq((unsigned long long)get_int(frame(t, 0), "id"), fact(&f, "inner_id"));
            }
        }
        cr_expect_str_neq(get_str(t, "verdict"), "blocked-in-callback");
        json_object_put(root);
    }
    stop(&p);
}

Test(stuck, idle_event_loop_is_waiting_not_blocked_in_a_callback)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "idle", NULL};
    start_stucker(&p, argv, &f);
    json_object *root = stuck_json(AHPROF, p.pid, "50ms");
    stop(&p);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(t, "verdict"), "waiting");
    cr_expect_str_eq(get_str(get(t, "async_stack"), "status"), "ok");
    cr_expect_eq(get_int(get(t, "async_stack"), "depth"), 0);
    const char *name = get_str(get(t, "syscall"), "name");
    cr_assert_not_null(name);
    cr_expect(strncmp(name, "epoll", 5) == 0, "syscall %s", name);
    cr_expect_eq((unsigned long long)get_int(t, "fd"), fact(&f, "epoll_fd"));
    cr_expect_str_eq(get_str(t, "fd_target"), "anon_inode:[eventpoll]");
    json_object *threads = get(root, "threads");
    for (size_t i = 0; i < json_object_array_length(threads); i++)
        cr_expect_str_neq(get_str(json_object_array_get_idx(threads, i), "verdict"),
                          "blocked-in-callback");
    cr_expect_eq(json_object_array_length(get(root, "deadlocks")), 0);
    cr_expect_eq(live_count(root, "CONN"), 3);
    cr_expect_eq(live_count(root, "TICK"), 0);
    json_object_put(root);
}

/* KEY appears in TEXT as a word of its own (not inside a longer name). */
static bool has_word(const char *text, const char *key)
{
    size_t len = strlen(key);
    for (const char *at = strstr(text, key); at; at = strstr(at + 1, key)) {
        bool starts = at == text || !(isalnum((unsigned char)at[-1]) || at[-1] == '_');
        bool ends = !(isalnum((unsigned char)at[len]) || at[len] == '_');
        if (starts && ends)
            return true;
    }
    return false;
}

static void expect_keys_explained(json_object *obj, const char *help)
{
    json_object_object_foreach(obj, key, value)
    {
        (void)value;
        cr_expect(has_word(help, key), "--help does not explain '%s'", key);
    }
}

/* Every field of the JSON output is named in --help, where its meaning and unit are. */
Test(stuck, help_explains_every_json_field)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "pipe", NULL};
    start_stucker(&p, argv, &f);
    json_object *root = stuck_json(AHPROF, p.pid, "10ms");
    stop(&p);
    char *hargv[] = {AHPROF, "stuck", "--help", NULL};
    char *help = NULL, *err = NULL;
    cr_assert_eq(run_capture(hargv, &help, &err, 10000), 0);
    json_object *t = json_object_array_get_idx(get(root, "threads"), 0);
    expect_keys_explained(root, help);
    expect_keys_explained(t, help);
    expect_keys_explained(json_object_array_get_idx(get(root, "live"), 0), help);
    expect_keys_explained(get(t, "syscall"), help);
    expect_keys_explained(get(t, "async_stack"), help);
    expect_keys_explained(frame(t, 0), help);
    free(help);
    free(err);
    json_object_put(root);
}

/* A process that damages its own execution stack: bounded reads, no crash, the damaged
 * stack said to be unreadable or its types unknown, never made up. */
static json_object *stuck_on_hostile(const char *kind, struct proc *p, struct facts *f)
{
    char *argv[] = {STUCKERS, "hostile", (char *)kind, NULL};
    start_stucker(p, argv, f);
    json_object *root = stuck_json(AHPROF_ASAN, p->pid, "10ms");
    /* The target repairs itself on a line and exits 0: it was not harmed either. */
    cr_assert_eq(write(p->in_fd, "\n", 1), 1);
    cr_expect_eq(proc_wait(p, 10000), 0, "stuckers hostile %s did not exit cleanly", kind);
    return root;
}

Test(stuck, hostile_frames_pointer_is_unreadable)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("frames", &p, &f);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(get(t, "async_stack"), "status"), "unreadable");
    cr_expect_eq(json_object_array_length(get(get(t, "async_stack"), "frames")), 0);
    cr_expect_str_eq(get_str(t, "verdict"), "stack-unreadable");
    json_object_put(root);
}

Test(stuck, hostile_huge_depth_is_bounded)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("depth", &p, &f);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    json_object *stack = get(t, "async_stack");
    cr_expect_leq(json_object_array_length(get(stack, "frames")), 256);
    cr_expect_str_eq(get_str(stack, "status"), "unreadable");
    json_object_put(root);
}

Test(stuck, hostile_deep_stack_reads_garbage_without_naming_it)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("deep", &p, &f);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    json_object *stack = get(t, "async_stack");
    cr_expect_leq(json_object_array_length(get(stack, "frames")), 256);
    /* 100 frames over a 64-frame stack: libah's other per-thread state read as frames.
     * Whatever lies there, no frame may claim a type the registry does not have. */
    cr_expect_eq(get_int(stack, "depth"), 100);
    json_object *frames = get(stack, "frames");
    cr_expect_eq(json_object_array_length(frames), 100);
    cr_expect_str_eq(get_str(json_object_array_get_idx(frames, 99), "type"), "HOSTILE");
    for (size_t i = 0; i < json_object_array_length(frames); i++) {
        const char *type = get_str(json_object_array_get_idx(frames, i), "type");
        cr_expect(type == NULL || strcmp(type, "HOSTILE") == 0, "frame %zu type %s", i, type);
    }
    json_object_put(root);
}

Test(stuck, hostile_wild_resource_has_no_type)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("resource", &p, &f);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(get(t, "async_stack"), "status"), "ok");
    cr_expect_eq(get_int(get(t, "async_stack"), "depth"), 1);
    cr_expect_null(get_str(frame(t, 0), "type"));
    cr_expect_str_eq(get_str(t, "verdict"), "blocked-in-callback");
    json_object_put(root);
}

Test(stuck, hostile_registry_layout_is_refused)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("layout", &p, &f);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(get(t, "async_stack"), "status"), "unreadable");
    cr_expect_eq(live_count(root, "HOSTILE"), 1);
    json_object_put(root);
}

/* No registry to read: the kernel's view is still shown, and why the rest is not. */
Test(stuck, hostile_registry_magic_leaves_the_kernel_view)
{
    struct proc p;
    struct facts f;
    json_object *root = stuck_on_hostile("magic", &p, &f);
    const char *why = get_str(root, "registry_error");
    cr_assert_not_null(why);
    cr_expect(strstr(why, "not a registry this ahprof reads"), "%s", why);
    cr_expect_eq(json_object_array_length(get(root, "live")), 0);
    json_object *t = thread_of(root, (long long)fact(&f, "tid"));
    cr_expect_str_eq(get_str(t, "verdict"), "stack-unreadable");
    cr_expect_str_eq(get_str(get(t, "syscall"), "name"), "read");
    json_object_put(root);
}

/* ahprof's command-line conventions (tests/collector/test_cli_convention.c) hold for stuck. */
Test(stuck, errors_follow_the_conventions)
{
    char *out = NULL, *err = NULL;
    char *bogus[] = {AHPROF, "stuck", "--bogus", NULL};
    cr_expect_eq(run_capture(bogus, &out, &err, 10000), 2);
    cr_expect_str_eq(out, "");
    cr_expect_str_eq(err, "ahprof: unknown option --bogus (see ahprof stuck --help)\n");
    free(out);
    free(err);

    char *json_bogus[] = {AHPROF, "--json", "stuck", "--bogus", NULL};
    cr_expect_eq(run_capture(json_bogus, &out, &err, 10000), 2);
    json_object *e = json_tokener_parse(out);
    cr_expect(e != NULL && json_object_object_get_ex(e, "error", NULL), "%s", out);
    json_object_put(e);
    free(out);
    free(err);

    struct proc sleeper;
    char *sleep_argv[] = {"sleep", "30", NULL};
    proc_start(&sleeper, sleep_argv);
    char sleeper_pid[32];
    snprintf(sleeper_pid, sizeof(sleeper_pid), "%d", sleeper.pid);
    struct {
        const char *args[4];
        int code;
        const char *says;
    } cases[] = {
        {{NULL}, 2, "give -p PID"},
        {{"-p", "0", NULL}, 2, "invalid PID"},
        {{"-p", "1", "-w", "5ms"}, 2, "invalid --window"},
        {{"-p", "1", "extra", NULL}, 2, "unexpected argument"},
        {{"-p", "4194000", NULL}, 4, "no such process"},
        {{"-p", sleeper_pid, NULL}, 4, "does not use libah"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[8] = {AHPROF, "stuck"};
        for (int k = 0; k < 4 && cases[i].args[k]; k++)
            argv[2 + k] = (char *)cases[i].args[k];
        int code = run_capture(argv, &out, &err, 10000);
        cr_expect_eq(code, cases[i].code, "case %zu: exit %d: %s", i, code, err);
        cr_expect(strstr(err, cases[i].says) != NULL, "case %zu: %s", i, err);
        free(out);
        free(err);
    }
    stop(&sleeper);
    char *help[] = {AHPROF, "help", "stuck", NULL};
    cr_expect_eq(run_capture(help, &out, &err, 10000), 0);
    cr_expect(strncmp(out, "Usage: ahprof stuck -p PID", 26) == 0, "%s", out);
    free(out);
    free(err);
}
