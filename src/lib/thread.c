/*
 * thread.c - per-thread state: the execution stack, the block of ids this thread hands out
 * and its live-resource counts, linked into the registry that ahprof reads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

__thread struct ah_thread *ah__self __attribute__((tls_model("initial-exec")));

/* Guards the registry's thread list and the retired counts. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* Counts of the threads that have exited, so that their live resources are not forgotten. */
static struct ah_registry_thread retired = {.flags = AH_REGISTRY_RETIRED};

/* Ids are handed out in blocks so that creating a resource takes no atomic operation.
 * Starts above AH_ID_ROOT. */
static uint64_t id_next_block = AH_ID_ROOT + 1;

static void registry_link(struct ah_registry_thread *block)
{
    block->next = ah_registry.threads;
    AH_STORE(&ah_registry.generation, ah_registry.generation + 1);
    AH_STORE_RELEASE(&ah_registry.threads, (uint64_t)(uintptr_t)block);
    AH_STORE_RELEASE(&ah_registry.generation, ah_registry.generation + 1);
}

static void registry_unlink(struct ah_registry_thread *block)
{
    AH_STORE(&ah_registry.generation, ah_registry.generation + 1);
    uint64_t *link = &ah_registry.threads;
    while (*link) {
        struct ah_registry_thread *cur = (struct ah_registry_thread *)(uintptr_t)*link;
        if (cur == block) {
            AH_STORE_RELEASE(link, block->next);
            break;
        }
        link = &cur->next;
    }
    AH_STORE_RELEASE(&ah_registry.generation, ah_registry.generation + 1);
}

/* Thread exit: fold the thread's live counts into the retired block and free its state. */
static void thread_exit(void *arg)
{
    struct ah_thread *t = arg;
    /* Before the counts move to the retired block: a tracer reading the registry must find
     * the events of this thread either in its block or already handed over. */
    ah__batch_flush(t);
    pthread_mutex_lock(&registry_lock);
    registry_unlink(&t->registry);
    uint64_t seq = retired.seq;
    AH_STORE(&retired.seq, seq + 1);
    for (int i = 0; i < AH_REGISTRY_TYPE_MAX; i++)
        AH_STORE_RELEASE(&retired.live[i], retired.live[i] + t->registry.live[i]);
    AH_STORE_RELEASE(&retired.seq, seq + 2);
    pthread_mutex_unlock(&registry_lock);
    /* The thread's references to context frames: its current frame and those saved by the
     * scopes it never left. */
    for (uint32_t i = 0; i < t->depth; i++)
        if (t->stack[i].saved_context)
            ah__context_release(t->stack[i].saved_context);
    if (t->context)
        ah__context_release(t->context);
    if (t->stack != t->inline_stack)
        free(t->stack);
    /* Events raised later by other TLS destructors of this thread start afresh. */
    ah__self = NULL;
    free(t);
}

static void thread_key_create(void)
{
    if (pthread_key_create(&thread_key, thread_exit) != 0)
        thread_key = (pthread_key_t)-1;
    pthread_mutex_lock(&registry_lock);
    registry_link(&retired);
    pthread_mutex_unlock(&registry_lock);
    ah__fork_install();
}

/* In a fork child only the forking thread exists: the others' live counts move to the
 * retired block (their resources are in the child's memory too), their blocks leave the
 * registry (ahprof would look for threads that are not there, ah_hook_free() would wait for
 * them), and the forking thread gets its new tid and an empty, unannounced batch buffer: the
 * records it held are the parent's to hand over. */
