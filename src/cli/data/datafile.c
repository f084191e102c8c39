/*
 * datafile.c - writer and reader of ahprof.data files (docs/file-format.md).
 *
 * Every multi-byte field is encoded explicitly as little-endian, so the format does not
 * depend on the host and the reader never casts file bytes to structures.
 */
#define _GNU_SOURCE /* sync_file_range, sigabbrev_np */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "ah.h"
#include "data/datafile.h"

/* u64 fields per type in a counters chunk (struct ahp_type_counters). */
#define COUNTER_FIELDS 7

static const uint8_t file_magic[8] = {'A', 'H', 'P', 'R', 'O', 'F', '\0', '\n'};

#define FILE_HEADER_SIZE 24
#define FILE_HEADER_MAX 4096
#define CHUNK_HEADER_SIZE 16
#define EVENT_SIZE 48
#define EVENT_RECORD_MAX 4096
#define INFO_SIZE 392
#define TYPE_SIZE 72
#define END_SIZE 32
#define END_F_CLEAN 1u

/* 1365 records of 48 bytes: an events chunk stays just under 64 KiB. */
#define WRITER_EVENTS 1365

_Static_assert(sizeof(struct ahp_event) == EVENT_SIZE, "struct ahp_event is part of the format");
_Static_assert(offsetof(struct ahp_event, pid) == 44, "struct ahp_event is part of the format");

/* ---------------------------------------------------------------------------------------
 * Little-endian fields
 */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static void encode_event(uint8_t *p, const struct ahp_event *e)
{
    put64(p + 0, e->ts_ns);
    put64(p + 8, e->id);
    put64(p + 16, e->trigger_id);
    put64(p + 24, e->seq);
    put32(p + 32, e->tid);
    put32(p + 36, (uint32_t)e->type);
    p[40] = e->kind;
    p[41] = e->flags;
    put16(p + 42, e->depth);
    put32(p + 44, e->pid);
}

static void decode_event(const uint8_t *p, struct ahp_event *e)
{
    e->ts_ns = get64(p + 0);
    e->id = get64(p + 8);
    e->trigger_id = get64(p + 16);
    e->seq = get64(p + 24);
    e->tid = get32(p + 32);
    e->type = (int32_t)get32(p + 36);
    e->kind = p[40];
    e->flags = p[41];
    e->depth = get16(p + 42);
    e->pid = get32(p + 44);
}

/* Copy a fixed-size, possibly unterminated field into DST[N]: always NUL-terminated. */
static void copy_field(char *dst, size_t n, const uint8_t *src, size_t srclen)
{
    size_t len = 0;
    while (len < srclen && len + 1 < n && src[len] != '\0')
        len++;
    memcpy(dst, src, len);
    memset(dst + len, 0, n - len);
}

static void put_field(uint8_t *dst, size_t n, const char *s)
{
    memset(dst, 0, n);
    if (s != NULL)
        memcpy(dst, s, strnlen(s, n - 1));
}

/* ---------------------------------------------------------------------------------------
 * Writer
 */

