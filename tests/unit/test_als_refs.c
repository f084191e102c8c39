/*
 * The cost and lifetime rules of context frames, checked from the inside: one
 * shared frame per context (O(1) capture), no frame at all for the empty
 * context, reference counts that follow every holder, no allocation in
 * get/before/after. The leak checker (test-asan) verifies that each test ends
 * with every frame freed.
 */
#include <malloc.h>

#include "context.h"
#include "unit/test_als_loop.h"

static ah_store_t *als;

static uint64_t refs(const void *frame)
{
    return __atomic_load_n(&((const struct ah_context_frame *)frame)->refs, __ATOMIC_RELAXED);
}

static void *current_frame(void)
{
    ah_snapshot_t s;
    ah_snapshot_take(&s);
    void *f = s.frame;
    ah_snapshot_release(&s);
    return f;
}

static ah_resource_t r[3];

static void *get_als(void *arg)
{
    (void)arg;
    return ah_store_get(als);
}

static void *init_three(void *arg)
{
    (void)arg;
    void *f = current_frame();
    cr_assert_not_null(f);
    cr_assert_eq(refs(f), 1); /* the thread's */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ah_init(&r[i], als_type(), 0), 0);
        cr_assert_eq(r[i].context, f);
    }
    cr_assert_eq(refs(f), 4);
    return f;
}

ALS_TEST(test_als_refs, one_shared_frame_per_context)
{
    als = ah_store_new(NULL);
    void *f = ah_store_run(als, "v", init_three, NULL);
    cr_assert_eq(refs(f), 3);
    cr_assert_null(current_frame());
    cr_assert_eq(ah_before(&r[0]), 0);
    cr_assert_eq(refs(f), 4);
    cr_assert_eq(current_frame(), f);
    cr_assert_eq(ah_before(&r[1]), 0);
    cr_assert_eq(refs(f), 5);
    cr_assert_eq(ah_destroy(&r[0]), 0); /* destroyed inside a scope: the thread holds it */
    cr_assert_eq(refs(f), 4);
    cr_assert_eq(ah_after(&r[1]), 0);
    cr_assert_eq(ah_after(&r[0]), 0);
    cr_assert_eq(refs(f), 2);
    ah_snapshot_t snap;
    cr_assert_eq(ah_before(&r[1]), 0);
    ah_snapshot_take(&snap);
    cr_assert_eq(ah_after(&r[1]), 0);
    cr_assert_eq(refs(f), 3);
    cr_assert_eq(ah_destroy(&r[1]), 0);
    cr_assert_eq(ah_destroy(&r[2]), 0);
    cr_assert_eq(refs(f), 1);
    cr_assert_str_eq(ah_snapshot_run(&snap, get_als, NULL), "v");
    ah_snapshot_release(&snap); /* the last holder: freed here */
    ah_store_free(als);
}

static void *check_no_frame(void *arg)
{
    (void)arg;
    cr_assert_null(current_frame());
    ah_resource_t res = {0};
    cr_assert_eq(ah_init(&res, als_type(), 0), 0);
    cr_assert_null(res.context);
    cr_assert_eq(ah_destroy(&res), 0);
    return NULL;
}

ALS_TEST(test_als_refs, empty_context_has_no_frame)
{
    als = ah_store_new(NULL);
    check_no_frame(NULL);
    ah_store_exit(als, check_no_frame, NULL); /* exit when unset */
    ah_store_enter_with(als, "v");
    cr_assert_not_null(current_frame());
    ah_store_exit(als, check_no_frame, NULL); /* exit of the only store set */
    ah_store_disable(als);                    /* leaves the thread's context empty */
    cr_assert_null(current_frame());
    ah_store_enter_with(als, "v");
    ah_store_free(als); /* so does free */
    cr_assert_null(current_frame());
}

/* Setting a store again makes a new frame and the old one goes when its holders
 * go. */
ALS_TEST(test_als_refs, copy_on_write)
{
    als = ah_store_new(NULL);
    ah_store_t *b = ah_store_new(NULL);
    ah_store_enter_with(als, "a1");
    void *f1 = current_frame();
    ah_resource_t res = {0};
    cr_assert_eq(ah_init(&res, als_type(), 0), 0);
    cr_assert_eq(refs(f1), 2);
    ah_store_enter_with(b, "b1");
    void *f2 = current_frame();
    cr_assert_neq(f1, f2);
    cr_assert_eq(refs(f1), 1); /* only the resource now */
    cr_assert_eq(ah_before(&res), 0);
    cr_assert_str_eq(ah_store_get(als), "a1");
    cr_assert_null(ah_store_get(b)); /* the earlier capture never sees later changes */
    cr_assert_eq(ah_after(&res), 0);
    cr_assert_str_eq(ah_store_get(b), "b1");
    cr_assert_eq(ah_destroy(&res), 0);
    ah_store_free(b);
    ah_store_free(als);
}

ALS_TEST(test_als_refs, no_allocation_in_get_before_after)
{
    als = ah_store_new(NULL);
    ah_store_enter_with(als, "v");
    ah_resource_t res = {0};
    cr_assert_eq(ah_init(&res, als_type(), 0), 0);
    cr_assert_eq(ah_before(&res), 0); /* the thread's state exists from here */
    cr_assert_eq(ah_after(&res), 0);
    struct mallinfo2 before = mallinfo2();
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        ok &= ah_before(&res) == 0;
        ok &= ah_store_get(als) != NULL;
        ok &= ah_after(&res) == 0;
    }
    struct mallinfo2 after = mallinfo2();
    cr_assert(ok);
    cr_assert_eq(after.uordblks, before.uordblks);
    cr_assert_eq(ah_destroy(&res), 0);
    ah_store_free(als);
}
