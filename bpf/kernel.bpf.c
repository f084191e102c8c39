// SPDX-License-Identifier: GPL-2.0
/*
 * kernel.bpf.c - the kernel's view of a target joined to its async resources
 * (docs/kernel-view.md).
 *
 * - cpu_sample (perf_event, one event per CPU at HZ): a sample of a target thread counts for
 *   the resource type in scope on that thread, with its user and kernel stacks.
 * - on_switch (tp_btf/sched_switch) and on_wakeup (tp_btf/sched_wakeup): the time a target
 *   thread spends off-CPU while inside a callback, with why (the system call it blocked in,
 *   a fault, or preemption), and the run-queue delay of every target thread.
 *
 * Which resource is in scope is read from libah's execution stack in the thread's own memory
 * (the thread is current both in a sample and at its switch-out), through the address of its
 * registry block that the collector keeps in thread_blocks. All of that memory is the
 * target's: every read is bounded and checked, and a value libah never writes is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kernel_view.h"

#define EFAULT 14
#define ENOSYS 38

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile bool emit_records = false;  /* record --cpu: stream samples and episodes */
const volatile bool offcpu_stacks = false; /* --stacks: the stacks where a callback blocked */
const volatile bool sample_stacks = true;  /* the stacks of every sample */
const volatile __u64 wakeup_bytes = 64 * 1024;
/* Set by the collector once it has read the target's registry (a launched target maps libah
 * later): until then thread_blocks is empty and nothing is read. */
struct ahp_thread_layout layout = {};
/* Execs the collector expects: a launched target's own exec of its program. */
__u32 execs_expected = 0;
/* libah grows its stack by doubling from 64 frames: a depth past this is not libah's. */
const volatile __u32 max_depth = 1u << 24;

/* Set by the collector when it stops reading, or by stop_on_exec: nothing is counted after it. */
__u32 collector_stopped = 0;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, AHP_KSLOTS);
    __type(key, __u32);
    __type(value, struct ahp_kernel_stats);
} kstats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ahp_kernel_globals);
} kglobals SEC(".maps");

/* tid -> address of the thread's libah registry block (struct ah_thread), kept by the
 * collector from the registry. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, AHP_KERNEL_MAX_THREADS);
    __type(key, __u32);
    __type(value, __u64);
} thread_blocks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct ahp_kernel_reason_key);
    __type(value, struct ahp_kernel_reason_val);
} reasons SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __uint(value_size, AHP_KSTACK_FRAMES * sizeof(__u64));
} kstacks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct ahp_kernel_stack_key);
    __type(value, __u64);
} stack_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 22);
} krecords SEC(".maps");

/* What a thread was doing when it left the CPU, until it comes back. */
struct off_state {
    __u64 off_ns;   /* switch-out, 0 while on a CPU */
    __u64 ready_ns; /* runnable since (wakeup or preemption), 0 while sleeping */
    __u64 id;
    __s32 slot;
    __s32 reason;
    __u32 user_stack;
    __u32 kernel_stack;
    __u64 leaf_ret;
    __u16 depth;
};

/* tid -> its off-CPU state. Not task storage, which the kernel may refuse a program (its
 * per-CPU busy guard, shared by every task-storage map): a blocking episode went missing under
 * load with it, a refusal being the likely cause, not a proven one. A preallocated hash locks
 * only its own buckets, and only our switch and wakeup programs (which do not nest) update
 * it. An exiting thread's entry is deleted at its last switch. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, AHP_KERNEL_MAX_THREADS);
    __type(key, __u32);
    __type(value, struct off_state);
} off_states SEC(".maps");

static __always_inline struct ahp_kernel_globals *globals(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&kglobals, &zero);
}

/* TID's state, created when CREATE (NULL when the map is full: counted in switches_lost). */
static __always_inline struct off_state *off_state_of(__u32 tid, bool create)
{
    struct off_state *st = bpf_map_lookup_elem(&off_states, &tid);
    if (st || !create)
        return st;
    struct off_state fresh = {};
    bpf_map_update_elem(&off_states, &tid, &fresh, BPF_NOEXIST);
    st = bpf_map_lookup_elem(&off_states, &tid);
    if (!st) {
        struct ahp_kernel_globals *g = globals();
        if (g)
            g->switches_lost++;
    }
    return st;
}

static __always_inline struct ahp_kernel_stats *slot_stats(__s32 slot)
{
    __u32 key = (__u32)slot;
    if (key >= AHP_KSLOTS)
        return NULL;
    return bpf_map_lookup_elem(&kstats, &key);
}

