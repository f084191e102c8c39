/*
 * Node: test/parallel/test-async-local-storage-exit-does-not-leak.js - exit()
 * inside run() hides the store, a hundred times nested, and restores it on the
 * way out.
 */
#include "unit/test_als_loop.h"

static ah_store_t *als;
static int data = 1;
static int done;

static void *run_level(void *arg);

static void *exit_level(void *arg)
{
    return ah_store_exit(als, run_level, arg);
}

static void *run_level(void *arg)
{
    long count = (long)arg;
    if (count == 0) {
        done++;
        return NULL;
    }
    cr_assert_neq(ah_store_get(als), &data);
    ah_store_run(als, &data, exit_level, (void *)(count - 1));
    cr_assert_neq(ah_store_get(als), &data);
    return NULL;
}

ALS_TEST(test_async_local_storage_exit_does_not_leak, nested_exits)
{
    als = ah_store_new(NULL);
    run_level((void *)100L);
    cr_assert_eq(done, 1);
    ah_store_free(als);
}

/* exit() hides the store from the resources created inside too, and only from
 * them. */
static int checks;

static void hidden(void *arg)
{
    (void)arg;
    cr_assert_null(ah_store_get(als));
    checks++;
}

static void visible(void *arg)
{
    (void)arg;
    cr_assert_eq(ah_store_get(als), &data);
    checks++;
}

static void *post_hidden(void *arg)
{
    als_post(hidden, arg);
    return NULL;
}

static void *body(void *arg)
{
    als_post(visible, arg);
    ah_store_exit(als, post_hidden, arg);
    als_post(visible, arg);
    return NULL;
}

ALS_TEST(test_async_local_storage_exit_does_not_leak, exit_reaches_continuations_only)
{
    als = ah_store_new(NULL);
    ah_store_run(als, &data, body, NULL);
    als_run();
    cr_assert_eq(checks, 3);
    ah_store_free(als);
}
