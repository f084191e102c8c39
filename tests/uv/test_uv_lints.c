/*
 * test_uv_lints.c - the warnings (docs/lints.md) on real, unmodified Debian programs preloaded
 * with libah-uv.so (tests/uv/real/, helpers in uvreal.h), with real BPF: python3-uvloop's echo
 * server with lookups, timers and an executor, and kresd answering dig and dnsperf over UDP
 * and TCP. On their clean paths no lint may fire, in `report` over a recording nor live in
 * `top` (every interval, with short never-ran and orphan thresholds); a uvloop callback that
 * sleeps 200 ms must fire long-callback, blocked in clock_nanosleep. A false positive is a
 * defect of the lint, not of the test.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint_checks.h"
#include "run.h"
#include "tmpdir.h"
#include "uvreal.h"

#define UVLOOP_SLEEPY UVREAL_DIR "/uvloop_sleepy.py"

TestSuite(uv_lints, .init = make_paths, .fini = remove_paths, .timeout = 150);

/* The live thresholds of the clean runs: much shorter than the defaults, so that a lint that
 * would misjudge these programs has the time to. */
#define LIVE_NEVER_RAN "--never-ran", "1s"
#define LIVE_ORPHAN "--orphan", "1s"

/* Every interval of `top --json` in OUT (NDJSON): no warning in any; returns how many
 * intervals there were. */
static int expect_no_live_warning(const char *out, const char *what)
{
    int intervals = 0;
    for (const char *line = out; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        json_object *root = json_tokener_parse(copy);
        cr_assert_not_null(root, "%s: not JSON: %.200s", what, copy);
        char label[128];
        snprintf(label, sizeof(label), "%s, interval %d", what, ++intervals);
        expect_none(root, label);
        json_object_put(root);
        free(copy);
        line = end ? end + 1 : NULL;
    }
    return intervals;
}

/* `ahprof top --json 0.2 -p PID` (with the short thresholds) started on TARGET, which waits
 * for "go": released, both to their end; returns top's output. */
static char *top_released(struct proc *target, pid_t pid, char **target_out, int *target_code)
{
    static struct proc top;
    char pid_text[32];
    snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
    char *argv[] = {AHPROF,      "top", "--json", "0.2", LIVE_NEVER_RAN,
                    LIVE_ORPHAN, "-p",  pid_text, NULL};
    proc_start(&top, argv);
    /* top prints its first interval once attached: then the load may start. */
    static char first[1 << 16];
    cr_assert(proc_read_line(&top, first, sizeof(first), 30000), "ahprof top did not attach");
    release_by_stdin(target);
    char *err = NULL;
    *target_code = proc_capture(target, target_out, &err, 90000);
    cr_assert(!target->timed_out, "the target did not finish: %s", err);
    free(err);
    /* What proc_read_line read past the first line is not proc_capture's. */
    char *rest = strndup(top.buf, top.buf_len), *out = NULL;
    err = NULL;
    int code = proc_capture(&top, &out, &err, 30000);
    cr_assert_eq(code, 0, "ahprof top exited %d: %s", code, err);
    free(err);
    char *all = NULL;
    cr_assert(asprintf(&all, "%s\n%s%s", first, rest, out ? out : "") > 0);
    free(rest);
    free(out);
    return all;
}

/* The uvloop app, preloaded, waiting for "go" (skipped when uvloop is not installed). */
static pid_t start_uvloop(struct proc *app)
{
    need_preload();
    need_uvloop();
    char *argv[] = {"env", LD_PRELOAD_ENV, PYTHON, UVLOOP_APP, "--wait", UVL_ARGS, NULL};
    return start_waiting(app, argv);
}

Test(uv_lints, uvloop_clean_fires_nothing_in_report)
{
    static struct proc app;
    pid_t pid = start_uvloop(&app);
    char *out = NULL;
    int code;
    json_object *r = record_released(&app, pid, &out, &code, release_by_stdin);
    cr_assert_eq(code, 0, "the app exited %d: %s", code, out);
    cr_expect_gt(get_int(r, "events"), 200);
    expect_none(r, "uvloop under record");
    json_object_put(r);
    free(out);
}

Test(uv_lints, uvloop_clean_fires_nothing_live)
{
    static struct proc app;
    pid_t pid = start_uvloop(&app);
    char *app_out = NULL;
    int code;
    char *out = top_released(&app, pid, &app_out, &code);
    cr_assert_eq(code, 0, "the app exited %d: %s", code, app_out);
    cr_expect_geq(expect_no_live_warning(out, "uvloop under top"), 2);
    free(out);
    free(app_out);
}

static void start_kresd(struct proc *run, int *kresd_pid)
{
    char *argv[] = {"env", LD_PRELOAD_ENV_KRESD, KRESD_RUN, "--wait", test_dir, KR_ARGS, NULL};
    proc_start(run, argv);
    char line[256];
    cr_assert(proc_read_line(run, line, sizeof(line), 30000), "kresd_run.sh did not start");
    cr_assert(sscanf(line, "ready %d", kresd_pid) == 1 && *kresd_pid > 0,
              "kresd_run.sh printed '%s'", line);
}

Test(uv_lints, kresd_clean_fires_nothing_in_report)
{
    need_preload();
    need_kresd();
    static struct proc run;
    int kresd_pid = 0;
    start_kresd(&run, &kresd_pid);
    char *out = NULL;
    int code;
    json_object *r = record_released(&run, kresd_pid, &out, &code, release_by_stdin);
    cr_assert_eq(code, 0, "kresd_run.sh exited %d: %s", code, out);
    expect_kresd_answers(out);
    expect_none(r, "kresd under record");
    json_object_put(r);
    free(out);
}

Test(uv_lints, kresd_clean_fires_nothing_live)
{
    need_preload();
    need_kresd();
    static struct proc run;
    int kresd_pid = 0;
    start_kresd(&run, &kresd_pid);
    char *run_out = NULL;
    int code;
    char *out = top_released(&run, kresd_pid, &run_out, &code);
    cr_assert_eq(code, 0, "kresd_run.sh exited %d: %s", code, run_out);
    expect_kresd_answers(run_out);
    cr_expect_geq(expect_no_live_warning(out, "kresd under top"), 2);
    free(out);
    free(run_out);
}

/* A timer callback that sleeps 200 ms blocks uvloop's loop: long-callback on TIMERWRAP, the
 * type's blocking almost all in clock_nanosleep (Python's time.sleep), and nothing else. */
Test(uv_lints, uvloop_sleeping_callback_fires_long_callback_with_reason)
{
    need_preload();
    need_uvloop();
    char *argv[] = {AHPROF, "top",  "--uv",        "--json", "0.2",
                    "--",   PYTHON, UVLOOP_SLEEPY, "200",    NULL};
    json_object *last = top_until_exit(argv);
    json_object *ex = expect_only(last, "long-callback", "TIMERWRAP", 1);
    cr_expect_geq(get_int(ex, "max_ns"), 200000000LL);
    cr_expect_geq(get_int(ex, "blocked_ns"), 190000000LL);
    cr_expect_str_eq(str_of(ex, "blocked_reason"), "clock_nanosleep");
    json_object_put(last);
}
