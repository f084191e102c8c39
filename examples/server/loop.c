/*
 * loop.c - epoll dispatch, deferred callbacks and the run loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/clock.h"
#include "loop.h"
#include "timer.h"

#define LOOP_MAX_EVENTS 256

int loop_init(struct loop *loop)
{
    *loop = (struct loop){0};
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0)
        return -errno;
    loop->deferred_tail = &loop->deferred_head;
    loop->now_ns = clock_now_ns();
    return 0;
}

void loop_free(struct loop *loop)
{
    close(loop->epoll_fd);
    free(loop->timers);
    *loop = (struct loop){.epoll_fd = -1};
}

void loop_stop(struct loop *loop)
{
    loop->stopping = 1;
}

void loop_defer(struct loop *loop, struct deferred *d, void (*cb)(struct deferred *d))
{
    d->next = NULL;
    d->cb = cb;
    *loop->deferred_tail = d;
    loop->deferred_tail = &d->next;
}

void loop_run_deferred(struct loop *loop)
{
    while (loop->deferred_head) {
        struct deferred *d = loop->deferred_head;
        loop->deferred_head = d->next;
        if (!loop->deferred_head)
            loop->deferred_tail = &loop->deferred_head;
        d->cb(d);
    }
}

int io_start(struct loop *loop, struct io_watcher *w, int fd, uint32_t events, io_cb cb)
{
    w->loop = loop;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int io_set_events(struct io_watcher *w, uint32_t events)
{
    if (events == w->events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(w->loop->epoll_fd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void io_stop(struct io_watcher *w)
{
    if (w->fd >= 0)
        epoll_ctl(w->loop->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
}

/* Milliseconds epoll may sleep: until the next timer or the deadline, rounded up so that
 * a timer never fires early; 0 when deferred work is waiting. */
static int loop_timeout_ms(struct loop *loop, uint64_t deadline_ns)
{
    if (loop->deferred_head || loop->stopping)
        return 0;
    uint64_t wake_ns = timer_next_deadline(loop);
    if (deadline_ns && deadline_ns < wake_ns)
        wake_ns = deadline_ns;
    if (wake_ns == UINT64_MAX)
        return -1;
    if (wake_ns <= loop->now_ns)
        return 0;
    uint64_t ms = (wake_ns - loop->now_ns + NS_PER_MS - 1) / NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

void loop_run(struct loop *loop, uint64_t deadline_ns)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    loop->stopping = 0;
    while (!loop->stopping) {
        loop->now_ns = clock_now_ns();
        if (deadline_ns && loop->now_ns >= deadline_ns)
            break;
        timer_run_due(loop);
        loop_run_deferred(loop);

        int n =
            epoll_wait(loop->epoll_fd, events, LOOP_MAX_EVENTS, loop_timeout_ms(loop, deadline_ns));
        if (n < 0 && errno != EINTR)
            break;
        loop->now_ns = clock_now_ns();
        for (int i = 0; i < n; i++) {
            struct io_watcher *w = events[i].data.ptr;
            /* A callback earlier in this batch may have stopped this watcher. */
            if (w->fd >= 0)
                w->cb(w, events[i].events);
        }
        loop_run_deferred(loop);
    }
}
