/*
 * test_als_loop.h - a tiny single-threaded event loop for the context storage
 * tests.
 *
 * Node's AsyncLocalStorage tests schedule work with setTimeout, setImmediate
 * and process.nextTick; here every posted callback is a libah resource,
 * initialised when it is posted (so it captures the context of the poster) and
 * run in its own scope at its due time on a virtual clock, then destroyed,
 * exactly as an event loop built on libah does.
 */
#ifndef TEST_ALS_LOOP_H
#define TEST_ALS_LOOP_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "ah.h"

/* Criterion ignores what the leak checker says when a test process exits, so
 * each test asks it at its end: every context frame must have been freed by
 * then. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ALS_LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leak (see above)")
#else
#define ALS_LEAK_CHECK() ((void)0)
#endif

/* Test() followed by the leak check. */
#define ALS_TEST(suite, name)                                                                      \
    static void suite##_##name##_body(void);                                                       \
    Test(suite, name)                                                                              \
    {                                                                                              \
        suite##_##name##_body();                                                                   \
        ALS_LEAK_CHECK();                                                                          \
    }                                                                                              \
    static void suite##_##name##_body(void)

typedef void (*als_cb_t)(void *arg);

struct als_task {
    ah_resource_t res;
    als_cb_t cb;
    void *arg;
    unsigned long due;
    unsigned long seq;
    struct als_task *next;
};

static struct als_task *als_queue;
static unsigned long als_now;
static unsigned long als_seq;
static unsigned als_ran;

static inline int als_type(void)
{
    static int type = -1;
    if (type < 0)
        type = ah_type("ALS_TEST");
    cr_assert_geq(type, 0);
    return type;
}

/* setTimeout(cb, delay): ordered by due time, then by posting order. */
static inline void als_post_after(unsigned long delay, als_cb_t cb, void *arg)
{
    struct als_task *t = calloc(1, sizeof(*t));
    cr_assert_not_null(t);
    cr_assert_eq(ah_init(&t->res, als_type(), 0), 0);
    t->cb = cb;
    t->arg = arg;
    t->due = als_now + delay;
    t->seq = als_seq++;
    struct als_task **p = &als_queue;
    while (*p && ((*p)->due < t->due || ((*p)->due == t->due && (*p)->seq < t->seq)))
        p = &(*p)->next;
    t->next = *p;
    *p = t;
}

/* setImmediate / process.nextTick. */
static inline void als_post(als_cb_t cb, void *arg)
{
    als_post_after(0, cb, arg);
}

static inline void als_run(void)
{
    while (als_queue) {
        struct als_task *t = als_queue;
        als_queue = t->next;
        als_now = t->due;
        cr_assert_eq(ah_before(&t->res), 0);
        t->cb(t->arg);
        cr_assert_eq(ah_after(&t->res), 0);
        cr_assert_eq(ah_destroy(&t->res), 0);
        free(t);
        als_ran++;
    }
    cr_assert_eq(ah_execution_depth(), 0);
}

#endif
