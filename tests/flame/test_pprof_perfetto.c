/*
 * test_pprof_perfetto.c - `ahprof flame -f pprof` and `-f perfetto`, read by their real
 * consumers on recordings with known numbers (tests/flame/gen.c):
 *   pprof     `go tool pprof` (Debian's golang-go): -raw (every sample's values and stack),
 *             -top (flat values per frame, per sample type), -traces (stacks and labels)
 *   perfetto  `protoc --decode` against tests/flame/perfetto_trace.proto, the subset of
 *             Perfetto's published schema that ahprof writes: tracks, slices per thread,
 *             flows, live counters, compared with the recording
 * Hostile type names and symbols must come out as the same safe labels as in every other
 * format. The flame command runs built with ASan+UBSan, except for the memory test.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "tmpdir.h"

#define GEN AHP_BUILD "/tests/flame/flame-gen"
#define FLAME_ASAN AHP_BUILD "/asan/tests/flame/ahprof-flame"
#define FLAME AHP_BUILD "/tests/flame/ahprof-flame"
#define PROTO_DIR AHP_SRC "/tests/flame"
#define FLAME_MAX_DEPTH_TEST 300

TestSuite(export, .init = test_dir_init, .fini = test_dir_fini, .timeout = 120);

struct res {
    int code;
    char *out, *err;
};

static struct res runv(const char *const argv[], int timeout_s)
{
    struct res r;
    r.code = run_capture((char *const *)argv, &r.out, &r.err, timeout_s * 1000);
    return r;
}

#define RUN(timeout, ...) runv((const char *const[]){__VA_ARGS__, NULL}, timeout)

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
}

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

/* ---------------------------------------------------------------------------------------
 * pprof: go tool pprof -raw, read back as (stack, values) samples.
 */

#define MAXS 300
struct psample {
    char stack[16384]; /* frames root first, ";" between them (labels never hold ';') */
    long long v[3];    /* callback_time, resources_created, alive_at_end */
    char labels[1024];
};

struct praw {
    struct psample s[MAXS];
    int n;
    char *loc[MAXS + 1]; /* location id -> function name */
};

static void praw_free(struct praw *p)
{
    for (int i = 0; i <= MAXS; i++)
        free(p->loc[i]);
    free(p);
}

/* -raw prints "Samples:", a header, then per sample "  V1 V2 V3: L1 L2 ... " (leaf first)
 * and a line of labels; then "Locations" with "  ID: 0x0 M=1 NAME :0 s=0()". */
static struct praw *pprof_raw(const char *file)
{
    struct praw *p = calloc(1, sizeof(*p));
    long long(*ids)[FLAME_MAX_DEPTH_TEST] = calloc(MAXS, sizeof(*ids));
    cr_assert(p != NULL && ids != NULL);
    struct res r = OK(60, "go", "tool", "pprof", "-raw", file);
    int nids[MAXS] = {0};
    char *save = NULL;
    enum { HEAD, SAMPLES, LOCS, DONE } at = HEAD;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "Samples:", 8) == 0) {
            at = SAMPLES;
            strtok_r(NULL, "\n", &save); /* the header of sample types */
            continue;
        }
        if (strncmp(line, "Locations", 9) == 0) {
            at = LOCS;
            continue;
        }
        if (strncmp(line, "Mappings", 8) == 0)
            at = DONE;
        if (at == SAMPLES) {
            char *colon = strchr(line, ':');
            if (strstr(line, "async_type:[") != NULL) {
                cr_assert_gt(p->n, 0);
                snprintf(p->s[p->n - 1].labels, sizeof(p->s[0].labels), "%s", line);
                continue;
            }
            cr_assert_not_null(colon, "sample line: %s", line);
            cr_assert_lt(p->n, MAXS);
            struct psample *s = &p->s[p->n];
            cr_assert_eq(sscanf(line, "%lld %lld %lld:", &s->v[0], &s->v[1], &s->v[2]), 3, "%s",
                         line);
            char *q = colon + 1, *end;
            long long id;
            while ((id = strtoll(q, &end, 10)), end != q) {
                cr_assert_lt(nids[p->n], FLAME_MAX_DEPTH_TEST);
                ids[p->n][nids[p->n]++] = id;
                q = end;
            }
            p->n++;
        } else if (at == LOCS) {
            int id;
            char *m = strstr(line, " M=1 "), *tail = strstr(line, " :0 s=0(");
            cr_assert(sscanf(line, "%d:", &id) == 1 && m != NULL && tail != NULL && id > 0 &&
                          id <= MAXS,
                      "location line: %s", line);
            p->loc[id] = strndup(m + 5, (size_t)(tail - (m + 5)));
        }
    }
    for (int i = 0; i < p->n; i++) {
        size_t pos = 0;
        for (int k = nids[i]; k-- > 0;) {
            cr_assert(ids[i][k] > 0 && ids[i][k] <= MAXS && p->loc[ids[i][k]] != NULL);
            pos += (size_t)snprintf(p->s[i].stack + pos, sizeof(p->s[i].stack) - pos, "%s%s",
                                    k + 1 == nids[i] ? "" : ";", p->loc[ids[i][k]]);
            cr_assert_lt(pos, sizeof(p->s[i].stack), "stack too long for the test");
        }
    }
    res_free(&r);
    free(ids);
    return p;
}

