/*
 * tracer.h - distributed tracing spans that follow the work through context storage, and
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) on outgoing requests.
 *
 * span_start() makes a child of the current span (or starts a trace); span_run() makes a
 * span current for a function and everything it schedules; an outgoing request asks
 * tracer_traceparent() for its header, and the receiving side continues the trace with
 * span_start_remote(). Finished spans are exported as JSON lines:
 *
 *   {"trace_id":"4bf9...","span_id":"00f0...","parent_id":"...","name":"GET /checkout",
 *    "start_ns":1,"end_ns":2,"duration_ns":1}
 */
#ifndef CONTEXT_TRACER_H
#define CONTEXT_TRACER_H

#include <stdint.h>
#include <stdio.h>

#define TRACE_ID_HEX 32
#define SPAN_ID_HEX 16
#define TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-01" */

struct span {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[SPAN_ID_HEX + 1];
    char parent_id[SPAN_ID_HEX + 1]; /* "" for the root of a trace */
    char name[64];
    uint64_t start_ns;
    uint64_t end_ns; /* 0 while running */
    struct span *next;
};

/* Finished spans are written to OUT (not closed by the tracer). 0 or -ENOMEM. */
int tracer_open(FILE *out);
/* Free every span. Nothing may use them any more. */
void tracer_close(void);

/* A new running span: a child of the current span, or the root of a new trace. */
struct span *span_start(const char *name);
/* A new running span continuing the trace of a W3C traceparent header received from
 * another service; a new trace if the header is missing or invalid. */
struct span *span_start_remote(const char *name, const char *traceparent);
/* End S and export it. */
void span_end(struct span *s);

/* Run FN(ARG) with S as the current span, for FN and all it schedules. */
void *span_run(struct span *s, void *(*fn)(void *), void *arg);
/* The current span or NULL. */
struct span *span_current(void);

/* The traceparent header for a request sent from the current span: 0, or -ENOENT outside
 * any span. OUT holds TRACEPARENT_LEN + 1 bytes. */
int tracer_traceparent(char out[TRACEPARENT_LEN + 1]);
/* Parse a traceparent header (version 00). 0 or -EINVAL. */
int traceparent_parse(const char *header, char trace_id[TRACE_ID_HEX + 1],
                      char parent_id[SPAN_ID_HEX + 1]);

/* The demo: a "checkout" service handles REQUESTS requests; each queries a database on
 * the worker pool and calls an "inventory" service whose handler runs in the same process
 * but only knows what the traceparent header tells it. The first request arrives with a
 * traceparent of its own (FIRST_TRACEPARENT, may be NULL). Spans go to OUT. */
int tracer_demo(FILE *out, int requests, const char *first_traceparent);

/* What the inventory service received, for the tests: the traceparent header of each call
 * in arrival order (up to 64). */
extern char tracer_demo_headers[64][TRACEPARENT_LEN + 1];
extern int tracer_demo_header_count;
/* Inventory handlers that saw a span nobody sent them: 0 unless context leaked across. */
extern int tracer_demo_leaks;

#endif
