/* merge.c - a k-way merge of per-thread event queues by timestamp. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"

struct ahp_merge_queue {
    uint32_t tid;
    struct ahp_event *ev; /* ring of CAP events */
    size_t head, count, cap;
};

static struct ahp_merge_queue *queue_of(struct ahp_merge *m, uint32_t tid)
{
    for (size_t i = 0; i < m->nqueues; i++)
        if (m->queues[i].tid == tid)
            return &m->queues[i];
    if (m->nqueues == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct ahp_merge_queue *grown = realloc(m->queues, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        m->queues = grown;
        m->cap = cap;
    }
    struct ahp_merge_queue *q = &m->queues[m->nqueues++];
    memset(q, 0, sizeof(*q));
    q->tid = tid;
    return q;
}

static int queue_grow(struct ahp_merge_queue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 1024;
    struct ahp_event *ev = malloc(cap * sizeof(*ev));
    if (ev == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        ev[i] = q->ev[(q->head + i) % q->cap];
    free(q->ev);
    q->ev = ev;
    q->head = 0;
    q->cap = cap;
    return 0;
}

int ahp_merge_push(struct ahp_merge *m, const struct ahp_event *ev)
{
    struct ahp_merge_queue *q = queue_of(m, ev->tid);
    if (q == NULL || (q->count == q->cap && queue_grow(q) < 0))
        return -ENOMEM;
    q->ev[(q->head + q->count) % q->cap] = *ev;
    q->count++;
    m->held++;
    return 0;
}

static int release(struct ahp_merge *m, uint64_t horizon, size_t count, ahp_merge_fn fn, void *ctx)
{
    for (; count > 0; count--) {
        /* Threads are few next to events: a scan of the queue heads is enough. */
        struct ahp_merge_queue *min = NULL;
        for (size_t i = 0; i < m->nqueues; i++) {
            struct ahp_merge_queue *q = &m->queues[i];
            if (q->count && (min == NULL || q->ev[q->head].ts_ns < min->ev[min->head].ts_ns))
                min = q;
        }
        if (min == NULL || min->ev[min->head].ts_ns > horizon)
            return 0;
        struct ahp_event ev = min->ev[min->head];
        min->head = (min->head + 1) % min->cap;
        min->count--;
        m->held--;
        if (ev.ts_ns < m->last_ts)
            m->late++;
        else
            m->last_ts = ev.ts_ns;
        int rc = fn(&ev, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ahp_merge_release(struct ahp_merge *m, uint64_t horizon, ahp_merge_fn fn, void *ctx)
{
    return release(m, horizon, SIZE_MAX, fn, ctx);
}

int ahp_merge_release_count(struct ahp_merge *m, size_t count, ahp_merge_fn fn, void *ctx)
{
    return release(m, UINT64_MAX, count, fn, ctx);
}

void ahp_merge_free(struct ahp_merge *m)
{
    for (size_t i = 0; i < m->nqueues; i++)
        free(m->queues[i].ev);
    free(m->queues);
    memset(m, 0, sizeof(*m));
}
