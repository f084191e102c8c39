/*
 * ahprof.h - what the BPF programs and the ahprof collector share: event records, map values
 * and limits. Fixed-width fields only, so that the same bytes mean the same on both sides
 * and in recorded files (docs/file-format.md stores struct ahp_event as is).
 */
#ifndef AHPROF_H
#define AHPROF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AHP_TYPE_MAX 256  /* = AH_TYPE_MAX in include/ah.h */
#define AHP_NAME_SIZE 64  /* type name buffer, NUL included */
#define AHP_HIST_SLOTS 32 /* log2 buckets of callback duration in ns: [2^i, 2^(i+1)) */
/* Nesting tracked per thread in BPF (a power of two); deeper scopes are counted in
 * stack_overflow. */
#define AHP_STACK_DEPTH 32
/* Frames of a user stack captured at init (record --stacks). */
#define AHP_USER_STACK_FRAMES 32

/* Kinds of records in the event stream (ring buffer and recorded files). */
enum ahp_kind {
    AHP_EV_INIT = 1,
    AHP_EV_BEFORE = 2,
    AHP_EV_AFTER = 3,
    AHP_EV_DESTROY = 4,
    AHP_EV_RESOLVE = 5,
};

/* INIT/DESTROY already counted in the live counts ahprof read from the target when it
 * attached (docs/probes.md, "Attaching mid-run"): use it to learn the id, not to count. */
#define AHP_F_IN_SNAPSHOT 0x01

/* One lifecycle event, 48 bytes. */
struct ahp_event {
    __u64 ts_ns;      /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
    __u64 id;         /* async id */
    __u64 trigger_id; /* INIT: trigger id; AFTER: exclusive callback ns; else 0 */
    __u64 seq;        /* INIT, DESTROY: the thread's registry sequence after the event */
    __u32 tid;        /* thread id (kernel tid) */
    __s32 type;       /* type id, index into the type table */
    __u8 kind;        /* enum ahp_kind */
    __u8 flags;       /* AHP_F_* */
    __u16 depth;      /* BEFORE/AFTER: nesting depth on the thread, 1 = outermost;
                       * INIT: user stack id + 1 (record --stacks), 0 = no stack */
    __u32 pid;        /* process id (tgid) */
};

/* Per-type counters, one copy per CPU; userspace sums them. */
struct ahp_type_stats {
    __u64 created;
    __u64 destroyed;
    __u64 resolved;
    __u64 callbacks;    /* completed before/after pairs */
    __u64 callback_ns;  /* inclusive time of completed callbacks */
    __u64 exclusive_ns; /* callback time minus nested callbacks */
    __u64 max_ns;       /* longest single callback (per CPU) */
    __u64 hist[AHP_HIST_SLOTS];
};

/* Global counters, one copy per CPU. */
struct ahp_global_stats {
    __u64 events;          /* probe hits seen */
    __u64 lost_events;     /* ring buffer full: records dropped */
    __u64 stack_overflow;  /* scopes deeper than AHP_STACK_DEPTH (their time is not split) */
    __u64 unmatched_after; /* after with no before seen (e.g. attached mid-callback) */
    __u64 live_untracked;  /* inits not tracked in the live map because it was full */
    __u64 stack_errors;    /* --stacks: user stacks that could not be captured */
};

/* Value of the live-resource map: what top needs for the oldest active age. */
struct ahp_live {
    __u64 init_ns;
    __s32 type;
    __u32 tid;
};

/* Per-thread execution stack kept in BPF. */
struct ahp_frame {
    __u64 id;
    __u64 start_ns;
    __u64 child_ns;
    __s32 type;
    __u32 pad;
};

struct ahp_thread_stack {
    __u32 depth; /* may exceed AHP_STACK_DEPTH; only the first frames are stored */
    __u32 pad;
    struct ahp_frame frames[AHP_STACK_DEPTH];
};

#endif
