/* prometheus.c - the Prometheus text exposition format of top's counters (prometheus.h). */
#include <errno.h>
#include <string.h>

#include "export/prometheus.h"

/* Length of the valid UTF-8 sequence at S (at most N bytes), 0 if invalid: no overlong forms,
 * no surrogates, nothing above U+10FFFF (what Go's utf8.ValidString, Prometheus' check,
 * accepts). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

size_t ahp_prom_label_escape(char *dst, size_t dstsz, const char *s, size_t max)
{
    size_t n = 0, i = 0;
    if (dstsz == 0)
        return 0;
    size_t len = s ? strnlen(s, max) : 0;
    while (i < len) {
        const unsigned char *u = (const unsigned char *)s + i;
        const char *put;
        size_t put_len, used;
        char one[2];
        if (*u == '\\' || *u == '"' || *u == '\n') {
            one[0] = '\\';
            one[1] = *u == '\n' ? 'n' : (char)*u;
            put = one;
            put_len = 2;
            used = 1;
        } else if ((used = utf8_len(u, len - i)) > 0) {
            put = (const char *)u;
            put_len = used;
        } else {
            put = "\xef\xbf\xbd";
            put_len = 3;
            used = 1;
        }
        if (n + put_len >= dstsz)
            break;
        memcpy(dst + n, put, put_len);
        n += put_len;
        i += used;
    }
    dst[n] = '\0';
    return n;
}

/* Escaped names: a type name of 64 bytes, each at most 3 bytes out. */
#define LABEL_MAX (3 * (AHP_NAME_SIZE + 8) + 1)

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void target_labels(FILE *out, const struct ahp_prom_target *t)
{
    char comm[LABEL_MAX];
    ahp_prom_label_escape(comm, sizeof(comm), t->comm, sizeof(t->comm));
    fprintf(out, "pid=\"%d\",comm=\"%s\"", t->pid, comm);
}

static void named_labels(FILE *out, const struct ahp_prom_target *t, const char *type_name)
{
    char name[LABEL_MAX];
    ahp_prom_label_escape(name, sizeof(name), type_name, AHP_NAME_SIZE + 8);
    target_labels(out, t);
    fprintf(out, ",type=\"%s\"", name);
}

static void type_labels(FILE *out, const struct ahp_prom_target *t, const struct ahp_prom_type *ty)
{
    named_labels(out, t, ty->name);
}

/* Seconds from ns, exactly (no float rounding in the text). */
static void seconds(FILE *out, uint64_t ns)
{
    fprintf(out, "%llu.%09llu", (unsigned long long)(ns / 1000000000ull),
            (unsigned long long)(ns % 1000000000ull));
}

enum target_field { F_EVENTS, F_LOST, F_UNMATCHED, F_MALFORMED_BATCHES, F_MALFORMED_RECORDS };

static uint64_t target_value(const struct ahp_prom_target *t, enum target_field f)
{
    switch (f) {
    case F_EVENTS:
        return t->events;
    case F_LOST:
        return t->lost_events;
    case F_UNMATCHED:
        return t->unmatched_after;
    case F_MALFORMED_BATCHES:
        return t->malformed_batches;
    default:
        return t->malformed_records;
    }
}

static void target_counter(FILE *out, const struct ahp_prom_target *targets, int n,
                           const char *name, const char *help, enum target_field f)
{
    family(out, name, "counter", help);
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s{", name);
        target_labels(out, &targets[i]);
        fprintf(out, "} %llu\n", (unsigned long long)target_value(&targets[i], f));
    }
}

enum type_field { T_CREATED, T_DESTROYED, T_RESOLVED, T_CALLBACKS };

static uint64_t type_value(const struct ahp_prom_type *ty, enum type_field f)
{
    switch (f) {
    case T_CREATED:
        return ty->stats.created;
    case T_DESTROYED:
        return ty->stats.destroyed;
    case T_RESOLVED:
        return ty->stats.resolved;
    default:
        return ty->stats.callbacks;
    }
}

static void type_counter(FILE *out, const struct ahp_prom_target *targets, int n, const char *name,
                         const char *help, enum type_field f)
{
    family(out, name, "counter", help);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < targets[i].ntypes; k++) {
            fprintf(out, "%s{", name);
            type_labels(out, &targets[i], &targets[i].types[k]);
            fprintf(out, "} %llu\n", (unsigned long long)type_value(&targets[i].types[k], f));
        }
    }
}

/* The samples of histogram NAME of the series labelled TYPE_NAME (a type or a kernel-view
 * slot) of target T: log2 buckets HIST of ns, their sum SUM_NS. */
