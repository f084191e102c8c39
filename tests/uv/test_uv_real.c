/*
 * test_uv_real.c - libah-uv on real, unmodified Debian programs (python3-uvloop, kresd, lua-luv,
 * ctest), with real BPF: each runs a workload with known numbers (tests/uv/real/), preloaded
 * with libah-uv.so, while `ahprof record -p PID` records it (uvloop, luv, and kresd, which
 * listened before the attach), or launched by `ahprof record --uv` (ctest) or `ahprof top
 * --uv` (luv); the report (or top's last interval) must show those numbers per type, per
 * trigger edge and in the leak view. Preloaded but untraced, each program
 * must print the same and exit the same as without the preload, also with the interposer built
 * with ASan+UBSan.
 *
 * The numbers come from how each workload is written and, for the handles a program makes of
 * its own, from that program's source (each assertion's comment says why it is exact). Where a
 * count depends on timing rather than on the workload (how many reads a stream took, how often
 * an idle or check handle ran), the test asserts only the bound the workload implies.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "tmpdir.h"
#include "uvreal.h"

/* ---------------------------------------------------------------------------------------- */

/* The count of the trigger edge PARENT -> CHILD (type names), 0 when absent. */
static long long edge_count(json_object *root, const char *parent, const char *child)
{
    json_object *edges;
    cr_assert(json_object_object_get_ex(root, "edges", &edges), "report has no edges");
    long long sum = 0;
    for (size_t i = 0; i < json_object_array_length(edges); i++) {
        json_object *e = json_object_array_get_idx(edges, i), *p, *c;
        if (json_object_object_get_ex(e, "parent", &p) &&
            json_object_object_get_ex(e, "child", &c) && json_object_get_string(p) &&
            strcmp(json_object_get_string(p), parent) == 0 &&
            strcmp(json_object_get_string(c), child) == 0)
            sum += get_int(e, "count");
    }
    return sum;
}

/* Resources of type NAME created during the recording (0 when the type never showed). */
static long long created_of(json_object *root, const char *name)
{
    json_object *t = find_named(root, "types", name);
    return t ? get_int(t, "created") : 0;
}

static json_object *type_of(json_object *root, const char *name)
{
    json_object *t = find_named(root, "types", name);
    cr_assert_not_null(t, "type %s missing from the report", name);
    return t;
}

/* Every resource of type NAME created during the recording was destroyed by its end, and the
 * leak view has no group of that type. */
static void expect_no_leak(json_object *root, const char *name)
{
    json_object *t = type_of(root, name);
    cr_expect_eq(get_int(t, "active"), 0, "%s still alive at the end", name);
    json_object *leaks;
    cr_assert(json_object_object_get_ex(root, "leaks", &leaks), "report has no leaks");
    for (size_t i = 0; i < json_object_array_length(leaks); i++) {
        json_object *l = json_object_array_get_idx(leaks, i), *ty;
        cr_expect(!(json_object_object_get_ex(l, "type", &ty) &&
                    strcmp(json_object_get_string(ty), name) == 0),
                  "the leak view lists %s", name);
    }
}

/* Nothing was lost, the recording is complete, the target exited with status 0. */
static void expect_clean(json_object *root)
{
    cr_expect_eq(get_int(root, "lost_events"), 0, "events were lost");
    json_object *exit, *how;
    cr_assert(json_object_object_get_ex(root, "exit", &exit) && exit &&
                  json_object_object_get_ex(exit, "how", &how),
              "the report does not say how the target ended");
    cr_expect_str_eq(json_object_get_string(how), "exited");
    cr_expect_eq(get_int(exit, "status"), 0, "the target's exit status");
}

/*
 * The interposer built with ASan+UBSan (mk/uv.mk), preloaded after libasan: "LD_PRELOAD=..."
 * (or "UV_PRELOAD=..." for kresd_run.sh). The programs themselves are not instrumented: what
 * ASan checks is the interposer's own memory use inside them.
 */
