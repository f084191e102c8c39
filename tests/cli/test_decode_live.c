/*
 * test_decode_live.c - top's aggregates as the collector's decoder keeps them (decode.c): the
 * per-type counters and the table of live resources (src/contracts/live_rules.h), fed with
 * batches of several threads whose order of arrival is not the order of the events (a destroy
 * decoded before its init). No BPF: the messages are crafted as the BPF side streams them, one
 * flushed generation per hand-over.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "batch_rules.h"
#include "live_rules.h"
#include "collect/decode.h"

#define NSLOTS 1024
#define FROM_NS 1000000000ull /* lifecycle_from_ns: the probes were attached then */
#define T0 (FROM_NS + 1000000ull)
#define NTHREADS 3
enum { A, B, C };

/* One thread's batch buffer, as libah fills it. For a destroy, where its resource's init was
 * put (thread, generation): to tell a destroy handed over before its init. */
struct thread_buf {
    uint32_t tid;
    uint64_t gen, seq;
    uint32_t count;
    struct ahp_batch_record rec[AHP_BATCH_RECORDS];
    int init_thread[AHP_BATCH_RECORDS];
    uint64_t init_gen[AHP_BATCH_RECORDS];
};

/* A decoder, the live table it writes (or none), its threads and what it handed over. */
struct fixture {
    struct ahp_decoder dec;
    struct ahp_live live[NSLOTS];
    struct thread_buf thr[NTHREADS];
    struct ahp_event *ev;
    size_t nev, cap;
    uint64_t destroys_before_init; /* destroys handed over before their init's batch */
};

static struct fixture fixtures[2];
static struct fixture *fx = &fixtures[0];

static void fixture_init(struct fixture *f, bool keep_live)
{
    memset(f, 0, sizeof(*f));
    f->dec.rate.ns_per_tick = 1.0;
    f->dec.live = keep_live ? f->live : NULL;
    f->dec.live_mask = NSLOTS - 1;
    f->dec.lifecycle_from_ns = FROM_NS;
    for (int t = 0; t < NTHREADS; t++) {
        f->thr[t].tid = 1000 + 111 * (uint32_t)t;
        f->thr[t].seq = 10 * (uint64_t)t;
    }
}

static void setup(void)
{
    fixture_init(&fixtures[0], true);
    fixture_init(&fixtures[1], false);
    fx = &fixtures[0];
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        ahp_decoder_free(&fixtures[i].dec);
        free(fixtures[i].ev);
    }
}

TestSuite(decode_live, .init = setup, .fini = teardown);

static int on_run(struct ahp_event *ev, size_t n, void *ctx)
{
    struct fixture *f = ctx;
    if (f->nev + n > f->cap) {
        f->cap = (f->nev + n) * 2;
        f->ev = realloc(f->ev, f->cap * sizeof(*f->ev));
        cr_assert_not_null(f->ev);
    }
    memcpy(f->ev + f->nev, ev, n * sizeof(*ev));
    f->nev += n;
    return 0;
}

/* Thread T's record of KIND for ID of TYPE at TS (ns: the batches' clock is CLOCK_MONOTONIC). */
static void put(int t, uint8_t kind, uint64_t id, int32_t type, uint64_t ts)
{
    struct thread_buf *b = &fx->thr[t];
    cr_assert_lt(b->count, AHP_BATCH_RECORDS);
    struct ahp_batch_record *r = &b->rec[b->count];
    memset(r, 0, sizeof(*r));
    r->ticks = ts;
    r->id = id;
    r->arg = kind == AHP_EV_INIT ? 1 : 0;
    r->type = type;
    r->kind = kind;
    b->init_thread[b->count] = t;
    b->init_gen[b->count] = b->gen;
    b->count++;
}

static void init(int t, uint64_t id, int32_t type, uint64_t ts)
{
    put(t, AHP_EV_INIT, id, type, ts);
}

static void destroy(int t, uint64_t id, int32_t type, uint64_t ts)
{
    put(t, AHP_EV_DESTROY, id, type, ts);
}

