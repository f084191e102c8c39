/*
 * test_console.c - the interactive `ahprof top` on a real terminal: tmux runs it in a detached
 * session of a fixed size (its own server socket), the test types keys (send-keys) and reads
 * the screen (capture-pane), with real BPF against tests/targets/console.c (types of known
 * rates, a known trigger chain, hostile names).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define CONSOLE_TARGET AHP_BUILD "/targets/console"

#include "tmux_console.h"

static bool rates_measured(const char *scr, const void *arg)
{
    (void)arg;
    return cell(scr, "FAST ", 4) >= 100 && cell(scr, "SLOW ", 4) >= 5;
}

static bool held_alive(const char *scr, const void *arg)
{
    return cell(scr, "HELD ", 1) == *(const double *)arg;
}

TestSuite(console, .init = tmux_setup, .fini = tmux_teardown);

Test(console, sort_drill_warn_resize_quit, .timeout = 120)
{
    struct proc target;
    char pid[32], args[128];
    char *targv[] = {CONSOLE_TARGET, "1500", NULL};
    start_ready_target(&target, targv, pid);
    /* 1500 HELD in a live table of 1024 slots: some cannot be tracked, which the console
     * must say in its warnings pane. */
    snprintf(args, sizeof(args), "top 0.5 --max-live 1024 -p %s", pid);
    start_console(args, 120, 40);

    /* Start: the busiest first (exclusive callback time): SLOW's 10 ms callbacks above FAST's
     * empty ones, although FAST runs 20 times as many. */
    char *scr = wait_screen(rates_measured, NULL, "FAST and SLOW with their rates");
    cr_assert(strstr(scr, "sort: CB% (largest first)"), "%s", scr);
    cr_expect_lt(row_of(scr, "SLOW "), row_of(scr, "FAST "), "default order:\n%s", scr);
    cr_expect(strncmp(row_text(scr, rows_of(scr) - 1), "q quit", 6) == 0, "keys at the bottom");
    /* No lint yet. Attached in the middle of one of SLOW's 10 ms callbacks (one time in ten),
     * the console rightly notes that callback's after without its before, and nothing else. */
    bool attach_note =
        strstr(scr, "WARNINGS (1)") != NULL &&
        strstr(scr, "unmatched-after  1 callbacks ended without their start") != NULL;
    cr_expect((strstr(scr, "WARNINGS (0)") != NULL && strstr(scr, "  none") != NULL) || attach_note,
              "no warning yet:\n%s", scr);
    free(scr);

    /* Sort by the column on the left of CB%: callbacks/s puts FAST first. */
    tmux("send-keys", "-t", session, "<", NULL);
    scr = wait_text("sort: CALLBACKS/s (largest first)");
    cr_expect_lt(row_of(scr, "FAST "), row_of(scr, "SLOW "), "by callbacks/s:\n%s", scr);
    cr_expect_geq(cell(scr, "FAST ", 4), 100);
    free(scr);

    /* The target makes its chain, hostile names and HELDs: they appear, escaped. */
    cr_assert_gt(write(target.in_fd, "go\n", 3), 0);
    char line[256];
    unsigned long long parent, child, grandchild;
    cr_assert(proc_read_line(&target, line, sizeof(line), 10000));
    cr_assert_eq(sscanf(line, "made %llu %llu %llu", &parent, &child, &grandchild), 3, "%s", line);
    double held = 1500;
    scr = wait_screen(held_alive, &held, "HELD 1500 alive");
    cr_expect(strstr(scr, "esc\\x1b[31mred\\x1b[0m ") != NULL, "ESC escaped:\n%s", scr);
    cr_expect(strstr(scr, "new\\x0aline ") != NULL, "newline escaped:\n%s", scr);
    cr_expect(strstr(scr, "bell\\x07<b> ") != NULL, "BEL escaped:\n%s", scr);
    cr_expect_eq(row_of(scr, "line "), -1, "a raw newline split a name:\n%s", scr);
    free(scr);

    /* Warnings appear: LONG's 150 ms callback (the long-callback lint), and the live table
     * that could not hold every HELD. */
    scr = wait_text("long-callback    LONG: at least 1 callbacks over the threshold, longest 1");
    cr_expect(strstr(scr, "WARNINGS (0)") == NULL, "%s", scr);
    free(scr);
    free(wait_text("live-table-full"));

    /* Sort by name (four more to the left, CALLBACKS/s -> TYPE), then drill into GRANDCHILD:
     * CHILD, FAST, GRANDCHILD, ... in byte order. */
    tmux("send-keys", "-t", session, "<", "<", "<", "<", NULL);
    scr = wait_text("sort: TYPE (a-z)");
    int first = row_of(scr, "CHILD "), gc = row_of(scr, "GRANDCHILD ");
    cr_assert(first == 4 && gc == 6, "name order:\n%s", scr);
    cr_expect_lt(row_of(scr, "HELD "), row_of(scr, "LONG "), "name order:\n%s", scr);
    cr_expect_lt(row_of(scr, "HELD "), row_of(scr, "esc\\x1b"), "bytes order:\n%s", scr);
    free(scr);
    tmux("send-keys", "-t", session, "g", "Down", "Down", "Enter", NULL);
    scr = wait_text("resources of GRANDCHILD: 1 alive, 1 in the live table, 0 not listed");
    char want[256];
    snprintf(want, sizeof(want), "%12llu ", grandchild);
    int row = row_of(scr, want);
    cr_assert_geq(row, 0, "GRANDCHILD #%llu not listed:\n%s", grandchild, scr);
    snprintf(want, sizeof(want), "  CHILD#%llu < PARENT#%llu < (root)", child, parent);
    cr_expect(strstr(row_text(scr, row), want) != NULL, "trigger chain '%s':\n%s", want, scr);
    cr_expect(strstr(scr, "creation site: not in top") != NULL, "%s", scr);
    free(scr);

    /* HELD: 1500 alive, fewer in the table, the rest said to be unlisted. */
    tmux("send-keys", "-t", session, "Escape", NULL);
    free(wait_text("sort: TYPE (a-z)"));
    tmux("send-keys", "-t", session, "Down", "Enter", NULL);
    scr = wait_text("resources of HELD: 1500 alive");
    unsigned long long in_table = 0, unlisted = 0;
    const char *p = strstr(scr, "1500 alive, ");
    cr_assert(p && sscanf(p, "1500 alive, %llu in the live table, %llu not listed", &in_table,
                          &unlisted) == 2,
              "%s", scr);
    cr_expect(in_table > 0 && in_table < 1500 && in_table + unlisted == 1500, "%s", scr);
    free(scr);
    tmux("send-keys", "-t", session, "Escape", NULL);
    free(wait_text("sort: TYPE (a-z)"));

    /* Resize: smaller, then larger; each time the keys are on the last row. */
    /* 170 columns: the table with the kernel view's and the pending columns. */
    struct size small = {72, 20}, large = {170, 45};
    tmux("resize-window", "-t", session, "-x", "72", "-y", "20", NULL);
    scr = wait_screen(laid_out, &small, "the layout for 72x20");
    cr_expect(strstr(scr, "WARNINGS (") != NULL, "warnings pane at 72x20:\n%s", scr);
    free(scr);
    tmux("resize-window", "-t", session, "-x", "170", "-y", "45", NULL);
    scr = wait_screen(laid_out, &large, "the layout for 170x45");
    cr_expect(strstr(scr, "OLDEST") != NULL, "every column at 170 wide:\n%s", scr);
    free(scr);

    quit_console();
    close(target.in_fd);
    target.in_fd = -1;
    cr_expect_eq(proc_wait(&target, 10000), 0, "the target must not be harmed");
}

