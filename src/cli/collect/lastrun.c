/*
 * lastrun.c - when each thread of a process last got a CPU, from the scheduler itself
 * (bpf/stuck.bpf.c: a task iterator over the process's threads, loaded, run once and
 * unloaded). /proc says what a thread waits on but not since when; this bounds it.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect/threads.h"
#include "stuck.h"
#include "stuck.skel.h"

static int cmp_view_tid(const void *key, const void *elem)
{
    int32_t tid = *(const int32_t *)key, other = ((const struct ahp_thread_view *)elem)->tid;
    return (tid > other) - (tid < other);
}

static void take(struct ahp_threads *threads, const struct ahp_stuck_task *rec)
{
    int32_t tid = (int32_t)rec->tid;
    struct ahp_thread_view *v =
        bsearch(&tid, threads->v, threads->n, sizeof(*threads->v), cmp_view_tid);
    if (v == NULL || rec->last_arrival_ns == 0)
        return;
    v->last_run_known = true;
    /* A thread switched in after ahprof was reads as 0. */
    v->since_last_run_ns =
        rec->now_ns > rec->last_arrival_ns ? rec->now_ns - rec->last_arrival_ns : 0;
}

int ahp_threads_read_last_run(pid_t pid, struct ahp_threads *threads)
{
    /* Without the privileges, or on a kernel without task iterators, stuck shows the rest:
     * libbpf's own messages would only be noise. */
    libbpf_print_fn_t print = libbpf_set_print(NULL);
    int rc = 0, iter_fd = -1;
    struct bpf_link *link = NULL;
    struct stuck_bpf *skel = stuck_bpf__open_and_load();
    if (skel == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto out;
    }
    union bpf_iter_link_info info;
    memset(&info, 0, sizeof(info));
    info.task.pid = (__u32)pid; /* the threads of this process only */
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
    link = bpf_program__attach_iter(skel->progs.stuck_threads, &opts);
    if (link == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto out;
    }
    /* Sleep, so that this thread's own last switch-in, the iterator's "now", is fresh. */
    struct timespec nap = {0, 1000};
    nanosleep(&nap, NULL);
    iter_fd = bpf_iter_create(bpf_link__fd(link));
    if (iter_fd < 0) {
        rc = -errno;
        goto out;
    }
    /* One record per thread; a process that spawns threads without end cannot keep this
     * reading: at most twice the threads ahprof shows. */
    struct ahp_stuck_task buf[64];
    size_t have = 0, records = 0;
    while (records < 2 * AHP_THREADS_MAX) {
        ssize_t n = read(iter_fd, (char *)buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        size_t whole = have / sizeof(buf[0]);
        for (size_t i = 0; i < whole; i++)
            take(threads, &buf[i]);
        records += whole;
        have -= whole * sizeof(buf[0]);
        memmove(buf, (char *)buf + whole * sizeof(buf[0]), have);
    }
out:
    if (iter_fd >= 0)
        close(iter_fd);
    bpf_link__destroy(link);
    stuck_bpf__destroy(skel);
    libbpf_set_print(print);
    return rc;
}
