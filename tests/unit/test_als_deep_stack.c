/*
 * Node: test/parallel/test-async-local-storage-deep-stack.js - a thousand
 * nested run() calls, and a thousand nested callback scopes each with its own
 * context (beyond the preallocated execution stack).
 */
#include "unit/test_als_loop.h"

static ah_store_t *als;
static int done;

static void *run_level(void *arg)
{
    long count = (long)arg;
    cr_assert_eq((long)ah_store_get(als), count + 1);
    if (count == 0) {
        done++;
        return NULL;
    }
    return ah_store_run(als, (void *)count, run_level, (void *)(count - 1));
}

ALS_TEST(test_async_local_storage_deep_stack, thousand_nested_runs)
{
    als = ah_store_new(NULL);
    ah_store_run(als, (void *)1001L, run_level, (void *)1000L);
    cr_assert_eq(done, 1);
    cr_assert_null(ah_store_get(als));
    ah_store_free(als);
}

#define DEPTH 1000
static ah_resource_t res[DEPTH];

static void *init_level(void *arg)
{
    long i = (long)arg;
    cr_assert_eq(ah_init(&res[i], als_type(), 0), 0);
    return NULL;
}

ALS_TEST(test_async_local_storage_deep_stack, thousand_nested_scopes)
{
    als = ah_store_new(NULL);
    for (long i = 0; i < DEPTH; i++)
        ah_store_run(als, (void *)(i + 1), init_level, (void *)i);
    for (long i = 0; i < DEPTH; i++) {
        cr_assert_eq(ah_before(&res[i]), 0);
        cr_assert_eq((long)ah_store_get(als), i + 1);
        /* Destroyed inside its own scope: its context stays until the scope ends.
         */
        cr_assert_eq(ah_destroy(&res[i]), 0);
        cr_assert_eq((long)ah_store_get(als), i + 1);
    }
    for (long i = DEPTH - 1; i >= 0; i--) {
        cr_assert_eq((long)ah_store_get(als), i + 1);
        cr_assert_eq(ah_after(&res[i]), 0);
    }
    cr_assert_null(ah_store_get(als));
    ah_store_free(als);
}
