/*
 * countcalls.c - a preloaded library that counts the main thread's allocations and mutex
 * locks and writes them to $UV_COUNT_FILE at exit ("allocs N locks N"). Preloaded with and
 * without libah-uv.so in front of a program whose work scales with its argument, it shows
 * whether the interposer allocates or locks per handle, request or callback
 * (tests/uv/test_uv.c). The counting is tests/support/callcount.c's, linked in.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "callcount.h"

static pthread_t main_thread;

__attribute__((constructor)) static void count_start(void)
{
    main_thread = pthread_self();
}

__attribute__((destructor)) static void count_report(void)
{
    const char *path = getenv("UV_COUNT_FILE");
    if (path == NULL || !pthread_equal(pthread_self(), main_thread))
        return;
    long a = callcount_allocs, l = callcount_locks;
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "allocs %ld locks %ld\n", a, l);
        fclose(f);
    }
}
