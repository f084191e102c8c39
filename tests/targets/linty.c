/*
 * linty.c - a libah program with one mode per lint (docs/lints.md), for tests/collector/
 * test_lints.c: each mode does the one wrong thing its lint is about, and "clean" does the
 * look-alike right things (a periodic timer that re-arms itself with a pause, short callbacks,
 * resources that run and go), where no lint may fire.
 *
 *   linty never-ran N MS      N "REQUEST"s answered and N never run, one "IDLEWATCH" (a type
 *                             that never runs), then MS ms of waiting
 *   linty leak-slope MS       one "LEAKY" every ms for MS ms, each run once, never destroyed
 *   linty long-callback MS    one "SLOW" callback of MS ms between short "FAST" ones
 *   linty self-retrigger N    a "BUSYTIMER" that re-creates itself in its callback N times,
 *                             no pause
 *   linty orphan MS [HOLD]    a "PARENT" creates two "CHILD"s and a "SERVER" in its callback
 *                             and is destroyed (HOLD ms later: default 0); one CHILD
 *                             finishes, the other stays idle MS ms more, the SERVER runs
 *                             every 100 ms (it lives on: no orphan)
 *   linty sleepy MS           one "SLEEPY" callback blocked MS ms in nanosleep between short
 *                             "FAST" ones
 *   linty blocker MS          for MS ms, in turn: a "BURNER" callback that spins 20 ms, a
 *                             "NAPPER" callback that sleeps 20 ms, 10 ms outside callbacks
 *                             (BURNER ~40% of a CPU, NAPPER ~400 ms blocked per second)
 *   linty lifecycle N         N "SHARED" resources destroyed by another thread while their
 *                             callback runs (and N "SELFKILL" destroyed inside their own
 *                             callback, which libah allows: no warning for those)
 *   linty io-chain N          N "FSREAD"s, each created in its predecessor's callback and
 *                             completed by a worker thread (a sequential file read): no
 *                             self-retrigger, it waits for outside work at every link
 *   linty spike A B C         A ms of "clean", one "SLOW" callback of B ms, C ms of "clean"
 *   linty clean MS            MS ms of a "TICK" that re-arms itself every 10 ms, "WORK" that
 *                             runs and goes
 *   linty paced-chain MS      MS ms of a "PACED" timer that re-creates itself in its callback
 *                             every 1 ms: a long chain with a pause, no self-retrigger
 */
#include <fcntl.h>
#include <poll.h>
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
        fprintf(stderr, "linty: %s failed: %d\n", what, rc);
        exit(2);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void spin_ms(long ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
    while (now_ns() < end)
        ;
}

static void run_once(ah_resource_t *r)
{
    check(ah_before(r), "before");
    check(ah_after(r), "after");
}

static long arg_long(int argc, char **argv, int i, long dflt)
{
    return i < argc ? strtol(argv[i], NULL, 10) : dflt;
}

static int mode_never_ran(long n, long ms)
{
    int t = ah_type("REQUEST"), t_idle = ah_type("IDLEWATCH");
    ah_resource_t *r = calloc((size_t)n, sizeof(*r));
    /* A watcher that waits for something that never comes, by design: none of its type ever
     * runs, and that is no warning. */
    ah_resource_t idle = {0};
    check(ah_init(&idle, t_idle, 0), "init IDLEWATCH");
    for (long i = 0; i < n; i++) {
        ah_resource_t ok = {0};
        check(ah_init(&r[i], t, 0), "init REQUEST (forgotten)");
        check(ah_init(&ok, t, 0), "init REQUEST (answered)");
        run_once(&ok);
        check(ah_destroy(&ok), "destroy REQUEST");
    }
    sleep_ms(ms);
    return 0;
}

static int mode_leak_slope(long ms)
{
    int t = ah_type("LEAKY"), t_ok = ah_type("STEADY");
    ah_resource_t *r = calloc((size_t)ms + 1, sizeof(*r));
    ah_resource_t steady[8] = {{0}};
    for (long i = 0; i < ms; i++) {
        check(ah_init(&r[i], t, 0), "init LEAKY");
        run_once(&r[i]);
        /* A type whose live count swings but does not grow. */
        ah_resource_t *s = &steady[i % 8];
        if (ah_resource_is_live(s)) {
            run_once(s);
            check(ah_destroy(s), "destroy STEADY");
        }
        check(ah_init(s, t_ok, 0), "init STEADY");
        sleep_ms(1);
    }
    return 0;
}

