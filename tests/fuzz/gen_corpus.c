/* gen_corpus.c - seed files for fuzz_datafile, written by the real writer: gen_corpus DIR. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/codec.h"
#include "data/datafile.h"

static struct ahp_event ev(uint8_t kind, uint64_t ts, uint64_t id, uint64_t trig, int32_t type,
                           uint32_t tid, uint8_t flags)
{
    return (struct ahp_event){.ts_ns = ts,
                              .id = id,
                              .trigger_id = trig,
                              .tid = tid,
                              .type = type,
                              .kind = kind,
                              .flags = flags,
                              .pid = 1};
}

static int seed(const char *dir, const char *name, int variant)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct ahp_file_info fi = {.pid = 42, .start_mono_ns = 5, .start_real_ns = 7};
    strcpy(fi.comm, "seed");
    strcpy(fi.target, "/bin/seed");
    struct ahp_writer *w;
    if (ahp_writer_open(&w, path, &fi) != 0)
        return -1;
    if (variant == 3 && ahp_writer_compress(w, 1) != 0)
        return -1;
    static const char *names[] = {"TCPCONN", "REQ", "TIMER", "<b>\"x\"\x1b;\n"};
    for (int i = 0; i < 4; i++)
        ahp_writer_type(w, i, names[i]);
    int64_t live[4] = {2, 1, 0, 0};
    if (variant != 2)
        ahp_writer_snapshot(w, live, 4);
    struct ahp_event e[] = {
        ev(AHP_EV_INIT, 10, 100, 1, 0, 1, 0),
        ev(AHP_EV_INIT, 11, 99, 1, 1, 1, AHP_F_IN_SNAPSHOT),
        ev(AHP_EV_BEFORE, 12, 100, 0, 0, 1, 0),
        ev(AHP_EV_INIT, 13, 101, 100, 1, 1, 0),
        ev(AHP_EV_BEFORE, 14, 500, 0, 0, 2, 0),
        ev(AHP_EV_INIT, 15, 102, 500, 2, 2, 0),
        ev(AHP_EV_AFTER, 16, 500, 0, 0, 2, 0),
        ev(AHP_EV_AFTER, 17, 100, 0, 0, 1, 0),
        ev(AHP_EV_BEFORE, 18, 101, 0, 1, 1, 0),
        ev(AHP_EV_INIT, 19, 103, 101, 1, 1, 0),
        ev(AHP_EV_DESTROY, 20, 101, 0, 1, 1, 0),
        ev(AHP_EV_AFTER, 21, 101, 0, 1, 1, 0),
        ev(AHP_EV_RESOLVE, 22, 102, 0, 2, 1, 0),
        ev(AHP_EV_INIT, 23, 104, 103, 3, 3, 0),
        ev(AHP_EV_DESTROY, 24, 700, 0, 0, 3, 0),
        ev(AHP_EV_AFTER, 25, 900, 0, 2, 3, 0),
    };
    size_t n = sizeof(e) / sizeof(e[0]);
    if (variant >= 4) {
        /* record --cpu: the kernel view's chunks, with records inside callback 100 (tid 1,
         * 12..17) and 500 (tid 2), outside callbacks and untagged, and hostile frames. */
        struct ahp_kinfo ki = {.hz = 99, .flags = AHP_KINFO_F_OFFCPU_STACKS, .lost_records = 1};
        ahp_writer_kinfo(w, &ki);
        const char *frames[] = {"schedule_[k]", "read", "read_here", "a;b\n\x1b 42", "main"};
        ahp_writer_kstack(w, 0, frames, 5, 1);
        ahp_writer_kstack(w, 1, frames + 2, 3, 0);
        struct ahp_krecord k[] = {
            {.ts_ns = 13,
             .dur_ns = 2,
             .id = 100,
             .tid = 1,
             .slot = 0,
             .reason = 0,
             .stack = 1,
             .kind = AHP_KREC_OFFCPU,
             .depth = 1},
            {.ts_ns = 14,
             .id = 100,
             .tid = 1,
             .slot = 0,
             .stack = 2,
             .kind = AHP_KREC_CPU,
             .depth = 1},
            {.ts_ns = 15,
             .dur_ns = 1,
             .id = 500,
             .tid = 2,
             .slot = 0,
             .reason = 202,
             .stack = 9,
             .kind = AHP_KREC_OFFCPU,
             .depth = 1},
            {.ts_ns = 15,
             .dur_ns = 1,
             .id = 500,
             .tid = 2,
             .slot = 0,
             .reason = AHP_KREC_PREEMPTED,
             .kind = AHP_KREC_OFFCPU,
             .depth = 1},
            {.ts_ns = 26, .tid = 3, .slot = AHP_KREC_OUTSIDE, .kind = AHP_KREC_CPU},
            {.ts_ns = 27, .tid = 3, .slot = AHP_KREC_UNTAGGED, .stack = 1, .kind = AHP_KREC_CPU},
            {.ts_ns = 28, .id = 77, .tid = 4, .slot = 300, .reason = -9, .kind = 7},
        };
        ahp_writer_krecords(w, k, sizeof(k) / sizeof(k[0]));
        /* The kernel view's aggregates, twice (the second supersedes): a type, (outside
         * callbacks) and (untagged), with run-queue waits for report's RUNQ figures. */
        static struct ahp_kstats_slot ks[AHP_KSTATS_SLOTS];
        ks[0] = (struct ahp_kstats_slot){.runq_count = 3, .runq_hist = {[10] = 2, [20] = 1}};
        ks[AHP_KSTATS_OUTSIDE] = (struct ahp_kstats_slot){.runq_count = 1, .runq_hist = {[5] = 1}};
        ahp_writer_kstats(w, 16, ks);
        ks[0].blocked_ns = 2;
        ks[AHP_KSTATS_UNTAGGED] = (struct ahp_kstats_slot){.runq_count = 9, .preempted_count = 1};
        ahp_writer_kstats(w, 17, ks);
        ahp_writer_flush(w);
        ahp_writer_krecords(w, k, 2);
    }
    ahp_writer_events(w, e, n / 2);
    ahp_writer_flush(w);
    ahp_writer_lost_at(w, 3, 17);
    ahp_writer_events(w, e + n / 2, n - n / 2);
    if (variant == 3) {
        /* Enough of the same records for zlib to shrink a chunk. */
        for (int k = 0; k < 40; k++)
            ahp_writer_events(w, e, n);
    }
    if (variant == 1 || variant == 5) {
        /* Cut off: no end chunk, and half an events chunk. */
        ahp_writer_flush(w);
        ahp_writer_close(w, 30, 3);
        FILE *f = fopen(path, "r+");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        return truncate(path, size - 48 - 20);
    }
    return ahp_writer_close(w, 30, 3);
}

