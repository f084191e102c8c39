/* test_datafile.c - the ahprof.data writer and reader: round trips, cut-off files, damage,
 * foreign and newer files, hostile metadata. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "data/datafile.h"

#include "tmpdir.h"

TestSuite(datafile, .init = test_dir_init, .fini = test_dir_fini);

static struct ahp_event mk(uint64_t i)
{
    struct ahp_event e = {
        .ts_ns = 1000000 + i * 10,
        .id = 0x100000000ull + i,
        .trigger_id = 0xdead0000beef0000ull ^ i,
        .seq = i * 2,
        .tid = (uint32_t)(4000 + i % 3),
        .type = (int32_t)(i % 7) - 1, /* -1 included: ids are stored as they come */
        .kind = (uint8_t)(1 + i % 5),
        .flags = (uint8_t)(i % 2),
        .depth = (uint16_t)(i % 65536),
        .pid = 77,
    };
    return e;
}

static bool same(const struct ahp_event *a, const struct ahp_event *b)
{
    return a->ts_ns == b->ts_ns && a->id == b->id && a->trigger_id == b->trigger_id &&
           a->seq == b->seq && a->tid == b->tid && a->type == b->type && a->kind == b->kind &&
           a->flags == b->flags && a->depth == b->depth && a->pid == b->pid;
}

static struct ahp_file_info info(void)
{
    struct ahp_file_info fi = {.pid = 4242, .start_mono_ns = 999, .start_real_ns = 1700000000ull};
    strcpy(fi.comm, "server");
    strcpy(fi.target, "/usr/local/bin/server");
    return fi;
}

/* Write N events in batches of BATCH, with the usual metadata. */
static void write_file(const char *path, uint64_t n, size_t batch, bool close_it)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    cr_assert_eq(ahp_writer_type(w, 0, "TCPCONN"), 0);
    cr_assert_eq(ahp_writer_type(w, 1, "TIMER"), 0);
    int64_t live[3] = {5, 0, -2};
    cr_assert_eq(ahp_writer_snapshot(w, live, 3), 0);
    struct ahp_event *buf = calloc(batch, sizeof(*buf));
    for (uint64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < batch && i < n; k++, i++)
            buf[k] = mk(i);
        cr_assert_eq(ahp_writer_events(w, buf, k), 0);
    }
    free(buf);
    cr_assert_eq(ahp_writer_lost(w, 12), 0);
    if (close_it) {
        cr_assert_eq(ahp_writer_close(w, 123456789, 17), 0);
    } else {
        /* What a crash after the last flush leaves: everything but the end chunk. */
        cr_assert_eq(ahp_writer_close(w, 123456789, 17), 0);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(truncate(path, st.st_size - (16 + 40)), 0);
    }
}

struct collect {
    struct ahp_event *ev;
    size_t n, cap;
    int types, snapshots, lost, ends, infos;
    uint64_t last_lost;
    int order[64];
    int norder;
};

static int c_events(void *arg, const struct ahp_event *ev, size_t n)
{
    struct collect *c = arg;
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->ev = realloc(c->ev, c->cap * sizeof(*c->ev));
    }
    memcpy(c->ev + c->n, ev, n * sizeof(*ev));
    c->n += n;
    if (c->norder < 64 && (c->norder == 0 || c->order[c->norder - 1] != AHP_CHUNK_EVENTS))
        c->order[c->norder++] = AHP_CHUNK_EVENTS;
    return 0;
}
static int c_type(void *arg, int32_t t, const char *name)
{
    struct collect *c = arg;
    (void)t;
    (void)name;
    c->types++;
    if (c->norder < 64)
        c->order[c->norder++] = AHP_CHUNK_TYPE;
    return 0;
}
static int c_snap(void *arg, const int64_t *live, uint32_t n)
{
    struct collect *c = arg;
    (void)live;
    (void)n;
    c->snapshots++;
    if (c->norder < 64)
        c->order[c->norder++] = AHP_CHUNK_SNAPSHOT;
    return 0;
}
static int c_lost(void *arg, uint64_t lost)
{
    struct collect *c = arg;
    c->lost++;
    c->last_lost = lost;
    if (c->norder < 64)
        c->order[c->norder++] = AHP_CHUNK_LOST;
    return 0;
}
static int c_end(void *arg, uint64_t end, uint64_t lost)
{
    struct collect *c = arg;
    (void)end;
    (void)lost;
    c->ends++;
    if (c->norder < 64)
        c->order[c->norder++] = AHP_CHUNK_END;
    return 0;
}
static int c_info(void *arg, const struct ahp_file_info *fi)
{
    struct collect *c = arg;
    (void)fi;
    c->infos++;
    if (c->norder < 64)
        c->order[c->norder++] = AHP_CHUNK_INFO;
    return 0;
}

