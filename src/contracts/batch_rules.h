/*
 * batch_rules.h - the per-record rules of the batch path, in one place: which records libah
 * would write, what each one adds to the per-type counters, and how a thread's execution
 * stack turns before/after pairs into inclusive and exclusive callback time.
 *
 * The BPF walker (bpf/ahprof.bpf.c: the batches the ring buffer had no room for) and the
 * collector's decoder (src/cli/collect/decode.c: the batches streamed, for `top` and `record`)
 * both apply them, and the collector adds their counts together: two copies could drift apart
 * unnoticed. The per-event programs use the same stack and counter rules. Built by clang for BPF
 * and by the C compiler: plain values and pointers only, no BPF helper, no libc; every index into
 * the frames is masked so that the verifier sees it bounded.
 */
#ifndef AHP_BATCH_RULES_H
#define AHP_BATCH_RULES_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#endif

#include "ahprof.h"

/* The verifier copes with calls less well than with inlined code. */
#define AHP_RULE static inline __attribute__((always_inline))

/* What libah writes: a known kind, a type of the table, an id it handed out (>= 2). Anything
 * else comes from a buggy or hostile target and is dropped by the caller (and counted). */
AHP_RULE bool ahp_record_ok(const struct ahp_batch_record *r)
{
    return r->kind >= AHP_EV_INIT && r->kind <= AHP_EV_RESOLVE && (__u32)r->type < AHP_TYPE_MAX &&
           r->id >= 2;
}

/* How much a well-formed record of KIND advances its thread's registry seq: libah adds 2 per
 * INIT and DESTROY, which the per-event probes pass as is. */
AHP_RULE __u64 ahp_seq_step(__u8 kind)
{
    return kind == AHP_EV_INIT || kind == AHP_EV_DESTROY ? 2 : 0;
}

/* The lifecycle counter KIND adds to (before/after count through ahp_count_callback). */
AHP_RULE void ahp_count_lifecycle(struct ahp_type_stats *s, __u8 kind)
{
    if (kind == AHP_EV_INIT)
        s->created++;
    else if (kind == AHP_EV_DESTROY)
        s->destroyed++;
    else if (kind == AHP_EV_RESOLVE)
        s->resolved++;
}

/* One step of ahp_hist_slot: when *V has a bit at WIDTH or above, shift it down by WIDTH and
 * add WIDTH to *SLOT, without a branch ((x | -x) >> 63 is 1 for any x other than 0). */
AHP_RULE void ahp_log2_step(__u64 *v, __u64 *slot, unsigned width)
{
    __u64 high = *v >> width;
    __u64 step = ((high | -high) >> 63) * width;
    *v >>= step;
    *slot |= step;
}

/* The histogram bucket of a duration: floor(log2(V)), 0 for 0 and 1, the last for the rest. */
AHP_RULE __u32 ahp_hist_slot(__u64 v)
{
    /* Branches here gave the verifier one state per outcome, 64 per histogram update: it
     * spent most of top's load time on them (docs/BENCHMARKS.md, issue 13). */
    __u64 slot = 0;
    ahp_log2_step(&v, &slot, 32);
    ahp_log2_step(&v, &slot, 16);
    ahp_log2_step(&v, &slot, 8);
    ahp_log2_step(&v, &slot, 4);
    ahp_log2_step(&v, &slot, 2);
    slot |= (v >> 1) & 1;
    return slot < AHP_HIST_SLOTS ? (__u32)slot : AHP_HIST_SLOTS - 1;
}

/* The same slot where a bit scan is at hand: the decoder's copy of the five dependent steps
 * above was a tenth of its time on a tight loop. BPF has no such instruction. */
AHP_RULE __u32 ahp_hist_slot_fast(__u64 v)
{
#if defined(__bpf__)
    return ahp_hist_slot(v);
#else
    __u32 slot = v > 1 ? 63u - (__u32)__builtin_clzll(v) : 0;
    return slot < AHP_HIST_SLOTS ? slot : AHP_HIST_SLOTS - 1;
#endif
}

/* A completed callback of INCLUSIVE ns, EXCLUSIVE of them outside nested callbacks. */
AHP_RULE void ahp_count_callback(struct ahp_type_stats *s, __u64 inclusive, __u64 exclusive)
{
    s->callbacks++;
    s->callback_ns += inclusive;
    s->exclusive_ns += exclusive;
    if (inclusive > s->max_ns)
        s->max_ns = inclusive;
    s->hist[ahp_hist_slot_fast(inclusive) & (AHP_HIST_SLOTS - 1)]++;
}

