/*
 * uv.c - libah-uv: an LD_PRELOAD interposer that turns the handles and requests of an
 * unmodified libuv program into libah async resources (docs/libuv.md has the mapping).
 *
 * Each wrapper runs the real libuv function, found lazily (dlsym(RTLD_NEXT), else the libuv
 * that Python or Lua loaded RTLD_LOCAL), and keeps a side entry per handle or request
 * (table.h). User callbacks are replaced by trampolines that look the entry up and run the
 * user's callback between ah_before() and ah_after().
 *
 * libuv calls its own exports through its PLT, so the wrappers see those calls too. A call
 * is followed only when it comes from outside libuv and outside another wrapper: its return
 * address is not in libuv's mapping (libuv's internal handles, such as the loop's own async,
 * the child watcher or uv_fs_poll's timer and stat requests, are left out) and the thread is
 * not inside a wrapper (uv_tcp_init tail-calls uv_tcp_init_ex, uv_write tail-calls uv_write2:
 * each handle and request counts once). Trampolines reset that depth while the user's
 * callback runs.
 *
 * Never harm the program: every wrapper passes its arguments through unchanged but for the
 * callbacks, returns what libuv returned, and falls back to a plain pass-through whenever it
 * cannot follow a handle (table full, symbol missing). No lock on the loop thread (the
 * one-time setup aside), no allocation after it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ah.h"
#include "table.h"

#define UVAH_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RA() __builtin_return_address(0)

/* ---------------------------------------------------------------------------------------
 * Types (docs/libuv.md)
 */
#define UVAH_TYPES(X)                                                                              \
    X(TCPSERVERWRAP)                                                                               \
    X(TCPWRAP)                                                                                     \
    X(TCPCONNECTWRAP)                                                                              \
    X(PIPESERVERWRAP)                                                                              \
    X(PIPEWRAP)                                                                                    \
    X(PIPECONNECTWRAP)                                                                             \
    X(UDPWRAP)                                                                                     \
    X(UDPSENDWRAP)                                                                                 \
    X(TTYWRAP)                                                                                     \
    X(WRITEWRAP)                                                                                   \
    X(SHUTDOWNWRAP)                                                                                \
    X(TIMERWRAP)                                                                                   \
    X(SIGNALWRAP)                                                                                  \
    X(PROCESSWRAP)                                                                                 \
    X(FSEVENTWRAP)                                                                                 \
    X(STATWATCHER)                                                                                 \
    X(FSREQCALLBACK)                                                                               \
    X(GETADDRINFOREQWRAP)                                                                          \
    X(GETNAMEINFOREQWRAP)                                                                          \
    X(UV_POLL)                                                                                     \
    X(UV_IDLE)                                                                                     \
    X(UV_PREPARE)                                                                                  \
    X(UV_CHECK)                                                                                    \
    X(UV_ASYNC)                                                                                    \
    X(UV_WORK)                                                                                     \
    X(UV_RANDOM)                                                                                   \
    X(UV_UNTRACKED)

#define TYPE_ENUM(name) T_##name,
enum uvah_type { UVAH_TYPES(TYPE_ENUM) T_COUNT };
#define TYPE_NAME(name) #name,
static const char *const type_names[T_COUNT] = {UVAH_TYPES(TYPE_NAME)};
static int types[T_COUNT];

/* What a TCP or pipe handle becomes once its role is known. */
enum uvah_kind { K_FIXED, K_TCP, K_PIPE };

/* ---------------------------------------------------------------------------------------
 * The real libuv
 */
#define FS_SYMBOLS(X)                                                                              \
    X(uv_fs_close)                                                                                 \
    X(uv_fs_open)                                                                                  \
    X(uv_fs_read)                                                                                  \
    X(uv_fs_unlink)                                                                                \
    X(uv_fs_write)                                                                                 \
    X(uv_fs_copyfile)                                                                              \
    X(uv_fs_mkdir)                                                                                 \
    X(uv_fs_mkdtemp)                                                                               \
    X(uv_fs_mkstemp)                                                                               \
    X(uv_fs_rmdir)                                                                                 \
    X(uv_fs_scandir)                                                                               \
    X(uv_fs_opendir)                                                                               \
    X(uv_fs_readdir)                                                                               \
    X(uv_fs_closedir)                                                                              \
    X(uv_fs_stat)                                                                                  \
    X(uv_fs_fstat)                                                                                 \
    X(uv_fs_rename)                                                                                \
    X(uv_fs_fsync)                                                                                 \
    X(uv_fs_fdatasync)                                                                             \
    X(uv_fs_ftruncate)                                                                             \
    X(uv_fs_sendfile)                                                                              \
    X(uv_fs_access)                                                                                \
    X(uv_fs_chmod)                                                                                 \
    X(uv_fs_utime)                                                                                 \
    X(uv_fs_futime)                                                                                \
    X(uv_fs_lutime)                                                                                \
    X(uv_fs_lstat)                                                                                 \
    X(uv_fs_link)                                                                                  \
    X(uv_fs_symlink)                                                                               \
    X(uv_fs_readlink)                                                                              \
    X(uv_fs_realpath)                                                                              \
    X(uv_fs_fchmod)                                                                                \
    X(uv_fs_chown)                                                                                 \
    X(uv_fs_fchown)                                                                                \
    X(uv_fs_lchown)                                                                                \
    X(uv_fs_statfs)

