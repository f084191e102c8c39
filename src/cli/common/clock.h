/* clock.h - the one clock ahprof's timings use: CLOCK_MONOTONIC in ns, the clock BPF's
 * bpf_ktime_get_ns() reads too. */
#ifndef AHP_CLOCK_H
#define AHP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ahp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall-clock time in ns, for the start time a recording states (never for durations). */
static inline uint64_t ahp_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
