/* merge.c - a k-way merge of per-thread event queues by timestamp. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collect/merge.h"

/* Queues are chains of blocks from one pool, so that the events held, not the threads that
 * ever held some, decide the memory: a thread's emptied blocks serve the next busy one. */
#define BLOCK_EVENTS 1024

struct ahp_merge_block {
    struct ahp_merge_block *next;
    struct ahp_event ev[BLOCK_EVENTS];
};

struct ahp_merge_queue {
    uint32_t tid;
    struct ahp_merge_block *head, *tail;
    size_t head_i, tail_n; /* next event to pop in HEAD; events in TAIL */
    size_t count;
    /* The events held are in timestamp order (the decoder's are), the last pushed at
     * LAST_PUSH_TS: a run is then released by its ends, without reading every event. */
    bool sorted;
    uint64_t last_push_ts;
};

static struct ahp_merge_queue *queue_of(struct ahp_merge *m, uint32_t tid)
{
    /* Events come in batches of one thread: the queue of the last push, most of the time. */
    if (m->last_queue < m->nqueues && m->queues[m->last_queue].tid == tid)
        return &m->queues[m->last_queue];
    struct ahp_merge_queue *idle = NULL;
    for (size_t i = 0; i < m->nqueues; i++) {
        if (m->queues[i].tid == tid) {
            m->last_queue = i;
            return &m->queues[i];
        }
        if (idle == NULL && m->queues[i].count == 0)
            idle = &m->queues[i];
    }
    /* Threads come and go: an empty queue takes the new one, so there are never more queues
     * than threads holding events at once. */
    if (idle != NULL) {
        idle->tid = tid;
        m->last_queue = (size_t)(idle - m->queues);
        return idle;
    }
    if (m->nqueues == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct ahp_merge_queue *grown = realloc(m->queues, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        m->queues = grown;
        m->cap = cap;
    }
    m->last_queue = m->nqueues;
    struct ahp_merge_queue *q = &m->queues[m->nqueues++];
    memset(q, 0, sizeof(*q));
    q->tid = tid;
    return q;
}

static struct ahp_merge_block *block_get(struct ahp_merge *m)
{
    struct ahp_merge_block *b = m->free_blocks;
    if (b != NULL) {
        m->free_blocks = b->next;
    } else {
        b = malloc(sizeof(*b));
        if (b == NULL)
            return NULL;
        m->blocks++;
    }
    b->next = NULL;
    return b;
}

static void block_put(struct ahp_merge *m, struct ahp_merge_block *b)
{
    b->next = m->free_blocks;
    m->free_blocks = b;
}

/* Room at the tail of Q for one event at least: 0, -ENOBUFS or -ENOMEM. */
static int tail_room(struct ahp_merge *m, struct ahp_merge_queue *q)
{
    if (q->tail != NULL && q->tail_n < BLOCK_EVENTS)
        return 0;
    /* One block at least, so that an empty window always takes an event. */
    if (m->free_blocks == NULL && m->max_held && m->blocks > 0 &&
        (m->blocks + 1) * BLOCK_EVENTS > m->max_held)
        return -ENOBUFS;
    struct ahp_merge_block *b = block_get(m);
    if (b == NULL)
        return -ENOMEM;
    if (q->tail == NULL) {
        q->head = b;
        q->head_i = 0;
    } else {
        q->tail->next = b;
    }
    q->tail = b;
    q->tail_n = 0;
    return 0;
}

/* Keep Q's order flag for EV[0..N) about to be appended. */
static void note_order(struct ahp_merge_queue *q, const struct ahp_event *ev, size_t n)
{
    if (q->count == 0) {
        q->sorted = true;
        q->last_push_ts = 0;
    }
    uint64_t last = q->last_push_ts;
    bool sorted = q->sorted;
    for (size_t i = 0; i < n; i++) {
        sorted &= ev[i].ts_ns >= last;
        last = ev[i].ts_ns;
    }
    q->sorted = sorted;
    q->last_push_ts = last;
}

int ahp_merge_push(struct ahp_merge *m, const struct ahp_event *ev)
{
    struct ahp_merge_queue *q = queue_of(m, ev->tid);
    if (q == NULL)
        return -ENOMEM;
    int rc = tail_room(m, q);
    if (rc < 0)
        return rc;
    note_order(q, ev, 1);
    q->tail->ev[q->tail_n++] = *ev;
    q->count++;
    m->held++;
    return 0;
}

long ahp_merge_push_run(struct ahp_merge *m, const struct ahp_event *ev, size_t n)
{
    size_t done = 0;
    while (done < n) {
        /* A run of one thread goes to its queue in block-sized copies. */
        uint32_t tid = ev[done].tid;
        size_t same = 1;
        while (done + same < n && ev[done + same].tid == tid)
            same++;
        struct ahp_merge_queue *q = queue_of(m, tid);
        if (q == NULL)
            return done > 0 ? (long)done : -ENOMEM;
        while (same > 0) {
            int rc = tail_room(m, q);
            if (rc == -ENOBUFS || (rc < 0 && done > 0))
                return (long)done;
            if (rc < 0)
                return rc;
            size_t k = BLOCK_EVENTS - q->tail_n < same ? BLOCK_EVENTS - q->tail_n : same;
            note_order(q, &ev[done], k);
            memcpy(&q->tail->ev[q->tail_n], &ev[done], k * sizeof(*ev));
            q->tail_n += k;
            q->count += k;
            m->held += k;
            done += k;
            same -= k;
        }
    }
    return (long)done;
}

static struct ahp_event *queue_head(struct ahp_merge_queue *q)
{
    return &q->head->ev[q->head_i];
}

/* Drop the K (>= 1) events at the head of Q, all in its head block. */
static void queue_pop(struct ahp_merge *m, struct ahp_merge_queue *q, size_t k)
{
    q->head_i += k;
    q->count -= k;
    m->held -= k;
    if (q->count == 0) {
        block_put(m, q->head);
        q->head = q->tail = NULL;
        q->head_i = q->tail_n = 0;
    } else if (q->head_i == BLOCK_EVENTS) {
        struct ahp_merge_block *next = q->head->next;
        block_put(m, q->head);
        q->head = next;
        q->head_i = 0;
    }
}

/* The first index of RUN[0..N), in timestamp order, whose timestamp is above TS (N if none). */
static size_t first_above(const struct ahp_event *run, size_t n, uint64_t ts)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (run[mid].ts_ns <= ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* How many of RUN[0..MOST), in timestamp order, go now (the first always, then up to LIMIT),
 * counting the late ones and moving last_ts as one at a time would, from the ends of the run
 * and a binary search instead of every event. */
static size_t sorted_run(struct ahp_merge *m, const struct ahp_event *run, size_t most,
                         uint64_t limit)
{
    size_t k = run[most - 1].ts_ns <= limit ? most : 1 + first_above(run + 1, most - 1, limit);
    if (run[0].ts_ns < m->last_ts) /* the late ones: those older than what went before */
        m->late += first_above(run, k, m->last_ts - 1);
    if (run[k - 1].ts_ns >= m->last_ts)
        m->last_ts = run[k - 1].ts_ns;
    return k;
}

/* FN or RUN_FN: events one at a time, or runs of them straight from the blocks. */
static int release(struct ahp_merge *m, uint64_t horizon, size_t count, ahp_merge_fn fn,
                   ahp_merge_run_fn run_fn, void *ctx)
{
    while (count > 0) {
        /* Threads are few next to events: a scan of the queue heads is enough. The oldest
         * queue then gives a run of events, up to the head of the next oldest. */
        struct ahp_merge_queue *min = NULL;
        uint64_t next_ts = UINT64_MAX;
        bool next_after = false; /* the next oldest queue comes after MIN in the scan */
        for (size_t i = 0; i < m->nqueues; i++) {
            struct ahp_merge_queue *q = &m->queues[i];
            if (q->count == 0)
                continue;
            uint64_t ts = queue_head(q)->ts_ns;
            if (min == NULL || ts < queue_head(min)->ts_ns) {
                if (min != NULL) {
                    next_ts = queue_head(min)->ts_ns;
                    next_after = false;
                }
                min = q;
            } else if (ts < next_ts) {
                next_ts = ts;
                next_after = true;
            }
        }
        if (min == NULL || queue_head(min)->ts_ns > horizon)
            return 0;
        /* Ties go to the queue scanned first, as one event at a time would. */
        uint64_t limit = horizon < next_ts ? horizon : next_ts - (next_after ? 0 : 1);
        if (next_ts == 0 && !next_after)
            limit = 0;
        if (run_fn == NULL) {
            do {
                struct ahp_event ev = *queue_head(min);
                queue_pop(m, min, 1);
                count--;
                if (ev.ts_ns < m->last_ts)
                    m->late++;
                else
                    m->last_ts = ev.ts_ns;
                int rc = fn(&ev, ctx);
                if (rc != 0)
                    return rc;
            } while (count > 0 && min->count > 0 && queue_head(min)->ts_ns <= limit);
            continue;
        }
        do {
            /* The same events as one at a time, handed over where they lie: the run ends
             * with the head block, COUNT, or the first event past LIMIT. */
            const struct ahp_event *run = queue_head(min);
            size_t in_block = (min->head == min->tail ? min->tail_n : BLOCK_EVENTS) - min->head_i;
            size_t most = in_block < count ? in_block : count;
            size_t k = min->sorted ? sorted_run(m, run, most, limit) : 0;
            if (k == 0) {
                uint64_t last_ts = m->last_ts;
                do {
                    uint64_t ts = run[k].ts_ns;
                    if (ts < last_ts)
                        m->late++;
                    else
                        last_ts = ts;
                    k++;
                } while (k < most && run[k].ts_ns <= limit);
                m->last_ts = last_ts;
            }
            /* FN reads the block before it can go back to the pool. */
            int rc = run_fn(run, k, ctx);
            queue_pop(m, min, k);
            count -= k;
            if (rc != 0)
                return rc;
        } while (count > 0 && min->count > 0 && queue_head(min)->ts_ns <= limit);
    }
    return 0;
}

int ahp_merge_release(struct ahp_merge *m, uint64_t horizon, ahp_merge_fn fn, void *ctx)
{
    return release(m, horizon, SIZE_MAX, fn, NULL, ctx);
}

int ahp_merge_release_count(struct ahp_merge *m, size_t count, ahp_merge_fn fn, void *ctx)
{
    return release(m, UINT64_MAX, count, fn, NULL, ctx);
}

int ahp_merge_release_runs(struct ahp_merge *m, uint64_t horizon, size_t count, ahp_merge_run_fn fn,
                           void *ctx)
{
    return release(m, horizon, count, NULL, fn, ctx);
}

void ahp_merge_free(struct ahp_merge *m)
{
    for (size_t i = 0; i < m->nqueues; i++) {
        struct ahp_merge_block *b = m->queues[i].head;
        while (b != NULL) {
            struct ahp_merge_block *next = b->next;
            free(b);
            b = next;
        }
    }
    while (m->free_blocks != NULL) {
        struct ahp_merge_block *next = m->free_blocks->next;
        free(m->free_blocks);
        m->free_blocks = next;
    }
    free(m->queues);
    memset(m, 0, sizeof(*m));
}
