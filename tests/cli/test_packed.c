/*
 * test_packed.c - the PACKED events chunks of file format 2.0 (docs/file-format.md): every
 * event reads back as written, plain and zlib'ed, however odd; a damaged chunk is skipped and
 * counted while the others read; 1.x files (fixed-size EVENTS records) still read; LOST and
 * END chunks say until when events were lost.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/codec.h"
#include "data/datafile.h"

#include "tmpdir.h"

TestSuite(packed, .init = test_dir_init, .fini = test_dir_fini);

static bool same(const struct ahp_event *a, const struct ahp_event *b)
{
    return a->ts_ns == b->ts_ns && a->id == b->id && a->trigger_id == b->trigger_id &&
           a->seq == b->seq && a->tid == b->tid && a->type == b->type && a->kind == b->kind &&
           a->flags == b->flags && a->depth == b->depth && a->pid == b->pid;
}

/* A stream like a server's: three threads, each creating, running and destroying resources
 * (seq +2 per INIT and DESTROY on its thread), some created with a stack id, nested
 * callbacks; and every few hundred events something no writer of ahprof produces. */
struct gen_state {
    uint64_t seq[3], next_id;
};

static struct ahp_event gen_next(struct gen_state *g, uint64_t i)
{
    uint64_t *seq = g->seq, next_id = g->next_id;
    uint32_t t = (uint32_t)(i / 7 % 3);
    struct ahp_event e = {.ts_ns = 5000000000ull + i * 1300 + (i % 5) * 17,
                          .tid = 700 + t,
                          .pid = 700,
                          .type = (int32_t)(i % 4)};
    switch (i % 4) {
    case 0:
        e.kind = AHP_EV_INIT;
        e.id = ++next_id;
        e.trigger_id = i % 3 == 0 ? 1 : next_id - 1 - i % 5;
        e.depth = i % 11 == 0 ? (uint16_t)(i % 300 + 1) : 0;
        e.seq = seq[t] += 2;
        break;
    case 1:
        e.kind = AHP_EV_BEFORE;
        e.id = next_id;
        e.depth = (uint16_t)(1 + i % 3);
        break;
    case 2:
        e.kind = AHP_EV_AFTER;
        e.id = next_id;
        e.depth = (uint16_t)(1 + i % 3);
        e.trigger_id = i * 37 % 100000;
        break;
    default:
        e.kind = i % 8 == 3 ? AHP_EV_DESTROY : AHP_EV_RESOLVE;
        e.id = next_id - i % 3;
        if (e.kind == AHP_EV_DESTROY)
            e.seq = seq[t] += 2;
        break;
    }
    g->next_id = next_id;
    switch (i % 293) {
    case 7:
        e.kind = 200; /* a kind from the future */
        e.seq = ~0ull;
        break;
    case 11:
        e.ts_ns -= 1000000; /* time going back: a late event */
        break;
    case 13:
        e.pid = 4242; /* another process */
        break;
    case 17:
        e.trigger_id = e.id + 5; /* a trigger younger than the resource */
        e.kind = AHP_EV_INIT;
        break;
    case 19:
        e.flags = AHP_F_IN_SNAPSHOT;
        break;
    case 23:
        e.type = -7;
        e.id = ~0ull - i;
        e.tid = 0xfffffffe;
        break;
    case 29:
        e.seq = 12345; /* a sequence out of step */
        e.kind = AHP_EV_DESTROY;
        break;
    }
    return e;
}

/* The first N events of the stream (malloc'ed). */
static struct ahp_event *gen(uint64_t n)
{
    struct gen_state g = {{100, 200, 300}, 1000};
    struct ahp_event *ev = calloc(n, sizeof(*ev));
    cr_assert_not_null(ev);
    for (uint64_t i = 0; i < n; i++)
        ev[i] = gen_next(&g, i);
    return ev;
}

