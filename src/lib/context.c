/*
 * context.c - context storage (Node: AsyncLocalStorage; TC39: AsyncContext).
 *
 * Ownership of frames (docs/context.md, "Reference counting"): a frame stays alive while
 *   - it is the current frame of a thread (t->context: the thread holds one reference),
 *   - a scope saved it in its stack entry (the thread's reference moved there at before),
 *   - a resource captured it at init (until destroy), or a snapshot holds it (until release),
 *   - a run/exit/snapshot-run in progress will restore it (the reference moved to its stack).
 * ah_before() takes a reference to the resource's frame for the thread and ah_after() drops
 * it, both only when the frame is not NULL: the empty context costs no atomic operation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"
#include "context.h"

typedef struct ah_context_frame frame_t;
typedef struct ah_context_entry entry_t;

/* The generation of every slot, 0 when the slot is free. Chunks are allocated on demand and
 * never move or go away, so frame copies read them without a lock. */
#define SLOT_CHUNK 256
#define SLOT_CHUNKS 1024
static uint64_t *slot_gens[SLOT_CHUNKS];
static uint32_t slot_count; /* slots ever handed out; guarded by store_lock */
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t gen_last;

/* Counts the replacements of this thread's frame by enter_with, disable and free, so that a
 * run() can tell cheaply whether its callback left the frame it installed in place. */
static __thread uint64_t switches __attribute__((tls_model("initial-exec")));

void ah__context_retain(void *frame)
{
    frame_t *f = frame;
    __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED);
}

void ah__context_release(void *frame)
{
    frame_t *f = frame;
    if (__atomic_fetch_sub(&f->refs, 1, __ATOMIC_ACQ_REL) == 1)
        ah__context_free(f);
}

void ah__context_free(frame_t *f)
{
    free(f);
}

static uint64_t *slot_gen(uint32_t slot)
{
    uint64_t *chunk = __atomic_load_n(&slot_gens[slot / SLOT_CHUNK], __ATOMIC_ACQUIRE);
    return chunk ? &chunk[slot % SLOT_CHUNK] : NULL;
}

/* Whether an entry set at GEN in SLOT still belongs to a store that is alive and was not
 * disabled since. */
static bool entry_live(uint32_t slot, uint64_t gen)
{
    if (gen == 0)
        return false;
    const uint64_t *g = slot_gen(slot);
    return g != NULL && AH_LOAD(g) == gen;
}

static uint64_t fresh_gen(void)
{
    return __atomic_add_fetch(&gen_last, 1, __ATOMIC_RELAXED);
}

/* S's entry in F if it holds a value for S as it is now, otherwise an empty entry. */
static entry_t entry_of(const frame_t *f, const ah_store_t *s)
{
    uint32_t slot = s->slot;
    if (f != NULL && slot < f->n && f->e[slot].gen == AH_LOAD(&s->gen))
        return f->e[slot];
    return (entry_t){0, NULL};
}

/*
 * A new frame: BASE with SET in SLOT (an empty SET removes the slot's value), leaving out
 * the values of stores freed or disabled since BASE was made. *OUT is NULL when nothing is
 * left, so that a context emptied by exit or disable propagates for free again.
 */
static int frame_with(const frame_t *base, uint32_t slot, entry_t set, frame_t **out)
{
    uint32_t base_n = base ? base->n : 0;
    uint32_t n = set.gen ? slot + 1 : 0;
    for (uint32_t i = base_n; i > n; i--) {
        if (i - 1 != slot && entry_live(i - 1, base->e[i - 1].gen)) {
            n = i;
            break;
        }
    }
    if (n == 0) {
        *out = NULL;
        return 0;
    }
    frame_t *f = malloc(sizeof(*f) + (size_t)n * sizeof(entry_t));
    if (f == NULL)
        return -ENOMEM;
    f->refs = 1;
    f->n = n;
    f->reserved = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i < base_n && i != slot && entry_live(i, base->e[i].gen))
            f->e[i] = base->e[i];
        else
            f->e[i] = (entry_t){0, NULL};
    }
    if (set.gen)
        f->e[slot] = set;
    *out = f;
    return 0;
}

/* Make F (whose reference the caller gives) the current frame of T for the rest of the
 * current scope, dropping the thread's reference to the frame it replaces. */
static void replace_current(struct ah_thread *t, frame_t *f)
{
    frame_t *old = t->context;
    t->context = f;
    switches++;
    if (old)
        ah__context_release(old);
}

/* Remove SLOT's value from the calling thread's current frame, if it has one. Best effort:
 * without memory the entry stays, unseen by get() since its generation is dead. */
static void drop_from_current(uint32_t slot)
{
    struct ah_thread *t = ah__self;
    const frame_t *cur = t ? t->context : NULL;
    if (cur == NULL || slot >= cur->n || cur->e[slot].gen == 0)
        return;
    frame_t *f;
    if (frame_with(cur, slot, (entry_t){0, NULL}, &f) == 0)
        replace_current(t, f);
}

void ah__context_after_fork(void)
{
    pthread_mutex_init(&store_lock, NULL);
}

AH_EXPORT ah_store_t *ah_store_new(void *default_value)
{
    ah_store_t *s = malloc(sizeof(*s));
    if (s == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&store_lock);
    uint32_t slot = 0;
    /* Reuse the lowest free slot: frames are as long as the highest slot set. Creating a
     * store is rare; this scan is the price of O(1) lookups. */
    while (slot < slot_count && AH_LOAD(slot_gen(slot)) != 0)
        slot++;
    if (slot == slot_count) {
        if (slot == SLOT_CHUNK * SLOT_CHUNKS) {
            pthread_mutex_unlock(&store_lock);
            free(s);
            errno = ENOSPC;
            return NULL;
        }
        if (slot_gens[slot / SLOT_CHUNK] == NULL) {
            uint64_t *chunk = calloc(SLOT_CHUNK, sizeof(*chunk));
            if (chunk == NULL) {
                pthread_mutex_unlock(&store_lock);
                free(s);
                errno = ENOMEM;
                return NULL;
            }
            __atomic_store_n(&slot_gens[slot / SLOT_CHUNK], chunk, __ATOMIC_RELEASE);
        }
        slot_count++;
    }
    uint64_t gen = fresh_gen();
    AH_STORE(slot_gen(slot), gen);
    pthread_mutex_unlock(&store_lock);
    s->slot = slot;
    s->gen = gen;
    s->default_value = default_value;
    return s;
}

