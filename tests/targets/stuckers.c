/*
 * stuckers.c - processes stuck in known ways, for tests/collector/test_stuck.c (`ahprof
 * stuck`). Each mode prints "NAME VALUE" lines with what the test must find (ids, tids,
 * addresses, fds), then "ready" once the process is in place, and stays so until killed
 * (hostile: until a line or EOF on stdin). Linked with libah.a: the hostile mode reaches
 * libah's internals (src/lib/internal.h) to damage what ahprof reads.
 *
 *   stuckers deadlock  thread A enters a REQ callback then a LOCKA one and takes mutex 1,
 *                      thread B enters a LOCKB callback and takes mutex 2; then each takes
 *                      the other's mutex: both sleep in futex forever, inside their
 *                      callbacks. The main thread waits in pthread_join, outside any.
 *   stuckers pipe      a thread enters a PIPEREAD callback and read()s an empty pipe whose
 *                      write end stays open; the main thread waits in pthread_join.
 *   stuckers busy      a thread enters a BUSY callback and computes in it for ever.
 *   stuckers churn     a thread enters and leaves an OUTER callback and an INNER one nested
 *                      in it, for ever: its stack changes while ahprof reads it.
 *   stuckers idle      an event loop: runs 5 TICK callbacks, keeps 3 CONN resources alive,
 *                      then waits in epoll_wait on an empty epoll set, outside any callback.
 *   stuckers hostile KIND
 *                      the main thread enters a HOSTILE callback, then damages its own
 *                      execution stack as KIND says: frames (the frames pointer points at
 *                      page 0), depth (a depth of 2^32-1), deep (a depth of 100 over the 64
 *                      inline frames: the rest of the thread's state read as frames),
 *                      resource (the frame's resource pointer is wild), layout (the
 *                      registry's frame size and offsets are absurd), magic (the registry's
 *                      magic is wrong: no registry at all).
 *                      Restores everything once a line or EOF comes, leaves the callback,
 *                      exits 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "stuckers: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

static int new_type(const char *name)
{
    int type = ah_type(name);
    check(type, name);
    return type;
}

static void ready(void)
{
    printf("ready\n");
    fflush(stdout);
}

static pid_t gettid_compat(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* Wait (at most 10 s) until thread TID sleeps in system call NR: then "ready" is true. */
static void wait_in_syscall(pid_t tid, long nr)
{
    char path[64], buf[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
    for (int tries = 0; tries < 10000; tries++) {
        FILE *f = fopen(path, "re");
        bool in = false;
        if (f) {
            in = fgets(buf, sizeof(buf), f) && strtol(buf, NULL, 10) == nr;
            fclose(f);
        }
        if (in)
            return;
        usleep(1000);
    }
    fprintf(stderr, "stuckers: thread %d never blocked in system call %ld\n", tid, nr);
    exit(1);
}

/* deadlock */
static pthread_mutex_t mutex1 = PTHREAD_MUTEX_INITIALIZER, mutex2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t holding;
static ah_resource_t req, lock_a, lock_b;
static pid_t tid_a, tid_b;

static void *thread_a(void *arg)
{
    (void)arg;
    tid_a = gettid_compat();
    check(ah_before(&req), "before REQ");
    check(ah_before(&lock_a), "before LOCKA");
    pthread_mutex_lock(&mutex1);
    pthread_barrier_wait(&holding);
    pthread_mutex_lock(&mutex2);
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    tid_b = gettid_compat();
    check(ah_before(&lock_b), "before LOCKB");
    pthread_mutex_lock(&mutex2);
    pthread_barrier_wait(&holding);
    pthread_mutex_lock(&mutex1);
    return NULL;
}

static int deadlock(void)
{
    check(ah_init(&req, new_type("REQ"), 0), "init REQ");
    check(ah_init(&lock_a, new_type("LOCKA"), ah_resource_id(&req)), "init LOCKA");
    check(ah_init(&lock_b, new_type("LOCKB"), 0), "init LOCKB");
    pthread_barrier_init(&holding, NULL, 3);
    pthread_t a, b;
    if (pthread_create(&a, NULL, thread_a, NULL) || pthread_create(&b, NULL, thread_b, NULL))
        return 1;
    pthread_barrier_wait(&holding);
    wait_in_syscall(tid_a, SYS_futex);
    wait_in_syscall(tid_b, SYS_futex);
    /* glibc's mutex keeps its futex word first: the address each thread waits on. */
    printf("req_id %llu\nlock_a_id %llu\nlock_b_id %llu\n",
           (unsigned long long)ah_resource_id(&req), (unsigned long long)ah_resource_id(&lock_a),
           (unsigned long long)ah_resource_id(&lock_b));
    printf("tid_a %d\ntid_b %d\nmain_tid %d\n", tid_a, tid_b, gettid_compat());
    printf("mutex1 %llu\nmutex2 %llu\n", (unsigned long long)(uintptr_t)&mutex1,
           (unsigned long long)(uintptr_t)&mutex2);
    ready();
    pthread_join(a, NULL);
    return 1; /* never: A waits for B, which waits for A */
}

static int pipe_fds[2];
static ah_resource_t reader;
static pid_t reader_tid;

static void *read_in_callback(void *arg)
{
    (void)arg;
    reader_tid = gettid_compat();
    check(ah_before(&reader), "before PIPEREAD");
    char byte;
    ssize_t n = read(pipe_fds[0], &byte, 1); /* the write end stays open: for ever */
    return n == 1 ? NULL : &reader;
}

static int pipe_read(void)
{
    if (pipe(pipe_fds) < 0)
        return 1;
    check(ah_init(&reader, new_type("PIPEREAD"), 0), "init PIPEREAD");
    pthread_t thread;
    if (pthread_create(&thread, NULL, read_in_callback, NULL))
        return 1;
    while (__atomic_load_n(&reader_tid, __ATOMIC_RELAXED) == 0)
        usleep(1000);
    wait_in_syscall(reader_tid, SYS_read);
    printf("reader_id %llu\nfd %d\ntid %d\n", (unsigned long long)ah_resource_id(&reader),
           pipe_fds[0], reader_tid);
    ready();
    pthread_join(thread, NULL);
    return 1;
}

static ah_resource_t spinner;
static pid_t spinner_tid;

static void *spin_in_callback(void *arg)
{
    (void)arg;
    check(ah_before(&spinner), "before BUSY");
    __atomic_store_n(&spinner_tid, gettid_compat(), __ATOMIC_RELEASE);
    for (volatile uint64_t n = 0;; n++)
        ;
    return NULL;
}

static int busy(void)
{
    check(ah_init(&spinner, new_type("BUSY"), 0), "init BUSY");
    pthread_t thread;
    if (pthread_create(&thread, NULL, spin_in_callback, NULL))
        return 1;
    while (__atomic_load_n(&spinner_tid, __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    printf("spinner_id %llu\ntid %d\n", (unsigned long long)ah_resource_id(&spinner), spinner_tid);
    ready();
    pthread_join(thread, NULL);
    return 1;
}

static ah_resource_t churn_outer, churn_inner;
static pid_t churner_tid;

static void *churn_in_callbacks(void *arg)
{
    (void)arg;
    __atomic_store_n(&churner_tid, gettid_compat(), __ATOMIC_RELEASE);
    for (;;) {
        check(ah_before(&churn_outer), "before OUTER");
        check(ah_before(&churn_inner), "before INNER");
        check(ah_after(&churn_inner), "after INNER");
        check(ah_after(&churn_outer), "after OUTER");
    }
    return NULL;
}

static int churn(void)
{
    check(ah_init(&churn_outer, new_type("OUTER"), 0), "init OUTER");
    check(ah_init(&churn_inner, new_type("INNER"), 0), "init INNER");
    pthread_t thread;
    if (pthread_create(&thread, NULL, churn_in_callbacks, NULL))
        return 1;
    while (__atomic_load_n(&churner_tid, __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    printf("outer_id %llu\ninner_id %llu\ntid %d\n",
           (unsigned long long)ah_resource_id(&churn_outer),
           (unsigned long long)ah_resource_id(&churn_inner), churner_tid);
    ready();
    pthread_join(thread, NULL);
    return 1;
}

static int idle(void)
{
    int tick = new_type("TICK"), conn_type = new_type("CONN");
    static ah_resource_t conns[3];
    for (int i = 0; i < 3; i++)
        check(ah_init(&conns[i], conn_type, 0), "init CONN");
    for (int i = 0; i < 5; i++) {
        ah_resource_t r;
        memset(&r, 0, sizeof(r));
        check(ah_init(&r, tick, 0), "init TICK");
        check(ah_before(&r), "before TICK");
        check(ah_after(&r), "after TICK");
        check(ah_destroy(&r), "destroy TICK");
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return 1;
    printf("epoll_fd %d\ntid %d\n", ep, gettid_compat());
    ready();
    for (;;) {
        struct epoll_event ev;
        if (epoll_wait(ep, &ev, 1, 1000) < 0)
            return 1;
    }
}

static int hostile(const char *kind)
{
    static ah_resource_t r;
    check(ah_init(&r, new_type("HOSTILE"), 0), "init HOSTILE");
    check(ah_before(&r), "before HOSTILE");
    struct ah_thread *t = ah__self;
    struct ah_frame *saved_stack = t->stack, saved_frame = t->stack[0];
    uint32_t saved_depth = t->depth;
    struct ah_registry saved_registry = ah_registry;
    if (strcmp(kind, "frames") == 0)
        t->stack = (struct ah_frame *)(uintptr_t)0x10;
    else if (strcmp(kind, "depth") == 0)
        t->depth = UINT32_MAX;
    else if (strcmp(kind, "deep") == 0)
        t->depth = 100;
    else if (strcmp(kind, "resource") == 0)
        t->stack[0].resource = (ah_resource_t *)(uintptr_t)0xdead0000;
    else if (strcmp(kind, "layout") == 0) {
        ah_registry.frame_size = 1ull << 40;
        ah_registry.stack_offset = ~0ull;
        ah_registry.resource_type_offset = ~0ull - 2;
    } else if (strcmp(kind, "magic") == 0) {
        ah_registry.magic = 0;
    } else {
        fprintf(stderr, "stuckers: unknown hostile kind %s\n", kind);
        return 2;
    }
    printf("tid %d\n", gettid_compat());
    ready();
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        /* EOF: the test is done too */
    }
    ah_registry = saved_registry;
    t->stack = saved_stack;
    t->depth = saved_depth;
    t->stack[0] = saved_frame;
    check(ah_after(&r), "after HOSTILE");
    check(ah_destroy(&r), "destroy HOSTILE");
    return 0;
}

int main(int argc, char **argv)
{
    /* A test that fails half-way must not leave a process stuck for ever behind it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    if (argc >= 2 && strcmp(argv[1], "deadlock") == 0)
        return deadlock();
    if (argc >= 2 && strcmp(argv[1], "pipe") == 0)
        return pipe_read();
    if (argc >= 2 && strcmp(argv[1], "busy") == 0)
        return busy();
    if (argc >= 2 && strcmp(argv[1], "churn") == 0)
        return churn();
    if (argc >= 2 && strcmp(argv[1], "idle") == 0)
        return idle();
    if (argc >= 3 && strcmp(argv[1], "hostile") == 0)
        return hostile(argv[2]);
    fprintf(stderr, "usage: stuckers deadlock|pipe|busy|churn|idle|hostile KIND\n");
    return 2;
}
