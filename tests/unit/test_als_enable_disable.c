/*
 * Node: test/async-hooks/test-async-local-storage-enable-disable.js - disable()
 * makes every context forget the store, including those captured before; exit()
 * does not re-enable it; run() does.
 */
#include "unit/test_als_loop.h"

struct map {
    const char *foo;
    const char *bar;
};

static ah_store_t *als;
static struct map m1, m2;
static int checks;

static void *in_exit(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    return NULL;
}

static void *rerun(void *arg)
{
    (void)arg;
    struct map *m = ah_store_get(als);
    cr_assert_eq(m, &m2);
    cr_assert_str_eq(m->bar, "foo");
    checks++;
    return NULL;
}

static void tick_created_before_disable(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    checks++;
}

static void tick_after_disable(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    m2.bar = "foo";
    ah_store_run(als, &m2, rerun, NULL);
    checks++;
}

static void tick(void *arg)
{
    (void)arg;
    cr_assert_str_eq(((struct map *)ah_store_get(als))->foo, "bar");
    als_post(tick_created_before_disable, NULL);

    cr_assert_eq(ah_store_disable(als), 0);
    cr_assert_null(ah_store_get(als));

    /* Calls to exit() do not mess with the enabled status. */
    ah_store_exit(als, in_exit, NULL);
    cr_assert_null(ah_store_get(als));

    als_post(tick_after_disable, NULL);
    checks++;
}

static void *start(void *arg)
{
    (void)arg;
    ((struct map *)ah_store_get(als))->foo = "bar";
    als_post(tick, NULL);
    return NULL;
}

ALS_TEST(test_async_local_storage_enable_disable, disable_then_run_again)
{
    als = ah_store_new(NULL);
    ah_store_run(als, &m1, start, NULL);
    als_run();
    cr_assert_eq(checks, 4);
    ah_store_free(als);
}

/* enter_with re-enables too, and a disabled store stays disabled in every
 * context. */
ALS_TEST(test_async_local_storage_enable_disable, enter_with_reenables)
{
    als = ah_store_new(NULL);
    cr_assert_eq(ah_store_enter_with(als, &m1), 0);
    ah_snapshot_t snap;
    cr_assert_eq(ah_snapshot_take(&snap), 0);
    ah_store_disable(als);
    cr_assert_null(ah_store_get(als));
    cr_assert_null(ah_snapshot_run(&snap, in_exit, NULL)); /* the snapshot forgot it too */
    cr_assert_eq(ah_store_enter_with(als, &m2), 0);
    cr_assert_eq(ah_store_get(als), &m2);
    ah_snapshot_release(&snap);
    ah_store_free(als);
}

/* Node: test/parallel/test-async-local-storage-isolation.js, second half -
 * disabling one store has no effect on the others. */
static ah_store_t *als2, *als3;

static void *iso_inner(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(als), "store1");
    cr_assert_str_eq(ah_store_get(als2), "store2");
    cr_assert_str_eq(ah_store_get(als3), "store3");
    ah_store_disable(als);
    cr_assert_null(ah_store_get(als));
    cr_assert_str_eq(ah_store_get(als2), "store2");
    cr_assert_str_eq(ah_store_get(als3), "store3");
    return NULL;
}

static void *iso_outer(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(als), "store1");
    cr_assert_null(ah_store_get(als2));
    cr_assert_str_eq(ah_store_get(als3), "store3");
    ah_store_run(als2, "store2", iso_inner, NULL);
    cr_assert_null(ah_store_get(als));
    cr_assert_null(ah_store_get(als2));
    cr_assert_str_eq(ah_store_get(als3), "store3");
    return NULL;
}

ALS_TEST(test_async_local_storage_enable_disable, isolation_of_disable)
{
    als = ah_store_new(NULL);
    als2 = ah_store_new(NULL);
    als3 = ah_store_new(NULL);
    ah_store_enter_with(als3, "store3");
    ah_store_run(als, "store1", iso_outer, NULL);
    cr_assert_null(ah_store_get(als));
    cr_assert_null(ah_store_get(als2));
    cr_assert_str_eq(ah_store_get(als3), "store3");
    ah_store_free(als);
    ah_store_free(als2);
    ah_store_free(als3);
}
