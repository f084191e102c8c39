/*
 * report.c - `ahprof report [FILE] [--json] [--top N]`.
 *
 * Everything printed that came from the file (type names, target path, comm, host) is
 * untrusted: it goes through ahp_term_sanitize() on a terminal and the JSON writer in JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data/datafile.h"
#include "common/escape.h"
#include "common/json_writer.h"
#include "model/lints.h"
#include "model/model.h"
#include "data/recording.h"
#include "cmd/report.h"
#include "common/util.h"

#define TOP_DEFAULT 20
#define TREE_LINES_MAX 1000
#define SAFE_NAME (AHP_NAME_SIZE * 4 + 1)

static const char usage_text[] =
    "Usage: ahprof report [FILE] [--json] [--top N] [--allow LINT[:TYPE]] [LINT THRESHOLDS]\n"
    "\n"
    "Print what a recording made by `ahprof record` says. FILE defaults to " AHP_FILE_DEFAULT ";\n"
    "- reads it from standard input (a pipe is copied to a temporary file first).\n"
    "\n"
    "The header:\n"
    "  target:      the program recorded, its pid and comm\n"
    "  recorded:    when (UTC), on which host, by which ahprof, in which file format\n"
    "  duration:    from the start of the recording to its end\n"
    "  events:      events in the file (init, before, after, destroy, resolve)\n"
    "  lost events: events that never reached the file (no room in the ring buffer, records\n"
    "               the target wrote malformed, unreadable batches): the tables then come\n"
    "               from fewer events, and EXACT COUNTS has the true totals\n"
    "  resent:      (when not 0) records the collector was handed twice and wrote once\n"
    "               (a bug of ahprof's hand-over: please report it)\n"
    "  file:        complete, or TRUNCATED (the recording did not end cleanly)\n"
    "  exec:        the target ran exec(PATH) at +S s: the recording stopped there\n"
    "  ended:       how the target ended (exited with status N, killed by SIGNAL) and when\n"
    "  damaged:     chunks skipped because their checksum or format was wrong\n"
    "  anomalies:   (when not 0) afters without their before (the recording started inside\n"
    "               a callback), callbacks never closed, resources initialised twice, unknown\n"
    "               events, and callbacks nested deeper than ahprof follows\n"
    "\n"
    "WARNINGS (when a lint fires; docs/lints.md): LINT on TYPE, how many, and one example\n"
    "  with its id and trigger path:\n"
    "  never-ran       created, never given a callback, alive longer than --never-ran T\n"
    "  leak-slope      the type's live count kept growing over the recording (rate per s)\n"
    "  long-callback   a callback longer than --long-callback T\n"
    "  self-retrigger  a chain of resources of one type, each created in the callback of the\n"
    "                  one before, with no pause between (busy 0 ms timers): at least\n"
    "                  --self-retrigger N links, under --self-retrigger-gap T each on average\n"
    "  orphan          alive longer than --orphan T after its trigger was destroyed\n"
    "  lifecycle       after without before, double destroy, destroy while the callback runs\n"
    "                  on another thread\n"
    "                  (not judged when events were lost or written late, out of their\n"
    "                  order: the loss or the order would make them up)\n"
    "\n"
    "TYPES, per type, most callback time first:\n"
    "  TYPE CREATED DESTROYED    resources created and destroyed during the recording\n"
    "  ACTIVE       alive at the end (including those alive when ahprof attached)\n"
    "  CALLBACKS    callbacks run\n"
    "  CB_TOTAL_MS  callback time, inclusive of the callbacks nested in them (ms)\n"
    "  CB_EXCL_MS   exclusive callback time: minus the callbacks nested in them on the same\n"
    "               thread (ms)\n"
    "  P50_US P99_US MAX_US      callback duration percentiles and maximum (us)\n"
    "PENDING (init to first callback), per type, of the resources created during the\n"
    "  recording that ran: COUNT, P50_MS, P99_MS, MAX_MS (percentiles from a log-linear\n"
    "  histogram, within 3%)\n"
    "KERNEL (only for a recording made with `record --cpu`; docs/kernel-view.md), per type:\n"
    "  CPU_SAMPLES  CPU samples taken while its callbacks ran; CPU_MS = samples / HZ\n"
    "  BLOCKED_MS BLOCKED_N   time off-CPU inside its callbacks while the thread waited (a\n"
    "               system call, a fault; not preemption), and how many episodes\n"
    "  RUNQ_N RUNQ50_US RUNQ99_US   (recordings with the kernel view's aggregates, KSTATS)\n"
    "               run-queue waits of its threads, wakeup (or preemption) to running, and\n"
    "               their p50 and p99 (upper bounds of log2 buckets, so within 2x; us)\n"
    "  also (outside callbacks) and (untagged) (a thread whose libah state was unreadable),\n"
    "  and the kernel records lost (no room in the kernel view's ring buffer)\n"
    "LONGEST-BLOCKING CALLBACKS (record --cpu): the --top-blocking N (default 10) callbacks\n"
    "  that blocked longest: BLOCKED_MS, EPISODES, REASON (of the longest episode), TYPE,\n"
    "  id, thread and trigger path, and (record --cpu --stacks) the top user frames where it\n"
    "  blocked\n"
    "EXACT COUNTS (only when events were lost): the in-kernel per-type counters, exact\n"
    "  whatever was lost: CREATED, DESTROYED, ACTIVE, CALLBACKS, CB_TOTAL_MS as above.\n"
    "TRIGGER TREE (by type path): which type of resource created which (e.g. (root) >\n"
    "  TCPSERVER > TCPCONN > REQ > TIMER). (root) is the program's bootstrap execution;\n"
    "  resources whose creator was never seen (it existed before the recording) hang under\n"
    "  (before attach). A type that repeats on its own path, such as a timer that re-arms\n"
    "  itself, is folded into its first occurrence (\"N folded\" counts them).\n"
    "  PATH         the type path, indented by depth\n"
    "  CREATED CALLBACKS CB_TOTAL_MS CB_EXCL_MS   as in TYPES, for the resources on this path\n"
    "  ALIVE        of them, alive at the end\n"
    "ALIVE AT END: resources still alive at the end (leak candidates), grouped by type path,\n"
    "  largest groups first. Resources that were alive when ahprof attached and never seen\n"
    "  since are counted from the attach snapshot.\n"
    "  COUNT        resources in the group\n"
    "  OLDEST_AGE   age of the oldest at the end (\"before attach\": it predates the recording)\n"
    "  TYPE, TRIGGER PATH        their type, and the type path of their creators\n"
    "UNKNOWN AT END (only when events were lost): resources not seen destroyed whose destroy\n"
    "  may have been among the lost events (created before the last loss): unknown (events\n"
    "  lost), never counted as alive, grouped like ALIVE AT END.\n"
    "OPEN CALLBACKS AT END (entered, never left; when the target ended inside them, that is\n"
    "  where it died):\n"
    "  TID DEPTH    the thread, and the nesting depth of the callback on it (1 = outermost)\n"
    "  RUNNING_FOR  from its start to the target's end (or the recording's)\n"
    "  TYPE, TRIGGER PATH        the resource's type and the type path of its creators\n"
    "\n"
    "Options:\n"
    "  -i, --input FILE  the recording to read (same as the FILE argument)\n"
    "  -j, --json        print one JSON document instead (keys: docs/file-format.md), and\n"
    "                    errors as one {\"error\": \"...\"} object\n"
    "  -n, --top N       at most N alive groups and N children per tree node (default 20)\n"
    "      --top-blocking N  at most N longest-blocking callbacks (default 10)\n"
    "      --allow LINT[:TYPE]   silence a lint (on one type only with :TYPE); repeatable\n"
    "      --never-ran T         never-ran threshold (default 10s; e.g. 500ms, 2.5)\n"
    "      --long-callback T     long-callback threshold (default 100ms)\n"
    "      --orphan T            orphan threshold (default 10s)\n"
    "      --leak-slope N        leak-slope: growth of the live count that counts (default 100)\n"
    "      --self-retrigger N    self-retrigger: links of a chain that count (default 1000)\n"
    "      --self-retrigger-gap T  and the mean time per link under which it is busy\n"
    "                            (default 5us: a chain that waits for I/O is slower)\n"
    "  -h, --help        show this help\n"
    "\n"
    "A truncated file (the recording was killed before it finished) is reported up to its last\n"
    "complete chunk, with a warning on stderr, and exit status 0.\n"
    "Exit status: 0 success, 1 the file is missing, unreadable, not an ahprof file or from a\n"
    "newer ahprof, 2 bad command line.\n";

/* User frames shown per blocking callback. */
#define BLOCK_FRAMES 5

