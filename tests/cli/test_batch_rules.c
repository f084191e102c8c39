/* test_batch_rules.c - the rules the BPF walk and the decoder share (src/contracts/
 * batch_rules.h), where their form is not the obvious one: ahp_hist_slot is branch-free for the
 * verifier's sake and must still be floor(log2(v)), clamped to the last slot. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "batch_rules.h"

static uint32_t expected_slot(uint64_t v)
{
    if (v < 2)
        return 0;
    uint32_t s = 63u - (uint32_t)__builtin_clzll(v);
    return s < AHP_HIST_SLOTS ? s : AHP_HIST_SLOTS - 1;
}

Test(batch_rules, hist_slot_is_floor_log2_around_every_power_of_two)
{
    for (int bit = 0; bit < 64; bit++)
        for (int d = -3; d <= 3; d++) {
            uint64_t v = (1ull << bit) + (uint64_t)(int64_t)d;
            cr_assert_eq(ahp_hist_slot(v), expected_slot(v), "v=%llu", (unsigned long long)v);
        }
    cr_assert_eq(ahp_hist_slot(UINT64_MAX), AHP_HIST_SLOTS - 1);
}

Test(batch_rules, hist_slot_is_floor_log2_up_to_a_million)
{
    for (uint64_t v = 0; v < 1000000; v++)
        cr_assert_eq(ahp_hist_slot(v), expected_slot(v), "v=%llu", (unsigned long long)v);
}
