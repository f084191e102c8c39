/*
 * bench_fork.c - what libah's fork handler (src/lib/fork.c) costs a fork() child.
 *
 *   bench_fork [--reps R] [--forks N] [--wait-traced]
 *
 * Times fork() + child _exit(0) + waitpid() in the parent, N forks per repetition, and prints
 * the median over R repetitions of the ns per fork for two worker processes that take turns:
 *   no-handler  has raised no libah event, so the handler is not installed (libah installs
 *               it with the first thread state)
 *   handler     has raised 10,000 lifecycles: its children run the handler (semaphores to 0,
 *               every probe site checked, a patched one restored)
 *   handler-call (untraced only) the handler's steps called directly in a loop, in the
 *               bench's own process: the handler's cost without the fork around it
 * With --wait-traced the second worker prints "ready PID" and waits until a tracer raised
 * ah:init or ah:batch on it before its events, so that its probe sites are hit and patched by the
 * kernel (when it can): every child then restores them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

extern volatile unsigned short ah_init_semaphore __attribute__((weak));
extern volatile unsigned short ah_batch_semaphore __attribute__((weak));

/* A tracer raised a probe of libah (the per-event init, or the batch probe). */
static int traced_now(void)
{
    return (&ah_init_semaphore && ah_init_semaphore) || (&ah_batch_semaphore && ah_batch_semaphore);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double forks_ns(int n)
{
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_fork: a child failed\n");
            exit(1);
        }
    }
    return (now_ns() - t0) / n;
}

/* The child handler's steps (src/lib/fork.c), called directly: what it costs by itself. */
void ah__probes_after_fork(void);
void ah__types_after_fork(void);
void ah__hooks_after_fork(void);
void ah__context_after_fork(void);
void ah__threads_after_fork(void);

static double handler_call_ns(int n)
{
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        ah__probes_after_fork();
        ah__types_after_fork();
        ah__hooks_after_fork();
        ah__context_after_fork();
        ah__threads_after_fork();
    }
    return (now_ns() - t0) / n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A worker times forks on demand: one byte on CMD, the ns per fork back on RES. */
static void worker(int cmd, int res, int n, int with_libah, int traced)
{
    if (with_libah) {
        if (traced) {
            printf("ready %d\n", (int)getpid());
            fflush(stdout);
            while (!traced_now())
                usleep(1000);
        }
        int type = ah_type("BENCH");
        for (int i = 0; i < 10000; i++) {
            ah_resource_t r = {0};
            ah_init(&r, type, 0);
            ah_before(&r);
            ah_after(&r);
            ah_destroy(&r);
        }
    }
    char c;
    while (read(cmd, &c, 1) == 1) {
        double ns = forks_ns(n);
        if (write(res, &ns, sizeof(ns)) != sizeof(ns))
            break;
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    int reps = 21, n = 200;
    int traced = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--forks") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wait-traced") == 0)
            traced = 1;
    }
    if (reps < 1 || reps > 1000 || n < 1 || n > 100000) {
        fprintf(stderr, "usage: bench_fork [--reps 1..1000] [--forks 1..100000] [--wait-traced]\n");
        return 2;
    }
    /* Two workers made before libah is touched; only the second raises events, which
     * installs the handler (and, traced, gets its probe sites patched). They take turns. */
    int cmd[2][2], res[2][2];
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        if (pipe(cmd[w]) != 0 || pipe(res[w]) != 0)
            return 1;
        pid[w] = fork();
        if (pid[w] == 0) {
            for (int o = 0; o <= w; o++) /* only the parent may hold a write end */
                close(cmd[o][1]);
            worker(cmd[w][0], res[w][1], n, w == 1, traced);
        }
    }
    double *v[2] = {malloc(sizeof(double) * reps), malloc(sizeof(double) * reps)};
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < 2; w++) {
            if (write(cmd[w][1], "x", 1) != 1 ||
                read(res[w][0], &v[w][r], sizeof(double)) != sizeof(double)) {
                fprintf(stderr, "bench_fork: worker %d failed\n", w);
                return 1;
            }
        }
    close(cmd[0][1]);
    close(cmd[1][1]);
    for (int w = 0; w < 2; w++) {
        waitpid(pid[w], NULL, 0);
        qsort(v[w], reps, sizeof(double), cmp);
        printf("bench name=fork case=%s traced=%d median_ns=%.0f min_ns=%.0f forks=%d reps=%d\n",
               w ? "handler" : "no-handler", traced, v[w][reps / 2], v[w][0], n, reps);
    }
    if (!traced) {
        /* Here, in this untraced process only: the handler would untrace a traced one. */
        ah_resource_t r = {0};
        ah_init(&r, ah_type("BENCH"), 0);
        ah_destroy(&r);
        for (int i = 0; i < reps; i++)
            v[0][i] = handler_call_ns(10000);
        qsort(v[0], reps, sizeof(double), cmp);
        printf("bench name=fork case=handler-call traced=0 median_ns=%.1f min_ns=%.1f calls=10000 "
               "reps=%d\n",
               v[0][reps / 2], v[0][0], reps);
    }
    return 0;
}
