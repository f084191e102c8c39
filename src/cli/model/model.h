/*
 * model.h - what a recording says, computed in one streaming pass over its events: per-type
 * statistics, type-level trigger edges, the trigger tree aggregated by type path and the
 * resources alive at the end. `ahprof report` prints it; exporters (flame graphs) can reuse
 * the tree: node->exclusive_ns is the "time" weight, node->created the "count" weight and
 * node->live + node->live_unattributed the "live" weight. With ahp_model_opts.site_of (the
 * creation sites of `record --stacks`, asyncstack.h), tree nodes are keyed by type *and*
 * creation site, so the tree is the tree of async stacks (`ahprof flame`).
 *
 * Memory is bounded by what is alive, not by the file: per-resource state is kept only for
 * live resources, plus 4 bytes per destroyed id (in blocks of 4096 ids, capped) so that a
 * resource created on behalf of one that is already gone still lands on the right path.
 */
#ifndef AHP_MODEL_H
#define AHP_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ahprof.h"
#include "data/datafile.h"

/* Type classes: 0..AHP_TYPE_MAX-1 are the file's type ids; events whose type is out of range
 * all land in AHP_M_INVALID. */
#define AHP_M_INVALID AHP_TYPE_MAX
#define AHP_M_TYPES (AHP_TYPE_MAX + 1)

/* Edge parents beyond the type classes. */
#define AHP_M_PARENT_ROOT (AHP_M_TYPES)        /* trigger is the bootstrap execution (id 1) */
#define AHP_M_PARENT_UNKNOWN (AHP_M_TYPES + 1) /* trigger id never seen in an init */
#define AHP_M_PARENTS (AHP_M_TYPES + 2)
/* An event older than one read before it by more than this was written late (record merges
 * threads to the ns, with conversion noise of ns; its reorder window is 100 ms). */
#define AHP_M_LATE_NS 1000000ull

/* Roots of the trigger tree; they always exist, possibly empty. */
enum {
    AHP_NODE_ROOT = 0,   /* "(root)": created from the bootstrap execution */
    AHP_NODE_BEFORE = 1, /* "(before attach)": trigger unknown (created before the recording) */
    AHP_NODE_OTHER = 2,  /* "(other paths)": paths beyond the node limit, by type */
    AHP_NODE_ROOTS = 3,
};
#define AHP_NODE_NONE UINT32_MAX

struct ahp_type_summary {
    uint64_t created;   /* INIT events (all) */
    uint64_t destroyed; /* DESTROY events (all) */
    uint64_t resolved;  /* RESOLVE events */
    int64_t snapshot_live;
    uint64_t created_counted;   /* INIT without AHP_F_IN_SNAPSHOT */
    uint64_t destroyed_counted; /* DESTROY without AHP_F_IN_SNAPSHOT */
    /* Alive at the end: snapshot_live + created_counted - destroyed_counted. */
    int64_t active;
    uint64_t live_seen; /* of those, resources whose init is in the file */
    /* Resources neither known alive nor known dead: their destroy may have been among the
     * lost events (ahp_model.unknown). Not in the alive counts of the tree and leaks. */
    uint64_t live_unknown;
    uint64_t callbacks; /* completed before/after pairs */
    uint64_t callback_ns, exclusive_ns;
    uint64_t min_ns, max_ns, p50_ns, p99_ns; /* of inclusive callback time; 0 if no callback */
    /* Pending time, init to first callback, of the resources whose init is in the file:
     * percentiles from the same log-linear histogram (within 3%); 0 when pending_count is. */
    uint64_t pending_count, pending_p50_ns, pending_p99_ns, pending_max_ns;
};

/* The kernel's view of a type class (record --cpu): CPU samples taken while its callbacks
 * ran, and off-CPU time inside them when the thread waited (not preemption). */
struct ahp_kernel_type {
    uint64_t cpu_samples;
    uint64_t blocked_ns, blocked_count;
};

/* One callback that blocked (record --cpu): its off-CPU episodes summed. */
struct ahp_blocking {
    uint64_t id;
    uint32_t tid;
    uint32_t node; /* the resource's tree node: its trigger path */
    int32_t cls;
    uint64_t start_ns, end_ns;
    uint64_t blocked_ns;
    uint32_t episodes;
    int32_t reason; /* of its longest episode (AHP_KREC_* or a syscall number) */
    uint32_t stack; /* of its longest episode: the file's native stack id + 1, 0 none */
};

