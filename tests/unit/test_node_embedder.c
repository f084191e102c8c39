/*
 * test_node_embedder.c - Node's embedder API tests (test/async-hooks/test-embedder.api.*,
 * test/parallel/test-async-hooks-prevent-double-destroy.js and friends) translated to libah.
 *
 * Where Node aborts the process with "async hook stack has become corrupted", libah returns
 * an error (-EPROTO or -EIDRM, see ah.h) and leaves the thread's stack as it was; these tests
 * check both the error and that a proper unwind still works afterwards.
 */
#include <errno.h>

#include "helpers.h"

static struct rec_log log_;
static struct recorder rec;

static void setup(void)
{
    rec_log_init(&log_);
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));
}

static void teardown(void)
{
    rec_free(&rec);
    cr_expect_eq(log_.dropped, 0);
}

TestSuite(node_embedder_api, .init = setup, .fini = teardown);

/* The stack of the calling thread, as ah_execution_*() report it. */
struct stack_view {
    unsigned depth;
    ah_id_t exec_id;
    ah_id_t trigger_id;
    ah_resource_t *resource;
};

static struct stack_view stack_now(void)
{
    return (struct stack_view){ah_execution_depth(), ah_execution_id(), ah_trigger_id(),
                               ah_execution_resource()};
}

static void expect_stack(struct stack_view want, const char *when)
{
    struct stack_view got = stack_now();
    cr_expect_eq(got.depth, want.depth, "%s: depth %u, want %u", when, got.depth, want.depth);
    cr_expect_eq(got.exec_id, want.exec_id, "%s: execution id %lu, want %lu", when,
                 (unsigned long)got.exec_id, (unsigned long)want.exec_id);
    cr_expect_eq(got.trigger_id, want.trigger_id, "%s: trigger id", when);
    cr_expect_eq(got.resource, want.resource, "%s: execution resource", when);
}

/* test/async-hooks/test-embedder.api.async-event.js */
Test(node_embedder_api, async_event)
{
    int alca_type = test_type("alcazares");
    int pob_type = test_type("poblado");

    /* Explicit trigger taken from the current execution. */
    ah_id_t alca_trigger = ah_execution_id();
    ah_resource_t alca = {0};
    ah_ok(ah_init(&alca, alca_type, alca_trigger));
    cr_assert_eq(rec_count_id(&log_, alca.id), 1, "constructed: only init");
    const struct rec_event *init = rec_find(&log_, 0, REC_INIT, alca.id);
    cr_assert_not_null(init);
    cr_expect_eq(init->type, alca_type);
    cr_expect_str_eq(ah_type_name(init->type), "alcazares");
    cr_expect_eq(init->trigger_id, alca_trigger);
    cr_expect_eq(init->resource, &alca);
    cr_expect_neq(alca.id, AH_ID_NONE);

    for (int round = 1; round <= 2; round++) {
        ah_ok(ah_before(&alca));
        cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, alca.id), (size_t)round);
        cr_expect_eq(rec_count(&log_, 0, REC_AFTER, alca.id), (size_t)round - 1);
        ah_ok(ah_after(&alca));
        cr_expect_eq(rec_count(&log_, 0, REC_AFTER, alca.id), (size_t)round);
    }
    ah_ok(ah_destroy(&alca));
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, alca.id), 1);
    cr_expect_eq(rec_count_id(&log_, alca.id), 6);

    /* Any number may be passed as a trigger id. */
    ah_resource_t pob = {0};
    ah_ok(ah_init(&pob, pob_type, 111));
    const struct rec_event *pinit = rec_find(&log_, 0, REC_INIT, pob.id);
    cr_assert_not_null(pinit);
    cr_expect_eq(pinit->trigger_id, 111);
    cr_expect_eq(pob.trigger_id, 111);
    cr_expect_eq(ah_resource_trigger_id(&pob), 111);
    ah_ok(ah_before(&pob));
    cr_expect_eq(ah_trigger_id(), 111);
    ah_ok(ah_after(&pob));
    cr_expect_eq(rec_count_id(&log_, pob.id), 3);

    /* After the hooks are disabled no event reaches them any more. */
    ah_ok(ah_hook_disable(rec.hook));
    size_t before_disable = log_.n;
    ah_fails(ah_destroy(&alca), -EIDRM);
    ah_ok(ah_destroy(&pob));
    cr_expect_eq(log_.n, before_disable);
    cr_expect_eq(rec_count_id(&log_, alca.id), 6);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, pob.id), 0);
}

