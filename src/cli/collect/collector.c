/* collector.c - the BPF side of ahprof: load, attach, snapshot, read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ahprof.skel.h"
#include "collect/collector.h"
#include "common/util.h"

/* pidfd_open() of a thread rather than a process (Linux 6.9). */
#define AHP_PIDFD_THREAD O_EXCL

static const char *const probe_names[5] = {"init", "before", "after", "destroy", "resolve"};

/* Events the BPF side counted lost, or could not read, and the ones the decoder dropped. */
static uint64_t lost_so_far(struct ahp_collector *c)
{
    struct ahp_global_stats g;
    if (ahp_collector_global_stats(c, &g) < 0)
        return UINT64_MAX;
    return g.lost_events + g.batch_errors;
}

/* Whether some event may have been lost since the snapshot was read. The BPF side counts a
 * loss before it streams anything later of the same thread: read after that, the count
 * includes every earlier loss of the thread being classified. */
static bool lost_since_snapshot(struct ahp_collector *c)
{
    return lost_so_far(c) != c->lost_before_snapshot;
}

static bool counted_in_snapshot(struct ahp_collector *c, const struct ahp_event *ev)
{
    for (uint32_t i = 0; i < c->snapshot.nthreads; i++) {
        struct ahp_snapshot_thread *th = &c->snapshot.threads[i];
        if (th->tid != (int32_t)ev->tid)
            continue;
        if (ev->seq <= th->seq)
            return true;
        /* The first event after the snapshot must follow it directly (seq grows by 2 per
         * init/destroy): a gap is an event that raced the attach and reached neither side
         * (docs/probes.md, "What is not exact"). Only a stream of every event can tell, and
         * only while it lost nothing: the gap of a thread whose first batches found the ring
         * buffer full holds events the BPF side counted lost already. */
        if (!th->followed && (c->skel->rodata->record_events || !c->per_event)) {
            th->followed = true;
            if (ev->seq > th->seq + 2 && !lost_since_snapshot(c))
                c->attach_missed += (ev->seq - th->seq - 2) / 2;
        }
        return false;
    }
    /* A thread absent from the snapshot either exited before it (its counts were folded into
     * the retired block) or started after it. */
    return ev->ts_ns < c->snapshot.taken_ns;
}

/* Flag (and discount) an init or destroy that the attach snapshot counted already. */
static void classify(struct ahp_collector *c, struct ahp_event *ev)
{
    if (c->have_snapshot && (ev->kind == AHP_EV_INIT || ev->kind == AHP_EV_DESTROY) &&
        counted_in_snapshot(c, ev)) {
        ev->flags |= AHP_F_IN_SNAPSHOT;
        if (ev->type >= 0 && ev->type < AHP_TYPE_MAX)
            c->snapshot_adjust[ev->type] -= ev->kind == AHP_EV_INIT ? 1 : -1;
    }
}

/* Whether classify would flag none of EV[0..N), one thread's events in its order (seq and time
 * only grow in a decoded batch): its thread is followed past the snapshot already, or is not
 * in it and the run starts after it. Then a run costs one look-up, not one per event. */
static bool run_past_snapshot(struct ahp_collector *c, const struct ahp_event *ev, size_t n)
{
    if (!c->have_snapshot)
        return true;
    for (uint32_t i = 0; i < c->snapshot.nthreads; i++) {
        const struct ahp_snapshot_thread *th = &c->snapshot.threads[i];
        if (th->tid != (int32_t)ev[0].tid)
            continue;
        if (!th->followed)
            return false;
        for (size_t k = 0; k < n; k++)
            if (ev[k].kind == AHP_EV_INIT || ev[k].kind == AHP_EV_DESTROY)
                return ev[k].seq > th->seq;
        return true;
    }
    return ev[0].ts_ns >= c->snapshot.taken_ns;
}

