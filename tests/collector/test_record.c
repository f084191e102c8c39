/*
 * test_record.c - `ahprof record` + `ahprof report --json` with real BPF: exact per-type counts
 * and type edges, callback time on the type that burned it, threads, attaching mid-run,
 * ring-buffer overflow (lost events counted, in-kernel counters exact), creation stacks with
 * exact symbol names, and the report's file errors.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/datafile.h"
#include "run.h"

TestSuite(record, .init = make_data_path, .fini = remove_data, .timeout = 120);

static void record_cmd(char *const cmd[], const char *extra)
{
    char *argv[32] = {AHPROF, "record", "-q", "-o", data_path};
    int n = 5;
    if (extra)
        argv[n++] = (char *)extra;
    argv[n++] = "--";
    for (int i = 0; cmd[i]; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 90000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    free(err);
}

static long long edge(json_object *root, const char *parent, const char *child)
{
    json_object *edges;
    cr_assert(json_object_object_get_ex(root, "edges", &edges));
    for (size_t i = 0; i < json_object_array_length(edges); i++) {
        json_object *e = json_object_array_get_idx(edges, i), *p, *c;
        if (json_object_object_get_ex(e, "parent", &p) &&
            json_object_object_get_ex(e, "child", &c) &&
            strcmp(json_object_get_string(p), parent) == 0 &&
            strcmp(json_object_get_string(c), child) == 0)
            return get_int(e, "count");
    }
    return 0;
}

static size_t array_len(json_object *root, const char *key)
{
    json_object *arr;
    cr_assert(json_object_object_get_ex(root, key, &arr), "missing %s", key);
    return json_object_array_length(arr);
}

Test(record, deterministic_tree_gives_exact_counts_and_edges)
{
    char *cmd[] = {WORKLOAD, "tree", "50", NULL};
    record_cmd(cmd, NULL);
    json_object *r = report_json();
    expect_type(r, "REQ", 50, 50, 50, 0);
    expect_type(r, "TIMER", 100, 100, 100, 0);
    expect_type(r, "WRITE", 100, 100, 100, 0);
    expect_type(r, "LEAK", 50, 0, 0, 50);
    cr_expect_eq(edge(r, "(root)", "REQ"), 50);
    cr_expect_eq(edge(r, "REQ", "TIMER"), 100);
    cr_expect_eq(edge(r, "REQ", "LEAK"), 50);
    cr_expect_eq(edge(r, "TIMER", "WRITE"), 100);
    cr_expect_eq(array_len(r, "edges"), 4, "no other edge");
    cr_expect_eq(get_int(r, "lost_events"), 0);
    /* The leak view: the 50 LEAKs, created by REQs. */
    json_object *leaks;
    cr_assert(json_object_object_get_ex(r, "leaks", &leaks));
    cr_assert_eq(json_object_array_length(leaks), 1);
    json_object *leak = json_object_array_get_idx(leaks, 0);
    cr_expect_eq(get_int(leak, "count"), 50);
    json_object_put(r);
}

Test(record, callback_time_lands_on_the_type_that_burned_it)
{
    char *cmd[] = {WORKLOAD, "burn", "4", "50", NULL};
    record_cmd(cmd, NULL);
    json_object *r = report_json();
    expect_type(r, "BURN", 4, 4, 4, 0);
    expect_type(r, "IDLE", 4, 4, 4, 0);
    long long burn = get_int(find_named(r, "types", "BURN"), "exclusive_ns");
    long long idle = get_int(find_named(r, "types", "IDLE"), "exclusive_ns");
    cr_expect_geq(burn, 4 * 50 * 1000000LL, "BURN spun 4 x 50 ms");
    /* Empty callbacks; 10% leaves room for a preempted one or a probe's first hit. */
    cr_expect_lt(idle * 10, burn);
    json_object_put(r);
}

Test(record, threads_and_cross_thread_tasks_are_exact)
{
    char *cmd[] = {WORKLOAD, "threads", "4", "2000", NULL};
    record_cmd(cmd, NULL);
    json_object *r = report_json();
    expect_type(r, "TASK", 8000, 8000, 8000, 0);
    cr_expect_eq(edge(r, "(root)", "TASK"), 8000);
    json_object_put(r);
}

