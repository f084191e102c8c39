/* kernel.c - loading bpf/kernel.bpf.c for a target and reading what it measures (kernel.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collect/kernel.h"
#include "data/datafile.h"
#include "collect/symbolize.h"
#include "common/clock.h"
#include "model/asyncstack.h"
#include "kernel.skel.h"

/* Threads of a process walked at most (the registry is untrusted: its list may loop). */
#define AHP_KERNEL_REFRESH_NS 100000000ull

struct ksym {
    uint64_t addr;
    char *name;
};

struct ahp_kernel_view {
    struct kernel_bpf *skel;
    struct ring_buffer *rb;
    struct ahp_target *target;
    int ncpus;
    uint32_t hz; /* 0: no sampling */
    int *perf_fds;
    struct bpf_link **perf_links;
    struct bpf_link *switch_link, *wakeup_link, *exec_link;
    ahp_kernel_record_fn on_record;
    void *ctx;
    uint64_t refreshed_ns;
    bool have_layout; /* read from the registry and handed to the BPF side */
    uint32_t *tids;   /* the threads last put in thread_blocks */
    uint32_t ntids;
    struct ahp_snapshot *names;
    struct ahp_symbolizer *sym;
    struct ksym *ksyms;
    size_t nksyms;
};

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EFAULT;
}

/* Where libah keeps a thread's execution stack: registry version 3 publishes it. The values
 * are the target's: bounded here so that the BPF side's address arithmetic cannot wrap (its
 * reads are checked anyway). */
static int thread_layout(const struct ah_registry *reg, struct ahp_thread_layout *l)
{
    if (reg->version < 3)
        return -EPROTONOSUPPORT;
    /* The BPF side reads a frame's head as this structure. */
    _Static_assert(offsetof(struct ah_registry_frame, resource) == 0 &&
                       offsetof(struct ah_registry_frame, id) == 8,
                   "bpf/kernel.bpf.c reads the resource, then the id");
    if (reg->stack_offset > (1u << 20) || reg->depth_offset > (1u << 20) ||
        reg->frame_size < sizeof(struct ah_registry_frame) || reg->frame_size > 4096 ||
        reg->resource_type_offset > 4096)
        return -EPROTO;
    l->stack_off = (uint32_t)reg->stack_offset;
    l->depth_off = (uint32_t)reg->depth_offset;
    l->frame_size = (uint32_t)reg->frame_size;
    l->resource_type_off = (uint32_t)reg->resource_type_offset;
    return 0;
}

