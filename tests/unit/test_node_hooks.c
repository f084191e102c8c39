/*
 * test_node_hooks.c - in-process hooks (Node: async_hooks.createHook): Node's rules from
 * test/async-hooks/ and test/parallel/test-async-hooks-* translated to libah.
 *
 * One deliberate difference from Node, documented in ah.h: an event raised inside a hook
 * callback (a resource created by a hook, say) does not reach any hook, while Node runs the
 * hooks again for it. Node's tests that nest events in callbacks are translated to that rule.
 */
#include <errno.h>

#include "helpers.h"

static struct rec_log log_;

static void setup(void)
{
    rec_log_init(&log_);
}

static void teardown(void)
{
    cr_expect_eq(log_.dropped, 0);
}

TestSuite(node_hooks, .init = setup, .fini = teardown);

/* Tags of the hooks that ran for each logged event of kind EV about ID, in order. */
static size_t tags_of(enum rec_ev ev, ah_id_t id, int *tags, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < log_.n && n < max; i++)
        if (log_.ev[i].ev == ev && log_.ev[i].id == id)
            tags[n++] = log_.ev[i].tag;
    return n;
}

/* Hooks run in the order they were enabled; a hook enabled again goes last. */
Test(node_hooks, fire_in_enable_order)
{
    int type = test_type("t");
    struct recorder rec[3];
    for (int i = 0; i < 3; i++)
        rec_new(&rec[i], &log_, i);
    ah_ok(ah_hook_enable(rec[2].hook));
    ah_ok(ah_hook_enable(rec[0].hook));
    ah_ok(ah_hook_enable(rec[1].hook));

    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    ah_ok(ah_resolve(&r));
    int tags[8];
    for (int ev = REC_INIT; ev <= REC_RESOLVE; ev++) {
        if (ev == REC_DESTROY)
            continue;
        cr_assert_eq(tags_of((enum rec_ev)ev, r.id, tags, 8), 3, "event %d", ev);
        cr_expect_eq(tags[0], 2);
        cr_expect_eq(tags[1], 0);
        cr_expect_eq(tags[2], 1);
    }

    ah_ok(ah_hook_disable(rec[2].hook));
    ah_ok(ah_hook_enable(rec[2].hook));
    ah_ok(ah_destroy(&r));
    cr_assert_eq(tags_of(REC_DESTROY, r.id, tags, 8), 3);
    cr_expect_eq(tags[0], 0);
    cr_expect_eq(tags[1], 1);
    cr_expect_eq(tags[2], 2);
    for (int i = 0; i < 3; i++)
        rec_free(&rec[i]);
}

/* test/parallel/test-async-hooks-enable-disable.js: enabling twice is one hook; disabling a
 * disabled hook is harmless; nothing runs after disable. */
Test(node_hooks, enable_disable)
{
    int type = test_type("Immediate");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_hook_enable(rec.hook));
    ah_resource_t imm = {0};
    ah_ok(ah_init(&imm, type, 0));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_before(&imm));
    ah_ok(ah_after(&imm));
    ah_ok(ah_destroy(&imm));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, imm.id), 1, "init once, not once per enable");
    cr_expect_eq(log_.n, 1, "no before, after or destroy after disable");
    rec_free(&rec);
}

/* test/parallel/test-async-hooks-enable-disable-enable.js */
Test(node_hooks, enable_disable_enable)
{
    int type = test_type("PROMISE");
    struct recorder r1, r2;
    rec_new(&r1, &log_, 1);
    rec_new(&r2, &log_, 2);
    ah_ok(ah_hook_enable(r1.hook));
    ah_ok(ah_hook_disable(r1.hook));
    ah_ok(ah_hook_enable(r1.hook));
    ah_ok(ah_hook_enable(r2.hook));

    ah_id_t initial = ah_execution_id();
    ah_resource_t p = {0};
    ah_ok(ah_init(&p, type, 0));
    ah_ok(ah_before(&p));
    cr_expect_neq(ah_execution_id(), initial);
    ah_ok(ah_after(&p));
    int tags[4];
    cr_assert_eq(tags_of(REC_INIT, p.id, tags, 4), 2);
    cr_expect_eq(tags[0], 1);
    cr_expect_eq(tags[1], 2);
    rec_free(&r1);
    rec_free(&r2);
    ah_ok(ah_destroy(&p));
}

