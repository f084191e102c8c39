/*
 * test_record_order.c - `record`'s reader hands the batch path's events over in runs (decode.c,
 * merge.c, the writer): the runs must give what one event at a time gave, and a recording must
 * come out in time order with every event in it.
 *
 *   equivalence   the same ring messages through the per-event path (ahp_decode_ring_message,
 *                 ahp_merge_push, ahp_merge_release / _release_count, one ahp_writer_events
 *                 call per event with AFTER's exclusive time zeroed by hand, as record did)
 *                 and through the run path the collector uses now (..._run, ahp_merge_push_run,
 *                 ahp_merge_release_runs, ahp_writer_events on whole runs with
 *                 ahp_writer_drop_exclusive): the same events in the same order, the same late
 *                 count, the same decoder counters, a byte-equal file. One thread, and several
 *                 whose batches arrive out of time order (some later than the reorder window),
 *                 read in part at switch-out, with malformed records, under a full window.
 *   unsorted      events pushed out of time order within a thread (the merge takes any):
 *                 runs and single events leave in the same order with the same late count.
 *   real BPF      `ahprof record` of a cross-thread workload and of a single-thread flood:
 *                 every event in the file, in time order, none lost or late.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/decode.h"
#include "collect/merge.h"
#include "data/datafile.h"
#include "run.h"

/* ---------------------------------------------------------------------------------------
 * Synthetic ring messages
 */

static uint64_t rng_state, piece_state;

static uint32_t next_of(uint64_t *state, uint32_t n)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33) % n;
}

static uint32_t rnd(uint32_t n)
{
    return next_of(&rng_state, n);
}

#define MAX_THREADS 8
#define WINDOW_NS 100000000ull
#define TICK_NS 0.25 /* ticks of 4 GHz */

struct thread_gen {
    uint32_t tid;
    uint64_t gen, seq, next_id;
    uint64_t open[16]; /* ids of the callbacks running */
    uint32_t depth;
    uint64_t ticks;
};

/* A message as the ring buffer hands it over: struct ahp_ring_batch cut after COUNT records. */
struct message {
    struct ahp_ring_batch *m;
    size_t size;
    uint64_t newest_ns; /* its anchor: what the collector takes as "read by then" */
};

static uint64_t ns_of(uint64_t ticks)
{
    return (uint64_t)((double)ticks * TICK_NS);
}

/* One record of thread T, at least 1 tick after the last: lifecycles with nested callbacks,
 * inits triggered by the running callback, resolves, and now and then a malformed one. */
static void add_record(struct thread_gen *t, struct ahp_ring_batch *m)
{
    struct ahp_batch_record *r = &m->batch.rec[m->batch.hdr.count++];
    t->ticks += 1 + rnd(400);
    memset(r, 0, sizeof(*r));
    r->ticks = t->ticks;
    r->type = (int32_t)rnd(5);
    uint32_t pick = rnd(100);
    bool open = pick < 55 ? t->depth < 16 : t->depth == 0;
    if (pick < 2) { /* what libah never writes: dropped and counted by the decoder */
        r->kind = AHP_EV_INIT;
        r->id = 1;
    } else if (pick < 30) {
        r->kind = AHP_EV_INIT;
        r->id = t->next_id;
        t->next_id += MAX_THREADS;
        r->arg = t->depth > 0 ? t->open[t->depth - 1] : 1;
    } else if (pick < 80 && open) {
        r->kind = AHP_EV_BEFORE;
        r->id = t->next_id > 3 * MAX_THREADS ? t->next_id - MAX_THREADS * (1 + rnd(3)) : 2;
        t->open[t->depth++] = r->id;
    } else if (pick < 80) {
        r->kind = AHP_EV_AFTER;
        r->id = t->open[--t->depth];
    } else if (pick < 88) {
        r->kind = AHP_EV_RESOLVE;
        r->id = t->next_id - MAX_THREADS;
    } else {
        r->kind = AHP_EV_DESTROY;
        r->id = t->next_id - MAX_THREADS * (1 + rnd(4));
    }
    if (r->id < 2 && pick >= 2)
        r->id = 2;
}

