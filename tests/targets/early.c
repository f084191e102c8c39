/*
 * early.c - destroys that reach ahprof before their resource's init, in a slot of top's live
 * table that another live resource holds (tests/collector/test_top_early_destroy.c).
 *
 * Thread B holds one HOLD in every slot of a live table of SLOTS slots (top --max-live SLOTS:
 * a slot is id & (SLOTS - 1)). Each round, thread A creates a LATE, X, and spins (no switch-out,
 * no flush, nothing else in its buffer: X's init stays there); B destroys X (the resource is
 * this process's memory), then the HOLD in X's slot, and sleeps: its switch-out hands its
 * batch over, destroys first. Only then does A stop spinning and sleep, handing X's init over
 * after them. So the collector decodes X's destroy while X's slot is another live id's (no
 * room for a destroy mark), then the slot freed, then X's init: unless the decoder remembered
 * the destroy elsewhere, X takes the slot and stays alive for ever. A and B are pinned to two
 * CPUs when the process may use two.
 *
 *   early SLOTS ROUNDS   SLOTS a power of two (1024..4096), 1 <= ROUNDS < SLOTS. Before the
 *                        rounds, the main thread runs one LATE callback (LATE is then a type
 *                        that runs: top judges its never-ran) and flushes. Prints "ready" once
 *                        the HOLDs are held, runs the rounds, then prints
 *                        "done ROUNDS stayed N": in N rounds A provably was not switched out
 *                        from X's init until B's batch was handed over (its context switches
 *                        did not move: getrusage of the thread, over a window that starts
 *                        before the init and ends after B's sleep), so X's destroy reached
 *                        ahprof first; a lower bound (a switch after B's hand-over, still in
 *                        the window, is harmless but not counted). Then waits for a line or
 *                        EOF on stdin, destroys the HOLDs left (SLOTS - ROUNDS) and exits 0.
 *                        LATE: ROUNDS + 1 created and destroyed, 1 callback; HOLD: SLOTS
 *                        created and destroyed, no callback.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

/* Bounds of every wait: a round takes well under a millisecond when the machine is idle. */
#define WAIT_LIMIT_NS (10ull * 1000000000ull)

static int t_late, t_hold;
static long slots, rounds;
static ah_resource_t *holds; /* [slots], by slot */
static ah_resource_t *lates; /* [rounds + 1], X of round k at k */
static atomic_long created, b_done, stayed;
static atomic_bool holds_ready;

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "early: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Long enough that the thread blocks: a switch-out, whose drain hands its records over. */
static void block_100us(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static long switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return -1;
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* Until *FLAG reaches K, busy (no switch-out of ours, as far as the scheduler lets us), or
 * exit(1) after WAIT_LIMIT_NS. */
static void spin_until(atomic_long *flag, long k, const char *what)
{
    uint64_t end = now_ns() + WAIT_LIMIT_NS;
    for (unsigned i = 0; atomic_load_explicit(flag, memory_order_acquire) < k; i++) {
        if ((i & 1023) == 0 && now_ns() > end) {
            fprintf(stderr, "early: round %ld: no %s\n", k, what);
            exit(1);
        }
    }
}

/* The calling thread on the Nth CPU the process may use, when it may use two or more: A and B
 * on CPUs of their own. Left to the scheduler on a busy machine, B was woken on A's CPU in
 * every round of some runs (0 of 400 destroys first): it could run only once A was switched
 * out, which handed X's init over. */
static void pin_to_cpu(int nth)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return;
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || seen++ < nth)
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof(one), &one);
        return;
    }
}