static const char *asan_preload_env(const char *var)
{
    static char env[2][512];
    char *argv[] = {"gcc", "-print-file-name=libasan.so", NULL};
    char *path = NULL, *err = NULL;
    cr_assert_eq(run_capture(argv, &path, &err, 10000), 0, "gcc cannot find libasan: %s", err);
    path[strcspn(path, "\n")] = '\0';
    cr_assert(path[0] == '/', "gcc does not know libasan.so (%s)", path);
    char *slot = env[strcmp(var, "LD_PRELOAD") == 0 ? 0 : 1];
    snprintf(slot, sizeof(env[0]), "%s=%s %s", var, path, UV_PRELOAD_ASAN);
    free(path);
    free(err);
    return slot;
}

/* Run VARIANT and expect the output (through NORMALIZE when not NULL) and exit status of the
 * plain run. */
static void expect_same_run(char *const variant[], const char *what, const char *out_plain,
                            int code_plain, char *(*normalize)(const char *))
{
    char *out = NULL;
    int code = run_out(variant, &out);
    cr_expect_eq(code, code_plain, "%s: exit status %d, plain %d", what, code, code_plain);
    if (normalize) {
        char *a = normalize(out_plain), *b = normalize(out);
        cr_expect_str_eq(b, a, "%s: output differs", what);
        free(a);
        free(b);
    } else {
        cr_expect_str_eq(out, out_plain, "%s: output differs", what);
    }
    free(out);
}

TestSuite(uv_real, .init = make_paths, .fini = remove_paths, .timeout = 120);

/* ---------------------------------------------------------------------------------------- */
/* python3-uvloop */

Test(uv_real, uvloop_echo_lookups_timers_executor)
{
    need_preload();
    need_uvloop();
    char *argv[] = {"env", LD_PRELOAD_ENV, PYTHON, UVLOOP_APP, "--wait", UVL_ARGS, NULL};
    static struct proc app;
    pid_t pid = start_waiting(&app, argv);
    char *out = NULL;
    int code;
    json_object *r = record_released(&app, pid, &out, &code, release_by_stdin);
    cr_assert_eq(code, 0, "the app exited %d: %s", code, out);
    char want[128];
    snprintf(want, sizeof(want), "echoed %d lookups %d timers %d jobs %d\n",
             UVL_CLIENTS * UVL_ROUNDS, UVL_LOOKUPS, UVL_TIMERS,
             (UVL_JOBS - 1) * UVL_JOBS * (2 * UVL_JOBS - 1) / 6);
    cr_expect_str_eq(out, want);
    expect_clean(r);

    /* The loop is made after the attach: every handle below is created while recorded. One
     * listening socket (handed to create_server, so no lookup of its own); its callbacks are
     * one per accepted connection and its close callback (uvloop closes every handle with
     * one, and the close callback is one of the handle's callbacks: docs/libuv.md). */
    expect_type(r, "TCPSERVERWRAP", 1, 1, UVL_CLIENTS + 1, 0);
    /* One connected handle per client and one accepted per client, accepted by the server. */
    json_object *tcp = type_of(r, "TCPWRAP");
    cr_expect_eq(get_int(tcp, "created"), 2 * UVL_CLIENTS);
    cr_expect_eq(get_int(tcp, "destroyed"), 2 * UVL_CLIENTS);
    cr_expect_eq(edge_count(r, "TCPSERVERWRAP", "TCPWRAP"), UVL_CLIENTS,
                 "accepted connections triggered by the server");
    /* Each round trip is one read on each side (the next message leaves only after the reply),
     * so at least 2 x clients x rounds read callbacks. */
    cr_expect_geq(get_int(tcp, "callbacks"), 2 * UVL_CLIENTS * UVL_ROUNDS);
    /* create_connection to a numeric address: one connect request per client, no lookup. */
    expect_type(r, "TCPCONNECTWRAP", UVL_CLIENTS, UVL_CLIENTS, UVL_CLIENTS, 0);
    /* "localhost" is a name: one uv_getaddrinfo per loop.getaddrinfo. */
    expect_type(r, "GETADDRINFOREQWRAP", UVL_LOOKUPS, UVL_LOOKUPS, UVL_LOOKUPS, 0);
    /* call_later makes one libuv timer per call, closed once it fired: two callbacks each
     * (the firing and the close). The app makes no other timer (no sleep). */
    expect_type(r, "TIMERWRAP", UVL_TIMERS, UVL_TIMERS, 2 * UVL_TIMERS, 0);
    /* run_in_executor runs on Python threads; each result comes back to the loop through
     * uvloop's async handle, one wakeup per job since the jobs run one after the other. */
    json_object *async = type_of(r, "UV_ASYNC");
    cr_expect_geq(get_int(async, "callbacks"), UVL_JOBS);
    /* That async handle is uvloop's one; the loop's own (its thread-pool wake-up) and its
     * child-watcher signal handle are libuv's internal handles, left out (docs/libuv.md). */
    cr_expect_eq(get_int(async, "created"), 1, "UV_ASYNC: uvloop's handle and no other");
    cr_expect_eq(created_of(r, "SIGNALWRAP"), 0, "libuv's internal signal handle counted");
    /* Python threads, not uv_queue_work. */
    cr_expect_eq(created_of(r, "UV_WORK"), 0, "run_in_executor made UV_WORK");
    /* uvloop 0.17's loop makes one idle handle (its call_soon queue) and one check handle (its
     * queued writes) of its own (uvloop/loop.pyx), both closed by loop.close(). */
    json_object *idle = type_of(r, "UV_IDLE"), *check = type_of(r, "UV_CHECK");
    cr_expect_eq(get_int(idle, "created"), 1);
    cr_expect_eq(get_int(idle, "destroyed"), 1);
    cr_expect_eq(get_int(check, "created"), 1);
    cr_expect_eq(get_int(check, "destroyed"), 1);

    const char *closed[] = {"TCPSERVERWRAP", "TCPWRAP", "TCPCONNECTWRAP", "GETADDRINFOREQWRAP",
                            "TIMERWRAP"};
    for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++)
        expect_no_leak(r, closed[i]);
    json_object_put(r);
    free(out);
}

