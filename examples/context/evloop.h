/*
 * evloop.h - the smallest event loop the context examples need: timers on the loop thread
 * and a worker pool in the style of libuv's uv_queue_work().
 *
 * Every callback runs in the scope of its own libah resource, created when the callback is
 * scheduled: that is all it takes for the context storage (ah_store_*) to follow the work
 * from the code that scheduled it to the callback, on whichever thread it runs. Scheduling
 * functions may be called from any thread, callbacks included.
 */
#ifndef CONTEXT_EVLOOP_H
#define CONTEXT_EVLOOP_H

typedef void (*ev_cb)(void *arg);

struct ev_loop;

/* A loop with WORKERS pool threads (at least one). NULL without memory or threads. */
struct ev_loop *ev_loop_new(int workers);

/* Stop the pool and free the loop. Nothing may be pending (ev_run() returned). */
void ev_loop_free(struct ev_loop *loop);

/* Run CB(ARG) on the loop thread DELAY_MS from now, in a TIMER resource. 0 or -ENOMEM. */
int ev_timeout(struct ev_loop *loop, unsigned delay_ms, ev_cb cb, void *arg);

/* Like ev_timeout, for a request arriving from outside: a REQ resource. */
int ev_request(struct ev_loop *loop, unsigned delay_ms, ev_cb cb, void *arg);

/* Run WORK(ARG) on a pool thread, then DONE(ARG) (if not NULL) on the loop thread, both in
 * the scope of one WORK resource. 0 or -ENOMEM. */
int ev_queue_work(struct ev_loop *loop, ev_cb work, ev_cb done, void *arg);

/* Run callbacks on the calling thread until nothing is scheduled any more. */
void ev_run(struct ev_loop *loop);

#endif