static int read_registry(struct ahp_target *t, struct ah_registry *reg)
{
    int rc = ahp_target_locate_registry(t);
    if (rc == 0)
        rc = read_mem(t->pid, t->registry_addr, reg, sizeof(*reg));
    if (rc == 0 && reg->magic != AH_REGISTRY_MAGIC)
        rc = -EPROTO;
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ahp_kernel_refresh_threads(struct ahp_kernel_view *kv)
{
    struct ahp_target *t = kv->target;
    kv->refreshed_ns = ahp_now_ns();
    struct ah_registry reg;
    int rc = read_registry(t, &reg);
    if (rc < 0)
        return rc;
    if (!kv->have_layout) {
        struct ahp_thread_layout layout;
        rc = thread_layout(&reg, &layout);
        if (rc < 0)
            return rc;
        kv->skel->bss->layout = layout;
        kv->have_layout = true;
    }
    uint32_t *tids = malloc(AHP_KERNEL_MAX_THREADS * sizeof(*tids));
    if (tids == NULL)
        return -ENOMEM;
    int fd = bpf_map__fd(kv->skel->maps.thread_blocks);
    uint32_t n = 0;
    /* A list changing under the walk may hand a stale block over for a moment: the BPF side
     * reads through whatever address it holds with checked reads only. */
    for (uint64_t addr = reg.threads; addr != 0 && n < AHP_KERNEL_MAX_THREADS;) {
        struct ah_registry_thread head;
        if (read_mem(t->pid, addr, &head, offsetof(struct ah_registry_thread, live)) < 0)
            break;
        if (!(head.flags & AH_REGISTRY_RETIRED) && head.tid > 0) {
            uint32_t tid = (uint32_t)head.tid;
            if (bpf_map_update_elem(fd, &tid, &addr, BPF_ANY) == 0)
                tids[n++] = tid;
        }
        addr = head.next;
    }
    /* Threads gone from the list: their tids may come back as other threads. */
    qsort(tids, n, sizeof(*tids), cmp_u32);
    for (uint32_t i = 0; i < kv->ntids; i++)
        if (!bsearch(&kv->tids[i], tids, n, sizeof(*tids), cmp_u32))
            bpf_map_delete_elem(fd, &kv->tids[i]);
    free(kv->tids);
    kv->tids = tids;
    kv->ntids = n;
    return (int)n;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
    struct ahp_kernel_view *kv = ctx;
    if (size < sizeof(struct ahp_kernel_record) || kv->on_record == NULL)
        return 0;
    struct ahp_kernel_record r;
    memcpy(&r, data, sizeof(r));
    return kv->on_record(&r, kv->ctx);
}

static int open_sampling(struct ahp_kernel_view *kv, uint32_t hz)
{
    kv->perf_fds = calloc((size_t)kv->ncpus, sizeof(int));
    kv->perf_links = calloc((size_t)kv->ncpus, sizeof(*kv->perf_links));
    if (kv->perf_fds == NULL || kv->perf_links == NULL)
        return -ENOMEM;
    int opened = 0, err = 0;
    for (int cpu = 0; cpu < kv->ncpus; cpu++) {
        kv->perf_fds[cpu] = -1;
        struct perf_event_attr attr = {
            .type = PERF_TYPE_SOFTWARE,
            .size = sizeof(attr),
            .config = PERF_COUNT_SW_CPU_CLOCK,
            .sample_freq = hz,
            .freq = 1,
        };
        /* One event per CPU for every process: a process-wide event does not follow the
         * threads it starts later. The program keeps only the target's samples. */
        int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            if (errno != ENODEV) /* an offline CPU */
                err = -errno;
            continue;
        }
        kv->perf_fds[cpu] = fd;
        kv->perf_links[cpu] = bpf_program__attach_perf_event(kv->skel->progs.cpu_sample, fd);
        if (kv->perf_links[cpu] == NULL)
            return errno ? -errno : -EINVAL;
        opened++;
    }
    return opened ? 0 : err ? err : -ENODEV;
}

uint32_t ahp_kernel_hz(const struct ahp_kernel_view *kv)
{
    return kv->hz;
}

