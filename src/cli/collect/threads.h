/*
 * threads.h - the threads of a process as they are now, for `ahprof stuck`: each thread's
 * async stack (the callback scopes open on it, read from libah's per-thread state through the
 * registry, version 3) and the kernel's view of it (/proc/PID/task/TID: state, system call and
 * its file descriptor or futex, wait channel, kernel stack, and its scheduling statistics
 * sampled at both ends of a short window). Everything read from the process is untrusted:
 * bounded here, escaped by whoever prints it.
 */
#ifndef AHP_THREADS_H
#define AHP_THREADS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/target.h"

/* At most this many scopes are read per thread (the innermost ones), this many threads per
 * process and this many kernel stack lines per thread. */
#define AHP_THREAD_FRAMES_MAX 256
#define AHP_THREADS_MAX 4096
#define AHP_KSTACK_LINES_MAX 32
#define AHP_KSTACK_LINE_SIZE 96

struct ahp_async_frame {
    uint64_t id;
    uint64_t trigger_id;
    uint64_t resource; /* its address in the process */
    int32_t type;      /* as read from the resource: check type_ok before naming it */
    bool type_ok;      /* read, and a registered type */
};

enum ahp_stack_status {
    AHP_STACK_NO_STATE,   /* the thread has no libah state (it raised no event yet) */
    AHP_STACK_OK,         /* read twice the same */
    AHP_STACK_MOVING,     /* the thread changed its stack during every read: last read kept */
    AHP_STACK_UNREADABLE, /* a pointer or a size of the registry led nowhere */
};

enum ahp_syscall_state {
    AHP_SYSCALL_UNKNOWN, /* /proc/.../syscall unreadable */
    AHP_SYSCALL_RUNNING, /* on a CPU in user space or the kernel: nothing to wait on */
    AHP_SYSCALL_NONE,    /* blocked, but not in a system call (a page fault...) */
    AHP_SYSCALL_IN,      /* blocked in system call nr */
};

struct ahp_thread_view {
    int32_t tid;
    char comm[16]; /* untrusted, NUL-ended */
    char state;    /* /proc/.../stat: R, S, D, T, t, Z, X, I; '?' unknown */

    /* /proc/.../schedstat at both ends of the window: CPU time, run-queue time, timeslices. */
    bool sched_ok;
    uint64_t window_ns; /* between this thread's two samples */
    uint64_t run_ns, runq_ns, switches;
    /* Since the thread last got a CPU, on the scheduler's clock (lastrun.c): for a thread
     * asleep, the longest it can have been so. */
    bool last_run_known;
    uint64_t since_last_run_ns;

    enum ahp_syscall_state syscall_state;
    long syscall_nr;
    uint64_t args[6];
    int fd;              /* the file descriptor the system call waits on, -1 if none */
    char fd_target[256]; /* /proc/PID/fd/N: "pipe:[N]", "socket:[N]", a path... (untrusted) */
    /* futex: who holds it, when that can be told. For a PI futex (FUTEX_LOCK_PI...) the
     * kernel's own rule: the futex word holds the owner's tid. For FUTEX_WAIT on a locked
     * glibc mutex: its owner field (the int 8 bytes after the futex word), when that names
     * another thread of this process; anything else (a condition variable) rarely does.
     * 0 when unknown. */
    int32_t futex_holder;
    char wchan[64];
    uint32_t kstack_lines;
    char kstack[AHP_KSTACK_LINES_MAX][AHP_KSTACK_LINE_SIZE];

    enum ahp_stack_status stack_status;
    uint32_t depth;   /* as libah says (untrusted: may be anything) */
    uint32_t nframes; /* read: the innermost min(depth, AHP_THREAD_FRAMES_MAX) */
    struct ahp_async_frame frames[AHP_THREAD_FRAMES_MAX]; /* outermost read first */
};

struct ahp_threads {
    uint32_t n;
    bool truncated; /* more than AHP_THREADS_MAX threads: the others are not shown */
    struct ahp_thread_view *v;
    uint64_t window_ns; /* asked for */
};

/* Sample the scheduling statistics of every thread of T's process, wait WINDOW_NS, sample
 * again and read the kernel's view of each thread (not its async stack). 0 or a negative
 * errno (-ESRCH: the process is gone). */
int ahp_threads_observe(const struct ahp_target *t, uint64_t window_ns, struct ahp_threads *out);

/* Each thread's async stack, through the registry header REG and SNAP's thread blocks. */
void ahp_threads_read_stacks(const struct ahp_target *t, const struct ah_registry *reg,
                             const struct ahp_snapshot *snap, struct ahp_threads *threads);

/* When each thread last got a CPU, from the kernel's scheduler (a BPF task iterator): sets
 * last_run_known and since_last_run_ns of the threads it finds. 0 or a negative errno (no
 * privileges for BPF, no task iterator): then nothing is set. */
int ahp_threads_read_last_run(pid_t pid, struct ahp_threads *threads);

void ahp_threads_free(struct ahp_threads *threads);

/* The name of system call NR on this architecture, NULL when not in ahprof's table. */
const char *ahp_syscall_name(long nr);

#endif