#define AHP_BLOCKING_TOP_DEFAULT 10

struct ahp_node {
    uint32_t parent; /* AHP_NODE_NONE for a root */
    int32_t cls;     /* type class; -1 for a root */
    uint32_t depth;  /* 0 for a root */
    /* Creation site (ahp_model_opts.site_of), 0 when unknown: nodes with the same type but
     * different sites are different frames of an async stack. */
    uint32_t site;
    /* Children, largest callback time first, then most created. */
    uint32_t first_child, next_sibling, nchildren;
    uint64_t created; /* resources created with this type path */
    /* Of those, resources whose type already appears on the path: a chain that re-arms
     * itself (TIMER > TIMER > ...) is folded into the first node of its type. */
    uint64_t folded; /* with sites: the same type *and* site appears on the path */
    uint64_t callbacks, callback_ns, exclusive_ns;
    uint64_t live;              /* alive at the end, creation seen */
    uint64_t oldest_init_ns;    /* creation time of the oldest of them */
    uint64_t live_unattributed; /* alive at the end, created before the recording (by count) */
    /* No DESTROY in the file, but events were lost after its INIT (or, for those from before
     * the recording, at all): it may have been destroyed in the lost range. Neither in live
     * nor in live_unattributed: "unknown (events lost)", never alive. */
    uint64_t live_unknown;
};

/* How far past the last loss a creation must be to know its destroy was not lost: the clock
 * of batch events is the TSC converted to ns, good to microseconds; this is generous. */
#define AHP_LOSS_MARGIN_NS 10000000ull

/* Resources alive at the end, grouped by type path. */
struct ahp_leak {
    uint32_t node;
    int32_t cls;
    uint64_t count;
    bool age_known; /* false: created before attach, only counted by the snapshot */
    uint64_t oldest_age_ns;
};

/* A callback still open at the end of the recording (its AFTER never came): the target was
 * stopped, crashed or exited inside it, or the recording ended while it ran. */
struct ahp_open_callback {
    uint64_t id;
    uint32_t tid;
    uint32_t node; /* the resource's tree node: its trigger path */
    int32_t cls;
    uint32_t depth; /* 1 = outermost on its thread */
    uint64_t start_ns;
};

#define AHP_OPEN_CALLBACKS_MAX 1000

struct ahp_model;

/* One completed callback, for consumers that want more than the aggregates. */
struct ahp_callback {
    uint64_t id;
    uint32_t tid;
    uint32_t node;
    int32_t cls;
    uint32_t depth; /* 1 = outermost on its thread */
    uint64_t start_ns, end_ns, exclusive_ns;
    /* The model being built: its nodes up to here (NODE and its ancestors among them) and
     * its meta are valid during the call. */
    const struct ahp_model *model;
};

/* Largest site number site_of may return (node keys hold it in 24 bits). */
#define AHP_SITE_MAX ((1u << 24) - 1)

struct ahp_model_opts {
    uint32_t max_nodes;      /* 0: default (65536) */
    uint32_t max_dead_pages; /* blocks of 4096 destroyed ids remembered; 0: default (4096) */
    /* A completed callback (at its AFTER). CB->depth is its depth on the thread: callbacks
     * above it whose AFTER never came (lost events) are dropped by the model without a call;
     * a consumer that mirrors the thread's stack closes them here. */
    void (*on_callback)(void *arg, const struct ahp_callback *cb);
    /* A callback that starts (at its BEFORE, once the model tracks it): end_ns and
     * exclusive_ns are 0. Every on_callback is preceded by its on_before. */
    void (*on_before)(void *arg, const struct ahp_callback *cb);
    /* An INIT event, with the tree node the resource was put on (M as in ahp_callback). */
    void (*on_init)(void *arg, const struct ahp_model *m, const struct ahp_event *e, uint32_t node);
    /* Every event, after the model took it in (lints: destroys and lifecycle order). */
    void (*on_event)(void *arg, const struct ahp_model *m, const struct ahp_event *e);
    /* The creation site of a resource whose INIT carries user stack STACK_ID (record
     * --stacks: the event's stack_ref is the stack id + 1): a number in 1..AHP_SITE_MAX,
     * or 0 for none. NULL: no sites, resources are told apart by type only. */
    uint32_t (*site_of)(void *arg, uint32_t stack_id);
    void *arg;
    /* Longest-blocking callbacks kept (record --cpu); 0: AHP_BLOCKING_TOP_DEFAULT. */
    uint32_t blocking_top;
};

