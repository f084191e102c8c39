/*
 * kview.c - the kernel view (src/cli/collect/kernel.h) on its own, until the commands carry
 * it: attach to PID, say "attached" on stderr, measure until stdin has a line or closes (or
 * --duration-ms), then print the view as JSON ({"kernel": ...}, docs/kernel-view.md).
 *
 *   kview -p PID [--hz N] [--stacks] [--no-stack-list] [--duration-ms MS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/kernel.h"
#include "common/clock.h"

int main(int argc, char **argv)
{
    pid_t pid = 0;
    struct ahp_kernel_opts opts = {.hz = AHP_KERNEL_DEFAULT_HZ};
    bool stack_list = true;
    long duration_ms = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            pid = (pid_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--hz") == 0 && i + 1 < argc)
            opts.hz = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--stacks") == 0)
            opts.offcpu_stacks = true;
        else if (strcmp(argv[i], "--no-stack-list") == 0)
            stack_list = false;
        else if (strcmp(argv[i], "--duration-ms") == 0 && i + 1 < argc)
            duration_ms = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: kview -p PID [--hz N] [--stacks] [--no-stack-list] "
                            "[--duration-ms MS]\n");
            return 2;
        }
    }
    struct ahp_target t;
    int rc = ahp_target_open_pid(&t, pid);
    if (rc < 0) {
        fprintf(stderr, "kview: %d: %s\n", pid, strerror(-rc));
        return 1;
    }
    struct ahp_kernel_view *kv;
    const char *what;
    rc = ahp_kernel_start(&kv, &t, &opts, NULL, NULL, &what);
    if (rc < 0) {
        fprintf(stderr, "kview: cannot %s: %s\n", what, strerror(-rc));
        return 1;
    }
    uint64_t start = ahp_now_ns();
    fprintf(stderr, "attached\n");
    for (;;) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0)
            break; /* a line, or EOF */
        ahp_kernel_poll(kv, 0);
        if (duration_ms >= 0 && ahp_now_ns() - start >= (uint64_t)duration_ms * 1000000ull)
            break;
    }
    uint64_t wall = ahp_now_ns() - start;
    ahp_kernel_finish(kv);
    struct ahp_json w;
    ahp_json_init(&w, stdout, AHP_JSON_SPACED);
    ahp_json_object_begin(&w);
    ahp_json_key(&w, "kernel");
    rc = ahp_kernel_write_json(kv, &w, wall, stack_list);
    ahp_json_object_end(&w);
    ahp_json_flush(&w);
    if (rc == 0)
        rc = ahp_json_error(&w);
    putchar('\n');
    ahp_kernel_stop(kv);
    ahp_target_close(&t);
    return rc < 0 ? 1 : 0;
}
