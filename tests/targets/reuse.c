/*
 * reuse.c - a libah program whose exiting threads outlive their libah state: libah frees a
 * thread's state (its batch buffer with it) in a TLS destructor, and the thread still runs and
 * blocks after that. With one malloc arena, the next thread's state takes the freed memory:
 * the BPF side, which still knows the old thread's buffer by its address, must not read the
 * new thread's records there as the old thread's (tests/collector/test_generations.c).
 *
 *   reuse ROUNDS INITS   ROUNDS x: thread A runs one lifecycle of SHORT and exits; in a TLS
 *                        destructor that runs after libah's, A starts thread B and blocks until
 *                        B has created INITS resources of LONG (in its batch buffer, not flushed
 *                        yet), then A exits while B waits; B then destroys them and exits.
 *                        Prints "done ROUNDS" and exits 0. SHORT: ROUNDS + 1 created (one by the
 *                        main thread), ROUNDS run once, all destroyed; LONG: ROUNDS x INITS created
 * and destroyed.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ah.h"

static int t_short, t_long;
static long inits;
static pthread_key_t late_key;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int b_created, a_gone;
static pthread_t b_thread;
/* Not malloc'd by B: an allocation before B's libah state could take the freed memory. */
static ah_resource_t b_res[500];

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "reuse: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

static void *thread_b(void *arg)
{
    (void)arg;
    ah_resource_t *r = b_res;
    for (long i = 0; i < inits; i++)
        check(ah_init(&r[i], t_long, 0), "init LONG");
    pthread_mutex_lock(&lock);
    b_created = 1;
    pthread_cond_broadcast(&changed);
    while (!a_gone)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    for (long i = 0; i < inits; i++)
        check(ah_destroy(&r[i]), "destroy LONG");
    return NULL;
}

/* Runs after libah's own destructor (its key is older): A's libah state is freed by now. */
static void after_libah(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    b_created = 0;
    if (pthread_create(&b_thread, NULL, thread_b, NULL) != 0)
        exit(1);
    while (!b_created)
        pthread_cond_wait(&changed, &lock); /* A blocks: a switch-out */
    pthread_mutex_unlock(&lock);
}

static void *thread_a(void *arg)
{
    (void)arg;
    ah_resource_t r;
    check(ah_init(&r, t_short, 0), "init SHORT");
    check(ah_before(&r), "before");
    check(ah_after(&r), "after");
    check(ah_destroy(&r), "destroy SHORT");
    pthread_setspecific(late_key, &r);
    return NULL;
}

int main(int argc, char **argv)
{
    long rounds = argc == 3 ? strtol(argv[1], NULL, 10) : 0;
    inits = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (argc != 3 || rounds < 1 || rounds > 64 || inits < 1 || inits > 500) {
        fprintf(stderr, "usage: reuse ROUNDS INITS (1 <= ROUNDS <= 64, 1 <= INITS <= 500)\n");
        return 2;
    }
    /* One arena: the memory a thread frees is the next thread's to take. */
    mallopt(M_ARENA_MAX, 1);
    /* Free chunks of their own for the small allocations a new thread makes before its libah
     * state (its TLS), which would otherwise be cut from the freed state of the last thread. */
    void *spare[2 * 64];
    for (int i = 0; i < 2 * 64; i += 2) {
        spare[i] = malloc(1536);
        spare[i + 1] = malloc(16); /* keeps them apart */
    }
    for (int i = 0; i < 2 * 64; i += 2)
        free(spare[i]);
    t_short = ah_type("SHORT");
    t_long = ah_type("LONG");
    check(t_short, "type SHORT");
    check(t_long, "type LONG");
    /* A resource of the main thread creates libah's thread key before ours. */
    ah_resource_t first;
    check(ah_init(&first, t_short, 0), "init SHORT");
    check(ah_destroy(&first), "destroy SHORT");
    if (pthread_key_create(&late_key, after_libah) != 0)
        return 1;
    for (long i = 0; i < rounds; i++) {
        pthread_t a;
        a_gone = 0;
        if (pthread_create(&a, NULL, thread_a, NULL) != 0)
            return 1;
        pthread_join(a, NULL);
        pthread_mutex_lock(&lock);
        a_gone = 1;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
        pthread_join(b_thread, NULL);
    }
    printf("done %ld\n", rounds);
    return 0;
}