AH_EXPORT void ah_store_free(ah_store_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&store_lock);
    AH_STORE(slot_gen(s->slot), 0);
    pthread_mutex_unlock(&store_lock);
    drop_from_current(s->slot);
    free(s);
}

AH_EXPORT void *ah_store_get(const ah_store_t *s)
{
    if (AH_UNLIKELY(s == NULL))
        return NULL;
    const struct ah_thread *t = ah__self;
    const frame_t *f = t ? t->context : NULL;
    uint32_t slot = s->slot;
    if (f != NULL && slot < f->n && f->e[slot].gen == AH_LOAD(&s->gen))
        return f->e[slot].value;
    return s->default_value;
}

AH_EXPORT int ah_store_enter_with(ah_store_t *s, void *value)
{
    if (s == NULL)
        return -EINVAL;
    struct ah_thread *t = ah__thread();
    if (t == NULL)
        return -ENOMEM;
    frame_t *f;
    int rc = frame_with(t->context, s->slot, (entry_t){AH_LOAD(&s->gen), value}, &f);
    if (rc < 0)
        return rc;
    replace_current(t, f);
    return 0;
}

/*
 * Run FN with S's entry set to SET, then give S back the entry it had, as Node does: only S
 * is restored, so an enter_with() of another store inside FN lasts for the rest of the
 * current execution, like any enter_with(). When FN replaced no frame (the usual case) that
 * is simply the frame that was current before, and the restore allocates nothing.
 */
static void *run_with(ah_store_t *s, entry_t set, void *(*fn)(void *), void *arg)
{
    if (s == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct ah_thread *t = ah__thread();
    if (t == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    frame_t *prior = t->context; /* the thread's reference passes to this call */
    entry_t had = entry_of(prior, s);
    frame_t *inner = prior;
    if (had.gen == set.gen && had.value == set.value) {
        if (prior)
            ah__context_retain(prior);
    } else if (frame_with(prior, s->slot, set, &inner) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    t->context = inner;
    uint64_t mark = switches;

    void *result = fn(arg);

    frame_t *cur = t->context;
    frame_t *restored;
    if (switches == mark) {
        t->context = prior;
    } else if (frame_with(cur, s->slot, had, &restored) == 0) {
        t->context = restored;
        switches++;
        if (prior)
            ah__context_release(prior);
    } else {
        /* Out of memory: the whole prior frame is the only safe answer. */
        t->context = prior;
        switches++;
    }
    if (cur)
        ah__context_release(cur);
    return result;
}

AH_EXPORT void *ah_store_run(ah_store_t *s, void *value, void *(*fn)(void *), void *arg)
{
    entry_t set = {s ? AH_LOAD(&s->gen) : 0, value};
    return run_with(s, set, fn, arg);
}

AH_EXPORT void *ah_store_exit(ah_store_t *s, void *(*fn)(void *), void *arg)
{
    return run_with(s, (entry_t){0, NULL}, fn, arg);
}

AH_EXPORT int ah_store_disable(ah_store_t *s)
{
    if (s == NULL)
        return -EINVAL;
    uint64_t gen = fresh_gen();
    AH_STORE(&s->gen, gen);
    AH_STORE(slot_gen(s->slot), gen);
    drop_from_current(s->slot);
    return 0;
}

AH_EXPORT int ah_snapshot_take(ah_snapshot_t *snap)
{
    if (snap == NULL)
        return -EINVAL;
    const struct ah_thread *t = ah__self;
    void *f = t ? t->context : NULL;
    if (f)
        ah__context_retain(f);
    snap->frame = f;
    return 0;
}

AH_EXPORT void *ah_snapshot_run(const ah_snapshot_t *snap, void *(*fn)(void *), void *arg)
{
    if (snap == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct ah_thread *t = ah__thread();
    if (t == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    frame_t *prior = t->context; /* the thread's reference passes to this call */
    frame_t *f = snap->frame;
    if (f)
        ah__context_retain(f);
    t->context = f;

    void *result = fn(arg);

    /* Everything is restored, whatever FN entered (TC39 Snapshot.prototype.run). */
    frame_t *cur = t->context;
    t->context = prior;
    if (cur)
        ah__context_release(cur);
    return result;
}

AH_EXPORT void ah_snapshot_release(ah_snapshot_t *snap)
{
    if (snap == NULL || snap->frame == NULL)
        return;
    void *f = snap->frame;
    snap->frame = NULL;
    ah__context_release(f);
}

AH_EXPORT int ah_context_bind(ah_context_bound_t *b, void *(*fn)(void *), void *arg)
{
    if (b == NULL || fn == NULL)
        return -EINVAL;
    b->fn = fn;
    b->arg = arg;
    return ah_snapshot_take(&b->snapshot);
}

AH_EXPORT void *ah_context_call(const ah_context_bound_t *b)
{
    if (b == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return ah_snapshot_run(&b->snapshot, b->fn, b->arg);
}

AH_EXPORT void ah_context_unbind(ah_context_bound_t *b)
{
    if (b != NULL)
        ah_snapshot_release(&b->snapshot);
}