static void log2_histogram(FILE *out, const char *name, const struct ahp_prom_target *t,
                           const char *type_name, const __u64 hist[AHP_HIST_SLOTS], uint64_t sum_ns)
{
    uint64_t cumulative = 0;
    /* BPF's bucket i holds whole ns in [2^i, 2^(i+1)) (bucket 0 also 0 and 1, the last one
     * everything above): its upper bound, inclusive as "le" wants it, is 2^(i+1) - 1 ns. */
    for (int i = 0; i < AHP_HIST_SLOTS - 1; i++) {
        cumulative += hist[i];
        fprintf(out, "%s_bucket{", name);
        named_labels(out, t, type_name);
        fputs(",le=\"", out);
        seconds(out, (2ull << i) - 1);
        fprintf(out, "\"} %llu\n", (unsigned long long)cumulative);
    }
    cumulative += hist[AHP_HIST_SLOTS - 1];
    fprintf(out, "%s_bucket{", name);
    named_labels(out, t, type_name);
    fprintf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
    fprintf(out, "%s_sum{", name);
    named_labels(out, t, type_name);
    fputs("} ", out);
    seconds(out, sum_ns);
    fprintf(out, "\n%s_count{", name);
    named_labels(out, t, type_name);
    fprintf(out, "} %llu\n", (unsigned long long)cumulative);
}

static void histogram(FILE *out, const struct ahp_prom_target *t, const struct ahp_prom_type *ty)
{
    log2_histogram(out, "ahprof_callback_duration_seconds", t, ty->name, ty->stats.hist,
                   ty->stats.callback_ns);
}

/* The kernel view's figures. Outside callbacks and untagged are series of their own, with
 * the type label AHP_PROM_OUTSIDE and AHP_PROM_UNTAGGED (names no type gets: scrape_target). */
enum kernel_field {
    K_CPU_SAMPLES,
    K_CPU_NS,
    K_BLOCKED_NS,
    K_BLOCKED_COUNT,
    K_PREEMPTED_NS,
    K_PREEMPTED_COUNT
};

static uint64_t kernel_value(const struct ahp_prom_target *t, const struct ahp_kernel_stats *k,
                             enum kernel_field f)
{
    switch (f) {
    case K_CPU_SAMPLES:
        return k->cpu_samples;
    case K_CPU_NS: /* a sample stands for 1/hz s of one CPU */
        return t->hz ? k->cpu_samples * (1000000000ull / t->hz) : 0;
    case K_BLOCKED_NS:
        return k->blocked_ns;
    case K_BLOCKED_COUNT:
        return k->blocked_count;
    case K_PREEMPTED_NS:
        return k->preempted_ns;
    default:
        return k->preempted_count;
    }
}

static void kernel_sample(FILE *out, const char *name, const struct ahp_prom_target *t,
                          const char *type_name, uint64_t v, bool in_seconds)
{
    fprintf(out, "%s{", name);
    named_labels(out, t, type_name);
    fputs("} ", out);
    if (in_seconds)
        seconds(out, v);
    else
        fprintf(out, "%llu", (unsigned long long)v);
    fputc('\n', out);
}

/* Counter NAME of every target with a kernel view: per type, and for the slots outside
 * callbacks when WITH_SLOTS (CPU is sampled there too; blocking is counted only inside). */
static void kernel_counter(FILE *out, const struct ahp_prom_target *targets, int n,
                           const char *name, const char *help, enum kernel_field f, bool with_slots)
{
    bool in_seconds = f == K_CPU_NS || f == K_BLOCKED_NS || f == K_PREEMPTED_NS;
    family(out, name, "counter", help);
    for (int i = 0; i < n; i++) {
        const struct ahp_prom_target *t = &targets[i];
        if (!t->kernel || (f <= K_CPU_NS && t->hz == 0))
            continue;
        for (int k = 0; k < t->ntypes; k++)
            kernel_sample(out, name, t, t->types[k].name, kernel_value(t, &t->types[k].kernel, f),
                          in_seconds);
        if (with_slots) {
            kernel_sample(out, name, t, AHP_PROM_OUTSIDE, kernel_value(t, &t->outside, f),
                          in_seconds);
            kernel_sample(out, name, t, AHP_PROM_UNTAGGED, kernel_value(t, &t->untagged, f),
                          in_seconds);
        }
    }
}

