/*
 * prometheus.h - the Prometheus text exposition format (version 0.0.4) of what `top` counts,
 * per target and type: what `ahprof top --serve` answers on /metrics.
 */
#ifndef AHP_PROMETHEUS_H
#define AHP_PROMETHEUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ahprof.h"
#include "kernel_view.h"

#define AHP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The type label of the kernel view's series outside any callback and of threads whose libah
 * state could not be read: no type is given these names (a type of the target that has one
 * gets "#ID" added, as a repeated name does). */
#define AHP_PROM_OUTSIDE "(outside callbacks)"
#define AHP_PROM_UNTAGGED "(untagged)"

struct ahp_prom_type {
    int type_id;
    char name[AHP_NAME_SIZE + 8]; /* untrusted bytes, NUL-terminated ("#ID" added to a repeat) */
    int64_t live;
    struct ahp_type_stats stats;    /* cumulative since attach */
    struct ahp_kernel_stats kernel; /* the kernel's view, cumulative since it started */
};

struct ahp_prom_target {
    int pid;
    char comm[17]; /* untrusted bytes, NUL-terminated */
    bool running;
    uint64_t events, lost_events, unmatched_after, malformed_batches, malformed_records;
    /* The kernel's view (docs/kernel-view.md), when top has one for this target: CPU samples
     * at HZ per CPU, blocking inside callbacks, run-queue waits. OUTSIDE and UNTAGGED are its
     * two slots that are no type: a libah thread outside any callback, a thread whose libah
     * state could not be read. */
    bool kernel;
    uint32_t hz;
    struct ahp_kernel_stats outside, untagged;
    int ntypes;
    struct ahp_prom_type types[AHP_TYPE_MAX];
};

/* Every metric family, each with the samples of every target (N of them) together, as the
 * format requires. Returns 0, or -EIO when OUT failed. */
int ahp_prom_write(FILE *out, const struct ahp_prom_target *targets, int n);

/* S (at most MAX bytes, stops at NUL) as a label value into DST (DSTSZ bytes, always
 * NUL-terminated, truncated between characters): backslash, double quote and line feed escaped
 * as the format requires, and what is not valid UTF-8 replaced by U+FFFD (Prometheus rejects
 * a scrape with an invalid label value). Returns the length written. */
size_t ahp_prom_label_escape(char *dst, size_t dstsz, const char *s, size_t max);

#endif
