/*
 * test_live_lifecycle.c - the lifecycle lint as `ahprof top` judges it live (docs/lints.md),
 * with real BPF: after-without-before and double destroy of resources created since the
 * attach, counted exactly (tests/targets/lcbad.c); nothing after a mid-run attach into
 * callbacks in flight, nothing on the example server's clean routes; --allow.
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

#define LCBAD AHP_BUILD "/targets/lcbad"

TestSuite(live_lifecycle, .timeout = 90);

/* Every line of `ahprof top --json ARGV...` parsed, in *N (at most 256); OUT kept for
 * messages. */

/* The final interval of `top --json 0.2 EXTRA... -- lcbad anomalies 5`. */
static json_object *top_anomalies(const char *extra1, const char *extra2)
{
    char *argv[16] = {AHPROF, "top", "--json", "0.2"};
    int k = 4;
    if (extra1)
        argv[k++] = (char *)extra1;
    if (extra2)
        argv[k++] = (char *)extra2;
    argv[k++] = "--";
    argv[k++] = LCBAD;
    argv[k++] = "anomalies";
    argv[k++] = "5";
    argv[k] = NULL;
    int n;
    json_object **all = top_json_lines(argv, &n), *v;
    cr_assert(json_object_object_get_ex(all[n - 1], "final", &v) && json_object_get_boolean(v));
    json_put_all(all, n - 1);
    json_object *last = all[n - 1];
    cr_assert(json_object_object_get_ex(last, "lifecycle_judged", &v) && json_object_get_boolean(v),
              "lifecycle not judged (events lost: %lld)", get_int(last, "lost_events"));
    return last;
}

/* The warning LINT:TYPE of ROOT, or NULL. */
static json_object *warning_of(json_object *root, const char *lint, const char *type)
{
    json_object *w = warnings_of(root);
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        json_object *x = json_object_array_get_idx(w, i);
        if (strcmp(str_of(x, "lint"), lint) == 0 && strcmp(str_of(x, "type"), type) == 0)
            return x;
    }
    return NULL;
}

static void expect_kinds(json_object *x, long long after, long long twice)
{
    json_object *kinds;
    cr_assert(json_object_object_get_ex(x, "kinds", &kinds), "no kinds");
    cr_expect_eq(get_int(kinds, "after-without-before"), after);
    cr_expect_eq(get_int(kinds, "double-destroy"), twice);
    cr_expect_eq(get_int(kinds, "destroy-while-running-elsewhere"), 0);
    cr_expect_eq(get_int(x, "count"), after + twice);
}

/* The batch path: the double destroys, exactly (the program's own ah:after is a per-event
 * probe, not in any batch). */
Test(live_lifecycle, double_destroy_fires_live_with_its_count)
{
    json_object *last = top_anomalies(NULL, NULL);
    char all[1024];
    describe(warnings_of(last), all, sizeof(all));
    cr_assert_eq(json_object_array_length(warnings_of(last)), 1, "[%s]", all);
    json_object *x = warning_of(last, "lifecycle", "TWICE");
    cr_assert_not_null(x, "[%s]", all);
    expect_kinds(x, 0, 5);
    json_object_put(last);
}

Test(live_lifecycle, after_without_before_and_double_destroy_fire_per_event)
{
    json_object *last = top_anomalies("--per-event", NULL);
    char all[1024];
    describe(warnings_of(last), all, sizeof(all));
    cr_assert_eq(json_object_array_length(warnings_of(last)), 2, "[%s]", all);
    json_object *twice = warning_of(last, "lifecycle", "TWICE");
    json_object *afterless = warning_of(last, "lifecycle", "AFTERLESS");
    cr_assert(twice && afterless, "[%s]", all);
    expect_kinds(twice, 0, 5);
    expect_kinds(afterless, 5, 0);
    json_object_put(last);
}

Test(live_lifecycle, allow_silences_it)
{
    json_object *last = top_anomalies("--per-event", "--allow=lifecycle:TWICE");
    char all[1024];
    describe(warnings_of(last), all, sizeof(all));
    cr_expect_eq(json_object_array_length(warnings_of(last)), 1, "[%s]", all);
    cr_expect_not_null(warning_of(last, "lifecycle", "AFTERLESS"), "[%s]", all);
    json_object_put(last);
    last = top_anomalies("--per-event", "--allow=lifecycle");
    describe(warnings_of(last), all, sizeof(all));
    cr_expect_eq(json_object_array_length(warnings_of(last)), 0, "[%s]", all);
    json_object_put(last);
}