static int deliver_fn(const struct ahp_event *ev, size_t n, void *ctx)
{
    struct ahp_collector *c = ctx;
    if (c->on_events != NULL)
        return c->on_events(ev, n, c->ctx);
    for (size_t i = 0; i < n; i++) {
        int rc = c->on_event(&ev[i], c->ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One batch's events at once: one merge push per batch, not per event. */
static int on_decoded(struct ahp_event *ev, size_t n, void *ctx)
{
    struct ahp_collector *c = ctx;
    if (!run_past_snapshot(c, ev, n))
        for (size_t i = 0; i < n; i++)
            classify(c, &ev[i]);
    if (c->on_event == NULL)
        return 0;
    if (c->discard) {
        c->discarded += n;
        return 0;
    }
    for (size_t done = 0;;) {
        long k = ahp_merge_push_run(&c->merge, ev + done, n - done);
        if (k < 0)
            return (int)k;
        done += (size_t)k;
        if (done == n)
            return 0;
        if (c->merge.held == 0)
            return -ENOBUFS;
        /* The window is full: the oldest half goes whatever its age (an event older than them
         * that arrives later counts as late). */
        int rc =
            ahp_merge_release_runs(&c->merge, UINT64_MAX, c->merge.held / 2 + 1, deliver_fn, c);
        if (rc != 0)
            return rc;
    }
}

#define AHP_MERGE_BATCH (1u << 16)

static int release_old(struct ahp_collector *c);

/* Checked every few records: a target that hands over events as fast as ahprof reads them
 * keeps the ring buffer from ever being empty, and must not keep ahprof from its deadline,
 * its signals or its memory bound. */
static bool read_enough(struct ahp_collector *c)
{
    if ((++c->records_read & 15) != 0 || ahp_now_ns() < c->read_deadline_ns)
        return false;
    c->read_yielded = true;
    return true;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
    struct ahp_collector *c = ctx;
    if (size > sizeof(struct ahp_event)) {
        /* Ring-buffer records are 8-byte aligned: decode in place. */
        int rc = ahp_decode_ring_message_run(&c->decoder, data, size, on_decoded, c);
        if (rc < 0)
            c->deliver_error = rc;
        /* One read may hand over millions of events from a busy target: pass on what is old
         * enough as we go, so that the window stays small. */
        if (c->merge.held >= AHP_MERGE_BATCH) {
            /* Whatever is being read now was handed over before this instant. */
            if (c->read_ns == 0)
                c->read_ns = ahp_now_ns();
            release_old(c);
        }
        return read_enough(c) ? -EAGAIN : 0;
    }
    if (size < sizeof(struct ahp_event))
        return 0;
    struct ahp_event ev;
    memcpy(&ev, data, sizeof(ev));
    classify(c, &ev);
    if (c->on_event && c->skel->rodata->record_events) {
        if (c->discard) {
            c->discarded++;
        } else {
            int rc = c->on_event(&ev, c->ctx);
            if (rc != 0)
                return rc;
        }
    }
    return read_enough(c) ? -EAGAIN : 0;
}

/* Read the ring buffer until it is empty or DEADLINE_NS (c->read_yielded then). Returns the
 * number of records or a negative errno. */
static int consume(struct ahp_collector *c, uint64_t deadline_ns)
{
    c->read_deadline_ns = deadline_ns;
    c->read_yielded = false;
    int n = ring_buffer__consume(c->rb);
    return n < 0 && c->read_yielded ? 0 : n;
}

/* Pass on the merged events older than HORIZON. */
static int release(struct ahp_collector *c, uint64_t horizon)
{
    if (c->deliver_error)
        return c->deliver_error;
    if (c->merge.held == 0)
        return 0;
    return ahp_merge_release_runs(&c->merge, horizon, SIZE_MAX, deliver_fn, c);
}

/* Pass on what is older than the reorder window: everything handed over before READ_NS has
 * been read, so younger events may still be held by threads, older ones no longer. */
static int release_old(struct ahp_collector *c)
{
    if (c->deliver_error)
        return c->deliver_error;
    uint64_t now = c->read_ns;
    return release(c, now > AHP_REORDER_NS ? now - AHP_REORDER_NS : 0);
}

/* Threads that existed before the attach announced their batch buffers to an earlier tracer,
 * or never: tell the BPF side where they are, so that it can read them at switch-out. A thread
 * that cannot be reached this way (gone, or a kernel without PIDFD_THREAD) is learnt at its
 * first flush. */
static void tell_buffers(struct ahp_collector *c)
{
    int fd = bpf_map__fd(c->skel->maps.batch_threads);
    for (uint32_t i = 0; i < c->snapshot.nthreads; i++) {
        const struct ahp_snapshot_thread *th = &c->snapshot.threads[i];
        int pidfd = (int)syscall(SYS_pidfd_open, th->tid, AHP_PIDFD_THREAD);
        if (pidfd < 0)
            continue;
        /* gen is unknown: the first read takes the whole batch as new. */
        struct ahp_batch_thread bt = {.addr = th->batch_addr, .gen = UINT64_MAX};
        bpf_map_update_elem(fd, &pidfd, &bt, BPF_NOEXIST);
        close(pidfd);
    }
}

/* On the batch path the decoder keeps the table, and the BPF side writes it only for the batches
 * the ring buffer had no room for (src/contracts/live_rules.h): mapped writable for it. */
static int map_live_table(struct ahp_collector *c)
{
    struct bpf_map *map = c->skel->maps.live;
    size_t bytes = (size_t)bpf_map__max_entries(map) * sizeof(struct ahp_live);
    int prot = c->per_event ? PROT_READ : PROT_READ | PROT_WRITE;
    void *p = mmap(NULL, bytes, prot, MAP_SHARED, bpf_map__fd(map), 0);
    if (p == MAP_FAILED)
        return -errno;
    c->live_table = p;
    c->live_slots = bpf_map__max_entries(map);
    if (!c->per_event) {
        c->decoder.live = p;
        c->decoder.live_mask = c->live_slots - 1;
    }
    return 0;
}

/* Uprobes on the exec functions of the target's libc (or of a static executable): the thread
 * calling one hands over its buffered records while its memory still exists. Best effort: a
 * libc without these symbols loses those records at exec (at most one buffer per thread). */
static void attach_exec_drains(struct ahp_collector *c, struct ahp_target *t)
{
    static const char *const funcs[] = {"execve", "execveat", "fexecve"};
    char libc[PATH_MAX];
    const char *files[2] = {t->lib_path, ahp_target_find_libc(t, libc, sizeof(libc))};
    int slot = 8;
    /* Most files have none of them (libah.so): libbpf would say so for each. */
    libbpf_print_fn_t print = libbpf_set_print(NULL);
    for (int f = 0; f < 2 && files[f] != NULL; f++) {
        for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]) && slot < AHP_COLLECTOR_LINKS;
             i++) {
            LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = funcs[i]);
            struct bpf_link *l = bpf_program__attach_uprobe_opts(c->skel->progs.drain_before_exec,
                                                                 t->pid, files[f], 0, &uo);
            if (l != NULL)
                c->links[slot++] = l;
        }
    }
    libbpf_set_print(print);
}

