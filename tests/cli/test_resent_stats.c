/* test_resent_stats.c - the decoder's resent_records (records handed over twice, written once)
 * travel in the END chunk from `ahprof record` to `ahprof report`: the writer puts it at offset
 * 32 of END, the reader gives it back, an END of an older ahprof (32 bytes, without it) reads
 * as "not said" (0), and report shows it in --json and in its header. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_stdout.h"
#include "tmpdir.h"
#include "data/codec.h"
#include "data/datafile.h"
#include "cmd/report.h"

TestSuite(resent_stats, .init = test_dir_init, .fini = test_dir_fini);

/* Above 2^32: a field narrower than 64 bits, or one byte misplaced, would not give it back. */
#define RESENT 0x0102030405060708ull

static const struct ahp_event events[] = {
    {.ts_ns = 10, .id = 9, .trigger_id = 1, .tid = 7, .pid = 3, .type = 0, .kind = AHP_EV_INIT},
    {.ts_ns = 11, .id = 9, .tid = 7, .pid = 3, .type = 0, .kind = AHP_EV_BEFORE, .depth = 1},
    {.ts_ns = 12, .id = 9, .tid = 7, .pid = 3, .type = 0, .kind = AHP_EV_AFTER, .depth = 1},
    {.ts_ns = 13, .id = 9, .tid = 7, .pid = 3, .type = 0, .kind = AHP_EV_DESTROY},
};
#define NEVENTS (sizeof(events) / sizeof(events[0]))

/* A closed recording of EVENTS whose decoder dropped RESENT records (none: not said). */
static const char *write_file(const char *name, const uint64_t *resent)
{
    const char *path = test_path(name);
    struct ahp_file_info fi = {.pid = 3, .start_mono_ns = 5};
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &fi), 0);
    cr_assert_eq(ahp_writer_type(w, 0, "REQ"), 0);
    cr_assert_eq(ahp_writer_events(w, events, NEVENTS), 0);
    if (resent != NULL)
        cr_assert_eq(ahp_writer_resent(w, *resent), 0);
    cr_assert_eq(ahp_writer_close(w, 20, 2), 0);
    return path;
}

static uint8_t *slurp_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static uint8_t buf[4096];
    *n = fread(buf, 1, sizeof(buf), f);
    cr_assert(feof(f), "%s is larger than the test expects", path);
    fclose(f);
    return buf;
}

/* The END chunk of a file the writer closed: its last chunk. */
static const uint8_t *end_chunk(const uint8_t *file, size_t n, uint32_t *len)
{
    size_t off = AHP_FILE_HEADER_SIZE, last = 0;
    uint32_t type = 0;
    while (off + AHP_CHUNK_HEADER_SIZE <= n) {
        cr_assert_eq(ahp_chunk_header_check(file + off, &type, len), 0);
        last = off;
        off += AHP_CHUNK_HEADER_SIZE + *len;
    }
    cr_assert_eq(off, n);
    cr_assert_eq(type, AHP_CHUNK_END);
    return file + last;
}

static struct ahp_reader *open_meta(const char *path, const struct ahp_file_meta **m)
{
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    *m = ahp_reader_meta(r);
    cr_assert(!(*m)->truncated);
    cr_assert((*m)->clean_end);
    cr_expect_eq((*m)->lost_events, 2);
    cr_expect_eq((*m)->end_events, NEVENTS);
    return r;
}

Test(resent_stats, the_end_chunk_carries_it_as_u64_at_offset_32)
{
    uint64_t resent = RESENT;
    size_t n;
    const uint8_t *file = slurp_file(write_file("n.data", &resent), &n);
    uint32_t len;
    const uint8_t *end = end_chunk(file, n, &len);
    cr_assert_eq(len, 40, "END is %u bytes", len);
    const uint8_t *p = end + AHP_CHUNK_HEADER_SIZE;
    cr_expect_eq(ahp_crc(p, len), ahp_chunk_payload_crc(end));
    for (int i = 0; i < 8; i++) /* little-endian, docs/file-format.md "END" */
        cr_expect_eq(p[32 + i], (uint8_t)(RESENT >> (8 * i)), "byte %d", i);
    cr_expect_eq(ahp_get64(p + 8), 2);        /* lost_total stays where it was */
    cr_expect_eq(ahp_get64(p + 16), NEVENTS); /* events */
    cr_expect_eq(ahp_get32(p + 24), AHP_END_F_CLEAN);

    struct ahp_end_info e;
    cr_assert(ahp_end_decode(p, len, &e));
    cr_expect(e.has_resent_records);
    cr_expect_eq(e.resent_records, RESENT);
}

