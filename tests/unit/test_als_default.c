/*
 * Node's defaultValue option (AsyncLocalStorage({ defaultValue })) and TC39's
 * AsyncContext.Variable defaultValue: what get() returns where the store has no
 * value.
 */
#include "unit/test_als_loop.h"

static ah_store_t *als;

static void *get_store(void *arg)
{
    (void)arg;
    return ah_store_get(als);
}

static void *exit_get(void *arg)
{
    return ah_store_exit(als, get_store, arg);
}

ALS_TEST(test_als_default, default_where_unset)
{
    als = ah_store_new("dflt");
    cr_assert_str_eq(ah_store_get(als), "dflt");
    cr_assert_str_eq(ah_store_run(als, "v", get_store, NULL), "v");
    cr_assert_str_eq(ah_store_run(als, "v", exit_get, NULL), "dflt");
    cr_assert_null(ah_store_run(als, NULL, get_store, NULL));
    ah_store_enter_with(als, "entered");
    cr_assert_str_eq(ah_store_get(als), "entered");
    ah_store_disable(als);
    cr_assert_str_eq(ah_store_get(als), "dflt");
    ah_store_free(als);
    cr_assert_null(ah_store_get(NULL));
}
