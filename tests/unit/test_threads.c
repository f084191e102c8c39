/*
 * test_threads.c - libah with real threads: per-thread execution stacks, resources handed
 * between threads (Node's WorkerPoolTaskInfo pattern), and every function called concurrently.
 * Run under TSan by `make test-tsan`.
 *
 * Criterion's assertions may only run on the test's own thread, so worker threads count their
 * failures (with the line of the first one) and the test thread asserts on those counts.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

struct failures {
    int count;
    int first_line;
};

#define CHECK(f, cond)                                                                             \
    do {                                                                                           \
        if (!(cond) && (f)->count++ == 0)                                                          \
            (f)->first_line = __LINE__;                                                            \
    } while (0)

#define expect_no_failures(f, who)                                                                 \
    cr_expect_eq((f)->count, 0, "%s: %d failed checks, first at line %d", (who), (f)->count,       \
                 (f)->first_line)

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

/* ------------------------------------------------------------------------------------------ */

struct top_arg {
    struct failures f;
    ah_id_t exec, trigger;
    ah_resource_t *res;
    unsigned depth;
};

static void *look_at_top(void *p)
{
    struct top_arg *a = p;
    a->exec = ah_execution_id();
    a->trigger = ah_trigger_id();
    a->res = ah_execution_resource();
    a->depth = ah_execution_depth();
    /* And again after this thread raised events of its own. */
    int type = ah_type("t");
    ah_resource_t r = {0};
    CHECK(&a->f, ah_init(&r, type, 0) == 0);
    CHECK(&a->f, r.trigger_id == AH_ID_ROOT);
    CHECK(&a->f, ah_before(&r) == 0);
    CHECK(&a->f, ah_execution_id() == r.id);
    CHECK(&a->f, ah_after(&r) == 0);
    CHECK(&a->f, ah_destroy(&r) == 0);
    CHECK(&a->f, ah_execution_id() == AH_ID_ROOT && ah_trigger_id() == AH_ID_NONE);
    return NULL;
}

/* Every thread starts at its own top level, whatever scope the creating thread is in. */
Test(threads, top_level_per_thread)
{
    int type = test_type("t");
    ah_resource_t outer = {0};
    ah_ok(ah_init(&outer, type, 0));
    ah_ok(ah_before(&outer));
    struct top_arg a = {0};
    pthread_t t = spawn(look_at_top, &a);
    pthread_join(t, NULL);
    cr_expect_eq(a.exec, AH_ID_ROOT);
    cr_expect_eq(a.trigger, AH_ID_NONE);
    cr_expect_null(a.res);
    cr_expect_eq(a.depth, 0);
    expect_no_failures(&a.f, "thread");
    cr_expect_eq(ah_execution_id(), outer.id, "the creator's scope is untouched");
    ah_ok(ah_after(&outer));
    ah_ok(ah_destroy(&outer));
}

/* ------------------------------------------------------------------------------------------ */

enum { NEST = 150 }; /* deeper than the inline stack */

struct nest_arg {
    struct failures f;
    pthread_barrier_t *barrier;
    int type;
    ah_resource_t r[NEST];
};

static void *nest_in_lockstep(void *p)
{
    struct nest_arg *a = p;
    for (unsigned i = 0; i < NEST; i++) {
        CHECK(&a->f, ah_init(&a->r[i], a->type, 0) == 0);
        CHECK(&a->f, a->r[i].trigger_id == (i ? a->r[i - 1].id : AH_ID_ROOT));
        CHECK(&a->f, ah_before(&a->r[i]) == 0);
        /* Both threads have entered level i; each sees its own. */
        pthread_barrier_wait(a->barrier);
        CHECK(&a->f, ah_execution_id() == a->r[i].id);
        CHECK(&a->f, ah_execution_resource() == &a->r[i]);
        CHECK(&a->f, ah_execution_depth() == i + 1);
        pthread_barrier_wait(a->barrier);
    }
    for (unsigned i = NEST; i-- > 0;) {
        CHECK(&a->f, ah_after(&a->r[i]) == 0);
        pthread_barrier_wait(a->barrier);
        CHECK(&a->f, ah_execution_depth() == i);
        CHECK(&a->f, ah_execution_id() == (i ? a->r[i - 1].id : AH_ID_ROOT));
        pthread_barrier_wait(a->barrier);
        CHECK(&a->f, ah_destroy(&a->r[i]) == 0);
    }
    return NULL;
}

