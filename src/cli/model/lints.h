/*
 * lints.h - warnings that find problems by themselves (docs/lints.md). Each lint has a stable
 * name, a threshold and a meaning:
 *   never-ran       created, never given a callback, still alive after T (default 10 s)
 *   leak-slope      a type whose live count keeps growing over the window
 *   long-callback   a callback longer than T (default 100 ms)
 *   self-retrigger  a chain of resources of one type, each created in its predecessor's
 *                   callback, with no pause (busy 0 ms timers)
 *   orphan          alive more than T (default 10 s) after its trigger was destroyed
 *   lifecycle       after without before, double destroy, destroy while its callback runs on
 *                   another thread (inside its own callback, on that thread, is allowed)
 *
 * `report` runs them over a recording (struct ahp_lints: fed by the model's hooks, memory
 * bounded by what is alive); `top` runs the ones the live aggregates allow (leak-slope on the
 * active counts, long-callback on the duration histograms) through the helpers below.
 */
#ifndef AHP_LINTS_H
#define AHP_LINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

enum ahp_lint {
    AHP_LINT_NEVER_RAN,
    AHP_LINT_LEAK_SLOPE,
    AHP_LINT_LONG_CALLBACK,
    AHP_LINT_SELF_RETRIGGER,
    AHP_LINT_ORPHAN,
    AHP_LINT_LIFECYCLE,
    AHP_LINTS,
};

/* Lifecycle anomalies, for the example's "what". */
enum ahp_lifecycle_kind {
    AHP_LC_AFTER_WITHOUT_BEFORE,
    AHP_LC_DOUBLE_DESTROY,
    AHP_LC_DESTROY_WHILE_RUNNING, /* from another thread than the one in its callback */
    AHP_LC_KINDS,
};

#define AHP_LINT_ALLOW_MAX 64

struct ahp_lint_allow {
    int lint;                 /* enum ahp_lint */
    char type[AHP_NAME_SIZE]; /* "" for every type */
};

struct ahp_lint_opts {
    uint64_t never_ran_ns;     /* default 10 s */
    uint64_t long_callback_ns; /* default 100 ms */
    uint64_t orphan_ns;        /* default 10 s */
    uint64_t retrigger_chain;  /* links before a chain counts: default 1000 */
    uint64_t retrigger_gap_ns; /* mean time per link below which a chain is busy: 5 us */
    uint64_t leak_min;         /* growth of the live count over the window: default 100 */
    struct ahp_lint_allow allow[AHP_LINT_ALLOW_MAX];
    unsigned nallow;
};

/* Fill OPTS with the defaults. */
void ahp_lint_opts_default(struct ahp_lint_opts *o);

/* The stable name of LINT ("never-ran"...), and back: -1 when unknown. */
const char *ahp_lint_name(int lint);
int ahp_lint_parse(const char *name, size_t len);
const char *ahp_lifecycle_kind_name(int kind);

/* "LINT" or "LINT:TYPE" of --allow into O. 0, or -EINVAL (unknown lint), -ENOSPC (too many). */
int ahp_lint_allow_parse(struct ahp_lint_opts *o, const char *arg);
/* Whether LINT on type NAME (raw, untrusted: compared, never printed) is silenced. */
bool ahp_lint_allowed(const struct ahp_lint_opts *o, int lint, const char *type_name);

/* The lint options of `report` and `top`, for their getopt_long tables (values from
 * AHP_LINT_OPT_BASE): --allow, --never-ran, --long-callback, --orphan, --leak-slope,
 * --self-retrigger, --self-retrigger-gap. */
#define AHP_LINT_OPT_BASE 0x1000
// clang-format off
#define AHP_LINT_LONGOPTS                                                      \
    {"allow", required_argument, NULL, AHP_LINT_OPT_BASE + 0},                 \
    {"never-ran", required_argument, NULL, AHP_LINT_OPT_BASE + 1},             \
    {"long-callback", required_argument, NULL, AHP_LINT_OPT_BASE + 2},         \
    {"orphan", required_argument, NULL, AHP_LINT_OPT_BASE + 3},                \
    {"leak-slope", required_argument, NULL, AHP_LINT_OPT_BASE + 4},            \
    {"self-retrigger", required_argument, NULL, AHP_LINT_OPT_BASE + 5},        \
    {"self-retrigger-gap", required_argument, NULL, AHP_LINT_OPT_BASE + 6}
