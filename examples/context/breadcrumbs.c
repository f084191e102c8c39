/*
 * breadcrumbs.c - breadcrumbs as a persistent list in a context store, and the demo.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ah.h"
#include "breadcrumbs.h"
#include "evloop.h"
#include "jsonw.h"

struct crumb {
    const struct crumb *prev; /* older */
    struct crumbs_trail *trail;
    struct crumb *owned_next; /* the trail's list of everything to free */
    char msg[];
};

struct crumbs_trail {
    pthread_mutex_t lock; /* crumbs are added from any thread */
    struct crumb *owned;
};

static ah_store_t *crumb_store;
static FILE *report_out;

int crumbs_open(FILE *reports)
{
    crumb_store = ah_store_new(NULL);
    if (crumb_store == NULL)
        return -ENOMEM;
    report_out = reports;
    return 0;
}

void crumbs_close(void)
{
    ah_store_free(crumb_store);
    crumb_store = NULL;
}

static struct crumb *crumb_new(struct crumbs_trail *trail, const struct crumb *prev,
                               const char *msg)
{
    size_t n = strlen(msg) + 1;
    struct crumb *c = malloc(sizeof(*c) + n);
    if (c == NULL)
        return NULL;
    c->prev = prev;
    c->trail = trail;
    memcpy(c->msg, msg, n);
    pthread_mutex_lock(&trail->lock);
    c->owned_next = trail->owned;
    trail->owned = c;
    pthread_mutex_unlock(&trail->lock);
    return c;
}

struct begin_call {
    void (*fn)(void *);
    void *arg;
};

static void *begin_body(void *arg)
{
    struct begin_call *b = arg;
    b->fn(b->arg);
    return NULL;
}

struct crumbs_trail *crumbs_begin(void (*fn)(void *), void *arg)
{
    struct crumbs_trail *trail = calloc(1, sizeof(*trail));
    if (trail == NULL)
        return NULL;
    pthread_mutex_init(&trail->lock, NULL);
    /* The trail's first crumb marks where it starts; reports leave it out. */
    struct crumb *start = crumb_new(trail, NULL, "");
    if (start == NULL) {
        crumbs_trail_free(trail);
        return NULL;
    }
    struct begin_call b = {fn, arg};
    ah_store_run(crumb_store, start, begin_body, &b);
    return trail;
}

void crumbs_trail_free(struct crumbs_trail *trail)
{
    if (trail == NULL)
        return;
    struct crumb *c = trail->owned;
    while (c) {
        struct crumb *next = c->owned_next;
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&trail->lock);
    free(trail);
}

void crumb(const char *fmt, ...)
{
    const struct crumb *head = ah_store_get(crumb_store);
    if (head == NULL)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct crumb *c = crumb_new(head->trail, head, msg);
    /* For the rest of this callback and what it schedules from now on; the callbacks
     * scheduled before keep the trail they captured. */
    if (c)
        ah_store_enter_with(crumb_store, c);
}

void crumbs_report(const char *error)
{
    const struct crumb *trail[64];
    int n = 0;
    for (const struct crumb *c = ah_store_get(crumb_store); c && c->prev && n < 64; c = c->prev)
        trail[n++] = c;
    char list[1536];
    size_t len = 0;
    list[len++] = '[';
    for (int i = n - 1; i >= 0; i--) {
        struct jsonw item;
        item.len = 0;
        jsonw_string(&item, trail[i]->msg);
        if (len + item.len + 3 > sizeof(list))
            break;
        if (i != n - 1)
            list[len++] = ',';
        memcpy(list + len, item.buf, item.len);
        len += item.len;
    }
    list[len++] = ']';
    list[len] = '\0';
    struct jsonw w;
    jsonw_init(&w);
    jsonw_str(&w, "error", error);
    jsonw_json(&w, "breadcrumbs", list);
    jsonw_end(&w);
    fwrite(w.buf, 1, w.len, report_out);
}

/*
 * The demo: each request asks the cache and the database in parallel. Odd orders do not
 * exist (the last branch to finish reports "order not found"); for orders 3, 7, 11... the
 * database fails on the pool thread, which reports at once.
 *
 * Note where crumbs go: a crumb recorded in the pool thread's work is part of that
 * callback's trail but not of the completion callback's, since both are callbacks of one
 * resource and each starts from the context the resource captured (as in Node's
 * AsyncContextFrame and TC39 AsyncContext). Anything the completion must see is recorded
 * before the work is queued, or passed in the request.
 */

struct order_request {
    struct ev_loop *loop;
    int order;
    int outstanding; /* branches still running; loop thread only */
    int found;
    int db_failed;
    struct crumbs_trail *trail;
};

static void request_done(struct order_request *r)
{
    if (--r->outstanding > 0 || r->found || r->db_failed)
        return;
    crumb("render 404");
    crumbs_report("order not found");
}

static void cache_lookup(void *arg)
{
    struct order_request *r = arg;
    crumb("cache: miss for order %d", r->order);
    request_done(r);
}

static void db_query(void *arg)
{
    struct order_request *r = arg; /* a pool thread */
    crumb("db: SELECT order %d on a pool thread", r->order);
    if (r->order % 4 == 3) {
        r->db_failed = 1;
        crumbs_report("db: connection reset");
        return;
    }
    r->found = r->order % 2 == 0;
}

static void db_done(void *arg)
{
    struct order_request *r = arg;
    if (!r->db_failed)
        crumb("db: %d rows", r->found);
    request_done(r);
}

static void handle(void *arg)
{
    struct order_request *r = arg;
    crumb("GET /orders/%d", r->order);
    r->outstanding = 2;
    ev_timeout(r->loop, 1, cache_lookup, r);
    crumb("db: querying"); /* after the cache lookup was scheduled: not in its trail */
    ev_queue_work(r->loop, db_query, db_done, r);
    crumb("waiting for cache and db"); /* nothing is scheduled after it: in no trail */
}

static void on_request(void *arg)
{
    struct order_request *r = arg;
    r->trail = crumbs_begin(handle, r);
}

int crumbs_demo(FILE *out, int requests)
{
    int rc = crumbs_open(out);
    if (rc < 0)
        return rc;
    struct ev_loop *loop = ev_loop_new(2);
    struct order_request *reqs = calloc((size_t)requests, sizeof(*reqs));
    if (loop == NULL || reqs == NULL) {
        if (loop)
            ev_loop_free(loop);
        free(reqs);
        crumbs_close();
        return -ENOMEM;
    }
    for (int i = 0; i < requests; i++) {
        reqs[i].loop = loop;
        reqs[i].order = i;
        ev_request(loop, (unsigned)(i % 2), on_request, &reqs[i]);
    }
    ev_run(loop);
    /* Every callback of every request has run and its resource is gone: no context can
     * show a crumb any more. */
    for (int i = 0; i < requests; i++)
        crumbs_trail_free(reqs[i].trail);
    free(reqs);
    ev_loop_free(loop);
    crumbs_close();
    return 0;
}
