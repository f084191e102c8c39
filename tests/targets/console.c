/*
 * console.c - the target of tests/collector/test_console.c (the interactive `ahprof top`):
 * types with known rates, a known trigger chain and hostile names, raised on cue.
 *
 *   console [-n] HELD
 *
 * From the start, until EOF on stdin (or 60 s; with -n stdin is not read and it runs 30 s):
 *   FAST   one lifecycle every 5 ms, its callback returns at once: ~200 callbacks/s, almost
 *          no callback time;
 *   SLOW   one lifecycle every 100 ms, its callback spins 10 ms: ~10 callbacks/s, ~100 ms of
 *          callback time per second.
 * So the busiest-first order puts SLOW above FAST, and callbacks/s puts FAST above SLOW.
 * Prints "ready" once both run. At the first line on stdin (never with -n) it creates, and
 * keeps alive until it exits:
 *   PARENT (trigger: root), whose callback creates CHILD, whose callback creates GRANDCHILD;
 *   one resource of each hostile type: "esc\x1b[31mred\x1b[0m", "new\nline", "bell\a<b>";
 *   then HELD x HELD;
 * and runs one LONG lifecycle whose callback spins 150 ms (over long-callback's 100 ms);
 * and prints "made PARENT CHILD GRANDCHILD" with their ids.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdbool.h>
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
        fprintf(stderr, "console: %s: %s\n", what, ah_strerror(rc));
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

static int t_fast, t_slow;
static volatile int stop;

static void lifecycle(int type, long spin)
{
    ah_resource_t r = {0};
    check(ah_init(&r, type, 0), "init");
    check(ah_before(&r), "before");
    if (spin)
        spin_ms(spin);
    check(ah_after(&r), "after");
    check(ah_destroy(&r), "destroy");
}

static void *ticker(void *arg)
{
    (void)arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (unsigned long tick = 0; !stop; tick++) {
        lifecycle(t_fast, 0);
        if (tick % 20 == 0)
            lifecycle(t_slow, 10);
        next.tv_nsec += 5000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    return NULL;
}

static int t_parent, t_child, t_grandchild;
static ah_resource_t parent, child, grandchild;

static void make_chain(void)
{
    check(ah_init(&parent, t_parent, 0), "init PARENT");
    check(ah_before(&parent), "before PARENT");
    check(ah_init(&child, t_child, 0), "init CHILD");
    check(ah_before(&child), "before CHILD");
    check(ah_init(&grandchild, t_grandchild, 0), "init GRANDCHILD");
    check(ah_after(&child), "after CHILD");
    check(ah_after(&parent), "after PARENT");
}

int main(int argc, char **argv)
{
    bool read_stdin = true;
    int i = 1;
    if (i < argc && strcmp(argv[i], "-n") == 0) {
        read_stdin = false;
        i++;
    }
    long held = i < argc ? atol(argv[i]) : 0;
    if (held < 0 || held > 1000000) {
        fprintf(stderr, "usage: console [-n] HELD\n");
        return 2;
    }
    t_fast = ah_type("FAST");
    t_slow = ah_type("SLOW");
    t_parent = ah_type("PARENT");
    t_child = ah_type("CHILD");
    t_grandchild = ah_type("GRANDCHILD");
    static const char *const hostile[] = {"esc\x1b[31mred\x1b[0m", "new\nline", "bell\a<b>"};
    int t_hostile[3];
    for (int k = 0; k < 3; k++)
        check(t_hostile[k] = ah_type(hostile[k]), "type");
    int t_held = ah_type("HELD"), t_long = ah_type("LONG");
    check(t_fast, "type");
    check(t_held, "type");
    pthread_t th;
    if (pthread_create(&th, NULL, ticker, NULL) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    if (!read_stdin) {
        sleep(30);
        stop = 1;
        pthread_join(th, NULL);
        return 0;
    }
    char line[256];
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    bool made = false;
    for (int waited = 0; waited < 600; waited++) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (fgets(line, sizeof(line), stdin) == NULL)
            break;
        if (made)
            continue;
        made = true;
        make_chain();
        static ah_resource_t hostile_res[3];
        for (int k = 0; k < 3; k++)
            check(ah_init(&hostile_res[k], t_hostile[k], 0), "init hostile");
        ah_resource_t *h = calloc((size_t)(held ? held : 1), sizeof(*h));
        for (long k = 0; k < held; k++)
            check(ah_init(&h[k], t_held, 0), "init HELD");
        lifecycle(t_long, 150);
        printf("made %llu %llu %llu\n", (unsigned long long)ah_resource_id(&parent),
               (unsigned long long)ah_resource_id(&child),
               (unsigned long long)ah_resource_id(&grandchild));
        fflush(stdout);
    }
    stop = 1;
    pthread_join(th, NULL);
    return 0;
}
