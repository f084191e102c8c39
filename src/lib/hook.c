/*
 * hook.c - in-process hooks (Node: async_hooks.createHook).
 *
 * The list of enabled hooks changes rarely and is read by every event while any hook is
 * enabled. Writers serialise on a mutex and publish through a sequence counter; each event
 * copies the list once when it starts (a seqlock read) and calls that copy, which is what
 * makes enable/disable inside a callback take effect from the next event, as in Node.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

uint32_t ah__hooks_enabled;

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static ah_hook_t *hook_list[AH_HOOK_MAX];
static uint64_t hook_seq; /* odd while hook_list changes */

/* Sequentially consistent accesses make the seqlock correct without standalone fences, which
 * TSan cannot check (GCC refuses them under -fsanitize=thread). On x86 the loads are plain
 * moves; the stores are the writers', which are rare. */
#define SC_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define SC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

/*
 * ah_hook_free() must not free a hook that another thread is about to call. An emitting
 * thread publishes "busy since version V" and then re-reads the version; the freeing thread
 * publishes a new version and then reads every thread's "busy". Both sides need a store-load
 * fence. The emitting side is every event while hooks are enabled, so it gets only a
 * compiler barrier, and the freeing side, which is rare, makes every running thread of the
 * process execute a full barrier with membarrier(2) (an asymmetric fence). Where membarrier
 * is missing, and under TSan (which cannot see it), both sides use sequentially consistent
 * accesses instead.
 */
static int asymmetric_fence; /* 1 once MEMBARRIER_CMD_PRIVATE_EXPEDITED is registered */

static void register_asymmetric_fence(void)
{
#if !defined(__SANITIZE_THREAD__)
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        SC_STORE(&asymmetric_fence, 1);
#endif
}

static pthread_once_t fence_once = PTHREAD_ONCE_INIT;

/* The emitting side: publish BUSY, then read the hook-list version. */
static uint64_t publish_busy_then_read_version(struct ah_thread *t, uint64_t busy)
{
    if (AH_LOAD(&asymmetric_fence)) {
        AH_STORE(&t->hooks_in_use, busy);
        atomic_signal_fence(memory_order_seq_cst);
        return AH_LOAD(&hook_seq);
    }
    SC_STORE(&t->hooks_in_use, busy);
    return SC_LOAD(&hook_seq);
}

/* The freeing side, after publishing a new version: pair with every emitting thread. */
static void fence_against_emitters(void)
{
    if (SC_LOAD(&asymmetric_fence))
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

static void publish_begin(void)
{
    SC_STORE(&hook_seq, hook_seq + 1);
}

static void publish_end(uint32_t count)
{
    SC_STORE(&ah__hooks_enabled, count);
    SC_STORE(&hook_seq, hook_seq + 1);
}

static uint32_t snapshot(ah_hook_t **out, uint64_t *version)
{
    for (;;) {
        uint64_t seq = SC_LOAD(&hook_seq);
        if (seq & 1)
            continue;
        uint32_t n = SC_LOAD(&ah__hooks_enabled);
        for (uint32_t i = 0; i < n; i++)
            out[i] = SC_LOAD(&hook_list[i]);
        if (SC_LOAD(&hook_seq) == seq) {
            *version = seq;
            return n;
        }
    }
}

void ah__hooks_emit(struct ah_thread *t, enum ah_event ev, ah_resource_t *r, ah_id_t id)
{
    /* An event raised by a hook callback does not reach hooks again. */
    if (t->in_hook)
        return;
    ah_hook_t *set[AH_HOOK_MAX];
    uint64_t version;
    uint32_t n;
    t->in_hook = 1;
    /* Published before any callback runs, then checked against the list again: either
     * ah_hook_free() on another thread sees this thread busy and waits, or this thread sees
     * the list change and takes a new snapshot (both sides use sequentially consistent
     * accesses, so one of them must see the other). */
    do {
        n = snapshot(set, &version);
    } while (publish_busy_then_read_version(t, version + 1) != version);
    t->emitting = set;
    t->emitting_n = n;
    for (uint32_t i = 0; i < n; i++) {
        if (set[i] == NULL)
            continue;
        const ah_hook_callbacks_t *cb = &set[i]->cb;
        void *data = set[i]->data;
        switch (ev) {
        case AH_EV_INIT:
            if (cb->init)
                cb->init(id, r->type, r->trigger_id, r, data);
            break;
        case AH_EV_BEFORE:
            if (cb->before)
                cb->before(id, data);
            break;
        case AH_EV_AFTER:
            if (cb->after)
                cb->after(id, data);
            break;
        case AH_EV_DESTROY:
            if (cb->destroy)
                cb->destroy(id, data);
            break;
        case AH_EV_RESOLVE:
            if (cb->resolve)
                cb->resolve(id, data);
            break;
        }
    }
    t->emitting = NULL;
    t->emitting_n = 0;
    AH_STORE_RELEASE(&t->hooks_in_use, 0);
    t->in_hook = 0;
}

AH_EXPORT ah_hook_t *ah_hook_new(const ah_hook_callbacks_t *cb, void *data)
{
    if (cb == NULL)
        return NULL;
    ah_hook_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cb = *cb;
    h->data = data;
    return h;
}

void ah__hooks_after_fork(void)
{
    pthread_mutex_init(&hook_lock, NULL);
}

AH_EXPORT int ah_hook_enable(ah_hook_t *h)
{
    if (h == NULL)
        return -EINVAL;
    pthread_once(&fence_once, register_asymmetric_fence);
    pthread_mutex_lock(&hook_lock);
    int rc = 0;
    uint32_t n = ah__hooks_enabled;
    if (h->enabled) {
        rc = 0;
    } else if (n >= AH_HOOK_MAX) {
        rc = -ENOSPC;
    } else {
        publish_begin();
        SC_STORE(&hook_list[n], h);
        h->enabled = true;
        publish_end(n + 1);
    }
    pthread_mutex_unlock(&hook_lock);
    return rc;
}

AH_EXPORT int ah_hook_disable(ah_hook_t *h)
{
    if (h == NULL)
        return -EINVAL;
    pthread_mutex_lock(&hook_lock);
    if (h->enabled) {
        uint32_t n = ah__hooks_enabled, j = 0;
        publish_begin();
        for (uint32_t i = 0; i < n; i++) {
            if (hook_list[i] != h)
                SC_STORE(&hook_list[j++], hook_list[i]);
        }
        h->enabled = false;
        publish_end(j);
    }
    pthread_mutex_unlock(&hook_lock);
    return 0;
}

AH_EXPORT void ah_hook_free(ah_hook_t *h)
{
    if (h == NULL)
        return;
    ah_hook_disable(h);
    /* A callback of this very thread may be freeing H: strike it from the running snapshot. */
    struct ah_thread *self = ah__self;
    if (self && self->emitting) {
        for (uint32_t i = 0; i < self->emitting_n; i++)
            if (self->emitting[i] == h)
                self->emitting[i] = NULL;
    }
    /* Other threads may still run H from a snapshot taken before the disable. */
    fence_against_emitters();
    ah__threads_quiesce_hooks(SC_LOAD(&hook_seq), self);
    free(h);
}