struct ahp_writer {
    int fd;
    int err; /* first write error, returned by every later call */
    uint64_t events;
    size_t nbuf;
    /* One events chunk under construction: chunk header, count and record size, records. */
    uint8_t buf[CHUNK_HEADER_SIZE + 8 + WRITER_EVENTS * EVENT_SIZE];
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

/* CHUNK holds CHUNK_HEADER_SIZE bytes of room followed by LEN bytes of payload; a single
 * write keeps a chunk whole unless the process dies in the middle of it. */
static int write_chunk(struct ahp_writer *w, uint32_t type, uint8_t *chunk, uint32_t len)
{
    if (w->err != 0)
        return w->err;
    put32(chunk, type);
    put32(chunk + 4, len);
    put32(chunk + 8, crc(chunk + CHUNK_HEADER_SIZE, len));
    put32(chunk + 12, crc(chunk, 12));
    size_t written;
    int rc = write_all(w->fd, chunk, CHUNK_HEADER_SIZE + (size_t)len, &written);
    if (rc < 0) {
        cut_torn_chunk(w->fd, written);
        w->err = rc;
    }
    return rc;
}

static int flush_events(struct ahp_writer *w)
{
    if (w->err != 0)
        return w->err;
    if (w->nbuf == 0)
        return 0;
    uint8_t *payload = w->buf + CHUNK_HEADER_SIZE;
    put32(payload, (uint32_t)w->nbuf);
    put32(payload + 4, EVENT_SIZE);
    int rc = write_chunk(w, AHP_CHUNK_EVENTS, w->buf, (uint32_t)(8 + w->nbuf * EVENT_SIZE));
    if (rc == 0)
        w->nbuf = 0;
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

    uint8_t hdr[FILE_HEADER_SIZE];
    memcpy(hdr, file_magic, 8);
    put16(hdr + 8, AHP_FILE_MAJOR);
    put16(hdr + 10, AHP_FILE_MINOR);
    put32(hdr + 12, FILE_HEADER_SIZE);
    put32(hdr + 16, 0);
    put32(hdr + 20, crc(hdr, 20));
    size_t written;
    int rc = write_all(w->fd, hdr, sizeof(hdr), &written);

    if (rc == 0) {
        uint8_t chunk[CHUNK_HEADER_SIZE + INFO_SIZE];
        uint8_t *p = chunk + CHUNK_HEADER_SIZE;
        memset(p, 0, INFO_SIZE);
        put32(p + 0, info->pid);
        put64(p + 8, info->start_mono_ns);
        put64(p + 16, info->start_real_ns);
        put_field(p + 24, 16, info->comm);
        put_field(p + 40, 256, info->target);
        put_field(p + 296, 32, AH_VERSION_STRING);
        char host[65] = "";
        gethostname(host, sizeof(host) - 1);
        put_field(p + 328, 64, host);
        rc = write_chunk(w, AHP_CHUNK_INFO, chunk, INFO_SIZE);
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

int ahp_writer_type(struct ahp_writer *w, int32_t type, const char *name)
{
    if (w == NULL || name == NULL || type < 0 || type >= AHP_TYPE_MAX)
        return -EINVAL;
    /* Keep file order = call order: events written before this call come first. */
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + TYPE_SIZE];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    put32(p, (uint32_t)type);
    put32(p + 4, 0);
    put_field(p + 8, AHP_NAME_SIZE, name);
    return write_chunk(w, AHP_CHUNK_TYPE, chunk, TYPE_SIZE);
}

int ahp_writer_snapshot(struct ahp_writer *w, const int64_t *live, uint32_t ntypes)
{
    if (w == NULL || (live == NULL && ntypes > 0) || ntypes > AHP_TYPE_MAX)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + 8 + 8 * AHP_TYPE_MAX];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    put32(p, ntypes);
    put32(p + 4, 0);
    for (uint32_t i = 0; i < ntypes; i++)
        put64(p + 8 + 8 * i, (uint64_t)live[i]);
    return write_chunk(w, AHP_CHUNK_SNAPSHOT, chunk, 8 + 8 * ntypes);
}

int ahp_writer_events(struct ahp_writer *w, const struct ahp_event *ev, size_t n)
{
    if (w == NULL || (ev == NULL && n > 0))
        return -EINVAL;
    if (w->err != 0)
        return w->err;
    for (size_t i = 0; i < n; i++) {
        if (w->nbuf == WRITER_EVENTS) {
            int rc = flush_events(w);
            if (rc < 0)
                return rc;
        }
        encode_event(w->buf + CHUNK_HEADER_SIZE + 8 + w->nbuf * EVENT_SIZE, &ev[i]);
        w->nbuf++;
        w->events++;
    }
    if (w->nbuf == WRITER_EVENTS)
        return flush_events(w);
    return 0;
}

int ahp_writer_stack(struct ahp_writer *w, uint32_t stack_id, const struct ahp_stack_frame *frames,
                     uint32_t n)
{
    if (w == NULL || (frames == NULL && n > 0))
        return -EINVAL;
    if (n > AHP_STACK_FRAMES_MAX)
        n = AHP_STACK_FRAMES_MAX;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + 8 + AHP_STACK_FRAMES_MAX * (16 + 2 * AHP_SYM_SIZE)];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    put32(p, stack_id);
    put32(p + 4, n);
    size_t off = 8;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t func_len = (uint16_t)strnlen(frames[i].func, AHP_SYM_SIZE - 1);
        uint16_t file_len = (uint16_t)strnlen(frames[i].file, AHP_SYM_SIZE - 1);
        put64(p + off, frames[i].ip);
        put32(p + off + 8, frames[i].line);
        put16(p + off + 12, func_len);
        put16(p + off + 14, file_len);
        memcpy(p + off + 16, frames[i].func, func_len);
        memcpy(p + off + 16 + func_len, frames[i].file, file_len);
        off += 16 + (size_t)func_len + file_len;
    }
    return write_chunk(w, AHP_CHUNK_STACK, chunk, (uint32_t)off);
}

