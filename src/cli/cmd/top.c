/*
 * top.c - `ahprof top`: live per-type statistics of a process's async resources, refreshed
 * every interval (libbpf-tools conventions: [interval] [count], -C, -p).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/json_writer.h"
#include "data/recording.h"
#include "collect/kernel.h"
#include "collect/session.h"
#include "cmd/top.h"
#include "cmd/top_console.h"
#include "cmd/top_lints.h"
#include "cmd/top_serve.h"
#include "common/util.h"
#include "model/lints.h"

static const char top_usage[] =
    "Usage: ahprof top [OPTIONS] [INTERVAL [COUNT]] (-p PID [-p PID...] | -- COMMAND [ARGS...])\n"
    "\n"
    "Live statistics of the async resources of a program that uses libah, per type,\n"
    "every INTERVAL seconds (default 1), COUNT times (default: until the program exits\n"
    "or Ctrl-C).\n"
    "\n"
    "  -p, --pid PID       attach to a running process; again for more processes (up to\n"
    "                      16): one block (or JSON object) per process and interval, until\n"
    "                      the last one exits\n"
    "  -- COMMAND ARGS     launch COMMAND and attach before its first event\n"
    "                      (if ahprof stops first, it stops COMMAND with SIGTERM);\n"
    "                      COMMAND's standard output goes to standard error\n"
    "      --uv            launch COMMAND with libah-uv.so preloaded: an unmodified\n"
    "                      libuv program's handles and requests become async resources\n"
    "                      (docs/libuv.md); also for its children, which inherit it\n"
    "  -b, --batch         print every interval as text, as when stdout is no terminal\n"
    "                      (on a terminal, top is otherwise an interactive console: its\n"
    "                      keys are listed at its bottom; q quits)\n"
    "  -C, --noclear       do not clear the screen between intervals (implies -b)\n"
    "  -j, --json          one JSON object per interval (NDJSON) on stdout\n"
    "  -n, --top N         show the N busiest types (default 30)\n"
    "      --allow LINT[:TYPE]   silence a warning (on one type only with :TYPE)\n"
    "      --long-callback T     long-callback threshold (default 100ms)\n"
    "      --never-ran T         never-ran threshold (default 10s)\n"
    "      --orphan T            orphan threshold (default 10s)\n"
    "      --leak-slope N        leak-slope: growth of the live count that counts (default 100)\n"
    "      --self-retrigger N    self-retrigger: at least N per interval (default 1000)\n"
    "      --self-retrigger-gap G   self-retrigger: less than G apart on average (default 5us)\n"
    "      --max-live N    slots of the table of live resources kept for ages\n"
    "                      (default 262144, rounded up to a power of two)\n"
    "      --buffer MIB    the BPF ring buffer that carries the events to ahprof, in MiB, a\n"
    "                      power of two up to 2048 (default 64, shared by several -p: 8 at\n"
    "                      least each): ahprof aggregates them; what finds it full is\n"
    "                      counted in lost (the counts stay exact, not the callback times)\n"
    "      --per-event     trace one probe per event (ah:init, ah:before, ...) instead of\n"
    "                      the batch probe: ~50x the cost per event, for comparison\n"
    "      --serve ADDR:PORT  serve /metrics in the Prometheus text format while top runs\n"
    "                      (PORT or :PORT alone: 127.0.0.1 only; 0.0.0.0:PORT or [::]:PORT\n"
    "                      to be reached from elsewhere; port 0: any free one); says where\n"
    "                      on standard error once attached\n"
    "      --hz N          CPU samples per second for the CPU% column (default 99; 0: none)\n"
    "      --no-kernel     without the kernel's view (CPU%, BLOCKms, BLOCK%: see below)\n"
    "  -h, --help          this help\n"
    "\n"
    "The screen, every interval:\n"
    "  HH:MM:SS  pid PID (COMM)  libah LIBRARY   the target and the libah it uses\n"
    "  events/s     events (init, before, after, destroy, resolve) per second over the\n"
    "               interval\n"
    "  lost         events lost since ahprof attached: no room in the ring buffer, records\n"
    "               the target wrote malformed, or batches that could not be read from its\n"
    "               memory; counted, never hidden\n"
    "  unmatched-after N   (when not 0) callbacks whose end was seen without their start,\n"
    "               because ahprof attached while they ran: their time is not counted\n"
    "  malformed from the target: N batches, N records   (when not 0) what the target\n"
    "               wrote that libah never would (another libah version, or memory the\n"
    "               program overwrote): dropped, and counted in lost\n"
    "Columns, per type, busiest first (exclusive callback time, then callbacks):\n"
    "  TYPE         the type's name, as the program registered it\n"
    "  ACTIVE       resources alive now (including those created before ahprof attached)\n"
    "  CREATED/s, DESTROYED/s, CALLBACKS/s   per second over the interval\n"
    "  CB%          share of all exclusive callback time (minus nested callbacks) in the\n"
    "               interval\n"
    "  CPU%         CPU time of the type's callbacks over the interval, from samples at --hz\n"
    "               (100 = one CPU; an estimate, +-1/sqrt(samples))\n"
    "  BLOCKms      time the type's callbacks spent off-CPU and not runnable (blocked in a\n"
    "               system call or a fault) in the interval, ms; waiting outside any callback\n"
    "               (an idle event loop) is not blocking\n"
    "  BLOCK%       BLOCKms over the type's callback time in the interval\n"
    "  P50us, P99us callback duration percentiles (inclusive, us, from log2 buckets) over\n"
    "               the interval\n"
    "  MAXus        the longest callback since attach (us)\n"
    "  PEND50, PEND99   pending time percentiles (ms, from log2 buckets) since attach: from\n"
    "               a resource's init to its first callback, for resources created since\n"
    "               the attach that have run ('-' when none)\n"
    "  OLDEST       age of the oldest active resource ('>' when it predates the attach:\n"
    "               then it is at least the time since the attach; '-' when none)\n"
    "  ... N more types (-n)   the types beyond --top\n"
    "WARNINGS (docs/lints.md), the lints top can judge live from its aggregates:\n"
    "  long-callback   TYPE: at least N callbacks longer than --long-callback T since attach,\n"
    "                  and the longest; with the kernel view, the type's callbacks' blocked\n"
    "                  time since attach, its share, and what they were blocked in\n"
    "  leak-slope      TYPE: the active count kept growing over the last up to 64 intervals\n"
    "                  (at least 8): by how much, and the rate per second\n"
    "  never-ran       TYPE: N alive with no callback yet, older than --never-ran T, in a type\n"
    "                  that has run since attach; the oldest\n"
    "  orphan          TYPE: N alive and idle more than --orphan T after their trigger ended\n"
    "                  (a trigger one interval saw alive and a later one did not)\n"
    "  self-retrigger  TYPE: over the interval, N resources of the type were created while\n"
    "                  a callback of the same type was the innermost one running on their\n"
    "                  thread, N >= --self-retrigger, and the interval / N is below\n"
    "                  --self-retrigger-gap: a busy loop of 0 ms timers; with N per\n"
    "                  second. A rate per type, not report's chain: many chains, or one\n"
    "                  callback creating many of its own type, add up here; judged from\n"
    "                  the second interval on\n"
    "  lifecycle       TYPE: N since attach: A after-without-before, D double-destroy (an\n"
    "                  after with no before on its thread; a second destroy of one whose\n"
    "                  init and destroy were seen); not judged while events are lost\n"
    "  never-ran, orphan and lifecycle judge only resources created since the attach (the\n"
    "  live table holds no other) and orphan only triggers that outlived an interval;\n"
    "  lifecycle's destroy while the callback runs on another thread needs each\n"
    "  resource's events in order: record and report (docs/lints.md)\n"
    "  outside callbacks CPU% X   untagged CPU% Y   (kernel view) samples of libah threads\n"
    "               outside any callback, and of threads libah does not know or whose state\n"
    "               could not be read (read errors, malformed: counted in --json)\n"
    "With --json, one object per line and interval: time_ns (CLOCK_MONOTONIC), interval_ns,\n"
    "pid, comm, final (true for the last one), events (since attach), events_per_s,\n"
    "lost_events, unmatched_after, malformed_batches, malformed_records (as above),\n"
    "live_untracked (resources whose slot in the table of live resources, --max-live, was\n"
    "taken, by another live one or by a recent destroy still waiting for its init: their\n"
    "ages are unknown), live_destroys_forgotten (destroys seen before their init that the\n"
    "collector could not remember, as it keeps at most 65536 for 10 s: their resources, if\n"
    "their init comes, show alive), and types, each with name, type_id, active, created,\n"
    "destroyed, resolved, self_created, callbacks, callback_ns, exclusive_ns (totals since\n"
    "attach; self_created: created inside a callback of their own type),\n"
    "created_per_s, destroyed_per_s, callbacks_per_s, callback_share_pct, p50_us, p99_us\n"
    "(over the interval), max_us, oldest_active_s, oldest_before_attach, pending_count,\n"
    "pending_p50_ns and pending_p99_ns (since attach, from log2 buckets); with the kernel\n"
    "view also cpu_samples, blocked_ns, blocked_count, preempted_ns (totals since attach),\n"
    "runq_p50_ns, runq_p99_ns (since attach, log2 bucket bounds), cpu_pct and blocked_pct\n"
    "(over the interval), and at the top level \"kernel\": hz, samples, outside_cpu_pct,\n"
    "untagged_cpu_pct, read_errors, malformed, stack_errors, switches_lost\n"
    "(docs/kernel-view.md); and\n"
    "warnings, each with lint, type, type_id, count and example (long-callback: max_ns, and\n"
    "with the kernel view blocked_ns, blocked_pct, blocked_reason, blocked_reasons;\n"
    "leak-slope: grown,\n"
    "rate_per_s, window_ns; never-ran: id, age_ns, trigger_id; orphan: id, trigger_id,\n"
    "orphaned_ns; self-retrigger: rate_per_s, window_ns, gap_ns = window_ns / count;\n"
    "lifecycle: kinds, counts per anomaly as report's, next to count, and an empty\n"
    "example), after lifecycle_judged (false while events are lost).\n"
    "With --serve, /metrics has, labelled pid and comm (and type): ahprof_target_running\n"
    "(gauge, 0 once the target exited: its series then keep their last values),\n"
    "ahprof_events_total, ahprof_lost_events_total, ahprof_unmatched_after_total,\n"
    "ahprof_malformed_batches_total, ahprof_malformed_records_total; per type\n"
    "ahprof_live_resources (gauge), ahprof_resources_created_total, _destroyed_total,\n"
    "_resolved_total, ahprof_callbacks_total, ahprof_callback_exclusive_seconds_total and\n"
    "the histogram ahprof_callback_duration_seconds (log2 buckets, callbacks whose start\n"
    "and end were seen). Counters count since ahprof attached: a restarted target is a new\n"
    "pid, hence new series, and no series ever goes down.\n"
    "Memory: the ring buffer (--buffer), mapped twice, the live table (--max-live x 48\n"
    "bytes, 12 MiB by default) and 1 MiB for destroys seen before their init (once one\n"
    "is) per target, whatever the event rate.\n"
    "Requires root (see `ahprof --help` for file capabilities).\n";

static double hist_estimate(const __u64 *hist, double p);

/* The interval goes to poll() as int ms. */
#define AHP_INTERVAL_MIN_NS 10000000ull
#define AHP_INTERVAL_MAX_NS 86400000000000ull

