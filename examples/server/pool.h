/*
 * pool.h - a worker-thread pool in the style of libuv's uv_queue_work(), each task an async
 * resource of type WORK.
 *
 * The loop thread creates the WORK resource when it submits the task (so its trigger is
 * whatever the loop was running, typically a REQ). A worker runs RUN(work) in the task's
 * scope; the loop thread is woken through an eventfd and runs DONE(work, status) in the same
 * scope, then destroys the resource. A resource created on one thread and run on another is
 * exactly what libah's per-thread execution stack is for.
 */
#ifndef SERVER_POOL_H
#define SERVER_POOL_H

#include <pthread.h>

#include "ah.h"
#include "loop.h"

struct work;

typedef void (*work_run_cb)(struct work *w);
/* STATUS is 0 after RUN ran, -ECANCELED if the pool shut down before it started. */
typedef void (*work_done_cb)(struct work *w, int status);

struct work {
    ah_resource_t resource;
    struct work *next;
    work_run_cb run;
    work_done_cb done;
    int status;
};

struct pool {
    struct loop *loop;
    pthread_t *threads;
    int thread_count;

    pthread_mutex_t queue_lock;
    pthread_cond_t queue_ready;
    struct work *queue_head;
    struct work **queue_tail;
    int stopping;

    pthread_mutex_t done_lock;
    struct work *done_head;
    struct work **done_tail;
    int wake_fd; /* eventfd: tasks wait in done_* */
    struct io_watcher wake;
};

int pool_init(struct pool *pool, struct loop *loop, int thread_count);

/* Create W's WORK resource (trigger: the current execution) and queue it. Loop thread only.
 * W's memory must stay valid until DONE has returned and may be released from a later
 * callback (the pool destroys the resource after DONE). */
void pool_submit(struct pool *pool, struct work *w, work_run_cb run, work_done_cb done);

/* Cancel queued tasks, wait for running ones, join the threads and complete every task on
 * the calling (loop) thread. */
void pool_shutdown(struct pool *pool);

#endif