int ahp_writer_counters(struct ahp_writer *w, const struct ahp_type_counters *counters)
{
    if (w == NULL || counters == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + 8 + AHP_TYPE_MAX * 8 * COUNTER_FIELDS];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    put32(p, AHP_TYPE_MAX);
    put32(p + 4, 0);
    for (uint32_t i = 0; i < AHP_TYPE_MAX; i++) {
        uint8_t *q = p + 8 + (size_t)i * 8 * COUNTER_FIELDS;
        const struct ahp_type_counters *c = &counters[i];
        put64(q, c->created);
        put64(q + 8, c->destroyed);
        put64(q + 16, c->resolved);
        put64(q + 24, c->callbacks);
        put64(q + 32, c->callback_ns);
        put64(q + 40, c->exclusive_ns);
        put64(q + 48, (uint64_t)c->active);
    }
    return write_chunk(w, AHP_CHUNK_COUNTERS, chunk, 8 + AHP_TYPE_MAX * 8 * COUNTER_FIELDS);
}

#define EXIT_SIZE 24
#define EXEC_SIZE 264
#define EXIT_F_CORE 1u

int ahp_writer_exit(struct ahp_writer *w, enum ahp_exit_how how, uint32_t code, bool core_dumped,
                    uint64_t exit_mono_ns)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + EXIT_SIZE];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    put32(p, (uint32_t)how);
    put32(p + 4, code);
    put32(p + 8, core_dumped ? EXIT_F_CORE : 0);
    put32(p + 12, 0);
    put64(p + 16, exit_mono_ns);
    return write_chunk(w, AHP_CHUNK_EXIT, chunk, EXIT_SIZE);
}

const char *ahp_signal_name(uint32_t sig, char *buf, size_t size)
{
    const char *abbrev = sig > 0 && sig < 128 ? sigabbrev_np((int)sig) : NULL;
    if (abbrev != NULL)
        snprintf(buf, size, "SIG%s", abbrev);
    else
        snprintf(buf, size, "signal %u", sig);
    return buf;
}

const char *ahp_exit_describe(uint32_t how, uint32_t code, bool core_dumped, char *buf, size_t size)
{
    char sig[32];
    if (how == AHP_EXIT_HOW_EXITED)
        snprintf(buf, size, "exited with status %u", code);
    else if (how == AHP_EXIT_HOW_SIGNAL)
        snprintf(buf, size, "killed by %s%s", ahp_signal_name(code, sig, sizeof(sig)),
                 core_dumped ? " (core dumped)" : "");
    else
        snprintf(buf, size, "ended (how unknown)");
    return buf;
}

int ahp_writer_exec(struct ahp_writer *w, uint64_t exec_mono_ns, const char *path)
{
    if (w == NULL || path == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + EXEC_SIZE];
    uint8_t *p = chunk + CHUNK_HEADER_SIZE;
    memset(p, 0, EXEC_SIZE);
    put64(p, exec_mono_ns);
    memcpy(p + 8, path, strnlen(path, 255));
    return write_chunk(w, AHP_CHUNK_EXEC, chunk, EXEC_SIZE);
}

int ahp_writer_lost(struct ahp_writer *w, uint64_t lost_total)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc < 0)
        return rc;
    uint8_t chunk[CHUNK_HEADER_SIZE + 8];
    put64(chunk + CHUNK_HEADER_SIZE, lost_total);
    return write_chunk(w, AHP_CHUNK_LOST, chunk, 8);
}

int ahp_writer_flush(struct ahp_writer *w)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    /* Start writing back what is written, without waiting for it: the fsync at close then
     * has little left to do, however long the recording (a pipe or a device refuses). */
    if (rc == 0)
        sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return rc;
}

