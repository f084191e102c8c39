/*
 * test_node_ids.c - async ids, trigger ids and the execution stack: Node's rules from
 * test/async-hooks/ and test/parallel/test-async-{hooks,wrap}-* translated to libah.
 */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

/* Top level of a thread, before libah has seen any event: Node's bootstrap execution. */
Test(node_ids, top_level_before_any_event)
{
    cr_expect_eq(ah_execution_id(), AH_ID_ROOT);
    cr_expect_eq(ah_execution_id(), 1);
    cr_expect_eq(ah_trigger_id(), AH_ID_NONE);
    cr_expect_eq(ah_trigger_id(), 0);
    cr_expect_null(ah_execution_resource());
    cr_expect_eq(ah_execution_depth(), 0);
}

Test(node_ids, top_level_after_events)
{
    int type = test_type("t");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    ah_ok(ah_destroy(&r));
    cr_expect_eq(ah_execution_id(), 1);
    cr_expect_eq(ah_trigger_id(), 0);
    cr_expect_null(ah_execution_resource());
    cr_expect_eq(ah_execution_depth(), 0);
}

/* test/parallel/test-async-wrap-uid.js: every resource gets its own numeric id, and each sees
 * init, before, after and destroy once. */
Test(node_ids, async_wrap_uid)
{
    struct rec_log log;
    struct recorder rec;
    rec_log_init(&log);
    rec_new(&rec, &log, 0);
    ah_ok(ah_hook_enable(rec.hook));
    int type = test_type("FSREQCALLBACK");
    ah_resource_t res[2] = {{0}};
    for (int i = 0; i < 2; i++)
        ah_ok(ah_init(&res[i], type, 0));
    for (int i = 0; i < 2; i++) {
        ah_ok(ah_before(&res[i]));
        ah_ok(ah_after(&res[i]));
        ah_ok(ah_destroy(&res[i]));
    }
    cr_expect_neq(res[0].id, res[1].id);
    for (int i = 0; i < 2; i++) {
        ah_id_t id = res[i].id;
        cr_expect_gt(id, AH_ID_ROOT);
        cr_expect_eq(rec_count(&log, 0, REC_INIT, id), 1);
        cr_expect_eq(rec_count(&log, 0, REC_BEFORE, id), 1);
        cr_expect_eq(rec_count(&log, 0, REC_AFTER, id), 1);
        cr_expect_eq(rec_count(&log, 0, REC_DESTROY, id), 1);
    }
    rec_free(&rec);
}

/* Ids increase within a thread and are never handed out twice, not even to the same structure
 * initialised again after destroy. Enough of them to cross several blocks of ids. */
Test(node_ids, unique_increasing_never_reused)
{
    enum { N = 3 * 4096 + 17 };
    int type = test_type("t");
    ah_id_t *ids = malloc(N * sizeof(*ids));
    cr_assert_not_null(ids);
    ah_resource_t r = {0};
    ah_id_t last = AH_ID_ROOT;
    for (int i = 0; i < N; i++) {
        ah_ok(ah_init(&r, type, 0));
        ids[i] = ah_resource_id(&r);
        cr_assert_gt(ids[i], last, "id %d: %lu after %lu", i, (unsigned long)ids[i],
                     (unsigned long)last);
        last = ids[i];
        ah_ok(ah_destroy(&r));
        /* After destroy the structure still tells which id it had. */
        cr_assert_eq(ah_resource_id(&r), ids[i]);
    }
    /* Interleaved resources, some alive across the others' lives. */
    ah_resource_t keep[8] = {{0}};
    for (int i = 0; i < 8; i++) {
        ah_ok(ah_init(&keep[i], type, 0));
        cr_assert_gt(keep[i].id, last);
        last = keep[i].id;
    }
    for (int i = 0; i < 8; i++)
        ah_ok(ah_destroy(&keep[i]));
    free(ids);
}

/* A resource that was never initialised has no id. */
Test(node_ids, never_initialised)
{
    ah_resource_t r = {0};
    cr_expect_eq(ah_resource_id(&r), AH_ID_NONE);
    cr_expect_eq(ah_resource_trigger_id(&r), AH_ID_NONE);
    cr_expect_eq(ah_resource_id(NULL), AH_ID_NONE);
    cr_expect_eq(ah_resource_trigger_id(NULL), AH_ID_NONE);
    cr_expect_not(ah_resource_is_live(&r));
    cr_expect_not(ah_resource_is_live(NULL));
}

