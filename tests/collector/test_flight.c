/*
 * test_flight.c - `ahprof record --flight` (the flight recorder) and `ahprof dump` with real
 * BPF on tests/targets/linty.c: a dump is a normal recording of the last SECONDS (report reads
 * it), written when a trigger fires (a lint, a p99 threshold, SIGUSR1, `ahprof dump PID`),
 * saying what triggered it; the ring stays within --flight-events; --max-dumps stops it.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define LINTY AHP_BUILD "/targets/linty"

static char prefix[64];

static void make_prefix(void)
{
    snprintf(prefix, sizeof(prefix), "/tmp/ahprof-flight-test-%d", (int)getpid());
}

static void remove_dumps(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -f %s-*", prefix);
    if (system(cmd) != 0)
        return;
}

TestSuite(flight, .init = make_prefix, .fini = remove_dumps, .timeout = 120);

static char *dump_path(int n, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%d.data", prefix, n);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The trigger line of dump N. */
static char *trigger_of(int n)
{
    char path[128], tpath[160];
    snprintf(tpath, sizeof(tpath), "%s.trigger", dump_path(n, path, sizeof(path)));
    char *t = slurp(tpath);
    cr_assert_not_null(t, "no %s", tpath);
    return t;
}

/* Parse the NDJSON lines of a flight recorder's stdout. */
static json_object *ndjson_line(const char *out, int k)
{
    const char *p = out;
    for (int i = 0; i < k && p != NULL; i++) {
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    cr_assert(p != NULL && *p, "no line %d in: %s", k, out);
    const char *end = strchr(p, '\n');
    char *line = strndup(p, end ? (size_t)(end - p) : strlen(p));
    json_object *o = json_tokener_parse(line);
    cr_assert_not_null(o, "not JSON: %s", line);
    free(line);
    return o;
}

static json_object *warning_named(json_object *report, const char *lint)
{
    json_object *w;
    cr_assert(json_object_object_get_ex(report, "warnings", &w));
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        json_object *x = json_object_array_get_idx(w, i), *l;
        if (json_object_object_get_ex(x, "lint", &l) &&
            strcmp(json_object_get_string(l), lint) == 0)
            return x;
    }
    return NULL;
}

Test(flight, long_callback_trigger_dumps_the_last_seconds)
{
    char *argv[] = {AHPROF,          "record", "--flight", "1",    "--trigger",
                    "long-callback", "-o",     prefix,     "--",   LINTY,
                    "spike",         "2500",   "200",      "1500", NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 60000);
    cr_assert_eq(code, 0, "flight recorder exited %d: %s", code, err);
    cr_expect(strstr(err, "dump 1:") != NULL && strstr(err, "trigger: long-callback: SLOW"), "%s",
              err);
    free(err);
    char *why = trigger_of(1);
    cr_expect(strncmp(why, "long-callback: SLOW", 19) == 0, "trigger: %s", why);
    free(why);
    char path[128];
    cr_expect(access(dump_path(2, path, sizeof(path)), F_OK) != 0,
              "one long callback, one dump: %s exists", path);

    json_object *r = report_json_at(dump_path(1, path, sizeof(path)));
    /* A normal recording of the last second: the long callback is in it, and not the
     * 2.5 s of ticks before it. */
    cr_expect_leq(get_int(r, "duration_ns"), 1100000000LL);
    json_object *slow = find_named(r, "types", "SLOW");
    cr_assert_not_null(slow, "SLOW is not in the dump");
    cr_expect_eq(get_int(slow, "callbacks"), 1);
    json_object *tick = find_named(r, "types", "TICK");
    cr_assert_not_null(tick);
    cr_expect_lt(get_int(tick, "callbacks"), 150, "more than a second of 10 ms ticks");
    /* The window's snapshot keeps the live counts right: one TICK armed at any time. */
    cr_expect_eq(get_int(tick, "active"), 1);
    cr_expect_not_null(warning_named(r, "long-callback"));
    json_object_put(r);
}