struct type_row {
    int type;
    char name[AHP_NAME_SIZE];
    int64_t active;
    struct ahp_type_stats now;     /* cumulative */
    struct ahp_type_stats diff;    /* this interval */
    struct ahp_kernel_stats know;  /* kernel view, cumulative */
    struct ahp_kernel_stats kdiff; /* this interval */
    double oldest_s;
    bool oldest_before_attach;
};

/* A percentile of a log2 histogram, interpolated inside its bucket, in ns, never above
 * MAX_NS (the largest value really seen). */
static double hist_percentile(const __u64 *hist, double p, __u64 max_ns)
{
    double v = hist_estimate(hist, p);
    return max_ns && v > (double)max_ns ? (double)max_ns : v;
}

static double hist_estimate(const __u64 *hist, double p)
{
    __u64 total = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    double want = p * (double)total, seen = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++) {
        if (hist[i] == 0)
            continue;
        if (seen + (double)hist[i] >= want) {
            double lo = i == 0 ? 0 : ldexp(1.0, i), hi = ldexp(1.0, i + 1);
            return lo + (hi - lo) * ((want - seen) / (double)hist[i]);
        }
        seen += (double)hist[i];
    }
    return ldexp(1.0, AHP_HIST_SLOTS);
}

/* Resources whose pending time was measured (each counted once, at its first callback). */
static uint64_t pending_count(const struct ahp_type_stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        n += s->pending_hist[i];
    return n;
}