/* The trigger defaults to the current execution; an explicit one is kept as given. */
Test(node_ids, trigger_defaults_to_current_execution)
{
    int type = test_type("t");
    ah_resource_t outer = {0}, inner = {0}, explicit_ = {0}, top = {0};
    ah_ok(ah_init(&outer, type, 0));
    cr_expect_eq(outer.trigger_id, AH_ID_ROOT);
    ah_ok(ah_before(&outer));
    ah_ok(ah_init(&inner, type, 0));
    cr_expect_eq(inner.trigger_id, outer.id);
    cr_expect_eq(ah_resource_trigger_id(&inner), outer.id);
    ah_ok(ah_init(&explicit_, type, 12345));
    cr_expect_eq(explicit_.trigger_id, 12345);
    ah_ok(ah_after(&outer));
    ah_ok(ah_init(&top, type, 0));
    cr_expect_eq(top.trigger_id, AH_ID_ROOT);

    /* Inside a scope, the execution is the resource and the trigger is the resource's. */
    ah_ok(ah_before(&inner));
    cr_expect_eq(ah_execution_id(), inner.id);
    cr_expect_eq(ah_trigger_id(), outer.id);
    cr_expect_eq(ah_execution_resource(), &inner);
    ah_ok(ah_before(&explicit_));
    cr_expect_eq(ah_execution_id(), explicit_.id);
    cr_expect_eq(ah_trigger_id(), 12345);
    ah_ok(ah_after(&explicit_));
    cr_expect_eq(ah_trigger_id(), outer.id);
    ah_ok(ah_after(&inner));
    ah_resource_t *all[] = {&outer, &inner, &explicit_, &top};
    for (size_t i = 0; i < 4; i++)
        ah_ok(ah_destroy(all[i]));
}

/* test/parallel/test-async-wrap-trigger-id.js: resources with the same causal ancestry share a
 * trigger id; different ancestry gives different ones. */
Test(node_ids, async_wrap_trigger_id)
{
    int tick = test_type("TickObject");
    ah_id_t trigger0 = ah_trigger_id();
    ah_resource_t t1 = {0}, t2 = {0}, t3 = {0};
    ah_ok(ah_init(&t1, tick, 0));
    ah_ok(ah_before(&t1));
    ah_ok(ah_init(&t2, tick, 0));
    ah_ok(ah_init(&t3, tick, 0));
    ah_ok(ah_after(&t1));

    ah_ok(ah_before(&t2));
    ah_id_t trigger1 = ah_trigger_id();
    ah_ok(ah_after(&t2));
    ah_ok(ah_before(&t3));
    ah_id_t trigger2 = ah_trigger_id();
    ah_ok(ah_after(&t3));

    cr_expect_neq(trigger0, trigger1, "different causal ancestry, different triggers");
    cr_expect_eq(trigger1, trigger2, "same causal ancestry, same trigger");
    cr_expect_eq(trigger1, t1.id);
    ah_ok(ah_destroy(&t1));
    ah_ok(ah_destroy(&t2));
    ah_ok(ah_destroy(&t3));
}

/* test/parallel/test-async-hooks-promise.js: a chained resource names its parent as trigger. */
Test(node_ids, promise_trigger_id)
{
    struct rec_log log;
    struct recorder rec;
    rec_log_init(&log);
    rec_new(&rec, &log, 0);
    ah_ok(ah_hook_enable(rec.hook));
    int promise = test_type("PROMISE");
    ah_resource_t a = {0}, b = {0};
    ah_ok(ah_init(&a, promise, 0));
    ah_ok(ah_init(&b, promise, a.id));
    cr_assert_eq(rec_count(&log, 0, REC_INIT, 0), 2);
    cr_expect_eq(log.ev[0].type, promise);
    cr_expect_eq(log.ev[0].trigger_id, 1);
    cr_expect_eq(log.ev[0].id, a.id);
    cr_expect_eq(log.ev[0].resource, &a);
    cr_expect_eq(log.ev[1].trigger_id, log.ev[0].id);
    cr_expect_eq(log.ev[1].resource, &b);
    cr_expect_eq(log.ev[1].id, b.id);
    rec_free(&rec);
    ah_ok(ah_destroy(&a));
    ah_ok(ah_destroy(&b));
}

struct recurse_ctx {
    int type;
    int n;
    int calls;
    int mismatches;
};

