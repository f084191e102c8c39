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
 *   workload labels        one resource of each of six types named for Prometheus' label
 *                          escaping: 'back\slash', 'quo"te', 'new<LF>line', '\"<LF>' (all
 *                          three), 'bad<0xff>utf8' (not UTF-8), 'caf<U+00E9>' (UTF-8); each
 *                          created and run once, kept alive; "ready", then at a line on stdin
 *                          (or EOF) destroys them and exits. Each type: 1 alive, 1 callback.
 *
 * Modes for the batch-path flush rules (tests/collector/test_flush.c). All but handoff print
 * "ready" once their types are registered and raise nothing before the first line on stdin:
 *   workload flush N       (N <= 15) on a line: 1 x SCOPE (init, before), inside its callback
 *                          N x FLUSHED lifecycles (init, before, after, destroy), then
 *                          R1 = ah_flush() still inside SCOPE; then SCOPE's after and destroy
 *                          and R2 = ah_flush(). Prints "flushed R1 R2" (traced: 4N+2 and 2,
 *                          untraced: 0 0), then waits for a line and exits.
 *                          SCOPE: 1, FLUSHED: N.
 *   workload idle N        on a line: N x DRAIN lifecycles at top level, no ah_flush();
 *                          prints "done", waits for a line and exits. DRAIN: N.
 *   workload spin N MS GAP on a line: prints "started", then N x SPIN lifecycles at top level,
 *                          lifecycle i starting i x (MS + GAP) ms after "started" (at once when
 *                          late); each callback spins MS ms, and the thread spins outside any
 *                          callback until the next start (clock_gettime, no syscall: the thread
 *                          never blocks); prints "spun" and exits. SPIN: N (4N records in
 *                          N x (MS + GAP) ms).
 *   workload thread-exit N on a line: starts a thread that raises N x EXITED lifecycles at
 *                          top level and returns; joins it, prints "done" (the main thread
 *                          raises nothing), waits for a line and exits. EXITED: N.
 *   workload handoff K F MS
 *                          (K < 64) thread A creates K x HANDOFF (K INIT) and hands them to
 *                          thread B, which runs (before, after) and destroys each, then raises
 *                          F x FILL lifecycles (to make `record -b 1` read the ring buffer
 *                          while A still holds its records) and returns. A moves to the last
 *                          online CPU (best effort) and, until the main thread has joined B,
 *                          busy-waits there (no syscall: it holds its INITs). Then
 *                          with MS = 0 A returns at once; with MS > 0 it blocks on a condition
 *                          variable until the main thread releases it, MS ms later.
 *                          HANDOFF: K, each created on A, run and destroyed on B. FILL: F.
 *
 * Modes for the limits of `record` (tests/collector/test_record_limits.c). Both print
 * "ready" once running and stop at the first line on stdin or its EOF (so that a test that
 * dies takes them along), or after 60 s:
 *   workload stream [T]    T threads (default 1) raise STREAM lifecycles in a tight loop,
 *                          as fast as they go; the main thread waits on stdin.
 *   workload trickle MS    one TRICKLE lifecycle every MS ms, sleeping in between.
 *                          Both print "N lifecycles" on stderr when they stop.
 * Modes added for issue 10 (attach exactness, crashes, exec):
 *   workload steady H T US H x HOLD created at once, then T threads that each loop forever on:
 *                          init CHURN, run it (its callback creates one CHILD), destroy it, run
 *                          CHILD, destroy it, spin US us at top level; every 37 iterations a
 *                          thread sleeps 20 ms (holding records: 37 x 8 is no multiple of a
 *                          buffer). Prints
 *                          "ready" once the HOLDs exist and every thread has started; exits at
 *                          EOF on stdin. At any moment: HOLD H, CHURN 0..T, CHILD 0..T.
 *   workload crash HOW N   prints "ready", reads a line (or EOF), then N x WORK lifecycles,
 *                          then init FATAL and enters its callback, which inits INNER and
 *                          enters INNER's callback, which ends the process: HOW = segv (a
 *                          write through a null pointer), abort (abort()) or exit3 (exit(3)).
 *                          WORK: N; FATAL: 1 and INNER: 1, both alive, callbacks open at the
 *                          end, paths (root) > FATAL and (root) > FATAL > INNER.
 *   workload exec HOW N M  prints "ready", reads a line (or EOF), raises N x BEFORE_EXEC
 *                          lifecycles (no flush), then execs HOW = self (this executable) or
 *                          other (workload-static next to it, another libah program) as
 *                          "workload exec-after M", which registers AFTER_EXEC (type 0 there,
 *                          as BEFORE_EXEC is here), raises M x AFTER_EXEC lifecycles and
 *                          exits 0.
 *
 * Mode for top's ring-full path (tests/collector/test_top_stream.c):
 *   workload hold-lost K M one HOLD lifecycle (HOLD is then a type that runs, which top's
 *                          never-ran lint wants), then K x HOLD created at once, never run, then
 *                          "ready" on stdout; at a line on stdin: M x FILL lifecycles, then
 *                          destroys the K HOLDs (after the FILLs: a small ring buffer the reader
 *                          leaves full loses their destroys with the FILLs' later batches),
 *                          ah_flush(), "done" on stdout; then waits for a line on stdin (or EOF)
 *                          and exits. HOLD: K + 1 (1 callback); FILL: M.
 *   workload create-lost K J M
 *                          (J <= K) one HOLD lifecycle, then "ready" on stdout; at a line on
 *                          stdin: M x FILL lifecycles, then K x HOLD created and the first J of
 *                          them run once (after the FILLs: in the batches a full ring buffer
 *                          loses), ah_flush(), "done" on stdout; at a line on stdin (or EOF)
 *                          destroys the K HOLDs and exits. HOLD: K + 1 (J + 1 callbacks; K
 *                          alive after "done", K - J of them never run); FILL: M.
 *
 * A leading "-s SECONDS" sleeps first (for launch-mode tests); output goes to stdout.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
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

static int mode_labels(void)
{
    static const char *const names[] = {"back\\slash", "quo\"te",     "new\nline",
                                        "\\\"\n",      "bad\xffutf8", "caf\xc3\xa9"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    ah_resource_t r[N];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < N; i++) {
        int type = ah_type(names[i]);
        check(type, "type");
        check(ah_init(&r[i], type, 0), "init");
        run_once(&r[i], NULL, NULL);
    }
    wait_for_line();
    for (int i = 0; i < N; i++)
        check(ah_destroy(&r[i]), "destroy");
    return 0;
}

/* Wait for a line on stdin without printing anything (the second wait of the flush modes). */
static void read_line(void)
{
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return;
}

static void lifecycle(int type, void (*fn)(void *), void *arg)
{
    ah_resource_t r = {0};
    check(ah_init(&r, type, 0), "init");
    run_once(&r, fn, arg);
    check(ah_destroy(&r), "destroy");
}

static int mode_flush(long n)
{
    if (n > 15) {
        fprintf(stderr, "workload: flush N must be <= 15 (one buffer)\n");
        return 2;
    }
    int t_scope = ah_type("SCOPE"), t_flushed = ah_type("FLUSHED");
    wait_for_line();
    ah_resource_t scope = {0};
    check(ah_init(&scope, t_scope, 0), "init SCOPE");
    check(ah_before(&scope), "before SCOPE");
    for (long i = 0; i < n; i++)
        lifecycle(t_flushed, NULL, NULL); /* nested: no top-level return until SCOPE's after */
    int held_in_scope = ah_flush();
    check(ah_after(&scope), "after SCOPE");
    check(ah_destroy(&scope), "destroy SCOPE");
    int held_after = ah_flush();
    printf("flushed %d %d\n", held_in_scope, held_after);
    read_line();
    return 0;
}

static int mode_idle(long n)
{
    int t_drain = ah_type("DRAIN");
    wait_for_line();
    for (long i = 0; i < n; i++)
        lifecycle(t_drain, NULL, NULL);
    printf("done\n");
    read_line(); /* blocks holding the records: no ah_flush() */
    return 0;
}

static int mode_hold_lost(long k, long m)
{
    int t_hold = ah_type("HOLD"), t_fill = ah_type("FILL");
    ah_resource_t *held = calloc((size_t)(k ? k : 1), sizeof(*held));
    lifecycle(t_hold, NULL, NULL);
    for (long i = 0; i < k; i++)
        check(ah_init(&held[i], t_hold, 0), "init HOLD");
    wait_for_line();
    for (long i = 0; i < m; i++)
        lifecycle(t_fill, NULL, NULL);
    for (long i = 0; i < k; i++)
        check(ah_destroy(&held[i]), "destroy HOLD");
    ah_flush();
    printf("done\n");
    read_line();
    free(held);
    return 0;
}

static int mode_create_lost(long k, long j, long m)
{
    if (j > k) {
        fprintf(stderr, "workload: create-lost J must be <= K\n");
        return 2;
    }
    int t_hold = ah_type("HOLD"), t_fill = ah_type("FILL");
    ah_resource_t *held = calloc((size_t)(k ? k : 1), sizeof(*held));
    lifecycle(t_hold, NULL, NULL);
    wait_for_line();
    for (long i = 0; i < m; i++)
        lifecycle(t_fill, NULL, NULL);
    for (long i = 0; i < k; i++)
        check(ah_init(&held[i], t_hold, 0), "init HOLD");
    for (long i = 0; i < j; i++)
        run_once(&held[i], NULL, NULL);
    ah_flush();
    printf("done\n");
    read_line();
    for (long i = 0; i < k; i++)
        check(ah_destroy(&held[i]), "destroy HOLD");
    free(held);
    return 0;
}

static int mode_spin(long n, long ms, long gap)
{
    int t_spin = ah_type("SPIN");
    wait_for_line();
    printf("started\n");
    /* Lifecycle i starts i x (MS + GAP) ms after "started" (or at once when late): a delay
     * does not push back the ones after it. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < n; i++) {
        lifecycle(t_spin, burn_cb, &ms);
        long long next = (long long)start.tv_sec * 1000000000LL + start.tv_nsec +
                         (i + 1) * (ms + gap) * 1000000LL;
        struct timespec now;
        do
            clock_gettime(CLOCK_MONOTONIC, &now);
        while ((long long)now.tv_sec * 1000000000LL + now.tv_nsec < next);
    }
    printf("spun\n");
    return 0;
}

static int t_exited;

static void *exiting_thread(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        lifecycle(t_exited, NULL, NULL);
    return NULL;
}

static int mode_thread_exit(long n)
{
    t_exited = ah_type("EXITED");
    wait_for_line();
    pthread_t th;
    if (pthread_create(&th, NULL, exiting_thread, &n) != 0) {
        fprintf(stderr, "workload: pthread_create failed\n");
        return 1;
    }
    pthread_join(th, NULL);
    printf("done\n");
    read_line();
    return 0;
}

/* handoff: A creates, B runs and destroys; A waits until the main thread releases it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ah_resource_t *res;
    long k, fill, ms;
    int type, t_fill;
    int produced, b_joined, released; /* __atomic */
} handoff = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *handoff_a(void *arg)
{
    (void)arg;
    /* A CPU of its own if it can (the test keeps everything else off it), so that nothing
     * switches A out while it holds its records. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 2) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)(cpus - 1), &set);
        sched_setaffinity(0, sizeof(set), &set); /* best effort */
    }
    for (long i = 0; i < handoff.k; i++)
        check(ah_init(&handoff.res[i], handoff.type, 0), "init HANDOFF");
    __atomic_store_n(&handoff.produced, 1, __ATOMIC_RELEASE);
    /* Hold the records while B works: no syscall, no return to a top level. */
    while (!__atomic_load_n(&handoff.b_joined, __ATOMIC_ACQUIRE))
        ;
    if (handoff.ms == 0)
        return NULL;
    pthread_mutex_lock(&handoff.lock);
    while (!__atomic_load_n(&handoff.released, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&handoff.cond, &handoff.lock);
    pthread_mutex_unlock(&handoff.lock);
    return NULL;
}

static void *handoff_b(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&handoff.produced, __ATOMIC_ACQUIRE))
        ;
    for (long i = 0; i < handoff.k; i++) {
        run_once(&handoff.res[i], NULL, NULL);
        check(ah_destroy(&handoff.res[i]), "destroy HANDOFF");
    }
    for (long i = 0; i < handoff.fill; i++)
        lifecycle(handoff.t_fill, NULL, NULL);
    return NULL;
}

