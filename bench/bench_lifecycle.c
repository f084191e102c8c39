/*
 * bench_lifecycle.c - ns per full async-resource lifecycle (ah_init + ah_before + ah_after +
 * ah_destroy of one reused resource, in a tight loop), and the references that explain it.
 *
 *   bench_lifecycle [--reps R] [--iters N] [--raw] [--traced] CASE...
 *
 * CASE is one of:
 *   loop          the empty loop (what every figure below includes)
 *   call4         four calls to an empty function in another object (the ABI floor)
 *   execution_id  ah_execution_id() inside a callback scope
 *   probe         one USDT probe ahbench:hit built like libah's (5-byte nop, semaphore), the
 *                 reference for what tracing one event costs on this machine
 *   lifecycle     the full lifecycle, untraced, no hook
 *   hook          the full lifecycle with one in-process hook (empty callbacks) enabled
 *
 * Each case runs one warm-up repetition, then R timed repetitions of N iterations, the cases
 * taking turns; the median of the R figures is reported, with the minimum and maximum. With
 * --traced (only in the statically linked build, which can see libah's semaphores) the program
 * prints "ready PID" and waits until a tracer has raised the semaphores of the four lifecycle
 * probes and of ahbench:hit before it times anything, so that every timed event is traced.
 * --traced-batch waits for the ah:batch semaphore instead (ahprof top/record on the batch path),
 * --traced-events for the four lifecycle probes only (ahprof --per-event).
 *
 * Output: a table on stderr and one machine-readable line per case on stdout:
 *   bench name=lifecycle linkage=static traced=0 median_ns=9.51 min_ns=9.43 max_ns=9.87
 *   reps=51 iters=1000000
 * or with --raw only the figure of every repetition, for bench/run-lifecycle.sh to merge:
 *   rep name=lifecycle linkage=static traced=0 ns=9.512
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

/* A bare probe like libah's (5-byte nop, semaphore): the reference for the traced figures. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#undef _SDT_NOP
#ifndef AH_PROBE_TRAP
#define _SDT_NOP .nops 5
#else /* as libah's probes in the trap build (src/lib/probes.h) */
// clang-format off
#define _SDT_NOP nop; .nops 4
// clang-format on
#endif
__attribute__((section(".probes"))) volatile unsigned short ahbench_hit_semaphore;

#ifdef BENCH_STATIC
#define LINKAGE "static"
/* Hidden in libah but visible to an executable linked with libah.a: the kernel raises them
 * while a tracer is attached (src/lib/probes.h). */
extern volatile unsigned short ah_init_semaphore, ah_before_semaphore, ah_after_semaphore,
    ah_destroy_semaphore, ah_batch_semaphore;
#else
#define LINKAGE "shared"
#endif

void bench_empty(void); /* bench/bench_empty.c, so that the compiler cannot inline it */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_lifecycle: %s: %s\n", what, rc < 0 ? ah_strerror(rc) : "failed");
    exit(1);
}

static int bench_type;

static double run_loop(long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        __asm__ volatile("" ::: "memory");
    return now_ns() - t0;
}

static double run_call4(long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        bench_empty();
        bench_empty();
        bench_empty();
        bench_empty();
    }
    return now_ns() - t0;
}

static double run_execution_id(long iters)
{
    ah_resource_t r = {0};
    int rc = ah_init(&r, bench_type, 0);
    rc |= ah_before(&r);
    ah_id_t sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        sum += ah_execution_id();
        __asm__ volatile("" : "+r"(sum));
    }
    double t = now_ns() - t0;
    rc |= ah_after(&r);
    rc |= ah_destroy(&r);
    if (rc != 0 || sum != (ah_id_t)iters * r.id)
        die("execution_id", rc);
    return t;
}

static double run_lifecycle(long iters)
{
    ah_resource_t r = {0};
    int type = bench_type, rc = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        rc |= ah_init(&r, type, 0);
        rc |= ah_before(&r);
        rc |= ah_after(&r);
        rc |= ah_destroy(&r);
    }
    double t = now_ns() - t0;
    if (rc != 0)
        die("lifecycle", rc);
    return t;
}

static double run_probe(long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        if (__builtin_expect(ahbench_hit_semaphore != 0, 0))
            DTRACE_PROBE1(ahbench, hit, i);
    }
    return now_ns() - t0;
}

static void on_init(ah_id_t id, int type, ah_id_t trigger_id, ah_resource_t *r, void *data)
{
    (void)id, (void)type, (void)trigger_id, (void)r, (void)data;
}

static void on_event(ah_id_t id, void *data)
{
    (void)id, (void)data;
}