static struct message make_message(struct thread_gen *t, uint32_t nrec, uint32_t first,
                                   bool flushed)
{
    struct ahp_ring_batch *m = calloc(1, sizeof(*m));
    cr_assert_not_null(m);
    m->pid = 4242;
    m->first = (uint16_t)first;
    m->flags = flushed ? AHP_RING_FLUSHED : 0;
    struct ahp_batch_header *h = &m->batch.hdr;
    h->version = AHP_BATCH_VERSION;
    h->clock = AHP_CLOCK_TSC;
    h->tid = t->tid;
    h->gen = t->gen;
    h->seq = t->seq;
    for (uint32_t i = 0; i < nrec; i++)
        add_record(t, m);
    for (uint32_t i = 0; i < nrec; i++) {
        const struct ahp_batch_record *r = &m->batch.rec[i];
        if ((r->kind == AHP_EV_INIT || r->kind == AHP_EV_DESTROY) && r->id >= 2)
            t->seq += 2;
    }
    h->anchor_ticks = t->ticks + 10;
    h->anchor_ns = ns_of(h->anchor_ticks);
    return (struct message){m, AHP_RING_BATCH_BYTES(nrec), h->anchor_ns};
}

/* NMSG messages from NTHREADS threads. Each thread's go in its order; across threads they are
 * shuffled, and with SLOW a thread now and then holds its batch for longer than the reorder
 * window. A batch is now and then read at switch-out first (the same generation again with
 * FIRST past what was read). */
static struct message *make_stream(int nthreads, int nmsg, bool slow, size_t *count)
{
    static struct thread_gen th[MAX_THREADS];
    struct message *out = calloc((size_t)nmsg * 2, sizeof(*out));
    cr_assert_not_null(out);
    for (int i = 0; i < nthreads; i++)
        th[i] = (struct thread_gen){.tid = 1000 + (uint32_t)i,
                                    .seq = 10,
                                    .next_id = 2 + (uint64_t)i,
                                    .ticks = 4000000000ull + rnd(1000)};
    size_t n = 0;
    /* Pending messages per thread, handed over in a shuffled order. */
    struct message pending[MAX_THREADS][2];
    int npending[MAX_THREADS] = {0};
    for (int k = 0; k < nmsg; k++) {
        int i = (int)rnd((uint32_t)nthreads);
        struct thread_gen *t = &th[i];
        uint32_t nrec = 1 + rnd(AHP_BATCH_RECORDS);
        if (rnd(8) == 0 && nrec > 2) {
            /* Read at switch-out, then flushed with more records. */
            uint32_t part = nrec / 2;
            /* What the thread handed over before goes first. */
            for (int p = 0; p < npending[i]; p++)
                out[n++] = pending[i][p];
            npending[i] = 0;
            struct message a = make_message(t, part, 0, false);
            uint64_t seq_at_part = t->seq;
            /* The flushed batch: the records after those read before (from FIRST on), as the
             * BPF side streams them, from rec[0] with the seq before them. */
            struct message b = {calloc(1, sizeof(*b.m)), 0, 0};
            cr_assert_not_null(b.m);
            memcpy(b.m, a.m, AHP_RING_BATCH_BYTES(part));
            b.m->first = (uint16_t)part;
            b.m->flags = AHP_RING_FLUSHED;
            for (uint32_t r = part; r < nrec; r++)
                add_record(t, b.m);
            for (uint32_t r = part; r < nrec; r++) {
                const struct ahp_batch_record *rec = &b.m->batch.rec[r];
                if ((rec->kind == AHP_EV_INIT || rec->kind == AHP_EV_DESTROY) && rec->id >= 2)
                    t->seq += 2;
            }
            memmove(b.m->batch.rec, b.m->batch.rec + part,
                    (nrec - part) * sizeof(struct ahp_batch_record));
            b.m->batch.hdr.seq = seq_at_part;
            b.m->batch.hdr.anchor_ticks = t->ticks + 10;
            b.m->batch.hdr.anchor_ns = ns_of(b.m->batch.hdr.anchor_ticks);
            b.size = AHP_RING_BATCH_BYTES(nrec - part);
            b.newest_ns = b.m->batch.hdr.anchor_ns;
            out[n++] = a;
            pending[i][npending[i]++] = b;
        } else {
            pending[i][npending[i]++] = make_message(t, nrec, 0, true);
        }
        t->gen++;
        /* Other threads move on meanwhile (a slow one far past the window). */
        for (int j = 0; j < nthreads; j++)
            if (j != i)
                th[j].ticks += rnd(slow && rnd(16) == 0 ? 200000000 : 2000);
        /* Hand over what is pending of a random thread: the others keep theirs. */
        int g = (int)rnd((uint32_t)nthreads);
        for (int p = 0; p < npending[g]; p++)
            out[n++] = pending[g][p];
        npending[g] = 0;
        if (npending[i] == 2) {
            for (int p = 0; p < 2; p++)
                out[n++] = pending[i][p];
            npending[i] = 0;
        }
    }
    for (int i = 0; i < nthreads; i++)
        for (int p = 0; p < npending[i]; p++)
            out[n++] = pending[i][p];
    *count = n;
    return out;
}