static void disable_hook(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)id;
    if (ev == REC_INIT)
        ah_ok(ah_hook_disable(arg));
}

/* test/async-hooks/test-disable-in-init.js: a hook disabled by another hook's init still runs
 * for that init (the set in force when the event started) and for nothing after. */
Test(node_hooks, disable_in_init)
{
    int type = test_type("FSREQCALLBACK");
    struct recorder outer, nested;
    rec_new(&outer, &log_, 0);
    rec_new(&nested, &log_, 1);
    outer.action = disable_hook;
    outer.action_arg = nested.hook;
    ah_ok(ah_hook_enable(outer.hook));
    ah_ok(ah_hook_enable(nested.hook));

    ah_resource_t a = {0}, b = {0};
    ah_ok(ah_init(&a, type, 0));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, a.id), 1);
    cr_expect_eq(rec_count(&log_, 1, REC_INIT, a.id), 1, "disabled during this event: still runs");
    ah_ok(ah_init(&b, type, 0));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, b.id), 1);
    cr_expect_eq(rec_count(&log_, 1, REC_INIT, 0), 1, "disabled from the next event on");
    rec_free(&outer);
    rec_free(&nested);
    ah_ok(ah_destroy(&a));
    ah_ok(ah_destroy(&b));
}

struct enable_nested_arg {
    ah_hook_t *nested;
    int type;
    ah_resource_t inner;
    int inits;
};

static void enable_and_create(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)id;
    struct enable_nested_arg *a = arg;
    if (ev != REC_INIT)
        return;
    ah_ok(ah_hook_enable(a->nested));
    /* Like Node's fs.access inside init: a resource created by a hook callback. */
    if (a->inits++ == 0) {
        ah_ok(ah_init(&a->inner, a->type, 0));
        ah_ok(ah_before(&a->inner));
        ah_ok(ah_after(&a->inner));
        ah_ok(ah_destroy(&a->inner));
    }
}

/* test/async-hooks/test-enable-in-init.js: a hook enabled inside init sees neither that init
 * nor events raised inside the callback. */
Test(node_hooks, enable_in_init)
{
    int type = test_type("FSREQCALLBACK");
    struct recorder outer, nested;
    rec_new(&outer, &log_, 0);
    rec_new(&nested, &log_, 1);
    struct enable_nested_arg arg = {.nested = nested.hook, .type = type};
    outer.action = enable_and_create;
    outer.action_arg = &arg;
    ah_ok(ah_hook_enable(outer.hook));

    ah_resource_t a = {0};
    ah_ok(ah_init(&a, type, 0));
    cr_expect_eq(arg.inits, 1);
    cr_expect(ah_resource_is_live(&a));
    cr_expect_not(ah_resource_is_live(&arg.inner), "the nested resource lived and died");
    cr_expect_gt(arg.inner.id, a.id, "it got a real id");
    cr_expect_eq(arg.inner.trigger_id, AH_ID_ROOT);
    cr_expect_eq(rec_count_id(&log_, arg.inner.id), 0, "events raised in a callback reach no hook");
    cr_expect_eq(rec_count(&log_, 1, REC_INIT, 0), 0, "enabled during this event: not run");
    cr_expect_eq(log_.n, 1);
    cr_expect_eq(ah_execution_depth(), 0);
    rec_free(&outer);
    rec_free(&nested);
    ah_ok(ah_destroy(&a));
}

/* test/parallel/test-async-hooks-enable-recursive.js: enabled inside init, the nested hook sees
 * the next init, which happens in the first resource's callback. */