Test(resent_stats, the_reader_gives_it_back)
{
    uint64_t resent = RESENT;
    const struct ahp_file_meta *m;
    struct ahp_reader *r = open_meta(write_file("n.data", &resent), &m);
    cr_expect(m->has_resent_records);
    cr_expect_eq(m->resent_records, RESENT);
    cr_expect_eq(m->unknown_chunks, 0);
    cr_expect_eq(m->bad_chunks, 0);
    ahp_reader_close(r);

    /* A writer that never says: 0, and the file says 0 (the field is there). */
    r = open_meta(write_file("zero.data", NULL), &m);
    cr_expect(m->has_resent_records);
    cr_expect_eq(m->resent_records, 0);
    ahp_reader_close(r);
}

/* What an older ahprof wrote: the same file with a 32-byte END (no resent_records). */
static const char *write_old_end_file(void)
{
    uint64_t resent = RESENT;
    const char *path = write_file("old.data", &resent);
    size_t n;
    const uint8_t *file = slurp_file(path, &n);
    uint32_t len;
    const uint8_t *end = end_chunk(file, n, &len);
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + 32];
    memcpy(chunk + AHP_CHUNK_HEADER_SIZE, end + AHP_CHUNK_HEADER_SIZE, 32);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_END, 32);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, (long)(end - file), SEEK_SET), 0);
    cr_assert_eq(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(truncate(path, (off_t)(end - file) + (off_t)sizeof(chunk)), 0);
    return path;
}

Test(resent_stats, an_older_end_without_it_reads_as_zero)
{
    const struct ahp_file_meta *m;
    struct ahp_reader *r = open_meta(write_old_end_file(), &m);
    cr_expect(!m->has_resent_records);
    cr_expect_eq(m->resent_records, 0);
    cr_expect_eq(m->bad_chunks, 0);
    cr_expect_eq(m->trailing_bytes, 0);
    struct ahp_event ev;
    size_t got = 0;
    while (ahp_reader_next_event(r, &ev) == 1)
        got++;
    cr_expect_eq(got, NEVENTS);
    ahp_reader_close(r);
}

Test(resent_stats, a_newer_end_with_more_fields_still_reads)
{
    /* A later minor version may append to END: the reader takes its first 40 bytes. */
    uint8_t p[48];
    struct ahp_end_info in = {
        .end_mono_ns = 1, .lost = 2, .events = 3, .flags = AHP_END_F_CLEAN, .resent_records = 4};
    cr_assert_eq(ahp_end_encode(p, &in), 40);
    memset(p + 40, 0xff, 8);
    struct ahp_end_info out;
    cr_assert(ahp_end_decode(p, sizeof(p), &out));
    cr_expect(out.has_resent_records);
    cr_expect_eq(out.resent_records, 4);
    cr_expect_eq(out.events, 3);
    cr_expect(!ahp_end_decode(p, 31, &out), "an END shorter than 32 bytes is damage");
}

/* The report's "resent_records": its JSON type, and the number when it is one. */
static json_type report_resent(const char *path, uint64_t *value)
{
    char *text = report_stdout(path, "--json", NULL);
    json_object *doc = json_tokener_parse(text), *v;
    cr_assert_not_null(doc, "%s", text);
    cr_assert(json_object_object_get_ex(doc, "resent_records", &v), "%s", text);
    json_type t = json_object_get_type(v);
    *value = t == json_type_int ? json_object_get_uint64(v) : 0;
    json_object_put(doc);
    free(text);
    return t;
}

Test(resent_stats, report_json_shows_it)
{
    uint64_t resent = 123456789012ull, got;
    cr_expect_eq(report_resent(write_file("n.data", &resent), &got), json_type_int);
    cr_expect_eq(got, resent);

    resent = 0;
    cr_expect_eq(report_resent(write_file("zero.data", &resent), &got), json_type_int);
    cr_expect_eq(got, 0);

    /* An older ahprof's file does not say: null, not a made-up 0. */
    cr_expect_eq(report_resent(write_old_end_file(), &got), json_type_null);
}

Test(resent_stats, report_text_names_it_next_to_the_lost_events)
{
    uint64_t resent = 4242;
    char *text = report_stdout(write_file("n.data", &resent), NULL);
    const char *lost = strstr(text, "lost events:");
    const char *line = strstr(text, "resent:      4242 records");
    cr_expect_not_null(line, "%s", text);
    cr_expect(lost != NULL && line > lost && strchr(lost, '\n') + 1 == line,
              "the line follows 'lost events:'\n%s", text);
    free(text);

    /* Nothing to say when nothing was resent, or when the file does not say. */
    resent = 0;
    text = report_stdout(write_file("zero.data", &resent), NULL);
    cr_expect_null(strstr(text, "resent:"), "%s", text);
    free(text);
    text = report_stdout(write_old_end_file(), NULL);
    cr_expect_null(strstr(text, "resent:"), "%s", text);
    free(text);
}
