/* decode.c - batches to events, keeping per-thread execution stacks like the BPF side does. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "batch_rules.h"
#include "live_rules.h"
#include "common/clock.h"
#include "collect/decode.h"

struct ahp_decode_thread {
    uint32_t tid; /* 0: free slot */
    uint32_t depth;
    uint64_t last_ns;    /* timestamps of a thread never go back (see ahp_decode_batch) */
    uint64_t last_ticks; /* of the newest record decoded: one handed over again is not newer */
    uint64_t gen;        /* generation of the last batch seen */
    uint32_t next;       /* index of the record expected next in it */
    bool flushed;        /* ... and the thread was done with it */
    bool seen;
    bool after_gap; /* a batch was lost: scopes opened in it close unseen */
    struct ahp_frame frames[AHP_STACK_DEPTH];
};

#if defined(__x86_64__)
/* One reading of both clocks: the ticks around the ns reading, taken where they are closest. */
static void read_clocks(uint64_t *ticks, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = __builtin_ia32_rdtsc();
        uint64_t n = ahp_now_ns();
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
    while (ahp_now_ns() - n0 < span_ns)
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

/* What libah writes (src/contracts/ahprof.h); the BPF side checks the same before a batch gets
 * here. */
static bool header_ok(const struct ahp_ring_batch *m)
{
    const struct ahp_batch_header *h = &m->batch.hdr;
    return h->version == AHP_BATCH_VERSION && h->tid != 0 && h->count <= AHP_BATCH_RECORDS &&
           m->first <= h->count && (h->clock == AHP_CLOCK_TSC || h->clock == AHP_CLOCK_MONOTONIC);
}

/* The counters of TYPE, NULL for a type outside the table. */
static struct ahp_type_stats *stats_of(struct ahp_decoder *d, int32_t type)
{
    return type >= 0 && type < AHP_TYPE_MAX ? &d->stats[type] : NULL;
}

/* The live table's slot of ID, NULL when the table is not kept. */
static struct ahp_live *live_slot(const struct ahp_decoder *d, uint64_t id)
{
    return d->live ? &d->live[id & d->live_mask] : NULL;
}

/* The ids of a bucket in one cache line (the set is mapped page-aligned): all an init reads. */
struct ahp_early_destroy_bucket {
    uint64_t id[AHP_EARLY_DESTROY_WAYS]; /* 0: free */
    uint64_t ns[AHP_EARLY_DESTROY_WAYS]; /* when its destroy happened */
};
struct ahp_early_destroys {
    struct ahp_early_destroy_bucket bucket[AHP_EARLY_DESTROY_BUCKETS];
};

/* Eight consecutive ids a bucket: libah hands ids out in blocks of consecutive ones per thread,
 * so the inits that look here walk the buckets in order (spread by a hash, they cost a cache
 * miss each). The bits above those are hashed in: ids that share a live slot, the ones
 * remembered here, must not share a bucket too. */
static uint32_t early_bucket_of(uint64_t id)
{
    uint64_t spread = ((id >> 16) * 0x9e3779b97f4a7c15ull) >> (64 - AHP_EARLY_DESTROY_BUCKET_BITS);
    return (uint32_t)((id >> 3) + spread) & (AHP_EARLY_DESTROY_BUCKETS - 1);
}

/* Like a destroy mark (AHP_LIVE_MARK_NS), a remembered destroy keeps its place for as long as
 * its init may lag behind: after that (a resource created before the attach, whose init never
 * comes, or one whose init was not tracked) the place is any other's. Wrap-safe: times are
 * the target's to write. */
static bool early_expired(uint64_t destroyed_ns, uint64_t now)
{
    return now > destroyed_ns && now - destroyed_ns >= AHP_LIVE_MARK_NS;
}

/* ID was destroyed at NOW, before its init was seen, and its slot had no room for a mark. In
 * a full bucket the oldest destroy makes room: the newest is the likeliest to see its init
 * come (most lag a batch behind, milliseconds), the oldest to be one whose init never will. */
static void early_remember(struct ahp_decoder *d, uint64_t id, uint64_t now)
{
    if (d->early == NULL) {
        /* Zeroed pages, aligned, and in memory only as buckets are used. */
        void *p = mmap(NULL, sizeof(*d->early), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) {
            d->live_destroys_forgotten++;
            return;
        }
        d->early = p;
    }
    struct ahp_early_destroy_bucket *b = &d->early->bucket[early_bucket_of(id)];
    int way = 0;
    uint64_t way_ns = UINT64_MAX;
    for (int i = 0; i < AHP_EARLY_DESTROY_WAYS; i++) {
        if (b->id[i] == id)
            return; /* destroyed twice before its init: once is enough */
        uint64_t ns = b->id[i] == 0 ? 0 : b->ns[i];
        if (ns < way_ns) {
            way = i;
            way_ns = ns;
        }
    }
    if (b->id[way] == 0)
        d->early_count++;
    else if (!early_expired(b->ns[way], now))
        d->live_destroys_forgotten++;
    b->id[way] = id;
    b->ns[way] = now;
    if (now > d->early_newest_ns)
        d->early_newest_ns = now;
}

/* An init is older than its destroy, but the times of two threads' batches, each converted
 * from its own anchor, may disagree by a few us: by this much at most, it is taken. */
#define AHP_EARLY_CLOCK_SLACK_NS 100000ull

/* Whether ID, created at NOW, had its destroy remembered (it is forgotten now that its init
 * came). Only an init older than the newest destroy remembered looks: most inits are newer
 * (the set is looked in around the few that lag a batch behind), and a look reads a cache
 * line (+10% of the decoder's time per lifecycle when every init looked, measured). Expired
 * destroys give way in early_remember. */
static bool early_take(struct ahp_decoder *d, uint64_t id, uint64_t now)
{
    if (d->early_count == 0 ||
        (now > d->early_newest_ns && now - d->early_newest_ns >= AHP_EARLY_CLOCK_SLACK_NS))
        return false;
    struct ahp_early_destroy_bucket *b = &d->early->bucket[early_bucket_of(id)];
    for (int i = 0; i < AHP_EARLY_DESTROY_WAYS; i++) {
        if (b->id[i] == id) {
            b->id[i] = 0;
            d->early_count--;
            return true;
        }
    }
    return false;
}

static void live_insert(struct ahp_decoder *d, uint64_t id, uint64_t now, int32_t type,
                        uint32_t tid, uint64_t trigger_id)
{
    struct ahp_live *slot = live_slot(d, id);
    if (slot == NULL)
        return;
    bool tracked = ahp_live_insert(slot, id, now, type, tid, trigger_id);
    if (!tracked)
        d->live_untracked++;
    /* Its destroy came first, when the slot had no room for its mark: both are seen now, the
     * slot ends as if they had come in order. */
    if (early_take(d, id, now) && tracked && slot->id == id)
        slot->id = id | AHP_LIVE_TOMBSTONE;
}

static void live_callback(struct ahp_decoder *d, uint64_t id, uint64_t now)
{
    struct ahp_live *slot = live_slot(d, id);
    __s32 type;
    __u64 pending;
    if (slot && ahp_live_callback(slot, id, now, &type, &pending)) {
        struct ahp_type_stats *s = stats_of(d, type);
        if (s)
            ahp_count_pending(s, pending);
    }
}

static void live_remove(struct ahp_decoder *d, uint64_t id, uint64_t now, struct ahp_type_stats *s)
{
    struct ahp_live *slot = live_slot(d, id);
    if (slot == NULL)
        return;
    if (ahp_live_remove(slot, id, now)) {
        if (s)
            s->double_destroy++;
        return;
    }
    /* Neither its tombstone nor its mark: the slot is another id's (its init, if still to
     * come, would find it free once that one leaves). */
    __u64 held = slot->id;
    if (held != id && held != (id | AHP_LIVE_TOMBSTONE))
        early_remember(d, id, now);
}

/* An after of ID found no before open for it on its thread, though no batch of the thread was
 * lost: counted for its type when the resource was created once ahprof was attached (an after
 * of one created before is an attach, not a bug). */
static void after_without_before(struct ahp_decoder *d, uint64_t id, struct ahp_type_stats *s)
{
    d->unmatched_after++;
    struct ahp_live *slot = live_slot(d, id);
    if (s && slot && ahp_live_judged(slot, id, d->lifecycle_from_ns))
        s->after_without_before++;
}

/* How many of the records at the start of M were decoded already (a hand-over repeated, or one
 * that starts again from an earlier record of the generation): they must not count twice. The
 * BPF side hands each record over once, but a count or a resource counted twice is worse than
 * one left out, and nothing else would notice. UINT32_MAX: the whole message, state included,
 * says nothing new (a generation older than the last one, an empty message of one done with).
 * A thread that got the tid of one that exited starts again at generation 0 too: its records
 * are newer than any decoded, so they are not taken for a repeat. */
static uint32_t already_decoded(const struct ahp_decode_thread *th, const struct ahp_ring_batch *m,
                                uint32_t first, uint32_t n)
{
    const struct ahp_batch_header *h = &m->batch.hdr;
    if (!th->seen || (h->gen == th->gen && first >= th->next) || h->gen > th->gen)
        return 0;
    if (first < n && m->batch.rec[0].ticks > th->last_ticks)
        return 0; /* newer records: another thread's under a reused tid, after a gap */
    if (h->gen < th->gen || n < th->next)
        return UINT32_MAX;
    return th->next - first;
}

/* Decode the records of M into OUT[0..AHP_BATCH_RECORDS): how many, or -ENOMEM. */
static int decode_into(struct ahp_decoder *d, const struct ahp_ring_batch *m, struct ahp_event *out)
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
    int nout = 0;
    uint32_t n = h->count < AHP_BATCH_RECORDS ? h->count : AHP_BATCH_RECORDS;
    uint32_t first = m->first;
    uint64_t seq = h->seq;
    uint32_t repeated = already_decoded(th, m, first, n);
    if (repeated == UINT32_MAX) {
        d->resent_records += n - first;
        return 0;
    }
    /* From record FIRST + REPEATED on, with the seq it had. */
    for (uint32_t i = 0; i < repeated; i++)
        if (ahp_record_ok(&m->batch.rec[i]))
            seq += ahp_seq_step(m->batch.rec[i].kind);
    d->resent_records += repeated;
    first += repeated;
    const struct ahp_batch_record *rec = m->batch.rec + repeated;
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
    /* A repeat of a generation done with does not reopen it. */
    th->flushed = (m->flags & AHP_RING_FLUSHED) || (repeated > 0 && follows && th->flushed);
    /* Records before FIRST were streamed before (the thread was switched out): the message
     * holds the rest from rec[0], and its seq is the one before record FIRST. */
    /* In locals: the compiler cannot tell the stores into OUT from the thread's state, and
     * would reload and store it around every event. */
    uint64_t last_ns = th->last_ns, last_ticks = th->last_ticks;
    uint32_t depth = th->depth;
    const uint32_t tid = h->tid, pid = m->pid;
    for (uint32_t i = 0; i < n - first; i++) {
        const struct ahp_batch_record *r = &rec[i];
        /* The records were written on the target's CPU a moment ago: ask for them ahead. */
        __builtin_prefetch(r + 8);
        if (!ahp_record_ok(r)) {
            d->malformed_records++;
            d->malformed_dropped++;
            continue;
        }
        last_ticks = r->ticks;
        uint64_t ts = to_ns(d, h, r->ticks);
        if (ts < last_ns)
            ts = last_ns; /* conversion noise between two anchors, ns at most */
        last_ns = ts;
        /* Field by field where it goes: a structure built on the stack in narrow stores and
         * copied out in wide loads stalls on every event (store forwarding), a third of the
         * reader's time on a tight loop. */
        struct ahp_event *ev = &out[nout++];
        uint8_t kind = r->kind;
        int32_t type = r->type;
        uint64_t id = r->id;
        ev->ts_ns = ts;
        ev->id = id;
        ev->trigger_id = 0;
        ev->seq = 0;
        ev->tid = tid;
        ev->type = type;
        ev->kind = kind;
        ev->flags = 0;
        ev->depth = 0;
        ev->pid = pid;
        struct ahp_type_stats *s = stats_of(d, type);
        seq += ahp_seq_step(kind);
        __u64 elapsed;
        switch (kind) {
        case AHP_EV_INIT:
            ev->trigger_id = r->arg;
            ev->seq = seq;
            if (s) {
                ahp_count_lifecycle(s, kind);
                ahp_count_self_created(s, th->frames, depth, type);
            }
            live_insert(d, id, ts, type, tid, r->arg);
            break;
        case AHP_EV_DESTROY:
            ev->seq = seq;
            if (s)
                ahp_count_lifecycle(s, kind);
            live_remove(d, id, ts, s);
            break;
        case AHP_EV_RESOLVE:
            if (s)
                ahp_count_lifecycle(s, kind);
            break;
        case AHP_EV_BEFORE:
            if (!ahp_scope_open(th->frames, &depth, id, type, ts))
                d->stack_overflow++;
            ev->depth = (uint16_t)depth;
            live_callback(d, id, ts);
            break;
        case AHP_EV_AFTER:
            switch (ahp_scope_close(th->frames, &depth, id, ts, &elapsed)) {
            case AHP_SCOPE_NONE_OPEN:
                if (th->after_gap) {
                    if (s) /* opened in a lost batch: count, untimed */
                        ahp_count_untimed_callback(s);
                } else {
                    after_without_before(d, id, s); /* attached while it ran */
                }
                break;
            case AHP_SCOPE_OTHER_ID:
                after_without_before(d, id, s);
                /* fall through */
            case AHP_SCOPE_TOO_DEEP:
                ev->depth = (uint16_t)(depth + 1);
                break;
            case AHP_SCOPE_CLOSED:
                ev->depth = (uint16_t)(depth + 1);
                ev->exclusive_ns = ahp_scope_time(th->frames, depth, elapsed);
                if (s)
                    ahp_count_callback(s, elapsed, ev->exclusive_ns);
                break;
            }
            break;
        }
    }
    th->last_ns = last_ns;
    th->last_ticks = last_ticks;
    th->depth = depth;
    return nout;
}