Test(uv_real, uvloop_preloaded_untraced_is_unchanged)
{
    need_preload();
    need_uvloop();
    char *plain[] = {PYTHON, UVLOOP_APP, UVL_ARGS, NULL};
    char *preloaded[] = {"env", LD_PRELOAD_ENV, PYTHON, UVLOOP_APP, UVL_ARGS, NULL};
    char *out_plain = NULL, *out_pre = NULL;
    int code_plain = run_out(plain, &out_plain);
    int code_pre = run_out(preloaded, &out_pre);
    cr_expect_eq(code_plain, 0);
    cr_expect_eq(code_pre, code_plain, "exit status %d preloaded, %d plain", code_pre, code_plain);
    cr_expect_str_eq(out_pre, out_plain);
    char *asan[] = {
        "env", (char *)asan_preload_env("LD_PRELOAD"), ASAN_NO_LEAKS, PYTHON, UVLOOP_APP, UVL_ARGS,
        NULL};
    expect_same_run(asan, "uvloop with the ASan interposer", out_plain, code_plain, NULL);
    free(out_plain);
    free(out_pre);
}

/* ---------------------------------------------------------------------------------------- */
/* knot-resolver */

Test(uv_real, kresd_udp_and_tcp_load)
{
    need_preload();
    need_kresd();
    char *argv[] = {"env", LD_PRELOAD_ENV_KRESD, KRESD_RUN, "--wait", test_dir, KR_ARGS, NULL};
    static struct proc run;
    proc_start(&run, argv);
    char line[256];
    int kresd_pid = 0;
    cr_assert(proc_read_line(&run, line, sizeof(line), 30000), "kresd_run.sh did not start");
    cr_assert(sscanf(line, "ready %d", &kresd_pid) == 1 && kresd_pid > 0,
              "kresd_run.sh printed '%s'", line);
    char *out = NULL;
    int code;
    json_object *r = record_released(&run, kresd_pid, &out, &code, release_by_stdin);
    cr_assert_eq(code, 0, "kresd_run.sh exited %d: %s", code, out);
    expect_kresd_answers(out);
    expect_clean(r);

    /* kresd listened before the attach (its listening handles come from the registry): every
     * TCP connection of the load is accepted by the TCP server during the recording, one per
     * dig +tcp and one per dnsperf TCP client. */
    const long long conns = KR_TCP_DIGS + KR_TCP_CLIENTS;
    json_object *srv = type_of(r, "TCPSERVERWRAP");
    cr_expect_eq(get_int(srv, "callbacks"), conns, "connection callbacks of the TCP server");
    json_object *tcp = type_of(r, "TCPWRAP");
    cr_expect_eq(get_int(tcp, "created"), conns);
    cr_expect_eq(edge_count(r, "TCPSERVERWRAP", "TCPWRAP"), conns,
                 "accepted connections triggered by the server");
    /* kresd 5.6 makes each accepted connection's session in the connection callback, with an
     * idle timer of its own (daemon/io.c _tcp_accept -> io_create -> session_new, whose
     * uv_timer_init is in daemon/session.c): one timer per connection, from the server. */
    cr_expect_eq(edge_count(r, "TCPSERVERWRAP", "TIMERWRAP"), conns,
                 "session timers triggered by the server");
    /* All clients had closed before kresd was stopped. */
    cr_expect_eq(get_int(tcp, "destroyed"), conns);
    /* At least one read per connection (dnsperf pipelines its queries: one read may carry
     * many). */
    cr_expect_geq(get_int(tcp, "callbacks"), conns);
    /* kresd answers each TCP query with one uv_write (UDP with its own sendmmsg: no resource). */
    expect_type(r, "WRITEWRAP", KR_TCP_DIGS + KR_QUERIES, KR_TCP_DIGS + KR_QUERIES,
                KR_TCP_DIGS + KR_QUERIES, 0);
    /* One receive callback at least per UDP datagram: dnsperf's queries and two digs. */
    json_object *udp = type_of(r, "UDPWRAP");
    cr_expect_geq(get_int(udp, "callbacks"), KR_QUERIES + 2);
    cr_expect_eq(get_int(udp, "created"), 0, "a UDP socket opened during the load");
    expect_no_leak(r, "TCPWRAP");
    expect_no_leak(r, "WRITEWRAP");
    /* What is alive at the end is what kresd held before the attach (its listening handles,
     * signal handles, ...): everything the load made was released. */
    json_object *leaks;
    cr_assert(json_object_object_get_ex(r, "leaks", &leaks));
    for (size_t i = 0; i < json_object_array_length(leaks); i++) {
        json_object *l = json_object_array_get_idx(leaks, i), *before, *ty;
        cr_assert(json_object_object_get_ex(l, "before_attach", &before) &&
                  json_object_object_get_ex(l, "type", &ty));
        cr_expect(json_object_get_boolean(before), "%s made during the load is still alive",
                  json_object_get_string(ty));
    }
    json_object_put(r);
    free(out);
}