/* A 1.1 file (ahprof 0.1): INFO, one EVENTS chunk of fixed 48-byte records, LOST, END. */
static int seed_v1(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    uint8_t h[AHP_FILE_HEADER_SIZE];
    ahp_file_header_encode(h);
    ahp_put16(h + 8, 1);
    ahp_put16(h + 10, 1);
    ahp_put32(h + 20, ahp_crc(h, 20));
    fwrite(h, 1, sizeof(h), f);
    static uint8_t chunk[16 + AHP_INFO_SIZE + 8 + 4 * 48];
    struct ahp_file_info fi = {.pid = 5};
    uint32_t len = ahp_info_encode(chunk + 16, &fi, "0.1.0", "old");
    ahp_chunk_header_encode(chunk, AHP_CHUNK_INFO, len);
    fwrite(chunk, 1, 16 + len, f);
    struct ahp_event e[4] = {
        ev(AHP_EV_INIT, 10, 100, 1, 0, 1, 0), ev(AHP_EV_BEFORE, 11, 100, 0, 0, 1, 0),
        ev(AHP_EV_AFTER, 12, 100, 0, 0, 1, 0), ev(AHP_EV_INIT, 13, 101, 100, 0, 1, 0)};
    ahp_events_header_encode(chunk + 16, 4);
    for (int i = 0; i < 4; i++)
        ahp_event_encode(chunk + 16 + 8 + 48 * i, &e[i]);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_EVENTS, 8 + 4 * 48);
    fwrite(chunk, 1, 16 + 8 + 4 * 48, f);
    ahp_put64(chunk + 16, 2);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_LOST, 8);
    fwrite(chunk, 1, 16 + 8, f);
    struct ahp_end_info end = {.end_mono_ns = 30, .lost = 2, .events = 4, .flags = 1};
    len = ahp_end_encode(chunk + 16, &end);
    ahp_chunk_header_encode(chunk, AHP_CHUNK_END, len);
    fwrite(chunk, 1, 16 + len, f);
    return fclose(f);
}

/* Rewrite DIR/NAME as fuzz inputs: one per mode byte (see fuzz_datafile.c), then remove it. */
static int as_inputs(const char *dir, const char *name)
{
    char path[512], out[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (int mode = 0; mode < 4; mode++) {
        snprintf(out, sizeof(out), "%s/%s.m%d", dir, name, mode);
        FILE *o = fopen(out, "wb");
        if (o == NULL)
            return -1;
        fputc(mode, o);
        fwrite(buf, 1, n, o);
        fclose(o);
    }
    return unlink(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    const char *names[] = {"complete.data", "truncated.data", "nosnapshot.data",
                           "zlib.data",     "kernel.data",    "kernel-cut.data"};
    int rc = 0;
    for (int i = 0; i < 6; i++)
        rc |= seed(argv[1], names[i], i) | as_inputs(argv[1], names[i]);
    rc |= seed_v1(argv[1], "v1.data") | as_inputs(argv[1], "v1.data");
    return rc != 0;
}
