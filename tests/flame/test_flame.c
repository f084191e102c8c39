/*
 * test_flame.c - `ahprof flame` against its real consumers.
 *
 * Recordings come from tests/flame/gen.c (synthetic, written with the recorder's own writer,
 * with known numbers) and from `ahprof record` on the workload targets (real BPF). Every
 * format is then read by the program it is for, never only by our own parser:
 *   folded      speedscope's importer (node, speedscope's npm package)
 *   svg         xmllint, and headless Chromium (playwright-core): frames, tooltips, zoom,
 *               search, no script but ours, no dialog, no request
 *   speedscope  speedscope's importer: profile names, frames, call tree weights
 *   chrome      node's JSON parser with nesting and flow checks (check-chrome.mjs), and
 *               speedscope's Trace Event Format importer
 *   dot         graphviz (dot -Tsvg, and -Tplain to read back nodes and edges)
 * The flame command runs built with ASan+UBSan, except for the 10M-event memory test.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "tmpdir.h"

#define GEN AHP_BUILD "/tests/flame/flame-gen"
#define FLAME_ASAN AHP_BUILD "/asan/tests/flame/ahprof-flame"
#define FLAME AHP_BUILD "/tests/flame/ahprof-flame"
#define AHPROF AHP_BUILD "/ahprof"
#define WORKLOAD AHP_BUILD "/targets/workload"
#define NODE_MODULES AHP_BUILD "/flame-node/node_modules"
#define SCRIPTS AHP_SRC "/tests/flame"

/* ---------------------------------------------------------------------------------------
 * Running programs
 */

TestSuite(flame, .init = test_dir_init, .fini = test_dir_fini, .timeout = 120);

static char *slurp(const char *file)
{
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f, "cannot open %s", file);
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    size_t r;
    while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 4096)
            s = realloc(s, cap *= 2);
    }
    s[n] = '\0';
    fclose(f);
    return s;
}

struct res {
    int code;
    char *out, *err;
    long maxrss_kb;
};

/* Run ARGV (NULL-terminated; argv[0] looked up in PATH) with stdout and stderr in files,
 * killing it after TIMEOUT_S seconds. Files rather than pipes: with pipes (a reader woken by
 * every write of the recorded workload), real_recording_hostile_names lost type names in 2 runs
 * of 14, with files in none of 40. Files keep the timing of before; the race is the
 * collector's to fix. */
static struct res runv(const char *const argv[], int timeout_s)
{
    static int seq;
    char out[600], err[600];
    snprintf(out, sizeof(out), "%s/.out.%d", test_dir, seq);
    snprintf(err, sizeof(err), "%s/.err.%d", test_dir, seq++);
    struct proc p;
    proc_start_files(&p, (char *const *)argv, out, err);
    struct res r = {.code = proc_wait(&p, timeout_s * 1000)};
    if (p.timed_out)
        cr_log_error("%s timed out after %d s", argv[0], timeout_s);
    r.out = slurp(out);
    r.err = slurp(err);
    r.maxrss_kb = p.maxrss_kb;
    return r;
}

#define RUN(timeout, ...) runv((const char *const[]){__VA_ARGS__, NULL}, timeout)

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
}

/* Run and require exit status 0, showing stderr otherwise. */
#define OK(timeout, ...)                                                                           \
    ({                                                                                             \
        struct res r_ = RUN(timeout, __VA_ARGS__);                                                 \
        cr_assert_eq(r_.code, 0, "%s exited %d: %s", ((const char *[]){__VA_ARGS__})[0], r_.code,  \
                     r_.err);                                                                      \
        r_;                                                                                        \
    })

static void gen(const char *mode, const char *file, const char *n, bool stacks)
{
    struct res r = stacks ? OK(60, GEN, mode, file, n, "--stacks") : OK(60, GEN, mode, file, n);
    res_free(&r);
}

static json_object *json_or_die(const char *text, const char *what)
{
    json_object *j = json_tokener_parse(text);
    cr_assert_not_null(j, "%s: not JSON: %.300s", what, text);
    return j;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(o != NULL && json_object_object_get_ex(o, key, &v), "missing key '%s'", key);
    return v;
}

static double num(json_object *o, const char *key)
{
    return json_object_get_double(get(o, key));
}

/* speedscope's importer on FILE (named NAME for speedscope); returns its summary. */
static json_object *speedscope(const char *file, const char *name)
{
    struct res r = OK(60, "node", SCRIPTS "/speedscope-import.mjs", NODE_MODULES, file, name);
    json_object *j = json_or_die(r.out, "speedscope-import");
    res_free(&r);
    return j;
}

static json_object *profile_named(json_object *ss, const char *name)
{
    json_object *profiles = get(ss, "profiles");
    for (size_t i = 0; i < json_object_array_length(profiles); i++) {
        json_object *p = json_object_array_get_idx(profiles, i);
        if (strcmp(json_object_get_string(get(p, "name")), name) == 0)
            return p;
    }
    cr_assert_fail("speedscope has no profile named '%s'", name);
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Folded output
 */

struct line {
    char stack[8192];
    unsigned long long value;
};

/* Split folded text into lines, checking each is "stack<space>digits". */
static int folded_lines(const char *text, struct line *lines, int max)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "folded output does not end in a newline");
        const char *sp = nl;
        while (sp > p && sp[-1] != ' ')
            sp--;
        cr_assert(sp > p + 1, "folded line without a value: %.*s", (int)(nl - p), p);
        for (const char *d = sp; d < nl; d++)
            cr_assert(*d >= '0' && *d <= '9', "bad value in: %.*s", (int)(nl - p), p);
        cr_assert_lt(n, max);
        size_t len = (size_t)(sp - 1 - p);
        cr_assert_lt(len, sizeof(lines[n].stack));
        memcpy(lines[n].stack, p, len);
        lines[n].stack[len] = '\0';
        lines[n].value = strtoull(sp, NULL, 10);
        n++;
        p = nl + 1;
    }
    return n;
}

static unsigned long long folded_value(const struct line *lines, int n, const char *stack)
{
    for (int i = 0; i < n; i++)
        if (strcmp(lines[i].stack, stack) == 0)
            return lines[i].value;
    return 0;
}

