/*
 * uvmany.c - N timers alive at once, each firing once and closed from its callback: more
 * handles than a small side table holds (AH_UV_SLOTS), to see libah-uv stop following the
 * ones it has no room for without changing what the program does.
 *
 *   uvmany N
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static int fired, closed;

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

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: uvmany N\n");
        return 2;
    }
    uv_timer_t *timers = calloc((size_t)n, sizeof(*timers));
    if (timers == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        uv_timer_init(uv_default_loop(), &timers[i]);
        uv_timer_start(&timers[i], timer_cb, 1, 0);
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    printf("fired %d, closed %d\n", fired, closed);
    free(timers);
    return fired == n && closed == n ? 0 : 1;
}
