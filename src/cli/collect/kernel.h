/*
 * kernel.h - the kernel's view of a target joined to its async resources: CPU samples,
 * off-CPU time inside callbacks (with why) and run-queue delay, per resource type
 * (bpf/kernel.bpf.c, docs/kernel-view.md). Independent of the event collector (collector.h):
 * a command starts both for the same target.
 */
#ifndef AHP_KERNEL_H
#define AHP_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collect/target.h"
#include "common/json_writer.h"
#include "kernel_view.h"

struct ahp_kernel_opts {
    uint32_t hz;         /* samples per second per CPU; 0: no sampling */
    bool offcpu_stacks;  /* the user and kernel stacks where callbacks blocked (--stacks) */
    bool records;        /* stream samples and off-CPU episodes (record --cpu) */
    uint32_t max_stacks; /* entries of the stack map; 0: 16384 */
};

#define AHP_KERNEL_DEFAULT_HZ 99

/* Called for every record read from the ring buffer (opts.records). */
typedef int (*ahp_kernel_record_fn)(const struct ahp_kernel_record *r, void *ctx);

struct ahp_kernel_view;

/* Load bpf/kernel.bpf.c for T (a running process whose libah registry is located), learn its
 * threads, attach the scheduler programs and one sampling event per CPU. Returns a negative
 * errno; *WHAT names the step that failed. */
int ahp_kernel_start(struct ahp_kernel_view **kv, struct ahp_target *t,
                     const struct ahp_kernel_opts *opts, ahp_kernel_record_fn on_record, void *ctx,
                     const char **what);

/* Re-read the target's thread list from its registry: threads that started since are tagged
 * from now on. Cheap (one read per thread); ahp_kernel_poll does it every 100 ms. */
int ahp_kernel_refresh_threads(struct ahp_kernel_view *kv);

/* Wait up to TIMEOUT_MS for records and hand them over; refresh the thread list when due.
 * Returns the records read or a negative errno. */
int ahp_kernel_poll(struct ahp_kernel_view *kv, int timeout_ms);

/* Stop counting (every program at once), then read what is left in the ring buffer. */
int ahp_kernel_finish(struct ahp_kernel_view *kv);

/* Sums over CPUs, indexed by type, then AHP_KSLOT_OUTSIDE and AHP_KSLOT_UNTAGGED. */
int ahp_kernel_stats(struct ahp_kernel_view *kv, struct ahp_kernel_stats out[AHP_KSLOTS]);
int ahp_kernel_globals(struct ahp_kernel_view *kv, struct ahp_kernel_globals *out);

/* The (slot, reason) aggregates of blocking inside callbacks: FN once per pair. */
typedef int (*ahp_kernel_reason_fn)(int slot, int reason, uint64_t count, uint64_t ns, void *ctx);
int ahp_kernel_reasons(struct ahp_kernel_view *kv, ahp_kernel_reason_fn fn, void *ctx);

/* The aggregated stacks: FN once per (kind, slot, user stack, kernel stack), with the value
 * (samples for AHP_KSTACK_CPU, ns for AHP_KSTACK_OFFCPU). Stack ids as in the records. */
typedef int (*ahp_kernel_stack_fn)(const struct ahp_kernel_stack_key *key, uint64_t value,
                                   void *ctx);
int ahp_kernel_stack_counts(struct ahp_kernel_view *kv, ahp_kernel_stack_fn fn, void *ctx);

/* The stack STACK_REF (an id + 1 as in records and keys): fills IPS (innermost first) and
 * returns how many frames, 0 for STACK_REF 0, or a negative errno. */
int ahp_kernel_stack(struct ahp_kernel_view *kv, uint32_t stack_ref,
                     uint64_t ips[AHP_KSTACK_FRAMES]);

/* The PERMILLE-th permille of S's run-queue waits, ns: the upper bound of its log2 bucket. */
uint64_t ahp_kernel_runq_percentile(const struct ahp_kernel_stats *s, unsigned permille);

/* "read", "futex", "preempted", "fault", or "syscall#N". */
const char *ahp_kernel_reason_name(int reason, char buf[32]);

/* The name of SLOT: the type's name from the target's registry (untrusted, NUL-terminated),
 * "(outside callbacks)", "(untagged)", or "type#N". */
const char *ahp_kernel_slot_name(struct ahp_kernel_view *kv, int slot, char buf[AHP_NAME_SIZE]);

/* Symbolize a user (KERNEL false) or kernel address into "function" (or "0x..."). */
void ahp_kernel_symbol(struct ahp_kernel_view *kv, uint64_t ip, bool kernel, char *out,
                       size_t size);

/* The view as JSON (docs/kernel-view.md): "kernel": {"hz", "interval_ns", "types": [...]
 * with cpu_samples, cpu_ns, cpu_pct, blocked_ns, blocked_count, blocked_max_ns, runq_ns,
 * runq_p50_ns, runq_p99_ns, reasons; "stacks" when WITH_STACKS}. WALL_NS: the interval the
 * figures cover (for cpu_pct). */
int ahp_kernel_write_json(struct ahp_kernel_view *kv, struct ahp_json *w, uint64_t wall_ns,
                          bool with_stacks);

/* The aggregated stacks of KIND in the folded format of flamegraph tools, one line per stack:
 * "TYPE;user frames, outermost first;kernel frames, outermost first VALUE" (samples for
 * AHP_KSTACK_CPU, ns for AHP_KSTACK_OFFCPU). Labels are safe (model/asyncstack.h). */
int ahp_kernel_write_folded(struct ahp_kernel_view *kv, FILE *out, enum ahp_kernel_kind kind);

/* The native stack of a record or key, symbolized into NAMES (innermost first, at most MAX):
 * the kernel frames first (without the BPF program's own), "function_[k]", then the user
 * frames, "function" or "0x...", with the caller of a frameless syscall wrapper (LEAF_RET).
 * Returns the frame count; *NKERNEL gets how many are the kernel's. */
int ahp_kernel_stack_names(struct ahp_kernel_view *kv, uint32_t user_ref, uint32_t kernel_ref,
                           uint64_t leaf_ret, char (*names)[128], int max, int *nkernel);

/* The kernel's run-time statistics of the view's programs (on_switch, on_wakeup, cpu_sample):
 * total ns and runs since they were loaded, while statistics were enabled (bpf_enable_stats,
 * kernel.bpf_stats_enabled); 0 otherwise. For benchmarks. */
int ahp_kernel_prog_runtime(struct ahp_kernel_view *kv, const char *prog, uint64_t *run_ns,
                            uint64_t *runs);

/* Samples per second per CPU (0: no sampling): a CPU sample stands for 1/hz s of CPU. */
uint32_t ahp_kernel_hz(const struct ahp_kernel_view *kv);

void ahp_kernel_stop(struct ahp_kernel_view *kv);

#endif
