/*
 * request.c - REQ: parsing a request line and answering it directly, from the worker pool
 * (WORK), from a timer (TIMER) or from an outgoing call (CALL); every answer is a WRITE.
 *
 * The context patterns (patterns.h) show up in three places only: the handling of a request
 * runs inside patterns_request_run(), each resource it creates is created inside
 * patterns_child_run() (a span per resource), and the steps are note()d. No function below
 * is given a request id, a span, a trail or a database connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../context/txscope.h"
#include "call.h"
#include "conn.h"
#include "leak.h"
#include "orders.h"
#include "patterns.h"
#include "pool.h"
#include "request.h"
#include "resources.h"
#include "server.h"
#include "timer.h"
#include "write.h"

struct request {
    ah_resource_t resource;
    struct conn *conn;
    struct timer timer; /* /sleep, /tx, /fail */
    struct work work;   /* /work, /tx, /fail */
    struct call *call;  /* /call */
    int port;           /* /call */
    unsigned ms;
    uint64_t hash;
    int shutdown_after;
    int status;   /* of the response, for the log */
    int branches; /* /fail: branches still running */
    /* /tx */
    unsigned items;
    int fail;
    int committed;
    const char *tx_error;
    struct deferred tx_ended;
    ah_context_bound_t tx_reply;
    struct request_context context;
};

/* Runs in the WRITE's scope: the response is out (or the connection is gone). The request's
 * last callback. */
static void request_on_written(void *arg, int status)
{
    struct request *req = arg;
    struct conn *c = req->conn;
    struct server *s = c->server;
    if (status < 0) {
        s->stats.write_errors++;
        note("response %d not delivered: %s", req->status, strerror(-status));
    } else {
        note("responded %d", req->status);
    }
    patterns_child_end();
    patterns_request_end(&req->context);
    if (req->shutdown_after)
        loop_stop(s->loop);
    AH_CHECK(ah_destroy(&req->resource));
    s->stats.requests_in_flight--;
    conn_request_done(c);
    conn_unref(c);
    free(req->call);
    free(req);
}

struct response {
    struct request *req;
    const char *text;
    size_t length;
};

static void response_write(void *arg)
{
    struct response *r = arg;
    struct write *w = write_new(r->text, r->length, request_on_written, r->req);
    if (!w) {
        fprintf(stderr, "ah-server: out of memory for a response\n");
        abort();
    }
    conn_write(r->req->conn, w);
}

/* The WRITE is created here, so its trigger is whoever answers: REQ, TIMER, WORK or CALL. */
static void request_respond(struct request *req, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void request_respond(struct request *req, const char *format, ...)
{
    char text[320];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(text, sizeof text - 1, format, args);
    va_end(args);
    if (length < 0 || (size_t)length >= sizeof text - 1)
        length = (int)sizeof text - 2;
    req->status = atoi(text);
    text[length++] = '\n';
    struct response r = {req, text, (size_t)length};
    patterns_child_run(&req->context, "WRITE", response_write, &r);
}

/* Creating a WORK or a TIMER for REQ, in a span of its own when tracing. */
struct child {
    struct request *req;
    work_run_cb run;
    work_done_cb done;
    timer_cb fire;
    uint64_t delay_ns;
};

static void child_submit(void *arg)
{
    struct child *ch = arg;
    pool_submit(ch->req->conn->server->pool, &ch->req->work, ch->run, ch->done);
}

static void request_submit(struct request *req, work_run_cb run, work_done_cb done)
{
    struct child ch = {.req = req, .run = run, .done = done};
    patterns_child_run(&req->context, "WORK", child_submit, &ch);
}

static void child_arm(void *arg)
{
    struct child *ch = arg;
    timer_init(ch->req->conn->server->loop, &ch->req->timer, ch->fire, 0);
    timer_start(&ch->req->timer, ch->delay_ns);
}

static void request_arm(struct request *req, timer_cb fire, uint64_t delay_ns)
{
    struct child ch = {.req = req, .fire = fire, .delay_ns = delay_ns};
    patterns_child_run(&req->context, "TIMER", child_arm, &ch);
}

/* CPU work that cannot be optimised away: FNV-1a over a counter for MS milliseconds. */
static uint64_t busy_hash(unsigned ms)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    uint64_t deadline = clock_now_ns() + ms * NS_PER_MS;
    uint64_t counter = 0;
    do {
        for (int i = 0; i < 1024; i++, counter++)
            hash = (hash ^ counter) * UINT64_C(0x100000001b3);
    } while (clock_now_ns() < deadline);
    return hash;
}

