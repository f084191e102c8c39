/*
 * server.h - the TCP server: the listening socket (a TCPSERVER resource), its open
 * connections and the counters printed at exit.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stdint.h>

#include "ah.h"
#include "loop.h"
#include "pool.h"

struct call;
struct conn;
struct leak;

struct server_stats {
    unsigned long connections;
    unsigned long requests;
    unsigned long fast;
    unsigned long work;
    unsigned long sleep;
    unsigned long leak;
    unsigned long quit;
    unsigned long bad_requests;
    unsigned long write_errors;
    unsigned long idle_closes;
    unsigned long call;
    unsigned long tx;
    unsigned long fail;
    unsigned long requests_in_flight;
};

struct server {
    ah_resource_t resource;
    struct loop *loop;
    struct pool *pool;
    struct io_watcher listener;
    int listen_fd;
    int port;
    uint64_t idle_timeout_ns; /* 0: connections never time out */
    struct conn *conns;       /* open connections, to close them at shutdown */
    struct call *calls;       /* outgoing calls in flight, to cancel them at shutdown */
    struct leak *leaks;
    struct server_stats stats;
};

/* Listen on 127.0.0.1:PORT (0: any free port, stored in S->port) and create the TCPSERVER
 * resource. Returns 0 or a negative errno value. */
int server_listen(struct server *s, struct loop *loop, struct pool *pool, int port,
                  uint64_t idle_timeout_ns);

/* Stop accepting, cancel outgoing calls and close every connection; requests in flight
 * finish with errors. */
void server_close(struct server *s);

/* Destroy the TCPSERVER resource and release what is left. Call after the loop drained. */
void server_free(struct server *s);

#endif