struct want {
    const char *stack;
    unsigned long long value;
};

/* The folded output of FILE with ARGS is exactly WANT (any order). */
static void expect_folded(const char *file, const char *weight, bool types_only,
                          const struct want *want, int nwant)
{
    struct res r = types_only ? OK(60, FLAME_ASAN, file, "--weight", weight, "--types-only")
                              : OK(60, FLAME_ASAN, file, "--weight", weight);
    struct line lines[64];
    int n = folded_lines(r.out, lines, 64);
    cr_expect_eq(n, nwant, "weight %s: %d lines, want %d:\n%s", weight, n, nwant, r.out);
    for (int i = 0; i < nwant; i++)
        cr_expect_eq(folded_value(lines, n, want[i].stack), want[i].value,
                     "weight %s: '%s' is %llu, want %llu\n%s", weight, want[i].stack,
                     folded_value(lines, n, want[i].stack), want[i].value, r.out);
    res_free(&r);
}

#define REQ_S "REQ@server.c:42 accept_cb"
#define TIMER_S "TIMER@request.c:142 request_start"
#define WRITE_S "WRITE@timer.c:7 timer_fire"
#define LEAK_S "LEAK@request.c:150 request_start"

Test(flame, folded_types_exact)
{
    const char *f = test_path("tree.data");
    gen("tree", f, "10", false);
    const struct want time[] = {{"REQ", 50000},
                                {"REQ;TIMER", 50000},
                                {"REQ;TIMER;WRITE", 10000},
                                {"(before attach);TIMER", 1600},
                                {"(before attach);TIMER;WRITE", 400}};
    expect_folded(f, "time", false, time, 5);
    const struct want count[] = {{"REQ", 10},
                                 {"REQ;TIMER", 20},
                                 {"REQ;TIMER;WRITE", 20},
                                 {"REQ;LEAK", 10},
                                 {"(before attach);TIMER;WRITE", 1}};
    expect_folded(f, "count", false, count, 5);
    const struct want live[] = {{"REQ;LEAK", 10}};
    expect_folded(f, "live", false, live, 1);
}

Test(flame, folded_async_stacks_name_creation_sites)
{
    const char *f = test_path("tree.data");
    gen("tree", f, "10", true);
    const struct want time[] = {{REQ_S, 50000},
                                {REQ_S ";" TIMER_S, 50000},
                                {REQ_S ";" TIMER_S ";" WRITE_S, 10000},
                                {"(before attach);TIMER", 1600},
                                /* its stack is all inside libah: no site */
                                {"(before attach);TIMER;WRITE", 400}};
    expect_folded(f, "time", false, time, 5);
    const struct want live[] = {{REQ_S ";" LEAK_S, 10}};
    expect_folded(f, "live", false, live, 1);
    /* --types-only: the same recording, frames by type only. */
    const struct want count[] = {{"REQ", 10},
                                 {"REQ;TIMER", 20},
                                 {"REQ;TIMER;WRITE", 20},
                                 {"REQ;LEAK", 10},
                                 {"(before attach);TIMER;WRITE", 1}};
    expect_folded(f, "count", true, count, 5);
}

/* speedscope reads our folded output as "collapsed stacks" and sees the same tree. */
Test(flame, folded_read_by_speedscope)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.folded");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "-o", out);
    res_free(&r);
    json_object *ss = speedscope(out, "tree.collapsedstack.txt");
    cr_expect(strstr(json_object_get_string(get(ss, "format")), "collapsed stack") != NULL,
              "speedscope imported it as: %s", json_object_get_string(get(ss, "format")));
    json_object *p = json_object_array_get_idx(get(ss, "profiles"), 0);
    cr_expect_eq(num(p, "total"), 50000 + 50000 + 10000 + 1600 + 400);
    json_object *paths = get(p, "paths");
    cr_expect_eq(num(get(paths, REQ_S), "total"), 110000);
    cr_expect_eq(num(get(paths, REQ_S), "self"), 50000);
    cr_expect_eq(num(get(paths, REQ_S ";" TIMER_S ";" WRITE_S), "self"), 10000);
    cr_expect_eq(num(get(paths, "(before attach);TIMER"), "total"), 2000);
    json_object_put(ss);
}

/* ---------------------------------------------------------------------------------------
 * speedscope
 */

Test(flame, speedscope_evented_per_thread_shows_async_stacks)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.speedscope.json");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "--format", "speedscope", "-o", out);
    res_free(&r);
    json_object *ss = speedscope(out, "tree.speedscope.json");
    cr_expect(strstr(json_object_get_string(get(ss, "format")), "speedscope") != NULL);
    cr_expect_eq(json_object_array_length(get(ss, "profiles")), 2);
    /* Thread 100 runs the REQ callbacks and the old timer; thread 101 the TIMERs, with their
     * WRITEs nested: each callback shows its async stack once. */
    json_object *main = get(profile_named(ss, "main thread 100"), "paths");
    cr_expect_eq(num(get(main, REQ_S), "self"), 50000);
    cr_expect_eq(num(get(main, "(before attach);TIMER"), "self"), 1600);
    cr_expect_eq(num(get(main, "(before attach);TIMER;WRITE"), "self"), 400);
    json_object *worker = get(profile_named(ss, "thread 101"), "paths");
    cr_expect_eq(num(get(worker, REQ_S), "self"), 0);
    cr_expect_eq(num(get(worker, REQ_S ";" TIMER_S), "self"), 50000);
    cr_expect_eq(num(get(worker, REQ_S ";" TIMER_S ";" WRITE_S), "self"), 10000);
    cr_expect_eq(json_object_object_length(worker), 3);
    json_object_put(ss);
}

