/* test_lints_file.c - the warnings of `ahprof report` (docs/lints.md) on synthetic recordings:
 * the lifecycle anomalies libah itself never emits (after without before, double destroy),
 * which a recording can still hold (another libah, a hostile program); that they are not
 * judged when events were lost; leak-slope on a sawtooth (no) and on a steady climb (yes);
 * untrusted type names escaped in the text warnings. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/report.h"
#include "data/datafile.h"
#include "report_stdout.h"
#include "tmpdir.h"

static char dir[64], path[128];

static void setup(void)
{
    tmpdir_make(dir, "lints");
    snprintf(path, sizeof(path), "%s/rec.data", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(lints_file, .init = setup, .fini = teardown);

struct stream {
    struct ahp_event ev[40000];
    size_t n;
};

static void add(struct stream *s, uint8_t kind, uint64_t ts, uint64_t id, uint64_t trig,
                int32_t type, uint32_t tid)
{
    cr_assert_lt(s->n, sizeof(s->ev) / sizeof(s->ev[0]));
    s->ev[s->n++] = (struct ahp_event){.ts_ns = ts,
                                       .id = id,
                                       .trigger_id = trig,
                                       .tid = tid,
                                       .type = type,
                                       .kind = kind,
                                       .pid = 100};
}

static void save(const struct stream *s, const char *const *names, uint64_t end, uint64_t lost)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 100, .start_mono_ns = 1000, .start_real_ns = 1};
    strcpy(fi.comm, "synthetic");
    strcpy(fi.target, "/opt/synthetic");
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    for (int i = 0; names[i] != NULL; i++)
        cr_assert_eq(ahp_writer_type(w, i, names[i]), 0);
    cr_assert_eq(ahp_writer_events(w, s->ev, s->n), 0);
    if (lost)
        cr_assert_eq(ahp_writer_lost(w, lost), 0);
    cr_assert_eq(ahp_writer_close(w, end, lost), 0);
}

static json_object *report_json(void)
{
    char *out = report_stdout(path, "--json", NULL);
    json_object *doc = json_tokener_parse(out);
    cr_assert_not_null(doc, "invalid JSON: %s", out);
    free(out);
    return doc;
}

static json_object *warnings(json_object *doc)
{
    json_object *w;
    cr_assert(json_object_object_get_ex(doc, "warnings", &w));
    return w;
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
    return json_object_get_string(v);
}

static long long num(json_object *o, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
    return json_object_get_int64(v);
}

static json_object *example(json_object *w)
{
    json_object *ex;
    cr_assert(json_object_object_get_ex(w, "example", &ex));
    return ex;
}

static const char *const names[] = {"ALPHA", "BETA", NULL};
static struct stream s;

/* ALPHA 10: after without before; BETA 11: destroyed twice; ALPHA 5, created before the
 * recording (never seen created): an after without before that only means ahprof attached
 * during its callback, not a warning. */
static void anomalies(void)
{
    memset(&s, 0, sizeof(s));
    add(&s, AHP_EV_AFTER, 1500, 5, 0, 0, 100);
    add(&s, AHP_EV_INIT, 2000, 10, 1, 0, 100);
    add(&s, AHP_EV_AFTER, 2100, 10, 0, 0, 100);
    add(&s, AHP_EV_INIT, 3000, 11, 1, 1, 100);
    add(&s, AHP_EV_BEFORE, 3100, 11, 0, 1, 100);
    add(&s, AHP_EV_AFTER, 3200, 11, 0, 1, 100);
    add(&s, AHP_EV_DESTROY, 3300, 11, 0, 1, 100);
    add(&s, AHP_EV_DESTROY, 3400, 11, 0, 1, 101);
}

Test(lints_file, lifecycle_names_after_without_before_and_double_destroy)
{
    anomalies();
    save(&s, names, 10000, 0);
    json_object *doc = report_json();
    json_object *w = warnings(doc);
    cr_assert_eq(json_object_array_length(w), 2, "%s", json_object_to_json_string(w));
    bool after = false, twice = false;
    for (size_t i = 0; i < 2; i++) {
        json_object *x = json_object_array_get_idx(w, i), *ex = example(x);
        cr_expect_str_eq(str(x, "lint"), "lifecycle");
        cr_expect_eq(num(x, "count"), 1);
        if (strcmp(str(x, "type"), "ALPHA") == 0) {
            after = true;
            cr_expect_str_eq(str(ex, "what"), "after-without-before");
            cr_expect_eq(num(ex, "id"), 10);
            json_object *kinds;
            cr_assert(json_object_object_get_ex(x, "kinds", &kinds));
            cr_expect_eq(num(kinds, "after-without-before"), 1);
            cr_expect_eq(num(kinds, "double-destroy"), 0);
        } else {
            twice = true;
            cr_expect_str_eq(str(x, "type"), "BETA");
            cr_expect_str_eq(str(ex, "what"), "double-destroy");
            cr_expect_eq(num(ex, "id"), 11);
            cr_expect_eq(num(ex, "tid"), 101);
        }
    }
    cr_expect(after && twice);
    json_object *j;
    cr_assert(json_object_object_get_ex(doc, "lifecycle_judged", &j));
    cr_expect(json_object_get_boolean(j));
    json_object_put(doc);
}

