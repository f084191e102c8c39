/*
 * forker.c - a libah program that makes children while it is traced: the target of
 * tests/collector/test_fork.c (fork safety, src/lib/fork.c).
 *
 *   forker HOW N      prints "ready", then raises LOOP lifecycles (init, before, after,
 *                     destroy) every millisecond until a line arrives on stdin, so that a
 *                     tracer attached meanwhile sees its probe sites hit (the kernel patches a
 *                     hit 5-byte-nop site into a call to a trampoline). Then it makes a child
 *                     that raises N x CHILD lifecycles and exits 0:
 *                       fork   fork(), the child runs the lifecycles itself
 *                       vfork  vfork() + execv() of this program as "forker child N"
 *                       spawn  posix_spawn() of this program as "forker child N"
 *                       stay   fork(); the child raises its N lifecycles, prints
 *                              "child PID", then raises one STAY lifecycle per millisecond
 *                              until SIGTERM (to be traced on its own) and exits 0
 *                     The parent waits for the child and prints "child exited CODE" or
 *                     "child killed by signal NAME"; exits 0 when the child exited 0, else 1.
 *   forker child N    N x CHILD lifecycles, exit 0.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ah.h"

extern char **environ;

static void lifecycles(int type, long n)
{
    for (long i = 0; i < n; i++) {
        ah_resource_t r = {0};
        ah_init(&r, type, 0);
        ah_before(&r);
        ah_after(&r);
        ah_destroy(&r);
    }
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int child_main(long n, bool stay)
{
    lifecycles(ah_type("CHILD"), n);
    if (!stay)
        return 0;
    signal(SIGTERM, on_term);
    printf("child %d\n", (int)getpid());
    fflush(stdout);
    int t_stay = ah_type("STAY");
    while (!stop) {
        lifecycles(t_stay, 1);
        usleep(1000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: forker fork|vfork|spawn|stay|child N\n");
        return 2;
    }
    const char *how = argv[1];
    long n = strtol(argv[2], NULL, 10);
    if (strcmp(how, "child") == 0)
        return child_main(n, false);

    int t_loop = ah_type("LOOP");
    printf("ready\n");
    fflush(stdout);
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    while (poll(&pfd, 1, 1) == 0)
        lifecycles(t_loop, 10);
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return 1;

    char *child_argv[] = {argv[0], "child", argv[2], NULL};
    pid_t pid;
    if (strcmp(how, "fork") == 0 || strcmp(how, "stay") == 0) {
        pid = fork();
        if (pid == 0)
            _exit(child_main(n, strcmp(how, "stay") == 0));
    } else if (strcmp(how, "vfork") == 0) {
        pid = vfork();
        if (pid == 0) {
            execv("/proc/self/exe", child_argv);
            _exit(127);
        }
    } else if (strcmp(how, "spawn") == 0) {
        if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) != 0)
            pid = -1;
    } else {
        fprintf(stderr, "forker: unknown way '%s'\n", how);
        return 2;
    }
    if (pid < 0) {
        perror("forker: child");
        return 1;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 1;
    if (WIFSIGNALED(status)) {
        printf("child killed by signal %s\n", sigabbrev_np(WTERMSIG(status)));
        return 1;
    }
    printf("child exited %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status) == 0 ? 0 : 1;
}