int ahp_kernel_start(struct ahp_kernel_view **out, struct ahp_target *t,
                     const struct ahp_kernel_opts *opts, ahp_kernel_record_fn on_record, void *ctx,
                     const char **what)
{
    *out = NULL;
    struct ahp_kernel_view *kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        return -ENOMEM;
    kv->target = t;
    kv->on_record = on_record;
    kv->ctx = ctx;
    kv->ncpus = libbpf_num_possible_cpus();
    int rc;
    *what = "count CPUs";
    if (kv->ncpus <= 0) {
        rc = -EINVAL;
        goto fail;
    }
    *what = "open the kernel-view BPF object";
    kv->skel = kernel_bpf__open();
    if (kv->skel == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto fail;
    }
    kv->skel->rodata->target_tgid = (uint32_t)t->pid;
    kv->skel->rodata->emit_records = opts->records;
    kv->skel->rodata->offcpu_stacks = opts->offcpu_stacks;
    kv->skel->rodata->sample_stacks = opts->hz > 0;
    rc = bpf_map__set_max_entries(kv->skel->maps.kstacks,
                                  opts->max_stacks ? opts->max_stacks : 16384);
    if (rc == 0 && !opts->records)
        rc = bpf_map__set_max_entries(kv->skel->maps.krecords, 4096);
    *what = "size the kernel-view maps";
    if (rc < 0)
        goto fail;
    *what = "load the kernel-view BPF programs";
    rc = kernel_bpf__load(kv->skel);
    if (rc < 0)
        goto fail;
    kv->skel->bss->execs_expected = t->launched ? 1 : 0;
    /* A launched target maps libah only once it runs: its threads are learnt later. */
    *what = "read the target's threads from libah's registry";
    rc = ahp_kernel_refresh_threads(kv);
    if (rc < 0 && !(t->launched && rc == -EAGAIN))
        goto fail;
    *what = "attach to the sched_switch tracepoint";
    kv->switch_link = bpf_program__attach(kv->skel->progs.on_switch);
    if (kv->switch_link == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto fail;
    }
    *what = "attach to the sched_wakeup tracepoint";
    kv->wakeup_link = bpf_program__attach(kv->skel->progs.on_wakeup);
    if (kv->wakeup_link == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto fail;
    }
    *what = "attach to the sched_process_exec tracepoint";
    kv->exec_link = bpf_program__attach(kv->skel->progs.stop_on_exec);
    if (kv->exec_link == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto fail;
    }
    if (opts->hz > 0) {
        *what = "open a sampling perf event per CPU";
        rc = open_sampling(kv, opts->hz);
        if (rc < 0)
            goto fail;
        kv->hz = opts->hz;
    }
    *what = "open the kernel-view ring buffer";
    kv->rb = ring_buffer__new(bpf_map__fd(kv->skel->maps.krecords), on_ring_record, kv, NULL);
    if (kv->rb == NULL) {
        rc = errno ? -errno : -ENOMEM;
        goto fail;
    }
    kv->sym = ahp_symbolizer_new(t->pid);
    if (kv->sym)
        ahp_symbolizer_refresh(kv->sym);
    *what = NULL;
    *out = kv;
    return 0;
fail:
    ahp_kernel_stop(kv);
    return rc;
}