static int mode_handoff(long k, long fill, long ms)
{
    if (k > 63) {
        fprintf(stderr, "workload: handoff K must be < 64 (one buffer on thread A)\n");
        return 2;
    }
    handoff.type = ah_type("HANDOFF");
    handoff.t_fill = ah_type("FILL");
    handoff.k = k;
    handoff.fill = fill;
    handoff.ms = ms;
    handoff.res = calloc((size_t)(k ? k : 1), sizeof(ah_resource_t));
    pthread_t a, b;
    if (pthread_create(&b, NULL, handoff_b, NULL) != 0 ||
        pthread_create(&a, NULL, handoff_a, NULL) != 0) {
        fprintf(stderr, "workload: pthread_create failed\n");
        return 1;
    }
    pthread_join(b, NULL);
    __atomic_store_n(&handoff.b_joined, 1, __ATOMIC_RELEASE);
    if (ms)
        usleep((useconds_t)(ms * 1000));
    pthread_mutex_lock(&handoff.lock);
    __atomic_store_n(&handoff.released, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&handoff.cond);
    pthread_mutex_unlock(&handoff.lock);
    pthread_join(a, NULL);
    free(handoff.res);
    fprintf(stderr, "handoff done\n");
    return 0;
}

/* True once stdin has a line or is closed, waiting up to MS ms. */
static bool stdin_says_stop(int ms)
{
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    return poll(&pfd, 1, ms) != 0;
}

