/*
 * bench_uv.c - what libah-uv (src/uv/) adds to a libuv call, measured in a libuv program that
 * knows nothing of libah. Run it plain, preloaded with build/libah-uv.so, and preloaded with
 * ahprof attached (bench/uv.sh); the difference is the interposer's cost.
 *
 *   bench_uv [--reps R] [--ops N] [--wait]
 *
 * Cases, median over R repetitions of N operations, in ns per operation:
 *   timer-start   uv_timer_start + uv_timer_stop on a live timer (one wrapped call: a table
 *                 lookup and the callback swap; uv_timer_stop is not wrapped)
 *   handle-life   uv_timer_init + uv_close without a callback, the loop finishing the closes
 *                 (two wrapped calls: a table insert, ah_init, ah_destroy, a slot freed)
 *   callback      one idle callback, 1,000 of them per loop iteration (a trampoline:
 *                 lookup, ah_before, ah_after); the loop's own cost shared among them
 * With --wait it prints "ready" and reads a byte on stdin first (a tracer attaches meanwhile).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void timer_cb(uv_timer_t *t)
{
    (void)t;
}

static unsigned long idle_runs;

static void idle_cb(uv_idle_t *h)
{
    (void)h;
    idle_runs++;
}

static double timer_start(uv_loop_t *loop, int ops)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    double t0 = now_ns();
    for (int i = 0; i < ops; i++) {
        uv_timer_start(&t, timer_cb, 1000000, 0);
        uv_timer_stop(&t);
    }
    double ns = (now_ns() - t0) / ops;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ns;
}

#define BATCH 1000

static double handle_life(uv_loop_t *loop, int ops)
{
    static uv_timer_t timers[BATCH];
    double t0 = now_ns();
    for (int done = 0; done < ops; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            uv_timer_init(loop, &timers[i]);
        for (int i = 0; i < BATCH; i++)
            uv_close((uv_handle_t *)&timers[i], NULL);
        uv_run(loop, UV_RUN_NOWAIT);
    }
    return (now_ns() - t0) / ((ops + BATCH - 1) / BATCH * BATCH);
}

static double callback(uv_loop_t *loop, int ops)
{
    static uv_idle_t idles[BATCH];
    for (int i = 0; i < BATCH; i++) {
        uv_idle_init(loop, &idles[i]);
        uv_idle_start(&idles[i], idle_cb);
    }
    int rounds = (ops + BATCH - 1) / BATCH;
    double t0 = now_ns();
    for (int r = 0; r < rounds; r++)
        uv_run(loop, UV_RUN_NOWAIT);
    double ns = (now_ns() - t0) / ((double)rounds * BATCH);
    for (int i = 0; i < BATCH; i++)
        uv_close((uv_handle_t *)&idles[i], NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ns;
}

int main(int argc, char **argv)
{
    int reps = 21, ops = 100000;
    bool wait = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            ops = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wait") == 0)
            wait = true;
        else {
            fprintf(stderr, "usage: bench_uv [--reps R] [--ops N] [--wait]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || ops < BATCH) {
        fprintf(stderr, "bench_uv: --reps 1..1000, --ops >= %d\n", BATCH);
        return 2;
    }
    if (wait) {
        printf("ready\n");
        fflush(stdout);
        char c;
        if (read(0, &c, 1) != 1)
            return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    static const char *const names[] = {"timer-start", "handle-life", "callback"};
    double (*const cases[])(uv_loop_t *, int) = {timer_start, handle_life, callback};
    double *samples = calloc((size_t)reps, sizeof(double));
    for (int c = 0; c < 3; c++) {
        cases[c](&loop, ops / 10); /* warm-up */
        for (int r = 0; r < reps; r++)
            samples[r] = cases[c](&loop, ops);
        qsort(samples, (size_t)reps, sizeof(double), cmp_double);
        printf("bench uv %-12s %8.1f ns/op (median of %d x %d)\n", names[c], samples[reps / 2],
               reps, ops);
    }
    free(samples);
    uv_loop_close(&loop);
    return 0;
}