/* Two threads nest scopes in lockstep; neither sees the other's stack. */
Test(threads, stack_per_thread)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    static struct nest_arg a[2];
    int type = test_type("nest");
    for (int i = 0; i < 2; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].barrier = &barrier;
        a[i].type = type;
    }
    pthread_t t = spawn(nest_in_lockstep, &a[1]);
    nest_in_lockstep(&a[0]);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&barrier);
    expect_no_failures(&a[0].f, "main");
    expect_no_failures(&a[1].f, "thread");
    for (unsigned i = 0; i < NEST; i++)
        cr_expect_neq(a[0].r[i].id, a[1].r[i].id);
    cr_expect_eq(ah_execution_depth(), 0);
}

/* ------------------------------------------------------------------------------------------
 * Node's worker pool (doc/api/async_context.md, "Using AsyncResource for a Worker thread
 * pool"): a WorkerPoolTaskInfo resource is created when a task is submitted, in the scope of
 * whatever submitted it; the task runs elsewhere; done() runs the callback in the task's scope
 * with runInAsyncScope and destroys it (emitDestroy).
 */

struct task {
    ah_resource_t info; /* WorkerPoolTaskInfo */
    ah_id_t request_id; /* the scope that submitted it */
    int a, b, result;
    pthread_t worker;
    /* What the work and the callback saw. */
    ah_id_t work_exec, work_trigger, cb_exec, cb_trigger;
    ah_resource_t *work_res, *cb_res;
    unsigned work_depth, cb_depth;
    int worker_top_ok; /* the worker was at its top level before and after the task */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct task *items[256];
    unsigned head, tail;
    bool closed;
};

static void queue_init(struct queue *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
}

static void queue_push(struct queue *q, struct task *t)
{
    pthread_mutex_lock(&q->lock);
    q->items[q->tail++ % 256] = t;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static struct task *queue_pop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == q->tail && !q->closed)
        pthread_cond_wait(&q->cond, &q->lock);
    struct task *t = q->head == q->tail ? NULL : q->items[q->head++ % 256];
    pthread_mutex_unlock(&q->lock);
    return t;
}

struct pool {
    struct queue tasks, results;
    bool run_on_worker; /* C variant: the worker runs the task in its scope and destroys it */
};

static bool at_top_level(void)
{
    return ah_execution_id() == AH_ID_ROOT && ah_trigger_id() == AH_ID_NONE &&
           ah_execution_resource() == NULL && ah_execution_depth() == 0;
}

static void *task_work(void *p)
{
    struct task *t = p;
    t->work_exec = ah_execution_id();
    t->work_trigger = ah_trigger_id();
    t->work_res = ah_execution_resource();
    t->work_depth = ah_execution_depth();
    t->result = t->a + t->b;
    return t;
}

static void *task_callback(void *p)
{
    struct task *t = p;
    t->cb_exec = ah_execution_id();
    t->cb_trigger = ah_trigger_id();
    t->cb_res = ah_execution_resource();
    t->cb_depth = ah_execution_depth();
    return t;
}

static void *pool_worker(void *p)
{
    struct pool *pool = p;
    struct task *t;
    while ((t = queue_pop(&pool->tasks)) != NULL) {
        t->worker = pthread_self();
        bool top = at_top_level();
        if (pool->run_on_worker) {
            if (ah_run(&t->info, task_work, t) != t)
                top = false;
            if (ah_destroy(&t->info) != 0)
                top = false;
        } else {
            /* Node's worker computes outside any resource of its own. */
            task_work(t);
        }
        t->worker_top_ok = top && at_top_level();
        queue_push(&pool->results, t);
    }
    return NULL;
}

enum { WORKERS = 3, TASKS = 48 };

static void run_pool(bool run_on_worker, struct task *tasks, ah_resource_t *requests,
                     struct rec_log *log)
{
    struct recorder rec;
    rec_log_init(log);
    rec_new(&rec, log, 0);
    ah_ok(ah_hook_enable(rec.hook));
    int req_type = test_type("HTTPINCOMINGMESSAGE");
    int task_type = test_type("WorkerPoolTaskInfo");