static const struct psample *psample(const struct praw *p, const char *stack)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->s[i].stack, stack) == 0)
            return &p->s[i];
    return NULL;
}

static void expect_sample(const struct praw *p, const char *stack, long long t, long long c,
                          long long a)
{
    const struct psample *s = psample(p, stack);
    cr_assert_not_null(s, "no sample %s", stack);
    cr_expect(s->v[0] == t && s->v[1] == c && s->v[2] == a,
              "%s: %lld %lld %lld, want %lld %lld %lld", stack, s->v[0], s->v[1], s->v[2], t, c, a);
}

/* The flat value of FRAME in `go tool pprof -top -unit=UNIT -sample_index=INDEX`, or -1. */
static long long top_flat(const char *file, const char *index, const char *frame)
{
    struct res r = OK(60, "go", "tool", "pprof", "-top", "-unit=ns", "-nodefraction=0",
                      "-sample_index", index, file);
    long long v = -1;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* "   50000ns 44.64% 44.64%   110000ns 98.21%  NAME": the name after 5 columns. */
        char *p = line;
        for (int col = 0; col < 5 && p; col++) {
            while (*p == ' ')
                p++;
            p = strchr(p, ' ');
        }
        if (p == NULL || strcmp(p + 2, frame) != 0)
            continue;
        v = strtoll(line, NULL, 10);
    }
    res_free(&r);
    return v;
}

Test(export, pprof_known_numbers)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.pb.gz");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "pprof", "-o", out);
    res_free(&r);

    struct praw *p = pprof_raw(out);
    /* One sample per async stack with any weight, with all three (gen.c's numbers). */
    cr_expect_eq(p->n, 6);
    expect_sample(p, "REQ@server.c:42 accept_cb", 50000, 10, 0);
    expect_sample(p, "REQ@server.c:42 accept_cb;TIMER@request.c:142 request_start", 50000, 20, 0);
    expect_sample(p,
                  "REQ@server.c:42 accept_cb;TIMER@request.c:142 request_start;WRITE@timer.c:7 "
                  "timer_fire",
                  10000, 20, 0);
    expect_sample(p, "REQ@server.c:42 accept_cb;LEAK@request.c:150 request_start", 0, 10, 10);
    expect_sample(p, "(before attach);TIMER", 1600, 0, 0);
    expect_sample(p, "(before attach);TIMER;WRITE", 400, 1, 0);
    const struct psample *s = psample(p, "REQ@server.c:42 accept_cb;TIMER@request.c:142 "
                                         "request_start;WRITE@timer.c:7 timer_fire");
    cr_assert_not_null(s);
    cr_expect(strstr(s->labels, "async_type:[WRITE]") != NULL, "%s", s->labels);
    cr_expect(strstr(s->labels, "trigger_path:[REQ > TIMER > WRITE]") != NULL, "%s", s->labels);
    praw_free(p);

    /* -top per sample type: flat values by frame. */
    cr_expect_eq(top_flat(out, "callback_time", "REQ@server.c:42 accept_cb"), 50000);
    cr_expect_eq(top_flat(out, "callback_time", "WRITE@timer.c:7 timer_fire"), 10000);
    cr_expect_eq(top_flat(out, "callback_time", "TIMER"), 1600);
    cr_expect_eq(top_flat(out, "resources_created", "TIMER@request.c:142 request_start"), 20);
    cr_expect_eq(top_flat(out, "alive_at_end", "LEAK@request.c:150 request_start"), 10);
    cr_expect_eq(top_flat(out, "alive_at_end", "REQ@server.c:42 accept_cb"), 0);

    /* -traces: callback time is the default sample type; stacks leaf first, with labels. */
    r = OK(60, "go", "tool", "pprof", "-traces", out);
    cr_expect(strstr(r.out, "Type: callback_time") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "ahprof async profile of /usr/local/bin/ah-server") != NULL);
    cr_expect(strstr(r.out, "trigger_path:  (before attach) > TIMER > WRITE\n"
                            "     400ns   WRITE\n"
                            "             TIMER\n"
                            "             (before attach)\n") != NULL,
              "%s", r.out);
    res_free(&r);
}

