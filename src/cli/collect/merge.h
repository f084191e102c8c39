/*
 * merge.h - one time-ordered stream out of per-thread batches.
 *
 * Each thread's events arrive in its own order, but a thread hands its batch over only when
 * it flushes, so events of different threads arrive out of time order (a resource created on
 * one thread may run on another before the first thread's batch shows up). Events wait in a
 * queue per thread and leave in timestamp order once they are older than the reorder window;
 * an event that arrives later than that is passed on at once and counted as late.
 *
 * The events held live in blocks of 1024 from a pool that never exceeds max_held events:
 * the memory is bounded by the window, not by the event rate or the number of threads.
 */
#ifndef AHP_MERGE_H
#define AHP_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "ahprof.h"

struct ahp_merge_queue;
struct ahp_merge_block;

struct ahp_merge {
    struct ahp_merge_queue *queues;
    size_t nqueues, cap;
    uint64_t last_ts; /* timestamp of the last event passed on */
    uint64_t late;    /* events passed on out of order */
    size_t held;      /* events waiting */
    size_t max_held;  /* capacity of the pool (in blocks of 1024, one at least); 0: no limit */
    size_t blocks;    /* blocks allocated */
    struct ahp_merge_block *free_blocks;
    size_t last_queue; /* index of the queue of the last push */
};

typedef int (*ahp_merge_fn)(const struct ahp_event *ev, void *ctx);

/* Queue one event (in its thread's order). Returns 0, -ENOBUFS when the pool is full (release
 * some events and push again), or -ENOMEM. */
int ahp_merge_push(struct ahp_merge *m, const struct ahp_event *ev);

/* Pass on, in timestamp order, every queued event with ts_ns <= HORIZON (UINT64_MAX: all).
 * Returns 0 or FN's first non-zero result. */
int ahp_merge_release(struct ahp_merge *m, uint64_t horizon, ahp_merge_fn fn, void *ctx);

/* Pass on the COUNT oldest queued events, whatever their age. */
int ahp_merge_release_count(struct ahp_merge *m, size_t count, ahp_merge_fn fn, void *ctx);

/* Queue EV[0..N) (each thread's events in its order): the number queued, fewer than N (0
 * too) when the pool is full (release some events and push the rest), or -ENOMEM. */
long ahp_merge_push_run(struct ahp_merge *m, const struct ahp_event *ev, size_t n);

/* As ahp_merge_release and ahp_merge_release_count together (SIZE_MAX and UINT64_MAX: no
 * limit), in the same order, but FN gets runs of consecutive events where they are held,
 * without a copy: N >= 1, one thread's. FN must not push or release. */
typedef int (*ahp_merge_run_fn)(const struct ahp_event *ev, size_t n, void *ctx);
int ahp_merge_release_runs(struct ahp_merge *m, uint64_t horizon, size_t count, ahp_merge_run_fn fn,
                           void *ctx);

void ahp_merge_free(struct ahp_merge *m);

#endif
