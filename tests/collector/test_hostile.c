/*
 * test_hostile.c - a target that writes garbage where ahprof reads (tests/targets/hostile.c)
 * must not harm the root collector. ahprof runs here built with ASan+UBSan (build/asan/ahprof):
 * it must exit normally (0, or 1 with a one-line error for a registry it cannot trust), print
 * valid JSON and no raw control byte, keep the clean threads' counts exact, and say how much
 * of what the target sent was malformed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define AHPROF_ASAN AHP_BUILD "/asan/ahprof"
#define HOSTILE AHP_BUILD "/targets/hostile"

/* Sanitizer reports get exit codes of their own: 1 is ahprof's "error". */
static void sanitized(void)
{
    make_data_path();
    setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1", 1);
    setenv("UBSAN_OPTIONS", "exitcode=87:print_stacktrace=1", 1);
}

TestSuite(hostile, .init = sanitized, .fini = remove_data, .timeout = 120);

#define CLEAN_THREADS 3
#define CLEAN_N 2000

static void expect_sane_exit(int code, const char *err, const char *what)
{
    cr_expect(code == 0 || code == 1, "%s exited %d: %s", what, code, err ? err : "");
    cr_expect(err == NULL ||
                  (strstr(err, "Sanitizer") == NULL && strstr(err, "runtime error") == NULL),
              "%s: sanitizer report: %s", what, err);
}

static void expect_printable(const char *text, const char *what)
{
    for (const char *c = text; *c; c++)
        if (!(*c == '\n' || (*c >= 0x20 && *c < 0x7f)))
            cr_assert_fail("%s: raw byte 0x%02x reached the terminal", what, (unsigned char)*c);
}

static long long malformed(json_object *obj)
{
    return get_int(obj, "malformed_batches") + get_int(obj, "malformed_records");
}

/* The clean threads' types, exactly; the scribbler's lies in their own rows. */
static void expect_clean(json_object *root)
{
    expect_type(root, "CLEAN", CLEAN_THREADS * CLEAN_N, CLEAN_THREADS * CLEAN_N,
                CLEAN_THREADS * CLEAN_N, 0);
    expect_type(root, "CHILD", CLEAN_THREADS * CLEAN_N, CLEAN_THREADS * CLEAN_N,
                CLEAN_THREADS * CLEAN_N, 0);
}

#define N_STR(x) #x
#define STR(x) N_STR(x)

Test(hostile, top_json_launch_counts_clean_threads_and_reports_damage)
{
    char *argv[] = {AHPROF_ASAN, "top",   "--json",           "0.5",        "--",
                    HOSTILE,     "batch", STR(CLEAN_THREADS), STR(CLEAN_N), NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 90000);
    expect_sane_exit(code, err, "top --json");
    cr_assert_eq(code, 0, "%s", err);
    json_object *last = last_json_line(out);
    expect_clean(last);
    cr_expect_gt(get_int(last, "malformed_batches"), 0, "lying headers not reported");
    cr_expect_gt(get_int(last, "malformed_records"), 0, "garbage records not reported");
    json_object_put(last);
    free(out);
    free(err);
}

Test(hostile, top_text_shows_no_raw_byte_and_names_the_damage)
{
    char *argv[] = {AHPROF_ASAN, "top", "-C", "0.5", "--", HOSTILE, "batch", "2", "500", NULL};
    char *out, *err;
    int code = run_capture(argv, &out, &err, 90000);
    expect_sane_exit(code, err, "top");
    cr_assert_eq(code, 0, "%s", err);
    expect_printable(out, "top");
    /* The type whose name has no NUL, escaped and cut. */
    cr_expect(strstr(out, "\\x1b]0;owned\\x07") != NULL, "hostile name not shown escaped: %s", out);
    cr_expect(strstr(out, "malformed") != NULL, "damage not shown: %s", out);
    free(out);
    free(err);
}

static void record_hostile(void)
{
    char *argv[] = {AHPROF_ASAN, "record",           "-o",         data_path, "--", HOSTILE,
                    "batch",     STR(CLEAN_THREADS), STR(CLEAN_N), NULL};
    char *err;
    int code = run_capture(argv, NULL, &err, 90000);
    expect_sane_exit(code, err, "record");
    cr_assert_eq(code, 0, "%s", err);
    cr_expect(strstr(err, "malformed") != NULL, "record does not name the damage: %s", err);
    free(err);
}