static void *thread_a(void *arg)
{
    (void)arg;
    pin_to_cpu(0);
    for (long k = 1; k <= rounds; k++) {
        long before = switches();
        check(ah_init(&lates[k], t_late, 0), "init LATE");
        atomic_store_explicit(&created, k, memory_order_release);
        spin_until(&b_done, k, "destroy from B");
        if (before >= 0 && switches() == before)
            atomic_fetch_add(&stayed, 1);
        block_100us(); /* X's init is handed over now, after B's destroys */
    }
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    pin_to_cpu(1);
    for (long i = 0; i < slots; i++) {
        ah_resource_t r = {0};
        check(ah_init(&r, t_hold, 0), "init HOLD");
        ah_resource_t *slot = &holds[ah_resource_id(&r) & (ah_id_t)(slots - 1)];
        if (slot->id != 0) {
            fprintf(stderr, "early: HOLD ids do not cover every slot\n");
            exit(1);
        }
        *slot = r;
    }
    /* The HOLDs' inits reach ahprof before any round's destroy. */
    check(ah_flush(), "flush");
    atomic_store(&holds_ready, true);
    for (long k = 1; k <= rounds; k++) {
        /* Reacts within microseconds while it spins; sleeps when A takes longer (A sleeps
         * between rounds), so as not to hold a CPU A needs on a busy machine. */
        uint64_t spin_end = now_ns() + 200000, end = now_ns() + WAIT_LIMIT_NS;
        while (atomic_load_explicit(&created, memory_order_acquire) < k) {
            uint64_t t = now_ns();
            if (t > end) {
                fprintf(stderr, "early: round %ld: no LATE from A\n", k);
                exit(1);
            }
            if (t > spin_end)
                block_100us();
        }
        ah_resource_t *x = &lates[k];
        ah_resource_t *hold = &holds[ah_resource_id(x) & (ah_id_t)(slots - 1)];
        check(ah_destroy(x), "destroy LATE");
        check(ah_destroy(hold), "destroy HOLD");
        *hold = (ah_resource_t){0};
        block_100us(); /* B's batch, the destroys, is handed over */
        atomic_store_explicit(&b_done, k, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    slots = argc == 3 ? strtol(argv[1], NULL, 10) : 0;
    rounds = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (argc != 3 || slots < 1024 || slots > 4096 || (slots & (slots - 1)) != 0 || rounds < 1 ||
        rounds >= slots) {
        fprintf(stderr, "usage: early SLOTS ROUNDS (SLOTS a power of two, 1024..4096; "
                        "1 <= ROUNDS < SLOTS)\n");
        return 2;
    }
    /* A test that dies leaves no target behind. */
    alarm(60);
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_late = ah_type("LATE");
    t_hold = ah_type("HOLD");
    check(t_late, "type LATE");
    check(t_hold, "type HOLD");
    holds = calloc((size_t)slots, sizeof(*holds));
    lates = calloc((size_t)rounds + 1, sizeof(*lates));
    if (holds == NULL || lates == NULL)
        return 1;

    /* Its slot is free again before B's HOLDs come (the flush). */
    ah_resource_t ran = {0};
    check(ah_init(&ran, t_late, 0), "init LATE");
    check(ah_before(&ran), "before");
    check(ah_after(&ran), "after");
    check(ah_destroy(&ran), "destroy LATE");
    check(ah_flush(), "flush");

    pthread_t a, b;
    if (pthread_create(&b, NULL, thread_b, NULL) != 0)
        return 1;
    uint64_t end = now_ns() + WAIT_LIMIT_NS;
    while (!atomic_load(&holds_ready)) {
        if (now_ns() > end) {
            fprintf(stderr, "early: B never held its HOLDs\n");
            return 1;
        }
        block_100us();
    }
    puts("ready");
    /* A's ids are one block, consecutive: the rounds' X are in distinct slots (ROUNDS <
     * SLOTS), each held by a HOLD until its round. */
    if (pthread_create(&a, NULL, thread_a, NULL) != 0)
        return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("done %ld stayed %ld\n", rounds, atomic_load(&stayed));

    int c;
    while ((c = getchar()) != EOF && c != '\n')
        ;
    for (long i = 0; i < slots; i++)
        if (holds[i].id != 0)
            check(ah_destroy(&holds[i]), "destroy HOLD");
    check(ah_flush(), "flush");
    return 0;
}
