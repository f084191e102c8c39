/*
 * test_decode_generations.c - the decoder's generation rules (decode.c): a thread's batch comes
 * in ring messages (struct ahp_ring_batch: records [FIRST, count) of generation GEN from
 * rec[0], hdr.seq the registry seq before record FIRST, AHP_RING_FLUSHED once the thread is
 * done with the generation), read in parts at switch-out and at the flush. Whatever order and
 * repetition the messages come in, every record reaches the collector once at most: a record
 * handed over twice would count its resource twice (the threads_record flake: 464 INIT records
 * of one generation decoded twice, duplicate_init = 464). A generation that follows the last
 * one keeps the open callbacks; one after a lost batch drops them (the afters count untimed).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "batch_rules.h"
#include "collect/decode.h"

#define TID 4321
#define MAX_IDS 4096

/* One thread's batch buffer, as libah fills it. */
struct buffer {
    uint64_t gen, seq, ticks, next_id;
    uint32_t count;
    struct ahp_batch_record rec[AHP_BATCH_RECORDS];
};

/* What the decoder handed over. */
struct sink {
    unsigned seen[MAX_IDS]; /* INIT events per id */
    uint64_t events, inits;
    uint64_t last_seq; /* seq of the last INIT/DESTROY event */
    bool seq_went_back;
};

static struct ahp_decoder dec;
static struct sink sink;
static struct buffer buf;

static void setup(void)
{
    memset(&dec, 0, sizeof(dec));
    dec.rate.ns_per_tick = 1.0;
    memset(&sink, 0, sizeof(sink));
    memset(&buf, 0, sizeof(buf));
    buf.seq = 100;
    buf.ticks = 1000000;
    buf.next_id = 2;
}

static void teardown(void)
{
    ahp_decoder_free(&dec);
}

TestSuite(decode_generations, .init = setup, .fini = teardown);

static void add(uint8_t kind, uint64_t id)
{
    cr_assert_lt(buf.count, AHP_BATCH_RECORDS);
    struct ahp_batch_record *r = &buf.rec[buf.count++];
    memset(r, 0, sizeof(*r));
    buf.ticks += 10;
    r->ticks = buf.ticks;
    r->id = id;
    r->arg = kind == AHP_EV_INIT ? 1 : 0;
    r->kind = kind;
    r->type = 0;
}

/* N INIT records of new ids. */
static void add_inits(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_lt(buf.next_id, MAX_IDS);
        add(AHP_EV_INIT, buf.next_id++);
    }
}

/* libah's flush: the next records are the next generation's. */
static void flush(void)
{
    for (uint32_t i = 0; i < buf.count; i++)
        buf.seq += ahp_seq_step(buf.rec[i].kind);
    buf.count = 0;
    buf.gen++;
}

static int on_event(const struct ahp_event *ev, void *ctx)
{
    struct sink *s = ctx;
    s->events++;
    if (ev->kind == AHP_EV_INIT) {
        s->inits++;
        cr_assert_lt(ev->id, MAX_IDS);
        s->seen[ev->id]++;
    }
    if (ev->kind == AHP_EV_INIT || ev->kind == AHP_EV_DESTROY) {
        if (ev->seq <= s->last_seq)
            s->seq_went_back = true;
        s->last_seq = ev->seq;
    }
    return 0;
}

static int on_run(struct ahp_event *ev, size_t n, void *ctx)
{
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++)
        on_event(&ev[i], ctx);
    return 0;
}

/* The registry seq before record FIRST of the generation in BUF. */
static uint64_t seq_before(uint32_t first)
{
    uint64_t seq = buf.seq;
    for (uint32_t i = 0; i < first; i++)
        seq += ahp_seq_step(buf.rec[i].kind);
    return seq;
}

/* Hand the decoder records [FIRST, COUNT) of BUF's current generation as the BPF side streams
 * them, through the run API the collector uses (RUNS) or one event at a time. */
