/* test_kcodec.c - the kernel view's chunks of ahprof.data (2.1, record --cpu): KINFO, KRECORDS
 * and KSTACK through the real writer and reader, their byte layout (docs/file-format.md),
 * hostile payloads, and what the model makes of them. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/codec.h"
#include "cmd/report.h"
#include "data/datafile.h"
#include "model/model.h"

#include "report_stdout.h"
#include "tmpdir.h"

TestSuite(kcodec, .init = test_dir_init, .fini = test_dir_fini);

static struct ahp_krecord krec(uint64_t i)
{
    return (struct ahp_krecord){.ts_ns = 1000 + i,
                                .dur_ns = i * 7,
                                .id = 0x100000000ull + i,
                                .tid = (uint32_t)(10 + i % 3),
                                .slot = (int32_t)(i % 5) - 2,
                                .reason = (int32_t)(i % 4) - 2,
                                .stack = (uint32_t)i,
                                .kind = (uint16_t)(1 + i % 2),
                                .depth = (uint16_t)i};
}

static bool same(const struct ahp_krecord *a, const struct ahp_krecord *b)
{
    return a->ts_ns == b->ts_ns && a->dur_ns == b->dur_ns && a->id == b->id && a->tid == b->tid &&
           a->slot == b->slot && a->reason == b->reason && a->stack == b->stack &&
           a->kind == b->kind && a->depth == b->depth;
}

struct seen {
    struct ahp_krecord r[3000];
    size_t n;
    uint32_t stack_id, stack_n, stack_nkernel;
    char frames[4][AHP_KFRAME_SIZE];
    int stacks;
};

static int on_krecords(void *arg, const struct ahp_krecord *r, size_t n)
{
    struct seen *s = arg;
    for (size_t i = 0; i < n && s->n < 3000; i++)
        s->r[s->n++] = r[i];
    return 0;
}

static int on_kstack(void *arg, uint32_t id, const char (*frames)[AHP_KFRAME_SIZE], uint32_t n,
                     uint32_t nkernel)
{
    struct seen *s = arg;
    s->stacks++;
    s->stack_id = id;
    s->stack_n = n;
    s->stack_nkernel = nkernel;
    for (uint32_t i = 0; i < n && i < 4; i++)
        memcpy(s->frames[i], frames[i], AHP_KFRAME_SIZE);
    return 0;
}

static const char *write_file(size_t nrec, bool close)
{
    const char *path = test_path("k.data");
    struct ahp_file_info fi = {.pid = 3};
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    struct ahp_kinfo k = {.hz = 99, .flags = AHP_KINFO_F_OFFCPU_STACKS, .lost_records = 2};
    cr_assert_eq(ahp_writer_kinfo(w, &k), 0);
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *frames[] = {"schedule_[k]", "read", "a;b\n", longname};
    cr_assert_eq(ahp_writer_kstack(w, 7, frames, 4, 1), 0);
    for (size_t i = 0; i < nrec; i++) {
        struct ahp_krecord r = krec(i);
        cr_assert_eq(ahp_writer_krecords(w, &r, 1), 0);
    }
    k.lost_records = 5;
    k.stacks_dropped = 1;
    cr_assert_eq(ahp_writer_kinfo(w, &k), 0);
    if (close)
        cr_assert_eq(ahp_writer_close(w, 99, 0), 0);
    else
        cr_assert_eq(ahp_writer_flush(w), 0);
    if (!close)
        free(w); /* a crash: the file as the flush left it (the writer's fd leaks here) */
    return path;
}

/* Every record and stack comes back as written, in 1024-record chunks; KINFO's largest
 * counts hold; the version is 2.1. */