int ahp_kernel_poll(struct ahp_kernel_view *kv, int timeout_ms)
{
    struct pollfd pfd = {.fd = ring_buffer__epoll_fd(kv->rb), .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    if (ahp_now_ns() - kv->refreshed_ns >= AHP_KERNEL_REFRESH_NS) {
        ahp_kernel_refresh_threads(kv); /* a target that exits meanwhile is not an error */
        if (kv->sym)
            ahp_symbolizer_refresh(kv->sym);
    }
    return ring_buffer__consume(kv->rb);
}

int ahp_kernel_finish(struct ahp_kernel_view *kv)
{
    __atomic_store_n(&kv->skel->bss->collector_stopped, 1, __ATOMIC_RELEASE);
    return ring_buffer__consume(kv->rb);
}

int ahp_kernel_stats(struct ahp_kernel_view *kv, struct ahp_kernel_stats out[AHP_KSLOTS])
{
    struct ahp_kernel_stats *percpu = calloc((size_t)kv->ncpus, sizeof(*percpu));
    if (percpu == NULL)
        return -ENOMEM;
    int fd = bpf_map__fd(kv->skel->maps.kstats);
    memset(out, 0, sizeof(*out) * AHP_KSLOTS);
    for (uint32_t key = 0; key < AHP_KSLOTS; key++) {
        if (bpf_map_lookup_elem(fd, &key, percpu) < 0)
            continue;
        struct ahp_kernel_stats *o = &out[key];
        for (int cpu = 0; cpu < kv->ncpus; cpu++) {
            const struct ahp_kernel_stats *s = &percpu[cpu];
            o->cpu_samples += s->cpu_samples;
            o->blocked_ns += s->blocked_ns;
            o->blocked_count += s->blocked_count;
            if (s->blocked_max_ns > o->blocked_max_ns)
                o->blocked_max_ns = s->blocked_max_ns;
            o->runq_ns += s->runq_ns;
            o->preempted_ns += s->preempted_ns;
            o->preempted_count += s->preempted_count;
            o->runq_count += s->runq_count;
            o->runq_wait_ns += s->runq_wait_ns;
            for (int i = 0; i < AHP_HIST_SLOTS; i++)
                o->runq_hist[i] += s->runq_hist[i];
        }
    }
    free(percpu);
    return 0;
}

int ahp_kernel_globals(struct ahp_kernel_view *kv, struct ahp_kernel_globals *out)
{
    struct ahp_kernel_globals *percpu = calloc((size_t)kv->ncpus, sizeof(*percpu));
    if (percpu == NULL)
        return -ENOMEM;
    uint32_t key = 0;
    memset(out, 0, sizeof(*out));
    int rc = bpf_map_lookup_elem(bpf_map__fd(kv->skel->maps.kglobals), &key, percpu);
    for (int cpu = 0; rc == 0 && cpu < kv->ncpus; cpu++) {
        out->samples += percpu[cpu].samples;
        out->read_errors += percpu[cpu].read_errors;
        out->malformed += percpu[cpu].malformed;
        out->stack_errors += percpu[cpu].stack_errors;
        out->stacks_dropped += percpu[cpu].stacks_dropped;
        out->lost_records += percpu[cpu].lost_records;
        out->reasons_dropped += percpu[cpu].reasons_dropped;
        out->switches_lost += percpu[cpu].switches_lost;
    }
    free(percpu);
    return rc < 0 ? -errno : 0;
}

int ahp_kernel_reasons(struct ahp_kernel_view *kv, ahp_kernel_reason_fn fn, void *ctx)
{
    struct ahp_kernel_reason_val *percpu = calloc((size_t)kv->ncpus, sizeof(*percpu));
    if (percpu == NULL)
        return -ENOMEM;
    int fd = bpf_map__fd(kv->skel->maps.reasons), rc = 0;
    struct ahp_kernel_reason_key key, next;
    const void *prev = NULL;
    while (rc == 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, percpu) < 0)
            continue;
        uint64_t count = 0, ns = 0;
        for (int cpu = 0; cpu < kv->ncpus; cpu++) {
            count += percpu[cpu].count;
            ns += percpu[cpu].ns;
        }
        rc = fn(key.slot, key.reason, count, ns, ctx);
    }
    free(percpu);
    return rc;
}

int ahp_kernel_stack_counts(struct ahp_kernel_view *kv, ahp_kernel_stack_fn fn, void *ctx)
{
    int fd = bpf_map__fd(kv->skel->maps.stack_counts), rc = 0;
    struct ahp_kernel_stack_key key, next;
    const void *prev = NULL;
    while (rc == 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        uint64_t value;
        if (bpf_map_lookup_elem(fd, &key, &value) == 0)
            rc = fn(&key, value, ctx);
    }
    return rc;
}

int ahp_kernel_stack(struct ahp_kernel_view *kv, uint32_t stack_ref,
                     uint64_t ips[AHP_KSTACK_FRAMES])
{
    memset(ips, 0, sizeof(uint64_t) * AHP_KSTACK_FRAMES);
    if (stack_ref == 0)
        return 0;
    uint32_t id = stack_ref - 1;
    if (bpf_map_lookup_elem(bpf_map__fd(kv->skel->maps.kstacks), &id, ips) < 0)
        return -errno;
    int n = 0;
    while (n < AHP_KSTACK_FRAMES && ips[n] != 0)
        n++;
    return n;
}

const char *ahp_kernel_reason_name(int reason, char buf[32])
{
    _Static_assert(AHP_KR_PREEMPTED == AHP_KREC_PREEMPTED && AHP_KR_FAULT == AHP_KREC_FAULT,
                   "the file keeps the kernel view's reasons as they are");
    return ahp_krecord_reason_name(reason, buf);
}