struct block_frames {
    uint32_t n;
    char f[BLOCK_FRAMES][AHP_KFRAME_SIZE];
};

struct opts {
    const char *path;
    bool json;
    long top;
    long top_blocking;
    struct block_frames *frames; /* per m->blocking entry */
    struct ahp_lint_opts lint;
    struct ahp_lints *lints;
};

/* ---------------------------------------------------------------------------------------
 * Formatting helpers
 */

static const char *safe(char *buf, size_t bufsz, const char *s, size_t max)
{
    ahp_term_sanitize(buf, bufsz, s, max);
    return buf;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double us(uint64_t ns)
{
    return (double)ns / 1e3;
}

static void fmt_age(char *buf, size_t n, uint64_t ns)
{
    if (ns >= 1000000000ull)
        snprintf(buf, n, "%.3f s", (double)ns / 1e9);
    else if (ns >= 1000000ull)
        snprintf(buf, n, "%.3f ms", ms(ns));
    else
        snprintf(buf, n, "%.3f us", us(ns));
}

static bool type_shown(const struct ahp_model *m, int32_t c)
{
    const struct ahp_type_summary *t = &m->types[c];
    bool named = c < AHP_TYPE_MAX && m->meta->named[c];
    return named || t->created || t->destroyed || t->resolved || t->callbacks || t->active ||
           t->snapshot_live;
}

/* Type classes to show, for the text table: most callback time first. */
static const struct ahp_model *cmp_m;
static int cmp_types(const void *pa, const void *pb)
{
    const struct ahp_type_summary *a = &cmp_m->types[*(const int32_t *)pa];
    const struct ahp_type_summary *b = &cmp_m->types[*(const int32_t *)pb];
    if (a->callback_ns != b->callback_ns)
        return a->callback_ns > b->callback_ns ? -1 : 1;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1;
    return *(const int32_t *)pa - *(const int32_t *)pb;
}

/* The path of NODE from its root, as names, root first; returns the count. */
static uint32_t node_path(const struct ahp_model *m, uint32_t node, uint32_t *path, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t a = node; a != AHP_NODE_NONE && n < max; a = m->nodes[a].parent)
        path[n++] = a;
    for (uint32_t i = 0; i < n / 2; i++) {
        uint32_t t = path[i];
        path[i] = path[n - 1 - i];
        path[n - 1 - i] = t;
    }
    return n;
}

/* Paths are at most one node per type class plus a root deep (folding). */
#define PATH_MAX_NODES (AHP_M_TYPES + 2)

/* ---------------------------------------------------------------------------------------
 * Text
 */

/* How the target ended, and whether it ran exec: the recording stops at either. */
static void text_target_end(FILE *out, const struct ahp_model *m)
{
    const struct ahp_file_meta *f = m->meta;
    char what[64], a[1200];
    if (f->has_exec)
        fprintf(out,
                "exec:        the target ran exec(%s) at +%.3f s: the recording stopped there "
                "(the new program's types are its own)\n",
                safe(a, sizeof(a), f->exec_path, sizeof(f->exec_path)),
                f->exec_mono_ns > m->start_ns ? (double)(f->exec_mono_ns - m->start_ns) / 1e9
                                              : 0.0);
    if (f->has_exit)
        fprintf(
            out, "ended:       %s at +%.3f s%s\n",
            ahp_exit_describe(f->exit_how, f->exit_code, f->exit_core_dumped, what, sizeof(what)),
            f->exit_mono_ns > m->start_ns ? (double)(f->exit_mono_ns - m->start_ns) / 1e9 : 0.0,
            m->open_total ? "; callbacks open then: see OPEN CALLBACKS" : "");
}