Test(export, pprof_types_only)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.pb.gz");
    gen("tree", f, "7", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "pprof", "--types-only", "-o", out);
    res_free(&r);
    /* The two TIMER frames (created by REQ, and before attach) are one function to pprof. */
    cr_expect_eq(top_flat(out, "callback_time", "TIMER"), 5000 * 7 + 1600);
    cr_expect_eq(top_flat(out, "resources_created", "WRITE"), 2 * 7 + 1);
    struct praw *p = pprof_raw(out);
    expect_sample(p, "REQ;LEAK", 0, 7, 7);
    praw_free(p);
}

/* Paths deeper than 256 frames end in "(deeper)", as in every format: pprof's stacks stay
 * bounded and no weight is lost. */
Test(export, pprof_deep_paths_capped)
{
    const char *f = test_path("deep.data"), *out = test_path("deep.pb.gz");
    gen("deep", f, "600", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "pprof", "-o", out);
    res_free(&r);
    struct praw *p = pprof_raw(out);
    long long time = 0, created = 0;
    size_t deepest = 0;
    for (int i = 0; i < p->n; i++) {
        time += p->s[i].v[0];
        created += p->s[i].v[1];
        size_t frames = 1;
        for (const char *c = p->s[i].stack; *c; c++)
            frames += *c == ';';
        if (frames > deepest)
            deepest = frames;
    }
    /* gen.c: 600 resources, 599 callbacks of 100 ns. */
    cr_expect_eq(time, 599 * 100);
    cr_expect_eq(created, 600);
    cr_expect_eq(deepest, 256);
    const struct psample *deeper = NULL;
    for (int i = 0; i < p->n; i++) {
        const char *leaf = strrchr(p->s[i].stack, ';');
        if (leaf != NULL && strcmp(leaf + 1, "(deeper)") == 0)
            deeper = &p->s[i];
    }
    cr_assert_not_null(deeper, "no (deeper) frame");
    cr_expect_eq(deeper->v[1], 600 - 255);
    praw_free(p);
}

/* Labels as every format must show them (as in test_flame.c). */
#define H_SCRIPT "<script>alert(1)</script>@evil0\"\\x3b\\x0a<b>.c:10 f\\x3bg\\x1b[2J_7"
#define H_QUOTE "quo\"te'd@evil1\"\\x3b\\x0a<b>.c:11 <img src=x onerror=alert(3)>"
#define H_SEMI "semi\\x3bcolon 42@evil2\"\\x3b\\x0a<b>.c:12 f\\x3bg\\x1b[2J_7"
#define H_NEWLINE "new\\x0aline@evil3\"\\x3b\\x0a<b>.c:13 <img src=x onerror=alert(3)>"
#define H_ESC "esc\\x1b[31mred\\x1b[0m@evil4\"\\x3b\\x0a<b>.c:14 f\\x3bg\\x1b[2J_7"
#define H_BACKSLASH "back\\x5cslash@evil5\"\\x3b\\x0a<b>.c:15 <img src=x onerror=alert(3)>"
#define H_UTF8 "caf\\xc3\\xa9 \\xff@evil6\"\\x3b\\x0a<b>.c:16 f\\x3bg\\x1b[2J_7"
#define H_CDATA "]]></script><svg onload=alert(2)>@evil8\"\\x3b\\x0a<b>.c:18 f\\x3bg\\x1b[2J_7"
static const char *const hostile[] = {H_SCRIPT, H_QUOTE,     H_SEMI, H_NEWLINE,
                                      H_ESC,    H_BACKSLASH, H_UTF8, H_CDATA};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static void no_raw_bytes(const char *text, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        cr_assert(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "%s: byte 0x%02x at %zu", what, *p,
                  (size_t)(p - (const unsigned char *)text));
}

Test(export, pprof_hostile_names)
{
    const char *f = test_path("names.data"), *out = test_path("names.pb.gz");
    gen("names", f, "0", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "pprof", "-o", out);
    res_free(&r);
    struct praw *p = pprof_raw(out);
    cr_expect_eq(p->n, 9);
    /* Intact: pprof shows the label, not a name it shortened as C++ (<...>, (...)). */
    for (size_t i = 0; i < NHOSTILE; i++)
        expect_sample(p, hostile[i], 1000, 1, 1);
    praw_free(p);
    r = OK(60, "go", "tool", "pprof", "-traces", out);
    no_raw_bytes(r.out, "pprof -traces");
    cr_expect(strstr(r.out, "async_type:  semi\\x3bcolon_42\n") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "async_type:  <script>alert(1)</script>\n") != NULL, "%s", r.out);
    res_free(&r);
    r = OK(60, "go", "tool", "pprof", "-top", out);
    no_raw_bytes(r.out, "pprof -top");
    for (size_t i = 0; i < NHOSTILE; i++)
        cr_expect(strstr(r.out, hostile[i]) != NULL, "no %s in %s", hostile[i], r.out);
    res_free(&r);
}