int ahp_collector_start(struct ahp_collector *c, struct ahp_target *t,
                        const struct ahp_collector_opts *opts, ahp_event_fn on_event, void *ctx,
                        const char **what)
{
    memset(c, 0, sizeof(*c));
    c->merge.max_held = AHP_MERGE_MAX_HELD;
    c->target = t;
    c->names_cache = calloc(1, sizeof(*c->names_cache)); /* NULL: names from BPF only */
    c->on_event = on_event;
    c->on_events = opts->on_events;
    c->ctx = ctx;
    c->ncpus = libbpf_num_possible_cpus();
    if (c->ncpus <= 0) {
        *what = "count CPUs";
        return -EINVAL;
    }
    *what = "open the BPF object";
    c->skel = ahprof_bpf__open();
    if (c->skel == NULL)
        return errno ? -errno : -EINVAL;
    c->skel->rodata->record_events = opts->record;
    c->skel->rodata->track_live = opts->track_live;
    c->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
    c->skel->rodata->capture_stacks = opts->capture_stacks;
    c->per_event = opts->per_event;
    /* The batch path's timestamps are TSC ticks; the BPF side converts callback times. */
    if (!opts->per_event) {
        ahp_tick_rate_measure(&c->decoder.rate, 20000000);
        c->skel->rodata->tick_mult = c->decoder.rate.mult;
        c->skel->rodata->tick_shift = c->decoder.rate.shift;
    }
    uint32_t live_slots = 1024;
    while (live_slots < opts->max_live && live_slots < (1u << 26))
        live_slots *= 2;
    c->skel->rodata->live_mask = live_slots - 1;
    c->skel->rodata->target_tgid = (uint32_t)t->pid;
    int rc = bpf_map__set_max_entries(c->skel->maps.events, opts->ringbuf_bytes);
    if (rc == 0)
        rc = bpf_map__set_max_entries(c->skel->maps.user_stacks,
                                      opts->capture_stacks && opts->max_stacks ? opts->max_stacks
                                                                               : 1);
    if (rc == 0)
        rc = bpf_map__set_max_entries(c->skel->maps.live, opts->track_live ? live_slots : 1);
    if (rc < 0) {
        *what = "size the BPF maps";
        return rc;
    }
    *what = "load the BPF programs";
    rc = ahprof_bpf__load(c->skel);
    if (rc < 0)
        return rc;
    if (opts->track_live && (rc = map_live_table(c)) < 0) {
        *what = "map the live-resource table";
        return rc;
    }
    /* A launched target's exec of its program is the start, not a change of program. */
    c->skel->bss->execs_expected = t->launched ? 1 : 0;
    /* Until the snapshot is read, every init and destroy is also streamed for it. */
    c->skel->bss->calib_end_ns = t->launched ? 0 : UINT64_MAX;
    /* Nothing counts until every probe is attached (below): the programs start counting at
     * one instant, as they stop at one. Attached one at a time, the per-event probes would
     * count a while with some of them only: a callback whose before is counted and whose
     * after is not stays open on its thread's BPF stack, and past AHP_STACK_DEPTH of them no
     * later callback of the thread is counted. What is raised meanwhile is the snapshot's. */
    c->skel->bss->collector_stopped = 1;

    struct bpf_program *progs[5] = {c->skel->progs.ah_init, c->skel->progs.ah_before,
                                    c->skel->progs.ah_after, c->skel->progs.ah_destroy,
                                    c->skel->progs.ah_resolve};
    for (int i = 0; i < (opts->per_event ? 5 : 1); i++) {
        c->links[i] = opts->per_event ? bpf_program__attach_usdt(progs[i], t->pid, t->lib_path,
                                                                 "ah", probe_names[i], NULL)
                                      : bpf_program__attach_usdt(c->skel->progs.ah_batch, t->pid,
                                                                 t->lib_path, "ah", "batch", NULL);
        if (c->links[i] == NULL) {
            *what = opts->per_event || errno != ENOENT
                        ? "attach to the ah probes"
                        : "attach to the ah:batch probe (libah older than 0.2? try --per-event)";
            return errno ? -errno : -EINVAL;
        }
    }
    if (!opts->per_event) {
        c->links[5] = bpf_program__attach(c->skel->progs.drain_on_switch);
        if (c->links[5] == NULL) {
            *what = "attach to the sched_switch tracepoint";
            return errno ? -errno : -EINVAL;
        }
    }
    /* Both paths: the exit status, and on the batch path the records of dying threads. */
    c->links[6] = bpf_program__attach(c->skel->progs.drain_on_exit);
    if (c->links[6] == NULL) {
        *what = "attach to the sched_process_exit tracepoint";
        return errno ? -errno : -EINVAL;
    }
    c->links[7] = bpf_program__attach(c->skel->progs.stop_on_exec);
    if (c->links[7] == NULL) {
        *what = "attach to the sched_process_exec tracepoint";
        return errno ? -errno : -EINVAL;
    }
    if (!opts->per_event)
        attach_exec_drains(c, t);
    __atomic_store_n(&c->skel->bss->collector_stopped, 0, __ATOMIC_RELEASE);
    c->attach_ns = ahp_now_ns();
    /* Every probe is in place: what is created from now on is seen whole. */
    __atomic_store_n(&c->skel->bss->lifecycle_from_ns, c->attach_ns, __ATOMIC_RELEASE);
    c->decoder.lifecycle_from_ns = c->attach_ns;
    c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_ring_record, c, NULL);
    if (c->rb == NULL) {
        *what = "open the ring buffer";
        return errno ? -errno : -ENOMEM;
    }
    if (!t->launched) {
        *what = "read libah's registry in the target";
        /* Before the registry: an event raised after it can only be lost after this. */
        c->lost_before_snapshot = lost_so_far(c);
        rc = ahp_target_snapshot(t, &c->snapshot);
        /* Events after this instant change the counts after the snapshot was read. */
        __atomic_store_n(&c->skel->bss->calib_end_ns, ahp_now_ns(), __ATOMIC_RELEASE);
        if (rc < 0)
            return rc;
        c->have_snapshot = true;
        if (!opts->per_event)
            tell_buffers(c);
        /* A few records at most: the recorder has nowhere to put events yet. */
        rc = consume(c, 0);
        if (rc < 0)
            return rc;
    }
    *what = NULL;
    return 0;
}