static const struct ahp_read_ops all_ops = {
    .info = c_info,
    .type = c_type,
    .snapshot = c_snap,
    .events = c_events,
    .lost = c_lost,
    .end = c_end,
};

static uint64_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void cut(const char *from, const char *to, uint64_t len)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out);
    for (uint64_t i = 0; i < len; i++) {
        int ch = fgetc(in);
        cr_assert_neq(ch, EOF);
        fputc(ch, out);
    }
    fclose(in);
    fclose(out);
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Append a chunk built by hand: TYPE, PAYLOAD[LEN], CRCs computed (or not). */
static void append_chunk(const char *path, uint32_t type, const void *payload, uint32_t len,
                         bool good_crc)
{
    uint8_t h[16];
    put32(h, type);
    put32(h + 4, len);
    put32(h + 8, (uint32_t)crc32(0, payload, len) ^ (good_crc ? 0 : 1));
    put32(h + 12, (uint32_t)crc32(0, h, 12));
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fwrite(h, 1, 16, f);
    fwrite(payload, 1, len, f);
    fclose(f);
}

/* A file with a header and an info chunk only: what a crash right after open leaves. */
static void write_empty(const char *path)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    /* ahp_writer_close would add the end chunk: copy the file as it is now instead. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s.crash'", path, path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(ahp_writer_close(w, 0, 0), 0);
}

Test(datafile, round_trip_every_field_and_chunk_kind)
{
    const char *p = test_path("a.data");
    write_file(p, 3000, 7, true);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->version_major, AHP_FILE_MAJOR);
    cr_expect(m->has_info);
    cr_expect_eq(m->info.pid, 4242);
    cr_expect_str_eq(m->info.comm, "server");
    cr_expect_str_eq(m->info.target, "/usr/local/bin/server");
    cr_expect_eq(m->info.start_mono_ns, 999);
    cr_expect_eq(m->info.start_real_ns, 1700000000ull);
    cr_expect_neq(m->ahprof_version[0], '\0');
    cr_expect_str_eq(ahp_reader_type_name(r, 0), "TCPCONN");
    cr_expect_str_eq(ahp_reader_type_name(r, 1), "TIMER");
    cr_expect_null(ahp_reader_type_name(r, 2));
    cr_expect_null(ahp_reader_type_name(r, -1));
    cr_expect_null(ahp_reader_type_name(r, AHP_TYPE_MAX));
    cr_expect(m->has_snapshot);
    cr_expect_eq(m->snapshot_ntypes, 3);
    cr_expect_eq(m->snapshot[0], 5);
    cr_expect_eq(m->snapshot[2], -2);
    cr_expect_eq(m->snapshot[3], 0);
    cr_expect_eq(m->lost_events, 17); /* the larger of the lost chunk (12) and the end (17) */
    cr_expect(m->has_end);
    cr_expect(m->clean_end);
    cr_expect_eq(m->end_mono_ns, 123456789);
    cr_expect_eq(m->end_events, 3000);
    cr_expect_eq(m->events, 3000);
    cr_expect_not(m->truncated);
    cr_expect_eq(m->trailing_bytes, 0);
    cr_expect_eq(m->bad_chunks, 0);
    cr_expect_eq(m->data_end, file_size(p));

    struct collect c = {0};
    cr_assert_eq(ahp_reader_foreach(r, &all_ops, &c), 0);
    cr_assert_eq(c.n, 3000);
    for (uint64_t i = 0; i < 3000; i++) {
        struct ahp_event e = mk(i);
        cr_assert(same(&c.ev[i], &e), "event %lu differs", (unsigned long)i);
    }
    cr_expect_eq(c.infos, 1);
    cr_expect_eq(c.types, 2);
    cr_expect_eq(c.snapshots, 1);
    cr_expect_eq(c.lost, 1);
    cr_expect_eq(c.last_lost, 12);
    cr_expect_eq(c.ends, 1);
    /* File order is call order: info, types, snapshot, events, lost, end. */
    int want[] = {AHP_CHUNK_INFO,   AHP_CHUNK_TYPE, AHP_CHUNK_TYPE, AHP_CHUNK_SNAPSHOT,
                  AHP_CHUNK_EVENTS, AHP_CHUNK_LOST, AHP_CHUNK_END};
    cr_assert_eq(c.norder, 7);
    for (int i = 0; i < 7; i++)
        cr_expect_eq(c.order[i], want[i], "chunk %d", i);

    /* Pull iteration gives the same stream, twice (rewind). */
    for (int pass = 0; pass < 2; pass++) {
        struct ahp_event e;
        uint64_t i = 0;
        int rc;
        while ((rc = ahp_reader_next_event(r, &e)) == 1) {
            struct ahp_event want_e = mk(i);
            cr_assert(same(&e, &want_e));
            i++;
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(i, 3000);
        ahp_reader_rewind(r);
    }
    free(c.ev);
    ahp_reader_close(r);
}

