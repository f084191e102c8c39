// SPDX-License-Identifier: GPL-2.0
/*
 * stuck.bpf.c - for `ahprof stuck`: when each thread of a process last got a CPU, on the
 * scheduler's own clock. The kernel keeps it (sched_info.last_arrival, the run queue's clock
 * when the task was last switched in) but /proc does not show it. A task iterator, limited
 * to the target process by its link, writes one record per thread with that time and the
 * same for the reading thread, which has just been switched in: both are run-queue clock
 * (sched_clock) values, comparable across CPUs where the scheduler's clock is stable. No
 * probe is attached and nothing stays loaded.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "stuck.h" /* src/contracts */

SEC("iter/task")
int stuck_threads(struct bpf_iter__task *ctx)
{
    struct task_struct *task = ctx->task;
    if (task == NULL)
        return 0;
    /* Now, on the same clock: when the reading thread (ahprof, which slept just before)
     * was last switched in. The run queues themselves are not reachable here (their
     * per-CPU symbol has no address for BPF on every kernel). */
    struct task_struct *self = bpf_get_current_task_btf();
    struct ahp_stuck_task rec = {
        .tid = task->pid,
        .last_arrival_ns = BPF_CORE_READ(task, sched_info.last_arrival),
        .now_ns = BPF_CORE_READ(self, sched_info.last_arrival),
    };
    bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