static bool past_60s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec - start->tv_sec >= 60;
}

static int stream_stop;
static int t_stream;

static void *stream_thread(void *arg)
{
    long *n = arg;
    while (!__atomic_load_n(&stream_stop, __ATOMIC_RELAXED))
        for (int i = 0; i < 4096; i++, (*n)++)
            lifecycle(t_stream, NULL, NULL);
    return NULL;
}

static int mode_stream(long threads)
{
    t_stream = ah_type("STREAM");
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "workload: stream T wants 1 to 64 threads\n");
        return 2;
    }
    pthread_t tids[64];
    long counts[64] = {0};
    for (long i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, stream_thread, &counts[i]) != 0) {
            fprintf(stderr, "workload: pthread_create failed\n");
            return 1;
        }
    printf("ready\n");
    fflush(stdout);
    stdin_says_stop(60000);
    __atomic_store_n(&stream_stop, 1, __ATOMIC_RELAXED);
    long n = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        n += counts[i];
    }
    fprintf(stderr, "%ld lifecycles\n", n);
    return 0;
}

static int mode_trickle(long ms)
{
    int t_trickle = ah_type("TRICKLE");
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    printf("ready\n");
    fflush(stdout);
    long n = 0;
    do {
        lifecycle(t_trickle, NULL, NULL);
        n++;
    } while (!stdin_says_stop((int)ms) && !past_60s(&start));
    fprintf(stderr, "%ld lifecycles\n", n);
    return 0;
}

