/* threads.c - each thread of a process now: its async stack and the kernel's view (threads.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collect/threads.h"
#include "common/util.h"

/* The system calls a thread is likely to be found waiting in, and which argument is the file
 * descriptor it waits on (-1: none). */
static const struct syscall_info {
    long nr;
    const char *name;
    int fd_arg;
} syscalls[] = {
    {SYS_read, "read", 0},
    {SYS_write, "write", 0},
    {SYS_readv, "readv", 0},
    {SYS_writev, "writev", 0},
    {SYS_pread64, "pread64", 0},
    {SYS_pwrite64, "pwrite64", 0},
    {SYS_recvfrom, "recvfrom", 0},
    {SYS_recvmsg, "recvmsg", 0},
    {SYS_recvmmsg, "recvmmsg", 0},
    {SYS_sendto, "sendto", 0},
    {SYS_sendmsg, "sendmsg", 0},
    {SYS_sendmmsg, "sendmmsg", 0},
    {SYS_accept4, "accept4", 0},
    {SYS_connect, "connect", 0},
    {SYS_epoll_pwait, "epoll_pwait", 0},
    {SYS_epoll_pwait2, "epoll_pwait2", 0},
    {SYS_ppoll, "ppoll", -1},
    {SYS_pselect6, "pselect6", -1},
    {SYS_futex, "futex", -1},
    {SYS_futex_waitv, "futex_waitv", -1},
    {SYS_nanosleep, "nanosleep", -1},
    {SYS_clock_nanosleep, "clock_nanosleep", -1},
    {SYS_wait4, "wait4", -1},
    {SYS_waitid, "waitid", -1},
    {SYS_rt_sigtimedwait, "rt_sigtimedwait", -1},
    {SYS_rt_sigsuspend, "rt_sigsuspend", -1},
    {SYS_fsync, "fsync", 0},
    {SYS_fdatasync, "fdatasync", 0},
    {SYS_flock, "flock", 0},
    {SYS_fcntl, "fcntl", 0},
    {SYS_ioctl, "ioctl", 0},
    {SYS_io_uring_enter, "io_uring_enter", 0},
    {SYS_io_getevents, "io_getevents", -1},
    {SYS_splice, "splice", 0},
    {SYS_sendfile, "sendfile", 0},
    {SYS_openat, "openat", -1},
    {SYS_close, "close", 0},
    {SYS_sched_yield, "sched_yield", -1},
    {SYS_semtimedop, "semtimedop", -1},
    {SYS_msgrcv, "msgrcv", -1},
    {SYS_mq_timedreceive, "mq_timedreceive", 0},
#ifdef SYS_accept
    {SYS_accept, "accept", 0},
#endif
#ifdef SYS_epoll_wait
    {SYS_epoll_wait, "epoll_wait", 0},
#endif
#ifdef SYS_poll
    {SYS_poll, "poll", -1},
#endif
#ifdef SYS_select
    {SYS_select, "select", -1},
#endif
#ifdef SYS_pause
    {SYS_pause, "pause", -1},
#endif
};

static const struct syscall_info *syscall_info(long nr)
{
    for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
        if (syscalls[i].nr == nr)
            return &syscalls[i];
    return NULL;
}

const char *ahp_syscall_name(long nr)
{
    const struct syscall_info *s = syscall_info(nr);
    return s ? s->name : NULL;
}

/* Read a small /proc file into BUF (NUL-ended); its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

static bool read_schedstat(pid_t pid, int32_t tid, uint64_t v[3])
{
    char path[64], buf[128];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
    unsigned long long a, b, c;
    if (read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%llu %llu %llu", &a, &b, &c) != 3)
        return false;
    v[0] = a;
    v[1] = b;
    v[2] = c;
    return true;
}

static void read_state(pid_t pid, struct ahp_thread_view *v)
{
    char path[64], buf[1024];
    v->state = '?';
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, v->tid);
    if (read_small(path, buf, sizeof(buf)) > 0) {
        /* The comm may hold ')' and spaces: the state follows the last ')'. */
        const char *paren = strrchr(buf, ')');
        if (paren && paren[1] == ' ' && paren[2])
            v->state = paren[2];
    }
    snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, v->tid);
    if (read_small(path, v->comm, sizeof(v->comm)) > 0)
        v->comm[strcspn(v->comm, "\n")] = '\0';
}