int ahp_writer_close(struct ahp_writer *w, uint64_t end_mono_ns, uint64_t lost_total)
{
    if (w == NULL)
        return -EINVAL;
    int rc = flush_events(w);
    if (rc == 0) {
        uint8_t chunk[CHUNK_HEADER_SIZE + END_SIZE];
        uint8_t *p = chunk + CHUNK_HEADER_SIZE;
        put64(p, end_mono_ns);
        put64(p + 8, lost_total);
        put64(p + 16, w->events);
        put32(p + 24, END_F_CLEAN);
        put32(p + 28, 0);
        rc = write_chunk(w, AHP_CHUNK_END, chunk, END_SIZE);
    }
    /* A file that is not on a disk (a pipe, /dev/null) cannot be synced, and need not be. */
    if (rc == 0 && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = -errno;
    if (close(w->fd) != 0 && rc == 0 && errno != EINTR)
        rc = -errno;
    free(w);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Reader
 */

/* Sequential reads go through a window this large, so that a walk over a big file costs a
 * few hundred large reads instead of two small ones per chunk. */
#define WINDOW_READ (1u << 20)

struct ahp_reader {
    int fd;
    struct ahp_file_meta meta;
    uint64_t first_chunk;

    uint8_t *win;
    size_t wincap;
    uint64_t win_off;
    size_t win_len;

    /* Walk state, shared by foreach and next_event. */
    uint64_t pos;
    uint64_t checked; /* chunks before this offset had their payload checked already */
    struct ahp_event *evs;
    size_t evcap;
    size_t ev_n, ev_i;
    struct ahp_stack_frame frames[AHP_STACK_FRAMES_MAX];
};

static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Point *P at LEN bytes of the file at OFF, which must lie before data_end. */
static int window(struct ahp_reader *r, uint64_t off, size_t len, const uint8_t **p)
{
    if (off >= r->win_off && off - r->win_off <= r->win_len &&
        len <= r->win_len - (off - r->win_off)) {
        *p = r->win + (off - r->win_off);
        return 0;
    }
    uint64_t avail = r->meta.data_end - off;
    size_t want = len > WINDOW_READ ? len : WINDOW_READ;
    if (want > avail)
        want = (size_t)avail;
    if (want < len)
        return -EIO;
    if (want > r->wincap) {
        uint8_t *nw = realloc(r->win, want);
        if (nw == NULL)
            return -ENOMEM;
        r->win = nw;
        r->wincap = want;
    }
    r->win_len = 0;
    ssize_t got = pread_full(r->fd, r->win, want, off);
    if (got < 0)
        return (int)got;
    r->win_off = off;
    r->win_len = (size_t)got;
    /* The file shrank since it was opened: nothing we can trust any more. */
    if ((size_t)got < len)
        return -EIO;
    *p = r->win;
    return 0;
}

static bool parse_info(const uint8_t *p, uint32_t len, struct ahp_file_info *info, char *version,
                       char *host)
{
    if (len < INFO_SIZE)
        return false;
    memset(info, 0, sizeof(*info));
    info->pid = get32(p);
    info->start_mono_ns = get64(p + 8);
    info->start_real_ns = get64(p + 16);
    copy_field(info->comm, sizeof(info->comm), p + 24, 16);
    copy_field(info->target, sizeof(info->target), p + 40, 256);
    if (version != NULL)
        copy_field(version, 32, p + 296, 32);
    if (host != NULL)
        copy_field(host, 64, p + 328, 64);
    return true;
}

static bool parse_type(const uint8_t *p, uint32_t len, int32_t *type, char name[AHP_NAME_SIZE])
{
    if (len < TYPE_SIZE)
        return false;
    int32_t t = (int32_t)get32(p);
    if (t < 0 || t >= AHP_TYPE_MAX)
        return false;
    *type = t;
    copy_field(name, AHP_NAME_SIZE, p + 8, AHP_NAME_SIZE);
    return true;
}

static bool parse_snapshot(const uint8_t *p, uint32_t len, int64_t live[AHP_TYPE_MAX],
                           uint32_t *ntypes)
{
    if (len < 8)
        return false;
    uint32_t n = get32(p);
    if (n > AHP_TYPE_MAX || len < 8 + 8 * (uint64_t)n)
        return false;
    memset(live, 0, AHP_TYPE_MAX * sizeof(int64_t));
    for (uint32_t i = 0; i < n; i++)
        live[i] = (int64_t)get64(p + 8 + 8 * i);
    *ntypes = n;
    return true;
}

struct end_info {
    uint64_t end_mono_ns, lost, events;
    uint32_t flags;
};

static bool parse_end(const uint8_t *p, uint32_t len, struct end_info *e)
{
    if (len < END_SIZE)
        return false;
    e->end_mono_ns = get64(p);
    e->lost = get64(p + 8);
    e->events = get64(p + 16);
    e->flags = get32(p + 24);
    return true;
}

/* The count of an events chunk whose first bytes are P, or -1 when it is malformed. */
static int64_t events_count(const uint8_t *p, uint32_t len, uint32_t *recsize)
{
    if (len < 8)
        return -1;
    uint32_t n = get32(p), rs = get32(p + 4);
    if (rs < EVENT_SIZE || rs > EVENT_RECORD_MAX || (uint64_t)n * rs != (uint64_t)len - 8)
        return -1;
    *recsize = rs;
    return n;
}

static int check_header(const uint8_t *h, uint32_t *type, uint32_t *len)
{
    if (get32(h + 12) != crc(h, 12))
        return -1;
    *type = get32(h);
    *len = get32(h + 4);
    return *len <= AHP_CHUNK_MAX ? 0 : -1;
}

static bool parse_counters(const uint8_t *p, uint32_t len, struct ahp_type_counters *out)
{
    if (len < 8)
        return false;
    uint32_t n = get32(p);
    if (n > AHP_TYPE_MAX || len < 8 + (uint64_t)n * 8 * COUNTER_FIELDS)
        return false;
    memset(out, 0, sizeof(*out) * AHP_TYPE_MAX);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p + 8 + (size_t)i * 8 * COUNTER_FIELDS;
        out[i] = (struct ahp_type_counters){
            get64(q),      get64(q + 8),  get64(q + 16),         get64(q + 24),
            get64(q + 32), get64(q + 40), (int64_t)get64(q + 48)};
    }
    return true;
}

/* A stack chunk: u32 id, u32 n, then n x {u64 ip, u32 line, u16 func_len, u16 file_len,
 * func bytes, file bytes}. Every length is checked against what is left. */
static bool parse_stack(const uint8_t *p, uint32_t len, uint32_t *id,
                        struct ahp_stack_frame *frames, uint32_t *n)
{
    if (len < 8)
        return false;
    *id = get32(p);
    uint32_t count = get32(p + 4);
    if (count > AHP_STACK_FRAMES_MAX)
        return false;
    size_t off = 8;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 16)
            return false;
        const uint8_t *q = p + off;
        uint16_t func_len = get16(q + 12), file_len = get16(q + 14);
        if (len - off - 16 < (size_t)func_len + file_len)
            return false;
        frames[i].ip = get64(q);
        frames[i].line = get32(q + 8);
        copy_field(frames[i].func, AHP_SYM_SIZE, q + 16, func_len);
        copy_field(frames[i].file, AHP_SYM_SIZE, q + 16 + func_len, file_len);
        off += 16 + (size_t)func_len + file_len;
    }
    *n = count;
    return true;
}

