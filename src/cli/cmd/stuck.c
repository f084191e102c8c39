/*
 * stuck.c - `ahprof stuck -p PID`: where each thread of a process is now, in its async
 * resources and in the kernel, most suspicious first. One look and no probe: it works on a
 * process that is already stuck, without having watched it get there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "cmd/stuck.h"
#include "collect/session.h"
#include "collect/target.h"
#include "collect/threads.h"
#include "common/escape.h"
#include "common/json_writer.h"
#include "common/util.h"
#include "data/recording.h"

#define STUCK_WINDOW_DEFAULT_NS 200000000ull
#define STUCK_WINDOW_MIN_NS 10000000ull
#define STUCK_WINDOW_MAX_NS 10000000000ull

static const char stuck_usage[] =
    "Usage: ahprof stuck -p PID [-w DURATION] [-j|--json]\n"
    "\n"
    "Where each thread of a running process is right now: the async resources whose\n"
    "callbacks it is inside (read from libah's per-thread state), where it waits in the\n"
    "kernel and for how long, and the live resources per type. For a process that hangs or\n"
    "stalls: it needs no tracing from before, and attaches no probe.\n"
    "\n"
    "  -p, --pid PID          the process (it must use libah)\n"
    "  -w, --window DURATION  how long to watch the threads' scheduling (default 200ms,\n"
    "                         from 10ms to 10s; e.g. 0.5, 500ms)\n"
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

/* What ahprof knows about the process beyond its threads. */
struct stuck_view {
    pid_t pid;
    const struct ahp_target *target;
    const struct ahp_threads *threads;
    struct judged *judged;
    const struct ahp_snapshot *snap;
    int registry_rc; /* 0, or why the registry could not be read */
    int last_run_rc; /* 0, or why the scheduler could not say when threads last ran */
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
                                              {"json", no_argument, NULL, 'j'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    bool json = ahp_wants_json(argc, argv, "-j");
    const char *pid_arg = NULL;
    uint64_t window_ns = STUCK_WINDOW_DEFAULT_NS;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:w:jh", long_opts, NULL)) != -1) {
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
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(stuck_usage, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, json, "pw", "stuck");
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
    struct ahp_threads threads;
    int rc = ahp_threads_observe(&target, window_ns, &threads);
    if (rc < 0) {
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
    struct stuck_view view = {pid, &target, &threads, judged, &snap, registry_rc, last_run_rc};
    if (json)
        print_json(&view);
    else
        print_text(&view);
    free(judged);
    ahp_threads_free(&threads);
    ahp_snapshot_free(&snap);
    ahp_target_close(&target);
    return AHP_EXIT_OK;
}
