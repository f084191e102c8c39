/*
 * writer.c - the writer of ahprof.data files (datafile.h): file I/O around the byte layout of
 * codec.h. Events are buffered into one chunk of about 64 KiB; every other chunk is written
 * at once, after the events buffered before it, so file order is call order.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ah.h"
#include "data/codec.h"
#include "data/datafile.h"

/* An events chunk is written at 4096 events (14 to 28 KiB at the usual 3.5 to 7 bytes per
 * event), or at 64 KiB of records when they are larger: a damaged chunk, or a file cut at a
 * chunk, costs a few thousand events, as it did with 1365 fixed-size records per chunk. */
#define WRITER_EVENTS 4096
#define WRITER_RAW (64u << 10)
/* Kernel records per chunk: 48 KiB, about 10 s of 99 Hz samples on every CPU of a busy
 * 50-CPU machine, or what a cut file loses at most of them. */
#define WRITER_KRECORDS 1024

struct ahp_writer {
    int fd;
    int err;             /* first write error, returned by every later call */
    int zlevel;          /* 0: chunks are written plain; else compress2's level */
    unsigned pack_flags; /* AHP_PACK_* */
    uint64_t events;
    uint32_t nbuf; /* records in the chunk under construction */
    size_t raw;    /* ... and their bytes */
    struct ahp_packer packer;
    uint64_t resent_records; /* for the END chunk */
    /* One events chunk under construction: chunk header, packed header, records. */
    uint8_t buf[AHP_CHUNK_HEADER_SIZE + AHP_PACKED_HEADER_SIZE + WRITER_RAW + AHP_PACKED_EVENT_MAX];
    uint8_t *zbuf; /* the compressed chunk (with its headers), when zlevel > 0 */
    size_t zcap;
    uint32_t nkrec; /* kernel records in kbuf */
    uint8_t
        kbuf[AHP_CHUNK_HEADER_SIZE + AHP_KRECORDS_HEADER_SIZE + WRITER_KRECORDS * AHP_KRECORD_SIZE];
};

/* *DONE gets the bytes written, also when an error is returned. */
static int write_all(int fd, const uint8_t *p, size_t n, size_t *done)
{
    *done = 0;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
        *done += (size_t)k;
    }
    return 0;
}

/* A chunk written in part (a full disk) would end the file with a torn chunk: cut it off, so
 * that the file ends with its last complete chunk. Only a regular file can be cut. */
