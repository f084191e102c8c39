/*
 * cpushare.c - a thread whose CPU is split between callbacks and the rest in a known ratio,
 * whatever else the machine runs: `cpushare N IN_MS OUT_MS` prints "ready", waits for a line,
 * prints "started", then N times runs one SHARE callback that uses IN_MS ms of the thread's
 * CPU time and uses OUT_MS ms outside any callback (CLOCK_THREAD_CPUTIME_ID: time the thread
 * waits for a CPU counts in neither); prints "done", then "in_wall_ns W" (the wall time spent
 * inside the callbacks, at least their CPU time) and exits. SHARE's part of the thread's
 * CPU is IN_MS / (IN_MS + OUT_MS). For tests/collector/test_prometheus_kernel.c.
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
    if (type < 0)
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
        use_cpu(in_ns);
        in_wall += wall_ns() - t0;
        if (ah_after(&r) < 0 || ah_destroy(&r) < 0)
            return 1;
        use_cpu(out_ns);
    }
    printf("done\nin_wall_ns %llu\n", (unsigned long long)in_wall);
    fflush(stdout);
    return 0;
}
