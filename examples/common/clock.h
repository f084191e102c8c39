/*
 * clock.h - the one clock both example programs measure with.
 */
#ifndef EXAMPLES_CLOCK_H
#define EXAMPLES_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)

/* CLOCK_MONOTONIC: the clock the kernel stamps BPF events with (bpf_ktime_get_ns), so times
 * printed here line up with what ahprof measures; it is also a vDSO call, no system call. */
static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif
