/*
 * test_live_retrigger.c - `ahprof top`'s live self-retrigger (docs/lints.md), with real BPF:
 * the in-kernel count of resources created inside a callback of their own type (exact, and
 * the same on the batch and the per-event paths), linty's busy chain of 0 ms timers firing it
 * within a few intervals (JSON and text), the paced look-alikes (a timer re-armed every 1 ms,
 * a chain that waits for a worker thread at every link) and the example server's clean routes
 * firing nothing, --allow silencing it, and the console's warnings pane showing it.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint_checks.h"
#include "run.h"
#include "tmux_console.h"

#define LINTY AHP_BUILD "/targets/linty"

TestSuite(live_retrigger, .timeout = 90);

/* Every interval of `ahprof top --json INTERVAL [COUNT] [EXTRA...] -- linty CMD...` (COUNT
 * NULL: to the target's exit), in *N (at most 256). */

/* The self-retrigger warning on TYPE in interval O, or NULL. */
static json_object *retrigger_of(json_object *o, const char *type)
{
    json_object *w = warnings_of(o);
    for (size_t k = 0; k < json_object_array_length(w); k++) {
        json_object *x = json_object_array_get_idx(w, k);
        if (strcmp(str_of(x, "lint"), "self-retrigger") == 0 &&
            strcmp(str_of(x, "type"), type) == 0)
            return x;
    }
    return NULL;
}

/* A type's cumulative self_created in interval O (-1: the type is not there). */
static long long self_created(json_object *o, const char *type)
{
    json_object *t = find_named(o, "types", type);
    return t ? get_int(t, "self_created") : -1;
}

static const char *const BUSY[] = {"self-retrigger", "1000000000", NULL};

/* linty's busy chain of 0 ms timers (stopped by top after its last interval): self-retrigger
 * on BUSYTIMER from the second interval on (the first is its baseline), by the third on a
 * loaded machine, in every interval after, with its count, rate and mean gap; nothing else. */
Test(live_retrigger, busy_chain_fires_live_within_a_few_intervals)
{
    int n;
    json_object **all = top_json_linty("0.2", "8", NULL, BUSY, &n);
    cr_assert_eq(n, 8);
    int fired = -1;
    for (int i = 0; i < n && fired < 0; i++)
        if (retrigger_of(all[i], "BUSYTIMER"))
            fired = i;
    cr_assert_geq(fired, 1, "self-retrigger never fired (or at the first interval, baseless)");
    cr_expect_leq(fired, 3, "self-retrigger fired only at interval %d", fired);
    for (int i = fired; i < n; i++) {
        char text[256];
        describe(warnings_of(all[i]), text, sizeof(text));
        json_object *w = retrigger_of(all[i], "BUSYTIMER");
        cr_assert_not_null(w, "interval %d: no self-retrigger: [%s]", i, text);
        cr_expect_eq(json_object_array_length(warnings_of(all[i])), 1, "interval %d: [%s]", i,
                     text);
        json_object *ex;
        cr_assert(json_object_object_get_ex(w, "example", &ex));
        long long count = get_int(w, "count"), window = get_int(ex, "window_ns");
        cr_expect_geq(count, 1000, "interval %d: count %lld", i, count);
        cr_expect_gt(window, 100000000LL, "interval %d: window %lld ns", i, window);
        cr_expect_lt(window, 2000000000LL, "interval %d: window %lld ns", i, window);
        cr_expect_lt(get_int(ex, "gap_ns"), 5000, "interval %d", i);
        cr_expect_eq(get_int(ex, "gap_ns"), window / count);
        json_object *rate;
        cr_assert(json_object_object_get_ex(ex, "rate_per_s", &rate));
        double want = (double)count * 1e9 / (double)window;
        cr_expect(json_object_get_double(rate) > want * 0.99 &&
                      json_object_get_double(rate) < want * 1.01,
                  "interval %d: rate %.1f, count/window %.1f", i, json_object_get_double(rate),
                  want);
    }
    /* Every BUSYTIMER but the first is created inside its predecessor's callback. The target
     * still runs while top reads the per-CPU counters, which BPF updates meanwhile: the two may
     * be read up to a few batches (512 records each) apart. */
    json_object *last = find_named(all[n - 1], "types", "BUSYTIMER");
    cr_assert_not_null(last);
    long long created = get_int(last, "created"), self = get_int(last, "self_created");
    cr_expect_gt(created, 100000);
    cr_expect(self > created - 2048 && self < created + 2048, "self_created %lld of %lld created",
              self, created);
    json_put_all(all, n);
}