Test(lints_file, lifecycle_is_not_judged_when_events_were_lost)
{
    anomalies();
    save(&s, names, 10000, 3);
    json_object *doc = report_json();
    cr_expect_eq(json_object_array_length(warnings(doc)), 0);
    json_object *j;
    cr_assert(json_object_object_get_ex(doc, "lifecycle_judged", &j));
    cr_expect(!json_object_get_boolean(j));
    json_object_put(doc);
}

/* ALPHA 20 runs on thread 101 while thread 100 destroys it (destroy while running), then
 * its after: in their order (LATE false), or as record writes an event its thread held past
 * the reorder window (LATE true): the after, 200 ms older, read after the destroy. */
static void destroyed_while_running(bool late)
{
    memset(&s, 0, sizeof(s));
    const uint64_t ms = 1000000;
    add(&s, AHP_EV_INIT, 1 * ms, 20, 1, 0, 100);
    add(&s, AHP_EV_BEFORE, 2 * ms, 20, 0, 0, 101);
    if (late) {
        add(&s, AHP_EV_DESTROY, 300 * ms, 20, 0, 0, 100);
        add(&s, AHP_EV_AFTER, 100 * ms, 20, 0, 0, 101);
    } else {
        add(&s, AHP_EV_DESTROY, 50 * ms, 20, 0, 0, 100);
        add(&s, AHP_EV_AFTER, 100 * ms, 20, 0, 0, 101);
    }
    add(&s, AHP_EV_INIT, 400 * ms, 21, 1, 1, 100);
}

Test(lints_file, lifecycle_is_not_judged_when_events_were_written_late)
{
    destroyed_while_running(false);
    save(&s, names, 500000000, 0);
    json_object *doc = report_json();
    json_object *w = warnings(doc), *j;
    cr_assert_eq(json_object_array_length(w), 1, "%s", json_object_to_json_string(w));
    cr_expect_str_eq(str(example(json_object_array_get_idx(w, 0)), "what"),
                     "destroy-while-running-elsewhere");
    cr_assert(json_object_object_get_ex(doc, "lifecycle_judged", &j));
    cr_expect(json_object_get_boolean(j));
    json_object_put(doc);

    /* The same resource, its after written late: what looks like a destroy while running
     * may be the order only. */
    destroyed_while_running(true);
    save(&s, names, 500000000, 0);
    doc = report_json();
    cr_expect_eq(json_object_array_length(warnings(doc)), 0, "%s",
                 json_object_to_json_string(warnings(doc)));
    cr_assert(json_object_object_get_ex(doc, "lifecycle_judged", &j));
    cr_expect(!json_object_get_boolean(j));
    json_object_put(doc);
}

/* N ALPHAs created one per ms; from the start of each 1000 ms cycle they are destroyed again
 * (SAWTOOTH) or never (CLIMB). */
static void grow(bool sawtooth)
{
    memset(&s, 0, sizeof(s));
    uint64_t id = 10, oldest = 10;
    for (uint64_t ms = 0; ms < 8000; ms++) {
        uint64_t ts = 1000 + ms * 1000000ull;
        add(&s, AHP_EV_INIT, ts, id, 1, 0, 100);
        add(&s, AHP_EV_BEFORE, ts + 10, id, 0, 0, 100);
        add(&s, AHP_EV_AFTER, ts + 20, id, 0, 0, 100);
        id++;
        if (sawtooth && ms % 1000 == 999)
            while (oldest < id)
                add(&s, AHP_EV_DESTROY, ts + 30, oldest++, 0, 0, 100);
    }
}

Test(lints_file, leak_slope_not_on_a_sawtooth_but_on_a_climb)
{
    grow(true);
    save(&s, names, 8000000000ull, 0);
    json_object *doc = report_json();
    cr_expect_eq(json_object_array_length(warnings(doc)), 0, "%s",
                 json_object_to_json_string(warnings(doc)));
    json_object_put(doc);

    grow(false);
    save(&s, names, 8000000000ull, 0);
    doc = report_json();
    json_object *w = warnings(doc);
    cr_assert_eq(json_object_array_length(w), 1, "%s", json_object_to_json_string(w));
    json_object *x = json_object_array_get_idx(w, 0), *rate;
    cr_expect_str_eq(str(x, "lint"), "leak-slope");
    cr_expect_str_eq(str(x, "type"), "ALPHA");
    cr_assert(json_object_object_get_ex(x, "rate_per_s", &rate));
    /* One per ms. */
    cr_expect(json_object_get_double(rate) > 900 && json_object_get_double(rate) < 1100, "rate %f",
              json_object_get_double(rate));
    json_object_put(doc);
}

Test(lints_file, type_names_are_escaped_in_text_warnings)
{
    static const char *const hostile[] = {"EVIL\x1b[2J\x07name", NULL};
    memset(&s, 0, sizeof(s));
    add(&s, AHP_EV_INIT, 2000, 10, 1, 0, 100);
    add(&s, AHP_EV_BEFORE, 3000, 10, 0, 0, 100);
    add(&s, AHP_EV_AFTER, 3000 + 500000000ull, 10, 0, 0, 100);
    save(&s, hostile, 1000000000ull, 0);
    char *out = report_stdout(path, NULL);
    cr_assert(strstr(out, "long-callback") != NULL, "%s", out);
    cr_expect(strchr(out, '\x1b') == NULL && strchr(out, '\x07') == NULL,
              "raw control bytes in the text report");
    free(out);
}