Test(kcodec, round_trip)
{
    const char *path = write_file(2500, true);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->version_major, 2);
    cr_expect_eq(m->version_minor, 1);
    cr_expect(m->has_kernel);
    cr_expect_eq(m->kinfo.hz, 99);
    cr_expect_eq(m->kinfo.flags, AHP_KINFO_F_OFFCPU_STACKS);
    cr_expect_eq(m->kinfo.lost_records, 5);
    cr_expect_eq(m->kinfo.stacks_dropped, 1);
    cr_expect_eq(m->krecords, 2500);
    cr_expect_eq(m->kstacks, 1);
    cr_expect_eq(m->bad_chunks, 0);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    struct ahp_read_ops ops = {.krecords = on_krecords, .kstack = on_kstack};
    cr_assert_eq(ahp_reader_foreach(r, &ops, &s), 0);
    cr_assert_eq(s.n, 2500);
    for (size_t i = 0; i < s.n; i++) {
        struct ahp_krecord want = krec(i);
        cr_assert(same(&s.r[i], &want), "record %zu differs", i);
    }
    cr_expect_eq(s.stacks, 1);
    cr_expect_eq(s.stack_id, 7);
    cr_expect_eq(s.stack_n, 4);
    cr_expect_eq(s.stack_nkernel, 1);
    cr_expect_str_eq(s.frames[0], "schedule_[k]");
    cr_expect_str_eq(s.frames[2], "a;b\n"); /* raw bytes: escaping is each output's job */
    cr_expect_eq(strlen(s.frames[3]), AHP_KFRAME_SIZE - 1, "a long name is cut");
    ahp_reader_close(r);
}

/* The byte layout of a record (docs/file-format.md) and of a KSTACK payload. */
Test(kcodec, layout)
{
    struct ahp_krecord k = {.ts_ns = 0x0102030405060708ull,
                            .dur_ns = 9,
                            .id = 10,
                            .tid = 11,
                            .slot = -1,
                            .reason = -2,
                            .stack = 12,
                            .kind = 2,
                            .depth = 3};
    uint8_t p[AHP_KRECORD_SIZE];
    ahp_krecord_encode(p, &k);
    cr_expect_eq(p[0], 8);
    cr_expect_eq(p[7], 1);
    cr_expect_eq(ahp_get64(p + 8), 9);
    cr_expect_eq(ahp_get64(p + 16), 10);
    cr_expect_eq(ahp_get32(p + 24), 11);
    cr_expect_eq(ahp_get32(p + 28), 0xffffffffu);
    cr_expect_eq(ahp_get32(p + 32), 0xfffffffeu);
    cr_expect_eq(ahp_get32(p + 36), 12);
    cr_expect_eq(ahp_get16(p + 40), 2);
    cr_expect_eq(ahp_get16(p + 42), 3);
    cr_expect_eq(ahp_get32(p + 44), 0);
    static uint8_t s[AHP_KSTACK_SIZE_MAX];
    const char *f[] = {"ab", ""};
    uint32_t len = ahp_kstack_encode(s, 5, f, 2, 1);
    cr_expect_eq(len, 12 + 2 + 2 + 2);
    cr_expect_eq(ahp_get32(s), 5);
    cr_expect_eq(ahp_get32(s + 4), 2);
    cr_expect_eq(ahp_get32(s + 8), 1);
    cr_expect_eq(ahp_get16(s + 12), 2);
    cr_expect(memcmp(s + 14, "ab", 2) == 0);
    cr_expect_eq(ahp_get16(s + 16), 0);
}