Test(uv_real, kresd_preloaded_untraced_answers_the_same)
{
    need_preload();
    need_kresd();
    char dir_plain[128], dir_pre[128];
    snprintf(dir_plain, sizeof(dir_plain), "%s/plain", test_dir);
    snprintf(dir_pre, sizeof(dir_pre), "%s/preloaded", test_dir);
    char *plain[] = {KRESD_RUN, dir_plain, KR_ARGS, NULL};
    char *preloaded[] = {"env", LD_PRELOAD_ENV_KRESD, KRESD_RUN, dir_pre, KR_ARGS, NULL};
    char *out_plain = NULL, *out_pre = NULL;
    int code_plain = run_out(plain, &out_plain);
    int code_pre = run_out(preloaded, &out_pre);
    cr_expect_eq(code_plain, 0);
    cr_expect_eq(code_pre, code_plain, "exit status %d preloaded, %d plain", code_pre, code_plain);
    expect_kresd_answers(out_plain);
    cr_expect_str_eq(out_pre, out_plain);
    char dir_asan[128];
    snprintf(dir_asan, sizeof(dir_asan), "%s/asan", test_dir);
    char *asan[] = {
        "env", (char *)asan_preload_env("UV_PRELOAD"), ASAN_NO_LEAKS, KRESD_RUN, dir_asan, KR_ARGS,
        NULL};
    expect_same_run(asan, "kresd with the ASan interposer", out_plain, code_plain, NULL);
    free(out_plain);
    free(out_pre);
}