static void before(int t, uint64_t id, int32_t type, uint64_t ts)
{
    put(t, AHP_EV_BEFORE, id, type, ts);
}

static void after(int t, uint64_t id, int32_t type, uint64_t ts)
{
    put(t, AHP_EV_AFTER, id, type, ts);
}

/* Hand thread T's records over as one message, flushed (libah's flush: the next records are
 * the next generation's). */
static void send(int t)
{
    struct thread_buf *b = &fx->thr[t];
    for (uint32_t i = 0; i < b->count; i++) {
        int it = b->init_thread[i];
        if (b->rec[i].kind == AHP_EV_DESTROY && it != t && fx->thr[it].gen <= b->init_gen[i])
            fx->destroys_before_init++;
    }
    static struct ahp_ring_batch m;
    memset(&m, 0, sizeof(m));
    m.pid = 77;
    m.first = 0;
    m.flags = AHP_RING_FLUSHED;
    struct ahp_batch_header *h = &m.batch.hdr;
    h->version = AHP_BATCH_VERSION;
    h->clock = AHP_CLOCK_MONOTONIC;
    h->tid = b->tid;
    h->gen = b->gen;
    h->count = b->count;
    h->seq = b->seq;
    h->anchor_ticks = h->anchor_ns = b->count ? b->rec[b->count - 1].ticks : T0;
    memcpy(m.batch.rec, b->rec, b->count * sizeof(struct ahp_batch_record));
    cr_assert_eq(
        ahp_decode_ring_message_run(&fx->dec, &m, AHP_RING_BATCH_BYTES(b->count), on_run, fx), 0);
    for (uint32_t i = 0; i < b->count; i++)
        b->seq += ahp_seq_step(b->rec[i].kind);
    b->count = 0;
    b->gen++;
}

static struct ahp_live *slot_of(uint64_t id)
{
    return &fx->live[id & (NSLOTS - 1)];
}

static bool holds_live(const struct ahp_live *s)
{
    return s->id != 0 && !(s->id & AHP_LIVE_TOMBSTONE) && s->type != AHP_LIVE_DESTROYED;
}

/* Slots holding a resource the table takes for alive. */
static unsigned live_count(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < NSLOTS; i++)
        n += holds_live(&fx->live[i]);
    return n;
}

static uint64_t pending_total(int32_t type)
{
    uint64_t n = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        n += fx->dec.stats[type].pending_hist[i];
    return n;
}

/* ---- 1. Init, destroy, destroy again ---- */

Test(decode_live, init_then_destroy_leaves_a_tombstone_and_a_second_destroy_counts)
{
    init(A, 5, 3, T0 + 100);
    destroy(A, 5, 3, T0 + 200);
    send(A);
    cr_assert_eq(slot_of(5)->id, 5 | AHP_LIVE_TOMBSTONE, "slot of id 5: %#llx",
                 (unsigned long long)slot_of(5)->id);
    cr_assert_eq(fx->dec.stats[3].created, 1);
    cr_assert_eq(fx->dec.stats[3].destroyed, 1);
    cr_assert_eq(fx->dec.stats[3].double_destroy, 0);
    cr_assert_eq(live_count(), 0);

    destroy(B, 5, 3, T0 + 300);
    send(B);
    cr_assert_eq(fx->dec.stats[3].destroyed, 2);
    cr_assert_eq(fx->dec.stats[3].double_destroy, 1, "the second destroy of id 5");
    cr_assert_eq(slot_of(5)->id, 5 | AHP_LIVE_TOMBSTONE);
    for (int type = 0; type < AHP_TYPE_MAX; type++)
        if (type != 3)
            cr_assert_eq(fx->dec.stats[type].double_destroy, 0, "type %d", type);

    /* A tombstone is free for another id of the slot. */
    init(C, 5 + NSLOTS, 3, T0 + 400);
    send(C);
    cr_assert_eq(slot_of(5)->id, 5 + NSLOTS);
    cr_assert_eq(fx->dec.live_untracked, 0);
}

