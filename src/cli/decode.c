/* decode.c - batches to events, keeping per-thread execution stacks like the BPF side does. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"

struct ahp_decode_thread {
    uint32_t tid; /* 0: free slot */
    uint32_t depth;
    uint64_t last_ns; /* timestamps of a thread never go back (see ahp_decode_batch) */
    uint64_t gen;     /* generation of the last batch seen */
    uint32_t next;    /* index of the record expected next in it */
    bool flushed;     /* ... and the thread was done with it */
    bool seen;
    bool after_gap; /* a batch was lost: scopes opened in it close unseen */
    struct ahp_frame frames[AHP_STACK_DEPTH];
};

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* One reading of both clocks: the ticks around the ns reading, taken where they are closest. */
static void read_clocks(uint64_t *ticks, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = __builtin_ia32_rdtsc();
        uint64_t n = monotonic_ns();
        uint64_t b = __builtin_ia32_rdtsc();
        if (b - a < best) {
            best = b - a;
            *ticks = a + (b - a) / 2;
            *ns = n;
        }
    }
}
#endif

void ahp_tick_rate_measure(struct ahp_tick_rate *rate, uint64_t span_ns)
{
    rate->ns_per_tick = 1.0;
    rate->mult = 1;
    rate->shift = 0;
#if defined(__x86_64__)
    uint64_t t0, n0, t1, n1;
    read_clocks(&t0, &n0);
    while (monotonic_ns() - n0 < span_ns)
        ;
    read_clocks(&t1, &n1);
    if (t1 <= t0 || n1 <= n0)
        return;
    rate->ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    /* The largest shift that keeps mult below 2^32 keeps the most precision. */
    uint32_t shift = 32;
    while (shift > 0 && rate->ns_per_tick * (double)(1ull << shift) >= 4294967296.0)
        shift--;
    rate->shift = shift;
    rate->mult = (uint64_t)(rate->ns_per_tick * (double)(1ull << shift) + 0.5);
#endif
}

static struct ahp_decode_thread *thread_of(struct ahp_decoder *d, uint32_t tid)
{
    if (d->nthreads * 2 >= d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        struct ahp_decode_thread *grown = calloc(cap, sizeof(*grown));
        if (grown == NULL)
            return NULL;
        for (uint32_t i = 0; i < d->cap; i++) {
            if (d->threads[i].tid == 0)
                continue;
            uint32_t j = (d->threads[i].tid * 2654435761u) & (cap - 1);
            while (grown[j].tid != 0)
                j = (j + 1) & (cap - 1);
            grown[j] = d->threads[i];
        }
        free(d->threads);
        d->threads = grown;
        d->cap = cap;
    }
    uint32_t j = (tid * 2654435761u) & (d->cap - 1);
    while (d->threads[j].tid != 0 && d->threads[j].tid != tid)
        j = (j + 1) & (d->cap - 1);
    if (d->threads[j].tid == 0) {
        d->threads[j].tid = tid;
        d->nthreads++;
    }
    return &d->threads[j];
}

/* Ticks to ns; a distance no u64 holds (ticks from a lying target) saturates. */
static uint64_t scaled(uint64_t ticks, double scale)
{
    double ns = (double)ticks * scale + 0.5;
    return ns < 18446744073709551616.0 ? (uint64_t)ns : UINT64_MAX;
}

static uint64_t to_ns(const struct ahp_decoder *d, const struct ahp_batch_header *h, uint64_t ticks)
{
    double scale = h->clock == AHP_CLOCK_TSC ? d->rate.ns_per_tick : 1.0;
    if (ticks <= h->anchor_ticks)
        return h->anchor_ns - scaled(h->anchor_ticks - ticks, scale);
    return h->anchor_ns + scaled(ticks - h->anchor_ticks, scale);
}

/* What libah writes (bpf/ahprof.h); the BPF side checks the same before a batch gets here. */
static bool header_ok(const struct ahp_ring_batch *m)
{
    const struct ahp_batch_header *h = &m->batch.hdr;
    return h->version == AHP_BATCH_VERSION && h->tid != 0 && h->count <= AHP_BATCH_RECORDS &&
           m->first <= h->count && (h->clock == AHP_CLOCK_TSC || h->clock == AHP_CLOCK_MONOTONIC);
}

static bool record_ok(const struct ahp_batch_record *r)
{
    return r->kind >= AHP_EV_INIT && r->kind <= AHP_EV_RESOLVE &&
           (uint32_t)r->type < AHP_TYPE_MAX && r->id >= 2;
}

static void account(struct ahp_decoder *d, int32_t type, uint64_t inclusive, uint64_t exclusive)
{
    if (type < 0 || type >= AHP_TYPE_MAX)
        return;
    struct ahp_type_stats *s = &d->stats[type];
    s->callbacks++;
    s->callback_ns += inclusive;
    s->exclusive_ns += exclusive;
    if (inclusive > s->max_ns)
        s->max_ns = inclusive;
    int slot = 0;
    while (slot < AHP_HIST_SLOTS - 1 && (inclusive >> (slot + 1)) != 0)
        slot++;
    s->hist[slot]++;
}

