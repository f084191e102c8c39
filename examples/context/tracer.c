/*
 * tracer.c - spans in a context store, W3C traceparent propagation, and the demo.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ah.h"
#include "evloop.h"
#include "jsonw.h"
#include "tracer.h"

static ah_store_t *span_store;
static FILE *span_out;
static pthread_mutex_t spans_lock = PTHREAD_MUTEX_INITIALIZER;
static struct span *all_spans; /* every span, freed by tracer_close() */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Random lowercase hex, never all zeros (the spec makes all-zero ids invalid). */
static void random_hex(char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[16];
    size_t n = digits / 2;
    int nonzero = 0;
    while (!nonzero) {
        if (getrandom(bytes, n, 0) != (ssize_t)n) {
            /* No entropy: time and address still make ids unique enough for a demo. */
            uint64_t x = now_ns() ^ (uintptr_t)out;
            for (size_t i = 0; i < n; i++, x = x * 6364136223846793005u + 1)
                bytes[i] = (unsigned char)(x >> 56);
        }
        for (size_t i = 0; i < n; i++)
            nonzero |= bytes[i];
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[digits] = '\0';
}

int tracer_open(FILE *out)
{
    span_store = ah_store_new(NULL);
    if (span_store == NULL)
        return -ENOMEM;
    span_out = out;
    return 0;
}

void tracer_close(void)
{
    pthread_mutex_lock(&spans_lock);
    struct span *s = all_spans;
    all_spans = NULL;
    pthread_mutex_unlock(&spans_lock);
    while (s) {
        struct span *next = s->next;
        free(s);
        s = next;
    }
    ah_store_free(span_store);
    span_store = NULL;
}

static struct span *span_new(const char *name, const char *trace_id, const char *parent_id)
{
    struct span *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (trace_id)
        memcpy(s->trace_id, trace_id, TRACE_ID_HEX + 1);
    else
        random_hex(s->trace_id, TRACE_ID_HEX);
    random_hex(s->span_id, SPAN_ID_HEX);
    if (parent_id)
        memcpy(s->parent_id, parent_id, SPAN_ID_HEX + 1);
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->start_ns = now_ns();
    pthread_mutex_lock(&spans_lock);
    s->next = all_spans;
    all_spans = s;
    pthread_mutex_unlock(&spans_lock);
    return s;
}

struct span *span_start(const char *name)
{
    const struct span *parent = span_current();
    if (parent == NULL)
        return span_new(name, NULL, NULL);
    return span_new(name, parent->trace_id, parent->span_id);
}

struct span *span_start_remote(const char *name, const char *traceparent)
{
    char trace_id[TRACE_ID_HEX + 1], parent_id[SPAN_ID_HEX + 1];
    if (traceparent == NULL || traceparent_parse(traceparent, trace_id, parent_id) < 0)
        return span_new(name, NULL, NULL);
    return span_new(name, trace_id, parent_id);
}

void span_end(struct span *s)
{
    s->end_ns = now_ns();
    struct jsonw w;
    jsonw_init(&w);
    jsonw_str(&w, "trace_id", s->trace_id);
    jsonw_str(&w, "span_id", s->span_id);
    jsonw_str(&w, "parent_id", s->parent_id[0] ? s->parent_id : NULL);
    jsonw_str(&w, "name", s->name);
    jsonw_uint(&w, "start_ns", s->start_ns);
    jsonw_uint(&w, "end_ns", s->end_ns);
    jsonw_uint(&w, "duration_ns", s->end_ns - s->start_ns);
    jsonw_end(&w);
    fwrite(w.buf, 1, w.len, span_out);
}

void *span_run(struct span *s, void *(*fn)(void *), void *arg)
{
    return ah_store_run(span_store, s, fn, arg);
}

struct span *span_current(void)
{
    return ah_store_get(span_store);
}

int tracer_traceparent(char out[TRACEPARENT_LEN + 1])
{
    const struct span *s = span_current();
    if (s == NULL)
        return -ENOENT;
    snprintf(out, TRACEPARENT_LEN + 1, "00-%s-%s-01", s->trace_id, s->span_id);
    return 0;
}

static int lower_hex(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int traceparent_parse(const char *h, char trace_id[TRACE_ID_HEX + 1],
                      char parent_id[SPAN_ID_HEX + 1])
{
    /* version "00": exactly 55 characters, lowercase hex, ids not all zeros. */
    if (strlen(h) != TRACEPARENT_LEN || strncmp(h, "00-", 3) != 0 || h[35] != '-' || h[52] != '-' ||
        !lower_hex(h + 3, TRACE_ID_HEX) || !lower_hex(h + 36, SPAN_ID_HEX))
        return -EINVAL;
    char flags[3] = {h[53], h[54], 0};
    if (!((flags[0] >= '0' && flags[0] <= '9') || (flags[0] >= 'a' && flags[0] <= 'f')) ||
        !((flags[1] >= '0' && flags[1] <= '9') || (flags[1] >= 'a' && flags[1] <= 'f')))
        return -EINVAL;
    memcpy(trace_id, h + 3, TRACE_ID_HEX);
    trace_id[TRACE_ID_HEX] = '\0';
    memcpy(parent_id, h + 36, SPAN_ID_HEX);
    parent_id[SPAN_ID_HEX] = '\0';
    return 0;
}

/*
 * The demo: two services in one process. The "network" between them carries nothing but the
 * request's traceparent header: it delivers in a context taken before any request existed,
 * so the inventory service cannot see the caller's span and must continue the trace from
 * the header, as a separate process would.
 */

char tracer_demo_headers[64][TRACEPARENT_LEN + 1];
int tracer_demo_header_count;
int tracer_demo_leaks; /* inventory handlers that saw a span they were not sent */

static ah_snapshot_t network;

struct packet {
    struct ev_loop *loop;
    ev_cb deliver;
    void *arg;
};

static void *network_schedule(void *arg)
{
    struct packet *p = arg;
    ev_request(p->loop, 1, p->deliver, p->arg);
    return NULL;
}

static void network_send(struct ev_loop *loop, ev_cb deliver, void *arg)
{
    struct packet p = {loop, deliver, arg};
    ah_snapshot_run(&network, network_schedule, &p);
}

struct checkout {
    struct ev_loop *loop;
    const char *incoming_traceparent;
    struct span *root;
    int outstanding; /* branches still running; loop thread only */
    /* The call to the inventory service. */
    char traceparent[TRACEPARENT_LEN + 1]; /* what goes over the network */
    ah_context_bound_t on_reply;           /* runs in the client span, like a socket read */
    struct span *inventory_span;           /* the inventory side's own state */
};

static void branch_done(struct checkout *c)
{
    if (--c->outstanding == 0) {
        span_end(c->root);
        free(c);
    }
}

/* Checkout, database branch. */

static void db_query(void *arg)
{
    (void)arg; /* a pool thread, in the db.query span */
}

static void db_done(void *arg)
{
    span_end(span_current()); /* db.query: the span this work was queued in */
    branch_done(arg);
}

static void *db_start(void *arg)
{
    struct checkout *c = arg;
    ev_queue_work(c->loop, db_query, db_done, c);
    return NULL;
}

/* Inventory service. */

static void inventory_reply(void *arg)
{
    struct checkout *c = arg; /* arrived at the checkout service */
    /* The callback may free C: the binding moves to the stack first. */
    ah_context_bound_t on_reply = c->on_reply;
    ah_context_call(&on_reply);
    ah_context_unbind(&on_reply);
}

static void inventory_lookup(void *arg)
{
    (void)arg; /* a pool thread, in the inventory.lookup span */
}

static void inventory_lookup_done(void *arg)
{
    struct checkout *c = arg;
    span_end(span_current()); /* inventory.lookup */
    span_end(c->inventory_span);
    network_send(c->loop, inventory_reply, c);
}

static void *inventory_lookup_start(void *arg)
{
    struct checkout *c = arg;
    ev_queue_work(c->loop, inventory_lookup, inventory_lookup_done, c);
    return NULL;
}

static void *inventory_handle(void *arg)
{
    span_run(span_start("inventory.lookup"), inventory_lookup_start, arg);
    return NULL;
}

static void inventory_receive(void *arg)
{
    struct checkout *c = arg;
    if (span_current() != NULL)
        __atomic_fetch_add(&tracer_demo_leaks, 1, __ATOMIC_RELAXED);
    int i = tracer_demo_header_count++;
    if (i < 64)
        memcpy(tracer_demo_headers[i], c->traceparent, sizeof(c->traceparent));
    c->inventory_span = span_start_remote("GET /inventory", c->traceparent);
    span_run(c->inventory_span, inventory_handle, c);
}

/* Checkout, inventory branch: an outgoing request with its traceparent header. */

static void *reply_received(void *arg)
{
    span_end(span_current()); /* the client span, current again thanks to the binding */
    branch_done(arg);
    return NULL;
}

static void *inventory_send(void *arg)
{
    struct checkout *c = arg;
    tracer_traceparent(c->traceparent);
    ah_context_bind(&c->on_reply, reply_received, c);
    network_send(c->loop, inventory_receive, c);
    return NULL;
}

/* Checkout service. */

static void *checkout_handle(void *arg)
{
    struct checkout *c = arg;
    c->outstanding = 2;
    span_run(span_start("db.query"), db_start, c);
    span_run(span_start("HTTP GET inventory"), inventory_send, c);
    return NULL;
}

static void checkout_receive(void *arg)
{
    struct checkout *c = arg;
    c->root = span_start_remote("GET /checkout", c->incoming_traceparent);
    span_run(c->root, checkout_handle, c);
}

int tracer_demo(FILE *out, int requests, const char *first_traceparent)
{
    int rc = tracer_open(out);
    if (rc < 0)
        return rc;
    struct ev_loop *loop = ev_loop_new(2);
    if (loop == NULL) {
        tracer_close();
        return -ENOMEM;
    }
    tracer_demo_header_count = 0;
    tracer_demo_leaks = 0;
    ah_snapshot_take(&network); /* top level: the empty context */
    for (int i = 0; i < requests; i++) {
        struct checkout *c = calloc(1, sizeof(*c));
        if (c == NULL)
            break;
        c->loop = loop;
        c->incoming_traceparent = i == 0 ? first_traceparent : NULL;
        ev_request(loop, (unsigned)(i % 3), checkout_receive, c);
    }
    ev_run(loop);
    ah_snapshot_release(&network);
    ev_loop_free(loop);
    tracer_close();
    return 0;
}
