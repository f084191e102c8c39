/*
 * timer.h - one-shot timers on a min-heap, each an async resource of type TIMER.
 *
 * A timer is one resource for its whole life, however often it is re-armed, like a Node.js
 * Timeout: its callback runs in the timer's scope each time it fires.
 */
#ifndef SERVER_TIMER_H
#define SERVER_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "ah.h"
#include "loop.h"

struct timer;

/* STATUS is 0 when the timer fired, -ECANCELED when the loop shut down before it was due. */
typedef void (*timer_cb)(struct timer *t, int status);

struct timer {
    ah_resource_t resource;
    struct loop *loop;
    timer_cb cb;
    uint64_t deadline_ns;
    uint64_t sequence; /* ties broken in arming order */
    size_t heap_index; /* TIMER_NOT_ARMED while stopped */
};

#define TIMER_NOT_ARMED SIZE_MAX

/* Create the TIMER resource, triggered by TRIGGER_ID (0: the current execution). */
void timer_init(struct loop *loop, struct timer *t, timer_cb cb, ah_id_t trigger_id);

/* Arm (or re-arm) T to fire DELAY_NS after the loop's current time. */
void timer_start(struct timer *t, uint64_t delay_ns);
void timer_stop(struct timer *t);

/* Stop T and destroy its resource. May be called from T's own callback; T's memory must
 * stay valid until that callback has returned. */
void timer_close(struct timer *t);

/* For the loop: the earliest deadline (UINT64_MAX if none) and firing what is due. */
uint64_t timer_next_deadline(const struct loop *loop);
void timer_run_due(struct loop *loop);

/* At shutdown: fire every armed timer with -ECANCELED so its owner can finish. */
void timer_cancel_all(struct loop *loop);

#endif