    static struct pool pool;
    queue_init(&pool.tasks);
    queue_init(&pool.results);
    pool.run_on_worker = run_on_worker;
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        workers[i] = spawn(pool_worker, &pool);

    /* Each request's handler submits a task: runTask() creates the WorkerPoolTaskInfo. */
    for (int i = 0; i < TASKS; i++) {
        ah_ok(ah_init(&requests[i], req_type, 0));
        ah_ok(ah_before(&requests[i]));
        struct task *t = &tasks[i];
        memset(t, 0, sizeof(*t));
        t->a = i;
        t->b = 1000;
        t->request_id = ah_execution_id();
        ah_ok(ah_init(&t->info, task_type, 0));
        queue_push(&pool.tasks, t);
        ah_ok(ah_after(&requests[i]));
    }
    /* The main loop receives the results; in Node's shape it calls done() here. */
    for (int i = 0; i < TASKS; i++) {
        struct task *t = queue_pop(&pool.results);
        cr_assert_not_null(t);
        if (!run_on_worker) {
            cr_expect(at_top_level());
            cr_expect_eq(ah_run(&t->info, task_callback, t), t);
            ah_ok(ah_destroy(&t->info)); /* TaskInfos are used only once */
        }
    }
    queue_close(&pool.tasks);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    for (int i = 0; i < TASKS; i++)
        ah_ok(ah_destroy(&requests[i]));
    rec_free(&rec);
    cr_expect_eq(log->dropped, 0);
}

/* Index in the log of the first event EV about ID, or -1. */
static long index_of(struct rec_log *log, enum rec_ev ev, ah_id_t id)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->ev[i].ev == ev && log->ev[i].id == id)
            return (long)i;
    return -1;
}

static void check_task_init(struct rec_log *log, struct task *t, pthread_t main_thread)
{
    const struct rec_event *init = rec_find(log, 0, REC_INIT, t->info.id);
    cr_assert_not_null(init);
    cr_expect_eq(init->trigger_id, t->request_id, "triggered by the submitting request");
    cr_expect_eq(init->exec_id, t->request_id);
    cr_expect(pthread_equal(init->thread, main_thread), "created on the submitting thread");
    cr_expect_eq(init->resource, &t->info);
    cr_expect_eq(t->info.trigger_id, t->request_id);
    cr_expect_eq(t->result, t->a + t->b);
    cr_expect(t->worker_top_ok, "the worker was at its top level (1/0) around the task");
}

/* Node's shape: the callback runs in the task's scope on the main thread, after the worker. */
Test(threads, worker_pool_task_info)
{
    static struct task tasks[TASKS];
    static ah_resource_t requests[TASKS];
    static struct rec_log log;
    run_pool(false, tasks, requests, &log);
    pthread_t self = pthread_self();
    for (int i = 0; i < TASKS; i++) {
        struct task *t = &tasks[i];
        check_task_init(&log, t, self);
        cr_expect_eq(t->cb_exec, t->info.id);
        cr_expect_eq(t->cb_trigger, t->request_id);
        cr_expect_eq(t->cb_res, &t->info);
        cr_expect_eq(t->cb_depth, 1);
        cr_expect(!pthread_equal(t->worker, self));
        cr_expect_eq(rec_count(&log, 0, REC_BEFORE, t->info.id), 1);
        cr_expect_eq(rec_count(&log, 0, REC_AFTER, t->info.id), 1);
        cr_expect_eq(rec_count(&log, 0, REC_DESTROY, t->info.id), 1);
    }
}