Test(hostile, record_launch_then_report_and_flame)
{
    record_hostile();

    char *jargv[] = {AHPROF_ASAN, "report", "--json", data_path, NULL};
    char *out, *err;
    int code = run_capture(jargv, &out, &err, 60000);
    expect_sane_exit(code, err, "report --json");
    cr_assert_eq(code, 0, "%s", err);
    json_object *r = json_tokener_parse(out);
    cr_assert_not_null(r, "report --json is not JSON: %.300s", out);
    expect_clean(r);
    /* Dropped garbage is lost data, counted as such. */
    cr_expect_gt(get_int(r, "lost_events"), 0, "malformed records not counted as lost");
    /* Timestamps of clean threads stay real whatever anchors the liar sent: each CLEAN
     * callback holds a whole CHILD lifecycle, and they all ran in a few seconds. */
    json_object *clean = find_named(r, "types", "CLEAN");
    cr_expect_gt(get_int(clean, "callback_ns"), CLEAN_THREADS * CLEAN_N);
    cr_expect_lt(get_int(clean, "callback_ns"), 10000000000LL);
    json_object_put(r);
    free(out);
    free(err);

    char *targv[] = {AHPROF_ASAN, "report", data_path, NULL};
    code = run_capture(targv, &out, &err, 60000);
    expect_sane_exit(code, err, "report");
    cr_expect_eq(code, 0, "%s", err);
    expect_printable(out, "report");
    free(out);
    free(err);

    static const char *formats[] = {"folded", "svg", "chrome", "speedscope", "dot"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char *fargv[] = {AHPROF_ASAN, "flame", data_path, "-f", (char *)formats[i], NULL};
        code = run_capture(fargv, &out, &err, 60000);
        expect_sane_exit(code, err, formats[i]);
        cr_expect_eq(code, 0, "flame -f %s: %s", formats[i], err);
        if (strcmp(formats[i], "folded") == 0)
            expect_printable(out, "flame -f folded");
        if (strcmp(formats[i], "chrome") == 0 || strcmp(formats[i], "speedscope") == 0) {
            json_object *j = json_tokener_parse(out);
            cr_expect_not_null(j, "flame -f %s is not JSON", formats[i]);
            json_object_put(j);
        }
        free(out);
        free(err);
    }
}

/* Start the liar, attach with ARGV (which names it by -p), let it run, return ahprof's exit. */
static int attach_and_go(char **argv, const char *attached, struct proc *ahprof, char **out,
                         char **err)
{
    char *hargv[] = {HOSTILE, "batch", STR(CLEAN_THREADS), STR(CLEAN_N), NULL};
    struct proc h;
    char pid[32];
    start_ready_target(&h, hargv, pid);
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], "PID") == 0)
            argv[i] = pid;
    proc_start(ahprof, argv);
    cr_assert(proc_wait_stderr(ahprof, attached, 30000), "ahprof did not attach");
    cr_assert(write(h.in_fd, "go\n", 3) == 3);
    cr_expect_eq(proc_wait(&h, 30000), 0, "the liar itself failed");
    *out = proc_read_all(ahprof->out_fd, 30000);
    *err = proc_read_all(ahprof->err_fd, 1000);
    return proc_wait(ahprof, 30000);
}

Test(hostile, record_attach_mid_run)
{
    char *argv[] = {AHPROF_ASAN, "record", "-p", "PID", "-o", data_path, NULL};
    struct proc rec;
    char *out, *err;
    int code = attach_and_go(argv, "ahprof: recording pid", &rec, &out, &err);
    expect_sane_exit(code, err, "record -p");
    cr_assert_eq(code, 0, "%s", err);
    free(out);
    free(err);
    char *jargv[] = {AHPROF_ASAN, "report", "--json", data_path, NULL};
    code = run_capture(jargv, &out, &err, 60000);
    expect_sane_exit(code, err, "report --json");
    json_object *r = json_tokener_parse(out);
    cr_assert_not_null(r, "report --json is not JSON: %.300s", out);
    expect_clean(r);
    json_object_put(r);
    free(out);
    free(err);
}