/* GET /work */

static void request_run_work(struct work *w)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    note("work: hashing for %u ms on a pool thread", req->ms);
    req->hash = busy_hash(req->ms);
}

static void request_on_work_done(struct work *w, int status)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    note("work: done");
    if (status < 0)
        request_respond(req, "503 cancelled id=%" PRIu64, req->resource.id);
    else
        request_respond(req, "200 work ms=%u hash=%016" PRIx64 " id=%" PRIu64, req->ms, req->hash,
                        req->resource.id);
    patterns_child_end();
}

/* GET /sleep */

static void request_on_timer(struct timer *t, int status)
{
    struct request *req = AH_CONTAINER_OF(t, struct request, timer);
    note("sleep: timer fired after %u ms", req->ms);
    if (status < 0)
        request_respond(req, "503 cancelled id=%" PRIu64, req->resource.id);
    else
        request_respond(req, "200 sleep ms=%u id=%" PRIu64, req->ms, req->resource.id);
    patterns_child_end();
    timer_close(t);
}

/* GET /call: an outgoing request, answered from the CALL's callback. */

static void request_on_call(struct call *c, int status)
{
    struct request *req = c->arg;
    ah_id_t id = req->resource.id;
    if (status == 0) {
        note("call: reply '%s'", c->reply);
        request_respond(req, "200 call port=%d reply=\"%s\" id=%" PRIu64, c->port, c->reply, id);
    } else if (status == -ECANCELED) {
        request_respond(req, "503 cancelled id=%" PRIu64, id);
    } else {
        note("call: failed: %s", strerror(-status));
        request_respond(req, "502 call failed port=%d error=\"%s\" id=%" PRIu64, c->port,
                        strerror(-status), id);
    }
    patterns_child_end();
}

static void child_call(void *arg)
{
    struct request *req = arg;
    call_start(req->conn->server, req->call, req->port, "GET /fast", request_on_call, req);
}

/*
 * GET /fail: a request that forks a cache lookup (a timer) and a database query (the pool);
 * the query fails on the pool thread and reports the error with its breadcrumbs there, which
 * are the request's crumbs up to the fork and the query's own: never the cache's, never
 * another request's. The response goes out once both branches are done.
 */

static void fail_branch_done(struct request *req)
{
    if (--req->branches == 0)
        request_respond(req, "500 failed id=%" PRIu64, req->resource.id);
}

static void fail_on_cache(struct timer *t, int status)
{
    struct request *req = AH_CONTAINER_OF(t, struct request, timer);
    note(status < 0 ? "fail: cache lookup cancelled" : "fail: cache miss");
    fail_branch_done(req);
    patterns_child_end();
    timer_close(t);
}

static void fail_run_query(struct work *w)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    req->hash = busy_hash(req->ms);
    note("fail: database query failed on a pool thread");
    patterns_report("db: connection reset");
}

static void fail_on_query_done(struct work *w, int status)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    note(status < 0 ? "fail: database query cancelled" : "fail: database error");
    fail_branch_done(req);
    patterns_child_end();
}

static void request_fail(struct request *req)
{
    req->branches = 2;
    note("fail: looking up the cache");
    request_arm(req, fail_on_cache, 0);
    note("fail: querying the database");
    request_submit(req, fail_run_query, fail_on_query_done);
    note("fail: waiting for cache and database"); /* nothing is scheduled after: in no trail */
}

/*
 * GET /tx?n=N&fail=F: an order written in one SQLite transaction by three callbacks: the
 * order row here, its N items on a pool thread, its closing in a timer. tx_run() (txscope.c)
 * commits once the last resource created inside has been destroyed, or rolls back when a
 * statement failed (fail=1 breaks a constraint in the last step). The response says which;
 * it is written from the request's own context, bound before the transaction began, since a
 * context holding the transaction must not outlive it.
 */

static void *tx_reply(void *arg)
{
    struct request *req = arg;
    ah_id_t id = req->resource.id;
    if (req->committed) {
        note("tx: committed");
        request_respond(req, "200 tx committed items=%u id=%" PRIu64, req->items, id);
    } else {
        note("tx: rolled back: %s", req->tx_error);
        request_respond(req, "500 tx rolled back error=\"%s\" id=%" PRIu64, req->tx_error, id);
    }
    return NULL;
}

/* From the loop, once the transaction ended: answer in the REQ's scope (the WRITE's trigger)
 * and the request's context. */
