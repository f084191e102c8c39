/*
 * ah.h - async_hooks for C.
 *
 * libah gives every asynchronous unit of work in a C program (a timer, a socket read, a task
 * handed to a worker thread) an *async resource*: a unique id, a type and the id of the
 * resource whose execution created it (its trigger). Code announces the lifecycle of each
 * resource:
 *
 *     ah_init(r, type, 0)     the resource exists; its trigger is the current execution
 *     ah_before(r)            its callback starts: r is now the current execution
 *     ah_after(r)             its callback ended
 *     ah_destroy(r)           it is gone
 *
 * and libah keeps, per thread, the stack of resources whose callbacks are running, so that
 * ah_execution_id() and ah_trigger_id() answer "on whose behalf does this code run?" exactly
 * like Node.js' executionAsyncId() and triggerAsyncId(). In-process hooks (ah_hook_new) see
 * every event, like Node's async_hooks.createHook(). Every event is also a USDT probe of
 * provider "ah" (see docs/probes.md) that the ahprof profiler attaches to from outside the
 * process; an unobserved probe costs one predictable branch.
 *
 * Conventions (libuv style):
 *   - Functions returning int return 0 (or a non-negative value) on success and a negative
 *     errno value on failure; ah_strerror() describes it. libah never prints, never aborts
 *     and never allocates on the event path.
 *   - Structures are owned by the caller and may be embedded in the caller's own structures;
 *     AH_CONTAINER_OF() gets back to the enclosing structure. Their fields are documented
 *     for reading; only libah writes them.
 *   - Every function is thread-safe. The execution stack is per thread. A resource may be
 *     created on one thread and run (before/after) on another.
 *
 * Error codes used:
 *   -EINVAL   NULL pointer, unknown type, or a structure that is not an initialised resource
 *   -EBUSY    ah_init() on a resource that is live (initialised and not destroyed)
 *   -EIDRM    the resource was destroyed already (second destroy, before after destroy...)
 *   -EPROTO   the async stack would be corrupted: ah_after() that does not match the
 *             innermost ah_before() of the calling thread (Node: "async hook stack has
 *             become corrupted"). Nothing is emitted and the stack is left unchanged.
 *   -EALREADY ah_resolve() on a resource that was resolved already
 *   -ENOSPC   the type table is full (AH_TYPE_MAX) or a name is too long
 *   -ENOMEM   a nesting deeper than the preallocated stack could not be grown
 */
#ifndef AH_H
#define AH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place of the version of libah and ahprof: the Makefile (the shared library's name,
 * ah.pc), ah_version(), `ahprof --version` and the recordings' writer all read it here. */
#define AH_VERSION_MAJOR 0
#define AH_VERSION_MINOR 1
#define AH_VERSION_PATCH 0

#define AH_VERSION_STR_(x) #x
#define AH_VERSION_STR(x) AH_VERSION_STR_(x)
/* "MAJOR.MINOR.PATCH" at compile time; ah_version() says which library runs. */
#define AH_VERSION_STRING                                                                          \
    AH_VERSION_STR(AH_VERSION_MAJOR)                                                               \
    "." AH_VERSION_STR(AH_VERSION_MINOR) "." AH_VERSION_STR(AH_VERSION_PATCH)

/* An async id. 0 means "none"; 1 is the root (bootstrap) execution of every thread. */
typedef uint64_t ah_id_t;

#define AH_ID_NONE ((ah_id_t)0)
#define AH_ID_ROOT ((ah_id_t)1)

/* Maximum number of distinct types and the longest type name (bytes, without the NUL). */
#define AH_TYPE_MAX 256
#define AH_TYPE_NAME_MAX 63

/*
 * An async resource. Zero it (or leave it destroyed) before ah_init(); after ah_destroy() the
 * memory may be reused for a new resource or freed. All fields are read-only for the caller.
 */
typedef struct ah_resource {
    ah_id_t id;         /* unique, never reused; 0 before ah_init() */
    ah_id_t trigger_id; /* id of the execution that created it */
    int32_t type;       /* from ah_type() */
    uint32_t state;     /* internal lifecycle state; use ah_resource_is_live() */
    void *context;      /* internal: context frame captured at init (context storage) */
} ah_resource_t;