/* test/async-hooks/test-embedder.api.async-event.after-on-destroyed.js */
Test(node_embedder_api, after_on_destroyed)
{
    int type = test_type("event");
    ah_resource_t event1 = {0}, event2 = {0};

    ah_ok(ah_init(&event1, type, ah_execution_id()));
    ah_ok(ah_before(&event1));
    ah_ok(ah_after(&event1));
    ah_ok(ah_destroy(&event1));

    ah_ok(ah_init(&event2, type, ah_execution_id()));
    ah_ok(ah_destroy(&event2));
    struct stack_view top = stack_now();
    size_t n = log_.n;
    ah_fails(ah_after(&event2), -EIDRM);
    cr_expect_eq(log_.n, n, "a refused after emits nothing");
    expect_stack(top, "after refused at top level");

    /* The same inside an open scope: the scope stays current and still unwinds. */
    ah_resource_t outer = {0};
    ah_ok(ah_init(&outer, type, 0));
    ah_ok(ah_before(&outer));
    struct stack_view in_outer = stack_now();
    ah_fails(ah_after(&event2), -EIDRM);
    expect_stack(in_outer, "after refused inside a scope");
    ah_ok(ah_after(&outer));
    expect_stack(top, "proper unwind after the refusal");
    ah_ok(ah_destroy(&outer));
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, 0), 2);
}

/* test/async-hooks/test-embedder.api.async-event.before-on-destroyed.js */
Test(node_embedder_api, before_on_destroyed)
{
    int type = test_type("event");
    ah_resource_t event1 = {0}, event2 = {0};

    ah_ok(ah_init(&event1, type, ah_execution_id()));
    ah_ok(ah_before(&event1));
    ah_ok(ah_after(&event1));
    ah_ok(ah_destroy(&event1));

    ah_ok(ah_init(&event2, type, ah_execution_id()));
    ah_ok(ah_destroy(&event2));
    struct stack_view top = stack_now();
    size_t n = log_.n;
    ah_fails(ah_before(&event2), -EIDRM);
    cr_expect_eq(log_.n, n, "a refused before emits nothing");
    expect_stack(top, "before refused");
    /* The refused before opened no scope: there is nothing to leave. */
    ah_fails(ah_after(&event2), -EIDRM);
    expect_stack(top, "after of the refused before");
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, event2.id), 0);
    cr_expect_eq(ah_run(&event2, NULL, NULL), NULL);
}

static void *must_not_run(void *arg)
{
    *(int *)arg += 1;
    return arg;
}

/* ah_run() of a destroyed resource does not call its function (runInAsyncScope would throw). */
Test(node_embedder_api, run_in_async_scope_on_destroyed)
{
    int type = test_type("event");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_destroy(&r));
    int calls = 0;
    cr_expect_null(ah_run(&r, must_not_run, &calls));
    cr_expect_eq(calls, 0);
    cr_expect_eq(ah_execution_depth(), 0);
}

/* test/async-hooks/test-embedder.api.async-event.improper-order.js */
Test(node_embedder_api, improper_order)
{
    int type = test_type("event");
    ah_resource_t event1 = {0}, event2 = {0};

    /* Proper ordering. */
    ah_ok(ah_init(&event1, type, ah_execution_id()));
    ah_ok(ah_before(&event1));
    ah_ok(ah_after(&event1));

    /* after without before. */
    ah_ok(ah_init(&event2, type, ah_execution_id()));
    struct stack_view top = stack_now();
    size_t n = log_.n;
    ah_fails(ah_after(&event2), -EPROTO);
    cr_expect_eq(log_.n, n, "a refused after emits nothing");
    expect_stack(top, "after without before at top level");

    /* after of a resource that is not the innermost scope: event1 is. */
    ah_ok(ah_before(&event1));
    struct stack_view in1 = stack_now();
    ah_fails(ah_after(&event2), -EPROTO);
    expect_stack(in1, "after without before inside a scope");
    ah_ok(ah_after(&event1));
    expect_stack(top, "proper unwind");

    /* Leaving a scope twice is the same mistake. */
    ah_fails(ah_after(&event1), -EPROTO);
    expect_stack(top, "second after");
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, event1.id), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, event1.id), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, event2.id), 0);
    ah_ok(ah_destroy(&event1));
    ah_ok(ah_destroy(&event2));
}

