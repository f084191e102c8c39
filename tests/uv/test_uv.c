/*
 * test_uv.c - libah-uv on a real libuv program: tests/uv/uvall.c, which uses every handle and
 * request kind a known number of times, runs preloaded with build/libah-uv.so while
 * `ahprof record -p` / `ahprof top -p` (real BPF) are attached, and what they report per
 * type, per trigger edge and in the leak view must be exactly those numbers (docs/libuv.md
 * gives the semantics they follow). Preloaded but untraced, uvall must behave exactly as
 * without the interposer, in its plain and its ASan build.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "tmpdir.h"

#define LIBAH_UV AHP_BUILD "/libah-uv.so"
#define UVALL UV_DIR "/uvall"
#define UVALL_ASAN UV_DIR "/uvall-asan"
#define UVALL_MODULE UV_DIR "/uvall.so"
#define UVHOST UV_DIR "/uvhost"

TestSuite(uv, .init = test_dir_init, .fini = test_dir_fini, .timeout = 120);

struct expected_type {
    const char *name;
    long long created, destroyed, callbacks, active;
};

/* uvall.c's comments derive each line. */
static const struct expected_type uvall_types[] = {
    {"TCPSERVERWRAP", 1, 1, 4, 0},
    {"TCPWRAP", 7, 7, 16, 0},
    {"TCPCONNECTWRAP", 4, 4, 4, 0},
    {"PIPESERVERWRAP", 1, 1, 2, 0},
    /* 2 clients (1 close each), the accepted end (3), echo's stdout (read, EOF, close) */
    {"PIPEWRAP", 4, 4, 8, 0},
    {"PIPECONNECTWRAP", 2, 2, 2, 0},
    {"UDPWRAP", 2, 2, 3, 0},
    {"UDPSENDWRAP", 1, 1, 1, 0},
    {"TTYWRAP", 1, 1, 1, 0},
    /* 3 ping, 3 pong, 1 on the pipe, 1 on the tty */
    {"WRITEWRAP", 8, 8, 8, 0},
    {"SHUTDOWNWRAP", 3, 3, 3, 0},
    {"TIMERWRAP", 4, 3, 9, 1},
    {"SIGNALWRAP", 2, 2, 3, 0},
    {"PROCESSWRAP", 2, 2, 3, 0},
    {"FSEVENTWRAP", 1, 1, 2, 0},
    {"STATWATCHER", 1, 1, 2, 0},
    {"FSREQCALLBACK", 4, 4, 4, 0},
    {"GETADDRINFOREQWRAP", 2, 2, 2, 0},
    {"GETNAMEINFOREQWRAP", 1, 1, 1, 0},
    {"UV_POLL", 1, 1, 2, 0},
    {"UV_IDLE", 2, 2, 3, 0}, /* the second closed from a uv_walk callback */
    {"UV_PREPARE", 1, 1, 1, 0},
    {"UV_CHECK", 2, 1, 2, 1},
    {"UV_ASYNC", 1, 1, 2, 0},
    {"UV_WORK", 4, 4, 7, 0},
    {"UV_RANDOM", 1, 1, 1, 0},
};
#define NTYPES (sizeof(uvall_types) / sizeof(uvall_types[0]))

struct expected_edge {
    const char *parent, *child;
    long long count;
};