static void send_gen(uint64_t gen, uint32_t first, uint32_t count, bool flushed, bool runs)
{
    cr_assert_leq(first, count);
    static struct ahp_ring_batch m;
    memset(&m, 0, sizeof(m));
    m.pid = 77;
    m.first = (uint16_t)first;
    m.flags = flushed ? AHP_RING_FLUSHED : 0;
    struct ahp_batch_header *h = &m.batch.hdr;
    h->version = AHP_BATCH_VERSION;
    h->clock = AHP_CLOCK_MONOTONIC;
    h->tid = TID;
    h->gen = gen;
    h->count = count;
    h->seq = seq_before(first);
    h->anchor_ticks = h->anchor_ns = buf.ticks;
    memcpy(m.batch.rec, &buf.rec[first], (count - first) * sizeof(struct ahp_batch_record));
    size_t size = AHP_RING_BATCH_BYTES(count - first);
    int rc = runs ? ahp_decode_ring_message_run(&dec, &m, size, on_run, &sink)
                  : ahp_decode_ring_message(&dec, &m, size, on_event, &sink);
    cr_assert_eq(rc, 0);
}

static void send(uint32_t first, uint32_t count, bool flushed)
{
    send_gen(buf.gen, first, count, flushed, true);
}

/* Every id in [2, buf.next_id) was handed over exactly once, none lost, none twice. */
static void expect_each_once(const char *what)
{
    uint64_t twice = 0, never = 0, first_bad = 0;
    for (uint64_t id = 2; id < buf.next_id; id++) {
        twice += sink.seen[id] > 1;
        never += sink.seen[id] == 0;
        if (sink.seen[id] != 1 && first_bad == 0)
            first_bad = id;
    }
    cr_expect(twice == 0 && never == 0,
              "%s: %llu ids handed over twice or more, %llu never (the first: id %llu)", what,
              (unsigned long long)twice, (unsigned long long)never, (unsigned long long)first_bad);
    cr_expect_eq(sink.inits, buf.next_id - 2, "%s: %llu INIT events for %llu records", what,
                 (unsigned long long)sink.inits, (unsigned long long)(buf.next_id - 2));
    cr_expect_eq(dec.stats[0].created, buf.next_id - 2, "%s: counters say %llu created, not %llu",
                 what, (unsigned long long)dec.stats[0].created,
                 (unsigned long long)(buf.next_id - 2));
    cr_expect_not(sink.seq_went_back, "%s: a registry seq handed over twice", what);
}

/* ---- What the BPF side sends today, and what it sent before the empty FLUSHED message ---- */

Test(decode_generations, switch_outs_then_flush)
{
    for (int g = 0; g < 4; g++) {
        add_inits(100);
        send(0, 100, false);
        add_inits(50);
        send(100, 150, false);
        add_inits(362);
        send(150, 512, true);
        flush();
    }
    expect_each_once("switch-outs then flush");
    cr_expect_eq(dec.malformed_dropped, 0);
}

/* The threads_record case: a generation read whole at a switch-out (the thread blocked between
 * its last record and its flush), then the empty FLUSHED message of the flush, then the next
 * generation from record 0. A callback open across the two generations is timed. */
Test(decode_generations, handed_over_whole_then_empty_flushed)
{
    add_inits(463);
    add(AHP_EV_BEFORE, 2);
    send(0, 464, false);
    send(464, 464, true); /* send_flushed_mark */
    flush();
    add(AHP_EV_AFTER, 2);
    add_inits(10);
    send(0, 11, true);
    expect_each_once("whole, then empty FLUSHED");
    cr_expect_eq(dec.stats[0].callbacks, 1);
    cr_expect_gt(dec.stats[0].callback_ns, 0, "the callback across generations is timed");
    cr_expect_eq(dec.unmatched_after, 0);
}

/* The same without the empty message (the ring buffer was full, or the tree before it): the
 * next generation comes after what looks like a gap. Nothing is handed over twice; the callback
 * open across counts, untimed. */
Test(decode_generations, handed_over_whole_no_flushed_message)
{
    add_inits(463);
    add(AHP_EV_BEFORE, 2);
    send(0, 464, false);
    flush();
    add(AHP_EV_AFTER, 2);
    add_inits(10);
    send(0, 11, true);
    expect_each_once("whole, no FLUSHED message");
    cr_expect_eq(dec.stats[0].callbacks, 1, "the after of the scope counts, untimed");
    cr_expect_eq(dec.unmatched_after, 0);
}

/* A lost batch (a whole generation the ring buffer had no room for): the next is decoded once. */
Test(decode_generations, lost_generation)
{
    add_inits(20);
    send(0, 20, true);
    flush();
    add_inits(30);
    uint64_t lost_from = buf.next_id - 30;
    flush(); /* never sent */
    add_inits(40);
    send(0, 40, true);
    for (uint64_t id = 2; id < buf.next_id; id++)
        cr_expect_eq(sink.seen[id], id >= lost_from && id < lost_from + 30 ? 0u : 1u,
                     "id %llu handed over %u times", (unsigned long long)id, sink.seen[id]);
}