static void tx_on_ended(struct deferred *d)
{
    struct request *req = AH_CONTAINER_OF(d, struct request, tx_ended);
    AH_CHECK(ah_before(&req->resource));
    ah_context_call(&req->tx_reply);
    ah_context_unbind(&req->tx_reply);
    AH_CHECK(ah_after(&req->resource));
}

/* Inside libah's destroy hook, on the loop thread (every resource of the server is destroyed
 * there): no resource may be created here, so the answer is deferred. */
static void tx_on_end(int committed, const char *error, void *arg)
{
    struct request *req = arg;
    req->committed = committed;
    req->tx_error = error;
    loop_defer(req->conn->server->loop, &req->tx_ended, tx_on_ended);
}

static void tx_on_timer(struct timer *t, int status)
{
    struct request *req = AH_CONTAINER_OF(t, struct request, timer);
    if (status < 0)
        tx_fail("cancelled");
    else if (order_close(req->resource.id, req->fail) < 0)
        note("tx: closing the order failed");
    else
        note("tx: order closed");
    patterns_child_end();
    timer_close(t); /* the transaction's last resource: it ends now */
}

static void tx_run_items(struct work *w)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    if (order_add_items(req->resource.id, req->items) == 0)
        note("tx: %u items inserted on a pool thread", req->items);
}

static void tx_on_items(struct work *w, int status)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    if (status < 0)
        tx_fail("cancelled");
    else
        request_arm(req, tx_on_timer, 0);
    patterns_child_end();
}

static void tx_body(void *arg)
{
    struct request *req = arg;
    if (order_open(req->resource.id, req->items) == 0)
        note("tx: order opened");
    request_submit(req, tx_run_items, tx_on_items);
}

static void request_tx(struct request *req)
{
    ah_context_bind(&req->tx_reply, tx_reply, req);
    int rc = tx_run(patterns_db_path(), tx_body, req, tx_on_end, req);
    if (rc < 0) {
        /* The database is locked by another transaction (an event loop does not wait) or
         * cannot be opened. */
        ah_context_unbind(&req->tx_reply);
        note("tx: cannot begin");
        request_respond(req, "503 busy id=%" PRIu64, req->resource.id);
    }
}

/* Parse "key=N&key=N" with the given keys (each at most once, in any order) into VALUES,
 * each value at most MAX[i]. Keys left out keep their value. 0, or -1 when malformed. */
static int parse_query(const char *query, size_t length, int count, const char *const *keys,
                       const long *max, long *values)
{
    const char *p = query, *end = query + length;
    int seen = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *field_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(field_end - p));
        if (!eq || eq + 1 == field_end || field_end - eq > 6)
            return -1;
        int key = -1;
        for (int i = 0; i < count; i++)
            if ((size_t)(eq - p) == strlen(keys[i]) && !memcmp(p, keys[i], (size_t)(eq - p)))
                key = i;
        if (key < 0 || (seen & (1 << key)))
            return -1;
        seen |= 1 << key;
        long value = 0;
        for (const char *d = eq + 1; d < field_end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            value = value * 10 + (*d - '0');
        }
        if (value > max[key])
            return -1;
        values[key] = value;
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* "ms=N" with 0 <= N <= REQUEST_MS_MAX; -1 when malformed. */
static long parse_ms(const char *query, size_t length)
{
    static const char *const keys[] = {"ms"};
    static const long max[] = {REQUEST_MS_MAX};
    long ms = -1;
    if (parse_query(query, length, 1, keys, max, &ms) < 0)
        return -1;
    return ms;
}

static int line_is(const char *line, size_t length, const char *literal)
{
    return length == strlen(literal) && memcmp(line, literal, length) == 0;
}

static int line_starts(const char *line, size_t length, const char *prefix)
{
    size_t n = strlen(prefix);
    return length >= n && memcmp(line, prefix, n) == 0;
}

static void request_bad(struct request *req)
{
    req->conn->server->stats.bad_requests++;
    request_respond(req, "400 bad request id=%" PRIu64, req->resource.id);
}