/* Absorb one metadata chunk into META; false when its payload is unusable. */
static bool absorb(struct ahp_file_meta *m, uint32_t type, const uint8_t *p, uint32_t len)
{
    switch (type) {
    case AHP_CHUNK_INFO: {
        struct ahp_file_info info;
        char version[32], host[64];
        if (!parse_info(p, len, &info, version, host))
            return false;
        if (!m->has_info) {
            m->has_info = true;
            m->info = info;
            memcpy(m->ahprof_version, version, sizeof(version));
            memcpy(m->host, host, sizeof(host));
        }
        return true;
    }
    case AHP_CHUNK_TYPE: {
        int32_t t;
        char name[AHP_NAME_SIZE];
        if (!parse_type(p, len, &t, name))
            return false;
        m->named[t] = name[0] != '\0';
        memcpy(m->names[t], name, AHP_NAME_SIZE);
        return true;
    }
    case AHP_CHUNK_SNAPSHOT: {
        int64_t live[AHP_TYPE_MAX];
        uint32_t n;
        if (!parse_snapshot(p, len, live, &n))
            return false;
        if (!m->has_snapshot) {
            m->has_snapshot = true;
            m->snapshot_ntypes = n;
            memcpy(m->snapshot, live, sizeof(live));
        }
        return true;
    }
    case AHP_CHUNK_LOST:
        if (len < 8)
            return false;
        if (get64(p) > m->lost_events)
            m->lost_events = get64(p);
        return true;
    case AHP_CHUNK_END: {
        struct end_info e;
        if (!parse_end(p, len, &e))
            return false;
        m->has_end = true;
        m->clean_end = (e.flags & END_F_CLEAN) != 0;
        m->end_mono_ns = e.end_mono_ns;
        m->end_events = e.events;
        if (e.lost > m->lost_events)
            m->lost_events = e.lost;
        return true;
    }
    case AHP_CHUNK_COUNTERS:
        if (!parse_counters(p, len, m->counters))
            return false;
        m->has_counters = true;
        return true;
    case AHP_CHUNK_EXIT:
        if (len < EXIT_SIZE)
            return false;
        m->has_exit = true;
        m->exit_how = get32(p);
        m->exit_code = get32(p + 4);
        m->exit_core_dumped = (get32(p + 8) & EXIT_F_CORE) != 0;
        m->exit_mono_ns = get64(p + 16);
        return true;
    case AHP_CHUNK_EXEC:
        if (len < EXEC_SIZE)
            return false;
        if (!m->has_exec) {
            m->has_exec = true;
            m->exec_mono_ns = get64(p);
            copy_field(m->exec_path, sizeof(m->exec_path), p + 8, 256);
        }
        return true;
    default:
        return true;
    }
}

