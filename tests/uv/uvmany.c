/*
 * uvmany.c - N timers alive at once, each firing once and closed from its callback: more
 * handles than a small side table holds (AH_UV_SLOTS), to see libah-uv stop following the
 * ones it has no room for without changing what the program does. With THREADS, each thread
 * runs its own loop with N timers, ROUNDS times: loops on several threads claim and free
 * slots of the one side table at the same time.
 *
 *   uvmany N [THREADS [ROUNDS]]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static atomic_int fired, closed;
static int n, rounds = 1;

static void close_cb(uv_handle_t *h)
{
    (void)h;
    closed++;
}

static void timer_cb(uv_timer_t *t)
{
    fired++;
    uv_close((uv_handle_t *)t, close_cb);
}

static void *run_loop(void *arg)
{
    (void)arg;
    uv_loop_t loop;
    uv_timer_t *timers = calloc((size_t)n, sizeof(*timers));
    if (timers == NULL || uv_loop_init(&loop) != 0)
        return NULL;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            uv_timer_init(&loop, &timers[i]);
            uv_timer_start(&timers[i], timer_cb, 0, 0);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    free(timers);
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 0;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    rounds = argc > 3 ? atoi(argv[3]) : 1;
    if (n <= 0 || n > 1000000 || threads < 1 || threads > 16 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: uvmany N [THREADS [ROUNDS]]\n");
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