/* ---------------------------------------------------------------------------------------- */
/* lua-luv */

#define LUA "lua5.1"

static void need_luv(void)
{
    char *probe[] = {LUA, "-e", "require('luv')", NULL};
    need_program(probe, "lua5.1 and lua-luv");
}

#define LUV_ARGS STR(LUV_CLIENTS), STR(LUV_ROUNDS), STR(LUV_TIMERS), STR(LUV_WORKS), STR(LUV_STATS)

static const char *luv_summary(void)
{
    static char want[128];
    snprintf(want, sizeof(want), "echoed %d timers %d works %d stats %d\n",
             LUV_CLIENTS * LUV_ROUNDS, LUV_TIMERS, LUV_WORKS, LUV_STATS);
    return want;
}

/* The per-type counts of the luv workload, in a report or in top's last interval. luv closes
 * every handle with a close callback (also `h:close()` without a Lua one), which is one of the
 * handle's callbacks. */
static void expect_luv_types(json_object *r)
{
    expect_type(r, "TCPSERVERWRAP", 1, 1, LUV_CLIENTS + 1, 0);
    json_object *tcp = type_of(r, "TCPWRAP");
    cr_expect_eq(get_int(tcp, "created"), 2 * LUV_CLIENTS);
    cr_expect_eq(get_int(tcp, "destroyed"), 2 * LUV_CLIENTS);
    cr_expect_eq(get_int(tcp, "active"), 0);
    cr_expect_geq(get_int(tcp, "callbacks"), 2 * LUV_CLIENTS * LUV_ROUNDS);
    expect_type(r, "TCPCONNECTWRAP", LUV_CLIENTS, LUV_CLIENTS, LUV_CLIENTS, 0);
    /* luv writes with uv_write: one request per message on each side. */
    const long long writes = 2 * LUV_CLIENTS * LUV_ROUNDS;
    expect_type(r, "WRITEWRAP", writes, writes, writes, 0);
    expect_type(r, "TIMERWRAP", LUV_TIMERS, LUV_TIMERS, 2 * LUV_TIMERS, 0);
    /* The work callback on the pool and the after-work callback on the loop thread. */
    expect_type(r, "UV_WORK", LUV_WORKS, LUV_WORKS, 2 * LUV_WORKS, 0);
    expect_type(r, "FSREQCALLBACK", LUV_STATS, LUV_STATS, LUV_STATS, 0);
    /* luv makes no async or signal handle of its own: those of its loop are libuv's. */
    cr_expect_eq(created_of(r, "UV_ASYNC"), 0, "libuv's internal async handle counted");
    cr_expect_eq(created_of(r, "SIGNALWRAP"), 0, "libuv's internal signal handle counted");
    cr_expect_eq(get_int(r, "lost_events"), 0, "events were lost");
}