Test(record, static_executable)
{
    char *cmd[] = {WORKLOAD_STATIC, "tree", "10", NULL};
    record_cmd(cmd, NULL);
    json_object *r = report_json();
    expect_type(r, "REQ", 10, 10, 10, 0);
    cr_expect_eq(edge(r, "TIMER", "WRITE"), 20);
    json_object_put(r);
}

Test(record, attach_mid_run_keeps_resources_from_before)
{
    char *wargv[] = {WORKLOAD, "hold", "1000", NULL};
    struct proc w;
    char pid[32];
    start_ready_target(&w, wargv, pid);
    char *argv[] = {AHPROF, "record", "-p", pid, "-o", data_path, NULL};
    struct proc rec;
    proc_start(&rec, argv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    cr_expect_eq(proc_wait(&w, 10000), 0);
    cr_expect_eq(proc_wait(&rec, 20000), 0, "record must end when its target exits");
    json_object *r = report_json();
    json_object *hold = find_named(r, "types", "HOLD");
    cr_assert_not_null(hold);
    cr_expect_eq(get_int(hold, "snapshot_live"), 1000);
    cr_expect_eq(get_int(hold, "destroyed"), 1000);
    cr_expect_eq(get_int(hold, "active"), 0);
    expect_type(r, "AFTER", 10, 10, 10, 0);
    json_object_put(r);
}

Test(record, leak_view_shows_resources_from_before_attach)
{
    char *wargv[] = {WORKLOAD, "hold", "300", NULL};
    struct proc w;
    char pid[32];
    start_ready_target(&w, wargv, pid);
    char *argv[] = {AHPROF, "record", "-q", "-p", pid, "-d", "1", "-o", data_path, NULL};
    cr_assert_eq(run_capture(argv, NULL, NULL, 30000), 0);
    json_object *r = report_json();
    expect_type(r, "HOLD", 0, 0, 0, 300);
    json_object *leaks;
    cr_assert(json_object_object_get_ex(r, "leaks", &leaks));
    long long held = 0;
    for (size_t i = 0; i < json_object_array_length(leaks); i++) {
        json_object *l = json_object_array_get_idx(leaks, i), *type;
        if (json_object_object_get_ex(l, "type", &type) &&
            strcmp(json_object_get_string(type), "HOLD") == 0)
            held += get_int(l, "count");
    }
    cr_expect_eq(held, 300, "every HOLD alive at the end is in the leak view");
    json_object_put(r);
    cr_assert(write(w.in_fd, "go\n", 3) == 3);
    proc_wait(&w, 10000);
}

Test(record, ring_buffer_overflow_is_counted_and_counters_stay_exact)
{
    /* A 1 MiB ring buffer and a writer stuck on a pipe nobody reads for 3 s: the BPF side
     * must drop records, count every one, and keep its per-type counters exact. */
    char *argv[] = {"/bin/sh",
                    "-c",
                    "\"$0\" record -q -b 1 -o - -- \"$1\" flood 300000 | (sleep 3; cat > \"$2\")",
                    AHPROF,
                    WORKLOAD,
                    data_path,
                    NULL};
    cr_assert_eq(run_capture(argv, NULL, NULL, 90000), 0);
    json_object *r = report_json();
    cr_expect_gt(get_int(r, "lost_events"), 0, "nothing was lost: the test did not overflow");
    json_object *exact;
    cr_assert(json_object_object_get_ex(r, "counters_exact", &exact) &&
              json_object_get_boolean(exact));
    json_object *flood = find_named(r, "types", "FLOOD"), *counters;
    cr_assert_not_null(flood);
    cr_assert(json_object_object_get_ex(flood, "counters", &counters));
    cr_expect_eq(get_int(counters, "created"), 300000);
    cr_expect_eq(get_int(counters, "destroyed"), 300000);
    cr_expect_eq(get_int(counters, "callbacks"), 300000);
    cr_expect_eq(get_int(counters, "active"), 0);
    /* What was recorded plus what was lost is every event. */
    cr_expect_eq(get_int(r, "events") + get_int(r, "lost_events"), 4 * 300000);
    json_object_put(r);
}

struct stack_search {
    int stacks;
    bool found_req_cb, found_file_line;
};

static int on_stack(void *arg, uint32_t id, const struct ahp_stack_frame *frames, uint32_t n)
{
    (void)id;
    struct stack_search *s = arg;
    s->stacks++;
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(frames[i].func, "req_cb") == 0) {
            s->found_req_cb = true;
            if (strcmp(frames[i].file, "workload.c") == 0 && frames[i].line > 0)
                s->found_file_line = true;
        }
    }
    return 0;
}

