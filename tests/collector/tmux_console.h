/*
 * tmux_console.h - the interactive `ahprof top` under tmux, for the console tests
 * (test_console.c, test_console_kernel.c): a detached session of a fixed size on its own server
 * socket, keys typed with send-keys, the screen read with capture-pane. Include once per test
 * file, after run.h; the suite's .init/.fini are tmux_setup/tmux_teardown.
 */
#ifndef AHP_TMUX_CONSOLE_H
#define AHP_TMUX_CONSOLE_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static char sock[64];
static char session[16]; /* the current one: a new name each time, the server may be ending */
static int sessions;

__attribute__((unused)) static void tmux_setup(void)
{
    snprintf(sock, sizeof(sock), "ahprof-console-test-%d", getpid());
}

__attribute__((unused)) static void tmux_teardown(void)
{
    char *argv[] = {"tmux", "-L", sock, "kill-server", NULL};
    char *out = NULL, *err = NULL;
    run_capture(argv, &out, &err, 5000);
    free(out);
    free(err);
}

__attribute__((unused)) static void tmux(const char *what, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = "tmux";
    argv[n++] = "-L";
    argv[n++] = sock;
    va_list ap;
    va_start(ap, what);
    for (const char *a = what; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 5000);
    cr_assert_eq(code, 0, "tmux %s: %s", what, err ? err : "");
    free(out);
    free(err);
}

/* The terminal as the user sees it now, one string per row (trailing spaces kept by tmux
 * trimmed). */
__attribute__((unused)) static char *screen(void)
{
    char *argv[] = {"tmux", "-L", sock, "capture-pane", "-p", "-t", session, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 5000);
    cr_assert_eq(code, 0, "capture-pane: %s", err ? err : "");
    free(err);
    return out;
}

/* The row of SCREEN that starts with PREFIX (0 = the first), or -1. */
__attribute__((unused)) static int row_of(const char *scr, const char *prefix)
{
    int row = 0;
    for (const char *line = scr; line && *line; row++) {
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return row;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

__attribute__((unused)) static int rows_of(const char *scr)
{
    int n = 0;
    for (const char *p = scr; *p; p++)
        n += *p == '\n';
    return n;
}

/* The text of row ROW (static buffer). */
__attribute__((unused)) static const char *row_text(const char *scr, int row)
{
    static char buf[1024];
    const char *line = scr;
    for (int i = 0; i < row && line; i++) {
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    buf[0] = '\0';
    if (line) {
        size_t len = strcspn(line, "\n");
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
    }
    return buf;
}

typedef bool (*screen_test)(const char *scr, const void *arg);

__attribute__((unused)) static bool has_text(const char *scr, const void *arg)
{
    return strstr(scr, arg) != NULL;
}

/* Wait up to 10 s for the screen to pass TEST; returns the screen (asserts it came). */
__attribute__((unused)) static char *wait_screen(screen_test test, const void *arg,
                                                 const char *what)
{
    char *scr = NULL;
    for (int i = 0; i < 100; i++) {
        free(scr);
        scr = screen();
        if (test(scr, arg))
            return scr;
        usleep(100000);
    }
    cr_assert_fail("the screen never showed %s; it shows:\n%s", what, scr);
    return NULL;
}

__attribute__((unused)) static char *wait_text(const char *text)
{
    return wait_screen(has_text, text, text);
}

/* The value of column COL (1 = ACTIVE ... 4 = CALLBACKS/s) in the row of type NAME. */
__attribute__((unused)) static double cell(const char *scr, const char *name, int col)
{
    int row = row_of(scr, name);
    if (row < 0)
        return -1;
    const char *text = row_text(scr, row) + strlen(name);
    double v[4];
    if (sscanf(text, "%lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]) != 4)
        return -1;
    return v[col - 1];
}

struct size {
    int cols, rows;
};

/* The screen was laid out again for the size: as many rows, the keys on the last one. */
__attribute__((unused)) static bool laid_out(const char *scr, const void *arg)
{
    const struct size *sz = arg;
    return rows_of(scr) == sz->rows && strncmp(row_text(scr, sz->rows - 1), "q quit", 6) == 0 &&
           strncmp(row_text(scr, 3), "TYPE", 4) == 0;
}

__attribute__((unused)) static void start_console(const char *args, int cols, int rows)
{
    char shell[1024], c[16], r[16];
    /* The shell around ahprof says how it ended and whether it left the terminal as it was. */
    snprintf(shell, sizeof(shell),
             "s=$(stty -g); %s %s; echo ahprof-exit=$?; "
             "[ \"$(stty -g)\" = \"$s\" ] && echo tty-restored; sleep 60",
             AHPROF, args);
    snprintf(c, sizeof(c), "%d", cols);
    snprintf(r, sizeof(r), "%d", rows);
    snprintf(session, sizeof(session), "con%d", ++sessions);
    tmux("new-session", "-d", "-s", session, "-x", c, "-y", r, shell, NULL);
}

__attribute__((unused)) static void quit_console(void)
{
    tmux("send-keys", "-t", session, "q", NULL);
    char *scr = wait_text("ahprof-exit=");
    cr_expect(strstr(scr, "ahprof-exit=0") != NULL, "q must end ahprof with 0:\n%s", scr);
    free(scr);
    scr = wait_text("tty-restored");
    /* The alternate screen is gone with the table. */
    cr_expect(strstr(scr, "CALLBACKS/s") == NULL, "the console is still on screen:\n%s", scr);
    free(scr);
}

#endif
