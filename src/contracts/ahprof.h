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

/* One lifecycle event, 48 bytes. Two slots mean different things for different kinds: each
 * meaning has its own name (anonymous unions: the layout, and so the file format, is the
 * same). A slot is 0 for the kinds that do not name it. */
struct ahp_event {
    __u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
    __u64 id;    /* async id */
    union {
        __u64 trigger_id;   /* INIT: the resource on whose behalf it was created */
        __u64 exclusive_ns; /* AFTER: the callback's time minus its nested callbacks (as the
                             * BPF side measured it: informational) */
    };
    __u64 seq;  /* INIT, DESTROY: the thread's registry sequence after the event */
    __u32 tid;  /* thread id (kernel tid) */
    __s32 type; /* type id, index into the type table */
    __u8 kind;  /* enum ahp_kind */
    __u8 flags; /* AHP_F_* */
    union {
        __u16 depth;     /* BEFORE/AFTER: nesting depth on the thread, 1 = outermost */
        __u16 stack_ref; /* INIT: user stack id + 1 (record --stacks), 0 = no stack */
    };
    __u32 pid; /* process id (tgid) */
};

/* Recorded files store the structure as is (docs/file-format.md). */
_Static_assert(sizeof(struct ahp_event) == 48, "struct ahp_event is part of the file format");
_Static_assert(__builtin_offsetof(struct ahp_event, exclusive_ns) ==
                   __builtin_offsetof(struct ahp_event, trigger_id),
               "exclusive_ns shares the trigger_id slot");
_Static_assert(__builtin_offsetof(struct ahp_event, stack_ref) ==
                   __builtin_offsetof(struct ahp_event, depth),
               "stack_ref shares the depth slot");

/*
 * The batch path (docs/probes.md, "The batch probe"). While a tracer holds the ah:batch
 * semaphore, libah appends one fixed-size record per event to a buffer of the calling thread
 * and fires ah:batch(batch, count) once per buffer: when it is full, when the thread returns
 * to its top level holding records older than AHP_BATCH_BOUND_NS, at ah_flush(), at thread
 * exit and at process exit. libah writes these structures; the BPF programs read them with
 * one bulk copy.
 */
/* A power of two. One probe hit per buffer: at 512 records even a 1.5 us uprobe costs ~3 ns per
 * event (docs/BENCHMARKS.md, issue 13: 256 measured 1.6-2 ns per event more on the tight loop);
 * the buffer is 16 KiB per thread, inside libah's thread state (struct ah_thread). */
#define AHP_BATCH_RECORDS 512
#define AHP_BATCH_BOUND_NS 1000000ull

/* How a batch's ticks relate to CLOCK_MONOTONIC. */
enum ahp_batch_clock {
    AHP_CLOCK_MONOTONIC = 1, /* ticks are CLOCK_MONOTONIC ns */
    AHP_CLOCK_TSC = 2,       /* ticks are the x86 TSC, the clocksource of CLOCK_MONOTONIC */
};

struct ahp_batch_record {
    __u64 ticks; /* when the event happened, in the header's clock */
    __u64 id;
    __u64 arg; /* INIT: trigger id; else 0 */
    __s32 type;
    __u8 kind; /* enum ahp_kind */
    __u8 pad[3];
};

struct ahp_batch_header {
    __u64 anchor_ticks; /* the clock read just before anchor_ns: converts ticks to ns */
    __u64 anchor_ns;    /* CLOCK_MONOTONIC at the flush */
    __u64 seq;          /* the thread's registry seq before its first record; every INIT
                         * and DESTROY record adds 2 (what the per-event probes pass) */
    __u64 names;        /* address of libah's type names, char[AHP_TYPE_MAX][AHP_NAME_SIZE] */
    __u64 gen;          /* batches this thread flushed before this one: a gap is a lost batch */
    __u32 count;        /* records in use */
    __u32 tid;          /* kernel tid of the thread the records belong to */
    __u32 type_count;   /* types registered when the batch was flushed */
    __u16 clock;        /* enum ahp_batch_clock */
    __u16 version;      /* AHP_BATCH_VERSION */
};

#define AHP_BATCH_VERSION 1

struct ahp_batch {
    struct ahp_batch_header hdr;
    struct ahp_batch_record rec[AHP_BATCH_RECORDS];
};

/* A batch as `ahprof record` streams it through the ring buffer, one message per hand-over:
 * the records [first, batch.hdr.count) of the thread's batch, those before FIRST streamed
 * already, in batch.rec[0, count - first) and cut after the last (AHP_RING_BATCH_BYTES): a
 * switch-out that finds a few new records costs a few records of ring buffer. batch.hdr.seq
 * is the registry seq before record FIRST (libah's header has the one before record 0). Its
 * size (more than a struct ahp_event) tells it from a per-event record. */