static void text_header(FILE *out, const struct opts *o, const struct ahp_model *m)
{
    const struct ahp_file_meta *f = m->meta;
    char a[1200], b[SAFE_NAME], c[300];
    fprintf(out, "ahprof report: %s\n\n", safe(a, sizeof(a), o->path, 256));
    if (f->has_info) {
        fprintf(out, "target:      %s (pid %" PRIu32 ", comm %s)\n",
                safe(a, sizeof(a), f->info.target, sizeof(f->info.target)), f->info.pid,
                safe(b, sizeof(b), f->info.comm, sizeof(f->info.comm)));
        char when[64] = "unknown time";
        time_t secs = (time_t)(f->info.start_real_ns / 1000000000ull);
        struct tm tm;
        if (f->info.start_real_ns != 0 && gmtime_r(&secs, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(out, "recorded:    %s on %s by ahprof %s (file format %u.%u)\n", when,
                safe(c, sizeof(c), f->host, sizeof(f->host)),
                safe(b, sizeof(b), f->ahprof_version, sizeof(f->ahprof_version)), f->version_major,
                f->version_minor);
    } else {
        fprintf(out, "target:      unknown (the file has no info chunk)\n");
    }
    fprintf(out, "duration:    %.3f s\n", (double)m->duration_ns / 1e9);
    fprintf(out, "events:      %" PRIu64 "\n", m->events);
    fprintf(out, "lost events: %" PRIu64 "%s\n", f->lost_events,
            f->lost_events ? (f->has_counters ? " (the ring buffer overflowed: see EXACT COUNTS)"
                                              : " (the ring buffer overflowed: figures below "
                                                "may be inexact)")
                           : "");
    if (f->resent_records)
        fprintf(out,
                "resent:      %" PRIu64 " records were handed over twice and written once "
                "(ahprof's hand-over should never do that: please report it)\n",
                f->resent_records);
    if (f->truncated)
        fprintf(out,
                "file:        TRUNCATED: the recording did not end cleanly; read up to the last "
                "complete chunk (%" PRIu64 " bytes after it ignored)\n",
                f->trailing_bytes);
    else
        fprintf(out, "file:        complete\n");
    text_target_end(out, m);
    if (f->bad_chunks)
        fprintf(out, "damaged:     %" PRIu64 " chunks skipped (checksum or format errors)\n",
                f->bad_chunks);
    if (m->unmatched_after || m->unclosed_before || m->duplicate_init || m->unknown_kind ||
        m->stack_overflow)
        fprintf(out,
                "anomalies:   %" PRIu64 " after without before, %" PRIu64
                " callbacks never closed, %" PRIu64 " repeated inits, %" PRIu64
                " unknown events, %" PRIu64 " nesting overflows\n",
                m->unmatched_after, m->unclosed_before, m->duplicate_init, m->unknown_kind,
                m->stack_overflow);
}

static void text_types(FILE *out, const struct ahp_model *m)
{
    int32_t cls[AHP_M_TYPES] = {0};
    int n = 0;
    for (int32_t c = 0; c < AHP_M_TYPES; c++)
        if (type_shown(m, c))
            cls[n++] = c;
    cmp_m = m;
    qsort(cls, (size_t)n, sizeof(cls[0]), cmp_types);

    fprintf(out, "\nTYPES\n%-24s %10s %10s %10s %10s %12s %12s %10s %10s %10s\n", "TYPE", "CREATED",
            "DESTROYED", "ACTIVE", "CALLBACKS", "CB_TOTAL_MS", "CB_EXCL_MS", "P50_US", "P99_US",
            "MAX_US");
    if (n == 0)
        fprintf(out, "(no types)\n");
    for (int i = 0; i < n; i++) {
        const struct ahp_type_summary *t = &m->types[cls[i]];
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        fprintf(out,
                "%-24s %10" PRIu64 " %10" PRIu64 " %10" PRId64 " %10" PRIu64
                " %12.3f %12.3f %10.1f %10.1f %10.1f\n",
                safe(sb, sizeof(sb), ahp_model_class_name(m, cls[i], nb), AHP_NAME_SIZE),
                t->created, t->destroyed, t->active, t->callbacks, ms(t->callback_ns),
                ms(t->exclusive_ns), us(t->p50_ns), us(t->p99_ns), us(t->max_ns));
    }
}

static void text_path(FILE *out, const struct ahp_model *m, uint32_t node);

static void text_pending(FILE *out, const struct ahp_model *m)
{
    bool any = false;
    for (int32_t c = 0; c < AHP_M_TYPES && !any; c++)
        any = m->types[c].pending_count > 0;
    if (!any)
        return;
    fprintf(out, "\nPENDING (init to first callback)\n%-24s %10s %10s %10s %10s\n", "TYPE", "COUNT",
            "P50_MS", "P99_MS", "MAX_MS");
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        const struct ahp_type_summary *t = &m->types[c];
        if (t->pending_count == 0)
            continue;
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        fprintf(out, "%-24s %10" PRIu64 " %10.3f %10.3f %10.3f\n",
                safe(sb, sizeof(sb), ahp_model_class_name(m, c, nb), AHP_NAME_SIZE),
                t->pending_count, ms(t->pending_p50_ns), ms(t->pending_p99_ns),
                ms(t->pending_max_ns));
    }
}

static uint64_t cpu_ns(const struct ahp_model *m, uint64_t samples)
{
    uint32_t hz = m->meta->kinfo.hz;
    return hz ? samples * (1000000000ull / hz) : 0;
}

/* The run-queue figures of slot I (AHP_KSTATS_*), when the file has them (a KSTATS chunk):
 * NULL otherwise, and then nothing is shown rather than zeros. */
static const struct ahp_kstats_slot *kstats_of(const struct ahp_model *m, int32_t i)
{
    return m->meta->has_kstats && i >= 0 && i < AHP_KSTATS_SLOTS ? &m->meta->kstats[i] : NULL;
}

/* Run-queue delay under top's names; absent (not zeros) when the file does not have it. */
static void json_runq(struct ahp_json *w, const struct ahp_kstats_slot *ks)
{
    if (ks == NULL)
        return;
    ahp_json_field_u64(w, "runq_count", ks->runq_count);
    ahp_json_field_u64(w, "runq_p50_ns", ahp_kstats_runq_percentile(ks, 500));
    ahp_json_field_u64(w, "runq_p99_ns", ahp_kstats_runq_percentile(ks, 990));
}

static void text_kernel_row(FILE *out, const struct ahp_model *m, const char *name,
                            const struct ahp_kernel_type *k, const struct ahp_kstats_slot *ks)
{
    fprintf(out, "%-24s %12" PRIu64 " %10.3f %12.3f %10" PRIu64, name, k->cpu_samples,
            ms(cpu_ns(m, k->cpu_samples)), ms(k->blocked_ns), k->blocked_count);
    if (ks != NULL)
        fprintf(out, " %10" PRIu64 " %10.1f %10.1f", ks->runq_count,
                (double)ahp_kstats_runq_percentile(ks, 500) / 1e3,
                (double)ahp_kstats_runq_percentile(ks, 990) / 1e3);
    fputc('\n', out);
}

/* Without record --cpu nothing is printed: no zeros that look measured. */
static void text_kernel(FILE *out, const struct opts *o, const struct ahp_model *m)
{
    if (!m->has_kernel)
        return;
    const struct ahp_kinfo *ki = &m->meta->kinfo;
    fprintf(out,
            "\nKERNEL (record --cpu at %" PRIu32 " Hz: %" PRIu64 " samples, %" PRIu64
            " off-CPU episodes (preemptions included), %" PRIu64
            " kernel records lost)\n%-24s %12s %10s %12s %10s",
            ki->hz, m->ksamples, m->koffcpu, ki->lost_records, "TYPE", "CPU_SAMPLES", "CPU_MS",
            "BLOCKED_MS", "BLOCKED_N");
    if (m->meta->has_kstats)
        fprintf(out, " %10s %10s %10s", "RUNQ_N", "RUNQ50_US", "RUNQ99_US");
    fputc('\n', out);
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        const struct ahp_kernel_type *k = &m->ktypes[c];
        const struct ahp_kstats_slot *ks = kstats_of(m, c < AHP_TYPE_MAX ? c : -1);
        if (k->cpu_samples == 0 && k->blocked_count == 0 && (ks == NULL || ks->runq_count == 0))
            continue;
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        text_kernel_row(out, m, safe(sb, sizeof(sb), ahp_model_class_name(m, c, nb), AHP_NAME_SIZE),
                        k, ks);
    }
    text_kernel_row(out, m, "(outside callbacks)", &m->koutside, kstats_of(m, AHP_KSTATS_OUTSIDE));
    const struct ahp_kstats_slot *ku = kstats_of(m, AHP_KSTATS_UNTAGGED);
    if (m->kuntagged.cpu_samples || m->kuntagged.blocked_count || (ku && ku->runq_count))
        text_kernel_row(out, m, "(untagged)", &m->kuntagged, ku);

    fprintf(out, "\nLONGEST-BLOCKING CALLBACKS (%" PRIu64 " callbacks blocked)\n",
            m->blocked_callbacks);
    if (m->nblocking == 0)
        fprintf(out, "(none)\n");
    else
        fprintf(out, "%12s %8s %-12s %-20s %s\n", "BLOCKED_MS", "EPISODES", "REASON", "TYPE",
                "ID TID TRIGGER PATH / WHERE");
    for (uint32_t i = 0; i < m->nblocking && i < (uint64_t)o->top_blocking; i++) {
        const struct ahp_blocking *b = &m->blocking[i];
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME], rb[32];
        fprintf(out, "%12.3f %8" PRIu32 " %-12s %-20s id %" PRIu64 " tid %" PRIu32 " ",
                ms(b->blocked_ns), b->episodes, ahp_krecord_reason_name(b->reason, rb),
                safe(sb, sizeof(sb), ahp_model_class_name(m, b->cls, nb), AHP_NAME_SIZE), b->id,
                b->tid);
        text_path(out, m, b->node);
        fputc('\n', out);
        const struct block_frames *bf = o->frames ? &o->frames[i] : NULL;
        for (uint32_t k = 0; bf && k < bf->n; k++) {
            char fb[AHP_KFRAME_SIZE * 4 + 1];
            fprintf(out, "%12s %s\n", k == 0 ? "at" : "",
                    safe(fb, sizeof(fb), bf->f[k], AHP_KFRAME_SIZE));
        }
    }
}