// clang-format on
#define AHP_LINT_OPTS 7
/* Apply option VAL (AHP_LINT_OPT_BASE + k) with ARG: 0, or -EINVAL with its name in *NAME. */
int ahp_lint_option(struct ahp_lint_opts *o, int val, const char *arg, const char **name);

/* A place where a lint fired: the resource, and what makes it a warning. */
struct ahp_lint_example {
    uint64_t id;
    uint32_t tid;
    uint32_t node;     /* the resource's trigger-tree node (its path); AHP_NODE_NONE if none */
    uint64_t at_ns;    /* when (monotonic) */
    uint64_t value_ns; /* never-ran, orphan: age; long-callback: duration; self-retrigger:
                        * mean time per link */
    uint64_t trigger_id;
    uint64_t chain; /* self-retrigger: links */
    int kind;       /* lifecycle: enum ahp_lifecycle_kind */
};

struct ahp_warning {
    int lint;
    int32_t cls;
    uint64_t count;
    double rate_per_s;            /* leak-slope: growth of the live count per second */
    int64_t grown;                /* leak-slope: by how much it grew over the window */
    uint64_t kinds[AHP_LC_KINDS]; /* lifecycle: count per anomaly */
    struct ahp_lint_example ex;
};

struct ahp_lints;

/* A lint engine for one model build: ahp_lints_hook() sets the model options' hooks (the
 * caller's on_* must be NULL); after ahp_model_build, ahp_lints_finish() computes the
 * warnings. */
int ahp_lints_new(struct ahp_lints **l, const struct ahp_lint_opts *o);
void ahp_lints_hook(struct ahp_lints *l, struct ahp_model_opts *mo);
int ahp_lints_finish(struct ahp_lints *l, const struct ahp_model *m);
/* The warnings not silenced by --allow, in lint order then most counted first. */
const struct ahp_warning *ahp_lints_warnings(const struct ahp_lints *l, uint32_t *n);
/* Lifecycle anomalies are not reported when events were lost (they would be ours). */
bool ahp_lints_lifecycle_suppressed(const struct ahp_lints *l);
void ahp_lints_free(struct ahp_lints *l);

/* The lints `top` can run live, from the in-kernel aggregates and the live table (no
 * per-resource events): long-callback from the duration histograms and the maximum (a lower
 * bound: callbacks in a log2 bucket that straddles T are not counted, unless one of them is
 * the maximum), with the type's blocking from the kernel view when it is there; leak-slope
 * from the active counts of the last AHP_LIVE_WINDOW updates; never-ran and orphan from one
 * scan of the live table per update (resources created since the attach only: the table
 * holds no other); self-retrigger from the type's count of resources created inside a
 * callback of their own type (ahp_type_stats.self_created) between two updates: at least
 * retrigger_chain of them, less than retrigger_gap_ns apart on average (a rate, not report's
 * chain: docs/lints.md); lifecycle's after-without-before and double destroy from the
 * in-kernel per-type counters (resources created since the attach only), not while events
 * are lost. */
#define AHP_LIVE_WINDOW 64
#define AHP_LIVE_REASONS 2

struct ahp_live_warning {
    int lint;
    int type;
    uint64_t count;    /* long-callback: at least this many since attach; leak-slope: 1;
                        * never-ran, orphan: resources of the type in that state now;
                        * self-retrigger: created inside their own type's callback over
                        * window_ns (the interval) */
    uint64_t max_ns;   /* long-callback: the longest since attach */
    double rate_per_s; /* leak-slope; self-retrigger: count per second */
    int64_t grown;     /* leak-slope: growth of the floor over the window */
    uint64_t window_ns;
    /* long-callback, with the kernel view: the type's callbacks' time blocked (off-CPU, not
     * runnable) since attach, their whole time, and the largest reasons (kernel view reason
     * numbers, most blocked first; nreasons 0 when the view saw none). */
    bool kernel;
    uint64_t blocked_ns, callback_ns;
    int nreasons;
    int reason[AHP_LIVE_REASONS];
    uint64_t reason_ns[AHP_LIVE_REASONS];
    /* never-ran, orphan: the example (the oldest): its id, age (never-ran) or time since its
     * trigger was seen gone (orphan), and its trigger */
    uint64_t id, age_ns, trigger_id;
    /* lifecycle: the anomalies since attach, per kind (destroy-while-running stays 0: the
     * in-kernel side does not judge it, docs/lints.md says why) */
    uint64_t kinds[AHP_LC_KINDS];
};

