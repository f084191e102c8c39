/* test_report.c - `ahprof report` on synthetic recordings with known numbers: exact counts,
 * edges, trees, leaks and callback time; snapshot and (before attach) accounting; hostile
 * names; errors. The JSON output is read with json-c, strictly (jparse). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmpdir.h"
#include "data/datafile.h"
#include "model/model.h"
#include "cmd/report.h"
#include "common/util.h"

/* ---------------------------------------------------------------------------------------
 * The JSON output, read with json-c.
 */

/* TEXT parsed strictly, or NULL: one JSON value and nothing after it but white space. json-c's
 * strict mode still takes 'single quotes' and raw control bytes in strings, which RFC 8259 does
 * not: those are refused here. The report escapes single bytes only (\u00XX); a wider escape is
 * an error too. */
static json_object *jparse(const char *text)
{
    bool in_string = false;
    for (const char *c = text; *c; c++) {
        if (!in_string && *c == '\'')
            return NULL;
        if (in_string && (unsigned char)*c < 0x20)
            return NULL;
        if (*c == '"') {
            in_string = !in_string;
        } else if (in_string && *c == '\\') {
            if (c[1] == 'u' && strncmp(c + 2, "00", 2) != 0)
                return NULL;
            if (c[1])
                c++;
        }
    }
    json_tokener *tok = json_tokener_new();
    cr_assert_not_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    size_t len = strlen(text);
    json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                 strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") ==
                     len - json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!whole) {
        json_object_put(doc);
        return NULL;
    }
    return doc;
}

/* S as a JSON reader decodes the report's escapes of it: a byte above 0x7f is written as
 * \u00XX, which is the code point U+00XX, which json-c hands back in UTF-8. */
static const char *decoded(const char *s)
{
    static char bufs[4][256];
    static int k;
    char *out = bufs[k++ % 4];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c && n + 3 < sizeof(bufs[0]); c++) {
        if (*c < 0x80) {
            out[n++] = (char)*c;
        } else {
            out[n++] = (char)(0xc0 | (*c >> 6));
            out[n++] = (char)(0x80 | (*c & 0x3f));
        }
    }
    out[n] = '\0';
    return out;
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o == NULL || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static long long jint(json_object *o, const char *key)
{
    json_object *v = jget(o, key);
    cr_assert(v != NULL && json_object_is_type(v, json_type_int), "missing number %s", key);
    return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v = jget(o, key);
    cr_assert(v != NULL && json_object_is_type(v, json_type_string), "missing string %s", key);
    return json_object_get_string(v);
}

static bool jbool(json_object *o, const char *key)
{
    json_object *v = jget(o, key);
    cr_assert(v != NULL && json_object_is_type(v, json_type_boolean), "missing bool %s", key);
    return json_object_get_boolean(v);
}

/* Whether KEY is present with the value null (json-c gives null as a NULL object). */
static bool jnull(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o != NULL && json_object_object_get_ex(o, key, &v) && v == NULL;
}

/* The length of array A (0 if A is not an array: the caller's count assertion fails). */
static size_t jlen(json_object *a)
{
    return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static json_object *jidx(json_object *a, size_t i)
{
    cr_assert(json_object_is_type(a, json_type_array) && i < json_object_array_length(a));
    return json_object_array_get_idx(a, i);
}

/* The element of array A whose string KEY equals VAL. */
static json_object *jfind(json_object *a, const char *key, const char *val)
{
    cr_assert(json_object_is_type(a, json_type_array));
    for (size_t i = 0; i < jlen(a); i++) {
        json_object *k = jget(jidx(a, i), key);
        if (json_object_is_type(k, json_type_string) && strcmp(json_object_get_string(k), val) == 0)
            return jidx(a, i);
    }
    return NULL;
}

static long long edge(json_object *doc, const char *parent, const char *child)
{
    json_object *edges = jget(doc, "edges");
    cr_assert(json_object_is_type(edges, json_type_array));
    for (size_t i = 0; i < jlen(edges); i++) {
        json_object *e = jidx(edges, i);
        if (strcmp(jstr(e, "parent"), parent) == 0 && strcmp(jstr(e, "child"), child) == 0)
            return jint(e, "count");
    }
    return 0;
}

/* The tree node at a path of names from a root, e.g. {"(root)", "A", "B", NULL}. */
static json_object *tree_at(json_object *doc, const char *const *path)
{
    json_object *level = jget(doc, "tree");
    json_object *node = NULL;
    for (int i = 0; path[i] != NULL; i++) {
        node = jfind(level, "name", path[i]);
        if (node == NULL)
            return NULL;
        level = jget(node, "children");
    }
    return node;
}

/* ---------------------------------------------------------------------------------------
 * Synthetic recordings
 */

TestSuite(report, .init = test_dir_init, .fini = test_dir_fini);

struct stream {
    struct ahp_event *ev;
    size_t n, cap;
    uint32_t tid;
};

static void add(struct stream *s, uint8_t kind, uint64_t ts, uint64_t id, uint64_t trig,
                int32_t type, uint8_t flags)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
    }
    s->ev[s->n++] = (struct ahp_event){.ts_ns = ts,
                                       .id = id,
                                       .trigger_id = trig,
                                       .tid = s->tid ? s->tid : 100,
                                       .type = type,
                                       .kind = kind,
                                       .flags = flags,
                                       .pid = 100};
}

#define INIT(s, ts, id, trig, type) add(s, AHP_EV_INIT, ts, id, trig, type, 0)
#define BEFORE(s, ts, id, type) add(s, AHP_EV_BEFORE, ts, id, 0, type, 0)
#define AFTER(s, ts, id, type) add(s, AHP_EV_AFTER, ts, id, 0, type, 0)
#define DESTROY(s, ts, id, type) add(s, AHP_EV_DESTROY, ts, id, 0, type, 0)

struct rec {
    const char *const *names; /* NULL-terminated, ids 0.. */
    const int64_t *snapshot;
    uint32_t nsnap;
    uint64_t lost;
    uint64_t start, end;
    bool truncate; /* drop the end chunk (a crash) */
};

