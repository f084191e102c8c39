/*
 * Context storage across threads: a task initialised on the event-loop thread
 * runs on a worker thread in the context of the request that created it, and
 * the completion the worker posts back runs on the loop thread in that same
 * context. Run under TSan too.
 */
#include <pthread.h>

#include "unit/test_als_loop.h"

#define NWORKERS 4
#define NREQ 200

struct task {
    ah_resource_t res;
    long req;
    struct task *next;
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct task *head, *tail;
    int closed;
};

static void q_init(struct queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->head = q->tail = NULL;
    q->closed = 0;
}

static void q_push(struct queue *q, struct task *t)
{
    pthread_mutex_lock(&q->lock);
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static struct task *q_pop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed)
        pthread_cond_wait(&q->cond, &q->lock);
    struct task *t = q->head;
    if (t) {
        q->head = t->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return t;
}

static void q_close(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static ah_store_t *request_store, *config_store;
static struct queue work, done;
static long requests[NREQ];
static int pool_type, done_type;

static void *worker(void *arg)
{
    (void)arg;
    struct task *t;
    while ((t = q_pop(&work)) != NULL) {
        cr_assert_null(ah_store_get(request_store)); /* between tasks: the thread's own */
        cr_assert_eq(ah_before(&t->res), 0);
        long *req = ah_store_get(request_store);
        cr_assert_eq(req, &requests[t->req]);
        cr_assert_str_eq(ah_store_get(config_store), "config");
        struct task *c = calloc(1, sizeof(*c));
        cr_assert_eq(ah_init(&c->res, done_type, 0), 0); /* captures the task's context */
        c->req = t->req;
        cr_assert_eq(ah_after(&t->res), 0);
        cr_assert_eq(ah_destroy(&t->res), 0);
        free(t);
        q_push(&done, c);
    }
    return NULL;
}

static void *submit(void *arg)
{
    struct task *t = calloc(1, sizeof(*t));
    cr_assert_eq(ah_init(&t->res, pool_type, 0), 0);
    t->req = (long)arg;
    q_push(&work, t);
    return NULL;
}

ALS_TEST(test_als_threads, worker_pool_propagation)
{
    pool_type = ah_type("POOL_TASK");
    done_type = ah_type("POOL_DONE");
    request_store = ah_store_new(NULL);
    config_store = ah_store_new(NULL);
    q_init(&work);
    q_init(&done);
    pthread_t th[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, worker, NULL), 0);

    /* A value every request shares, entered once at top level. */
    ah_store_enter_with(config_store, "config");
    for (long i = 0; i < NREQ; i++)
        ah_store_run(request_store, &requests[i], submit, (void *)i);
    cr_assert_null(ah_store_get(request_store));

    for (int n = 0; n < NREQ; n++) {
        struct task *c = q_pop(&done);
        cr_assert_eq(ah_before(&c->res), 0);
        cr_assert_eq(ah_store_get(request_store), &requests[c->req]);
        cr_assert_eq(ah_after(&c->res), 0);
        cr_assert_eq(ah_destroy(&c->res), 0);
        free(c);
    }
    q_close(&work);
    for (int i = 0; i < NWORKERS; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    ah_store_free(request_store);
    ah_store_free(config_store);
}

/* Many threads at once: each runs requests, enters values inside callbacks,
 * hands resources to the next thread which runs and destroys them, shares
 * snapshots. The frames are shared between threads; TSan and the leak checker
 * watch the reference counts. */
#define NTHREADS 4
#define ROUNDS 300
static struct queue rings[NTHREADS];
static ah_snapshot_t shared_snap;

static void *stress_body(void *arg)
{
    long me = (long)arg;
    struct task *t = calloc(1, sizeof(*t));
    cr_assert_eq(ah_init(&t->res, pool_type, 0), 0);
    t->req = me;
    q_push(&rings[(me / 1000 + 1) % NTHREADS], t);
    return NULL;
}

static void *snap_check(void *arg)
{
    (void)arg;
    cr_assert_str_eq(ah_store_get(config_store), "shared");
    return NULL;
}

static void *stress(void *arg)
{
    long id = (long)arg;
    for (long r = 0; r < ROUNDS; r++) {
        long value = id * 1000 + r;
        ah_store_run(request_store, (void *)value, stress_body, (void *)value);
        struct task *t = q_pop(&rings[id]);
        cr_assert_eq(ah_before(&t->res), 0);
        cr_assert_eq((long)ah_store_get(request_store), t->req);
        ah_store_enter_with(request_store, (void *)-1L);
        ah_snapshot_run(&shared_snap, snap_check, NULL);
        cr_assert_eq((long)ah_store_get(request_store), -1L);
        cr_assert_eq(ah_destroy(&t->res), 0);
        cr_assert_eq(ah_after(&t->res), 0);
        free(t);
        cr_assert_null(ah_store_get(request_store));
    }
    return NULL;
}

ALS_TEST(test_als_threads, concurrent_sharing)
{
    pool_type = ah_type("POOL_TASK");
    request_store = ah_store_new(NULL);
    config_store = ah_store_new(NULL);
    for (int i = 0; i < NTHREADS; i++)
        q_init(&rings[i]);
    ah_store_enter_with(config_store, "shared");
    ah_snapshot_take(&shared_snap);
    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, stress, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    ah_snapshot_release(&shared_snap);
    ah_store_free(request_store);
    ah_store_free(config_store);
}

/* A thread that ends with a value entered at top level, or inside scopes it
 * never left, gives its contexts back (the leak checker would say otherwise).
 */
static ah_resource_t open_res;

static void *enter_and_exit(void *arg)
{
    (void)arg;
    cr_assert_eq(ah_store_enter_with(request_store, "thread top level"), 0);
    cr_assert_eq(ah_before(&open_res), 0);
    cr_assert_eq(ah_store_enter_with(request_store, "inside scope"), 0);
    return NULL;
}

static void *init_open(void *arg)
{
    (void)arg;
    cr_assert_eq(ah_init(&open_res, als_type(), 0), 0);
    return NULL;
}

ALS_TEST(test_als_threads, thread_exit_releases_contexts)
{
    request_store = ah_store_new(NULL);
    ah_store_run(request_store, "captured", init_open, NULL);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, enter_and_exit, NULL), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(ah_destroy(&open_res), 0);
    ah_store_free(request_store);
}
