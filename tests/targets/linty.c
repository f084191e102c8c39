/*
 * linty.c - a libah program with one mode per lint (docs/lints.md), for tests/collector/
 * test_lints.c: each mode does the one wrong thing its lint is about, and "clean" does the
 * look-alike right things (a periodic timer that re-arms itself with a pause, short callbacks,
 * resources that run and go), where no lint may fire.
 *
 *   linty never-ran N MS      N "FORGOTTEN" resources never run, then MS ms of waiting
 *   linty leak-slope MS       one "LEAKY" every ms for MS ms, each run once, never destroyed
 *   linty long-callback MS    one "SLOW" callback of MS ms between short "FAST" ones
 *   linty self-retrigger N    a "BUSYTIMER" that re-creates itself in its callback N times,
 *                             no pause
 *   linty orphan MS           a "PARENT" creates a "CHILD" in its callback and is destroyed;
 *                             the child lives MS ms more
 *   linty lifecycle N         N "SHARED" resources destroyed by another thread while their
 *                             callback runs (and N "SELFKILL" destroyed inside their own
 *                             callback, which libah allows: no warning for those)
 *   linty clean MS            MS ms of a "TICK" that re-arms itself every 10 ms, "WORK" that
 *                             runs and goes
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    int t = ah_type("FORGOTTEN"), t_ok = ah_type("ANSWERED");
    ah_resource_t *r = calloc((size_t)n, sizeof(*r));
    for (long i = 0; i < n; i++) {
        ah_resource_t ok = {0};
        check(ah_init(&r[i], t, 0), "init FORGOTTEN");
        check(ah_init(&ok, t_ok, 0), "init ANSWERED");
        run_once(&ok);
        check(ah_destroy(&ok), "destroy ANSWERED");
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

static int mode_orphan(long ms)
{
    int t_parent = ah_type("PARENT"), t_child = ah_type("CHILD");
    ah_resource_t p = {0}, c = {0};
    check(ah_init(&p, t_parent, 0), "init PARENT");
    check(ah_before(&p), "before PARENT");
    check(ah_init(&c, t_child, 0), "init CHILD");
    check(ah_after(&p), "after PARENT");
    check(ah_destroy(&p), "destroy PARENT");
    /* The child runs now and then: not forgotten, only orphaned. */
    for (long waited = 0; waited < ms; waited += 100) {
        run_once(&c);
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
        return mode_orphan(arg_long(argc, argv, 2, 1500));
    if (strcmp(m, "lifecycle") == 0)
        return mode_lifecycle(arg_long(argc, argv, 2, 5));
    if (strcmp(m, "clean") == 0)
        return mode_clean(arg_long(argc, argv, 2, 1500));
    fprintf(stderr, "linty: unknown mode %s\n", m);
    return 2;
}
