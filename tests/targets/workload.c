/*
 * workload.c - deterministic libah programs with known numbers, the targets of the
 * collector tests (tests/collector/). Each mode documents exactly what it raises.
 *
 *   workload tree N        N x REQ (trigger: root); each REQ callback creates 2 TIMER;
 *                          each TIMER callback creates 1 WRITE, runs it once, destroys it.
 *                          Every resource runs once and is destroyed, except LEAK: every
 *                          REQ also creates 1 LEAK that is never destroyed.
 *                          REQ: N, TIMER: 2N, WRITE: 2N, LEAK: N (N alive at exit).
 *   workload burn N MS     N x BURN callbacks that spin MS ms each, N x IDLE callbacks that
 *                          return at once, interleaved.
 *   workload hold N        N x HOLD created at once, then "ready" on stdout; waits for a line
 *                          on stdin, then creates and destroys 10 x AFTER, destroys the HOLDs.
 *   workload threads T N   T threads, each creates, runs and destroys N x TASK; each task is
 *                          created on its thread and run on the next thread (cross-thread).
 *   workload flood N       N x FLOOD lifecycles (init, before, after, destroy) in a tight loop.
 *   workload wait          "ready", then waits for a line on stdin; raises nothing else.
 *   workload names         one resource (created, run, destroyed) of each of five types with
 *                          hostile names: HTML, quotes, ';', a newline, an ESC sequence.
 *
 * A leading "-s SECONDS" sleeps first (for launch-mode tests); output goes to stdout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ah.h"

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "workload: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

static void spin_ms(long ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
           ms * 1000000L);
}

static void run_once(ah_resource_t *r, void (*fn)(void *), void *arg)
{
    check(ah_before(r), "before");
    if (fn)
        fn(arg);
    check(ah_after(r), "after");
}

static int t_req, t_timer, t_write, t_leak;

static void write_cb(void *arg)
{
    (void)arg;
}

static void timer_cb(void *arg)
{
    (void)arg;
    ah_resource_t w = {0};
    check(ah_init(&w, t_write, 0), "init WRITE");
    run_once(&w, write_cb, NULL);
    check(ah_destroy(&w), "destroy WRITE");
}

static void req_cb(void *arg)
{
    ah_resource_t *leak = arg;
    ah_resource_t timers[2];
    memset(timers, 0, sizeof(timers));
    for (int i = 0; i < 2; i++)
        check(ah_init(&timers[i], t_timer, 0), "init TIMER");
    check(ah_init(leak, t_leak, 0), "init LEAK");
    for (int i = 0; i < 2; i++) {
        run_once(&timers[i], timer_cb, NULL);
        check(ah_destroy(&timers[i]), "destroy TIMER");
    }
}

static int mode_tree(long n)
{
    t_req = ah_type("REQ");
    t_timer = ah_type("TIMER");
    t_write = ah_type("WRITE");
    t_leak = ah_type("LEAK");
    ah_resource_t *leaks = calloc((size_t)n, sizeof(*leaks));
    for (long i = 0; i < n; i++) {
        ah_resource_t req = {0};
        check(ah_init(&req, t_req, 0), "init REQ");
        run_once(&req, req_cb, &leaks[i]);
        check(ah_destroy(&req), "destroy REQ");
    }
    fprintf(stderr, "tree done\n");
    return 0; /* the LEAKs stay alive until exit */
}

static void burn_cb(void *arg)
{
    spin_ms(*(long *)arg);
}

static int mode_burn(long n, long ms)
{
    int t_burn = ah_type("BURN"), t_idle = ah_type("IDLE");
    for (long i = 0; i < n; i++) {
        ah_resource_t b = {0}, idle = {0};
        check(ah_init(&b, t_burn, 0), "init BURN");
        check(ah_init(&idle, t_idle, 0), "init IDLE");
        run_once(&b, burn_cb, &ms);
        run_once(&idle, NULL, NULL);
        check(ah_destroy(&b), "destroy BURN");
        check(ah_destroy(&idle), "destroy IDLE");
    }
    fprintf(stderr, "burn done\n");
    return 0;
}