Test(datafile, events_are_chunked_at_64k)
{
    const char *p = test_path("b.data");
    write_file(p, 10000, 1000, true);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_eq(m->events, 10000);
    ahp_reader_close(r);
    /* Every packed events chunk holds at most 64 KiB of records plus one record. */
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    uint8_t h[16];
    long off = 24;
    int packed = 0;
    while (fseek(f, off, SEEK_SET) == 0 && fread(h, 1, 16, f) == 16) {
        uint32_t type = h[0] | h[1] << 8, len = h[4] | h[5] << 8 | h[6] << 16;
        if (type == AHP_CHUNK_PACKED) {
            packed++;
            cr_expect_leq(len, 16 + 65536 + 64, "a packed chunk of %u bytes", len);
        }
        off += 16 + (long)len;
    }
    fclose(f);
    cr_expect_gt(packed, 2, "10000 explicit records fit in %d chunks", packed);
}

Test(datafile, lost_chunk_keeps_its_place_in_the_stream)
{
    const char *p = test_path("lost.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    struct ahp_event e[4] = {mk(0), mk(1), mk(2), mk(3)};
    cr_assert_eq(ahp_writer_events(w, e, 2), 0);
    cr_assert_eq(ahp_writer_lost(w, 5), 0);
    cr_assert_eq(ahp_writer_events(w, e + 2, 2), 0);
    cr_assert_eq(ahp_writer_close(w, 10, 5), 0);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct collect c = {0};
    cr_assert_eq(ahp_reader_foreach(r, &all_ops, &c), 0);
    int want[] = {AHP_CHUNK_INFO, AHP_CHUNK_EVENTS, AHP_CHUNK_LOST, AHP_CHUNK_EVENTS,
                  AHP_CHUNK_END};
    cr_assert_eq(c.norder, 5);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(c.order[i], want[i]);
    free(c.ev);
    ahp_reader_close(r);
}

static int stop(void *arg, const struct ahp_event *ev, size_t n)
{
    (void)ev;
    (void)n;
    ++*(int *)arg;
    return 42;
}

Test(datafile, foreach_stops_on_nonzero_callback)
{
    const char *p = test_path("stop.data");
    write_file(p, 5000, 5000, true);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    int calls = 0;
    struct ahp_read_ops ops = {.events = stop};
    cr_expect_eq(ahp_reader_foreach(r, &ops, &calls), 42);
    cr_expect_eq(calls, 1);
    ahp_reader_close(r);
}

Test(datafile, truncated_at_every_offset_reads_the_complete_chunks)
{
    const char *p = test_path("full.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    cr_assert_eq(ahp_writer_type(w, 0, "REQ"), 0);
    uint64_t after_chunk[8]; /* file size after each events chunk */
    int nchunks = 0;
    for (uint64_t i = 0; i < 40; i++) {
        struct ahp_event e = mk(i);
        cr_assert_eq(ahp_writer_events(w, &e, 1), 0);
        if (i % 10 == 9) {
            cr_assert_eq(ahp_writer_flush(w), 0);
            after_chunk[nchunks++] = file_size(p);
        }
    }
    cr_assert_eq(ahp_writer_close(w, 5, 0), 0);
    uint64_t size = file_size(p);
    const char *q = test_path("cut.data");
    for (uint64_t len = 0; len <= size; len++) {
        cut(p, q, len);
        struct ahp_reader *r;
        int rc = ahp_reader_open(&r, q);
        if (len < 24) {
            cr_assert_eq(rc, AHP_E_NOT_AHPROF, "len %lu", (unsigned long)len);
            continue;
        }
        cr_assert_eq(rc, 0, "len %lu: %d", (unsigned long)len, rc);
        const struct ahp_file_meta *m = ahp_reader_meta(r);
        uint64_t want = 0;
        for (int k = 0; k < nchunks; k++)
            if (after_chunk[k] <= len)
                want = 10 * (uint64_t)(k + 1);
        struct ahp_event e;
        uint64_t got = 0;
        while ((rc = ahp_reader_next_event(r, &e)) == 1) {
            struct ahp_event we = mk(got);
            cr_assert(same(&e, &we));
            got++;
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(got, want, "len %lu: %lu events, want %lu", (unsigned long)len,
                     (unsigned long)got, (unsigned long)want);
        cr_assert_eq(m->truncated, len < size, "len %lu", (unsigned long)len);
        cr_assert_eq(m->bad_chunks, 0);
        cr_assert_eq(m->data_end + m->trailing_bytes, len);
        if (len >= 24 + 16 + 392) /* the info chunk is complete */
            cr_assert(m->has_info);
        ahp_reader_close(r);
    }
}

Test(datafile, killed_recorder_leaves_a_readable_truncated_file)
{
    const char *p = test_path("killed.data");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct ahp_writer *w;
        struct ahp_file_info fi = info();
        if (ahp_writer_open(&w, p, &fi) != 0)
            _exit(1);
        for (uint64_t i = 0; i < 2000; i++) {
            struct ahp_event e = mk(i);
            ahp_writer_events(w, &e, 1);
        }
        ahp_writer_flush(w);
        for (uint64_t i = 2000; i < 2100; i++) { /* buffered, never written */
            struct ahp_event e = mk(i);
            ahp_writer_events(w, &e, 1);
        }
        raise(SIGKILL);
        _exit(2);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st));
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(m->truncated);
    cr_expect_not(m->has_end);
    cr_expect_eq(m->events, 2000);
    ahp_reader_close(r);
}

Test(datafile, header_only_file_is_truncated_and_empty)
{
    const char *p = test_path("h.data");
    write_empty(p);
    char crash[256];
    snprintf(crash, sizeof(crash), "%s.crash", p);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, crash), 0);
    cr_expect(ahp_reader_meta(r)->truncated);
    cr_expect(ahp_reader_meta(r)->has_info);
    cr_expect_eq(ahp_reader_meta(r)->events, 0);
    struct ahp_event e;
    cr_expect_eq(ahp_reader_next_event(r, &e), 0);
    ahp_reader_close(r);
}