static void save(const char *path, const struct rec *rc, const struct stream *s)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 100, .start_mono_ns = rc->start, .start_real_ns = 1};
    strcpy(fi.comm, "synthetic");
    strcpy(fi.target, "/opt/synthetic");
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    for (int i = 0; rc->names != NULL && rc->names[i] != NULL; i++)
        cr_assert_eq(ahp_writer_type(w, i, rc->names[i]), 0);
    if (rc->snapshot != NULL)
        cr_assert_eq(ahp_writer_snapshot(w, rc->snapshot, rc->nsnap), 0);
    cr_assert_eq(ahp_writer_events(w, s->ev, s->n), 0);
    if (rc->lost)
        cr_assert_eq(ahp_writer_lost(w, rc->lost), 0);
    cr_assert_eq(ahp_writer_close(w, rc->end, rc->lost), 0);
    if (rc->truncate) {
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(truncate(path, st.st_size - (16 + 40)), 0);
    }
}

struct run {
    int rc;
    char *out, *err;
};

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(f);
    if (n > 0)
        cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

/* Run `ahprof report ARGS...` in this process, stdout and stderr captured. */
static struct run run_report(const char *a1, ...)
{
    const char *argv[16] = {"report"};
    int argc = 1;
    va_list ap;
    va_start(ap, a1);
    for (const char *a = a1; a != NULL && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    FILE *out = tmpfile(), *err = tmpfile();
    int so = dup(1), se = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    struct run r;
    r.rc = ahprof_cmd_report(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    fseek(out, 0, SEEK_END);
    fseek(err, 0, SEEK_END);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* The report as JSON, parsed; the test fails if it is not valid JSON. */
static json_object *report_json(const char *path)
{
    struct run r = run_report(path, "--json", NULL);
    cr_assert_eq(r.rc, 0, "exit %d, stderr: %s", r.rc, r.err);
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc, "invalid JSON: %s", r.out);
    run_free(&r);
    return doc;
}

/*
 * The reference workload, with known numbers:
 *   1 TCPSERVER (root) runs once and accepts 3 TCPCONN; each TCPCONN runs once and creates
 *   2 REQ; each REQ runs once and arms 1 TIMER; each TIMER runs once and starts 1 WRITE.
 *   Everything is destroyed except the server and the last WRITE.
 * Callback durations: server 1000 ns, conn 2000, req 3000, timer 4000 (none nested).
 */
enum { T_SERVER, T_CONN, T_REQ, T_TIMER, T_WRITE };
static const char *const ref_names[] = {"TCPSERVER", "TCPCONN", "REQ", "TIMER", "WRITE", NULL};

static void reference(struct stream *s)
{
    uint64_t t = 1000;
    INIT(s, t, 10, 1, T_SERVER);
    t += 100;
    BEFORE(s, t, 10, T_SERVER);
    for (int c = 0; c < 3; c++)
        INIT(s, t + 10 + c, 100 + c, 10, T_CONN);
    AFTER(s, t + 1000, 10, T_SERVER);
    t += 2000;
    uint64_t req = 200, timer = 300, wr = 400;
    for (int c = 0; c < 3; c++) {
        BEFORE(s, t, 100 + c, T_CONN);
        INIT(s, t + 1, req, 100 + c, T_REQ);
        INIT(s, t + 2, req + 1, 100 + c, T_REQ);
        AFTER(s, t + 2000, 100 + c, T_CONN);
        t += 3000;
        for (int q = 0; q < 2; q++, req++, timer++, wr++) {
            BEFORE(s, t, req, T_REQ);
            INIT(s, t + 1, timer, req, T_TIMER);
            AFTER(s, t + 3000, req, T_REQ);
            t += 4000;
            BEFORE(s, t, timer, T_TIMER);
            INIT(s, t + 1, wr, timer, T_WRITE);
            AFTER(s, t + 4000, timer, T_TIMER);
            DESTROY(s, t + 4001, timer, T_TIMER);
            t += 5000;
            if (!(c == 2 && q == 1))
                DESTROY(s, t, wr, T_WRITE);
            DESTROY(s, t + 1, req, T_REQ);
            t += 10;
        }
        DESTROY(s, t, 100 + c, T_CONN);
        t += 10;
    }
}

static json_object *type_of(json_object *doc, const char *name)
{
    json_object *t = jfind(jget(doc, "types"), "name", name);
    cr_assert_not_null(t, "type %s missing", name);
    return t;
}

Test(report, reference_workload_exact_counts_edges_tree_leaks)
{
    struct stream s = {0};
    reference(&s);
    const char *p = test_path("ref.data");
    uint64_t end = s.ev[s.n - 1].ts_ns + 500;
    struct rec rc = {.names = ref_names, .start = 500, .end = end};
    save(p, &rc, &s);
    json_object *doc = report_json(p);

    cr_expect_eq(jint(doc, "events"), (long long)s.n);
    cr_expect_eq(jint(doc, "lost_events"), 0);
    cr_expect_not(jbool(doc, "truncated"));
    cr_expect_eq(jint(doc, "duration_ns"), (long long)(end - 500));

    struct {
        const char *name;
        long long created, destroyed, active, callbacks, ns;
    } want[] = {
        {"TCPSERVER", 1, 0, 1, 1, 1000}, {"TCPCONN", 3, 3, 0, 3, 6000}, {"REQ", 6, 6, 0, 6, 18000},
        {"TIMER", 6, 6, 0, 6, 24000},    {"WRITE", 6, 5, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_object *t = type_of(doc, want[i].name);
        cr_expect_eq(jint(t, "created"), want[i].created, "%s created", want[i].name);
        cr_expect_eq(jint(t, "destroyed"), want[i].destroyed, "%s destroyed", want[i].name);
        cr_expect_eq(jint(t, "active"), want[i].active, "%s active", want[i].name);
        cr_expect_eq(jint(t, "callbacks"), want[i].callbacks, "%s callbacks", want[i].name);
        cr_expect_eq(jint(t, "callback_ns"), want[i].ns, "%s callback_ns", want[i].name);
        cr_expect_eq(jint(t, "exclusive_ns"), want[i].ns, "%s exclusive_ns", want[i].name);
        if (want[i].callbacks) {
            long long per = want[i].ns / want[i].callbacks;
            cr_expect_eq(jint(t, "p50_ns"), per);
            cr_expect_eq(jint(t, "p99_ns"), per);
            cr_expect_eq(jint(t, "max_ns"), per);
        }
    }
    cr_expect_eq(jlen(jget(doc, "types")), 5);

    json_object *edges = jget(doc, "edges");
    cr_expect_eq(jlen(edges), 5);
    cr_expect_eq(edge(doc, "(root)", "TCPSERVER"), 1);
    cr_expect_eq(edge(doc, "TCPSERVER", "TCPCONN"), 3);
    cr_expect_eq(edge(doc, "TCPCONN", "REQ"), 6);
    cr_expect_eq(edge(doc, "REQ", "TIMER"), 6);
    cr_expect_eq(edge(doc, "TIMER", "WRITE"), 6);

    const char *const path[] = {"(root)", "TCPSERVER", "TCPCONN", "REQ", "TIMER", "WRITE", NULL};
    const long long created[] = {0, 1, 3, 6, 6, 6};
    const long long cb_ns[] = {0, 1000, 6000, 18000, 24000, 0};
    for (int depth = 0; path[depth] != NULL; depth++) {
        const char *prefix[8] = {0};
        memcpy(prefix, path, sizeof(char *) * (size_t)(depth + 1));
        json_object *n = tree_at(doc, prefix);
        cr_assert_not_null(n, "tree node at depth %d", depth);
        cr_expect_eq(jint(n, "created"), created[depth], "depth %d", depth);
        cr_expect_eq(jint(n, "callback_ns"), cb_ns[depth], "depth %d", depth);
        cr_expect_eq(jlen(jget(n, "children")), path[depth + 1] ? 1u : 0u);
    }
    cr_expect_eq(jlen(jget(doc, "tree")), 1); /* no (before attach) here */

    json_object *leaks = jget(doc, "leaks");
    cr_assert_eq(jlen(leaks), 2);
    cr_expect_eq(jint(doc, "alive_total"), 2);
    json_object *w = jfind(leaks, "type", "WRITE");
    json_object *sv = jfind(leaks, "type", "TCPSERVER");
    cr_assert(w && sv);
    cr_expect_eq(jint(w, "count"), 1);
    cr_expect_not(jbool(w, "before_attach"));
    cr_expect_eq(jint(sv, "oldest_age_ns"), (long long)(end - 1000));
    json_object *wp = jget(w, "path");
    cr_assert_eq(jlen(wp), 6);
    for (int i = 0; i < 6; i++)
        cr_expect_str_eq(json_object_get_string(jidx(wp, i)), path[i]);
    /* The last WRITE was created at a known time. */
    uint64_t wts = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.ev[i].kind == AHP_EV_INIT && s.ev[i].id == 405)
            wts = s.ev[i].ts_ns;
    cr_expect_eq(jint(w, "oldest_age_ns"), (long long)(end - wts));
    json_object_put(doc);
    free(s.ev);
}

Test(report, text_output_shows_header_table_tree_and_alive)
{
    struct stream s = {0};
    reference(&s);
    const char *p = test_path("ref.data");
    struct rec rc = {.names = ref_names, .start = 500, .end = s.ev[s.n - 1].ts_ns + 500};
    save(p, &rc, &s);
    struct run r = run_report(p, NULL);
    cr_assert_eq(r.rc, 0);
    cr_expect_str_empty(r.err);
    cr_expect_not_null(strstr(r.out, "target:      /opt/synthetic (pid 100, comm synthetic)"));
    cr_expect_not_null(strstr(r.out, "lost events: 0\n"));
    cr_expect_not_null(strstr(r.out, "file:        complete"));
    char line[256];
    snprintf(line, sizeof(line), "events:      %zu\n", s.n);
    cr_expect_not_null(strstr(r.out, line));
    /* The table: TIMER burned the most callback time, so it comes first. */
    const char *timer = strstr(r.out, "\nTIMER ");
    const char *req = strstr(r.out, "\nREQ ");
    cr_assert(timer && req && timer < req);
    int created, destroyed, active, callbacks;
    cr_assert_eq(sscanf(timer + 1, "TIMER %d %d %d %d", &created, &destroyed, &active, &callbacks),
                 4);
    cr_expect_eq(created, 6);
    cr_expect_eq(destroyed, 6);
    cr_expect_eq(active, 0);
    cr_expect_eq(callbacks, 6);
    /* The tree is indented by depth. */
    cr_expect_not_null(strstr(r.out, "\n(root) "));
    cr_expect_not_null(strstr(r.out, "\n  TCPSERVER "));
    cr_expect_not_null(strstr(r.out, "\n    TCPCONN "));
    cr_expect_not_null(strstr(r.out, "\n          WRITE "));
    cr_expect_not_null(strstr(r.out, "ALIVE AT END: 2 resources in 2 groups"));
    cr_expect_not_null(strstr(
        r.out, "WRITE                    (root) > TCPSERVER > TCPCONN > REQ > TIMER > WRITE"));
    run_free(&r);
    free(s.ev);
}

Test(report, callback_time_lands_on_the_type_that_burned_it)
{
    /* Thread 1: REQ [0, 1000) with a nested TIMER [100, 700) with a nested WRITE [200, 300).
     * Thread 2, interleaved: WRITE [150, 650). */
    struct stream s = {0};
    s.tid = 1;
    INIT(&s, 1, 10, 1, T_REQ);
    INIT(&s, 2, 11, 10, T_TIMER);
    INIT(&s, 3, 12, 11, T_WRITE);
    INIT(&s, 4, 13, 1, T_WRITE);
    BEFORE(&s, 10, 10, T_REQ);
    BEFORE(&s, 110, 11, T_TIMER);
    s.tid = 2;
    BEFORE(&s, 160, 13, T_WRITE);
    s.tid = 1;
    BEFORE(&s, 210, 12, T_WRITE);
    AFTER(&s, 310, 12, T_WRITE);
    s.tid = 2;
    AFTER(&s, 660, 13, T_WRITE);
    s.tid = 1;
    AFTER(&s, 710, 11, T_TIMER);
    AFTER(&s, 1010, 10, T_REQ);
    const char *p = test_path("nest.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = 2000};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    json_object *req = type_of(doc, "REQ"), *timer = type_of(doc, "TIMER"),
                *write = type_of(doc, "WRITE");
    cr_expect_eq(jint(req, "callback_ns"), 1000);
    cr_expect_eq(jint(req, "exclusive_ns"), 400);
    cr_expect_eq(jint(timer, "callback_ns"), 600);
    cr_expect_eq(jint(timer, "exclusive_ns"), 500);
    cr_expect_eq(jint(write, "callbacks"), 2);
    cr_expect_eq(jint(write, "callback_ns"), 100 + 500);
    cr_expect_eq(jint(write, "exclusive_ns"), 600);
    cr_expect_eq(jint(write, "max_ns"), 500);
    /* And on the tree, by path. */
    const char *const nested[] = {"(root)", "REQ", "TIMER", "WRITE", NULL};
    json_object *n = tree_at(doc, nested);
    cr_assert_not_null(n);
    cr_expect_eq(jint(n, "callback_ns"), 100);
    const char *const top[] = {"(root)", "WRITE", NULL};
    n = tree_at(doc, top);
    cr_assert_not_null(n);
    cr_expect_eq(jint(n, "callback_ns"), 500);
    cr_expect_eq(jint(jget(doc, "anomalies"), "unmatched_after"), 0);
    json_object_put(doc);
    free(s.ev);
}

Test(report, before_attach_resources_are_visible_not_dropped)
{
    /* Attached while 5 TCPCONN and 1 TCPSERVER lived. One of the connections runs (its init
     * was never seen) and creates a REQ; an unknown trigger creates a TIMER; another old
     * connection is destroyed. */
    int64_t snap[] = {1, 5, 0};
    struct stream s = {0};
    BEFORE(&s, 100, 5000, T_CONN);
    INIT(&s, 150, 6000, 5000, T_REQ);
    AFTER(&s, 600, 5000, T_CONN);
    INIT(&s, 700, 6001, 7777, T_TIMER);
    DESTROY(&s, 800, 5001, T_CONN);
    const char *p = test_path("ba.data");
    struct rec rc = {.names = ref_names, .snapshot = snap, .nsnap = 3, .start = 50, .end = 1000};
    save(p, &rc, &s);
    json_object *doc = report_json(p);

    json_object *conn = type_of(doc, "TCPCONN");
    cr_expect_eq(jint(conn, "active"), 4);
    cr_expect_eq(jint(conn, "created"), 0);
    cr_expect_eq(jint(conn, "destroyed"), 1);
    cr_expect_eq(jint(conn, "callback_ns"), 500);
    cr_expect_eq(jint(type_of(doc, "TCPSERVER"), "active"), 1);
    cr_expect_eq(jint(type_of(doc, "REQ"), "active"), 1);

    /* The running connection's type is known from its callback: TCPCONN > REQ. */
    cr_expect_eq(edge(doc, "TCPCONN", "REQ"), 1);
    cr_expect_eq(edge(doc, "(before attach)", "TIMER"), 1);
    const char *const reqp[] = {"(before attach)", "TCPCONN", "REQ", NULL};
    json_object *n = tree_at(doc, reqp);
    cr_assert_not_null(n);
    cr_expect_eq(jint(n, "created"), 1);
    const char *const timerp[] = {"(before attach)", "TIMER", NULL};
    cr_expect_not_null(tree_at(doc, timerp));
    const char *const connp[] = {"(before attach)", "TCPCONN", NULL};
    n = tree_at(doc, connp);
    cr_assert_not_null(n);
    cr_expect_eq(jint(n, "callback_ns"), 500);
    cr_expect_eq(jint(n, "alive"), 4);

    json_object *leaks = jget(doc, "leaks");
    cr_expect_eq(jint(doc, "alive_total"), 1 + 4 + 1 + 1);
    json_object *lc = jfind(leaks, "type", "TCPCONN");
    cr_assert_not_null(lc);
    cr_expect_eq(jint(lc, "count"), 4);
    cr_expect(jbool(lc, "before_attach"));
    cr_expect(jnull(lc, "oldest_age_ns"));
    cr_expect_eq(jidx(leaks, 0), lc); /* largest group first */
    json_object *lr = jfind(leaks, "type", "REQ");
    cr_assert_not_null(lr);
    cr_expect_eq(jint(lr, "oldest_age_ns"), 1000 - 150);
    cr_expect_eq(jlen(jget(lr, "path")), 3);
    json_object_put(doc);

    struct run r = run_report(p, NULL);
    cr_expect_not_null(strstr(r.out, "before attach  TCPCONN"));
    cr_expect_not_null(strstr(r.out, "\n(before attach) "));
    run_free(&r);
    free(s.ev);
}

Test(report, snapshot_accounting_counts_in_snapshot_events_once)
{
    /* 3 REQ alive at attach. Events flagged IN_SNAPSHOT are already in that count. */
    int64_t snap[] = {0, 0, 3};
    struct stream s = {0};
    add(&s, AHP_EV_INIT, 10, 1000, 1, T_REQ, AHP_F_IN_SNAPSHOT);   /* one of the 3 */
    add(&s, AHP_EV_DESTROY, 11, 999, 0, T_REQ, AHP_F_IN_SNAPSHOT); /* already gone then */
    INIT(&s, 20, 1001, 1, T_REQ);
    DESTROY(&s, 30, 1000, T_REQ);
    INIT(&s, 40, 1002, 1, T_REQ);
    DESTROY(&s, 50, 1002, T_REQ);
    const char *p = test_path("snap.data");
    struct rec rc = {.names = ref_names, .snapshot = snap, .nsnap = 3, .start = 5, .end = 100};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    json_object *req = type_of(doc, "REQ");
    cr_expect_eq(jint(req, "created"), 3);
    cr_expect_eq(jint(req, "destroyed"), 3);
    cr_expect_eq(jint(req, "snapshot_live"), 3);
    cr_expect_eq(jint(req, "active"), 3 + 2 - 2);
    /* Alive: 1001 (seen, age 80) and two never seen since attach. */
    json_object *leaks = jget(doc, "leaks");
    cr_assert_eq(jlen(leaks), 2);
    cr_expect_eq(jint(jidx(leaks, 0), "count"), 2);
    cr_expect(jbool(jidx(leaks, 0), "before_attach"));
    cr_expect_eq(jint(jidx(leaks, 1), "count"), 1);
    cr_expect_eq(jint(jidx(leaks, 1), "oldest_age_ns"), 80);
    cr_expect_eq(edge(doc, "(root)", "REQ"), 3);
    json_object_put(doc);
    free(s.ev);
}

Test(report, trigger_destroyed_before_its_child_keeps_the_path)
{
    struct stream s = {0};
    INIT(&s, 1, 10, 1, T_CONN);
    BEFORE(&s, 2, 10, T_CONN);
    DESTROY(&s, 3, 10, T_CONN); /* inside its own callback */
    INIT(&s, 4, 20, 10, T_REQ); /* created after its trigger was destroyed */
    AFTER(&s, 5, 10, T_CONN);
    INIT(&s, 6, 30, 10, T_TIMER); /* long after */
    const char *p = test_path("dead.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = 10};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    cr_expect_eq(edge(doc, "TCPCONN", "REQ"), 1);
    cr_expect_eq(edge(doc, "TCPCONN", "TIMER"), 1);
    cr_expect_eq(edge(doc, "(before attach)", "REQ"), 0);
    const char *const p1[] = {"(root)", "TCPCONN", "REQ", NULL};
    const char *const p2[] = {"(root)", "TCPCONN", "TIMER", NULL};
    const char *const p3[] = {"(root)", "TCPCONN", NULL};
    cr_expect_not_null(tree_at(doc, p1));
    cr_expect_not_null(tree_at(doc, p2));
    cr_expect_eq(jint(tree_at(doc, p3), "callback_ns"), 3);
    json_object_put(doc);
    free(s.ev);
}

Test(report, self_rearming_timer_is_folded_and_bounded)
{
    struct stream s = {0};
    INIT(&s, 1, 10, 1, T_REQ);
    INIT(&s, 2, 1000, 10, T_TIMER);
    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t t = 10 + i * 10;
        BEFORE(&s, t, 1000 + i, T_TIMER);
        INIT(&s, t + 1, 1001 + i, 1000 + i, T_TIMER);
        AFTER(&s, t + 5, 1000 + i, T_TIMER);
        DESTROY(&s, t + 6, 1000 + i, T_TIMER);
    }
    const char *p = test_path("rearm.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = 100000};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    cr_expect_eq(edge(doc, "TIMER", "TIMER"), 5000);
    cr_expect_eq(edge(doc, "REQ", "TIMER"), 1);
    const char *const tp[] = {"(root)", "REQ", "TIMER", NULL};
    json_object *n = tree_at(doc, tp);
    cr_assert_not_null(n);
    cr_expect_eq(jint(n, "created"), 5001);
    cr_expect_eq(jint(n, "folded"), 5000);
    cr_expect_eq(jint(n, "callbacks"), 5000);
    cr_expect_eq(jint(n, "callback_ns"), 5000 * 5);
    cr_expect_eq(jlen(jget(n, "children")), 0);
    cr_expect_eq(jint(n, "alive"), 1);
    json_object_put(doc);
    free(s.ev);
}

Test(report, unmatched_and_unclosed_callbacks_are_counted)
{
    struct stream s = {0};
    INIT(&s, 1, 10, 1, T_REQ);
    AFTER(&s, 2, 10, T_REQ); /* attached mid-callback: no BEFORE */
    BEFORE(&s, 3, 10, T_REQ);
    BEFORE(&s, 4, 11, T_TIMER); /* its AFTER was lost */
    AFTER(&s, 10, 10, T_REQ);
    BEFORE(&s, 20, 10, T_REQ);                  /* still running at the end */
    add(&s, 99, 30, 10, 0, T_REQ, 0);           /* a kind from the future */
    add(&s, AHP_EV_INIT, 31, 12, 1, 100000, 0); /* type out of range */
    const char *p = test_path("odd.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = 40, .lost = 3};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    json_object *a = jget(doc, "anomalies");
    cr_expect_eq(jint(a, "unmatched_after"), 1);
    cr_expect_eq(jint(a, "unclosed_before"), 2);
    cr_expect_eq(jint(a, "unknown_kind"), 1);
    cr_expect_eq(jint(doc, "lost_events"), 3);
    cr_expect_eq(jint(type_of(doc, "REQ"), "callbacks"), 1);
    cr_expect_eq(jint(type_of(doc, "REQ"), "callback_ns"), 7);
    json_object *inv = type_of(doc, "(invalid type)");
    cr_expect_eq(jint(inv, "created"), 1);
    cr_expect(jnull(inv, "id"));
    json_object_put(doc);
    struct run r = run_report(p, NULL);
    cr_expect_not_null(strstr(r.out, "lost events: 3 (the ring buffer overflowed"));
    cr_expect_not_null(strstr(r.out, "anomalies:"));
    run_free(&r);
    free(s.ev);
}

Test(report, percentiles_of_callback_duration)
{
    struct stream s = {0};
    INIT(&s, 1, 10, 1, T_REQ);
    uint64_t t = 10;
    for (uint64_t i = 1; i <= 100; i++) {
        BEFORE(&s, t, 10, T_REQ);
        AFTER(&s, t + i * 1000, 10, T_REQ);
        t += i * 1000 + 1;
    }
    const char *p = test_path("pct.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = t};
    save(p, &rc, &s);
    json_object *doc = report_json(p);
    json_object *req = type_of(doc, "REQ");
    long long p50 = jint(req, "p50_ns"), p99 = jint(req, "p99_ns");
    cr_expect(p50 >= 50000 * 97 / 100 && p50 <= 50000 * 103 / 100, "p50 %lld", p50);
    cr_expect(p99 >= 99000 * 97 / 100 && p99 <= 99000 * 103 / 100, "p99 %lld", p99);
    cr_expect_eq(jint(req, "max_ns"), 100000);
    cr_expect_eq(jint(req, "callback_ns"), 5050 * 1000);
    json_object_put(doc);
    free(s.ev);
}

static const char *const hostile[] = {"<script>alert(1)</script>",
                                      "quo\"te",
                                      "new\nline",
                                      "esc\x1b[31mred",
                                      "semi;colon",
                                      "back\\slash",
                                      "\x7f\x80\xff",
                                      NULL};

Test(report, hostile_type_names_are_escaped)
{
    struct stream s = {0};
    for (int i = 0; hostile[i] != NULL; i++) {
        INIT(&s, 10 + (uint64_t)i, 100 + (uint64_t)i, i ? 99 + (uint64_t)i : 1, i);
        BEFORE(&s, 20 + (uint64_t)i, 100 + (uint64_t)i, i);
        AFTER(&s, 21 + (uint64_t)i, 100 + (uint64_t)i, i);
    }
    const char *p = test_path("hostile.data");
    struct rec rc = {.names = hostile, .start = 0, .end = 100};
    save(p, &rc, &s);

    struct run r = run_report(p, "--json", NULL);
    cr_assert_eq(r.rc, 0);
    for (const char *c = r.out; *c; c++)
        cr_assert(*c == '\n' || ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f),
                  "raw byte %#x in JSON", (unsigned char)*c);
    cr_expect_null(strstr(r.out, "<script>"));
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc);
    for (int i = 0; hostile[i] != NULL; i++) {
        /* Escaped, but the same bytes once decoded (above 0x7f: the code point of that value). */
        cr_expect_not_null(jfind(jget(doc, "types"), "name", decoded(hostile[i])), "type %d", i);
        if (i > 0)
            cr_expect_eq(edge(doc, decoded(hostile[i - 1]), decoded(hostile[i])), 1, "edge %d", i);
    }
    json_object *deepest = jfind(jget(doc, "leaks"), "type", decoded(hostile[6]));
    cr_assert_not_null(deepest);
    json_object *path = jget(deepest, "path");
    cr_assert_eq(jlen(path), 8);
    for (int i = 0; hostile[i] != NULL; i++)
        cr_expect_str_eq(json_object_get_string(jidx(path, i + 1)), decoded(hostile[i]));
    json_object_put(doc);
    run_free(&r);

    r = run_report(p, NULL);
    cr_assert_eq(r.rc, 0);
    for (const char *c = r.out; *c; c++)
        cr_assert(*c == '\n' || ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f),
                  "raw byte %#x on the terminal", (unsigned char)*c);
    cr_expect_not_null(strstr(r.out, "esc\\x1b[31mred"));
    cr_expect_not_null(strstr(r.out, "new\\x0aline"));
    cr_expect_not_null(strstr(r.out, "back\\x5cslash"));
    cr_expect_null(strstr(r.out, "\nline"));
    run_free(&r);
    free(s.ev);
}

Test(report, hostile_target_path_is_escaped)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 1};
    strcpy(fi.comm, "\x1b]0;pwn\x07");
    strcpy(fi.target, "/tmp/\x1b[2J\"<b>");
    const char *p = test_path("t.data");
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    cr_assert_eq(ahp_writer_close(w, 5, 0), 0);
    struct run r = run_report(p, NULL);
    cr_expect_null(strchr(r.out, '\x1b'));
    cr_expect_null(strchr(r.out, '\x07'));
    run_free(&r);
    r = run_report(p, "--json", NULL);
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc);
    cr_expect_str_eq(jstr(doc, "target"), "/tmp/\x1b[2J\"<b>");
    cr_expect_null(strstr(r.out, "<b>"));
    json_object_put(doc);
    run_free(&r);
}

