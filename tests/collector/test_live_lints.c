/*
 * test_live_lints.c - the warnings `ahprof top` judges live (docs/lints.md), with real BPF
 * against tests/targets/linty.c: long-callback with its blocking reason from the kernel view,
 * never-ran and orphan from the live table, --allow; their clean look-alikes fire nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint_checks.h"
#include "run.h"

#define LINTY AHP_BUILD "/targets/linty"

TestSuite(live_lints, .timeout = 90);

/* Every interval of `ahprof top --json 0.2 [EXTRA...] -- linty CMD...` to the target's exit,
 * in *N (at most 256). */

/* The final interval of the same, marked final. */
static json_object *top_linty(const char *const extra[], const char *const cmd[])
{
    int n;
    json_object **all = top_json_linty("0.2", NULL, extra, cmd, &n), *v;
    cr_assert(json_object_object_get_ex(all[n - 1], "final", &v) && json_object_get_boolean(v),
              "the last interval is not marked final");
    json_put_all(all, n - 1);
    return all[n - 1];
}

/* A callback asleep 300 ms: long-callback, with the type's blocking: all of it, in
 * clock_nanosleep (glibc's nanosleep). */
Test(live_lints, long_callback_says_what_blocked_it)
{
    const char *cmd[] = {"sleepy", "300", NULL};
    json_object *last = top_linty(NULL, cmd);
    json_object *ex = expect_only(last, "long-callback", "SLEEPY", 1);
    cr_expect_geq(get_int(ex, "max_ns"), 300000000LL);
    cr_expect_geq(get_int(ex, "blocked_ns"), 280000000LL, "SLEEPY blocked");
    cr_expect_str_eq(str_of(ex, "blocked_reason"), "clock_nanosleep");
    json_object *reasons, *pct;
    cr_assert(json_object_object_get_ex(ex, "blocked_reasons", &reasons) &&
              json_object_array_length(reasons) >= 1);
    cr_expect_str_eq(str_of(json_object_array_get_idx(reasons, 0), "reason"), "clock_nanosleep");
    cr_assert(json_object_object_get_ex(ex, "blocked_pct", &pct));
    cr_expect_geq(json_object_get_double(pct), 90.0);
    json_object_put(last);
}

/* A callback that computes 300 ms: long-callback, and the kernel view saw it block for
 * almost none of it (preemption on a loaded machine is not blocking). */
Test(live_lints, long_callback_that_computes_has_no_blocking_reason)
{
    const char *cmd[] = {"long-callback", "300", NULL};
    json_object *last = top_linty(NULL, cmd);
    json_object *ex = expect_only(last, "long-callback", "SLOW", 1);
    cr_expect_lt(get_int(ex, "blocked_ns"), 30000000LL, "SLOW spins: blocked");
    json_object *pct;
    cr_assert(json_object_object_get_ex(ex, "blocked_pct", &pct));
    cr_expect_lt(json_object_get_double(pct), 10.0);
    json_object_put(last);
}

/* Without the kernel view nothing is said of blocking: no field, rather than a wrong 0. */
Test(live_lints, long_callback_without_kernel_view_has_no_blocking)
{
    const char *extra[] = {"--no-kernel", NULL};
    const char *cmd[] = {"sleepy", "300", NULL};
    json_object *last = top_linty(extra, cmd);
    json_object *ex = expect_only(last, "long-callback", "SLEEPY", 1), *v;
    cr_expect(!json_object_object_get_ex(ex, "blocked_ns", &v), "blocked_ns without the view");
    cr_expect(!json_object_object_get_ex(ex, "blocked_reason", &v), "a reason without the view");
    json_object_put(last);
}

/* 10 requests never run (and 10 answered, and one IDLEWATCH of a type that never runs): with
 * --never-ran 500ms, never-ran on REQUEST within T and two refreshes of their creation, all
 * 10, the oldest as the example; nothing on IDLEWATCH. */