/* ---- 2. A destroy decoded before its init (another thread's batch) ---- */

Test(decode_live, destroy_decoded_before_its_init_leaves_the_slot_free)
{
    destroy(B, 7, 3, T0 + 300);
    send(B);
    cr_assert_eq(slot_of(7)->id, 7, "the destroy leaves a mark");
    cr_assert_eq(slot_of(7)->type, AHP_LIVE_DESTROYED);

    init(A, 7, 3, T0 + 100);
    send(A);
    cr_assert_eq(slot_of(7)->id, 0, "the init consumed the mark: slot holds %#llx",
                 (unsigned long long)slot_of(7)->id);
    cr_assert_eq(live_count(), 0, "no resource alive");
    cr_assert_eq(fx->dec.live_untracked, 0);
    cr_assert_eq(fx->dec.stats[3].double_destroy, 0);
    cr_assert_eq(fx->dec.stats[3].created, 1);
    cr_assert_eq(fx->dec.stats[3].destroyed, 1);
}

/* ---- 3. A young mark keeps its slot from other ids; an old one does not ---- */

#define X 9ull
#define Y (X + NSLOTS)
#define MARK_NS (T0 + 1000)
/* The rule's age, written out: a test in units of AHP_LIVE_MARK_NS would follow it to 0. */
#define TEN_S 10000000000ull

Test(decode_live, young_mark_keeps_its_slot_from_another_id)
{
    destroy(B, X, 3, MARK_NS);
    send(B);
    init(C, Y, 4, MARK_NS + TEN_S - 1);
    send(C);
    cr_assert_eq(slot_of(X)->id, X, "Y took the slot of X's mark: it holds %#llx",
                 (unsigned long long)slot_of(X)->id);
    cr_assert_eq(slot_of(X)->type, AHP_LIVE_DESTROYED);
    cr_assert_eq(fx->dec.live_untracked, 1, "Y's init is not tracked");
    cr_assert_eq(live_count(), 0);

    init(A, X, 3, T0 + 500);
    send(A);
    cr_assert_eq(slot_of(X)->id, 0, "X's init consumed its mark");
    cr_assert_eq(live_count(), 0, "X is not left alive");
    cr_assert_eq(fx->dec.live_untracked, 1);
}

Test(decode_live, old_mark_gives_its_slot_to_another_id)
{
    destroy(B, X, 3, MARK_NS);
    send(B);
    init(C, Y, 4, MARK_NS + TEN_S);
    send(C);
    const struct ahp_live *s = slot_of(X);
    cr_assert_eq(s->id, Y, "Y is tracked: the slot holds %#llx", (unsigned long long)s->id);
    cr_assert_eq(s->type, 4);
    cr_assert_eq(s->init_ns, MARK_NS + TEN_S);
    cr_assert_eq(s->tid, fx->thr[C].tid);
    cr_assert_eq(fx->dec.live_untracked, 0);
    cr_assert_eq(live_count(), 1);

    /* X's init, this late, finds Y alive: not tracked (X is not left alive either). */
    init(A, X, 3, T0 + 500);
    send(A);
    cr_assert_eq(slot_of(X)->id, Y);
    cr_assert_eq(fx->dec.live_untracked, 1);
    cr_assert_eq(live_count(), 1);
}

/* ---- 4. Pending time: init to first callback ---- */