/* The BPF side learns a type's name from the batch that first shows the type, and keeps
 * what it could not read there (a bogus pointer, a page not present) unknown: the registry,
 * read from here while the target lives, fills the gap before the names matter (at the end,
 * when the target may be gone). Cheap: one read of the name table every 200 ms. */
static void learn_names_while_alive(struct ahp_collector *c, uint64_t now)
{
    if (c->target == NULL || c->names_cache == NULL)
        return;
    /* At once when the BPF side has just seen new types, else now and then. */
    uint32_t bpf_known = c->skel->bss->types_known;
    if (bpf_known == c->names_bpf_known && now - c->names_read_ns < AHP_NAMES_EVERY_NS)
        return;
    c->names_bpf_known = bpf_known;
    c->names_read_ns = now;
    if (ahp_target_read_names(c->target, c->names_cache) < 0)
        c->names_cache->type_count = 0; /* a torn or refused read: none of it is trusted */
}

int ahp_collector_poll(struct ahp_collector *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = ring_buffer__epoll_fd(c->rb), .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) < 0)
        return -errno;
    /* Batches are submitted without a wakeup until a share of the buffer is full: read what
     * is there before deciding what is old enough to pass on, or a batch handed over a moment
     * ago would wait unread while younger events of other threads went out. Only a read that
     * emptied the ring buffer says that everything before it has been seen. */
    uint64_t start = ahp_now_ns();
    learn_names_while_alive(c, start);
    int n = consume(c, start + AHP_READ_SLICE_NS);
    if (n < 0)
        return n;
    if (!c->read_yielded)
        c->read_ns = start;
    int rc = release_old(c);
    return rc < 0 ? rc : n;
}

