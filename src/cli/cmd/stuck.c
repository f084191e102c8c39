/*
 * stuck.c - `ahprof stuck -p PID`: where each thread of a process is now, in its async
 * resources and in the kernel, most suspicious first. One look and no probe: it works on a
 * process that is already stuck, without having watched it get there.
 */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmd/stuck.h"
#include "collect/collector.h"
#include "collect/session.h"
#include "collect/target.h"
#include "collect/threads.h"
#include "common/clock.h"
#include "common/escape.h"
#include "common/hashmap.h"
#include "common/json_writer.h"
#include "common/util.h"
#include "data/recording.h"

#define STUCK_WINDOW_DEFAULT_NS 200000000ull
#define STUCK_WINDOW_MIN_NS 10000000ull
#define STUCK_WINDOW_MAX_NS 10000000000ull
/* Resources remembered from the window (beyond: counted in resources_untracked), listed by
 * default, and the longest trigger chain followed (a chain is the target's to make: it may
 * loop). */
#define STUCK_RESOURCES_MAX (1u << 20)
#define STUCK_RESOURCES_SHOWN 100
#define STUCK_CHAIN_MAX 64
/* Reading what the ring buffer still holds once the window ends stops after this long. */
#define STUCK_FINISH_NS 200000000ull

static const char stuck_usage[] =
    "Usage: ahprof stuck -p PID [-w DURATION] [-n N] [--no-probes] [-j|--json]\n"
    "\n"
    "Where each thread of a running process is right now: the async resources whose\n"
    "callbacks it is inside (read from libah's per-thread state), where it waits in the\n"
    "kernel and for how long, and the live resources per type; then the resources it could\n"
    "see one by one, with their ages and trigger chains. For a process that hangs or\n"
    "stalls: it needs no tracing from before. During the window it attaches its probes\n"
    "(as `ahprof top` does) to see the resources created or called meanwhile.\n"
    "\n"
    "  -p, --pid PID          the process (it must use libah)\n"
    "  -w, --window DURATION  how long to watch the threads' scheduling and the resources\n"
    "                         (default 200ms, from 10ms to 10s; e.g. 0.5, 500ms)\n"
    "  -n, --resources N      list at most N resources, most suspicious first (default 100)\n"
    "      --no-probes        attach no probe: the threads and libah's state only; the\n"
    "                         resources listed are then those in scope on the threads\n"
    "  -j, --json             one JSON object on stdout (fields below)\n"
    "  -h, --help             this help\n"
    "\n"
    "Threads come most suspicious first, by verdict:\n"
    "  blocked-in-callback  inside a callback and asleep in the kernel (state S or D): the\n"
    "                       callback waits for a lock, a read, a sleep... and every resource\n"
    "                       queued behind it on that thread waits too. Longest asleep first.\n"
    "  busy-in-callback     inside a callback and on a CPU (or waiting for one) for at least\n"
    "                       90% of the window: a callback that computes instead of yielding.\n"
    "  in-callback          inside a callback, neither of the above.\n"
    "  stack-unreadable     libah's state in the process could not be read (it is damaged,\n"
    "                       or its registry is not one ahprof reads): in a callback or not,\n"
    "                       nobody knows.\n"
    "  waiting              outside any callback and asleep: an idle event loop in epoll_wait,\n"
    "                       a pool worker waiting for work. Normal.\n"
    "  running              outside any callback, not asleep.\n"
    "\n"
    "The JSON object: [pid], [comm] (the process's name), [window_ns] (the window asked\n"
    "for), [threads_truncated] (more than 4096 threads: the others are left out),\n"
    "[registry_error] (why libah's registry could not be read, else null), [last_run_error]\n"
    "(below), [deadlocks] (each a list of tids: every thread waits for a futex the next one\n"
    "holds, the last for the first's), [live] and [threads], most suspicious first (within a\n"
    "verdict, deadlocked threads first, then the longest asleep); each thread's [rank] is its\n"
    "place in that order.\n"
    "\n"
    "Per thread (JSON field in brackets): [tid], [comm] (the thread's name), [verdict] (above)\n"
    "  state [state]             the kernel's: R running/runnable, S sleeping, D\n"
    "                            uninterruptible (disk...), T stopped, Z zombie\n"
    "  off CPU [blocked_ns]      ns of the window the thread neither ran nor waited for a CPU:\n"
    "                            window - cpu - run queue. When the thread did not run at all in\n"
    "                            the window [blocked_whole_window], it has been waiting at least\n"
    "                            that long.\n"
    "  last ran [since_last_run_ns]: ns since the thread last got a CPU, from the scheduler\n"
    "                            (sched_info.last_arrival, read by a BPF task iterator): a\n"
    "                            thread asleep has been so for at most that long, and for\n"
    "                            about that long when it blocked soon after it ran (a lock, a\n"
    "                            read). null when not known; [last_run_error] says why (BPF\n"
    "                            needs CAP_BPF and CAP_PERFMON, or root).\n"
    "  cpu [cpu_ns], run queue [runqueue_ns], switches [switches]: CPU time, time runnable but\n"
    "                            not running, and times scheduled in, during this thread's\n"
    "                            window [window_ns] (from /proc/PID/task/TID/schedstat, read at\n"
    "                            both ends); null when the kernel does not say\n"
    "  [running]                 on a CPU (or runnable) when looked at: no system call to show\n"
    "  syscall [syscall: nr, name, args]: the system call it is blocked in (null when running or\n"
    "                            not in one; name null when ahprof does not know the number);\n"
    "                            for a call on a file descriptor [fd], what the descriptor is\n"
    "                            [fd_target]: pipe:[INODE], socket:[INODE], a path...; for\n"
    "                            futex, the address of the futex word [futex_addr] (a mutex, a\n"
    "                            condition variable: two threads waiting on each other's are a\n"
    "                            deadlock) and the operation [futex_op]; who holds it\n"
    "                            [futex_holder_tid], when that can be told: the futex word of\n"
    "                            a PI lock (the kernel's rule), or a glibc mutex's owner field\n"
    "                            when it names another thread of the process; null otherwise.\n"
    "                            [deadlocked]: following who holds what leads back to this\n"
    "                            thread\n"
    "  wchan [wchan], kernel stack [kernel_stack]: the kernel function it sleeps in and the\n"
    "                            kernel call stack (root only)\n"
    "  async stack [async_stack: status, depth, frames], frames innermost first: the type\n"
    "                            [type] (null when it cannot be read or is not registered),\n"
    "                            [type_id], [id] and [trigger_id] of each resource whose\n"
    "                            callback scope is open on the thread, the first being the\n"
    "                            callback running now. [depth] is how many are open; at most\n"
    "                            256 (the innermost) are read. [status]: ok (read twice the\n"
    "                            same; for a thread that runs, a sample of a moment); moving\n"
    "                            (the thread changed it during every read: it runs, what is\n"
    "                            shown may be torn); unreadable (libah's state points nowhere:\n"
    "                            a damaged process); no-state (the thread never raised an\n"
    "                            event).\n"
    "\n"
    "Live resources per type [live: type, type_id, count]: created and not destroyed, from\n"
    "libah's registry. Their ages are not known here [oldest_age_ns is null]: libah keeps no\n"
    "creation time (it would cost every event a clock read); `ahprof top` shows the oldest age\n"
    "of those created while it watches.\n"
    "\n"
    "Resources one by one [resources], most suspicious first: those created or called while\n"
    "the probes watched (the window), and those in scope on a thread when it ended. Verdicts:\n"
    "  blocked-in-scope  in scope on a thread blocked in a callback (blocked-in-callback\n"
    "                    above): the callback that hangs and those it runs inside; the\n"
    "                    threads' order, innermost first\n"
    "  never-called      created during the window, alive, no callback yet: work queued and\n"
    "                    not run (behind a blocked thread, a lost wakeup); oldest first\n"
    "  in-scope          in scope on a thread that is not blocked\n"
    "  called            alive, with callbacks during the window; the longest quiet first\n"
    "Fields: [id], [type] (null when unknown), [type_id], [verdict], [age_ns]: since it was\n"
    "created; when its creation was not seen (before the attach) the time the probes watched,\n"
    "and [age_at_least] is true: it is at least that old. [callbacks]: its callbacks that\n"
    "began during the window. [since_last_callback_ns]: since its last callback began or\n"
    "ended; null when none was seen; for a resource in scope whose callback began before the\n"
    "attach, the time watched with [since_last_callback_at_least] true. [in_scope_tids]: the\n"
    "threads whose async stack holds it now. [trigger_id] and [trigger_chain]: what created\n"
    "it ({id, type}), what created that, ... as far as ahprof knows them (seen created during\n"
    "the window, or in scope), ending at 1, the root execution, when\n"
    "[trigger_chain_complete]. Destroyed resources are not listed. Beside them:\n"
    "[resources_observed_ns] (how long the probes watched), [resources_error] (why no probe\n"
    "could be attached, else null: only in-scope resources then), [resources_lost_events]\n"
    "(events of the window lost: the list may lack some), [resources_untracked] (resources\n"
    "beyond the 1048576 remembered), [resources_total] (known, before -n).\n"
    "\n"
    "What is not seen: a resource created before the attach that stays quiet through the\n"
    "window (no callback, not in scope) - its type's live count includes it, its age and\n"
    "trigger are not known. libah keeps no list of live resources, nor their creation times:\n"
    "either would cost every untraced init and destroy a store to shared memory or a clock\n"
    "read; ahprof knows a resource only by watching it. Nor are the events a thread that\n"
    "never leaves the CPU still buffers in libah when the window ends (libah hands a thread's\n"
    "events over when its buffer fills, when it returns to its top level, and ahprof reads\n"
    "them when the thread is switched out).\n"
    "\n"
    "Everything read from the process (names, ids, paths) is the process's and is escaped.\n"
    "Needs root (or CAP_SYS_PTRACE to read the process, CAP_SYS_ADMIN for kernel stacks,\n"
    "CAP_BPF and CAP_PERFMON for when threads last ran).\n";

