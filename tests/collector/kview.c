/*
 * kview.c - the kernel view (src/cli/collect/kernel.h) on its own, until the commands carry
 * it: attach to PID, say "attached" on stderr, measure until stdin has a line or closes (or
 * --duration-ms), then print the view as JSON ({"kernel": ...}, docs/kernel-view.md).
 *
 *   kview -p PID [--hz N] [--stacks] [--records] [--no-stack-list] [--duration-ms MS]
 *
 * --bpf-stats enables the kernel's BPF run-time statistics (machine-wide, while kview runs)
 * and prints the view's programs' "bpf_runtime": {"PROG": {"run_ns", "runs"}}.
 * --folded cpu|offcpu prints the aggregated stacks of that kind in the folded format
 * (TYPE;frames VALUE) instead of JSON: what `flame -w cpu|offcpu` will draw.
 * --records streams every sample and off-CPU episode through the ring buffer (what
 * `record --cpu` will write) and counts them: "records": {"cpu", "offcpu", "offcpu_ns"}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "collect/kernel.h"
#include "common/clock.h"

struct record_counts {
    uint64_t cpu, offcpu, offcpu_ns;
};

static int count_record(const struct ahp_kernel_record *r, void *ctx)
{
    struct record_counts *rc = ctx;
    if (r->kind == AHP_KSTACK_CPU) {
        rc->cpu++;
    } else if (r->kind == AHP_KSTACK_OFFCPU && r->reason != AHP_KR_PREEMPTED) {
        rc->offcpu++;
        rc->offcpu_ns += r->dur_ns;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct record_counts counts = {0};
    pid_t pid = 0;
    struct ahp_kernel_opts opts = {.hz = AHP_KERNEL_DEFAULT_HZ};
    bool stack_list = true, bpf_stats = false;
    int folded = 0;
    long duration_ms = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            pid = (pid_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--hz") == 0 && i + 1 < argc)
            opts.hz = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--stacks") == 0)
            opts.offcpu_stacks = true;
        else if (strcmp(argv[i], "--bpf-stats") == 0)
            bpf_stats = true;
        else if (strcmp(argv[i], "--folded") == 0 && i + 1 < argc) {
            folded = strcmp(argv[++i], "offcpu") == 0 ? AHP_KSTACK_OFFCPU : AHP_KSTACK_CPU;
        } else if (strcmp(argv[i], "--records") == 0)
            opts.records = true;
        else if (strcmp(argv[i], "--no-stack-list") == 0)
            stack_list = false;
        else if (strcmp(argv[i], "--duration-ms") == 0 && i + 1 < argc)
            duration_ms = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: kview -p PID [--hz N] [--stacks] [--records] [--bpf-stats] "
                            "[--folded cpu|offcpu] "
                            "[--no-stack-list] "
                            "[--duration-ms MS]\n");
            return 2;
        }
    }
    struct ahp_target t;
    int rc = ahp_target_open_pid(&t, pid);
    if (rc < 0) {
        fprintf(stderr, "kview: %d: %s\n", pid, strerror(-rc));
        return 1;
    }
    /* Before the programs are loaded, so that every run of theirs is counted. */
    if (bpf_stats && bpf_enable_stats(BPF_STATS_RUN_TIME) < 0) {
        fprintf(stderr, "kview: cannot enable BPF statistics: %s\n", strerror(errno));
        return 1;
    }
    struct ahp_kernel_view *kv;
    const char *what;
    rc = ahp_kernel_start(&kv, &t, &opts, count_record, &counts, &what);
    if (rc < 0) {
        fprintf(stderr, "kview: cannot %s: %s\n", what, strerror(-rc));
        return 1;
    }
    uint64_t start = ahp_now_ns();
    fprintf(stderr, "attached\n");
    for (;;) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0)
            break; /* a line, or EOF */
        ahp_kernel_poll(kv, 0);
        if (duration_ms >= 0 && ahp_now_ns() - start >= (uint64_t)duration_ms * 1000000ull)
            break;
    }
    uint64_t wall = ahp_now_ns() - start;
    ahp_kernel_finish(kv);
    if (folded) {
        rc = ahp_kernel_write_folded(kv, stdout, (enum ahp_kernel_kind)folded);
        ahp_kernel_stop(kv);
        ahp_target_close(&t);
        return rc < 0 || fflush(stdout) != 0 ? 1 : 0;
    }
    struct ahp_json w;
    ahp_json_init(&w, stdout, AHP_JSON_SPACED);
    ahp_json_object_begin(&w);
    ahp_json_key(&w, "kernel");
    rc = ahp_kernel_write_json(kv, &w, wall, stack_list);
    if (bpf_stats) {
        static const char *const progs[] = {"on_switch", "on_wakeup", "cpu_sample"};
        ahp_json_key(&w, "bpf_runtime");
        ahp_json_object_begin(&w);
        for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
            uint64_t ns = 0, runs = 0;
            ahp_kernel_prog_runtime(kv, progs[i], &ns, &runs);
            ahp_json_key(&w, progs[i]);
            ahp_json_object_begin(&w);
            ahp_json_field_u64(&w, "run_ns", ns);
            ahp_json_field_u64(&w, "runs", runs);
            ahp_json_object_end(&w);
        }
        ahp_json_object_end(&w);
    }
    if (opts.records) {
        ahp_json_key(&w, "records");
        ahp_json_object_begin(&w);
        ahp_json_field_u64(&w, "cpu", counts.cpu);
        ahp_json_field_u64(&w, "offcpu", counts.offcpu);
        ahp_json_field_u64(&w, "offcpu_ns", counts.offcpu_ns);
        ahp_json_object_end(&w);
    }
    ahp_json_object_end(&w);
    ahp_json_flush(&w);
    if (rc == 0)
        rc = ahp_json_error(&w);
    putchar('\n');
    ahp_kernel_stop(kv);
    ahp_target_close(&t);
    return rc < 0 ? 1 : 0;
}
