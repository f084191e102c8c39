/*
 * fuzz_decode.c - libFuzzer target: any bytes as batches out of the ring buffer (struct
 * ahp_ring_batch, src/contracts/ahprof.h), through the decoder (decode.c) and the time-order merge
 * (merge.c), the way `ahprof record` drives them (collector.c). The BPF side checks headers
 * before they get there, but the records are the target's memory all the same: it must never
 * crash, hang, leak or read out of bounds (ASan, UBSan), and what comes out must be events
 * libah could have raised.
 *
 * Input: one mode byte, then batches of sizeof(struct ahp_ring_batch) bytes each, each handed
 * over as a ring-buffer message of its own size (the last one may be short: a message cut
 * before the records its header claims must be dropped, never read past). Mode bits 0-1 pick the
 * tick rate (ns per tick) the decoder starts with; bit 2 releases merged events with a reorder
 * window as they come, else only at the end; bit 3 takes the run APIs the collector uses
 * (..._run, ahp_merge_push_run, ahp_merge_release_runs) instead of one event at a time; bit 4
 * gives the decoder a table of live resources, as `top` does (live_rules.h): every slot must
 * then hold only an id that maps to it.
 * gen_decode_corpus writes seeds in this form.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect/decode.h"
#include "collect/merge.h"

struct sink {
    uint64_t events, last_ts, late_seen;
};

static int on_merged(const struct ahp_event *ev, void *ctx)
{
    struct sink *s = ctx;
    /* The decoder drops what libah never writes. */
    if (ev->kind < AHP_EV_INIT || ev->kind > AHP_EV_RESOLVE || ev->type < 0 ||
        ev->type >= AHP_TYPE_MAX || ev->id < 2 || ev->tid == 0)
        abort();
    if (ev->ts_ns < s->last_ts)
        s->late_seen++;
    else
        s->last_ts = ev->ts_ns;
    s->events++;
    return 0;
}

static int on_decoded(const struct ahp_event *ev, void *ctx)
{
    return ahp_merge_push(ctx, ev);
}

static int on_merged_run(const struct ahp_event *ev, size_t n, void *ctx)
{
    if (n == 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (ev[i].tid != ev[0].tid)
            abort(); /* a run is one thread's */
        on_merged(&ev[i], ctx);
    }
    return 0;
}

static int on_decoded_run(struct ahp_event *ev, size_t n, void *ctx)
{
    struct ahp_merge *merge = ctx;
    long k = ahp_merge_push_run(merge, ev, n);
    /* Unbounded pool: everything is taken. */
    return k == (long)n ? 0 : k < 0 ? (int)k : -1;
}

static void release(struct ahp_merge *m, bool runs, uint64_t horizon, size_t count, struct sink *s)
{
    if (runs)
        ahp_merge_release_runs(m, horizon, count, on_merged_run, s);
    else if (count == SIZE_MAX)
        ahp_merge_release(m, horizon, on_merged, s);
    else
        ahp_merge_release_count(m, count, on_merged, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const double rates[4] = {1.0, 0.3846, 1e-9, 1e12};
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    struct ahp_decoder *d = calloc(1, sizeof(*d));
    struct ahp_merge merge;
    memset(&merge, 0, sizeof(merge));
    struct sink sink = {0};
    if (d == NULL)
        return 0;
    d->rate.ns_per_tick = rates[mode & 3];
    enum { LIVE_SLOTS = 1024 };
    struct ahp_live *live = mode & 16 ? calloc(LIVE_SLOTS, sizeof(*live)) : NULL;
    d->live = live;
    d->live_mask = LIVE_SLOTS - 1;
    d->lifecycle_from_ns = 1;
    uint64_t newest = 0;
    struct ahp_ring_batch *m = NULL;
    for (size_t off = 0; off < size; off += sizeof(*m)) {
        size_t n = size - off < sizeof(*m) ? size - off : sizeof(*m);
        /* 8-byte aligned, like ring-buffer records, and no longer than the message: ASan sees
         * any read past it. */
        m = aligned_alloc(8, (n + 7) & ~(size_t)7);
        if (m == NULL)
            break;
        memcpy(m, data + off, n);
        int rc = mode & 8 ? ahp_decode_ring_message_run(d, m, n, on_decoded_run, &merge)
                          : ahp_decode_ring_message(d, m, n, on_decoded, &merge);
        if (rc == 0 && n >= AHP_RING_BATCH_BYTES(0) && m->batch.hdr.anchor_ns > newest)
            newest = m->batch.hdr.anchor_ns;
        free(m);
        if (rc < 0)
            break;
        if (mode & 4)
            release(&merge, mode & 8, newest > 100000000 ? newest - 100000000 : 0, SIZE_MAX, &sink);
        if (merge.held > 4096)
            release(&merge, mode & 8, UINT64_MAX, merge.held / 2, &sink);
    }
    release(&merge, mode & 8, UINT64_MAX, SIZE_MAX, &sink);
    if (merge.held != 0 || sink.late_seen != merge.late)
        abort();
    for (size_t i = 0; live != NULL && i < LIVE_SLOTS; i++)
        if (live[i].id != 0 && ((live[i].id & ~AHP_LIVE_TOMBSTONE) & (LIVE_SLOTS - 1)) != i)
            abort();
    free(live);
    ahp_merge_free(&merge);
    ahp_decoder_free(d);
    free(d);
    return 0;
}