static int compare_rows(const void *a, const void *b)
{
    const struct type_row *x = a, *y = b;
    /* Busiest first: exclusive time, then callbacks, then active; never subtract u64s. */
    if (x->diff.exclusive_ns != y->diff.exclusive_ns)
        return x->diff.exclusive_ns < y->diff.exclusive_ns ? 1 : -1;
    if (x->diff.callbacks != y->diff.callbacks)
        return x->diff.callbacks < y->diff.callbacks ? 1 : -1;
    if (x->active != y->active)
        return x->active < y->active ? 1 : -1;
    return x->type - y->type;
}

struct top_state {
    struct ahp_session session;
    struct ahp_kernel_view *kv; /* NULL: no kernel view */
    uint32_t hz;
    struct ahp_kernel_stats kprev[AHP_KSLOTS];
    struct ahp_type_stats prev[AHP_TYPE_MAX];
    struct ahp_global_stats prev_global;
    uint64_t prev_ns;
    bool json, clear;
    int max_rows;
    struct ahp_lint_opts lint;
    struct ahp_live_lints *live;
};

static void text_live_warnings(const struct ahp_live_warning *lw, uint32_t n,
                               const char (*names)[AHP_NAME_SIZE])
{
    if (n == 0)
        return;
    printf("WARNINGS (docs/lints.md)\n");
    for (uint32_t i = 0; i < n; i++) {
        char name[AHP_NAME_SIZE * 4 + 1], text[512];
        ahp_term_sanitize(name, 25, names[lw[i].type], AHP_NAME_SIZE);
        ahp_top_lint_text(&lw[i], text, sizeof(text));
        printf("%-15s %-24s %s\n", ahp_lint_name(lw[i].lint), name, text);
    }
}

/* The kernel view's counters of one slot over the interval (totals since attach: NOW - PREV). */
static void kernel_diff(struct ahp_kernel_stats *d, const struct ahp_kernel_stats *now,
                        const struct ahp_kernel_stats *prev)
{
    d->cpu_samples = now->cpu_samples - prev->cpu_samples;
    d->blocked_ns = now->blocked_ns - prev->blocked_ns;
    d->blocked_count = now->blocked_count - prev->blocked_count;
    d->runq_ns = now->runq_ns - prev->runq_ns;
    d->preempted_ns = now->preempted_ns - prev->preempted_ns;
    d->preempted_count = now->preempted_count - prev->preempted_count;
}