/* Hostile payloads are refused, never read beyond their length. */
Test(kcodec, hostile_payloads)
{
    static uint8_t s[AHP_KSTACK_SIZE_MAX];
    static char frames[AHP_KSTACK_FILE_FRAMES][AHP_KFRAME_SIZE];
    uint32_t id, n, nk;
    const char *f[] = {"abc"};
    uint32_t len = ahp_kstack_encode(s, 1, f, 1, 0);
    cr_expect(ahp_kstack_decode(s, len, &id, frames, &n, &nk));
    cr_expect_not(ahp_kstack_decode(s, len - 1, &id, frames, &n, &nk), "cut name");
    cr_expect_not(ahp_kstack_decode(s, 11, &id, frames, &n, &nk), "cut header");
    ahp_put32(s + 8, 2);
    cr_expect_not(ahp_kstack_decode(s, len, &id, frames, &n, &nk), "nkernel > n");
    ahp_put32(s + 8, 0);
    ahp_put32(s + 4, AHP_KSTACK_FILE_FRAMES + 1);
    cr_expect_not(ahp_kstack_decode(s, len, &id, frames, &n, &nk), "too many frames");
    ahp_put32(s + 4, 1);
    ahp_put16(s + 12, AHP_KFRAME_SIZE);
    cr_expect_not(ahp_kstack_decode(s, sizeof(s), &id, frames, &n, &nk), "name too long");

    uint8_t k[AHP_KRECORDS_HEADER_SIZE + 2 * AHP_KRECORD_SIZE] = {0};
    uint32_t rs;
    ahp_krecords_header_encode(k, 2);
    cr_expect_eq(ahp_krecords_count(k, sizeof(k), &rs), 2);
    cr_expect_eq(ahp_krecords_count(k, sizeof(k) - 1, &rs), -1, "count does not fill it");
    ahp_put32(k + 4, AHP_KRECORD_SIZE - 1);
    cr_expect_eq(ahp_krecords_count(k, sizeof(k), &rs), -1, "records too small");
    ahp_put32(k, AHP_KRECORDS_MAX + 1);
    ahp_put32(k + 4, AHP_KRECORD_SIZE);
    cr_expect_eq(ahp_krecords_count(k, sizeof(k), &rs), -1, "too many records");
    /* A newer minor's larger records: read, the extra bytes ignored. */
    uint8_t big[AHP_KRECORDS_HEADER_SIZE + 64] = {0};
    ahp_put32(big, 1);
    ahp_put32(big + 4, 64);
    cr_expect_eq(ahp_krecords_count(big, sizeof(big), &rs), 1);
    cr_expect_eq(rs, 64);
    struct ahp_kinfo ki;
    uint8_t kb[AHP_KINFO_SIZE] = {0};
    cr_expect_not(ahp_kinfo_decode(kb, AHP_KINFO_SIZE - 1, &ki));
}

/* A file that ends after a flush, without END (the recorder was killed): the kernel records
 * written so far are read, the file is truncated. */
Test(kcodec, killed_recorder)
{
    const char *path = write_file(1500, false);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(m->truncated);
    cr_expect(m->has_kernel);
    cr_expect_eq(m->krecords, 1500);
    ahp_reader_close(r);
}

/* The model: per-type sums from the records, preemption not counted as blocking, an off-CPU
 * episode joined to the callback it fell in (same thread, same id, inside its span). */
Test(kcodec, model_joins_blocking_to_callbacks)
{
    const char *path = test_path("m.data");
    struct ahp_file_info fi = {.pid = 3};
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    ahp_writer_type(w, 0, "TIMER");
    struct ahp_kinfo ki = {.hz = 100};
    ahp_writer_kinfo(w, &ki);
    struct ahp_event ev[] = {
        {.ts_ns = 100,
         .id = 5,
         .trigger_id = 1,
         .tid = 1,
         .type = 0,
         .kind = AHP_EV_INIT,
         .seq = 2,
         .pid = 3},
        {.ts_ns = 150, .id = 5, .tid = 1, .type = 0, .kind = AHP_EV_BEFORE, .depth = 1, .pid = 3},
        {.ts_ns = 400, .id = 5, .tid = 1, .type = 0, .kind = AHP_EV_AFTER, .depth = 1, .pid = 3},
    };
    ahp_writer_events(w, ev, 3);
    struct ahp_krecord k[] = {
        {.ts_ns = 200,
         .dur_ns = 100,
         .id = 5,
         .tid = 1,
         .slot = 0,
         .reason = 0,
         .kind = AHP_KREC_OFFCPU},
        {.ts_ns = 310,
         .dur_ns = 50,
         .id = 5,
         .tid = 1,
         .slot = 0,
         .reason = AHP_KREC_PREEMPTED,
         .kind = AHP_KREC_OFFCPU},
        {.ts_ns = 320,
         .dur_ns = 30,
         .id = 5,
         .tid = 2,
         .slot = 0,
         .reason = 0,
         .kind = AHP_KREC_OFFCPU}, /* another thread: not this callback's */
        {.ts_ns = 390, .id = 5, .tid = 1, .slot = 0, .kind = AHP_KREC_CPU},
        {.ts_ns = 500, .tid = 1, .slot = AHP_KREC_OUTSIDE, .kind = AHP_KREC_CPU},
    };
    ahp_writer_krecords(w, k, 5);
    cr_assert_eq(ahp_writer_close(w, 600, 0), 0);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    struct ahp_model *m;
    cr_assert_eq(ahp_model_build(&m, r, NULL), 0);
    cr_expect(m->has_kernel);
    cr_expect_eq(m->ktypes[0].cpu_samples, 1);
    cr_expect_eq(m->ktypes[0].blocked_ns, 130);
    cr_expect_eq(m->ktypes[0].blocked_count, 2);
    cr_expect_eq(m->koutside.cpu_samples, 1);
    cr_expect_eq(m->types[0].pending_count, 1);
    cr_expect_eq(m->types[0].pending_p50_ns, 50);
    cr_assert_eq(m->nblocking, 1);
    cr_expect_eq(m->blocking[0].id, 5);
    cr_expect_eq(m->blocking[0].blocked_ns, 100);
    cr_expect_eq(m->blocking[0].episodes, 1);
    cr_expect_eq(m->blocking[0].reason, 0);
    cr_expect_neq(ahp_model_kernel_node(m, 5), AHP_NODE_NONE);
    ahp_model_free(m);
    ahp_reader_close(r);
}