static int scan(struct ahp_reader *r)
{
    struct ahp_file_meta *m = &r->meta;
    uint64_t off = r->first_chunk;
    uint8_t *payload = NULL;
    size_t paycap = 0;
    int rc = 0;
    m->data_end = off;
    while (m->file_size - off >= CHUNK_HEADER_SIZE) {
        uint8_t h[CHUNK_HEADER_SIZE + 8];
        ssize_t got = pread_full(r->fd, h, sizeof(h), off);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        uint32_t type, len;
        if (got < CHUNK_HEADER_SIZE || check_header(h, &type, &len) < 0)
            break; /* damaged: nothing after it can be framed */
        if (len > m->file_size - off - CHUNK_HEADER_SIZE)
            break; /* torn: the recording stopped in the middle of this chunk */
        if (type == AHP_CHUNK_EVENTS) {
            /* Payload checked while walking: reading 100s of MB twice is not worth it. */
            uint32_t rs;
            int64_t n =
                got >= CHUNK_HEADER_SIZE + 8 ? events_count(h + CHUNK_HEADER_SIZE, len, &rs) : -1;
            if (n > 0)
                m->events += (uint64_t)n;
        } else if (type == AHP_CHUNK_STACK) {
            m->stacks++; /* parsed while walking: there may be many */
        } else if (type >= AHP_CHUNK_FIRST && type <= AHP_CHUNK_LAST) {
            if (len > paycap) {
                uint8_t *np = realloc(payload, len);
                if (np == NULL) {
                    rc = -ENOMEM;
                    break;
                }
                payload = np;
                paycap = len;
            }
            got = pread_full(r->fd, payload, len, off + CHUNK_HEADER_SIZE);
            if (got < 0) {
                rc = (int)got;
                break;
            }
            if ((size_t)got < len)
                break;
            if (get32(h + 8) != crc(payload, len) || !absorb(m, type, payload, len))
                m->bad_chunks++;
        } else {
            m->unknown_chunks++;
        }
        m->chunks++;
        off += CHUNK_HEADER_SIZE + (uint64_t)len;
        m->data_end = off;
        if (m->has_end)
            break; /* nothing follows the end chunk; anything there is not ours */
    }
    free(payload);
    m->trailing_bytes = m->file_size - m->data_end;
    m->truncated = !m->has_end;
    return rc;
}