Test(uv_real, luv_echo_timers_work_fs)
{
    need_preload();
    need_luv();
    char *argv[] = {"env", LD_PRELOAD_ENV, LUA, LUV_APP, LUV_ARGS, "wait", NULL};
    static struct proc app;
    pid_t pid = start_waiting(&app, argv);
    char *out = NULL;
    int code;
    json_object *r = record_released(&app, pid, &out, &code, release_by_stdin);
    cr_assert_eq(code, 0, "the script exited %d: %s", code, out);
    cr_expect_str_eq(out, luv_summary());
    expect_clean(r);
    /* Every handle is made after the attach. */
    expect_luv_types(r);

    cr_expect_eq(edge_count(r, "TCPSERVERWRAP", "TCPWRAP"), LUV_CLIENTS,
                 "accepted connections triggered by the server");
    /* The first client connects at the top level, each next one in the close callback of
     * the one before. */
    cr_expect_eq(edge_count(r, "(root)", "TCPCONNECTWRAP"), 1);
    cr_expect_eq(edge_count(r, "TCPWRAP", "TCPCONNECTWRAP"), LUV_CLIENTS - 1);
    /* A client's first message leaves in its connect callback, the others in its read
     * callback; the server echoes in its read callback. */
    const long long writes = 2 * LUV_CLIENTS * LUV_ROUNDS;
    cr_expect_eq(edge_count(r, "TCPCONNECTWRAP", "WRITEWRAP"), LUV_CLIENTS);
    cr_expect_eq(edge_count(r, "TCPWRAP", "WRITEWRAP"), writes - LUV_CLIENTS);
    /* Timers, work and fs requests start in the last client's close callback. */
    cr_expect_eq(edge_count(r, "TCPWRAP", "TIMERWRAP"), LUV_TIMERS);
    cr_expect_eq(edge_count(r, "TCPWRAP", "UV_WORK"), LUV_WORKS);
    cr_expect_eq(edge_count(r, "TCPWRAP", "FSREQCALLBACK"), LUV_STATS);
    const char *closed[] = {"TCPSERVERWRAP", "TCPWRAP", "TCPCONNECTWRAP", "WRITEWRAP",
                            "TIMERWRAP",     "UV_WORK", "FSREQCALLBACK"};
    for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++)
        expect_no_leak(r, closed[i]);
    json_object_put(r);
    free(out);
}

/* `ahprof top --uv -- lua5.1 ...`: launched with the interposer, the same counts live. */
Test(uv_real, luv_under_top_launched_with_uv)
{
    need_preload();
    need_luv();
    char *argv[] = {AHPROF, "top", "--uv", "--json", "10", "--", LUA, LUV_APP, LUV_ARGS, NULL};
    json_object *last = top_until_exit(argv);
    expect_luv_types(last);
    cr_expect_eq(get_int(last, "unmatched_after"), 0);
    json_object_put(last);
}

Test(uv_real, luv_preloaded_untraced_is_unchanged)
{
    need_preload();
    need_luv();
    char *plain[] = {LUA, LUV_APP, LUV_ARGS, NULL};
    char *preloaded[] = {"env", LD_PRELOAD_ENV, LUA, LUV_APP, LUV_ARGS, NULL};
    char *out_plain = NULL, *out_pre = NULL;
    int code_plain = run_out(plain, &out_plain);
    int code_pre = run_out(preloaded, &out_pre);
    cr_expect_eq(code_plain, 0);
    cr_expect_str_eq(out_plain, luv_summary());
    cr_expect_eq(code_pre, code_plain, "exit status %d preloaded, %d plain", code_pre, code_plain);
    cr_expect_str_eq(out_pre, out_plain);
    char *asan[] = {
        "env", (char *)asan_preload_env("LD_PRELOAD"), ASAN_LEAKS, LUA, LUV_APP, LUV_ARGS, NULL};
    expect_same_run(asan, "luv with the ASan interposer", out_plain, code_plain, NULL);
    free(out_plain);
    free(out_pre);
}

/* ---------------------------------------------------------------------------------------- */
/* cmake / ctest */

static void need_ctest(void)
{
    char *cmake[] = {"cmake", "--version", NULL};
    need_program(cmake, "cmake");
}

/* Configure the project into DIR (cmake runs no compiler: the project has no language). */
static void configure(const char *dir)
{
    char tests[32], build_dir[128];
    snprintf(tests, sizeof(tests), "-DCTEST_TESTS=%d", CTEST_TESTS);
    snprintf(build_dir, sizeof(build_dir), "%s", dir);
    char *argv[] = {"cmake", "-S", CTEST_PROJECT, "-B", build_dir, tests, NULL};
    char *out = NULL;
    cr_assert_eq(run_out(argv, &out), 0, "cmake could not configure %s", CTEST_PROJECT);
    free(out);
}