/* KSTATS: the kernel view's per-slot aggregates (run-queue delay). */
static struct ahp_kstats_slot kslot(uint64_t seed)
{
    struct ahp_kstats_slot s = {.runq_count = 10 * seed,
                                .runq_wait_ns = 11 * seed,
                                .runq_ns = 12 * seed,
                                .blocked_ns = 13 * seed,
                                .blocked_count = 14 * seed,
                                .preempted_ns = 15 * seed,
                                .preempted_count = 16 * seed};
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        s.runq_hist[i] = seed * 100 + (uint64_t)i;
    return s;
}

/* Each KSTATS chunk supersedes the one before it (a slot it does not name is zero); the
 * types, (outside callbacks) and (untagged) come back in their slots; the layout is the
 * documented one. */
Test(kcodec, kstats_round_trip)
{
    static struct ahp_kstats_slot slots[AHP_KSTATS_SLOTS];
    const char *path = test_path("ks.data");
    struct ahp_file_info fi = {.pid = 3};
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    struct ahp_kinfo k = {.hz = 99};
    cr_assert_eq(ahp_writer_kinfo(w, &k), 0);
    slots[5] = kslot(1);
    slots[9] = kslot(9);
    cr_assert_eq(ahp_writer_kstats(w, 1000, slots), 0);
    slots[5] = kslot(2);
    slots[9] = (struct ahp_kstats_slot){0};
    slots[AHP_TYPE_MAX - 1] = kslot(3);
    slots[AHP_KSTATS_OUTSIDE] = kslot(4);
    slots[AHP_KSTATS_UNTAGGED] = kslot(5);
    cr_assert_eq(ahp_writer_kstats(w, 2000, slots), 0);
    cr_assert_eq(ahp_writer_close(w, 99, 0), 0);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(m->has_kstats);
    cr_expect_eq(m->bad_chunks, 0);
    cr_expect_eq(m->unknown_chunks, 0);
    cr_expect_eq(m->kstats_as_of_ns, 2000);
    for (int i = 0; i < AHP_KSTATS_SLOTS; i++)
        cr_expect_eq(memcmp(&m->kstats[i], &slots[i], sizeof(slots[i])), 0, "slot %d", i);
    ahp_reader_close(r);

    /* The layout: count, entry size, as_of, then s32 slot (-1 outside, -2 untagged). */
    static uint8_t p[AHP_KSTATS_SIZE_MAX];
    uint32_t len = ahp_kstats_encode(p, 7, slots);
    cr_expect_eq(len, AHP_KSTATS_HEADER_SIZE + 4 * AHP_KSTATS_ENTRY_SIZE);
    cr_expect_eq(AHP_KSTATS_ENTRY_SIZE, 320);
    cr_expect_eq(ahp_get32(p), 4);
    cr_expect_eq(ahp_get32(p + 4), 320);
    cr_expect_eq(ahp_get64(p + 8), 7);
    const uint8_t *e = p + AHP_KSTATS_HEADER_SIZE;
    cr_expect_eq(ahp_get32(e), 5);
    cr_expect_eq(ahp_get64(e + 8), 20);                /* runq_count */
    cr_expect_eq(ahp_get64(e + 16), 22);               /* runq_wait_ns */
    cr_expect_eq(ahp_get64(e + 64 + 8 * 3), 203);      /* runq_hist[3] */
    cr_expect_eq((int32_t)ahp_get32(e + 2 * 320), -1); /* outside */
    cr_expect_eq((int32_t)ahp_get32(e + 3 * 320), -2); /* untagged */
}