/* The C shape: the worker thread runs the task in its scope (ah_run) and destroys it. */
Test(threads, worker_pool_run_on_worker)
{
    static struct task tasks[TASKS];
    static ah_resource_t requests[TASKS];
    static struct rec_log log;
    run_pool(true, tasks, requests, &log);
    pthread_t self = pthread_self();
    for (int i = 0; i < TASKS; i++) {
        struct task *t = &tasks[i];
        check_task_init(&log, t, self);
        cr_expect_eq(t->work_exec, t->info.id, "task %d: the task's id inside the task", i);
        cr_expect_eq(t->work_trigger, t->request_id, "task %d: the request that submitted it", i);
        cr_expect_eq(t->work_res, &t->info);
        cr_expect_eq(t->work_depth, 1);
        cr_expect(!pthread_equal(t->worker, self));
        /* before, after and destroy come from the worker, in order, in the task's scope. */
        long ii = index_of(&log, REC_INIT, t->info.id);
        long bi = index_of(&log, REC_BEFORE, t->info.id);
        long ai = index_of(&log, REC_AFTER, t->info.id);
        long di = index_of(&log, REC_DESTROY, t->info.id);
        cr_assert(ii >= 0 && bi > ii && ai > bi && di > ai, "task %d: order %ld %ld %ld %ld", i, ii,
                  bi, ai, di);
        cr_expect(pthread_equal(log.ev[bi].thread, t->worker));
        cr_expect(pthread_equal(log.ev[ai].thread, t->worker));
        cr_expect(pthread_equal(log.ev[di].thread, t->worker));
        cr_expect_eq(log.ev[bi].exec_id, t->info.id);
        cr_expect_eq(log.ev[ai].exec_id, t->info.id);
        cr_expect_eq(log.ev[di].exec_id, AH_ID_ROOT, "destroyed at the worker's top level");
        cr_expect_eq(rec_count_id(&log, t->info.id), 4);
    }
}

/* ------------------------------------------------------------------------------------------ */

enum { TYPE_THREADS = 8, TYPE_NAMES = 48 };

struct type_arg {
    pthread_barrier_t *barrier;
    int offset;
    int ids[TYPE_NAMES];
};

static void *register_types(void *p)
{
    struct type_arg *a = p;
    char name[32];
    pthread_barrier_wait(a->barrier);
    for (int k = 0; k < TYPE_NAMES; k++) {
        int i = (k + a->offset) % TYPE_NAMES;
        snprintf(name, sizeof(name), "concurrent.%d", i);
        a->ids[i] = ah_type(name);
        /* The name must be readable at once by the thread that got the id. */
        const char *got = ah_type_name(a->ids[i]);
        if (got == NULL || strcmp(got, name) != 0)
            a->ids[i] = -1000;
    }
    return NULL;
}

/* Many threads register the same names at once, in different orders: one id per name. */
Test(threads, concurrent_type_registration)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, TYPE_THREADS);
    struct type_arg a[TYPE_THREADS];
    pthread_t t[TYPE_THREADS];
    int count = ah_type_count();
    for (int i = 0; i < TYPE_THREADS; i++) {
        a[i].barrier = &barrier;
        a[i].offset = i * 7;
        t[i] = spawn(register_types, &a[i]);
    }
    for (int i = 0; i < TYPE_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    cr_expect_eq(ah_type_count(), count + TYPE_NAMES);
    char name[32];
    for (int n = 0; n < TYPE_NAMES; n++) {
        cr_assert_geq(a[0].ids[n], 0, "name %d: %d", n, a[0].ids[n]);
        for (int i = 1; i < TYPE_THREADS; i++)
            cr_expect_eq(a[i].ids[n], a[0].ids[n], "name %d, thread %d", n, i);
        for (int m = 0; m < n; m++)
            cr_expect_neq(a[0].ids[m], a[0].ids[n]);
        snprintf(name, sizeof(name), "concurrent.%d", n);
        cr_expect_str_eq(ah_type_name(a[0].ids[n]), name);
    }
}

/* ------------------------------------------------------------------------------------------ */

enum { ID_THREADS = 4, IDS_PER_THREAD = 6000 }; /* more than one block of ids per thread */

struct ids_arg {
    struct failures f;
    int type;
    ah_id_t *ids;
};

static void *collect_ids(void *p)
{
    struct ids_arg *a = p;
    ah_resource_t r = {0};
    for (int i = 0; i < IDS_PER_THREAD; i++) {
        CHECK(&a->f, ah_init(&r, a->type, 0) == 0);
        a->ids[i] = r.id;
        CHECK(&a->f, r.id > AH_ID_ROOT);
        CHECK(&a->f, i == 0 || a->ids[i] > a->ids[i - 1]);
        CHECK(&a->f, ah_destroy(&r) == 0);
    }
    return NULL;
}

static int cmp_id(const void *x, const void *y)
{
    ah_id_t a = *(const ah_id_t *)x, b = *(const ah_id_t *)y;
    return (a > b) - (a < b);
}

