/*
 * timer.c - the timer heap and TIMER resources.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "resources.h"
#include "timer.h"

static int timer_before(const struct timer *a, const struct timer *b)
{
    if (a->deadline_ns != b->deadline_ns)
        return a->deadline_ns < b->deadline_ns;
    return a->sequence < b->sequence;
}

static void heap_place(struct loop *loop, size_t i, struct timer *t)
{
    loop->timers[i] = t;
    t->heap_index = i;
}

static void heap_sift_up(struct loop *loop, size_t i)
{
    struct timer *t = loop->timers[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->timers[parent]))
            break;
        heap_place(loop, i, loop->timers[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_sift_down(struct loop *loop, size_t i)
{
    struct timer *t = loop->timers[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->timer_count)
            break;
        if (child + 1 < loop->timer_count &&
            timer_before(loop->timers[child + 1], loop->timers[child]))
            child++;
        if (!timer_before(loop->timers[child], t))
            break;
        heap_place(loop, i, loop->timers[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

static void heap_push(struct loop *loop, struct timer *t)
{
    if (loop->timer_count == loop->timer_capacity) {
        size_t capacity = loop->timer_capacity ? 2 * loop->timer_capacity : 64;
        struct timer **timers = realloc(loop->timers, capacity * sizeof *timers);
        if (!timers) {
            fprintf(stderr, "ah-server: out of memory for timers\n");
            abort();
        }
        loop->timers = timers;
        loop->timer_capacity = capacity;
    }
    heap_place(loop, loop->timer_count++, t);
    heap_sift_up(loop, t->heap_index);
}

static void heap_remove(struct loop *loop, struct timer *t)
{
    size_t i = t->heap_index;
    struct timer *last = loop->timers[--loop->timer_count];
    t->heap_index = TIMER_NOT_ARMED;
    if (last == t)
        return;
    heap_place(loop, i, last);
    if (i > 0 && timer_before(last, loop->timers[(i - 1) / 2]))
        heap_sift_up(loop, i);
    else
        heap_sift_down(loop, i);
}

void timer_init(struct loop *loop, struct timer *t, timer_cb cb, ah_id_t trigger_id)
{
    t->loop = loop;
    t->cb = cb;
    t->heap_index = TIMER_NOT_ARMED;
    AH_CHECK(ah_init(&t->resource, resource_types.timer, trigger_id));
}

void timer_start(struct timer *t, uint64_t delay_ns)
{
    if (t->heap_index != TIMER_NOT_ARMED)
        heap_remove(t->loop, t);
    t->deadline_ns = t->loop->now_ns + delay_ns;
    t->sequence = t->loop->timer_sequence++;
    heap_push(t->loop, t);
}

void timer_stop(struct timer *t)
{
    if (t->heap_index != TIMER_NOT_ARMED)
        heap_remove(t->loop, t);
}

void timer_close(struct timer *t)
{
    timer_stop(t);
    AH_CHECK(ah_destroy(&t->resource));
}

uint64_t timer_next_deadline(const struct loop *loop)
{
    return loop->timer_count ? loop->timers[0]->deadline_ns : UINT64_MAX;
}

static void timer_fire(struct timer *t, int status)
{
    heap_remove(t->loop, t);
    AH_CHECK(ah_before(&t->resource));
    t->cb(t, status);
    AH_CHECK(ah_after(&t->resource));
}

void timer_run_due(struct loop *loop)
{
    /* A timer re-armed by its own callback with no delay waits for the next iteration
     * instead of starving I/O. */
    uint64_t armed_before = loop->timer_sequence;
    while (loop->timer_count && loop->timers[0]->deadline_ns <= loop->now_ns &&
           loop->timers[0]->sequence < armed_before)
        timer_fire(loop->timers[0], 0);
}

void timer_cancel_all(struct loop *loop)
{
    while (loop->timer_count)
        timer_fire(loop->timers[0], -ECANCELED);
}