/* The resource in scope on the current thread. */
struct scope {
    __u64 id;
    __s32 slot;
    __u32 depth;
};

/* Read the current thread's libah execution stack: its innermost frame's id and type. */
static __always_inline void read_scope(__u32 tid, struct scope *s)
{
    struct ahp_kernel_globals *g;
    s->id = 0;
    s->depth = 0;
    s->slot = AHP_KSLOT_UNTAGGED;
    __u64 *block = bpf_map_lookup_elem(&thread_blocks, &tid);
    if (!block)
        return;
    __u64 base = *block;
    __u32 depth;
    __u64 stack;
    __s32 type;
    /* libah keeps the frames' address and the depth side by side: one read for both. */
    struct {
        __u64 stack;
        __u32 depth;
    } head;
    if (layout.depth_off == layout.stack_off + 8) {
        if (bpf_probe_read_user(&head, 12, (const void *)(base + layout.stack_off)))
            goto read_error;
        stack = head.stack;
        depth = head.depth;
    } else {
        if (bpf_probe_read_user(&depth, sizeof(depth), (const void *)(base + layout.depth_off)))
            goto read_error;
        stack = 0;
    }
    if (depth == 0) {
        s->slot = AHP_KSLOT_OUTSIDE;
        return;
    }
    if (depth > max_depth)
        goto malformed;
    if (!stack &&
        bpf_probe_read_user(&stack, sizeof(stack), (const void *)(base + layout.stack_off)))
        goto read_error;
    /* A frame starts with struct ah_registry_frame: the resource's address, then the id. */
    struct {
        __u64 resource;
        __u64 id;
    } frame;
    if (bpf_probe_read_user(&frame, sizeof(frame),
                            (const void *)(stack + (__u64)(depth - 1) * layout.frame_size)) ||
        bpf_probe_read_user(&type, sizeof(type),
                            (const void *)(frame.resource + layout.resource_type_off)))
        goto read_error;
    s->id = frame.id;
    if (type < 0 || type >= AHP_TYPE_MAX)
        goto malformed;
    s->slot = type;
    s->depth = depth;
    return;
malformed:
    g = globals();
    if (g)
        g->malformed++;
    s->id = 0;
    return;
read_error:
    g = globals();
    if (g)
        g->read_errors++;
    s->id = 0;
}

/* Stack ids + 1 (0: none). */
static __always_inline __u32 stack_id(void *ctx, __u64 flags)
{
    long id = bpf_get_stackid(ctx, &kstacks, flags);
    if (id >= 0)
        return (__u32)id + 1;
    /* -EFAULT: no user stack (a kernel thread); the rest is a loss worth counting. */
    if (id != -EFAULT) {
        struct ahp_kernel_globals *g = globals();
        if (g)
            g->stack_errors++;
    }
    return 0;
}

static __always_inline void count_stack(__u32 kind, __s32 slot, __u32 user, __u32 kernel,
                                        __u64 leaf_ret, __u64 value)
{
    struct ahp_kernel_stack_key key = {.kind = kind,
                                       .slot = slot,
                                       .user_stack = user,
                                       .kernel_stack = kernel,
                                       .leaf_ret = leaf_ret};
    __u64 *v = bpf_map_lookup_elem(&stack_counts, &key);
    if (v) {
        __sync_fetch_and_add(v, value);
        return;
    }
    if (bpf_map_update_elem(&stack_counts, &key, &value, BPF_NOEXIST) == 0)
        return;
    v = bpf_map_lookup_elem(&stack_counts, &key); /* another CPU created it meanwhile */
    if (v) {
        __sync_fetch_and_add(v, value);
        return;
    }
    struct ahp_kernel_globals *g = globals();
    if (g)
        g->stacks_dropped++;
}

