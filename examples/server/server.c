/*
 * server.c - TCPSERVER: the listening socket and accepting connections.
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
#include "conn.h"
#include "leak.h"
#include "resources.h"
#include "server.h"

/* Accepts per wake-up, so that a connection storm cannot starve the requests. */
#define SERVER_ACCEPT_BATCH 64

static void server_on_readable(struct io_watcher *io, uint32_t events)
{
    (void)events;
    struct server *s = AH_CONTAINER_OF(io, struct server, listener);
    static int reported_accept_error;
    /* Connections accepted here get the server as their trigger. */
    AH_CHECK(ah_before(&s->resource));
    for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && !reported_accept_error) {
                reported_accept_error = 1;
                perror("ah-server: accept");
            }
            break;
        }
        /* Small request/response lines: never hold one back waiting for an ACK. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (conn_new(s, fd))
            s->stats.connections++;
    }
    AH_CHECK(ah_after(&s->resource));
}

int server_listen(struct server *s, struct loop *loop, struct pool *pool, int port,
                  uint64_t idle_timeout_ns)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->pool = pool;
    s->idle_timeout_ns = idle_timeout_ns;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return -errno;
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t addr_length = sizeof addr;
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(s->listen_fd, SOMAXCONN) < 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &addr_length) < 0) {
        int err = -errno;
        close(s->listen_fd);
        s->listen_fd = -1;
        return err;
    }
    s->port = ntohs(addr.sin_port);
    AH_CHECK(ah_init(&s->resource, resource_types.tcpserver, 0));
    int rc = io_start(loop, &s->listener, s->listen_fd, EPOLLIN, server_on_readable);
    if (rc < 0) {
        AH_CHECK(ah_destroy(&s->resource));
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    return rc;
}

void server_close(struct server *s)
{
    if (s->listen_fd >= 0) {
        io_stop(&s->listener);
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    call_cancel_all(s);
    while (s->conns)
        conn_close(s->conns);
}

void server_free(struct server *s)
{
    server_close(s);
    if (ah_resource_is_live(&s->resource))
        AH_CHECK(ah_destroy(&s->resource));
    leak_free_all(&s->leaks);
}