static void *recurse(void *arg);

static void recurse_level(struct recurse_ctx *c)
{
    ah_resource_t a = {0};
    if (ah_init(&a, c->type, 0) != 0) {
        c->mismatches++;
        return;
    }
    if (ah_run(&a, recurse, c) != c)
        c->mismatches++;
    ah_destroy(&a);
}

static void *recurse(void *arg)
{
    struct recurse_ctx *c = arg;
    ah_resource_t *a = ah_execution_resource();
    c->calls++;
    if (a == NULL || a->id != ah_execution_id() || a->trigger_id != ah_trigger_id())
        c->mismatches++;
    if (c->n-- > 0)
        recurse_level(c);
    if (a == NULL || a->id != ah_execution_id() || a->trigger_id != ah_trigger_id())
        c->mismatches++;
    return c;
}

/* test/parallel/test-async-hooks-recursive-stack-runInAsyncScope.js: the stack grows as deep as
 * the program recurses; ids are right before and after each nested scope. */
Test(node_ids, recursive_stack_run_in_async_scope)
{
    struct recurse_ctx c = {.type = test_type("foobar"), .n = 1000};
    recurse_level(&c);
    cr_expect_eq(c.calls, 1001);
    cr_expect_eq(c.mismatches, 0);
    cr_expect_eq(ah_execution_depth(), 0);
    cr_expect_eq(ah_execution_id(), 1);
}

/* Nesting to any depth: 10000 scopes, far past the inline stack, checked at every level on the
 * way in and on the way out; each trigger is the enclosing scope. */
Test(node_ids, nesting_any_depth)
{
    enum { DEPTH = 10000 };
    int type = test_type("deep");
    ah_resource_t *r = calloc(DEPTH, sizeof(*r));
    cr_assert_not_null(r);
    for (unsigned i = 0; i < DEPTH; i++) {
        ah_ok(ah_init(&r[i], type, 0));
        cr_assert_eq(r[i].trigger_id, i ? r[i - 1].id : AH_ID_ROOT);
        ah_ok(ah_before(&r[i]));
        cr_assert_eq(ah_execution_depth(), i + 1);
        cr_assert_eq(ah_execution_id(), r[i].id);
        cr_assert_eq(ah_trigger_id(), r[i].trigger_id);
        cr_assert_eq(ah_execution_resource(), &r[i]);
    }
    for (unsigned i = DEPTH; i-- > 0;) {
        cr_assert_eq(ah_execution_id(), r[i].id, "level %u", i);
        cr_assert_eq(ah_trigger_id(), r[i].trigger_id);
        cr_assert_eq(ah_execution_resource(), &r[i]);
        ah_ok(ah_after(&r[i]));
        cr_assert_eq(ah_execution_depth(), i);
        ah_ok(ah_destroy(&r[i]));
    }
    cr_expect_eq(ah_execution_id(), 1);
    cr_expect_eq(ah_trigger_id(), 0);
    /* The grown stack is reused: going deep again works the same. */
    for (unsigned i = 0; i < DEPTH; i++) {
        ah_ok(ah_init(&r[i], type, 0));
        ah_ok(ah_before(&r[i]));
    }
    cr_expect_eq(ah_execution_id(), r[DEPTH - 1].id);
    for (unsigned i = DEPTH; i-- > 0;) {
        ah_ok(ah_after(&r[i]));
        ah_ok(ah_destroy(&r[i]));
    }
    cr_expect_eq(ah_execution_depth(), 0);
    free(r);
}

/* The same resource may be entered again while its scope is open (a re-entrant callback). */
Test(node_ids, same_resource_nested)
{
    int type = test_type("t");
    ah_resource_t r = {0}, other = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_init(&other, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_before(&other));
    ah_ok(ah_before(&r));
    cr_expect_eq(ah_execution_depth(), 3);
    cr_expect_eq(ah_execution_id(), r.id);
    ah_ok(ah_after(&r));
    cr_expect_eq(ah_execution_id(), other.id);
    ah_fails(ah_after(&r), -EPROTO);
    ah_ok(ah_after(&other));
    ah_ok(ah_after(&r));
    cr_expect_eq(ah_execution_depth(), 0);
    ah_ok(ah_destroy(&r));
    ah_ok(ah_destroy(&other));
}

/* Continuation-local state carried by resources, as in
 * test/parallel/test-async-hooks-execution-async-resource.js: an init hook copies the state of
 * the execution resource into every resource it creates. */
