/*
 * test_crash.c - a target that dies inside a callback (SIGSEGV, abort(), exit(3)): the events
 * its thread still held are recorded, the file says how the target ended, and the report
 * lists the callbacks open at that moment with their trigger paths. Launched (--) and
 * attached (-p), batch path and per-event path.
 *
 * The truth (`workload crash HOW 300`): 300 x WORK lifecycles, then FATAL created and entered,
 * INNER created (trigger FATAL) and entered, and the process ends in INNER's callback: 1204
 * events, WORK 300/300/300, FATAL and INNER created once, alive, their callbacks open.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

TestSuite(crash, .init = make_data_path, .fini = remove_data, .timeout = 60);

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

static char *report_text(void)
{
    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL;
    int code = run_capture(argv, &out, NULL, 30000);
    cr_assert_eq(code, 0);
    return out;
}

static const char *get_str(json_object *obj, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return json_object_get_string(v);
}

static void expect_path(json_object *cb, const char *const *want, size_t n)
{
    json_object *path;
    cr_assert(json_object_object_get_ex(cb, "path", &path));
    cr_assert_eq(json_object_array_length(path), n, "path of %s", get_str(cb, "type"));
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(path, i)), want[i]);
}

/* Everything the workload raised is in the file, and the callbacks it died in are open. */
static void expect_crash_truth(json_object *r)
{
    cr_expect_eq(get_int(r, "events"), 1204, "events %lld", get_int(r, "events"));
    cr_expect_eq(get_int(r, "lost_events"), 0);
    expect_type(r, "WORK", 300, 300, 300, 0);
    expect_type(r, "FATAL", 1, 0, 0, 1);
    expect_type(r, "INNER", 1, 0, 0, 1);
    cr_assert_eq(get_int(r, "open_callbacks_total"), 2);
    json_object *open;
    cr_assert(json_object_object_get_ex(r, "open_callbacks", &open));
    cr_assert_eq(json_object_array_length(open), 2);
    static const char *const fatal[] = {"(root)", "FATAL"};
    static const char *const inner[] = {"(root)", "FATAL", "INNER"};
    json_object *outer = json_object_array_get_idx(open, 0);
    json_object *nested = json_object_array_get_idx(open, 1);
    cr_expect_str_eq(get_str(outer, "type"), "FATAL");
    cr_expect_eq(get_int(outer, "depth"), 1);
    expect_path(outer, fatal, 2);
    cr_expect_str_eq(get_str(nested, "type"), "INNER");
    cr_expect_eq(get_int(nested, "depth"), 2);
    expect_path(nested, inner, 3);
}

static void expect_exit(json_object *r, const char *how, const char *signal_name, int status)
{
    json_object *exit;
    cr_assert(json_object_object_get_ex(r, "exit", &exit) && exit != NULL,
              "the report does not say how the target ended");
    cr_expect_str_eq(get_str(exit, "how"), how);
    if (signal_name)
        cr_expect_str_eq(get_str(exit, "signal_name"), signal_name);
    else
        cr_expect_eq(get_int(exit, "status"), status);
}

static void record_launched(const char *how, const char *extra)
{
    char *argv[] = {AHPROF,  "record",    "-o",  data_path, "--", WORKLOAD,
                    "crash", (char *)how, "300", NULL,      NULL};
    if (extra) { /* an option goes before the "--" */
        memmove(&argv[5], &argv[4], 5 * sizeof(char *));
        argv[4] = (char *)extra;
    }
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    free(err);
}

Test(crash, launched_segv_keeps_the_buffered_events_and_says_how_it_ended)
{
    record_launched("segv", NULL);
    json_object *r = report_json();
    expect_crash_truth(r);
    expect_exit(r, "signal", "SIGSEGV", 0);
    json_object_put(r);
    char *text = report_text();
    cr_expect(strstr(text, "killed by SIGSEGV") != NULL, "%s", text);
    cr_expect(strstr(text, "OPEN CALLBACKS AT END: 2") != NULL, "%s", text);
    cr_expect(strstr(text, "(root) > FATAL > INNER") != NULL, "%s", text);
    free(text);
}

Test(crash, launched_segv_per_event)
{
    record_launched("segv", "--per-event");
    json_object *r = report_json();
    expect_crash_truth(r);
    expect_exit(r, "signal", "SIGSEGV", 0);
    json_object_put(r);
}

/* Attached with -p: the target is not ahprof's child, its status comes from the kernel. */
static void record_attached(const char *how)
{
    struct proc target, rec;
    char pid[32];
    char *targv[] = {WORKLOAD, "crash", (char *)how, "300", NULL};
    start_ready_target(&target, targv, pid);
    char *argv[] = {AHPROF, "record", "-p", pid, "-o", data_path, NULL};
    proc_start(&rec, argv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    proc_wait(&target, 10000);
    char *err = proc_read_all(rec.err_fd, 10000);
    int code = proc_wait(&rec, 10000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    cr_expect(strstr(err, strcmp(how, "exit3") == 0 ? "target exited with status 3"
                                                    : "target killed by SIGABRT") != NULL,
              "%s", err);
    free(err);
}

Test(crash, attached_abort_keeps_the_buffered_events_and_says_how_it_ended)
{
    record_attached("abort");
    json_object *r = report_json();
    expect_crash_truth(r);
    expect_exit(r, "signal", "SIGABRT", 0);
    json_object_put(r);
}

Test(crash, attached_exit_status_inside_a_callback)
{
    record_attached("exit3");
    json_object *r = report_json();
    expect_crash_truth(r);
    expect_exit(r, "exited", NULL, 3);
    json_object_put(r);
    char *text = report_text();
    cr_expect(strstr(text, "exited with status 3") != NULL, "%s", text);
    free(text);
}