Test(node_hooks, enable_recursive)
{
    int type = test_type("RANDOMBYTESREQUEST");
    struct recorder outer, nested;
    rec_new(&outer, &log_, 0);
    rec_new(&nested, &log_, 1);
    struct enable_nested_arg arg = {.nested = nested.hook, .type = type, .inits = 1};
    outer.action = enable_and_create;
    outer.action_arg = &arg;
    ah_ok(ah_hook_enable(outer.hook));

    ah_resource_t first = {0}, second = {0};
    ah_ok(ah_init(&first, type, 0));
    ah_ok(ah_before(&first));
    ah_ok(ah_init(&second, type, 0));
    ah_ok(ah_after(&first));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, 0), 2);
    cr_expect_eq(rec_count(&log_, 1, REC_INIT, 0), 1);
    cr_expect_eq(rec_count(&log_, 1, REC_INIT, second.id), 1);
    const struct rec_event *e = rec_find(&log_, 1, REC_INIT, second.id);
    cr_assert_not_null(e);
    cr_expect_eq(e->trigger_id, first.id);
    rec_free(&outer);
    rec_free(&nested);
    ah_ok(ah_destroy(&first));
    ah_ok(ah_destroy(&second));
}

/* test/parallel/test-async-hooks-disable-during-promise.js: a hook disabled inside a callback
 * misses that callback's after and everything created from then on. */
Test(node_hooks, disable_during_promise)
{
    int promise = test_type("PROMISE"), tick = test_type("TickObject");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));

    ah_resource_t p1 = {0}, p2 = {0}, p3 = {0}, t = {0};
    ah_ok(ah_init(&p1, promise, 0));
    ah_ok(ah_init(&p2, promise, p1.id));
    ah_ok(ah_resolve(&p1));
    ah_ok(ah_before(&p2));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_init(&p3, promise, 0));
    ah_ok(ah_init(&t, tick, 0));
    ah_ok(ah_after(&p2));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, 0), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, 0), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, 0), 0);
    rec_free(&rec);
    ah_resource_t *all[] = {&p1, &p2, &p3, &t};
    for (int i = 0; i < 4; i++)
        ah_ok(ah_destroy(all[i]));
}

/* test/parallel/test-async-hooks-enable-during-promise.js: a hook enabled inside a callback sees
 * what that callback creates and the callback's own after. */
Test(node_hooks, enable_during_promise)
{
    int promise = test_type("PROMISE"), tick = test_type("TickObject");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_resource_t p1 = {0}, t = {0};
    ah_ok(ah_init(&p1, promise, 0));
    ah_ok(ah_before(&p1));
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_init(&t, tick, 0));
    ah_ok(ah_after(&p1));
    ah_ok(ah_before(&t));
    ah_ok(ah_after(&t));
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, 0), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, t.id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_BEFORE, 0), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, 0), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, p1.id), 1);
    rec_free(&rec);
    ah_ok(ah_destroy(&p1));
    ah_ok(ah_destroy(&t));
}

/* test/parallel/test-async-hooks-promise-enable-disable.js: only the inits made while the hook
 * was enabled reach it, however often it is toggled. */
Test(node_hooks, promise_enable_disable)
{
    int promise = test_type("PROMISE");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_hook_disable(rec.hook));

    ah_resource_t p[5] = {{0}};
    ah_ok(ah_init(&p[0], promise, 0));
    ah_ok(ah_init(&p[1], promise, p[0].id));
    ah_ok(ah_before(&p[1]));
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_init(&p[2], promise, 0));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_after(&p[1]));
    ah_ok(ah_init(&p[3], promise, p[2].id));
    ah_ok(ah_before(&p[3]));
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_init(&p[4], promise, 0));
    ah_ok(ah_hook_disable(rec.hook));
    ah_ok(ah_after(&p[3]));

    cr_expect_eq(rec_count(&log_, 0, REC_INIT, 0), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, p[2].id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_INIT, p[4].id), 1);
    cr_expect_eq(log_.n, 2);
    rec_free(&rec);
    for (int i = 0; i < 5; i++)
        ah_ok(ah_destroy(&p[i]));
}

/* test/parallel/test-async-hooks-enable-before-promise-resolve.js: a hook enabled inside a timer
 * callback sees that callback's after and the after of the reaction it resolves. */