/* steady: H HOLDs, then T threads churning until stdin closes. */
static int t_churn, t_child;
static long steady_us;

static void spin_us(long us)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < us * 1000L);
}

static void churn_cb(void *arg)
{
    check(ah_init(arg, t_child, 0), "init CHILD");
}

static void *steady_thread(void *arg)
{
    int *started = arg;
    __atomic_add_fetch(started, 1, __ATOMIC_RELEASE);
    for (unsigned long i = 0;; i++) {
        ah_resource_t churn = {0}, child = {0};
        check(ah_init(&churn, t_churn, 0), "init CHURN");
        run_once(&churn, churn_cb, &child);
        check(ah_destroy(&churn), "destroy CHURN");
        run_once(&child, NULL, NULL);
        check(ah_destroy(&child), "destroy CHILD");
        spin_us(steady_us);
        if (i % 37 == 36) /* not a multiple of a buffer: threads sleep holding records */
            usleep(20000);
    }
    return NULL;
}

static int mode_steady(long h, long t, long us)
{
    steady_us = us;
    int t_hold = ah_type("HOLD");
    t_churn = ah_type("CHURN");
    t_child = ah_type("CHILD");
    ah_resource_t *held = calloc((size_t)(h ? h : 1), sizeof(*held));
    for (long i = 0; i < h; i++)
        check(ah_init(&held[i], t_hold, 0), "init HOLD");
    static int started;
    for (long i = 0; i < t; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, steady_thread, &started) != 0) {
            fprintf(stderr, "workload: pthread_create failed\n");
            return 1;
        }
    }
    while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < t)
        usleep(1000);
    wait_for_line(); /* EOF: exit, the threads with it */
    return 0;
}

/* crash: the process ends inside a callback. */
static void crash_now(void *arg)
{
    const char *how = arg;
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "exit3") == 0)
        exit(3);
    *(volatile int *)(uintptr_t)(arg == NULL) = 1; /* address 0: SIGSEGV */
}

static void fatal_cb(void *arg)
{
    static ah_resource_t inner;
    check(ah_init(&inner, ah_type("INNER"), 0), "init INNER");
    run_once(&inner, crash_now, arg);
}