static int mode_long_callback(long ms)
{
    int t_slow = ah_type("SLOW"), t_fast = ah_type("FAST");
    for (int i = 0; i < 20; i++) {
        ah_resource_t f = {0};
        check(ah_init(&f, t_fast, 0), "init FAST");
        check(ah_before(&f), "before FAST");
        spin_ms(1);
        check(ah_after(&f), "after FAST");
        check(ah_destroy(&f), "destroy FAST");
        if (i == 10) {
            ah_resource_t s = {0};
            check(ah_init(&s, t_slow, 0), "init SLOW");
            check(ah_before(&s), "before SLOW");
            spin_ms(ms);
            check(ah_after(&s), "after SLOW");
            check(ah_destroy(&s), "destroy SLOW");
        }
    }
    return 0;
}

static int mode_sleepy(long ms)
{
    int t_sleepy = ah_type("SLEEPY"), t_fast = ah_type("FAST");
    for (int i = 0; i < 20; i++) {
        ah_resource_t f = {0};
        check(ah_init(&f, t_fast, 0), "init FAST");
        run_once(&f);
        check(ah_destroy(&f), "destroy FAST");
        sleep_ms(5);
        if (i == 10) {
            ah_resource_t s = {0};
            check(ah_init(&s, t_sleepy, 0), "init SLEEPY");
            check(ah_before(&s), "before SLEEPY");
            sleep_ms(ms);
            check(ah_after(&s), "after SLEEPY");
            check(ah_destroy(&s), "destroy SLEEPY");
        }
    }
    return 0;
}

static int mode_blocker(long ms)
{
    int t_burner = ah_type("BURNER"), t_napper = ah_type("NAPPER");
    for (long waited = 0; waited < ms; waited += 50) {
        ah_resource_t b = {0}, n = {0};
        check(ah_init(&b, t_burner, 0), "init BURNER");
        check(ah_before(&b), "before BURNER");
        spin_ms(20);
        check(ah_after(&b), "after BURNER");
        check(ah_destroy(&b), "destroy BURNER");
        check(ah_init(&n, t_napper, 0), "init NAPPER");
        check(ah_before(&n), "before NAPPER");
        sleep_ms(20);
        check(ah_after(&n), "after NAPPER");
        check(ah_destroy(&n), "destroy NAPPER");
        sleep_ms(10);
    }
    return 0;
}

static int mode_self_retrigger(long n)
{
    int t = ah_type("BUSYTIMER");
    ah_resource_t a = {0}, b = {0};
    ah_resource_t *cur = &a, *next = &b;
    check(ah_init(cur, t, 0), "init BUSYTIMER");
    for (long i = 0; i < n; i++) {
        check(ah_before(cur), "before");
        check(ah_init(next, t, 0), "init BUSYTIMER (re-arm)");
        check(ah_after(cur), "after");
        check(ah_destroy(cur), "destroy");
        ah_resource_t *tmp = cur;
        cur = next;
        next = tmp;
        memset(next, 0, sizeof(*next));
    }
    check(ah_destroy(cur), "destroy last");
    return 0;
}

static int mode_orphan(long ms, long hold_ms)
{
    int t_parent = ah_type("PARENT"), t_child = ah_type("CHILD"), t_server = ah_type("SERVER");
    ah_resource_t p = {0}, done = {0}, left = {0}, server = {0};
    check(ah_init(&p, t_parent, 0), "init PARENT");
    check(ah_before(&p), "before PARENT");
    check(ah_init(&done, t_child, 0), "init CHILD (finished)");
    check(ah_init(&left, t_child, 0), "init CHILD (left behind)");
    check(ah_init(&server, t_server, 0), "init SERVER");
    check(ah_after(&p), "after PARENT");
    /* A parent that lives a while (a connection) is one `top` sees alive at a refresh. */
    sleep_ms(hold_ms);
    run_once(&done);
    check(ah_destroy(&done), "destroy CHILD (finished)");
    check(ah_destroy(&p), "destroy PARENT");
    /* The SERVER it started lives on and serves: not an orphan. The other CHILD is left
     * behind, idle. */
    for (long waited = 0; waited < ms; waited += 100) {
        run_once(&server);
        sleep_ms(100);
    }
    return 0;
}