Test(node_hooks, enable_before_promise_resolve)
{
    int timeout = test_type("Timeout"), promise = test_type("PROMISE");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_resource_t timer = {0}, p = {0}, reaction = {0};
    ah_ok(ah_init(&p, promise, 0));
    ah_ok(ah_init(&reaction, promise, p.id));
    ah_ok(ah_init(&timer, timeout, 0));
    ah_ok(ah_before(&timer));
    ah_id_t initial = ah_execution_id();
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_resolve(&p));
    ah_ok(ah_after(&timer));
    ah_ok(ah_before(&reaction));
    cr_expect_neq(ah_execution_id(), initial);
    cr_expect_gt(ah_execution_id(), 0);
    ah_ok(ah_after(&reaction));
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, 0), 2);
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, p.id), 1);
    rec_free(&rec);
    ah_ok(ah_destroy(&timer));
    ah_ok(ah_destroy(&p));
    ah_ok(ah_destroy(&reaction));
}

/* promiseResolve fires once per resource; a second resolve is refused and emits nothing. */
Test(node_hooks, promise_resolve_once)
{
    int promise = test_type("PROMISE");
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));
    ah_resource_t p = {0}, never = {0};
    ah_ok(ah_init(&p, promise, 0));
    ah_ok(ah_resolve(&p));
    ah_fails(ah_resolve(&p), -EALREADY);
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, p.id), 1);
    cr_expect(ah_resource_is_live(&p), "resolved is still live");
    ah_ok(ah_before(&p));
    ah_ok(ah_after(&p));
    ah_ok(ah_destroy(&p));
    ah_fails(ah_resolve(&p), -EIDRM);
    ah_fails(ah_resolve(NULL), -EINVAL);
    ah_fails(ah_resolve(&never), -EINVAL);
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, 0), 1);
    /* Re-initialised, the structure is a new promise that may resolve again. */
    ah_ok(ah_init(&p, promise, 0));
    ah_ok(ah_resolve(&p));
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, p.id), 1);
    cr_expect_eq(rec_count(&log_, 0, REC_RESOLVE, 0), 2);
    rec_free(&rec);
    ah_ok(ah_destroy(&p));
}

struct reenter_arg {
    int type;
    ah_resource_t made[4];
    int n;
    int depth_seen;
    ah_id_t exec_seen;
};

/* From inside callbacks, raise every kind of event on fresh resources. */
static void raise_everything(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)ev;
    (void)id;
    struct reenter_arg *a = arg;
    if (a->n >= 4)
        return;
    ah_resource_t *r = &a->made[a->n++];
    ah_ok(ah_init(r, a->type, 0));
    ah_ok(ah_before(r));
    a->exec_seen = ah_execution_id();
    ah_ok(ah_resolve(r));
    ah_ok(ah_after(r));
    ah_ok(ah_destroy(r));
}

/* Events raised inside a hook callback reach no hook, neither the one running nor the others,
 * and leave the stack as it was. */
Test(node_hooks, no_reentry_from_callbacks)
{
    int type = test_type("t");
    struct recorder a, b;
    rec_new(&a, &log_, 0);
    rec_new(&b, &log_, 1);
    struct reenter_arg arg = {.type = type};
    a.action = raise_everything;
    a.action_arg = &arg;
    ah_ok(ah_hook_enable(a.hook));
    ah_ok(ah_hook_enable(b.hook));

    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    cr_expect_eq(ah_execution_id(), r.id);
    cr_expect_eq(ah_execution_depth(), 1);
    ah_ok(ah_after(&r));
    ah_ok(ah_destroy(&r));
    cr_expect_eq(arg.n, 4);
    cr_expect_eq(arg.exec_seen, arg.made[3].id, "the nested scope was entered");
    for (int i = 0; i < 4; i++) {
        cr_expect_gt(arg.made[i].id, AH_ID_ROOT);
        cr_expect_eq(rec_count_id(&log_, arg.made[i].id), 0);
    }
    cr_expect_eq(arg.made[1].trigger_id, r.id, "created in before: triggered by r");
    cr_expect_eq(rec_count_id(&log_, r.id), 8, "4 events x 2 hooks");
    cr_expect_eq(log_.n, 8);
    cr_expect_eq(ah_execution_depth(), 0);
    rec_free(&a);
    rec_free(&b);
}