Test(flame, speedscope_sampled_for_count_and_live)
{
    const char *f = test_path("tree.data"), *out = test_path("count.speedscope.json");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-w", "count", "-o", out);
    res_free(&r);
    json_object *ss = speedscope(out, "count.speedscope.json");
    json_object *p = json_object_array_get_idx(get(ss, "profiles"), 0);
    cr_expect_eq(num(p, "total"), 61);
    json_object *paths = get(p, "paths");
    cr_expect_eq(num(get(paths, REQ_S), "total"), 60);
    cr_expect_eq(num(get(paths, REQ_S ";" TIMER_S), "total"), 40);
    cr_expect_eq(num(get(paths, REQ_S ";" LEAK_S), "self"), 10);
    json_object_put(ss);

    out = test_path("live.speedscope.json");
    r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-w", "live", "-o", out);
    res_free(&r);
    ss = speedscope(out, "live.speedscope.json");
    p = json_object_array_get_idx(get(ss, "profiles"), 0);
    cr_expect_eq(num(p, "total"), 10);
    cr_expect_eq(num(get(get(p, "paths"), REQ_S ";" LEAK_S), "self"), 10);
    json_object_put(ss);
}

/* Lost events: B's AFTER never came, Z and Y have no BEFORE, C is still open at the end.
 * speedscope throws on any unbalanced or out-of-order event: it must import the file. */
Test(flame, speedscope_balanced_when_events_were_lost)
{
    const char *f = test_path("lost.data"), *out = test_path("lost.speedscope.json");
    gen("lost", f, "0", false);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-o", out);
    cr_expect(strstr(r.err, "3 events were lost") != NULL, "no warning: %s", r.err);
    res_free(&r);
    json_object *ss = speedscope(out, "lost.speedscope.json");
    json_object *t7 = get(profile_named(ss, "thread 7"), "paths");
    cr_expect_eq(num(get(t7, "A"), "total"), 4000);   /* 1000 .. 5000 */
    cr_expect_eq(num(get(t7, "A;B"), "total"), 3000); /* closed with A, at 5000 */
    cr_expect_eq(num(get(t7, "C"), "total"), 13000);  /* 7000 .. the end, 20000 */
    json_object *t8 = get(profile_named(ss, "thread 8"), "paths");
    cr_expect_eq(num(get(t8, "D"), "total"), 1000);
    cr_expect_eq(json_object_object_length(t8), 1);
    json_object_put(ss);

    /* The file itself: every profile's events balance and never go back in time. */
    char *text = slurp(out);
    json_object *doc = json_or_die(text, out);
    json_object *profiles = get(doc, "profiles");
    for (size_t i = 0; i < json_object_array_length(profiles); i++) {
        json_object *ev = get(json_object_array_get_idx(profiles, i), "events");
        int stack[64], depth = 0;
        double last = 0;
        for (size_t k = 0; k < json_object_array_length(ev); k++) {
            json_object *e = json_object_array_get_idx(ev, k);
            const char *type = json_object_get_string(get(e, "type"));
            int frame = json_object_get_int(get(e, "frame"));
            cr_assert_geq(num(e, "at"), last);
            last = num(e, "at");
            if (strcmp(type, "O") == 0) {
                cr_assert_lt(depth, 64);
                stack[depth++] = frame;
            } else {
                cr_assert_gt(depth, 0, "close with nothing open");
                cr_assert_eq(stack[--depth], frame, "close of a frame not on top");
            }
        }
        cr_expect_eq(depth, 0, "profile %zu ends with %d frames open", i, depth);
    }
    json_object_put(doc);
    free(text);
}

/* ---------------------------------------------------------------------------------------
 * Chrome trace
 */

static json_object *check_chrome(const char *file, int want_code)
{
    struct res r = RUN(60, "node", SCRIPTS "/check-chrome.mjs", file);
    cr_assert_eq(r.code, want_code, "check-chrome exited %d: %s", r.code, r.err);
    json_object *j = json_or_die(r.out, "check-chrome");
    res_free(&r);
    return j;
}

static bool has_string(json_object *arr, const char *s)
{
    for (size_t i = 0; i < json_object_array_length(arr); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
            return true;
    return false;
}

Test(flame, chrome_slices_nest_and_flows_link_creation_to_callbacks)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.chrome.json");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "--format", "chrome", "-o", out);
    res_free(&r);
    json_object *c = check_chrome(out, 0);
    cr_expect_str_eq(json_object_get_string(get(c, "process_name")), "ah-server");
    json_object *threads = get(c, "threads");
    cr_expect_eq(json_object_array_length(threads), 2);
    cr_expect(has_string(threads, "100/100") && has_string(threads, "100/101"));
    /* 10 REQ + 20 TIMER + 20 WRITE + the old TIMER and its WRITE */
    cr_expect_eq(num(get(c, "cats"), "callback"), 52);
    /* Every resource whose creation was recorded: 10 REQ, 20 TIMER, 10 LEAK, 21 WRITE. */
    cr_expect_eq(num(get(c, "cats"), "init"), 61);
    /* Callbacks whose resource's creation is in the file: all but the old TIMER's. */
    cr_expect_eq(num(c, "flows_linked"), 51);
    cr_expect_eq(num(c, "max_depth"), 2); /* WRITE inside TIMER */
    json_object *names = get(c, "names");
    cr_expect(has_string(names, WRITE_S));
    cr_expect(has_string(names, "init " TIMER_S));
    json_object_put(c);

    /* The async stack trace of a WRITE callback, innermost first. */
    char *text = slurp(out);
    json_object *doc = json_or_die(text, out);
    json_object *evs = get(doc, "traceEvents");
    bool seen = false;
    for (size_t i = 0; i < json_object_array_length(evs) && !seen; i++) {
        json_object *e = json_object_array_get_idx(evs, i), *args, *st;
        if (strcmp(json_object_get_string(get(e, "name")), WRITE_S) != 0)
            continue;
        args = get(e, "args");
        st = get(args, "async_stack");
        cr_assert_eq(json_object_array_length(st), 3);
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(st, 0)), WRITE_S);
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(st, 1)), TIMER_S);
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(st, 2)), REQ_S);
        cr_expect_eq(num(args, "exclusive_us"), 0.5);
        seen = true;
    }
    cr_expect(seen);
    json_object_put(doc);
    free(text);

    /* speedscope also reads Chrome traces (its Trace Event Format importer). */
    json_object *ss = speedscope(out, "tree.json");
    cr_expect(strstr(json_object_get_string(get(ss, "format")), "Trace Event") != NULL,
              "speedscope imported it as: %s", json_object_get_string(get(ss, "format")));
    cr_expect_eq(json_object_array_length(get(ss, "profiles")), 2);
    json_object_put(ss);
}

