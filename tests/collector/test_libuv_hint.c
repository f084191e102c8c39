/*
 * test_libuv_hint.c - what ahprof says about a libuv program that runs without its
 * interposer (src/cli/collect/libuv.c), and the usage rules of --uv. The program is a real
 * Debian one: python3-uvloop, which maps the shared libuv1.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define PY "/usr/bin/python3"

/* A uvloop event loop that prints "ready" once libuv is mapped, then idles until killed. */
static void start_uvloop_idle(struct proc *p)
{
    if (access(PY, X_OK) != 0)
        cr_skip_test("needs " PY " (scripts/packages/test.txt: python3-uvloop)");
    char *argv[] = {PY, "-c",
                    "import sys, time, uvloop\n"
                    "loop = uvloop.new_event_loop()\n"
                    "print('ready', flush=True)\n"
                    "time.sleep(30)\n",
                    NULL};
    proc_start(p, argv);
    char line[64];
    cr_assert(proc_read_line(p, line, sizeof(line), 10000), "uvloop did not start");
    cr_assert_str_eq(line, "ready");
}

Test(libuv_hint, a_running_libuv_program_without_the_interposer_gets_the_restart_advice)
{
    struct proc py;
    start_uvloop_idle(&py);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", py.pid);
    char *argv[] = {AHPROF, "top", "-p", pid, "1", "1", NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 20000);
    cr_expect_eq(code, 4, "exit code %d (4: no target), stderr: %s", code, err);
    cr_expect(strstr(err, "uses libuv (") != NULL, "no libuv diagnosis: %s", err);
    cr_expect(strstr(err, "libuv.so") != NULL, "the libuv path is not named: %s", err);
    cr_expect(strstr(err, "--uv -- COMMAND") != NULL, "no restart advice: %s", err);
    free(out);
    free(err);

    /* The same as one JSON error object on stdout. */
    char *jargv[] = {AHPROF, "record", "--json", "-p", pid, NULL};
    code = run_capture(jargv, &out, &err, 20000);
    cr_expect_eq(code, 4, "exit code %d, stdout: %s", code, out);
    json_object *o = json_tokener_parse(out);
    cr_assert_not_null(o, "not JSON: %s", out);
    json_object *e;
    cr_assert(json_object_object_get_ex(o, "error", &e), "no error member: %s", out);
    cr_expect(strstr(json_object_get_string(e), "uses libuv") != NULL, "%s", out);
    json_object_put(o);
    free(out);
    free(err);
    kill(py.pid, SIGKILL);
    proc_wait(&py, 5000);
}

Test(libuv_hint, a_plain_libah_less_program_gets_no_libuv_advice)
{
    /* sleep maps no libuv: the message stays the plain one. */
    char *sleep_argv[] = {"sleep", "20", NULL};
    struct proc s;
    proc_start(&s, sleep_argv);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", s.pid);
    char *argv[] = {AHPROF, "top", "-p", pid, "1", "1", NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 20000);
    cr_expect_eq(code, 4, "exit code %d: %s", code, err);
    cr_expect(strstr(err, "does not use libah") != NULL, "%s", err);
    cr_expect(strstr(err, "libuv (") == NULL, "sleep does not use libuv: %s", err);
    free(out);
    free(err);
    kill(s.pid, SIGKILL);
    proc_wait(&s, 5000);
}

Test(libuv_hint, uv_needs_a_command_to_launch)
{
    char *argv[] = {AHPROF, "top", "--uv", "-p", "1", NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 20000);
    cr_expect_eq(code, 2, "exit code %d (2: usage): %s", code, err);
    cr_expect(strstr(err, "--uv launches a program") != NULL, "%s", err);
    free(out);
    free(err);
}

Test(libuv_hint, uv_names_a_missing_interposer)
{
    /* An explicit AHPROF_UV_LIB that does not exist is an error, not a silent fallback. */
    char *argv[] = {"/usr/bin/env", "AHPROF_UV_LIB=/nonexistent/libah-uv.so",
                    AHPROF,         "record",
                    "-o",           "/dev/null",
                    "--uv",         "--",
                    "true",         NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 20000);
    cr_expect_eq(code, 1, "exit code %d: %s", code, err);
    cr_expect(strstr(err, "cannot find libah-uv.so") != NULL, "%s", err);
    free(out);
    free(err);
}
