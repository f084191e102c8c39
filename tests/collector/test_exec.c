/*
 * test_exec.c - a target that runs exec(): the recording stops there and says so, and never
 * counts the new program's events under the old program's type names. Exec of the same
 * executable (whose probes the uprobes still match) and of another libah program, launched
 * (--) and attached (-p), batch path and per-event path.
 *
 * The truth (`workload exec HOW 200 300`): 200 x BEFORE_EXEC lifecycles (800 events, the last
 * ones still in the thread's buffer at exec), then exec; the new program registers AFTER_EXEC
 * as type 0 (BEFORE_EXEC's id) and raises 300 lifecycles, then exits 0.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

TestSuite(exec, .init = make_data_path, .fini = remove_data, .timeout = 60);

static json_object *report_json(void)
{
    char *argv[] = {AHPROF, "report", "--json", data_path, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_assert_eq(code, 0, "ahprof report exited %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "report is not JSON: %.200s", out);
    free(out);
    free(err);
    return root;
}

/* BEFORE_EXEC exactly, nothing of the new program, and the exec named. */
static void expect_stopped_at_exec(json_object *r, const char *new_program)
{
    expect_type(r, "BEFORE_EXEC", 200, 200, 200, 0);
    cr_expect_null(find_named(r, "types", "AFTER_EXEC"), "the new program's type was recorded");
    cr_expect_eq(get_int(r, "events"), 800, "events %lld", get_int(r, "events"));
    cr_expect_eq(get_int(r, "lost_events"), 0);
    json_object *exec, *path;
    cr_assert(json_object_object_get_ex(r, "exec", &exec) && exec != NULL,
              "the report does not say the target ran exec");
    cr_assert(json_object_object_get_ex(exec, "path", &path));
    const char *p = json_object_get_string(path);
    size_t n = strlen(p), m = strlen(new_program);
    cr_expect(n > m && strcmp(p + n - m, new_program) == 0 && p[n - m - 1] == '/', "exec path %s",
              p);
}

static void record_launched(const char *how, const char *extra, char **err_out)
{
    char *argv[] = {AHPROF, "record",    "-o",  data_path, "--", WORKLOAD,
                    "exec", (char *)how, "200", "300",     NULL, NULL};
    if (extra) {
        memmove(&argv[5], &argv[4], 6 * sizeof(char *));
        argv[4] = (char *)extra;
    }
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    cr_expect(strstr(err, "ran exec(") != NULL, "%s", err);
    *err_out = err;
}

Test(exec, launched_exec_of_itself_stops_the_recording_there)
{
    char *err;
    record_launched("self", NULL, &err);
    free(err);
    json_object *r = report_json();
    expect_stopped_at_exec(r, "workload");
    /* A launched target is still waited for: its end is known too. */
    json_object *exit;
    cr_assert(json_object_object_get_ex(r, "exit", &exit) && exit != NULL);
    cr_expect_eq(get_int(exit, "status"), 0);
    json_object_put(r);
    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(argv, &out, NULL, 30000), 0);
    cr_expect(strstr(out, "the recording stopped there") != NULL, "%s", out);
    free(out);
}

Test(exec, launched_exec_of_another_libah_program)
{
    char *err;
    record_launched("other", NULL, &err);
    free(err);
    json_object *r = report_json();
    expect_stopped_at_exec(r, "workload-static");
    json_object_put(r);
}

Test(exec, launched_exec_per_event)
{
    char *err;
    record_launched("self", "--per-event", &err);
    free(err);
    json_object *r = report_json();
    expect_stopped_at_exec(r, "workload");
    json_object_put(r);
}

/* Attached: ahprof stops at the exec by itself and detaches. */
Test(exec, attached_exec_of_itself_stops_the_recording_there)
{
    struct proc target, rec;
    char pid[32];
    char *targv[] = {WORKLOAD, "exec", "self", "200", "300", NULL};
    start_ready_target(&target, targv, pid);
    char *argv[] = {AHPROF, "record", "-p", pid, "-o", data_path, NULL};
    proc_start(&rec, argv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char *err = proc_read_all(rec.err_fd, 10000);
    int code = proc_wait(&rec, 10000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    cr_expect(strstr(err, "ran exec(") != NULL, "%s", err);
    free(err);
    proc_wait(&target, 10000);
    json_object *r = report_json();
    expect_stopped_at_exec(r, "workload");
    json_object_put(r);
}