/* test/async-hooks/test-embedder.api.async-event.improper-unwind.js */
Test(node_embedder_api, improper_unwind)
{
    int type = test_type("event");
    ah_resource_t event1 = {0}, event2 = {0};
    ah_ok(ah_init(&event1, type, ah_execution_id()));
    ah_ok(ah_init(&event2, type, ah_execution_id()));
    struct stack_view top = stack_now();

    /* Proper unwind. */
    ah_ok(ah_before(&event1));
    ah_ok(ah_before(&event2));
    ah_ok(ah_after(&event2));
    ah_ok(ah_after(&event1));
    expect_stack(top, "proper unwind");

    /* Improper unwind: event1 is left while event2, nested in it, is still open. */
    ah_ok(ah_before(&event1));
    ah_ok(ah_before(&event2));
    struct stack_view in2 = stack_now();
    cr_expect_eq(in2.depth, 2);
    cr_expect_eq(in2.exec_id, event2.id);
    size_t n = log_.n;
    ah_fails(ah_after(&event1), -EPROTO);
    cr_expect_eq(log_.n, n, "a refused after emits nothing");
    expect_stack(in2, "improper unwind refused");

    /* The stack can still be left properly. */
    ah_ok(ah_after(&event2));
    cr_expect_eq(ah_execution_id(), event1.id);
    ah_ok(ah_after(&event1));
    expect_stack(top, "unwound after the refusal");

    /* The hook saw exactly the balanced sequence. */
    enum rec_ev want_ev[] = {REC_INIT,  REC_INIT,   REC_BEFORE, REC_BEFORE, REC_AFTER,
                             REC_AFTER, REC_BEFORE, REC_BEFORE, REC_AFTER,  REC_AFTER};
    ah_id_t want_id[] = {event1.id, event2.id, event1.id, event2.id, event2.id,
                         event1.id, event1.id, event2.id, event2.id, event1.id};
    cr_assert_eq(log_.n, sizeof(want_ev) / sizeof(want_ev[0]));
    for (size_t i = 0; i < log_.n; i++) {
        cr_expect_eq(log_.ev[i].ev, want_ev[i], "event %zu", i);
        cr_expect_eq(log_.ev[i].id, want_id[i], "event %zu", i);
    }
}

/* Improper unwind deep in a stack that outgrew its inline storage. */
Test(node_embedder_api, improper_unwind_deep)
{
    enum { DEPTH = 200 };
    int type = test_type("event");
    static ah_resource_t r[DEPTH];
    for (int i = 0; i < DEPTH; i++) {
        ah_ok(ah_init(&r[i], type, 0));
        ah_ok(ah_before(&r[i]));
    }
    struct stack_view deep = stack_now();
    cr_expect_eq(deep.depth, DEPTH);
    for (int i = 0; i < DEPTH - 1; i++)
        ah_fails(ah_after(&r[i]), -EPROTO);
    expect_stack(deep, "every improper after refused");
    for (int i = DEPTH - 1; i >= 0; i--) {
        cr_assert_eq(ah_execution_id(), r[i].id);
        ah_ok(ah_after(&r[i]));
        ah_ok(ah_destroy(&r[i]));
    }
    cr_expect_eq(ah_execution_depth(), 0);
}

/* Destroying a resource inside its own callback (Node's done(): runInAsyncScope, then
 * emitDestroy from within) is allowed; the scope still ends with after. */
Test(node_embedder_api, destroy_inside_own_scope)
{
    int type = test_type("event");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_id_t id = r.id;
    ah_ok(ah_before(&r));
    ah_ok(ah_destroy(&r));
    cr_expect_not(ah_resource_is_live(&r));
    cr_expect_eq(ah_execution_id(), id, "the scope still answers with the destroyed id");
    cr_expect_eq(ah_execution_resource(), &r);
    ah_fails(ah_before(&r), -EIDRM);
    cr_expect_eq(ah_execution_depth(), 1);
    ah_ok(ah_after(&r));
    cr_expect_eq(ah_execution_depth(), 0);
    ah_fails(ah_after(&r), -EIDRM);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, id), 1);
}