/* The events of one batch wait here until FN has seen them: 24 KiB, allocated once. */
static struct ahp_event *out_buffer(struct ahp_decoder *d)
{
    if (d->out == NULL)
        d->out = malloc(sizeof(*d->out) * AHP_BATCH_RECORDS);
    return d->out;
}

int ahp_decode_batch_run(struct ahp_decoder *d, const struct ahp_ring_batch *m,
                         ahp_decoded_run_fn fn, void *ctx)
{
    struct ahp_event *out = out_buffer(d);
    if (out == NULL)
        return -ENOMEM;
    int n = decode_into(d, m, out);
    if (n <= 0 || fn == NULL)
        return n < 0 ? n : 0;
    return fn(out, (size_t)n, ctx);
}

int ahp_decode_batch(struct ahp_decoder *d, const struct ahp_ring_batch *m, ahp_decoded_fn fn,
                     void *ctx)
{
    struct ahp_event *out = out_buffer(d);
    if (out == NULL)
        return -ENOMEM;
    int n = decode_into(d, m, out);
    for (int i = 0; i < n && fn != NULL; i++) {
        int rc = fn(&out[i], ctx);
        if (rc != 0)
            return rc;
    }
    return n < 0 ? n : 0;
}

/* The collector tells the two kinds of ring-buffer records apart by their size. */
_Static_assert(AHP_RING_BATCH_BYTES(0) > sizeof(struct ahp_event),
               "an empty batch message must be longer than an event");

