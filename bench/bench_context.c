/*
 * bench_context.c - the cost of context storage: ns per ah_store_get(), ah_store_run(),
 * ah_store_enter_with(), snapshot take/run, and per resource lifecycle
 * (init/before/after/destroy) with 0, 1 and 8 stores set in the current context.
 *
 * Each figure is the median of REPS runs of ITERS operations, on one thread.
 *   build/bench/bench_context [iters]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ah.h"

#define REPS 15
#define NSTORES 8

static ah_store_t *stores[NSTORES];
static int type;
static long iters = 1000000;
static volatile uintptr_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ns per operation of BODY(ARG), which performs ITERS operations. */
static double measure(void (*body)(void *), void *arg)
{
    double t[REPS];
    body(arg); /* warm up */
    for (int i = 0; i < REPS; i++) {
        double t0 = now_ns();
        body(arg);
        t[i] = (now_ns() - t0) / (double)iters;
    }
    qsort(t, REPS, sizeof(t[0]), cmp_double);
    return t[REPS / 2];
}

static void b_get(void *arg)
{
    ah_store_t *s = arg;
    uintptr_t acc = 0;
    for (long i = 0; i < iters; i++)
        acc += (uintptr_t)ah_store_get(s);
    sink = acc;
}

static void *noop(void *arg)
{
    return arg;
}

static void b_run(void *arg)
{
    ah_store_t *s = arg;
    for (long i = 0; i < iters; i++)
        sink = (uintptr_t)ah_store_run(s, (void *)(uintptr_t)(i | 1), noop, NULL);
}

static void b_enter_with(void *arg)
{
    ah_store_t *s = arg;
    for (long i = 0; i < iters; i++)
        ah_store_enter_with(s, (void *)(uintptr_t)(i | 1));
}

static void b_snapshot_take(void *arg)
{
    (void)arg;
    ah_snapshot_t snap;
    for (long i = 0; i < iters; i++) {
        ah_snapshot_take(&snap);
        ah_snapshot_release(&snap);
    }
}

static void b_snapshot_run(void *arg)
{
    ah_snapshot_t *snap = arg;
    for (long i = 0; i < iters; i++)
        sink = (uintptr_t)ah_snapshot_run(snap, noop, NULL);
}

static void b_lifecycle(void *arg)
{
    (void)arg;
    ah_resource_t r = {0};
    for (long i = 0; i < iters; i++) {
        ah_init(&r, type, 0);
        ah_before(&r);
        sink = (uintptr_t)ah_store_get(stores[0]);
        ah_after(&r);
        ah_destroy(&r);
    }
}

static void b_init_destroy(void *arg)
{
    (void)arg;
    ah_resource_t r = {0};
    for (long i = 0; i < iters; i++) {
        ah_init(&r, type, 0);
        ah_destroy(&r);
    }
}

static void b_before_after(void *arg)
{
    ah_resource_t *r = arg;
    for (long i = 0; i < iters; i++) {
        ah_before(r);
        ah_after(r);
    }
}

/* Make the current context hold N stores (0: the empty context). */
static void set_stores(int n)
{
    for (int i = 0; i < NSTORES; i++)
        ah_store_disable(stores[i]);
    for (int i = 0; i < n; i++)
        ah_store_enter_with(stores[i], (void *)(uintptr_t)(i + 1));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iters = atol(argv[1]);
    type = ah_type("BENCH");
    for (int i = 0; i < NSTORES; i++)
        stores[i] = ah_store_new(NULL);
    ah_resource_t warm = {0};
    ah_init(&warm, type, 0); /* the thread's state exists before any measurement */
    ah_destroy(&warm);

    int counts[] = {0, 1, NSTORES};
    printf("context storage, ns per operation (median of %d x %ld)\n", REPS, iters);
    printf("%-44s %8s %8s %8s\n", "operation", "0 set", "1 set", "8 set");
    double res[9][3];
    for (int c = 0; c < 3; c++) {
        set_stores(counts[c]);
        ah_store_t *probe = stores[counts[c] ? counts[c] - 1 : 0];
        ah_resource_t r = {0};
        ah_init(&r, type, 0);
        ah_snapshot_t snap;
        ah_snapshot_take(&snap);
        res[0][c] = measure(b_get, probe);
        res[1][c] = measure(b_run, probe);
        res[2][c] = measure(b_snapshot_take, NULL);
        res[3][c] = measure(b_snapshot_run, &snap);
        res[4][c] = measure(b_lifecycle, NULL);
        res[5][c] = measure(b_init_destroy, NULL);
        res[6][c] = measure(b_before_after, &r);
        ah_snapshot_release(&snap);
        ah_destroy(&r);
        /* Last: it changes the current context. */
        res[7][c] = measure(b_enter_with, probe);
    }
    const char *names[] = {
        "ah_store_get",
        "ah_store_run (new value, noop callback)",
        "ah_snapshot_take + ah_snapshot_release",
        "ah_snapshot_run (noop callback)",
        "lifecycle: init+before+get+after+destroy",
        "init+destroy",
        "before+after",
        "ah_store_enter_with (new value)",
    };
    for (int i = 0; i < 8; i++)
        printf("%-44s %8.1f %8.1f %8.1f\n", names[i], res[i][0], res[i][1], res[i][2]);
    for (int i = 0; i < NSTORES; i++)
        ah_store_free(stores[i]);
    return 0;
}