Test(datafile, not_an_ahprof_file)
{
    const char *p = test_path("text.txt");
    FILE *f = fopen(p, "w");
    fputs("hello, this is not a recording at all\n", f);
    fclose(f);
    struct ahp_reader *r = (void *)1;
    cr_expect_eq(ahp_reader_open(&r, p), AHP_E_NOT_AHPROF);
    cr_expect_null(r);
    cr_expect_eq(AHP_E_NOT_AHPROF, -EBADMSG);

    const char *e = test_path("empty");
    f = fopen(e, "w");
    fclose(f);
    cr_expect_eq(ahp_reader_open(&r, e), AHP_E_NOT_AHPROF);
    cr_expect_eq(ahp_reader_open(&r, test_path("missing")), -ENOENT);
    cr_expect_eq(ahp_reader_open(&r, test_dir), -EISDIR);
    cr_expect_str_eq(ahp_file_strerror(AHP_E_NOT_AHPROF), "not an ahprof data file");
    cr_expect_eq(ahp_reader_open(&r, "/dev/null"), AHP_E_NOT_AHPROF);

    /* Right magic, damaged header. */
    const char *d = test_path("d.data");
    write_file(d, 10, 10, true);
    uint8_t junk = 0x55;
    patch(d, 16, &junk, 1);
    cr_expect_eq(ahp_reader_open(&r, d), AHP_E_NOT_AHPROF);
}