/* FUTEX_TID_MASK and the operations whose futex word names its owner (linux/futex.h). */
#define FUTEX_TID_BITS 0x3fffffffu
#define FUTEX_OP_MASK 127u
#define FUTEX_OP_WAIT 0u
#define FUTEX_OP_LOCK_PI 6u
#define FUTEX_OP_WAIT_BITSET 9u
#define FUTEX_OP_LOCK_PI2 13u
/* glibc's struct __pthread_mutex_s on 64-bit Linux: int __lock (the futex word), unsigned
 * __count, int __owner. */
#define GLIBC_MUTEX_OWNER_OFFSET 8u

static void read_futex_holder(const struct ahp_target *t, struct ahp_thread_view *v)
{
    uint32_t word;
    int32_t owner;
    unsigned op = (unsigned)v->args[1] & FUTEX_OP_MASK;
    if (ahp_target_read_mem(t, v->args[0], &word, sizeof(word)) < 0 || word == 0)
        return;
    if (op == FUTEX_OP_LOCK_PI || op == FUTEX_OP_LOCK_PI2) {
        v->futex_holder = (int32_t)(word & FUTEX_TID_BITS);
        return;
    }
    uint64_t at;
    if ((op == FUTEX_OP_WAIT || op == FUTEX_OP_WAIT_BITSET) &&
        !__builtin_add_overflow(v->args[0], GLIBC_MUTEX_OWNER_OFFSET, &at) &&
        ahp_target_read_mem(t, at, &owner, sizeof(owner)) == 0 && owner > 0 && owner != v->tid)
        v->futex_holder = owner; /* checked against the process's threads by the caller */
}

static void read_syscall(const struct ahp_target *t, struct ahp_thread_view *v)
{
    pid_t pid = t->pid;
    char path[64], buf[512];
    v->syscall_state = AHP_SYSCALL_UNKNOWN;
    v->fd = -1;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, v->tid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return;
    if (strncmp(buf, "running", 7) == 0) {
        v->syscall_state = AHP_SYSCALL_RUNNING;
        return;
    }
    char *p = buf, *end;
    long nr = strtol(p, &end, 10);
    if (end == p)
        return;
    if (nr < 0) {
        v->syscall_state = AHP_SYSCALL_NONE;
        return;
    }
    v->syscall_state = AHP_SYSCALL_IN;
    v->syscall_nr = nr;
    p = end;
    for (int i = 0; i < 6; i++) {
        unsigned long long a = strtoull(p, &end, 16);
        if (end == p)
            break;
        v->args[i] = a;
        p = end;
    }
    const struct syscall_info *s = syscall_info(nr);
    if (s && s->fd_arg >= 0 && v->args[s->fd_arg] <= INT_MAX) {
        v->fd = (int)v->args[s->fd_arg];
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, v->fd);
        ssize_t n = readlink(path, v->fd_target, sizeof(v->fd_target) - 1);
        v->fd_target[n > 0 ? n : 0] = '\0';
    }
    if (nr == SYS_futex)
        read_futex_holder(t, v);
}

static void read_kernel_wait(pid_t pid, struct ahp_thread_view *v)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, v->tid);
    if (read_small(path, v->wchan, sizeof(v->wchan)) <= 0 || strcmp(v->wchan, "0") == 0)
        v->wchan[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, v->tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[256];
    while (v->kstack_lines < AHP_KSTACK_LINES_MAX && fgets(line, sizeof(line), f)) {
        /* "[<0>] func+0x37/0x90": the address is hidden anyway. */
        const char *fn = strstr(line, "] ");
        fn = fn ? fn + 2 : line;
        size_t len = strcspn(fn, "\n");
        if (len == 0)
            continue;
        snprintf(v->kstack[v->kstack_lines++], AHP_KSTACK_LINE_SIZE, "%.*s", (int)len, fn);
    }
    fclose(f);
}