Test(decode_live, pending_time_is_counted_once_at_the_first_callback)
{
    const uint64_t t = T0 + 7000;
    init(A, 11, 2, t);
    send(A);
    before(B, 11, 2, t + 5000);
    after(B, 11, 2, t + 6000);
    send(B);
    uint32_t bucket = ahp_hist_slot(5000);
    cr_assert_eq(fx->dec.stats[2].pending_hist[bucket], 1, "pending 5000 ns in bucket %u", bucket);
    cr_assert_eq(pending_total(2), 1);
    cr_assert_eq(slot_of(11)->first_cb_ns, t + 5000);
    cr_assert_eq(slot_of(11)->last_cb_ns, t + 5000);

    before(A, 11, 2, t + 9000);
    after(A, 11, 2, t + 9500);
    send(A);
    cr_assert_eq(pending_total(2), 1, "a second callback adds no pending time");
    cr_assert_eq(fx->dec.stats[2].pending_hist[bucket], 1);
    cr_assert_eq(slot_of(11)->first_cb_ns, t + 5000);
    cr_assert_eq(slot_of(11)->last_cb_ns, t + 9000);
    cr_assert_eq(fx->dec.stats[2].callbacks, 2);
    for (int type = 0; type < AHP_TYPE_MAX; type++)
        if (type != 2)
            cr_assert_eq(pending_total(type), 0, "type %d", type);
}

/* ---- 5. Created inside a callback of its own type ---- */

Test(decode_live, self_created_counts_inits_inside_a_callback_of_their_type)
{
    const uint64_t t = T0 + 10000;
    before(A, 20, 4, t);
    init(A, 21, 4, t + 1); /* inside 20, of its type: counted */
    init(A, 22, 5, t + 2); /* another type */
    before(A, 30, 5, t + 3);
    init(A, 23, 4, t + 4); /* the innermost callback is 30's, of type 5 */
    after(A, 30, 5, t + 5);
    send(A);               /* 20 still runs */
    init(B, 24, 4, t + 6); /* top level of another thread */
    send(B);
    init(A, 25, 4, t + 7); /* inside 20, in the next generation: counted */
    after(A, 20, 4, t + 8);
    init(A, 26, 4, t + 9); /* top level */
    send(A);
    cr_assert_eq(fx->dec.stats[4].created, 5);
    cr_assert_eq(fx->dec.stats[5].created, 1);
    cr_assert_eq(fx->dec.stats[4].self_created, 2, "ids 21 and 25, not 23, 24, 26");
    cr_assert_eq(fx->dec.stats[5].self_created, 0);
}

/* ---- 6. An after with no before open ---- */

Test(decode_live, after_without_before_is_judged_only_for_inits_seen_once_attached)
{
    init(A, 41, 7, FROM_NS - 1); /* while the probes were being attached */
    init(A, 40, 6, FROM_NS);
    send(A);
    after(B, 40, 6, FROM_NS + 10);
    after(B, 41, 7, FROM_NS + 20);
    after(B, 42, 8, FROM_NS + 30); /* not in the table */
    send(B);
    cr_assert_eq(fx->dec.stats[6].after_without_before, 1);
    cr_assert_eq(fx->dec.stats[7].after_without_before, 0);
    cr_assert_eq(fx->dec.stats[8].after_without_before, 0);
    cr_assert_eq(fx->dec.unmatched_after, 3);

    /* The innermost callback open is another's. */
    before(C, 50, 9, FROM_NS + 40);
    after(C, 40, 6, FROM_NS + 50);
    send(C);
    cr_assert_eq(fx->dec.stats[6].after_without_before, 2);
    cr_assert_eq(fx->dec.unmatched_after, 4);
    cr_assert_eq(fx->dec.stats[9].after_without_before, 0);
}

/* ---- 7, 8. A long sequence over three threads ---- */

struct given {
    uint64_t inits, destroys, callbacks, double_destroys, lone_afters, self_inits;
};

static uint64_t lcg_state;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_state >> 33);
}

#define ALIVE_MAX 300 /* resources alive at once: the table has room for most */
#define GONE_MAX 64

/* Inits, destroys (some of ids already destroyed), callbacks (some creating a resource of
 * their type, some afters alone) of ids spread over many times the table's size, on three
 * threads whose batches are handed over in an order of their own. A jump of more than
 * the mark rule's 10 s now and then lets marks age. */