Test(datafile, newer_major_version_is_refused)
{
    const char *p = test_path("new.data");
    write_file(p, 10, 10, true);
    uint8_t v2[2] = {AHP_FILE_MAJOR + 1, 0};
    patch(p, 8, v2, 2);
    struct ahp_reader *r;
    /* Whatever else the header of a newer version holds: the major decides. */
    cr_expect_eq(ahp_reader_open(&r, p), AHP_E_NEWER);
    cr_expect_eq(AHP_E_NEWER, -EPROTONOSUPPORT);
    /* A newer minor version of the same major is read; unknown chunks are skipped. */
    const char *q = test_path("minor.data");
    write_file(q, 10, 10, false);
    uint8_t hdr[24];
    FILE *f = fopen(q, "rb");
    cr_assert_eq(fread(hdr, 1, 24, f), 24);
    fclose(f);
    hdr[10] = 9; /* minor 9 */
    put32(hdr + 20, (uint32_t)crc32(0, hdr, 20));
    patch(q, 0, hdr, 24);
    append_chunk(q, 99, "future stuff", 12, true);
    cr_assert_eq(ahp_reader_open(&r, q), 0);
    cr_expect_eq(ahp_reader_meta(r)->version_minor, 9);
    cr_expect_eq(ahp_reader_meta(r)->unknown_chunks, 1);
    cr_expect_eq(ahp_reader_meta(r)->events, 10);
    ahp_reader_close(r);
}

