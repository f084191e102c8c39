/*
 * kernel_view.h - what bpf/kernel.bpf.c and src/cli/collect/kernel.c share: the kernel's view
 * of a target joined to the async resource in scope on each thread (docs/kernel-view.md).
 * Fixed-width fields only.
 */
#ifndef AHP_KERNEL_VIEW_H
#define AHP_KERNEL_VIEW_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "ahprof.h"

/* Slots of the per-type aggregates: the types 0 .. AHP_TYPE_MAX-1, then two slots for what is
 * not inside a callback. */
#define AHP_KSLOT_OUTSIDE AHP_TYPE_MAX /* a libah thread outside any callback (depth 0) */
#define AHP_KSLOT_UNTAGGED                                                                         \
    (AHP_TYPE_MAX + 1) /* a thread whose libah state is unknown or                                 \
                        * could not be read */
#define AHP_KSLOTS (AHP_TYPE_MAX + 2)

/* Threads of a target the view follows: the size of its tid-keyed maps (thread_blocks,
 * off_states) and of the collector's list of them. */
#define AHP_KERNEL_MAX_THREADS 16384

/* Frames of a user or kernel stack kept by the kernel view. */
#define AHP_KSTACK_FRAMES 64

/* Why a thread was off-CPU. A value >= 0 is the number of the system call it blocked in
 * (x86-64 numbering); the rest are below. */
#define AHP_KR_PREEMPTED (-1) /* switched out while runnable: involuntary preemption */
#define AHP_KR_FAULT                                                                               \
    (-2) /* blocked outside a system call: a page fault (or another                                \
          * exception) */

/* Per slot, one copy per CPU; userspace sums them. */
struct ahp_kernel_stats {
    __u64 cpu_samples; /* perf samples taken while the slot ran on a CPU */
    /* Off-CPU time while inside a callback, switch-out to switch-in, in two parts: */
    __u64 blocked_ns;      /* the thread waited (a system call, a fault): not runnable */
    __u64 blocked_count;   /* episodes counted in blocked_ns */
    __u64 blocked_max_ns;  /* longest single episode (per CPU) */
    __u64 runq_ns;         /* of blocked_ns, the time from its wakeup to running again */
    __u64 preempted_ns;    /* the thread was runnable: switched out involuntarily */
    __u64 preempted_count; /* episodes counted in preempted_ns */
    __u64 runq_count;      /* run-queue waits counted in runq_hist (every thread of the slot) */
    __u64 runq_hist[AHP_HIST_SLOTS]; /* log2 ns of each wait: wakeup (or preemption) to
                                      * running */
    __u64 runq_wait_ns; /* the sum of the waits in runq_hist (a histogram's sum: /metrics) */
};

/* Global counters, one copy per CPU. */
struct ahp_kernel_globals {
    __u64 samples;         /* perf samples of the target's threads */
    __u64 read_errors;     /* a thread's libah state could not be read (tagged untagged) */
    __u64 malformed;       /* a thread's libah state libah never writes (depth, type) */
    __u64 stack_errors;    /* stacks that could not be captured */
    __u64 stacks_dropped;  /* aggregated stacks the stack_counts map had no room for */
    __u64 lost_records;    /* records the ring buffer had no room for */
    __u64 reasons_dropped; /* (type, reason) pairs the reasons map had no room for */
    __u64 switches_lost;   /* switch-outs of a target thread not followed (no room left for
                            * its state): that time off the CPU is in no type's figures */
};

/* Key of the (type, reason) aggregate of blocking inside callbacks. */
struct ahp_kernel_reason_key {
    __s32 slot;
    __s32 reason;
};

struct ahp_kernel_reason_val {
    __u64 count;
    __u64 ns;
};

enum ahp_kernel_kind {
    AHP_KSTACK_CPU = 1,    /* a perf sample: value counts samples */
    AHP_KSTACK_OFFCPU = 2, /* an off-CPU episode inside a callback: value counts ns */
};

/* Key of the aggregated stacks (flame -w cpu|offcpu). A stack id is the stack map's id + 1,
 * 0 when there is none. */
struct ahp_kernel_stack_key {
    __u32 kind; /* enum ahp_kernel_kind */
    __s32 slot;
    __u32 user_stack;
    __u32 kernel_stack;
    /* Off-CPU in a system call: the word at the user stack pointer. A C library's syscall
     * wrapper (read, write...) is a leaf without a frame: a frame-pointer walk skips its
     * caller, whose return address this is when the wrapper pushed nothing. 0 otherwise. */
    __u64 leaf_ret;
};

/* One record of the ring buffer (record --cpu): a sample, or an off-CPU episode inside a
 * callback once it ended. */
struct ahp_kernel_record {
    __u64 ts_ns;  /* CLOCK_MONOTONIC: the sample, or the switch-out */
    __u64 dur_ns; /* off-CPU: switch-out to switch-in; 0 for a sample */
    __u64 id;     /* the async id in scope (innermost), 0 outside callbacks */
    __u32 tid;
    __s32 slot;   /* type, or AHP_KSLOT_* */
    __s32 reason; /* off-CPU: AHP_KR_* or a syscall number */
    __u32 user_stack;
    __u32 kernel_stack;
    __u64 leaf_ret; /* as in struct ahp_kernel_stack_key */
    __u16 kind;     /* enum ahp_kernel_kind */
    __u16 depth;    /* nesting depth read from libah (saturated) */
};

/* Where a thread keeps its execution stack, from libah's registry: offsets in bytes. */
struct ahp_thread_layout {
    __u32 stack_off;         /* struct ah_frame *stack, from the thread's registry block */
    __u32 depth_off;         /* uint32_t depth, from the block */
    __u32 frame_size;        /* sizeof(struct ah_frame) */
    __u32 resource_type_off; /* int32_t type in an ah_resource_t */
};

#endif