/* When events were lost, the in-kernel counters still hold the exact totals. */
static void text_counters(FILE *out, const struct ahp_model *m, const struct ahp_file_meta *f)
{
    if (!f->has_counters || f->lost_events == 0)
        return;
    fprintf(out,
            "\nEXACT COUNTS (in-kernel counters; the tables around them come from the %" PRIu64
            " recorded events, %" PRIu64 " were lost)\n%-24s %10s %10s %10s %10s %12s\n",
            m->events, f->lost_events, "TYPE", "CREATED", "DESTROYED", "ACTIVE", "CALLBACKS",
            "CB_TOTAL_MS");
    for (int32_t c = 0; c < AHP_TYPE_MAX; c++) {
        const struct ahp_type_counters *k = &f->counters[c];
        if (!k->created && !k->destroyed && !k->callbacks && !k->active)
            continue;
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        fprintf(out, "%-24s %10" PRIu64 " %10" PRIu64 " %10" PRId64 " %10" PRIu64 " %12.3f\n",
                safe(sb, sizeof(sb), ahp_model_class_name(m, c, nb), AHP_NAME_SIZE), k->created,
                k->destroyed, k->active, k->callbacks, ms(k->callback_ns));
    }
}

struct tree_print {
    FILE *out;
    const struct ahp_model *m;
    long top;
    unsigned lines;
    bool cut;
};

static void text_node(struct tree_print *tp, uint32_t id)
{
    const struct ahp_node *n = &tp->m->nodes[id];
    if (tp->lines >= TREE_LINES_MAX) {
        tp->cut = true;
        return;
    }
    tp->lines++;
    char nb[AHP_NAME_SIZE], sb[SAFE_NAME], label[SAFE_NAME + 600];
    int indent = (int)n->depth * 2;
    snprintf(label, sizeof(label), "%*s%s", indent > 512 ? 512 : indent, "",
             safe(sb, sizeof(sb), ahp_model_node_name(tp->m, id, nb), AHP_NAME_SIZE));
    fprintf(tp->out, "%-40s %10" PRIu64 " %10" PRIu64 " %12.3f %12.3f %10" PRIu64, label,
            n->created, n->callbacks, ms(n->callback_ns), ms(n->exclusive_ns),
            n->live + n->live_unattributed);
    if (n->folded)
        fprintf(tp->out, "  (%" PRIu64 " folded: type repeats on its path)", n->folded);
    fputc('\n', tp->out);

    long shown = 0;
    uint64_t rest = 0, rest_created = 0;
    for (uint32_t c = n->first_child; c != AHP_NODE_NONE; c = tp->m->nodes[c].next_sibling) {
        if (shown < tp->top) {
            text_node(tp, c);
            shown++;
        } else {
            rest++;
            rest_created += tp->m->nodes[c].created;
        }
    }
    if (rest > 0 && tp->lines < TREE_LINES_MAX) {
        tp->lines++;
        fprintf(tp->out, "%*s... %" PRIu64 " more paths (%" PRIu64 " created; --top to see more)\n",
                indent + 2 > 512 ? 512 : indent + 2, "", rest, rest_created);
    }
}

static bool node_used(const struct ahp_node *n)
{
    return n->nchildren > 0 || n->callbacks > 0 || n->created > 0;
}

static void text_tree(FILE *out, const struct ahp_model *m, long top)
{
    fprintf(out, "\nTRIGGER TREE (by type path)\n%-40s %10s %10s %12s %12s %10s\n", "PATH",
            "CREATED", "CALLBACKS", "CB_TOTAL_MS", "CB_EXCL_MS", "ALIVE");
    struct tree_print tp = {.out = out, .m = m, .top = top};
    bool any = false;
    for (uint32_t r = 0; r < AHP_NODE_ROOTS; r++) {
        if (node_used(&m->nodes[r])) {
            text_node(&tp, r);
            any = true;
        }
    }
    if (!any)
        fprintf(out, "(no resources)\n");
    if (tp.cut)
        fprintf(out, "... tree cut at %d lines; --json has all of it\n", TREE_LINES_MAX);
}

static void text_path(FILE *out, const struct ahp_model *m, uint32_t node)
{
    uint32_t path[PATH_MAX_NODES];
    uint32_t n = node_path(m, node, path, PATH_MAX_NODES);
    for (uint32_t i = 0; i < n; i++) {
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        fprintf(out, "%s%s", i ? " > " : "",
                safe(sb, sizeof(sb), ahp_model_node_name(m, path[i], nb), AHP_NAME_SIZE));
    }
}

static void text_warnings(FILE *out, const struct ahp_model *m, const struct ahp_lints *l)
{
    uint32_t n;
    const struct ahp_warning *w = ahp_lints_warnings(l, &n);
    if (n == 0)
        return;
    fprintf(out, "\nWARNINGS: %" PRIu32 " (docs/lints.md; --allow LINT[:TYPE] to silence)\n", n);
    for (uint32_t i = 0; i < n; i++) {
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME], v[32];
        const struct ahp_lint_example *ex = &w[i].ex;
        fprintf(out, "%-15s %-24s %8" PRIu64 "  ", ahp_lint_name(w[i].lint),
                safe(sb, sizeof(sb), ahp_model_class_name(m, w[i].cls, nb), AHP_NAME_SIZE),
                w[i].count);
        fmt_age(v, sizeof(v), ex->value_ns);
        switch (w[i].lint) {
        case AHP_LINT_LEAK_SLOPE:
            fprintf(out, "live count +%" PRId64 ", %.1f/s", w[i].grown, w[i].rate_per_s);
            break;
        case AHP_LINT_NEVER_RAN:
            fprintf(out, "e.g. id %" PRIu64 ", no callback for %s", ex->id, v);
            break;
        case AHP_LINT_LONG_CALLBACK:
            fprintf(out, "e.g. id %" PRIu64 " ran %s on tid %" PRIu32, ex->id, v, ex->tid);
            break;
        case AHP_LINT_SELF_RETRIGGER:
            fprintf(out, "e.g. id %" PRIu64 ": %" PRIu64 " links, %s apart", ex->id, ex->chain, v);
            break;
        case AHP_LINT_ORPHAN:
            fprintf(out, "e.g. id %" PRIu64 ", trigger %" PRIu64 " gone %s before", ex->id,
                    ex->trigger_id, v);
            break;
        case AHP_LINT_LIFECYCLE:
            for (int k = 0, n = 0; k < AHP_LC_KINDS; k++)
                if (w[i].kinds[k])
                    fprintf(out, "%s%" PRIu64 " %s", n++ ? ", " : "", w[i].kinds[k],
                            ahp_lifecycle_kind_name(k));
            fprintf(out, "; e.g. id %" PRIu64 ": %s", ex->id, ahp_lifecycle_kind_name(ex->kind));
            break;
        }
        if (ex->node != AHP_NODE_NONE) {
            fputs("; path ", out);
            text_path(out, m, ex->node);
        }
        fputc('\n', out);
    }
}