Test(flame, chrome_closes_lost_and_unfinished_callbacks)
{
    const char *f = test_path("lost.data"), *out = test_path("lost.chrome.json");
    gen("lost", f, "0", false);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "chrome", "-o", out);
    res_free(&r);
    json_object *c = check_chrome(out, 0);
    cr_expect_eq(num(get(c, "cats"), "callback"), 4); /* A, B (incomplete), C (unfinished), D */
    json_object_put(c);
    char *text = slurp(out);
    cr_expect(strstr(text, "\"incomplete\":true") != NULL);
    cr_expect(strstr(text, "\"unfinished\":true") != NULL);
    free(text);
}

/* The checker itself catches what it is there to catch. */
Test(flame, chrome_checker_rejects_overlap)
{
    FILE *fp = fopen(test_path("bad.json"), "w");
    fputs("{\"traceEvents\":[{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":1,"
          "\"args\":{\"name\":\"t\"}},{\"ph\":\"X\",\"name\":\"a\",\"pid\":1,\"tid\":1,\"ts\":0,"
          "\"dur\":10},{\"ph\":\"X\",\"name\":\"b\",\"pid\":1,\"tid\":1,\"ts\":5,\"dur\":10}]}",
          fp);
    fclose(fp);
    json_object_put(check_chrome(test_path("bad.json"), 1));
}

/* ---------------------------------------------------------------------------------------
 * DOT
 */

Test(flame, dot_read_by_graphviz)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.dot");
    gen("tree", f, "10", false);
    struct res r = OK(60, FLAME_ASAN, f, "--format", "dot", "-o", out);
    res_free(&r);
    r = OK(60, "dot", "-Tsvg", "-o", test_path("tree.dot.svg"), out);
    res_free(&r);
    /* Read graphviz's own view of the graph back: nodes and edges with their labels. */
    r = OK(60, "dot", "-Tplain", out);
    int nodes = 0, edges = 0;
    bool req_timer = false, root_req = false, timer_write = false, before_write = false;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        char a[64], b[64];
        int n;
        if (strncmp(line, "node ", 5) == 0)
            nodes++;
        if (sscanf(line, "edge %63s %63s %d", a, b, &n) == 3) {
            edges++;
            /* the edge label (the count) follows the control points */
            char *label = strrchr(line, ' ');
            for (int k = 0; k < 4 && label > line; k++) /* back over: label x y style color */
                do
                    label--;
                while (label > line && *label != ' ');
            long count = strtol(label + 1, NULL, 10);
            req_timer |= strcmp(a, "t0") == 0 && strcmp(b, "t1") == 0 && count == 20;
            root_req |= strcmp(a, "root") == 0 && strcmp(b, "t0") == 0 && count == 10;
            timer_write |= strcmp(a, "t1") == 0 && strcmp(b, "t2") == 0 && count == 21;
            before_write |= strcmp(a, "before") == 0;
        }
    }
    cr_expect_eq(nodes, 5, "root + REQ, TIMER, WRITE, LEAK"); /* no (before attach) edge */
    cr_expect_eq(edges, 4);
    cr_expect(root_req && req_timer && timer_write && !before_write, "%s", slurp(out));
    res_free(&r);
    char *svg = slurp(test_path("tree.dot.svg"));
    cr_expect(strstr(svg, "created 20, alive at end 0") != NULL);
    free(svg);
}

/* ---------------------------------------------------------------------------------------
 * SVG in Chromium
 */

static json_object *browser(const char *svg, const char *const *actions)
{
    const char *argv[24] = {"node", SCRIPTS "/svg-browser.mjs", NODE_MODULES, svg};
    int n = 4;
    for (; actions && *actions && n < 22; actions++)
        argv[n++] = *actions;
    argv[n] = NULL;
    struct res r = runv(argv, 90);
    cr_assert_eq(r.code, 0, "svg-browser exited %d: %s", r.code, r.err);
    json_object *j = json_or_die(r.out, "svg-browser");
    res_free(&r);
    /* Whatever the content: no error, no dialog, nothing fetched, no element but ours. */
    cr_expect_eq(json_object_array_length(get(j, "errors")), 0, "page errors: %s",
                 json_object_to_json_string(get(j, "errors")));
    cr_expect_eq(json_object_array_length(get(j, "dialogs")), 0, "dialogs: %s",
                 json_object_to_json_string(get(j, "dialogs")));
    cr_expect_eq(json_object_array_length(get(j, "requests")), 0, "requests: %s",
                 json_object_to_json_string(get(j, "requests")));
    cr_expect_eq(json_object_get_int(get(j, "scripts")), 1);
    json_object *tags = get(j, "tags");
    static const char *const ours[] = {"svg",  "title", "style", "script", "defs", "linearGradient",
                                       "stop", "rect",  "text",  "g"};
    for (size_t i = 0; i < json_object_array_length(tags); i++) {
        const char *t = json_object_get_string(json_object_array_get_idx(tags, i));
        bool known = false;
        for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
            known |= strcmp(t, ours[k]) == 0;
        cr_expect(known, "element <%s> in the SVG", t);
    }
    return j;
}

static json_object *frame_named(json_object *frames, const char *label)
{
    for (size_t i = 0; i < json_object_array_length(frames); i++) {
        json_object *f = json_object_array_get_idx(frames, i);
        if (strcmp(json_object_get_string(get(f, "label")), label) == 0)
            return f;
    }
    cr_assert_fail("no frame '%s' in %s", label, json_object_to_json_string(frames));
    return NULL;
}

static void xmllint(const char *file)
{
    struct res r = RUN(60, "xmllint", "--noout", "--nonet", file);
    cr_expect_eq(r.code, 0, "xmllint: %s", r.err);
    res_free(&r);
}

