/*
 * Node: test/async-hooks/test-async-local-storage-misc-stores.js - any value
 * can be stored: a string, a structure, an integer in a pointer, NULL. The
 * store never looks inside.
 */
#include <stdint.h>

#include "unit/test_als_loop.h"

static ah_store_t *als;

struct run_store {
    const char *hello;
};

static void *get_store(void *arg)
{
    (void)arg;
    return ah_store_get(als);
}

ALS_TEST(test_async_local_storage_misc_stores, any_value)
{
    als = ah_store_new("default");
    cr_assert_str_eq(ah_store_run(als, "hello node", get_store, NULL), "hello node");
    struct run_store rs = {"node"};
    cr_assert_eq(ah_store_run(als, &rs, get_store, NULL), &rs);
    cr_assert_eq((uintptr_t)ah_store_run(als, (void *)(uintptr_t)7, get_store, NULL), 7);
    /* NULL is a value like any other: it hides the default. */
    cr_assert_null(ah_store_run(als, NULL, get_store, NULL));
    cr_assert_str_eq(ah_store_get(als), "default");
    ah_store_free(als);
}

/* Many stores coexist, each with its own value, set in any order. */
#define NSTORES 100
static ah_store_t *stores[NSTORES];

static void *check_all(void *arg)
{
    long set = (long)arg;
    for (long i = 0; i < NSTORES; i++) {
        if (i < set)
            cr_assert_eq((long)ah_store_get(stores[i]), i + 1);
        else
            cr_assert_null(ah_store_get(stores[i]));
    }
    return NULL;
}

static void *set_next(void *arg)
{
    long set = (long)arg;
    check_all(arg);
    if (set < NSTORES)
        ah_store_run(stores[set], (void *)(set + 1), set_next, (void *)(set + 1));
    check_all(arg);
    return NULL;
}

ALS_TEST(test_async_local_storage_misc_stores, many_stores)
{
    for (int i = 0; i < NSTORES; i++)
        cr_assert_not_null(stores[i] = ah_store_new(NULL));
    set_next((void *)0L);
    /* Free every other store: the others keep their values, new stores start
     * unset. */
    for (long i = 0; i < NSTORES; i++)
        ah_store_enter_with(stores[i], (void *)(i + 1));
    for (int i = 0; i < NSTORES; i += 2)
        ah_store_free(stores[i]);
    for (long i = 1; i < NSTORES; i += 2)
        cr_assert_eq((long)ah_store_get(stores[i]), i + 1);
    for (int i = 0; i < NSTORES; i += 2) {
        stores[i] = ah_store_new(NULL);
        cr_assert_null(ah_store_get(stores[i]));
    }
    for (int i = 0; i < NSTORES; i++)
        ah_store_free(stores[i]);
}