/* Recover the structure that embeds a resource: AH_CONTAINER_OF(r, struct conn, res). */
#define AH_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A human-readable message for a negative error code returned by libah. Never NULL. */
const char *ah_strerror(int err);

/* libah's version as "MAJOR.MINOR.PATCH". */
const char *ah_version(void);

/* ---------------------------------------------------------------------------------------
 * Types
 */

/*
 * Register the type NAME, or look it up if it exists already, and return its id (>= 0).
 * NAME is copied; it must be 1..AH_TYPE_NAME_MAX bytes (tracers escape what they print). Cache the
 * result: this takes a lock. Returns -EINVAL for NULL or an empty name, -ENOSPC when the table is
 * full or the name is too long.
 */
int ah_type(const char *name);

/* The name of a registered type, or NULL if TYPE is not one. */
const char *ah_type_name(int type);

/* How many types are registered. Type ids are 0 .. ah_type_count() - 1. */
int ah_type_count(void);

/* ---------------------------------------------------------------------------------------
 * Resource lifecycle (Node: AsyncResource / the embedder API)
 */

/*
 * Start the life of R with TYPE. TRIGGER_ID is the id of the execution that caused it;
 * 0 means the current execution (ah_execution_id()). Assigns a new unique id, emits the
 * "init" event to hooks and the ah:init probe. The context of every context store is
 * captured (see the context storage API). Errors: -EINVAL, -EBUSY if R is live.
 */
int ah_init(ah_resource_t *r, int type, ah_id_t trigger_id);

/*
 * Enter R's callback scope on the calling thread: R becomes the current execution until the
 * matching ah_after(). Scopes nest to any depth and must be left in LIFO order.
 * Errors: -EINVAL, -EIDRM if R was destroyed, -ENOMEM if a very deep stack cannot grow.
 */
int ah_before(ah_resource_t *r);

/*
 * Leave R's callback scope. R must be the innermost scope entered on this thread; otherwise
 * returns -EPROTO and changes nothing (the stack stays as it was, so the caller may still
 * leave the inner scopes properly). -EIDRM if R was destroyed outside its own scope,
 * -EINVAL if R is NULL or was never initialised.
 */
int ah_after(ah_resource_t *r);

/*
 * End R's life: emits "destroy" once. A second call returns -EIDRM and emits nothing.
 * Destroying R inside its own callback scope is allowed (the scope still ends with
 * ah_after()); R's memory must stay valid until then. Like free(), destroying the same
 * resource from two threads at the same instant is a race in the caller: libah keeps the
 * untraced event path free of atomic read-modify-write instructions (docs/BENCHMARKS.md).
 */
int ah_destroy(ah_resource_t *r);

/* Emit "promiseResolve" for R: at most once per resource (-EALREADY after). */
int ah_resolve(ah_resource_t *r);

/* R's id and trigger id (0 for NULL or a resource never initialised). */
ah_id_t ah_resource_id(const ah_resource_t *r);
ah_id_t ah_resource_trigger_id(const ah_resource_t *r);

/* Non-zero while R is initialised and not destroyed. */
int ah_resource_is_live(const ah_resource_t *r);

/*
 * Run FN(ARG) inside R's scope (Node: asyncResource.runInAsyncScope) and return its result.
 * If the scope cannot be entered (R NULL, not live...) FN is not called and NULL is returned;
 * call ah_before()/ah_after() yourself when that is ambiguous.
 */
void *ah_run(ah_resource_t *r, void *(*fn)(void *), void *arg);

/*
 * A callback bound to its own resource (Node: AsyncResource.bind). ah_bind() initialises
 * B->resource with TYPE and the current execution as trigger and remembers FN and ARG;
 * ah_bound_call() runs FN(ARG) in that resource's scope, as often as needed, from any
 * thread; ah_unbind() destroys the resource.
 */
typedef struct ah_bound {
    ah_resource_t resource;
    void *(*fn)(void *);
    void *arg;
} ah_bound_t;

int ah_bind(ah_bound_t *b, int type, void *(*fn)(void *), void *arg);
void *ah_bound_call(ah_bound_t *b);
int ah_unbind(ah_bound_t *b);

/* ---------------------------------------------------------------------------------------
 * Execution context of the calling thread (Node: executionAsyncId & co.)
 */

/* Id of the resource whose callback runs now on this thread; AH_ID_ROOT at top level. */
ah_id_t ah_execution_id(void);