Test(datafile, damaged_events_chunk_is_skipped_not_fatal)
{
    const char *p = test_path("dmg.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    uint64_t first_events = 0;
    for (uint64_t i = 0; i < 30; i++) {
        if (i == 10)
            first_events = file_size(p);
        struct ahp_event e = mk(i);
        cr_assert_eq(ahp_writer_events(w, &e, 1), 0);
        if (i % 10 == 9)
            cr_assert_eq(ahp_writer_flush(w), 0);
    }
    cr_assert_eq(ahp_writer_close(w, 1, 0), 0);
    /* Flip a byte inside the payload of the second events chunk (events 10..19). */
    uint8_t b = 0xff;
    patch(p, first_events + 16 + 8 + 5, &b, 1);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    struct collect c = {0};
    cr_assert_eq(ahp_reader_foreach(r, &all_ops, &c), 0);
    cr_expect_eq(c.n, 20);
    cr_expect_eq(c.ev[10].id, mk(20).id);
    cr_expect_eq(ahp_reader_meta(r)->bad_chunks, 1);
    cr_expect_not(ahp_reader_meta(r)->truncated);
    /* A second walk does not count it again. */
    c.n = 0;
    cr_assert_eq(ahp_reader_foreach(r, &all_ops, &c), 0);
    cr_expect_eq(ahp_reader_meta(r)->bad_chunks, 1);
    free(c.ev);
    ahp_reader_close(r);
}

Test(datafile, damaged_chunk_header_ends_the_readable_part)
{
    const char *p = test_path("hdr.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    uint64_t second = 0;
    for (uint64_t i = 0; i < 30; i++) {
        if (i == 10)
            second = file_size(p);
        struct ahp_event e = mk(i);
        cr_assert_eq(ahp_writer_events(w, &e, 1), 0);
        if (i % 10 == 9)
            cr_assert_eq(ahp_writer_flush(w), 0);
    }
    cr_assert_eq(ahp_writer_close(w, 1, 0), 0);
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
    patch(p, second + 4, huge, 4); /* the length: its header CRC no longer matches */
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(m->truncated);
    cr_expect_eq(m->events, 10);
    cr_expect_eq(m->data_end, second);
    cr_expect_eq(m->trailing_bytes, file_size(p) - second);
    ahp_reader_close(r);
}

Test(datafile, garbage_after_the_end_is_ignored)
{
    const char *p = test_path("tail.data");
    write_file(p, 100, 100, true);
    uint64_t size = file_size(p);
    append_chunk(p, AHP_CHUNK_EVENTS, "xxxxxxxx", 8, true);
    FILE *f = fopen(p, "ab");
    fputs("trailing junk", f);
    fclose(f);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, p), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect_not(m->truncated);
    cr_expect_eq(m->data_end, size);
    cr_expect_eq(m->trailing_bytes, 24 + 13);
    cr_expect_eq(m->events, 100);
    ahp_reader_close(r);
}

Test(datafile, hostile_metadata_is_bounded)
{
    const char *p = test_path("hostile.data");
    write_empty(p);
    char crash[256];
    snprintf(crash, sizeof(crash), "%s.crash", p);
    /* A type entry whose 64-byte name has no NUL, one with a type id out of range, an
     * oversized snapshot, a short lost chunk, a malformed events chunk, a bad CRC. */
    uint8_t t[72];
    memset(t, 'A', sizeof(t));
    put32(t, 3);
    put32(t + 4, 0);
    append_chunk(crash, AHP_CHUNK_TYPE, t, sizeof(t), true);
    put32(t, 256);
    append_chunk(crash, AHP_CHUNK_TYPE, t, sizeof(t), true);
    put32(t, (uint32_t)-5);
    append_chunk(crash, AHP_CHUNK_TYPE, t, sizeof(t), true);
    uint8_t snap[16] = {0};
    put32(snap, 100000);
    append_chunk(crash, AHP_CHUNK_SNAPSHOT, snap, sizeof(snap), true);
    append_chunk(crash, AHP_CHUNK_LOST, "abc", 3, true);
    uint8_t ev[8 + 48] = {0};
    put32(ev, 5); /* claims 5 records, holds 1 */
    put32(ev + 4, 48);
    append_chunk(crash, AHP_CHUNK_EVENTS, ev, sizeof(ev), true);
    put32(ev, 1);
    put32(ev + 4, 47); /* record smaller than an event */
    append_chunk(crash, AHP_CHUNK_EVENTS, ev, 8 + 47, true);
    uint8_t lost[8] = {9};
    append_chunk(crash, AHP_CHUNK_LOST, lost, 8, false);
    put32(ev, 1);
    put32(ev + 4, 48);
    ev[8 + 40] = AHP_EV_INIT;
    append_chunk(crash, AHP_CHUNK_EVENTS, ev, sizeof(ev), true);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, crash), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    const char *name = ahp_reader_type_name(r, 3);
    cr_assert_not_null(name);
    cr_expect_eq(strlen(name), 63);
    cr_expect_not(m->has_snapshot);
    cr_expect_eq(m->lost_events, 0);
    cr_expect_eq(m->events, 1);
    /* type 256, type -5, snapshot, short lost, bad-CRC lost */
    cr_expect_eq(m->bad_chunks, 5);
    struct ahp_event e;
    cr_expect_eq(ahp_reader_next_event(r, &e), 1);
    cr_expect_eq(e.kind, AHP_EV_INIT);
    cr_expect_eq(ahp_reader_next_event(r, &e), 0);
    cr_expect_eq(m->bad_chunks, 7); /* plus the two malformed events chunks */
    ahp_reader_close(r);
}

Test(datafile, writer_errors)
{
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_expect_eq(ahp_writer_open(&w, test_path("no/such/dir/x.data"), &fi), -ENOENT);
    cr_expect_eq(ahp_writer_open(&w, NULL, &fi), -EINVAL);
    /* The disk is full: the header cannot be written. */
    cr_expect_eq(ahp_writer_open(&w, "/dev/full", &fi), -ENOSPC);

    cr_assert_eq(ahp_writer_open(&w, test_path("w.data"), &fi), 0);
    cr_expect_eq(ahp_writer_type(w, -1, "X"), -EINVAL);
    cr_expect_eq(ahp_writer_type(w, AHP_TYPE_MAX, "X"), -EINVAL);
    cr_expect_eq(ahp_writer_type(w, 0, NULL), -EINVAL);
    int64_t live[AHP_TYPE_MAX + 1] = {0};
    cr_expect_eq(ahp_writer_snapshot(w, live, AHP_TYPE_MAX + 1), -EINVAL);
    cr_expect_eq(ahp_writer_snapshot(w, live, AHP_TYPE_MAX), 0);
    cr_expect_eq(ahp_writer_events(w, NULL, 1), -EINVAL);
    cr_expect_eq(ahp_writer_events(w, NULL, 0), 0);
    /* Names longer than 63 bytes are cut, not refused. */
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[199] = '\0';
    cr_expect_eq(ahp_writer_type(w, 1, longname), 0);
    cr_expect_eq(ahp_writer_close(w, 1, 0), 0);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, test_path("w.data")), 0);
    cr_expect_eq(strlen(ahp_reader_type_name(r, 1)), 63);
    ahp_reader_close(r);
    struct stat st;
    cr_assert_eq(stat(test_path("w.data"), &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
}

Test(datafile, write_error_is_sticky)
{
    /* A pipe whose reader is gone: every write fails with EPIPE. */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    signal(SIGPIPE, SIG_IGN);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[1]);
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    close(fds[0]);
    struct ahp_event e = mk(1);
    cr_expect_eq(ahp_writer_events(w, &e, 1), 0); /* buffered */
    cr_expect_eq(ahp_writer_flush(w), -EPIPE);
    cr_expect_eq(ahp_writer_lost(w, 1), -EPIPE);
    cr_expect_eq(ahp_writer_events(w, &e, 1), -EPIPE);
    cr_expect_eq(ahp_writer_close(w, 1, 1), -EPIPE);
    close(fds[1]);
}

