/*
 * decode.h - turning the batches of the batch path (struct ahp_ring_batch, src/contracts/ahprof.h)
 * into the events of the per-event path: ns timestamps, registry sequence numbers, nesting depth,
 * exclusive callback time; and the aggregates of `top`: per-type counters and histograms, and
 * the table of live resources.
 */
#ifndef AHP_DECODE_H
#define AHP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "ahprof.h"

/* Ticks of the TSC to ns, measured against CLOCK_MONOTONIC (ahp_tick_rate_measure). */
struct ahp_tick_rate {
    double ns_per_tick;
    uint64_t mult; /* ns = ticks * mult >> shift, mult < 2^32, for the BPF side */
    uint32_t shift;
};

/* Spin for about SPAN_NS reading both clocks; 1 ns per tick where there is no TSC. */
void ahp_tick_rate_measure(struct ahp_tick_rate *rate, uint64_t span_ns);

struct ahp_decode_thread;

/* Destroys decoded before their init that their slot of the live table had no room to mark
 * (src/contracts/live_rules.h: it held another live resource or another id's recent mark), so
 * that the init, when it comes, does not leave its resource alive: AHP_EARLY_DESTROY_BUCKETS
 * buckets of AHP_EARLY_DESTROY_WAYS ids, 1 MiB mapped at the first one. */
#define AHP_EARLY_DESTROY_BUCKET_BITS 13
#define AHP_EARLY_DESTROY_BUCKETS (1u << AHP_EARLY_DESTROY_BUCKET_BITS)
#define AHP_EARLY_DESTROY_WAYS 8
#define AHP_EARLY_DESTROYS (AHP_EARLY_DESTROY_BUCKETS * AHP_EARLY_DESTROY_WAYS)
struct ahp_early_destroys;

struct ahp_decoder {
    struct ahp_tick_rate rate;
    /* The first TSC anchor seen: with each later one, a rate measured over the recording. */
    uint64_t first_anchor_ticks, first_anchor_ns;
    struct ahp_decode_thread *threads; /* open addressing on tid */
    uint32_t nthreads, cap;
    struct ahp_type_stats
        stats[AHP_TYPE_MAX]; /* top's per-type counters, as the BPF side keeps them */
    uint64_t stack_overflow, unmatched_after;
    /* Batches come from the target's memory: what libah would never write is dropped and
     * counted (src/contracts/ahprof.h, batch_malformed and records_malformed). */
    uint64_t malformed_batches, malformed_records;
    uint64_t malformed_dropped; /* records dropped with them: lost events */
    /* Records of a generation decoded already, handed over again: dropped, not counted twice. */
    uint64_t resent_records;
    /* `top`'s table of live resources (src/contracts/live_rules.h), LIVE_MASK + 1 slots; NULL:
     * not kept (record). Events of ids the target chose index it, masked. */
    struct ahp_live *live;
    uint64_t live_mask;
    /* Lifecycle anomalies are judged for resources created from then on (0: not yet). */
    uint64_t lifecycle_from_ns;
    uint64_t live_untracked;     /* inits not tracked: their slot held another live resource */
    double measured_ns_per_tick; /* RATE as measured at start-up, 0 until the first batch */
    struct ahp_event *out;       /* the events of the batch being handed over */
    /* The destroys decoded before their init (NULL until the first) and how many ids it
     * holds, some maybe expired. */
    struct ahp_early_destroys *early;
    uint32_t early_count;
    uint64_t early_newest_ns; /* the newest destroy it ever held */
    /* Early destroys younger than AHP_LIVE_MARK_NS pushed out of a full bucket (or with no
     * memory for any): if their init comes, their resource shows alive. */
    uint64_t live_destroys_forgotten;
};

typedef int (*ahp_decoded_fn)(const struct ahp_event *ev, void *ctx);

/* Decode one batch, handing each event to FN in the thread's order. Returns 0, FN's first
 * non-zero result, or -ENOMEM. */
int ahp_decode_batch(struct ahp_decoder *d, const struct ahp_ring_batch *m, ahp_decoded_fn fn,
                     void *ctx);

/* One ring-buffer message of SIZE bytes holding a batch (cut after its last record in use,
 * AHP_RING_BATCH_BYTES): a message too short for the records its header claims is dropped and
 * counted as malformed. Returns as ahp_decode_batch. */
int ahp_decode_ring_message(struct ahp_decoder *d, const void *data, size_t size, ahp_decoded_fn fn,
                            void *ctx);

/* The same, handing FN all the events of the batch at once (N >= 1, one thread's, in its
 * order): one call per batch instead of one per event. EV is the decoder's until FN returns,
 * and FN may change it (the collector flags events there). */
typedef int (*ahp_decoded_run_fn)(struct ahp_event *ev, size_t n, void *ctx);
int ahp_decode_batch_run(struct ahp_decoder *d, const struct ahp_ring_batch *m,
                         ahp_decoded_run_fn fn, void *ctx);
int ahp_decode_ring_message_run(struct ahp_decoder *d, const void *data, size_t size,
                                ahp_decoded_run_fn fn, void *ctx);

void ahp_decoder_free(struct ahp_decoder *d);

#endif
