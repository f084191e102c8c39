/*
 * patterns.c - the server's side of the context storage patterns: opening them, and setting
 * a request's context values where it starts. The patterns themselves are the modules of
 * examples/context/; nothing here passes a value to the code that uses it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context/breadcrumbs.h"
#include "../context/reqlog.h"
#include "../context/tracer.h"
#include "../context/txscope.h"
#include "orders.h"
#include "patterns.h"

struct patterns_enabled patterns;

static FILE *log_file;
static FILE *trace_file;
static const char *db_path;

static FILE *open_output(const char *what, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "ah-server: %s %s: %s\n", what, path, strerror(errno));
    return f;
}

int patterns_open(const struct patterns_config *config)
{
    if (config->log_path) {
        log_file = open_output("--log", config->log_path);
        if (log_file == NULL || reqlog_open(log_file) < 0)
            goto fail;
        patterns.log = 1;
    }
    if (config->trace_path) {
        trace_file = open_output("--trace", config->trace_path);
        if (trace_file == NULL || tracer_open(trace_file) < 0)
            goto fail;
        patterns.trace = 1;
    }
    if (config->crumbs) {
        /* Reports are errors: stderr, unbuffered, one fwrite per report. */
        if (crumbs_open(stderr) < 0)
            goto fail;
        patterns.crumbs = 1;
    }
    if (config->db_path) {
        if (orders_init_db(config->db_path) < 0)
            goto fail;
        if (tx_open() < 0)
            goto fail;
        db_path = config->db_path;
        patterns.db = 1;
    }
    patterns.context = patterns.log | patterns.trace | patterns.crumbs;
    return 0;
fail:
    fprintf(stderr, "ah-server: cannot set up the context patterns\n");
    patterns_close();
    return -1;
}

void patterns_close(void)
{
    if (patterns.db)
        tx_close();
    if (patterns.crumbs)
        crumbs_close();
    if (patterns.trace)
        tracer_close();
    if (patterns.log)
        reqlog_close();
    if (trace_file)
        fclose(trace_file);
    if (log_file)
        fclose(log_file);
    trace_file = log_file = NULL;
    db_path = NULL;
    patterns = (struct patterns_enabled){0};
}

const char *patterns_db_path(void)
{
    return db_path;
}

/* The spans of a request live as long as the request: a fixed array, freed at its end. */
static struct span *track(struct request_context *rc, struct span *s)
{
    if (rc->span_count == PATTERNS_SPANS_MAX) {
        /* A request kind with more children than the array: a bug in request.c. */
        fprintf(stderr, "ah-server: more than %d spans in one request\n", PATTERNS_SPANS_MAX);
        abort();
    }
    rc->spans[rc->span_count++] = s;
    return s;
}

/* ah_store_run() and the functions built on it return NULL without calling the function when
 * no context can be allocated: a request must not silently go unanswered, and the server stops
 * on a lack of memory as it does elsewhere. The wrapped functions return non-NULL. Also for a
 * span that cannot be allocated. */
static void *ran(void *result)
{
    if (result == NULL) {
        fprintf(stderr, "ah-server: out of memory for a context\n");
        abort();
    }
    return result;
}

/* The request's handling, wrapped one pattern at a time: log id, then span, then trail. */
struct request_call {
    struct request_context *rc;
    const char *name;
    const char *traceparent;
    void (*fn)(void *);
    void *arg;
};

static void *with_trail(void *arg)
{
    struct request_call *call = arg;
    if (patterns.crumbs) {
        call->rc->trail = crumbs_begin(call->fn, call->arg);
        if (call->rc->trail)
            return call;
        /* No memory for a trail: the request is still served, without crumbs. */
    }
    call->fn(call->arg);
    return call;
}

static void *with_span(void *arg)
{
    struct request_call *call = arg;
    if (!patterns.trace)
        return with_trail(call);
    struct span *s = ran(span_start_remote(call->name, call->traceparent));
    return ran(span_run(track(call->rc, s), with_trail, call));
}

void patterns_request_run(struct request_context *rc, ah_id_t id, const char *name,
                          size_t name_length, const char *traceparent, void (*fn)(void *),
                          void *arg)
{
    char span_name[64];
    snprintf(span_name, sizeof span_name, "%.*s", (int)name_length, name);
    struct request_call call = {rc, span_name, traceparent, fn, arg};
    snprintf(rc->id, sizeof rc->id, "%" PRIu64, id);
    if (patterns.log)
        ran(reqlog_with_request(rc->id, with_span, &call));
    else
        with_span(&call);
}

struct child_call {
    void (*fn)(void *);
    void *arg;
};

static void *run_child(void *arg)
{
    struct child_call *call = arg;
    call->fn(call->arg);
    return call;
}

void patterns_child_run(struct request_context *rc, const char *name, void (*fn)(void *), void *arg)
{
    if (!patterns.trace) {
        fn(arg);
        return;
    }
    /* Without its own span the resource's last callback would end its parent's. */
    struct span *s = ran(span_start(name));
    struct child_call call = {fn, arg};
    ran(span_run(track(rc, s), run_child, &call));
}

void patterns_child_end(void)
{
    if (!patterns.trace)
        return;
    struct span *s = span_current();
    if (s)
        span_end(s);
}

void patterns_request_end(struct request_context *rc)
{
    if (rc->span_count) {
        span_end(rc->spans[0]);
        /* The request's resources are all destroyed but the WRITE whose callback runs now,
         * and no code of the request reads its span after this: nothing can see them. */
        for (int i = 0; i < rc->span_count; i++)
            span_free(rc->spans[i]);
        rc->span_count = 0;
    }
    if (rc->trail) {
        crumbs_trail_free(rc->trail);
        rc->trail = NULL;
    }
}

int patterns_traceparent(char out[TRACEPARENT_LEN + 1])
{
    return patterns.trace ? tracer_traceparent(out) : -ENOENT;
}

void patterns_note(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (patterns.log)
        log_message(msg);
    if (patterns.crumbs)
        crumb("%s", msg);
}

void patterns_report(const char *error)
{
    if (patterns.crumbs)
        crumbs_report(error);
}
