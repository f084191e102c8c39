// SPDX-License-Identifier: GPL-2.0
/*
 * ahprof.bpf.c - BPF programs on libah's USDT probes (provider "ah").
 *
 * Two ways in. The batch probe ah:batch (the default) hands over up to AHP_BATCH_RECORDS
 * events at once: their new records are copied into the ring buffer with one read and one
 * write, and the collector's decoder aggregates them (src/cli/collect/decode.c); a batch the
 * ring buffer has no room for is walked here instead, for its counts. The per-event probes
 * (ah:init, ah:before, ...; ahprof --per-event) aggregate here, one event at a time, and
 * stream each event for `record`.
 *
 * Aggregates: per-type counters (per-CPU), a per-thread execution stack giving inclusive and
 * exclusive callback time, a log2 histogram of callback durations, and the table of live
 * resources (for ages; the collector's decoder writes it too, live_rules.h). Configuration is
 * read-only data set by the collector before loading.
 * The collector attaches with the target's pid, so the kernel runs these programs for that
 * process only: there is no pid filter here.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "ahprof.h"
#include "batch_rules.h"
#include "live_rules.h"

char LICENSE[] SEC("license") = "GPL";

/* The per-event probes stream every event to the ring buffer (`record`); the batch path always
 * streams. */
const volatile bool record_events = false;
const volatile bool track_live = true;          /* keep the live map (ages of active resources) */
const volatile __u64 wakeup_bytes = 256 * 1024; /* wake the reader past this much data */
const volatile bool capture_stacks = false;     /* user stack of every init (record --stacks) */

/* Ticks of the TSC to ns: ns = ticks * tick_mult >> tick_shift (measured by the collector). */
const volatile __u64 tick_mult = 1;
const volatile __u32 tick_shift = 0;
const volatile __u64 live_mask = (1 << 18) - 1; /* slots of the live table - 1 */

/* The per-event probes also stream the inits and destroys that happened before this time (even
 * without record_events), so that the collector can tell which of them its attach snapshot
 * already counted (the batch path streams every record). U64_MAX while it reads the snapshot,
 * the time it finished after. */
__u64 calib_end_ns = 0;
/* Set by the collector once every probe is attached: lifecycle anomalies are judged only for
 * resources created since (0: not yet). */
__u64 lifecycle_from_ns = 0;

/* The target ran exec(): its new program has its own type table (and, for another program,
 * its own probes), so nothing after it is counted or read (docs/probes.md, "exec"). 0 until
 * then. */
__u64 target_exec_ns = 0;

/* The collector stopped reading (Ctrl-C, --duration): every program stops counting at this
 * one instant, so that the counters stay consistent while the probes are detached one by one
 * (detaching a probe the target keeps hitting takes a while: an init already gone while its
 * destroy still counted would leave negative counts). */
__u32 collector_stopped = 0;

static __always_inline bool stop_counting(void)
{
    return target_exec_ns || *(volatile __u32 *)&collector_stopped;
}

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, AHP_TYPE_MAX);
    __type(key, __u32);
    __type(value, struct ahp_type_stats);
} type_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ahp_global_stats);
} global_stats SEC(".maps");

/* Execution stacks live in task storage: freed by the kernel when the thread exits. */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct ahp_thread_stack);
} thread_stacks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE); /* the collector scans it without a syscall per slot */
    __uint(max_entries, 1 << 18);      /* resized by the collector (--max-live) */
    __type(key, __u32);
    __type(value, struct ahp_live);
} live SEC(".maps");

/* One batch read from the target, per CPU (too big for the BPF stack): the ring-buffer message
 * `record` streams, whose batch `top` walks. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ahp_ring_batch);
} batch_scratch SEC(".maps");

/* User stacks at init, walked with frame pointers; resized by the collector. */
struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __uint(value_size, AHP_USER_STACK_FRAMES * sizeof(__u64));
} user_stacks SEC(".maps");

/* Type names as the probes passed them, read once per type (the first init seen). */
struct type_name {
    char name[AHP_NAME_SIZE];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, AHP_TYPE_MAX);
    __type(key, __u32);
    __type(value, struct type_name);
} type_names SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 24); /* resized by the collector (--buffer) */
} events SEC(".maps");

static __always_inline struct ahp_global_stats *globals(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&global_stats, &zero);
}