static void write_stream(const char *path, uint64_t n, int zlevel)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 700, .start_mono_ns = 1};
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    if (zlevel)
        cr_assert_eq(ahp_writer_compress(w, zlevel), 0);
    struct ahp_event *ev = gen(n);
    for (uint64_t i = 0; i < n; i++) {
        cr_assert_eq(ahp_writer_events(w, &ev[i], 1), 0);
        if (i % 5000 == 4999)
            cr_assert_eq(ahp_writer_flush(w), 0);
    }
    cr_assert_eq(ahp_writer_close(w, 9000000000ull, 0), 0);
    free(ev);
}

static void expect_stream(const char *path, uint64_t n)
{
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->version_major, 2);
    cr_expect_eq(m->events, n);
    cr_expect_eq(m->bad_chunks, 0);
    struct ahp_event e, *all = gen(n);
    uint64_t i = 0;
    int rc;
    while ((rc = ahp_reader_next_event(r, &e)) == 1 && i < n) {
        struct ahp_event want = all[i];
        cr_assert(
            same(&e, &want), "event %llu: kind %u id %llu ts %llu, want kind %u id %llu ts %llu",
            (unsigned long long)i, e.kind, (unsigned long long)e.id, (unsigned long long)e.ts_ns,
            want.kind, (unsigned long long)want.id, (unsigned long long)want.ts_ns);
        i++;
    }
    cr_expect_eq(rc, 0);
    cr_expect_eq(i, n);
    cr_expect_eq(m->bad_chunks, 0);
    ahp_reader_close(r);
    free(all);
}

static off_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

Test(packed, every_event_reads_back_as_written)
{
    const char *p = test_path("plain.data"), *z = test_path("zlib.data");
    write_stream(p, 60000, 0);
    write_stream(z, 60000, 1);
    expect_stream(p, 60000);
    expect_stream(z, 60000);
    /* Odd events cost more, the usual ones a few bytes. */
    cr_expect_lt(file_size(p), 60000 * 8, "%lld bytes", (long long)file_size(p));
    cr_expect_lt(file_size(z), file_size(p));
}

/* The offset of the Nth chunk of TYPE in the file at PATH, 0 when there is none. */
static long chunk_at(const char *path, uint32_t type, int nth, uint32_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t h[16];
    long off = 24;
    while (fseek(f, off, SEEK_SET) == 0 && fread(h, 1, 16, f) == 16) {
        uint32_t t = ahp_get32(h);
        *len = ahp_get32(h + 4);
        if (t == type && nth-- == 0) {
            fclose(f);
            return off;
        }
        off += 16 + (long)*len;
    }
    fclose(f);
    return 0;
}

/* Overwrite a chunk's payload byte at PAYLOAD_OFF and make its CRCs right again: the damage is
 * in the records, not in the framing. */
static void damage_records(const char *path, long chunk, uint32_t len, uint32_t payload_off,
                           uint8_t byte)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    uint8_t *buf = malloc(16 + len);
    cr_assert_eq(fseek(f, chunk, SEEK_SET), 0);
    cr_assert_eq(fread(buf, 1, 16 + len, f), 16 + len);
    buf[16 + payload_off] = byte;
    ahp_chunk_header_encode(buf, ahp_get32(buf), len);
    cr_assert_eq(fseek(f, chunk, SEEK_SET), 0);
    cr_assert_eq(fwrite(buf, 1, 16 + len, f), 16 + len);
    fclose(f);
    free(buf);
}

Test(packed, a_damaged_chunk_is_skipped_and_counted)
{
    const char *p = test_path("damaged.data");
    write_stream(p, 20000, 0); /* a chunk every 5000 events at most */
    uint32_t len;
    long second = chunk_at(p, AHP_CHUNK_PACKED, 1, &len);
    cr_assert_gt(second, 0);
    /* The head byte of the first record: a kind code no writer uses. */
    damage_records(p, second, len, AHP_PACKED_HEADER_SIZE, 0x07);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct ahp_event e;
    uint64_t n = 0;
    while (ahp_reader_next_event(r, &e) == 1)
        n++;
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->bad_chunks, 1);
    cr_expect_lt(n, 20000);
    cr_expect_geq(n, 20000 - 5000);
    ahp_reader_close(r);

    /* A varint that never ends, in the last record. */
    const char *q = test_path("varint.data");
    write_stream(q, 100, 0);
    long only = chunk_at(q, AHP_CHUNK_PACKED, 0, &len);
    cr_assert_gt(only, 0);
    damage_records(q, only, len, len - 1, 0x80);
    cr_assert_eq(ahp_reader_open(&r, q), 0);
    cr_expect_eq(ahp_reader_next_event(r, &e), 0);
    cr_expect_eq(ahp_reader_meta(r)->bad_chunks, 1);
    ahp_reader_close(r);
}