#define UV_SYMBOLS(X)                                                                              \
    X(uv_is_active)                                                                                \
    X(uv_timer_init)                                                                               \
    X(uv_timer_start)                                                                              \
    X(uv_idle_init)                                                                                \
    X(uv_idle_start)                                                                               \
    X(uv_prepare_init)                                                                             \
    X(uv_prepare_start)                                                                            \
    X(uv_check_init)                                                                               \
    X(uv_check_start)                                                                              \
    X(uv_async_init)                                                                               \
    X(uv_poll_init)                                                                                \
    X(uv_poll_init_socket)                                                                         \
    X(uv_poll_start)                                                                               \
    X(uv_signal_init)                                                                              \
    X(uv_signal_start)                                                                             \
    X(uv_signal_start_oneshot)                                                                     \
    X(uv_tcp_init)                                                                                 \
    X(uv_tcp_init_ex)                                                                              \
    X(uv_pipe_init)                                                                                \
    X(uv_tty_init)                                                                                 \
    X(uv_udp_init)                                                                                 \
    X(uv_udp_init_ex)                                                                              \
    X(uv_udp_recv_start)                                                                           \
    X(uv_udp_send)                                                                                 \
    X(uv_listen)                                                                                   \
    X(uv_accept)                                                                                   \
    X(uv_tcp_connect)                                                                              \
    X(uv_pipe_connect)                                                                             \
    X(uv_read_start)                                                                               \
    X(uv_write)                                                                                    \
    X(uv_write2)                                                                                   \
    X(uv_shutdown)                                                                                 \
    X(uv_close)                                                                                    \
    X(uv_tcp_close_reset)                                                                          \
    X(uv_spawn)                                                                                    \
    X(uv_fs_event_init)                                                                            \
    X(uv_fs_event_start)                                                                           \
    X(uv_fs_poll_init)                                                                             \
    X(uv_fs_poll_start)                                                                            \
    X(uv_queue_work)                                                                               \
    X(uv_getaddrinfo)                                                                              \
    X(uv_getnameinfo)                                                                              \
    X(uv_random)                                                                                   \
    X(uv_walk)                                                                                     \
    FS_SYMBOLS(X)

#define DECLARE_REAL(name) static __typeof__(&name) real_##name;
UV_SYMBOLS(DECLARE_REAL)

/* libuv's mapping: a call whose return address lies there comes from libuv itself. */
static uintptr_t uv_lo, uv_len;

static atomic_int uvah_ready;
static pthread_once_t uvah_once = PTHREAD_ONCE_INIT;

/* Wrappers entered on this thread and not yet returned (0 inside a user callback). */
static __thread unsigned uvah_depth __attribute__((tls_model("initial-exec")));

/* The stream or UDP handle whose alloc callback opened a scope that its read callback
 * closes: alloc + read are one callback, as in Node (one onread per read). */
static __thread struct uvah_entry *alloc_open __attribute__((tls_model("initial-exec")));
static __thread bool alloc_entered __attribute__((tls_model("initial-exec")));

static atomic_ulong untracked_count;

struct range_query {
    uintptr_t addr, lo, hi;
    bool found;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct range_query *q = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    bool has = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
        has |= q->addr >= a && q->addr < b;
    }
    if (!has)
        return 0;
    q->lo = lo;
    q->hi = hi;
    q->found = true;
    return 1;
}

static int find_libuv(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    if (strncmp(base, "libuv.so", 8) != 0)
        return 0;
    *(void **)data = dlopen(info->dlpi_name, RTLD_NOLOAD | RTLD_LAZY);
    return *(void **)data != NULL;
}

static void *resolve(void *lib, const char *name)
{
    /* What the program would have called without us first: exact transparency. */
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL && lib != NULL)
        f = dlsym(lib, name);
    return f;
}

static size_t table_slots(void)
{
    size_t slots = (size_t)1 << 16;
    const char *env = getenv("AH_UV_SLOTS");
    if (env != NULL) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0' && v >= 1024 && v <= ((size_t)1 << 24)) {
            slots = 1024;
            while (slots < v)
                slots <<= 1;
        }
    }
    return slots;
}

static void uvah_setup(void)
{
    /* dlopen, mmap and getenv may set errno; the program must not see that. */
    int saved_errno = errno;
    /* Python and Lua load libuv RTLD_LOCAL: RTLD_NEXT does not see it there. */
    void *lib = dlopen("libuv.so.1", RTLD_NOLOAD | RTLD_LAZY);
    if (lib == NULL)
        dl_iterate_phdr(find_libuv, &lib);
#define RESOLVE(name) real_##name = (__typeof__(real_##name))resolve(lib, #name);
    UV_SYMBOLS(RESOLVE)
    struct range_query q = {.addr = (uintptr_t)real_uv_close};
    if (q.addr != 0 && dl_iterate_phdr(find_range, &q) && q.found) {
        uv_lo = q.lo;
        uv_len = q.hi - q.lo;
    } else {
        /* Without libuv's mapping its own calls cannot be told apart: follow nothing. */
        uv_lo = 0;
        uv_len = UINTPTR_MAX;
    }
    for (int i = 0; i < T_COUNT; i++)
        types[i] = ah_type(type_names[i]);
    uvah_table_init(table_slots());
    errno = saved_errno;
    atomic_store_explicit(&uvah_ready, 1, memory_order_release);
}

static inline void ready(void)
{
    if (UNLIKELY(!atomic_load_explicit(&uvah_ready, memory_order_acquire)))
        pthread_once(&uvah_once, uvah_setup);
}

/* Whether a call with return address RA is the program's own (not libuv's, not nested). */
static inline bool follow(void *ra)
{
    return uvah_depth == 0 && (uintptr_t)ra - uv_lo >= uv_len;
}

/* ---------------------------------------------------------------------------------------
 * Entries
 */

/* Seen, but the table had no room: visible as a created-and-destroyed UV_UNTRACKED. */
static void count_untracked(void)
{
    atomic_fetch_add_explicit(&untracked_count, 1, memory_order_relaxed);
    ah_resource_t r;
    memset(&r, 0, sizeof(r));
    if (ah_init(&r, types[T_UV_UNTRACKED], 0) == 0)
        ah_destroy(&r);
}

/* A new entry for the handle or request at P, or NULL (not followed). */
static struct uvah_entry *track(const void *p)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct uvah_entry *stale;
        struct uvah_entry *e = uvah_insert(p, &stale);
        if (LIKELY(e != NULL))
            return e;
        if (stale == NULL)
            break;
        /* Its memory was initialised again without uv_close: the old resource is gone. */
        if (stale->inited && ah_resource_is_live(&stale->res))
            ah_destroy(&stale->res);
        if (stale->in_cb == 0) {
            memset(stale, 0, sizeof(*stale));
            return stale;
        }
        stale->closed = true;
        uvah_detach(stale);
    }
    count_untracked();
    return NULL;
}

static inline void init_as(struct uvah_entry *e, enum uvah_type type, ah_id_t trigger)
{
    e->inited = ah_init(&e->res, types[type], trigger) == 0;
}

/* A TCP or pipe handle whose role was not known yet is a connection (used as one). */
static inline void role_connection(struct uvah_entry *e, ah_id_t trigger)
{
    if (e->inited || e->kind == K_FIXED)
        return;
    init_as(e, e->kind == K_PIPE ? T_PIPEWRAP : T_TCPWRAP, trigger ? trigger : e->trigger);
}

