/*
 * Node: test/async-hooks/test-async-local-storage-enter-with.js and
 * test/parallel/test-async-local-storage-enter-with.js - enter_with() lasts for
 * the rest of the current execution and for what it creates, never for its
 * parent or earlier siblings.
 */
#include "unit/test_als_loop.h"

static ah_store_t *als;
static int store_value = 42;
static int checks;

static void later_from_immediate(void *arg)
{
    (void)arg;
    cr_assert_eq(ah_store_get(als), &store_value);
    checks++;
}

static void immediate(void *arg)
{
    (void)arg;
    cr_assert_eq(ah_store_enter_with(als, &store_value), 0);
    cr_assert_eq(ah_store_get(als), &store_value);
    als_post_after(10, later_from_immediate, NULL);
    checks++;
}

static void sibling_timer(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    checks++;
}

ALS_TEST(test_async_local_storage_enter_with, continuations_only)
{
    als = ah_store_new(NULL);
    als_post(immediate, NULL);
    als_post_after(10, sibling_timer, NULL);
    als_run();
    cr_assert_eq(checks, 3);
    cr_assert_null(ah_store_get(als));
    ah_store_free(als);
}

/* test/parallel: enter_with in a callback never reaches the code that scheduled
 * it. */
static void enter_in_child(void *arg)
{
    ah_store_enter_with(als, arg);
    cr_assert_eq(ah_store_get(als), arg);
}

static void parent_after_children(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    checks++;
}

static void parent(void *arg)
{
    (void)arg;
    als_post(enter_in_child, "after await");
    als_post(enter_in_child, "inside then");
    als_post_after(1, parent_after_children, NULL);
    cr_assert_null(ah_store_get(als));
}

ALS_TEST(test_async_local_storage_enter_with, does_not_leak_to_parent)
{
    als = ah_store_new(NULL);
    als_post(parent, NULL);
    als_run();
    cr_assert_eq(checks, 1);
    ah_store_free(als);
}

static void sees_before_await(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(als), "before await");
    checks++;
}

/* At top level (no scope open) enter_with lasts for the thread, like Node's
 * "known limitation" where enterWith before an await leaks to the caller. */
ALS_TEST(test_async_local_storage_enter_with, top_level_lasts_for_the_thread)
{
    als = ah_store_new(NULL);
    als_post(sibling_timer, NULL); /* created before: keeps the empty context */
    cr_assert_eq(ah_store_enter_with(als, "before await"), 0);
    als_post(sees_before_await, NULL);
    cr_assert_str_eq(ah_store_get(als), "before await");
    als_run();
    cr_assert_str_eq(ah_store_get(als), "before await");
    cr_assert_eq(checks, 2);
    ah_store_free(als);
    /* A new store reusing the freed store's slot does not inherit its value. */
    ah_store_t *fresh = ah_store_new(NULL);
    cr_assert_null(ah_store_get(fresh));
    ah_store_free(fresh);
}

/* Node's test-async-local-storage-isolation.js, first half: enter_with of one
 * store inside run() of another outlives that run(), since run() starts no new
 * execution. */
static ah_store_t *als2;

static void *isolation_body(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(als), "store1");
    cr_assert_null(ah_store_get(als2));
    cr_assert_eq(ah_store_enter_with(als2, "store3"), 0);
    cr_assert_str_eq(ah_store_get(als), "store1");
    cr_assert_str_eq(ah_store_get(als2), "store3");
    return NULL;
}

static void isolation_task(void *arg)
{
    (void)arg;
    ah_store_run(als, "store1", isolation_body, NULL);
    cr_assert_null(ah_store_get(als));
    cr_assert_str_eq(ah_store_get(als2), "store3");
    checks++;
}

ALS_TEST(test_async_local_storage_enter_with, inside_run_of_another_store)
{
    als = ah_store_new(NULL);
    als2 = ah_store_new(NULL);
    ah_store_run(als, "store1", isolation_body, NULL);
    cr_assert_null(ah_store_get(als));
    cr_assert_str_eq(ah_store_get(als2), "store3");
    ah_store_disable(als2);
    cr_assert_null(ah_store_get(als2));
    /* The same inside a callback, where the scope's end undoes it. */
    als_post(isolation_task, NULL);
    als_run();
    cr_assert_null(ah_store_get(als2));
    cr_assert_eq(checks, 1);
    ah_store_free(als);
    ah_store_free(als2);
}

/* enter_with of the run's own store inside the run ends with the run. */
static void *enter_own(void *arg)
{
    (void)arg;
    ah_store_enter_with(als, "inner");
    cr_assert_str_eq(ah_store_get(als), "inner");
    return NULL;
}

ALS_TEST(test_async_local_storage_enter_with, own_store_inside_run)
{
    als = ah_store_new(NULL);
    ah_store_enter_with(als, "outer");
    ah_store_run(als, "run", enter_own, NULL);
    cr_assert_str_eq(ah_store_get(als), "outer");
    ah_store_run(als, "outer", enter_own, NULL); /* same value: no new context, same rule */
    cr_assert_str_eq(ah_store_get(als), "outer");
    ah_store_free(als);
}
