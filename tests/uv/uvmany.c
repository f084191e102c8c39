/*
 * uvmany.c - N timers alive at once, each firing once and closed from its callback: more
 * handles than a small side table holds (AH_UV_SLOTS), to see libah-uv stop following the
 * ones it has no room for without changing what the program does. With THREADS, each thread
 * runs its own loop with N timers, ROUNDS times: loops on several threads claim and free
 * slots of the one side table at the same time.
 *
 * With "fs", each timer's callback first stats "/" (a request on the thread pool) and the
 * stat's callback closes the timer.
 *
 *   uvmany N [THREADS [ROUNDS [fs]]]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static atomic_int fired, closed;
static int n, rounds = 1;
static bool with_fs;

struct item {
    uv_timer_t timer;
    uv_fs_t stat;
};

static void close_cb(uv_handle_t *h)
{
    (void)h;
    closed++;
}

static void stat_cb(uv_fs_t *req)
{
    struct item *it = (struct item *)((char *)req - offsetof(struct item, stat));
    uv_fs_req_cleanup(req);
    uv_close((uv_handle_t *)&it->timer, close_cb);
}

static void timer_cb(uv_timer_t *t)
{
    fired++;
    struct item *it = (struct item *)t;
    if (!with_fs || uv_fs_stat(t->loop, &it->stat, "/", stat_cb) != 0)
        uv_close((uv_handle_t *)t, close_cb);
}

static void *run_loop(void *arg)
{
    (void)arg;
    uv_loop_t loop;
    struct item *items = calloc((size_t)n, sizeof(*items));
    if (items == NULL || uv_loop_init(&loop) != 0)
        return NULL;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            uv_timer_init(&loop, &items[i].timer);
            uv_timer_start(&items[i].timer, timer_cb, 0, 0);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    free(items);
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 0;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    rounds = argc > 3 ? atoi(argv[3]) : 1;
    with_fs = argc > 4 && strcmp(argv[4], "fs") == 0;
    if (n <= 0 || n > 1000000 || threads < 1 || threads > 16 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: uvmany N [THREADS [ROUNDS [fs]]]\n");
        return 2;
    }
    pthread_t tids[16];
    for (int t = 1; t < threads; t++)
        pthread_create(&tids[t], NULL, run_loop, NULL);
    run_loop(NULL);
    for (int t = 1; t < threads; t++)
        pthread_join(tids[t], NULL);
    int want = n * threads * rounds;
    printf("fired %d, closed %d\n", atomic_load(&fired), atomic_load(&closed));
    return atomic_load(&fired) == want && atomic_load(&closed) == want ? 0 : 1;
}