int ahp_collector_drain(struct ahp_collector *c)
{
    int n = consume(c, UINT64_MAX);
    if (n < 0)
        return n;
    int rc = release(c, UINT64_MAX);
    return rc < 0 ? rc : n;
}

int ahp_collector_finish(struct ahp_collector *c, uint64_t budget_ns)
{
    uint64_t deadline = ahp_now_ns() + budget_ns;
    /* Every BPF program stops counting and streaming at once (the counters stay consistent);
     * without a producer the ring buffer then empties. The probes are detached afterwards,
     * at close: detaching a uprobe that the target keeps hitting takes a few hundred ms. */
    __atomic_store_n(&c->skel->bss->collector_stopped, 1, __ATOMIC_RELEASE);
    /* A program that read the flag before it was set may still be running (a vCPU the host
     * descheduled): its ring-buffer message, its lost count or its counters would come after
     * the reads below, counted on one side only. Each runs inside an RCU read-side section:
     * a grace period (a few ms) waits for all of them. */
    syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
    int n = consume(c, deadline);
    if (n >= 0 && c->read_yielded) {
        /* Still decoded, for the per-type counters, which stay exact. */
        c->discard = true;
        n = consume(c, UINT64_MAX);
    }
    if (n < 0)
        return n;
    int rc = release(c, UINT64_MAX);
    return rc < 0 ? rc : n;
}

