/*
 * Node: test/async-hooks/test-async-local-storage-no-mix-contexts.js - two
 * chains started at the same time with the same store never see each other's
 * value, and exit() hides one store without touching the other.
 */
#include "unit/test_als_loop.h"

struct map {
    const char *hello;
};

static ah_store_t *als, *als2;
static struct map a1, a2, b1;
static int checks;

static void *in_exit(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    struct map *m2 = ah_store_get(als2);
    cr_assert_str_eq(m2->hello, "foo");
    checks++;
    return NULL;
}

static void chain_a_timer(void *arg)
{
    (void)arg;
    cr_assert_str_eq(((struct map *)ah_store_get(als))->hello, "world");
    cr_assert_str_eq(((struct map *)ah_store_get(als2))->hello, "foo");
    ah_store_exit(als, in_exit, NULL);
    cr_assert_str_eq(((struct map *)ah_store_get(als))->hello, "world");
    cr_assert_str_eq(((struct map *)ah_store_get(als2))->hello, "foo");
    checks++;
}

static void *chain_a_inner(void *arg)
{
    (void)arg;
    ((struct map *)ah_store_get(als))->hello = "world";
    ((struct map *)ah_store_get(als2))->hello = "foo";
    als_post_after(200, chain_a_timer, NULL);
    return NULL;
}

static void *chain_a_outer(void *arg)
{
    return ah_store_run(als2, &a2, chain_a_inner, arg);
}

static void chain_a(void *arg)
{
    ah_store_run(als, &a1, chain_a_outer, arg);
}

static void chain_b_timer(void *arg)
{
    (void)arg;
    cr_assert_str_eq(((struct map *)ah_store_get(als))->hello, "earth");
    cr_assert_null(ah_store_get(als2));
    checks++;
}

static void *chain_b_inner(void *arg)
{
    (void)arg;
    ((struct map *)ah_store_get(als))->hello = "earth";
    als_post_after(100, chain_b_timer, NULL);
    return NULL;
}

static void chain_b(void *arg)
{
    ah_store_run(als, &b1, chain_b_inner, arg);
}

ALS_TEST(test_async_local_storage_no_mix_contexts, chains_do_not_mix)
{
    als = ah_store_new(NULL);
    als2 = ah_store_new(NULL);
    als_post_after(100, chain_a, NULL);
    als_post_after(100, chain_b, NULL);
    als_run();
    cr_assert_eq(checks, 3);
    cr_assert_eq(als_ran, 4);
    ah_store_free(als);
    ah_store_free(als2);
}

/* Many concurrent "requests" interleaved on one loop: each step sees its own
 * value. */
#define NREQ 50
#define NSTEP 5
static int steps[NREQ];

static void step(void *arg)
{
    long id = (long)arg;
    cr_assert_eq((long)ah_store_get(als), id + 1);
    if (++steps[id] < NSTEP)
        als_post_after((unsigned long)(NREQ - id), step, arg);
}

static void *start(void *arg)
{
    als_post_after(1, step, arg);
    return NULL;
}

ALS_TEST(test_async_local_storage_no_mix_contexts, interleaved_requests)
{
    als = ah_store_new(NULL);
    for (long i = 0; i < NREQ; i++)
        ah_store_run(als, (void *)(i + 1), start, (void *)i);
    cr_assert_null(ah_store_get(als));
    als_run();
    for (int i = 0; i < NREQ; i++)
        cr_assert_eq(steps[i], NSTEP);
    ah_store_free(als);
}
