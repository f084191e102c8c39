/* test_live_scan.c - top's live never-ran and orphan (model/lints.c, docs/lints.md) on a live
 * table built by hand, slot by slot as the BPF walk fills it: an orphan needs a trigger seen
 * alive by one scan and gone at a later one, for more than T, with no callback of the child
 * since; never-ran needs no first callback for more than T; both only in the types report
 * would judge; the trigger map stays bounded; long-callback carries the blocking it is given.
 * Also under ASan (mk/datafile.mk). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model/lints.h"

#define SLOTS 1024
#define S 1000000000ull

static struct ahp_live table[1 << 17];
static size_t slots = SLOTS;
static struct ahp_type_stats now[AHP_TYPE_MAX];
static int64_t active[AHP_TYPE_MAX];
static char names[AHP_TYPE_MAX][AHP_NAME_SIZE];
static uint64_t oldest[AHP_TYPE_MAX], tracked[AHP_TYPE_MAX];
static struct ahp_live_lints *l;

static void setup(void)
{
    memset(table, 0, sizeof(table));
    memset(now, 0, sizeof(now));
    slots = SLOTS;
    struct ahp_lint_opts o;
    ahp_lint_opts_default(&o);
    o.orphan_ns = 1 * S;
    o.never_ran_ns = 1 * S;
    cr_assert_eq(ahp_live_lints_new(&l, &o), 0);
    /* CHILD (type 1) runs and ends: report would judge both lints on it. */
    now[1].callbacks = now[1].destroyed = 1;
}

static void teardown(void)
{
    ahp_live_lints_free(l);
}

TestSuite(live_scan, .init = setup, .fini = teardown);

static void put(uint64_t id, int32_t type, uint64_t init_ns, uint64_t trigger, uint64_t first,
                uint64_t last)
{
    struct ahp_live *s = &table[id & (slots - 1)];
    *s = (struct ahp_live){.id = id,
                           .init_ns = init_ns,
                           .type = type,
                           .trigger_id = trigger,
                           .first_cb_ns = first,
                           .last_cb_ns = last};
}

static void destroy(uint64_t id)
{
    table[id & (slots - 1)].id = 0;
}

/* A scan and an update at T: the warnings of LINT, in *W (NULL if none). */
static uint32_t judge(uint64_t t, int lint, const struct ahp_live_warning **w)
{
    ahp_live_lints_scan(l, table, slots, t, oldest, tracked, NULL, NULL);
    const struct ahp_live_warning *out;
    uint32_t n = ahp_live_lints_update(l, t, now, active, names, &out), found = 0;
    *w = NULL;
    for (uint32_t i = 0; i < n; i++)
        if (out[i].lint == lint) {
            found++;
            *w = &out[i];
        }
    return found;
}

Test(live_scan, orphan_after_its_trigger_was_seen_alive_then_gone_for_t)
{
    const struct ahp_live_warning *w;
    put(2, 0, 1 * S, 1, 1 * S, 1 * S);                /* PARENT, ran */
    put(3, 1, 1 * S + 10, 2, 1 * S + 20, 1 * S + 20); /* CHILD, made in its callback, ran */
    cr_expect_eq(judge(2 * S, AHP_LINT_ORPHAN, &w), 0, "the trigger is alive");
    destroy(2);
    cr_expect_eq(judge(3 * S, AHP_LINT_ORPHAN, &w), 0, "gone since this scan only");
    cr_expect_eq(judge(4 * S, AHP_LINT_ORPHAN, &w), 0, "gone 1 s: not more than T");
    cr_assert_eq(judge(4 * S + 1, AHP_LINT_ORPHAN, &w), 1, "gone more than T");
    cr_expect_eq(w->type, 1);
    cr_expect_eq(w->count, 1);
    cr_expect_eq(w->id, 3);
    cr_expect_eq(w->trigger_id, 2);
    cr_expect_eq(w->age_ns, 1 * S + 1, "counted from the scan that found it gone");
    destroy(3);
    cr_expect_eq(judge(5 * S, AHP_LINT_ORPHAN, &w), 0, "the child ended");
}

Test(live_scan, no_orphan_when_the_trigger_was_never_seen_alive)
{
    const struct ahp_live_warning *w;
    /* Its trigger lived between two scans, or before the attach: never judged. */
    put(3, 1, 1 * S, 2, 1 * S, 1 * S);
    for (uint64_t t = 2; t < 10; t++)
        cr_expect_eq(judge(t * S, AHP_LINT_ORPHAN, &w), 0, "at %llu s", (unsigned long long)t);
}

Test(live_scan, no_orphan_when_the_child_ran_since_or_its_type_never_ends)
{
    const struct ahp_live_warning *w;
    put(2, 0, 1 * S, 1, 1 * S, 1 * S);
    put(3, 1, 1 * S, 2, 1 * S, 1 * S);     /* idle since before the last scan saw 2 */
    put(4, 2, 1 * S, 2, 1 * S, 2 * S + 5); /* a SERVER: ran after that scan */
    judge(2 * S, AHP_LINT_ORPHAN, &w);
    destroy(2);
    judge(3 * S, AHP_LINT_ORPHAN, &w);
    now[2].callbacks = now[2].destroyed = 1;
    cr_assert_eq(judge(5 * S, AHP_LINT_ORPHAN, &w), 1, "only CHILD");
    cr_expect_eq(w->type, 1);
    /* A type none of whose resources ever ended (a long-lived handle): never an orphan. */
    now[1].destroyed = 0;
    cr_expect_eq(judge(6 * S, AHP_LINT_ORPHAN, &w), 0);
}

