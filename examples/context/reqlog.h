/*
 * reqlog.h - a logger that stamps every line with the id of the request it runs for.
 *
 * The request id lives in a context store: the handler sets it once with
 * reqlog_with_request() and every log_info() called on the request's behalf, however deep
 * in the call chain, in a timer or on a pool thread, finds it there. Nothing passes it
 * down. Output: one JSON object per line,
 *
 *   {"ts_ns":123,"level":"info","request_id":"7","thread":2,"msg":"..."}
 *
 * with "request_id":null for lines logged outside any request. The example server uses it
 * with --log FILE (examples/server/patterns.c).
 */
#ifndef CONTEXT_REQLOG_H
#define CONTEXT_REQLOG_H

#include <stdio.h>

/* Lines go to OUT (the logger does not close it). 0 or -ENOMEM. */
int reqlog_open(FILE *out);
void reqlog_close(void);

/* Run FN(ARG) with REQUEST_ID as the current request, for FN and everything it schedules.
 * REQUEST_ID is not copied: it must stay valid until that work is done. */
void *reqlog_with_request(const char *request_id, void *(*fn)(void *), void *arg);

/* The current request's id, or NULL (also when the logger is not open). */
const char *reqlog_request_id(void);

/* Log one line (printf format) stamped with the current request's id. Does nothing while the
 * logger is not open, so that code may log unconditionally. Safe from any thread. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a message formatted already. */
void log_message(const char *msg);

#endif
