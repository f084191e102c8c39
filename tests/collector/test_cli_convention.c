/*
 * test_cli_convention.c - one convention for ahprof's command line: -j/--json before or after
 * every command, every error under --json one {"error": ...} object on stdout (getopt says
 * nothing of its own), record's JSON summary, one version everywhere, and every figure on
 * screen explained by the command's --help.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ah.h"
#include "data/datafile.h"
#include "run.h"

TestSuite(cli, .init = make_data_path, .fini = remove_data);

/* OUT holds exactly one JSON object and then only a newline: returns it. */
static json_object *one_object(const char *out)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *obj = json_tokener_parse_ex(tok, out, (int)strlen(out));
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    cr_assert_not_null(obj, "not JSON: '%s'", out);
    cr_assert(json_object_is_type(obj, json_type_object), "not an object: '%s'", out);
    cr_assert(out[used + strspn(out + used, " \n")] == '\0', "more than one object: '%s'", out);
    cr_assert(used > 0 && out[strlen(out) - 1] == '\n', "no newline at the end: '%s'", out);
    return obj;
}

/* ARGV fails with CODE and says so as one {"error": "..."} on stdout, nothing on stderr. */
static void expect_json_error(char *const argv[], int code)
{
    char *out = NULL, *err = NULL;
    int got = run_capture(argv, &out, &err, 30000);
    cr_expect_eq(got, code, "%s %s %s: exit %d, want %d (out: %s, err: %s)", argv[1], argv[2],
                 argv[3] ? argv[3] : "", got, code, out, err);
    cr_expect_str_eq(err, "", "%s %s: stderr: %s", argv[1], argv[2], err);
    json_object *obj = one_object(out), *msg;
    cr_expect_eq(json_object_object_length(obj), 1, "%s", out);
    cr_expect(json_object_object_get_ex(obj, "error", &msg) &&
                  json_object_is_type(msg, json_type_string) && json_object_get_string_len(msg),
              "%s", out);
    json_object_put(obj);
    free(out);
    free(err);
}

/* include/ah.h's numbers: the one source of the version. */
static const char *version_string(void)
{
    static char v[64];
    snprintf(v, sizeof(v), "%d.%d.%d", AH_VERSION_MAJOR, AH_VERSION_MINOR, AH_VERSION_PATCH);
    return v;
}

static const char *const commands[] = {"top", "record", "report", "flame", "version", "help"};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

Test(cli, bad_options_under_json_are_one_json_error)
{
    const char *const flags[] = {"--json", "-j"};
    for (size_t c = 0; c < NCOMMANDS; c++) {
        for (int f = 0; f < 2; f++) {
            char *before[] = {AHPROF, (char *)flags[f], (char *)commands[c], "--bogus", NULL};
            char *after[] = {AHPROF, (char *)commands[c], (char *)flags[f], "--bogus", NULL};
            char *first[] = {AHPROF, (char *)commands[c], "--bogus", (char *)flags[f], NULL};
            expect_json_error(before, 2);
            expect_json_error(after, 2);
            expect_json_error(first, 2);
        }
    }
    char *no_command[] = {AHPROF, "--json", NULL};
    char *bad_command[] = {AHPROF, "--json", "bogus", NULL};
    char *bad_global[] = {AHPROF, "--bogus", "--json", "top", NULL};
    char *no_value[] = {AHPROF, "top", "--json", "-p", NULL};
    char *bad_short[] = {AHPROF, "record", "-j", "-x", NULL};
    char *no_target[] = {AHPROF, "-j", "record", NULL};
    char *abbreviated[] = {AHPROF, "top", "--js", "--bogus", NULL};
    expect_json_error(no_command, 2);
    expect_json_error(bad_command, 2);
    expect_json_error(bad_global, 2);
    expect_json_error(no_value, 2);
    expect_json_error(bad_short, 2);
    expect_json_error(no_target, 2);
    expect_json_error(abbreviated, 2);
}

Test(cli, bad_options_without_json_are_one_line)
{
    for (size_t c = 0; c < NCOMMANDS; c++) {
        char *argv[] = {AHPROF, (char *)commands[c], "--bogus", NULL};
        char *out = NULL, *err = NULL;
        int code = run_capture(argv, &out, &err, 10000);
        cr_expect_eq(code, 2, "%s: exit %d", commands[c], code);
        cr_expect_str_eq(out, "", "%s: stdout: %s", commands[c], out);
        cr_expect(strncmp(err, "ahprof: unknown option --bogus", 30) == 0, "%s: %s", commands[c],
                  err);
        cr_expect(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s", commands[c],
                  err);
        free(out);
        free(err);
    }
}