static const struct expected_edge uvall_edges[] = {
    {"(root)", "TCPSERVERWRAP", 1},
    {"(root)", "TCPWRAP", 4}, /* 3 clients, 1 refused */
    {"(root)", "TCPCONNECTWRAP", 4},
    {"TCPSERVERWRAP", "TCPWRAP", 3}, /* accepted: triggered by the server */
    {"TCPCONNECTWRAP", "WRITEWRAP", 3},
    {"TCPWRAP", "WRITEWRAP", 3},
    {"TCPWRAP", "SHUTDOWNWRAP", 3},
    {"(root)", "PIPESERVERWRAP", 1},
    {"(root)", "PIPEWRAP", 3},
    {"PIPESERVERWRAP", "PIPEWRAP", 1},
    {"(root)", "PIPECONNECTWRAP", 2},
    {"PIPECONNECTWRAP", "WRITEWRAP", 1},
    {"(root)", "UDPWRAP", 2},
    {"(root)", "UDPSENDWRAP", 1},
    {"(root)", "TIMERWRAP", 4},
    {"(root)", "UV_IDLE", 2},
    {"(root)", "UV_PREPARE", 1},
    {"(root)", "UV_CHECK", 2},
    {"(root)", "UV_ASYNC", 1},
    {"(root)", "UV_WORK", 4},
    {"(root)", "SIGNALWRAP", 2},
    {"(root)", "PROCESSWRAP", 2},
    {"(root)", "FSREQCALLBACK", 2},
    {"FSREQCALLBACK", "FSREQCALLBACK", 2}, /* write and close, from the callbacks before */
    {"(root)", "FSEVENTWRAP", 1},
    {"(root)", "STATWATCHER", 1},
    {"(root)", "GETADDRINFOREQWRAP", 2},
    {"(root)", "GETNAMEINFOREQWRAP", 1},
    {"(root)", "UV_RANDOM", 1},
    {"(root)", "UV_POLL", 1},
    {"(root)", "TTYWRAP", 1},
    {"(root)", "WRITEWRAP", 1}, /* the tty's */
};
#define NEDGES (sizeof(uvall_edges) / sizeof(uvall_edges[0]))

static const struct expected_type *expected_named(const char *name)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(uvall_types[i].name, name) == 0)
            return &uvall_types[i];
    return NULL;
}

/* Every type of ROOT with activity is one of uvall's, with exactly its numbers, and every
 * one of uvall's is there: nothing of libuv's own handles, nothing counted twice. */
static void expect_uvall_types(json_object *root, const char *what, bool destroyed_known)
{
    json_object *types;
    cr_assert(json_object_object_get_ex(root, "types", &types), "%s: no types", what);
    size_t seen = 0;
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i), *n;
        cr_assert(json_object_object_get_ex(t, "name", &n));
        const char *name = json_object_get_string(n);
        const struct expected_type *e = expected_named(name);
        if (e == NULL) {
            cr_expect_eq(get_int(t, "created"), 0, "%s: unexpected type %s created %lld", what,
                         name, get_int(t, "created"));
            cr_expect_eq(get_int(t, "callbacks"), 0, "%s: unexpected type %s ran callbacks", what,
                         name);
            continue;
        }
        seen++;
        cr_expect_eq(get_int(t, "created"), e->created, "%s: %s created %lld, not %lld", what, name,
                     get_int(t, "created"), e->created);
        if (destroyed_known)
            cr_expect_eq(get_int(t, "destroyed"), e->destroyed, "%s: %s destroyed %lld, not %lld",
                         what, name, get_int(t, "destroyed"), e->destroyed);
        cr_expect_eq(get_int(t, "callbacks"), e->callbacks, "%s: %s callbacks %lld, not %lld", what,
                     name, get_int(t, "callbacks"), e->callbacks);
        cr_expect_eq(get_int(t, "active"), e->active, "%s: %s active %lld, not %lld", what, name,
                     get_int(t, "active"), e->active);
    }
    cr_expect_eq(seen, NTYPES, "%s: %zu of uvall's %zu types reported", what, seen, NTYPES);
}

