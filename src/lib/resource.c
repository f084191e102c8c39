/*
 * resource.c - the lifecycle of async resources: init, before, after, destroy, resolve.
 *
 * This is the hot path. Untraced and without hooks an event costs a few loads, stores and
 * not-taken branches: no atomic read-modify-write, no lock, no allocation, no system call.
 * Probes and hooks live behind one unlikely branch each.
 */
#include <errno.h>

#include "internal.h"
#include "probes.h"

#define AH_HOOKS_ON() AH_UNLIKELY(AH_LOAD(&ah__hooks_enabled) != 0)

/*
 * Each event has a fast path for the common case (a thread that has its state, no context
 * frame, nobody observing: no tracer, no batch tracer, no hook) and the general path for
 * everything else (*_general, below). The fast path makes no call but the tail call to the
 * general one, so it needs no stack frame and saves no register: an untraced lifecycle went
 * from ~12 to ~9 ns (issue 13, docs/BENCHMARKS.md). A traced probe runs in the general path,
 * reached by that tail call, so its caller's frame is still the one a stack walk finds
 * (record --stacks). The fast path only decides; it changes nothing before it knows it is the
 * one to run, so the general path sees the arguments as they came.
 */
#define AH_COLD __attribute__((noinline, cold))
/* Anyone observing events of probe NAME: its tracer, a batch tracer, a hook. */
#define AH_OBSERVED(name)                                                                          \
    ((AH_SEMAPHORE(name) | AH_SEMAPHORE(batch) | AH_LOAD(&ah__hooks_enabled)) != 0)

/* Named ah_*: ahprof takes the first frame outside ah_* as the creation site (asyncstack.c). */
static AH_COLD int ah__init_general(ah_resource_t *r, int type, ah_id_t trigger_id)
{
    if (AH_UNLIKELY(r == NULL || !ah__type_valid(type)))
        return -EINVAL;
    if (AH_UNLIKELY(ah__is_live_state(AH_LOAD(&r->state))))
        return -EBUSY;
    struct ah_thread *t = ah__thread();
    if (AH_UNLIKELY(t == NULL))
        return -ENOMEM;
    if (AH_UNLIKELY(t->next_id == t->id_end))
        ah__thread_refill_ids(t);

    ah_id_t id = t->next_id++;
    r->id = id;
    r->trigger_id = trigger_id ? trigger_id : ah__current_id(t);
    r->type = type;
    r->context = t->context;
    if (t->context)
        ah__context_retain(t->context);
    AH_STORE(&r->state, AH_STATE_LIVE);

    /* The probe fires before the live count changes: a reader that sees the new count in
     * the registry knows the probe has fired (docs/probes.md, "attaching mid-run"). */
    if (AH_PROBE_ENABLED(init))
        DTRACE_PROBE5(ah, init, id, r->trigger_id, type, ah__type_names[type], t->registry.seq + 2);
    if (AH_BATCHING())
        ah__batch_add(t, AHP_EV_INIT, id, r->trigger_id, type);
    atomic_signal_fence(memory_order_seq_cst);
    ah__count_live(t, type, +1);

    if (AH_HOOKS_ON())
        ah__hooks_emit(t, AH_EV_INIT, r, id);
    return 0;
}

static AH_COLD int ah__before_general(ah_resource_t *r)
{
    if (AH_UNLIKELY(r == NULL))
        return -EINVAL;
    uint32_t state = AH_LOAD(&r->state);
    if (AH_UNLIKELY(!ah__is_live_state(state)))
        return state == AH_STATE_DEAD ? -EIDRM : -EINVAL;
    struct ah_thread *t = ah__thread();
    if (AH_UNLIKELY(t == NULL))
        return -ENOMEM;
    if (AH_UNLIKELY(t->depth == t->capacity)) {
        int rc = ah__thread_grow_stack(t);
        if (rc < 0)
            return rc;
    }
    struct ah_frame *f = &t->stack[t->depth];
    f->resource = r;
    f->id = r->id;
    f->trigger_id = r->trigger_id;
    /* The thread's reference to its frame moves to the scope; the thread takes one to r's,
     * so that destroying r inside its own scope cannot free the current frame. */
    f->saved_context = t->context;
    t->context = r->context;
    if (t->context)
        ah__context_retain(t->context);
    t->depth++;

    if (AH_PROBE_ENABLED(before))
        DTRACE_PROBE2(ah, before, f->id, r->type);
    if (AH_BATCHING())
        ah__batch_add(t, AHP_EV_BEFORE, f->id, 0, r->type);
    if (AH_HOOKS_ON())
        ah__hooks_emit(t, AH_EV_BEFORE, r, f->id);
    return 0;
}