static double cpu_pct(const struct top_state *st, uint64_t samples, double secs)
{
    return st->hz ? 100.0 * (double)samples / (double)st->hz / secs : 0.0;
}

/* Blocked time over callback time: a callback's off-CPU time is part of its duration. */
static double blocked_pct(const struct type_row *r)
{
    return r->diff.callback_ns ? 100.0 * (double)r->kdiff.blocked_ns / (double)r->diff.callback_ns
                               : 0.0;
}

static void print_interval(struct top_state *st, bool final)
{
    static struct ahp_kernel_stats know[AHP_KSLOTS];
    struct ahp_kernel_globals kg;
    memset(&kg, 0, sizeof(kg));
    static struct ahp_type_stats now[AHP_TYPE_MAX];
    static struct type_row rows[AHP_TYPE_MAX];
    static char names[AHP_TYPE_MAX][AHP_NAME_SIZE];
    int64_t active[AHP_TYPE_MAX];
    uint64_t oldest[AHP_TYPE_MAX], tracked[AHP_TYPE_MAX];
    struct ahp_global_stats g;
    struct ahp_collector *c = &st->session.collector;
    struct ahp_target *t = &st->session.target;

    /* Shared by the targets of one top: only this one's names. */
    memset(names, 0, sizeof(names));
    uint64_t t_ns = ahp_now_ns();
    double secs = (double)(t_ns - st->prev_ns) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    ahp_collector_type_stats(c, now);
    ahp_collector_global_stats(c, &g);
    ahp_collector_active(c, now, active);
    bool ages = ahp_top_live_scan(st->live, c, t_ns, oldest, tracked, NULL, NULL);
    if (st->kv == NULL || ahp_kernel_stats(st->kv, know) < 0 || ahp_kernel_globals(st->kv, &kg) < 0)
        memset(know, 0, sizeof(know));

    int nrows = 0;
    uint64_t total_exclusive = 0;
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        /* A callback that runs since before the attach shows in samples only. */
        bool seen = now[i].created || now[i].destroyed || now[i].callbacks || active[i] ||
                    now[i].resolved || know[i].cpu_samples || know[i].blocked_count;
        if (!seen)
            continue;
        struct type_row *r = &rows[nrows++];
        memset(r, 0, sizeof(*r));
        r->type = i;
        ahp_collector_type_name(c, t, i, r->name);
        memcpy(names[i], r->name, AHP_NAME_SIZE);
        r->active = active[i];
        r->now = now[i];
        struct ahp_type_stats *p = &st->prev[i], *d = &r->diff;
        d->created = now[i].created - p->created;
        d->destroyed = now[i].destroyed - p->destroyed;
        d->resolved = now[i].resolved - p->resolved;
        d->callbacks = now[i].callbacks - p->callbacks;
        d->callback_ns = now[i].callback_ns - p->callback_ns;
        d->exclusive_ns = now[i].exclusive_ns - p->exclusive_ns;
        for (int k = 0; k < AHP_HIST_SLOTS; k++)
            d->hist[k] = now[i].hist[k] - p->hist[k];
        total_exclusive += d->exclusive_ns;
        r->know = know[i];
        kernel_diff(&r->kdiff, &know[i], &st->kprev[i]);
        r->oldest_s = -1;
        if (ages && active[i] > 0) {
            if ((int64_t)tracked[i] < active[i]) {
                r->oldest_before_attach = true;
                r->oldest_s = (double)(t_ns - c->attach_ns) / 1e9;
            } else if (oldest[i] != UINT64_MAX && oldest[i] <= t_ns) {
                r->oldest_s = (double)(t_ns - oldest[i]) / 1e9;
            }
        }
    }
    qsort(rows, (size_t)nrows, sizeof(rows[0]), compare_rows);
    const struct ahp_live_warning *lw = NULL;
    static struct ahp_live_blocking block;
    ahp_top_blocking(st->kv, know, &block);
    if (st->live)
        ahp_live_lints_events_lost(st->live, g.lost_events > 0);
    uint32_t nlw =
        st->live ? ahp_live_lints_update_kernel(st->live, t_ns, now, active, names, &block, &lw)
                 : 0;
    uint64_t events = g.events - st->prev_global.events;

    if (st->json) {
        struct ahp_json jw, *w = &jw;
        ahp_json_init(w, stdout, AHP_JSON_SPACED);
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "time_ns", t_ns);
        ahp_json_field_u64(w, "interval_ns", t_ns - st->prev_ns);
        ahp_json_field_i64(w, "pid", t->pid);
        ahp_json_field_strn(w, "comm", t->comm, sizeof(t->comm));
        ahp_json_field_bool(w, "final", final);
        ahp_json_field_u64(w, "events", g.events);
        ahp_json_field_real(w, "events_per_s", (double)events / secs, 1);
        ahp_json_field_u64(w, "lost_events", g.lost_events);
        ahp_json_field_u64(w, "unmatched_after", g.unmatched_after);
        ahp_json_field_u64(w, "live_untracked", g.live_untracked);
        ahp_json_field_u64(w, "live_destroys_forgotten", g.live_destroys_forgotten);
        ahp_json_field_u64(w, "malformed_batches", g.batch_malformed);
        ahp_json_field_u64(w, "malformed_records", g.records_malformed);
        if (st->kv) {
            struct ahp_kernel_stats outside, untagged;
            kernel_diff(&outside, &know[AHP_KSLOT_OUTSIDE], &st->kprev[AHP_KSLOT_OUTSIDE]);
            kernel_diff(&untagged, &know[AHP_KSLOT_UNTAGGED], &st->kprev[AHP_KSLOT_UNTAGGED]);
            ahp_json_key(w, "kernel");
            ahp_json_object_begin(w);
            ahp_json_field_u64(w, "hz", st->hz);
            ahp_json_field_u64(w, "samples", kg.samples);
            ahp_json_field_real(w, "outside_cpu_pct", cpu_pct(st, outside.cpu_samples, secs), 1);
            ahp_json_field_real(w, "untagged_cpu_pct", cpu_pct(st, untagged.cpu_samples, secs), 1);
            ahp_json_field_u64(w, "read_errors", kg.read_errors);
            ahp_json_field_u64(w, "malformed", kg.malformed);
            ahp_json_field_u64(w, "stack_errors", kg.stack_errors);
            ahp_json_field_u64(w, "switches_lost", kg.switches_lost);
            ahp_json_object_end(w);
        }
        ahp_json_key(w, "types");
        ahp_json_array_begin(w);
        for (int i = 0; i < nrows; i++) {
            struct type_row *r = &rows[i];
            ahp_json_object_begin(w);
            ahp_json_field_strn(w, "name", r->name, sizeof(r->name));
            ahp_json_field_i64(w, "type_id", r->type);
            ahp_json_field_i64(w, "active", r->active);
            ahp_json_field_u64(w, "created", r->now.created);
            ahp_json_field_u64(w, "destroyed", r->now.destroyed);
            ahp_json_field_u64(w, "resolved", r->now.resolved);
            ahp_json_field_u64(w, "self_created", r->now.self_created);
            ahp_json_field_u64(w, "callbacks", r->now.callbacks);
            ahp_json_field_u64(w, "callback_ns", r->now.callback_ns);
            ahp_json_field_u64(w, "exclusive_ns", r->now.exclusive_ns);
            ahp_json_field_real(w, "created_per_s", (double)r->diff.created / secs, 1);
            ahp_json_field_real(w, "destroyed_per_s", (double)r->diff.destroyed / secs, 1);
            ahp_json_field_real(w, "callbacks_per_s", (double)r->diff.callbacks / secs, 1);
            ahp_json_field_real(w, "callback_share_pct",
                                total_exclusive
                                    ? 100.0 * (double)r->diff.exclusive_ns / (double)total_exclusive
                                    : 0.0,
                                2);
            ahp_json_field_real(w, "p50_us",
                                hist_percentile(r->diff.hist, 0.50, r->now.max_ns) / 1e3, 3);
            ahp_json_field_real(w, "p99_us",
                                hist_percentile(r->diff.hist, 0.99, r->now.max_ns) / 1e3, 3);
            ahp_json_field_real(w, "max_us", (double)r->now.max_ns / 1e3, 3);
            ahp_json_field_real(w, "oldest_active_s", r->oldest_s < 0 ? 0.0 : r->oldest_s, 3);
            ahp_json_field_bool(w, "oldest_before_attach", r->oldest_before_attach);
            ahp_json_field_u64(w, "pending_count", pending_count(&r->now));
            ahp_json_field_u64(w, "pending_p50_ns",
                               (uint64_t)ahp_top_hist_percentile(r->now.pending_hist, 0.50, 0));
            ahp_json_field_u64(w, "pending_p99_ns",
                               (uint64_t)ahp_top_hist_percentile(r->now.pending_hist, 0.99, 0));
            if (st->kv) {
                ahp_json_field_u64(w, "cpu_samples", r->know.cpu_samples);
                ahp_json_field_real(w, "cpu_pct", cpu_pct(st, r->kdiff.cpu_samples, secs), 1);
                ahp_json_field_u64(w, "blocked_ns", r->know.blocked_ns);
                ahp_json_field_u64(w, "blocked_count", r->know.blocked_count);
                ahp_json_field_real(w, "blocked_pct", blocked_pct(r), 1);
                ahp_json_field_u64(w, "preempted_ns", r->know.preempted_ns);
                ahp_json_field_u64(w, "runq_p50_ns", ahp_kernel_runq_percentile(&r->know, 500));
                ahp_json_field_u64(w, "runq_p99_ns", ahp_kernel_runq_percentile(&r->know, 990));
            }
            ahp_json_object_end(w);
        }
        ahp_json_array_end(w);
        if (st->live)
            ahp_json_field_bool(w, "lifecycle_judged", ahp_live_lints_lifecycle_judged(st->live));
        ahp_top_lints_json(w, lw, nlw, names);
        ahp_json_object_end(w);
    } else {
        if (st->clear)
            fputs("\033[H\033[2J", stdout);
        char comm[80], lib[512];
        ahp_term_sanitize(comm, sizeof(comm), t->comm, sizeof(t->comm));
        ahp_term_sanitize(lib, sizeof(lib), t->lib_display, sizeof(t->lib_display));
        time_t wall = time(NULL);
        struct tm tm;
        localtime_r(&wall, &tm);
        printf("%02d:%02d:%02d  pid %d (%s)  libah %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, t->pid,
               comm, lib);
        printf("events/s %.0f   lost %llu", (double)events / secs,
               (unsigned long long)g.lost_events);
        if (g.unmatched_after)
            printf("   unmatched-after %llu", (unsigned long long)g.unmatched_after);
        /* The target wrote what libah never would: say so, it explains the lost events. */
        if (g.batch_malformed || g.records_malformed)
            printf("   malformed from the target: %llu batches, %llu records",
                   (unsigned long long)g.batch_malformed, (unsigned long long)g.records_malformed);
        if (st->kv) {
            printf("   outside callbacks CPU%% %.1f   untagged CPU%% %.1f",
                   cpu_pct(st,
                           know[AHP_KSLOT_OUTSIDE].cpu_samples -
                               st->kprev[AHP_KSLOT_OUTSIDE].cpu_samples,
                           secs),
                   cpu_pct(st,
                           know[AHP_KSLOT_UNTAGGED].cpu_samples -
                               st->kprev[AHP_KSLOT_UNTAGGED].cpu_samples,
                           secs));
        }
        putchar('\n');
        printf("%-24s %9s %10s %11s %11s %6s", "TYPE", "ACTIVE", "CREATED/s", "DESTROYED/s",
               "CALLBACKS/s", "CB%");
        if (st->kv)
            printf(" %6s %9s %6s", "CPU%", "BLOCKms", "BLOCK%");
        printf(" %9s %9s %9s %8s %8s %9s\n", "P50us", "P99us", "MAXus", "PEND50", "PEND99",
               "OLDEST");
        for (int i = 0; i < nrows && i < st->max_rows; i++) {
            struct type_row *r = &rows[i];
            char name[AHP_NAME_SIZE * 4 + 1], oldest[32] = "-";
            ahp_term_sanitize(name, 25, r->name, sizeof(r->name));
            if (r->oldest_s >= 0)
                snprintf(oldest, sizeof(oldest), "%s%.1fs", r->oldest_before_attach ? ">" : "",
                         r->oldest_s);
            printf("%-24s %9lld %10.0f %11.0f %11.0f %6.1f", name, (long long)r->active,
                   (double)r->diff.created / secs, (double)r->diff.destroyed / secs,
                   (double)r->diff.callbacks / secs,
                   total_exclusive ? 100.0 * (double)r->diff.exclusive_ns / (double)total_exclusive
                                   : 0.0);
            if (st->kv)
                printf(" %6.1f %9.1f %6.1f", cpu_pct(st, r->kdiff.cpu_samples, secs),
                       (double)r->kdiff.blocked_ns / 1e6, blocked_pct(r));
            char pend50[32] = "-", pend99[32] = "-";
            if (pending_count(&r->now)) {
                snprintf(pend50, sizeof(pend50), "%.1f",
                         hist_percentile(r->now.pending_hist, 0.50, 0) / 1e6);
                snprintf(pend99, sizeof(pend99), "%.1f",
                         hist_percentile(r->now.pending_hist, 0.99, 0) / 1e6);
            }
            printf(" %9.1f %9.1f %9.1f %8s %8s %9s\n",
                   hist_percentile(r->diff.hist, 0.50, r->now.max_ns) / 1e3,
                   hist_percentile(r->diff.hist, 0.99, r->now.max_ns) / 1e3,
                   (double)r->now.max_ns / 1e3, pend50, pend99, oldest);
        }
        if (nrows > st->max_rows)
            printf("... %d more types (-n)\n", nrows - st->max_rows);
        text_live_warnings(lw, nlw, names);
        putchar('\n');
    }
    memcpy(st->prev, now, sizeof(now));
    memcpy(st->kprev, know, sizeof(know));
    st->prev_global = g;
    st->prev_ns = t_ns;
}