Test(flame, svg_in_chromium_zoom_search_tooltips)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.svg");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "--format", "svg", "--title", "tree <test>", "-o", out);
    res_free(&r);
    xmllint(out);
    const char *const actions[] = {"--hover", TIMER_S,        "--click",       TIMER_S, "--search",
                                   "WRITE",   "--url-search", "before attach", NULL};
    json_object *b = browser(out, actions);
    cr_expect_str_eq(json_object_get_string(get(b, "title_text")), "tree <test>");
    json_object *frames = get(b, "frames");
    cr_expect_eq(json_object_array_length(frames), 7); /* all + 6 */
    json_object *all = frame_named(frames, "all"), *req = frame_named(frames, REQ_S);
    cr_expect_eq(num(all, "width"), 1180);
    /* REQ and below: 110000 of 112000 ns */
    cr_expect(num(req, "width") > 1180 * 110000.0 / 112000 - 0.02 &&
              num(req, "width") < 1180 * 110000.0 / 112000 + 0.02);
    cr_expect_str_eq(json_object_get_string(get(req, "info")),
                     "110.000 us, 98.21% (self 50.000 us)");
    cr_expect_str_eq(json_object_get_string(get(b, "hover")),
                     TIMER_S "  60.000 us, 53.57% (self 50.000 us)");

    /* Zoom on TIMER: it and its ancestors fill the width, (before attach) is hidden. */
    json_object *zoomed = get(b, "zoomed");
    cr_expect_eq(num(frame_named(zoomed, TIMER_S), "width"), 1180);
    cr_expect(json_object_get_boolean(get(frame_named(zoomed, "(before attach)"), "hidden")));
    cr_expect(!json_object_get_boolean(get(frame_named(zoomed, WRITE_S), "hidden")));
    /* WRITE is 10000 of TIMER's 60000 */
    cr_expect(num(frame_named(zoomed, WRITE_S), "width") > 1180 / 6.0 - 0.02 &&
              num(frame_named(zoomed, WRITE_S), "width") < 1180 / 6.0 + 0.02);
    cr_expect(json_object_get_boolean(get(b, "unzoom_visible")));
    json_object *unzoomed = get(b, "unzoomed");
    cr_expect_eq(num(frame_named(unzoomed, REQ_S), "width"), num(req, "width"));
    cr_expect(!json_object_get_boolean(get(frame_named(unzoomed, "(before attach)"), "hidden")));

    /* Search: WRITE frames are 10400 of 112000 ns = 9.3% */
    cr_expect_str_eq(json_object_get_string(get(b, "search")), "Matched: 9.3%");
    json_object *matched = get(b, "search_matched");
    cr_expect_eq(json_object_array_length(matched), 2);
    cr_expect_str_eq(json_object_get_string(get(b, "url_search")), "Matched: 1.8%");
    json_object_put(b);
}

Test(flame, svg_leak_flame_and_empty_graph)
{
    const char *f = test_path("tree.data"), *out = test_path("live.svg");
    gen("tree", f, "10", false);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "svg", "-w", "live", "-o", out);
    res_free(&r);
    xmllint(out);
    json_object *b = browser(out, NULL);
    cr_expect_str_eq(json_object_get_string(get(b, "title_text")),
                     "Leak flame graph: resources alive at the end");
    cr_expect_str_eq(json_object_get_string(get(frame_named(get(b, "frames"), "LEAK"), "info")),
                     "10 alive, 100.00%");
    json_object_put(b);

    /* A recording without callbacks draws an empty graph, not an error. */
    const char *g = test_path("one.data"), *empty = test_path("empty.svg");
    gen("rearm", g, "1", false);
    r = OK(60, FLAME_ASAN, g, "-f", "svg", "-o", empty);
    res_free(&r);
    xmllint(empty);
    char *text = slurp(empty);
    cr_expect(strstr(text, "No callback time in this recording") != NULL);
    free(text);
    json_object_put(browser(empty, NULL));
}

/* ---------------------------------------------------------------------------------------
 * Hostile names: type names and symbols from the traced program, in every format.
 */

/* Labels as every format must show them (asyncstack.h). */
#define H_SCRIPT "<script>alert(1)</script>@evil0\"\\x3b\\x0a<b>.c:10 f\\x3bg\\x1b[2J_7"
#define H_QUOTE "quo\"te'd@evil1\"\\x3b\\x0a<b>.c:11 <img src=x onerror=alert(3)>"
#define H_SEMI "semi\\x3bcolon 42@evil2\"\\x3b\\x0a<b>.c:12 f\\x3bg\\x1b[2J_7"
#define H_NEWLINE "new\\x0aline@evil3\"\\x3b\\x0a<b>.c:13 <img src=x onerror=alert(3)>"
#define H_ESC "esc\\x1b[31mred\\x1b[0m@evil4\"\\x3b\\x0a<b>.c:14 f\\x3bg\\x1b[2J_7"
#define H_CDATA "]]></script><svg onload=alert(2)>@evil8\"\\x3b\\x0a<b>.c:18 f\\x3bg\\x1b[2J_7"
static const char *const hostile[] = {H_SCRIPT, H_QUOTE, H_SEMI, H_NEWLINE, H_ESC, H_CDATA};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static void no_raw_bytes(const char *text, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        cr_assert(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "%s: byte 0x%02x at %zu", what, *p,
                  (size_t)(p - (const unsigned char *)text));
}

Test(flame, hostile_names_folded)
{
    const char *f = test_path("names.data");
    gen("names", f, "0", true);
    struct res r = OK(60, FLAME_ASAN, f, "-w", "live");
    no_raw_bytes(r.out, "folded");
    struct line lines[32];
    int n = folded_lines(r.out, lines, 32);
    cr_expect_eq(n, 9);
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect_eq(folded_value(lines, n, hostile[i]), 1, "no line '%s 1' in:\n%s", hostile[i],
                     r.out);
    for (int i = 0; i < n; i++)
        cr_expect(strchr(lines[i].stack, ';') == NULL, "a name split the stack: %s",
                  lines[i].stack);
    res_free(&r);
    /* Without sites the names end the line: "semi;colon 42" must not read as a count 42. */
    r = OK(60, FLAME_ASAN, f, "-w", "live", "--types-only");
    n = folded_lines(r.out, lines, 32);
    cr_expect_eq(folded_value(lines, n, "semi\\x3bcolon_42"), 1, "%s", r.out);
    cr_expect_eq(folded_value(lines, n, "<script>alert(1)</script>"), 1, "%s", r.out);
    res_free(&r);
    /* And speedscope, which splits stacks at ';', sees one frame per name. */
    r = OK(60, FLAME_ASAN, f, "-w", "live", "-o", test_path("names.folded"));
    res_free(&r);
    json_object *ss = speedscope(test_path("names.folded"), "names.collapsedstack.txt");
    json_object *frames = get(json_object_array_get_idx(get(ss, "profiles"), 0), "frames");
    cr_expect_eq(json_object_object_length(frames), 9);
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect_eq(num(get(frames, hostile[i]), "self"), 1);
    json_object_put(ss);
}