static void free_stream(struct message *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].m);
    free(s);
}

/* ---------------------------------------------------------------------------------------
 * The two paths
 */

struct sink {
    struct ahp_event *ev;
    size_t n, cap;
    struct ahp_writer *w;
    bool one_at_a_time; /* write each event on its own, AFTER's exclusive zeroed by hand */
};

static void sink_add(struct sink *s, const struct ahp_event *ev, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
        cr_assert_not_null(s->ev);
    }
    memcpy(s->ev + s->n, ev, n * sizeof(*ev));
    s->n += n;
}

static int deliver_one(const struct ahp_event *ev, void *ctx)
{
    struct sink *s = ctx;
    sink_add(s, ev, 1);
    struct ahp_event copy = *ev;
    if (copy.kind == AHP_EV_AFTER)
        copy.exclusive_ns = 0;
    return ahp_writer_events(s->w, &copy, 1);
}

static int deliver_run(const struct ahp_event *ev, size_t n, void *ctx)
{
    struct sink *s = ctx;
    sink_add(s, ev, n);
    /* In pieces of any length: the file must not depend on where runs end. */
    for (size_t i = 0; i < n;) {
        size_t k = 1 + next_of(&piece_state, 700); /* its own: the paths draw the same */
        k = k < n - i ? k : n - i;
        int rc = ahp_writer_events(s->w, ev + i, k);
        if (rc != 0)
            return rc;
        i += k;
    }
    return 0;
}

struct path {
    struct ahp_decoder dec;
    struct ahp_merge merge;
    struct sink sink;
};

static int on_decoded_one(const struct ahp_event *ev, void *ctx)
{
    struct path *p = ctx;
    int rc = ahp_merge_push(&p->merge, ev);
    while (rc == -ENOBUFS && p->merge.held > 0) {
        rc = ahp_merge_release_count(&p->merge, p->merge.held / 2 + 1, deliver_one, &p->sink);
        if (rc == 0)
            rc = ahp_merge_push(&p->merge, ev);
    }
    return rc;
}

static int on_decoded_run(struct ahp_event *ev, size_t n, void *ctx)
{
    struct path *p = ctx;
    for (size_t done = 0;;) {
        long k = ahp_merge_push_run(&p->merge, ev + done, n - done);
        if (k < 0)
            return (int)k;
        done += (size_t)k;
        if (done == n)
            return 0;
        int rc = ahp_merge_release_runs(&p->merge, UINT64_MAX, p->merge.held / 2 + 1, deliver_run,
                                        &p->sink);
        if (rc != 0)
            return rc;
    }
}

