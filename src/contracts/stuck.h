/*
 * stuck.h - the record bpf/stuck.bpf.c writes for `ahprof stuck` (src/cli/collect/
 * lastrun.c reads it): one per thread of the target, in the task iterator's order.
 */
#ifndef AHP_STUCK_CONTRACT_H
#define AHP_STUCK_CONTRACT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct ahp_stuck_task {
    __u32 tid;
    __u32 pad;
    __u64 last_arrival_ns; /* sched_info.last_arrival: the run queue clock when last switched in */
    __u64 now_ns;          /* the same for the reading thread, which was switched in just before */
};

#endif