/* test/parallel/test-async-hooks-prevent-double-destroy.js: destroy is emitted once. */
Test(node_embedder_api, prevent_double_destroy)
{
    int type = test_type("foobar");
    ah_resource_t res = {0};
    ah_ok(ah_init(&res, type, 0));
    ah_ok(ah_destroy(&res));
    ah_fails(ah_destroy(&res), -EIDRM);
    ah_fails(ah_destroy(&res), -EIDRM);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, res.id), 1);
    cr_expect_eq(rec_count_id(&log_, res.id), 2);
    ah_fails(ah_resolve(&res), -EIDRM);
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, 0), 0);
}

/* init is emitted once per life: a live resource cannot be initialised again. */
Test(node_embedder_api, init_at_most_once)
{
    int type = test_type("foobar");
    ah_resource_t res = {0};
    ah_ok(ah_init(&res, type, 0));
    ah_id_t id = res.id;
    ah_fails(ah_init(&res, type, 0), -EBUSY);
    cr_expect_eq(res.id, id, "a refused init changes nothing");
    ah_ok(ah_resolve(&res));
    ah_fails(ah_init(&res, type, 0), -EBUSY);
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, 0), 1);
    ah_ok(ah_destroy(&res));
}

static void destroy_res2(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)id;
    ah_resource_t *res2 = arg;
    static int calls;
    if (ev == REC_DESTROY && calls++ == 0)
        cr_expect_eq(ah_destroy(res2), 0);
}

/*
 * test/parallel/test-async-hooks-close-during-destroy.js: a resource destroyed from inside a
 * destroy callback is destroyed exactly once. Node queues that destroy and reports it to the
 * hook later; libah does not re-enter hooks for events raised by a hook callback (ah.h), so the
 * hook sees res1's destroy only, while res2 is gone for good.
 */
Test(node_embedder_api, close_during_destroy)
{
    int type = test_type("foobar");
    ah_resource_t res1 = {0}, res2 = {0};
    rec.action = destroy_res2;
    rec.action_arg = &res2;
    ah_ok(ah_init(&res1, type, 0));
    ah_ok(ah_init(&res2, type, 0));
    ah_ok(ah_destroy(&res1));
    cr_expect_not(ah_resource_is_live(&res2));
    ah_fails(ah_destroy(&res2), -EIDRM);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, res1.id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, res2.id), 0);
    cr_expect_eq(rec_count(&log_, 0, REC_DESTROY, 0), 1);
}

/* test/async-hooks/test-embedder.api.async-resource-no-type.js and
 * test/parallel/test-async-hooks-asyncresource-constructor.js: a resource needs a valid type. */
Test(node_embedder_api, async_resource_no_type)
{
    ah_resource_t r = {0};
    ah_fails(ah_init(&r, -1, 0), -EINVAL);
    ah_fails(ah_init(&r, ah_type_count(), 0), -EINVAL);
    ah_fails(ah_init(&r, AH_TYPE_MAX, 0), -EINVAL);
    ah_fails(ah_init(&r, 1 << 30, 0), -EINVAL);
    ah_fails(ah_init(NULL, test_type("type"), 0), -EINVAL);
    cr_expect_eq(r.id, AH_ID_NONE);
    cr_expect_not(ah_resource_is_live(&r));
    cr_expect_eq(log_.n, 0, "nothing emitted for refused inits");
    /* Node: new AsyncResource('') throws ERR_ASYNC_TYPE. */
    cr_expect_eq(ah_type(""), -EINVAL);
    cr_expect_eq(ah_type(NULL), -EINVAL);
}