/* ---------------------------------------------------------------------------------------
 * Perfetto: protoc --decode's text, read back packet by packet.
 */

struct ppacket {
    uint64_t ts;
    bool event, descriptor;
    char type[32];      /* TYPE_SLICE_BEGIN... */
    uint64_t track;     /* event: track_uuid; descriptor: uuid */
    uint64_t parent;    /* descriptor: parent_uuid */
    long long tid;      /* thread descriptor, or -1 */
    bool counter_track; /* descriptor with a CounterDescriptor */
    char name[2048];    /* event name (interned), or descriptor name / thread name */
    uint64_t name_iid;
    uint64_t flow;      /* flow_ids (ahprof writes one at most); 0 none */
    long long value;    /* counter_value */
    char why[32];       /* the bool annotation of a SLICE_END: incomplete, unfinished */
    uint64_t exclusive; /* exclusive_ns annotation */
    /* Debug annotations, by interned name: value, or first async_stack frame's string. */
    uint64_t arg_name[4], arg_value[4];
    bool arg_bool[4];
    int nargs;
    char stack0[2048]; /* the first frame of async_stack, interned */
};

/* Interned strings of one kind: iid -> string, and the packet that defined it. */
struct interned {
    uint64_t iid;
    char *s;
    size_t packet;
};

struct ptrace {
    struct ppacket *p;
    size_t n, cap;
    struct interned *in[3]; /* event names, annotation names, annotation strings */
    size_t nin[3], capin[3];
};

enum { IN_NAMES, IN_ARGS, IN_STRINGS };

static void ptrace_free(struct ptrace *t)
{
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < t->nin[k]; i++)
            free(t->in[k][i].s);
        free(t->in[k]);
    }
    free(t->p);
}

/* The interned string IID of KIND, defined in packet AT or before it. */
static const char *interned(const struct ptrace *t, int kind, uint64_t iid, size_t at)
{
    for (size_t i = 0; i < t->nin[kind]; i++)
        if (t->in[kind][i].iid == iid) {
            cr_assert_leq(t->in[kind][i].packet, at, "iid %" PRIu64 " used before it is defined",
                          iid);
            return t->in[kind][i].s;
        }
    cr_assert_fail("iid %" PRIu64 " (kind %d) never defined", iid, kind);
    return NULL;
}

/* protoc's text format escapes strings C-style: \" \' \\ \n \r \t and octal \NNN. */
static void unescape(const char *s, char *out, size_t size)
{
    size_t n = 0;
    cr_assert_eq(*s, '"', "not a string: %s", s);
    for (s++; *s && *s != '"' && n + 1 < size; s++) {
        if (*s != '\\') {
            out[n++] = *s;
            continue;
        }
        s++;
        if (*s >= '0' && *s <= '7') {
            int v = 0;
            for (int k = 0; k < 3 && *s >= '0' && *s <= '7'; k++, s++)
                v = v * 8 + (*s - '0');
            s--;
            out[n++] = (char)v;
        } else {
            out[n++] = *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s == 't' ? '\t' : *s;
        }
    }
    out[n] = '\0';
}

