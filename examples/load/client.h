/*
 * client.h - the load generator: C keep-alive connections to 127.0.0.1, each sending one
 * request, waiting for its response line and sending the next (a closed loop), driven by
 * one epoll thread.
 */
#ifndef LOAD_CLIENT_H
#define LOAD_CLIENT_H

#include <stdint.h>

#include "latency.h"
#include "mix.h"

struct load_config {
    int port;
    int connections;
    double duration_s;      /* stop sending after this long; 0: no time bound */
    unsigned long requests; /* send exactly this many in total; 0: no count bound */
    double stall_s;         /* give up when no response came for this long */
    int shutdown;           /* send SHUTDOWN to the server at the end */
    struct mix mix;
};

struct load_result {
    unsigned long requests; /* answered with "200 <kind>" */
    unsigned long errors;   /* failed connects, bad or missing responses */
    unsigned long by_kind[MIX_KINDS];
    double seconds; /* from the first connect to the last response */
    struct latency latency;
};

/* Run the load. Returns 0, or -1 when no connection could be used at all. */
int load_run(const struct load_config *config, struct load_result *result);

#endif
