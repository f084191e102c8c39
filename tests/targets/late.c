/*
 * late.c - threads that raise events after libah let go of them: a TLS destructor that runs
 * after libah's own (its key is older) creates and destroys resources, so libah builds the
 * thread a new state, with a new batch buffer whose generations start again at 0, and
 * announces it. Whatever the BPF side remembered of the old buffer (its generation, how many
 * records it handed over) says nothing about the new one (tests/collector/test_generations.c).
 *
 *   late THREADS PAIRS   THREADS threads, one after the other: each runs one lifecycle of
 *                        EARLY, then, in the late destructor, PAIRS init+destroy of LATE.
 *                        Prints "done THREADS" and exits 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ah.h"

static int t_early, t_late;
static long pairs;
static pthread_key_t late_key;

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "late: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

/* Runs after libah's destructor has flushed and freed this thread's state. */
static void after_libah(void *arg)
{
    (void)arg;
    ah_resource_t r[64] = {{0}};
    for (long i = 0; i < pairs; i++)
        check(ah_init(&r[i], t_late, 0), "init LATE");
    for (long i = 0; i < pairs; i++)
        check(ah_destroy(&r[i]), "destroy LATE");
}

static void *thread_main(void *arg)
{
    (void)arg;
    ah_resource_t r = {0};
    check(ah_init(&r, t_early, 0), "init EARLY");
    check(ah_before(&r), "before");
    check(ah_after(&r), "after");
    check(ah_destroy(&r), "destroy EARLY");
    pthread_setspecific(late_key, &r);
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = argc == 3 ? strtol(argv[1], NULL, 10) : 0;
    pairs = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (argc != 3 || threads < 1 || threads > 256 || pairs < 1 || pairs > 64) {
        fprintf(stderr, "usage: late THREADS PAIRS (1 <= THREADS <= 256, 1 <= PAIRS <= 64)\n");
        return 2;
    }
    t_early = ah_type("EARLY");
    t_late = ah_type("LATE");
    check(t_early, "type EARLY");
    check(t_late, "type LATE");
    /* A resource of the main thread creates libah's thread key before ours. */
    ah_resource_t first = {0};
    check(ah_init(&first, t_early, 0), "init EARLY");
    check(ah_destroy(&first), "destroy EARLY");
    if (pthread_key_create(&late_key, after_libah) != 0)
        return 1;
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
    }
    printf("done %ld\n", threads);
    return 0;
}