/* Wake the reader once a share of the ring buffer holds unread data, at most once a
 * millisecond: a wakeup is an interrupt raised on this CPU, which costs microseconds under a
 * hypervisor (a write to the APIC's MSR traps), and a reader that is behind is awake already.
 * Measured before this bound: 47% of a tight event loop's time under `record` went to wakeups
 * raised for every batch while the reader was behind (docs/BENCHMARKS.md, issue 13). The
 * collector also polls on a timer, so a wakeup skipped here only delays reading. */
#define AHP_WAKEUP_INTERVAL_NS 1000000ull
__u64 last_wakeup_ns = 0;

static __always_inline __u64 ring_flags(void)
{
    if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
        return BPF_RB_NO_WAKEUP;
    __u64 now = bpf_ktime_get_ns();
    if (now - *(volatile __u64 *)&last_wakeup_ns < AHP_WAKEUP_INTERVAL_NS)
        return BPF_RB_NO_WAKEUP;
    *(volatile __u64 *)&last_wakeup_ns = now;
    return BPF_RB_FORCE_WAKEUP;
}

/* AUX is the INIT's trigger id or the AFTER's exclusive ns; AUX16 the INIT's stack_ref or the
 * BEFORE/AFTER's depth (struct ahp_event names each). KIND is a constant at every call: the
 * choice costs nothing once inlined. */
static __always_inline void emit(__u8 kind, __u64 ts, __u64 id, __u64 aux, __u64 seq, __s32 type,
                                 __u16 aux16)
{
    struct ahp_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) {
        struct ahp_global_stats *g = globals();
        if (g)
            g->lost_events++;
        return;
    }
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    ev->ts_ns = ts;
    ev->id = id;
    if (kind == AHP_EV_AFTER)
        ev->exclusive_ns = aux;
    else
        ev->trigger_id = aux;
    ev->seq = seq;
    ev->tid = (__u32)pid_tgid;
    ev->pid = pid_tgid >> 32;
    ev->type = type;
    ev->kind = kind;
    ev->flags = 0;
    if (kind == AHP_EV_INIT)
        ev->stack_ref = aux16;
    else
        ev->depth = aux16;
    /* Waking the reader for every record costs ~1.8 us per event (shared/README.md). */
    bpf_ringbuf_submit(ev, ring_flags());
}

static __always_inline struct ahp_type_stats *stats_of(__s32 type)
{
    __u32 key = (__u32)type;
    if (key >= AHP_TYPE_MAX)
        return NULL;
    return bpf_map_lookup_elem(&type_stats, &key);
}

static __always_inline void count_event(void)
{
    struct ahp_global_stats *g = globals();
    if (g)
        g->events++;
}

/* The live table's slot of ID (live_rules.h). */
static __always_inline struct ahp_live *live_slot(__u64 id)
{
    __u32 key = (__u32)(id & live_mask);
    return bpf_map_lookup_elem(&live, &key);
}

static __always_inline void live_insert(__u64 id, __u64 now, __s32 type, __u32 tid,
                                        __u64 trigger_id)
{
    struct ahp_live *slot = live_slot(id);
    if (slot && !ahp_live_insert(slot, id, now, type, tid, trigger_id)) {
        struct ahp_global_stats *g = globals();
        if (g)
            g->live_untracked++;
    }
}

/* Only starts are stamped: stamping the ends too cost another 2.5 ns per event on the tight
 * loop (docs/BENCHMARKS.md, issue 13). */
static __always_inline void live_callback(__u64 id, __u64 now)
{
    struct ahp_live *slot = live_slot(id);
    __s32 type;
    __u64 pending;
    if (slot && ahp_live_callback(slot, id, now, &type, &pending)) {
        struct ahp_type_stats *s = stats_of(type);
        if (s)
            ahp_count_pending(s, pending);
    }
}

/* ID of type TYPE is destroyed at NOW (S: TYPE's stats, may be NULL). */
static __always_inline void live_remove(__u64 id, __u64 now, struct ahp_type_stats *s)
{
    struct ahp_live *slot = live_slot(id);
    if (slot && ahp_live_remove(slot, id, now) && s)
        s->double_destroy++;
}

/* False when the name could not be read now (a page of the target not in memory at a
 * switch-out, say): it is read again from a later batch. */
static __always_inline bool learn_type_name(__s32 type, const void *name)
{
    __u32 key = (__u32)type;
    struct type_name *tn = bpf_map_lookup_elem(&type_names, &key);
    if (tn && tn->name[0] == '\0')
        return bpf_probe_read_user_str(tn->name, sizeof(tn->name), name) > 0;
    return true;
}

