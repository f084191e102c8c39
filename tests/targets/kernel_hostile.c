/*
 * kernel_hostile.c - a libah program that lies in the execution stack the kernel view reads
 * (tests/collector/test_kernel_view.c). Linked with libah.a to reach libah's internals
 * (src/lib/internal.h).
 *
 *   kernel_hostile KIND    the main thread enters a HOSTILE callback, prints "ready", waits
 *                          for a line, then damages its execution stack as KIND says and,
 *                          inside the callback, spins 300 ms of thread CPU time and sleeps
 *                          5 x 20 ms; then restores everything, leaves the callback, prints
 *                          "done" and waits for stdin to close.
 *     frames    the frames pointer points into page 0
 *     depth     a depth of 2^32-1
 *     resource  the innermost frame's resource pointer is wild
 *     type      the resource's type is 1000
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static volatile uint64_t sink;

static void spin_cpu(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    uint64_t end = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns;
    for (;;) {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= end)
            return;
        for (int i = 0; i < 1000; i++)
            sink += (uint64_t)i;
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *kind = argc > 1 ? argv[1] : "";
    static ah_resource_t r;
    int type = ah_type("HOSTILE");
    if (type < 0 || ah_init(&r, type, 0) < 0 || ah_before(&r) < 0)
        return 1;
    struct ah_thread *t = ah__self;
    struct ah_frame *saved_stack = t->stack, saved_frame = t->stack[0];
    uint32_t saved_depth = t->depth;
    int32_t saved_type = r.type;
    puts("ready");
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return 1;
    if (strcmp(kind, "frames") == 0)
        t->stack = (struct ah_frame *)(uintptr_t)0x10;
    else if (strcmp(kind, "depth") == 0)
        t->depth = UINT32_MAX;
    else if (strcmp(kind, "resource") == 0)
        t->stack[0].resource = (ah_resource_t *)(uintptr_t)0xdead0000;
    else if (strcmp(kind, "type") == 0)
        r.type = 1000;
    else {
        fprintf(stderr, "usage: kernel_hostile frames|depth|resource|type\n");
        return 2;
    }
    spin_cpu(300000000ull);
    for (int i = 0; i < 5; i++) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    r.type = saved_type;
    t->stack = saved_stack;
    t->depth = saved_depth;
    t->stack[0] = saved_frame;
    if (ah_after(&r) < 0 || ah_destroy(&r) < 0)
        return 1;
    puts("done");
    while (fgets(line, sizeof(line), stdin) != NULL)
        ;
    return 0;
}
