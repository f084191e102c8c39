/*
 * uvreal.h - running the real, unmodified Debian programs of tests/uv/real/ preloaded with
 * libah-uv.so under ahprof, for test_uv_real.c and test_uv_lints.c: their workloads' numbers,
 * skipping when a package is missing, attaching `ahprof record -p` to a program that waits for
 * "go". Include once per test file, after run.h and tmpdir.h.
 */
#ifndef AHP_UVREAL_H
#define AHP_UVREAL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "tmpdir.h"

#define UV_PRELOAD AHP_BUILD "/libah-uv.so"
#define PYTHON "/usr/bin/python3"
#define UVLOOP_APP UVREAL_DIR "/uvloop_app.py"
#define KRESD_RUN UVREAL_DIR "/kresd_run.sh"
#define LUV_APP UVREAL_DIR "/luv_app.lua"
#define CTEST_PROJECT UVREAL_DIR "/ctest_project"
#define LD_PRELOAD_ENV "LD_PRELOAD=" UV_PRELOAD
#define UV_PRELOAD_ASAN AHP_BUILD "/tests/uv/asan/libah-uv.so"
/* Python, kresd and cmake leave memory allocated at exit by design: leak checks only for lua. */
#define ASAN_NO_LEAKS "ASAN_OPTIONS=detect_leaks=0"
#define ASAN_LEAKS "ASAN_OPTIONS=detect_leaks=1"
/* kresd_run.sh preloads kresd alone (not unshare, sh, dig, dnsperf). */
#define LD_PRELOAD_ENV_KRESD "UV_PRELOAD=" UV_PRELOAD

/* uvloop workload: clients x rounds, lookups, timers, executor jobs. */
#define UVL_CLIENTS 4
#define UVL_ROUNDS 25
#define UVL_LOOKUPS 5
#define UVL_TIMERS 6
#define UVL_JOBS 3

/* kresd workload: TCP queries by dig (one connection each), UDP queries by dnsperf, dnsperf's
 * TCP connections (the same queries again over TCP). */
#define KR_TCP_DIGS 4
#define KR_QUERIES 300
#define KR_TCP_CLIENTS 2

/* luv workload. */
#define LUV_CLIENTS 3
#define LUV_ROUNDS 10
#define LUV_TIMERS 4
#define LUV_WORKS 5
#define LUV_STATS 6

#define CTEST_TESTS 6

__attribute__((unused)) static void need_preload(void)
{
    cr_assert(access(UV_PRELOAD, R_OK) == 0, "%s is missing: `make` builds it", UV_PRELOAD);
}

/* Whether ARGV runs and exits 0 (for skipping when a package is missing). */
__attribute__((unused)) static bool runs(char *const argv[])
{
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 20000);
    free(out);
    free(err);
    return code == 0;
}

__attribute__((unused)) static void need_program(char *const probe[], const char *package)
{
    if (!runs(probe)) {
        test_dir_fini();
        cr_skip_test("%s is not installed (apt-get install %s)", package, package);
    }
}

/*
 * TARGET was started preloaded and waits for a line on stdin. Attach `ahprof record -p PID`,
 * let the target go, collect its output (*OUT) and exit code (*CODE), wait for ahprof (it stops
 * when the target exits) and return the report. PID may differ from TARGET's (kresd runs
 * under a script).
 */
__attribute__((unused)) static json_object *record_released(struct proc *target, pid_t pid,
                                                            char **out, int *code,
                                                            void (*release)(struct proc *target))
{
    static struct proc rec;
    char pid_text[32];
    snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
    char *argv[] = {AHPROF, "record", "-p", pid_text, "-o", data_path, NULL};
    proc_start(&rec, argv);
    cr_assert(proc_wait_stderr(&rec, "recording pid", 30000), "ahprof record did not attach");
    release(target);
    char *err = NULL;
    *code = proc_capture(target, out, &err, 90000);
    cr_assert(!target->timed_out, "the target did not finish: %s", err);
    free(err);
    int rc = proc_wait(&rec, 30000);
    cr_assert_eq(rc, 0, "ahprof record exited %d", rc);
    return report_json();
}

__attribute__((unused)) static void release_by_stdin(struct proc *target)
{
    cr_assert_eq(write(target->in_fd, "go\n", 3), 3, "cannot release the target");
}

/* Start ARGV (which waits for "go" after printing "ready") and return its pid. */
__attribute__((unused)) static pid_t start_waiting(struct proc *p, char *const argv[])
{
    proc_start(p, argv);
    char line[256];
    cr_assert(proc_read_line(p, line, sizeof(line), 20000), "%s did not start", argv[2]);
    cr_assert(strcmp(line, "ready") == 0, "%s printed '%s' instead of ready", argv[2], line);
    return p->pid;
}

/* Run ARGV to its end; *OUT its stdout; returns its exit code. */
__attribute__((unused)) static int run_out(char *const argv[], char **out)
{
    char *err = NULL;
    int code = run_capture(argv, out, &err, 90000);
    if (code != 0)
        cr_log_warn("%s exited %d: %s", argv[0], code, err);
    free(err);
    return code;
}

__attribute__((unused)) static void make_paths(void)
{
    make_data_path();
    test_dir_init();
}

__attribute__((unused)) static void remove_paths(void)
{
    remove_data();
    test_dir_fini();
}

__attribute__((unused)) static void need_uvloop(void)
{
    char *probe[] = {PYTHON, "-c", "import uvloop", NULL};
    need_program(probe, "python3-uvloop");
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define UVL_ARGS STR(UVL_CLIENTS), STR(UVL_ROUNDS), STR(UVL_LOOKUPS), STR(UVL_TIMERS), STR(UVL_JOBS)

__attribute__((unused)) static void need_kresd(void)
{
    char *kresd[] = {"kresd", "--version", NULL};
    need_program(kresd, "knot-resolver");
    char *dnsperf[] = {"sh", "-c", "command -v dnsperf", NULL};
    need_program(dnsperf, "dnsperf");
    char *dig[] = {"sh", "-c", "command -v dig", NULL};
    need_program(dig, "dnsutils");
}

/* What kresd_run.sh prints for the workload above: every answer from the local policy. */
__attribute__((unused)) static void expect_kresd_answers(const char *out)
{
    char want[1024];
    int n = 0;
    for (int i = 0; i < KR_TCP_DIGS; i++)
        n += snprintf(want + n, sizeof(want) - n, "tcp 192.0.2.1\n");
    snprintf(want + n, sizeof(want) - n,
             "udp 192.0.2.1\nudp-aaaa NOERROR\n"
             "dnsperf udp: Queries sent %d,Queries completed %d,Response codes NOERROR %d "
             "(100.00%%)\n"
             "dnsperf tcp: Queries sent %d,Queries completed %d,Response codes NOERROR %d "
             "(100.00%%),Reconnections 0\n"
             "kresd exit 0\n",
             KR_QUERIES, KR_QUERIES, KR_QUERIES, KR_QUERIES, KR_QUERIES, KR_QUERIES);
    cr_expect_str_eq(out, want);
}

#define KR_ARGS STR(KR_TCP_DIGS), STR(KR_QUERIES), STR(KR_TCP_CLIENTS)

#endif