static void cut_torn_chunk(int fd, size_t written)
{
    struct stat st;
    if (written == 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (end >= (off_t)written && ftruncate(fd, end - (off_t)written) == 0)
        lseek(fd, end - (off_t)written, SEEK_SET);
}

/* CHUNK holds AHP_CHUNK_HEADER_SIZE bytes of room followed by LEN bytes of payload; a single
 * write keeps a chunk whole unless the process dies in the middle of it. */
static int write_chunk(struct ahp_writer *w, uint32_t type, uint8_t *chunk, uint32_t len)
{
    if (w->err != 0)
        return w->err;
    ahp_chunk_header_encode(chunk, type, len);
    size_t written;
    int rc = write_all(w->fd, chunk, AHP_CHUNK_HEADER_SIZE + (size_t)len, &written);
    if (rc < 0) {
        cut_torn_chunk(w->fd, written);
        w->err = rc;
    }
    return rc;
}

static int flush_krecords(struct ahp_writer *w)
{
    if (w->err != 0 || w->nkrec == 0)
        return w->err;
    ahp_krecords_header_encode(w->kbuf + AHP_CHUNK_HEADER_SIZE, w->nkrec);
    int rc = write_chunk(w, AHP_CHUNK_KRECORDS, w->kbuf,
                         AHP_KRECORDS_HEADER_SIZE + w->nkrec * AHP_KRECORD_SIZE);
    if (rc == 0)
        w->nkrec = 0;
    return rc;
}

static int flush_events(struct ahp_writer *w)
{
    if (w->err != 0)
        return w->err;
    if (w->nbuf == 0)
        return 0;
    struct ahp_packed_header h = {
        .count = w->nbuf, .pid = w->packer.pid, .raw_len = (uint32_t)w->raw, .codec = 0};
    uint8_t *records = w->buf + AHP_CHUNK_HEADER_SIZE + AHP_PACKED_HEADER_SIZE;
    uint8_t *chunk = w->buf;
    size_t body = w->raw;
    uLongf zlen = (uLongf)(w->zcap - AHP_CHUNK_HEADER_SIZE - AHP_PACKED_HEADER_SIZE);
    /* Compressed only when it pays: a chunk zlib cannot shrink stays plain. */
    if (w->zlevel > 0 &&
        compress2(w->zbuf + AHP_CHUNK_HEADER_SIZE + AHP_PACKED_HEADER_SIZE, &zlen, records,
                  (uLong)w->raw, w->zlevel) == Z_OK &&
        zlen < w->raw) {
        h.codec = AHP_PACKED_ZLIB;
        chunk = w->zbuf;
        body = zlen;
    }
    ahp_packed_header_encode(chunk + AHP_CHUNK_HEADER_SIZE, &h);
    int rc = write_chunk(w, AHP_CHUNK_PACKED, chunk, (uint32_t)(AHP_PACKED_HEADER_SIZE + body));
    if (rc == 0) {
        w->nbuf = 0;
        w->raw = 0;
    }
    return rc;
}

int ahp_writer_open(struct ahp_writer **wp, const char *path, const struct ahp_file_info *info)
{
    if (wp == NULL || path == NULL || info == NULL)
        return -EINVAL;
    *wp = NULL;
    struct ahp_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        int rc = -errno;
        free(w);
        return rc;
    }

    uint8_t hdr[AHP_FILE_HEADER_SIZE];
    ahp_file_header_encode(hdr);
    size_t written;
    int rc = write_all(w->fd, hdr, sizeof(hdr), &written);

    if (rc == 0) {
        uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_INFO_SIZE];
        char host[65] = "";
        gethostname(host, sizeof(host) - 1);
        uint32_t len =
            ahp_info_encode(chunk + AHP_CHUNK_HEADER_SIZE, info, AH_VERSION_STRING, host);
        rc = write_chunk(w, AHP_CHUNK_INFO, chunk, len);
    }
    if (rc < 0) {
        /* Not unlinked: PATH may be a device or FIFO the user named on purpose. */
        close(w->fd);
        free(w);
        return rc;
    }
    *wp = w;
    return 0;
}

int ahp_writer_compress(struct ahp_writer *w, int level)
{
    if (w == NULL || level < 0 || level > 9)
        return -EINVAL;
    if (level > 0 && w->zbuf == NULL) {
        size_t cap = AHP_CHUNK_HEADER_SIZE + AHP_PACKED_HEADER_SIZE +
                     compressBound(WRITER_RAW + AHP_PACKED_EVENT_MAX);
        w->zbuf = malloc(cap);
        if (w->zbuf == NULL)
            return -ENOMEM;
        w->zcap = cap;
    }
    w->zlevel = level;
    return 0;
}

int ahp_writer_drop_exclusive(struct ahp_writer *w)
{
    if (w == NULL)
        return -EINVAL;
    w->pack_flags |= AHP_PACK_NO_EXCLUSIVE;
    return 0;
}

int ahp_writer_type(struct ahp_writer *w, int32_t type, const char *name)
{
    if (w == NULL || name == NULL || type < 0 || type >= AHP_TYPE_MAX)
        return -EINVAL;
    /* Keep file order = call order: events written before this call come first. */
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_TYPE_SIZE];
    uint32_t len = ahp_type_encode(chunk + AHP_CHUNK_HEADER_SIZE, type, name);
    return write_chunk(w, AHP_CHUNK_TYPE, chunk, len);
}

int ahp_writer_snapshot(struct ahp_writer *w, const int64_t *live, uint32_t ntypes)
{
    if (w == NULL || (live == NULL && ntypes > 0) || ntypes > AHP_TYPE_MAX)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_SNAPSHOT_SIZE_MAX];
    uint32_t len = ahp_snapshot_encode(chunk + AHP_CHUNK_HEADER_SIZE, live, ntypes);
    return write_chunk(w, AHP_CHUNK_SNAPSHOT, chunk, len);
}