/* The text output and its line. */
Test(live_retrigger, busy_chain_in_text)
{
    char *argv[] = {AHPROF,          "top",           "-b", "0.2", "5", "--", LINTY,
                    (char *)BUSY[0], (char *)BUSY[1], NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "top exited %d: %s", code, err);
    const char *line = strstr(out, "self-retrigger  BUSYTIMER");
    cr_assert_not_null(line, "%s", out);
    cr_expect(strstr(line, "created inside a callback of their own type in 0.2 s") != NULL,
              "%.300s", line);
    free(out);
    free(err);
}

/* A chain exactly as long on both paths: 5000 BUSYTIMERs created in the callback of the one
 * before (and the first at the top level), counted by the batch walk and by the per-event
 * init program alike. */
Test(live_retrigger, self_created_exact_on_batch_and_per_event)
{
    for (int per_event = 0; per_event < 2; per_event++) {
        const char *extra[] = {per_event ? "--per-event" : NULL, NULL};
        const char *cmd[] = {"self-retrigger", "5000", NULL};
        int n;
        json_object **all = top_json_linty("10", NULL, extra, cmd, &n);
        json_object *t = find_named(all[n - 1], "types", "BUSYTIMER");
        cr_assert_not_null(t, "%s: no BUSYTIMER", per_event ? "per-event" : "batch");
        cr_expect_eq(get_int(t, "created"), 5001);
        cr_expect_eq(get_int(t, "self_created"), 5000, "%s: self_created %lld",
                     per_event ? "per-event" : "batch", get_int(t, "self_created"));
        json_put_all(all, n);
    }
}

/* A timer re-armed from its own callback every 1 ms: about 200 self-created per 0.2 s
 * interval, each after a pause: nothing, in no interval. The counter saw the chain; only a
 * gap above its 1 ms (with a chain threshold it reaches) makes it fire. */
Test(live_retrigger, paced_chain_fires_nothing)
{
    const char *cmd[] = {"paced-chain", "2000", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, NULL, cmd, &n);
    cr_expect_geq(n, 5);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "linty paced-chain, interval %d", i);
        expect_none(all[i], what);
    }
    cr_expect_geq(self_created(all[n - 1], "PACED"), 500, "the chain was not counted");
    json_put_all(all, n);

    const char *loose[] = {"--self-retrigger", "50", "--self-retrigger-gap", "20ms", NULL};
    all = top_json_linty("0.2", NULL, loose, cmd, &n);
    int fired = 0;
    for (int i = 0; i < n; i++)
        fired += retrigger_of(all[i], "PACED") != NULL;
    cr_expect_geq(fired, n / 2, "a gap of 20 ms fired in only %d of %d intervals", fired, n);
    json_put_all(all, n);
}

/* A chain that waits for a worker thread at every link (a sequential file read): tens of us
 * per link, no warning. */
Test(live_retrigger, io_chain_fires_nothing)
{
    const char *cmd[] = {"io-chain", "20000", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, NULL, cmd, &n);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "linty io-chain, interval %d", i);
        expect_none(all[i], what);
    }
    cr_expect_geq(self_created(all[n - 1], "FSREAD"), 19999, "the chain was not counted");
    json_put_all(all, n);
}

/* --allow self-retrigger, and --allow self-retrigger:BUSYTIMER, silence it; an --allow on
 * another type does not. */