Test(live_scan, never_ran_after_t_in_a_type_that_runs)
{
    const struct ahp_live_warning *w;
    put(5, 1, 1 * S, 1, 0, 0);
    put(6, 1, 1 * S + 100, 1, 0, 0);
    put(7, 1, 1 * S, 1, 1 * S + 5, 1 * S + 5); /* ran */
    put(8, 3, 1 * S, 1, 0, 0);                 /* IDLEWATCH: its type never runs */
    cr_expect_eq(judge(2 * S, AHP_LINT_NEVER_RAN, &w), 0, "1 s old: not more than T");
    cr_assert_eq(judge(3 * S, AHP_LINT_NEVER_RAN, &w), 1, "REQUEST only");
    cr_expect_eq(w->type, 1);
    cr_expect_eq(w->count, 2);
    cr_expect_eq(w->id, 5, "the oldest");
    cr_expect_eq(w->age_ns, 2 * S);
    /* It runs: gone from the warning at the next scan. */
    put(5, 1, 1 * S, 1, 3 * S + 1, 3 * S + 1);
    put(6, 1, 1 * S + 100, 1, 3 * S + 1, 3 * S + 1);
    cr_expect_eq(judge(4 * S, AHP_LINT_NEVER_RAN, &w), 0);
}

Test(live_scan, allow_silences_on_one_type)
{
    struct ahp_lint_opts o;
    ahp_lint_opts_default(&o);
    o.never_ran_ns = 1 * S;
    cr_assert_eq(ahp_lint_allow_parse(&o, "never-ran:REQUEST"), 0);
    ahp_live_lints_free(l);
    cr_assert_eq(ahp_live_lints_new(&l, &o), 0);
    strcpy(names[1], "REQUEST");
    put(5, 1, 1 * S, 1, 0, 0);
    const struct ahp_live_warning *w;
    cr_expect_eq(judge(3 * S, AHP_LINT_NEVER_RAN, &w), 0);
    names[1][0] = '\0';
}

/* 70 000 children of 70 000 parents, all seen alive, all parents gone: the map follows 65536
 * triggers at most (a lower bound, never more), and forgets them once the children end. */
Test(live_scan, the_trigger_map_is_bounded_and_forgets)
{
    const struct ahp_live_warning *w;
    slots = 1 << 17;
    const uint64_t n = 70000;
    for (uint64_t i = 0; i < n; i++) {
        put(2 + 2 * i, 0, 1 * S, 1, 1 * S, 1 * S);
        put(3 + 2 * i, 1, 1 * S, 2 + 2 * i, 0, 0);
    }
    judge(2 * S, AHP_LINT_ORPHAN, &w);
    for (uint64_t i = 0; i < n; i++)
        destroy(2 + 2 * i);
    judge(3 * S, AHP_LINT_ORPHAN, &w);
    cr_assert_eq(judge(5 * S, AHP_LINT_ORPHAN, &w), 1);
    cr_expect_eq(w->count, 65536);
    for (uint64_t i = 0; i < n; i++)
        destroy(3 + 2 * i);
    cr_expect_eq(judge(6 * S, AHP_LINT_ORPHAN, &w), 0);
    /* The map was emptied: new triggers are followed again. */
    put(200002, 0, 6 * S, 1, 6 * S, 6 * S);
    put(200003, 1, 6 * S, 200002, 0, 0);
    judge(7 * S, AHP_LINT_ORPHAN, &w);
    destroy(200002);
    judge(8 * S, AHP_LINT_ORPHAN, &w);
    cr_assert_eq(judge(10 * S, AHP_LINT_ORPHAN, &w), 1);
    cr_expect_eq(w->count, 1);
}

Test(live_scan, long_callback_carries_the_blocking_it_is_given)
{
    now[4].max_ns = 300000000;
    now[4].hist[28] = 1; /* [2^28, 2^29) ns: wholly above 100 ms */
    now[4].callback_ns = 400000000;
    static struct ahp_live_blocking b;
    b.on = true;
    b.blocked_ns[4] = 300000000;
    b.nreasons[4] = 1;
    b.reason[4][0] = 230; /* clock_nanosleep on x86-64 */
    b.reason_ns[4][0] = 290000000;
    const struct ahp_live_warning *out;
    uint32_t n = ahp_live_lints_update_kernel(l, 1 * S, now, active, names, &b, &out);
    cr_assert_eq(n, 1);
    cr_expect_eq(out[0].lint, AHP_LINT_LONG_CALLBACK);
    cr_expect(out[0].kernel);
    cr_expect_eq(out[0].blocked_ns, 300000000);
    cr_expect_eq(out[0].callback_ns, 400000000);
    cr_expect_eq(out[0].nreasons, 1);
    cr_expect_eq(out[0].reason[0], 230);
    n = ahp_live_lints_update(l, 2 * S, now, active, names, &out);
    cr_assert_eq(n, 1);
    cr_expect(!out[0].kernel, "without the kernel view: unknown, not zero");
}
