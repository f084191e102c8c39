/*
 * resources.h - the async resource types of the example server and the checked libah calls.
 *
 * Types, and who triggers whom:
 *
 *   TCPSERVER  the listening socket                       trigger: root
 *   TCPCONN    an accepted connection                     trigger: TCPSERVER
 *   REQ        one request line read from a connection    trigger: TCPCONN
 *   TIMER      a delayed response (/sleep)                trigger: REQ
 *              a connection's idle timeout                trigger: TCPCONN
 *   WORK       a task run on the worker pool (/work)      trigger: REQ
 *   WRITE      one response written to the socket        trigger: REQ, TIMER, WORK or CALL
 *   LEAK       created by /leak and never destroyed       trigger: REQ
 *   CALL       an outgoing request (/call)                trigger: REQ
 */
#ifndef SERVER_RESOURCES_H
#define SERVER_RESOURCES_H

#include "ah.h"

struct resource_types {
    int tcpserver;
    int tcpconn;
    int req;
    int timer;
    int work;
    int write;
    int leak;
    int call;
};

/* Filled once by resource_types_register(), before any other thread starts. */
extern struct resource_types resource_types;

void resource_types_register(void);

/*
 * libah only fails here when the server itself misuses it (unbalanced before/after, a
 * resource destroyed twice): a bug, so stop at the spot with the reason instead of
 * running on with a corrupted async stack.
 */
#define AH_CHECK(call) ah_check_result((call), #call, __FILE__, __LINE__)

void ah_check_result(int rc, const char *call, const char *file, int line);

#endif