uint64_t ahp_collector_late_events(const struct ahp_collector *c)
{
    return c->merge.late;
}

int ahp_collector_type_stats(struct ahp_collector *c, struct ahp_type_stats out[AHP_TYPE_MAX])
{
    struct ahp_type_stats *percpu = calloc((size_t)c->ncpus, sizeof(*percpu));
    if (percpu == NULL)
        return -ENOMEM;
    int fd = bpf_map__fd(c->skel->maps.type_stats);
    memset(out, 0, sizeof(*out) * AHP_TYPE_MAX);
    for (uint32_t key = 0; key < AHP_TYPE_MAX; key++) {
        if (bpf_map_lookup_elem(fd, &key, percpu) < 0)
            continue;
        struct ahp_type_stats *o = &out[key];
        for (int cpu = 0; cpu < c->ncpus; cpu++) {
            const struct ahp_type_stats *s = &percpu[cpu];
            o->created += s->created;
            o->destroyed += s->destroyed;
            o->resolved += s->resolved;
            o->self_created += s->self_created;
            o->callbacks += s->callbacks;
            o->callback_ns += s->callback_ns;
            o->exclusive_ns += s->exclusive_ns;
            if (s->max_ns > o->max_ns)
                o->max_ns = s->max_ns;
            for (int i = 0; i < AHP_HIST_SLOTS; i++) {
                o->hist[i] += s->hist[i];
                o->pending_hist[i] += s->pending_hist[i];
            }
            o->after_without_before += s->after_without_before;
            o->double_destroy += s->double_destroy;
        }
        /* The batch path: what was decoded in userspace (the BPF side counted only the
         * batches the ring buffer had no room for). */
        const struct ahp_type_stats *d = &c->decoder.stats[key];
        o->created += d->created;
        o->destroyed += d->destroyed;
        o->resolved += d->resolved;
        o->self_created += d->self_created;
        o->callbacks += d->callbacks;
        o->callback_ns += d->callback_ns;
        o->exclusive_ns += d->exclusive_ns;
        if (d->max_ns > o->max_ns)
            o->max_ns = d->max_ns;
        for (int i = 0; i < AHP_HIST_SLOTS; i++) {
            o->hist[i] += d->hist[i];
            o->pending_hist[i] += d->pending_hist[i];
        }
        o->after_without_before += d->after_without_before;
        o->double_destroy += d->double_destroy;
    }
    free(percpu);
    return 0;
}

int ahp_collector_global_stats(struct ahp_collector *c, struct ahp_global_stats *out)
{
    struct ahp_global_stats *percpu = calloc((size_t)c->ncpus, sizeof(*percpu));
    if (percpu == NULL)
        return -ENOMEM;
    uint32_t key = 0;
    memset(out, 0, sizeof(*out));
    int rc = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.global_stats), &key, percpu);
    for (int cpu = 0; rc == 0 && cpu < c->ncpus; cpu++) {
        out->events += percpu[cpu].events;
        out->lost_events += percpu[cpu].lost_events;
        out->stack_overflow += percpu[cpu].stack_overflow;
        out->unmatched_after += percpu[cpu].unmatched_after;
        out->live_untracked += percpu[cpu].live_untracked;
        out->stack_errors += percpu[cpu].stack_errors;
        out->batches += percpu[cpu].batches;
        out->batch_errors += percpu[cpu].batch_errors;
        out->batch_malformed += percpu[cpu].batch_malformed;
        out->records_malformed += percpu[cpu].records_malformed;
    }
    out->stack_overflow += c->decoder.stack_overflow;
    out->unmatched_after += c->decoder.unmatched_after;
    out->live_untracked += c->decoder.live_untracked;
    out->live_destroys_forgotten += c->decoder.live_destroys_forgotten;
    out->batch_malformed += c->decoder.malformed_batches;
    out->records_malformed += c->decoder.malformed_records;
    out->lost_events += c->decoder.malformed_dropped;
    free(percpu);
    return rc < 0 ? -errno : 0;
}