static void expect_uvall_edges(json_object *root)
{
    json_object *edges;
    cr_assert(json_object_object_get_ex(root, "edges", &edges), "no edges");
    size_t n = json_object_array_length(edges);
    bool matched[NEDGES] = {false};
    for (size_t i = 0; i < n; i++) {
        json_object *edge = json_object_array_get_idx(edges, i), *p, *c;
        cr_assert(json_object_object_get_ex(edge, "parent", &p) &&
                  json_object_object_get_ex(edge, "child", &c));
        const char *parent = json_object_get_string(p), *child = json_object_get_string(c);
        size_t k = 0;
        while (k < NEDGES && (strcmp(uvall_edges[k].parent, parent) != 0 ||
                              strcmp(uvall_edges[k].child, child) != 0))
            k++;
        cr_expect(k < NEDGES, "unexpected trigger edge %s -> %s (%lld)", parent, child,
                  get_int(edge, "count"));
        if (k == NEDGES)
            continue;
        matched[k] = true;
        cr_expect_eq(get_int(edge, "count"), uvall_edges[k].count, "edge %s -> %s: %lld, not %lld",
                     parent, child, get_int(edge, "count"), uvall_edges[k].count);
    }
    for (size_t k = 0; k < NEDGES; k++)
        cr_expect(matched[k], "trigger edge %s -> %s missing", uvall_edges[k].parent,
                  uvall_edges[k].child);
}

/* The leaked unreferenced timer and the never-started check handle, both from the root. */
static void expect_uvall_leaks(json_object *root)
{
    cr_expect_eq(get_int(root, "alive_total"), 2, "alive at end: %lld",
                 get_int(root, "alive_total"));
    cr_expect_eq(get_int(root, "leak_groups"), 2, "leak groups: %lld",
                 get_int(root, "leak_groups"));
    static const char *const leaked[] = {"TIMERWRAP", "UV_CHECK"};
    json_object *leaks;
    cr_assert(json_object_object_get_ex(root, "leaks", &leaks));
    for (size_t k = 0; k < 2; k++) {
        bool found = false;
        for (size_t i = 0; i < json_object_array_length(leaks); i++) {
            json_object *g = json_object_array_get_idx(leaks, i), *type, *path;
            cr_assert(json_object_object_get_ex(g, "type", &type) &&
                      json_object_object_get_ex(g, "path", &path));
            if (strcmp(json_object_get_string(type), leaked[k]) != 0)
                continue;
            found = true;
            cr_expect_eq(get_int(g, "count"), 1, "%s leaked %lld", leaked[k], get_int(g, "count"));
            cr_expect_eq(json_object_array_length(path), 2, "%s: path of %zu", leaked[k],
                         json_object_array_length(path));
            cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(path, 0)), "(root)");
        }
        cr_expect(found, "%s not in the leak view", leaked[k]);
    }
}