/* ctest's output without its timings ("  Passed    0.01 sec", "Total Test time (real) ="). */
static char *without_timings(const char *text)
{
    char *copy = strdup(text);
    cr_assert_not_null(copy);
    char *w = copy;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        if (strncmp(line, "Total Test time", 15) != 0) {
            const char *sec = memmem(line, len, " sec", 4);
            size_t keep = len;
            if (sec) {
                while (sec > line && (sec[-1] == '.' || (sec[-1] >= '0' && sec[-1] <= '9')))
                    sec--;
                keep = (size_t)(sec - line);
                memcpy(w, line, keep);
                w += keep;
                *w++ = '\n';
            } else {
                memcpy(w, line, keep);
                w += keep;
            }
        }
        line += len;
    }
    *w = '\0';
    return copy;
}

Test(uv_real, ctest_processes_and_pipes)
{
    need_preload();
    need_ctest();
    char build_dir[128];
    snprintf(build_dir, sizeof(build_dir), "%s/build", test_dir);
    configure(build_dir);
    /* Launched by `record --uv`: ctest's own handles, from its first, are recorded. */
    char *argv[] = {AHPROF, "record", "--uv",       "-q",      "-o",  data_path,
                    "--",   "ctest",  "--test-dir", build_dir, "-j1", NULL};
    char *out = NULL;
    int code = run_out(argv, &out);
    cr_assert_eq(code, 0, "ahprof record --uv -- ctest exited %d: %s", code, out);
    cr_expect(strstr(out, "100% tests passed, 0 tests failed out of " STR(CTEST_TESTS)) != NULL,
              "ctest: %s", out);
    json_object *r = report_json();
    expect_clean(r);

    /* One process per test, with a pipe for its stdout and one for its stderr; callbacks: its
     * exit and its close. */
    expect_type(r, "PROCESSWRAP", CTEST_TESTS, CTEST_TESTS, 2 * CTEST_TESTS, 0);
    json_object *pipe = type_of(r, "PIPEWRAP");
    cr_expect_eq(get_int(pipe, "created"), 2 * CTEST_TESTS);
    cr_expect_eq(get_int(pipe, "destroyed"), 2 * CTEST_TESTS);
    cr_expect_geq(get_int(pipe, "callbacks"), CTEST_TESTS, "each test printed a line");
    expect_no_leak(r, "PROCESSWRAP");
    expect_no_leak(r, "PIPEWRAP");
    json_object_put(r);
    free(out);
}

Test(uv_real, ctest_preloaded_untraced_is_unchanged)
{
    need_preload();
    need_ctest();
    char build_dir[128];
    snprintf(build_dir, sizeof(build_dir), "%s/build", test_dir);
    configure(build_dir);
    char *plain[] = {"ctest", "--test-dir", build_dir, "-j1", NULL};
    char *preloaded[] = {"env", LD_PRELOAD_ENV, "ctest", "--test-dir", build_dir, "-j1", NULL};
    char *out_plain = NULL, *out_pre = NULL;
    int code_plain = run_out(plain, &out_plain);
    int code_pre = run_out(preloaded, &out_pre);
    cr_expect_eq(code_plain, 0);
    cr_expect_eq(code_pre, code_plain, "exit status %d preloaded, %d plain", code_pre, code_plain);
    char *a = without_timings(out_plain), *b = without_timings(out_pre);
    cr_expect(strstr(a, "100% tests passed, 0 tests failed out of " STR(CTEST_TESTS)) != NULL,
              "ctest: %s", out_plain);
    cr_expect_str_eq(b, a);
    free(a);
    free(b);
    char *asan[] = {"env",         (char *)asan_preload_env("LD_PRELOAD"),
                    ASAN_NO_LEAKS, "ctest",
                    "--test-dir",  build_dir,
                    "-j1",         NULL};
    expect_same_run(asan, "ctest with the ASan interposer", out_plain, code_plain, without_timings);
    free(out_plain);
    free(out_pre);
}