/* A resource's first callback started PENDING ns after its init. */
AHP_RULE void ahp_count_pending(struct ahp_type_stats *s, __u64 pending)
{
    s->pending_hist[ahp_hist_slot_fast(pending) & (AHP_HIST_SLOTS - 1)]++;
}

/* A resource of TYPE is created while DEPTH scopes are open on its thread (FRAMES): inside a
 * callback of its own type (the innermost one), it counts for top's live self-retrigger. A
 * depth of 0 wraps to a large index, and a scope deeper than the stored frames is not counted. */
AHP_RULE void ahp_count_self_created(struct ahp_type_stats *s, const struct ahp_frame *frames,
                                     __u32 depth, __s32 type)
{
    __u32 d = depth - 1;
    if (d < AHP_STACK_DEPTH && frames[d & (AHP_STACK_DEPTH - 1)].type == type)
        s->self_created++;
}

/* A completed callback whose start is in a batch that was lost (or handed elsewhere): it
 * ran, for how long is unknown. */
AHP_RULE void ahp_count_untimed_callback(struct ahp_type_stats *s)
{
    s->callbacks++;
}

/* A callback scope opens at START (in the unit its close will be given). The depth counts
 * every open scope; only the first AHP_STACK_DEPTH have a frame. Returns false for a scope
 * too deep to have one (its time is not split: the caller counts a stack overflow). */
AHP_RULE bool ahp_scope_open(struct ahp_frame *frames, __u32 *depth, __u64 id, __s32 type,
                             __u64 start)
{
    __u32 d = *depth;
    *depth = d + 1;
    if (d >= AHP_STACK_DEPTH)
        return false;
    struct ahp_frame *f = &frames[d & (AHP_STACK_DEPTH - 1)];
    f->id = id;
    f->start_ns = start;
    f->child_ns = 0;
    f->type = type;
    return true;
}

/* How an after met the execution stack. */
enum ahp_scope_end {
    AHP_SCOPE_CLOSED = 0, /* the innermost scope was its before: time it */
    AHP_SCOPE_NONE_OPEN,  /* no scope open: its before was never seen */
    AHP_SCOPE_TOO_DEEP,   /* closed a scope beyond the stored frames: untimed */
    AHP_SCOPE_OTHER_ID,   /* the innermost scope is another callback's: untimed */
};

/* The scope ID closes at END: pops it (unless none is open; *DEPTH is then the depth it had,
 * 0 when none was open) and, when its frame matches, sets *ELAPSED to END - its start (0 if
 * END is earlier), in their unit. */
AHP_RULE enum ahp_scope_end ahp_scope_close(struct ahp_frame *frames, __u32 *depth, __u64 id,
                                            __u64 end, __u64 *elapsed)
{
    *elapsed = 0;
    if (*depth == 0)
        return AHP_SCOPE_NONE_OPEN;
    __u32 d = *depth - 1;
    *depth = d;
    if (d >= AHP_STACK_DEPTH)
        return AHP_SCOPE_TOO_DEEP;
    const struct ahp_frame *f = &frames[d & (AHP_STACK_DEPTH - 1)];
    if (f->id != id)
        return AHP_SCOPE_OTHER_ID;
    *elapsed = end > f->start_ns ? end - f->start_ns : 0;
    return AHP_SCOPE_CLOSED;
}

/* The scope just closed (DEPTH: the depth left after it) lasted INCLUSIVE ns: its enclosing
 * scope's own time shrinks by as much. Returns the closed scope's exclusive ns. */
AHP_RULE __u64 ahp_scope_time(struct ahp_frame *frames, __u32 depth, __u64 inclusive)
{
    if (depth >= AHP_STACK_DEPTH)
        return 0;
    const struct ahp_frame *f = &frames[depth & (AHP_STACK_DEPTH - 1)];
    __u64 exclusive = inclusive > f->child_ns ? inclusive - f->child_ns : 0;
    /* The mask keeps the verifier certain of the bound; depth > 0 keeps it exact. */
    if (depth > 0)
        frames[(depth - 1) & (AHP_STACK_DEPTH - 1)].child_ns += inclusive;
    return exclusive;
}

#endif
