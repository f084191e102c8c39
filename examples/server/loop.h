/*
 * loop.h - a single-threaded epoll event loop in the style of libuv.
 *
 * One iteration: run the timers that are due, run deferred callbacks, wait for I/O, dispatch
 * it, run deferred callbacks again. The loop itself knows nothing about async resources:
 * every callback enters the scope of the resource it runs for, so that the code shows where
 * a C program puts its ah_before()/ah_after() calls.
 */
#ifndef SERVER_LOOP_H
#define SERVER_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct timer;
struct io_watcher;

typedef void (*io_cb)(struct io_watcher *w, uint32_t events);

/* A file descriptor watched for epoll EVENTS. */
struct io_watcher {
    struct loop *loop;
    int fd;
    uint32_t events;
    io_cb cb;
};

/*
 * A callback run from the loop after the current callback has returned, like libuv's pending
 * and close callbacks. Completions go through it so that a callback never runs nested inside
 * the code that caused it, and memory is released only once no scope can still refer to it.
 */
struct deferred {
    struct deferred *next;
    void (*cb)(struct deferred *d);
};

struct loop {
    int epoll_fd;
    uint64_t now_ns; /* cached at each wake-up, like uv_now() */
    int stopping;
    struct deferred *deferred_head;
    struct deferred **deferred_tail;
    /* Timer min-heap, maintained by timer.c. */
    struct timer **timers;
    size_t timer_count;
    size_t timer_capacity;
    uint64_t timer_sequence;
};

int loop_init(struct loop *loop);
void loop_free(struct loop *loop);

/* Run until loop_stop() or until DEADLINE_NS (CLOCK_MONOTONIC; 0 means no deadline). */
void loop_run(struct loop *loop, uint64_t deadline_ns);
void loop_stop(struct loop *loop);

/* Run CB(D) from the loop once the current callback has returned. */
void loop_defer(struct loop *loop, struct deferred *d, void (*cb)(struct deferred *d));

/* Run deferred callbacks, including those they defer, until none is left. */
void loop_run_deferred(struct loop *loop);

/* Watch FD (level-triggered). Returns 0 or a negative errno value. */
int io_start(struct loop *loop, struct io_watcher *w, int fd, uint32_t events, io_cb cb);
int io_set_events(struct io_watcher *w, uint32_t events);
void io_stop(struct io_watcher *w);

#endif
