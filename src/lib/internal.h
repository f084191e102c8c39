/*
 * internal.h - libah's private state: per-thread execution stacks, the type table, the hook
 * set and the probe gates. Nothing here is part of the API.
 */
#ifndef AH_INTERNAL_H
#define AH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ah.h"
#include "ahprof.h" /* the batch records ahprof's BPF programs read */
#include "registry.h"

/* The limits libah, its registry and ahprof's BPF programs share must agree: libah is the one
 * place that sees all three headers. */
_Static_assert(AHP_TYPE_MAX == AH_TYPE_MAX,
               "src/contracts/ahprof.h and ah.h disagree on the type count");
_Static_assert(AHP_TYPE_MAX == AH_REGISTRY_TYPE_MAX,
               "src/contracts/ahprof.h and registry.h disagree");
_Static_assert(AHP_NAME_SIZE == AH_REGISTRY_NAME_SIZE, "type name buffers disagree");
_Static_assert(AHP_NAME_SIZE == AH_TYPE_NAME_MAX + 1, "a type name and its NUL fill the buffer");

#define AH_EXPORT __attribute__((visibility("default")))
#define AH_LIKELY(x) __builtin_expect(!!(x), 1)
#define AH_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Relaxed atomics: the value is shared, its ordering against other memory is not needed. */
#define AH_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define AH_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Release stores rather than release fences: they order the same stores for a reader, and
 * TSan can check them (GCC refuses atomic_thread_fence under -fsanitize=thread). */
#define AH_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Lifecycle states stored in ah_resource_t.state. Distinctive values, so that memory the
 * caller forgot to zero is very unlikely to pass for a live resource. */
#define AH_STATE_LIVE 0x4c564841u     /* "AHVL" */
#define AH_STATE_RESOLVED 0x52564841u /* live and resolved */
#define AH_STATE_DEAD 0x44444841u     /* destroyed */

static inline bool ah__is_live_state(uint32_t s)
{
    return s == AH_STATE_LIVE || s == AH_STATE_RESOLVED;
}

/* One open callback scope. The ids are copied so that the execution context stays
 * answerable even if the resource is destroyed and freed inside its own scope. */
struct ah_frame {
    ah_resource_t *resource;
    ah_id_t id;
    ah_id_t trigger_id;
    void *saved_context; /* the thread's context before this scope, restored by after */
};

#define AH_INLINE_STACK 64
#define AH_ID_BLOCK 4096

/* Everything libah keeps per thread, allocated on the thread's first event. */
struct ah_thread {
    struct ah_registry_thread registry; /* first: its address is what ahprof reads */
    ah_id_t next_id;
    ah_id_t id_end;
    struct ah_frame *stack;
    uint32_t depth;
    uint32_t capacity;
    uint32_t in_hook;
    /* While this thread runs hook callbacks: the hook-list version its snapshot was taken at,
     * plus one (so never 0); 0 otherwise. ah_hook_free() waits on it. */
    uint64_t hooks_in_use;
    struct ah_hook **emitting; /* the snapshot being run, so ah_hook_free() can strike out */
    uint32_t emitting_n;
    void *context; /* current context frame (context storage), NULL when none */
    struct ah_frame inline_stack[AH_INLINE_STACK];
    /* Events not yet handed to the ah:batch probe (batch.c); hdr.count is 0 when none. */
    bool batch_announced; /* the tracer was told where this buffer is */
    /* The registry seq the buffered records lead to (hdr.seq + 2 per init and destroy). When
     * the thread's seq has moved past it, events went untraced in between: the records belong
     * to a tracer that has detached, and their seq chain no longer reaches the new ones. */
    uint64_t batch_seq_end;
    struct ahp_batch batch;
};

extern __thread struct ah_thread *ah__self __attribute__((tls_model("initial-exec")));

/* The calling thread's state, allocated on first use; NULL only when memory is short. */
struct ah_thread *ah__thread_create(void);

static inline struct ah_thread *ah__thread(void)
{
    struct ah_thread *t = ah__self;
    return AH_LIKELY(t != NULL) ? t : ah__thread_create();
}

int ah__thread_refill_ids(struct ah_thread *t);
int ah__thread_grow_stack(struct ah_thread *t);

static inline ah_id_t ah__current_id(const struct ah_thread *t)
{
    return t->depth ? t->stack[t->depth - 1].id : AH_ID_ROOT;
}

/* Account one init (+1) or destroy (-1) of TYPE in the thread's live counts, as a seqlock
 * write. Returns the sequence number the event leaves behind. */