static int mode_crash(const char *how, long n)
{
    if (strcmp(how, "segv") != 0 && strcmp(how, "abort") != 0 && strcmp(how, "exit3") != 0) {
        fprintf(stderr, "workload: crash HOW is segv, abort or exit3\n");
        return 2;
    }
    int t_work = ah_type("WORK"), t_fatal = ah_type("FATAL");
    ah_type("INNER");
    wait_for_line();
    for (long i = 0; i < n; i++)
        lifecycle(t_work, NULL, NULL);
    static ah_resource_t fatal;
    check(ah_init(&fatal, t_fatal, 0), "init FATAL");
    run_once(&fatal, fatal_cb, (void *)how);
    return 1; /* not reached */
}

static int mode_exec(const char *how, long n, long m)
{
    char self[4096], next[4096 + 32];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0 || (strcmp(how, "self") != 0 && strcmp(how, "other") != 0)) {
        fprintf(stderr, "workload: exec HOW is self or other\n");
        return 2;
    }
    self[len] = '\0';
    int t_before = ah_type("BEFORE_EXEC");
    wait_for_line();
    for (long i = 0; i < n; i++)
        lifecycle(t_before, NULL, NULL);
    if (strcmp(how, "self") == 0) {
        snprintf(next, sizeof(next), "%s", self);
    } else {
        char *slash = strrchr(self, '/');
        *slash = '\0';
        snprintf(next, sizeof(next), "%s/workload-static", self);
    }
    char count[32];
    snprintf(count, sizeof(count), "%ld", m);
    execl(next, next, "exec-after", count, (char *)NULL);
    fprintf(stderr, "workload: exec %s failed\n", next);
    return 1;
}

static int mode_exec_after(long m)
{
    int t_after = ah_type("AFTER_EXEC");
    for (long i = 0; i < m; i++)
        lifecycle(t_after, NULL, NULL);
    fprintf(stderr, "exec-after done\n");
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
        fprintf(stderr, "usage: workload [-s SECONDS] "
                        "tree|burn|hold|threads|flood|wait|names|flush|idle|spin|thread-exit|"
                        "handoff|stream|trickle|steady|crash|exec ...\n");
        return 2;
    }
    const char *mode = argv[i];
    if (strcmp(mode, "tree") == 0)
        return mode_tree(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "burn") == 0)
        return mode_burn(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2));
    if (strcmp(mode, "hold") == 0)
        return mode_hold(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "hold-lost") == 0)
        return mode_hold_lost(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2));
    if (strcmp(mode, "create-lost") == 0)
        return mode_create_lost(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2),
                                arg_long(argc, argv, i + 3));
    if (strcmp(mode, "threads") == 0)
        return mode_threads(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2));
    if (strcmp(mode, "flood") == 0)
        return mode_flood(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "names") == 0)
        return mode_names();
    if (strcmp(mode, "labels") == 0)
        return mode_labels();
    if (strcmp(mode, "flush") == 0)
        return mode_flush(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "idle") == 0)
        return mode_idle(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "spin") == 0)
        return mode_spin(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2),
                         arg_long(argc, argv, i + 3));
    if (strcmp(mode, "thread-exit") == 0)
        return mode_thread_exit(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "handoff") == 0)
        return mode_handoff(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2),
                            arg_long(argc, argv, i + 3));
    if (strcmp(mode, "steady") == 0)
        return mode_steady(arg_long(argc, argv, i + 1), arg_long(argc, argv, i + 2),
                           arg_long(argc, argv, i + 3));
    if (strcmp(mode, "crash") == 0 && i + 1 < argc)
        return mode_crash(argv[i + 1], arg_long(argc, argv, i + 2));
    if (strcmp(mode, "exec") == 0 && i + 1 < argc)
        return mode_exec(argv[i + 1], arg_long(argc, argv, i + 2), arg_long(argc, argv, i + 3));
    if (strcmp(mode, "exec-after") == 0)
        return mode_exec_after(arg_long(argc, argv, i + 1));
    if (strcmp(mode, "wait") == 0) {
        wait_for_line();
        return 0;
    }
    if (strcmp(mode, "stream") == 0)
        return mode_stream(argc > i + 1 ? arg_long(argc, argv, i + 1) : 1);
    if (strcmp(mode, "trickle") == 0)
        return mode_trickle(arg_long(argc, argv, i + 1));
    fprintf(stderr, "workload: unknown mode '%s'\n", mode);
    return 2;
}