static int null_cb_data;

/* test/parallel/test-async-hooks-constructor.js: in C a missing callback is NULL, which is
 * allowed for every one of them; a NULL table is refused. */
Test(node_hooks, constructor_null_callbacks)
{
    ah_hook_callbacks_t none = {0};
    ah_hook_t *empty = ah_hook_new(&none, &null_cb_data);
    cr_assert_not_null(empty);
    ah_ok(ah_hook_enable(empty));
    struct recorder rec;
    rec_new(&rec, &log_, 0);
    ah_ok(ah_hook_enable(rec.hook));
    /* Each callback alone. */
    ah_hook_t *single[5];
    for (int i = 0; i < 5; i++) {
        ah_hook_callbacks_t cb = {0};
        switch (i) {
        case 0:
            cb.init = rec_on_init;
            break;
        case 1:
            cb.before = rec_on_before;
            break;
        case 2:
            cb.after = rec_on_after;
            break;
        case 3:
            cb.destroy = rec_on_destroy;
            break;
        case 4:
            cb.resolve = rec_on_resolve;
            break;
        }
        single[i] = ah_hook_new(&cb, &rec);
        cr_assert_not_null(single[i]);
        ah_ok(ah_hook_enable(single[i]));
    }
    int type = test_type("t");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    ah_ok(ah_resolve(&r));
    ah_ok(ah_destroy(&r));
    for (int ev = REC_INIT; ev <= REC_RESOLVE; ev++)
        cr_expect_eq(rec_count(&log_, 0, (enum rec_ev)ev, r.id), 2, "full + single hook, ev %d",
                     ev);
    cr_expect_eq(log_.n, 10);

    cr_expect_null(ah_hook_new(NULL, NULL));
    ah_fails(ah_hook_enable(NULL), -EINVAL);
    ah_fails(ah_hook_disable(NULL), -EINVAL);
    ah_hook_free(NULL);
    ah_hook_free(empty);
    for (int i = 0; i < 5; i++)
        ah_hook_free(single[i]);
    rec_free(&rec);
}

static void count_init(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    (void)id;
    (void)type;
    (void)trigger;
    (void)r;
    ++*(int *)data;
}

/* At most AH_HOOK_MAX hooks are enabled at once; each of them runs. */
Test(node_hooks, hook_max)
{
    ah_hook_callbacks_t cb = {.init = count_init};
    static int counts[AH_HOOK_MAX + 1];
    ah_hook_t *h[AH_HOOK_MAX + 1];
    for (int i = 0; i <= AH_HOOK_MAX; i++) {
        h[i] = ah_hook_new(&cb, &counts[i]);
        cr_assert_not_null(h[i]);
    }
    for (int i = 0; i < AH_HOOK_MAX; i++)
        ah_ok(ah_hook_enable(h[i]));
    ah_fails(ah_hook_enable(h[AH_HOOK_MAX]), -ENOSPC);
    ah_ok(ah_hook_enable(h[0]));
    int type = test_type("t");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    for (int i = 0; i < AH_HOOK_MAX; i++)
        cr_expect_eq(counts[i], 1, "hook %d", i);
    cr_expect_eq(counts[AH_HOOK_MAX], 0, "the refused hook is not enabled");

    /* Room again after a disable. */
    ah_ok(ah_hook_disable(h[5]));
    ah_ok(ah_hook_enable(h[AH_HOOK_MAX]));
    ah_ok(ah_destroy(&r));
    ah_ok(ah_init(&r, type, 0));
    cr_expect_eq(counts[5], 1);
    cr_expect_eq(counts[AH_HOOK_MAX], 1);
    cr_expect_eq(counts[0], 2);
    for (int i = 0; i <= AH_HOOK_MAX; i++)
        ah_hook_free(h[i]);
    ah_ok(ah_destroy(&r));
    ah_ok(ah_init(&r, type, 0));
    cr_expect_eq(counts[0], 2, "freed hooks are disabled");
    ah_ok(ah_destroy(&r));
}

