/*
 * Node: test/parallel/test-async-local-storage-snapshot.js and TC39
 * AsyncContext.Snapshot - a snapshot runs a function in the context of its
 * capture, whatever the caller's, and then gives the caller its context back
 * entirely.
 */
#include <pthread.h>

#include "unit/test_als_loop.h"

static ah_store_t *als, *other;

static void *get_store(void *arg)
{
    (void)arg;
    return ah_store_get(als);
}

static void *take(void *arg)
{
    cr_assert_eq(ah_snapshot_take(arg), 0);
    return NULL;
}

static void *run_snapshot(void *arg)
{
    return ah_snapshot_run(arg, get_store, NULL);
}

ALS_TEST(test_async_local_storage_snapshot, runs_in_captured_context)
{
    als = ah_store_new(NULL);
    ah_snapshot_t snap;
    ah_store_run(als, (void *)123L, take, &snap);
    long result = (long)ah_store_run(als, (void *)321L, run_snapshot, &snap);
    cr_assert_eq(result, 123);
    cr_assert_null(ah_store_get(als));
    ah_snapshot_release(&snap);
    ah_snapshot_release(&snap); /* a second release is a no-op */
    ah_store_free(als);
}

/* Every store at once, and nothing the function enters outlives the run. */
static void *enter_inside(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(als), "a");
    cr_assert_str_eq(ah_store_get(other), "b");
    ah_store_enter_with(als, "entered");
    ah_store_enter_with(other, "entered");
    return "ok";
}

ALS_TEST(test_async_local_storage_snapshot, captures_all_stores_restores_all)
{
    als = ah_store_new(NULL);
    other = ah_store_new("default");
    ah_store_enter_with(als, "a");
    ah_store_enter_with(other, "b");
    ah_snapshot_t snap;
    cr_assert_eq(ah_snapshot_take(&snap), 0);
    ah_store_enter_with(als, "x");
    ah_store_enter_with(other, "y");
    cr_assert_str_eq(ah_snapshot_run(&snap, enter_inside, NULL), "ok");
    cr_assert_str_eq(ah_store_get(als), "x");
    cr_assert_str_eq(ah_store_get(other), "y");
    ah_snapshot_release(&snap);
    ah_store_free(als);
    ah_store_free(other);
}

/* The snapshot of an empty context empties the context for the run. */
ALS_TEST(test_async_local_storage_snapshot, empty_snapshot)
{
    als = ah_store_new("dflt");
    ah_snapshot_t snap;
    cr_assert_eq(ah_snapshot_take(&snap), 0);
    cr_assert_null(snap.frame);
    ah_store_enter_with(als, "set");
    cr_assert_str_eq(ah_snapshot_run(&snap, get_store, NULL), "dflt");
    cr_assert_str_eq(ah_store_get(als), "set");
    ah_snapshot_release(&snap);
    ah_store_free(als);
}

/* A scheduler that queues work with snapshots (no resources): a snapshot taken
 * on one thread runs on another, and outlives the resource whose callback took
 * it. */
static ah_snapshot_t queued[4];

static void take_in_task(void *arg)
{
    cr_assert_eq(ah_snapshot_take(&queued[(long)arg]), 0);
}

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < 4; i++)
        cr_assert_eq((long)ah_snapshot_run(&queued[i], get_store, NULL), i + 1);
    cr_assert_null(ah_store_get(als));
    return NULL;
}

static void *post_take(void *arg)
{
    als_post(take_in_task, arg);
    return NULL;
}

ALS_TEST(test_async_local_storage_snapshot, across_threads)
{
    als = ah_store_new(NULL);
    for (long i = 0; i < 4; i++)
        ah_store_run(als, (void *)(i + 1), post_take, (void *)i);
    als_run();
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, worker, NULL), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    for (int i = 0; i < 4; i++)
        ah_snapshot_release(&queued[i]);
    ah_store_free(als);
}

ALS_TEST(test_async_local_storage_snapshot, errors)
{
    ah_snapshot_t snap = {0};
    cr_assert_eq(ah_snapshot_take(NULL), -EINVAL);
    errno = 0;
    cr_assert_null(ah_snapshot_run(NULL, get_store, NULL));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(ah_snapshot_run(&snap, NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    ah_snapshot_release(NULL);
    ah_snapshot_release(&snap);
}