/* Ids are unique across threads, and increase within each. */
Test(threads, ids_unique_across_threads)
{
    int type = test_type("t");
    ah_id_t *all = calloc((ID_THREADS + 1) * IDS_PER_THREAD, sizeof(*all));
    cr_assert_not_null(all);
    struct ids_arg a[ID_THREADS + 1];
    pthread_t t[ID_THREADS];
    for (int i = 0; i <= ID_THREADS; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].type = type;
        a[i].ids = all + (size_t)i * IDS_PER_THREAD;
    }
    for (int i = 0; i < ID_THREADS; i++)
        t[i] = spawn(collect_ids, &a[i]);
    collect_ids(&a[ID_THREADS]);
    for (int i = 0; i < ID_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i <= ID_THREADS; i++)
        expect_no_failures(&a[i].f, "collector");
    size_t n = (size_t)(ID_THREADS + 1) * IDS_PER_THREAD;
    qsort(all, n, sizeof(*all), cmp_id);
    size_t dups = 0;
    for (size_t i = 1; i < n; i++)
        dups += all[i] == all[i - 1];
    cr_expect_eq(dups, 0, "%zu duplicate ids", dups);
    cr_expect_gt(all[0], AH_ID_ROOT);
    free(all);
}

/* ------------------------------------------------------------------------------------------ */

#define HOOK_MAGIC 0x686f6f6bu

struct counting_hook {
    unsigned magic;
    int index;
    ah_hook_t *hook;
    atomic_long events;
};

static atomic_int bad_data;

static void count_event(void *data)
{
    struct counting_hook *c = data;
    if (c == NULL || c->magic != HOOK_MAGIC)
        atomic_fetch_add(&bad_data, 1);
    else
        atomic_fetch_add_explicit(&c->events, 1, memory_order_relaxed);
}

static void ch_init(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    if (r == NULL || r->id != id || r->type != type || r->trigger_id != trigger)
        atomic_fetch_add(&bad_data, 1);
    count_event(data);
}

static void ch_id(ah_id_t id, void *data)
{
    if (id <= AH_ID_ROOT)
        atomic_fetch_add(&bad_data, 1);
    count_event(data);
}

enum { HOOKS = 6, TOGGLES = 3000, LIFECYCLES = 20000 };

struct toggle_arg {
    struct failures f;
    struct counting_hook *hooks;
    unsigned seed;
    atomic_bool *stop;
};

static void *toggle_hooks(void *p)
{
    struct toggle_arg *a = p;
    for (int i = 0; i < TOGGLES; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        struct counting_hook *c = &a->hooks[(a->seed >> 16) % HOOKS];
        int rc = (a->seed >> 8) & 1 ? ah_hook_enable(c->hook) : ah_hook_disable(c->hook);
        CHECK(&a->f, rc == 0);
    }
    return NULL;
}

struct event_arg {
    struct failures f;
    int type;
    atomic_bool *stop;
    long lifecycles;
};

static void *raise_events(void *p)
{
    struct event_arg *a = p;
    ah_resource_t outer = {0}, inner = {0};
    for (;;) {
        CHECK(&a->f, ah_init(&outer, a->type, 0) == 0);
        CHECK(&a->f, ah_before(&outer) == 0);
        CHECK(&a->f, ah_init(&inner, a->type, 0) == 0);
        CHECK(&a->f, inner.trigger_id == outer.id);
        CHECK(&a->f, ah_before(&inner) == 0);
        CHECK(&a->f, ah_execution_id() == inner.id && ah_trigger_id() == outer.id);
        CHECK(&a->f, ah_resolve(&inner) == 0);
        CHECK(&a->f, ah_after(&inner) == 0);
        CHECK(&a->f, ah_destroy(&inner) == 0);
        CHECK(&a->f, ah_after(&outer) == 0);
        CHECK(&a->f, ah_destroy(&outer) == 0);
        CHECK(&a->f, ah_execution_depth() == 0);
        if (++a->lifecycles >= LIFECYCLES || (atomic_load(a->stop) && a->lifecycles >= 100))
            break;
    }
    return NULL;
}

/* Hooks are enabled and disabled by two threads while two others raise events: no crash, no
 * callback with another hook's data or a torn event, and nothing after the final disable. */