static void kernel_families(FILE *out, const struct ahp_prom_target *targets, int n)
{
    kernel_counter(out, targets, n, "ahprof_cpu_samples_total",
                   "CPU samples (perf, at ahprof_cpu_sample_hz per CPU) of threads running a "
                   "callback of the type",
                   K_CPU_SAMPLES, true);
    kernel_counter(out, targets, n, "ahprof_cpu_seconds_total",
                   "CPU time of callbacks of the type, estimated from the CPU samples (each "
                   "stands for 1/hz s)",
                   K_CPU_NS, true);
    kernel_counter(out, targets, n, "ahprof_blocked_seconds_total",
                   "Time callbacks of the type spent off CPU waiting (in a system call, a page "
                   "fault), switch-out to switch-in, run-queue wait after the wakeup included",
                   K_BLOCKED_NS, false);
    kernel_counter(out, targets, n, "ahprof_blocked_episodes_total",
                   "Times a callback of the type went off CPU waiting (counted in "
                   "ahprof_blocked_seconds_total)",
                   K_BLOCKED_COUNT, false);
    kernel_counter(out, targets, n, "ahprof_preempted_seconds_total",
                   "Time callbacks of the type were switched out while runnable (preempted)",
                   K_PREEMPTED_NS, false);
    kernel_counter(out, targets, n, "ahprof_preempted_episodes_total",
                   "Times a callback of the type was preempted", K_PREEMPTED_COUNT, false);
    family(out, "ahprof_cpu_sample_hz", "gauge",
           "CPU samples per second per CPU of the kernel view (0: not sampled)");
    for (int i = 0; i < n; i++) {
        if (!targets[i].kernel)
            continue;
        fputs("ahprof_cpu_sample_hz{", out);
        target_labels(out, &targets[i]);
        fprintf(out, "} %u\n", (unsigned)targets[i].hz);
    }
    static const char runq[] = "ahprof_runqueue_wait_seconds";
    family(out, runq, "histogram",
           "Waits of the type's threads for a CPU once runnable (woken up or preempted) until "
           "they ran, in log2 buckets; the type is what the thread was inside when it left the "
           "CPU");
    for (int i = 0; i < n; i++) {
        const struct ahp_prom_target *t = &targets[i];
        if (!t->kernel)
            continue;
        for (int k = 0; k < t->ntypes; k++)
            log2_histogram(out, runq, t, t->types[k].name, t->types[k].kernel.runq_hist,
                           t->types[k].kernel.runq_wait_ns);
        log2_histogram(out, runq, t, AHP_PROM_OUTSIDE, t->outside.runq_hist,
                       t->outside.runq_wait_ns);
        log2_histogram(out, runq, t, AHP_PROM_UNTAGGED, t->untagged.runq_hist,
                       t->untagged.runq_wait_ns);
    }
}

int ahp_prom_write(FILE *out, const struct ahp_prom_target *targets, int n)
{
    family(out, "ahprof_target_running", "gauge",
           "1 while the target runs, 0 once it has exited (its series keep their last values)");
    for (int i = 0; i < n; i++) {
        fputs("ahprof_target_running{", out);
        target_labels(out, &targets[i]);
        fprintf(out, "} %d\n", targets[i].running ? 1 : 0);
    }
    target_counter(out, targets, n, "ahprof_events_total",
                   "Events (init, before, after, destroy, resolve) seen since ahprof attached",
                   F_EVENTS);
    target_counter(out, targets, n, "ahprof_lost_events_total",
                   "Events lost since ahprof attached: no room in the ring buffer, malformed, "
                   "or unreadable from the target",
                   F_LOST);
    target_counter(out, targets, n, "ahprof_unmatched_after_total",
                   "Callback ends seen without their start (ahprof attached while they ran): "
                   "their time is not counted",
                   F_UNMATCHED);
    target_counter(out, targets, n, "ahprof_malformed_batches_total",
                   "Batch headers the target wrote that libah never would (dropped, in lost)",
                   F_MALFORMED_BATCHES);
    target_counter(out, targets, n, "ahprof_malformed_records_total",
                   "Records the target wrote that libah never would (dropped, in lost)",
                   F_MALFORMED_RECORDS);

    family(out, "ahprof_live_resources", "gauge",
           "Resources alive now, including those created before ahprof attached");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < targets[i].ntypes; k++) {
            fputs("ahprof_live_resources{", out);
            type_labels(out, &targets[i], &targets[i].types[k]);
            fprintf(out, "} %lld\n", (long long)targets[i].types[k].live);
        }
    }
    type_counter(out, targets, n, "ahprof_resources_created_total",
                 "Resources created since ahprof attached", T_CREATED);
    type_counter(out, targets, n, "ahprof_resources_destroyed_total",
                 "Resources destroyed since ahprof attached", T_DESTROYED);
    type_counter(out, targets, n, "ahprof_resources_resolved_total",
                 "Promise-like resources resolved since ahprof attached", T_RESOLVED);
    type_counter(out, targets, n, "ahprof_callbacks_total",
                 "Callbacks completed since ahprof attached (timed or not)", T_CALLBACKS);

    family(out, "ahprof_callback_exclusive_seconds_total", "counter",
           "Callback time minus nested callbacks, since ahprof attached");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < targets[i].ntypes; k++) {
            fputs("ahprof_callback_exclusive_seconds_total{", out);
            type_labels(out, &targets[i], &targets[i].types[k]);
            fputs("} ", out);
            seconds(out, targets[i].types[k].stats.exclusive_ns);
            fputc('\n', out);
        }
    }
    family(out, "ahprof_callback_duration_seconds", "histogram",
           "Duration of callbacks (inclusive of nested ones) whose start and end were seen, "
           "in log2 buckets");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < targets[i].ntypes; k++)
            histogram(out, &targets[i], &targets[i].types[k]);
    kernel_families(out, targets, n);
    return ferror(out) ? -EIO : 0;
}