/* Start uvall (ARGV after "env LD_PRELOAD=...") waiting for a byte on stdin; PID for -p. */
static void start_preloaded(struct proc *target, char *const argv[], char pid[32])
{
    char *full[16] = {"env", "LD_PRELOAD=" LIBAH_UV};
    size_t n = 2;
    for (size_t i = 0; argv[i] != NULL && n < 15; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    start_ready_target(target, full, pid);
}

/* Let uvall run, then wait for it and for the tracer P. */
static void release_and_wait(struct proc *target, struct proc *tracer, const char *what)
{
    cr_assert(proc_wait_stderr(tracer, what, 20000), "ahprof did not attach");
    cr_assert_eq(write(target->in_fd, "x", 1), 1);
    int code = proc_wait(target, 30000);
    cr_assert_eq(code, 0, "uvall exited %d", code);
}

static void record_uvall(char *const argv[])
{
    struct proc target, rec;
    char pid[32];
    start_preloaded(&target, argv, pid);
    char *rargv[] = {AHPROF, "record", "-p", pid, "-o", (char *)test_path("data"), NULL};
    proc_start(&rec, rargv);
    release_and_wait(&target, &rec, "recording pid");
    char *err = NULL;
    int code = proc_capture(&rec, NULL, &err, 30000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    cr_expect(strstr(err, "target exited with status 0") != NULL, "record: %s", err);
    free(err);
}

Test(uv, record_counts_every_kind_once)
{
    char *argv[] = {UVALL, "--wait", test_dir, NULL};
    record_uvall(argv);
    json_object *root = report_json_at(test_path("data"));
    cr_assert_eq(get_int(root, "lost_events"), 0);
    expect_uvall_types(root, "record", true);
    json_object_put(root);
}

Test(uv, record_trigger_edges)
{
    char *argv[] = {UVALL, "--wait", test_dir, NULL};
    record_uvall(argv);
    json_object *root = report_json_at(test_path("data"));
    expect_uvall_edges(root);
    json_object_put(root);
}

Test(uv, record_leak_view)
{
    char *argv[] = {UVALL, "--wait", test_dir, NULL};
    record_uvall(argv);
    json_object *root = report_json_at(test_path("data"));
    expect_uvall_leaks(root);
    json_object *anomalies;
    cr_assert(json_object_object_get_ex(root, "anomalies", &anomalies));
    cr_expect_eq(get_int(anomalies, "unmatched_after"), 0);
    cr_expect_eq(get_int(anomalies, "unclosed_before"), 0);
    cr_expect_eq(get_int(anomalies, "duplicate_init"), 0);
    json_object_put(root);
}

/* Attached while every handle and request is alive (created before the attach): the counts
 * of what is alive come from libah's registry, which the interposer kept untraced; at the
 * end only the two leaked handles are, and nothing went negative. */
Test(uv, record_attach_mid_run_exact)
{
    char *argv[] = {UVALL, "--wait-running", test_dir, NULL};
    record_uvall(argv);
    json_object *root = report_json_at(test_path("data"));
    cr_assert_eq(get_int(root, "lost_events"), 0);
    long long snapshot = 0;
    for (size_t i = 0; i < NTYPES; i++) {
        json_object *t = find_named(root, "types", uvall_types[i].name);
        if (t == NULL)
            continue;
        snapshot += get_int(t, "snapshot_live");
        cr_expect_eq(get_int(t, "active"), uvall_types[i].active, "%s active %lld, not %lld",
                     uvall_types[i].name, get_int(t, "active"), uvall_types[i].active);
    }
    cr_expect_gt(snapshot, 20, "only %lld resources alive at the attach", snapshot);
    cr_expect_eq(get_int(root, "alive_total"), 2);
    json_object_put(root);
}

/* Python and Lua load libuv RTLD_LOCAL: the same program, dlopen'ed by a host without libuv. */
Test(uv, record_rtld_local_module)
{
    char *argv[] = {UVHOST, UVALL_MODULE, "--wait", test_dir, NULL};
    record_uvall(argv);
    json_object *root = report_json_at(test_path("data"));
    expect_uvall_types(root, "record (RTLD_LOCAL)", true);
    expect_uvall_edges(root);
    json_object_put(root);
}

Test(uv, top_counts_every_kind_once)
{
    struct proc target, top;
    char pid[32];
    char *argv[] = {UVALL, "--wait", test_dir, NULL};
    start_preloaded(&target, argv, pid);
    char *targv[] = {AHPROF, "top", "--json", "-p", pid, "0.05", NULL};
    proc_start(&top, targv);
    char line[1 << 16];
    cr_assert(proc_read_line(&top, line, sizeof(line), 20000), "top printed nothing");
    cr_assert_eq(write(target.in_fd, "x", 1), 1);
    json_object *last = json_tokener_parse(line);
    while (proc_read_line(&top, line, sizeof(line), 30000)) {
        json_object_put(last);
        last = json_tokener_parse(line);
        cr_assert_not_null(last, "not JSON: %.200s", line);
    }
    cr_assert_eq(proc_wait(&target, 10000), 0);
    cr_assert_eq(proc_wait(&top, 10000), 0);
    json_object *final;
    cr_assert(json_object_object_get_ex(last, "final", &final) && json_object_get_boolean(final));
    cr_expect_eq(get_int(last, "lost_events"), 0);
    expect_uvall_types(last, "top", false);
    json_object_put(last);
}

/* Untraced, the interposer changes nothing the program can see: output and exit status. */
static void expect_same_behaviour(const char *program, const char *preload)
{
    char plain_dir[64], pre_dir[64];
    tmpdir_make(plain_dir, "uvall-plain");
    tmpdir_make(pre_dir, "uvall-pre");
    char *plain_argv[] = {(char *)program, plain_dir, NULL};
    char *out_plain = NULL, *err_plain = NULL;
    int code_plain = run_capture(plain_argv, &out_plain, &err_plain, 30000);
    char env[512];
    snprintf(env, sizeof(env), "LD_PRELOAD=%s", preload);
    char *pre_argv[] = {"env", env, (char *)program, pre_dir, NULL};
    char *out_pre = NULL, *err_pre = NULL;
    int code_pre = run_capture(pre_argv, &out_pre, &err_pre, 30000);
    cr_expect_eq(code_plain, 0, "%s exited %d: %s", program, code_plain, err_plain);
    cr_expect_eq(code_pre, code_plain, "preloaded, %s exited %d: %s", program, code_pre, err_pre);
    cr_expect_str_eq(out_pre, out_plain, "preloaded, %s printed something else", program);
    cr_expect_str_eq(err_pre, err_plain, "preloaded, %s complained: %s", program, err_pre);
    cr_expect(strstr(out_plain, "close callbacks: 18") != NULL, "%s: %s", program, out_plain);
    free(out_plain);
    free(err_plain);
    free(out_pre);
    free(err_pre);
    tmpdir_remove(plain_dir);
    tmpdir_remove(pre_dir);
}

Test(uv, untraced_same_behaviour)
{
    expect_same_behaviour(UVALL, LIBAH_UV);
}

/* ASan's runtime must come first among the preloaded libraries. */
Test(uv, untraced_same_behaviour_asan)
{
    char *argv[] = {"gcc", "-print-file-name=libasan.so", NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(argv, &out, NULL, 10000), 0);
    out[strcspn(out, "\n")] = '\0';
    char preload[512];
    snprintf(preload, sizeof(preload), "%s %s", out, LIBAH_UV);
    free(out);
    expect_same_behaviour(UVALL_ASAN, preload);
}

/* `--uv` launches the program with the interposer preloaded (found beside ahprof). */
Test(uv, record_uv_launch)
{
    char *argv[] = {AHPROF, "record", "--uv",   "-q", "-o", (char *)test_path("data"),
                    "--",   UVALL,    test_dir, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof record --uv exited %d: %s", code, err);
    cr_expect(strstr(out, "close callbacks: 18") != NULL, "uvall printed: %s", out);
    free(out);
    free(err);
    json_object *root = report_json_at(test_path("data"));
    cr_assert_eq(get_int(root, "lost_events"), 0);
    expect_uvall_types(root, "record --uv", true);
    expect_uvall_edges(root);
    expect_uvall_leaks(root);
    json_object_put(root);
}

Test(uv, top_uv_launch)
{
    char *argv[] = {AHPROF, "top", "--json", "--uv", "0.05", "--", UVALL, test_dir, NULL};
    json_object *last = top_until_exit(argv);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    expect_uvall_types(last, "top --uv", false);
    json_object_put(last);
}

/* A side table too small for the handles alive at once: the ones that find no room are not
 * followed (their callbacks run directly) and show as UV_UNTRACKED; the program does the same;
 * every followed one is exact. */
Test(uv, full_table_counts_untracked)
{
    char *argv[] = {"env", "AH_UV_SLOTS=1024",        AHPROF, "record",         "--uv", "-q",
                    "-o",  (char *)test_path("data"), "--",   UV_DIR "/uvmany", "3000", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof record --uv exited %d: %s", code, err);
    cr_expect(strstr(out, "fired 3000, closed 3000") != NULL, "uvmany printed: %s", out);
    free(out);
    free(err);
    json_object *root = report_json_at(test_path("data"));
    json_object *timers = find_named(root, "types", "TIMERWRAP");
    json_object *untracked = find_named(root, "types", "UV_UNTRACKED");
    cr_assert_not_null(timers);
    cr_assert_not_null(untracked, "no UV_UNTRACKED with 3000 timers in 1024 slots");
    long long followed = get_int(timers, "created");
    cr_expect(followed > 0 && followed <= 1024, "%lld timers followed", followed);
    cr_expect_eq(followed + get_int(untracked, "created"), 3000);
    cr_expect_eq(get_int(timers, "destroyed"), followed);
    cr_expect_eq(get_int(timers, "callbacks"), 2 * followed, "timer + close per followed timer");
    cr_expect_eq(get_int(untracked, "callbacks"), 0);
    json_object_put(root);
}

/* Two loops on two threads create and close timers at the same time, round after round. */
Test(uv, loops_on_two_threads)
{
    char *argv[] = {AHPROF, "record",         "--uv", "-q", "-o", (char *)test_path("data"),
                    "--",   UV_DIR "/uvmany", "500",  "2",  "20", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof record --uv exited %d: %s", code, err);
    cr_expect(strstr(out, "fired 20000, closed 20000") != NULL, "uvmany printed: %s", out);
    free(out);
    free(err);
    json_object *root = report_json_at(test_path("data"));
    cr_assert_eq(get_int(root, "lost_events"), 0);
    expect_type(root, "TIMERWRAP", 20000, 20000, 40000, 0);
    cr_expect_null(find_named(root, "types", "UV_UNTRACKED"));
    json_object_put(root);
}

/* ThreadSanitizer builds of the interposer (libah inside) and of the programs: two loops on two
 * threads in a small table (their probe sequences overlap: a plain store in place of an atomic
 * one was reported there), and uvall's work callbacks that look the table up on the pool. */
static void expect_tsan_clean(const char *slots, char *const program_argv[])
{
    char *argv[] = {"gcc", "-print-file-name=libtsan.so", NULL};
    char *tsan = NULL;
    cr_assert_eq(run_capture(argv, &tsan, NULL, 10000), 0);
    tsan[strcspn(tsan, "\n")] = '\0';
    char env[1024];
    snprintf(env, sizeof(env), "LD_PRELOAD=%s %s", tsan, UV_DIR "/tsan/libah-uv.so");
    free(tsan);
    /* TSan needs ASLR within the ranges it knows (as make test-tsan). */
    char slots_env[64];
    snprintf(slots_env, sizeof(slots_env), "AH_UV_SLOTS=%s", slots);
    char *full[16] = {"env",    env, "TSAN_OPTIONS=halt_on_error=1", slots_env, "setarch",
                      "x86_64", "-R"};
    size_t n = 7;
    for (size_t i = 0; program_argv[i] != NULL && n < 15; i++)
        full[n++] = program_argv[i];
    full[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = run_capture(full, &out, &err, 120000);
    cr_expect_eq(code, 0, "%s under TSan exited %d: %s", program_argv[0], code, err);
    cr_expect(strstr(err, "ThreadSanitizer") == NULL, "TSan: %s", err);
    free(out);
    free(err);
}

Test(uv, tsan_loops_on_two_threads)
{
    char *argv[] = {UV_DIR "/tsan/uvmany", "400", "2", "20", NULL};
    expect_tsan_clean("1024", argv);
}

Test(uv, tsan_uvall)
{
    char *argv[] = {UV_DIR "/tsan/uvall", test_dir, NULL};
    expect_tsan_clean("65536", argv);
}

/* The main thread's allocations and mutex locks in uvmany N, with and without the interposer:
 * what it adds must not grow with N (its setup only), however many handles, requests and
 * callbacks. Locks are compared on timers only: libuv's own locking around the thread pool
 * depends on timing. */
struct calls {
    long allocs, locks;
};

static struct calls count_calls(const char *n, bool fs, bool interposed)
{
    char preload[512], file[600];
    snprintf(preload, sizeof(preload), "LD_PRELOAD=%s%s", UV_DIR "/countcalls.so",
             interposed ? " " LIBAH_UV : "");
    snprintf(file, sizeof(file), "UV_COUNT_FILE=%s", test_path("counts"));
    char *argv[] = {"env", preload,          file, UV_DIR "/uvmany", (char *)n, "1",
                    "1",   fs ? "fs" : NULL, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_assert_eq(code, 0, "uvmany %s exited %d: %s", n, code, err);
    free(out);
    free(err);
    struct calls c = {-1, -1};
    FILE *f = fopen(test_path("counts"), "r");
    cr_assert_not_null(f, "no counts from countcalls.so");
    cr_assert_eq(fscanf(f, "allocs %ld locks %ld", &c.allocs, &c.locks), 2);
    fclose(f);
    return c;
}

Test(uv, untraced_no_allocation_or_lock_per_handle)
{
    for (int fs = 0; fs < 2; fs++) {
        long added_allocs[2], added_locks[2];
        static const char *const sizes[] = {"200", "5000"};
        for (int k = 0; k < 2; k++) {
            struct calls plain = count_calls(sizes[k], fs, false);
            struct calls uv = count_calls(sizes[k], fs, true);
            added_allocs[k] = uv.allocs - plain.allocs;
            added_locks[k] = uv.locks - plain.locks;
        }
        cr_expect_eq(added_allocs[1], added_allocs[0],
                     "%s: the interposer allocates %ld times for 200, %ld for 5000",
                     fs ? "timers + fs" : "timers", added_allocs[0], added_allocs[1]);
        cr_expect_lt(added_allocs[0], 10, "setup allocations: %ld", added_allocs[0]);
        if (!fs)
            cr_expect_eq(added_locks[1], added_locks[0],
                         "the interposer locks %ld times for 200 timers, %ld for 5000",
                         added_locks[0], added_locks[1]);
    }
}

/* The interposer itself built with ASan+UBSan (libah inside), under the ASan programs: uvall,
 * two loops on two threads with stat requests, and a full table. */
static void expect_asan_clean(const char *slots, char *const program_argv[])
{
    char *argv[] = {"gcc", "-print-file-name=libasan.so", NULL};
    char *asan = NULL;
    cr_assert_eq(run_capture(argv, &asan, NULL, 10000), 0);
    asan[strcspn(asan, "\n")] = '\0';
    char env[1024], slots_env[64];
    snprintf(env, sizeof(env), "LD_PRELOAD=%s %s", asan, UV_DIR "/asan/libah-uv.so");
    snprintf(slots_env, sizeof(slots_env), "AH_UV_SLOTS=%s", slots);
    free(asan);
    char *full[16] = {"env", env, slots_env};
    size_t n = 3;
    for (size_t i = 0; program_argv[i] != NULL && n < 15; i++)
        full[n++] = program_argv[i];
    full[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = run_capture(full, &out, &err, 120000);
    cr_expect_eq(code, 0, "%s under ASan exited %d: %s", program_argv[0], code, err);
    cr_expect(strstr(err, "Sanitizer") == NULL && strstr(err, "runtime error") == NULL,
              "ASan/UBSan: %s", err);
    free(out);
    free(err);
}

Test(uv, asan_interposer)
{
    char *uvall[] = {UVALL_ASAN, test_dir, NULL};
    expect_asan_clean("65536", uvall);
    char *loops[] = {UV_DIR "/asan/uvmany", "300", "2", "10", "fs", NULL};
    expect_asan_clean("65536", loops);
    char *full[] = {UV_DIR "/asan/uvmany", "3000", NULL};
    expect_asan_clean("1024", full);
}