int ahp_reader_open_fd(struct ahp_reader **rp, int fd)
{
    if (rp == NULL || fd < 0) {
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    *rp = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return -EISDIR;
    }
    struct ahp_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        close(fd);
        return -ENOMEM;
    }
    r->fd = fd;

    uint8_t h[FILE_HEADER_SIZE];
    ssize_t got = pread_full(fd, h, sizeof(h), 0);
    int rc = 0;
    if (got < 0) {
        rc = (int)got;
    } else if (got < 12 || memcmp(h, file_magic, 8) != 0) {
        rc = AHP_E_NOT_AHPROF;
    } else if (get16(h + 8) > AHP_FILE_MAJOR) {
        /* Checked before anything else of the header: the magic and the major version are
         * the only fields every version keeps in place. */
        rc = AHP_E_NEWER;
    } else if (get16(h + 8) == 0 || got < FILE_HEADER_SIZE || get32(h + 20) != crc(h, 20) ||
               get32(h + 12) < FILE_HEADER_SIZE || get32(h + 12) > FILE_HEADER_MAX) {
        rc = AHP_E_NOT_AHPROF;
    }
    if (rc == 0) {
        r->meta.version_major = get16(h + 8);
        r->meta.version_minor = get16(h + 10);
        r->first_chunk = get32(h + 12);
        /* The size is read once: a file that grows while we read is read as it was. */
        r->meta.file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        if (r->meta.file_size < r->first_chunk)
            r->meta.file_size = r->first_chunk;
        rc = scan(r);
    }
    if (rc < 0) {
        ahp_reader_close(r);
        return rc;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    ahp_reader_rewind(r);
    *rp = r;
    return 0;
}

int ahp_reader_open(struct ahp_reader **rp, const char *path)
{
    if (rp == NULL || path == NULL)
        return -EINVAL;
    *rp = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return ahp_reader_open_fd(rp, fd);
}

void ahp_reader_close(struct ahp_reader *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->win);
    free(r->evs);
    free(r);
}

const struct ahp_file_meta *ahp_reader_meta(const struct ahp_reader *r)
{
    return &r->meta;
}

const char *ahp_reader_type_name(const struct ahp_reader *r, int32_t type)
{
    if (r == NULL || type < 0 || type >= AHP_TYPE_MAX || !r->meta.named[type])
        return NULL;
    return r->meta.names[type];
}

void ahp_reader_rewind(struct ahp_reader *r)
{
    r->pos = r->first_chunk;
    r->ev_n = r->ev_i = 0;
}

struct chunk {
    uint32_t type;
    uint32_t len;
    const uint8_t *p;
};

/* The next chunk with a good payload; 1, 0 at the end, or a negative errno. Everything is
 * checked again here: the file may have changed since it was scanned. */
static int next_chunk(struct ahp_reader *r, struct chunk *c)
{
    while (r->pos < r->meta.data_end && r->meta.data_end - r->pos >= CHUNK_HEADER_SIZE) {
        const uint8_t *h;
        int rc = window(r, r->pos, CHUNK_HEADER_SIZE, &h);
        if (rc < 0)
            return rc;
        uint32_t type, len, pcrc = get32(h + 8);
        if (check_header(h, &type, &len) < 0 || len > r->meta.data_end - r->pos - CHUNK_HEADER_SIZE)
            return -EIO;
        uint64_t at = r->pos;
        r->pos += CHUNK_HEADER_SIZE + (uint64_t)len;
        if (type < AHP_CHUNK_FIRST || type > AHP_CHUNK_LAST)
            continue;
        const uint8_t *p;
        rc = window(r, at + CHUNK_HEADER_SIZE, len, &p);
        if (rc < 0)
            return rc;
        bool first_visit = at >= r->checked;
        if (first_visit)
            r->checked = r->pos;
        uint32_t rs;
        bool bad =
            pcrc != crc(p, len) || (type == AHP_CHUNK_EVENTS && events_count(p, len, &rs) < 0);
        if (bad) {
            /* The scan counted damaged metadata chunks already; events chunks are ours. */
            if (first_visit && type == AHP_CHUNK_EVENTS)
                r->meta.bad_chunks++;
            continue;
        }
        c->type = type;
        c->len = len;
        c->p = p;
        if (type == AHP_CHUNK_END)
            r->pos = r->meta.data_end;
        return 1;
    }
    return 0;
}