const char *ahp_kernel_slot_name(struct ahp_kernel_view *kv, int slot, char buf[AHP_NAME_SIZE])
{
    if (slot == AHP_KSLOT_OUTSIDE)
        return "(outside callbacks)";
    if (slot == AHP_KSLOT_UNTAGGED)
        return "(untagged)";
    if (kv->names == NULL && (kv->names = calloc(1, sizeof(*kv->names))) != NULL)
        ahp_target_read_names(kv->target, kv->names);
    if (kv->names && slot >= 0 && (uint32_t)slot >= kv->names->type_count)
        ahp_target_read_names(kv->target, kv->names); /* registered since */
    if (kv->names && slot >= 0 && (uint32_t)slot < kv->names->type_count &&
        kv->names->names[slot][0]) {
        memcpy(buf, kv->names->names[slot], AHP_NAME_SIZE);
        buf[AHP_NAME_SIZE - 1] = '\0';
        return buf;
    }
    snprintf(buf, AHP_NAME_SIZE, "type#%d", slot);
    return buf;
}

static int cmp_ksym(const void *a, const void *b)
{
    const struct ksym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(struct ahp_kernel_view *kv)
{
    FILE *f = fopen("/proc/kallsyms", "r");
    if (f == NULL)
        return;
    size_t cap = 0;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long addr;
        char type, name[256];
        if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || addr == 0)
            continue;
        if (type != 't' && type != 'T')
            continue;
        if (kv->nksyms == cap) {
            cap = cap ? cap * 2 : 65536;
            struct ksym *grown = realloc(kv->ksyms, cap * sizeof(*grown));
            if (grown == NULL)
                break;
            kv->ksyms = grown;
        }
        kv->ksyms[kv->nksyms].addr = addr;
        kv->ksyms[kv->nksyms].name = strdup(name);
        if (kv->ksyms[kv->nksyms].name)
            kv->nksyms++;
    }
    fclose(f);
    qsort(kv->ksyms, kv->nksyms, sizeof(*kv->ksyms), cmp_ksym);
}

void ahp_kernel_symbol(struct ahp_kernel_view *kv, uint64_t ip, bool kernel, char *out, size_t size)
{
    if (kernel) {
        if (kv->ksyms == NULL)
            load_kallsyms(kv);
        size_t lo = 0, hi = kv->nksyms;
        while (lo < hi) { /* the last symbol at or below IP */
            size_t mid = (lo + hi) / 2;
            if (kv->ksyms[mid].addr <= ip)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0) {
            snprintf(out, size, "%s_[k]", kv->ksyms[lo - 1].name);
            return;
        }
    } else if (kv->sym) {
        struct ahp_stack_frame f;
        ahp_symbolize(kv->sym, ip, true, &f);
        if (f.func[0]) {
            snprintf(out, size, "%s", f.func);
            return;
        }
    }
    snprintf(out, size, "0x%llx", (unsigned long long)ip);
}

/* Run-queue percentiles from a log2 histogram: the upper bound of the bucket that holds the
 * P-th permille. */
static uint64_t hist_percentile(const __u64 hist[AHP_HIST_SLOTS], uint64_t count, unsigned permille)
{
    if (count == 0)
        return 0;
    uint64_t want = (count * permille + 999) / 1000, seen = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++) {
        seen += hist[i];
        if (seen >= want)
            return i >= 63 ? UINT64_MAX : (2ull << i) - 1;
    }
    return UINT64_MAX;
}

uint64_t ahp_kernel_runq_percentile(const struct ahp_kernel_stats *s, unsigned permille)
{
    return hist_percentile(s->runq_hist, s->runq_count, permille);
}

struct json_reasons {
    struct ahp_json *w;
    int slot;
};