void ah__threads_after_fork(void)
{
    pthread_mutex_init(&registry_lock, NULL);
    struct ah_thread *self = ah__self;
    uint64_t *link = &ah_registry.threads;
    AH_STORE(&ah_registry.generation, ah_registry.generation + 1);
    while (*link) {
        struct ah_registry_thread *block = (struct ah_registry_thread *)(uintptr_t)*link;
        if (block->flags & AH_REGISTRY_RETIRED || (self && block == &self->registry)) {
            link = &block->next;
            continue;
        }
        for (int i = 0; i < AH_REGISTRY_TYPE_MAX; i++)
            retired.live[i] += block->live[i];
        retired.seq += 2;
        *link = block->next;
    }
    AH_STORE_RELEASE(&ah_registry.generation, ah_registry.generation + 1);
    if (self) {
        self->registry.tid = (int32_t)syscall(SYS_gettid);
        self->batch.hdr.count = 0;
        self->batch.hdr.tid = (uint32_t)self->registry.tid;
        self->batch_announced = false;
    }
}

struct ah_thread *ah__thread_create(void)
{
    pthread_once(&thread_key_once, thread_key_create);
    struct ah_thread *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->registry.tid = (int32_t)syscall(SYS_gettid);
    t->stack = t->inline_stack;
    t->capacity = AH_INLINE_STACK;
    if (thread_key != (pthread_key_t)-1)
        pthread_setspecific(thread_key, t);
    pthread_mutex_lock(&registry_lock);
    registry_link(&t->registry);
    pthread_mutex_unlock(&registry_lock);
    ah__self = t;
    return t;
}

void ah__threads_quiesce_hooks(uint64_t version, const struct ah_thread *self)
{
    pthread_mutex_lock(&registry_lock);
    for (uint64_t addr = ah_registry.threads; addr != 0;) {
        struct ah_registry_thread *block = (struct ah_registry_thread *)(uintptr_t)addr;
        if (!(block->flags & AH_REGISTRY_RETIRED)) {
            /* The registry block is the first member of the thread's state. */
            struct ah_thread *t = (struct ah_thread *)block;
            uint64_t in_use;
            while (t != self &&
                   (in_use = __atomic_load_n(&t->hooks_in_use, __ATOMIC_SEQ_CST)) != 0 &&
                   in_use <= version)
                sched_yield();
        }
        addr = block->next;
    }
    pthread_mutex_unlock(&registry_lock);
}

int ah__thread_refill_ids(struct ah_thread *t)
{
    uint64_t first = __atomic_fetch_add(&id_next_block, AH_ID_BLOCK, __ATOMIC_RELAXED);
    /* Threads refilling at once may get here out of order: keep the published value the
     * highest, or it would name ids that were handed out already. */
    uint64_t end = first + AH_ID_BLOCK, cur = AH_LOAD(&ah_registry.id_next);
    while (cur < end && !__atomic_compare_exchange_n(&ah_registry.id_next, &cur, end, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    t->next_id = first;
    t->id_end = first + AH_ID_BLOCK;
    return 0;
}

int ah__thread_grow_stack(struct ah_thread *t)
{
    if (t->capacity > UINT32_MAX / 2)
        return -ENOMEM;
    uint32_t capacity = t->capacity * 2;
    struct ah_frame *stack = malloc(capacity * sizeof(*stack));
    if (stack == NULL)
        return -ENOMEM;
    memcpy(stack, t->stack, t->depth * sizeof(*stack));
    if (t->stack != t->inline_stack)
        free(t->stack);
    t->stack = stack;
    t->capacity = capacity;
    return 0;
}

AH_EXPORT ah_id_t ah_execution_id(void)
{
    const struct ah_thread *t = ah__self;
    return t ? ah__current_id(t) : AH_ID_ROOT;
}

AH_EXPORT ah_id_t ah_trigger_id(void)
{
    const struct ah_thread *t = ah__self;
    return t && t->depth ? t->stack[t->depth - 1].trigger_id : AH_ID_NONE;
}

AH_EXPORT ah_resource_t *ah_execution_resource(void)
{
    const struct ah_thread *t = ah__self;
    return t && t->depth ? t->stack[t->depth - 1].resource : NULL;
}

AH_EXPORT unsigned ah_execution_depth(void)
{
    const struct ah_thread *t = ah__self;
    return t ? t->depth : 0;
}