Test(threads, hook_toggle_during_events)
{
    int type = test_type("t");
    static struct counting_hook hooks[HOOKS];
    ah_hook_callbacks_t cb = {ch_init, ch_id, ch_id, ch_id, ch_id};
    for (int i = 0; i < HOOKS; i++) {
        hooks[i].magic = HOOK_MAGIC;
        hooks[i].index = i;
        atomic_init(&hooks[i].events, 0);
        hooks[i].hook = ah_hook_new(&cb, &hooks[i]);
        cr_assert_not_null(hooks[i].hook);
    }
    atomic_bool stop;
    atomic_init(&stop, false);
    struct toggle_arg ta[2] = {{.hooks = hooks, .seed = 1, .stop = &stop},
                               {.hooks = hooks, .seed = 99, .stop = &stop}};
    struct event_arg ea[2] = {{.type = type, .stop = &stop}, {.type = type, .stop = &stop}};
    pthread_t t[4];
    t[0] = spawn(raise_events, &ea[0]);
    t[1] = spawn(raise_events, &ea[1]);
    t[2] = spawn(toggle_hooks, &ta[0]);
    t[3] = spawn(toggle_hooks, &ta[1]);
    pthread_join(t[2], NULL);
    pthread_join(t[3], NULL);
    atomic_store(&stop, true);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    for (int i = 0; i < 2; i++) {
        expect_no_failures(&ta[i].f, "toggler");
        expect_no_failures(&ea[i].f, "events");
        cr_expect_gt(ea[i].lifecycles, 0);
    }
    cr_expect_eq(atomic_load(&bad_data), 0);

    for (int i = 0; i < HOOKS; i++)
        ah_ok(ah_hook_disable(hooks[i].hook));
    long seen[HOOKS];
    for (int i = 0; i < HOOKS; i++)
        seen[i] = atomic_load(&hooks[i].events);
    ea[0].lifecycles = LIFECYCLES - 1;
    raise_events(&ea[0]);
    cr_expect_eq(ea[0].lifecycles, LIFECYCLES);
    expect_no_failures(&ea[0].f, "events after disable");
    for (int i = 0; i < HOOKS; i++) {
        cr_expect_eq(atomic_load(&hooks[i].events), seen[i], "hook %d ran after disable", i);
        ah_hook_free(hooks[i].hook);
    }
}

/* ------------------------------------------------------------------------------------------ */

struct bound_arg {
    struct failures f;
    ah_bound_t *bound;
    ah_id_t trigger;
    int calls;
};

static void *bound_fn(void *p)
{
    (void)p;
    return (void *)(uintptr_t)(ah_execution_id() ^ (ah_trigger_id() << 32));
}

static void *call_bound(void *p)
{
    struct bound_arg *a = p;
    ah_id_t want = a->bound->resource.id ^ (a->trigger << 32);
    for (int i = 0; i < 500; i++) {
        CHECK(&a->f, (ah_id_t)(uintptr_t)ah_bound_call(a->bound) == want);
        CHECK(&a->f, at_top_level());
        a->calls++;
    }
    return NULL;
}