static int write_reason(int slot, int reason, uint64_t count, uint64_t ns, void *ctx)
{
    struct json_reasons *jr = ctx;
    if (slot != jr->slot)
        return 0;
    char buf[32];
    ahp_json_object_begin(jr->w);
    ahp_json_field_str(jr->w, "reason", ahp_kernel_reason_name(reason, buf));
    ahp_json_field_u64(jr->w, "count", count);
    ahp_json_field_u64(jr->w, "ns", ns);
    ahp_json_object_end(jr->w);
    return 0;
}

struct json_stacks {
    struct ahp_kernel_view *kv;
    struct ahp_json *w;
};

/* LEAF_RET (struct ahp_kernel_stack_key) goes after the innermost frame when it names a
 * function and the walk did not find it: the caller of a frameless syscall wrapper. */
static int with_leaf_caller(struct ahp_kernel_view *kv, uint64_t ips[AHP_KSTACK_FRAMES], int n,
                            uint64_t leaf_ret)
{
    if (leaf_ret == 0 || n < 1 || n >= AHP_KSTACK_FRAMES || (n >= 2 && ips[1] == leaf_ret) ||
        kv->sym == NULL)
        return n;
    struct ahp_stack_frame f;
    ahp_symbolize(kv->sym, leaf_ret, true, &f);
    if (f.func[0] == '\0')
        return n;
    memmove(&ips[2], &ips[1], (size_t)(n - 1) * sizeof(ips[0]));
    ips[1] = leaf_ret;
    return n + 1;
}

static void write_frames(struct ahp_kernel_view *kv, struct ahp_json *w, uint32_t ref, bool kernel,
                         uint64_t leaf_ret)
{
    uint64_t ips[AHP_KSTACK_FRAMES];
    int n = ahp_kernel_stack(kv, ref, ips);
    if (!kernel)
        n = with_leaf_caller(kv, ips, n, leaf_ret);
    ahp_json_array_begin(w);
    bool leading = kernel;
    for (int i = 0; i < n; i++) {
        char name[300];
        ahp_kernel_symbol(kv, ips[i], kernel, name, sizeof(name));
        /* The kernel stack starts in the BPF program and the tracepoint that ran it. */
        if (leading && (strncmp(name, "bpf_", 4) == 0 || strncmp(name, "__traceiter_", 12) == 0))
            continue;
        leading = false;
        ahp_json_str(w, name);
    }
    ahp_json_array_end(w);
}

static int write_stack(const struct ahp_kernel_stack_key *key, uint64_t value, void *ctx)
{
    struct json_stacks *js = ctx;
    char name[AHP_NAME_SIZE];
    ahp_json_object_begin(js->w);
    ahp_json_field_str(js->w, "kind", key->kind == AHP_KSTACK_CPU ? "cpu" : "offcpu");
    ahp_json_field_str(js->w, "type", ahp_kernel_slot_name(js->kv, key->slot, name));
    ahp_json_field_u64(js->w, key->kind == AHP_KSTACK_CPU ? "samples" : "ns", value);
    ahp_json_key(js->w, "user_stack"); /* innermost first */
    write_frames(js->kv, js->w, key->user_stack, false, key->leaf_ret);
    ahp_json_key(js->w, "kernel_stack");
    write_frames(js->kv, js->w, key->kernel_stack, true, 0);
    ahp_json_object_end(js->w);
    return 0;
}

int ahp_kernel_stack_names(struct ahp_kernel_view *kv, uint32_t user_ref, uint32_t kernel_ref,
                           uint64_t leaf_ret, char (*names)[128], int max, int *nkernel)
{
    uint64_t ips[AHP_KSTACK_FRAMES];
    int n = 0, k = ahp_kernel_stack(kv, kernel_ref, ips);
    bool leading = true; /* the kernel stack starts in the BPF program and its tracepoint */
    for (int i = 0; i < k && n < max; i++) {
        ahp_kernel_symbol(kv, ips[i], true, names[n], 128);
        if (leading &&
            (strncmp(names[n], "bpf_", 4) == 0 || strncmp(names[n], "__traceiter_", 12) == 0))
            continue;
        leading = false;
        n++;
    }
    *nkernel = n;
    int u = ahp_kernel_stack(kv, user_ref, ips);
    if (u > 0)
        u = with_leaf_caller(kv, ips, u, leaf_ret);
    for (int i = 0; i < u && n < max; i++)
        ahp_kernel_symbol(kv, ips[i], false, names[n++], 128);
    return n;
}

