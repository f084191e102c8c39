/*
 * Node: test/async-hooks/test-async-local-storage-run-resource.js - run() and
 * exit() are synchronous: they create no resource and leave the execution
 * context alone.
 */
#include "unit/test_als_loop.h"

static ah_store_t *als;
static unsigned inits;

static void on_init(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    (void)id, (void)type, (void)trigger, (void)r, (void)data;
    inits++;
}

struct outer {
    ah_id_t id;
    ah_id_t trigger;
    ah_resource_t *resource;
    unsigned depth;
};

static void *inside(void *arg)
{
    const struct outer *o = arg;
    cr_assert_eq(ah_execution_id(), o->id);
    cr_assert_eq(ah_trigger_id(), o->trigger);
    cr_assert_eq(ah_execution_resource(), o->resource);
    cr_assert_eq(ah_execution_depth(), o->depth);
    return NULL;
}

static void *exit_inside(void *arg)
{
    return ah_store_exit(als, inside, arg);
}

static void check_here(void)
{
    struct outer o = {ah_execution_id(), ah_trigger_id(), ah_execution_resource(),
                      ah_execution_depth()};
    ah_store_run(als, &o, inside, &o);
    ah_store_run(als, &o, exit_inside, &o);
    cr_assert_eq(ah_execution_id(), o.id);
    cr_assert_eq(ah_execution_resource(), o.resource);
}

static void task(void *arg)
{
    (void)arg;
    check_here();
}

ALS_TEST(test_async_local_storage_run_resource, run_creates_no_resource)
{
    ah_hook_callbacks_t cb = {.init = on_init};
    ah_hook_t *h = ah_hook_new(&cb, NULL);
    als = ah_store_new(NULL);
    als_post(task, NULL);
    cr_assert_eq(ah_hook_enable(h), 0);
    check_here();
    cr_assert_eq(inits, 0);
    ah_hook_disable(h);
    als_run();
    ah_hook_free(h);
    ah_store_free(als);
}
