/*
 * helpers.h - shared helpers of the unit tests: an event recorder hook.
 *
 * A recorder is an in-process hook that appends every event it sees (which hook, which event,
 * the id, type and trigger, the resource, the thread and its execution id at that moment) to a
 * log. Several recorders may share one log, so that a test can check the order in which hooks
 * ran. The log is locked so that threads may record concurrently; recording is not on any path
 * whose cost a test measures.
 */
#ifndef AH_TEST_HELPERS_H
#define AH_TEST_HELPERS_H

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ah.h"

enum rec_ev { REC_INIT, REC_BEFORE, REC_AFTER, REC_DESTROY, REC_RESOLVE };

struct rec_event {
    enum rec_ev ev;
    int tag; /* the recorder's tag */
    ah_id_t id;
    int type;                /* init only */
    ah_id_t trigger_id;      /* init only */
    ah_resource_t *resource; /* init only */
    ah_id_t exec_id;         /* ah_execution_id() when the callback ran */
    ah_resource_t *exec_res; /* ah_execution_resource() when the callback ran */
    pthread_t thread;
};

#define REC_MAX 4096

struct rec_log {
    pthread_mutex_t lock;
    size_t n;
    size_t dropped; /* events that did not fit: a test that sees any is wrong */
    struct rec_event ev[REC_MAX];
};

struct recorder;

/* Called after the event was logged: lets a test act from inside a hook callback. */
typedef void (*rec_action_fn)(struct recorder *self, enum rec_ev ev, ah_id_t id, void *arg);

struct recorder {
    struct rec_log *log;
    int tag;
    ah_hook_t *hook;
    rec_action_fn action;
    void *action_arg;
};

static inline void rec_log_init(struct rec_log *log)
{
    memset(log, 0, sizeof(*log));
    pthread_mutex_init(&log->lock, NULL);
}

static inline void rec_push(struct recorder *r, enum rec_ev ev, ah_id_t id, int type,
                            ah_id_t trigger_id, ah_resource_t *res)
{
    struct rec_log *log = r->log;
    pthread_mutex_lock(&log->lock);
    if (log->n < REC_MAX) {
        struct rec_event *e = &log->ev[log->n++];
        e->ev = ev;
        e->tag = r->tag;
        e->id = id;
        e->type = type;
        e->trigger_id = trigger_id;
        e->resource = res;
        e->exec_id = ah_execution_id();
        e->exec_res = ah_execution_resource();
        e->thread = pthread_self();
    } else {
        log->dropped++;
    }
    pthread_mutex_unlock(&log->lock);
    if (r->action)
        r->action(r, ev, id, r->action_arg);
}

static inline void rec_on_init(ah_id_t id, int type, ah_id_t trigger_id, ah_resource_t *res,
                               void *data)
{
    rec_push(data, REC_INIT, id, type, trigger_id, res);
}

static inline void rec_on_before(ah_id_t id, void *data)
{
    rec_push(data, REC_BEFORE, id, -1, 0, NULL);
}

static inline void rec_on_after(ah_id_t id, void *data)
{
    rec_push(data, REC_AFTER, id, -1, 0, NULL);
}

static inline void rec_on_destroy(ah_id_t id, void *data)
{
    rec_push(data, REC_DESTROY, id, -1, 0, NULL);
}

static inline void rec_on_resolve(ah_id_t id, void *data)
{
    rec_push(data, REC_RESOLVE, id, -1, 0, NULL);
}

/* Create (not enable) a recorder hook logging into LOG under TAG. */
static inline void rec_new(struct recorder *r, struct rec_log *log, int tag)
{
    static const ah_hook_callbacks_t callbacks = {
        .init = rec_on_init,
        .before = rec_on_before,
        .after = rec_on_after,
        .destroy = rec_on_destroy,
        .resolve = rec_on_resolve,
    };
    memset(r, 0, sizeof(*r));
    r->log = log;
    r->tag = tag;
    r->hook = ah_hook_new(&callbacks, r);
    cr_assert_not_null(r->hook);
}

static inline void rec_free(struct recorder *r)
{
    ah_hook_free(r->hook);
    r->hook = NULL;
}

/* How many events EV with ID (0: any id) tagged TAG (-1: any tag) the log holds. */
static inline size_t rec_count(struct rec_log *log, int tag, enum rec_ev ev, ah_id_t id)
{
    size_t count = 0;
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->n; i++) {
        const struct rec_event *e = &log->ev[i];
        if (e->ev == ev && (tag < 0 || e->tag == tag) && (id == 0 || e->id == id))
            count++;
    }
    pthread_mutex_unlock(&log->lock);
    return count;
}

/* How many events of any kind about ID (0: any) the log holds. */
static inline size_t rec_count_id(struct rec_log *log, ah_id_t id)
{
    size_t count = 0;
    for (int ev = REC_INIT; ev <= REC_RESOLVE; ev++)
        count += rec_count(log, -1, (enum rec_ev)ev, id);
    return count;
}

/* The first logged event EV about ID (0: any) tagged TAG (-1: any), or NULL. */
static inline const struct rec_event *rec_find(struct rec_log *log, int tag, enum rec_ev ev,
                                               ah_id_t id)
{
    for (size_t i = 0; i < log->n; i++) {
        const struct rec_event *e = &log->ev[i];
        if (e->ev == ev && (tag < 0 || e->tag == tag) && (id == 0 || e->id == id))
            return e;
    }
    return NULL;
}

/* Register TYPE or fail the test. */
static inline int test_type(const char *name)
{
    int type = ah_type(name);
    cr_assert_geq(type, 0, "ah_type(%s): %s", name, ah_strerror(type));
    return type;
}

/* Assert that RC is 0, printing libah's message otherwise. */
#define ah_ok(rc)                                                                                  \
    do {                                                                                           \
        int ah_ok_rc_ = (rc);                                                                      \
        cr_assert_eq(ah_ok_rc_, 0, "%s = %d (%s)", #rc, ah_ok_rc_, ah_strerror(ah_ok_rc_));        \
    } while (0)

/* Assert that RC is the libah error ERR. */
#define ah_fails(rc, err)                                                                          \
    do {                                                                                           \
        int ah_fails_rc_ = (rc);                                                                   \
        cr_assert_eq(ah_fails_rc_, (err), "%s = %d (%s), expected %s", #rc, ah_fails_rc_,          \
                     ah_strerror(ah_fails_rc_), #err);                                             \
    } while (0)

#endif