struct folded {
    struct ahp_kernel_view *kv;
    FILE *out;
    uint32_t kind;
};

static void fold_frames(struct folded *f, uint32_t ref, bool kernel, uint64_t leaf_ret)
{
    uint64_t ips[AHP_KSTACK_FRAMES];
    int n = ahp_kernel_stack(f->kv, ref, ips);
    if (!kernel)
        n = with_leaf_caller(f->kv, ips, n, leaf_ret);
    /* The kernel stack starts in the BPF program and the tracepoint that ran it. */
    int skip = 0;
    char name[300], label[4 * sizeof(name) + 8];
    while (kernel && skip < n) {
        ahp_kernel_symbol(f->kv, ips[skip], true, name, sizeof(name));
        if (strncmp(name, "bpf_", 4) != 0 && strncmp(name, "__traceiter_", 12) != 0)
            break;
        skip++;
    }
    for (int i = n - 1; i >= skip; i--) {
        ahp_kernel_symbol(f->kv, ips[i], kernel, name, sizeof(name));
        ahp_label_safe(label, sizeof(label), name, sizeof(name));
        fprintf(f->out, ";%s", label);
    }
}

static int fold_stack(const struct ahp_kernel_stack_key *key, uint64_t value, void *ctx)
{
    struct folded *f = ctx;
    if (key->kind != f->kind || value == 0)
        return 0;
    char name[AHP_NAME_SIZE], label[4 * AHP_NAME_SIZE + 8];
    ahp_label_safe(label, sizeof(label), ahp_kernel_slot_name(f->kv, key->slot, name),
                   AHP_NAME_SIZE);
    fputs(label, f->out);
    fold_frames(f, key->user_stack, false, key->leaf_ret);
    fold_frames(f, key->kernel_stack, true, 0);
    fprintf(f->out, " %llu\n", (unsigned long long)value);
    return ferror(f->out) ? -EIO : 0;
}

int ahp_kernel_write_folded(struct ahp_kernel_view *kv, FILE *out, enum ahp_kernel_kind kind)
{
    struct folded f = {.kv = kv, .out = out, .kind = kind};
    return ahp_kernel_stack_counts(kv, fold_stack, &f);
}