/* A damaged or malformed KSTATS is refused whole, leaving what the reader had. */
Test(kcodec, kstats_hostile_payloads)
{
    static struct ahp_kstats_slot slots[AHP_KSTATS_SLOTS], out[AHP_KSTATS_SLOTS];
    static uint8_t p[AHP_KSTATS_SIZE_MAX + 64];
    uint64_t as_of = 0;
    slots[1] = kslot(1);
    slots[2] = kslot(2);
    uint32_t len = ahp_kstats_encode(p, 5, slots);
    cr_assert(ahp_kstats_decode(p, len, &as_of, out));
    cr_expect_eq(as_of, 5);
    out[7] = kslot(7);
    cr_expect_not(ahp_kstats_decode(p, len - 1, &as_of, out), "cut entry");
    cr_expect_not(ahp_kstats_decode(p, 15, &as_of, out), "cut header");
    ahp_put32(p, 3);
    cr_expect_not(ahp_kstats_decode(p, len, &as_of, out), "count beyond the payload");
    ahp_put32(p, AHP_KSTATS_SLOTS + 1);
    cr_expect_not(ahp_kstats_decode(p, len, &as_of, out), "more slots than there are");
    ahp_put32(p, 2);
    ahp_put32(p + 4, AHP_KSTATS_ENTRY_SIZE - 8);
    cr_expect_not(ahp_kstats_decode(p, len - 16, &as_of, out), "entries too small");
    ahp_put32(p + 4, AHP_KSTATS_ENTRY_SIZE);
    ahp_put32(p + AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_ENTRY_SIZE, 1);
    cr_expect_not(ahp_kstats_decode(p, len, &as_of, out), "a slot twice");
    ahp_put32(p + AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_ENTRY_SIZE, AHP_TYPE_MAX);
    cr_expect_not(ahp_kstats_decode(p, len, &as_of, out), "a type out of range");
    ahp_put32(p + AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_ENTRY_SIZE, (uint32_t)-3);
    cr_expect_not(ahp_kstats_decode(p, len, &as_of, out), "a slot no writer makes");
    cr_expect_eq(out[7].runq_count, 70, "a refused chunk touched what was read before");
    cr_expect_eq(as_of, 5);

    /* A newer writer's larger entries: read, the extra bytes ignored. */
    static uint8_t big[AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_ENTRY_SIZE + 8];
    len = ahp_kstats_encode(p, 6, slots);
    memcpy(big, p, AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_ENTRY_SIZE);
    ahp_put32(big, 1);
    ahp_put32(big + 4, AHP_KSTATS_ENTRY_SIZE + 8);
    cr_expect(ahp_kstats_decode(big, sizeof(big), &as_of, out));
    cr_expect_eq(memcmp(&out[1], &slots[1], sizeof(out[1])), 0);
    cr_expect_eq(out[2].runq_count, 0);
}

/* Percentiles from the histogram alone (log2 bucket upper bounds), whatever runq_count says;
 * huge counts saturate instead of wrapping. */
Test(kcodec, kstats_percentiles)
{
    struct ahp_kstats_slot s = {0};
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 500), 0, "no waits, no figure");
    s.runq_hist[10] = 60; /* [1024, 2048) ns */
    s.runq_hist[20] = 39;
    s.runq_hist[25] = 1;
    s.runq_count = 5; /* disagrees: ignored */
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 500), 2047);
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 600), 2047);
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 610), (2ull << 20) - 1);
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 990), (2ull << 20) - 1);
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 1000), (2ull << 25) - 1);
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        s.runq_hist[i] = UINT64_MAX;
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 500), 1);
    cr_expect_eq(ahp_kstats_runq_percentile(&s, 5000), 1);
}