Test(datafile, layout_is_little_endian_and_documented)
{
    /* Pin the bytes docs/file-format.md describes, so that the two cannot drift apart. */
    const char *p = test_path("layout.data");
    struct ahp_writer *w;
    struct ahp_file_info fi = info();
    cr_assert_eq(ahp_writer_open(&w, p, &fi), 0);
    struct ahp_event e = {.ts_ns = 0x0102030405060708ull,
                          .id = 42,
                          .tid = 0x11223344,
                          .type = -2,
                          .kind = AHP_EV_AFTER,
                          .flags = AHP_F_IN_SNAPSHOT,
                          .depth = 0x0506,
                          .pid = 9};
    cr_assert_eq(ahp_writer_events(w, &e, 1), 0);
    cr_assert_eq(ahp_writer_close(w, 7, 0), 0);
    uint8_t buf[1024];
    FILE *f = fopen(p, "rb");
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    /* The record, packed: head byte, then the varints docs/file-format.md lists for AFTER. */
    static const uint8_t packed[] = {
        0x7b,                                                 /* AFTER | id, type, tid, flags */
        0x90, 0x9c, 0xb0, 0xd0, 0x80, 0xc1, 0x81, 0x82, 0x02, /* ts delta, zigzag */
        0x54,                                                 /* id delta 42, zigzag */
        0x03,                                                 /* type -2, zigzag */
        0xc8, 0xe6, 0x88, 0x89, 0x01,                         /* tid + 4 (not a recent one) */
        0x01,                                                 /* flags */
        0x86, 0x0a,                                           /* depth 0x0506 */
    };
    cr_assert_eq(n, 24 + (16 + 392) + (16 + 16 + sizeof(packed)) + (16 + 40));
    cr_expect_eq(memcmp(buf, "AHPROF\0\n", 8), 0);
    cr_expect_eq(buf[8], 2);
    cr_expect_eq(buf[9], 0);
    cr_expect_eq(buf[12], 24);
    const uint8_t *c = buf + 24;
    cr_expect_eq(c[0], AHP_CHUNK_INFO);
    cr_expect_eq(c[4] | c[5] << 8, 392);
    cr_expect_eq(c[16], 0x92); /* pid 4242 = 0x1092 */
    cr_expect_eq(c[17], 0x10);
    cr_expect_str_eq((const char *)c + 16 + 24, "server");
    const uint8_t *ev = buf + 24 + 16 + 392;
    cr_expect_eq(ev[0], AHP_CHUNK_PACKED);
    cr_expect_eq(ev[4], 16 + sizeof(packed));
    cr_expect_eq(ev[16], 1);              /* count */
    cr_expect_eq(ev[20], 9);              /* pid */
    cr_expect_eq(ev[24], sizeof(packed)); /* bytes of records */
    cr_expect_eq(ev[28], 0);              /* plain, not zlib */
    cr_expect_eq(memcmp(ev + 32, packed, sizeof(packed)), 0);
    const uint8_t *end = ev + 16 + 16 + sizeof(packed);
    cr_expect_eq(end[0], AHP_CHUNK_END);
    cr_expect_eq(end[16], 7);
    cr_expect_eq(end[16 + 16], 1); /* events written */
    cr_expect_eq(end[16 + 24], 1); /* clean */
}
