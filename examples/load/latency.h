/*
 * latency.h - a log-linear latency histogram: fixed memory however long the run, about 3%
 * relative precision (32 buckets per power of two).
 */
#ifndef LOAD_LATENCY_H
#define LOAD_LATENCY_H

#include <stdint.h>

#define LATENCY_BUCKETS (64 + 58 * 32)

struct latency {
    uint64_t count;
    uint64_t max_ns;
    uint64_t buckets[LATENCY_BUCKETS];
};

void latency_add(struct latency *l, uint64_t ns);

/* The latency below which a fraction Q (0..1) of the samples fall, in ns (bucket upper
 * bound, so never optimistic); 0 without samples. */
uint64_t latency_quantile(const struct latency *l, double q);

#endif