/* EV[0..N), or those before the first whose type is not KNOWN[type] when KNOWN is not NULL:
 * how many were appended, or a negative errno. */
static long append_events(struct ahp_writer *w, const struct ahp_event *ev, size_t n,
                          const bool *known)
{
    if (w == NULL || (ev == NULL && n > 0))
        return -EINVAL;
    if (w->err != 0)
        return w->err;
    uint8_t *records = w->buf + AHP_CHUNK_HEADER_SIZE + AHP_PACKED_HEADER_SIZE;
    for (size_t i = 0; i < n;) {
        if (w->nbuf == 0)
            ahp_packer_reset(&w->packer, ev[i].pid);
        /* As many as the chunk takes in one call: it ends at WRITER_EVENTS events or once its
         * records reach WRITER_RAW bytes, as when they were appended one by one. */
        size_t most = n - i < WRITER_EVENTS - w->nbuf ? n - i : WRITER_EVENTS - w->nbuf, bytes;
        size_t room = WRITER_RAW - w->raw;
        size_t k = known == NULL
                       ? ahp_packed_events_encode(&w->packer, records + w->raw, room, &ev[i], most,
                                                  w->pack_flags, &bytes)
                       : ahp_packed_events_encode_known(&w->packer, records + w->raw, room, &ev[i],
                                                        most, w->pack_flags, known, &bytes);
        w->raw += bytes;
        w->nbuf += (uint32_t)k;
        w->events += k;
        i += k;
        if (w->raw >= WRITER_RAW || w->nbuf == WRITER_EVENTS) {
            int rc = flush_events(w);
            if (rc < 0)
                return rc;
        } else if (k < most) {
            return (long)i; /* stopped at a type not known */
        }
    }
    return (long)n;
}

int ahp_writer_events(struct ahp_writer *w, const struct ahp_event *ev, size_t n)
{
    long rc = append_events(w, ev, n, NULL);
    return rc < 0 ? (int)rc : 0;
}

long ahp_writer_events_known(struct ahp_writer *w, const struct ahp_event *ev, size_t n,
                             const bool known[AHP_TYPE_MAX])
{
    return append_events(w, ev, n, known);
}

int ahp_writer_stack(struct ahp_writer *w, uint32_t stack_id, const struct ahp_stack_frame *frames,
                     uint32_t n)
{
    if (w == NULL || (frames == NULL && n > 0))
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_STACK_SIZE_MAX];
    uint32_t len = ahp_stack_encode(chunk + AHP_CHUNK_HEADER_SIZE, stack_id, frames, n);
    return write_chunk(w, AHP_CHUNK_STACK, chunk, len);
}

int ahp_writer_counters(struct ahp_writer *w, const struct ahp_type_counters *counters)
{
    if (w == NULL || counters == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_COUNTERS_SIZE];
    uint32_t len = ahp_counters_encode(chunk + AHP_CHUNK_HEADER_SIZE, counters);
    return write_chunk(w, AHP_CHUNK_COUNTERS, chunk, len);
}

int ahp_writer_kinfo(struct ahp_writer *w, const struct ahp_kinfo *k)
{
    if (w == NULL || k == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_KINFO_SIZE];
    uint32_t len = ahp_kinfo_encode(chunk + AHP_CHUNK_HEADER_SIZE, k);
    return write_chunk(w, AHP_CHUNK_KINFO, chunk, len);
}

int ahp_writer_kstats(struct ahp_writer *w, uint64_t as_of_ns,
                      const struct ahp_kstats_slot slots[AHP_KSTATS_SLOTS])
{
    if (w == NULL || slots == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    static _Thread_local uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_KSTATS_SIZE_MAX];
    uint32_t len = ahp_kstats_encode(chunk + AHP_CHUNK_HEADER_SIZE, as_of_ns, slots);
    return write_chunk(w, AHP_CHUNK_KSTATS, chunk, len);
}