static void perfetto_decode(const char *file, struct ptrace *t)
{
    memset(t, 0, sizeof(*t));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "exec protoc --decode=perfetto.protos.Trace -I%s perfetto_trace.proto < %s", PROTO_DIR,
             file);
    struct res r = OK(120, "sh", "-c", cmd);
    cr_assert_str_empty(r.err, "protoc: %s", r.err);
    char *save = NULL;
    struct ppacket *cur = NULL;
    bool in_interned = false, in_array = false;
    int kind = -1;
    uint64_t entry_iid = 0;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int indent = (int)strspn(line, " ");
        char *l = line + indent;
        if (indent == 0) {
            cr_assert_str_eq(l, strncmp(l, "packet {", 8) == 0 ? "packet {" : "}", "%s", line);
            if (l[0] == 'p') {
                if (t->n == t->cap) {
                    t->cap = t->cap ? t->cap * 2 : 1024;
                    t->p = realloc(t->p, t->cap * sizeof(*t->p));
                }
                cur = &t->p[t->n++];
                memset(cur, 0, sizeof(*cur));
                cur->tid = -1;
            }
            continue;
        }
        cr_assert_not_null(cur);
        /* No field protoc did not know: every number written is in the published schema. */
        cr_assert(!(l[0] >= '0' && l[0] <= '9'), "unknown field: %s", line);
        if (indent == 2) {
            in_interned = strcmp(l, "interned_data {") == 0;
            if (sscanf(l, "timestamp: %" SCNu64, &cur->ts) == 1)
                continue;
            if (strcmp(l, "track_event {") == 0)
                cur->event = true;
            else if (strcmp(l, "track_descriptor {") == 0)
                cur->descriptor = true;
            continue;
        }
        if (in_interned) {
            if (indent == 4) {
                kind = strcmp(l, "event_names {") == 0                      ? IN_NAMES
                       : strcmp(l, "debug_annotation_names {") == 0         ? IN_ARGS
                       : strcmp(l, "debug_annotation_string_values {") == 0 ? IN_STRINGS
                                                                            : -1;
            } else if (indent == 6 && kind >= 0) {
                if (sscanf(l, "iid: %" SCNu64, &entry_iid) == 1)
                    continue;
                char *v = strncmp(l, "name: ", 6) == 0  ? l + 6
                          : strncmp(l, "str: ", 5) == 0 ? l + 5
                                                        : NULL;
                if (v == NULL)
                    continue;
                char text[2048];
                unescape(v, text, sizeof(text));
                for (size_t i = 0; i < t->nin[kind]; i++)
                    cr_assert_neq(t->in[kind][i].iid, entry_iid, "iid %" PRIu64 " defined twice",
                                  entry_iid);
                if (t->nin[kind] == t->capin[kind]) {
                    t->capin[kind] = t->capin[kind] ? t->capin[kind] * 2 : 64;
                    t->in[kind] = realloc(t->in[kind], t->capin[kind] * sizeof(**t->in));
                }
                t->in[kind][t->nin[kind]++] =
                    (struct interned){entry_iid, strdup(text), (size_t)(cur - t->p)};
            }
            continue;
        }
        if (indent == 4) {
            in_array = false;
            if (sscanf(l, "type: %31s", cur->type) == 1 ||
                sscanf(l, "track_uuid: %" SCNu64, &cur->track) == 1 ||
                sscanf(l, "name_iid: %" SCNu64, &cur->name_iid) == 1 ||
                sscanf(l, "uuid: %" SCNu64, &cur->track) == 1 ||
                sscanf(l, "parent_uuid: %" SCNu64, &cur->parent) == 1 ||
                sscanf(l, "flow_ids: %" SCNu64, &cur->flow) == 1 ||
                sscanf(l, "counter_value: %lld", &cur->value) == 1)
                continue;
            if (strncmp(l, "name: ", 6) == 0)
                unescape(l + 6, cur->name, sizeof(cur->name));
            else if (strcmp(l, "counter {") == 0)
                cur->counter_track = true;
            else if (strcmp(l, "debug_annotations {") == 0) {
                cr_assert_lt(cur->nargs, 4);
                cur->nargs++;
            }
            continue;
        }
        if (indent == 6) {
            uint64_t u;
            int k = cur->nargs - 1;
            if (sscanf(l, "tid: %lld", &cur->tid) == 1)
                continue;
            if (strncmp(l, "thread_name: ", 13) == 0)
                unescape(l + 13, cur->name, sizeof(cur->name));
            else if (k >= 0 && sscanf(l, "name_iid: %" SCNu64, &u) == 1)
                cur->arg_name[k] = u;
            else if (k >= 0 && sscanf(l, "uint_value: %" SCNu64, &u) == 1)
                cur->arg_value[k] = u;
            else if (k >= 0 && strcmp(l, "bool_value: true") == 0)
                cur->arg_bool[k] = true;
            else if (k >= 0 && strcmp(l, "array_values {") == 0)
                in_array = cur->arg_value[k] == 0; /* the first frame only */
            continue;
        }
        if (indent == 8 && in_array && sscanf(l, "string_value_iid: %" SCNu64, &entry_iid) == 1) {
            cur->arg_value[cur->nargs - 1] = entry_iid;
            in_array = false;
        }
    }
    res_free(&r);
    /* Resolve the interned strings, each defined in its packet or an earlier one. */
    for (size_t i = 0; i < t->n; i++) {
        struct ppacket *p = &t->p[i];
        if (p->event && p->name_iid != 0)
            snprintf(p->name, sizeof(p->name), "%s", interned(t, IN_NAMES, p->name_iid, i));
        for (int k = 0; k < p->nargs; k++) {
            const char *arg = interned(t, IN_ARGS, p->arg_name[k], i);
            if (strcmp(arg, "exclusive_ns") == 0)
                p->exclusive = p->arg_value[k];
            else if (p->arg_bool[k])
                snprintf(p->why, sizeof(p->why), "%s", arg);
            else if (strcmp(arg, "async_stack") == 0)
                snprintf(p->stack0, sizeof(p->stack0), "%s",
                         interned(t, IN_STRINGS, p->arg_value[k], i));
        }
        /* A callback's async stack starts with its own frame. */
        if (strcmp(p->type, "TYPE_SLICE_BEGIN") == 0)
            cr_expect_str_eq(p->stack0, p->name);
    }
}