static void disable_self(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)id;
    (void)arg;
    if (ev == REC_BEFORE)
        ah_ok(ah_hook_disable(self->hook));
}

/* A hook that disables itself in before misses the matching after and all that follows. */
Test(node_hooks, disable_self_in_before)
{
    int type = test_type("t");
    struct recorder rec, other;
    rec_new(&rec, &log_, 0);
    rec_new(&other, &log_, 1);
    rec.action = disable_self;
    ah_ok(ah_hook_enable(rec.hook));
    ah_ok(ah_hook_enable(other.hook));
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_before(&r));
    ah_ok(ah_after(&r));
    ah_ok(ah_destroy(&r));
    cr_expect_eq(rec_count_id(&log_, r.id), 2 + 4);
    cr_expect_eq(rec_count(&log_, 0, REC_AFTER, 0), 0);
    cr_expect_eq(rec_count(&log_, 1, REC_AFTER, r.id), 1, "the other hook is unaffected");
    rec_free(&rec);
    rec_free(&other);
}

struct swap_arg {
    ah_hook_t *disable, *enable;
};

static void swap_hooks(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)id;
    struct swap_arg *s = arg;
    if (ev == REC_INIT) {
        ah_ok(ah_hook_disable(s->disable));
        ah_ok(ah_hook_enable(s->enable));
    }
}

/* Each event runs the hooks that were enabled when it started, whatever its callbacks do. */
Test(node_hooks, set_fixed_per_event)
{
    int type = test_type("t");
    struct recorder a, b, c;
    rec_new(&a, &log_, 0);
    rec_new(&b, &log_, 1);
    rec_new(&c, &log_, 2);
    struct swap_arg s = {b.hook, c.hook};
    a.action = swap_hooks;
    a.action_arg = &s;
    ah_ok(ah_hook_enable(a.hook));
    ah_ok(ah_hook_enable(b.hook));
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    int tags[4];
    cr_assert_eq(tags_of(REC_INIT, r.id, tags, 4), 2);
    cr_expect_eq(tags[0], 0);
    cr_expect_eq(tags[1], 1);
    ah_ok(ah_before(&r));
    cr_assert_eq(tags_of(REC_BEFORE, r.id, tags, 4), 2);
    cr_expect_eq(tags[0], 0);
    cr_expect_eq(tags[1], 2);
    ah_ok(ah_after(&r));
    ah_ok(ah_destroy(&r));
    rec_free(&a);
    rec_free(&b);
    rec_free(&c);
}

static void free_hook(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg)
{
    (void)self;
    (void)id;
    struct recorder *victim = arg;
    if (ev == REC_INIT && victim->hook) {
        ah_hook_free(victim->hook);
        victim->hook = NULL;
    }
}

/* A hook freed by an earlier hook's callback of the same event is not called any more: its
 * memory (and its data) may be gone. */
Test(node_hooks, free_in_callback)
{
    int type = test_type("t");
    struct recorder a, b, c;
    rec_new(&a, &log_, 0);
    rec_new(&b, &log_, 1);
    rec_new(&c, &log_, 2);
    a.action = free_hook;
    a.action_arg = &b;
    ah_ok(ah_hook_enable(a.hook));
    ah_ok(ah_hook_enable(b.hook));
    ah_ok(ah_hook_enable(c.hook));
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    cr_expect_null(b.hook);
    int tags[4];
    cr_assert_eq(tags_of(REC_INIT, r.id, tags, 4), 2);
    cr_expect_eq(tags[0], 0);
    cr_expect_eq(tags[1], 2, "the hooks after the freed one still run");
    ah_ok(ah_destroy(&r));
    cr_expect_eq(rec_count(&log_, 1, REC_DESTROY, 0), 0);
    cr_expect_eq(rec_count(&log_, 2, REC_DESTROY, r.id), 1);
    rec_free(&a);
    rec_free(&c);
}