static void handle_new(const void *h, enum uvah_type type)
{
    struct uvah_entry *e = track(h);
    if (e != NULL)
        init_as(e, type, 0);
}

static void handle_new_deferred(const void *h, enum uvah_kind kind)
{
    struct uvah_entry *e = track(h);
    if (e != NULL) {
        e->kind = (uint8_t)kind;
        e->trigger = ah_execution_id();
    }
}

/* ---------------------------------------------------------------------------------------
 * Callback scopes
 */
static inline void scope_exit(struct uvah_entry *e, bool entered, unsigned saved, bool destroy);

static inline void close_alloc_scope(void)
{
    struct uvah_entry *e = alloc_open;
    if (UNLIKELY(e != NULL)) {
        alloc_open = NULL;
        scope_exit(e, alloc_entered, uvah_depth, false);
    }
}

static inline bool scope_enter(struct uvah_entry *e, unsigned *saved)
{
    close_alloc_scope();
    *saved = uvah_depth;
    uvah_depth = 0;
    e->in_cb++;
    return ah_before(&e->res) == 0;
}

/* Leave E's scope; DESTROY ends its life (after its close or completion callback). The slot
 * is freed once no callback of E runs any more. */
static inline void scope_exit(struct uvah_entry *e, bool entered, unsigned saved, bool destroy)
{
    if (entered)
        ah_after(&e->res);
    if (destroy) {
        if (e->inited)
            ah_destroy(&e->res);
        e->closed = true;
    }
    uvah_depth = saved;
    if (--e->in_cb == 0 && e->closed)
        uvah_release(e);
}

/* Handle callbacks, run as often as libuv calls them. */
#define HANDLE_TRAMPOLINE(name, cbtype, field, PARAMS, ARGS)                                       \
    static void name PARAMS                                                                        \
    {                                                                                              \
        struct uvah_entry *e = uvah_lookup(h);                                                     \
        cbtype cb = e != NULL ? (cbtype)e->field : NULL;                                           \
        if (UNLIKELY(cb == NULL))                                                                  \
            return;                                                                                \
        unsigned saved;                                                                            \
        bool entered = scope_enter(e, &saved);                                                     \
        cb ARGS;                                                                                   \
        scope_exit(e, entered, saved, false);                                                      \
    }

HANDLE_TRAMPOLINE(tramp_timer, uv_timer_cb, cb, (uv_timer_t * h), (h))
HANDLE_TRAMPOLINE(tramp_idle, uv_idle_cb, cb, (uv_idle_t * h), (h))
HANDLE_TRAMPOLINE(tramp_prepare, uv_prepare_cb, cb, (uv_prepare_t * h), (h))
HANDLE_TRAMPOLINE(tramp_check, uv_check_cb, cb, (uv_check_t * h), (h))
HANDLE_TRAMPOLINE(tramp_async, uv_async_cb, cb, (uv_async_t * h), (h))
HANDLE_TRAMPOLINE(tramp_poll, uv_poll_cb, cb, (uv_poll_t * h, int status, int events),
                  (h, status, events))
HANDLE_TRAMPOLINE(tramp_signal, uv_signal_cb, cb, (uv_signal_t * h, int signum), (h, signum))
HANDLE_TRAMPOLINE(tramp_connection, uv_connection_cb, cb, (uv_stream_t * h, int status),
                  (h, status))
HANDLE_TRAMPOLINE(tramp_exit, uv_exit_cb, cb, (uv_process_t * h, int64_t status, int signum),
                  (h, status, signum))
HANDLE_TRAMPOLINE(tramp_fs_event, uv_fs_event_cb, cb,
                  (uv_fs_event_t * h, const char *filename, int events, int status),
                  (h, filename, events, status))
HANDLE_TRAMPOLINE(tramp_fs_poll, uv_fs_poll_cb, cb,
                  (uv_fs_poll_t * h, int status, const uv_stat_t *prev, const uv_stat_t *curr),
                  (h, status, prev, curr))

/* alloc opens the scope that the read (or UDP recv) callback that follows it closes. */
static void tramp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct uvah_entry *e = uvah_lookup(h);
    uv_alloc_cb cb = e != NULL ? (uv_alloc_cb)e->cb2 : NULL;
    if (UNLIKELY(cb == NULL))
        return;
    unsigned saved;
    bool entered = scope_enter(e, &saved);
    cb(h, suggested, buf);
    uvah_depth = saved;
    alloc_open = e;
    alloc_entered = entered;
}

#define READ_TRAMPOLINE(name, cbtype, PARAMS, ARGS)                                                \
    static void name PARAMS                                                                        \
    {                                                                                              \
        struct uvah_entry *e = uvah_lookup(h);                                                     \
        cbtype cb = e != NULL ? (cbtype)e->cb : NULL;                                              \
        if (UNLIKELY(cb == NULL))                                                                  \
            return;                                                                                \
        unsigned saved;                                                                            \
        bool entered;                                                                              \
        if (LIKELY(alloc_open == e)) {                                                             \
            alloc_open = NULL;                                                                     \
            entered = alloc_entered;                                                               \
            saved = uvah_depth;                                                                    \
            uvah_depth = 0;                                                                        \
        } else {                                                                                   \
            entered = scope_enter(e, &saved);                                                      \
        }                                                                                          \
        cb ARGS;                                                                                   \
        scope_exit(e, entered, saved, false);                                                      \
    }

READ_TRAMPOLINE(tramp_read, uv_read_cb, (uv_stream_t * h, ssize_t nread, const uv_buf_t *buf),
                (h, nread, buf))
READ_TRAMPOLINE(tramp_udp_recv, uv_udp_recv_cb,
                (uv_udp_t * h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                 unsigned flags),
                (h, nread, buf, addr, flags))

/* The close callback: the handle's last, after which it is destroyed. */
static void tramp_close(uv_handle_t *h)
{
    struct uvah_entry *e = uvah_lookup(h);
    if (UNLIKELY(e == NULL))
        return;
    uv_close_cb cb = (uv_close_cb)e->close_cb;
    /* The callback may free the memory or initialise a new handle there. */
    uvah_detach(e);
    unsigned saved;
    bool entered = scope_enter(e, &saved);
    if (LIKELY(cb != NULL))
        cb(h);
    scope_exit(e, entered, saved, true);
}

