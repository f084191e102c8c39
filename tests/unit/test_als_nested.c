/*
 * Node: test/async-hooks/test-async-local-storage-nested.js - two stores nested
 * in each other's run() are both seen by a timer created inside, long after
 * both runs returned.
 */
#include "unit/test_als_loop.h"

struct map {
    const char *hello;
};

static ah_store_t *als, *als2;
static struct map m1, m2;

static void timer_inside(void *arg)
{
    (void)arg;
    struct map *a = ah_store_get(als), *b = ah_store_get(als2);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_str_eq(a->hello, "world");
    cr_assert_str_eq(b->hello, "foo");
}

static void *inner(void *arg)
{
    (void)arg;
    struct map *a = ah_store_get(als), *b = ah_store_get(als2);
    cr_assert_eq(a, &m1);
    cr_assert_eq(b, &m2);
    a->hello = "world";
    b->hello = "foo";
    als_post_after(200, timer_inside, NULL);
    return NULL;
}

static void *outer(void *arg)
{
    (void)arg;
    als2 = ah_store_new(NULL);
    cr_assert_not_null(als2);
    ah_store_run(als2, &m2, inner, NULL);
    cr_assert_null(ah_store_get(als2));
    cr_assert_eq(ah_store_get(als), &m1);
    return NULL;
}

static void first_timer(void *arg)
{
    (void)arg;
    ah_store_run(als, &m1, outer, NULL);
    cr_assert_null(ah_store_get(als));
}

ALS_TEST(test_async_local_storage_nested, two_stores_reach_a_later_timer)
{
    als = ah_store_new(NULL);
    cr_assert_not_null(als);
    als_post_after(100, first_timer, NULL);
    als_run();
    cr_assert_eq(als_ran, 2);
    ah_store_free(als2);
    ah_store_free(als);
}

/* The same store nested in itself: the inner value inside, the outer one back
 * after. */
static void *level(void *arg)
{
    long depth = (long)arg;
    cr_assert_eq((long)ah_store_get(als), depth);
    if (depth < 5)
        ah_store_run(als, (void *)(depth + 1), level, (void *)(depth + 1));
    cr_assert_eq((long)ah_store_get(als), depth);
    return (void *)(depth * 10);
}

ALS_TEST(test_async_local_storage_nested, same_store_nested_in_itself)
{
    als = ah_store_new(NULL);
    cr_assert_eq((long)ah_store_run(als, (void *)1L, level, (void *)1L), 10);
    cr_assert_null(ah_store_get(als));
    ah_store_free(als);
}