struct killer {
    ah_resource_t *r;
    volatile int entered, done;
};

static void *killer_thread(void *arg)
{
    struct killer *k = arg;
    while (!k->entered)
        sleep_ms(1);
    check(ah_destroy(k->r), "destroy SHARED from another thread");
    k->done = 1;
    return NULL;
}

static int mode_lifecycle(long n)
{
    int t = ah_type("SHARED"), t_self = ah_type("SELFKILL");
    for (long i = 0; i < n; i++) {
        ah_resource_t r = {0};
        struct killer k = {.r = &r};
        pthread_t th;
        check(ah_init(&r, t, 0), "init SHARED");
        if (pthread_create(&th, NULL, killer_thread, &k) != 0)
            return 2;
        check(ah_before(&r), "before SHARED");
        k.entered = 1;
        while (!k.done)
            sleep_ms(1);
        ah_after(&r); /* its resource is gone: libah still closes the scope */
        pthread_join(th, NULL);
        ah_resource_t self = {0};
        check(ah_init(&self, t_self, 0), "init SELFKILL");
        check(ah_before(&self), "before SELFKILL");
        check(ah_destroy(&self), "destroy SELFKILL in its callback");
        check(ah_after(&self), "after SELFKILL");
    }
    return 0;
}

static int mode_clean(long ms)
{
    int t_tick = ah_type("TICK"), t_work = ah_type("WORK");
    ah_resource_t a = {0}, b = {0};
    ah_resource_t *cur = &a, *next = &b;
    check(ah_init(cur, t_tick, 0), "init TICK");
    for (long waited = 0; waited < ms; waited += 10) {
        sleep_ms(10);
        check(ah_before(cur), "before TICK");
        for (int k = 0; k < 20; k++) {
            ah_resource_t w = {0};
            check(ah_init(&w, t_work, 0), "init WORK");
            run_once(&w);
            check(ah_destroy(&w), "destroy WORK");
        }
        check(ah_init(next, t_tick, 0), "init TICK (re-arm)");
        check(ah_after(cur), "after TICK");
        check(ah_destroy(cur), "destroy TICK");
        ah_resource_t *tmp = cur;
        cur = next;
        next = tmp;
        memset(next, 0, sizeof(*next));
    }
    check(ah_destroy(cur), "destroy last TICK");
    return 0;
}

/* A timer re-armed from its own callback every millisecond: the chain `top` counts as created
 * inside its own type's callback, a thousand links a second, each after a pause. */
static int mode_paced_chain(long ms)
{
    int t = ah_type("PACED");
    ah_resource_t a = {0}, b = {0};
    ah_resource_t *cur = &a, *next = &b;
    check(ah_init(cur, t, 0), "init PACED");
    uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
    while (now_ns() < end) {
        sleep_ms(1);
        check(ah_before(cur), "before PACED");
        check(ah_init(next, t, 0), "init PACED (re-arm)");
        check(ah_after(cur), "after PACED");
        check(ah_destroy(cur), "destroy PACED");
        ah_resource_t *tmp = cur;
        cur = next;
        next = tmp;
        memset(next, 0, sizeof(*next));
    }
    check(ah_destroy(cur), "destroy last PACED");
    return 0;
}

/* A chain of "FSREAD" requests, each created in the callback of the one before, each
 * completed by a worker thread (a read of /proc/self/stat, then a byte on a pipe the loop
 * thread waits on in poll): a long, fast chain that waits for outside work at every link,
 * as a sequential file read through libuv's thread pool does. Not a self-retrigger. */
struct io_pool {
    int to_worker[2], to_loop[2];
};