Test(flame, hostile_names_svg_in_chromium)
{
    const char *f = test_path("names.data"), *out = test_path("names.svg");
    gen("names", f, "0", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "svg", "-w", "live", "--title",
                      "<script>alert(4)</script>\x1b[2J", "-o", out);
    res_free(&r);
    char *text = slurp(out);
    no_raw_bytes(text, "svg");
    free(text);
    xmllint(out);
    const char *const actions[] = {"--hover",  H_SCRIPT,   "--click", H_CDATA,
                                   "--search", "<script>", NULL};
    json_object *b = browser(out, actions);
    cr_expect_str_eq(json_object_get_string(get(b, "title_text")),
                     "<script>alert(4)</script>\\x1b[2J");
    json_object *frames = get(b, "frames");
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect_str_eq(json_object_get_string(get(frame_named(frames, hostile[i]), "info")),
                         "1 alive, 11.11%");
    cr_expect_str_eq(json_object_get_string(get(b, "hover")), H_SCRIPT "  1 alive, 11.11%");
    cr_expect_eq(num(frame_named(get(b, "zoomed"), H_CDATA), "width"), 1180);
    cr_expect_str_eq(json_object_get_string(get(b, "search")), "Matched: 11.1%");
    json_object_put(b);
}

Test(flame, hostile_names_chrome_speedscope_dot)
{
    const char *f = test_path("names.data");
    gen("names", f, "0", true);

    const char *chrome = test_path("names.chrome.json");
    struct res r = OK(60, FLAME_ASAN, f, "-f", "chrome", "-o", chrome);
    res_free(&r);
    char *text = slurp(chrome);
    no_raw_bytes(text, "chrome");
    free(text);
    json_object *c = check_chrome(chrome, 0);
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect(has_string(get(c, "names"), hostile[i]), "no slice named %s", hostile[i]);
    json_object_put(c);

    const char *ssf = test_path("names.speedscope.json");
    r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-o", ssf);
    res_free(&r);
    text = slurp(ssf);
    no_raw_bytes(text, "speedscope");
    free(text);
    json_object *ss = speedscope(ssf, "names.speedscope.json");
    json_object *frames = get(profile_named(ss, "main thread 100"), "frames");
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect_eq(num(get(frames, hostile[i]), "self"), 1000);
    json_object_put(ss);

    const char *dot = test_path("names.dot");
    r = OK(60, FLAME_ASAN, f, "-f", "dot", "-o", dot);
    res_free(&r);
    text = slurp(dot);
    no_raw_bytes(text, "dot");
    free(text);
    r = OK(60, "dot", "-Tsvg", "-o", test_path("names.dot.svg"), dot);
    res_free(&r);
    xmllint(test_path("names.dot.svg"));
    text = slurp(test_path("names.dot.svg"));
    cr_expect(strstr(text, "<script") == NULL, "graphviz output has a script element");
    cr_expect(strstr(text, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    cr_expect(strstr(text, "quo&quot;te&#39;d") != NULL || strstr(text, "quo&quot;te'd") != NULL);
    free(text);
    r = OK(60, "dot", "-Tplain", dot);
    int nodes = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
        nodes += strncmp(line, "node ", 5) == 0;
    cr_expect_eq(nodes, 10, "(root) and 9 types: a name injected nodes?");
    res_free(&r);
}

/* A chain of 600 distinct frames: every output stops at 256 frames with "(deeper)", and
 * every consumer still reads it. */
Test(flame, deep_paths_are_capped_in_every_format)
{
    const char *f = test_path("deep.data");
    gen("deep", f, "600", true);
    struct res r = OK(60, FLAME_ASAN, f);
    struct line *lines = calloc(300, sizeof(*lines));
    int n = folded_lines(r.out, lines, 300);
    cr_expect_eq(n, 256, "255 frames with their own time, then (deeper)");
    unsigned long long total = 0;
    int deepest = 0;
    for (int i = 0; i < n; i++) {
        int frames = 1;
        for (const char *p = lines[i].stack; *p; p++)
            frames += *p == ';';
        if (frames > deepest)
            deepest = frames;
        total += lines[i].value;
        const char *last = strrchr(lines[i].stack, ';');
        if (frames == 256)
            cr_expect_str_eq(last + 1, "(deeper)");
    }
    cr_expect_eq(deepest, 256);
    cr_expect_eq(total, 599 * 100ull, "no time lost in the cut");
    free(lines);
    res_free(&r);

    r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-o", test_path("deep.speedscope.json"));
    res_free(&r);
    json_object *ss = speedscope(test_path("deep.speedscope.json"), "deep.speedscope.json");
    json_object *frames = get(profile_named(ss, "main thread 100"), "frames");
    cr_expect_eq(num(get(frames, "(deeper)"), "self"), 344 * 100);
    json_object_put(ss);
    r = OK(60, FLAME_ASAN, f, "-f", "chrome", "-o", test_path("deep.json"));
    res_free(&r);
    json_object_put(check_chrome(test_path("deep.json"), 0));
    r = OK(60, FLAME_ASAN, f, "-f", "svg", "-o", test_path("deep.svg"));
    res_free(&r);
    xmllint(test_path("deep.svg"));
}

/* ---------------------------------------------------------------------------------------
 * Memory: a timer that re-arms itself forever, 10M events.
 */

Test(flame, rearming_timer_10M_events_bounded_memory, .timeout = 300)
{
    const char *f = test_path("rearm.data");
    gen("rearm", f, "10000000", true);
    struct res r = OK(120, FLAME, f, "-o", test_path("rearm.folded"));
    struct line lines[8];
    char *text = slurp(test_path("rearm.folded"));
    int n = folded_lines(text, lines, 8);
    /* 2499999 timers: the first created by main, each next by the one before, folded into
     * one frame; 90 ns per callback. */
    cr_expect_eq(n, 2, "%s", text);
    cr_expect_eq(folded_value(lines, n, "TIMER@server.c:290 main"), 90);
    cr_expect_eq(folded_value(lines, n, "TIMER@server.c:290 main;TIMER@timer.c:55 timer_rearm"),
                 2499998ull * 90);
    free(text);
    fprintf(stderr, "ahprof flame, 10M events, re-arming timer: max RSS %ld KiB\n", r.maxrss_kb);
    /* Per-resource state lives only while a resource is alive; destroyed ids cost 4 bytes
     * each (capped at 64 MiB by the model). 2.5M ids: ~10 MiB. */
    cr_expect_lt(r.maxrss_kb, 48 * 1024, "max RSS %ld KiB", r.maxrss_kb);
    res_free(&r);
    r = OK(120, FLAME, f, "-f", "svg", "-o", test_path("rearm.svg"));
    cr_expect_lt(r.maxrss_kb, 48 * 1024, "svg: max RSS %ld KiB", r.maxrss_kb);
    res_free(&r);
    struct stat st;
    cr_assert_eq(stat(test_path("rearm.svg"), &st), 0);
    cr_expect_lt(st.st_size, 64 * 1024, "the SVG of one folded chain is small");
}

/* ---------------------------------------------------------------------------------------
 * Command line and errors
 */

Test(flame, errors_are_one_line_and_exit_nonzero)
{
    struct res r = RUN(30, FLAME_ASAN, test_path("missing.data"));
    cr_expect_eq(r.code, 1);
    cr_expect(strstr(r.err, "no such file") != NULL, "%s", r.err);
    cr_expect_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    res_free(&r);

    FILE *fp = fopen(test_path("junk.data"), "w");
    fputs("this is not a recording\n", fp);
    fclose(fp);
    r = RUN(30, FLAME_ASAN, test_path("junk.data"), "--json");
    cr_expect_eq(r.code, 1);
    json_object *j = json_or_die(r.out, "--json error");
    cr_expect(strstr(json_object_get_string(get(j, "error")), "not an ahprof data file") != NULL);
    json_object_put(j);
    res_free(&r);

    const char *f = test_path("tree.data");
    gen("tree", f, "2", false);
    r = RUN(30, FLAME_ASAN, f, "--format", "png");
    cr_expect_eq(r.code, 2);
    cr_expect(strstr(r.err, "unknown format 'png'") != NULL, "%s", r.err);
    res_free(&r);
    r = RUN(30, FLAME_ASAN, f, "--weight", "bytes", "--json");
    cr_expect_eq(r.code, 2);
    cr_expect(strstr(r.out, "{\"error\": \"unknown weight 'bytes'") == r.out, "%s", r.out);
    res_free(&r);
    r = RUN(30, FLAME_ASAN, f, "--bogus");
    cr_expect_eq(r.code, 2);
    res_free(&r);
    r = RUN(30, FLAME_ASAN, f, test_path("other.data"));
    cr_expect_eq(r.code, 2);
    res_free(&r);

    /* An output that cannot be written: error, and nothing left behind. */
    r = RUN(30, FLAME_ASAN, f, "-o", test_path("no/such/dir/out.svg"));
    cr_expect_eq(r.code, 1);
    cr_expect(strstr(r.err, "cannot write") != NULL, "%s", r.err);
    res_free(&r);
    /* A device is written in place (never replaced), and its errors are reported. */
    r = RUN(30, FLAME_ASAN, f, "-f", "svg", "-o", "/dev/full");
    cr_expect_eq(r.code, 1, "writing to a full device must fail");
    res_free(&r);
    struct stat st;
    cr_assert_eq(stat("/dev/full", &st), 0);
    cr_expect(S_ISCHR(st.st_mode), "/dev/full is no longer a device");
    /* A failed run leaves a previous good output untouched. */
    FILE *good = fopen(test_path("good.svg"), "w");
    fputs("previous\n", good);
    fclose(good);
    r = RUN(30, FLAME_ASAN, test_path("junk.data"), "-f", "svg", "-o", test_path("good.svg"));
    cr_expect_eq(r.code, 1);
    res_free(&r);
    char *prev = slurp(test_path("good.svg"));
    cr_expect_str_eq(prev, "previous\n");
    free(prev);

    r = OK(30, FLAME_ASAN, "--help");
    cr_expect(strstr(r.out, "--weight") && strstr(r.out, "(before attach)") &&
              strstr(r.out, "speedscope") && strstr(r.out, "\\xNN"));
    res_free(&r);
}

Test(flame, truncated_recording_is_drawn_with_a_warning)
{
    const char *f = test_path("tree.data");
    gen("tree", f, "500", false);
    struct stat st;
    cr_assert_eq(stat(f, &st), 0);
    cr_assert_eq(truncate(f, st.st_size * 2 / 3), 0);
    struct res r = OK(30, FLAME_ASAN, f, "-w", "count");
    cr_expect(strstr(r.err, "truncated") != NULL, "%s", r.err);
    struct line lines[16];
    int n = folded_lines(r.out, lines, 16);
    unsigned long long req = folded_value(lines, n, "REQ");
    cr_expect(req > 0 && req < 500, "REQ %llu", req);
    res_free(&r);
}

/* ---------------------------------------------------------------------------------------
 * Real recordings (BPF): ahprof record on the workload targets.
 */

static bool can_record(void)
{
    return geteuid() == 0 && access(AHPROF, X_OK) == 0 && access(WORKLOAD, X_OK) == 0;
}

Test(flame, real_recording_exact_counts_in_every_format)
{
    if (!can_record())
        TEST_DIR_SKIP("needs root and build/ahprof (BPF)");
    const char *f = test_path("real.data");
    struct res r = OK(60, AHPROF, "record", "-o", f, "--", WORKLOAD, "tree", "25");
    res_free(&r);
    /* workload tree 25: REQ 25 (root), TIMER 50, WRITE 50, LEAK 25 (alive at exit) */
    const struct want count[] = {
        {"REQ", 25}, {"REQ;TIMER", 50}, {"REQ;TIMER;WRITE", 50}, {"REQ;LEAK", 25}};
    expect_folded(f, "count", true, count, 4);
    const struct want live[] = {{"REQ;LEAK", 25}};
    expect_folded(f, "live", true, live, 1);

    r = OK(60, FLAME_ASAN, f, "-f", "chrome", "-o", test_path("real.json"));
    res_free(&r);
    json_object *c = check_chrome(test_path("real.json"), 0);
    cr_expect_eq(num(get(c, "cats"), "callback"), 125);
    cr_expect_eq(num(c, "flows_linked"), 125);
    json_object_put(c);

    r = OK(60, FLAME_ASAN, f, "-f", "speedscope", "-o", test_path("real.speedscope.json"));
    res_free(&r);
    json_object *ss = speedscope(test_path("real.speedscope.json"), "real.speedscope.json");
    /* speedscope's per-thread timelines, summed, give exactly the folded time weights. */
    r = OK(60, FLAME_ASAN, f, "--types-only");
    struct line lines[16];
    int n = folded_lines(r.out, lines, 16);
    cr_expect_eq(n, 3, "REQ, TIMER, WRITE callbacks: %s", r.out);
    for (int i = 0; i < n; i++) {
        double sum = 0;
        json_object *profiles = get(ss, "profiles"), *v;
        for (size_t k = 0; k < json_object_array_length(profiles); k++)
            if (json_object_object_get_ex(get(json_object_array_get_idx(profiles, k), "paths"),
                                          lines[i].stack, &v))
                sum += num(v, "self");
        cr_expect_eq(sum, (double)lines[i].value, "%s: speedscope %.0f, folded %llu",
                     lines[i].stack, sum, lines[i].value);
    }
    res_free(&r);
    json_object_put(ss);

    r = OK(60, FLAME_ASAN, f, "-f", "svg", "-w", "count", "-o", test_path("real.svg"));
    res_free(&r);
    json_object *b = browser(test_path("real.svg"), NULL);
    cr_expect_str_eq(json_object_get_string(get(frame_named(get(b, "frames"), "WRITE"), "info")),
                     "50 created, 33.33%");
    json_object_put(b);
}

Test(flame, real_recording_hostile_names)
{
    if (!can_record())
        TEST_DIR_SKIP("needs root and build/ahprof (BPF)");
    const char *f = test_path("names.data");
    struct res r = OK(60, AHPROF, "record", "-o", f, "--", WORKLOAD, "names");
    res_free(&r);
    r = OK(60, FLAME_ASAN, f, "-w", "count");
    no_raw_bytes(r.out, "folded");
    struct line lines[16];
    int n = folded_lines(r.out, lines, 16);
    cr_expect_eq(n, 5, "%s", r.out);
    cr_expect_eq(folded_value(lines, n, "<script>alert(1)</script>"), 1);
    cr_expect_eq(folded_value(lines, n, "semi\\x3bcolon_42"), 1);
    cr_expect_eq(folded_value(lines, n, "new\\x0aline"), 1);
    cr_expect_eq(folded_value(lines, n, "esc\\x1b[31mred\\x1b[0m"), 1);
    res_free(&r);
    r = OK(60, FLAME_ASAN, f, "-f", "svg", "-w", "count", "-o", test_path("names.svg"));
    res_free(&r);
    xmllint(test_path("names.svg"));
    json_object *b = browser(test_path("names.svg"), NULL);
    frame_named(get(b, "frames"), "<script>alert(1)</script>");
    frame_named(get(b, "frames"), "quo\"te'd");
    json_object_put(b);
}

/* With `ahprof record --stacks` (when this ahprof has it), frames name the creating code. */
Test(flame, real_recording_with_stacks)
{
    if (!can_record())
        TEST_DIR_SKIP("needs root and build/ahprof (BPF)");
    struct res h = RUN(30, AHPROF, "record", "--help");
    bool has = strstr(h.out, "--stacks") != NULL || strstr(h.err, "--stacks") != NULL;
    res_free(&h);
    if (!has)
        TEST_DIR_SKIP("this ahprof record has no --stacks yet");
    const char *f = test_path("stacks.data");
    /* -s 1: the workload sleeps before its first event, so that the recorder has read its
     * memory map (the symbolizer needs the process alive). */
    struct res r =
        OK(60, AHPROF, "record", "--stacks", "-o", f, "--", WORKLOAD, "-s", "1", "tree", "5");
    res_free(&r);
    r = OK(60, FLAME_ASAN, f, "-w", "count");
    struct line lines[16];
    int n = folded_lines(r.out, lines, 16);
    cr_expect_eq(n, 4, "%s", r.out);
    /* workload.c: REQs are created in main's loop, TIMERs and LEAKs in req_cb, WRITEs in
     * timer_cb. */
    bool req = false, timer = false, write = false;
    for (int i = 0; i < n; i++) {
        req |= strncmp(lines[i].stack, "REQ@workload.c:", 15) == 0;
        timer |= strstr(lines[i].stack, ";TIMER@workload.c:") != NULL &&
                 strstr(lines[i].stack, " req_cb") != NULL;
        write |= strstr(lines[i].stack, ";WRITE@workload.c:") != NULL &&
                 strstr(lines[i].stack, " timer_cb") != NULL;
    }
    cr_expect(req && timer && write, "frames without their creation sites:\n%s", r.out);
    res_free(&r);
}

Test(flame, ahprof_dispatches_flame)
{
    struct res r = RUN(30, AHPROF, "flame", "--help");
    if (r.code != 0 && strstr(r.err, "unknown command") != NULL) {
        res_free(&r);
        TEST_DIR_SKIP("build/ahprof has no flame command yet (src/cli/cmd/main.c)");
    }
    cr_expect_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Usage: ahprof flame") == r.out);
    res_free(&r);
}