static void text_open_callbacks(FILE *out, const struct ahp_model *m)
{
    if (m->open_unknown)
        fprintf(out,
                "\nOPEN CALLBACKS AT END: %" PRIu64
                " callbacks entered before the last loss and not seen leaving are unknown "
                "(events lost): their after may have been among the lost events\n",
                m->open_unknown);
    if (m->open_total == 0)
        return;
    fprintf(out, "\nOPEN CALLBACKS AT END: %" PRIu64 " (entered, never left%s)\n", m->open_total,
            m->meta->has_exit ? ": the target ended inside them" : "");
    if (m->nopen < m->open_total)
        fprintf(out, "(the first %" PRIu32 " shown)\n", m->nopen);
    fprintf(out, "%10s %5s %14s  %-24s %s\n", "TID", "DEPTH", "RUNNING_FOR", "TYPE",
            "TRIGGER PATH");
    for (uint32_t i = 0; i < m->nopen; i++) {
        const struct ahp_open_callback *c = &m->open[i];
        char age[32], nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        /* Until the target ended inside it, else until the recording did. */
        uint64_t end =
            m->meta->has_exit && m->meta->exit_mono_ns ? m->meta->exit_mono_ns : m->end_ns;
        fmt_age(age, sizeof(age), end > c->start_ns ? end - c->start_ns : 0);
        fprintf(out, "%10" PRIu32 " %5" PRIu32 " %14s  %-24s ", c->tid, c->depth, age,
                safe(sb, sizeof(sb), ahp_model_class_name(m, c->cls, nb), AHP_NAME_SIZE));
        text_path(out, m, c->node);
        fputc('\n', out);
    }
}

static void text_leaks(FILE *out, const struct ahp_model *m, long top)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < m->nleaks; i++)
        total += m->leaks[i].count;
    uint32_t shown = m->nleaks < (uint64_t)top ? m->nleaks : (uint32_t)top;
    fprintf(out, "\nALIVE AT END: %" PRIu64 " resources in %" PRIu32 " groups", total, m->nleaks);
    if (shown < m->nleaks)
        fprintf(out, " (largest %" PRIu32 " shown; --top N for more)", shown);
    fputc('\n', out);
    if (m->nleaks == 0)
        return;
    fprintf(out, "%10s %14s  %-24s %s\n", "COUNT", "OLDEST_AGE", "TYPE", "TRIGGER PATH");
    for (uint32_t i = 0; i < shown; i++) {
        const struct ahp_leak *l = &m->leaks[i];
        char age[32] = "before attach", nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        if (l->age_known)
            fmt_age(age, sizeof(age), l->oldest_age_ns);
        fprintf(out, "%10" PRIu64 " %14s  %-24s ", l->count, age,
                safe(sb, sizeof(sb), ahp_model_class_name(m, l->cls, nb), AHP_NAME_SIZE));
        text_path(out, m, l->node);
        fputc('\n', out);
    }
}

/* Resources that were not seen destroyed, but whose destroy may have been lost: neither alive
 * nor dead as far as the file can tell. */
static void text_unknown(FILE *out, const struct ahp_model *m, long top)
{
    if (m->nunknown == 0)
        return;
    uint32_t shown = m->nunknown < (uint64_t)top ? m->nunknown : (uint32_t)top;
    fprintf(out,
            "\nUNKNOWN AT END: %" PRIu64 " resources in %" PRIu32
            " groups are unknown (events lost): not seen destroyed, but their destroy may have "
            "been among the lost events",
            m->unknown_total, m->nunknown);
    if (shown < m->nunknown)
        fprintf(out, " (largest %" PRIu32 " shown; --top N for more)", shown);
    fprintf(out, "\n%10s  %-24s %s\n", "COUNT", "TYPE", "TRIGGER PATH");
    for (uint32_t i = 0; i < shown; i++) {
        const struct ahp_leak *l = &m->unknown[i];
        char nb[AHP_NAME_SIZE], sb[SAFE_NAME];
        fprintf(out, "%10" PRIu64 "  %-24s ", l->count,
                safe(sb, sizeof(sb), ahp_model_class_name(m, l->cls, nb), AHP_NAME_SIZE));
        text_path(out, m, l->node);
        fputc('\n', out);
    }
}

/* ---------------------------------------------------------------------------------------
 * JSON
 */

static void json_class(struct ahp_json *w, const char *key, const struct ahp_model *m, int32_t cls)
{
    char nb[AHP_NAME_SIZE];
    ahp_json_field_strn(w, key, ahp_model_class_name(m, cls, nb), AHP_NAME_SIZE);
}

/* KEY: the type id of class CLS, or null for the classes that are not a type. */
static void json_type_id(struct ahp_json *w, const char *key, int32_t cls)
{
    if (cls >= 0 && cls < AHP_TYPE_MAX)
        ahp_json_field_i64(w, key, cls);
    else
        ahp_json_field_null(w, key);
}

static void json_node(struct ahp_json *w, const struct ahp_model *m, uint32_t id)
{
    const struct ahp_node *n = &m->nodes[id];
    char nb[AHP_NAME_SIZE];
    ahp_json_object_begin(w);
    ahp_json_field_strn(w, "name", ahp_model_node_name(m, id, nb), AHP_NAME_SIZE);
    json_type_id(w, "type_id", n->cls);
    ahp_json_field_u64(w, "created", n->created);
    ahp_json_field_u64(w, "folded", n->folded);
    ahp_json_field_u64(w, "callbacks", n->callbacks);
    ahp_json_field_u64(w, "callback_ns", n->callback_ns);
    ahp_json_field_u64(w, "exclusive_ns", n->exclusive_ns);
    ahp_json_field_u64(w, "alive", n->live + n->live_unattributed);
    ahp_json_field_u64(w, "unknown", n->live_unknown);
    ahp_json_key(w, "children");
    ahp_json_array_begin(w);
    for (uint32_t c = n->first_child; c != AHP_NODE_NONE; c = m->nodes[c].next_sibling)
        json_node(w, m, c);
    ahp_json_array_end(w);
    ahp_json_object_end(w);
}

static void json_path(struct ahp_json *w, const struct ahp_model *m, uint32_t node)
{
    uint32_t path[PATH_MAX_NODES];
    uint32_t n = node_path(m, node, path, PATH_MAX_NODES);
    ahp_json_key(w, "path");
    ahp_json_array_begin(w);
    for (uint32_t k = 0; k < n; k++) {
        char nb[AHP_NAME_SIZE];
        ahp_json_strn(w, ahp_model_node_name(m, path[k], nb), AHP_NAME_SIZE);
    }
    ahp_json_array_end(w);
}

/* "exit", "exec" and the callbacks open at the end. */
static void json_target_end(struct ahp_json *w, const struct ahp_model *m)
{
    const struct ahp_file_meta *f = m->meta;
    char what[64], sig[32];
    if (!f->has_exit) {
        ahp_json_field_null(w, "exit");
    } else {
        ahp_json_key(w, "exit");
        ahp_json_object_begin(w);
        if (f->exit_how == AHP_EXIT_HOW_EXITED) {
            ahp_json_field_str(w, "how", "exited");
            ahp_json_field_u64(w, "status", f->exit_code);
        } else if (f->exit_how == AHP_EXIT_HOW_SIGNAL) {
            ahp_json_field_str(w, "how", "signal");
            ahp_json_field_u64(w, "signal", f->exit_code);
            ahp_json_field_str(w, "signal_name", ahp_signal_name(f->exit_code, sig, sizeof(sig)));
            ahp_json_field_bool(w, "core_dumped", f->exit_core_dumped);
        } else {
            ahp_json_field_str(w, "how", "unknown");
        }
        ahp_json_field_str(
            w, "description",
            ahp_exit_describe(f->exit_how, f->exit_code, f->exit_core_dumped, what, sizeof(what)));
        ahp_json_field_u64(w, "exit_mono_ns", f->exit_mono_ns);
        ahp_json_object_end(w);
    }
    if (!f->has_exec) {
        ahp_json_field_null(w, "exec");
    } else {
        ahp_json_key(w, "exec");
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "exec_mono_ns", f->exec_mono_ns);
        ahp_json_field_strn(w, "path", f->exec_path, sizeof(f->exec_path));
        ahp_json_field_bool(w, "recording_stopped", true);
        ahp_json_object_end(w);
    }
    ahp_json_newline(w, 1);
    ahp_json_field_u64(w, "open_callbacks_total", m->open_total);
    ahp_json_field_u64(w, "open_callbacks_unknown", m->open_unknown);
    ahp_json_key(w, "open_callbacks");
    ahp_json_array_begin(w);
    for (uint32_t i = 0; i < m->nopen; i++) {
        const struct ahp_open_callback *c = &m->open[i];
        ahp_json_newline(w, 2);
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "id", c->id);
        ahp_json_field_u64(w, "tid", c->tid);
        ahp_json_field_u64(w, "depth", c->depth);
        json_class(w, "type", m, c->cls);
        json_type_id(w, "type_id", c->cls);
        ahp_json_field_u64(w, "start_mono_ns", c->start_ns);
        json_path(w, m, c->node);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
}