Test(live_lints, never_ran_fires_live_within_t_and_a_refresh)
{
    const char *extra[] = {"--never-ran", "500ms", NULL};
    const char *cmd[] = {"never-ran", "10", "2000", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, extra, cmd, &n);
    long long t0 = get_int(all[0], "time_ns") - 200000000LL; /* about the attach */
    int fired = -1;
    for (int i = 0; i < n && fired < 0; i++)
        if (json_object_array_length(warnings_of(all[i])) > 0)
            fired = i;
    cr_assert_geq(fired, 0, "never-ran never fired in %d intervals", n);
    long long at = get_int(all[fired], "time_ns") - t0;
    /* Created right after the attach: older than T from T on, seen at the next refresh (0.2 s),
     * on a loaded machine a refresh or two later. */
    cr_expect_leq(at, 500000000LL + 3 * 200000000LL, "never-ran fired only %lld ms in",
                  at / 1000000);
    json_object *ex = expect_only(all[n - 1], "never-ran", "REQUEST", 10);
    cr_expect_geq(get_int(ex, "age_ns"), 500000000LL);
    cr_expect_eq(get_int(ex, "trigger_id"), 1, "created at the top level");
    cr_expect_gt(get_int(ex, "id"), 1);
    json_put_all(all, n);
}

/* A PARENT that lives 400 ms creates two CHILDs and a SERVER in its callback; one CHILD
 * finishes, the other stays idle, the SERVER serves every 100 ms. With --orphan 500ms: orphan
 * on CHILD (once its parent has been gone 500 ms), never on SERVER. */
Test(live_lints, orphan_fires_live_on_a_child_left_behind_not_on_a_server)
{
    const char *extra[] = {"--orphan", "500ms", NULL};
    const char *cmd[] = {"orphan", "1500", "400", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, extra, cmd, &n);
    char all_text[1024];
    for (int i = 0; i < n; i++) {
        json_object *w = warnings_of(all[i]);
        describe(w, all_text, sizeof(all_text));
        for (size_t k = 0; k < json_object_array_length(w); k++)
            cr_expect_str_eq(str_of(json_object_array_get_idx(w, k), "type"), "CHILD",
                             "interval %d: [%s]", i, all_text);
    }
    json_object *ex = expect_only(all[n - 1], "orphan", "CHILD", 1);
    cr_expect_geq(get_int(ex, "orphaned_ns"), 500000000LL);
    cr_expect_gt(get_int(ex, "trigger_id"), 1, "its trigger is the PARENT");
    json_put_all(all, n);
}

/* The look-alikes, with thresholds short enough to misjudge them: a timer re-armed every
 * 10 ms (each waits 10 ms before it runs: never-ran at 50 ms, five times that, would be a
 * false positive; at 5 ms it would be right) whose callback's trigger is the previous timer,
 * destroyed at once, and work that runs and goes: nothing, in no interval. */
Test(live_lints, clean_look_alikes_fire_nothing_live)
{
    const char *extra[] = {"--never-ran", "50ms", "--orphan", "50ms", NULL};
    const char *cmd[] = {"clean", "2000", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, extra, cmd, &n);
    cr_expect_geq(n, 5);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "linty clean, interval %d", i);
        expect_none(all[i], what);
    }
    json_put_all(all, n);
}

/* linty orphan's left-behind CHILD is both never-ran and orphan at 300 ms: --allow silences
 * a lint everywhere (orphan) and a lint on one type (never-ran:CHILD), in one run. */
Test(live_lints, allow_silences_live_never_ran_and_orphan)
{
    const char *extra[] = {"--never-ran",     "300ms",   "--orphan", "300ms", "--allow",
                           "never-ran:CHILD", "--allow", "orphan",   NULL};
    const char *cmd[] = {"orphan", "1000", "400", NULL};
    int n;
    json_object **all = top_json_linty("0.2", NULL, extra, cmd, &n);
    expect_none(all[n - 1], "--allow never-ran:CHILD --allow orphan");
    json_put_all(all, n);
    /* Without them, both fire on that CHILD (what the --allow above silenced). */
    const char *loud[] = {"--never-ran", "300ms", "--orphan", "300ms", NULL};
    all = top_json_linty("0.2", NULL, loud, cmd, &n);
    char text[256];
    describe(warnings_of(all[n - 1]), text, sizeof(text));
    cr_expect_str_eq(text, "never-ran:CHILD orphan:CHILD");
    json_put_all(all, n);
}

/* The text output says it too. */
Test(live_lints, long_callback_reason_in_text)
{
    char *argv[] = {AHPROF, "top", "-b", "0.2", "--", LINTY, "sleepy", "300", NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "top exited %d: %s", code, err);
    const char *last = strstr(out, "long-callback   SLEEPY");
    cr_assert_not_null(last, "%s", out);
    cr_expect(strstr(last, "of its callbacks) in clock_nanosleep") != NULL, "%.300s", last);
    free(out);
    free(err);
}