struct ahp_ring_batch {
    __u32 pid;
    __u16 first;
    __u16 flags; /* AHP_RING_FLUSHED */
    struct ahp_batch batch;
};

/* The bytes of a ring-buffer batch message holding N records. */
#define AHP_RING_BATCH_BYTES(n)                                                                    \
    (sizeof(struct ahp_ring_batch) - sizeof(struct ahp_batch_record) * AHP_BATCH_RECORDS +         \
     sizeof(struct ahp_batch_record) * (n))

/* The thread flushed this batch: its next records start a new generation. Without it, the
 * records were read while the thread was switched out and more may follow in the batch. */
#define AHP_RING_FLUSHED 1

/* What the BPF side knows of a thread's batch buffer. */
struct ahp_batch_thread {
    __u64 addr;     /* its struct ahp_batch in the target */
    __u64 gen;      /* generation of the batch read last */
    __u32 consumed; /* records of that generation already handed over */
    __u32 busy;     /* the ah:batch program runs for this thread (it may be preempted) */
    __u64 seq_next; /* the registry seq after the records handed over (of generation gen) */
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
    /* Pending time, init to first callback, log2 ns like hist: counted once per resource at
     * its first before, only when its init was seen (the live table holds it: `top`). */
    __u64 pending_hist[AHP_HIST_SLOTS];
    /* Created while the innermost callback running on its thread was of its own type (`top`'s
     * live self-retrigger; not counted for the batches the ring buffer had no room for). */
    __u64 self_created;
    /* Lifecycle anomalies `top` can judge live (docs/lints.md), only of resources whose init
     * was seen at or after the collector finished attaching (their live slot holds them): */
    __u64 after_without_before; /* an after with no before open for it on its thread */
    __u64 double_destroy;       /* a destroy after its (seen) destroy */
};

/* Global counters, one copy per CPU. */
struct ahp_global_stats {
    __u64 events;          /* probe hits seen */
    __u64 lost_events;     /* ring buffer full: records dropped */
    __u64 stack_overflow;  /* scopes deeper than AHP_STACK_DEPTH (their time is not split) */
    __u64 unmatched_after; /* after with no before seen (e.g. attached mid-callback) */
    __u64 live_untracked;  /* inits not tracked in the live map because it was full */
    __u64 stack_errors;    /* --stacks: user stacks that could not be captured */
    __u64 batches;         /* ah:batch probe hits */
    __u64 batch_errors;    /* batches that could not be read from the target */
    /* What the target wrote that libah never would (a bug or a hostile program): dropped,
     * and their records counted in lost_events. */
    __u64 batch_malformed;   /* batch headers: version, clock, count > AHP_BATCH_RECORDS,
                              * anchor in the future */
    __u64 records_malformed; /* records: kind or type out of range, id < 2 */
    /* Destroys decoded before their init that the collector's decoder could not remember
     * (src/cli/collect/decode.h): their resource, if its init comes, shows alive. Kept by the
     * decoder alone: 0 here. */
    __u64 live_destroys_forgotten;
};

/* A slot of the live-resource table, indexed by id modulo its size: what top needs for the
 * oldest active age, pending time and time since the last callback. A direct-mapped array,
 * not a hash: an update costs a few stores instead of an allocation, which the event path
 * cannot afford per event. Its rules: live_rules.h. */
struct ahp_live {
    __u64 id;      /* 0: free */
    __u64 init_ns; /* CLOCK_MONOTONIC; of a destroy mark (below): when the destroy was seen */
    __s32 type;    /* AHP_LIVE_DESTROYED: destroyed before its init was seen (the two came
                    * from different threads' batches); free for any other id */
    __u32 tid;
    __u64 trigger_id;  /* for the console's trigger chains (the trigger's own slot, if alive) */
    __u64 first_cb_ns; /* its first before; 0: never ran (since its init) */
    __u64 last_cb_ns;  /* its latest before (the start of its latest callback); 0: never ran */
};

#define AHP_LIVE_DESTROYED (-1)
/* A slot whose resource's init and destroy were both seen keeps its id with this bit set (ids
 * stay far below it), so that a second destroy of it is known (libah never reuses an id); free
 * for any other id. A bit of the id rather than a type: the hot paths decide on the id they
 * load anyway. */
#define AHP_LIVE_TOMBSTONE (1ull << 63)

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