struct resource {
    uint64_t id;
    int32_t type;
    int init_thread;
    uint64_t init_gen;
};
static struct resource alive[ALIVE_MAX], gone[GONE_MAX];
static uint32_t nalive;

static void feed_sequence(struct given *g)
{
    uint32_t ngone = 0;
    nalive = 0;
    uint64_t next_id = 2, ts = T0;
    memset(g, 0, sizeof(*g));
    lcg_state = 12345;
    for (int step = 0; step < 30000; step++) {
        uint32_t r = lcg() % 20;
        int t = (int)(lcg() % NTHREADS);
        ts += 1 + lcg() % 2000;
        if (lcg() % 5000 == 0)
            ts += TEN_S + TEN_S / 10;
        if (fx->thr[t].count + 3 > AHP_BATCH_RECORDS)
            send(t);
        if ((r <= 4 || nalive == 0) && nalive < ALIVE_MAX) {
            next_id += 1 + lcg() % 700;
            int32_t type = (int32_t)(lcg() % 4);
            init(t, next_id, type, ts);
            alive[nalive].id = next_id;
            alive[nalive].init_thread = t;
            alive[nalive].init_gen = fx->thr[t].gen;
            alive[nalive++].type = type;
            g->inits++;
        } else if ((r <= 7 || nalive == ALIVE_MAX) && nalive > 0) {
            /* Half the time one of the newest: its init may not be handed over yet. */
            uint32_t k =
                lcg() % 2 ? lcg() % nalive : nalive - 1 - lcg() % (nalive < 8 ? nalive : 8);
            destroy(t, alive[k].id, alive[k].type, ts);
            fx->thr[t].init_thread[fx->thr[t].count - 1] = alive[k].init_thread;
            fx->thr[t].init_gen[fx->thr[t].count - 1] = alive[k].init_gen;
            g->destroys++;
            gone[ngone++ % GONE_MAX] = alive[k];
            alive[k] = alive[--nalive];
        } else if (r == 8 && ngone > 0) {
            uint32_t k = lcg() % (ngone < GONE_MAX ? ngone : GONE_MAX);
            destroy(t, gone[k].id, gone[k].type, ts);
            g->destroys++;
            g->double_destroys++;
        } else if (r <= 12 && nalive > 0) {
            uint32_t k = lcg() % nalive;
            before(t, alive[k].id, alive[k].type, ts);
            after(t, alive[k].id, alive[k].type, ts + 1 + lcg() % 3000);
            ts += 3001;
            g->callbacks++;
        } else if (r == 13 && nalive > 0 && nalive < ALIVE_MAX) {
            uint32_t k = lcg() % nalive;
            before(t, alive[k].id, alive[k].type, ts);
            next_id += 1 + lcg() % 700;
            init(t, next_id, alive[k].type, ts + 1);
            after(t, alive[k].id, alive[k].type, ts + 2);
            ts += 3;
            alive[nalive].id = next_id;
            alive[nalive].type = alive[k].type;
            alive[nalive].init_thread = t;
            alive[nalive].init_gen = fx->thr[t].gen;
            nalive++;
            g->inits++;
            g->self_inits++;
            g->callbacks++;
        } else if (r == 14 && nalive > 0) {
            uint32_t k = lcg() % nalive;
            after(t, alive[k].id, alive[k].type, ts);
            g->lone_afters++;
        } else if (lcg() % 4 == 0 && fx->thr[t].count > 0) {
            send(t);
        }
    }
    for (int t = 0; t < NTHREADS; t++)
        send(t);
}

static uint64_t sum_stat(size_t offset)
{
    uint64_t n = 0;
    for (int type = 0; type < AHP_TYPE_MAX; type++)
        n += *(const uint64_t *)((const char *)&fx->dec.stats[type] + offset);
    return n;
}

#define SUM(field) sum_stat(offsetof(struct ahp_type_stats, field))

