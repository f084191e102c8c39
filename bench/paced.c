/*
 * paced.c - raise libah events at a fixed rate: the load for "no event lost at 5 M events/s
 * sustained for 10 s" (docs/BENCHMARKS.md).
 *
 *   paced RATE SECONDS   full lifecycles (init, before, after, destroy: 4 events each) paced
 *                        to RATE events per second for SECONDS, on one thread; prints the
 *                        events raised, the rate achieved and the ns per event spent raising
 *                        them (the cost of libah and of tracing at that rate).
 *
 * It waits for the ah:batch semaphore first when --traced-batch is given, so that every
 * event is traced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

extern volatile unsigned short ah_batch_semaphore;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int arg = 1;
    int traced = argc > 1 && strcmp(argv[1], "--traced-batch") == 0;
    arg += traced;
    if (argc - arg != 2) {
        fprintf(stderr, "usage: paced [--traced-batch] RATE SECONDS\n");
        return 2;
    }
    char *end;
    double rate = strtod(argv[arg], &end);
    if (*end != '\0' || rate <= 0) {
        fprintf(stderr, "paced: invalid rate '%s'\n", argv[arg]);
        return 2;
    }
    double seconds = strtod(argv[arg + 1], &end);
    if (*end != '\0' || seconds <= 0) {
        fprintf(stderr, "paced: invalid duration '%s'\n", argv[arg + 1]);
        return 2;
    }
    int type = ah_type("PACED");
    if (type < 0)
        return 1;
    if (traced) {
        printf("ready %d\n", (int)getpid());
        fflush(stdout);
        while (!ah_batch_semaphore)
            usleep(1000);
    }
    double start = now_s(), t = start, work = 0;
    unsigned long long events = 0;
    ah_resource_t r;
    memset(&r, 0, sizeof(r));
    while (t - start < seconds) {
        /* 64 lifecycles between clock reads; wait while ahead of the schedule. */
        double w0 = now_s();
        for (int i = 0; i < 64; i++) {
            if (ah_init(&r, type, 0) < 0 || ah_before(&r) < 0 || ah_after(&r) < 0 ||
                ah_destroy(&r) < 0)
                return 1;
        }
        events += 256;
        work += now_s() - w0;
        do
            t = now_s();
        while ((double)events > (t - start) * rate);
    }
    double took = now_s() - start;
    /* WORK: the time spent raising events (the pacing spin excluded), per event. */
    printf("events %llu seconds %.3f rate %.0f work_ns_per_event %.2f\n", events, took,
           (double)events / took, work * 1e9 / (double)events);
    return 0;
}