enum verdict {
    V_BLOCKED_IN_CALLBACK,
    V_BUSY_IN_CALLBACK,
    V_IN_CALLBACK,
    V_STACK_UNREADABLE,
    V_WAITING,
    V_RUNNING
};

static const char *const verdict_names[] = {
    "blocked-in-callback", "busy-in-callback", "in-callback",
    "stack-unreadable",    "waiting",          "running"};

static const char *const stack_status_names[] = {"no-state", "ok", "moving", "unreadable"};

struct judged {
    const struct ahp_thread_view *v;
    enum verdict verdict;
    bool deadlocked; /* in a cycle of threads each waiting for a futex the next one holds */
    uint64_t blocked_ns;
    bool blocked_whole_window;
    uint64_t asleep_for_ns; /* the longest it can have been asleep: the sort key */
};

static bool asleep(char state)
{
    return state == 'S' || state == 'D';
}

static int cmp_view_tid(const void *key, const void *elem)
{
    int32_t tid = *(const int32_t *)key, other = ((const struct ahp_thread_view *)elem)->tid;
    return (tid > other) - (tid < other);
}

/* THREADS are sorted by tid (threads.c). */
static const struct ahp_thread_view *thread_by_tid(const struct ahp_threads *threads, int32_t tid)
{
    return bsearch(&tid, threads->v, threads->n, sizeof(*threads->v), cmp_view_tid);
}

/* Whether following "waits for a futex held by" from V comes back to V. */
static bool in_deadlock(const struct ahp_threads *threads, const struct ahp_thread_view *v)
{
    const struct ahp_thread_view *cur = v;
    for (uint32_t steps = 0; steps < threads->n && cur->futex_holder; steps++) {
        cur = thread_by_tid(threads, cur->futex_holder);
        if (cur == NULL)
            return false;
        if (cur == v)
            return true;
    }
    return false;
}

/* V is the thread of lowest tid in its cycle: the one that names the cycle. */
static bool names_cycle(const struct ahp_threads *threads, const struct ahp_thread_view *v)
{
    const struct ahp_thread_view *cur = thread_by_tid(threads, v->futex_holder);
    for (uint32_t steps = 0; cur && cur != v && steps < threads->n; steps++) {
        if (cur->tid < v->tid)
            return false;
        cur = thread_by_tid(threads, cur->futex_holder);
    }
    return true;
}