static void wait_for_line(void)
{
    char line[64];
    printf("ready\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return;
}

static int mode_hold(long n)
{
    int t_hold = ah_type("HOLD"), t_after = ah_type("AFTER");
    ah_resource_t *held = calloc((size_t)n, sizeof(*held));
    for (long i = 0; i < n; i++)
        check(ah_init(&held[i], t_hold, 0), "init HOLD");
    wait_for_line();
    for (int i = 0; i < 10; i++) {
        ah_resource_t r = {0};
        check(ah_init(&r, t_after, 0), "init AFTER");
        run_once(&r, NULL, NULL);
        check(ah_destroy(&r), "destroy AFTER");
    }
    for (long i = 0; i < n; i++)
        check(ah_destroy(&held[i]), "destroy HOLD");
    free(held);
    fprintf(stderr, "hold done\n");
    return 0;
}

/* Tasks created on thread i are run and destroyed by thread (i + 1) % T. */
struct lane {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    ah_resource_t *tasks;
    long produced, consumed, n;
};

static struct lane *lanes;
static long n_threads;
static int t_task;
static pthread_barrier_t start_barrier;

static void *thread_main(void *arg)
{
    long me = (long)arg;
    struct lane *mine = &lanes[me], *from = &lanes[(me + n_threads - 1) % n_threads];
    pthread_barrier_wait(&start_barrier);
    for (long i = 0; i < mine->n; i++) {
        check(ah_init(&mine->tasks[i], t_task, 0), "init TASK");
        pthread_mutex_lock(&mine->lock);
        mine->produced++;
        pthread_cond_signal(&mine->ready);
        pthread_mutex_unlock(&mine->lock);
    }
    for (long i = 0; i < from->n; i++) {
        pthread_mutex_lock(&from->lock);
        while (from->produced <= i)
            pthread_cond_wait(&from->ready, &from->lock);
        pthread_mutex_unlock(&from->lock);
        run_once(&from->tasks[i], NULL, NULL);
        check(ah_destroy(&from->tasks[i]), "destroy TASK");
    }
    return NULL;
}

static int mode_threads(long t, long n)
{
    t_task = ah_type("TASK");
    n_threads = t;
    lanes = calloc((size_t)t, sizeof(*lanes));
    pthread_t *threads = calloc((size_t)t, sizeof(*threads));
    pthread_barrier_init(&start_barrier, NULL, (unsigned)t);
    for (long i = 0; i < t; i++) {
        pthread_mutex_init(&lanes[i].lock, NULL);
        pthread_cond_init(&lanes[i].ready, NULL);
        lanes[i].tasks = calloc((size_t)n, sizeof(ah_resource_t));
        lanes[i].n = n;
    }
    for (long i = 0; i < t; i++)
        pthread_create(&threads[i], NULL, thread_main, (void *)i);
    for (long i = 0; i < t; i++)
        pthread_join(threads[i], NULL);
    fprintf(stderr, "threads done\n");
    return 0;
}

static int mode_flood(long n)
{
    int t_flood = ah_type("FLOOD");
    ah_resource_t r = {0};
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < n; i++) {
        ah_init(&r, t_flood, 0);
        ah_before(&r);
        ah_after(&r);
        ah_destroy(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
    fprintf(stderr, "flood done: %.1f ns per event\n", n ? ns / (double)n / 4 : 0.0);
    return 0;
}

static int mode_names(void)
{
    static const char *const names[] = {"<script>alert(1)</script>", "quo\"te'd", "semi;colon 42",
                                        "new\nline", "esc\x1b[31mred\x1b[0m"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int type = ah_type(names[i]);
        check(type, "type");
        ah_resource_t r = {0};
        check(ah_init(&r, type, 0), "init");
        run_once(&r, NULL, NULL);
        check(ah_destroy(&r), "destroy");
    }
    fprintf(stderr, "names done\n");
    return 0;
}

static long arg_long(int argc, char **argv, int i)
{
    if (i >= argc) {
        fprintf(stderr, "workload: missing argument\n");
        exit(2);
    }
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < 0) {
        fprintf(stderr, "workload: bad number '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
        usleep((useconds_t)(arg_long(argc, argv, 2) * 1000000L));
        i = 3;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: workload [-s SECONDS] tree|burn|hold|threads|flood|wait ...\n");
        return 2;
    }
    const char *mode = argv[i];
    if (strcmp(mode, "tree") == 0)
        return mode_tree(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "burn") == 0)
        return mode_burn(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2));
    if (strcmp(mode, "hold") == 0)
        return mode_hold(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "threads") == 0)
        return mode_threads(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2));
    if (strcmp(mode, "flood") == 0)
        return mode_flood(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "names") == 0)
        return mode_names();
    if (strcmp(mode, "wait") == 0) {
        wait_for_line();
        return 0;
    }
    fprintf(stderr, "workload: unknown mode '%s'\n", mode);
    return 2;
}
