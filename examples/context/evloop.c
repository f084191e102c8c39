/*
 * evloop.c - timers and a worker pool, every callback in its resource's scope.
 *
 * One lock guards the three queues: the timers (sorted by due time), the work waiting for a
 * pool thread and the work done waiting for the loop thread. The examples schedule a few
 * hundred callbacks; simplicity wins over throughput here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "ah.h"
#include "evloop.h"

struct task {
    ah_resource_t res;
    ev_cb cb;   /* timer callback, or the completion of a work item */
    ev_cb work; /* run on a pool thread; NULL for timers */
    void *arg;
    uint64_t due_ns;
    uint64_t seq;
    struct task *next;
};

struct ev_loop {
    pthread_mutex_t lock;
    pthread_cond_t loop_wake;
    pthread_cond_t work_ready;
    struct task *timers;
    struct task *work_head, **work_tail;
    struct task *done_head, **done_tail;
    unsigned long pending; /* scheduled and not finished */
    uint64_t seq;
    int stopping;
    int nworkers;
    pthread_t *workers;
};

static int timer_type = -1, work_type = -1, req_type = -1;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void push(struct task ***tail, struct task *t)
{
    t->next = NULL;
    **tail = t;
    *tail = &t->next;
}

static struct task *pop(struct task **head, struct task ***tail)
{
    struct task *t = *head;
    if (t) {
        *head = t->next;
        if (*head == NULL)
            *tail = head;
    }
    return t;
}

static void *worker_main(void *arg)
{
    struct ev_loop *loop = arg;
    pthread_mutex_lock(&loop->lock);
    for (;;) {
        while (loop->work_head == NULL && !loop->stopping)
            pthread_cond_wait(&loop->work_ready, &loop->lock);
        struct task *t = pop(&loop->work_head, &loop->work_tail);
        if (t == NULL)
            break;
        pthread_mutex_unlock(&loop->lock);
        /* The work runs in the scope of the resource created by whoever queued it, so it
         * sees that code's context although this thread never saw that code. */
        ah_before(&t->res);
        t->work(t->arg);
        ah_after(&t->res);
        pthread_mutex_lock(&loop->lock);
        push(&loop->done_tail, t);
        pthread_cond_signal(&loop->loop_wake);
    }
    pthread_mutex_unlock(&loop->lock);
    return NULL;
}

struct ev_loop *ev_loop_new(int workers)
{
    if (timer_type < 0) {
        timer_type = ah_type("TIMER");
        work_type = ah_type("WORK");
        req_type = ah_type("REQ");
    }
    struct ev_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->loop_wake, &attr);
    pthread_cond_init(&loop->work_ready, NULL);
    pthread_condattr_destroy(&attr);
    loop->work_tail = &loop->work_head;
    loop->done_tail = &loop->done_head;
    loop->nworkers = workers < 1 ? 1 : workers;
    loop->workers = calloc((size_t)loop->nworkers, sizeof(pthread_t));
    if (loop->workers == NULL) {
        free(loop);
        return NULL;
    }
    for (int i = 0; i < loop->nworkers; i++) {
        if (pthread_create(&loop->workers[i], NULL, worker_main, loop) != 0) {
            loop->nworkers = i;
            ev_loop_free(loop);
            return NULL;
        }
    }
    return loop;
}

void ev_loop_free(struct ev_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->stopping = 1;
    pthread_cond_broadcast(&loop->work_ready);
    pthread_mutex_unlock(&loop->lock);
    for (int i = 0; i < loop->nworkers; i++)
        pthread_join(loop->workers[i], NULL);
    pthread_cond_destroy(&loop->loop_wake);
    pthread_cond_destroy(&loop->work_ready);
    pthread_mutex_destroy(&loop->lock);
    free(loop->workers);
    free(loop);
}

static int schedule_timer(struct ev_loop *loop, int type, unsigned delay_ms, ev_cb cb, void *arg)
{
    struct task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    int rc = ah_init(&t->res, type, 0);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->cb = cb;
    t->arg = arg;
    t->due_ns = now_ns() + (uint64_t)delay_ms * 1000000u;
    pthread_mutex_lock(&loop->lock);
    t->seq = loop->seq++;
    struct task **p = &loop->timers;
    while (*p && ((*p)->due_ns < t->due_ns || ((*p)->due_ns == t->due_ns && (*p)->seq < t->seq)))
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    loop->pending++;
    pthread_cond_signal(&loop->loop_wake);
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

int ev_timeout(struct ev_loop *loop, unsigned delay_ms, ev_cb cb, void *arg)
{
    return schedule_timer(loop, timer_type, delay_ms, cb, arg);
}

int ev_request(struct ev_loop *loop, unsigned delay_ms, ev_cb cb, void *arg)
{
    return schedule_timer(loop, req_type, delay_ms, cb, arg);
}

int ev_queue_work(struct ev_loop *loop, ev_cb work, ev_cb done, void *arg)
{
    struct task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    int rc = ah_init(&t->res, work_type, 0);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->work = work;
    t->cb = done;
    t->arg = arg;
    pthread_mutex_lock(&loop->lock);
    loop->pending++;
    push(&loop->work_tail, t);
    pthread_cond_signal(&loop->work_ready);
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

/* Run T's callback in its scope on the loop thread and end its life. Called unlocked. */
static void finish(struct task *t)
{
    ah_before(&t->res);
    if (t->cb)
        t->cb(t->arg);
    ah_after(&t->res);
    ah_destroy(&t->res);
    free(t);
}

void ev_run(struct ev_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    while (loop->pending > 0) {
        struct task *t = pop(&loop->done_head, &loop->done_tail);
        if (t == NULL && loop->timers && loop->timers->due_ns <= now_ns()) {
            t = loop->timers;
            loop->timers = t->next;
        }
        if (t) {
            pthread_mutex_unlock(&loop->lock);
            finish(t);
            pthread_mutex_lock(&loop->lock);
            loop->pending--;
            continue;
        }
        if (loop->timers) {
            uint64_t due = loop->timers->due_ns;
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            pthread_cond_timedwait(&loop->loop_wake, &loop->lock, &ts);
        } else {
            pthread_cond_wait(&loop->loop_wake, &loop->lock);
        }
    }
    pthread_mutex_unlock(&loop->lock);
}