SEC("usdt")
int BPF_USDT(ah_init, __u64 id, __u64 trigger_id, int type, void *name, __u64 seq)
{
    if (stop_counting())
        return 0;
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s) {
        ahp_count_lifecycle(s, AHP_EV_INIT);
        /* One task-storage lookup more per init, on the per-event path only. */
        struct ahp_thread_stack *st =
            bpf_task_storage_get(&thread_stacks, bpf_get_current_task_btf(), 0, 0);
        if (st)
            ahp_count_self_created(s, st->frames, st->depth, type);
    }
    learn_type_name(type, name);
    if (track_live)
        live_insert(id, now, type, (__u32)bpf_get_current_pid_tgid(), trigger_id);
    __u16 stack = 0;
    if (capture_stacks) {
        long sid = bpf_get_stackid(ctx, &user_stacks, BPF_F_USER_STACK);
        if (sid >= 0 && sid < 0xffff) {
            stack = (__u16)(sid + 1);
        } else {
            struct ahp_global_stats *g = globals();
            if (g)
                g->stack_errors++;
        }
    }
    if (record_events || now < calib_end_ns)
        emit(AHP_EV_INIT, now, id, trigger_id, seq, type, stack);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_destroy, __u64 id, int type, __u64 seq)
{
    if (stop_counting())
        return 0;
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        ahp_count_lifecycle(s, AHP_EV_DESTROY);
    if (track_live)
        live_remove(id, now, s);
    if (record_events || now < calib_end_ns)
        emit(AHP_EV_DESTROY, now, id, 0, seq, type, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_resolve, __u64 id, int type)
{
    if (stop_counting())
        return 0;
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        ahp_count_lifecycle(s, AHP_EV_RESOLVE);
    if (record_events)
        emit(AHP_EV_RESOLVE, bpf_ktime_get_ns(), id, 0, 0, type, 0);
    return 0;
}

/* A callback scope opens at START (ns). Returns the new depth. */
static __always_inline __u32 scope_open(struct ahp_thread_stack *st, __u64 id, __s32 type,
                                        __u64 start)
{
    if (!ahp_scope_open(st->frames, &st->depth, id, type, start)) {
        struct ahp_global_stats *g = globals();
        if (g)
            g->stack_overflow++;
    }
    return st->depth;
}

/* An after of ID (type TYPE) found no before open for it on its thread. Judged only for a
 * resource whose init the live table holds and was seen after the attach was complete: an
 * after of one created before (or while the probes were being attached) is an attach, not a
 * bug. Off the hot path: unmatched afters are rare. */
static __always_inline void after_without_before(__u64 id, __s32 type)
{
    struct ahp_global_stats *g = globals();
    if (g)
        g->unmatched_after++;
    if (!track_live)
        return;
    struct ahp_live *slot = live_slot(id);
    if (!slot || !ahp_live_judged(slot, id, lifecycle_from_ns))
        return;
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        s->after_without_before++;
}

/* The scope ID closes at END (ns): account its time to TYPE. Returns its exclusive ns; *DEPTH
 * is the depth it had (0 when its start was never seen). The per-event path's only: batches
 * are timed by the collector's decoder. */
static __always_inline __u64 scope_close(struct ahp_thread_stack *st, __u64 id, __s32 type,
                                         __u64 end, __u32 *depth_out)
{
    __u64 inclusive;
    *depth_out = 0;
    if (!st) {
        /* Attached while this callback was running: its start was never seen. */
        after_without_before(id, type);
        return 0;
    }
    enum ahp_scope_end how = ahp_scope_close(st->frames, &st->depth, id, end, &inclusive);
    if (how != AHP_SCOPE_NONE_OPEN)
        *depth_out = st->depth + 1;
    if (how == AHP_SCOPE_NONE_OPEN || how == AHP_SCOPE_OTHER_ID)
        after_without_before(id, type);
    if (how != AHP_SCOPE_CLOSED)
        return 0;
    __u64 exclusive = ahp_scope_time(st->frames, st->depth, inclusive);
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        ahp_count_callback(s, inclusive, exclusive);
    return exclusive;
}

static __always_inline struct ahp_thread_stack *thread_stack(bool create)
{
    return bpf_task_storage_get(&thread_stacks, bpf_get_current_task_btf(), 0,
                                create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

SEC("usdt")
int BPF_USDT(ah_before, __u64 id, int type)
{
    if (stop_counting())
        return 0;
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_thread_stack *st = thread_stack(true);
    __u32 depth = st ? scope_open(st, id, type, now) : 0;
    if (track_live)
        live_callback(id, now);
    if (record_events)
        emit(AHP_EV_BEFORE, now, id, 0, 0, type, (__u16)depth);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_after, __u64 id, int type)
{
    if (stop_counting())
        return 0;
    __u64 now = bpf_ktime_get_ns();
    count_event();
    __u32 depth;
    __u64 exclusive = scope_close(thread_stack(false), id, type, now, &depth);
    if (record_events)
        emit(AHP_EV_AFTER, now, id, exclusive, 0, type, (__u16)depth);
    return 0;
}

/* ---- The batch probe ---- */

/* Where each thread's buffer is, and how much of it was handed over: filled by the ah:batch
 * program (and by the collector for threads that existed before it attached). */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct ahp_batch_thread);
} batch_threads SEC(".maps");

const volatile __u32 target_tgid = 0; /* the process whose threads are read at switch-out */

/* A batch the ring buffer had no room for is walked instead of streamed: its records are lost
 * as events, but the per-type counters stay exact and the live table keeps its slots right (a
 * resource whose destroy was in it would otherwise show alive for ever). Its new records,
 * [first, n) of the thread's, are b->rec[0, n - first). Callback times are not counted: the
 * collector's decoder keeps the threads' execution stacks, and a lost batch leaves them torn. */
struct batch_walk {
    struct ahp_batch *b;
    __u64 seq; /* the thread's registry seq after the record being walked */
    __u32 tid;
    __u32 n; /* new records (after tid: in the upper half of their stack slot, the verifier
              * walked 153k instructions here, 398k with n first; measured) */
    bool tsc;
};

/* TSC ticks to ns without overflowing 64 bits: tick_mult < 2^32 and tick_shift <= 32. */
static __always_inline __u64 ticks_to_ns(__u64 ticks, bool tsc)
{
    if (!tsc)
        return ticks;
    return ((ticks >> 32) * tick_mult << (32 - tick_shift)) +
           (((ticks & 0xffffffffull) * tick_mult) >> tick_shift);
}

static __always_inline __u64 batch_ns(const struct batch_walk *w, __u64 ticks)
{
    const struct ahp_batch_header *h = &w->b->hdr;
    if (ticks <= h->anchor_ticks)
        return h->anchor_ns - ticks_to_ns(h->anchor_ticks - ticks, w->tsc);
    return h->anchor_ns + ticks_to_ns(ticks - h->anchor_ticks, w->tsc);
}

static __always_inline void walk_record(__u32 i, struct batch_walk *w)
{
    struct ahp_batch_record *r = &w->b->rec[i & (AHP_BATCH_RECORDS - 1)];
    __s32 type = r->type;

    if (!ahp_record_ok(r)) {
        struct ahp_global_stats *g = globals();
        if (g)
            g->records_malformed++; /* counted lost with its whole batch */
        return;
    }
    w->seq += ahp_seq_step(r->kind);
    struct ahp_type_stats *s = stats_of(type);
    /* Constant kinds: the shared rules fold to the one counter each case touches. */
    switch (r->kind) {
    case AHP_EV_INIT:
        if (s)
            ahp_count_lifecycle(s, AHP_EV_INIT);
        if (track_live)
            live_insert(r->id, batch_ns(w, r->ticks), type, w->tid, r->arg);
        break;
    case AHP_EV_DESTROY:
        if (s)
            ahp_count_lifecycle(s, AHP_EV_DESTROY);
        if (track_live)
            live_remove(r->id, batch_ns(w, r->ticks), s);
        break;
    case AHP_EV_RESOLVE:
        if (s)
            ahp_count_lifecycle(s, AHP_EV_RESOLVE);
        break;
    case AHP_EV_BEFORE:
        if (track_live)
            live_callback(r->id, batch_ns(w, r->ticks));
        break;
    case AHP_EV_AFTER:
        /* Its start may be in a batch the collector got: count it, time unknown. */
        if (s)
            ahp_count_untimed_callback(s);
        break;
    }
}

/* Records per bpf_loop step. Each step is a function call and return, ~10 ns with this
 * kernel's return-thunk mitigations (measured). A plain bounded loop does not verify (the
 * verifier walks every iteration's paths). The verifier's work grows with the step too (every
 * record's paths, in every program that walks): only the walks at a flush and at a switch-out
 * take several records per step. */
#define AHP_WALK_CHUNK 8

static long walk_chunk(__u32 step, void *data)
{
    struct batch_walk *w = data;
#pragma unroll
    for (__u32 j = 0; j < AHP_WALK_CHUNK; j++) {
        __u32 i = step * AHP_WALK_CHUNK + j;
        if (i >= w->n)
            return 1;
        walk_record(i, w);
    }
    return 0;
}

/* One record per step: the walks that are rare (a thread's exit, an exec) and verify fast
 * that way. */
static long walk_one(__u32 i, void *data)
{
    struct batch_walk *w = data;
    if (i >= w->n)
        return 1;
    walk_record(i, w);
    return 0;
}

/* Type names, read from libah once each: the first batch that says a type exists. */
__u32 types_known = 0;

struct name_walk {
    __u64 names;
    __u32 first_failed; /* the first name that could not be read, or AHP_TYPE_MAX */
};

static long learn_name(__u32 i, void *data)
{
    struct name_walk *nw = data;
    __u32 type = i;
    if (type >= AHP_TYPE_MAX)
        return 1;
    if (!learn_type_name((__s32)type, (const void *)(nw->names + (__u64)type * AHP_NAME_SIZE)) &&
        nw->first_failed == AHP_TYPE_MAX)
        nw->first_failed = type;
    return 0;
}

static __always_inline void learn_type_names(const struct ahp_batch_header *h)
{
    __u32 known = types_known, count = h->type_count;
    if (count <= known || h->names == 0)
        return;
    if (count > AHP_TYPE_MAX)
        count = AHP_TYPE_MAX;
    struct name_walk nw = {.names = h->names, .first_failed = AHP_TYPE_MAX};
    bpf_loop(count, learn_name, &nw, 0); /* names already known are kept as they are */
    types_known = nw.first_failed < count ? nw.first_failed : count;
}

/* Walks the N new records of B (their registry seq starts at b->hdr.seq). Returns the seq
 * after them. RARE: from a program that seldom runs (a constant at each call). */
static __always_inline __u64 walk_batch(struct ahp_batch *b, __u32 n, const bool rare)
{
    struct batch_walk w = {
        .b = b,
        .seq = b->hdr.seq,
        .tid = (__u32)bpf_get_current_pid_tgid(),
        .tsc = b->hdr.clock == AHP_CLOCK_TSC,
    };
    w.n = n;
    if (rare)
        bpf_loop(n, walk_one, &w, 0);
    else
        bpf_loop((n + AHP_WALK_CHUNK - 1) / AHP_WALK_CHUNK, walk_chunk, &w, 0);
    return w.seq;
}

/* The registry seq after the N new records of B, without walking them otherwise: what
 * `record` keeps for the next hand-over of the same batch. */
struct seq_walk {
    const struct ahp_batch *b;
    __u64 seq;
    __u32 n;
};

#define AHP_SEQ_CHUNK 16

static long seq_chunk(__u32 step, void *data)
{
    struct seq_walk *sw = data;
#pragma unroll
    for (__u32 j = 0; j < AHP_SEQ_CHUNK; j++) {
        __u32 i = step * AHP_SEQ_CHUNK + j;
        if (i >= sw->n)
            return 1;
        const struct ahp_batch_record *r = &sw->b->rec[i & (AHP_BATCH_RECORDS - 1)];
        if (ahp_record_ok(r))
            sw->seq += ahp_seq_step(r->kind);
    }
    return 0;
}

static __always_inline __u64 seq_after(const struct ahp_batch *b, __u32 n)
{
    struct seq_walk sw = {.b = b, .seq = b->hdr.seq, .n = n};
    bpf_loop((n + AHP_SEQ_CHUNK - 1) / AHP_SEQ_CHUNK, seq_chunk, &sw, 0);
    return sw.seq;
}

/* Records [*FIRST, *N) of the batch are new: the part of its generation not handed over
 * yet. False when there are none. */
static __always_inline bool new_range(const struct ahp_batch_thread *bt,
                                      const struct ahp_batch_header *h, __u32 *first, __u32 *n)
{
    __u32 count = h->count < AHP_BATCH_RECORDS ? h->count : AHP_BATCH_RECORDS;
    __u32 from = bt->gen == h->gen && bt->consumed <= count ? bt->consumed : 0;
    if (from >= count)
        return false;
    *first = from;
    *n = count;
    return true;
}

/* Marks the records of the batch up to N handed over. */
static __always_inline void mark_taken(struct ahp_batch_thread *bt,
                                       const struct ahp_batch_header *h, __u32 n)
{
    bt->gen = h->gen;
    bt->consumed = n;
}

/* The registry seq before record FIRST of the batch whose header is H (FIRST > 0: the seq
 * kept at the last hand-over of this generation). */
static __always_inline __u64 seq_at(const struct ahp_batch_thread *bt,
                                    const struct ahp_batch_header *h, __u32 first)
{
    return first == 0 ? h->seq : bt->seq_next;
}

/* The batch's memory belongs to the target: a header libah would never write is dropped,
 * once per generation, and its records counted as lost. The tid is the reading thread's,
 * whatever the header says, so that no thread's records pass for another's. */
static __always_inline bool header_ok(struct ahp_batch_thread *bt, struct ahp_batch_header *h,
                                      struct ahp_global_stats *g)
{
    h->tid = (__u32)bpf_get_current_pid_tgid();
    if (h->version == AHP_BATCH_VERSION && h->count <= AHP_BATCH_RECORDS &&
        (h->clock == AHP_CLOCK_TSC || h->clock == AHP_CLOCK_MONOTONIC) &&
        h->anchor_ns <= bpf_ktime_get_ns())
        return true;
    __u32 first, n;
    if (new_range(bt, h, &first, &n)) {
        mark_taken(bt, h, n);
        g->batch_malformed++;
        g->lost_events += n - first;
    }
    return false;
}

/* Stream M, its header filled, as one ring-buffer message: FRESH records from record FIRST of
 * the batch. 0, or the ring buffer's error (no room). */
static __always_inline long send_batch(struct ahp_ring_batch *m, __u32 first, __u32 fresh,
                                       bool flushed)
{
    m->pid = bpf_get_current_pid_tgid() >> 32;
    m->first = (__u16)first;
    m->flags = flushed ? AHP_RING_FLUSHED : 0;
    return bpf_ringbuf_output(&events, m, AHP_RING_BATCH_BYTES(fresh), ring_flags());
}

/* A flush that finds its generation handed over whole already (switch-outs read its last
 * records first: a preemption between the thread's last record and its flush, or a flush after
 * it blocked): no record to send, but the collector must still learn that the generation is
 * done, or it takes the next one for one after a lost batch (its open scopes dropped, their
 * afters counted untimed). libah flushes a generation once, so this sends one empty message at
 * most per generation, and only in that window. */
static __always_inline void send_flushed_mark(const struct ahp_batch_thread *bt,
                                              struct ahp_ring_batch *m)
{
    struct ahp_batch_header *h = &m->batch.hdr;
    if (h->count == 0 || h->gen != bt->gen || h->count != bt->consumed)
        return;
    h->seq = bt->seq_next;
    /* No room: nothing is lost, the collector treats the next generation as after a gap. */
    send_batch(m, h->count, 0, true);
}

/* Hand over the records of the current thread's batch at ADDR that were not handed over yet,
 * its header read into M already: a switch-out that finds nothing new stops there, a flush
 * only marks the generation done (send_flushed_mark).
 * Then only the new records are copied, in one bulk read (a switch-out typically finds a few
 * of a 512-record buffer), and streamed as one ring-buffer message; when the ring buffer is
 * full, walked in a bounded loop for their counts. FLUSHED: the thread is done with this
 * batch. Nothing here walks the records of a batch that streams: `top` walked them here once,
 * and the walk of a full batch (4.7 us) stalled a server long enough to change its rhythm
 * (docs/BENCHMARKS.md, issue 13). */
static __always_inline void take_read_batch(struct ahp_batch_thread *bt, struct ahp_ring_batch *m,
                                            struct ahp_global_stats *g, const void *addr,
                                            bool flushed, const bool rare)
{
    struct ahp_batch *b = &m->batch;
    __u32 first, n;
    if (!header_ok(bt, &b->hdr, g))
        return;
    if (!new_range(bt, &b->hdr, &first, &n)) {
        if (flushed)
            send_flushed_mark(bt, m);
        return;
    }
    /* Only the new records are read, into rec[0, fresh): a busy thread is switched out many
     * times per batch, and reading (and walking, and streaming) from record 0 every time
     * made each hand-over cost as much as the whole batch so far (2 us per switch-out of the
     * example server, 60 ns per new record). */
    __u32 fresh = n - first;
    /* The verifier does not know FIRST < N: the bound it checks is on BYTES itself. */
    __u64 bytes = (__u64)fresh * sizeof(struct ahp_batch_record);
    /* Keeps clang from handing the verifier a bound it cannot see (shared/README.md). */
    asm volatile("" : "+r"(bytes));
    if (bytes > sizeof(b->rec))
        return;
    fresh = bytes / sizeof(struct ahp_batch_record); /* the same, with the bound in sight */
    const char *from = (const char *)addr + offsetof(struct ahp_batch, rec) +
                       (__u64)first * sizeof(struct ahp_batch_record);
    if (bpf_probe_read_user(b->rec, bytes, from) != 0) {
        g->batch_errors++;
        return;
    }
    /* From here on the header's seq is the one before record FIRST (struct ahp_ring_batch). */
    b->hdr.seq = seq_at(bt, &b->hdr, first);
    mark_taken(bt, &b->hdr, n);
    g->events += fresh;
    learn_type_names(&b->hdr);
    if (send_batch(m, first, fresh, flushed) == 0) {
        /* A flushed batch is done with: its next records are another generation's. */
        if (!flushed)
            bt->seq_next = seq_after(b, fresh);
        return;
    }
    g->lost_events += fresh; /* no room in the ring buffer: keep the counters exact */
    bt->seq_next = walk_batch(b, fresh, rare);
}

/* The per-CPU scratch for a batch and the global counters: false when either is missing. */
static __always_inline bool batch_scratch_of(struct ahp_ring_batch **m, struct ahp_global_stats **g)
{
    __u32 zero = 0;
    *m = bpf_map_lookup_elem(&batch_scratch, &zero);
    *g = globals();
    return *m && *g;
}

/* The batch at ADDR, its header not read yet (see take_read_batch). */
static __always_inline void take_batch(struct ahp_batch_thread *bt, const void *addr, bool flushed,
                                       const bool rare)
{
    struct ahp_ring_batch *m;
    struct ahp_global_stats *g;
    if (!batch_scratch_of(&m, &g))
        return;
    if (bpf_probe_read_user(&m->batch.hdr, sizeof(m->batch.hdr), addr) != 0) {
        g->batch_errors++;
        return;
    }
    take_read_batch(bt, m, g, addr, flushed, rare);
}

SEC("usdt")
int BPF_USDT(ah_batch, void *addr, __u32 count)
{
    if (stop_counting())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct ahp_batch_thread *bt =
        bpf_task_storage_get(&batch_threads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    /* The collector may have created it between the lookup and the create (it tells the BPF
     * side where pre-attach threads keep their buffers right after its snapshot, when they
     * are busy): the create then fails, the entry exists. Skipping the batch would lose it
     * without a trace. */
    if (!bt)
        bt = bpf_task_storage_get(&batch_threads, task, 0, 0);
    if (!bt) {
        struct ahp_global_stats *g = globals();
        if (g && count != 0) {
            g->batch_errors++;
            g->lost_events += count < AHP_BATCH_RECORDS ? count : AHP_BATCH_RECORDS;
        }
        return 0;
    }
    bt->addr = (__u64)addr;
    if (count == 0) {
        /* A new buffer is announced: the thread's first, or a second one when a TLS destructor
         * raises events after libah freed the first (tests/targets/late.c). Its generations
         * start again: what was handed over of the old one must not skip the new records. */
        bt->gen = ~0ull;
        bt->consumed = 0;
        return 0;
    }
    struct ahp_global_stats *g = globals();
    if (g)
        g->batches++;
    /* A switch-out while this runs must leave the buffer alone (see drain_on_switch). */
    *(volatile __u32 *)&bt->busy = 1;
    barrier();
    take_batch(bt, addr, true, false);
    barrier();
    *(volatile __u32 *)&bt->busy = 0;
    return 0;
}

/* TASK's tid in its own pid namespace: what libah has from gettid() in a container (the
 * global one, task->pid, differs there). */
static __always_inline __u32 ns_tid(struct task_struct *task)
{
    struct pid *pid = BPF_CORE_READ(task, thread_pid);
    unsigned int level = BPF_CORE_READ(pid, level);
    return BPF_CORE_READ(pid, numbers[level & 31].nr);
}

/* Hand over the records of TASK (the current thread) that were not handed over yet, unless
 * its ah:batch program is running (FLUSHED: the thread is done with them). */
static __always_inline void drain_pending(struct task_struct *task, bool flushed, const bool rare)
{
    /* During exec the address names the new program's memory, after it a stale one. */
    if (stop_counting() || BPF_CORE_READ_BITFIELD(task, in_execve))
        return;
    struct ahp_batch_thread *bt = bpf_task_storage_get(&batch_threads, task, 0, 0);
    if (!bt || bt->addr == 0 || *(volatile __u32 *)&bt->busy)
        return;
    /* The header once: most switch-outs find nothing new, and one read of user memory costs
     * the same for its 12 bytes that tell as for the 56 of the whole header. */
    struct ahp_ring_batch *m;
    struct ahp_global_stats *g;
    if (!batch_scratch_of(&m, &g))
        return;
    const void *addr = (const void *)bt->addr;
    struct ahp_batch_header *h = &m->batch.hdr;
    if (bpf_probe_read_user(h, sizeof(*h), addr) != 0 || h->count == 0 ||
        (h->gen == bt->gen && h->count <= bt->consumed))
        return;
    /* libah frees a thread's buffer at its exit, and the thread still runs (its last TLS
     * destructors, then the exit): another thread's buffer may be there now, whose records that
     * thread hands over itself. Read as this thread's, they reached the collector twice. libah
     * writes its thread's tid in the header once, when it tells where the buffer is. */
    if (h->tid != (__u32)task->pid && h->tid != ns_tid(task)) {
        bt->addr = 0;
        return;
    }
    take_read_batch(bt, m, g, addr, flushed, rare);
}

/* A thread of the target is switched out (it blocks, or is preempted): hand over what its
 * buffer holds now, so that an idle thread's last events do not wait for its next flush. It
 * runs in the context of the thread being switched out, whose memory bpf_probe_read_user
 * reads; the thread cannot write its buffer meanwhile. A preempted thread is drained too,
 * although it hands its records over itself once it runs again: on a busy machine it may wait
 * for a CPU longer than `record`'s reorder window (100 ms), and its records would then be
 * written late (test_record_order failed that way when preemptions were skipped, to save
 * ~0.6 us per preemption: a few per thread and time slice, not worth it). */
SEC("tp_btf/sched_switch")
int BPF_PROG(drain_on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    if (prev->tgid != target_tgid)
        return 0;
    drain_pending(prev, false, false);
    return 0;
}

/* How the target ended: set when its last thread exits (group_dead), in the wait(2) status
 * format (exit status << 8, or the signal number, 0x80 when it dumped core). A target attached
 * with -p is not ahprof's child: this is the only place its exit status can be read. */
__u32 target_exit_status = 0;
__u64 target_exit_ns = 0; /* 0 while the target lives */

/* A thread of the target exits (returns, pthread_exit, exit(), or killed by a signal): hand
 * over what its buffer holds before the memory goes away. The tracepoint runs in the exiting
 * thread's context before its address space is released, so bpf_probe_read_user still reads
 * it; a thread killed by a signal in the middle of a callback never flushes by itself. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(drain_on_exit, struct task_struct *p, bool group_dead)
{
    if (p->tgid != target_tgid)
        return 0;
    drain_pending(p, true, true);
    if (group_dead) {
        target_exit_status = (__u32)p->exit_code;
        barrier();
        *(volatile __u64 *)&target_exit_ns = bpf_ktime_get_ns();
    }
    return 0;
}

/* Execs the collector expects: a launched target's own exec of the program. */
__u32 execs_expected = 0;
char target_exec_path[256];

/* The target calls execve (a uprobe on libc's, best effort): its thread still holds its
 * buffered records in the memory exec is about to drop. */
SEC("uprobe")
int BPF_KPROBE(drain_before_exec)
{
    drain_pending(bpf_get_current_task_btf(), false, true);
    return 0;
}

/* The target replaced its program: stop here. Its other threads were ended (and drained) by
 * exec before this runs. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(stop_on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    if (p->tgid != target_tgid || target_exec_ns)
        return 0;
    if (execs_expected) {
        execs_expected--;
        return 0;
    }
    bpf_probe_read_kernel_str(target_exec_path, sizeof(target_exec_path), bprm->filename);
    barrier();
    *(volatile __u64 *)&target_exec_ns = bpf_ktime_get_ns();
    return 0;
}