/* Trigger id of the current execution; 0 at top level. */
ah_id_t ah_trigger_id(void);

/* The resource whose callback runs now on this thread, NULL at top level. */
ah_resource_t *ah_execution_resource(void);

/* How many callback scopes are open on this thread (0 at top level). */
unsigned ah_execution_depth(void);

/* ---------------------------------------------------------------------------------------
 * Tracing
 *
 * While ahprof (or any tracer of the ah:batch probe) is attached, each thread buffers its
 * events and hands them over in batches: when its buffer is full, when it returns to its top
 * level holding events older than 1 ms, when it exits, and when the process exits. ahprof
 * also reads a thread's buffer whenever the thread is switched out (it blocks in epoll_wait
 * or on a lock, or is preempted), so an idle thread's last events are not held back.
 * ah_flush() hands them over at a point of the caller's choosing, for tracers that do not
 * read buffers at switch-out. Untraced, all of this costs one predictable branch per event.
 * See docs/probes.md, "The batch probe".
 */

/* Hand the calling thread's buffered events to the tracer. Returns how many were handed
 * over (0 when untraced or when none were held). Never blocks. */
int ah_flush(void);

/* ---------------------------------------------------------------------------------------
 * In-process hooks (Node: async_hooks.createHook)
 *
 * Callbacks run synchronously on the thread that raises the event, in the order the hooks
 * were enabled. Each event uses the set of hooks enabled when it started: enabling or
 * disabling a hook inside a callback takes effect from the next event. Events raised inside
 * a hook callback (for example a resource created by a hook) do not re-enter any hook.
 * No hook runs for events that start after ah_hook_disable() returned. Any callback may be
 * NULL. "init" runs after the resource got its id; "destroy" before its memory may go.
 */
typedef struct ah_hook_callbacks {
    void (*init)(ah_id_t id, int type, ah_id_t trigger_id, ah_resource_t *r, void *data);
    void (*before)(ah_id_t id, void *data);
    void (*after)(ah_id_t id, void *data);
    void (*destroy)(ah_id_t id, void *data);
    void (*resolve)(ah_id_t id, void *data);
} ah_hook_callbacks_t;

typedef struct ah_hook ah_hook_t;

/* At most AH_HOOK_MAX hooks are enabled at once. */
#define AH_HOOK_MAX 64

/* A new, disabled hook; CB is copied. NULL if CB is NULL or memory is short. */
ah_hook_t *ah_hook_new(const ah_hook_callbacks_t *cb, void *data);

/* Enable H (appended after the hooks already enabled). Enabling twice is a no-op (returns 0).
 * -EINVAL for NULL, -ENOSPC when AH_HOOK_MAX hooks are enabled. */
int ah_hook_enable(ah_hook_t *h);

/* Disable H. Disabling a disabled hook is a no-op (returns 0). */
int ah_hook_disable(ah_hook_t *h);

/* Disable and free H. Safe from inside any hook callback, H's own included (H is not called
 * again, even for the current event). Waits until other threads have left H's callbacks: do
 * not call it while holding a lock that one of them takes. */
void ah_hook_free(ah_hook_t *h);

/* ---------------------------------------------------------------------------------------
 * Context storage (Node: AsyncLocalStorage; TC39: AsyncContext.Variable and Snapshot)
 *
 * A store holds one value per asynchronous chain: a request, a trace span, a transaction.
 * The value set by ah_store_run() is seen by the callback and by every resource initialised
 * inside it, in their callbacks, on whatever thread they run, however late, and by nothing
 * else. Each thread has a current *context*, an immutable map from stores to values:
 *
 *   - ah_init() captures the current context in the resource (one reference count, O(1));
 *     ah_before() makes it the thread's current context and ah_after() restores the one
 *     before. A change made inside a callback therefore never flows back to its parent.
 *   - ah_store_run(s, v, fn, arg) calls fn(arg) with s set to v, then gives s back its
 *     previous value.
 *   - ah_store_enter_with(s, v) sets s for the rest of the current execution (up to the
 *     ah_after() of the innermost scope, or for the thread at top level) and for the
 *     resources initialised in it; resources initialised earlier keep what they captured.
 *   - ah_store_exit(s, fn, arg) calls fn(arg) with s unset.
 *
 * Values are opaque pointers owned by the caller: libah never reads or frees them. A value
 * must stay valid while any context holding it can become current again, that is until
 * every resource initialised while it was set is destroyed and every snapshot or bound
 * callback taken then is released (docs/context.md, "Lifetimes"). Stores are independent:
 * setting one never changes another. ah_store_get() and ah_before()/ah_after() never
 * allocate; setting a value allocates a new context (a copy of the current one, O(number of
 * stores)). Contexts are freed when the last resource, scope or snapshot holding them goes.
 *
 * Functions that return void * and call a callback return the callback's result; when they
 * cannot call it (NULL argument: EINVAL; no memory: ENOMEM) they return NULL without calling
 * it and set errno.
 */