static __always_inline void emit(__u16 kind, __u64 ts, __u64 dur, __u32 tid, __u64 id, __s32 slot,
                                 __u32 depth, __s32 reason, __u32 user, __u32 kernel,
                                 __u64 leaf_ret)
{
    struct ahp_kernel_record *r = bpf_ringbuf_reserve(&krecords, sizeof(*r), 0);
    if (!r) {
        struct ahp_kernel_globals *g = globals();
        if (g)
            g->lost_records++;
        return;
    }
    r->ts_ns = ts;
    r->dur_ns = dur;
    r->id = id;
    r->tid = tid;
    r->slot = slot;
    r->reason = reason;
    r->user_stack = user;
    r->kernel_stack = kernel;
    r->leaf_ret = leaf_ret;
    r->kind = kind;
    r->depth = depth > 0xffff ? 0xffff : (__u16)depth;
    __u64 avail = bpf_ringbuf_query(&krecords, BPF_RB_AVAIL_DATA);
    bpf_ringbuf_submit(r, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline __u32 log2_slot(__u64 v)
{
    __u32 slot = 0;
#pragma unroll
    for (int shift = 32; shift > 0; shift >>= 1) {
        if (v >> shift) {
            v >>= shift;
            slot += shift;
        }
    }
    return slot < AHP_HIST_SLOTS ? slot : AHP_HIST_SLOTS - 1;
}

SEC("perf_event")
int cpu_sample(struct bpf_perf_event_data *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if ((__u32)(pid_tgid >> 32) != target_tgid || collector_stopped)
        return 0;
    __u32 tid = (__u32)pid_tgid;
    struct scope s;
    read_scope(tid, &s);
    struct ahp_kernel_stats *st = slot_stats(s.slot);
    if (st)
        st->cpu_samples++;
    struct ahp_kernel_globals *g = globals();
    if (g)
        g->samples++;
    __u32 user = 0, kernel = 0;
    if (sample_stacks) {
        user = stack_id(ctx, BPF_F_USER_STACK);
        kernel = stack_id(ctx, 0);
        count_stack(AHP_KSTACK_CPU, s.slot, user, kernel, 0, 1);
    }
    if (emit_records)
        emit(AHP_KSTACK_CPU, bpf_ktime_get_ns(), 0, tid, s.id, s.slot, s.depth, 0, user, kernel, 0);
    return 0;
}

/* Why PREV leaves the CPU: preempted, or the system call it blocks in, or a fault. On x86-64
 * the syscall entry stores the number in orig_ax and -ENOSYS in ax until the call returns; an
 * exception stores its error code in orig_ax and leaves the user's ax. */
static __always_inline __s32 off_reason(struct task_struct *prev, bool preempt)
{
    if (preempt)
        return AHP_KR_PREEMPTED;
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
    if (!regs)
        return AHP_KR_FAULT;
    long orig_ax = BPF_CORE_READ(regs, orig_ax);
    long ax = BPF_CORE_READ(regs, ax);
    if (orig_ax >= 0 && ax == -ENOSYS)
        return (__s32)orig_ax;
    return AHP_KR_FAULT;
}

#define LEAF_WORDS 8

/* The caller of a frameless syscall wrapper (struct ahp_kernel_stack_key): the first of the
 * top LEAF_WORDS words of PREV's user stack that follows a call instruction (e8 rel32,
 * ff 15 rel32, ff d0+r). A wrapper may keep a few locals below it (glibc's cancellable read
 * does). 0 when none does. */
static __always_inline __u64 leaf_caller(struct task_struct *prev)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
    __u64 sp = regs ? BPF_CORE_READ(regs, sp) : 0;
    __u64 words[LEAF_WORDS];
    if (!sp || bpf_probe_read_user(words, sizeof(words), (const void *)sp))
        return 0;
#pragma unroll
    for (int i = 0; i < LEAF_WORDS; i++) {
        __u8 code[6];
        if (words[i] < 4096 ||
            bpf_probe_read_user(code, sizeof(code), (const void *)(words[i] - 6)))
            continue;
        if (code[1] == 0xe8 || (code[0] == 0xff && code[1] == 0x15) ||
            (code[4] == 0xff && (code[5] & 0xf8) == 0xd0))
            return words[i];
    }
    return 0;
}

#define PF_EXITING 0x00000004

static __always_inline void switch_out(void *ctx, bool preempt, struct task_struct *prev, __u64 now)
{
    __u32 tid = (__u32)prev->pid;
    /* A thread's last switch: its memory may be gone already (a read error that is no one's),
     * and it never comes back to be charged; its tid may come back as another thread. */
    if (prev->flags & PF_EXITING) {
        bpf_map_delete_elem(&off_states, &tid);
        return;
    }
    struct off_state *st = off_state_of(tid, true);
    if (!st)
        return;
    struct scope s;
    read_scope(tid, &s);
    st->off_ns = now;
    st->ready_ns = preempt ? now : 0;
    st->id = s.id;
    st->slot = s.slot;
    st->depth = s.depth > 0xffff ? 0xffff : (__u16)s.depth;
    st->user_stack = 0;
    st->kernel_stack = 0;
    st->leaf_ret = 0;
    st->reason = 0;
    if (s.slot >= AHP_TYPE_MAX || s.slot < 0)
        return; /* outside callbacks only the run-queue delay counts */
    st->reason = off_reason(prev, preempt);
    /* Where it blocked; a preempted thread did not block (its CPU time is what the samples
     * show), and preemptions of a busy callback are many. */
    if (offcpu_stacks && st->reason != AHP_KR_PREEMPTED) {
        /* sched_switch runs in PREV's context: these are its stacks. */
        st->user_stack = stack_id(ctx, BPF_F_USER_STACK);
        st->kernel_stack = stack_id(ctx, 0);
        if (st->reason >= 0)
            st->leaf_ret = leaf_caller(prev);
    }
}

static __always_inline void count_runq(__s32 slot, __u64 wait)
{
    struct ahp_kernel_stats *ks = slot_stats(slot);
    if (!ks)
        return;
    ks->runq_count++;
    ks->runq_hist[log2_slot(wait)]++;
    ks->runq_wait_ns += wait;
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
    struct off_state *st = off_state_of((__u32)next->pid, false);
    if (!st || st->off_ns == 0)
        return;
    __u64 start = st->off_ns, off = now - start;
    __u64 wait = st->ready_ns && st->ready_ns <= now ? now - st->ready_ns : 0;
    __s32 slot = st->slot;
    st->off_ns = 0;
    if (st->ready_ns)
        count_runq(slot, wait);
    st->ready_ns = 0;
    if (slot < 0 || slot >= AHP_TYPE_MAX)
        return;
    struct ahp_kernel_stats *ks = slot_stats(slot);
    if (ks && st->reason == AHP_KR_PREEMPTED) {
        ks->preempted_ns += off;
        ks->preempted_count++;
    } else if (ks) {
        ks->blocked_ns += off;
        ks->blocked_count++;
        ks->runq_ns += wait;
        if (off > ks->blocked_max_ns)
            ks->blocked_max_ns = off;
    }
    struct ahp_kernel_reason_key rk = {.slot = slot, .reason = st->reason};
    struct ahp_kernel_reason_val *rv = bpf_map_lookup_elem(&reasons, &rk);
    if (rv) {
        rv->count++;
        rv->ns += off;
    } else {
        struct ahp_kernel_reason_val init = {.count = 1, .ns = off};
        if (bpf_map_update_elem(&reasons, &rk, &init, BPF_NOEXIST) != 0) {
            struct ahp_kernel_globals *g = globals();
            if (g)
                g->reasons_dropped++;
        }
    }
    if (offcpu_stacks)
        count_stack(AHP_KSTACK_OFFCPU, slot, st->user_stack, st->kernel_stack, st->leaf_ret, off);
    if (emit_records)
        emit(AHP_KSTACK_OFFCPU, start, off, (__u32)next->pid, st->id, slot, st->depth, st->reason,
             st->user_stack, st->kernel_stack, st->leaf_ret);
}

/* PREEMPT alone says only whether preempt_schedule() switched: a thread whose time slice ends
 * goes through schedule() on its way back to user mode, still runnable. PREV_STATE 0
 * (TASK_RUNNING) is what tells an involuntary switch from a wait. */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
    if (*(volatile __u32 *)&collector_stopped)
        return 0;
    bool out = prev->tgid == target_tgid, in = next->tgid == target_tgid;
    if (!out && !in)
        return 0;
    __u64 now = bpf_ktime_get_ns();
    if (out)
        switch_out(ctx, preempt || prev_state == 0, prev, now);
    if (in)
        switch_in(next, now);
    return 0;
}

static __always_inline void wakeup(struct task_struct *p)
{
    if (p->tgid != target_tgid || *(volatile __u32 *)&collector_stopped)
        return;
    struct off_state *st = off_state_of((__u32)p->pid, false);
    if (st && st->off_ns && st->ready_ns == 0)
        st->ready_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
    wakeup(p);
    return 0;
}

/* The target ran exec(): the thread blocks the collector knows name the old program's memory.
 * Stop there, as the event collector does (docs/probes.md, "exec"). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(stop_on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    if (p->tgid != target_tgid)
        return 0;
    if (execs_expected) {
        execs_expected--;
        return 0;
    }
    *(volatile __u32 *)&collector_stopped = 1;
    return 0;
}
