/*
 * Node: test/parallel/test-async-local-storage-bind.js - a callback bound to
 * the current context returns its result and gets its argument, and runs in the
 * context of the bind.
 */
#include <pthread.h>

#include "unit/test_als_loop.h"

static ah_store_t *als;

static void *ret123(void *arg)
{
    (void)arg;
    return (void *)123L;
}

static void *check_arg(void *arg)
{
    cr_assert_str_eq(arg, "test");
    return arg;
}

ALS_TEST(test_async_local_storage_bind, result_and_argument)
{
    ah_context_bound_t b;
    cr_assert_eq(ah_context_bind(NULL, ret123, NULL), -EINVAL);
    cr_assert_eq(ah_context_bind(&b, NULL, NULL), -EINVAL);
    cr_assert_eq(ah_context_bind(&b, ret123, NULL), 0);
    cr_assert_eq((long)ah_context_call(&b), 123);
    ah_context_unbind(&b);
    ah_context_bound_t b2;
    cr_assert_eq(ah_context_bind(&b2, check_arg, "test"), 0);
    cr_assert_str_eq(ah_context_call(&b2), "test");
    ah_context_unbind(&b2);
    ah_context_unbind(NULL);
    errno = 0;
    cr_assert_null(ah_context_call(NULL));
    cr_assert_eq(errno, EINVAL);
}

static void *get_store(void *arg)
{
    (void)arg;
    return ah_store_get(als);
}

static void *bind_here(void *arg)
{
    cr_assert_eq(ah_context_bind(arg, get_store, NULL), 0);
    return NULL;
}

static void *call_bound(void *arg)
{
    return ah_context_call(arg);
}

static void *thread_call(void *arg)
{
    cr_assert_str_eq(ah_context_call(arg), "bound");
    cr_assert_null(ah_store_get(als));
    return NULL;
}

ALS_TEST(test_async_local_storage_bind, runs_in_bound_context_anywhere)
{
    als = ah_store_new(NULL);
    ah_context_bound_t b;
    ah_store_run(als, "bound", bind_here, &b);
    cr_assert_null(ah_store_get(als));
    cr_assert_str_eq(ah_context_call(&b), "bound");
    cr_assert_str_eq(ah_store_run(als, "caller", call_bound, &b), "bound");
    cr_assert_str_eq(ah_context_call(&b), "bound"); /* as often as needed */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_call, &b), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    ah_context_unbind(&b);
    ah_store_free(als);
}
