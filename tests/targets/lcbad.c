/*
 * lcbad.c - lifecycle anomalies for tests/collector/test_live_lifecycle.c, linked with libah.a
 * (the program is then the probed binary: it can raise an ah probe of its own).
 *
 *   lcbad anomalies N   N "TWICE" resources run once and destroyed twice, the second time
 *                       through a copy of the ah_resource_t taken while alive (a real C bug:
 *                       libah sees a live copy and raises the destroy again); N "AFTERLESS"
 *                       resources given an ah:after probe with no before (raised by this
 *                       program itself, as a hand-rolled libah would; seen on the per-event
 *                       path only), then destroyed. Each type: N anomalies, N created.
 *   lcbad busy MS       "ready", then for MS ms two threads with callbacks always in flight:
 *                       an "OUTER" callback of ~5 ms holding bursts of 50 nested "INNER"
 *                       lifecycles 200 us apart, and "TASK"s created on one thread, run
 *                       and destroyed on the other. No anomaly: an attach lands inside
 *                       callbacks.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "lcbad: %s failed: %d\n", what, rc);
        exit(2);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mode_anomalies(long n)
{
    int t_twice = ah_type("TWICE"), t_afterless = ah_type("AFTERLESS");
    for (long i = 0; i < n; i++) {
        ah_resource_t r = {0};
        check(ah_init(&r, t_twice, 0), "init TWICE");
        ah_resource_t copy = r;
        check(ah_before(&r), "before TWICE");
        check(ah_after(&r), "after TWICE");
        check(ah_destroy(&r), "destroy TWICE");
        check(ah_destroy(&copy), "destroy TWICE's copy");

        ah_resource_t a = {0};
        check(ah_init(&a, t_afterless, 0), "init AFTERLESS");
        DTRACE_PROBE2(ah, after, a.id, a.type);
        check(ah_destroy(&a), "destroy AFTERLESS");
    }
    ah_flush();
    return 0;
}

#define TASKS 64

static struct {
    ah_resource_t task[TASKS];
    atomic_uint head, tail; /* created by the producer at head, run by the consumer at tail */
    atomic_int stop;
    int t_task;
} q;

static void *consumer(void *arg)
{
    (void)arg;
    for (;;) {
        unsigned tail = atomic_load(&q.tail);
        if (tail == atomic_load(&q.head)) {
            if (atomic_load(&q.stop))
                break;
            sched_yield();
            continue;
        }
        ah_resource_t *r = &q.task[tail % TASKS];
        check(ah_before(r), "before TASK");
        for (volatile int k = 0; k < 2000; k++)
            ;
        check(ah_after(r), "after TASK");
        check(ah_destroy(r), "destroy TASK");
        atomic_store(&q.tail, tail + 1);
    }
    ah_flush();
    return NULL;
}

static int mode_busy(long ms)
{
    int t_outer = ah_type("OUTER"), t_inner = ah_type("INNER");
    q.t_task = ah_type("TASK");
    pthread_t th;
    if (pthread_create(&th, NULL, consumer, NULL) != 0)
        return 2;
    printf("ready\n");
    fflush(stdout);
    uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
    while (now_ns() < end) {
        ah_resource_t outer = {0};
        check(ah_init(&outer, t_outer, 0), "init OUTER");
        check(ah_before(&outer), "before OUTER");
        uint64_t until = now_ns() + 5000000ull;
        while (now_ns() < until) {
            for (int k = 0; k < 50; k++) {
                ah_resource_t in = {0};
                check(ah_init(&in, t_inner, 0), "init INNER");
                check(ah_before(&in), "before INNER");
                check(ah_after(&in), "after INNER");
                check(ah_destroy(&in), "destroy INNER");
            }
            /* ~1 M events/s: the attach's calibration streams every init and destroy, and a
             * lost one would leave lifecycle unjudged (the test would prove nothing). */
            struct timespec pause = {0, 200000};
            nanosleep(&pause, NULL);
            unsigned head = atomic_load(&q.head);
            if (head - atomic_load(&q.tail) < TASKS) {
                ah_resource_t *r = &q.task[head % TASKS];
                memset(r, 0, sizeof(*r));
                check(ah_init(r, q.t_task, 0), "init TASK");
                atomic_store(&q.head, head + 1);
            }
        }
        check(ah_after(&outer), "after OUTER");
        check(ah_destroy(&outer), "destroy OUTER");
    }
    atomic_store(&q.stop, 1);
    pthread_join(th, NULL);
    ah_flush();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "anomalies") == 0)
        return mode_anomalies(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "busy") == 0)
        return mode_busy(atol(argv[2]));
    fprintf(stderr, "usage: lcbad anomalies N | lcbad busy MS\n");
    return 2;
}