static void json_edges(struct ahp_json *w, const struct ahp_model *m)
{
    static const int32_t parent_order[] = {AHP_M_PARENT_ROOT, AHP_M_PARENT_UNKNOWN};
    for (int32_t i = 0; i < AHP_M_PARENTS; i++) {
        int32_t p = i < 2 ? parent_order[i] : i - 2;
        for (int32_t c = 0; m->edges[p] != NULL && c < AHP_M_TYPES; c++) {
            uint64_t count = m->edges[p][c];
            if (count == 0)
                continue;
            ahp_json_newline(w, 2);
            ahp_json_object_begin(w);
            if (p == AHP_M_PARENT_ROOT) {
                ahp_json_field_str(w, "parent", "(root)");
                ahp_json_field_null(w, "parent_id");
            } else if (p == AHP_M_PARENT_UNKNOWN) {
                ahp_json_field_str(w, "parent", "(before attach)");
                ahp_json_field_null(w, "parent_id");
            } else {
                json_class(w, "parent", m, p);
                json_type_id(w, "parent_id", p);
            }
            json_class(w, "child", m, c);
            json_type_id(w, "child_id", c);
            ahp_json_field_u64(w, "count", count);
            ahp_json_object_end(w);
        }
    }
}

static void json_types(struct ahp_json *w, const struct ahp_model *m)
{
    const struct ahp_file_meta *f = m->meta;
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        if (!type_shown(m, c))
            continue;
        const struct ahp_type_summary *t = &m->types[c];
        ahp_json_newline(w, 2);
        ahp_json_object_begin(w);
        json_type_id(w, "id", c);
        json_class(w, "name", m, c);
        ahp_json_field_u64(w, "created", t->created);
        ahp_json_field_u64(w, "destroyed", t->destroyed);
        ahp_json_field_i64(w, "active", t->active);
        ahp_json_field_i64(w, "snapshot_live", t->snapshot_live);
        ahp_json_field_u64(w, "resolved", t->resolved);
        ahp_json_field_u64(w, "callbacks", t->callbacks);
        ahp_json_field_u64(w, "callback_ns", t->callback_ns);
        ahp_json_field_u64(w, "exclusive_ns", t->exclusive_ns);
        ahp_json_field_u64(w, "p50_ns", t->p50_ns);
        ahp_json_field_u64(w, "p99_ns", t->p99_ns);
        ahp_json_field_u64(w, "max_ns", t->max_ns);
        ahp_json_field_u64(w, "pending_count", t->pending_count);
        ahp_json_field_u64(w, "pending_p50_ns", t->pending_p50_ns);
        ahp_json_field_u64(w, "pending_p99_ns", t->pending_p99_ns);
        ahp_json_field_u64(w, "pending_max_ns", t->pending_max_ns);
        if (m->has_kernel) {
            const struct ahp_kernel_type *k = &m->ktypes[c];
            ahp_json_field_u64(w, "cpu_samples", k->cpu_samples);
            ahp_json_field_real(w, "cpu_ms", ms(cpu_ns(m, k->cpu_samples)), 3);
            ahp_json_field_u64(w, "blocked_ns", k->blocked_ns);
            ahp_json_field_u64(w, "blocked_count", k->blocked_count);
            json_runq(w, kstats_of(m, c < AHP_TYPE_MAX ? c : -1));
        }
        if (f->has_counters && c < AHP_TYPE_MAX) {
            const struct ahp_type_counters *k = &f->counters[c];
            ahp_json_key(w, "counters");
            ahp_json_object_begin(w);
            ahp_json_field_u64(w, "created", k->created);
            ahp_json_field_u64(w, "destroyed", k->destroyed);
            ahp_json_field_i64(w, "active", k->active);
            ahp_json_field_u64(w, "callbacks", k->callbacks);
            ahp_json_field_u64(w, "callback_ns", k->callback_ns);
            ahp_json_field_u64(w, "exclusive_ns", k->exclusive_ns);
            ahp_json_object_end(w);
        } else {
            ahp_json_field_null(w, "counters");
        }
        ahp_json_object_end(w);
    }
}

static void json_kernel_type(struct ahp_json *w, const struct ahp_model *m, const char *key,
                             const struct ahp_kernel_type *k, const struct ahp_kstats_slot *ks)
{
    ahp_json_key(w, key);
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "cpu_samples", k->cpu_samples);
    ahp_json_field_real(w, "cpu_ms", ms(cpu_ns(m, k->cpu_samples)), 3);
    ahp_json_field_u64(w, "blocked_ns", k->blocked_ns);
    ahp_json_field_u64(w, "blocked_count", k->blocked_count);
    json_runq(w, ks);
    ahp_json_object_end(w);
}

/* "kernel": null without record --cpu; else the view's settings, losses and what is not a
 * type, and the longest-blocking callbacks. */
static void json_kernel(struct ahp_json *w, const struct opts *o, const struct ahp_model *m)
{
    if (!m->has_kernel) {
        ahp_json_field_null(w, "kernel");
        return;
    }
    const struct ahp_kinfo *ki = &m->meta->kinfo;
    ahp_json_key(w, "kernel");
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "hz", ki->hz);
    ahp_json_field_bool(w, "offcpu_stacks", (ki->flags & AHP_KINFO_F_OFFCPU_STACKS) != 0);
    ahp_json_field_u64(w, "samples", m->ksamples);
    ahp_json_field_u64(w, "offcpu_records", m->koffcpu);
    ahp_json_field_u64(w, "lost_records", ki->lost_records);
    ahp_json_field_u64(w, "stack_errors", ki->stack_errors);
    ahp_json_field_u64(w, "stacks_dropped", ki->stacks_dropped);
    ahp_json_field_u64(w, "unjoined_records", m->krecords_unjoined);
    json_kernel_type(w, m, "outside_callbacks", &m->koutside, kstats_of(m, AHP_KSTATS_OUTSIDE));
    json_kernel_type(w, m, "untagged", &m->kuntagged, kstats_of(m, AHP_KSTATS_UNTAGGED));
    ahp_json_field_u64(w, "blocked_callbacks", m->blocked_callbacks);
    ahp_json_key(w, "longest_blocking");
    ahp_json_array_begin(w);
    for (uint32_t i = 0; i < m->nblocking && i < (uint64_t)o->top_blocking; i++) {
        const struct ahp_blocking *b = &m->blocking[i];
        char rb[32];
        ahp_json_newline(w, 3);
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "id", b->id);
        ahp_json_field_u64(w, "tid", b->tid);
        json_class(w, "type", m, b->cls);
        json_type_id(w, "type_id", b->cls);
        ahp_json_field_u64(w, "blocked_ns", b->blocked_ns);
        ahp_json_field_u64(w, "episodes", b->episodes);
        ahp_json_field_str(w, "reason", ahp_krecord_reason_name(b->reason, rb));
        ahp_json_field_u64(w, "start_mono_ns", b->start_ns);
        ahp_json_field_u64(w, "duration_ns", b->end_ns - b->start_ns);
        json_path(w, m, b->node);
        ahp_json_key(w, "user_stack"); /* innermost first; empty without --stacks */
        ahp_json_array_begin(w);
        const struct block_frames *bf = o->frames ? &o->frames[i] : NULL;
        for (uint32_t k = 0; bf && k < bf->n; k++)
            ahp_json_strn(w, bf->f[k], AHP_KFRAME_SIZE);
        ahp_json_array_end(w);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
    ahp_json_object_end(w);
}

