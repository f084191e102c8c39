/*
 * latency.c - the histogram's buckets: exact below 64 ns, then 32 per power of two.
 */
#include "latency.h"

static unsigned bucket_of(uint64_t ns)
{
    if (ns < 64)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = msb - 5;
    return 64 + (msb - 6) * 32 + (unsigned)((ns >> shift) & 31);
}

static uint64_t bucket_upper(unsigned bucket)
{
    if (bucket < 64)
        return bucket;
    unsigned msb = (bucket - 64) / 32 + 6;
    unsigned sub = (bucket - 64) % 32;
    unsigned shift = msb - 5;
    return ((uint64_t)(32 + sub + 1) << shift) - 1;
}

void latency_add(struct latency *l, uint64_t ns)
{
    l->buckets[bucket_of(ns)]++;
    l->count++;
    if (ns > l->max_ns)
        l->max_ns = ns;
}

uint64_t latency_quantile(const struct latency *l, double q)
{
    if (!l->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)l->count);
    if (rank >= l->count)
        rank = l->count - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LATENCY_BUCKETS; b++) {
        seen += l->buckets[b];
        if (seen > rank) {
            uint64_t upper = bucket_upper(b);
            return upper < l->max_ns ? upper : l->max_ns;
        }
    }
    return l->max_ns;
}