static double run_hook(long iters)
{
    static const ah_hook_callbacks_t cb = {.init = on_init,
                                           .before = on_event,
                                           .after = on_event,
                                           .destroy = on_event,
                                           .resolve = on_event};
    ah_hook_t *h = ah_hook_new(&cb, NULL);
    if (h == NULL)
        die("ah_hook_new", 0);
    int rc = ah_hook_enable(h);
    if (rc < 0)
        die("ah_hook_enable", rc);
    double t = run_lifecycle(iters);
    ah_hook_free(h);
    return t;
}

static const struct bench_case {
    const char *name;
    double (*run)(long iters);
    const char *what;
} cases[] = {
    {"loop", run_loop, "empty loop"},
    {"call4", run_call4, "4 calls to an empty function"},
    {"execution_id", run_execution_id, "ah_execution_id() in a scope"},
    {"probe", run_probe, "one bare USDT probe (5-byte nop, semaphore)"},
    {"lifecycle", run_lifecycle, "init+before+after+destroy"},
    {"hook", run_hook, "lifecycle, 1 hook enabled (empty callbacks)"},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void wait_until_traced(int batch) /* 1: every probe, 2: ah:batch, 3: lifecycle probes */
{
#ifdef BENCH_STATIC
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (batch == 2) {
        while (!ah_batch_semaphore)
            usleep(10000);
        return;
    }
    if (batch == 3) {
        while (!(ah_init_semaphore && ah_before_semaphore && ah_after_semaphore &&
                 ah_destroy_semaphore))
            usleep(10000);
        return;
    }
    while (!(ah_init_semaphore && ah_before_semaphore && ah_after_semaphore &&
             ah_destroy_semaphore && ahbench_hit_semaphore))
        usleep(10000);
#else
    (void)batch;
    fprintf(stderr, "bench_lifecycle: --traced needs the statically linked build\n");
    exit(2);
#endif
}

int main(int argc, char **argv)
{
    int reps = 51, traced = 0, raw = 0;
    long iters = 1000000;
    int first_case = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = 1;
        } else if (strcmp(argv[i], "--traced") == 0) {
            traced = 1;
        } else if (strcmp(argv[i], "--traced-batch") == 0) {
            traced = 2;
        } else if (strcmp(argv[i], "--traced-events") == 0) {
            traced = 3;
        } else {
            first_case = i;
            break;
        }
    }
    if (reps < 1 || iters < 1 || first_case == argc) {
        fprintf(stderr, "usage: bench_lifecycle [--reps R] [--iters N] [--raw] "
                        "[--traced|--traced-batch|--traced-events] "
                        "CASE...\n");
        return 2;
    }

    /* One CPU for the whole run: migrations would show up as noise in the figures. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);

    bench_type = ah_type("BENCH");
    if (bench_type < 0)
        die("ah_type", bench_type);
    if (traced)
        wait_until_traced(traced);

    int n = argc - first_case;
    const struct bench_case **run = calloc((size_t)n, sizeof(*run));
    double *ns = calloc((size_t)n * (size_t)reps, sizeof(*ns));
    if (run == NULL || ns == NULL)
        die("calloc", 0);
    for (int a = 0; a < n; a++) {
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            if (strcmp(argv[first_case + a], cases[k].name) == 0)
                run[a] = &cases[k];
        }
        if (run[a] == NULL) {
            fprintf(stderr, "bench_lifecycle: unknown case %s\n", argv[first_case + a]);
            return 2;
        }
        run[a]->run(iters); /* warm-up: caches, branch predictors, the thread's libah state */
    }
    /* Round-robin: this machine's speed drifts by up to 50% over seconds (other tenants), so
     * the cases take turns and every case sees the same drift. */
    for (int r = 0; r < reps; r++) {
        for (int a = 0; a < n; a++)
            ns[a * reps + r] = run[a]->run(iters) / (double)iters;
    }
    for (int a = 0; a < n && raw; a++) {
        for (int r = 0; r < reps; r++)
            printf("rep name=%s linkage=%s traced=%d ns=%.3f\n", run[a]->name, LINKAGE, traced,
                   ns[a * reps + r]);
    }
    for (int a = 0; a < n && !raw; a++) {
        const struct bench_case *c = run[a];
        double *v = ns + a * reps;
        qsort(v, (size_t)reps, sizeof(*v), cmp_double);
        double median = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
        fprintf(stderr, "  %-14s %-7s %-7s %9.2f ns  (min %.2f, max %.2f)  %s\n", c->name, LINKAGE,
                traced ? "traced" : "-", median, v[0], v[reps - 1], c->what);
        printf("bench name=%s linkage=%s traced=%d median_ns=%.2f min_ns=%.2f max_ns=%.2f "
               "reps=%d iters=%ld\n",
               c->name, LINKAGE, traced, median, v[0], v[reps - 1], reps, iters);
    }
    fflush(stdout);
    free(run);
    free(ns);
    return 0;
}