static void judge(const struct ahp_thread_view *v, struct judged *j)
{
    j->v = v;
    j->blocked_ns = 0;
    j->blocked_whole_window = false;
    uint64_t busy = 0;
    if (v->sched_ok) {
        busy = v->run_ns + v->runq_ns;
        j->blocked_ns = v->window_ns > busy ? v->window_ns - busy : 0;
        j->blocked_whole_window = v->run_ns == 0 && v->switches == 0 && asleep(v->state);
    }
    j->asleep_for_ns = j->blocked_ns;
    if (j->blocked_whole_window && v->last_run_known && v->since_last_run_ns > j->asleep_for_ns)
        j->asleep_for_ns = v->since_last_run_ns;
    bool in_callback =
        (v->stack_status == AHP_STACK_OK || v->stack_status == AHP_STACK_MOVING) && v->depth > 0;
    if (in_callback && asleep(v->state))
        j->verdict = V_BLOCKED_IN_CALLBACK;
    else if (in_callback && v->sched_ok && busy * 10 >= v->window_ns * 9)
        j->verdict = V_BUSY_IN_CALLBACK;
    else if (in_callback)
        j->verdict = V_IN_CALLBACK;
    else if (v->stack_status == AHP_STACK_UNREADABLE)
        j->verdict = V_STACK_UNREADABLE; /* in a callback or not: unknown, not "waiting" */
    else if (asleep(v->state))
        j->verdict = V_WAITING;
    else
        j->verdict = V_RUNNING;
}

static int cmp_suspicion(const void *a, const void *b)
{
    const struct judged *x = a, *y = b;
    if (x->verdict != y->verdict)
        return x->verdict < y->verdict ? -1 : 1;
    if (x->deadlocked != y->deadlocked)
        return x->deadlocked ? -1 : 1;
    if (x->asleep_for_ns != y->asleep_for_ns)
        return x->asleep_for_ns > y->asleep_for_ns ? -1 : 1;
    if (x->v->depth != y->v->depth)
        return x->v->depth > y->v->depth ? -1 : 1;
    return (x->v->tid > y->v->tid) - (x->v->tid < y->v->tid);
}

static bool is_futex(const struct ahp_thread_view *v)
{
    return v->syscall_state == AHP_SYSCALL_IN && v->syscall_nr == SYS_futex;
}

static const char *futex_op_name(uint64_t op)
{
    switch (op & 127) { /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
    case 0:
        return "FUTEX_WAIT";
    case 1:
        return "FUTEX_WAKE";
    case 6:
        return "FUTEX_LOCK_PI";
    case 9:
        return "FUTEX_WAIT_BITSET";
    case 11:
        return "FUTEX_WAIT_REQUEUE_PI";
    case 13:
        return "FUTEX_LOCK_PI2";
    default:
        return "other";
    }
}

struct watch;
struct listed;

/* What ahprof knows about the process beyond its threads. */
struct stuck_view {
    pid_t pid;
    const struct ahp_target *target;
    const struct ahp_threads *threads;
    struct judged *judged;
    const struct ahp_snapshot *snap;
    int registry_rc; /* 0, or why the registry could not be read */
    int last_run_rc; /* 0, or why the scheduler could not say when threads last ran */
    const struct watch *watch;
    bool probes;                    /* asked for (not --no-probes) */
    const struct listed *resources; /* most suspicious first */
    size_t nresources, shown;
};

static const char *registry_problem(int rc)
{
    if (rc == -EPROTO)
        return "not a registry this ahprof reads: another libah version, or damaged";
    if (rc == -EAGAIN)
        return "it never held still while read";
    return strerror(-rc);
}

/* A type's name for the terminal (untrusted bytes) or its number. */
static const char *type_label(const struct ahp_snapshot *snap, const struct ahp_async_frame *f,
                              char *buf, size_t size)
{
    if (!f->type_ok)
        snprintf(buf, size, "type#%" PRId32 "?", f->type);
    else
        ahp_term_sanitize(buf, size, snap->names[f->type], AH_REGISTRY_NAME_SIZE);
    return buf;
}

/* ---- Resources one by one: seen during the window, or in scope on a thread ---------- */

/* What ahprof learnt of one resource. */
struct res {
    uint64_t trigger_id;
    uint64_t init_ns;    /* when it was created, if seen */
    uint64_t last_cb_ns; /* its last callback's start or end seen, 0: none */
    uint32_t callbacks;  /* callbacks begun during the window */
    int32_t type;
    bool type_known, trigger_known, init_seen, destroyed;
    uint32_t nscope; /* threads whose async stack holds it now */
    int32_t scope_tids[4];
    int32_t scope_rank;   /* the lowest rank (place in the threads' order) of those threads */
    uint32_t scope_depth; /* its place on that thread's stack, 0 = innermost */
    bool scope_blocked;   /* one of them is blocked in a callback */
};

/* The probes of the window, read on a thread of their own while the main thread watches the
 * threads' scheduling. */
struct watch {
    struct ahp_collector c;
    bool started;
    const char *what;      /* the step that failed */
    int rc;                /* why they could not be attached, or why reading stopped */
    struct ahp_hmap table; /* id -> struct res */
    uint64_t untracked;
    uint64_t lost;
    uint64_t observed_ns;
    int stop;
    pthread_t reader;
};

static int on_window_event(const struct ahp_event *ev, void *ctx)
{
    struct watch *w = ctx;
    struct res *r = ahp_hmap_get(&w->table, ev->id);
    if (r == NULL) {
        if (ev->kind == AHP_EV_DESTROY)
            return 0; /* created before: nothing to remember of it */
        if (ahp_hmap_put(&w->table, ev->id, (void **)&r) < 0) {
            w->untracked++;
            return 0;
        }
    }
    switch (ev->kind) {
    case AHP_EV_INIT:
        r->init_seen = true;
        r->init_ns = ev->ts_ns;
        r->trigger_id = ev->trigger_id;
        r->trigger_known = true;
        r->type = ev->type;
        r->type_known = true;
        break;
    case AHP_EV_BEFORE:
        r->callbacks++;
        r->last_cb_ns = ev->ts_ns;
        r->type = ev->type;
        r->type_known = true;
        break;
    case AHP_EV_AFTER:
        r->last_cb_ns = ev->ts_ns;
        break;
    case AHP_EV_DESTROY:
        r->destroyed = true;
        break;
    default:
        break;
    }
    return 0;
}

static void *read_window(void *arg)
{
    struct watch *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        int rc = ahp_collector_poll(&w->c, 20);
        if (rc < 0 && rc != -EINTR) {
            w->rc = rc;
            break;
        }
    }
    return NULL;
}

/* Attach the probes (the batch path, every event streamed) and read them on a thread. */
static void watch_start(struct watch *w, struct ahp_target *t)
{
    struct ahp_collector_opts opts = {
        .record = true,
        .track_live = false,
        .ringbuf_bytes = 4u << 20,
        .max_live = 1024,
        .wakeup_bytes = 64 * 1024,
    };
    ahp_hmap_init(&w->table, sizeof(struct res), STUCK_RESOURCES_MAX);
    w->rc = ahp_collector_start(&w->c, t, &opts, on_window_event, w, &w->what);
    if (w->rc < 0) {
        ahp_collector_stop(&w->c); /* what it attached before it failed */
        return;
    }
    w->started = true;
    int rc = pthread_create(&w->reader, NULL, read_window, w);
    if (rc != 0) {
        ahp_collector_stop(&w->c);
        w->started = false;
        w->rc = -rc;
        w->what = "start a thread to read the probes";
    }
}