/* ---- Messages that repeat records: decoded once ---- */

Test(decode_generations, repeated_message)
{
    add_inits(464);
    send(0, 464, false);
    send(0, 464, false);
    add_inits(48);
    send(464, 512, true);
    flush();
    add_inits(5);
    send(0, 5, false);
    expect_each_once("repeated switch-out message");
    cr_expect_eq(dec.resent_records, 464);
}

/* A hand-over that starts again from record 0 of a generation partly handed over already (the
 * BPF side lost track of what it had read): only the records not decoded before go on. */
Test(decode_generations, reread_from_record_zero)
{
    add_inits(464);
    send(0, 464, false);
    add_inits(48);
    send(0, 512, true);
    flush();
    add_inits(7);
    send(0, 7, true);
    expect_each_once("re-read from record 0");
    cr_expect_eq(dec.resent_records, 464);
}

/* The same, one event at a time (ahp_decode_ring_message). */
Test(decode_generations, reread_from_record_zero_per_event_api)
{
    add_inits(300);
    send_gen(buf.gen, 0, 300, false, false);
    add_inits(100);
    send_gen(buf.gen, 100, 400, true, false);
    expect_each_once("overlapping part, per-event API");
    cr_expect_eq(dec.resent_records, 200);
}

Test(decode_generations, repeated_flushed_message)
{
    add_inits(512);
    send(0, 512, true);
    send(0, 512, true);
    flush();
    add_inits(3);
    send(0, 3, true);
    expect_each_once("repeated flushed message");
}

/* A message of a generation older than the last one decoded, after the next one started. */
Test(decode_generations, stale_generation_after_the_next)
{
    add_inits(200);
    send(0, 200, false);
    uint64_t old_gen = buf.gen;
    struct buffer old = buf;
    add_inits(312);
    send(200, 512, true);
    flush();
    add_inits(20);
    send(0, 20, false);
    /* The first part of the old generation again. */
    struct buffer now = buf;
    buf = old;
    send_gen(old_gen, 0, 200, false, true);
    buf = now;
    add_inits(10);
    send(20, 30, true);
    expect_each_once("stale generation");
    cr_expect_eq(dec.resent_records, 200);
}

Test(decode_generations, repeated_empty_flushed_message)
{
    add_inits(100);
    send(0, 100, false);
    send(100, 100, true);
    send(100, 100, true);
    flush();
    add(AHP_EV_BEFORE, 2);
    send(0, 1, false);
    /* The empty message of the generation before, once more, while a callback runs. */
    send_gen(buf.gen - 1, 100, 100, true, true);
    add(AHP_EV_AFTER, 2);
    add_inits(4);
    send(1, 6, true);
    expect_each_once("repeated empty FLUSHED");
    cr_expect_eq(dec.stats[0].callbacks, 1);
    cr_expect_gt(dec.stats[0].callback_ns, 0, "no gap: the callback is timed");
}

/* ---- What must still go through ---- */

/* A new thread that got the tid of one that exited (its libah state starts at generation 0 with
 * record 0, like the old thread's): its records are new ones, later in time. */
Test(decode_generations, tid_reused_by_a_new_thread)
{
    add_inits(30);
    send(0, 30, false); /* the old thread exited without a flush message */
    buf.gen = 0;
    buf.count = 0;
    buf.seq = 0;
    buf.ticks += 1000000;
    add_inits(30);
    send(0, 30, true);
    flush();
    add_inits(30);
    send(0, 30, true);
    for (uint64_t id = 2; id < buf.next_id; id++)
        cr_expect_eq(sink.seen[id], 1, "id %llu handed over %u times", (unsigned long long)id,
                     sink.seen[id]);
    cr_expect_eq(dec.resent_records, 0);
}

/* Part of a message new, part old: the new part goes on in order, with the seq it had. */
Test(decode_generations, overlap_then_more_switch_outs)
{
    add_inits(10);
    send(0, 10, false);
    add_inits(10);
    send(5, 20, false);
    add_inits(10);
    send(20, 30, false);
    send(25, 30, false);
    add_inits(10);
    send(30, 40, true);
    flush();
    add_inits(1);
    send(0, 1, true);
    expect_each_once("overlaps");
    cr_expect_eq(dec.resent_records, 10);
}