static int cmp_tid(const void *a, const void *b)
{
    const struct ahp_thread_view *x = a, *y = b;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

int ahp_threads_observe(const struct ahp_target *t, uint64_t window_ns, struct ahp_threads *out)
{
    memset(out, 0, sizeof(*out));
    out->window_ns = window_ns;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", t->pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return errno == ENOENT ? -ESRCH : -errno;
    uint32_t cap = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        long tid;
        if (e->d_name[0] == '.' || ahp_parse_long(e->d_name, 1, INT32_MAX, &tid) < 0)
            continue;
        if (out->n == AHP_THREADS_MAX) {
            out->truncated = true;
            break;
        }
        if (out->n == cap) {
            uint32_t grown_cap = cap ? cap * 2 : 16;
            struct ahp_thread_view *grown = realloc(out->v, grown_cap * sizeof(*grown));
            if (grown == NULL) {
                closedir(dir);
                ahp_threads_free(out);
                return -ENOMEM;
            }
            out->v = grown;
            cap = grown_cap;
        }
        struct ahp_thread_view *v = &out->v[out->n++];
        memset(v, 0, sizeof(*v));
        v->tid = (int32_t)tid;
    }
    closedir(dir);
    if (out->n == 0)
        return -ESRCH;
    qsort(out->v, out->n, sizeof(*out->v), cmp_tid);

    struct sample {
        bool ok;
        uint64_t at_ns;
        uint64_t v[3];
    } *first = calloc(out->n, sizeof(*first));
    if (first == NULL) {
        ahp_threads_free(out);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < out->n; i++) {
        first[i].at_ns = ahp_now_ns();
        first[i].ok = read_schedstat(t->pid, out->v[i].tid, first[i].v);
    }
    struct timespec wait = {(time_t)(window_ns / 1000000000ull), (long)(window_ns % 1000000000ull)};
    while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
        ;
    for (uint32_t i = 0; i < out->n; i++) {
        struct ahp_thread_view *v = &out->v[i];
        uint64_t second[3], now = ahp_now_ns();
        if (first[i].ok && read_schedstat(t->pid, v->tid, second) && second[0] >= first[i].v[0] &&
            second[1] >= first[i].v[1] && second[2] >= first[i].v[2]) {
            v->sched_ok = true;
            v->window_ns = now - first[i].at_ns;
            v->run_ns = second[0] - first[i].v[0];
            v->runq_ns = second[1] - first[i].v[1];
            v->switches = second[2] - first[i].v[2];
        }
        read_state(t->pid, v);
        read_syscall(t, v);
        read_kernel_wait(t->pid, v);
    }
    free(first);
    /* A glibc owner field is believed only when it names a thread of this process. */
    for (uint32_t i = 0; i < out->n; i++) {
        struct ahp_thread_view *v = &out->v[i];
        bool known = false;
        for (uint32_t j = 0; v->futex_holder && j < out->n && !known; j++)
            known = out->v[j].tid == v->futex_holder;
        if (!known)
            v->futex_holder = 0;
    }
    return 0;
}

/* Registry fields that locate the stack, checked before any of them is followed. */
static bool stack_layout_sane(const struct ah_registry *reg)
{
    return reg->frame_size >= sizeof(struct ah_registry_frame) && reg->frame_size <= 4096 &&
           reg->stack_offset <= (1u << 20) && reg->depth_offset <= (1u << 20) &&
           reg->resource_type_offset <= 4096;
}

struct stack_read {
    uint64_t frames;
    uint32_t depth;
};

static int read_stack_head(const struct ahp_target *t, const struct ah_registry *reg,
                           uint64_t block, struct stack_read *h)
{
    int rc = ahp_target_read_mem(t, block + reg->stack_offset, &h->frames, sizeof(h->frames));
    if (rc == 0)
        rc = ahp_target_read_mem(t, block + reg->depth_offset, &h->depth, sizeof(h->depth));
    return rc;
}