Test(live_retrigger, allow_silences_it)
{
    const char *const allows[][3] = {{"--allow", "self-retrigger", NULL},
                                     {"--allow", "self-retrigger:BUSYTIMER", NULL},
                                     {"--allow", "self-retrigger:OTHER", NULL}};
    for (int a = 0; a < 3; a++) {
        int n, fired = 0;
        json_object **all = top_json_linty("0.2", "5", allows[a], BUSY, &n);
        for (int i = 0; i < n; i++) {
            fired += retrigger_of(all[i], "BUSYTIMER") != NULL;
            if (a < 2) {
                char what[96];
                snprintf(what, sizeof(what), "--allow %s, interval %d", allows[a][1], i);
                expect_none(all[i], what);
            }
        }
        if (a == 2)
            cr_expect_geq(fired, 2, "--allow self-retrigger:OTHER: fired in %d intervals", fired);
        /* The count goes on: only the warning is silenced. */
        cr_expect_gt(self_created(all[n - 1], "BUSYTIMER"), 100000);
        json_put_all(all, n);
    }
}

/* The example server under load on its clean routes, `top -p` for 15 intervals of 0.2 s with
 * the other lints held as in test_lints.c: no warning in any interval. The load lasts longer
 * than top takes to attach on a busy machine (seconds: the verifier) and is stopped after it:
 * a load over before the attach would leave nothing to judge. */
Test(live_retrigger, example_server_clean_routes_fire_nothing)
{
    struct proc server, load;
    start_example_server_under_load(&server, &load, "25");
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)server.pid);
    char *targv[] = {AHPROF, "top",         "--json", "--long-callback",
                     "1s",   "--never-ran", "1s",     "--orphan",
                     "1s",   "-p",          pid,      "0.2",
                     "15",   NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(targv, &out, &err, 60000);
    kill(load.pid, SIGTERM);
    proc_wait(&load, 10000);
    kill(server.pid, SIGTERM);
    proc_wait(&server, 10000);
    cr_assert_eq(code, 0, "ahprof top exited %d: %s", code, err);
    int lines = 0;
    long long events = 0;
    for (char *l = strtok(out, "\n"); l != NULL; l = strtok(NULL, "\n")) {
        json_object *o = json_tokener_parse(l);
        cr_assert_not_null(o, "%s", l);
        char what[64];
        snprintf(what, sizeof(what), "top interval %d on the example server", ++lines);
        expect_none(o, what);
        events = get_int(o, "events");
        json_object_put(o);
    }
    cr_expect_eq(lines, 15);
    cr_expect_gt(events, 10000, "the server was not under load: %lld events", events);
    free(out);
    free(err);
}

/* The console's warnings pane, under tmux: the busy chain's line appears, with its rate. */
TestSuite(live_retrigger_console, .init = tmux_setup, .fini = tmux_teardown);

Test(live_retrigger_console, busy_chain_in_the_warnings_pane, .timeout = 60)
{
    start_console("top 0.5 -- " LINTY " self-retrigger 1000000000", 160, 30);
    char *scr = wait_text("self-retrigger   BUSYTIMER: ");
    int row = row_of(scr, "  self-retrigger   BUSYTIMER: ");
    cr_assert_geq(row, 0, "%s", scr);
    cr_expect(strstr(row_text(scr, row), "created inside a callback of their own type in 0.5 s") !=
                  NULL,
              "%s", scr);
    /* No other warning, but those of a reader the chain outruns (43 M events/s, top's ring
     * buffer full on a slower machine: a fresh Debian 12 chroot lost 334,848 and showed both,
     * counted as they must be; `--buffer 8` shows them here). */
    int slow = (row_of(scr, "  lost-events ") >= 0) + (row_of(scr, "  live-table-full ") >= 0);
    char want[32];
    snprintf(want, sizeof(want), "WARNINGS (%d)", 1 + slow);
    cr_expect_geq(row_of(scr, want), 0, "%s", scr);
    free(scr);
    quit_console();
}
