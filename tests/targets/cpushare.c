/*
 * cpushare.c - a thread whose CPU is split between callbacks and the rest in a known ratio,
 * whatever else the machine runs: `cpushare N IN_MS OUT_MS` prints "ready", waits for a line,
 * prints "started", then N times runs one SHARE callback that uses IN_MS ms of the thread's
 * CPU time on average and uses OUT_MS ms on average outside any callback
 * (CLOCK_THREAD_CPUTIME_ID: time the thread waits for a CPU counts in neither); prints "done",
 * then "in_wall_ns W" (the wall time spent inside the callbacks, at least their CPU time) and
 * exits. SHARE's part of the thread's CPU is IN_MS / (IN_MS + OUT_MS), N x IN_MS in all.
 * For tests/collector/test_prometheus_kernel.c.
 *
 * Each callback and each gap takes from half to one and a half times its average, in a
 * shuffled order (the same each run), the totals exact: a fixed 10 ms cycle against 99 Hz
 * samples put every sample at nearly the same point of the cycle, and runs counted SHARE at
 * 0.32 of the thread where it is 0.4.
 */
#define _GNU_SOURCE
#include <ah.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void use_cpu(uint64_t ns)
{
    uint64_t end = thread_cpu_ns() + ns;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; i++)
            sink += (uint64_t)i * 2654435761u;
}

/* N durations from AVG/2 to 3*AVG/2 in even steps (N x AVG in all, to a few ns), shuffled by
 * a fixed SEED. */
static uint64_t *spread(long n, uint64_t avg, uint64_t seed)
{
    uint64_t *d = calloc((size_t)n, sizeof(*d));
    if (!d)
        return NULL;
    for (long k = 0; k < n; k++)
        d[k] = n > 1 ? avg / 2 + avg * (uint64_t)k / (uint64_t)(n - 1) : avg;
    for (long k = n - 1; k > 0; k--) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        long j = (long)(seed % (uint64_t)(k + 1));
        uint64_t t = d[k];
        d[k] = d[j];
        d[j] = t;
    }
    return d;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cpushare N IN_MS OUT_MS\n");
        return 2;
    }
    long n = atol(argv[1]);
    uint64_t in_ns = (uint64_t)atol(argv[2]) * 1000000ull;
    uint64_t out_ns = (uint64_t)atol(argv[3]) * 1000000ull;
    int type = ah_type("SHARE");
    uint64_t *in = n > 0 ? spread(n, in_ns, 0x9e3779b97f4a7c15ull) : NULL;
    uint64_t *out = n > 0 ? spread(n, out_ns, 0xd1b54a32d192ed03ull) : NULL;
    if (type < 0 || n <= 0 || !in || !out)
        return 1;
    /* The thread's libah state (and so what the kernel view reads) exists from its first
     * event: one before "ready", so that it is tagged from the attach. */
    ah_resource_t warm = {0};
    if (ah_init(&warm, ah_type("WARM"), 0) < 0 || ah_destroy(&warm) < 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return 1;
    printf("started\n");
    fflush(stdout);
    uint64_t in_wall = 0;
    for (long i = 0; i < n; i++) {
        ah_resource_t r = {0};
        if (ah_init(&r, type, 0) < 0 || ah_before(&r) < 0)
            return 1;
        uint64_t t0 = wall_ns();
        use_cpu(in[i]);
        in_wall += wall_ns() - t0;
        if (ah_after(&r) < 0 || ah_destroy(&r) < 0)
            return 1;
        use_cpu(out[i]);
    }
    printf("done\nin_wall_ns %llu\n", (unsigned long long)in_wall);
    fflush(stdout);
    return 0;
}
