/*
 * live_rules.h - the rules of the live-resource table (struct ahp_live, src/contracts/ahprof.h),
 * in one place: what an init, a callback's start and a destroy do to a resource's slot.
 *
 * `top` keeps the table in a BPF array that the collector maps. The collector's decoder
 * (src/cli/collect/decode.c) applies these rules to the batches it reads from the ring buffer,
 * writing the mapped table; the BPF programs (bpf/ahprof.bpf.c) apply them to the per-event
 * probes and to the batches the ring buffer had no room for, whose counters and slots must not
 * be lost with them. The rules tolerate the order in which batches of different threads arrive
 * (a destroy before its init). The two writers rarely meet (the BPF side writes only while the
 * ring buffer is full): a slot they update at once may come out wrong, like one taken by
 * another id, which the table already tolerates (it is a cache of ages, not a count).
 *
 * Built by clang for BPF and by the C compiler, like batch_rules.h: the caller finds the slot
 * (ID masked to the table's size), the rules only read and write it.
 */
#ifndef AHP_LIVE_RULES_H
#define AHP_LIVE_RULES_H

#include "batch_rules.h"

/* How long a destroy mark (a destroy seen before its init) keeps its slot from other ids. The
 * init it waits for may be this far behind: in another thread's batch not handed over yet, or in
 * the ring buffer while the BPF side walks a later batch that found it full. Replaced by the
 * init of an older id (a ring buffer holds more ids than the table has slots), the mark was
 * lost and its resource, once its init came, stayed alive for ever (measured: `top --buffer 2`
 * on a busy chain, OLDEST growing by 1 s a second). A mark whose init never comes (a resource
 * created before the attach) frees its slot after this long. */
#define AHP_LIVE_MARK_NS 10000000000ull

/* ID of TYPE is created at NOW on thread TID on behalf of TRIGGER_ID. False when the slot holds
 * another live resource, or a recent destroy mark of another id: the new one is not tracked (the
 * caller counts live_untracked). */
AHP_RULE bool ahp_live_insert(struct ahp_live *slot, __u64 id, __u64 now, __s32 type, __u32 tid,
                              __u64 trigger_id)
{
    __u64 held = slot->id;
    if (slot->type == AHP_LIVE_DESTROYED && held != 0) {
        if (held == id) {
            slot->id = 0; /* its destroy came first, from another thread's batch */
            return true;
        }
        if (now < slot->init_ns + AHP_LIVE_MARK_NS)
            return false;
    } else if (held != 0 && !(held & AHP_LIVE_TOMBSTONE)) {
        return false;
    }
    /* Free, a tombstone, or a mark old enough: the slot is this id's. */
    slot->init_ns = now;
    slot->type = type;
    slot->tid = tid;
    slot->trigger_id = trigger_id;
    slot->first_cb_ns = 0;
    slot->last_cb_ns = 0;
    slot->id = id;
    return true;
}

/* A callback of ID starts at NOW: stamps its slot, if its init was seen. True for its first
 * callback: *PENDING is then the time since its init and *TYPE its type, for the caller to
 * count. A callback seen before its init (the init still in another thread's batch) finds no
 * slot: that resource then shows as never run and its pending time is not counted. */
AHP_RULE bool ahp_live_callback(struct ahp_live *slot, __u64 id, __u64 now, __s32 *type,
                                __u64 *pending)
{
    if (slot->id != id || slot->type == AHP_LIVE_DESTROYED)
        return false;
    slot->last_cb_ns = now;
    if (slot->first_cb_ns != 0)
        return false;
    slot->first_cb_ns = now;
    *type = slot->type;
    *pending = now > slot->init_ns ? now - slot->init_ns : 0;
    return true;
}

/* ID is destroyed at NOW. True when it was destroyed before (after its init was seen): the
 * caller's bug, which the caller counts in its type's double_destroy. */
AHP_RULE bool ahp_live_remove(struct ahp_live *slot, __u64 id, __u64 now)
{
    __u64 held = slot->id;
    if (held == id) {
        /* Its init (or a destroy-before-init mark: as before, a late init then finds the slot
         * free) and now its destroy were seen. */
        slot->id = id | AHP_LIVE_TOMBSTONE;
    } else if (held == (id | AHP_LIVE_TOMBSTONE)) {
        /* A destroy after one seen after its init (or after two seen: a mark, then its
         * tombstone). */
        return true;
    } else if (held == 0 || (held & AHP_LIVE_TOMBSTONE) ||
               (slot->type == AHP_LIVE_DESTROYED && now >= slot->init_ns + AHP_LIVE_MARK_NS)) {
        /* Either the resource predates the attach or its init is still in another thread's
         * batch: leave a mark that only that init will match (in place of a mark old enough
         * that its own init no longer keeps the slot from other ids either). */
        slot->type = AHP_LIVE_DESTROYED;
        slot->init_ns = now;
        slot->id = id;
    }
    /* A recent mark of another id stays: that id's init would otherwise find the slot free and
     * stay alive for ever; this one's, if it comes while the mark is there, is not tracked. So
     * does a live resource of another id. Either may leave before this id's init comes, which
     * would then take the slot and stay alive (one slot keeps one id): the caller, seeing the
     * slot still another id's, remembers the destroy elsewhere for the init. The decoder does
     * (src/cli/collect/decode.c, a bounded set; tests/cli/test_decode_live.c has both cases,
     * tests/collector/test_top_early_destroy.c the live one with real threads and BPF);
     * the BPF side, in its rare walks of batches the ring buffer had no room for, does not. */
    return false;
}

/* Whether a lifecycle anomaly of ID (an after without its before) is judged: only for a
 * resource whose init the slot holds and was seen once every probe was attached (FROM, 0: not
 * yet). One created before, or while the probes were being attached, is an attach, not a bug. */
AHP_RULE bool ahp_live_judged(const struct ahp_live *slot, __u64 id, __u64 from)
{
    return slot->id == id && slot->type != AHP_LIVE_DESTROYED && from != 0 && slot->init_ns >= from;
}

#endif