/* The uuid of the thread track of TID, or 0. */
static uint64_t thread_track(const struct ptrace *t, long long tid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i].descriptor && t->p[i].tid == tid)
            return t->p[i].track;
    return 0;
}

static uint64_t counter_track(const struct ptrace *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i].descriptor && t->p[i].counter_track && strcmp(t->p[i].name, name) == 0)
            return t->p[i].track;
    return 0;
}

/* Slices on TRACK: checks that they nest (every END closes an open BEGIN, none stays open)
 * and returns how many there are; NAMED counts those whose name is NAME (NULL: none). */
static int slices(const struct ptrace *t, uint64_t track, const char *name, int *named)
{
    int depth = 0, n = 0;
    uint64_t last = 0;
    if (named)
        *named = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct ppacket *p = &t->p[i];
        if (!p->event || p->track != track)
            continue;
        cr_expect_geq(p->ts, last, "time goes back on track %" PRIu64, track);
        last = p->ts;
        if (strcmp(p->type, "TYPE_SLICE_BEGIN") == 0) {
            depth++;
            n++;
            if (named && name && strcmp(p->name, name) == 0)
                (*named)++;
        } else if (strcmp(p->type, "TYPE_SLICE_END") == 0) {
            cr_assert_gt(depth, 0, "an END without a BEGIN on track %" PRIu64, track);
            depth--;
        }
    }
    cr_expect_eq(depth, 0, "slices left open on track %" PRIu64, track);
    return n;
}

/* Events of flow ID, in order: their types ("I" instant, "B" slice begin), as a string. */
static void flow_events(const struct ptrace *t, uint64_t id, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n && n + 1 < size; i++)
        if (t->p[i].event && t->p[i].flow == id)
            out[n++] = strcmp(t->p[i].type, "TYPE_INSTANT") == 0 ? 'I' : 'B';
    out[n] = '\0';
}

static void counter_values(const struct ptrace *t, uint64_t track, int *n, long long *last)
{
    *n = 0;
    *last = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i].event && t->p[i].track == track && strcmp(t->p[i].type, "TYPE_COUNTER") == 0) {
            (*n)++;
            *last = t->p[i].value;
        }
}

Test(export, perfetto_slices_flows_counters)
{
    const char *f = test_path("tree.data"), *out = test_path("tree.pftrace");
    gen("tree", f, "10", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "perfetto", "-o", out);
    res_free(&r);
    struct ptrace t;
    perfetto_decode(out, &t);

    /* The process and its two threads. */
    int procs = 0;
    for (size_t i = 0; i < t.n; i++)
        procs += t.p[i].descriptor && t.p[i].track == 1;
    cr_expect_eq(procs, 1);
    uint64_t t100 = thread_track(&t, 100), t101 = thread_track(&t, 101);
    cr_assert(t100 != 0 && t101 != 0 && t100 != t101);

    /* Slices per thread: 100 runs the 10 REQ and the old TIMER with its WRITE; 101 the 20
     * TIMER callbacks, each with a WRITE nested. */
    int named;
    cr_expect_eq(slices(&t, t100, "REQ@server.c:42 accept_cb", &named), 12);
    cr_expect_eq(named, 10);
    cr_expect_eq(slices(&t, t101, "WRITE@timer.c:7 timer_fire", &named), 40);
    cr_expect_eq(named, 20);
    /* Exclusive time of a TIMER callback: 3000 ns minus its nested WRITE's 500. */
    int timers = 0;
    for (size_t i = 0; i + 1 < t.n; i++)
        if (t.p[i].event && t.p[i].track == t101 && strcmp(t.p[i].type, "TYPE_SLICE_END") == 0 &&
            t.p[i].exclusive == 2500)
            timers++;
    cr_expect_eq(timers, 20);

    /* Flows: each resource's from its init through its callbacks, in order. The first REQ
     * is id 10 (gen.c), its TIMERs 11 and 12, the LEAK 13 (no callback); the WRITE of the
     * first TIMER is created in it. The old TIMER (900) was never seen created. */
    char ev[16];
    flow_events(&t, 10, ev, sizeof(ev));
    cr_expect_str_eq(ev, "IB");
    flow_events(&t, 11, ev, sizeof(ev));
    cr_expect_str_eq(ev, "IB");
    flow_events(&t, 13, ev, sizeof(ev));
    cr_expect_str_eq(ev, "I");
    flow_events(&t, 900, ev, sizeof(ev));
    cr_expect_str_eq(ev, "B");
    int inits = 0;
    for (size_t i = 0; i < t.n; i++)
        inits += t.p[i].event && strcmp(t.p[i].type, "TYPE_INSTANT") == 0 && t.p[i].flow != 0;
    cr_expect_eq(inits, 10 + 20 + 10 + 20 + 1);

    /* Live counters per type: one sample per creation and destruction, ending at the
     * recording's live count (LEAK: 10 alive, the rest 0). */
    static const struct {
        const char *name;
        int samples;
        long long last;
    } want[] = {
        {"live REQ", 20, 0}, {"live TIMER", 40, 0}, {"live WRITE", 42, 0}, {"live LEAK", 10, 10}};
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        uint64_t track = counter_track(&t, want[k].name);
        cr_assert_neq(track, 0, "no counter track %s", want[k].name);
        int n;
        long long last;
        counter_values(&t, track, &n, &last);
        cr_expect_eq(n, want[k].samples, "%s: %d samples", want[k].name, n);
        cr_expect_eq(last, want[k].last, "%s ends at %lld", want[k].name, last);
    }
    ptrace_free(&t);
}