/* A --cpu file with one SPIN callback; with KSTATS when WITH_KSTATS (else an older ahprof's). */
static const char *write_runq_file(bool with_kstats)
{
    static struct ahp_kstats_slot slots[AHP_KSTATS_SLOTS];
    const char *path = test_path("rq.data");
    struct ahp_file_info fi = {.pid = 3};
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    struct ahp_kinfo k = {.hz = 99};
    cr_assert_eq(ahp_writer_kinfo(w, &k), 0);
    cr_assert_eq(ahp_writer_type(w, 4, "SPIN"), 0);
    struct ahp_event ev[] = {
        {.ts_ns = 10, .id = 9, .tid = 1, .pid = 3, .type = 4, .kind = AHP_EV_INIT},
        {.ts_ns = 11, .id = 9, .tid = 1, .pid = 3, .type = 4, .kind = AHP_EV_BEFORE, .depth = 1},
        {.ts_ns = 12, .id = 9, .tid = 1, .pid = 3, .type = 4, .kind = AHP_EV_AFTER, .depth = 1},
    };
    cr_assert_eq(ahp_writer_events(w, ev, 3), 0);
    if (with_kstats) {
        slots[4] = (struct ahp_kstats_slot){.runq_count = 4, .runq_hist = {[20] = 3, [26] = 1}};
        slots[AHP_KSTATS_OUTSIDE] =
            (struct ahp_kstats_slot){.runq_count = 1, .runq_hist = {[9] = 1}};
        cr_assert_eq(ahp_writer_kstats(w, 11, slots), 0);
    }
    cr_assert_eq(ahp_writer_close(w, 20, 0), 0);
    return path;
}

/* report shows the run-queue figures of a KSTATS chunk under top's names, and none at all
 * (no zeros) for a --cpu file without one. */
Test(kcodec, report_runq_only_when_measured)
{
    char *json = report_stdout(write_runq_file(true), "--json", NULL);
    json_object *doc = json_tokener_parse(json), *types, *kernel, *outside, *v;
    cr_assert_not_null(doc, "%s", json);
    cr_assert(json_object_object_get_ex(doc, "types", &types));
    json_object *spin = NULL;
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i);
        if (json_object_object_get_ex(t, "name", &v) &&
            strcmp(json_object_get_string(v), "SPIN") == 0)
            spin = t;
    }
    cr_assert_not_null(spin);
    cr_assert(json_object_object_get_ex(spin, "runq_count", &v));
    cr_expect_eq(json_object_get_int64(v), 4);
    cr_assert(json_object_object_get_ex(spin, "runq_p50_ns", &v));
    cr_expect_eq(json_object_get_int64(v), (2ll << 20) - 1);
    cr_assert(json_object_object_get_ex(spin, "runq_p99_ns", &v));
    cr_expect_eq(json_object_get_int64(v), (2ll << 26) - 1);
    cr_assert(json_object_object_get_ex(doc, "kernel", &kernel));
    cr_assert(json_object_object_get_ex(kernel, "outside_callbacks", &outside));
    cr_assert(json_object_object_get_ex(outside, "runq_p50_ns", &v));
    cr_expect_eq(json_object_get_int64(v), 1023);
    json_object_put(doc);
    free(json);
    char *text = report_stdout(test_path("rq.data"), NULL);
    cr_expect_not_null(strstr(text, "RUNQ50_US"), "%s", text);
    free(text);

    json = report_stdout(write_runq_file(false), "--json", NULL);
    cr_expect_null(strstr(json, "runq_"), "run-queue figures without KSTATS: %s", json);
    cr_expect_not_null(strstr(json, "\"cpu_samples\""), "not a --cpu file: %s", json);
    free(json);
    text = report_stdout(test_path("rq.data"), NULL);
    cr_expect_null(strstr(text, "RUNQ"), "%s", text);
    cr_expect_not_null(strstr(text, "KERNEL"), "%s", text);
    free(text);
}