static void path_open(struct path *p, const char *file, size_t max_held, bool runs)
{
    memset(p, 0, sizeof(*p));
    p->dec.rate.ns_per_tick = TICK_NS;
    p->merge.max_held = max_held;
    struct ahp_file_info info = {.pid = 4242, .start_mono_ns = 1, .start_real_ns = 2};
    cr_assert_eq(ahp_writer_open(&p->sink.w, file, &info), 0);
    p->sink.one_at_a_time = !runs;
    if (runs)
        cr_assert_eq(ahp_writer_drop_exclusive(p->sink.w), 0);
}

/* What the collector does with each message: decode, queue, pass on what is older than the
 * window (the merge's own horizon, from the newest anchor read), everything at the end. */
static void path_run(struct path *p, const struct message *s, size_t n, bool runs)
{
    uint64_t newest = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = runs ? ahp_decode_ring_message_run(&p->dec, s[i].m, s[i].size, on_decoded_run, p)
                      : ahp_decode_ring_message(&p->dec, s[i].m, s[i].size, on_decoded_one, p);
        cr_assert_eq(rc, 0);
        newest = s[i].newest_ns > newest ? s[i].newest_ns : newest;
        if (rnd(4) == 0 && newest > WINDOW_NS) {
            uint64_t horizon = newest - WINDOW_NS;
            rc = runs ? ahp_merge_release_runs(&p->merge, horizon, SIZE_MAX, deliver_run, &p->sink)
                      : ahp_merge_release(&p->merge, horizon, deliver_one, &p->sink);
            cr_assert_eq(rc, 0);
        }
    }
    int rc = runs ? ahp_merge_release_runs(&p->merge, UINT64_MAX, SIZE_MAX, deliver_run, &p->sink)
                  : ahp_merge_release(&p->merge, UINT64_MAX, deliver_one, &p->sink);
    cr_assert_eq(rc, 0);
    cr_assert_eq(p->merge.held, 0);
    cr_assert_eq(ahp_writer_close(p->sink.w, 99, 7), 0);
}

static void path_free(struct path *p)
{
    ahp_decoder_free(&p->dec);
    ahp_merge_free(&p->merge);
    free(p->sink.ev);
}

/* The stream through both paths: the same events, order, late count, counters and file. */
static void expect_equivalent(int nthreads, int nmsg, bool slow, size_t max_held,
                              uint64_t *late_seen)
{
    size_t n;
    struct message *s = make_stream(nthreads, nmsg, slow, &n);
    char one_file[] = "/tmp/ahp-order-one.XXXXXX", run_file[] = "/tmp/ahp-order-run.XXXXXX";
    close(mkstemp(one_file));
    close(mkstemp(run_file));
    static struct path one, run;
    uint64_t seed = rng_state;
    path_open(&one, one_file, max_held, false);
    path_run(&one, s, n, false);
    rng_state = seed; /* the same release points */
    path_open(&run, run_file, max_held, true);
    path_run(&run, s, n, true);

    cr_assert_gt(one.sink.n, 0);
    cr_assert_eq(run.sink.n, one.sink.n, "events: %zu by runs, %zu one at a time", run.sink.n,
                 one.sink.n);
    for (size_t i = 0; i < one.sink.n; i++)
        cr_assert(memcmp(&run.sink.ev[i], &one.sink.ev[i], sizeof(struct ahp_event)) == 0,
                  "event %zu of %zu differs (tid %u ts %llu vs tid %u ts %llu)", i, one.sink.n,
                  run.sink.ev[i].tid, (unsigned long long)run.sink.ev[i].ts_ns, one.sink.ev[i].tid,
                  (unsigned long long)one.sink.ev[i].ts_ns);
    cr_expect_eq(run.merge.late, one.merge.late);
    cr_expect(memcmp(run.dec.stats, one.dec.stats, sizeof(one.dec.stats)) == 0,
              "decoder counters differ");
    cr_expect_eq(run.dec.stack_overflow, one.dec.stack_overflow);
    cr_expect_eq(run.dec.unmatched_after, one.dec.unmatched_after);
    cr_expect_eq(run.dec.malformed_records, one.dec.malformed_records);
    cr_expect_gt(one.dec.malformed_records, 0, "the stream has malformed records");
    size_t la, lb;
    char *a = read_file(one_file, &la), *b = read_file(run_file, &lb);
    cr_expect_eq(lb, la, "file sizes: %zu by runs, %zu one at a time", lb, la);
    cr_expect(la == lb && memcmp(a, b, la) == 0, "the files differ");
    /* And the file holds the events, AFTER's exclusive time zeroed. */
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, run_file), 0);
    struct ahp_event ev;
    size_t i = 0;
    while (ahp_reader_next_event(r, &ev) == 1 && i < run.sink.n) {
        struct ahp_event want = run.sink.ev[i++];
        if (want.kind == AHP_EV_AFTER)
            want.exclusive_ns = 0;
        cr_assert(memcmp(&ev, &want, sizeof(ev)) == 0, "file event %zu differs", i - 1);
    }
    cr_expect_eq(i, run.sink.n);
    ahp_reader_close(r);
    *late_seen = one.merge.late;
    free(a);
    free(b);
    unlink(one_file);
    unlink(run_file);
    path_free(&one);
    path_free(&run);
    free_stream(s, n);
}