void ahp_collector_active(struct ahp_collector *c, const struct ahp_type_stats *stats,
                          int64_t active[AHP_TYPE_MAX])
{
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        active[i] = (int64_t)stats[i].created - (int64_t)stats[i].destroyed + c->snapshot_adjust[i];
        if (c->have_snapshot)
            active[i] += c->snapshot.live[i];
    }
}

const char *ahp_collector_type_name(struct ahp_collector *c, struct ahp_target *t, int type,
                                    char buf[AHP_NAME_SIZE])
{
    buf[0] = '\0';
    if (type < 0 || type >= AHP_TYPE_MAX) {
        snprintf(buf, AHP_NAME_SIZE, "type#%d", type);
        return buf;
    }
    __u32 key = (__u32)type;
    if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.type_names), &key, buf) == 0 && buf[0]) {
        buf[AHP_NAME_SIZE - 1] = '\0';
        return buf;
    }
    if (c->have_snapshot && (uint32_t)type < c->snapshot.type_count && c->snapshot.names[type][0]) {
        memcpy(buf, c->snapshot.names[type], AHP_NAME_SIZE);
        buf[AHP_NAME_SIZE - 1] = '\0';
        return buf;
    }
    const struct ahp_snapshot *nc = c->names_cache;
    if (nc && (uint32_t)type < nc->type_count && nc->names[type][0]) {
        memcpy(buf, nc->names[type], AHP_NAME_SIZE);
        buf[AHP_NAME_SIZE - 1] = '\0';
        return buf;
    }
    /* Registered after attach, no init seen yet: ask the target. */
    if (t && ahp_target_read_names(t, &c->snapshot) == 0 &&
        (uint32_t)type < c->snapshot.type_count && c->snapshot.names[type][0]) {
        memcpy(buf, c->snapshot.names[type], AHP_NAME_SIZE);
        buf[AHP_NAME_SIZE - 1] = '\0';
        return buf;
    }
    snprintf(buf, AHP_NAME_SIZE, "type#%d", type);
    return buf;
}

int ahp_collector_user_stack(struct ahp_collector *c, uint32_t stack_id,
                             uint64_t ips[AHP_USER_STACK_FRAMES])
{
    memset(ips, 0, sizeof(uint64_t) * AHP_USER_STACK_FRAMES);
    if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.user_stacks), &stack_id, ips) < 0)
        return -errno;
    int n = 0;
    while (n < AHP_USER_STACK_FRAMES && ips[n] != 0)
        n++;
    return n;
}

int ahp_collector_target_exit(const struct ahp_collector *c, int *wait_status, uint64_t *ns)
{
    if (c->skel == NULL ||
        (*ns = __atomic_load_n(&c->skel->bss->target_exit_ns, __ATOMIC_ACQUIRE)) == 0)
        return 0;
    *wait_status = (int)c->skel->bss->target_exit_status;
    return 1;
}

int ahp_collector_target_exec(const struct ahp_collector *c, uint64_t *ns, char *path, size_t size)
{
    if (c->skel == NULL ||
        (*ns = __atomic_load_n(&c->skel->bss->target_exec_ns, __ATOMIC_ACQUIRE)) == 0)
        return 0;
    size_t n = strnlen(c->skel->bss->target_exec_path, sizeof(c->skel->bss->target_exec_path));
    if (size > 0) {
        n = n < size - 1 ? n : size - 1;
        memcpy(path, c->skel->bss->target_exec_path, n);
        path[n] = '\0';
    }
    return 1;
}

void ahp_collector_stop(struct ahp_collector *c)
{
    if (c->live_table)
        munmap(c->live_table, c->live_slots * sizeof(struct ahp_live));
    ahp_decoder_free(&c->decoder);
    ahp_merge_free(&c->merge);
    for (int i = 0; i < AHP_COLLECTOR_LINKS; i++)
        bpf_link__destroy(c->links[i]);
    ring_buffer__free(c->rb);
    ahprof_bpf__destroy(c->skel);
    ahp_snapshot_free(&c->snapshot);
    free(c->names_cache);
    memset(c, 0, sizeof(*c));
}