/* Whether a message of SIZE bytes holds the records its header claims (else it is counted). */
static bool message_whole(struct ahp_decoder *d, const struct ahp_ring_batch *m, size_t size)
{
    if (size < AHP_RING_BATCH_BYTES(0))
        return false;
    uint32_t claimed =
        m->batch.hdr.count < AHP_BATCH_RECORDS ? m->batch.hdr.count : AHP_BATCH_RECORDS;
    if (size < AHP_RING_BATCH_BYTES(claimed > m->first ? claimed - m->first : 0)) {
        d->malformed_batches++;
        d->malformed_dropped += claimed > m->first ? claimed - m->first : 0;
        return false;
    }
    return true;
}

int ahp_decode_ring_message(struct ahp_decoder *d, const void *data, size_t size, ahp_decoded_fn fn,
                            void *ctx)
{
    if (!message_whole(d, data, size))
        return 0;
    return ahp_decode_batch(d, data, fn, ctx);
}

int ahp_decode_ring_message_run(struct ahp_decoder *d, const void *data, size_t size,
                                ahp_decoded_run_fn fn, void *ctx)
{
    if (!message_whole(d, data, size))
        return 0;
    return ahp_decode_batch_run(d, data, fn, ctx);
}

void ahp_decoder_free(struct ahp_decoder *d)
{
    free(d->threads);
    d->threads = NULL;
    d->nthreads = d->cap = 0;
    free(d->out);
    d->out = NULL;
    if (d->early != NULL)
        munmap(d->early, sizeof(*d->early));
    d->early = NULL;
    d->early_count = 0;
}