static inline uint64_t ah__count_live(struct ah_thread *t, int type, int delta)
{
    uint64_t seq = t->registry.seq;
    AH_STORE(&t->registry.seq, seq + 1);
    atomic_signal_fence(memory_order_seq_cst);
    AH_STORE(&t->registry.live[type], t->registry.live[type] + delta);
    atomic_signal_fence(memory_order_seq_cst);
    AH_STORE(&t->registry.seq, seq + 2);
    return seq + 2;
}

/* The batch path (batch.c): records are appended only while a tracer holds the ah:batch
 * semaphore. */
extern int ah__batch_clock;            /* enum ahp_batch_clock, 0 until the first batch */
extern uint64_t ah__batch_bound_ticks; /* AHP_BATCH_BOUND_NS in ticks */
void ah__batch_open(struct ah_thread *t);
void ah__batch_flush(struct ah_thread *t);
uint64_t ah__clock_ns(void);

static inline uint64_t ah__ticks(void)
{
#if defined(__x86_64__)
    if (AH_LIKELY(ah__batch_clock == AHP_CLOCK_TSC))
        return __builtin_ia32_rdtsc();
#endif
    return ah__clock_ns();
}

/* Append one event to the thread's batch; returns its ticks. */
static inline uint64_t ah__batch_add(struct ah_thread *t, uint8_t kind, ah_id_t id, uint64_t arg,
                                     int type)
{
    uint32_t n = t->batch.hdr.count;
    if (AH_UNLIKELY(n == 0 || t->batch_seq_end != t->registry.seq)) {
        ah__batch_open(t);
        n = 0;
    }
    struct ahp_batch_record *rec = &t->batch.rec[n & (AHP_BATCH_RECORDS - 1)];
    uint64_t ticks = ah__ticks();
    rec->ticks = ticks;
    rec->id = id;
    rec->arg = arg;
    rec->type = type;
    rec->kind = kind;
    /* The header's type count was read when the batch opened; a type registered since must
     * be covered, or a tracer that reads this batch at a switch-out or at exit (no flush,
     * which rereads it) never learns the new type's name. */
    if (AH_UNLIKELY(kind == AHP_EV_INIT && (uint32_t)type >= t->batch.hdr.type_count))
        t->batch.hdr.type_count = (uint32_t)type + 1;
    /* The tracer may read the buffer whenever this thread is switched out: the record must
     * be complete before the count says so. Same thread, same CPU: a compiler barrier. */
    atomic_signal_fence(memory_order_seq_cst);
    t->batch.hdr.count = n + 1;
    if (kind == AHP_EV_INIT || kind == AHP_EV_DESTROY)
        t->batch_seq_end = t->registry.seq + 2; /* ah__count_live follows */
    if (AH_UNLIKELY(n + 1 == AHP_BATCH_RECORDS))
        ah__batch_flush(t);
    return ticks;
}

/* Types */
extern struct ah_registry ah_registry;
extern char ah__type_names[AH_TYPE_MAX][AH_REGISTRY_NAME_SIZE];

static inline bool ah__type_valid(int type)
{
    return (unsigned)type < (unsigned)__atomic_load_n(&ah_registry.type_count, __ATOMIC_ACQUIRE);
}

/* Hooks: the set in force is published as an immutable snapshot. */
struct ah_hook {
    ah_hook_callbacks_t cb;
    void *data;
    bool enabled;
};

enum ah_event { AH_EV_INIT, AH_EV_BEFORE, AH_EV_AFTER, AH_EV_DESTROY, AH_EV_RESOLVE };

extern uint32_t ah__hooks_enabled; /* number of enabled hooks, read on every event */

/* Wait until no thread but SELF runs callbacks from a hook-list snapshot older than
 * VERSION (thread.c walks the threads). */
void ah__threads_quiesce_hooks(uint64_t version, const struct ah_thread *self);
void ah__hooks_emit(struct ah_thread *t, enum ah_event ev, ah_resource_t *r, ah_id_t id);

/* fork(): the child re-initialises the locks a thread of the parent may have held, drops the
 * parent's other threads from the registry and starts untraced (fork.c). */
void ah__fork_install(void);
void ah__types_after_fork(void);
void ah__hooks_after_fork(void);
void ah__context_after_fork(void);
void ah__threads_after_fork(void);

/* Context storage: frames are reference counted and shared by every resource holding them. */
void ah__context_retain(void *frame);
void ah__context_release(void *frame);

#endif