/* Record the workload's tree mode into data_path; returns record's stdout. */
static char *record_tree(const char *json_before, const char *json_after)
{
    char *argv[12];
    int n = 0;
    argv[n++] = AHPROF;
    if (json_before)
        argv[n++] = (char *)json_before;
    argv[n++] = "record";
    if (json_after)
        argv[n++] = (char *)json_after;
    char *rest[] = {"-q", "-o", data_path, "--", WORKLOAD, "tree", "3", NULL};
    for (int i = 0; rest[i]; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_assert_eq(code, 0, "record: exit %d: %s", code, err);
    free(err);
    return out;
}

static json_object *report_of(const char *path)
{
    char *argv[] = {AHPROF, "report", "--json", (char *)path, NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(argv, &out, NULL, 30000), 0);
    json_object *obj = one_object(out);
    free(out);
    return obj;
}

static void expect_summary(const char *out)
{
    json_object *sum = one_object(out), *v;
    json_object *rep = report_of(data_path);
    /* workload tree 3: 3 REQ, 6 TIMER, 6 WRITE, 3 LEAK. */
    cr_expect_eq(get_int(rep, "events"), 3 * 4 + 6 * 4 + 6 * 4 + 3);
    cr_expect_eq(get_int(sum, "events"), get_int(rep, "events"));
    cr_expect_eq(get_int(sum, "lost_events"), 0);
    cr_expect_eq(get_int(sum, "pid"), get_int(rep, "pid"));
    long long duration = get_int(sum, "duration_ns");
    cr_expect(duration > 0 && duration < 30000000000LL, "duration_ns %lld", duration);
    cr_expect(json_object_object_get_ex(sum, "file", &v) &&
                  strcmp(json_object_get_string(v), data_path) == 0,
              "%s", out);
    json_object_put(sum);
    json_object_put(rep);
}

Test(cli, record_prints_a_json_summary)
{
    char *out = record_tree(NULL, "--json");
    expect_summary(out);
    free(out);
    out = record_tree("-j", NULL);
    expect_summary(out);
    free(out);
    /* The summary and a recording on stdout cannot share it. */
    char *argv[] = {AHPROF, "record", "--json", "-o", "-", "--", WORKLOAD, "tree", "1", NULL};
    expect_json_error(argv, 2);
}

/* ARGV and ARGV2 exit with CODE and print the same. */
static void expect_same(char *const argv[], char *const argv2[], int code)
{
    char *out = NULL, *out2 = NULL;
    cr_expect_eq(run_capture(argv, &out, NULL, 30000), code, "%s %s", argv[1], argv[2]);
    cr_expect_eq(run_capture(argv2, &out2, NULL, 30000), code, "%s %s", argv2[1], argv2[2]);
    cr_expect_str_eq(out, out2);
    free(out);
    free(out2);
}

Test(cli, json_goes_before_or_after_every_command)
{
    free(record_tree(NULL, NULL));
    char *rep1[] = {AHPROF, "--json", "report", data_path, NULL};
    char *rep2[] = {AHPROF, "report", data_path, "-j", NULL};
    expect_same(rep1, rep2, 0);
    json_object_put(report_of(data_path));

    char *flame1[] = {AHPROF, "-j", "flame", data_path, NULL};
    char *flame2[] = {AHPROF, "flame", data_path, NULL};
    expect_same(flame1, flame2, 0);
    char *missing1[] = {AHPROF, "--json", "flame", "/nonexistent.data", NULL};
    char *missing2[] = {AHPROF, "flame", "-j", "/nonexistent.data", NULL};
    char *missing3[] = {AHPROF, "-j", "report", "/nonexistent.data", NULL};
    expect_json_error(missing1, 1);
    expect_json_error(missing2, 1);
    expect_json_error(missing3, 1);

    char *top1[] = {AHPROF, "--json", "top", "-p", "999999", NULL};
    char *top2[] = {AHPROF, "top", "-p", "999999", "-j", NULL};
    expect_json_error(top1, 4);
    expect_json_error(top2, 4);
    char *top3[] = {AHPROF, "-j", "top", "0.2", "1", "--", WORKLOAD, "tree", "3", NULL};
    char *out = NULL;
    cr_expect_eq(run_capture(top3, &out, NULL, 30000), 0);
    json_object *obj = one_object(out);
    cr_expect(json_object_object_get_ex(obj, "time_ns", NULL), "%s", out);
    json_object_put(obj);
    free(out);

    char *rec[] = {AHPROF, "--json", "record", "-p", "999999", "-o", data_path, NULL};
    expect_json_error(rec, 4);

    char *v1[] = {AHPROF, "--json", "version", NULL};
    char *v2[] = {AHPROF, "version", "-j", NULL};
    char *v3[] = {AHPROF, "-j", "--version", NULL};
    expect_same(v1, v2, 0);
    expect_same(v1, v3, 0);
    cr_expect_eq(run_capture(v1, &out, NULL, 10000), 0);
    obj = one_object(out);
    json_object *v;
    cr_expect(json_object_object_get_ex(obj, "version", &v) &&
                  strcmp(json_object_get_string(v), version_string()) == 0,
              "%s", out);
    json_object_put(obj);
    free(out);
}

/* Output to a reader that left ends quietly, JSON or not. */
Test(cli, a_closed_pipe_ends_quietly)
{
    free(record_tree(NULL, NULL));
    const char *const lines[] = {
        "\"$0\" --json report \"$1\" | head -c 1",
        "\"$0\" -j flame \"$1\" | head -c 1",
        "\"$0\" record -j -q -o \"$1\" -- \"$2\" tree 2 | true",
        "\"$0\" --version | true",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char *argv[] = {"/bin/sh", "-c", (char *)lines[i], AHPROF, data_path, WORKLOAD, NULL};
        char *out = NULL, *err = NULL;
        cr_expect_eq(run_capture(argv, &out, &err, 30000), 0, "%s: %s", lines[i], err);
        /* (A launched workload says "tree done" on stderr: only ahprof must be quiet.) */
        cr_expect(strstr(err, "ahprof") == NULL, "%s: %s", lines[i], err);
        free(out);
        free(err);
    }
}

/* ---------------------------------------------------------------------------------------
 * One version
 */

Test(cli, one_version_everywhere)
{
    char want[64];
    snprintf(want, sizeof(want), "%d.%d.%d", AH_VERSION_MAJOR, AH_VERSION_MINOR, AH_VERSION_PATCH);

    /* ahprof --version and `version`. */
    char *out = NULL;
    char *argv[] = {AHPROF, "--version", NULL};
    cr_expect_eq(run_capture(argv, &out, NULL, 10000), 0);
    char line[128];
    snprintf(line, sizeof(line), "ahprof %s\n", want);
    cr_expect_str_eq(out, line);
    free(out);

    /* libah's ah_version() at run time. */
    void *lib = dlopen(AHP_BUILD "/libah.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(lib, "%s", dlerror());
    const char *(*version)(void) = (const char *(*)(void))dlsym(lib, "ah_version");
    cr_assert_not_null(version);
    cr_expect_str_eq(version(), want);
    dlclose(lib);

    /* The Makefile's VERSION: the shared library's file name and ah.pc. */
    char real[PATH_MAX], so[96];
    cr_assert_not_null(realpath(AHP_BUILD "/libah.so", real));
    snprintf(so, sizeof(so), "/libah.so.%s", want);
    cr_expect(strlen(real) > strlen(so) && strcmp(real + strlen(real) - strlen(so), so) == 0,
              "%s is not libah.so.%s", real, want);
    FILE *pc = fopen(AHP_BUILD "/ah.pc", "r");
    cr_assert_not_null(pc);
    char pcline[256];
    bool found = false;
    snprintf(line, sizeof(line), "Version: %s\n", want);
    while (fgets(pcline, sizeof(pcline), pc))
        found |= strcmp(pcline, line) == 0;
    fclose(pc);
    cr_expect(found, "ah.pc has no '%s'", line);
    char *make[] = {"/usr/bin/make", "-s", "--no-print-directory", "-C", AHP_BUILD "/..",
                    "print-version", NULL};
    cr_expect_eq(run_capture(make, &out, NULL, 30000), 0);
    snprintf(line, sizeof(line), "%s\n", want);
    cr_expect_str_eq(out, line, "make print-version");
    free(out);

    /* What the file format's writer puts in a recording. */
    free(record_tree(NULL, NULL));
    json_object *rep = report_of(data_path), *v;
    cr_expect(json_object_object_get_ex(rep, "ahprof_version", &v) &&
              strcmp(json_object_get_string(v), want) == 0);
    json_object_put(rep);
}

/* ---------------------------------------------------------------------------------------
 * Every figure explained
 */

static char *help_of(const char *command)
{
    char *argv[] = {AHPROF, (char *)command, "--help", NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(argv, &out, NULL, 10000), 0);
    return out;
}

/* Every key of OBJ (and of the objects in its arrays) is named in HELP. */
static void expect_keys_explained(json_object *obj, const char *help, const char *what)
{
    json_object_object_foreach(obj, key, val)
    {
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "%s", key);
        cr_expect(strstr(help, quoted) != NULL, "%s --help does not explain '%s'", what, key);
        if (json_object_is_type(val, json_type_array) && json_object_array_length(val) > 0 &&
            json_object_is_type(json_object_array_get_idx(val, 0), json_type_object))
            expect_keys_explained(json_object_array_get_idx(val, 0), help, what);
    }
}

/* A target that is inside a long callback when top attaches (with --per-event its before
 * is never seen): top's header then counts the unmatched afters. */
Test(cli, top_explains_every_figure)
{
    char *help = help_of("top");
    struct proc target;
    char pid[32], line[4096];
    /* Seconds-long callbacks, so that top attaches in the middle of one (unmatched-after),
     * and enough of them that a slow attach on a loaded machine still finds the target. */
    char *targv[] = {WORKLOAD, "spin", "60", "1000", "0", NULL};
    start_ready_target(&target, targv, pid);
    cr_assert(write(target.in_fd, "go\n", 3) == 3);
    cr_assert(proc_read_line(&target, line, sizeof(line), 10000) && strcmp(line, "started") == 0);
    char *argv[] = {AHPROF, "top", "-C", "--per-event", "-p", pid, "0.5", "4", NULL};
    char *out = NULL, *err = NULL;
    cr_expect_eq(run_capture(argv, &out, &err, 30000), 0, "%s", err);
    kill(target.pid, SIGKILL);
    proc_wait(&target, 10000);
    /* "events/s N   lost N   unmatched-after N": every label has its count. */
    const char *header = strstr(out, "events/s ");
    cr_assert_not_null(header, "%s", out);
    cr_expect(strstr(out, "unmatched-after ") != NULL, "no unmatched after: %s", out);
    char labels[512];
    size_t len = strcspn(header, "\n");
    snprintf(labels, sizeof(labels), "%.*s", (int)len, header);
    char *save = NULL, *prev = NULL;
    for (char *w = strtok_r(labels, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        w[strcspn(w, ":,")] = '\0'; /* "target:", "batches," */
        bool number = strspn(w, "0123456789.") == strlen(w);
        if (number)
            cr_expect(prev != NULL, "a count without a label: %s", header);
        else
            cr_expect(strstr(help, w) != NULL, "top --help does not explain '%s'", w);
        if (!number && prev && strspn(prev, "0123456789.") != strlen(prev))
            cr_expect(w[strlen(w) - 1] != '*', "'%s' without a count", w);
        cr_expect(strcmp(w, "*") != 0, "a figure without a count: %s", header);
        prev = w;
    }
    /* The columns. */
    const char *cols = strstr(out, "TYPE ");
    cr_assert_not_null(cols);
    len = strcspn(cols, "\n");
    snprintf(labels, sizeof(labels), "%.*s", (int)len, cols);
    for (char *w = strtok_r(labels, " ", &save); w; w = strtok_r(NULL, " ", &save))
        cr_expect(strstr(help, w) != NULL, "top --help does not explain column '%s'", w);
    free(out);
    free(err);

    /* --json: every key. */
    char *jargv[] = {AHPROF, "top", "--json", "0.2", "1", "--", WORKLOAD, "tree", "3", NULL};
    cr_expect_eq(run_capture(jargv, &out, NULL, 30000), 0);
    json_object *obj = one_object(out);
    expect_keys_explained(obj, help, "top");
    json_object_put(obj);
    free(out);
    free(help);
}

Test(cli, record_explains_its_summary)
{
    char *help = help_of("record");
    char *out = record_tree(NULL, "--json");
    json_object *obj = one_object(out);
    expect_keys_explained(obj, help, "record");
    json_object_put(obj);
    free(out);
    /* The summary lines on stderr: what each starts with. */
    const char *const lines[] = {"recorded N events",        "lost",      "out of time order",
                                 "still in the ring buffer", "malformed", "could not be read",
                                 "creation stacks",          "ran exec"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_expect(strstr(help, lines[i]) != NULL, "record --help does not explain '%s'", lines[i]);
    free(help);
}

/* A file with every part of the text report: lost events with exact counts, resent records,
 * an exec, an exit, a callback never closed, an after without its before. */
static void write_everything(const char *path)
{
    struct ahp_writer *w;
    struct ahp_file_info info = {.pid = 42,
                                 .comm = "demo",
                                 .target = "/bin/demo",
                                 .start_mono_ns = 1000,
                                 .start_real_ns = 1};
    cr_assert_eq(ahp_writer_open(&w, path, &info), 0);
    ahp_writer_type(w, 0, "REQ");
    ahp_writer_type(w, 1, "TIMER");
    struct ahp_event ev[] = {
        {.ts_ns = 2000, .id = 10, .trigger_id = 1, .tid = 42, .type = 0, .kind = AHP_EV_INIT},
        {.ts_ns = 3000, .id = 10, .tid = 42, .type = 0, .kind = AHP_EV_BEFORE, .depth = 1},
        {.ts_ns = 4000, .id = 11, .trigger_id = 10, .tid = 42, .type = 1, .kind = AHP_EV_INIT},
        {.ts_ns = 5000, .id = 12, .tid = 43, .type = 1, .kind = AHP_EV_AFTER, .depth = 1},
    };
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        ev[i].pid = 42;
    ahp_writer_events(w, ev, sizeof(ev) / sizeof(ev[0]));
    ahp_writer_lost(w, 7);
    static struct ahp_type_counters counters[AHP_TYPE_MAX];
    counters[0] = (struct ahp_type_counters){.created = 3, .callbacks = 2, .active = 3};
    ahp_writer_counters(w, counters);
    ahp_writer_exec(w, 6000, "/bin/other");
    ahp_writer_exit(w, AHP_EXIT_HOW_SIGNAL, 11, false, 7000);
    ahp_writer_resent(w, 2);
    cr_assert_eq(ahp_writer_close(w, 8000, 7), 0);
}

static bool upper_word(const char *w)
{
    if (!(*w >= 'A' && *w <= 'Z'))
        return false;
    for (; *w; w++)
        if (!((*w >= 'A' && *w <= 'Z') || (*w >= '0' && *w <= '9') || *w == '_' || *w == '%' ||
              *w == '/'))
            return false;
    return true;
}

Test(cli, report_explains_every_figure)
{
    char *help = help_of("report");
    write_everything(data_path);
    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(argv, &out, NULL, 30000), 0);
    cr_expect(strstr(out, "OPEN CALLBACKS") && strstr(out, "EXACT COUNTS") &&
                  strstr(out, "exec:") && strstr(out, "anomalies:") && strstr(out, "resent:"),
              "the file lacks a part: %s", out);
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        /* "label:   value" header lines. */
        const char *colon = strchr(l, ':');
        size_t lower = strspn(l, "abcdefghijklmnopqrstuvwxyz ");
        if (colon != NULL && lower > 0 && l + lower == colon && strncmp(l, "ahprof", 6) != 0) {
            char label[64];
            snprintf(label, sizeof(label), "%.*s", (int)(colon - l + 1), l);
            cr_expect(strstr(help, label) != NULL, "report --help does not explain '%s'", label);
            continue;
        }
        /* Section titles and column headers: upper-case words. */
        char copy[512], *s2 = NULL;
        snprintf(copy, sizeof(copy), "%s", l);
        char *first = strtok_r(copy, " ", &s2);
        if (first == NULL || !upper_word(first) || strlen(first) < 2)
            continue;
        for (char *w = first; w; w = strtok_r(NULL, " ", &s2)) {
            if (!upper_word(w) || strlen(w) < 2)
                break;
            cr_expect(strstr(help, w) != NULL, "report --help does not explain '%s' (%s)", w, l);
        }
    }
    free(out);
    free(help);
}