Test(decode_live, long_sequence_keeps_every_id_in_its_slot_and_counts_add_up)
{
    struct given g;
    feed_sequence(&g);
    cr_assert_gt(fx->destroys_before_init, 10, "destroys decoded before their init: %llu",
                 (unsigned long long)fx->destroys_before_init);
    for (unsigned i = 0; i < NSLOTS; i++) {
        uint64_t id = fx->live[i].id & ~AHP_LIVE_TOMBSTONE;
        cr_assert(id == 0 || (id & (NSLOTS - 1)) == i, "slot %u holds id %llu", i,
                  (unsigned long long)id);
    }
    cr_assert_eq(SUM(created), g.inits);
    cr_assert_eq(SUM(destroyed), g.destroys);
    cr_assert_eq(SUM(callbacks), g.callbacks);
    cr_assert_eq(fx->dec.unmatched_after, g.lone_afters);
    cr_assert_eq(SUM(self_created), g.self_inits);
    cr_assert_leq(SUM(double_destroy), g.double_destroys);
    cr_assert_leq(SUM(after_without_before), g.lone_afters);
    cr_assert_leq(fx->dec.live_untracked, g.inits);
    cr_assert_eq(fx->dec.malformed_dropped + fx->dec.resent_records, 0);
    unsigned false_alive = 0;
    for (unsigned i = 0; i < NSLOTS; i++) {
        if (!holds_live(&fx->live[i]))
            continue;
        bool found = false;
        for (uint32_t k = 0; k < nalive && !found; k++)
            found = alive[k].id == fx->live[i].id;
        false_alive += !found;
    }
    cr_log_info("%u false alive, %u alive given; ", false_alive, nalive);
    cr_log_info("%llu inits, %llu untracked, %llu destroys decoded before their init, %u alive "
                "in the table at the end",
                (unsigned long long)g.inits, (unsigned long long)fx->dec.live_untracked,
                (unsigned long long)fx->destroys_before_init, live_count());
    cr_assert_eq(false_alive, 0, "resources destroyed but alive in the table: %u", false_alive);
}

Test(decode_live, without_a_live_table_the_same_events_and_counters_but_the_table_s)
{
    struct given g;
    fx = &fixtures[0];
    feed_sequence(&g);
    fx = &fixtures[1];
    feed_sequence(&g);
    const struct ahp_decoder *kept = &fixtures[0].dec, *none = &fixtures[1].dec;
    cr_assert_eq(fixtures[0].nev, fixtures[1].nev);
    for (size_t i = 0; i < fixtures[0].nev; i++) {
        const struct ahp_event *a = &fixtures[0].ev[i], *b = &fixtures[1].ev[i];
        cr_assert(a->ts_ns == b->ts_ns && a->id == b->id && a->trigger_id == b->trigger_id &&
                      a->seq == b->seq && a->tid == b->tid && a->type == b->type &&
                      a->kind == b->kind && a->flags == b->flags && a->depth == b->depth &&
                      a->pid == b->pid,
                  "event %zu differs", i);
    }
    /* The sequence exercises what the table adds, or the comparison says little. */
    fx = &fixtures[0];
    cr_assert_gt(SUM(double_destroy), 0);
    cr_assert_gt(SUM(after_without_before), 0);
    uint64_t pending = 0;
    for (int type = 0; type < AHP_TYPE_MAX; type++)
        pending += pending_total(type);
    cr_assert_gt(pending, 0);
    cr_assert_gt(SUM(self_created), 0);
    for (int type = 0; type < AHP_TYPE_MAX; type++) {
        const struct ahp_type_stats *s = &kept->stats[type], *n = &none->stats[type];
        cr_assert(s->created == n->created && s->destroyed == n->destroyed &&
                      s->resolved == n->resolved && s->callbacks == n->callbacks &&
                      s->callback_ns == n->callback_ns && s->exclusive_ns == n->exclusive_ns &&
                      s->max_ns == n->max_ns && !memcmp(s->hist, n->hist, sizeof(s->hist)),
                  "type %d: counters differ", type);
        cr_assert_eq(s->self_created, n->self_created, "type %d", type);
        for (int i = 0; i < AHP_HIST_SLOTS; i++)
            cr_assert_eq(n->pending_hist[i], 0, "type %d", type);
        cr_assert_eq(n->double_destroy, 0, "type %d", type);
        cr_assert_eq(n->after_without_before, 0, "type %d", type);
    }
    cr_assert_eq(kept->unmatched_after, none->unmatched_after);
    cr_assert_eq(kept->stack_overflow, none->stack_overflow);
    cr_assert_eq(none->live_untracked, 0);
}

