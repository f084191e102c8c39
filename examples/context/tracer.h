/*
 * tracer.h - distributed tracing spans that follow the work through context storage, and
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) on outgoing requests.
 *
 * span_start() makes a child of the current span (or starts a trace); span_run() makes a
 * span current for a function and everything it schedules; an outgoing request asks
 * tracer_traceparent() for its header, and the receiving side continues the trace with
 * span_start_remote(). Finished spans are exported as JSON lines:
 *
 *   {"trace_id":"4bf9...","span_id":"00f0...","parent_id":"...","name":"GET /fast",
 *    "start_ns":1,"end_ns":2,"duration_ns":1}
 *
 * The example server uses it with --trace FILE (examples/server/patterns.c).
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
    uint64_t end_ns;   /* 0 while running */
    struct span *prev; /* internal: the tracer's list of live spans */
    struct span *next;
};

/* Finished spans are written to OUT (not closed by the tracer). 0 or -ENOMEM. */
int tracer_open(FILE *out);
/* Free every span not freed yet. Nothing may use them any more. */
void tracer_close(void);

/* A new running span: a child of the current span, or the root of a new trace. */
struct span *span_start(const char *name);
/* A new running span continuing the trace of a W3C traceparent header received from
 * another service; a new trace if the header is missing or invalid. */
struct span *span_start_remote(const char *name, const char *traceparent);
/* End S and export it. */
void span_end(struct span *s);
/* Free S (ended or not). Like any context value, S must stay valid while a context holding it
 * can become current again: free it once every resource initialised while it was current is
 * destroyed (or will never run again) and every snapshot taken then is released. NULL is a
 * no-op. Spans not freed are freed by tracer_close(). */
void span_free(struct span *s);

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

#endif