TestSuite(record_order, .timeout = 120);

Test(record_order, one_thread_runs_give_the_same_events_and_file)
{
    rng_state = 1;
    uint64_t late;
    expect_equivalent(1, 400, false, 0, &late);
    cr_expect_eq(late, 0, "one thread's events are never late");
    /* A window of 2 blocks: the oldest half goes whatever its age, over and over. */
    expect_equivalent(1, 400, false, 2048, &late);
}

Test(record_order, threads_out_of_order_give_the_same_events_and_file)
{
    rng_state = 7;
    uint64_t late;
    expect_equivalent(4, 600, false, 0, &late);
    expect_equivalent(6, 600, false, 4096, &late);
    /* Threads that hold their batches past the window: late events, the same ones. */
    expect_equivalent(4, 600, true, 0, &late);
    cr_expect_gt(late, 0, "the slow threads made late events");
    expect_equivalent(MAX_THREADS, 600, true, 3072, &late);
}

/* ---------------------------------------------------------------------------------------
 * Pushes out of time order within a thread
 */

Test(record_order, unsorted_pushes_leave_in_the_same_order)
{
    rng_state = 99;
    enum { N = 20000 };
    static struct ahp_event ev[N];
    for (int i = 0; i < N; i++) {
        ev[i] = (struct ahp_event){.ts_ns = 1000000 + (uint64_t)i * 50 + rnd(3) * rnd(400),
                                   .id = 2 + (uint64_t)i,
                                   .tid = 1 + rnd(3),
                                   .kind = AHP_EV_BEFORE};
        if (rnd(50) == 0)
            ev[i].ts_ns -= 30000; /* far back */
    }
    static struct sink one, run;
    struct ahp_merge a = {.max_held = 4096}, b = {.max_held = 4096};
    struct ahp_file_info info = {.pid = 1};
    cr_assert_eq(ahp_writer_open(&one.w, "/dev/null", &info), 0);
    cr_assert_eq(ahp_writer_open(&run.w, "/dev/null", &info), 0);
    for (int i = 0; i < N;) {
        int k = 1 + (int)rnd(300);
        k = k < N - i ? k : N - i;
        for (int j = i; j < i + k; j++) {
            int rc = ahp_merge_push(&a, &ev[j]);
            while (rc == -ENOBUFS) {
                cr_assert_eq(ahp_merge_release_count(&a, a.held / 2 + 1, deliver_one, &one), 0);
                rc = ahp_merge_push(&a, &ev[j]);
            }
            cr_assert_eq(rc, 0);
        }
        for (int done = 0; done < k;) {
            long got = ahp_merge_push_run(&b, &ev[i + done], (size_t)(k - done));
            cr_assert_geq(got, 0);
            done += (int)got;
            if (done < k)
                cr_assert_eq(
                    ahp_merge_release_runs(&b, UINT64_MAX, b.held / 2 + 1, deliver_run, &run), 0);
        }
        i += k;
        uint64_t horizon = ev[i - 1].ts_ns - 20000;
        cr_assert_eq(ahp_merge_release(&a, horizon, deliver_one, &one), 0);
        cr_assert_eq(ahp_merge_release_runs(&b, horizon, SIZE_MAX, deliver_run, &run), 0);
    }
    cr_assert_eq(ahp_merge_release(&a, UINT64_MAX, deliver_one, &one), 0);
    cr_assert_eq(ahp_merge_release_runs(&b, UINT64_MAX, SIZE_MAX, deliver_run, &run), 0);
    cr_assert_eq(one.n, N);
    cr_assert_eq(run.n, N);
    for (size_t i = 0; i < N; i++)
        cr_assert(memcmp(&one.ev[i], &run.ev[i], sizeof(ev[0])) == 0, "event %zu differs", i);
    cr_expect_eq(b.late, a.late);
    cr_expect_gt(a.late, 0, "events far back came late");
    ahp_writer_close(one.w, 0, 0);
    ahp_writer_close(run.w, 0, 0);
    ahp_merge_free(&a);
    ahp_merge_free(&b);
    free(one.ev);
    free(run.ev);
}