static AH_COLD int ah__after_general(ah_resource_t *r)
{
    if (AH_UNLIKELY(r == NULL))
        return -EINVAL;
    struct ah_thread *t = ah__self;
    if (AH_UNLIKELY(t == NULL || t->depth == 0 || t->stack[t->depth - 1].resource != r ||
                    t->stack[t->depth - 1].id != r->id)) {
        /* Not the innermost scope: after without before, after on a resource destroyed
         * outside its scope, non-LIFO unwinding, or no resource at all. Change nothing. */
        uint32_t state = AH_LOAD(&r->state);
        if (state == AH_STATE_DEAD)
            return -EIDRM;
        return ah__is_live_state(state) ? -EPROTO : -EINVAL;
    }
    struct ah_frame *f = &t->stack[t->depth - 1];
    ah_id_t id = f->id;
    if (AH_PROBE_ENABLED(after))
        DTRACE_PROBE2(ah, after, id, r->type);
    if (AH_BATCHING()) {
        uint64_t now = ah__batch_add(t, AHP_EV_AFTER, id, 0, r->type);
        /* Back at the top level: hand over records held longer than the bound. */
        if (t->depth == 1 && t->batch.hdr.count != 0 &&
            now - t->batch.rec[0].ticks > AH_LOAD(&ah__batch_bound_ticks))
            ah__batch_flush(t);
    }
    if (AH_HOOKS_ON())
        ah__hooks_emit(t, AH_EV_AFTER, r, id);
    void *context = t->context;
    t->context = f->saved_context;
    t->depth--;
    if (context)
        ah__context_release(context);
    return 0;
}

static AH_COLD int ah__destroy_general(ah_resource_t *r)
{
    if (AH_UNLIKELY(r == NULL))
        return -EINVAL;
    uint32_t state = AH_LOAD(&r->state);
    if (AH_UNLIKELY(!ah__is_live_state(state)))
        return state == AH_STATE_DEAD ? -EIDRM : -EINVAL;
    AH_STORE(&r->state, AH_STATE_DEAD);
    struct ah_thread *t = ah__thread();
    if (AH_UNLIKELY(t == NULL))
        return -ENOMEM;
    ah_id_t id = r->id;
    int type = r->type;
    if (AH_PROBE_ENABLED(destroy))
        DTRACE_PROBE3(ah, destroy, id, type, t->registry.seq + 2);
    if (AH_BATCHING())
        ah__batch_add(t, AHP_EV_DESTROY, id, 0, type);
    atomic_signal_fence(memory_order_seq_cst);
    ah__count_live(t, type, -1);
    if (AH_HOOKS_ON())
        ah__hooks_emit(t, AH_EV_DESTROY, r, id);
    if (r->context) {
        void *context = r->context;
        r->context = NULL;
        ah__context_release(context);
    }
    return 0;
}

AH_EXPORT int ah_init(ah_resource_t *r, int type, ah_id_t trigger_id)
{
    struct ah_thread *t = ah__self;
    if (AH_UNLIKELY(r == NULL || t == NULL || !ah__type_valid(type) ||
                    ah__is_live_state(AH_LOAD(&r->state)) || t->next_id == t->id_end ||
                    t->context != NULL || AH_OBSERVED(init)))
        return ah__init_general(r, type, trigger_id);
    ah_id_t id = t->next_id++;
    r->id = id;
    r->trigger_id = trigger_id ? trigger_id : ah__current_id(t);
    r->type = type;
    r->context = NULL;
    AH_STORE(&r->state, AH_STATE_LIVE);
    atomic_signal_fence(memory_order_seq_cst);
    ah__count_live(t, type, +1);
    return 0;
}

