/*
 * request.c - REQ: parsing a request line and answering it directly, from the worker pool
 * (WORK) or from a timer (TIMER); every answer is a WRITE.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "conn.h"
#include "leak.h"
#include "pool.h"
#include "request.h"
#include "resources.h"
#include "server.h"
#include "timer.h"
#include "write.h"

struct request {
    ah_resource_t resource;
    struct conn *conn;
    struct timer timer; /* /sleep */
    struct work work;   /* /work */
    unsigned ms;
    uint64_t hash;
    int shutdown_after;
};

/* Runs in the WRITE's scope: the response is out (or the connection is gone). */
static void request_on_written(void *arg, int status)
{
    struct request *req = arg;
    struct conn *c = req->conn;
    struct server *s = c->server;
    if (status < 0)
        s->stats.write_errors++;
    if (req->shutdown_after)
        loop_stop(s->loop);
    AH_CHECK(ah_destroy(&req->resource));
    s->stats.requests_in_flight--;
    conn_request_done(c);
    conn_unref(c);
    free(req);
}

/* The WRITE is created here, so its trigger is whoever answers: REQ, TIMER or WORK. */
static void request_respond(struct request *req, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void request_respond(struct request *req, const char *format, ...)
{
    char text[160];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(text, sizeof text - 1, format, args);
    va_end(args);
    if (length < 0 || (size_t)length >= sizeof text - 1)
        length = (int)sizeof text - 2;
    text[length++] = '\n';
    struct write *w = write_new(text, (size_t)length, request_on_written, req);
    if (!w) {
        fprintf(stderr, "ah-server: out of memory for a response\n");
        abort();
    }
    conn_write(req->conn, w);
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

static void request_run_work(struct work *w)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    req->hash = busy_hash(req->ms);
}

static void request_on_work_done(struct work *w, int status)
{
    struct request *req = AH_CONTAINER_OF(w, struct request, work);
    if (status < 0)
        request_respond(req, "503 cancelled id=%" PRIu64, req->resource.id);
    else
        request_respond(req, "200 work ms=%u hash=%016" PRIx64 " id=%" PRIu64, req->ms, req->hash,
                        req->resource.id);
}

static void request_on_timer(struct timer *t, int status)
{
    struct request *req = AH_CONTAINER_OF(t, struct request, timer);
    if (status < 0)
        request_respond(req, "503 cancelled id=%" PRIu64, req->resource.id);
    else
        request_respond(req, "200 sleep ms=%u id=%" PRIu64, req->ms, req->resource.id);
    timer_close(t);
}

/* "ms=N" with 0 <= N <= REQUEST_MS_MAX; -1 when malformed. */
static long parse_ms(const char *query, size_t length)
{
    if (length < 4 || memcmp(query, "ms=", 3) != 0 || length > 3 + 5)
        return -1;
    long ms = 0;
    for (size_t i = 3; i < length; i++) {
        if (query[i] < '0' || query[i] > '9')
            return -1;
        ms = ms * 10 + (query[i] - '0');
    }
    return ms <= REQUEST_MS_MAX ? ms : -1;
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

/* Runs in the REQ's scope. */
static void request_route(struct request *req, const char *line, size_t length)
{
    struct server *s = req->conn->server;
    ah_id_t id = req->resource.id;
    if (length && line[length - 1] == '\r')
        length--;

    if (line_is(line, length, "GET /fast")) {
        s->stats.fast++;
        request_respond(req, "200 fast id=%" PRIu64, id);
    } else if (line_starts(line, length, "GET /work?")) {
        long ms = parse_ms(line + 10, length - 10);
        if (ms < 0) {
            s->stats.bad_requests++;
            request_respond(req, "400 bad request id=%" PRIu64, id);
            return;
        }
        s->stats.work++;
        req->ms = (unsigned)ms;
        pool_submit(s->pool, &req->work, request_run_work, request_on_work_done);
    } else if (line_starts(line, length, "GET /sleep?")) {
        long ms = parse_ms(line + 11, length - 11);
        if (ms < 0) {
            s->stats.bad_requests++;
            request_respond(req, "400 bad request id=%" PRIu64, id);
            return;
        }
        s->stats.sleep++;
        req->ms = (unsigned)ms;
        timer_init(s->loop, &req->timer, request_on_timer, 0);
        timer_start(&req->timer, (uint64_t)ms * NS_PER_MS);
    } else if (line_is(line, length, "GET /leak")) {
        s->stats.leak++;
        ah_id_t leak_id = leak_new(&s->leaks);
        request_respond(req, "200 leak id=%" PRIu64 " leak=%" PRIu64, id, leak_id);
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
        s->stats.bad_requests++;
        request_respond(req, "400 bad request id=%" PRIu64, id);
    }
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
    request_route(req, line, length);
    AH_CHECK(ah_after(&req->resource));
}
