/*
 * conn.h - an accepted connection, an async resource of type TCPCONN.
 *
 * Its read callback runs in the connection's scope and turns each complete line into a
 * request. Writes are queued and sent in order. The memory is reference counted: requests
 * still in flight keep a closed connection's memory alive, and it is freed from the loop
 * once nothing refers to it.
 */
#ifndef SERVER_CONN_H
#define SERVER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "ah.h"
#include "loop.h"
#include "timer.h"
#include "write.h"

struct server;

#define CONN_INPUT_MAX 4096
/* Requests one connection may have in flight before it stops reading (back-pressure). */
#define CONN_IN_FLIGHT_MAX 64

struct conn {
    ah_resource_t resource;
    struct server *server;
    struct io_watcher io;
    struct timer idle_timer;
    struct conn *prev;
    struct conn *next;
    struct write *queue_head;
    struct write **queue_tail;
    struct deferred release;
    uint64_t last_read_ns;
    unsigned refs;
    unsigned in_flight;
    int closed;
    int paused;   /* at CONN_IN_FLIGHT_MAX: not reading */
    int quitting; /* QUIT or end of input: close once the requests in flight are answered */
    size_t input_length;
    char input[CONN_INPUT_MAX];
};

/* Take over the accepted socket FD; the TCPCONN's trigger is the current execution. */
struct conn *conn_new(struct server *s, int fd);

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Queue W on C and send what the socket takes now. On a closed connection W completes
 * with -ECONNRESET. */
void conn_write(struct conn *c, struct write *w);

/* A request of C finished: resume reading if C had paused at CONN_IN_FLIGHT_MAX. */
void conn_request_done(struct conn *c);

/* Stop reading requests from C and close it once the requests in flight are answered (QUIT,
 * or the peer shut down its side). */
void conn_quit(struct conn *c);

/* Close the socket, fail queued writes, destroy the idle timer and the TCPCONN. */
void conn_close(struct conn *c);

#endif