/* What the kernel view says of each type, for long-callback (lints stay kernel-agnostic). */
struct ahp_live_blocking {
    bool on; /* the kernel view runs: the figures below are meaningful */
    uint64_t blocked_ns[AHP_TYPE_MAX];
    int nreasons[AHP_TYPE_MAX];
    int reason[AHP_TYPE_MAX][AHP_LIVE_REASONS];
    uint64_t reason_ns[AHP_TYPE_MAX][AHP_LIVE_REASONS];
};

struct ahp_live_lints;
int ahp_live_lints_new(struct ahp_live_lints **l, const struct ahp_lint_opts *o);
void ahp_live_lints_free(struct ahp_live_lints *l);
/* Called by the scan for every live slot (id, type in range; the slot may change under it). */
typedef void (*ahp_live_visit_fn)(const volatile struct ahp_live *slot, uint64_t id, int32_t type,
                                  void *ctx);
/* The one scan of the live table (SLOTS slots, shared with BPF) of an update at T_NS: fills
 * OLDEST (oldest init per type) and TRACKED (live slots per type), hands each live slot to VISIT
 * (when not NULL: the console's resource view), and keeps what never-ran and orphan need (L may be
 * NULL: the rest only). So top reads the table once per refresh. */
void ahp_live_lints_scan(struct ahp_live_lints *l, const volatile struct ahp_live *table,
                         size_t slots, uint64_t t_ns, uint64_t oldest[AHP_TYPE_MAX],
                         uint64_t tracked[AHP_TYPE_MAX], ahp_live_visit_fn visit, void *ctx);
/* One update at T_NS with the cumulative per-type stats NOW, the active counts ACTIVE and
 * the raw type names NAMES (for --allow; "" when unknown). never-ran and orphan come from the
 * last ahp_live_lints_scan (none without one). Returns the warnings in *OUT (valid until the
 * next update). */
uint32_t ahp_live_lints_update(struct ahp_live_lints *l, uint64_t t_ns,
                               const struct ahp_type_stats *now, const int64_t *active,
                               const char (*names)[AHP_NAME_SIZE],
                               const struct ahp_live_warning **out);
/* The same with the kernel view's blocking BLOCK (NULL: none) joined to long-callback. */
uint32_t ahp_live_lints_update_kernel(struct ahp_live_lints *l, uint64_t t_ns,
                                      const struct ahp_type_stats *now, const int64_t *active,
                                      const char (*names)[AHP_NAME_SIZE],
                                      const struct ahp_live_blocking *block,
                                      const struct ahp_live_warning **out);

/* Whether events were lost since attach (the global lost_events): lifecycle anomalies are
 * then not judged live, as in report (a lost before or init would make one up). Call before
 * each update; while it says lost, the update gives no lifecycle warning. */
void ahp_live_lints_events_lost(struct ahp_live_lints *l, bool lost);
bool ahp_live_lints_lifecycle_judged(const struct ahp_live_lints *l);

/* leak-slope over N samples of a live count (VALUES at times TS_NS, oldest first): true when
 * the floor of each quarter of the window is above the previous one's and the floor grew by
 * at least MIN_GROWTH; *RATE is the growth per second, *GROWN the growth of the floor. */
bool ahp_lint_slope(const int64_t *values, const uint64_t *ts_ns, uint32_t n, uint64_t min_growth,
                    double *rate, int64_t *grown);
#define AHP_LINT_SLOPE_MIN_SAMPLES 8

#endif