int ahp_kernel_write_json(struct ahp_kernel_view *kv, struct ahp_json *w, uint64_t wall_ns,
                          bool with_stacks)
{
    struct ahp_kernel_stats *stats = calloc(AHP_KSLOTS, sizeof(*stats));
    if (stats == NULL)
        return -ENOMEM;
    int rc = ahp_kernel_stats(kv, stats);
    struct ahp_kernel_globals g;
    if (rc == 0)
        rc = ahp_kernel_globals(kv, &g);
    if (rc < 0) {
        free(stats);
        return rc;
    }
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "hz", kv->hz);
    ahp_json_field_u64(w, "interval_ns", wall_ns);
    ahp_json_field_u64(w, "samples", g.samples);
    ahp_json_field_u64(w, "read_errors", g.read_errors);
    ahp_json_field_u64(w, "malformed", g.malformed);
    ahp_json_field_u64(w, "stack_errors", g.stack_errors);
    ahp_json_field_u64(w, "stacks_dropped", g.stacks_dropped);
    ahp_json_field_u64(w, "lost_records", g.lost_records);
    ahp_json_field_u64(w, "reasons_dropped", g.reasons_dropped);
    ahp_json_field_u64(w, "switches_lost", g.switches_lost);
    ahp_json_key(w, "types");
    ahp_json_array_begin(w);
    for (int slot = 0; slot < AHP_KSLOTS; slot++) {
        const struct ahp_kernel_stats *s = &stats[slot];
        if (s->cpu_samples == 0 && s->blocked_count == 0 && s->preempted_count == 0 &&
            s->runq_count == 0)
            continue;
        char name[AHP_NAME_SIZE];
        ahp_json_object_begin(w);
        ahp_json_field_str(w, "name", ahp_kernel_slot_name(kv, slot, name));
        ahp_json_field_i64(w, "slot", slot);
        ahp_json_field_u64(w, "cpu_samples", s->cpu_samples);
        /* A sample stands for 1/HZ s of CPU: an estimate, good to about 1/sqrt(samples). */
        uint64_t cpu_ns = kv->hz ? s->cpu_samples * (1000000000ull / kv->hz) : 0;
        ahp_json_field_u64(w, "cpu_ns", cpu_ns);
        ahp_json_field_real(w, "cpu_pct", wall_ns ? 100.0 * (double)cpu_ns / (double)wall_ns : 0,
                            1);
        ahp_json_field_u64(w, "blocked_ns", s->blocked_ns);
        ahp_json_field_u64(w, "blocked_count", s->blocked_count);
        ahp_json_field_u64(w, "blocked_max_ns", s->blocked_max_ns);
        ahp_json_field_u64(w, "runq_ns", s->runq_ns);
        ahp_json_field_u64(w, "preempted_ns", s->preempted_ns);
        ahp_json_field_u64(w, "preempted_count", s->preempted_count);
        ahp_json_field_u64(w, "runq_count", s->runq_count);
        ahp_json_field_u64(w, "runq_p50_ns", hist_percentile(s->runq_hist, s->runq_count, 500));
        ahp_json_field_u64(w, "runq_p99_ns", hist_percentile(s->runq_hist, s->runq_count, 990));
        ahp_json_key(w, "reasons");
        ahp_json_array_begin(w);
        struct json_reasons jr = {.w = w, .slot = slot};
        ahp_kernel_reasons(kv, write_reason, &jr);
        ahp_json_array_end(w);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
    if (with_stacks) {
        ahp_json_key(w, "stacks");
        ahp_json_array_begin(w);
        struct json_stacks js = {.kv = kv, .w = w};
        ahp_kernel_stack_counts(kv, write_stack, &js);
        ahp_json_array_end(w);
    }
    ahp_json_object_end(w);
    free(stats);
    return 0; /* write errors stay in W for its owner, whose document is still open */
}

int ahp_kernel_prog_runtime(struct ahp_kernel_view *kv, const char *prog, uint64_t *run_ns,
                            uint64_t *runs)
{
    struct bpf_program *p = bpf_object__find_program_by_name(kv->skel->obj, prog);
    if (p == NULL)
        return -ENOENT;
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) < 0)
        return -errno;
    *run_ns = info.run_time_ns;
    *runs = info.run_cnt;
    return 0;
}

void ahp_kernel_stop(struct ahp_kernel_view *kv)
{
    if (kv == NULL)
        return;
    for (int cpu = 0; kv->perf_links && cpu < kv->ncpus; cpu++)
        bpf_link__destroy(kv->perf_links[cpu]);
    for (int cpu = 0; kv->perf_fds && cpu < kv->ncpus; cpu++)
        if (kv->perf_fds[cpu] >= 0)
            close(kv->perf_fds[cpu]);
    free(kv->perf_links);
    free(kv->perf_fds);
    bpf_link__destroy(kv->switch_link);
    bpf_link__destroy(kv->wakeup_link);
    bpf_link__destroy(kv->exec_link);
    ring_buffer__free(kv->rb);
    kernel_bpf__destroy(kv->skel);
    if (kv->sym)
        ahp_symbolizer_free(kv->sym);
    for (size_t i = 0; i < kv->nksyms; i++)
        free(kv->ksyms[i].name);
    free(kv->ksyms);
    free(kv->names);
    free(kv->tids);
    free(kv);
}