/* Hand over what is left and count what was lost; the probes stay attached (their programs
 * stopped) until watch_detach. */
static void watch_finish(struct watch *w)
{
    if (!w->started)
        return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->reader, NULL);
    ahp_collector_finish(&w->c, STUCK_FINISH_NS);
    w->observed_ns = ahp_now_ns() - w->c.attach_ns;
    struct ahp_global_stats g;
    if (ahp_collector_global_stats(&w->c, &g) == 0)
        w->lost = g.lost_events;
    w->lost += w->c.discarded + w->c.attach_missed;
}

/* Detach the probes once the answer is out. The kernel detaches uprobes one after the other,
 * each after a grace period (about 100 ms here, for the collector's 5): half a second that
 * would keep `stuck` from answering within one. A child process holds the links (the same
 * open files) and detaches them once ahprof has exited; ahprof's own closes at exit only drop
 * references. Without a child, ahprof detaches them itself. */
/* The links handed to the child: neither detached nor freed, closed at exit while the child
 * holds them. (A USDT link owns a uprobe link per call site, which only its detaching frees.) */
static struct bpf_link *kept_to_exit[AHP_COLLECTOR_LINKS];

static void watch_detach(struct watch *w)
{
    if (!w->started)
        return;
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3 && null >= 0; fd++)
            dup2(null, fd); /* whoever reads ahprof's output sees its end now */
        for (int i = 0; i < 1000 && getppid() == parent; i++)
            usleep(10000);
        ahp_collector_stop(&w->c);
        _exit(0);
    }
    if (child > 0) {
        for (int i = 0; i < AHP_COLLECTOR_LINKS; i++) {
            kept_to_exit[i] = w->c.links[i];
            w->c.links[i] = NULL;
        }
    }
    ahp_collector_stop(&w->c);
    w->started = false;
}

/* The resources in scope on each thread, into the table (RANK: each thread's place). */
static void add_in_scope(struct watch *w, const struct judged *judged, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct ahp_thread_view *v = judged[i].v;
        if (v->stack_status != AHP_STACK_OK && v->stack_status != AHP_STACK_MOVING)
            continue;
        for (uint32_t k = 0; k < v->nframes; k++) {
            const struct ahp_async_frame *f = &v->frames[k];
            struct res *r;
            int inserted = ahp_hmap_put(&w->table, f->id, (void **)&r);
            if (inserted < 0) {
                w->untracked++;
                continue;
            }
            if (inserted == 1)
                r->scope_rank = -1;
            if (f->type_ok) {
                r->type = f->type;
                r->type_known = true;
            }
            if (!r->trigger_known) {
                r->trigger_id = f->trigger_id;
                r->trigger_known = true;
            }
            if (r->nscope < 4)
                r->scope_tids[r->nscope] = v->tid;
            uint32_t depth = v->nframes - 1 - k; /* frames are outermost first */
            if (r->nscope == 0 || (int32_t)i < r->scope_rank) {
                r->scope_rank = (int32_t)i;
                r->scope_depth = depth;
            }
            r->nscope++;
            if (judged[i].verdict == V_BLOCKED_IN_CALLBACK)
                r->scope_blocked = true;
        }
    }
}

enum res_verdict { RV_BLOCKED_IN_SCOPE, RV_NEVER_CALLED, RV_IN_SCOPE, RV_CALLED };

static const char *const res_verdict_names[] = {"blocked-in-scope", "never-called", "in-scope",
                                                "called"};

struct listed {
    uint64_t id;
    const struct res *r;
    enum res_verdict verdict;
    uint64_t age_ns;
    bool age_known, age_at_least;
    uint64_t since_cb_ns;
    bool since_cb_known, since_cb_at_least;
};