int ahp_writer_krecords(struct ahp_writer *w, const struct ahp_krecord *r, size_t n)
{
    if (w == NULL || (r == NULL && n > 0))
        return -EINVAL;
    if (w->err != 0)
        return w->err;
    uint8_t *records = w->kbuf + AHP_CHUNK_HEADER_SIZE + AHP_KRECORDS_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        ahp_krecord_encode(records + (size_t)w->nkrec * AHP_KRECORD_SIZE, &r[i]);
        if (++w->nkrec == WRITER_KRECORDS) {
            int rc = flush_krecords(w);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int ahp_writer_kstack(struct ahp_writer *w, uint32_t id, const char *const *frames, uint32_t n,
                      uint32_t nkernel)
{
    if (w == NULL || (frames == NULL && n > 0))
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    static _Thread_local uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_KSTACK_SIZE_MAX];
    uint32_t len = ahp_kstack_encode(chunk + AHP_CHUNK_HEADER_SIZE, id, frames, n, nkernel);
    return write_chunk(w, AHP_CHUNK_KSTACK, chunk, len);
}

int ahp_writer_exit(struct ahp_writer *w, enum ahp_exit_how how, uint32_t code, bool core_dumped,
                    uint64_t exit_mono_ns)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_EXIT_SIZE];
    struct ahp_exit_info x = {.how = (uint32_t)how,
                              .code = code,
                              .core_dumped = core_dumped,
                              .exit_mono_ns = exit_mono_ns};
    uint32_t len = ahp_exit_encode(chunk + AHP_CHUNK_HEADER_SIZE, &x);
    return write_chunk(w, AHP_CHUNK_EXIT, chunk, len);
}

int ahp_writer_exec(struct ahp_writer *w, uint64_t exec_mono_ns, const char *path)
{
    if (w == NULL || path == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_EXEC_SIZE];
    uint32_t len = ahp_exec_encode(chunk + AHP_CHUNK_HEADER_SIZE, exec_mono_ns, path);
    return write_chunk(w, AHP_CHUNK_EXEC, chunk, len);
}

int ahp_writer_lost(struct ahp_writer *w, uint64_t lost_total)
{
    return ahp_writer_lost_at(w, lost_total, 0);
}

int ahp_writer_lost_at(struct ahp_writer *w, uint64_t lost_total, uint64_t as_of_ns)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_LOST_SIZE];
    uint32_t len = ahp_lost_encode(chunk + AHP_CHUNK_HEADER_SIZE, lost_total, as_of_ns);
    return write_chunk(w, AHP_CHUNK_LOST, chunk, len);
}

int ahp_writer_flush(struct ahp_writer *w)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc == 0)
        rc = flush_krecords(w);
    /* Start writing back what is written, without waiting for it: the fsync at close then
     * has little left to do, however long the recording (a pipe or a device refuses). */
    if (rc == 0)
        sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return rc;
}

int ahp_writer_resent(struct ahp_writer *w, uint64_t resent_records)
{
    if (w == NULL)
        return -EINVAL;
    w->resent_records = resent_records;
    return w->err;
}

int ahp_writer_close(struct ahp_writer *w, uint64_t end_mono_ns, uint64_t lost_total)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc == 0)
        rc = flush_krecords(w);
    if (rc == 0) {
        uint8_t chunk[AHP_CHUNK_HEADER_SIZE + AHP_END_SIZE];
        struct ahp_end_info e = {.end_mono_ns = end_mono_ns,
                                 .lost = lost_total,
                                 .events = w->events,
                                 .flags = AHP_END_F_CLEAN,
                                 .resent_records = w->resent_records};
        uint32_t len = ahp_end_encode(chunk + AHP_CHUNK_HEADER_SIZE, &e);
        rc = write_chunk(w, AHP_CHUNK_END, chunk, len);
    }
    /* A file that is not on a disk (a pipe, /dev/null) cannot be synced, and need not be. */
    if (rc == 0 && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = -errno;
    if (close(w->fd) != 0 && rc == 0 && errno != EINTR)
        rc = -errno;
    free(w->zbuf);
    free(w);
    return rc;
}
