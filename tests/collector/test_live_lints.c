/*
 * test_live_lints.c - the warnings `ahprof top` judges live (docs/lints.md), with real BPF
 * against tests/targets/linty.c: long-callback with its blocking reason from the kernel view,
 * never-ran and orphan from the live table; their clean look-alikes fire nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint_checks.h"
#include "run.h"

#define LINTY AHP_BUILD "/targets/linty"

TestSuite(live_lints, .timeout = 90);

/* `ahprof top --json 0.2 [EXTRA...] -- linty MODE ARGS...` to the target's exit: the final
 * interval. */
static json_object *top_linty(const char *const extra[], const char *const cmd[])
{
    char *argv[32] = {AHPROF, "top", "--json", "0.2"};
    int n = 4;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = "--";
    argv[n++] = LINTY;
    for (int i = 0; cmd[i]; i++)
        argv[n++] = (char *)cmd[i];
    argv[n] = NULL;
    return top_until_exit(argv);
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