Test(export, perfetto_lost_events_stay_balanced)
{
    const char *f = test_path("lost.data"), *out = test_path("lost.pftrace");
    gen("lost", f, "0", false);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "perfetto", "-o", out);
    res_free(&r);
    struct ptrace t;
    perfetto_decode(out, &t);
    /* Thread 7: A, B (its AFTER lost: closed with A, "incomplete"), C (still open at the
     * end: "unfinished"); thread 8: D. The AFTERs without a BEFORE are dropped. */
    cr_expect_eq(slices(&t, thread_track(&t, 7), NULL, NULL), 3);
    cr_expect_eq(slices(&t, thread_track(&t, 8), NULL, NULL), 1);
    int incomplete = 0, unfinished = 0;
    for (size_t i = 0; i < t.n; i++) {
        incomplete += strcmp(t.p[i].why, "incomplete") == 0;
        unfinished += strcmp(t.p[i].why, "unfinished") == 0;
    }
    cr_expect_eq(incomplete, 1);
    cr_expect_eq(unfinished, 1);
    ptrace_free(&t);
}

Test(export, perfetto_hostile_names)
{
    const char *f = test_path("names.data"), *out = test_path("names.pftrace");
    gen("names", f, "0", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "perfetto", "-o", out);
    res_free(&r);
    struct ptrace t;
    perfetto_decode(out, &t);
    for (size_t i = 0; i < NHOSTILE; i++) {
        int named;
        slices(&t, thread_track(&t, 100), hostile[i], &named);
        cr_expect_eq(named, 1, "no slice named %s", hostile[i]);
    }
    for (size_t i = 0; i < t.n; i++)
        no_raw_bytes(t.p[i].name, "perfetto name");
    cr_expect_neq(counter_track(&t, "live semi\\x3bcolon_42"), 0);
    ptrace_free(&t);
}

/* The trace streams: a long recording is written with the memory of a short one. */
Test(export, perfetto_streams, .timeout = 300)
{
    /* The content of a re-arming timer (gen.c: 1 + 4 x 10000 events): 10000 callbacks,
     * each resource's flow from its creation to its callback, the live count by 1s. */
    const char *f = test_path("rearm.data"), *out = test_path("rearm.pftrace");
    gen("rearm", f, "40001", true);
    struct res r = OK(60, FLAME_ASAN, f, "-f", "perfetto", "-o", out);
    res_free(&r);
    struct ptrace t;
    perfetto_decode(out, &t);
    int named;
    cr_expect_eq(slices(&t, thread_track(&t, 100), "TIMER@timer.c:55 timer_rearm", &named), 10000);
    cr_expect_eq(named, 9999, "the first TIMER is created in main");
    char ev[8];
    flow_events(&t, 10, ev, sizeof(ev));
    cr_expect_str_eq(ev, "IB");
    flow_events(&t, 5000, ev, sizeof(ev));
    cr_expect_str_eq(ev, "IB");
    flow_events(&t, 10010, ev, sizeof(ev));
    cr_expect_str_eq(ev, "I", "the last TIMER never ran");
    int n;
    long long last;
    counter_values(&t, counter_track(&t, "live TIMER"), &n, &last);
    cr_expect_eq(n, 10001 + 10000);
    cr_expect_eq(last, 1);
    ptrace_free(&t);

    /* And a long one is written with the memory of a short one. */
    f = test_path("long.data");
    out = test_path("long.pftrace");
    gen("rearm", f, "2000000", true);
    struct proc p;
    proc_start_files(&p,
                     (char *const[]){FLAME, (char *)f, "-f", "perfetto", "-o", (char *)out, NULL},
                     test_path("out"), test_path("err"));
    cr_assert_eq(proc_wait(&p, 240 * 1000), 0);
    cr_log_info("perfetto of 2M events: max RSS %ld KiB", p.maxrss_kb);
    cr_expect_lt(p.maxrss_kb, 48 * 1024, "max RSS %ld KiB", p.maxrss_kb);
}

