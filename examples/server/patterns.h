/*
 * patterns.h - the context storage patterns of examples/context/ plugged into the server.
 *
 *   --log FILE    reqlog.c: JSON log lines stamped with the current request's id
 *   --trace FILE  tracer.c: a span per REQ and per WORK, TIMER, CALL and WRITE it causes;
 *                 W3C traceparent continued from requests and sent on outgoing calls
 *   --crumbs      breadcrumbs.c: error reports (stderr) with the trail of their own chain
 *   --db FILE     txscope.c: GET /tx runs in a SQLite transaction (orders.c)
 *
 * Each pattern sets its value once, where a request starts (patterns_request_run()); every
 * resource the request creates after that captures the context, so the value reaches the
 * pool threads, the timers and the writes with no further code. All are off by default: the
 * server then runs the same code as without them, plus a few predictable branches.
 */
#ifndef SERVER_PATTERNS_H
#define SERVER_PATTERNS_H

#include <stddef.h>

#include "../context/tracer.h"
#include "ah.h"

struct patterns_config {
    const char *log_path;   /* NULL: no request-id log */
    const char *trace_path; /* NULL: no spans */
    const char *db_path;    /* NULL: GET /tx answers 503 */
    int crumbs;             /* error reports with breadcrumbs on stderr */
};

/* What is on; written once by patterns_open() before any other thread starts. */
struct patterns_enabled {
    int log;
    int trace;
    int crumbs;
    int db;
    int context; /* log, trace or crumbs: a request sets context values */
};

extern struct patterns_enabled patterns;

/* Open the files and stores, create the tables. 0, or -1 after printing why. */
int patterns_open(const struct patterns_config *config);
/* Flush and close everything. Every request must be over. */
void patterns_close(void);

/* The database file of --db, or NULL. */
const char *patterns_db_path(void);

/* A request's own context values, embedded in the request. */
#define PATTERNS_SPANS_MAX 6
struct request_context {
    char id[24]; /* the request id the logger shows: the REQ's async id */
    struct span *spans[PATTERNS_SPANS_MAX]; /* [0] is the REQ's span; freed at the end */
    int span_count;
    struct crumbs_trail *trail;
};

/*
 * Run FN(ARG) as the handling of request ID (call it in the REQ's scope): with its id set for
 * the logger, its span current (continuing TRACEPARENT, which may be NULL, named NAME) and a
 * new breadcrumb trail. Whatever FN schedules inherits all three.
 */
void patterns_request_run(struct request_context *rc, ah_id_t id, const char *name,
                          size_t name_length, const char *traceparent, void (*fn)(void *),
                          void *arg);

/* Run FN(ARG), which creates one resource (a WORK, TIMER, CALL or WRITE), inside a new child
 * span NAME of the current span, so that the resource's callbacks run in that span. */
void patterns_child_run(struct request_context *rc, const char *name, void (*fn)(void *),
                        void *arg);

/* End the current span: in the last callback of a resource started by patterns_child_run(). */
void patterns_child_end(void);

/* The request is over (its response is written): end its span, free its spans and trail.
 * Call it from the request's last callback; nothing of the request may run afterwards. */
void patterns_request_end(struct request_context *rc);

/* The traceparent header for a call made now: 0, or -ENOENT when not tracing. */
int patterns_traceparent(char out[TRACEPARENT_LEN + 1]);

/* A step in the handling of a request: a log line (--log) and a breadcrumb (--crumbs). A
 * macro so that the arguments cost nothing when both are off. */
#define note(...)                                                                                  \
    do {                                                                                           \
        if (patterns.log | patterns.crumbs)                                                        \
            patterns_note(__VA_ARGS__);                                                            \
    } while (0)
void patterns_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An error report with the current trail (--crumbs). */
void patterns_report(const char *error);

#endif