/* ---- A destroy decoded before its init that its slot has no room to mark ---- */

/* X's destroy, handed over before its init, finds its slot held by another live resource Z: it
 * cannot leave a mark there. Z's destroy then frees the slot, and X's late init would take it:
 * X would stay alive in the table for ever (the long sequence's last false alive). */
Test(decode_live, destroy_while_the_slot_holds_another_live_resource_is_not_lost)
{
    const uint64_t z = 13, x = 13 + NSLOTS;
    init(A, z, 3, T0 + 100);
    send(A);
    destroy(B, x, 3, T0 + 300); /* X's init, on C, is not handed over yet */
    send(B);
    destroy(A, z, 3, T0 + 400);
    send(A);
    init(C, x, 3, T0 + 200);
    send(C);
    cr_assert_eq(live_count(), 0, "the slot holds %#llx, destroyed before",
                 (unsigned long long)slot_of(z)->id);
    cr_assert_eq(slot_of(x)->id, x | AHP_LIVE_TOMBSTONE,
                 "init and destroy both seen: a tombstone, as in order; the slot holds %#llx",
                 (unsigned long long)slot_of(x)->id);
    cr_assert_eq(fx->dec.live_untracked, 0);
    cr_assert_eq(fx->dec.stats[3].double_destroy, 0);

    /* As in order: a second destroy of X is the caller's bug. */
    destroy(A, x, 3, T0 + 500);
    send(A);
    cr_assert_eq(fx->dec.stats[3].double_destroy, 1);
}

/* The two threads' times disagree by some us (each batch's from its own anchor): an init that
 * comes out a little newer than its destroy is still its. */
Test(decode_live, early_destroy_meets_an_init_its_clock_puts_a_little_later)
{
    const uint64_t z = 15, x = 15 + NSLOTS;
    init(A, z, 3, T0 + 100);
    send(A);
    destroy(B, x, 3, T0 + 300);
    send(B);
    destroy(A, z, 3, T0 + 400);
    send(A);
    init(C, x, 3, T0 + 300 + 50000); /* 50 us */
    send(C);
    cr_assert_eq(live_count(), 0, "the slot holds %#llx, destroyed before",
                 (unsigned long long)slot_of(x)->id);
}

/* The same with the slot held by a recent mark of another id W (one slot keeps one mark). */
Test(decode_live, destroy_while_the_slot_holds_another_id_s_mark_is_not_lost)
{
    const uint64_t w = 14, x = 14 + NSLOTS;
    destroy(B, w, 3, T0 + 300); /* W's init, on A, is not handed over yet */
    send(B);
    destroy(B, x, 3, T0 + 310); /* nor X's, on C */
    send(B);
    cr_assert_eq(slot_of(w)->id, w, "W's mark stays");
    init(A, w, 3, T0 + 100); /* consumes W's mark: the slot is free */
    send(A);
    init(C, x, 3, T0 + 200);
    send(C);
    cr_assert_eq(live_count(), 0, "the slot holds %#llx, destroyed before",
                 (unsigned long long)slot_of(x)->id);
    cr_assert_eq(fx->dec.live_untracked, 0);
}

/* ---- The destroys remembered for their init are bounded ---- */

/* Early destroys of ids whose inits never come (resources created before the attach), more
 * than the decoder remembers, while every slot holds a live resource: the oldest are pushed
 * out and counted, the memory stays what it was at the first; after AHP_LIVE_MARK_NS their
 * places are free again, uncounted, and the newest still meet their inits. */