Test(record, stacks_are_captured_and_symbolized)
{
    /* "-s 1": the program lives long enough for ahprof to learn its memory map (a program
     * that exits within a few ms of its start keeps raw addresses; see record --help). */
    char *cmd[] = {WORKLOAD, "-s", "1", "tree", "20", NULL};
    record_cmd(cmd, "--stacks");
    struct ahp_reader *rd;
    cr_assert_eq(ahp_reader_open(&rd, data_path), 0);
    struct stack_search s = {0};
    struct ahp_read_ops ops = {.stack = on_stack};
    cr_assert_eq(ahp_reader_foreach(rd, &ops, &s), 0);
    ahp_reader_close(rd);
    /* REQ (main), TIMER and LEAK (req_cb), WRITE (timer_cb): distinct creation sites. */
    cr_expect_geq(s.stacks, 4, "only %d stacks", s.stacks);
    cr_expect(s.found_req_cb, "no frame named req_cb");
    cr_expect(s.found_file_line, "req_cb has no workload.c:LINE");
}

static void expect_report_error(const char *path, int want_code, const char *want)
{
    char *argv[] = {AHPROF, "report", (char *)path, NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    cr_expect_eq(code, want_code, "exit %d: %s", code, err);
    cr_expect(strstr(err, want) != NULL, "stderr lacks '%s': %s", want, err);
    free(err);
    char *jargv[] = {AHPROF, "report", "--json", (char *)path, NULL};
    char *out = NULL;
    run_capture(jargv, &out, NULL, 30000);
    json_object *obj = json_tokener_parse(out);
    cr_expect(obj != NULL && json_object_object_get_ex(obj, "error", NULL),
              "--json error is not {\"error\": ...}: %s", out);
    json_object_put(obj);
    free(out);
}

Test(record, report_refuses_a_file_that_is_not_ahprof)
{
    FILE *f = fopen(data_path, "w");
    fputs("this is not a recording\n", f);
    fclose(f);
    expect_report_error(data_path, 1, "not an ahprof data file");
}

Test(record, report_refuses_a_newer_version)
{
    char *cmd[] = {WORKLOAD, "tree", "1", NULL};
    record_cmd(cmd, NULL);
    int fd = open(data_path, O_WRONLY);
    unsigned char major[2] = {9, 0};
    cr_assert_eq(pwrite(fd, major, 2, 8), 2);
    close(fd);
    expect_report_error(data_path, 1, "newer");
}

Test(record, report_reads_a_truncated_file_up_to_its_last_chunk)
{
    char *cmd[] = {WORKLOAD, "tree", "400", NULL};
    record_cmd(cmd, NULL);
    struct stat st;
    cr_assert_eq(stat(data_path, &st), 0);
    cr_assert_eq(truncate(data_path, st.st_size - 100), 0);
    char *argv[] = {AHPROF, "report", "--json", data_path, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_expect_eq(code, 0, "a truncated file still reports");
    cr_expect(strstr(err, "truncated") != NULL, "a warning says so: %s", err);
    json_object *r = json_tokener_parse(out);
    cr_assert_not_null(r);
    json_object *t;
    cr_assert(json_object_object_get_ex(r, "truncated", &t) && json_object_get_boolean(t));
    json_object *req = find_named(r, "types", "REQ");
    cr_assert_not_null(req);
    cr_expect_gt(get_int(req, "created"), 0);
    json_object_put(r);
    free(out);
    free(err);
}

Test(record, report_of_a_missing_file)
{
    expect_report_error("/nonexistent/ahprof.data", 1, "no such file");
}
