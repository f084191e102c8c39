/*
 * handover.c - a libah program whose threads hand their batches over in the order that once
 * lost a callback's time in `record` (tests/collector/test_handover.c): a switch-out reads
 * every record of a generation, then the thread flushes that generation with nothing new in
 * it, and its next generation starts with the after of a callback the first one opened.
 *
 *   handover N   N x SPAN on the main thread: init, before, a 2 ms sleep (the thread is
 *                switched out: ahprof reads init and before), ah_flush() inside the callback
 *                (nothing new since the read), after, destroy. Prints "done N" and exits 0.
 *                SPAN: N created, run once (each >= 2 ms) and destroyed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ah.h"

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "handover: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

/* Long enough that the thread blocks (a switch-out), whatever the timer slack. */
static void block_2ms(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 2000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (argc != 2 || n < 1 || n > 100000) {
        fprintf(stderr, "usage: handover N (1 <= N <= 100000)\n");
        return 2;
    }
    int t_span = ah_type("SPAN");
    check(t_span, "type SPAN");
    for (long i = 0; i < n; i++) {
        ah_resource_t r;
        check(ah_init(&r, t_span, 0), "init");
        check(ah_before(&r), "before");
        block_2ms();
        check(ah_flush(), "flush");
        check(ah_after(&r), "after");
        check(ah_destroy(&r), "destroy");
    }
    printf("done %ld\n", n);
    return 0;
}
