/*
 * test_console_kernel.c - the kernel view in the interactive `ahprof top` under tmux (helpers
 * in tmux_console.h), with real BPF against `linty blocker` (tests/targets/linty.c): BURNER's
 * callbacks spin 20 ms and NAPPER's sleep 20 ms, in turn, every 50 ms. The console must show
 * the CPU%, BLOCKms and BLOCK% columns with those figures, sort by them, join the blocking
 * reason to long-callback in its warnings pane, and show "-" without the kernel view.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "tmux_console.h"

#define LINTY AHP_BUILD "/targets/linty"

/* The 8 figures after NAME in its row: ACTIVE CREATED/s DESTROYED/s CALLBACKS/s CB% CPU%
 * BLOCKms BLOCK%; false when the row is not there or has "-" in them. */
static bool figures(const char *scr, const char *name, double v[8])
{
    int row = row_of(scr, name);
    if (row < 0)
        return false;
    const char *text = row_text(scr, row) + strlen(name);
    return sscanf(text, "%lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &v[6], &v[7]) == 8;
}

#define CPU 5
#define BLOCK_MS 6
#define BLOCK_PCT 7

/* Both types in one interval with their callbacks counted. */
static bool measured(const char *scr, const void *arg)
{
    (void)arg;
    double b[8], n[8];
    return figures(scr, "BURNER ", b) && figures(scr, "NAPPER ", n) && b[3] >= 5 && n[3] >= 5;
}

TestSuite(console_kernel, .init = tmux_setup, .fini = tmux_teardown, .timeout = 90);

Test(console_kernel, cpu_and_block_columns_sort_and_reason)
{
    /* Intervals of 1 s: ~20 callbacks of each type, ~400 ms of each kind. */
    start_console("top 1 --long-callback 10ms -- " LINTY " blocker 20000", 170, 40);
    char *scr = wait_screen(measured, NULL, "BURNER and NAPPER with their figures");
    cr_assert(strstr(scr, "CPU%") && strstr(scr, "BLOCKms") && strstr(scr, "BLOCK%"), "%s", scr);
    double b[8], n[8];
    cr_assert(figures(scr, "BURNER ", b) && figures(scr, "NAPPER ", n), "%s", scr);
    /* BURNER computes: CPU (40% of one CPU at full speed; a loaded machine preempts it, so
     * only a floor), no blocking. NAPPER sleeps: blocked most of its callback time, almost no
     * CPU. */
    cr_expect_geq(b[CPU], 10, "BURNER CPU%%:\n%s", scr);
    cr_expect_lt(b[BLOCK_PCT], 20, "BURNER BLOCK%%:\n%s", scr);
    cr_expect_lt(n[CPU], 10, "NAPPER CPU%%:\n%s", scr);
    cr_expect_geq(n[BLOCK_PCT], 70, "NAPPER BLOCK%%:\n%s", scr);
    cr_expect_geq(n[BLOCK_MS], 150, "NAPPER BLOCKms over 1 s:\n%s", scr);
    /* The warnings pane: both over 10 ms; NAPPER's with its reason, BURNER's without one. */
    cr_expect(strstr(scr, "in clock_nanosleep") != NULL, "NAPPER's reason:\n%s", scr);
    int burner_warn = row_of(scr, "  long-callback    BURNER");
    cr_assert_geq(burner_warn, 0, "%s", scr);
    cr_expect(strstr(row_text(scr, burner_warn), "clock_nanosleep") == NULL, "%s", scr);
    /* PEND50 and PEND99 (ms, init to first callback): linty runs each at once. */
    cr_assert(strstr(scr, "PEND50") && strstr(scr, "PEND99"), "%s", scr);
    double all[14];
    const char *row = row_text(scr, row_of(scr, "NAPPER ")) + strlen("NAPPER ");
    cr_assert_eq(sscanf(row, "%lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &all[0],
                        &all[1], &all[2], &all[3], &all[4], &all[5], &all[6], &all[7], &all[8],
                        &all[9], &all[10], &all[11], &all[12]),
                 13, "NAPPER's row: %s", row);
    cr_expect(all[11] >= 0 && all[11] < 5 && all[12] >= all[11] && all[12] < 5,
              "NAPPER pending %.1f/%.1f ms:\n%s", all[11], all[12], scr);
    free(scr);

    /* Sort: one to the right of CB% is CPU%, BURNER first; then BLOCKms, NAPPER first. */
    tmux("send-keys", "-t", session, ">", NULL);
    scr = wait_text("sort: CPU% (largest first)");
    cr_expect_lt(row_of(scr, "BURNER "), row_of(scr, "NAPPER "), "by CPU%%:\n%s", scr);
    free(scr);
    tmux("send-keys", "-t", session, ">", NULL);
    scr = wait_text("sort: BLOCKms (largest first)");
    cr_expect_lt(row_of(scr, "NAPPER "), row_of(scr, "BURNER "), "by BLOCKms:\n%s", scr);
    free(scr);
    tmux("send-keys", "-t", session, ">", NULL);
    scr = wait_text("sort: BLOCK% (largest first)");
    cr_expect_lt(row_of(scr, "NAPPER "), row_of(scr, "BURNER "), "by BLOCK%%:\n%s", scr);
    free(scr);
    quit_console();
}

/* Without the kernel view: the columns are there, with "-", and nothing else changes. */
static bool dashes(const char *scr, const void *arg)
{
    (void)arg;
    int row = row_of(scr, "NAPPER ");
    if (row < 0)
        return false;
    double v[5];
    char cpu[16], bms[16], bpct[16];
    const char *text = row_text(scr, row) + strlen("NAPPER ");
    return sscanf(text, "%lf %lf %lf %lf %lf %15s %15s %15s", &v[0], &v[1], &v[2], &v[3], &v[4],
                  cpu, bms, bpct) == 8 &&
           v[3] >= 5 && strcmp(cpu, "-") == 0 && strcmp(bms, "-") == 0 && strcmp(bpct, "-") == 0;
}

Test(console_kernel, no_kernel_shows_dashes)
{
    start_console("top 1 --no-kernel --long-callback 10ms -- " LINTY " blocker 20000", 170, 40);
    char *scr = wait_screen(dashes, NULL, "NAPPER with '-' in the kernel view's columns");
    /* long-callback still fires, without a reason it cannot know. */
    cr_expect(strstr(scr, "long-callback    NAPPER") != NULL, "%s", scr);
    cr_expect(strstr(scr, "clock_nanosleep") == NULL, "%s", scr);
    free(scr);
    quit_console();
}

/* A warning top judges from its live table appears in the pane: never-ran, with its count. */
Test(console_kernel, never_ran_appears_in_the_warnings_pane)
{
    start_console("top 0.3 --never-ran 300ms -- " LINTY " never-ran 5 20000", 170, 40);
    char *scr = wait_text("never-ran        REQUEST: 5 alive with no callback yet, oldest #");
    cr_expect(strstr(scr, "IDLEWATCH:") == NULL, "a type that never runs:\n%s", scr);
    free(scr);
    quit_console();
}