AH_EXPORT int ah_before(ah_resource_t *r)
{
    struct ah_thread *t = ah__self;
    if (AH_UNLIKELY(r == NULL || t == NULL || !ah__is_live_state(AH_LOAD(&r->state)) ||
                    t->depth == t->capacity || t->context != NULL || r->context != NULL ||
                    AH_OBSERVED(before)))
        return ah__before_general(r);
    struct ah_frame *f = &t->stack[t->depth];
    f->resource = r;
    f->id = r->id;
    f->trigger_id = r->trigger_id;
    f->saved_context = NULL;
    t->depth++;
    return 0;
}

AH_EXPORT int ah_after(ah_resource_t *r)
{
    struct ah_thread *t = ah__self;
    if (AH_UNLIKELY(r == NULL || t == NULL || t->depth == 0 ||
                    t->stack[t->depth - 1].resource != r || t->stack[t->depth - 1].id != r->id ||
                    t->context != NULL || t->stack[t->depth - 1].saved_context != NULL ||
                    AH_OBSERVED(after)))
        return ah__after_general(r);
    t->depth--;
    return 0;
}

AH_EXPORT int ah_destroy(ah_resource_t *r)
{
    struct ah_thread *t = ah__self;
    if (AH_UNLIKELY(r == NULL || t == NULL || !ah__is_live_state(AH_LOAD(&r->state)) ||
                    r->context != NULL || AH_OBSERVED(destroy)))
        return ah__destroy_general(r);
    AH_STORE(&r->state, AH_STATE_DEAD);
    atomic_signal_fence(memory_order_seq_cst);
    ah__count_live(t, r->type, -1);
    return 0;
}

AH_EXPORT int ah_resolve(ah_resource_t *r)
{
    if (AH_UNLIKELY(r == NULL))
        return -EINVAL;
    uint32_t state = AH_STATE_LIVE;
    if (!__atomic_compare_exchange_n(&r->state, &state, AH_STATE_RESOLVED, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        if (state == AH_STATE_RESOLVED)
            return -EALREADY;
        return state == AH_STATE_DEAD ? -EIDRM : -EINVAL;
    }
    struct ah_thread *t = ah__thread();
    if (AH_UNLIKELY(t == NULL))
        return -ENOMEM;
    if (AH_PROBE_ENABLED(resolve))
        DTRACE_PROBE2(ah, resolve, r->id, r->type);
    if (AH_BATCHING())
        ah__batch_add(t, AHP_EV_RESOLVE, r->id, 0, r->type);
    if (AH_HOOKS_ON())
        ah__hooks_emit(t, AH_EV_RESOLVE, r, r->id);
    return 0;
}

AH_EXPORT ah_id_t ah_resource_id(const ah_resource_t *r)
{
    return r ? r->id : AH_ID_NONE;
}

AH_EXPORT ah_id_t ah_resource_trigger_id(const ah_resource_t *r)
{
    return r ? r->trigger_id : AH_ID_NONE;
}

AH_EXPORT int ah_resource_is_live(const ah_resource_t *r)
{
    return r != NULL && ah__is_live_state(AH_LOAD(&r->state));
}

AH_EXPORT void *ah_run(ah_resource_t *r, void *(*fn)(void *), void *arg)
{
    if (fn == NULL || ah_before(r) < 0)
        return NULL;
    void *result = fn(arg);
    ah_after(r);
    return result;
}

AH_EXPORT int ah_bind(ah_bound_t *b, int type, void *(*fn)(void *), void *arg)
{
    if (b == NULL || fn == NULL)
        return -EINVAL;
    int rc = ah_init(&b->resource, type, 0);
    if (rc < 0)
        return rc;
    b->fn = fn;
    b->arg = arg;
    return 0;
}

AH_EXPORT void *ah_bound_call(ah_bound_t *b)
{
    return b ? ah_run(&b->resource, b->fn, b->arg) : NULL;
}

AH_EXPORT int ah_unbind(ah_bound_t *b)
{
    return b ? ah_destroy(&b->resource) : -EINVAL;
}
