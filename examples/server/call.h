/*
 * call.h - an outgoing request to another server on 127.0.0.1 (or to this one), an async
 * resource of type CALL: GET /call?port=P.
 *
 * The CALL is created in the scope of the request that makes it, connects without blocking,
 * sends one request line and reads one response line. Like an instrumented HTTP client, it
 * adds the W3C traceparent of the span current in its own callbacks (with --trace): the
 * server at the other end sees nothing else of the caller's context, even when it is this
 * very process, since its connection was accepted in the TCPSERVER's scope.
 */
#ifndef SERVER_CALL_H
#define SERVER_CALL_H

#include <stddef.h>

#include "ah.h"
#include "loop.h"

struct server;
struct call;

/* Runs once, in the CALL's scope: STATUS 0 with the response line (no newline) in
 * C->reply, or a negative errno value (-ECANCELED when the server stops first). The CALL is
 * destroyed when it returns; its memory may be released from a later callback. */
typedef void (*call_cb)(struct call *c, int status);

#define CALL_LINE_MAX 256

struct call {
    ah_resource_t resource;
    struct server *server;
    struct io_watcher io;
    struct deferred failure; /* a call that failed at once still completes from the loop */
    struct call *prev;
    struct call *next;
    call_cb cb;
    void *arg; /* the caller's */
    int fd;
    int port;
    int connected;
    int failing; /* the failure callback is queued */
    int status;
    size_t request_length;
    size_t request_sent;
    size_t reply_length;
    char path[64];
    char request[CALL_LINE_MAX];
    char reply[CALL_LINE_MAX];
};

/* Create the CALL (trigger: the current execution) and send "PATH\n" to 127.0.0.1:PORT.
 * ARG is kept in C->arg for CB. */
void call_start(struct server *s, struct call *c, int port, const char *path, call_cb cb,
                void *arg);

/* At shutdown: complete every call in flight with -ECANCELED. */
void call_cancel_all(struct server *s);

#endif