static uint32_t destroy_many(uint64_t first_id, uint32_t n, uint64_t ts)
{
    for (uint32_t i = 0; i < n; i++) {
        if (fx->thr[B].count == AHP_BATCH_RECORDS)
            send(B);
        destroy(B, first_id + i, 3, ts + i);
    }
    send(B);
    return n;
}

/* Bytes the heap holds: small blocks and mmapped ones. */
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

Test(decode_live, destroys_remembered_for_their_init_are_bounded)
{
    /* Room for every event handed over, so that only the decoder could grow the heap. */
    fx->cap = 4 * (size_t)AHP_EARLY_DESTROYS;
    fx->ev = malloc(fx->cap * sizeof(*fx->ev));
    cr_assert_not_null(fx->ev);
    for (uint64_t i = 0; i < NSLOTS; i++) {
        if (fx->thr[A].count == AHP_BATCH_RECORDS)
            send(A);
        init(A, NSLOTS + i, 2, T0 + i);
    }
    send(A);
    cr_assert_eq(live_count(), NSLOTS);

    const uint64_t far = 1ull << 40; /* ids of resources created before the attach */
    destroy_many(far, 1, T0 + NSLOTS);
    const struct ahp_early_destroys *early = fx->dec.early; /* mapped once, not on the heap */
    cr_assert_not_null(early);
    size_t heap = heap_bytes();
    const uint32_t n = AHP_EARLY_DESTROYS + AHP_EARLY_DESTROYS / 2;
    destroy_many(far + 1, n, T0 + NSLOTS + 1);
    size_t heap_after = heap_bytes();
    cr_assert_eq(heap_after, heap, "the heap went from %zu to %zu bytes", heap, heap_after);
    cr_assert_eq(fx->dec.early, early);
    cr_log_info("%u early destroys, %llu forgotten, %u remembered", n + 1,
                (unsigned long long)fx->dec.live_destroys_forgotten, fx->dec.early_count);
    cr_assert_geq(fx->dec.live_destroys_forgotten, n + 1 - AHP_EARLY_DESTROYS);
    cr_assert_leq(fx->dec.early_count, AHP_EARLY_DESTROYS);
    cr_assert_eq(fx->dec.early_count + fx->dec.live_destroys_forgotten, n + 1,
                 "each remembered or counted");
    cr_assert_eq(live_count(), NSLOTS, "the live resources stay");
    cr_assert_eq(fx->dec.live_untracked, 0);

    /* Their places, expired, are free: no more forgotten. */
    const uint64_t later = T0 + NSLOTS + 1 + n + TEN_S;
    const uint64_t forgotten = fx->dec.live_destroys_forgotten;
    const uint64_t x = far + 2 * (uint64_t)AHP_EARLY_DESTROYS;
    const uint32_t m = AHP_EARLY_DESTROYS / 4;
    heap = heap_bytes();
    destroy_many(x, m, later);
    heap_after = heap_bytes();
    cr_assert_eq(heap_after, heap, "the heap went from %zu to %zu bytes", heap, heap_after);
    cr_assert_eq(fx->dec.live_destroys_forgotten, forgotten);
    cr_assert_eq(fx->dec.early, early);

    /* The live resources leave; the inits of the newest destroyed come: none stays alive. */
    for (uint64_t i = 0; i < NSLOTS; i++) {
        if (fx->thr[A].count == AHP_BATCH_RECORDS)
            send(A);
        destroy(A, NSLOTS + i, 2, later + m + i);
    }
    send(A);
    cr_assert_eq(live_count(), 0);
    for (uint32_t i = 0; i < m; i++) {
        if (fx->thr[C].count == AHP_BATCH_RECORDS)
            send(C);
        init(C, x + i, 3, later - 1);
    }
    send(C);
    cr_assert_eq(live_count(), 0, "destroyed resources alive");
    cr_assert_eq(fx->dec.live_untracked, 0);
}
