/*
 * kernel_truths.c - libah programs whose CPU, blocking and waiting are known, the targets of
 * tests/collector/test_kernel_view.c. Every mode registers its types, prints "ready", waits for
 * a line on stdin, runs, prints "done" and waits for stdin to close (or 60 s).
 *
 *   kernel_truths burn     1 x BURN callback that spins 1 s of thread CPU time in burn_here();
 *                          then 1 x QUICK callback that returns at once.
 *   kernel_truths block    10 x TIMER callbacks, each blocked ~50 ms in read() of an empty
 *                          pipe (in read_here()) until a helper thread, outside any callback,
 *                          writes one byte 50 ms after the callback started, once the reader
 *                          sleeps (a reader held off a CPU for those 50 ms would otherwise
 *                          find the byte there and not block at all).
 *   kernel_truths idle     an event loop: 10 x epoll_wait of 100 ms outside any callback, a
 *                          TICK callback that returns at once after each.
 *   kernel_truths pool     10 x WORK created at once and queued to one worker thread that
 *                          runs them in order, each spinning 20 ms: pending (init to first
 *                          before) 0, 20, ... 180 ms.
 */
#define _GNU_SOURCE
#include <ah.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

__attribute__((noinline)) void burn_here(uint64_t cpu_ns)
{
    uint64_t end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + cpu_ns;
    while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end)
        for (int i = 0; i < 1000; i++)
            sink += (uint64_t)i * 2654435761u;
}

static void spin_wall(uint64_t ns)
{
    uint64_t end = clock_ns(CLOCK_MONOTONIC) + ns;
    while (clock_ns(CLOCK_MONOTONIC) < end)
        sink++;
}

/* A thread's libah state, and so its registry block, exists from its first event: raise one
 * before "ready", so that the kernel view knows the thread from its attach. */
static void warm_up(void)
{
    ah_resource_t r;
    ah_init(&r, ah_type("WARM"), 0);
    ah_before(&r);
    ah_after(&r);
    ah_destroy(&r);
}

static void run_burn(void)
{
    int burn = ah_type("BURN"), quick = ah_type("QUICK");
    ah_resource_t r, q;
    warm_up();
    puts("ready");
    fflush(stdout);
    getchar();
    ah_init(&r, burn, 0);
    ah_before(&r);
    burn_here(1000000000ull);
    ah_after(&r);
    ah_destroy(&r);
    ah_init(&q, quick, 0);
    ah_before(&q);
    ah_after(&q);
    ah_destroy(&q);
}

static int block_pipe[2];
static sem_t block_armed;
static pid_t block_reader;

/* Whether thread TID is asleep ('S' in /proc/self/task/TID/stat). */
static bool sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true; /* cannot tell: write, as before */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* the state follows the name */
    return !paren || paren[1] != ' ' || paren[2] == 'S';
}

static void *block_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        sem_wait(&block_armed);
        struct timespec ts = {0, 50000000}, tick = {0, 1000000};
        nanosleep(&ts, NULL);
        /* The reader is between sem_post and read(), or in read(): wait for it to sleep
         * there (after sem_post it sleeps nowhere else), 5 s at most. */
        for (int w = 0; w < 5000 && !sleeping(block_reader); w++)
            nanosleep(&tick, NULL);
        char c = 'x';
        if (write(block_pipe[1], &c, 1) != 1)
            return NULL;
    }
    return NULL;
}

/* Not a tail call: read_here's frame must stay on the stack while read() blocks. */
__attribute__((noinline)) ssize_t read_here(int fd, char *c)
{
    ssize_t n = read(fd, c, 1);
    __asm__ volatile("" ::: "memory");
    return n;
}

static void run_block(void)
{
    int timer = ah_type("TIMER");
    if (pipe(block_pipe) < 0 || sem_init(&block_armed, 0, 0) < 0)
        exit(2);
    block_reader = gettid();
    pthread_t writer;
    pthread_create(&writer, NULL, block_writer, NULL);
    warm_up();
    puts("ready");
    fflush(stdout);
    getchar();
    for (int i = 0; i < 10; i++) {
        ah_resource_t r;
        char c;
        ah_init(&r, timer, 0);
        ah_before(&r);
        sem_post(&block_armed);
        if (read_here(block_pipe[0], &c) != 1)
            exit(3);
        ah_after(&r);
        ah_destroy(&r);
    }
    pthread_join(writer, NULL);
}

static void run_idle(void)
{
    int tick = ah_type("TICK");
    int ep = epoll_create1(0);
    if (ep < 0)
        exit(2);
    warm_up();
    puts("ready");
    fflush(stdout);
    getchar();
    for (int i = 0; i < 10; i++) {
        struct epoll_event ev;
        epoll_wait(ep, &ev, 1, 100);
        ah_resource_t r;
        ah_init(&r, tick, 0);
        ah_before(&r);
        ah_after(&r);
        ah_destroy(&r);
    }
}

#define POOL_TASKS 10
static ah_resource_t pool_work[POOL_TASKS];
static sem_t pool_queued, pool_warm;

static void *pool_worker(void *arg)
{
    (void)arg;
    warm_up();
    sem_post(&pool_warm);
    for (int i = 0; i < POOL_TASKS; i++) {
        sem_wait(&pool_queued);
        ah_before(&pool_work[i]);
        spin_wall(20000000ull);
        ah_after(&pool_work[i]);
        ah_destroy(&pool_work[i]);
    }
    return NULL;
}

static void run_pool(void)
{
    int work = ah_type("WORK");
    sem_init(&pool_queued, 0, 0);
    sem_init(&pool_warm, 0, 0);
    pthread_t worker;
    pthread_create(&worker, NULL, pool_worker, NULL);
    sem_wait(&pool_warm);
    warm_up();
    puts("ready");
    fflush(stdout);
    getchar();
    for (int i = 0; i < POOL_TASKS; i++)
        ah_init(&pool_work[i], work, 0);
    for (int i = 0; i < POOL_TASKS; i++)
        sem_post(&pool_queued);
    pthread_join(worker, NULL);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "burn") == 0)
        run_burn();
    else if (strcmp(mode, "block") == 0)
        run_block();
    else if (strcmp(mode, "idle") == 0)
        run_idle();
    else if (strcmp(mode, "pool") == 0)
        run_pool();
    else {
        fprintf(stderr, "usage: kernel_truths burn|block|idle|pool\n");
        return 2;
    }
    ah_flush();
    puts("done");
    alarm(60);
    while (getchar() != EOF)
        ;
    return 0;
}