/* A bound callback is called from several threads at once, each in the bound scope. */
Test(threads, bound_call_from_many_threads)
{
    int type = test_type("bound");
    ah_resource_t req = {0};
    ah_bound_t b = {0};
    ah_ok(ah_init(&req, type, 0));
    ah_ok(ah_before(&req));
    ah_ok(ah_bind(&b, type, bound_fn, NULL));
    ah_ok(ah_after(&req));
    struct bound_arg a[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct bound_arg){.bound = &b, .trigger = req.id};
        t[i] = spawn(call_bound, &a[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        expect_no_failures(&a[i].f, "caller");
        cr_expect_eq(a[i].calls, 500);
    }
    ah_ok(ah_unbind(&b));
    ah_ok(ah_destroy(&req));
}

/* ------------------------------------------------------------------------------------------ */

enum { EVERY_THREADS = 4, EVERY_ROUNDS = 200 };

struct everything_arg {
    struct failures f;
    /* One hook per round. They are freed by the test thread after every thread is done:
     * another thread may still be running a hook's callbacks from an event that started
     * before the disable (ah.h, ah_hook_free). */
    struct counting_hook hooks[EVERY_ROUNDS];
};

static void *noop(void *p)
{
    return p;
}

static void *use_everything(void *p)
{
    struct everything_arg *a = p;
    char name[32];
    ah_hook_callbacks_t cb = {ch_init, ch_id, ch_id, ch_id, ch_id};
    for (int round = 0; round < EVERY_ROUNDS; round++) {
        snprintf(name, sizeof(name), "every.%d", round % 10);
        int type = ah_type(name);
        CHECK(&a->f, type >= 0);
        CHECK(&a->f, ah_type_name(type) != NULL && strcmp(ah_type_name(type), name) == 0);
        CHECK(&a->f, ah_type_count() > type);
        CHECK(&a->f, ah_strerror(-EPROTO) != NULL && ah_version() != NULL);

        struct counting_hook *own = &a->hooks[round];
        own->magic = HOOK_MAGIC;
        own->index = round;
        atomic_init(&own->events, 0);
        own->hook = ah_hook_new(&cb, own);
        CHECK(&a->f, own->hook != NULL);
        CHECK(&a->f, ah_hook_enable(own->hook) == 0);

        ah_resource_t r = {0};
        CHECK(&a->f, ah_init(&r, type, 0) == 0);
        CHECK(&a->f, ah_resource_is_live(&r) && ah_resource_id(&r) == r.id);
        CHECK(&a->f, ah_resource_trigger_id(&r) == AH_ID_ROOT);
        CHECK(&a->f, ah_run(&r, noop, &r) == &r);
        CHECK(&a->f, ah_before(&r) == 0);
        CHECK(&a->f, ah_execution_resource() == &r && ah_execution_depth() == 1);
        CHECK(&a->f, ah_after(&r) == 0);
        CHECK(&a->f, ah_resolve(&r) == 0);
        CHECK(&a->f, ah_resolve(&r) == -EALREADY);
        CHECK(&a->f, ah_destroy(&r) == 0);
        CHECK(&a->f, ah_destroy(&r) == -EIDRM);

        ah_bound_t b = {0};
        CHECK(&a->f, ah_bind(&b, type, noop, &b) == 0);
        CHECK(&a->f, ah_bound_call(&b) == &b);
        CHECK(&a->f, ah_unbind(&b) == 0);

        CHECK(&a->f, ah_hook_disable(own->hook) == 0);
        CHECK(&a->f, at_top_level());
        /* Its hook saw at least this thread's events of the round: init, 2 before, 2 after,
         * resolve, destroy, then bind's init, before, after and destroy. */
        CHECK(&a->f, atomic_load(&own->events) >= 11);
    }
    return NULL;
}

/* Every function of the API, from several threads at once (TSan checks the races). */
Test(threads, every_function_concurrently)
{
    static struct everything_arg a[EVERY_THREADS];
    pthread_t t[EVERY_THREADS];
    for (int i = 0; i < EVERY_THREADS; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        t[i] = spawn(use_everything, &a[i]);
    }
    for (int i = 0; i < EVERY_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < EVERY_THREADS; i++) {
        expect_no_failures(&a[i].f, "thread");
        for (int round = 0; round < EVERY_ROUNDS; round++)
            ah_hook_free(a[i].hooks[round].hook);
    }
    cr_expect_eq(atomic_load(&bad_data), 0);
}

/* ------------------------------------------------------------------------------------------ */

static void *deep_and_exit(void *p)
{
    int type = *(int *)p;
    enum { D = 300 };
    ah_resource_t *r = calloc(D, sizeof(*r));
    if (r == NULL)
        return (void *)1;
    uintptr_t bad = 0;
    for (int i = 0; i < D; i++)
        bad |= ah_init(&r[i], type, 0) != 0 || ah_before(&r[i]) != 0;
    /* Half unwound: the thread exits with scopes open, which must not leak its state. */
    for (int i = D; i-- > D / 2;)
        bad |= ah_after(&r[i]) != 0;
    for (int i = 0; i < D; i++)
        bad |= ah_destroy(&r[i]) != 0;
    free(r);
    return (void *)bad;
}

/* Threads come and go; the state libah keeps for each is released at exit (ASan's leak
 * checker fails the test otherwise) and their ids are not handed out again. */
Test(threads, thread_exit_releases_state)
{
    int type = test_type("t");
    for (int round = 0; round < 16; round++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            t[i] = spawn(deep_and_exit, &type);
        for (int i = 0; i < 2; i++) {
            void *bad;
            pthread_join(t[i], &bad);
            cr_assert_null(bad, "round %d", round);
        }
    }
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, type, 0));
    ah_ok(ah_destroy(&r));
}