Test(report, truncated_file_is_reported_with_a_warning)
{
    struct stream s = {0};
    reference(&s);
    const char *p = test_path("trunc.data");
    struct rec rc = {.names = ref_names, .start = 500, .end = 1 << 30, .truncate = true};
    save(p, &rc, &s);
    struct run r = run_report(p, "--json", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_not_null(strstr(r.err, "truncated"), "stderr: %s", r.err);
    cr_expect_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1); /* one line */
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc);
    cr_expect(jbool(doc, "truncated"));
    cr_expect_eq(jint(doc, "events"), (long long)s.n);
    /* Without an end chunk, the end is the last event. */
    cr_expect_eq(jint(doc, "duration_ns"), (long long)(s.ev[s.n - 1].ts_ns - 500));
    cr_expect_eq(jint(type_of(doc, "TCPCONN"), "created"), 3);
    json_object_put(doc);
    run_free(&r);

    /* Cut inside the events chunk: everything before it is still reported. */
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(truncate(p, st.st_size - 100), 0);
    r = run_report(p, NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_not_null(strstr(r.out, "file:        TRUNCATED"));
    cr_expect_not_null(strstr(r.out, "events:      0\n"));
    cr_expect_not_null(strstr(r.out, "TCPSERVER")); /* the type table came before */
    run_free(&r);
    free(s.ev);
}