struct ahp_model {
    /* From the file. */
    const struct ahp_file_meta *meta; /* owned by the reader, valid while it is open */
    uint64_t start_ns, end_ns, duration_ns;
    uint64_t first_ts, last_ts; /* of the events; 0 when there are none */
    uint64_t events;
    /* Events older by more than AHP_M_LATE_NS than one read before them: record wrote them
     * late (their thread held them past its reorder window), out of their order. */
    uint64_t late_events;

    struct ahp_type_summary types[AHP_M_TYPES];
    /* edges[parent][child]: INIT events of type class CHILD whose trigger has class PARENT
     * (or AHP_M_PARENT_ROOT / AHP_M_PARENT_UNKNOWN). A row is NULL while it is all zeros
     * (most are): read through ahp_model_edge(). */
    uint64_t *edges[AHP_M_PARENTS];

    struct ahp_node *nodes;
    uint32_t nnodes;

    struct ahp_leak *leaks; /* largest groups first: known alive at the end */
    uint32_t nleaks;
    /* Resources whose destroy may have been lost (ahp_node.live_unknown), grouped by type
     * path, largest first; age_known false, oldest_age_ns 0. Empty when nothing was lost. */
    struct ahp_leak *unknown;
    uint32_t nunknown;
    uint64_t unknown_total;

    /* Callbacks open at the end, per thread from the outermost (the first
     * AHP_OPEN_CALLBACKS_MAX; open_total counts them all). */
    struct ahp_open_callback *open;
    uint32_t nopen;
    uint64_t open_total;
    /* Callbacks not seen leaving that began before the last loss: their AFTER may have been
     * lost. Not in open/open_total: unknown (events lost). */
    uint64_t open_unknown;

    /* Anomalies, counted rather than trusted. */
    uint64_t unmatched_after;  /* AFTER without its BEFORE on that thread */
    uint64_t unclosed_before;  /* BEFORE whose AFTER never came (lost, or still running) */
    uint64_t duplicate_init;   /* INIT of an id that was alive already */
    uint64_t unknown_kind;     /* events of a kind this version does not know */
    uint64_t stack_overflow;   /* nesting deeper than we track per thread */
    uint64_t dead_untracked;   /* destroyed ids not remembered (limit reached) */
    uint64_t paths_overflowed; /* resources put under "(other paths)" (node limit) */

    /* The kernel's view (record --cpu): has_kernel when the file has it (meta->kinfo). */
    bool has_kernel;
    struct ahp_kernel_type ktypes[AHP_M_TYPES];
    struct ahp_kernel_type koutside, kuntagged; /* outside callbacks; state unreadable */
    uint64_t ksamples, koffcpu;                 /* records of each kind */
    /* The callbacks that blocked longest, longest first. */
    struct ahp_blocking *blocking;
    uint32_t nblocking;
    uint64_t blocked_callbacks; /* callbacks that blocked at all */
    /* Off-CPU records beyond what the model keeps for the callback join (counted, not
     * joined: their callbacks' blocking is short of them). */
    uint64_t krecords_unjoined;
    struct ahp_hmap *knodes; /* async id of a kernel record -> tree node (or NONE) */
};

/* Read every event of R (from the start) and build the model. Negative errno on failure
 * (I/O, -ENOMEM). The model refers to R's metadata: close R after freeing the model. */
int ahp_model_build(struct ahp_model **m, struct ahp_reader *r, const struct ahp_model_opts *opts);
void ahp_model_free(struct ahp_model *m);

/* The tree node of the resource with async id ID that kernel records name (record --cpu):
 * where it was created, or AHP_NODE_NONE when the file does not say. */
uint32_t ahp_model_kernel_node(const struct ahp_model *m, uint64_t id);

/* Number of resources of type class CHILD created on behalf of class PARENT (edges). */
uint64_t ahp_model_edge(const struct ahp_model *m, int32_t parent, int32_t child);

/* The raw name of a type class for display, NUL-terminated: the file's (untrusted: escape
 * it) or "type#N" / "(invalid type)". */
const char *ahp_model_class_name(const struct ahp_model *m, int32_t cls, char buf[AHP_NAME_SIZE]);

/* The name of a tree node: a root's label or its type class name. */
const char *ahp_model_node_name(const struct ahp_model *m, uint32_t node, char buf[AHP_NAME_SIZE]);

#endif
