/*
 * reader.c - the reader of ahprof.data files (datafile.h): file I/O around the byte layout of
 * codec.h. Opening scans the chunk headers once (metadata chunks are read and checked then;
 * events and stacks are left for the walks); walks read through a large window and check
 * every chunk again, since the file may have changed since it was opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/codec.h"
#include "data/datafile.h"

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
    size_t packed_n; /* events of the packed chunk next_chunk returned last */
    uint8_t *zraw;   /* its records, inflated */
    size_t zcap;
    struct ahp_stack_frame frames[AHP_STACK_FRAMES_MAX];
    struct ahp_krecord *krecs;
    size_t krcap;
    char kframes[AHP_KSTACK_FILE_FRAMES][AHP_KFRAME_SIZE];
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

/* Absorb one metadata chunk into META; false when its payload is unusable. */
static bool absorb(struct ahp_file_meta *m, uint32_t type, const uint8_t *p, uint32_t len)
{
    switch (type) {
    case AHP_CHUNK_INFO: {
        struct ahp_file_info info;
        char version[32], host[64];
        if (!ahp_info_decode(p, len, &info, version, host))
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
        if (!ahp_type_decode(p, len, &t, name))
            return false;
        m->named[t] = name[0] != '\0';
        memcpy(m->names[t], name, AHP_NAME_SIZE);
        return true;
    }
    case AHP_CHUNK_SNAPSHOT: {
        int64_t live[AHP_TYPE_MAX];
        uint32_t n;
        if (!ahp_snapshot_decode(p, len, live, &n))
            return false;
        if (!m->has_snapshot) {
            m->has_snapshot = true;
            m->snapshot_ntypes = n;
            memcpy(m->snapshot, live, sizeof(live));
        }
        return true;
    }
    case AHP_CHUNK_LOST: {
        uint64_t lost, as_of;
        if (!ahp_lost_decode(p, len, &lost, &as_of))
            return false;
        if (lost > m->lost_events) {
            m->lost_events = lost;
            /* Every event lost so far happened before the count was read. */
            uint64_t until = as_of != 0 ? as_of : UINT64_MAX;
            if (until > m->lost_until_ns)
                m->lost_until_ns = until;
        }
        return true;
    }
    case AHP_CHUNK_END: {
        struct ahp_end_info e;
        if (!ahp_end_decode(p, len, &e))
            return false;
        m->has_end = true;
        m->clean_end = (e.flags & AHP_END_F_CLEAN) != 0;
        m->end_mono_ns = e.end_mono_ns;
        m->end_events = e.events;
        m->has_resent_records = e.has_resent_records;
        m->resent_records = e.resent_records;
        if (e.lost > m->lost_events) {
            /* Lost at the stop (still unread) or counted only then: any time up to the end. */
            m->lost_events = e.lost;
            uint64_t until = e.end_mono_ns != 0 ? e.end_mono_ns : UINT64_MAX;
            if (until > m->lost_until_ns)
                m->lost_until_ns = until;
        }
        return true;
    }
    case AHP_CHUNK_COUNTERS:
        if (!ahp_counters_decode(p, len, m->counters))
            return false;
        m->has_counters = true;
        return true;
    case AHP_CHUNK_EXIT: {
        struct ahp_exit_info x;
        if (!ahp_exit_decode(p, len, &x))
            return false;
        m->has_exit = true;
        m->exit_how = x.how;
        m->exit_code = x.code;
        m->exit_core_dumped = x.core_dumped;
        m->exit_mono_ns = x.exit_mono_ns;
        return true;
    }
    case AHP_CHUNK_EXEC: {
        uint64_t at;
        char path[256];
        if (!ahp_exec_decode(p, len, &at, path))
            return false;
        if (!m->has_exec) {
            m->has_exec = true;
            m->exec_mono_ns = at;
            memcpy(m->exec_path, path, sizeof(m->exec_path));
        }
        return true;
    }
    case AHP_CHUNK_KINFO: {
        struct ahp_kinfo k;
        if (!ahp_kinfo_decode(p, len, &k))
            return false;
        /* Counts only grow: the largest of the chunks holds. */
        if (!m->has_kernel || k.hz != 0)
            m->kinfo.hz = k.hz;
        m->kinfo.flags |= k.flags;
        if (k.lost_records > m->kinfo.lost_records)
            m->kinfo.lost_records = k.lost_records;
        if (k.stack_errors > m->kinfo.stack_errors)
            m->kinfo.stack_errors = k.stack_errors;
        if (k.stacks_dropped > m->kinfo.stacks_dropped)
            m->kinfo.stacks_dropped = k.stacks_dropped;
        m->has_kernel = true;
        return true;
    }
    case AHP_CHUNK_KSTATS:
        /* Cumulative since the attach: the last one written holds the most. */
        if (!ahp_kstats_decode(p, len, &m->kstats_as_of_ns, m->kstats))
            return false;
        m->has_kstats = true;
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
    while (m->file_size - off >= AHP_CHUNK_HEADER_SIZE) {
        uint8_t h[AHP_CHUNK_HEADER_SIZE + AHP_EVENTS_HEADER_SIZE];
        ssize_t got = pread_full(r->fd, h, sizeof(h), off);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        uint32_t type, len;
        if (got < AHP_CHUNK_HEADER_SIZE || ahp_chunk_header_check(h, &type, &len) < 0)
            break; /* damaged: nothing after it can be framed */
        if (len > m->file_size - off - AHP_CHUNK_HEADER_SIZE)
            break; /* torn: the recording stopped in the middle of this chunk */
        if (type == AHP_CHUNK_EVENTS) {
            /* Payload checked while walking: reading 100s of MB twice is not worth it. */
            uint32_t rs;
            int64_t n = got >= AHP_CHUNK_HEADER_SIZE + AHP_EVENTS_HEADER_SIZE
                            ? ahp_events_count(h + AHP_CHUNK_HEADER_SIZE, len, &rs)
                            : -1;
            if (n > 0)
                m->events += (uint64_t)n;
        } else if (type == AHP_CHUNK_PACKED) {
            /* Likewise; the count is checked against the records when they are decoded. */
            uint32_t n =
                got >= AHP_CHUNK_HEADER_SIZE + 4 ? ahp_get32(h + AHP_CHUNK_HEADER_SIZE) : 0;
            if (len >= AHP_PACKED_HEADER_SIZE && n <= AHP_PACKED_EVENTS_MAX)
                m->events += n;
        } else if (type == AHP_CHUNK_STACK) {
            m->stacks++; /* parsed while walking: there may be many */
        } else if (type == AHP_CHUNK_KRECORDS) {
            uint32_t rs;
            int64_t n = got >= AHP_CHUNK_HEADER_SIZE + AHP_KRECORDS_HEADER_SIZE
                            ? ahp_krecords_count(h + AHP_CHUNK_HEADER_SIZE, len, &rs)
                            : -1;
            if (n > 0)
                m->krecords += (uint64_t)n;
        } else if (type == AHP_CHUNK_KSTACK) {
            m->kstacks++;
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
            got = pread_full(r->fd, payload, len, off + AHP_CHUNK_HEADER_SIZE);
            if (got < 0) {
                rc = (int)got;
                break;
            }
            if ((size_t)got < len)
                break;
            if (ahp_chunk_payload_crc(h) != ahp_crc(payload, len) || !absorb(m, type, payload, len))
                m->bad_chunks++;
        } else {
            m->unknown_chunks++;
        }
        m->chunks++;
        off += AHP_CHUNK_HEADER_SIZE + (uint64_t)len;
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

    uint8_t h[AHP_FILE_HEADER_SIZE];
    ssize_t got = pread_full(fd, h, sizeof(h), 0);
    uint32_t first_chunk = 0;
    int rc = got < 0 ? (int)got
                     : ahp_file_header_decode(h, (size_t)got, &r->meta.version_major,
                                              &r->meta.version_minor, &first_chunk);
    if (rc == 0) {
        r->first_chunk = first_chunk;
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
    free(r->zraw);
    free(r->krecs);
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

/* Room for N events in r->evs; false on -ENOMEM. */
static bool events_room(struct ahp_reader *r, size_t n)
{
    if (n <= r->evcap)
        return true;
    struct ahp_event *ne = realloc(r->evs, n * sizeof(*ne));
    if (ne == NULL)
        return false;
    r->evs = ne;
    r->evcap = n;
    return true;
}

/* Decode a packed events payload into r->evs (r->packed_n): the count, -1 when it is
 * malformed, -2 on -ENOMEM. */
static int64_t unpack(struct ahp_reader *r, const uint8_t *p, uint32_t len)
{
    struct ahp_packed_header h;
    r->packed_n = 0;
    if (!ahp_packed_header_decode(p, len, &h))
        return -1;
    const uint8_t *raw = p + AHP_PACKED_HEADER_SIZE;
    if (h.codec == AHP_PACKED_ZLIB) {
        if (h.raw_len > r->zcap) {
            uint8_t *nz = realloc(r->zraw, h.raw_len);
            if (nz == NULL)
                return -2;
            r->zraw = nz;
            r->zcap = h.raw_len;
        }
        uLongf out = h.raw_len;
        if (uncompress(r->zraw, &out, raw, len - AHP_PACKED_HEADER_SIZE) != Z_OK ||
            out != h.raw_len)
            return -1;
        raw = r->zraw;
    }
    if (!events_room(r, h.count))
        return -2;
    if (!ahp_packed_records_decode(&h, raw, r->evs))
        return -1;
    r->packed_n = h.count;
    return h.count;
}

/* The next chunk with a good payload; 1, 0 at the end, or a negative errno. Everything is
 * checked again here: the file may have changed since it was scanned. */
static int next_chunk(struct ahp_reader *r, struct chunk *c)
{
    while (r->pos < r->meta.data_end && r->meta.data_end - r->pos >= AHP_CHUNK_HEADER_SIZE) {
        const uint8_t *h;
        int rc = window(r, r->pos, AHP_CHUNK_HEADER_SIZE, &h);
        if (rc < 0)
            return rc;
        uint32_t type, len, pcrc = ahp_chunk_payload_crc(h);
        if (ahp_chunk_header_check(h, &type, &len) < 0 ||
            len > r->meta.data_end - r->pos - AHP_CHUNK_HEADER_SIZE)
            return -EIO;
        uint64_t at = r->pos;
        r->pos += AHP_CHUNK_HEADER_SIZE + (uint64_t)len;
        if (type < AHP_CHUNK_FIRST || type > AHP_CHUNK_LAST)
            continue;
        const uint8_t *p;
        rc = window(r, at + AHP_CHUNK_HEADER_SIZE, len, &p);
        if (rc < 0)
            return rc;
        bool first_visit = at >= r->checked;
        if (first_visit)
            r->checked = r->pos;
        uint32_t rs;
        bool bad = pcrc != ahp_crc(p, len) ||
                   (type == AHP_CHUNK_EVENTS && ahp_events_count(p, len, &rs) < 0) ||
                   (type == AHP_CHUNK_KRECORDS && ahp_krecords_count(p, len, &rs) < 0);
        if (!bad && type == AHP_CHUNK_PACKED) {
            /* Decoded here: whether the records are sound is known only then. */
            int64_t n = unpack(r, p, len);
            if (n == -2)
                return -ENOMEM;
            bad = n < 0;
        }
        if (bad) {
            /* The scan counted damaged metadata chunks already; events chunks are ours. */
            if (first_visit && (type == AHP_CHUNK_EVENTS || type == AHP_CHUNK_PACKED ||
                                type == AHP_CHUNK_KRECORDS || type == AHP_CHUNK_KSTACK))
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
    if (c->type == AHP_CHUNK_PACKED)
        return (int64_t)r->packed_n; /* decoded by next_chunk */
    uint32_t rs;
    int64_t n = ahp_events_count(c->p, c->len, &rs);
    if (n < 0)
        return -1;
    if (!events_room(r, (size_t)n))
        return -2;
    for (int64_t i = 0; i < n; i++)
        ahp_event_decode(c->p + AHP_EVENTS_HEADER_SIZE + (size_t)i * rs, &r->evs[i]);
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
            if (ops->info != NULL && ahp_info_decode(c.p, c.len, &info, NULL, NULL))
                cb = ops->info(arg, &info);
            break;
        }
        case AHP_CHUNK_TYPE: {
            int32_t t;
            char name[AHP_NAME_SIZE];
            if (ops->type != NULL && ahp_type_decode(c.p, c.len, &t, name))
                cb = ops->type(arg, t, name);
            break;
        }
        case AHP_CHUNK_SNAPSHOT: {
            int64_t live[AHP_TYPE_MAX];
            uint32_t n;
            if (ops->snapshot != NULL && ahp_snapshot_decode(c.p, c.len, live, &n))
                cb = ops->snapshot(arg, live, n);
            break;
        }
        case AHP_CHUNK_EVENTS:
        case AHP_CHUNK_PACKED: {
            if (ops->events == NULL)
                break;
            int64_t n = load_events(r, &c);
            if (n == -2)
                return -ENOMEM;
            if (n > 0)
                cb = ops->events(arg, r->evs, (size_t)n);
            break;
        }
        case AHP_CHUNK_LOST: {
            uint64_t lost, as_of;
            if (ops->lost != NULL && ahp_lost_decode(c.p, c.len, &lost, &as_of))
                cb = ops->lost(arg, lost);
            break;
        }
        case AHP_CHUNK_END: {
            struct ahp_end_info e;
            if (ops->end != NULL && ahp_end_decode(c.p, c.len, &e))
                cb = ops->end(arg, e.end_mono_ns, e.lost);
            break;
        }
        case AHP_CHUNK_STACK: {
            uint32_t id, n;
            if (ops->stack != NULL && ahp_stack_decode(c.p, c.len, &id, r->frames, &n))
                cb = ops->stack(arg, id, r->frames, n);
            break;
        }
        case AHP_CHUNK_KRECORDS: {
            uint32_t rs;
            int64_t n = ops->krecords != NULL ? ahp_krecords_count(c.p, c.len, &rs) : 0;
            if (n <= 0)
                break;
            if ((size_t)n > r->krcap) {
                struct ahp_krecord *nk = realloc(r->krecs, (size_t)n * sizeof(*nk));
                if (nk == NULL)
                    return -ENOMEM;
                r->krecs = nk;
                r->krcap = (size_t)n;
            }
            for (int64_t i = 0; i < n; i++)
                ahp_krecord_decode(c.p + AHP_KRECORDS_HEADER_SIZE + (size_t)i * rs, &r->krecs[i]);
            cb = ops->krecords(arg, r->krecs, (size_t)n);
            break;
        }
        case AHP_CHUNK_KSTACK: {
            uint32_t id, n, nk;
            if (ops->kstack != NULL && ahp_kstack_decode(c.p, c.len, &id, r->kframes, &n, &nk))
                cb = ops->kstack(arg, id, (const char(*)[AHP_KFRAME_SIZE])r->kframes, n, nk);
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
        if (c.type != AHP_CHUNK_EVENTS && c.type != AHP_CHUNK_PACKED)
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