static void json_leaks(struct ahp_json *w, const struct ahp_model *m, long top)
{
    for (uint32_t i = 0; i < m->nleaks && i < (uint64_t)top; i++) {
        const struct ahp_leak *l = &m->leaks[i];
        ahp_json_newline(w, 2);
        ahp_json_object_begin(w);
        json_class(w, "type", m, l->cls);
        json_type_id(w, "type_id", l->cls);
        ahp_json_field_u64(w, "count", l->count);
        ahp_json_field_bool(w, "before_attach", !l->age_known);
        if (l->age_known)
            ahp_json_field_u64(w, "oldest_age_ns", l->oldest_age_ns);
        else
            ahp_json_field_null(w, "oldest_age_ns");
        json_path(w, m, l->node);
        ahp_json_object_end(w);
    }
}

static void json_warnings(struct ahp_json *w, const struct ahp_model *m, const struct ahp_lints *l)
{
    uint32_t n;
    const struct ahp_warning *wa = ahp_lints_warnings(l, &n);
    ahp_json_newline(w, 1);
    ahp_json_field_bool(w, "lifecycle_judged", !ahp_lints_lifecycle_suppressed(l));
    ahp_json_key(w, "warnings");
    ahp_json_array_begin(w);
    for (uint32_t i = 0; i < n; i++) {
        const struct ahp_lint_example *ex = &wa[i].ex;
        ahp_json_newline(w, 2);
        ahp_json_object_begin(w);
        ahp_json_field_str(w, "lint", ahp_lint_name(wa[i].lint));
        json_class(w, "type", m, wa[i].cls);
        json_type_id(w, "type_id", wa[i].cls);
        ahp_json_field_u64(w, "count", wa[i].count);
        if (wa[i].lint == AHP_LINT_LIFECYCLE) {
            ahp_json_key(w, "kinds");
            ahp_json_object_begin(w);
            for (int k = 0; k < AHP_LC_KINDS; k++)
                ahp_json_field_u64(w, ahp_lifecycle_kind_name(k), wa[i].kinds[k]);
            ahp_json_object_end(w);
        }
        if (wa[i].lint == AHP_LINT_LEAK_SLOPE) {
            ahp_json_field_real(w, "rate_per_s", wa[i].rate_per_s, 2);
            ahp_json_field_i64(w, "grown", wa[i].grown);
        }
        ahp_json_key(w, "example");
        ahp_json_object_begin(w);
        if (wa[i].lint != AHP_LINT_LEAK_SLOPE)
            ahp_json_field_u64(w, "id", ex->id);
        else
            ahp_json_field_null(w, "id");
        switch (wa[i].lint) {
        case AHP_LINT_NEVER_RAN:
            ahp_json_field_u64(w, "age_ns", ex->value_ns);
            ahp_json_field_u64(w, "trigger_id", ex->trigger_id);
            break;
        case AHP_LINT_LONG_CALLBACK:
            ahp_json_field_u64(w, "duration_ns", ex->value_ns);
            ahp_json_field_u64(w, "tid", ex->tid);
            ahp_json_field_u64(w, "start_mono_ns", ex->at_ns);
            break;
        case AHP_LINT_SELF_RETRIGGER:
            ahp_json_field_u64(w, "chain", ex->chain);
            ahp_json_field_u64(w, "per_link_ns", ex->value_ns);
            break;
        case AHP_LINT_ORPHAN:
            ahp_json_field_u64(w, "trigger_id", ex->trigger_id);
            ahp_json_field_u64(w, "orphaned_ns", ex->value_ns);
            break;
        case AHP_LINT_LIFECYCLE:
            ahp_json_field_str(w, "what", ahp_lifecycle_kind_name(ex->kind));
            ahp_json_field_u64(w, "tid", ex->tid);
            break;
        }
        if (ex->node != AHP_NODE_NONE)
            json_path(w, m, ex->node);
        else
            ahp_json_field_null(w, "path");
        ahp_json_object_end(w);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
}

static void json_unknown(struct ahp_json *w, const struct ahp_model *m, long top)
{
    for (uint32_t i = 0; i < m->nunknown && i < (uint64_t)top; i++) {
        const struct ahp_leak *l = &m->unknown[i];
        ahp_json_newline(w, 2);
        ahp_json_object_begin(w);
        json_class(w, "type", m, l->cls);
        json_type_id(w, "type_id", l->cls);
        ahp_json_field_u64(w, "count", l->count);
        json_path(w, m, l->node);
        ahp_json_object_end(w);
    }
}

static void json_report(FILE *out, const struct opts *o, const struct ahp_model *m, long top)
{
    const struct ahp_file_meta *f = m->meta;
    struct ahp_json jw, *w = &jw;
    ahp_json_init(w, out, AHP_JSON_SPACED);
    ahp_json_object_begin(w);
    ahp_json_field_strn(w, "file", o->path, 4096);
    ahp_json_key(w, "format_version");
    ahp_json_strf(w, "%u.%u", f->version_major, f->version_minor);
    if (f->has_info) {
        ahp_json_field_strn(w, "target", f->info.target, sizeof(f->info.target));
        ahp_json_field_strn(w, "comm", f->info.comm, sizeof(f->info.comm));
        ahp_json_field_u64(w, "pid", f->info.pid);
        ahp_json_field_strn(w, "host", f->host, sizeof(f->host));
        ahp_json_field_strn(w, "ahprof_version", f->ahprof_version, sizeof(f->ahprof_version));
        ahp_json_field_u64(w, "start_real_ns", f->info.start_real_ns);
    } else {
        static const char *const unknown[] = {"target", "comm",           "pid",
                                              "host",   "ahprof_version", "start_real_ns"};
        for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
            ahp_json_field_null(w, unknown[i]);
    }
    ahp_json_field_u64(w, "start_mono_ns", m->start_ns);
    ahp_json_field_u64(w, "end_mono_ns", m->end_ns);
    ahp_json_field_u64(w, "duration_ns", m->duration_ns);
    ahp_json_field_u64(w, "events", m->events);
    ahp_json_field_u64(w, "lost_events", f->lost_events);
    if (f->has_resent_records)
        ahp_json_field_u64(w, "resent_records", f->resent_records);
    else
        ahp_json_field_null(w, "resent_records");
    ahp_json_field_bool(w, "truncated", f->truncated);
    ahp_json_field_bool(w, "clean_end", f->clean_end);
    ahp_json_field_u64(w, "damaged_chunks", f->bad_chunks);
    ahp_json_field_u64(w, "trailing_bytes", f->trailing_bytes);
    ahp_json_field_u64(w, "unknown_chunks", f->unknown_chunks);
    ahp_json_field_bool(w, "counters_exact", f->has_counters);
    ahp_json_key(w, "anomalies");
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "unmatched_after", m->unmatched_after);
    ahp_json_field_u64(w, "unclosed_before", m->unclosed_before);
    ahp_json_field_u64(w, "duplicate_init", m->duplicate_init);
    ahp_json_field_u64(w, "unknown_kind", m->unknown_kind);
    ahp_json_field_u64(w, "stack_overflow", m->stack_overflow);
    ahp_json_field_u64(w, "dead_untracked", m->dead_untracked);
    ahp_json_field_u64(w, "paths_overflowed", m->paths_overflowed);
    ahp_json_object_end(w);

    json_target_end(w, m);
    ahp_json_newline(w, 1);
    json_kernel(w, o, m);
    ahp_json_newline(w, 1);
    ahp_json_key(w, "types");
    ahp_json_array_begin(w);
    json_types(w, m);
    ahp_json_array_end(w);
    ahp_json_newline(w, 1);
    ahp_json_key(w, "edges");
    ahp_json_array_begin(w);
    json_edges(w, m);
    ahp_json_array_end(w);
    ahp_json_newline(w, 1);
    ahp_json_key(w, "tree");
    ahp_json_array_begin(w);
    for (uint32_t r = 0; r < AHP_NODE_ROOTS; r++) {
        if (!node_used(&m->nodes[r]))
            continue;
        ahp_json_newline(w, 2);
        json_node(w, m, r);
    }
    ahp_json_array_end(w);
    uint64_t total = 0;
    for (uint32_t i = 0; i < m->nleaks; i++)
        total += m->leaks[i].count;
    ahp_json_newline(w, 1);
    ahp_json_field_u64(w, "alive_total", total);
    ahp_json_field_u64(w, "leak_groups", m->nleaks);
    ahp_json_key(w, "leaks");
    ahp_json_array_begin(w);
    json_leaks(w, m, top);
    ahp_json_array_end(w);
    ahp_json_newline(w, 1);
    ahp_json_field_u64(w, "unknown_total", m->unknown_total);
    ahp_json_field_u64(w, "unknown_groups", m->nunknown);
    ahp_json_key(w, "unknown");
    ahp_json_array_begin(w);
    json_unknown(w, m, top);
    ahp_json_array_end(w);
    json_warnings(w, m, o->lints);
    ahp_json_object_end(w);
}