static void *io_worker(void *arg)
{
    struct io_pool *p = arg;
    char c, buf[512];
    while (read(p->to_worker[0], &c, 1) == 1) {
        int fd = open("/proc/self/stat", O_RDONLY);
        if (fd >= 0) {
            if (read(fd, buf, sizeof(buf)) < 0)
                c = 'e';
            close(fd);
        }
        if (write(p->to_loop[1], &c, 1) != 1)
            break;
    }
    return NULL;
}

static int mode_io_chain(long n)
{
    int t = ah_type("FSREAD");
    struct io_pool p;
    if (pipe(p.to_worker) != 0 || pipe(p.to_loop) != 0)
        return 2;
    pthread_t th;
    if (pthread_create(&th, NULL, io_worker, &p) != 0)
        return 2;
    ah_resource_t a = {0}, b = {0};
    ah_resource_t *cur = &a, *next = &b;
    char c = 'r';
    check(ah_init(cur, t, 0), "init FSREAD");
    if (write(p.to_worker[1], &c, 1) != 1)
        return 2;
    for (long i = 0; i < n; i++) {
        struct pollfd pfd = {.fd = p.to_loop[0], .events = POLLIN};
        if (poll(&pfd, 1, 5000) != 1 || read(p.to_loop[0], &c, 1) != 1)
            return 2;
        check(ah_before(cur), "before FSREAD");
        if (i + 1 < n) {
            check(ah_init(next, t, 0), "init FSREAD (next)");
            if (write(p.to_worker[1], &c, 1) != 1)
                return 2;
        }
        check(ah_after(cur), "after FSREAD");
        check(ah_destroy(cur), "destroy FSREAD");
        ah_resource_t *tmp = cur;
        cur = next;
        next = tmp;
        memset(next, 0, sizeof(*next));
    }
    close(p.to_worker[1]);
    pthread_join(th, NULL);
    return 0;
}

/* For the flight recorder: A ms of clean ticks, one SLOW callback of B ms, C ms of ticks. */
static int mode_spike(long before_ms, long slow_ms, long after_ms)
{
    int t_slow = ah_type("SLOW");
    mode_clean(before_ms);
    ah_resource_t s = {0};
    check(ah_init(&s, t_slow, 0), "init SLOW");
    check(ah_before(&s), "before SLOW");
    spin_ms(slow_ms);
    check(ah_after(&s), "after SLOW");
    check(ah_destroy(&s), "destroy SLOW");
    return mode_clean(after_ms);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: linty MODE [ARGS] (see tests/targets/linty.c)\n");
        return 2;
    }
    const char *m = argv[1];
    if (strcmp(m, "never-ran") == 0)
        return mode_never_ran(arg_long(argc, argv, 2, 10), arg_long(argc, argv, 3, 1500));
    if (strcmp(m, "leak-slope") == 0)
        return mode_leak_slope(arg_long(argc, argv, 2, 2000));
    if (strcmp(m, "long-callback") == 0)
        return mode_long_callback(arg_long(argc, argv, 2, 300));
    if (strcmp(m, "self-retrigger") == 0)
        return mode_self_retrigger(arg_long(argc, argv, 2, 5000));
    if (strcmp(m, "orphan") == 0)
        return mode_orphan(arg_long(argc, argv, 2, 1500), arg_long(argc, argv, 3, 0));
    if (strcmp(m, "blocker") == 0)
        return mode_blocker(arg_long(argc, argv, 2, 5000));
    if (strcmp(m, "sleepy") == 0)
        return mode_sleepy(arg_long(argc, argv, 2, 300));
    if (strcmp(m, "lifecycle") == 0)
        return mode_lifecycle(arg_long(argc, argv, 2, 5));
    if (strcmp(m, "io-chain") == 0)
        return mode_io_chain(arg_long(argc, argv, 2, 5000));
    if (strcmp(m, "spike") == 0)
        return mode_spike(arg_long(argc, argv, 2, 1500), arg_long(argc, argv, 3, 200),
                          arg_long(argc, argv, 4, 1500));
    if (strcmp(m, "paced-chain") == 0)
        return mode_paced_chain(arg_long(argc, argv, 2, 1500));
    if (strcmp(m, "clean") == 0)
        return mode_clean(arg_long(argc, argv, 2, 1500));
    fprintf(stderr, "linty: unknown mode %s\n", m);
    return 2;
}
