/*
 * bench_lttng.c - ns per LTTng-UST event, the reference libah's tracing cost is compared with.
 *
 *   bench_lttng [--reps R] [--iters N] [--raw] [--expect enabled|disabled] CASE...
 *
 * CASE is one of:
 *   loop    the loop below with the same argument values and no tracepoint (the reference)
 *   event   one lttng_ust_tracepoint(ahbench_lttng, event, ...) per iteration: one record of a
 *           libah event (kind, id, trigger id, type), values derived from the loop counter
 *
 * The event case is reported as case=session when a recording session had the tracepoint
 * enabled during the whole repetition and as case=nosession when none had; the state is read
 * before and after every repetition, and a repetition during which it changed is an error.
 * With --expect the program first waits (up to 10 s) for the tracepoint to be enabled or
 * disabled, and fails if it is not: bench/lttng/run.sh starts the session before it starts
 * this program, and LTTng-UST enables the tracepoint while the program registers.
 *
 * Each case runs one warm-up repetition, then R timed repetitions of N iterations, the cases
 * taking turns; the median of the R figures is reported, with the minimum and maximum.
 *
 * Output: a table on stderr and one machine-readable line per case on stdout:
 *   bench name=lttng case=session median_ns=... min_ns=... max_ns=... reps=11 iters=1000000
 * or with --raw only the figure of every repetition, for bench/lttng/run.sh to merge:
 *   rep name=lttng case=session ns=12.345
 * The last line is "events N": how many tracepoint calls were made while it was enabled,
 * warm-up included (what the trace must hold).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* This translation unit defines the tracepoints; ah_tp.c holds the probe. */
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "ah_tp.h"

static int bench_type; /* set at run time so that it is not a constant either */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int tp_enabled(void)
{
    return lttng_ust_tracepoint_enabled(ahbench_lttng, event) ? 1 : 0;
}

/*
 * The values of one libah event from the loop counter: the four kinds of a lifecycle in turn
 * (0 init, 1 before, 2 after, 3 destroy) on a new resource id every lifecycle, with a trigger
 * id on init only.
 */
#define EVENT_VALUES(i)                                                                            \
    uint8_t kind = (uint8_t)((i)&3);                                                               \
    uint64_t id = ((uint64_t)(i) >> 2) + 1;                                                        \
    uint64_t arg = kind == 0 ? id - 1 : 0

static double run_loop(long iters)
{
    int32_t type = bench_type;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        EVENT_VALUES(i);
        __asm__ volatile("" ::"r"(kind), "r"(id), "r"(arg), "r"(type) : "memory");
    }
    return now_ns() - t0;
}

static double run_event(long iters)
{
    int32_t type = bench_type;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        EVENT_VALUES(i);
        lttng_ust_tracepoint(ahbench_lttng, event, kind, id, arg, type);
    }
    return now_ns() - t0;
}

static const struct bench_case {
    const char *name;
    double (*run)(long iters);
    int traces; /* calls the tracepoint */
    const char *what;
} cases[] = {
    {"loop", run_loop, 0, "the loop with the event's values, no tracepoint"},
    {"event", run_event, 1, "one LTTng-UST tracepoint per iteration"},
};

static const char *case_name(const struct bench_case *c, int enabled)
{
    if (!c->traces)
        return c->name;
    return enabled ? "session" : "nosession";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double run_case(const struct bench_case *c, long iters, int *enabled,
                       unsigned long long *events)
{
    int before = tp_enabled();
    double t = c->run(iters);
    int after = tp_enabled();
    if (c->traces && before != after) {
        fprintf(stderr, "bench_lttng: the tracepoint was %s during a repetition\n",
                before ? "disabled" : "enabled");
        exit(1);
    }
    if (c->traces && after)
        *events += (unsigned long long)iters;
    *enabled = after;
    return t;
}

int main(int argc, char **argv)
{
    int reps = 11, raw = 0, expect = -1;
    long iters = 1000000;
    int first_case = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = 1;
        } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            i++;
            expect = strcmp(argv[i], "enabled") == 0    ? 1
                     : strcmp(argv[i], "disabled") == 0 ? 0
                                                        : -2;
        } else {
            first_case = i;
            break;
        }
    }
    if (reps < 1 || iters < 1 || expect == -2 || first_case == argc) {
        fprintf(stderr, "usage: bench_lttng [--reps R] [--iters N] [--raw] "
                        "[--expect enabled|disabled] CASE...\n");
        return 2;
    }

    /* One CPU for the whole run: migrations would show up as noise in the figures. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);

    bench_type = (int)(getpid() & 0xff) + 1;
    for (int w = 0; expect >= 0 && tp_enabled() != expect; w++) {
        if (w == 1000) {
            fprintf(stderr, "bench_lttng: ahbench_lttng:event still %s after 10 s\n",
                    expect ? "disabled" : "enabled");
            return 1;
        }
        usleep(10000);
    }

    int n = argc - first_case;
    const struct bench_case **run = calloc((size_t)n, sizeof(*run));
    double *ns = calloc((size_t)n * (size_t)reps, sizeof(*ns));
    int *state = calloc((size_t)n, sizeof(*state));
    if (run == NULL || ns == NULL || state == NULL) {
        fprintf(stderr, "bench_lttng: out of memory\n");
        return 1;
    }
    unsigned long long events = 0;
    for (int a = 0; a < n; a++) {
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            if (strcmp(argv[first_case + a], cases[k].name) == 0)
                run[a] = &cases[k];
        }
        if (run[a] == NULL) {
            fprintf(stderr, "bench_lttng: unknown case %s\n", argv[first_case + a]);
            return 2;
        }
        run_case(run[a], iters, &state[a], &events); /* warm-up: caches, ring buffer pages */
    }
    /* Round-robin: the speed of the machine drifts over seconds, so the cases take turns. */
    for (int r = 0; r < reps; r++) {
        for (int a = 0; a < n; a++) {
            int was = state[a];
            ns[a * reps + r] = run_case(run[a], iters, &state[a], &events) / (double)iters;
            if (run[a]->traces && state[a] != was) {
                fprintf(stderr, "bench_lttng: the tracepoint was %s between repetitions\n",
                        was ? "disabled" : "enabled");
                return 1;
            }
        }
    }
    for (int a = 0; a < n && raw; a++) {
        for (int r = 0; r < reps; r++)
            printf("rep name=lttng case=%s ns=%.3f\n", case_name(run[a], state[a]),
                   ns[a * reps + r]);
    }
    for (int a = 0; a < n && !raw; a++) {
        const struct bench_case *c = run[a];
        double *v = ns + a * reps;
        qsort(v, (size_t)reps, sizeof(*v), cmp_double);
        double median = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
        fprintf(stderr, "  %-10s %9.2f ns  (min %.2f, max %.2f)  %s\n", case_name(c, state[a]),
                median, v[0], v[reps - 1], c->what);
        printf("bench name=lttng case=%s median_ns=%.2f min_ns=%.2f max_ns=%.2f reps=%d "
               "iters=%ld\n",
               case_name(c, state[a]), median, v[0], v[reps - 1], reps, iters);
    }
    printf("events %llu\n", events);
    fflush(stdout);
    free(run);
    free(ns);
    free(state);
    return 0;
}