/* Runs in the REQ's scope. */
static void request_route(struct request *req, const char *line, size_t length)
{
    struct server *s = req->conn->server;
    ah_id_t id = req->resource.id;
    note("request %" PRIu64 ": %.*s", id, (int)length, line);

    if (line_is(line, length, "GET /fast")) {
        s->stats.fast++;
        request_respond(req, "200 fast id=%" PRIu64, id);
    } else if (line_starts(line, length, "GET /work?")) {
        long ms = parse_ms(line + 10, length - 10);
        if (ms < 0) {
            request_bad(req);
            return;
        }
        s->stats.work++;
        req->ms = (unsigned)ms;
        request_submit(req, request_run_work, request_on_work_done);
    } else if (line_starts(line, length, "GET /sleep?")) {
        long ms = parse_ms(line + 11, length - 11);
        if (ms < 0) {
            request_bad(req);
            return;
        }
        s->stats.sleep++;
        req->ms = (unsigned)ms;
        request_arm(req, request_on_timer, (uint64_t)ms * NS_PER_MS);
    } else if (line_is(line, length, "GET /leak")) {
        s->stats.leak++;
        ah_id_t leak_id = leak_new(&s->leaks);
        request_respond(req, "200 leak id=%" PRIu64 " leak=%" PRIu64, id, leak_id);
    } else if (line_starts(line, length, "GET /call?")) {
        static const char *const keys[] = {"port"};
        static const long max[] = {65535};
        long port = 0;
        if (parse_query(line + 10, length - 10, 1, keys, max, &port) < 0 || port == 0) {
            request_bad(req);
            return;
        }
        s->stats.call++;
        req->port = (int)port;
        req->call = calloc(1, sizeof *req->call);
        if (!req->call) {
            fprintf(stderr, "ah-server: out of memory for a call\n");
            abort();
        }
        patterns_child_run(&req->context, "CALL", child_call, req);
    } else if (line_is(line, length, "GET /fail") || line_starts(line, length, "GET /fail?")) {
        long ms = length > 9 ? parse_ms(line + 10, length - 10) : 0;
        if (ms < 0) {
            request_bad(req);
            return;
        }
        s->stats.fail++;
        req->ms = (unsigned)ms;
        request_fail(req);
    } else if (line_starts(line, length, "GET /tx?")) {
        static const char *const keys[] = {"n", "fail"};
        static const long max[] = {REQUEST_TX_ITEMS_MAX, 1};
        long values[2] = {-1, 0};
        if (parse_query(line + 8, length - 8, 2, keys, max, values) < 0 || values[0] < 0) {
            request_bad(req);
            return;
        }
        if (!patterns.db) {
            request_respond(req, "503 no database id=%" PRIu64, id);
            return;
        }
        s->stats.tx++;
        req->items = (unsigned)values[0];
        req->fail = (int)values[1];
        request_tx(req);
    } else if (line_is(line, length, "QUIT")) {
        s->stats.quit++;
        conn_quit(req->conn);
        request_respond(req, "200 bye id=%" PRIu64, id);
    } else if (line_is(line, length, "SHUTDOWN")) {
        req->shutdown_after = 1;
        request_respond(req, "200 shutdown id=%" PRIu64, id);
    } else if (line_starts(line, length, "GET /")) {
        s->stats.bad_requests++;
        request_respond(req, "404 not found id=%" PRIu64, id);
    } else {
        request_bad(req);
    }
}

struct route_call {
    struct request *req;
    const char *line;
    size_t length;
};

static void route_in_context(void *arg)
{
    struct route_call *r = arg;
    request_route(r->req, r->line, r->length);
}

void request_start(struct conn *c, const char *line, size_t length)
{
    struct request *req = calloc(1, sizeof *req);
    if (!req) {
        fprintf(stderr, "ah-server: out of memory for a request\n");
        abort();
    }
    req->conn = c;
    conn_ref(c);
    c->server->stats.requests++;
    c->server->stats.requests_in_flight++;
    AH_CHECK(ah_init(&req->resource, resource_types.req, 0));
    AH_CHECK(ah_before(&req->resource));

    if (length && line[length - 1] == '\r')
        length--;
    /* A trailing " traceparent=VALUE" is a header: routing ignores it, tracing continues
     * it (an invalid one starts a new trace, as the W3C spec asks). */
    char traceparent[TRACEPARENT_LEN + 1];
    const char *header = memmem(line, length, " traceparent=", 13);
    const char *parent = NULL;
    if (header) {
        const char *value = header + 13;
        size_t value_length = (size_t)(line + length - value);
        if (value_length == TRACEPARENT_LEN) {
            memcpy(traceparent, value, TRACEPARENT_LEN);
            traceparent[TRACEPARENT_LEN] = '\0';
            parent = traceparent;
        }
        length = (size_t)(header - line);
    }

    if (patterns.context) {
        struct route_call r = {req, line, length};
        patterns_request_run(&req->context, req->resource.id, line, length, parent,
                             route_in_context, &r);
    } else {
        request_route(req, line, length);
    }
    AH_CHECK(ah_after(&req->resource));
}
