/*
 * pending.c - a process that queues work and never runs it, for tests/collector/
 * test_stuck_resources.c (`ahprof stuck`'s resources). It prints "NAME VALUE" lines with what
 * the test must find, then "ready", and from then on, every PERIOD_MS ms:
 *   - a TICK resource is created at top level (trigger: the root), its callback creates a
 *     PENDING resource (trigger: that TICK) that is never run nor destroyed, and the TICK is
 *     destroyed;
 *   - every RUNNER_EVERY-th tick, the callback of the one RUNNER resource (created before
 *     "ready") runs once.
 * Before "ready" it creates OLD_PENDING PENDING resources that stay quiet: created before any
 * attach, never run. It sleeps between ticks (the batches are handed over when it is switched
 * out), stops creating after MAX_PENDING and exits after 60 s or with its parent.
 */
#define _GNU_SOURCE
#include <ah.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_MS 20
#define RUNNER_EVERY 3
#define OLD_PENDING 5
#define MAX_PENDING 3000

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "pending: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

int main(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    int t_pending = ah_type("PENDING"), t_tick = ah_type("TICK"), t_runner = ah_type("RUNNER");
    check(t_pending, "PENDING");
    check(t_tick, "TICK");
    check(t_runner, "RUNNER");
    static ah_resource_t old[OLD_PENDING], pending[MAX_PENDING], runner;
    for (int i = 0; i < OLD_PENDING; i++)
        check(ah_init(&old[i], t_pending, 0), "init old PENDING");
    check(ah_init(&runner, t_runner, 0), "init RUNNER");
    check(ah_before(&runner), "before RUNNER");
    check(ah_after(&runner), "after RUNNER");
    printf("old_first %llu\nold_last %llu\nrunner_id %llu\nperiod_ms %d\nrunner_every %d\n",
           (unsigned long long)ah_resource_id(&old[0]),
           (unsigned long long)ah_resource_id(&old[OLD_PENDING - 1]),
           (unsigned long long)ah_resource_id(&runner), PERIOD_MS, RUNNER_EVERY);
    printf("ready\n");
    fflush(stdout);
    const struct timespec period = {0, PERIOD_MS * 1000000L};
    for (int i = 0; i < 60 * 1000 / PERIOD_MS; i++) {
        if (i < MAX_PENDING) {
            ah_resource_t tick = {0};
            check(ah_init(&tick, t_tick, 0), "init TICK");
            check(ah_before(&tick), "before TICK");
            check(ah_init(&pending[i], t_pending, 0), "init PENDING");
            check(ah_after(&tick), "after TICK");
            check(ah_destroy(&tick), "destroy TICK");
        }
        if (i % RUNNER_EVERY == 0) {
            check(ah_before(&runner), "before RUNNER");
            check(ah_after(&runner), "after RUNNER");
        }
        nanosleep(&period, NULL);
    }
    return 0;
}
