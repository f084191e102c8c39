/*
 * test_decode_hist_slot.c - the decoder buckets callback and pending times with a bit scan
 * (ahp_hist_slot_fast), the BPF side with ahp_hist_slot's branch-free steps: their per-type
 * histograms are added together, so both must give the same slot for every duration.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "batch_rules.h"

Test(decode_hist_slot, same_slot_as_the_bpf_side_around_every_power_of_two)
{
    for (unsigned bit = 0; bit < 64; bit++) {
        __u64 p = 1ull << bit;
        __u64 near[] = {p - 2, p - 1, p, p + 1, p + 2, p | (p >> 1), p * 2 - 1};
        for (unsigned i = 0; i < sizeof(near) / sizeof(near[0]); i++)
            cr_assert_eq(ahp_hist_slot_fast(near[i]), ahp_hist_slot(near[i]), "v=%llu",
                         (unsigned long long)near[i]);
    }
    cr_assert_eq(ahp_hist_slot_fast(UINT64_MAX), AHP_HIST_SLOTS - 1);
    cr_assert_eq(ahp_hist_slot_fast(0), 0);
}

Test(decode_hist_slot, same_slot_as_the_bpf_side_up_to_a_million_and_spread_beyond)
{
    for (__u64 v = 0; v < 1000000; v++)
        cr_assert_eq(ahp_hist_slot_fast(v), ahp_hist_slot(v), "v=%llu", (unsigned long long)v);
    __u64 x = 88172645463325252ull;
    for (int i = 0; i < 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        __u64 v = x >> (x & 63);
        cr_assert_eq(ahp_hist_slot_fast(v), ahp_hist_slot(v), "v=%llu", (unsigned long long)v);
    }
}