/* ---------------------------------------------------------------------------------------
 * Real BPF
 */

TestSuite(record_order_bpf, .init = make_data_path, .fini = remove_data, .timeout = 120);

/* Record CMD; every event of the file in time order, their number returned. */
static uint64_t record_in_order(char *const cmd[])
{
    char *argv[16] = {AHPROF, "record", "-j", "-o", data_path, "--"};
    int n = 6;
    for (int i = 0; cmd[i]; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 90000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    json_object *summary = json_tokener_parse(out);
    cr_assert_not_null(summary, "summary: %s", out);
    cr_expect_eq(get_int(summary, "lost_events"), 0);
    cr_expect_eq(get_int(summary, "late_events"), 0);
    /* Every record handed over once: the decoder dropped no repeat. */
    cr_expect_eq(get_int(summary, "resent_records"), 0);
    uint64_t events = (uint64_t)get_int(summary, "events");
    json_object_put(summary);
    free(out);
    free(err);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, data_path), 0);
    struct ahp_event ev;
    uint64_t seen = 0, prev = 0, backwards = 0;
    int rc;
    while ((rc = ahp_reader_next_event(r, &ev)) == 1) {
        if (ev.ts_ns < prev)
            backwards++;
        prev = ev.ts_ns;
        seen++;
    }
    cr_assert_eq(rc, 0);
    cr_expect_eq(backwards, 0, "%llu events go back in time", (unsigned long long)backwards);
    cr_expect_eq(seen, events, "the file holds %llu events, the summary says %llu",
                 (unsigned long long)seen, (unsigned long long)events);
    cr_expect_eq(ahp_reader_meta(r)->lost_events, 0);
    ahp_reader_close(r);
    return seen;
}

Test(record_order_bpf, threads_come_out_in_time_order)
{
    /* 4 threads x 20000 tasks, each created on one thread and run on the next. */
    char *cmd[] = {WORKLOAD, "threads", "4", "20000", NULL};
    cr_expect_eq(record_in_order(cmd), 4ull * 20000 * 4);
}

Test(record_order_bpf, one_thread_flood_comes_out_whole)
{
    char *cmd[] = {WORKLOAD, "flood", "300000", NULL};
    cr_expect_eq(record_in_order(cmd), 300000ull * 4);
}
