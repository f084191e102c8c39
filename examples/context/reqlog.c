/*
 * reqlog.c - request-id logging through context storage, and its demo.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ah.h"
#include "evloop.h"
#include "jsonw.h"
#include "reqlog.h"

static ah_store_t *request_store;
static FILE *log_out;

/* A small number per thread so that lines show where they were written. */
static int thread_number(void)
{
    static int next;
    static __thread int mine;
    if (mine == 0)
        mine = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
    return mine;
}

int reqlog_open(FILE *out)
{
    request_store = ah_store_new(NULL);
    if (request_store == NULL)
        return -ENOMEM;
    log_out = out;
    return 0;
}

void reqlog_close(void)
{
    ah_store_free(request_store);
    request_store = NULL;
    log_out = NULL;
}

void *reqlog_with_request(const char *request_id, void *(*fn)(void *), void *arg)
{
    return ah_store_run(request_store, (void *)request_id, fn, arg);
}

const char *reqlog_request_id(void)
{
    return ah_store_get(request_store);
}

void log_info(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct jsonw w;
    jsonw_init(&w);
    jsonw_uint(&w, "ts_ns", (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    jsonw_str(&w, "level", "info");
    jsonw_str(&w, "request_id", reqlog_request_id()); /* null outside a request */
    jsonw_uint(&w, "thread", (uint64_t)thread_number());
    jsonw_str(&w, "msg", msg);
    jsonw_end(&w);
    /* One write per line: lines from several threads never interleave. */
    fwrite(w.buf, 1, w.len, log_out);
}

/* The demo: a request handler and the functions it calls, none of which is given the
 * request id. */

struct request {
    char id[32];
    int item;
    struct ev_loop *loop;
    int stock;
};

static void render(void *arg)
{
    struct request *req = arg;
    log_info("GET /item/%d responded stock=%d", req->item, req->stock);
    free(req); /* the request's last callback: nothing reads its id any more */
}

static void load_stock(void *arg)
{
    struct request *req = arg;
    log_info("GET /item/%d querying stock on a pool thread", req->item);
    req->stock = req->item * 10;
}

static void stock_loaded(void *arg)
{
    struct request *req = arg;
    log_info("GET /item/%d stock loaded", req->item);
    ev_timeout(req->loop, 1, render, req);
}

static void *handle(void *arg)
{
    struct request *req = arg;
    log_info("GET /item/%d received", req->item);
    ev_queue_work(req->loop, load_stock, stock_loaded, req);
    return NULL;
}

static void on_request(void *arg)
{
    struct request *req = arg;
    reqlog_with_request(req->id, handle, req);
}

int reqlog_demo(FILE *out, int requests)
{
    int rc = reqlog_open(out);
    if (rc < 0)
        return rc;
    struct ev_loop *loop = ev_loop_new(2);
    if (loop == NULL) {
        reqlog_close();
        return -ENOMEM;
    }
    log_info("serving %d requests", requests);
    for (int i = 0; i < requests; i++) {
        struct request *req = calloc(1, sizeof(*req));
        if (req == NULL)
            break;
        snprintf(req->id, sizeof(req->id), "req-%d", i);
        req->item = i;
        req->loop = loop;
        ev_request(loop, (unsigned)(i % 3), on_request, req);
    }
    ev_run(loop);
    log_info("done");
    ev_loop_free(loop);
    reqlog_close();
    return 0;
}