/* No interval of ALL has a lifecycle warning. */
static void expect_no_lifecycle(json_object **all, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        json_object *w = warnings_of(all[i]);
        char desc[1024];
        describe(w, desc, sizeof(desc));
        for (size_t k = 0; k < json_object_array_length(w); k++)
            cr_expect_str_neq(str_of(json_object_array_get_idx(w, k), "lint"), "lifecycle",
                              "%s, interval %d: [%s]", what, i, desc);
    }
}

/* `top -p` lands inside callbacks (a 5 ms OUTER always running, TASKs between threads):
 * their afters have no before, their resources were created before the attach: no warning,
 * on either path. */
static void attach_mid_run(const char *path_flag)
{
    struct proc target;
    char pid[32];
    char *targv[] = {LCBAD, "busy", "20000", NULL};
    start_ready_target(&target, targv, pid);
    usleep(200000);
    char *argv[16] = {AHPROF, "top", "--json", "--no-kernel", "-p", pid};
    int k = 6;
    if (path_flag)
        argv[k++] = (char *)path_flag;
    argv[k++] = "0.2";
    argv[k++] = "6";
    argv[k] = NULL;
    int n;
    json_object **all = top_json_lines(argv, &n);
    kill(target.pid, SIGTERM);
    proc_wait(&target, 10000);
    json_object *last = all[n - 1], *v;
    cr_expect_gt(get_int(last, "events"), 10000, "the target was not busy");
    cr_expect_gt(get_int(last, "unmatched_after"), 0, "the attach landed outside callbacks");
    cr_expect(json_object_object_get_ex(last, "lifecycle_judged", &v) && json_object_get_boolean(v),
              "not judged (lost %lld): the test proves nothing", get_int(last, "lost_events"));
    expect_no_lifecycle(all, n, path_flag ? path_flag : "batch");
    json_put_all(all, n);
}

Test(live_lifecycle, mid_run_attach_into_callbacks_fires_nothing)
{
    attach_mid_run(NULL);
}

Test(live_lifecycle, mid_run_attach_per_event_fires_nothing)
{
    attach_mid_run("--per-event");
}

/* The example server under load on its clean routes, `top -p`: 10 intervals, no lifecycle. */
Test(live_lifecycle, example_server_clean_routes_fire_nothing)
{
    struct proc server, load;
    start_example_server_under_load(&server, &load, "8");
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)server.pid);
    char *targv[] = {AHPROF, "top", "--json", "--no-kernel", "-p", pid, "0.2", "10", NULL};
    int n;
    json_object **all = top_json_lines(targv, &n);
    char *lout = NULL;
    cr_expect_eq(proc_capture(&load, &lout, NULL, 30000), 0, "ah-load: %s", lout);
    free(lout);
    kill(server.pid, SIGTERM);
    proc_wait(&server, 10000);
    cr_expect_gt(get_int(all[n - 1], "events"), 10000, "the server was not under load: %lld events",
                 get_int(all[n - 1], "events"));
    expect_no_lifecycle(all, n, "example server");
    json_put_all(all, n);
}

/* The text output's warnings, as the console's pane words them (ahp_top_lint_text). */
Test(live_lifecycle, text_names_the_kinds)
{
    char *argv[] = {AHPROF, "top", "-C", "0.2", "--", LCBAD, "anomalies", "5", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "top exited %d: %s", code, err);
    const char *at = strstr(out, "\nlifecycle ");
    cr_assert_not_null(at, "no lifecycle warning: %s", out);
    const char *eol = strchr(at + 1, '\n');
    cr_assert_not_null(eol);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(eol - at - 1), at + 1);
    cr_expect_not_null(strstr(line, "TWICE"), "%s", line);
    cr_expect_not_null(strstr(line, "5 since attach: 5 double-destroy"), "%s", line);
    free(out);
    free(err);
}

TestSuite(live_lifecycle_console, .init = tmux_setup, .fini = tmux_teardown);

/* The interactive console's warnings pane, through the same live-warning path. */
Test(live_lifecycle_console, warnings_pane_shows_it, .timeout = 60)
{
    start_console("top 0.3 -- " LCBAD " anomalies 5", 160, 40);
    char *scr = wait_text("target exited with status 0; q quits");
    cr_expect(strstr(scr, "WARNINGS (1)") != NULL, "%s", scr);
    int row = row_of(scr, "  lifecycle");
    cr_assert_geq(row, 0, "no lifecycle row:\n%s", scr);
    const char *text = row_text(scr, row);
    cr_expect(strstr(text, "TWICE") && strstr(text, "5 since attach: 5 double-destroy"), "%s\n%s",
              text, scr);
    free(scr);
    quit_console();
}
