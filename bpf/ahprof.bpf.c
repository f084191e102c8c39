// SPDX-License-Identifier: GPL-2.0
/*
 * ahprof.bpf.c - BPF programs on libah's USDT probes (provider "ah").
 *
 * Per event: per-type counters (per-CPU), a per-thread execution stack giving inclusive
 * and exclusive callback time, a log2 histogram of callback durations, the set of live
 * resources (for ages), and optionally one record per event in a ring buffer (ahprof
 * record). Configuration is read-only data set by the collector before loading. The
 * collector attaches with the target's pid, so the kernel runs these programs for that
 * process only: there is no pid filter here.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "ahprof.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool record_events = false;      /* stream every event to the ring buffer */
const volatile bool track_live = true;          /* keep the live map (ages of active resources) */
const volatile __u64 wakeup_bytes = 256 * 1024; /* wake the reader past this much data */
const volatile bool capture_stacks = false;     /* user stack of every init (record --stacks) */

/* While set, init/destroy events are also streamed (even without record_events) so that the
 * collector can tell which of them its attach snapshot already counted. */
bool calibrating = false;

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
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1 << 18); /* resized by the collector (--max-live) */
    __type(key, __u64);
    __type(value, struct ahp_live);
} live SEC(".maps");

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

static __always_inline void emit(__u8 kind, __u64 ts, __u64 id, __u64 aux, __u64 seq, __s32 type,
                                 __u16 depth)
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
    ev->trigger_id = aux;
    ev->seq = seq;
    ev->tid = (__u32)pid_tgid;
    ev->pid = pid_tgid >> 32;
    ev->type = type;
    ev->kind = kind;
    ev->flags = 0;
    ev->depth = depth;
    /* Waking the reader for every record costs ~1.8 us per event (shared/README.md): wake it
     * only once a batch worth reading has piled up; it also polls on a timer. */
    __u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    bpf_ringbuf_submit(ev, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
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

SEC("usdt")
int BPF_USDT(ah_init, __u64 id, __u64 trigger_id, int type, void *name, __u64 seq)
{
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        s->created++;
    __u32 key = (__u32)type;
    struct type_name *tn = bpf_map_lookup_elem(&type_names, &key);
    if (tn && tn->name[0] == '\0')
        bpf_probe_read_user_str(tn->name, sizeof(tn->name), name);
    if (track_live) {
        struct ahp_live v = {
            .init_ns = now, .type = type, .tid = (__u32)bpf_get_current_pid_tgid()};
        if (bpf_map_update_elem(&live, &id, &v, BPF_ANY) != 0) {
            struct ahp_global_stats *g = globals();
            if (g)
                g->live_untracked++;
        }
    }
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
    if (record_events || calibrating)
        emit(AHP_EV_INIT, now, id, trigger_id, seq, type, stack);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_destroy, __u64 id, int type, __u64 seq)
{
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        s->destroyed++;
    if (track_live)
        bpf_map_delete_elem(&live, &id);
    if (record_events || calibrating)
        emit(AHP_EV_DESTROY, now, id, 0, seq, type, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_resolve, __u64 id, int type)
{
    count_event();
    struct ahp_type_stats *s = stats_of(type);
    if (s)
        s->resolved++;
    if (record_events)
        emit(AHP_EV_RESOLVE, bpf_ktime_get_ns(), id, 0, 0, type, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(ah_before, __u64 id, int type)
{
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_thread_stack *st = bpf_task_storage_get(&thread_stacks, bpf_get_current_task_btf(),
                                                       0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    __u32 depth = 0;
    if (st) {
        depth = st->depth;
        if (depth < AHP_STACK_DEPTH) {
            struct ahp_frame *f = &st->frames[depth & (AHP_STACK_DEPTH - 1)];
            f->id = id;
            f->start_ns = now;
            f->child_ns = 0;
            f->type = type;
        } else {
            struct ahp_global_stats *g = globals();
            if (g)
                g->stack_overflow++;
        }
        st->depth = depth + 1;
    }
    if (record_events)
        emit(AHP_EV_BEFORE, now, id, 0, 0, type, (__u16)(depth + 1));
    return 0;
}

static __always_inline __u32 log2_slot(__u64 v)
{
    __u32 slot = 0;
    /* Unrolled binary search: the verifier sees a bounded, branch-only computation. */
    if (v >= (1ull << 32)) {
        v >>= 32;
        slot += 32;
    }
    if (v >= (1ull << 16)) {
        v >>= 16;
        slot += 16;
    }
    if (v >= (1ull << 8)) {
        v >>= 8;
        slot += 8;
    }
    if (v >= (1ull << 4)) {
        v >>= 4;
        slot += 4;
    }
    if (v >= (1ull << 2)) {
        v >>= 2;
        slot += 2;
    }
    if (v >= 2)
        slot += 1;
    return slot < AHP_HIST_SLOTS ? slot : AHP_HIST_SLOTS - 1;
}

SEC("usdt")
int BPF_USDT(ah_after, __u64 id, int type)
{
    __u64 now = bpf_ktime_get_ns();
    count_event();
    struct ahp_thread_stack *st =
        bpf_task_storage_get(&thread_stacks, bpf_get_current_task_btf(), 0, 0);
    struct ahp_global_stats *g;
    if (!st || st->depth == 0) {
        /* Attached while this callback was running: its start was never seen. */
        g = globals();
        if (g)
            g->unmatched_after++;
        if (record_events)
            emit(AHP_EV_AFTER, now, id, 0, 0, type, 0);
        return 0;
    }
    __u32 depth = st->depth - 1;
    st->depth = depth;
    __u64 exclusive = 0;
    if (depth < AHP_STACK_DEPTH) {
        struct ahp_frame *f = &st->frames[depth & (AHP_STACK_DEPTH - 1)];
        if (f->id == id) {
            __u64 inclusive = now - f->start_ns;
            exclusive = inclusive > f->child_ns ? inclusive - f->child_ns : 0;
            struct ahp_type_stats *s = stats_of(type);
            if (s) {
                s->callbacks++;
                s->callback_ns += inclusive;
                s->exclusive_ns += exclusive;
                if (inclusive > s->max_ns)
                    s->max_ns = inclusive;
                __u32 slot = log2_slot(inclusive);
                if (slot < AHP_HIST_SLOTS)
                    s->hist[slot]++;
            }
            /* The mask keeps the verifier certain of the bound; depth > 0 keeps it exact. */
            if (depth > 0)
                st->frames[(depth - 1) & (AHP_STACK_DEPTH - 1)].child_ns += inclusive;
        } else {
            g = globals();
            if (g)
                g->unmatched_after++;
        }
    }
    if (record_events)
        emit(AHP_EV_AFTER, now, id, exclusive, 0, type, (__u16)(depth + 1));
    return 0;
}
