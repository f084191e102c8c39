/*
 * conn.c - TCPCONN: reading request lines, the write queue, the idle timeout and closing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "request.h"
#include "resources.h"
#include "server.h"

static void conn_update_events(struct conn *c)
{
    uint32_t events = (c->paused || c->quitting ? 0 : EPOLLIN) | (c->queue_head ? EPOLLOUT : 0);
    io_set_events(&c->io, events);
}

static void conn_release(struct deferred *d)
{
    free(AH_CONTAINER_OF(d, struct conn, release));
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (--c->refs == 0)
        loop_defer(c->server->loop, &c->release, conn_release);
}

void conn_close(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    struct server *s = c->server;
    int fd = c->io.fd;
    io_stop(&c->io);
    close(fd);
    if (ah_resource_is_live(&c->idle_timer.resource))
        timer_close(&c->idle_timer);
    while (c->queue_head) {
        struct write *w = c->queue_head;
        c->queue_head = w->next;
        write_complete(s->loop, w, -ECONNRESET);
    }
    c->queue_tail = &c->queue_head;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    AH_CHECK(ah_destroy(&c->resource));
    conn_unref(c);
}

static void conn_flush(struct conn *c)
{
    while (c->queue_head) {
        struct write *w = c->queue_head;
        ssize_t n = send(c->io.fd, w->data + w->sent, w->length - w->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return;
        }
        w->sent += (size_t)n;
        if (w->sent < w->length)
            continue;
        c->queue_head = w->next;
        if (!c->queue_head)
            c->queue_tail = &c->queue_head;
        write_complete(c->server->loop, w, 0);
    }
    conn_update_events(c);
}

void conn_write(struct conn *c, struct write *w)
{
    if (c->closed) {
        write_complete(c->server->loop, w, -ECONNRESET);
        return;
    }
    int idle = c->queue_head == NULL;
    w->next = NULL;
    *c->queue_tail = w;
    c->queue_tail = &w->next;
    /* With writes already queued the socket is full: EPOLLOUT sends this one in turn. */
    if (idle)
        conn_flush(c);
}

/* Turn every complete line into a request, up to CONN_IN_FLIGHT_MAX in flight. */
static void conn_parse(struct conn *c)
{
    size_t start = 0;
    while (!c->closed && !c->quitting && c->in_flight < CONN_IN_FLIGHT_MAX) {
        char *line = c->input + start;
        char *newline = memchr(line, '\n', c->input_length - start);
        if (!newline)
            break;
        size_t length = (size_t)(newline - line);
        start += length + 1;
        c->in_flight++;
        request_start(c, line, length);
    }
    if (c->closed)
        return;
    memmove(c->input, c->input + start, c->input_length - start);
    c->input_length -= start;
    if (c->quitting)
        return;
    if (c->input_length == CONN_INPUT_MAX) {
        /* A full buffer without a newline: the line can never complete. */
        c->server->stats.bad_requests++;
        conn_close(c);
        return;
    }
    if (c->in_flight >= CONN_IN_FLIGHT_MAX && !c->paused) {
        c->paused = 1;
        conn_update_events(c);
    }
}

static void conn_read(struct conn *c)
{
    while (!c->closed && !c->paused && !c->quitting) {
        size_t space = CONN_INPUT_MAX - c->input_length;
        ssize_t n = read(c->io.fd, c->input + c->input_length, space);
        if (n > 0) {
            c->input_length += (size_t)n;
            c->last_read_ns = c->server->loop->now_ns;
            conn_parse(c);
            /* A short read emptied the socket; level-triggered epoll reports anything new. */
            if ((size_t)n < space)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* End of input (the peer may only have shut down its side): still answer. */
        if (n == 0)
            conn_quit(c);
        else if (errno != EAGAIN)
            conn_close(c);
        break;
    }
}

static void conn_on_io(struct io_watcher *io, uint32_t events)
{
    struct conn *c = AH_CONTAINER_OF(io, struct conn, io);
    /* Finishing a partial write is work done on behalf of that write. */
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->queue_head) {
        struct write *w = c->queue_head;
        AH_CHECK(ah_before(&w->resource));
        conn_flush(c);
        AH_CHECK(ah_after(&w->resource));
    }
    if (c->closed)
        return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0)
        return;
    AH_CHECK(ah_before(&c->resource));
    /* epoll reports a hang-up even while reading is paused; it must not spin on it. */
    if ((c->paused || c->quitting) && (events & (EPOLLERR | EPOLLHUP)))
        conn_close(c);
    else
        conn_read(c);
    AH_CHECK(ah_after(&c->resource));
}

void conn_quit(struct conn *c)
{
    c->quitting = 1;
    if (c->in_flight == 0)
        conn_close(c);
    else
        conn_update_events(c);
}

void conn_request_done(struct conn *c)
{
    c->in_flight--;
    if (c->quitting) {
        if (c->in_flight == 0)
            conn_close(c);
        return;
    }
    if (!c->paused || c->closed || c->in_flight >= CONN_IN_FLIGHT_MAX)
        return;
    /* Lines already buffered are the connection's input: parse them in its scope. */
    c->paused = 0;
    AH_CHECK(ah_before(&c->resource));
    conn_parse(c);
    if (!c->closed)
        conn_update_events(c);
    AH_CHECK(ah_after(&c->resource));
}

static void conn_on_idle(struct timer *t, int status)
{
    struct conn *c = AH_CONTAINER_OF(t, struct conn, idle_timer);
    struct server *s = c->server;
    uint64_t timeout = s->idle_timeout_ns;
    uint64_t idle = s->loop->now_ns - c->last_read_ns;
    if (status < 0 || (c->in_flight == 0 && idle >= timeout)) {
        if (status == 0)
            s->stats.idle_closes++;
        conn_close(c);
        return;
    }
    /* Re-armed lazily here rather than on every read: reads only record their time. */
    timer_start(t, c->in_flight || idle >= timeout ? timeout : timeout - idle);
}

struct conn *conn_new(struct server *s, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->server = s;
    c->queue_tail = &c->queue_head;
    c->refs = 1; /* dropped by conn_close() */
    c->last_read_ns = s->loop->now_ns;
    if (io_start(s->loop, &c->io, fd, EPOLLIN, conn_on_io) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    AH_CHECK(ah_init(&c->resource, resource_types.tcpconn, 0));
    if (s->idle_timeout_ns) {
        /* The timeout belongs to the connection, not to the accept that created both. */
        timer_init(s->loop, &c->idle_timer, conn_on_idle, c->resource.id);
        timer_start(&c->idle_timer, s->idle_timeout_ns);
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}