/* The innermost min(depth, max) frames of the stack H names, into BUF. */
static int read_frames(const struct ahp_target *t, const struct ah_registry *reg,
                       const struct stack_read *h, char *buf, uint32_t *n)
{
    *n = h->depth < AHP_THREAD_FRAMES_MAX ? h->depth : AHP_THREAD_FRAMES_MAX;
    if (*n == 0)
        return 0;
    uint64_t skip, from;
    if (__builtin_mul_overflow((uint64_t)(h->depth - *n), reg->frame_size, &skip) ||
        __builtin_add_overflow(h->frames, skip, &from))
        return -EFAULT;
    return ahp_target_read_mem(t, from, buf, (size_t)*n * reg->frame_size);
}

/* The frames of one complete read: what is shown unless a later read agrees with itself. */
static void keep_frames(const struct ah_registry *reg, const char *buf, uint32_t n, uint32_t depth,
                        struct ahp_thread_view *v)
{
    for (uint32_t i = 0; i < n; i++) {
        struct ah_registry_frame f;
        memcpy(&f, buf + (size_t)i * reg->frame_size, sizeof(f));
        v->frames[i].id = f.id;
        v->frames[i].trigger_id = f.trigger_id;
        v->frames[i].resource = f.resource;
    }
    v->nframes = n;
    v->depth = depth;
}

static void read_one_stack(const struct ahp_target *t, const struct ah_registry *reg,
                           uint32_t type_count, uint64_t block, char *buf, char *again,
                           struct ahp_thread_view *v)
{
    v->stack_status = AHP_STACK_UNREADABLE;
    for (int attempt = 0; attempt < 8; attempt++) {
        struct stack_read before, after;
        uint32_t n, n_again;
        if (read_stack_head(t, reg, block, &before) < 0)
            return;
        if (read_frames(t, reg, &before, buf, &n) < 0) {
            /* A heap stack freed as the thread moved it, or a pointer to nowhere: only a
             * changed head says which. */
            if (read_stack_head(t, reg, block, &after) < 0 ||
                (after.frames == before.frames && after.depth == before.depth))
                break;
            continue;
        }
        keep_frames(reg, buf, n, before.depth, v);
        v->stack_status = AHP_STACK_MOVING;
        if (read_stack_head(t, reg, block, &after) < 0)
            break;
        if (after.frames != before.frames || after.depth != before.depth ||
            read_frames(t, reg, &after, again, &n_again) < 0 ||
            memcmp(buf, again, (size_t)n * reg->frame_size) != 0)
            continue;
        v->stack_status = AHP_STACK_OK;
        break;
    }
    if (v->stack_status == AHP_STACK_UNREADABLE)
        return;
    for (uint32_t i = 0; i < v->nframes; i++) {
        struct ahp_async_frame *out = &v->frames[i];
        uint64_t at;
        int32_t type = -1;
        out->type_ok = !__builtin_add_overflow(out->resource, reg->resource_type_offset, &at) &&
                       ahp_target_read_mem(t, at, &type, sizeof(type)) == 0 && type >= 0 &&
                       (uint32_t)type < type_count;
        out->type = type;
    }
}

void ahp_threads_read_stacks(const struct ahp_target *t, const struct ah_registry *reg,
                             const struct ahp_snapshot *snap, struct ahp_threads *threads)
{
    bool sane = stack_layout_sane(reg);
    size_t bufsize = sane ? (size_t)AHP_THREAD_FRAMES_MAX * reg->frame_size : 0;
    char *buf = sane ? malloc(bufsize) : NULL, *again = sane ? malloc(bufsize) : NULL;
    for (uint32_t i = 0; i < threads->n; i++) {
        struct ahp_thread_view *v = &threads->v[i];
        v->stack_status = AHP_STACK_NO_STATE;
        for (uint32_t j = 0; j < snap->nthreads; j++) {
            if (snap->threads[j].tid != v->tid)
                continue;
            if (buf && again)
                read_one_stack(t, reg, snap->type_count, snap->threads[j].block_addr, buf, again,
                               v);
            else
                v->stack_status = AHP_STACK_UNREADABLE;
            break;
        }
    }
    free(buf);
    free(again);
}

void ahp_threads_free(struct ahp_threads *threads)
{
    free(threads->v);
    threads->v = NULL;
    threads->n = 0;
}