/* ---------------------------------------------------------------------------------------
 * Command
 */

struct frames_load {
    const struct ahp_model *m;
    struct block_frames *frames;
};

static int load_frames(void *arg, uint32_t id, const char (*frames)[AHP_KFRAME_SIZE], uint32_t n,
                       uint32_t nkernel)
{
    struct frames_load *fl = arg;
    for (uint32_t i = 0; i < fl->m->nblocking; i++) {
        if (fl->m->blocking[i].stack != id + 1 || fl->frames[i].n > 0)
            continue;
        for (uint32_t k = nkernel; k < n && fl->frames[i].n < BLOCK_FRAMES; k++)
            memcpy(fl->frames[i].f[fl->frames[i].n++], frames[k], AHP_KFRAME_SIZE);
    }
    return 0;
}

/* The user frames where the longest-blocking callbacks blocked (record --cpu --stacks). */
static int blocking_frames(struct opts *o, struct ahp_reader *r, const struct ahp_model *m)
{
    bool any = false;
    for (uint32_t i = 0; i < m->nblocking; i++)
        any |= m->blocking[i].stack != 0;
    if (!any)
        return 0;
    o->frames = calloc(m->nblocking, sizeof(*o->frames));
    if (o->frames == NULL)
        return -ENOMEM;
    struct frames_load fl = {m, o->frames};
    struct ahp_read_ops ops = {.kstack = load_frames};
    return ahp_reader_foreach(r, &ops, &fl);
}

static void warnings(const struct opts *o, const struct ahp_file_meta *f, uint64_t events)
{
    char p[1100];
    ahp_term_sanitize(p, sizeof(p), o->path, 256);
    if (f->truncated)
        fprintf(stderr,
                "ahprof: warning: %s is truncated (the recording did not end cleanly): "
                "reporting the %" PRIu64 " events before the cut\n",
                p, events);
    else if (f->trailing_bytes > 0)
        fprintf(stderr,
                "ahprof: warning: %s: %" PRIu64 " bytes after the end of the recording ignored\n",
                p, f->trailing_bytes);
    if (f->bad_chunks > 0)
        fprintf(stderr, "ahprof: warning: %s: %" PRIu64 " damaged chunks skipped\n", p,
                f->bad_chunks);
}

int ahprof_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 'n'},
        {"input", required_argument, NULL, 'i'},
        AHP_LINT_LONGOPTS,
        {"top-blocking", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {
        .path = NULL, .json = false, .top = TOP_DEFAULT, .top_blocking = AHP_BLOCKING_TOP_DEFAULT};
    o.json = ahp_wants_json(argc, argv, "-j");
    ahp_lint_opts_default(&o.lint);

    optind = 0; /* full re-initialisation: the command may run more than once per process */
    opterr = 0;
    int c, code;
    while ((c = getopt_long(argc, argv, "hi:n:j", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.json = true;
            break;
        case 'n':
            if (ahp_parse_long(optarg, 1, 1000000, &o.top) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "--top wants a number from 1 to 1000000, not '%s'", optarg);
            break;
        case 'i':
            o.path = optarg;
            break;
        case 'B':
            if (ahp_parse_long(optarg, 1, 10000, &o.top_blocking) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "--top-blocking wants a number from 1 to 10000, not '%s'", optarg);
            break;
        case AHP_LINT_OPT_BASE + 0 ... AHP_LINT_OPT_BASE + AHP_LINT_OPTS - 1: {
            const char *name = "?";
            if (ahp_lint_option(&o.lint, c, optarg, &name) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE, "invalid --%s '%s' (see --help)", name,
                                optarg);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, o.json, "in", "report");
        }
    }
    code = ahp_recording_path(argc, argv, optind, &o.path, o.json, "report");
    if (code != 0)
        return code;

    struct ahp_reader *r;
    code = ahp_recording_open(o.path, o.json, &r);
    if (code != 0)
        return code;
    struct ahp_model *m = NULL;
    struct ahp_model_opts mo = {.blocking_top = (uint32_t)o.top_blocking};
    int rc = ahp_lints_new(&o.lints, &o.lint);
    if (rc == 0) {
        ahp_lints_hook(o.lints, &mo);
        rc = ahp_model_build(&m, r, &mo);
    }
    if (rc == 0)
        rc = ahp_lints_finish(o.lints, m);
    if (rc == 0)
        rc = blocking_frames(&o, r, m);
    if (rc < 0) {
        free(o.frames);
        ahp_model_free(m);
        ahp_lints_free(o.lints);
        ahp_reader_close(r);
        return ahp_fail(o.json, AHP_EXIT_ERROR, "cannot read %s: %s", o.path,
                        ahp_file_strerror(rc));
    }
    /* After the walk: damaged events chunks are only known once read. */
    warnings(&o, ahp_reader_meta(r), m->events);

    if (o.json) {
        json_report(stdout, &o, m, o.top);
    } else {
        text_header(stdout, &o, m);
        text_warnings(stdout, m, o.lints);
        text_types(stdout, m);
        text_pending(stdout, m);
        text_kernel(stdout, &o, m);
        text_counters(stdout, m, ahp_reader_meta(r));
        text_tree(stdout, m, o.top);
        text_leaks(stdout, m, o.top);
        text_unknown(stdout, m, o.top);
        text_open_callbacks(stdout, m);
    }
    free(o.frames);
    ahp_model_free(m);
    ahp_lints_free(o.lints);
    ahp_reader_close(r);
    return AHP_EXIT_OK; /* main checks that stdout took it all */
}
