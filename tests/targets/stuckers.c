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
 *   stuckers pipe      the main thread enters a PIPEREAD callback and read()s an empty pipe
 *                      whose write end it keeps open.
 *   stuckers idle      an event loop: runs 5 TICK callbacks, keeps 3 CONN resources alive,
 *                      then waits in epoll_wait on an empty epoll set, outside any callback.
 *   stuckers hostile KIND
 *                      the main thread enters a HOSTILE callback, then damages its own
 *                      execution stack as KIND says: frames (the frames pointer points at
 *                      page 0), depth (a depth of 2^32-1), deep (a depth of 100 over the 64
 *                      inline frames: the rest of the thread's state read as frames), resource (the
 * frame's resource pointer is wild), layout (the registry's frame size and offsets are absurd).
 * Restores everything once a line or EOF comes, leaves the callback, exits 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

static int pipe_read(void)
{
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    static ah_resource_t reader;
    check(ah_init(&reader, new_type("PIPEREAD"), 0), "init PIPEREAD");
    check(ah_before(&reader), "before PIPEREAD");
    printf("reader_id %llu\nfd %d\ntid %d\n", (unsigned long long)ah_resource_id(&reader), fds[0],
           gettid_compat());
    ready();
    char byte;
    ssize_t n = read(fds[0], &byte, 1); /* the write end stays open: forever */
    return n == 1 ? 0 : 1;
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
    if (argc >= 2 && strcmp(argv[1], "deadlock") == 0)
        return deadlock();
    if (argc >= 2 && strcmp(argv[1], "pipe") == 0)
        return pipe_read();
    if (argc >= 2 && strcmp(argv[1], "idle") == 0)
        return idle();
    if (argc >= 3 && strcmp(argv[1], "hostile") == 0)
        return hostile(argv[2]);
    fprintf(stderr, "usage: stuckers deadlock|pipe|idle|hostile KIND\n");
    return 2;
}
