/*
 * request.h - one request line, an async resource of type REQ.
 *
 * Protocol: one line per request, one line per response, answered in completion order.
 *
 *   GET /fast          answered at once                  200 fast id=ID
 *   GET /work?ms=N     N ms of hashing on the pool       200 work ms=N hash=HEX id=ID
 *   GET /sleep?ms=N    answered by a timer after N ms    200 sleep ms=N id=ID
 *   GET /leak          creates a LEAK never destroyed    200 leak id=ID leak=LEAKID
 *   QUIT               closes the connection once the    200 bye id=ID
 *                      requests before it are answered
 *   SHUTDOWN           stops the server                  200 shutdown id=ID
 *
 * ID is the request's async id. Errors: "400 bad request id=ID", "404 not found id=ID",
 * "503 cancelled id=ID" when the server stops first. N is at most REQUEST_MS_MAX.
 */
#ifndef SERVER_REQUEST_H
#define SERVER_REQUEST_H

#include <stddef.h>

struct conn;

#define REQUEST_MS_MAX 60000

/* Create the REQ (trigger: the current execution, the connection's read) and handle LINE
 * in its scope. The caller counted the request in C's in_flight already. */
void request_start(struct conn *c, const char *line, size_t length);

#endif
