/*
 * call.c - CALL: a non-blocking client for one request line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "call.h"
#include "patterns.h"
#include "resources.h"
#include "server.h"

/* In the CALL's scope. */
static void call_finish(struct call *c, int status)
{
    struct server *s = c->server;
    if (c->io.fd >= 0)
        io_stop(&c->io);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->status = status;
    c->cb(c, status);
    AH_CHECK(ah_destroy(&c->resource));
}

static void call_on_failure(struct deferred *d)
{
    struct call *c = AH_CONTAINER_OF(d, struct call, failure);
    AH_CHECK(ah_before(&c->resource));
    call_finish(c, c->status);
    AH_CHECK(ah_after(&c->resource));
}

/* Failing inside call_start() would answer the request before route returns: complete from
 * the loop instead, so that a CALL always completes in a callback of its own. */
static void call_fail_later(struct call *c, int status)
{
    c->status = status;
    c->failing = 1;
    loop_defer(c->server->loop, &c->failure, call_on_failure);
}

/* Connected: the request line, with the traceparent of the span current here, in the
 * CALL's callback: the CALL captured the caller's context when it was created. */
static void call_connected(struct call *c)
{
    char traceparent[TRACEPARENT_LEN + 1];
    int n;
    if (patterns_traceparent(traceparent) == 0)
        n = snprintf(c->request, sizeof c->request, "%s traceparent=%s\n", c->path, traceparent);
    else
        n = snprintf(c->request, sizeof c->request, "%s\n", c->path);
    c->request_length = (size_t)n < sizeof c->request ? (size_t)n : sizeof c->request - 1;
    c->connected = 1;
    note("call: connected to port %d", c->port);
}

static void call_step(struct call *c, uint32_t events)
{
    if (!c->connected) {
        int err = 0;
        socklen_t length = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0)
            err = errno;
        if (err) {
            call_finish(c, -err);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        call_connected(c);
    }
    if (c->request_sent < c->request_length) {
        ssize_t n = send(c->fd, c->request + c->request_sent, c->request_length - c->request_sent,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                call_finish(c, -errno);
            return;
        }
        c->request_sent += (size_t)n;
        if (c->request_sent == c->request_length && io_set_events(&c->io, EPOLLIN) < 0)
            call_finish(c, -errno);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    ssize_t n = read(c->fd, c->reply + c->reply_length, sizeof c->reply - 1 - c->reply_length);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            call_finish(c, -errno);
        return;
    }
    if (n == 0) {
        call_finish(c, -ECONNRESET);
        return;
    }
    c->reply_length += (size_t)n;
    c->reply[c->reply_length] = '\0';
    char *newline = memchr(c->reply, '\n', c->reply_length);
    if (newline) {
        *newline = '\0';
        if (newline > c->reply && newline[-1] == '\r')
            newline[-1] = '\0';
        call_finish(c, 0);
    } else if (c->reply_length == sizeof c->reply - 1) {
        call_finish(c, -EMSGSIZE);
    }
}

static void call_on_io(struct io_watcher *io, uint32_t events)
{
    struct call *c = AH_CONTAINER_OF(io, struct call, io);
    AH_CHECK(ah_before(&c->resource));
    call_step(c, events);
    AH_CHECK(ah_after(&c->resource));
}

void call_start(struct server *s, struct call *c, int port, const char *path, call_cb cb, void *arg)
{
    c->server = s;
    c->cb = cb;
    c->arg = arg;
    c->port = port;
    c->fd = -1;
    c->io.fd = -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    AH_CHECK(ah_init(&c->resource, resource_types.call, 0));
    c->prev = NULL;
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        call_fail_later(c, -errno);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        call_fail_later(c, -errno);
        return;
    }
    /* Writable once connected; a refused connection reports EPOLLERR with SO_ERROR. */
    int rc = io_start(s->loop, &c->io, c->fd, EPOLLOUT, call_on_io);
    if (rc < 0) {
        c->io.fd = -1;
        call_fail_later(c, rc);
    }
}

void call_cancel_all(struct server *s)
{
    struct call *c = s->calls;
    while (c) {
        /* Finishing C answers its request and unlinks C, nothing else: NEXT stays valid. */
        struct call *next = c->next;
        if (!c->failing) {
            AH_CHECK(ah_before(&c->resource));
            call_finish(c, -ECANCELED);
            AH_CHECK(ah_after(&c->resource));
        }
        c = next;
    }
}
