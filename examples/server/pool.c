/*
 * pool.c - worker threads, the task queue and completion back on the loop thread.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pool.h"
#include "resources.h"

static void pool_wake_loop(struct pool *pool)
{
    uint64_t one = 1;
    while (write(pool->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void pool_complete(struct pool *pool, struct work *w)
{
    pthread_mutex_lock(&pool->done_lock);
    /* One eventfd write per batch: the loop drains the whole list per wake-up. */
    int was_empty = pool->done_head == NULL;
    w->next = NULL;
    *pool->done_tail = w;
    pool->done_tail = &w->next;
    pthread_mutex_unlock(&pool->done_lock);
    if (was_empty)
        pool_wake_loop(pool);
}

static void *pool_worker(void *arg)
{
    struct pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->queue_lock);
        while (!pool->queue_head && !pool->stopping)
            pthread_cond_wait(&pool->queue_ready, &pool->queue_lock);
        struct work *w = pool->queue_head;
        if (!w) {
            pthread_mutex_unlock(&pool->queue_lock);
            return NULL;
        }
        pool->queue_head = w->next;
        if (!pool->queue_head)
            pool->queue_tail = &pool->queue_head;
        pthread_mutex_unlock(&pool->queue_lock);

        AH_CHECK(ah_before(&w->resource));
        w->run(w);
        AH_CHECK(ah_after(&w->resource));
        w->status = 0;
        pool_complete(pool, w);
    }
}

/* Loop thread: run the completions the workers handed back. */
static void pool_drain(struct pool *pool)
{
    pthread_mutex_lock(&pool->done_lock);
    struct work *w = pool->done_head;
    pool->done_head = NULL;
    pool->done_tail = &pool->done_head;
    pthread_mutex_unlock(&pool->done_lock);

    while (w) {
        struct work *next = w->next;
        AH_CHECK(ah_before(&w->resource));
        w->done(w, w->status);
        AH_CHECK(ah_after(&w->resource));
        AH_CHECK(ah_destroy(&w->resource));
        w = next;
    }
}

static void pool_on_wake(struct io_watcher *io, uint32_t events)
{
    (void)events;
    struct pool *pool = AH_CONTAINER_OF(io, struct pool, wake);
    uint64_t count;
    if (read(pool->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        perror("ah-server: eventfd read");
    pool_drain(pool);
}

int pool_init(struct pool *pool, struct loop *loop, int thread_count)
{
    memset(pool, 0, sizeof *pool);
    pool->loop = loop;
    pool->queue_tail = &pool->queue_head;
    pool->done_tail = &pool->done_head;
    pthread_mutex_init(&pool->queue_lock, NULL);
    pthread_cond_init(&pool->queue_ready, NULL);
    pthread_mutex_init(&pool->done_lock, NULL);

    pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pool->wake_fd < 0)
        return -errno;
    int rc = io_start(loop, &pool->wake, pool->wake_fd, EPOLLIN, pool_on_wake);
    if (rc < 0)
        return rc;

    pool->threads = calloc((size_t)thread_count, sizeof *pool->threads);
    if (!pool->threads)
        return -ENOMEM;
    for (int i = 0; i < thread_count; i++) {
        rc = pthread_create(&pool->threads[i], NULL, pool_worker, pool);
        if (rc != 0)
            return -rc;
        pool->thread_count++;
    }
    return 0;
}

void pool_submit(struct pool *pool, struct work *w, work_run_cb run, work_done_cb done)
{
    w->run = run;
    w->done = done;
    w->status = 0;
    w->next = NULL;
    AH_CHECK(ah_init(&w->resource, resource_types.work, 0));

    pthread_mutex_lock(&pool->queue_lock);
    *pool->queue_tail = w;
    pool->queue_tail = &w->next;
    pthread_cond_signal(&pool->queue_ready);
    pthread_mutex_unlock(&pool->queue_lock);
}

void pool_shutdown(struct pool *pool)
{
    pthread_mutex_lock(&pool->queue_lock);
    struct work *cancelled = pool->queue_head;
    pool->queue_head = NULL;
    pool->queue_tail = &pool->queue_head;
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->queue_ready);
    pthread_mutex_unlock(&pool->queue_lock);

    for (int i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);

    while (cancelled) {
        struct work *next = cancelled->next;
        cancelled->status = -ECANCELED;
        pool_complete(pool, cancelled);
        cancelled = next;
    }
    pool_drain(pool);

    if (pool->wake.fd >= 0)
        io_stop(&pool->wake);
    close(pool->wake_fd);
    free(pool->threads);
    pthread_mutex_destroy(&pool->queue_lock);
    pthread_cond_destroy(&pool->queue_ready);
    pthread_mutex_destroy(&pool->done_lock);
}