Test(report, errors_are_one_clear_line_and_nonzero)
{
    struct run r = run_report(test_path("missing.data"), NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    cr_expect_not_null(strstr(r.err, "no such file"));
    cr_expect_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
    cr_expect_str_empty(r.out);
    run_free(&r);

    r = run_report(test_path("missing.data"), "--json", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc, "%s", r.out);
    cr_expect_not_null(strstr(jstr(doc, "error"), "no such file"));
    json_object_put(doc);
    run_free(&r);

    const char *txt = test_path("notes.txt");
    FILE *f = fopen(txt, "w");
    fputs("just some text that is long enough\n", f);
    fclose(f);
    r = run_report(txt, NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    cr_expect_not_null(strstr(r.err, "is not an ahprof data file"), "%s", r.err);
    run_free(&r);

    const char *empty = test_path("empty.data");
    f = fopen(empty, "w");
    fclose(f);
    r = run_report(empty, "--json", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    doc = jparse(r.out);
    cr_assert_not_null(doc);
    cr_expect_not_null(strstr(jstr(doc, "error"), "not an ahprof data file (it is empty)"));
    json_object_put(doc);
    run_free(&r);

    struct stream s = {0};
    INIT(&s, 1, 10, 1, 0);
    const char *nf = test_path("newer.data");
    struct rec rc = {.names = ref_names, .end = 5};
    save(nf, &rc, &s);
    f = fopen(nf, "r+b");
    fseek(f, 8, SEEK_SET);
    fputc(7, f);
    fclose(f);
    r = run_report(nf, NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    cr_expect_not_null(strstr(r.err, "newer ahprof"), "%s", r.err);
    run_free(&r);

    r = run_report(test_dir, NULL);
    cr_expect_eq(r.rc, AHP_EXIT_ERROR);
    cr_expect_not_null(strstr(r.err, "Is a directory"), "%s", r.err);
    run_free(&r);
    free(s.ev);
}

Test(report, command_line)
{
    struct run r = run_report("--help", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_not_null(strstr(r.out, "Usage: ahprof report [FILE] [--json] [--top N]"));
    cr_expect_not_null(strstr(r.out, "(before attach)"));
    run_free(&r);
    r = run_report("--top", "0", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_USAGE);
    cr_expect_not_null(strstr(r.err, "--top"));
    run_free(&r);
    r = run_report("--bogus", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_USAGE);
    cr_expect_not_null(strstr(r.err, "unknown option --bogus"), "%s", r.err);
    run_free(&r);
    r = run_report("a", "b", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_USAGE);
    run_free(&r);
    r = run_report("--top", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_USAGE);
    cr_expect_not_null(strstr(r.err, "needs a value"), "%s", r.err);
    run_free(&r);
    r = run_report("--json", "--bogus", NULL);
    cr_expect_eq(r.rc, AHP_EXIT_USAGE);
    cr_expect_not_null(strstr(r.out, "{\"error\": "));
    run_free(&r);

    /* The default file is ./ahprof.data; options may follow the file. */
    struct stream s = {0};
    reference(&s);
    char cwd[512];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(test_dir), 0);
    struct rec rc = {.names = ref_names, .start = 500, .end = 1 << 30};
    save(AHP_FILE_DEFAULT, &rc, &s);
    r = run_report(NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_not_null(strstr(r.out, "ahprof report: ahprof.data"));
    run_free(&r);
    r = run_report("-i", AHP_FILE_DEFAULT, "--json", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(r.out[0], '{');
    run_free(&r);
    r = run_report(AHP_FILE_DEFAULT, "--top", "1", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect_not_null(strstr(r.out, "(largest 1 shown; --top N for more)"));
    run_free(&r);
    cr_assert_eq(chdir(cwd), 0);
    free(s.ev);
}

Test(report, top_bounds_the_alive_groups_and_tree)
{
    /* 30 types, each with i+1 live resources: 30 groups. */
    static char names[31][16];
    static const char *np[31];
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof(names[i]), "T%02d", i);
        np[i] = names[i];
    }
    np[30] = NULL;
    struct stream s = {0};
    uint64_t id = 10;
    for (int i = 0; i < 30; i++)
        for (int k = 0; k <= i; k++)
            INIT(&s, id, id, 1, i), id++;
    const char *p = test_path("top.data");
    struct rec rc = {.names = np, .start = 0, .end = 100000};
    save(p, &rc, &s);
    struct run r = run_report(p, "--json", "--top", "5", NULL);
    json_object *doc = jparse(r.out);
    cr_assert_not_null(doc);
    json_object *leaks = jget(doc, "leaks");
    cr_assert_eq(jlen(leaks), 5);
    cr_expect_eq(jint(doc, "leak_groups"), 30);
    cr_expect_str_eq(jstr(jidx(leaks, 0), "type"), "T29");
    cr_expect_eq(jint(jidx(leaks, 0), "count"), 30);
    cr_expect_str_eq(jstr(jidx(leaks, 4), "type"), "T25");
    json_object_put(doc);
    run_free(&r);

    r = run_report(p, "--top", "3", NULL);
    cr_expect_not_null(strstr(r.out, "... 27 more paths"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "ALIVE AT END: 465 resources in 30 groups (largest 3"));
    run_free(&r);
    free(s.ev);
}

Test(report, model_limits_keep_memory_bounded)
{
    /* A chain of distinct paths beyond the node limit lands on (other paths), typed. */
    static char names[200][16];
    static const char *np[201];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "N%d", i);
        np[i] = names[i];
    }
    np[200] = NULL;
    struct stream s = {0};
    INIT(&s, 1, 10, 1, 0);
    for (int i = 1; i < 200; i++)
        INIT(&s, 1 + (uint64_t)i, 10 + (uint64_t)i, 10 + (uint64_t)i - 1, i);
    /* Destroyed ids far apart: each needs its own block in the index of dead ids. */
    for (uint64_t i = 0; i < 10; i++) {
        INIT(&s, 300 + i, (i + 1) << 20, 1, 0);
        DESTROY(&s, 301 + i, (i + 1) << 20, 0);
    }
    INIT(&s, 400, 5, 10ull << 20, 1); /* its trigger fell out of the index */
    const char *p = test_path("limits.data");
    struct rec rc = {.names = np, .start = 0, .end = 1000};
    save(p, &rc, &s);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct ahp_model *m;
    struct ahp_model_opts o = {.max_nodes = 50, .max_dead_pages = 4};
    cr_assert_eq(ahp_model_build(&m, r, &o), 0);
    cr_expect_leq(m->nnodes, 50 + AHP_M_TYPES);
    cr_expect_gt(m->paths_overflowed, 0);
    cr_expect_eq(m->dead_untracked, 6);
    cr_expect_eq(ahp_model_edge(m, AHP_M_PARENT_UNKNOWN, 1), 1);
    /* Edges stay exact whatever the tree limit. */
    for (int i = 1; i < 200; i++)
        cr_expect_eq(ahp_model_edge(m, i - 1, i), 1);
    const struct ahp_node *other = &m->nodes[AHP_NODE_OTHER];
    cr_expect_gt(other->nchildren, 0);
    /* The chain filled the 47 free nodes with N0..N46; N47.. and the unknown-trigger N1 (whose
     * "(before attach) > N1" node did not fit) went to (other paths). */
    uint32_t nother = 0;
    for (uint32_t c = other->first_child; c != AHP_NODE_NONE; c = m->nodes[c].next_sibling) {
        cr_expect(m->nodes[c].cls >= 47 || m->nodes[c].cls == 1, "cls %d", m->nodes[c].cls);
        nother++;
    }
    cr_expect_eq(nother, 200 - 47 + 1);
    ahp_model_free(m);
    ahp_reader_close(r);
    free(s.ev);
}

Test(report, many_live_resources_destroyed_in_scrambled_order)
{
    /* Many ids in one map, half destroyed in a scrambled order so that deletions punch holes
     * in probe runs: every survivor must still be found. */
    enum { N = 20000 };
    struct stream s = {0};
    uint64_t t = 1;
    INIT(&s, t++, 5, 1, T_CONN);
    for (uint64_t i = 0; i < N; i++)
        INIT(&s, t++, 1000 + i * 37 + (i % 7), 5, T_REQ);
    for (uint64_t k = 0; k < N / 2; k++) {
        uint64_t i = (k * 7919) % N; /* a permutation: 7919 is prime, N is not its multiple */
        DESTROY(&s, t++, 1000 + i * 37 + (i % 7), T_REQ);
    }
    /* Run every resource once: destroyed ones are found in the index of dead ids, the rest in
     * the live map; none may fall back to (before attach). */
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 1000 + i * 37 + (i % 7);
        BEFORE(&s, t, id, T_REQ);
        AFTER(&s, t + 3, id, T_REQ);
        t += 4;
    }
    const char *p = test_path("many.data");
    struct rec rc = {.names = ref_names, .start = 0, .end = t};
    save(p, &rc, &s);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct ahp_model *m;
    cr_assert_eq(ahp_model_build(&m, r, NULL), 0);
    cr_expect_eq(m->types[T_REQ].active, N / 2);
    cr_expect_eq(m->types[T_REQ].live_seen, N / 2);
    cr_expect_eq(m->types[T_REQ].callbacks, N);
    cr_expect_eq(m->nodes[AHP_NODE_BEFORE].nchildren, 0);
    cr_expect_eq(m->dead_untracked, 0);
    uint64_t alive = 0;
    for (uint32_t i = 0; i < m->nleaks; i++)
        alive += m->leaks[i].count;
    cr_expect_eq(alive, N / 2 + 1);
    /* (root) > TCPCONN > REQ carries all of it. */
    uint32_t conn = m->nodes[AHP_NODE_ROOT].first_child;
    cr_assert_neq(conn, AHP_NODE_NONE);
    uint32_t req = m->nodes[conn].first_child;
    cr_assert_neq(req, AHP_NODE_NONE);
    cr_expect_eq(m->nodes[req].created, N);
    cr_expect_eq(m->nodes[req].callbacks, N);
    cr_expect_eq(m->nodes[req].callback_ns, 3ull * N);
    cr_expect_eq(m->nodes[req].live, N / 2);
    ahp_model_free(m);
    ahp_reader_close(r);
    free(s.ev);
}

static uint64_t cb_count, cb_ns;
static void on_cb(void *arg, const struct ahp_callback *cb)
{
    (void)arg;
    cb_count++;
    cb_ns += cb->end_ns - cb->start_ns;
}

Test(report, model_callback_hook_sees_every_callback)
{
    struct stream s = {0};
    reference(&s);
    const char *p = test_path("hook.data");
    struct rec rc = {.names = ref_names, .start = 500, .end = 1 << 30};
    save(p, &rc, &s);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct ahp_model *m;
    struct ahp_model_opts o = {.on_callback = on_cb};
    cr_assert_eq(ahp_model_build(&m, r, &o), 0);
    cr_expect_eq(cb_count, 1 + 3 + 6 + 6);
    cr_expect_eq(cb_ns, 1000 + 6000 + 18000 + 24000);
    ahp_model_free(m);
    ahp_reader_close(r);
    free(s.ev);
}

/*
 * A big recording, only when AHP_BIG_EVENTS is set (e.g. 10000000): checks exact counts and
 * that memory stays far below the file size. Also what `make bench` can time.
 */
Test(report, big_file_streams_in_bounded_memory, .timeout = 600)
{
    const char *env = getenv("AHP_BIG_EVENTS");
    if (env == NULL)
        TEST_DIR_SKIP("set AHP_BIG_EVENTS=N to run");
    uint64_t want = strtoull(env, NULL, 10);
    const char *p = getenv("AHP_BIG_FILE") ? getenv("AHP_BIG_FILE") : test_path("big.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 1, .start_mono_ns = 1};
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    for (int i = 0; ref_names[i]; i++)
        cr_assert_eq(ahp_writer_type(w, i, ref_names[i]), 0);
    /* Per connection: INIT conn, BEFORE/INIT req/AFTER, BEFORE req/AFTER, DESTROY req,
     * DESTROY conn = 8 events, 4 threads round robin; one conn in 1000 leaks. */
    struct ahp_event ev[8];
    uint64_t t = 10, conns = want / 8, id = 2;
    for (uint64_t c = 0; c < conns; c++, t += 100) {
        uint32_t tid = (uint32_t)(c % 4) + 1;
        uint64_t conn = id++, req = id++;
        struct ahp_event e0 = {.tid = tid, .pid = 1};
        for (int k = 0; k < 8; k++)
            ev[k] = e0;
        ev[0] = (struct ahp_event){t, conn, {1}, 0, tid, T_CONN, AHP_EV_INIT, 0, {0}, 1};
        ev[1] = (struct ahp_event){t + 1, conn, {0}, 0, tid, T_CONN, AHP_EV_BEFORE, 0, {1}, 1};
        ev[2] = (struct ahp_event){t + 2, req, {conn}, 0, tid, T_REQ, AHP_EV_INIT, 0, {0}, 1};
        ev[3] = (struct ahp_event){t + 11, conn, {0}, 0, tid, T_CONN, AHP_EV_AFTER, 0, {1}, 1};
        ev[4] = (struct ahp_event){t + 20, req, {0}, 0, tid, T_REQ, AHP_EV_BEFORE, 0, {1}, 1};
        ev[5] = (struct ahp_event){t + 50, req, {0}, 0, tid, T_REQ, AHP_EV_AFTER, 0, {1}, 1};
        ev[6] = (struct ahp_event){t + 51, req, {0}, 0, tid, T_REQ, AHP_EV_DESTROY, 0, {0}, 1};
        ev[7] = (struct ahp_event){t + 52, conn, {0}, 0, tid, T_CONN, AHP_EV_DESTROY, 0, {0}, 1};
        cr_assert_eq(ahp_writer_events(w, ev, c % 1000 == 0 ? 7 : 8), 0);
    }
    cr_assert_eq(ahp_writer_close(w, t, 0), 0);

    struct rusage before;
    getrusage(RUSAGE_SELF, &before);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct ahp_model *m;
    cr_assert_eq(ahp_model_build(&m, r, NULL), 0);
    uint64_t leaked = (conns + 999) / 1000;
    cr_expect_eq(m->types[T_CONN].created, conns);
    cr_expect_eq(m->types[T_CONN].active, (int64_t)leaked);
    cr_expect_eq(m->types[T_REQ].callbacks, conns);
    cr_expect_eq(m->types[T_REQ].callback_ns, conns * 30);
    cr_expect_eq(m->types[T_CONN].exclusive_ns, conns * 10);
    cr_expect_eq(ahp_model_edge(m, T_CONN, T_REQ), conns);
    ahp_model_free(m);
    ahp_reader_close(r);
    struct rusage after;
    getrusage(RUSAGE_SELF, &after);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    fprintf(stderr, "big: %" PRIu64 " events, %lld MB file, max RSS %ld MB\n", conns * 8,
            (long long)st.st_size >> 20, after.ru_maxrss >> 10);
    /* Bounded by what is alive, not by the file. */
    cr_expect_lt(after.ru_maxrss, 200 * 1024L);
    if (getenv("AHP_BIG_FILE") == NULL)
        unlink(p);
}