struct req {
    ah_resource_t res;
    int state;
};

static void propagate_state(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    (void)id;
    (void)type;
    (void)trigger;
    int *inits = data;
    ah_resource_t *cur = ah_execution_resource();
    AH_CONTAINER_OF(r, struct req, res)->state =
        cur ? AH_CONTAINER_OF(cur, struct req, res)->state : -1;
    (*inits)++;
}

static void *read_state(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)AH_CONTAINER_OF(ah_execution_resource(), struct req, res)->state;
}

Test(node_ids, execution_async_resource)
{
    int inits = 0;
    ah_hook_callbacks_t cb = {.init = propagate_state};
    ah_hook_t *h = ah_hook_new(&cb, &inits);
    cr_assert_not_null(h);
    ah_ok(ah_hook_enable(h));
    int http = test_type("HTTPINCOMINGMESSAGE"), timeout = test_type("Timeout");

    enum { N = 10 };
    struct req reqs[N], timers[N];
    memset(reqs, 0, sizeof(reqs));
    memset(timers, 0, sizeof(timers));
    for (int i = 0; i < N; i++) {
        ah_ok(ah_init(&reqs[i].res, http, 0));
        cr_expect_eq(reqs[i].state, -1, "created at top level");
    }
    /* Each request's handler stores its state and sets a timer. */
    for (int i = 0; i < N; i++) {
        ah_ok(ah_before(&reqs[i].res));
        AH_CONTAINER_OF(ah_execution_resource(), struct req, res)->state = 100 + i;
        ah_ok(ah_init(&timers[i].res, timeout, 0));
        ah_ok(ah_after(&reqs[i].res));
    }
    /* The timers fire in another order and find their request's state. */
    for (int i = N; i-- > 0;)
        cr_expect_eq((intptr_t)ah_run(&timers[i].res, read_state, NULL), 100 + i);
    cr_expect_eq(inits, 2 * N);
    ah_hook_free(h);
    for (int i = 0; i < N; i++) {
        ah_ok(ah_destroy(&timers[i].res));
        ah_ok(ah_destroy(&reqs[i].res));
    }
}

static void *current_id(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)ah_execution_id();
}

static void *current_trigger(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)ah_trigger_id();
}

/* test/parallel/test-asyncresource-bind.js: a bound function runs in its own resource's scope,
 * whichever scope calls it. */
Test(node_ids, asyncresource_bind)
{
    int type = test_type("bound-anonymous-fn");
    int immediate = test_type("Immediate");
    ah_bound_t fn = {0};
    ah_ok(ah_bind(&fn, type, current_id, NULL));
    cr_expect(ah_resource_is_live(&fn.resource));
    cr_expect_eq(fn.resource.trigger_id, AH_ID_ROOT);

    ah_resource_t imm = {0};
    ah_ok(ah_init(&imm, immediate, 0));
    ah_ok(ah_before(&imm));
    ah_id_t caller = ah_execution_id();
    ah_id_t seen = (ah_id_t)(uintptr_t)ah_bound_call(&fn);
    cr_expect_neq(seen, caller);
    cr_expect_eq(seen, fn.resource.id);
    cr_expect_eq(ah_execution_id(), caller, "the caller's scope is back after the call");
    /* Bound inside a scope: the trigger is that scope. */
    ah_bound_t fn2 = {0};
    ah_ok(ah_bind(&fn2, type, current_trigger, NULL));
    ah_ok(ah_after(&imm));
    cr_expect_eq((ah_id_t)(uintptr_t)ah_bound_call(&fn2), imm.id);
    cr_expect_eq((ah_id_t)(uintptr_t)ah_bound_call(&fn), fn.resource.id, "callable again");

    ah_ok(ah_unbind(&fn));
    ah_ok(ah_unbind(&fn2));
    cr_expect_null(ah_bound_call(&fn), "an unbound function is not called");
    ah_fails(ah_unbind(&fn), -EIDRM);
    ah_fails(ah_bind(&fn, type, NULL, NULL), -EINVAL);
    ah_fails(ah_bind(NULL, type, current_id, NULL), -EINVAL);
    ah_fails(ah_bind(&fn, -1, current_id, NULL), -EINVAL);
    ah_fails(ah_unbind(NULL), -EINVAL);
    cr_expect_null(ah_bound_call(NULL));
    ah_ok(ah_destroy(&imm));
}
