/*
 * stuck.c - `ahprof stuck -p PID`: where each thread of a process is now, in its async
 * resources and in the kernel, most suspicious first. One look, no BPF: it works on a process
 * that is already stuck, without having watched it get there.
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
    "                       queued behind it on that thread waits too. Longest off CPU first.\n"
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
    "[registry_error] (why libah's registry could not be read, else null), [live] and\n"
    "[threads], most suspicious first; each thread's [rank] is its place in that order.\n"
    "\n"
    "Per thread (JSON field in brackets): [tid], [comm] (the thread's name), [verdict] (above)\n"
    "  state [state]             the kernel's: R running/runnable, S sleeping, D\n"
    "                            uninterruptible (disk...), T stopped, Z zombie\n"
    "  off CPU [blocked_ns]      ns of the window the thread neither ran nor waited for a CPU:\n"
    "                            window - cpu - run queue. When the thread did not run at all in\n"
    "                            the window [blocked_whole_window], it has been waiting at least\n"
    "                            that long; how long before the window is not known.\n"
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
    "                            deadlock) and the operation [futex_op]\n"
    "  wchan [wchan], kernel stack [kernel_stack]: the kernel function it sleeps in and the\n"
    "                            kernel call stack (root only)\n"
    "  async stack [async_stack: status, depth, frames], frames innermost first: the type\n"
    "                            [type] (null when it cannot be read or is not registered),\n"
    "                            [type_id], [id] and [trigger_id] of each resource whose\n"
    "                            callback scope is open on the thread, the first being the\n"
    "                            callback running now. [depth] is how many are open; at most\n"
    "                            256 (the innermost) are read. [status]: ok; moving (the thread\n"
    "                            changed it during every read: it runs, what is shown may be\n"
    "                            torn); unreadable (libah's state points nowhere: a damaged\n"
    "                            process); no-state (the thread never raised an event).\n"
    "\n"
    "Live resources per type [live: type, type_id, count]: created and not destroyed, from\n"
    "libah's registry. Their ages are not known here [oldest_age_ns is null]: libah keeps no\n"
    "creation time (it would cost every event a clock read); `ahprof top` shows the oldest age\n"
    "of those created while it watches.\n"
    "\n"
    "Everything read from the process (names, ids, paths) is the process's and is escaped.\n"
    "Needs root (or CAP_SYS_PTRACE to read the process, CAP_SYS_ADMIN for kernel stacks).\n";

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
    uint64_t blocked_ns;
    bool blocked_whole_window;
};

static bool asleep(char state)
{
    return state == 'S' || state == 'D';
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
    if (x->blocked_ns != y->blocked_ns)
        return x->blocked_ns > y->blocked_ns ? -1 : 1;
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
};

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
    if (s->registry_rc < 0)
        printf("libah's registry could not be read (%s): no async stacks, no live counts\n",
               strerror(-s->registry_rc));
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
        const struct ahp_thread_view *v = j->v;
        ahp_term_sanitize(comm, sizeof(comm), v->comm, sizeof(v->comm));
        printf("\nThread %d (%s): %s, state %c", v->tid, comm, verdict_names[j->verdict], v->state);
        if (v->sched_ok)
            printf(", off CPU %.1f of %.1f ms%s (cpu %.1f ms, run queue %.1f ms, %" PRIu64
                   " switches)",
                   (double)j->blocked_ns / 1e6, (double)v->window_ns / 1e6,
                   j->blocked_whole_window ? ", the whole window" : "", (double)v->run_ns / 1e6,
                   (double)v->runq_ns / 1e6, v->switches);
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
        ahp_json_field_str(&w, "registry_error", strerror(-s->registry_rc));
    else
        ahp_json_field_null(&w, "registry_error");
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
    for (uint32_t i = 0; i < threads.n; i++)
        judge(&threads.v[i], &judged[i]);
    qsort(judged, threads.n, sizeof(*judged), cmp_suspicion);
    struct stuck_view view = {pid, &target, &threads, judged, &snap, registry_rc};
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
