/*
 * breadcrumbs.c - breadcrumbs as a persistent list in a context store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ah.h"
#include "breadcrumbs.h"
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
    report_out = NULL;
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
    return b; /* not NULL: NULL from ah_store_run() means FN did not run */
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
    if (ah_store_run(crumb_store, start, begin_body, &b) == NULL) {
        crumbs_trail_free(trail); /* no context could be made: nothing holds the crumb */
        return NULL;
    }
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
    if (report_out == NULL)
        return;
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