/* One interval, in slices of 100 ms at most: the kernel view learns the target's new threads
 * between them. Returns as ahp_session_wait. */
/* Wait one interval for every target, keeping each kernel view's list of threads fresh (it
 * learns the target's new threads from the registry) every 100 ms at most. */
static int wait_targets(struct top_serve *serve, struct top_state *const states[], int n,
                        uint64_t interval_ns)
{
    uint64_t deadline = ahp_now_ns() + interval_ns;
    for (;;) {
        uint64_t now = ahp_now_ns();
        if (now >= deadline || ahp_stop_requested)
            return 0;
        uint64_t left_ms = (deadline - now + 999999) / 1000000;
        int rc = top_serve_wait(serve, left_ms > 100 ? 100 : (int)left_ms);
        for (int i = 0; i < n; i++)
            if (states[i]->kv)
                ahp_kernel_poll(states[i]->kv, 0);
        if (rc != 0)
            return rc;
    }
}

/* Without the kernel view top still works: say why once and go on. */
static void start_kernel_view(struct top_state *st, long hz)
{
    struct ahp_kernel_opts kopts = {.hz = (uint32_t)hz};
    const char *what;
    int rc = ahp_kernel_start(&st->kv, &st->session.target, &kopts, NULL, NULL, &what);
    if (rc < 0)
        fprintf(stderr, "ahprof: no kernel view (CPU%%, BLOCK) for pid %d: cannot %s: %s\n",
                (int)st->session.target.pid, what, strerror(-rc));
    st->hz = (uint32_t)hz;
}

