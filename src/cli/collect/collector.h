/*
 * collector.h - loading the BPF programs, attaching them to a target's "ah" probes, and
 * reading what they collect. Shared by `ahprof top` and `ahprof record`.
 */
#ifndef AHP_COLLECTOR_H
#define AHP_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ahprof.h"
#include "collect/decode.h"
#include "collect/merge.h"
#include "collect/target.h"

struct ahp_collector_opts {
    bool record;            /* stream every event (ahprof record) */
    bool track_live;        /* keep the live map (ages of active resources) */
    uint32_t ringbuf_bytes; /* power of two, >= 4096 */
    uint32_t max_live;      /* entries of the live map */
    uint64_t wakeup_bytes;  /* ring-buffer data that wakes the reader */
    bool capture_stacks;    /* user stack of every init (record --stacks) */
    uint32_t max_stacks;    /* entries of the stack map */
    bool per_event;         /* attach the per-event probes instead of ah:batch */
    /* The batch path's events in runs of one thread's (N >= 1) instead of one at a time
     * through on_event; NULL: on_event. */
    int (*on_events)(const struct ahp_event *ev, size_t n, void *ctx);
};

/* How long events of the batch path wait to be put in time order (merge.h). */
#define AHP_REORDER_NS 100000000ull

/* At most this many events wait for time order: 24 MiB, 100 ms at 5 M events/s. Past it the
 * oldest go anyway, and any event older than them that arrives later counts as late. */
#define AHP_MERGE_MAX_HELD (512u * 1024u)

/* One read of the ring buffer stops after this long even when the target keeps it full. */
#define AHP_READ_SLICE_NS 50000000ull

/* Called for every event read from the ring buffer, flagged AHP_F_IN_SNAPSHOT when the
 * attach snapshot already counted it. */
typedef int (*ahp_event_fn)(const struct ahp_event *ev, void *ctx);

#define AHP_COLLECTOR_LINKS 14

struct ahp_collector {
    struct ahprof_bpf *skel;
    struct ring_buffer *rb;
    /* per-event probes, or ah:batch and the switch-out drain; the exit drain, the exec watch
     * and the drains before exec (uprobes on execve, execveat, fexecve) */
    struct bpf_link *links[AHP_COLLECTOR_LINKS];
    int ncpus;
    bool per_event;
    struct ahp_decoder decoder; /* record on the batch path: batches to events */
    struct ahp_merge merge;     /* ... put in time order */
    uint64_t read_ns;           /* the ring buffer held everything handed over before this */
    int deliver_error;
    struct ahp_live *live_table; /* the live map, mapped read-only */
    size_t live_slots;
    ahp_event_fn on_event;
    int (*on_events)(const struct ahp_event *ev, size_t n, void *ctx); /* opts->on_events */
    void *ctx;
    struct ahp_snapshot snapshot; /* at attach; all zero for a launched target */
    bool have_snapshot;
    int64_t snapshot_adjust[AHP_TYPE_MAX]; /* events counted by BPF and by the snapshot */
    /* Events lost (BPF side and decoder) when the snapshot was about to be read. */
    uint64_t lost_before_snapshot;
    uint64_t attach_ns;
    uint64_t attach_missed;    /* record: events that raced the attach and were seen nowhere */
    uint64_t read_deadline_ns; /* the current read of the ring buffer stops then */
    uint64_t records_read;
    bool read_yielded;  /* ... and it did, before the ring buffer was empty */
    bool discard;       /* ahp_collector_finish ran out of time: count instead of passing on */
    uint64_t discarded; /* events read but not passed on: lost */
    /* Type names read from the target's registry while it runs (every AHP_NAMES_EVERY_NS
     * at most): what a name is when the BPF side could not read it and the target is gone. */
    struct ahp_target *target;
    struct ahp_snapshot *names_cache;
    uint64_t names_read_ns;
    uint32_t names_bpf_known; /* the BPF side's count of types at that read */
};

#define AHP_NAMES_EVERY_NS 200000000ull

/* Load the BPF programs for TARGET and attach them. For a running process, also take the
 * snapshot of what existed before (docs/probes.md, "Attaching mid-run"). Returns a negative
 * errno; *WHAT names the step that failed. */
int ahp_collector_start(struct ahp_collector *c, struct ahp_target *t,
                        const struct ahp_collector_opts *opts, ahp_event_fn on_event, void *ctx,
                        const char **what);

/* Wait up to TIMEOUT_MS for ring-buffer data and hand it to on_event. Returns the number
 * of events or a negative errno. */
int ahp_collector_poll(struct ahp_collector *c, int timeout_ms);

/* Hand over whatever is in the ring buffer without waiting, and every event still waiting to
 * be put in time order: what comes after is late (the end of a session). */
int ahp_collector_drain(struct ahp_collector *c);

/* The end of a recording: detach from the target, then hand over what the ring buffer holds
 * and every event waiting for time order. Reading stops after BUDGET_NS: the rest is counted
 * in c->discarded (lost), not passed on. Returns a negative errno or the records read. */
int ahp_collector_finish(struct ahp_collector *c, uint64_t budget_ns);

/* Events passed on out of time order (arrived later than the reorder window). */
uint64_t ahp_collector_late_events(const struct ahp_collector *c);

/* Sums over CPUs. */
int ahp_collector_type_stats(struct ahp_collector *c, struct ahp_type_stats out[AHP_TYPE_MAX]);
int ahp_collector_global_stats(struct ahp_collector *c, struct ahp_global_stats *out);

/* Resources alive now per type: snapshot + created - destroyed, exactly. */
void ahp_collector_active(struct ahp_collector *c, const struct ahp_type_stats *stats,
                          int64_t active[AHP_TYPE_MAX]);

/* A type's name: from the BPF side (first init seen), else from the target's registry.
 * Untrusted bytes; always NUL-terminated; "type#N" when unknown. */
const char *ahp_collector_type_name(struct ahp_collector *c, struct ahp_target *t, int type,
                                    char buf[AHP_NAME_SIZE]);

/* The user stack STACK_ID (an INIT event's stack_ref - 1): fills IPS (innermost first) and returns
 * how many frames, or a negative errno. */
int ahp_collector_user_stack(struct ahp_collector *c, uint32_t stack_id,
                             uint64_t ips[AHP_USER_STACK_FRAMES]);

/* How the target ended, once its last thread has exited: 1, *WAIT_STATUS in the wait(2)
 * format (WIFEXITED, WTERMSIG...) and *NS its CLOCK_MONOTONIC time, read from the kernel (a
 * -p target is not our child); 0 while it runs. */
int ahp_collector_target_exit(const struct ahp_collector *c, int *wait_status, uint64_t *ns);

/* Whether the target ran exec() (other than a launched target's own): 1, *NS when and PATH
 * the program it ran (untrusted bytes, NUL-terminated); 0 while it runs the program it had.
 * Nothing after the exec is counted or recorded: its types are not this program's. */
int ahp_collector_target_exec(const struct ahp_collector *c, uint64_t *ns, char *path, size_t size);

void ahp_collector_stop(struct ahp_collector *c);

#endif