Test(hostile, top_attach_mid_run)
{
    char *argv[] = {AHPROF_ASAN, "top", "--json", "-p", "PID", "0.2", NULL};
    char *hargv[] = {HOSTILE, "batch", STR(CLEAN_THREADS), STR(CLEAN_N), NULL};
    struct proc h, t;
    char pid[32];
    start_ready_target(&h, hargv, pid);
    argv[4] = pid;
    proc_start(&t, argv);
    char line[1 << 16];
    cr_assert(proc_read_line(&t, line, sizeof(line), 30000), "no interval from ahprof top");
    cr_assert(write(h.in_fd, "go\n", 3) == 3);
    cr_expect_eq(proc_wait(&h, 30000), 0, "the liar itself failed");
    char *out = proc_read_all(t.out_fd, 30000);
    char *err = proc_read_all(t.err_fd, 1000);
    int code = proc_wait(&t, 30000);
    expect_sane_exit(code, err, "top -p");
    cr_assert_eq(code, 0, "%s", err);
    json_object *last = last_json_line(out);
    expect_clean(last);
    cr_expect_gt(malformed(last), 0);
    json_object_put(last);
    free(out);
    free(err);
}

/* Attach while the registry is damaged the way KIND says. Returns ahprof's exit code; the
 * target is repaired and let go either way, and must then finish normally. */
static int attach_to_damaged_registry(const char *kind, char **out, char **err)
{
    char *hargv[] = {HOSTILE, "registry", (char *)kind, NULL};
    struct proc h, t;
    char pid[32];
    start_ready_target(&h, hargv, pid);
    char *argv[] = {AHPROF_ASAN, "top", "--json", "-p", pid, "0.2", NULL};
    proc_start(&t, argv);
    char line[1 << 16];
    bool attached = proc_read_line(&t, line, sizeof(line), 30000);
    cr_assert(write(h.in_fd, "go\n", 3) == 3);
    cr_expect_eq(proc_wait(&h, 30000), 0, "the target itself failed");
    char *rest = proc_read_all(t.out_fd, 30000);
    *out = malloc(strlen(line) + strlen(rest) + 2);
    sprintf(*out, "%s\n%s", attached ? line : "", rest);
    free(rest);
    *err = proc_read_all(t.err_fd, 1000);
    return proc_wait(&t, 30000);
}

/* A registry ahprof cannot trust: one JSON error line naming it, exit 1, within seconds. */
static void expect_refused(const char *kind)
{
    char *out, *err;
    int code = attach_to_damaged_registry(kind, &out, &err);
    expect_sane_exit(code, err, kind);
    cr_expect_eq(code, 1, "%s: ahprof top exited %d: %s %s", kind, code, out, err);
    json_object *obj = json_tokener_parse(out);
    cr_assert_not_null(obj, "%s: not a JSON error: %s", kind, out);
    json_object *msg;
    cr_assert(json_object_object_get_ex(obj, "error", &msg), "%s: no error: %s", kind, out);
    cr_expect(strstr(json_object_get_string(msg), "registry") != NULL, "%s: %s", kind,
              json_object_get_string(msg));
    json_object_put(obj);
    free(out);
    free(err);
}

Test(hostile, registry_with_wrong_magic_is_refused)
{
    expect_refused("magic");
}

Test(hostile, registry_thread_list_cycle_is_refused)
{
    expect_refused("cycle");
}

Test(hostile, registry_thread_list_pointing_nowhere_is_refused)
{
    expect_refused("wild");
}

Test(hostile, registry_counts_that_overflow_are_refused)
{
    expect_refused("counts");
}

Test(hostile, registry_thread_forever_mid_update_is_refused)
{
    expect_refused("odd");
}

/* Damage ahprof can live with: names it cannot read, a bogus batch offset. Returns the
 * malformed batches top saw. */
static long long expect_attached(const char *kind)
{
    char *out, *err;
    int code = attach_to_damaged_registry(kind, &out, &err);
    expect_sane_exit(code, err, kind);
    cr_assert_eq(code, 0, "%s: ahprof top exited %d: %s", kind, code, err);
    json_object *last = last_json_line(out);
    expect_type(last, "CLEAN", 10, 10, 10, 0);
    long long bad = get_int(last, "malformed_batches");
    json_object_put(last);
    free(out);
    free(err);
    return bad;
}

Test(hostile, registry_names_unreadable_still_attaches)
{
    cr_expect_eq(expect_attached("names"), 0);
}

/* The switch-out reader goes where the registry says a thread's buffer is: there it finds a
 * header claiming 1000 records, drops it and says so. */
Test(hostile, registry_bogus_batch_offset_still_attaches)
{
    cr_expect_eq(expect_attached("batch-offset"), 1);
}