/* test/async-hooks/test-emit-init.js: init reports the id, type, trigger and resource. */
Test(node_embedder_api, emit_init)
{
    int type = test_type("test_emit_init_type");
    ah_id_t expected_trigger = 4242;
    struct {
        int key;
        ah_resource_t res;
    } holder = {.key = 17};
    ah_ok(ah_init(&holder.res, type, expected_trigger));
    const struct rec_event *e = rec_find(&log_, 0, REC_INIT, 0);
    cr_assert_not_null(e);
    cr_expect_eq(e->id, holder.res.id);
    cr_expect_eq(e->type, type);
    cr_expect_eq(e->trigger_id, expected_trigger);
    cr_expect_eq(e->resource, &holder.res);
    cr_expect_eq(AH_CONTAINER_OF(e->resource, __typeof__(holder), res)->key, 17);

    /* A trigger of 0 (Node: null) means "the current execution", not the previous one. */
    ah_ok(ah_hook_disable(rec.hook));
    struct rec_log log2;
    struct recorder rec2;
    rec_log_init(&log2);
    rec_new(&rec2, &log2, 2);
    ah_ok(ah_hook_enable(rec2.hook));
    ah_resource_t other = {0};
    ah_ok(ah_init(&other, type, 0));
    const struct rec_event *e2 = rec_find(&log2, 2, REC_INIT, 0);
    cr_assert_not_null(e2);
    cr_expect_neq(e2->trigger_id, expected_trigger);
    cr_expect_eq(e2->trigger_id, AH_ID_ROOT);
    cr_expect_eq(rec_count(&log_, -1, REC_INIT, other.id), 0, "the disabled hook saw nothing");
    rec_free(&rec2);
    ah_ok(ah_destroy(&holder.res));
    ah_ok(ah_destroy(&other));
}

/* test/async-hooks/test-emit-before-after.js: without a hook nothing happens, with one before
 * and after report the resource's id. */
Test(node_embedder_api, emit_before_after)
{
    int type = test_type("test_emit_before_after_type");
    ah_ok(ah_hook_disable(rec.hook));
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    cr_expect_eq(log_.n, 0);

    /* Enabled late: before and after still arrive for a resource whose init it missed. */
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    cr_assert_eq(log_.n, 2);
    cr_expect_eq(log_.ev[0].ev, REC_BEFORE);
    cr_expect_eq(log_.ev[0].id, r.id);
    cr_expect_eq(log_.ev[1].ev, REC_AFTER);
    cr_expect_eq(log_.ev[1].id, r.id);
    ah_ok(ah_destroy(&r));
}

static void *return_arg(void *arg)
{
    return arg;
}

/* test/parallel/test-async-hooks-run-in-async-scope-this-arg.js: ah_run passes its argument
 * through and returns the function's result. */
Test(node_embedder_api, run_in_async_scope_this_arg)
{
    int type = test_type("fhqwhgads");
    ah_resource_t r = {0};
    int this_arg;
    ah_ok(ah_init(&r, type, 0));
    cr_expect_eq(ah_run(&r, return_arg, &this_arg), &this_arg);
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, r.id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, r.id), 1);
    cr_expect_null(ah_run(&r, NULL, &this_arg), "no function, no scope");
    cr_expect_null(ah_run(NULL, return_arg, &this_arg));
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, r.id), 1);
    ah_ok(ah_destroy(&r));
}

/* test/async-hooks/test-async-exec-resource-match.js: in init, before, after and inside the
 * callback the execution resource is the very resource init reported. */
Test(node_embedder_api, async_exec_resource_match)
{
    int type = test_type("TheResource");
    ah_resource_t res = {0};
    ah_ok(ah_init(&res, type, 0));
    const struct rec_event *init = rec_find(&log_, 0, REC_INIT, res.id);
    cr_assert_not_null(init);
    cr_expect_eq(init->resource, &res, "resource mismatch in init");
    cr_expect_null(init->exec_res, "init runs in the creator's (top-level) execution");
    cr_expect_eq(init->exec_id, AH_ID_ROOT);
    ah_ok(ah_before(&res));
    cr_expect_eq(ah_execution_resource(), &res, "resource mismatch in cb");
    ah_ok(ah_after(&res));
    const struct rec_event *b = rec_find(&log_, 0, REC_BEFORE, res.id);
    const struct rec_event *a = rec_find(&log_, 0, REC_AFTER, res.id);
    cr_assert_not_null(b);
    cr_assert_not_null(a);
    cr_expect_eq(b->exec_res, &res, "resource mismatch in before");
    cr_expect_eq(b->exec_id, res.id);
    cr_expect_eq(a->exec_res, &res, "resource mismatch in after");
    cr_expect_eq(a->exec_id, res.id);
    ah_ok(ah_destroy(&res));
}