int ahprof_cmd_top(int argc, char **argv)
{
    static const struct option long_opts[] = {{"pid", required_argument, NULL, 'p'},
                                              {"noclear", no_argument, NULL, 'C'},
                                              {"json", no_argument, NULL, 'j'},
                                              {"top", required_argument, NULL, 'n'},
                                              {"max-live", required_argument, NULL, 'L'},
                                              {"buffer", required_argument, NULL, 'B'},
                                              {"per-event", no_argument, NULL, 'E'},
                                              {"uv", no_argument, NULL, 'U'},
                                              {"serve", required_argument, NULL, 'S'},
                                              {"hz", required_argument, NULL, 'Z'},
                                              {"no-kernel", no_argument, NULL, 'K'},
                                              {"help", no_argument, NULL, 'h'},
                                              {"batch", no_argument, NULL, 'b'},
                                              AHP_LINT_LONGOPTS,
                                              {NULL, 0, NULL, 0}};
    static struct top_state st;
    memset(&st, 0, sizeof(st));
    ahp_lint_opts_default(&st.lint);
    st.max_rows = 30;
    long max_live = 1 << 18;
    long buffer_mib = 0; /* 0: the default */
    const char *pid_args[AHP_TOP_MAX_TARGETS], *pid_arg = NULL, *serve_addr = NULL;
    int npids = 0;
    bool noclear = false, per_event = false, uv = false, batch = false, kernel = true;
    long hz = AHP_KERNEL_DEFAULT_HZ;
    int opt;
    optind = 1;
    opterr = 0; /* the errors are ours: one line, or JSON */
    char **cmd = ahp_split_command(argc, argv, &argc);
    st.json = ahp_wants_json(argc, argv, "-j");
    while ((opt = getopt_long(argc, argv, "p:Cbjn:h", long_opts, NULL)) != -1) {
        long v;
        switch (opt) {
        case 'p':
            if (npids == AHP_TOP_MAX_TARGETS)
                return ahp_fail(st.json, AHP_EXIT_USAGE, "at most %d -p", AHP_TOP_MAX_TARGETS);
            pid_arg = pid_args[npids++] = optarg;
            break;
        case 'S':
            serve_addr = optarg;
            break;
        case 'C':
            noclear = true;
            break;
        case 'b':
            batch = true;
            break;
        case 'j':
            st.json = true;
            break;
        case 'n':
            if (ahp_parse_long(optarg, 1, 100000, &v) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE, "invalid --top '%s'", optarg);
            st.max_rows = (int)v;
            break;
        case 'L':
            if (ahp_parse_long(optarg, 1024, 1L << 26, &max_live) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE, "invalid --max-live '%s'", optarg);
            break;
        case 'B':
            if (ahp_parse_buffer_mib(optarg, &buffer_mib) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE,
                                "invalid --buffer '%s': a power of two from 1 to %d", optarg,
                                AHP_BUFFER_MAX_MIB);
            break;
        case 'E':
            per_event = true;
            break;
        case 'U':
            uv = true;
            break;
        case 'Z':
            if (ahp_parse_long(optarg, 0, 10000, &hz) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE, "invalid --hz '%s': 0 to 10000", optarg);
            break;
        case 'K':
            kernel = false;
            break;
        case 'h':
            fputs(top_usage, stdout);
            return AHP_EXIT_OK;
        case AHP_LINT_OPT_BASE + 0 ... AHP_LINT_OPT_BASE + AHP_LINT_OPTS - 1: {
            const char *name = "?";
            if (ahp_lint_option(&st.lint, opt, optarg, &name) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE, "invalid --%s '%s' (see --help)", name,
                                optarg);
            break;
        }
        default:
            return ahp_bad_option(argc, argv, st.json, "pnLSZB", "top");
        }
    }
    uint64_t interval_ns = 1000000000ull;
    long count = -1;
    for (int positional = 0; optind < argc; positional++, optind++) {
        if (positional == 0) {
            if (ahp_parse_duration_ns(argv[optind], AHP_INTERVAL_MIN_NS, AHP_INTERVAL_MAX_NS,
                                      &interval_ns) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE,
                                "invalid interval '%s': from 10ms to 86400s (e.g. 2, 0.5, 250ms)",
                                argv[optind]);
        } else if (positional == 1) {
            if (ahp_parse_long(argv[optind], 1, 1L << 40, &count) < 0)
                return ahp_fail(st.json, AHP_EXIT_USAGE,
                                "invalid count '%s': a whole number of intervals from 1",
                                argv[optind]);
        } else {
            return ahp_fail(st.json, AHP_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
        }
    }
    if ((pid_arg == NULL) == (cmd == NULL))
        return ahp_fail(st.json, AHP_EXIT_USAGE,
                        "give either -p PID or -- COMMAND (see ahprof top --help)");
    if (uv && cmd == NULL)
        return ahp_fail(st.json, AHP_EXIT_USAGE,
                        "--uv launches a program: give -- COMMAND (a running one must have "
                        "been started with libah-uv.so preloaded; then -p PID alone)");
    pid_t pids[AHP_TOP_MAX_TARGETS];
    for (int i = 0; i < npids; i++) {
        int code = ahp_parse_pid(pid_args[i], &pids[i], st.json);
        if (code)
            return code;
        for (int k = 0; k < i; k++)
            if (pids[k] == pids[i])
                return ahp_fail(st.json, AHP_EXIT_USAGE, "-p %d given twice", pids[i]);
    }
    st.clear = !noclear && !st.json && isatty(STDOUT_FILENO);

    /* 64 MiB keeps up with a target raising 85 M events/s (docs/BENCHMARKS.md); several
     * targets share that, 8 MiB at least each. */
    if (buffer_mib == 0)
        for (buffer_mib = 64; buffer_mib > 8 && buffer_mib * (npids ? npids : 1) > 64;)
            buffer_mib /= 2;
    struct ahp_collector_opts opts = {
        .record = false,
        .track_live = true,
        .ringbuf_bytes = (uint32_t)(buffer_mib << 20),
        .max_live = (uint32_t)max_live,
        .wakeup_bytes = (uint64_t)(buffer_mib << 20) / 8,
        .per_event = per_event,
    };
    ahp_install_signal_handlers();
    st.session.json = st.json;
    /* The screen or the NDJSON is ahprof's alone: a launched program prints on stderr. */
    st.session.child_stdout_to_stderr = true;
    st.session.uv = uv;
    if (!batch && !noclear && !st.json && serve_addr == NULL && npids <= 1 && ahp_console_wanted())
        return ahp_console_top(&st.session, npids ? pids[0] : 0, cmd, &opts, interval_ns, count,
                               st.max_rows, &st.lint, kernel ? hz : -1);
    /* The first target is st; the other -p, each with its own state, print after it. */
    static struct top_serve serve;
    struct top_state *states[AHP_TOP_MAX_TARGETS] = {&st};
    bool done[AHP_TOP_MAX_TARGETS] = {false};
    int ntargets = 1;
    int code = top_serve_open(&serve, serve_addr, st.json);
    for (int i = 0; code == 0 && i < (npids ? npids : 1); i++) {
        if (i > 0) {
            states[i] = calloc(1, sizeof(st));
            if (states[i] == NULL) {
                code = ahp_fail(st.json, AHP_EXIT_ERROR, "out of memory");
                break;
            }
            ntargets++;
            *states[i] =
                (struct top_state){.json = st.json, .max_rows = st.max_rows, .lint = st.lint};
            states[i]->session.json = st.json;
        }
        code = ahp_session_open(&states[i]->session, npids ? pids[i] : 0, cmd, &opts, NULL, NULL);
        if (code == 0) {
            states[i]->prev_ns = states[i]->session.collector.attach_ns;
            /* No memory for warnings: the table still works without them. */
            if (ahp_live_lints_new(&states[i]->live, &states[i]->lint) < 0)
                states[i]->live = NULL;
            if (kernel)
                start_kernel_view(states[i], hz);
            top_serve_add(&serve, &states[i]->session, states[i]->kv);
        }
    }
    if (code == 0) {
        top_serve_started(&serve);
        for (long n = 0; count < 0 || n < count; n++) {
            int rc = wait_targets(&serve, states, ntargets, interval_ns);
            bool end = rc != 0 || ahp_stop_requested || (count > 0 && n + 1 == count);
            for (int i = 0; i < ntargets; i++) {
                if (done[i])
                    continue;
                done[i] = end || states[i]->session.target_exited;
                print_interval(states[i], done[i]);
            }
            /* Nobody reads what follows (a full disk, a closed pipe): main says which. */
            if (end || ahp_stdout_flush() < 0)
                break;
        }
    }
    top_serve_close(&serve);
    for (int i = ntargets - 1; i >= 0; i--) {
        if (states[i]->kv)
            ahp_kernel_stop(states[i]->kv);
        ahp_session_close(&states[i]->session);
        ahp_live_lints_free(states[i]->live);
        states[i]->live = NULL;
        if (i > 0)
            free(states[i]);
    }
    return code;
}

double ahp_top_hist_percentile(const __u64 *hist, double p, __u64 max_ns)
{
    return hist_percentile(hist, p, max_ns);
}