static void count(struct ahp_decoder *d, int32_t type, uint8_t kind)
{
    if (type < 0 || type >= AHP_TYPE_MAX)
        return;
    if (kind == AHP_EV_INIT)
        d->stats[type].created++;
    else if (kind == AHP_EV_DESTROY)
        d->stats[type].destroyed++;
    else if (kind == AHP_EV_RESOLVE)
        d->stats[type].resolved++;
}

int ahp_decode_batch(struct ahp_decoder *d, const struct ahp_ring_batch *m, ahp_decoded_fn fn,
                     void *ctx)
{
    const struct ahp_batch_header *h = &m->batch.hdr;
    if (!header_ok(m)) {
        uint32_t claimed = h->count < AHP_BATCH_RECORDS ? h->count : AHP_BATCH_RECORDS;
        d->malformed_batches++;
        d->malformed_dropped += claimed > m->first ? claimed - m->first : 0;
        return 0;
    }
    struct ahp_decode_thread *th = thread_of(d, h->tid);
    if (th == NULL)
        return -ENOMEM;
    uint32_t n = h->count < AHP_BATCH_RECORDS ? h->count : AHP_BATCH_RECORDS;
    uint32_t first = m->first;
    uint64_t seq = h->seq;
    bool follows = (h->gen == th->gen && first == th->next) ||
                   (h->gen == th->gen + 1 && first == 0 && th->flushed);
    if (th->seen && !follows) {
        /* The ring buffer had no room for a batch of this thread (counted by the BPF side):
         * the scopes open now may have closed in it. */
        th->depth = 0;
        th->after_gap = true;
    }
    /* The start-up measure of the tick rate is good to ~1e-6; two anchors a second or more
     * apart are good to ~1e-8. Without this, records of one thread converted from anchors
     * far apart could come out a few us out of order. */
    if (d->measured_ns_per_tick == 0)
        d->measured_ns_per_tick = d->rate.ns_per_tick;
    if (h->clock == AHP_CLOCK_TSC && h->anchor_ns != 0) {
        if (d->first_anchor_ns == 0) {
            d->first_anchor_ticks = h->anchor_ticks;
            d->first_anchor_ns = h->anchor_ns;
        } else if (h->anchor_ns > d->first_anchor_ns + 1000000000ull &&
                   h->anchor_ticks > d->first_anchor_ticks) {
            double rate = (double)(h->anchor_ns - d->first_anchor_ns) /
                          (double)(h->anchor_ticks - d->first_anchor_ticks);
            /* Anchors are the target's word: one off by more than the start-up measure's
             * error would skew every thread's times, not only its own. */
            if (rate > d->measured_ns_per_tick * 0.999 && rate < d->measured_ns_per_tick * 1.001)
                d->rate.ns_per_tick = rate;
        }
    }
    th->seen = true;
    th->gen = h->gen;
    th->next = n;
    th->flushed = m->flags & AHP_RING_FLUSHED;
    for (uint32_t i = 0; i < n; i++) {
        const struct ahp_batch_record *r = &m->batch.rec[i];
        if (i < first) {
            /* Streamed before, when the thread was switched out. */
            if ((r->kind == AHP_EV_INIT || r->kind == AHP_EV_DESTROY) && record_ok(r))
                seq += 2;
            continue;
        }
        if (!record_ok(r)) {
            d->malformed_records++;
            d->malformed_dropped++;
            continue;
        }
        uint64_t ts = to_ns(d, h, r->ticks);
        if (ts < th->last_ns)
            ts = th->last_ns; /* conversion noise between two anchors, ns at most */
        th->last_ns = ts;
        struct ahp_event ev = {
            .ts_ns = ts,
            .id = r->id,
            .tid = h->tid,
            .pid = m->pid,
            .type = r->type,
            .kind = r->kind,
        };
        switch (r->kind) {
        case AHP_EV_INIT:
            ev.trigger_id = r->arg;
            /* fall through */
        case AHP_EV_DESTROY:
            seq += 2;
            ev.seq = seq;
            break;
        case AHP_EV_BEFORE:
            if (th->depth < AHP_STACK_DEPTH)
                th->frames[th->depth] =
                    (struct ahp_frame){.id = r->id, .start_ns = ev.ts_ns, .type = r->type};
            else
                d->stack_overflow++;
            ev.depth = (uint16_t)++th->depth;
            break;
        case AHP_EV_AFTER:
            if (th->depth == 0) {
                if (th->after_gap)
                    account(d, r->type, 0, 0); /* opened in a lost batch: count, untimed */
                else
                    d->unmatched_after++; /* attached while it ran */
                break;
            }
            ev.depth = (uint16_t)th->depth--;
            if (th->depth >= AHP_STACK_DEPTH)
                break;
            struct ahp_frame *f = &th->frames[th->depth];
            if (f->id != r->id) {
                d->unmatched_after++;
                break;
            }
            uint64_t incl = ev.ts_ns > f->start_ns ? ev.ts_ns - f->start_ns : 0;
            uint64_t excl = incl > f->child_ns ? incl - f->child_ns : 0;
            ev.trigger_id = excl;
            account(d, r->type, incl, excl);
            if (th->depth > 0)
                th->frames[th->depth - 1].child_ns += incl;
            break;
        }
        count(d, r->type, r->kind);
        int rc = fn ? fn(&ev, ctx) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

void ahp_decoder_free(struct ahp_decoder *d)
{
    free(d->threads);
    d->threads = NULL;
    d->nthreads = d->cap = 0;
}