/* A 1.1 file as ahprof 0.1 wrote it: INFO, an EVENTS chunk of 48-byte records, LOST (8 bytes,
 * no time), END. */
static void write_v1(const char *path, const struct ahp_event *ev, uint32_t n, uint64_t lost)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    uint8_t h[AHP_FILE_HEADER_SIZE];
    ahp_file_header_encode(h);
    ahp_put16(h + 8, 1);
    ahp_put16(h + 10, 1);
    ahp_put32(h + 20, ahp_crc(h, 20));
    fwrite(h, 1, sizeof(h), f);
    static uint8_t chunk[16 + 8 + 64 * 48];
    struct ahp_file_info fi = {.pid = 5};
    uint32_t len = ahp_info_encode(chunk + 16, &fi, "0.1.0", "old");
    ahp_chunk_header_encode(chunk, AHP_CHUNK_INFO, len);
    fwrite(chunk, 1, 16 + len, f);
    ahp_events_header_encode(chunk + 16, n);
    for (uint32_t i = 0; i < n; i++)
        ahp_event_encode(chunk + 16 + 8 + 48 * i, &ev[i]);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_EVENTS, 8 + 48 * n);
    fwrite(chunk, 1, 16 + 8 + 48 * n, f);
    ahp_put64(chunk + 16, lost);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_LOST, 8);
    fwrite(chunk, 1, 16 + 8, f);
    struct ahp_end_info end = {.end_mono_ns = 77, .lost = lost, .events = n, .flags = 1};
    len = ahp_end_encode(chunk + 16, &end);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_END, len);
    fwrite(chunk, 1, 16 + len, f);
    fclose(f);
}

Test(packed, a_1_x_file_still_reads)
{
    const char *p = test_path("v1.data");
    struct ahp_event *ev = gen(40);
    write_v1(p, ev, 40, 3);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->version_major, 1);
    cr_expect_eq(m->events, 40);
    cr_expect_eq(m->lost_events, 3);
    /* A 1.x file does not say when its events were lost: any time. */
    cr_expect_eq(m->lost_until_ns, UINT64_MAX);
    struct ahp_event e;
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(ahp_reader_next_event(r, &e), 1);
        cr_expect(same(&e, &ev[i]), "event %d", i);
    }
    cr_expect_eq(ahp_reader_next_event(r, &e), 0);
    ahp_reader_close(r);
    free(ev);
}

Test(packed, lost_chunks_say_until_when_events_were_lost)
{
    const char *p = test_path("lost.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = {.pid = 700};
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    cr_assert_eq(ahp_writer_lost_at(w, 10, 5000), 0);
    cr_assert_eq(ahp_writer_lost_at(w, 10, 6000), 0); /* no new loss: no later bound */
    cr_assert_eq(ahp_writer_lost_at(w, 25, 7000), 0);
    cr_assert_eq(ahp_writer_close(w, 9000, 25), 0);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    cr_expect_eq(ahp_reader_meta(r)->lost_events, 25);
    cr_expect_eq(ahp_reader_meta(r)->lost_until_ns, 7000);
    ahp_reader_close(r);

    /* Lost at the stop (counted only in END): up to the end. */
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    cr_assert_eq(ahp_writer_lost_at(w, 10, 5000), 0);
    cr_assert_eq(ahp_writer_close(w, 9000, 12), 0);
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    cr_expect_eq(ahp_reader_meta(r)->lost_until_ns, 9000);
    ahp_reader_close(r);

    /* Nothing lost. */
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    cr_assert_eq(ahp_writer_close(w, 9000, 0), 0);
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    cr_expect_eq(ahp_reader_meta(r)->lost_until_ns, 0);
    ahp_reader_close(r);
}