typedef struct ah_store ah_store_t;

/*
 * A new store, unset in every context. DEFAULT_VALUE is what ah_store_get() returns where
 * the store has no value (Node's defaultValue option); it may be NULL. Returns NULL and sets
 * errno (ENOMEM, or ENOSPC past 262144 live stores) on failure. Stores are cheap to keep
 * and meant to live as long as the program; creating one takes a lock.
 */
ah_store_t *ah_store_new(void *default_value);

/* Free S. Contexts that still hold a value for S keep it unseen until they are freed. S must
 * not be in use by another thread. NULL is a no-op. */
void ah_store_free(ah_store_t *s);

/* S's value in the calling thread's current context, or its default value if it has none
 * there (or S is disabled, or NULL). Never allocates, takes no lock: a few loads. */
void *ah_store_get(const ah_store_t *s);

/* Call FN(ARG) with S set to VALUE (which may be NULL) and return its result. Afterwards S
 * has its previous value again; other stores entered with ah_store_enter_with() inside FN
 * keep their new value, as in Node. */
void *ah_store_run(ah_store_t *s, void *value, void *(*fn)(void *), void *arg);

/* Set S to VALUE for the rest of the current execution and its continuations (see above).
 * Returns 0, -EINVAL or -ENOMEM (S keeps its value). */
int ah_store_enter_with(ah_store_t *s, void *value);

/* Call FN(ARG) with S unset (ah_store_get() returns the default value), then restore S. */
void *ah_store_exit(ah_store_t *s, void *(*fn)(void *), void *arg);

/* Leave every context of S, on every thread and in every resource: ah_store_get() returns
 * the default value until ah_store_run() or ah_store_enter_with() sets S again, which
 * re-enables it; values set before the disable are never seen again. 0 or -EINVAL. */
int ah_store_disable(ah_store_t *s);

/*
 * A snapshot of every store at once (Node: AsyncLocalStorage.snapshot(); TC39:
 * AsyncContext.Snapshot), for code that queues work without creating a resource for it.
 * ah_snapshot_take() captures the calling thread's current context (no allocation; 0 or
 * -EINVAL); ah_snapshot_run() calls FN(ARG) in that context, from any thread and as often as
 * needed, and then restores the caller's context entirely; ah_snapshot_release() lets it go
 * (releasing twice or a zeroed snapshot is a no-op). The structure is the caller's.
 */
typedef struct ah_snapshot {
    void *frame; /* internal */
} ah_snapshot_t;

int ah_snapshot_take(ah_snapshot_t *snap);
void *ah_snapshot_run(const ah_snapshot_t *snap, void *(*fn)(void *), void *arg);
void ah_snapshot_release(ah_snapshot_t *snap);

/*
 * A callback bound to the current context (Node: AsyncLocalStorage.bind; TC39:
 * AsyncContext.Snapshot.wrap). Unlike ah_bind() it creates no resource: it only carries the
 * context. ah_context_bind() takes a snapshot and remembers FN and ARG (0 or -EINVAL);
 * ah_context_call() runs FN(ARG) in that context and returns its result; ah_context_unbind()
 * releases the snapshot.
 */
typedef struct ah_context_bound {
    ah_snapshot_t snapshot;
    void *(*fn)(void *);
    void *arg;
} ah_context_bound_t;

int ah_context_bind(ah_context_bound_t *b, void *(*fn)(void *), void *arg);
void *ah_context_call(const ah_context_bound_t *b);
void ah_context_unbind(ah_context_bound_t *b);

#ifdef __cplusplus
}
#endif

#endif /* AH_H */
