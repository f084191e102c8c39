/*
 * test_merge.c - the reorder window of the batch path (src/cli/collect/merge.c): time order across
 * threads, and memory bounded by max_held whatever the number of events or of threads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "collect/merge.h"

struct sink {
    uint64_t ts[8192];
    size_t n;
};

static int collect(const struct ahp_event *ev, void *ctx)
{
    struct sink *s = ctx;
    if (s->n < sizeof(s->ts) / sizeof(s->ts[0]))
        s->ts[s->n] = ev->ts_ns;
    s->n++;
    return 0;
}

static struct ahp_event event(uint32_t tid, uint64_t ts)
{
    struct ahp_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.tid = tid;
    ev.ts_ns = ts;
    return ev;
}

Test(merge, threads_come_out_in_time_order)
{
    struct ahp_merge m = {.max_held = 0};
    /* Three threads, each in its own order, interleaved in time. */
    for (uint64_t i = 0; i < 3000; i++) {
        struct ahp_event ev = event((uint32_t)(100 + i % 3), 10 + i);
        cr_assert_eq(ahp_merge_push(&m, &ev), 0);
    }
    static struct sink s;
    s.n = 0;
    cr_assert_eq(ahp_merge_release(&m, 1009, collect, &s), 0);
    cr_expect_eq(s.n, 1000, "released %zu events up to the horizon", s.n);
    cr_assert_eq(ahp_merge_release(&m, UINT64_MAX, collect, &s), 0);
    cr_expect_eq(s.n, 3000);
    for (size_t i = 1; i < s.n; i++)
        cr_assert_lt(s.ts[i - 1], s.ts[i], "out of order at %zu", i);
    cr_expect_eq(m.late, 0);
    cr_expect_eq(m.held, 0);
    ahp_merge_free(&m);
}

Test(merge, the_pool_never_exceeds_max_held)
{
    struct ahp_merge m = {.max_held = 4096};
    uint64_t ts = 1;
    for (int i = 0; i < 4096; i++) {
        struct ahp_event ev = event(7, ts++);
        cr_assert_eq(ahp_merge_push(&m, &ev), 0, "push %d", i);
    }
    struct ahp_event more = event(8, ts++);
    cr_expect_eq(ahp_merge_push(&m, &more), -ENOBUFS);
    cr_expect_eq(m.held, 4096);
    static struct sink s;
    s.n = 0;
    /* A released block serves any thread. */
    cr_assert_eq(ahp_merge_release_count(&m, 1024, collect, &s), 0);
    cr_expect_eq(s.n, 1024);
    cr_expect_eq(ahp_merge_push(&m, &more), 0);
    cr_expect_eq(m.blocks, 4, "%zu blocks for 4096 events", m.blocks);
    ahp_merge_free(&m);
}

Test(merge, thread_churn_does_not_grow_it)
{
    struct ahp_merge m = {.max_held = 2048};
    static struct sink s;
    s.n = 0;
    /* 100000 short-lived threads, one event each, passed on as they come. */
    for (uint32_t tid = 1; tid <= 100000; tid++) {
        struct ahp_event ev = event(tid, tid);
        cr_assert_eq(ahp_merge_push(&m, &ev), 0, "tid %u", tid);
        cr_assert_eq(ahp_merge_release(&m, UINT64_MAX, collect, &s), 0);
    }
    cr_expect_eq(s.n, 100000);
    cr_expect_leq(m.nqueues, 1, "%zu queues", m.nqueues);
    cr_expect_leq(m.blocks, 1, "%zu blocks", m.blocks);
    ahp_merge_free(&m);
}

Test(merge, a_window_smaller_than_a_block_still_takes_a_block)
{
    struct ahp_merge m = {.max_held = 10};
    for (int i = 0; i < 1024; i++) {
        struct ahp_event ev = event(1, (uint64_t)i + 1);
        cr_assert_eq(ahp_merge_push(&m, &ev), 0, "push %d", i);
    }
    struct ahp_event ev = event(1, 2000);
    cr_expect_eq(ahp_merge_push(&m, &ev), -ENOBUFS);
    cr_expect_eq(m.blocks, 1);
    ahp_merge_free(&m);
}

/* What the merge must give, one event at a time: the oldest queue head, ties to the queue
 * that came first. */
struct ref_event {
    uint32_t tid;
    uint64_t ts, id;
    int queue; /* order of the thread's first push */
};

static int collect_ids(const struct ahp_event *ev, void *ctx)
{
    struct sink *s = ctx;
    if (s->n < sizeof(s->ts) / sizeof(s->ts[0]))
        s->ts[s->n] = ev->id;
    s->n++;
    return 0;
}

Test(merge, runs_give_the_order_of_one_event_at_a_time)
{
    /* Four threads with equal timestamps across them, time going back within one (a late
     * event), horizons that cut runs in the middle, and counts that stop a run early. */
    enum { N = 4000, T = 4 };
    static struct ref_event all[N];
    uint64_t ts[T] = {0, 0, 5, 5};
    for (int i = 0; i < N; i++) {
        int t = (i * 7 + i / 13) % T;
        ts[t] += (uint64_t)((i * 31) % 5); /* 0: the same time as the event before */
        if (i % 97 == 0 && ts[t] > 3)
            ts[t] -= 3;
        all[i] = (struct ref_event){.tid = 200 + (uint32_t)t, .ts = ts[t], .id = (uint64_t)i};
    }
    struct ahp_merge m = {.max_held = 0};
    int first_seen[T];
    int nqueues = 0;
    for (int t = 0; t < T; t++)
        first_seen[t] = -1;
    for (int i = 0; i < N; i++) {
        struct ahp_event ev = event(all[i].tid, all[i].ts);
        ev.id = all[i].id;
        cr_assert_eq(ahp_merge_push(&m, &ev), 0);
        int t = (int)all[i].tid - 200;
        if (first_seen[t] < 0)
            first_seen[t] = nqueues++;
        all[i].queue = first_seen[t];
    }
    /* The reference: per-thread FIFOs, the smallest head wins, ties to the lower queue. */
    static int next[T], order[T][N], len[T];
    for (int i = 0; i < N; i++) {
        int q = all[i].queue;
        order[q][len[q]++] = i;
    }
    static uint64_t want[N];
    int nwant = 0;
    for (;;) {
        int best = -1;
        for (int q = 0; q < T; q++)
            if (next[q] < len[q] &&
                (best < 0 || all[order[q][next[q]]].ts < all[order[best][next[best]]].ts))
                best = q;
        if (best < 0)
            break;
        want[nwant++] = all[order[best][next[best]++]].id;
    }
    static struct sink s;
    s.n = 0;
    cr_assert_eq(ahp_merge_release_count(&m, 7, collect_ids, &s), 0);
    cr_assert_eq(ahp_merge_release(&m, 900, collect_ids, &s), 0);
    cr_assert_eq(ahp_merge_release_count(&m, 1, collect_ids, &s), 0);
    cr_assert_eq(ahp_merge_release(&m, 2000, collect_ids, &s), 0);
    cr_assert_eq(ahp_merge_release(&m, UINT64_MAX, collect_ids, &s), 0);
    cr_assert_eq(s.n, (size_t)N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(s.ts[i], want[i], "event %d: id %llu, want %llu", i,
                     (unsigned long long)s.ts[i], (unsigned long long)want[i]);
    ahp_merge_free(&m);
}