/* ---------------------------------------------------------------------------------------
 * A real recording (BPF): ahprof record --stacks on the workload target.
 */

#define AHPROF AHP_BUILD "/ahprof"
#define WORKLOAD AHP_BUILD "/targets/workload"

/* The sum of value V of the samples whose async_type is TYPE. */
static long long by_type(const struct praw *p, const char *type, int v)
{
    char want[128];
    snprintf(want, sizeof(want), "async_type:[%s]", type);
    long long sum = 0;
    for (int i = 0; i < p->n; i++)
        if (strstr(p->s[i].labels, want) != NULL)
            sum += p->s[i].v[v];
    return sum;
}

Test(export, real_recording)
{
    if (geteuid() != 0 || access(AHPROF, X_OK) != 0 || access(WORKLOAD, X_OK) != 0)
        TEST_DIR_SKIP("needs root, build/ahprof and build/targets/workload (BPF)");
    const char *f = test_path("real.data"), *pp = test_path("real.pb.gz"),
               *pf = test_path("real.pftrace");
    /* -s 1: the workload sleeps before its first event, so that the recorder has read its
     * memory map (the symbolizer needs the process alive). */
    struct res r =
        OK(60, AHPROF, "record", "--stacks", "-o", f, "--", WORKLOAD, "-s", "1", "tree", "25");
    res_free(&r);
    r = OK(60, FLAME_ASAN, f, "-f", "pprof", "-o", pp);
    res_free(&r);
    r = OK(60, FLAME_ASAN, f, "-f", "perfetto", "-o", pf);
    res_free(&r);

    /* workload tree 25: REQ 25 (root), TIMER 50, WRITE 50, LEAK 25 (alive at exit). */
    struct praw *p = pprof_raw(pp);
    cr_expect_eq(by_type(p, "REQ", 1), 25);
    cr_expect_eq(by_type(p, "TIMER", 1), 50);
    cr_expect_eq(by_type(p, "WRITE", 1), 50);
    cr_expect_eq(by_type(p, "LEAK", 1), 25);
    cr_expect_eq(by_type(p, "LEAK", 2), 25);
    cr_expect_eq(by_type(p, "REQ", 2) + by_type(p, "TIMER", 2) + by_type(p, "WRITE", 2), 0);
    cr_expect_gt(by_type(p, "REQ", 0), 0);
    bool sites = false;
    for (int i = 0; i < p->n; i++)
        sites |= strncmp(p->s[i].stack, "REQ@workload.c:", 15) == 0;
    cr_expect(sites, "no creation site in the pprof frames");
    praw_free(p);

    struct ptrace t;
    perfetto_decode(pf, &t);
    int total = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.p[i].descriptor && t.p[i].tid >= 0)
            total += slices(&t, t.p[i].track, NULL, NULL);
    cr_expect_eq(total, 125, "REQ, TIMER and WRITE callbacks: %d slices", total);
    int inits = 0;
    for (size_t i = 0; i < t.n; i++)
        inits += t.p[i].event && strcmp(t.p[i].type, "TYPE_INSTANT") == 0;
    cr_expect_eq(inits, 150);
    static const struct {
        const char *name;
        long long last;
    } want[] = {{"live REQ", 0}, {"live TIMER", 0}, {"live WRITE", 0}, {"live LEAK", 25}};
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        int n;
        long long last;
        uint64_t track = counter_track(&t, want[k].name);
        cr_assert_neq(track, 0, "no counter track %s", want[k].name);
        counter_values(&t, track, &n, &last);
        cr_expect_eq(last, want[k].last, "%s ends at %lld", want[k].name, last);
    }
    ptrace_free(&t);
}

Test(export, unknown_format_lists_the_new_ones)
{
    struct res r = RUN(30, FLAME_ASAN, "-f", "protobuf", "x.data");
    cr_expect_eq(r.code, 2);
    cr_expect(strstr(r.err, "pprof") != NULL && strstr(r.err, "perfetto") != NULL, "%s", r.err);
    res_free(&r);
}