/* A request's completion callback: its only one; destroyed when it returns. */
#define REQUEST_TRAMPOLINE(name, cbtype, PARAMS, ARGS)                                             \
    static void name PARAMS                                                                        \
    {                                                                                              \
        struct uvah_entry *e = uvah_lookup(req);                                                   \
        if (UNLIKELY(e == NULL))                                                                   \
            return;                                                                                \
        cbtype cb = (cbtype)e->cb;                                                                 \
        uvah_detach(e);                                                                            \
        unsigned saved;                                                                            \
        bool entered = scope_enter(e, &saved);                                                     \
        cb ARGS;                                                                                   \
        scope_exit(e, entered, saved, true);                                                       \
    }

REQUEST_TRAMPOLINE(tramp_connect, uv_connect_cb, (uv_connect_t * req, int status), (req, status))
REQUEST_TRAMPOLINE(tramp_write, uv_write_cb, (uv_write_t * req, int status), (req, status))
REQUEST_TRAMPOLINE(tramp_shutdown, uv_shutdown_cb, (uv_shutdown_t * req, int status), (req, status))
REQUEST_TRAMPOLINE(tramp_udp_send, uv_udp_send_cb, (uv_udp_send_t * req, int status), (req, status))
REQUEST_TRAMPOLINE(tramp_fs, uv_fs_cb, (uv_fs_t * req), (req))
REQUEST_TRAMPOLINE(tramp_getaddrinfo, uv_getaddrinfo_cb,
                   (uv_getaddrinfo_t * req, int status, struct addrinfo *res), (req, status, res))
REQUEST_TRAMPOLINE(tramp_getnameinfo, uv_getnameinfo_cb,
                   (uv_getnameinfo_t * req, int status, const char *host, const char *service),
                   (req, status, host, service))
REQUEST_TRAMPOLINE(tramp_random, uv_random_cb,
                   (uv_random_t * req, int status, void *buf, size_t buflen),
                   (req, status, buf, buflen))

/* uv_queue_work: the work callback runs on a pool thread in the request's scope. */
static void tramp_work(uv_work_t *req)
{
    struct uvah_entry *e = uvah_lookup(req);
    if (UNLIKELY(e == NULL))
        return;
    uv_work_cb cb = (uv_work_cb)e->cb;
    unsigned saved;
    bool entered = scope_enter(e, &saved);
    cb(req);
    scope_exit(e, entered, saved, false);
}

static void tramp_after_work(uv_work_t *req, int status)
{
    struct uvah_entry *e = uvah_lookup(req);
    if (UNLIKELY(e == NULL))
        return;
    uv_after_work_cb cb = (uv_after_work_cb)e->cb2;
    uvah_detach(e);
    if (cb == NULL) {
        /* No user callback, no scope: the work callback was its last. */
        e->in_cb++;
        scope_exit(e, false, uvah_depth, true);
        return;
    }
    unsigned saved;
    bool entered = scope_enter(e, &saved);
    cb(req, status);
    scope_exit(e, entered, saved, true);
}

/* ---------------------------------------------------------------------------------------
 * Wrappers
 */