/* Decode an events chunk into r->evs; the count, or -1 when malformed. */
static int64_t load_events(struct ahp_reader *r, const struct chunk *c)
{
    uint32_t rs;
    int64_t n = events_count(c->p, c->len, &rs);
    if (n < 0)
        return -1;
    if ((size_t)n > r->evcap) {
        struct ahp_event *ne = realloc(r->evs, (size_t)n * sizeof(*ne));
        if (ne == NULL)
            return -2;
        r->evs = ne;
        r->evcap = (size_t)n;
    }
    for (int64_t i = 0; i < n; i++)
        decode_event(c->p + 8 + (size_t)i * rs, &r->evs[i]);
    return n;
}

static int walk(struct ahp_reader *r, const struct ahp_read_ops *ops, void *arg)
{
    struct chunk c;
    int rc;
    while ((rc = next_chunk(r, &c)) > 0) {
        int cb = 0;
        switch (c.type) {
        case AHP_CHUNK_INFO: {
            struct ahp_file_info info;
            if (ops->info != NULL && parse_info(c.p, c.len, &info, NULL, NULL))
                cb = ops->info(arg, &info);
            break;
        }
        case AHP_CHUNK_TYPE: {
            int32_t t;
            char name[AHP_NAME_SIZE];
            if (ops->type != NULL && parse_type(c.p, c.len, &t, name))
                cb = ops->type(arg, t, name);
            break;
        }
        case AHP_CHUNK_SNAPSHOT: {
            int64_t live[AHP_TYPE_MAX];
            uint32_t n;
            if (ops->snapshot != NULL && parse_snapshot(c.p, c.len, live, &n))
                cb = ops->snapshot(arg, live, n);
            break;
        }
        case AHP_CHUNK_EVENTS: {
            if (ops->events == NULL)
                break;
            int64_t n = load_events(r, &c);
            if (n == -2)
                return -ENOMEM;
            if (n > 0)
                cb = ops->events(arg, r->evs, (size_t)n);
            break;
        }
        case AHP_CHUNK_LOST:
            if (ops->lost != NULL && c.len >= 8)
                cb = ops->lost(arg, get64(c.p));
            break;
        case AHP_CHUNK_END: {
            struct end_info e;
            if (ops->end != NULL && parse_end(c.p, c.len, &e))
                cb = ops->end(arg, e.end_mono_ns, e.lost);
            break;
        }
        case AHP_CHUNK_STACK: {
            uint32_t id, n;
            if (ops->stack != NULL && parse_stack(c.p, c.len, &id, r->frames, &n))
                cb = ops->stack(arg, id, r->frames, n);
            break;
        }
        }
        if (cb != 0)
            return cb;
    }
    return rc;
}

int ahp_reader_foreach(struct ahp_reader *r, const struct ahp_read_ops *ops, void *arg)
{
    if (r == NULL || ops == NULL)
        return -EINVAL;
    ahp_reader_rewind(r);
    int rc = walk(r, ops, arg);
    ahp_reader_rewind(r);
    return rc;
}

int ahp_reader_next_event(struct ahp_reader *r, struct ahp_event *ev)
{
    if (r == NULL || ev == NULL)
        return -EINVAL;
    while (r->ev_i >= r->ev_n) {
        struct chunk c;
        int rc = next_chunk(r, &c);
        if (rc <= 0)
            return rc;
        if (c.type != AHP_CHUNK_EVENTS)
            continue;
        int64_t n = load_events(r, &c);
        if (n == -2)
            return -ENOMEM;
        r->ev_n = n > 0 ? (size_t)n : 0;
        r->ev_i = 0;
    }
    *ev = r->evs[r->ev_i++];
    return 1;
}

const char *ahp_file_strerror(int err)
{
    if (err == AHP_E_NOT_AHPROF)
        return "not an ahprof data file";
    if (err == AHP_E_NEWER)
        return "written by a newer ahprof (unsupported file format version)";
    if (err == -EIO)
        return "input/output error (the file changed or is unreadable)";
    return strerror(err < 0 ? -err : err);
}
