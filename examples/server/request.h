/*
 * request.h - one request line, an async resource of type REQ.
 *
 * Protocol: one line per request, one line per response, answered in completion order.
 *
 *   GET /fast          answered at once                  200 fast id=ID
 *   GET /work?ms=N     N ms of hashing on the pool       200 work ms=N hash=HEX id=ID
 *   GET /sleep?ms=N    answered by a timer after N ms    200 sleep ms=N id=ID
 *   GET /leak          creates a LEAK never destroyed    200 leak id=ID leak=LEAKID
 *   GET /call?port=P   sends GET /fast to 127.0.0.1:P    200 call port=P reply="LINE" id=ID
 *                      (a CALL) and relays the answer    (502 call failed ... if it fails)
 *   GET /fail[?ms=N]   a cache timer and an N ms pool    500 failed id=ID
 *                      query that fails (--crumbs: an
 *                      error report on stderr)
 *   GET /tx?n=N[&fail=F]  an order and N items in one    200 tx committed items=N id=ID
 *                      SQLite transaction (--db), over   500 tx rolled back error="E" id=ID
 *                      the loop, a pool task and a timer 503 busy id=ID (another is open)
 *   QUIT               closes the connection once the    200 bye id=ID
 *                      requests before it are answered
 *   SHUTDOWN           stops the server                  200 shutdown id=ID
 *
 * Any request may end with " traceparent=00-TRACEID-SPANID-FLAGS" (W3C Trace Context): with
 * --trace the request's span continues that trace; routing ignores it.
 *
 * ID is the request's async id. Errors: "400 bad request id=ID", "404 not found id=ID",
 * "503 cancelled id=ID" when the server stops first, "503 no database id=ID" for /tx without
 * --db. N is at most REQUEST_MS_MAX (ms) or REQUEST_TX_ITEMS_MAX (items), F is 0 or 1.
 */
#ifndef SERVER_REQUEST_H
#define SERVER_REQUEST_H

#include <stddef.h>

struct conn;

#define REQUEST_MS_MAX 60000
#define REQUEST_TX_ITEMS_MAX 1000

/* Create the REQ (trigger: the current execution, the connection's read) and handle LINE
 * in its scope. The caller counted the request in C's in_flight already. */
void request_start(struct conn *c, const char *line, size_t length);

#endif