/* The prologue of every wrapper: libuv found, this call the program's own. */
#define REAL_OR(name, missing)                                                                     \
    ready();                                                                                       \
    if (UNLIKELY(real_##name == NULL))                                                             \
        return missing;

/* Call the real function as a nested call: what it calls through the PLT is its business. */
#define NESTED(call)                                                                               \
    ({                                                                                             \
        uvah_depth++;                                                                              \
        __auto_type nested_rc_ = (call);                                                           \
        uvah_depth--;                                                                              \
        nested_rc_;                                                                                \
    })
#define NESTED_VOID(call)                                                                          \
    do {                                                                                           \
        uvah_depth++;                                                                              \
        call;                                                                                      \
        uvah_depth--;                                                                              \
    } while (0)

/* Handle initialisers whose type is known at once. */
#define HANDLE_INIT(name, type, htype, PARAMS, ARGS)                                               \
    UVAH_EXPORT int name PARAMS                                                                    \
    {                                                                                              \
        REAL_OR(name, UV_ENOSYS)                                                                   \
        if (!follow(RA()))                                                                         \
            return real_##name ARGS;                                                               \
        int rc = NESTED(real_##name ARGS);                                                         \
        if (rc == 0)                                                                               \
            handle_new(h, type);                                                                   \
        return rc;                                                                                 \
    }

HANDLE_INIT(uv_timer_init, T_TIMERWRAP, uv_timer_t, (uv_loop_t * loop, uv_timer_t *h), (loop, h))
HANDLE_INIT(uv_idle_init, T_UV_IDLE, uv_idle_t, (uv_loop_t * loop, uv_idle_t *h), (loop, h))
HANDLE_INIT(uv_prepare_init, T_UV_PREPARE, uv_prepare_t, (uv_loop_t * loop, uv_prepare_t *h),
            (loop, h))
HANDLE_INIT(uv_check_init, T_UV_CHECK, uv_check_t, (uv_loop_t * loop, uv_check_t *h), (loop, h))
HANDLE_INIT(uv_poll_init, T_UV_POLL, uv_poll_t, (uv_loop_t * loop, uv_poll_t *h, int fd),
            (loop, h, fd))
HANDLE_INIT(uv_poll_init_socket, T_UV_POLL, uv_poll_t,
            (uv_loop_t * loop, uv_poll_t *h, uv_os_sock_t sock), (loop, h, sock))
HANDLE_INIT(uv_signal_init, T_SIGNALWRAP, uv_signal_t, (uv_loop_t * loop, uv_signal_t *h),
            (loop, h))
HANDLE_INIT(uv_tty_init, T_TTYWRAP, uv_tty_t, (uv_loop_t * loop, uv_tty_t *h, uv_file fd, int rd),
            (loop, h, fd, rd))
HANDLE_INIT(uv_udp_init, T_UDPWRAP, uv_udp_t, (uv_loop_t * loop, uv_udp_t *h), (loop, h))
HANDLE_INIT(uv_udp_init_ex, T_UDPWRAP, uv_udp_t,
            (uv_loop_t * loop, uv_udp_t *h, unsigned int flags), (loop, h, flags))
HANDLE_INIT(uv_fs_event_init, T_FSEVENTWRAP, uv_fs_event_t, (uv_loop_t * loop, uv_fs_event_t *h),
            (loop, h))
HANDLE_INIT(uv_fs_poll_init, T_STATWATCHER, uv_fs_poll_t, (uv_loop_t * loop, uv_fs_poll_t *h),
            (loop, h))

/* TCP and pipe handles: the type waits for listen, accept, connect or first use. */
#define HANDLE_INIT_DEFERRED(name, kind, PARAMS, ARGS)                                             \
    UVAH_EXPORT int name PARAMS                                                                    \
    {                                                                                              \
        REAL_OR(name, UV_ENOSYS)                                                                   \
        if (!follow(RA()))                                                                         \
            return real_##name ARGS;                                                               \
        int rc = NESTED(real_##name ARGS);                                                         \
        if (rc == 0)                                                                               \
            handle_new_deferred(h, kind);                                                          \
        return rc;                                                                                 \
    }

HANDLE_INIT_DEFERRED(uv_tcp_init, K_TCP, (uv_loop_t * loop, uv_tcp_t *h), (loop, h))
HANDLE_INIT_DEFERRED(uv_tcp_init_ex, K_TCP, (uv_loop_t * loop, uv_tcp_t *h, unsigned int flags),
                     (loop, h, flags))
HANDLE_INIT_DEFERRED(uv_pipe_init, K_PIPE, (uv_loop_t * loop, uv_pipe_t *h, int ipc),
                     (loop, h, ipc))

UVAH_EXPORT int uv_async_init(uv_loop_t *loop, uv_async_t *h, uv_async_cb cb)
{
    REAL_OR(uv_async_init, UV_ENOSYS)
    if (!follow(RA()) || cb == NULL)
        return real_uv_async_init(loop, h, cb);
    /* Its callback is given now: the entry must exist before libuv holds the trampoline. */
    struct uvah_entry *e = track(h);
    if (e == NULL)
        return real_uv_async_init(loop, h, cb);
    e->cb = (uvah_fn)cb;
    int rc = NESTED(real_uv_async_init(loop, h, tramp_async));
    if (rc == 0)
        init_as(e, T_UV_ASYNC, 0);
    else
        uvah_release(e);
    return rc;
}

/* Starters: on success the handle's callback is the user's new one. */
#define HANDLE_START(name, cbtype, tramp, PARAMS, ARGS_WITH)                                       \
    UVAH_EXPORT int name PARAMS                                                                    \
    {                                                                                              \
        REAL_OR(name, UV_ENOSYS)                                                                   \
        struct uvah_entry *e;                                                                      \
        if (!follow(RA()) || cb == NULL || cb == tramp || (e = uvah_lookup(h)) == NULL)            \
            return real_##name ARGS_WITH(cb);                                                      \
        int rc = NESTED(real_##name ARGS_WITH(tramp));                                             \
        if (rc == 0)                                                                               \
            e->cb = (uvah_fn)cb;                                                                   \
        return rc;                                                                                 \
    }

#define TIMER_ARGS(f) (h, f, timeout, repeat)
HANDLE_START(uv_timer_start, uv_timer_cb, tramp_timer,
             (uv_timer_t * h, uv_timer_cb cb, uint64_t timeout, uint64_t repeat), TIMER_ARGS)
#define POLL_ARGS(f) (h, events, f)
HANDLE_START(uv_poll_start, uv_poll_cb, tramp_poll, (uv_poll_t * h, int events, uv_poll_cb cb),
             POLL_ARGS)
#define SIGNAL_ARGS(f) (h, f, signum)
HANDLE_START(uv_signal_start, uv_signal_cb, tramp_signal,
             (uv_signal_t * h, uv_signal_cb cb, int signum), SIGNAL_ARGS)
HANDLE_START(uv_signal_start_oneshot, uv_signal_cb, tramp_signal,
             (uv_signal_t * h, uv_signal_cb cb, int signum), SIGNAL_ARGS)
#define FS_EVENT_ARGS(f) (h, f, path, flags)
HANDLE_START(uv_fs_event_start, uv_fs_event_cb, tramp_fs_event,
             (uv_fs_event_t * h, uv_fs_event_cb cb, const char *path, unsigned int flags),
             FS_EVENT_ARGS)

/* Starters that keep the callback they have when the handle is active already. */
#define HANDLE_START_ONCE(name, cbtype, tramp, PARAMS, ARGS_WITH)                                  \
    UVAH_EXPORT int name PARAMS                                                                    \
    {                                                                                              \
        REAL_OR(name, UV_ENOSYS)                                                                   \
        struct uvah_entry *e;                                                                      \
        if (!follow(RA()) || cb == NULL || cb == tramp || (e = uvah_lookup(h)) == NULL ||          \
            (real_uv_is_active != NULL && real_uv_is_active((const uv_handle_t *)h)))              \
            return real_##name ARGS_WITH(cb);                                                      \
        int rc = NESTED(real_##name ARGS_WITH(tramp));                                             \
        if (rc == 0)                                                                               \
            e->cb = (uvah_fn)cb;                                                                   \
        return rc;                                                                                 \
    }

#define CB_ONLY(f) (h, f)
HANDLE_START_ONCE(uv_idle_start, uv_idle_cb, tramp_idle, (uv_idle_t * h, uv_idle_cb cb), CB_ONLY)
HANDLE_START_ONCE(uv_prepare_start, uv_prepare_cb, tramp_prepare,
                  (uv_prepare_t * h, uv_prepare_cb cb), CB_ONLY)
HANDLE_START_ONCE(uv_check_start, uv_check_cb, tramp_check, (uv_check_t * h, uv_check_cb cb),
                  CB_ONLY)
#define FS_POLL_ARGS(f) (h, f, path, interval)
HANDLE_START_ONCE(uv_fs_poll_start, uv_fs_poll_cb, tramp_fs_poll,
                  (uv_fs_poll_t * h, uv_fs_poll_cb cb, const char *path, unsigned int interval),
                  FS_POLL_ARGS)

UVAH_EXPORT int uv_listen(uv_stream_t *h, int backlog, uv_connection_cb cb)
{
    REAL_OR(uv_listen, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || cb == NULL || cb == tramp_connection || (e = uvah_lookup(h)) == NULL)
        return real_uv_listen(h, backlog, cb);
    int rc = NESTED(real_uv_listen(h, backlog, tramp_connection));
    if (rc == 0) {
        e->cb = (uvah_fn)cb;
        if (!e->inited && e->kind != K_FIXED)
            init_as(e, e->kind == K_PIPE ? T_PIPESERVERWRAP : T_TCPSERVERWRAP, e->trigger);
    }
    return rc;
}

UVAH_EXPORT int uv_accept(uv_stream_t *server, uv_stream_t *client)
{
    REAL_OR(uv_accept, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_accept(server, client);
    int rc = NESTED(real_uv_accept(server, client));
    struct uvah_entry *ce;
    if (rc == 0 && (ce = uvah_lookup(client)) != NULL && !ce->inited) {
        struct uvah_entry *se = uvah_lookup(server);
        role_connection(ce, se != NULL && se->inited ? se->res.id : 0);
    }
    return rc;
}

UVAH_EXPORT int uv_read_start(uv_stream_t *h, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
    REAL_OR(uv_read_start, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || alloc_cb == NULL || read_cb == NULL || read_cb == tramp_read ||
        (e = uvah_lookup(h)) == NULL)
        return real_uv_read_start(h, alloc_cb, read_cb);
    role_connection(e, 0);
    int rc = NESTED(real_uv_read_start(h, tramp_alloc, tramp_read));
    if (rc == 0) {
        e->cb2 = (uvah_fn)alloc_cb;
        e->cb = (uvah_fn)read_cb;
    }
    return rc;
}

UVAH_EXPORT int uv_udp_recv_start(uv_udp_t *h, uv_alloc_cb alloc_cb, uv_udp_recv_cb recv_cb)
{
    REAL_OR(uv_udp_recv_start, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || alloc_cb == NULL || recv_cb == NULL || recv_cb == tramp_udp_recv ||
        (e = uvah_lookup(h)) == NULL)
        return real_uv_udp_recv_start(h, alloc_cb, recv_cb);
    int rc = NESTED(real_uv_udp_recv_start(h, tramp_alloc, tramp_udp_recv));
    if (rc == 0) {
        e->cb2 = (uvah_fn)alloc_cb;
        e->cb = (uvah_fn)recv_cb;
    }
    return rc;
}

/* uv_close and uv_tcp_close_reset: destroyed after the close callback, or now without one. */
static void close_with(void (*real)(uv_handle_t *, uv_close_cb),
                       int (*real_reset)(uv_tcp_t *, uv_close_cb), int *rc, uv_handle_t *h,
                       uv_close_cb cb)
{
    /* A trampoline handed back by libuv is never taken for the user's callback. */
    struct uvah_entry *e = cb == tramp_close ? NULL : uvah_lookup(h);
    if (e == NULL) {
        if (real != NULL)
            real(h, cb);
        else
            *rc = real_reset((uv_tcp_t *)h, cb);
        return;
    }
    role_connection(e, 0);
    uv_close_cb pass = cb != NULL ? tramp_close : NULL;
    if (real != NULL)
        NESTED_VOID(real(h, pass));
    else if ((*rc = NESTED(real_reset((uv_tcp_t *)h, pass))) != 0)
        return;
    e->close_cb = (uvah_fn)cb;
    if (cb != NULL)
        return;
    if (e->inited)
        ah_destroy(&e->res);
    if (e->in_cb) {
        /* Closed from one of its own callbacks: the slot goes when that returns. */
        e->closed = true;
        uvah_detach(e);
    } else {
        uvah_release(e);
    }
}

UVAH_EXPORT void uv_close(uv_handle_t *h, uv_close_cb cb)
{
    ready();
    if (UNLIKELY(real_uv_close == NULL))
        return;
    if (!follow(RA())) {
        real_uv_close(h, cb);
        return;
    }
    close_with(real_uv_close, NULL, NULL, h, cb);
}

UVAH_EXPORT int uv_tcp_close_reset(uv_tcp_t *h, uv_close_cb cb)
{
    REAL_OR(uv_tcp_close_reset, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_tcp_close_reset(h, cb);
    int rc = 0;
    close_with(NULL, real_uv_tcp_close_reset, &rc, (uv_handle_t *)h, cb);
    return rc;
}

/* Requests: the entry exists before libuv holds the trampoline; the resource is initialised
 * once the call succeeded (a call that fails at once never calls back: no resource). */
static inline struct uvah_entry *request_begin(const void *req, void (*cb)(void))
{
    struct uvah_entry *e = track(req);
    if (e != NULL)
        e->cb = cb;
    return e;
}

static inline void request_end(struct uvah_entry *e, int rc, enum uvah_type type, ah_id_t trigger)
{
    if (rc == 0)
        init_as(e, type, trigger);
    else
        uvah_release(e);
}

static inline void stream_used(const void *h)
{
    struct uvah_entry *he = uvah_lookup(h);
    if (he != NULL)
        role_connection(he, 0);
}

UVAH_EXPORT int uv_write2(uv_write_t *req, uv_stream_t *h, const uv_buf_t bufs[],
                          unsigned int nbufs, uv_stream_t *send_handle, uv_write_cb cb)
{
    REAL_OR(uv_write2, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_write2(req, h, bufs, nbufs, send_handle, cb);
    stream_used(h);
    struct uvah_entry *e;
    if (cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return NESTED(real_uv_write2(req, h, bufs, nbufs, send_handle, cb));
    int rc = NESTED(real_uv_write2(req, h, bufs, nbufs, send_handle, tramp_write));
    request_end(e, rc, T_WRITEWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_write(uv_write_t *req, uv_stream_t *h, const uv_buf_t bufs[], unsigned int nbufs,
                         uv_write_cb cb)
{
    REAL_OR(uv_write, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_write(req, h, bufs, nbufs, cb);
    stream_used(h);
    struct uvah_entry *e;
    if (cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return NESTED(real_uv_write(req, h, bufs, nbufs, cb));
    int rc = NESTED(real_uv_write(req, h, bufs, nbufs, tramp_write));
    request_end(e, rc, T_WRITEWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_shutdown(uv_shutdown_t *req, uv_stream_t *h, uv_shutdown_cb cb)
{
    REAL_OR(uv_shutdown, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_shutdown(req, h, cb);
    stream_used(h);
    struct uvah_entry *e;
    if (cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return NESTED(real_uv_shutdown(req, h, cb));
    int rc = NESTED(real_uv_shutdown(req, h, tramp_shutdown));
    request_end(e, rc, T_SHUTDOWNWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr,
                               uv_connect_cb cb)
{
    REAL_OR(uv_tcp_connect, UV_ENOSYS)
    if (!follow(RA()))
        return real_uv_tcp_connect(req, h, addr, cb);
    stream_used(h);
    struct uvah_entry *e;
    if (cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return NESTED(real_uv_tcp_connect(req, h, addr, cb));
    int rc = NESTED(real_uv_tcp_connect(req, h, addr, tramp_connect));
    request_end(e, rc, T_TCPCONNECTWRAP, 0);
    return rc;
}

UVAH_EXPORT void uv_pipe_connect(uv_connect_t *req, uv_pipe_t *h, const char *name,
                                 uv_connect_cb cb)
{
    ready();
    if (UNLIKELY(real_uv_pipe_connect == NULL))
        return;
    if (!follow(RA())) {
        real_uv_pipe_connect(req, h, name, cb);
        return;
    }
    stream_used(h);
    struct uvah_entry *e;
    if (cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL) {
        NESTED_VOID(real_uv_pipe_connect(req, h, name, cb));
        return;
    }
    /* Its errors come through the callback. */
    NESTED_VOID(real_uv_pipe_connect(req, h, name, tramp_connect));
    request_end(e, 0, T_PIPECONNECTWRAP, 0);
}

UVAH_EXPORT int uv_udp_send(uv_udp_send_t *req, uv_udp_t *h, const uv_buf_t bufs[],
                            unsigned int nbufs, const struct sockaddr *addr, uv_udp_send_cb cb)
{
    REAL_OR(uv_udp_send, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return real_uv_udp_send(req, h, bufs, nbufs, addr, cb);
    int rc = NESTED(real_uv_udp_send(req, h, bufs, nbufs, addr, tramp_udp_send));
    request_end(e, rc, T_UDPSENDWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_spawn(uv_loop_t *loop, uv_process_t *h, const uv_process_options_t *options)
{
    REAL_OR(uv_spawn, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || options == NULL || (e = track(h)) == NULL)
        return real_uv_spawn(loop, h, options);
    uv_process_options_t copy = *options;
    e->cb = (uvah_fn)options->exit_cb;
    if (copy.exit_cb != NULL)
        copy.exit_cb = tramp_exit;
    int rc = NESTED(real_uv_spawn(loop, h, &copy));
    /* The handle is initialised even when the spawn fails, and must be closed then. */
    init_as(e, T_PROCESSWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work_cb,
                              uv_after_work_cb after_work_cb)
{
    REAL_OR(uv_queue_work, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || work_cb == NULL || (e = request_begin(req, (uvah_fn)work_cb)) == NULL)
        return real_uv_queue_work(loop, req, work_cb, after_work_cb);
    e->cb2 = (uvah_fn)after_work_cb;
    /* A pool thread may run the work before uv_queue_work returns. */
    init_as(e, T_UV_WORK, 0);
    int rc = NESTED(real_uv_queue_work(loop, req, tramp_work, tramp_after_work));
    if (rc != 0) {
        if (e->inited)
            ah_destroy(&e->res);
        uvah_release(e);
    }
    return rc;
}

UVAH_EXPORT int uv_getaddrinfo(uv_loop_t *loop, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb,
                               const char *node, const char *service, const struct addrinfo *hints)
{
    REAL_OR(uv_getaddrinfo, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return real_uv_getaddrinfo(loop, req, cb, node, service, hints);
    int rc = NESTED(real_uv_getaddrinfo(loop, req, tramp_getaddrinfo, node, service, hints));
    request_end(e, rc, T_GETADDRINFOREQWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_getnameinfo(uv_loop_t *loop, uv_getnameinfo_t *req, uv_getnameinfo_cb cb,
                               const struct sockaddr *addr, int flags)
{
    REAL_OR(uv_getnameinfo, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return real_uv_getnameinfo(loop, req, cb, addr, flags);
    int rc = NESTED(real_uv_getnameinfo(loop, req, tramp_getnameinfo, addr, flags));
    request_end(e, rc, T_GETNAMEINFOREQWRAP, 0);
    return rc;
}

UVAH_EXPORT int uv_random(uv_loop_t *loop, uv_random_t *req, void *buf, size_t buflen,
                          unsigned flags, uv_random_cb cb)
{
    REAL_OR(uv_random, UV_ENOSYS)
    struct uvah_entry *e;
    if (!follow(RA()) || cb == NULL || (e = request_begin(req, (uvah_fn)cb)) == NULL)
        return real_uv_random(loop, req, buf, buflen, flags, cb);
    int rc = NESTED(real_uv_random(loop, req, buf, buflen, flags, tramp_random));
    request_end(e, rc, T_UV_RANDOM, 0);
    return rc;
}

/* uv_fs_*: FSREQCALLBACK with a callback; with NULL it is synchronous and no resource. */
#define FS_WRAP(name, PARAMS, ARGS_WITH)                                                           \
    UVAH_EXPORT int name PARAMS                                                                    \
    {                                                                                              \
        REAL_OR(name, UV_ENOSYS)                                                                   \
        struct uvah_entry *e;                                                                      \
        if (cb == NULL || !follow(RA()) || (e = request_begin(req, (uvah_fn)cb)) == NULL)          \
            return real_##name ARGS_WITH(cb);                                                      \
        int rc = NESTED(real_##name ARGS_WITH(tramp_fs));                                          \
        request_end(e, rc, T_FSREQCALLBACK, 0);                                                    \
        return rc;                                                                                 \
    }

#define L uv_loop_t *loop, uv_fs_t *req
#define A1(a) (loop, req, a)
#define FILE_ARGS(f) (loop, req, file, f)
#define PATH_ARGS(f) (loop, req, path, f)
#define PATH_INT_ARGS(f) (loop, req, path, mode, f)
#define TWO_PATH_ARGS(f) (loop, req, path, new_path, f)
#define DIR_ARGS(f) (loop, req, dir, f)
#define TPL_ARGS(f) (loop, req, tpl, f)
#define RW_ARGS(f) (loop, req, file, bufs, nbufs, offset, f)
#define UTIME_ARGS(f) (loop, req, path, atime, mtime, f)
#define FUTIME_ARGS(f) (loop, req, file, atime, mtime, f)
#define CHOWN_ARGS(f) (loop, req, path, uid, gid, f)
#define FCHOWN_ARGS(f) (loop, req, file, uid, gid, f)

FS_WRAP(uv_fs_close, (L, uv_file file, uv_fs_cb cb), FILE_ARGS)
#define OPEN_ARGS(f) (loop, req, path, flags, mode, f)
FS_WRAP(uv_fs_open, (L, const char *path, int flags, int mode, uv_fs_cb cb), OPEN_ARGS)
FS_WRAP(uv_fs_read,
        (L, uv_file file, const uv_buf_t bufs[], unsigned int nbufs, int64_t offset, uv_fs_cb cb),
        RW_ARGS)
FS_WRAP(uv_fs_unlink, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
FS_WRAP(uv_fs_write,
        (L, uv_file file, const uv_buf_t bufs[], unsigned int nbufs, int64_t offset, uv_fs_cb cb),
        RW_ARGS)
#define COPY_ARGS(f) (loop, req, path, new_path, flags, f)
FS_WRAP(uv_fs_copyfile, (L, const char *path, const char *new_path, int flags, uv_fs_cb cb),
        COPY_ARGS)
FS_WRAP(uv_fs_mkdir, (L, const char *path, int mode, uv_fs_cb cb), PATH_INT_ARGS)
FS_WRAP(uv_fs_mkdtemp, (L, const char *tpl, uv_fs_cb cb), TPL_ARGS)
FS_WRAP(uv_fs_mkstemp, (L, const char *tpl, uv_fs_cb cb), TPL_ARGS)
FS_WRAP(uv_fs_rmdir, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
#define SCANDIR_ARGS(f) (loop, req, path, flags, f)
FS_WRAP(uv_fs_scandir, (L, const char *path, int flags, uv_fs_cb cb), SCANDIR_ARGS)
FS_WRAP(uv_fs_opendir, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
FS_WRAP(uv_fs_readdir, (L, uv_dir_t *dir, uv_fs_cb cb), DIR_ARGS)
FS_WRAP(uv_fs_closedir, (L, uv_dir_t *dir, uv_fs_cb cb), DIR_ARGS)
FS_WRAP(uv_fs_stat, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
FS_WRAP(uv_fs_fstat, (L, uv_file file, uv_fs_cb cb), FILE_ARGS)
FS_WRAP(uv_fs_rename, (L, const char *path, const char *new_path, uv_fs_cb cb), TWO_PATH_ARGS)
FS_WRAP(uv_fs_fsync, (L, uv_file file, uv_fs_cb cb), FILE_ARGS)
FS_WRAP(uv_fs_fdatasync, (L, uv_file file, uv_fs_cb cb), FILE_ARGS)
#define TRUNC_ARGS(f) (loop, req, file, offset, f)
FS_WRAP(uv_fs_ftruncate, (L, uv_file file, int64_t offset, uv_fs_cb cb), TRUNC_ARGS)
#define SENDFILE_ARGS(f) (loop, req, out_fd, in_fd, in_offset, length, f)
FS_WRAP(uv_fs_sendfile,
        (L, uv_file out_fd, uv_file in_fd, int64_t in_offset, size_t length, uv_fs_cb cb),
        SENDFILE_ARGS)
FS_WRAP(uv_fs_access, (L, const char *path, int mode, uv_fs_cb cb), PATH_INT_ARGS)
FS_WRAP(uv_fs_chmod, (L, const char *path, int mode, uv_fs_cb cb), PATH_INT_ARGS)
FS_WRAP(uv_fs_utime, (L, const char *path, double atime, double mtime, uv_fs_cb cb), UTIME_ARGS)
FS_WRAP(uv_fs_futime, (L, uv_file file, double atime, double mtime, uv_fs_cb cb), FUTIME_ARGS)
FS_WRAP(uv_fs_lutime, (L, const char *path, double atime, double mtime, uv_fs_cb cb), UTIME_ARGS)
FS_WRAP(uv_fs_lstat, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
FS_WRAP(uv_fs_link, (L, const char *path, const char *new_path, uv_fs_cb cb), TWO_PATH_ARGS)
FS_WRAP(uv_fs_symlink, (L, const char *path, const char *new_path, int flags, uv_fs_cb cb),
        COPY_ARGS)
FS_WRAP(uv_fs_readlink, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
FS_WRAP(uv_fs_realpath, (L, const char *path, uv_fs_cb cb), PATH_ARGS)
#define FCHMOD_ARGS(f) (loop, req, file, mode, f)
FS_WRAP(uv_fs_fchmod, (L, uv_file file, int mode, uv_fs_cb cb), FCHMOD_ARGS)
FS_WRAP(uv_fs_chown, (L, const char *path, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), CHOWN_ARGS)
FS_WRAP(uv_fs_fchown, (L, uv_file file, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), FCHOWN_ARGS)
FS_WRAP(uv_fs_lchown, (L, const char *path, uv_uid_t uid, uv_gid_t gid, uv_fs_cb cb), CHOWN_ARGS)
FS_WRAP(uv_fs_statfs, (L, const char *path, uv_fs_cb cb), PATH_ARGS)

/* uv_walk calls the user's callback from inside libuv: a uv_close it tail-calls (the usual
 * close-everything walk) would have libuv's return address and go unfollowed. Through this
 * trampoline the return address is ours and the depth is the user's. */
struct walk_call {
    uv_walk_cb cb;
    void *arg;
};

static void tramp_walk(uv_handle_t *h, void *arg)
{
    const struct walk_call *w = arg;
    unsigned saved = uvah_depth;
    uvah_depth = 0;
    w->cb(h, w->arg);
    uvah_depth = saved;
}

UVAH_EXPORT void uv_walk(uv_loop_t *loop, uv_walk_cb cb, void *arg)
{
    ready();
    if (UNLIKELY(real_uv_walk == NULL))
        return;
    if (cb == NULL || cb == tramp_walk || !follow(RA())) {
        real_uv_walk(loop, cb, arg);
        return;
    }
    struct walk_call w = {cb, arg};
    NESTED_VOID(real_uv_walk(loop, tramp_walk, &w));
}

/* How many handles and requests found no room in the side table (also counted as the type
 * UV_UNTRACKED); for tests and debuggers. */
UVAH_EXPORT unsigned long ah_uv_untracked(void)
{
    return atomic_load_explicit(&untracked_count, memory_order_relaxed);
}