Test(flight, sigusr1_and_ahprof_dump_each_dump_and_say_so)
{
    char *argv[] = {AHPROF, "record", "--flight", "1",     "-j",   "-o",
                    prefix, "--",     LINTY,      "clean", "6000", NULL};
    struct proc rec;
    proc_start(&rec, argv);
    char line[4096];
    cr_assert(proc_read_line(&rec, line, sizeof(line), 30000), "no start line");
    json_object *start = json_tokener_parse(line);
    cr_assert_not_null(start, "%s", line);
    int target = (int)get_int(start, "pid");
    cr_expect_eq(get_int(start, "recorder_pid"), rec.pid);
    json_object_put(start);
    usleep(1200000);
    cr_assert_eq(kill(rec.pid, SIGUSR1), 0);
    cr_assert(proc_read_line(&rec, line, sizeof(line), 10000), "no dump line after SIGUSR1");
    json_object *d1 = json_tokener_parse(line);
    cr_assert_not_null(d1, "%s", line);
    json_object *v;
    cr_assert(json_object_object_get_ex(d1, "trigger", &v));
    cr_expect_str_eq(json_object_get_string(v), "SIGUSR1");
    cr_expect_eq(get_int(d1, "dump"), 1);
    json_object_put(d1);

    /* From another terminal, by the target's pid. */
    char tpid[32];
    snprintf(tpid, sizeof(tpid), "%d", target);
    char *dargv[] = {AHPROF, "dump", tpid, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(dargv, &out, &err, 40000);
    cr_expect_eq(code, 0, "ahprof dump %s exited %d: %s", tpid, code, err);
    char path[128];
    cr_expect(out && strstr(out, dump_path(2, path, sizeof(path))) != NULL, "dump printed: %s",
              out);
    free(out);
    free(err);
    cr_assert(proc_read_line(&rec, line, sizeof(line), 10000), "no dump line after ahprof dump");
    json_object *d2 = json_tokener_parse(line);
    cr_assert_not_null(d2, "%s", line);
    cr_assert(json_object_object_get_ex(d2, "trigger", &v));
    cr_expect(strncmp(json_object_get_string(v), "ahprof dump", 11) == 0, "trigger %s",
              json_object_get_string(v));
    json_object_put(d2);
    kill(rec.pid, SIGINT);
    cr_expect_eq(proc_wait(&rec, 20000), 0);

    for (int n = 1; n <= 2; n++) {
        json_object *r = report_json_at(dump_path(n, path, sizeof(path)));
        json_object *tick = find_named(r, "types", "TICK");
        cr_assert_not_null(tick, "dump %d has no TICK", n);
        cr_expect_gt(get_int(tick, "callbacks"), 10, "dump %d", n);
        json_object_put(r);
    }
    /* Gone with its recorder: dump says so. */
    char *again[] = {AHPROF, "dump", tpid, NULL};
    cr_expect_eq(run_capture(again, NULL, NULL, 10000), 1);
}

Test(flight, p99_trigger_on_one_type)
{
    char *argv[] = {AHPROF,          "record", "--flight", "2",    "--trigger",
                    "p99>50ms:SLOW", "-o",     prefix,     "--",   LINTY,
                    "spike",         "1500",   "200",      "1500", NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 60000);
    cr_assert_eq(code, 0, "%s", err);
    free(err);
    char *why = trigger_of(1);
    cr_expect(strncmp(why, "p99>50ms: SLOW", 14) == 0, "trigger: %s", why);
    free(why);
}

Test(flight, the_ring_holds_at_most_flight_events)
{
    /* ~4000 events/s for a 5 s window, in a ring of 1024: the dump holds the newest 1024 and
     * says it covers less time. */
    char *argv[] = {AHPROF, "record",    "--flight", "5",     "--flight-events",
                    "1024", "--trigger", "p99>50ms", "-j",    "-o",
                    prefix, "--",        LINTY,      "spike", "1500",
                    "200",  "300",       NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "%s", err);
    json_object *d = ndjson_line(out, 1);
    cr_expect_leq(get_int(d, "events"), 1024);
    cr_expect_gt(get_int(d, "evicted_for_room"), 0);
    cr_expect_lt(get_int(d, "window_ns"), 5000000000LL);
    json_object_put(d);
    char path[128];
    json_object *r = report_json_at(dump_path(1, path, sizeof(path)));
    cr_expect_leq(get_int(r, "events"), 1024);
    cr_expect_not_null(find_named(r, "types", "SLOW"));
    json_object_put(r);
    free(out);
    free(err);
}

Test(flight, max_dumps_stops_the_recorder)
{
    /* A trigger that always fires (every tick's p99 is above 1 ns), at most once per window. */
    char *argv[] = {AHPROF, "record", "--flight", "0.5", "--trigger", "p99>1us", "--max-dumps", "2",
                    "-o",   prefix,   "--",       LINTY, "clean",     "20000",   NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 60000);
    cr_assert_eq(code, 0, "%s", err);
    cr_expect(strstr(err, "2 dumps") != NULL, "%s", err);
    free(err);
    char path[128];
    cr_expect(access(dump_path(2, path, sizeof(path)), F_OK) == 0);
    cr_expect(access(dump_path(3, path, sizeof(path)), F_OK) != 0);
}

Test(flight, never_ran_trigger_names_the_forgotten_resource)
{
    char *argv[] = {AHPROF,        "record", "--flight", "2",    "--trigger", "never-ran",
                    "--never-ran", "1s",     "-o",       prefix, "--",        LINTY,
                    "never-ran",   "3",      "3000",     NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 60000);
    cr_assert_eq(code, 0, "%s", err);
    free(err);
    char *why = trigger_of(1);
    /* REQUEST, never IDLEWATCH (none of its type runs: a watcher waits by design). */
    cr_expect(strncmp(why, "never-ran: REQUEST id ", 22) == 0, "trigger: %s", why);
    free(why);
}

/* 20 M events through a ring of 4096: ahprof's memory does not grow with them (the ring, a
 * 1 MiB ring buffer, the merge window), well under 64 MiB. */
Test(flight, memory_stays_bounded_under_a_flood)
{
    char *argv[] = {AHPROF,
                    "record",
                    "--flight",
                    "5",
                    "--flight-events",
                    "4096",
                    "-b",
                    "1",
                    "-o",
                    prefix,
                    "--",
                    AHP_BUILD "/targets/workload",
                    "flood",
                    "5000000",
                    NULL};
    struct proc p;
    proc_start(&p, argv);
    char *out = NULL, *err = NULL;
    int code = proc_capture(&p, &out, &err, 90000);
    cr_assert_eq(code, 0, "%s", err);
    /* Seen or lost (and counted): all of them went through ahprof's hands or its counters. */
    const char *seen = strstr(err, "dumps, "), *lost = strstr(err, "events seen, ");
    cr_assert(seen != NULL && lost != NULL, "%s", err);
    long long events = atoll(seen + strlen("dumps, ")) + atoll(lost + strlen("events seen, "));
    cr_expect_geq(events, 20000000LL, "%s", err);
    cr_expect_lt(p.maxrss_kb, 64 * 1024, "ahprof peaked at %ld KiB", p.maxrss_kb);
    free(out);
    free(err);
}