static int cmp_res_suspicion(const void *a, const void *b)
{
    const struct listed *x = a, *y = b;
    if (x->verdict != y->verdict)
        return x->verdict < y->verdict ? -1 : 1;
    switch (x->verdict) {
    case RV_BLOCKED_IN_SCOPE:
    case RV_IN_SCOPE:
        if (x->r->scope_rank != y->r->scope_rank)
            return x->r->scope_rank < y->r->scope_rank ? -1 : 1;
        if (x->r->scope_depth != y->r->scope_depth)
            return x->r->scope_depth < y->r->scope_depth ? -1 : 1;
        break;
    case RV_NEVER_CALLED:
        if (x->age_ns != y->age_ns)
            return x->age_ns > y->age_ns ? -1 : 1;
        break;
    case RV_CALLED:
        if (x->since_cb_ns != y->since_cb_ns)
            return x->since_cb_ns > y->since_cb_ns ? -1 : 1;
        break;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* The resources worth listing, most suspicious first, in *OUT (malloc'ed; *N of them). */
static int list_resources(const struct watch *w, uint64_t now_ns, struct listed **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = ahp_hmap_count(&w->table);
    if (cap == 0)
        return 0;
    struct listed *l = calloc(cap, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    size_t pos = 0, k = 0;
    uint64_t id;
    const struct res *r;
    while ((r = ahp_hmap_next(&w->table, &pos, &id)) != NULL && k < cap) {
        if (r->destroyed && r->nscope == 0)
            continue; /* gone: kept only for the trigger chains */
        if (!r->init_seen && r->callbacks == 0 && r->nscope == 0)
            continue; /* only ended a callback begun before the attach: nothing to say */
        struct listed *e = &l[k++];
        e->id = id;
        e->r = r;
        if (r->nscope)
            e->verdict = r->scope_blocked ? RV_BLOCKED_IN_SCOPE : RV_IN_SCOPE;
        else
            e->verdict = r->callbacks == 0 ? RV_NEVER_CALLED : RV_CALLED;
        if (r->init_seen) {
            e->age_ns = now_ns > r->init_ns ? now_ns - r->init_ns : 0;
            e->age_known = true;
        } else if (w->started) {
            e->age_ns = w->observed_ns;
            e->age_known = e->age_at_least = true;
        }
        if (r->last_cb_ns) {
            e->since_cb_ns = now_ns > r->last_cb_ns ? now_ns - r->last_cb_ns : 0;
            e->since_cb_known = true;
        } else if (r->nscope && w->started) {
            e->since_cb_ns = w->observed_ns; /* in a callback begun before the attach */
            e->since_cb_known = e->since_cb_at_least = true;
        }
    }
    qsort(l, k, sizeof(*l), cmp_res_suspicion);
    *out = l;
    *n = k;
    return 0;
}

/* The trigger chain of R: ids into CHAIN (at most STUCK_CHAIN_MAX); true when it reaches the
 * root execution. */
static bool trigger_chain(const struct watch *w, const struct res *r, uint64_t *chain,
                          uint32_t *len)
{
    *len = 0;
    if (!r->trigger_known)
        return false;
    uint64_t id = r->trigger_id;
    while (*len < STUCK_CHAIN_MAX) {
        chain[(*len)++] = id;
        if (id == 1)
            return true;
        const struct res *t = ahp_hmap_get(&w->table, id);
        if (t == NULL || !t->trigger_known)
            return false;
        id = t->trigger_id;
    }
    return false;
}

/* A resource's type name: from libah's registry (untrusted bytes), or NULL. */
static const char *res_type_name(const struct stuck_view *s, const struct res *r)
{
    if (r == NULL || !r->type_known || s->registry_rc < 0 || r->type < 0 ||
        (uint32_t)r->type >= s->snap->type_count)
        return NULL;
    return s->snap->names[r->type];
}

static void print_duration(const char *what, uint64_t ns, bool at_least)
{
    printf("  %s %s%.1f ms", what, at_least ? ">= " : "", (double)ns / 1e6);
}

static void print_resources_text(const struct stuck_view *s)
{
    const struct watch *w = s->watch;
    if (!s->probes)
        printf("\nResources in scope on the threads (--no-probes: none watched)");
    else if (!w->started)
        printf("\nResources in scope on the threads (no probes: cannot %s: %s)",
               w->what ? w->what : "attach", strerror(-w->rc));
    else
        printf("\nResources created or called in the %.0f ms the probes watched, or in scope "
               "now",
               (double)w->observed_ns / 1e6);
    printf(", most suspicious first: %zu known%s\n", s->nresources,
           s->shown < s->nresources ? ", the first shown" : "");
    if (w->lost || w->untracked)
        printf("  (%" PRIu64 " events lost, %" PRIu64 " resources not remembered: some may be "
               "missing)\n",
               w->lost, w->untracked);
    if (s->nresources == 0)
        printf("  (none)\n");
    for (size_t i = 0; i < s->shown; i++) {
        const struct listed *e = &s->resources[i];
        const struct res *r = e->r;
        char name[4 * AH_REGISTRY_NAME_SIZE + 1];
        const char *type = res_type_name(s, r);
        if (type)
            ahp_term_sanitize(name, sizeof(name), type, AH_REGISTRY_NAME_SIZE);
        else
            snprintf(name, sizeof(name), "type#%" PRId32 "?", r->type);
        printf("  %-16s %-20s id %" PRIu64, res_verdict_names[e->verdict], name, e->id);
        if (e->age_known)
            print_duration("age", e->age_ns, e->age_at_least);
        if (r->nscope) {
            printf("  in scope on thread");
            for (uint32_t k = 0; k < r->nscope && k < 4; k++)
                printf(" %d", r->scope_tids[k]);
            if (r->nscope > 4)
                printf(" (and %" PRIu32 " more)", r->nscope - 4);
        } else if (r->callbacks == 0) {
            printf("  no callback");
        } else {
            printf("  %" PRIu32 " callback%s", r->callbacks, r->callbacks == 1 ? "" : "s");
        }
        if (e->since_cb_known)
            print_duration(r->nscope ? "callback began" : "last callback", e->since_cb_ns,
                           e->since_cb_at_least);
        if (e->since_cb_known)
            printf(" ago");
        uint64_t chain[STUCK_CHAIN_MAX];
        uint32_t len;
        bool complete = trigger_chain(w, r, chain, &len);
        printf("\n    created by");
        for (uint32_t k = 0; k < len; k++) {
            const char *tn = res_type_name(s, ahp_hmap_get(&w->table, chain[k]));
            if (chain[k] == 1) {
                printf("%s root", k ? " <-" : "");
                continue;
            }
            if (tn)
                ahp_term_sanitize(name, sizeof(name), tn, AH_REGISTRY_NAME_SIZE);
            printf("%s %s %" PRIu64, k ? " <-" : "", tn ? name : "?", chain[k]);
        }
        if (!complete)
            printf("%s (not known further)", len ? " <-" : "");
        printf("\n");
    }
}

static void json_resources(struct ahp_json *w, const struct stuck_view *s)
{
    const struct watch *wt = s->watch;
    if (wt->started)
        ahp_json_field_u64(w, "resources_observed_ns", wt->observed_ns);
    else
        ahp_json_field_null(w, "resources_observed_ns");
    if (!s->probes) {
        ahp_json_field_str(w, "resources_error", "--no-probes");
    } else if (!wt->started) {
        char why[256];
        snprintf(why, sizeof(why), "cannot %s: %s", wt->what ? wt->what : "attach",
                 strerror(-wt->rc));
        ahp_json_field_str(w, "resources_error", why);
    } else {
        ahp_json_field_null(w, "resources_error");
    }
    ahp_json_field_u64(w, "resources_lost_events", wt->lost);
    ahp_json_field_u64(w, "resources_untracked", wt->untracked);
    ahp_json_field_u64(w, "resources_total", s->nresources);
    ahp_json_key(w, "resources");
    ahp_json_array_begin(w);
    for (size_t i = 0; i < s->shown; i++) {
        const struct listed *e = &s->resources[i];
        const struct res *r = e->r;
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "id", e->id);
        const char *type = res_type_name(s, r);
        if (type)
            ahp_json_field_strn(w, "type", type, AH_REGISTRY_NAME_SIZE);
        else
            ahp_json_field_null(w, "type");
        if (r->type_known)
            ahp_json_field_i64(w, "type_id", r->type);
        else
            ahp_json_field_null(w, "type_id");
        ahp_json_field_str(w, "verdict", res_verdict_names[e->verdict]);
        ahp_json_field_i64(w, "rank", (int64_t)i);
        if (e->age_known)
            ahp_json_field_u64(w, "age_ns", e->age_ns);
        else
            ahp_json_field_null(w, "age_ns");
        ahp_json_field_bool(w, "age_at_least", e->age_at_least);
        ahp_json_field_u64(w, "callbacks", r->callbacks);
        if (e->since_cb_known)
            ahp_json_field_u64(w, "since_last_callback_ns", e->since_cb_ns);
        else
            ahp_json_field_null(w, "since_last_callback_ns");
        ahp_json_field_bool(w, "since_last_callback_at_least", e->since_cb_at_least);
        ahp_json_key(w, "in_scope_tids");
        ahp_json_array_begin(w);
        for (uint32_t k = 0; k < r->nscope && k < 4; k++)
            ahp_json_i64(w, r->scope_tids[k]);
        ahp_json_array_end(w);
        if (r->trigger_known)
            ahp_json_field_u64(w, "trigger_id", r->trigger_id);
        else
            ahp_json_field_null(w, "trigger_id");
        uint64_t chain[STUCK_CHAIN_MAX];
        uint32_t len;
        bool complete = trigger_chain(wt, r, chain, &len);
        ahp_json_key(w, "trigger_chain");
        ahp_json_array_begin(w);
        for (uint32_t k = 0; k < len; k++) {
            ahp_json_object_begin(w);
            ahp_json_field_u64(w, "id", chain[k]);
            const char *tn = res_type_name(s, ahp_hmap_get(&wt->table, chain[k]));
            if (tn)
                ahp_json_field_strn(w, "type", tn, AH_REGISTRY_NAME_SIZE);
            else
                ahp_json_field_null(w, "type");
            ahp_json_object_end(w);
        }
        ahp_json_array_end(w);
        ahp_json_field_bool(w, "trigger_chain_complete", complete);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
}

static void print_text(const struct stuck_view *s)
{
    char comm[64];
    ahp_term_sanitize(comm, sizeof(comm), s->target->comm, sizeof(s->target->comm));
    printf("Process %d (%s): %" PRIu32 " thread%s%s, watched %.0f ms\n", s->pid, comm,
           s->threads->n, s->threads->n == 1 ? "" : "s",
           s->threads->truncated ? " shown (more not shown)" : "",
           (double)s->threads->window_ns / 1e6);
    if (s->last_run_rc < 0)
        printf("When the threads last ran is not known (the scheduler's task iterator: %s)\n",
               strerror(-s->last_run_rc));
    if (s->registry_rc < 0)
        printf("libah's registry could not be read (%s): no async stacks, no live counts\n",
               registry_problem(s->registry_rc));
    else {
        printf("\nLive resources (created, not destroyed):\n");
        bool any = false;
        for (uint32_t i = 0; i < s->snap->type_count; i++) {
            if (s->snap->live[i] == 0)
                continue;
            char name[4 * AH_REGISTRY_NAME_SIZE + 1];
            ahp_term_sanitize(name, sizeof(name), s->snap->names[i], AH_REGISTRY_NAME_SIZE);
            printf("  %-24s %10" PRId64 "\n", name, s->snap->live[i]);
            any = true;
        }
        if (!any)
            printf("  (none)\n");
    }
    for (uint32_t i = 0; i < s->threads->n; i++) {
        const struct judged *j = &s->judged[i];
        if (!j->deadlocked || !names_cycle(s->threads, j->v))
            continue;
        printf("\nDeadlock: thread %d", j->v->tid);
        const struct ahp_thread_view *cur = thread_by_tid(s->threads, j->v->futex_holder);
        for (uint32_t steps = 0; cur && steps < s->threads->n; steps++) {
            printf("%s waits for %d", steps ? ", which" : "", cur->tid);
            if (cur == j->v)
                break;
            cur = thread_by_tid(s->threads, cur->futex_holder);
        }
        printf(" (each waits for a futex the next one holds)\n");
    }
    for (uint32_t i = 0; i < s->threads->n; i++) {
        const struct judged *j = &s->judged[i];
        const struct ahp_thread_view *v = j->v;
        ahp_term_sanitize(comm, sizeof(comm), v->comm, sizeof(v->comm));
        printf("\nThread %d (%s): %s, state %c", v->tid, comm, verdict_names[j->verdict], v->state);
        if (v->sched_ok)
            printf(", off CPU %.1f of %.1f ms%s (cpu %.1f ms, run queue %.1f ms, %" PRIu64
                   " switches)",
                   (double)j->blocked_ns / 1e6, (double)v->window_ns / 1e6,
                   j->blocked_whole_window ? ", the whole window" : "", (double)v->run_ns / 1e6,
                   (double)v->runq_ns / 1e6, v->switches);
        if (v->last_run_known && asleep(v->state))
            printf(", last ran %.3f s ago", (double)v->since_last_run_ns / 1e9);
        printf("\n");
        if (v->syscall_state == AHP_SYSCALL_IN) {
            const char *name = ahp_syscall_name(v->syscall_nr);
            if (name)
                printf("  syscall  %s", name);
            else
                printf("  syscall  #%ld", v->syscall_nr);
            if (v->fd >= 0) {
                char target[1024];
                ahp_term_sanitize(target, sizeof(target), v->fd_target, sizeof(v->fd_target));
                printf(" on fd %d (%s)", v->fd, target[0] ? target : "closed");
            } else if (is_futex(v)) {
                printf(" %s on 0x%" PRIx64, futex_op_name(v->args[1]), v->args[0]);
                if (v->futex_holder)
                    printf(", held by thread %d", v->futex_holder);
            }
            printf("\n");
        } else if (v->syscall_state == AHP_SYSCALL_NONE) {
            printf("  not in a system call\n");
        }
        if (v->wchan[0]) {
            char wchan[256];
            ahp_term_sanitize(wchan, sizeof(wchan), v->wchan, sizeof(v->wchan));
            printf("  wchan    %s\n", wchan);
        }
        if (v->stack_status == AHP_STACK_NO_STATE)
            printf("  async stack: none (no libah event on this thread yet)\n");
        else if (v->stack_status == AHP_STACK_UNREADABLE)
            printf("  async stack: unreadable (libah's state in the process points nowhere)\n");
        else if (v->depth == 0)
            printf("  async stack: empty (outside any callback)%s\n",
                   v->stack_status == AHP_STACK_MOVING ? ", changing as it was read" : "");
        else {
            printf("  async stack, innermost first (%" PRIu32 " open%s%s):\n", v->depth,
                   v->nframes < v->depth ? ", the innermost shown" : "",
                   v->stack_status == AHP_STACK_MOVING ? ", changing as it was read" : "");
            for (uint32_t k = v->nframes; k-- > 0;) {
                char label[4 * AH_REGISTRY_NAME_SIZE + 16];
                const struct ahp_async_frame *f = &v->frames[k];
                printf("    %-24s id %" PRIu64 "  trigger %" PRIu64 "\n",
                       type_label(s->snap, f, label, sizeof(label)), f->id, f->trigger_id);
            }
        }
        if (v->kstack_lines) {
            printf("  kernel stack:\n");
            for (uint32_t k = 0; k < v->kstack_lines; k++) {
                char line[4 * AHP_KSTACK_LINE_SIZE];
                ahp_term_sanitize(line, sizeof(line), v->kstack[k], AHP_KSTACK_LINE_SIZE);
                printf("    %s\n", line);
            }
        }
    }
    print_resources_text(s);
}

static void print_json(const struct stuck_view *s)
{
    struct ahp_json w;
    ahp_json_init(&w, stdout, AHP_JSON_SPACED);
    ahp_json_object_begin(&w);
    ahp_json_field_i64(&w, "pid", s->pid);
    ahp_json_field_strn(&w, "comm", s->target->comm, sizeof(s->target->comm));
    ahp_json_field_u64(&w, "window_ns", s->threads->window_ns);
    ahp_json_field_bool(&w, "threads_truncated", s->threads->truncated);
    if (s->registry_rc < 0)
        ahp_json_field_str(&w, "registry_error", registry_problem(s->registry_rc));
    else
        ahp_json_field_null(&w, "registry_error");
    if (s->last_run_rc < 0)
        ahp_json_field_str(&w, "last_run_error", strerror(-s->last_run_rc));
    else
        ahp_json_field_null(&w, "last_run_error");
    ahp_json_key(&w, "deadlocks");
    ahp_json_array_begin(&w);
    for (uint32_t i = 0; i < s->threads->n; i++) {
        const struct judged *j = &s->judged[i];
        if (!j->deadlocked || !names_cycle(s->threads, j->v))
            continue;
        ahp_json_array_begin(&w);
        const struct ahp_thread_view *cur = j->v;
        for (uint32_t steps = 0; cur && steps < s->threads->n; steps++) {
            ahp_json_i64(&w, cur->tid);
            cur = thread_by_tid(s->threads, cur->futex_holder);
            if (cur == j->v)
                break;
        }
        ahp_json_array_end(&w);
    }
    ahp_json_array_end(&w);
    ahp_json_key(&w, "live");
    ahp_json_array_begin(&w);
    for (uint32_t i = 0; s->registry_rc == 0 && i < s->snap->type_count; i++) {
        if (s->snap->live[i] == 0)
            continue;
        ahp_json_object_begin(&w);
        ahp_json_field_strn(&w, "type", s->snap->names[i], AH_REGISTRY_NAME_SIZE);
        ahp_json_field_i64(&w, "type_id", i);
        ahp_json_field_i64(&w, "count", s->snap->live[i]);
        ahp_json_field_null(&w, "oldest_age_ns");
        ahp_json_object_end(&w);
    }
    ahp_json_array_end(&w);
    ahp_json_key(&w, "threads");
    ahp_json_array_begin(&w);
    for (uint32_t i = 0; i < s->threads->n; i++) {
        const struct judged *j = &s->judged[i];
        const struct ahp_thread_view *v = j->v;
        ahp_json_object_begin(&w);
        ahp_json_field_i64(&w, "tid", v->tid);
        ahp_json_field_strn(&w, "comm", v->comm, sizeof(v->comm));
        ahp_json_field_str(&w, "verdict", verdict_names[j->verdict]);
        ahp_json_field_i64(&w, "rank", i);
        char state[2] = {v->state, '\0'};
        ahp_json_field_str(&w, "state", state);
        if (v->sched_ok) {
            ahp_json_field_u64(&w, "window_ns", v->window_ns);
            ahp_json_field_u64(&w, "blocked_ns", j->blocked_ns);
            ahp_json_field_bool(&w, "blocked_whole_window", j->blocked_whole_window);
            ahp_json_field_u64(&w, "cpu_ns", v->run_ns);
            ahp_json_field_u64(&w, "runqueue_ns", v->runq_ns);
            ahp_json_field_u64(&w, "switches", v->switches);
        } else {
            ahp_json_field_null(&w, "window_ns");
            ahp_json_field_null(&w, "blocked_ns");
            ahp_json_field_null(&w, "blocked_whole_window");
            ahp_json_field_null(&w, "cpu_ns");
            ahp_json_field_null(&w, "runqueue_ns");
            ahp_json_field_null(&w, "switches");
        }
        if (v->last_run_known)
            ahp_json_field_u64(&w, "since_last_run_ns", v->since_last_run_ns);
        else
            ahp_json_field_null(&w, "since_last_run_ns");
        ahp_json_key(&w, "syscall");
        if (v->syscall_state == AHP_SYSCALL_IN) {
            ahp_json_object_begin(&w);
            ahp_json_field_i64(&w, "nr", v->syscall_nr);
            const char *name = ahp_syscall_name(v->syscall_nr);
            if (name)
                ahp_json_field_str(&w, "name", name);
            else
                ahp_json_field_null(&w, "name");
            ahp_json_key(&w, "args");
            ahp_json_array_begin(&w);
            for (int k = 0; k < 6; k++)
                ahp_json_u64(&w, v->args[k]);
            ahp_json_array_end(&w);
            ahp_json_object_end(&w);
        } else {
            ahp_json_null(&w);
        }
        ahp_json_field_bool(&w, "running", v->syscall_state == AHP_SYSCALL_RUNNING);
        if (v->fd >= 0) {
            ahp_json_field_i64(&w, "fd", v->fd);
            ahp_json_field_strn(&w, "fd_target", v->fd_target, sizeof(v->fd_target));
        } else {
            ahp_json_field_null(&w, "fd");
            ahp_json_field_null(&w, "fd_target");
        }
        if (is_futex(v)) {
            ahp_json_field_u64(&w, "futex_addr", v->args[0]);
            ahp_json_field_str(&w, "futex_op", futex_op_name(v->args[1]));
        } else {
            ahp_json_field_null(&w, "futex_addr");
            ahp_json_field_null(&w, "futex_op");
        }
        if (v->futex_holder)
            ahp_json_field_i64(&w, "futex_holder_tid", v->futex_holder);
        else
            ahp_json_field_null(&w, "futex_holder_tid");
        ahp_json_field_bool(&w, "deadlocked", j->deadlocked);
        ahp_json_field_strn(&w, "wchan", v->wchan, sizeof(v->wchan));
        ahp_json_key(&w, "kernel_stack");
        ahp_json_array_begin(&w);
        for (uint32_t k = 0; k < v->kstack_lines; k++)
            ahp_json_strn(&w, v->kstack[k], AHP_KSTACK_LINE_SIZE);
        ahp_json_array_end(&w);
        ahp_json_key(&w, "async_stack");
        ahp_json_object_begin(&w);
        ahp_json_field_str(&w, "status", stack_status_names[v->stack_status]);
        ahp_json_field_u64(&w, "depth", v->depth);
        ahp_json_key(&w, "frames");
        ahp_json_array_begin(&w);
        for (uint32_t k = v->nframes; k-- > 0;) {
            const struct ahp_async_frame *f = &v->frames[k];
            ahp_json_object_begin(&w);
            if (f->type_ok)
                ahp_json_field_strn(&w, "type", s->snap->names[f->type], AH_REGISTRY_NAME_SIZE);
            else
                ahp_json_field_null(&w, "type");
            ahp_json_field_i64(&w, "type_id", f->type);
            ahp_json_field_u64(&w, "id", f->id);
            ahp_json_field_u64(&w, "trigger_id", f->trigger_id);
            ahp_json_object_end(&w);
        }
        ahp_json_array_end(&w);
        ahp_json_object_end(&w);
        ahp_json_object_end(&w);
    }
    ahp_json_array_end(&w);
    json_resources(&w, s);
    ahp_json_object_end(&w);
}

static int open_target(struct ahp_target *t, pid_t pid, bool json)
{
    int rc = ahp_target_open_pid(t, pid);
    if (rc == -ESRCH)
        return ahp_fail(json, AHP_EXIT_NOTARGET, "no such process: %d", pid);
    if (rc == -ENOENT)
        return ahp_fail(json, AHP_EXIT_NOTARGET,
                        "process %d does not use libah: no 'ah' USDT probes in its executable "
                        "or libraries",
                        pid);
    if (rc == -EACCES || rc == -EPERM)
        return ahp_fail(json, AHP_EXIT_PERM,
                        "cannot read process %d: %s (run as root, or with CAP_SYS_PTRACE)", pid,
                        strerror(-rc));
    if (rc < 0)
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot inspect process %d: %s", pid, strerror(-rc));
    return 0;
}

int ahprof_cmd_stuck(int argc, char **argv)
{
    static const struct option long_opts[] = {{"pid", required_argument, NULL, 'p'},
                                              {"window", required_argument, NULL, 'w'},
                                              {"resources", required_argument, NULL, 'n'},
                                              {"no-probes", no_argument, NULL, 'P'},
                                              {"json", no_argument, NULL, 'j'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    bool json = ahp_wants_json(argc, argv, "-j");
    const char *pid_arg = NULL;
    uint64_t window_ns = STUCK_WINDOW_DEFAULT_NS;
    long max_shown = STUCK_RESOURCES_SHOWN;
    bool probes = true;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:w:n:jh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid_arg = optarg;
            break;
        case 'w':
            if (ahp_parse_duration_ns(optarg, STUCK_WINDOW_MIN_NS, STUCK_WINDOW_MAX_NS,
                                      &window_ns) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --window '%s': from 10ms to 10s (e.g. 0.5, 200ms)",
                                optarg);
            break;
        case 'n':
            if (ahp_parse_long(optarg, 0, STUCK_RESOURCES_MAX, &max_shown) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --resources '%s': a whole number from 0 to %u", optarg,
                                STUCK_RESOURCES_MAX);
            break;
        case 'P':
            probes = false;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(stuck_usage, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, json, "pwn", "stuck");
        }
    }
    if (optind < argc)
        return ahp_fail(json, AHP_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (pid_arg == NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "give -p PID (see ahprof stuck --help)");
    pid_t pid;
    int code = ahp_parse_pid(pid_arg, &pid, json);
    if (code)
        return code;
    signal(SIGPIPE, SIG_IGN);

    struct ahp_target target;
    code = open_target(&target, pid, json);
    if (code) {
        ahp_target_close(&target);
        return code;
    }
    /* The probes watch the resources while the threads' scheduling is watched: one window. */
    static struct watch watch;
    ahp_hmap_init(&watch.table, sizeof(struct res), STUCK_RESOURCES_MAX);
    if (probes)
        watch_start(&watch, &target);
    struct ahp_threads threads;
    int rc = ahp_threads_observe(&target, window_ns, &threads);
    watch_finish(&watch);
    if (rc < 0) {
        watch_detach(&watch);
        ahp_hmap_free(&watch.table);
        ahp_target_close(&target);
        if (rc == -ESRCH)
            return ahp_fail(json, AHP_EXIT_NOTARGET, "process %d exited", pid);
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot read the threads of process %d: %s", pid,
                        strerror(-rc));
    }
    int last_run_rc = ahp_threads_read_last_run(pid, &threads);
    /* After the window, so that the stacks are those of the threads as they were last seen;
     * a registry that cannot be read still leaves the kernel's view worth showing. */
    static struct ahp_snapshot snap;
    struct ah_registry reg;
    int registry_rc = ahp_target_snapshot(&target, &snap);
    if (registry_rc == 0)
        registry_rc = ahp_target_read_registry(&target, &reg);
    if (registry_rc == 0)
        ahp_threads_read_stacks(&target, &reg, &snap, &threads);
    else
        for (uint32_t i = 0; i < threads.n; i++)
            threads.v[i].stack_status = AHP_STACK_UNREADABLE;

    struct judged *judged = calloc(threads.n, sizeof(*judged));
    if (judged == NULL) {
        watch_detach(&watch);
        ahp_hmap_free(&watch.table);
        ahp_threads_free(&threads);
        ahp_snapshot_free(&snap);
        ahp_target_close(&target);
        return ahp_fail(json, AHP_EXIT_ERROR, "out of memory");
    }
    for (uint32_t i = 0; i < threads.n; i++) {
        judge(&threads.v[i], &judged[i]);
        judged[i].deadlocked = in_deadlock(&threads, &threads.v[i]);
    }
    qsort(judged, threads.n, sizeof(*judged), cmp_suspicion);
    add_in_scope(&watch, judged, threads.n);
    struct listed *resources = NULL;
    size_t nresources = 0;
    if (list_resources(&watch, ahp_now_ns(), &resources, &nresources) < 0)
        watch.untracked += ahp_hmap_count(&watch.table); /* no memory to sort them */
    struct stuck_view view = {
        pid,         &target,    &threads,
        judged,      &snap,      registry_rc,
        last_run_rc, &watch,     probes,
        resources,   nresources, nresources < (size_t)max_shown ? nresources : (size_t)max_shown};
    if (json)
        print_json(&view);
    else
        print_text(&view);
    watch_detach(&watch);
    free(resources);
    ahp_hmap_free(&watch.table);
    free(judged);
    ahp_threads_free(&threads);
    ahp_snapshot_free(&snap);
    ahp_target_close(&target);
    return AHP_EXIT_OK;
}