/* -b, -C and --json on a terminal print what they printed before the console existed. */
Test(console, batch_output_on_a_terminal, .timeout = 60)
{
    struct proc target;
    char pid[32], args[128];
    char *targv[] = {CONSOLE_TARGET, "0", NULL};
    start_ready_target(&target, targv, pid);
    snprintf(args, sizeof(args), "top -b 0.3 2 -p %s", pid);
    start_console(args, 150, 40);
    char *scr = wait_text("ahprof-exit=0");
    cr_expect(strstr(scr, "TYPE                        ACTIVE  CREATED/s") != NULL, "%s", scr);
    cr_expect(row_of(scr, "FAST ") >= 0, "%s", scr);
    cr_expect(strstr(scr, "q quit") == NULL && strstr(scr, "sort:") == NULL, "%s", scr);
    free(scr);

    snprintf(args, sizeof(args), "top --json 0.3 1 -p %s", pid);
    start_console(args, 150, 40);
    scr = wait_text("ahprof-exit=0");
    cr_expect(strncmp(scr, "{\"time_ns\"", 10) == 0, "NDJSON:\n%s", scr);
    free(scr);
    close(target.in_fd);
    target.in_fd = -1;
    cr_expect_eq(proc_wait(&target, 10000), 0);
}

/* A launched program's output goes to its pane, not over the table. */
Test(console, launched_program_output_in_its_pane, .timeout = 60)
{
    start_console("top 0.5 -- " CONSOLE_TARGET " -n 0", 120, 30);
    char *scr = wait_screen(rates_measured, NULL, "FAST and SLOW with their rates");
    int title = row_of(scr, "PROGRAM OUTPUT (6 bytes");
    cr_expect_geq(title, 0, "the output pane:\n%s", scr);
    cr_expect(strcmp(row_text(scr, title + 1), "  ready") == 0, "%s", scr);
    cr_expect_eq(row_of(scr, "ready"), -1, "the program wrote over the table:\n%s", scr);
    int pid = 0;
    const char *at = strstr(scr, "  pid ");
    cr_assert(at && sscanf(at, "  pid %d (console)", &pid) == 1 && pid > 0, "%s", scr);
    free(scr);
    quit_console();
    /* The program ahprof launched does not outlive it. */
    cr_expect(kill(pid, 0) < 0, "launched program %d still runs", pid);
}

/* The program ends: its last figures stay on screen, with how it ended, until q. */
Test(console, target_exit_keeps_the_last_screen, .timeout = 60)
{
    start_console("top 0.3 -- " WORKLOAD " tree 200", 120, 30);
    char *scr = wait_text("target exited with status 0; q quits");
    cr_expect_eq(cell(scr, "LEAK ", 1), 200, "LEAK alive at the end:\n%s", scr);
    cr_expect_eq(cell(scr, "REQ ", 1), 0, "%s", scr);
    cr_expect(strstr(scr, "  tree done") != NULL, "its stderr in the output pane:\n%s", scr);
    free(scr);
    usleep(700000); /* more intervals: nothing changes, ahprof still waits for q */
    scr = screen();
    cr_expect(strstr(scr, "target exited with status 0; q quits") != NULL, "%s", scr);
    free(scr);
    quit_console();
}
