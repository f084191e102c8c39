/* codec.c - the byte layout of ahprof.data: see codec.h and docs/file-format.md. */
#define _GNU_SOURCE /* sigabbrev_np */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "data/codec.h"

static const uint8_t file_magic[8] = {'A', 'H', 'P', 'R', 'O', 'F', '\0', '\n'};

uint32_t ahp_crc(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

void ahp_copy_field(char *dst, size_t n, const uint8_t *src, size_t srclen)
{
    size_t len = 0;
    while (len < srclen && len + 1 < n && src[len] != '\0')
        len++;
    memcpy(dst, src, len);
    memset(dst + len, 0, n - len);
}

void ahp_put_field(uint8_t *dst, size_t n, const char *s)
{
    memset(dst, 0, n);
    if (s != NULL)
        memcpy(dst, s, strnlen(s, n - 1));
}

/* ---------------------------------------------------------------------------------------
 * File header and chunk framing
 */

void ahp_file_header_encode(uint8_t h[AHP_FILE_HEADER_SIZE])
{
    memcpy(h, file_magic, 8);
    ahp_put16(h + 8, AHP_FILE_MAJOR);
    ahp_put16(h + 10, AHP_FILE_MINOR);
    ahp_put32(h + 12, AHP_FILE_HEADER_SIZE);
    ahp_put32(h + 16, 0);
    ahp_put32(h + 20, ahp_crc(h, 20));
}

int ahp_file_header_decode(const uint8_t *h, size_t got, uint16_t *major, uint16_t *minor,
                           uint32_t *first_chunk)
{
    if (got < 12 || memcmp(h, file_magic, 8) != 0)
        return AHP_E_NOT_AHPROF;
    /* Checked before anything else of the header: the magic and the major version are the
     * only fields every version keeps in place. */
    if (ahp_get16(h + 8) > AHP_FILE_MAJOR)
        return AHP_E_NEWER;
    if (ahp_get16(h + 8) == 0 || got < AHP_FILE_HEADER_SIZE ||
        ahp_get32(h + 20) != ahp_crc(h, 20) || ahp_get32(h + 12) < AHP_FILE_HEADER_SIZE ||
        ahp_get32(h + 12) > AHP_FILE_HEADER_MAX)
        return AHP_E_NOT_AHPROF;
    *major = ahp_get16(h + 8);
    *minor = ahp_get16(h + 10);
    *first_chunk = ahp_get32(h + 12);
    return 0;
}

void ahp_chunk_header_encode(uint8_t *chunk, uint32_t type, uint32_t len)
{
    ahp_put32(chunk, type);
    ahp_put32(chunk + 4, len);
    ahp_put32(chunk + 8, ahp_crc(chunk + AHP_CHUNK_HEADER_SIZE, len));
    ahp_put32(chunk + 12, ahp_crc(chunk, 12));
}

int ahp_chunk_header_check(const uint8_t *h, uint32_t *type, uint32_t *len)
{
    if (ahp_get32(h + 12) != ahp_crc(h, 12))
        return -1;
    *type = ahp_get32(h);
    *len = ahp_get32(h + 4);
    return *len <= AHP_CHUNK_MAX ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------
 * Events
 */

void ahp_events_header_encode(uint8_t *p, uint32_t n)
{
    ahp_put32(p, n);
    ahp_put32(p + 4, AHP_EVENT_SIZE);
}

int64_t ahp_events_count(const uint8_t *p, uint32_t len, uint32_t *recsize)
{
    if (len < AHP_EVENTS_HEADER_SIZE)
        return -1;
    uint32_t n = ahp_get32(p), rs = ahp_get32(p + 4);
    if (rs < AHP_EVENT_SIZE || rs > AHP_EVENT_RECORD_MAX ||
        (uint64_t)n * rs != (uint64_t)len - AHP_EVENTS_HEADER_SIZE)
        return -1;
    *recsize = rs;
    return n;
}

/* ---------------------------------------------------------------------------------------
 * Packed events
 */

/* Head byte: the kind in bits 0-2 (0: a kind byte follows), then which fields differ from
 * their prediction and follow the timestamp. */
#define PK_KIND_MASK 0x07u
#define PK_NEW_ID 0x08u   /* zigzag varint: id - previous id */
#define PK_NEW_TYPE 0x10u /* zigzag varint: the type */
#define PK_NEW_TID 0x20u  /* varint: 1..3 a recent thread by rank, else 4 + the thread id */
#define PK_FLAGS 0x40u    /* one byte: the flags */
#define PK_EXPLICIT 0x80u /* varints: trigger slot, seq, depth, pid (nothing predicted) */

/* INIT's trigger varint: 0 and 1 are those ids themselves, T >= 2 is id - (T - 2). */
#define PK_TRIGGER_BIAS 2u
/* A new tid's varint: 1 .. AHP_PACKED_RECENT_TIDS - 1 name a recent thread, from the bias on
 * the tid itself. */
#define PK_TID_BIAS ((uint64_t)AHP_PACKED_RECENT_TIDS)

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* At most 10 bytes, and the tenth holds only the top bit: anything else is malformed. */
static inline bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p == end)
            return false;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return false;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

void ahp_packer_reset(struct ahp_packer *s, uint32_t pid)
{
    memset(s, 0, sizeof(*s));
    s->pid = pid;
}

static inline bool carries_seq(uint8_t kind)
{
    return kind == AHP_EV_INIT || kind == AHP_EV_DESTROY;
}

/* The registry sequence an INIT or DESTROY of TID is expected to carry; 0 when unknown. */
static inline uint64_t predicted_seq(const struct ahp_packer *s, uint32_t tid)
{
    unsigned slot = tid % AHP_PACKED_SEQ_SLOTS;
    return s->seq[slot].tid == tid && s->seq[slot].seq != 0 ? s->seq[slot].seq + 2 : 0;
}

static inline void learn(struct ahp_packer *s, const struct ahp_event *e)
{
    s->ts = e->ts_ns;
    s->id = e->id;
    s->type = e->type;
    s->tid = e->tid;
    /* Move the tid to the front of the recent ones (or push it in, the oldest dropping out). */
    if (s->recent[0] != e->tid) {
        unsigned j = 1;
        while (j < AHP_PACKED_RECENT_TIDS - 1 && s->recent[j] != e->tid)
            j++;
        for (; j > 0; j--)
            s->recent[j] = s->recent[j - 1];
        s->recent[0] = e->tid;
    }
    if (carries_seq(e->kind)) {
        unsigned slot = e->tid % AHP_PACKED_SEQ_SLOTS;
        s->seq[slot].tid = e->tid;
        s->seq[slot].seq = e->seq;
    }
}

/* Whether E's slots are what its kind implies, so that the implicit form rebuilds them. SLOT
 * is E's trigger_id / exclusive_ns as it is to be written. */
static inline bool predictable(const struct ahp_packer *s, const struct ahp_event *e, uint64_t slot)
{
    if (e->pid != s->pid)
        return false;
    switch (e->kind) {
    case AHP_EV_INIT:
        return e->seq == predicted_seq(s, e->tid) && e->seq != 0 &&
               (slot <= 1 || (slot <= e->id && e->id - slot <= UINT64_MAX - PK_TRIGGER_BIAS));
    case AHP_EV_DESTROY:
        return e->depth == 0 && slot == 0 && e->seq == predicted_seq(s, e->tid) && e->seq != 0;
    case AHP_EV_BEFORE:
    case AHP_EV_AFTER:
        return slot == 0 && e->seq == 0;
    case AHP_EV_RESOLVE:
        return slot == 0 && e->seq == 0 && e->depth == 0;
    default:
        return false;
    }
}

/* Inlined in the loop of ahp_packed_events_encode: the writer's per-event cost. */
static inline __attribute__((always_inline)) size_t
encode_one(struct ahp_packer *s, uint8_t *p, const struct ahp_event *e, bool drop_exclusive)
{
    uint64_t slot = drop_exclusive && e->kind == AHP_EV_AFTER ? 0 : e->trigger_id;
    bool known_kind = e->kind >= AHP_EV_INIT && e->kind <= AHP_EV_RESOLVE;
    uint8_t head = known_kind ? e->kind : 0;
    if (e->id != s->id)
        head |= PK_NEW_ID;
    if (e->type != s->type)
        head |= PK_NEW_TYPE;
    if (e->tid != s->tid)
        head |= PK_NEW_TID;
    if (e->flags != 0)
        head |= PK_FLAGS;
    bool explicit = !known_kind || !predictable(s, e, slot);
    if (explicit)
        head |= PK_EXPLICIT;
    size_t n = 0;
    p[n++] = head;
    if (!known_kind)
        p[n++] = e->kind;
    n += put_varint(p + n, zigzag((int64_t)(e->ts_ns - s->ts)));
    if (head & PK_NEW_ID)
        n += put_varint(p + n, zigzag((int64_t)(e->id - s->id)));
    if (head & PK_NEW_TYPE)
        n += put_varint(p + n, zigzag(e->type));
    if (head & PK_NEW_TID) {
        unsigned rank = 1;
        while (rank < AHP_PACKED_RECENT_TIDS && s->recent[rank] != e->tid)
            rank++;
        n += put_varint(p + n,
                        rank < AHP_PACKED_RECENT_TIDS ? rank : (uint64_t)e->tid + PK_TID_BIAS);
    }
    if (head & PK_FLAGS)
        p[n++] = e->flags;
    if (explicit) {
        n += put_varint(p + n, slot);
        n += put_varint(p + n, e->seq);
        n += put_varint(p + n, e->depth);
        n += put_varint(p + n, e->pid);
    } else if (e->kind == AHP_EV_INIT) {
        n += put_varint(p + n, slot <= 1 ? slot : e->id - slot + PK_TRIGGER_BIAS);
        n += put_varint(p + n, e->stack_ref); /* the creation stack's id + 1, 0 for none */
    } else if (e->kind == AHP_EV_BEFORE || e->kind == AHP_EV_AFTER) {
        n += put_varint(p + n, e->depth);
    }
    learn(s, e);
    return n;
}

size_t ahp_packed_event_encode(struct ahp_packer *s, uint8_t *p, const struct ahp_event *e)
{
    return encode_one(s, p, e, false);
}

static inline bool type_known(const bool *known, int32_t type)
{
    return type >= 0 && type < AHP_TYPE_MAX && known[type];
}

/* The events a busy recorder encodes come from a window of megabytes, out of cache: asked for
 * this many ahead, their loads overlap the encoding of the ones before. */
#define PK_PREFETCH_AHEAD 32

size_t ahp_packed_events_encode(struct ahp_packer *s, uint8_t *p, size_t room,
                                const struct ahp_event *ev, size_t n, unsigned flags, size_t *len)
{
    size_t i = 0, at = 0;
    /* Two copies of the loop: the flag is tested once, not per event. */
    if (flags & AHP_PACK_NO_EXCLUSIVE) {
        for (; i < n && at < room; i++)
            at += encode_one(s, p + at, &ev[i], true);
    } else {
        for (; i < n && at < room; i++)
            at += encode_one(s, p + at, &ev[i], false);
    }
    *len = at;
    return i;
}

static inline __attribute__((always_inline)) size_t
encode_known(struct ahp_packer *s, uint8_t *p, size_t room, const struct ahp_event *ev, size_t n,
             bool drop_exclusive, const bool *known, size_t *len)
{
    size_t i = 0, at = 0;
    if (n > 0 && !type_known(known, ev[0].type)) {
        *len = 0;
        return 0;
    }
    for (; i < n && at < room; i++) {
        __builtin_prefetch(&ev[i + PK_PREFETCH_AHEAD]);
        /* The type of the event before was known: only a change is looked up. */
        if (__builtin_expect(ev[i].type != s->type, 0) && !type_known(known, ev[i].type))
            break;
        at += encode_one(s, p + at, &ev[i], drop_exclusive);
    }
    *len = at;
    return i;
}

size_t ahp_packed_events_encode_known(struct ahp_packer *s, uint8_t *p, size_t room,
                                      const struct ahp_event *ev, size_t n, unsigned flags,
                                      const bool known[AHP_TYPE_MAX], size_t *len)
{
    if (flags & AHP_PACK_NO_EXCLUSIVE)
        return encode_known(s, p, room, ev, n, true, known, len);
    return encode_known(s, p, room, ev, n, false, known, len);
}

void ahp_packed_header_encode(uint8_t p[AHP_PACKED_HEADER_SIZE], const struct ahp_packed_header *h)
{
    ahp_put32(p, h->count);
    ahp_put32(p + 4, h->pid);
    ahp_put32(p + 8, h->raw_len);
    p[12] = h->codec;
    p[13] = p[14] = p[15] = 0;
}

bool ahp_packed_header_decode(const uint8_t *p, uint32_t len, struct ahp_packed_header *h)
{
    if (len < AHP_PACKED_HEADER_SIZE)
        return false;
    h->count = ahp_get32(p);
    h->pid = ahp_get32(p + 4);
    h->raw_len = ahp_get32(p + 8);
    h->codec = p[12];
    if (h->count == 0 || h->count > AHP_PACKED_EVENTS_MAX || h->raw_len > AHP_PACKED_RAW_MAX ||
        (uint64_t)h->count * 2 > h->raw_len)
        return false; /* every record is at least a head byte and a timestamp */
    if (h->codec == AHP_PACKED_PLAIN)
        return h->raw_len == len - AHP_PACKED_HEADER_SIZE;
    /* Deflate shrinks 1032:1 at most: a claim beyond that is not worth a buffer. */
    return h->codec == AHP_PACKED_ZLIB &&
           (uint64_t)h->raw_len <= (uint64_t)(len - AHP_PACKED_HEADER_SIZE) * 1032 + 64;
}

bool ahp_packed_records_decode(const struct ahp_packed_header *h, const uint8_t *raw,
                               struct ahp_event *ev)
{
    struct ahp_packer s;
    ahp_packer_reset(&s, h->pid);
    const uint8_t *p = raw, *end = raw + h->raw_len;
    for (uint32_t i = 0; i < h->count; i++) {
        if (p == end)
            return false;
        struct ahp_event *e = &ev[i];
        memset(e, 0, sizeof(*e));
        uint8_t head = *p++;
        uint8_t code = head & PK_KIND_MASK;
        if (code > AHP_EV_RESOLVE)
            return false;
        if (code == 0) {
            if (p == end || !(head & PK_EXPLICIT))
                return false;
            e->kind = *p++;
        } else {
            e->kind = code;
        }
        uint64_t v;
        if (!get_varint(&p, end, &v))
            return false;
        e->ts_ns = s.ts + (uint64_t)unzigzag(v);
        e->id = s.id;
        if (head & PK_NEW_ID) {
            if (!get_varint(&p, end, &v))
                return false;
            e->id = s.id + (uint64_t)unzigzag(v);
        }
        e->type = s.type;
        if (head & PK_NEW_TYPE) {
            if (!get_varint(&p, end, &v) || v > UINT32_MAX)
                return false;
            e->type = (int32_t)unzigzag(v);
        }
        e->tid = s.tid;
        if (head & PK_NEW_TID) {
            if (!get_varint(&p, end, &v) || v == 0 || v > UINT32_MAX + PK_TID_BIAS)
                return false;
            e->tid = v < PK_TID_BIAS ? s.recent[v] : (uint32_t)(v - PK_TID_BIAS);
        }
        if (head & PK_FLAGS) {
            if (p == end)
                return false;
            e->flags = *p++;
        }
        e->pid = s.pid;
        if (head & PK_EXPLICIT) {
            uint64_t slot, seq, depth, pid;
            if (!get_varint(&p, end, &slot) || !get_varint(&p, end, &seq) ||
                !get_varint(&p, end, &depth) || depth > UINT16_MAX || !get_varint(&p, end, &pid) ||
                pid > UINT32_MAX)
                return false;
            e->trigger_id = slot;
            e->seq = seq;
            e->depth = (uint16_t)depth;
            e->pid = (uint32_t)pid;
        } else {
            switch (e->kind) {
            case AHP_EV_INIT:
                if (!get_varint(&p, end, &v))
                    return false;
                e->trigger_id = v < PK_TRIGGER_BIAS ? v : e->id - (v - PK_TRIGGER_BIAS);
                if (!get_varint(&p, end, &v) || v > UINT16_MAX)
                    return false;
                e->stack_ref = (uint16_t)v;
                /* fall through */
            case AHP_EV_DESTROY:
                e->seq = predicted_seq(&s, e->tid);
                break;
            case AHP_EV_BEFORE:
            case AHP_EV_AFTER:
                if (!get_varint(&p, end, &v) || v > UINT16_MAX)
                    return false;
                e->depth = (uint16_t)v;
                break;
            default:
                break;
            }
        }
        learn(&s, e);
    }
    return p == end;
}

/* ---------------------------------------------------------------------------------------
 * Other payloads
 */

uint32_t ahp_info_encode(uint8_t p[AHP_INFO_SIZE], const struct ahp_file_info *info,
                         const char *version, const char *host)
{
    memset(p, 0, AHP_INFO_SIZE);
    ahp_put32(p + 0, info->pid);
    ahp_put64(p + 8, info->start_mono_ns);
    ahp_put64(p + 16, info->start_real_ns);
    ahp_put_field(p + 24, 16, info->comm);
    ahp_put_field(p + 40, 256, info->target);
    ahp_put_field(p + 296, 32, version);
    ahp_put_field(p + 328, 64, host);
    return AHP_INFO_SIZE;
}

bool ahp_info_decode(const uint8_t *p, uint32_t len, struct ahp_file_info *info, char *version,
                     char *host)
{
    if (len < AHP_INFO_SIZE)
        return false;
    memset(info, 0, sizeof(*info));
    info->pid = ahp_get32(p);
    info->start_mono_ns = ahp_get64(p + 8);
    info->start_real_ns = ahp_get64(p + 16);
    ahp_copy_field(info->comm, sizeof(info->comm), p + 24, 16);
    ahp_copy_field(info->target, sizeof(info->target), p + 40, 256);
    if (version != NULL)
        ahp_copy_field(version, 32, p + 296, 32);
    if (host != NULL)
        ahp_copy_field(host, 64, p + 328, 64);
    return true;
}

uint32_t ahp_type_encode(uint8_t p[AHP_TYPE_SIZE], int32_t type, const char *name)
{
    ahp_put32(p, (uint32_t)type);
    ahp_put32(p + 4, 0);
    ahp_put_field(p + 8, AHP_NAME_SIZE, name);
    return AHP_TYPE_SIZE;
}

bool ahp_type_decode(const uint8_t *p, uint32_t len, int32_t *type, char name[AHP_NAME_SIZE])
{
    if (len < AHP_TYPE_SIZE)
        return false;
    int32_t t = (int32_t)ahp_get32(p);
    if (t < 0 || t >= AHP_TYPE_MAX)
        return false;
    *type = t;
    ahp_copy_field(name, AHP_NAME_SIZE, p + 8, AHP_NAME_SIZE);
    return true;
}

uint32_t ahp_snapshot_encode(uint8_t p[AHP_SNAPSHOT_SIZE_MAX], const int64_t *live, uint32_t ntypes)
{
    ahp_put32(p, ntypes);
    ahp_put32(p + 4, 0);
    for (uint32_t i = 0; i < ntypes; i++)
        ahp_put64(p + 8 + 8 * i, (uint64_t)live[i]);
    return 8 + 8 * ntypes;
}

bool ahp_snapshot_decode(const uint8_t *p, uint32_t len, int64_t live[AHP_TYPE_MAX],
                         uint32_t *ntypes)
{
    if (len < 8)
        return false;
    uint32_t n = ahp_get32(p);
    if (n > AHP_TYPE_MAX || len < 8 + 8 * (uint64_t)n)
        return false;
    memset(live, 0, AHP_TYPE_MAX * sizeof(int64_t));
    for (uint32_t i = 0; i < n; i++)
        live[i] = (int64_t)ahp_get64(p + 8 + 8 * i);
    *ntypes = n;
    return true;
}

uint32_t ahp_lost_encode(uint8_t p[AHP_LOST_SIZE], uint64_t lost_total, uint64_t as_of_ns)
{
    ahp_put64(p, lost_total);
    ahp_put64(p + 8, as_of_ns);
    return AHP_LOST_SIZE;
}

bool ahp_lost_decode(const uint8_t *p, uint32_t len, uint64_t *lost_total, uint64_t *as_of_ns)
{
    if (len < AHP_LOST_SIZE_MIN)
        return false;
    *lost_total = ahp_get64(p);
    *as_of_ns = len >= AHP_LOST_SIZE ? ahp_get64(p + 8) : 0;
    return true;
}

uint32_t ahp_end_encode(uint8_t p[AHP_END_SIZE], const struct ahp_end_info *e)
{
    ahp_put64(p, e->end_mono_ns);
    ahp_put64(p + 8, e->lost);
    ahp_put64(p + 16, e->events);
    ahp_put32(p + 24, e->flags);
    ahp_put32(p + 28, 0);
    ahp_put64(p + 32, e->resent_records);
    return AHP_END_SIZE;
}

bool ahp_end_decode(const uint8_t *p, uint32_t len, struct ahp_end_info *e)
{
    if (len < AHP_END_SIZE_MIN)
        return false;
    e->end_mono_ns = ahp_get64(p);
    e->lost = ahp_get64(p + 8);
    e->events = ahp_get64(p + 16);
    e->flags = ahp_get32(p + 24);
    /* Appended after 2.1 had shipped, without a version bump: older readers stop at 32. */
    e->has_resent_records = len >= AHP_END_SIZE;
    e->resent_records = e->has_resent_records ? ahp_get64(p + 32) : 0;
    return true;
}

/* A stack payload: u32 id, u32 n, then n x {u64 ip, u32 line, u16 func_len, u16 file_len,
 * func bytes, file bytes}. */
uint32_t ahp_stack_encode(uint8_t p[AHP_STACK_SIZE_MAX], uint32_t stack_id,
                          const struct ahp_stack_frame *frames, uint32_t n)
{
    if (n > AHP_STACK_FRAMES_MAX)
        n = AHP_STACK_FRAMES_MAX;
    ahp_put32(p, stack_id);
    ahp_put32(p + 4, n);
    size_t off = 8;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t func_len = (uint16_t)strnlen(frames[i].func, AHP_SYM_SIZE - 1);
        uint16_t file_len = (uint16_t)strnlen(frames[i].file, AHP_SYM_SIZE - 1);
        ahp_put64(p + off, frames[i].ip);
        ahp_put32(p + off + 8, frames[i].line);
        ahp_put16(p + off + 12, func_len);
        ahp_put16(p + off + 14, file_len);
        memcpy(p + off + 16, frames[i].func, func_len);
        memcpy(p + off + 16 + func_len, frames[i].file, file_len);
        off += 16 + (size_t)func_len + file_len;
    }
    return (uint32_t)off;
}

/* Every length is checked against what is left. */
bool ahp_stack_decode(const uint8_t *p, uint32_t len, uint32_t *id,
                      struct ahp_stack_frame frames[AHP_STACK_FRAMES_MAX], uint32_t *n)
{
    if (len < 8)
        return false;
    *id = ahp_get32(p);
    uint32_t count = ahp_get32(p + 4);
    if (count > AHP_STACK_FRAMES_MAX)
        return false;
    size_t off = 8;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 16)
            return false;
        const uint8_t *q = p + off;
        uint16_t func_len = ahp_get16(q + 12), file_len = ahp_get16(q + 14);
        if (len - off - 16 < (size_t)func_len + file_len)
            return false;
        frames[i].ip = ahp_get64(q);
        frames[i].line = ahp_get32(q + 8);
        ahp_copy_field(frames[i].func, AHP_SYM_SIZE, q + 16, func_len);
        ahp_copy_field(frames[i].file, AHP_SYM_SIZE, q + 16 + func_len, file_len);
        off += 16 + (size_t)func_len + file_len;
    }
    *n = count;
    return true;
}

uint32_t ahp_counters_encode(uint8_t p[AHP_COUNTERS_SIZE], const struct ahp_type_counters *counters)
{
    ahp_put32(p, AHP_TYPE_MAX);
    ahp_put32(p + 4, 0);
    for (uint32_t i = 0; i < AHP_TYPE_MAX; i++) {
        uint8_t *q = p + 8 + (size_t)i * 8 * AHP_COUNTER_FIELDS;
        const struct ahp_type_counters *c = &counters[i];
        ahp_put64(q, c->created);
        ahp_put64(q + 8, c->destroyed);
        ahp_put64(q + 16, c->resolved);
        ahp_put64(q + 24, c->callbacks);
        ahp_put64(q + 32, c->callback_ns);
        ahp_put64(q + 40, c->exclusive_ns);
        ahp_put64(q + 48, (uint64_t)c->active);
    }
    return AHP_COUNTERS_SIZE;
}

bool ahp_counters_decode(const uint8_t *p, uint32_t len, struct ahp_type_counters out[AHP_TYPE_MAX])
{
    if (len < 8)
        return false;
    uint32_t n = ahp_get32(p);
    if (n > AHP_TYPE_MAX || len < 8 + (uint64_t)n * 8 * AHP_COUNTER_FIELDS)
        return false;
    memset(out, 0, sizeof(*out) * AHP_TYPE_MAX);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p + 8 + (size_t)i * 8 * AHP_COUNTER_FIELDS;
        out[i] = (struct ahp_type_counters){
            ahp_get64(q),      ahp_get64(q + 8),  ahp_get64(q + 16),         ahp_get64(q + 24),
            ahp_get64(q + 32), ahp_get64(q + 40), (int64_t)ahp_get64(q + 48)};
    }
    return true;
}

uint32_t ahp_exit_encode(uint8_t p[AHP_EXIT_SIZE], const struct ahp_exit_info *x)
{
    ahp_put32(p, x->how);
    ahp_put32(p + 4, x->code);
    ahp_put32(p + 8, x->core_dumped ? AHP_EXIT_F_CORE : 0);
    ahp_put32(p + 12, 0);
    ahp_put64(p + 16, x->exit_mono_ns);
    return AHP_EXIT_SIZE;
}

bool ahp_exit_decode(const uint8_t *p, uint32_t len, struct ahp_exit_info *x)
{
    if (len < AHP_EXIT_SIZE)
        return false;
    x->how = ahp_get32(p);
    x->code = ahp_get32(p + 4);
    x->core_dumped = (ahp_get32(p + 8) & AHP_EXIT_F_CORE) != 0;
    x->exit_mono_ns = ahp_get64(p + 16);
    return true;
}

uint32_t ahp_exec_encode(uint8_t p[AHP_EXEC_SIZE], uint64_t exec_mono_ns, const char *path)
{
    memset(p, 0, AHP_EXEC_SIZE);
    ahp_put64(p, exec_mono_ns);
    memcpy(p + 8, path, strnlen(path, 255));
    return AHP_EXEC_SIZE;
}

bool ahp_exec_decode(const uint8_t *p, uint32_t len, uint64_t *exec_mono_ns, char path[256])
{
    if (len < AHP_EXEC_SIZE)
        return false;
    *exec_mono_ns = ahp_get64(p);
    ahp_copy_field(path, 256, p + 8, 256);
    return true;
}

/* ---------------------------------------------------------------------------------------
 * What the exit chunk's fields mean, in words
 */

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

/* ---------------------------------------------------------------------------------------
 * The kernel view (2.1, record --cpu)
 */

uint32_t ahp_kinfo_encode(uint8_t p[AHP_KINFO_SIZE], const struct ahp_kinfo *k)
{
    ahp_put32(p, k->hz);
    ahp_put32(p + 4, k->flags);
    ahp_put64(p + 8, k->lost_records);
    ahp_put64(p + 16, k->stack_errors);
    ahp_put64(p + 24, k->stacks_dropped);
    return AHP_KINFO_SIZE;
}

bool ahp_kinfo_decode(const uint8_t *p, uint32_t len, struct ahp_kinfo *k)
{
    if (len < AHP_KINFO_SIZE)
        return false;
    k->hz = ahp_get32(p);
    k->flags = ahp_get32(p + 4);
    k->lost_records = ahp_get64(p + 8);
    k->stack_errors = ahp_get64(p + 16);
    k->stacks_dropped = ahp_get64(p + 24);
    return true;
}

void ahp_krecord_encode(uint8_t p[AHP_KRECORD_SIZE], const struct ahp_krecord *r)
{
    ahp_put64(p, r->ts_ns);
    ahp_put64(p + 8, r->dur_ns);
    ahp_put64(p + 16, r->id);
    ahp_put32(p + 24, r->tid);
    ahp_put32(p + 28, (uint32_t)r->slot);
    ahp_put32(p + 32, (uint32_t)r->reason);
    ahp_put32(p + 36, r->stack);
    ahp_put16(p + 40, r->kind);
    ahp_put16(p + 42, r->depth);
    ahp_put32(p + 44, 0);
}

void ahp_krecord_decode(const uint8_t *p, struct ahp_krecord *r)
{
    r->ts_ns = ahp_get64(p);
    r->dur_ns = ahp_get64(p + 8);
    r->id = ahp_get64(p + 16);
    r->tid = ahp_get32(p + 24);
    r->slot = (int32_t)ahp_get32(p + 28);
    r->reason = (int32_t)ahp_get32(p + 32);
    r->stack = ahp_get32(p + 36);
    r->kind = ahp_get16(p + 40);
    r->depth = ahp_get16(p + 42);
}

void ahp_krecords_header_encode(uint8_t *p, uint32_t n)
{
    ahp_put32(p, n);
    ahp_put32(p + 4, AHP_KRECORD_SIZE);
}

int64_t ahp_krecords_count(const uint8_t *p, uint32_t len, uint32_t *recsize)
{
    if (len < AHP_KRECORDS_HEADER_SIZE)
        return -1;
    uint32_t n = ahp_get32(p), rs = ahp_get32(p + 4);
    if (rs < AHP_KRECORD_SIZE || rs > AHP_EVENT_RECORD_MAX || n > AHP_KRECORDS_MAX ||
        (uint64_t)n * rs != (uint64_t)len - AHP_KRECORDS_HEADER_SIZE)
        return -1;
    *recsize = rs;
    return n;
}

uint32_t ahp_kstack_encode(uint8_t p[AHP_KSTACK_SIZE_MAX], uint32_t id, const char *const *frames,
                           uint32_t n, uint32_t nkernel)
{
    if (n > AHP_KSTACK_FILE_FRAMES)
        n = AHP_KSTACK_FILE_FRAMES;
    if (nkernel > n)
        nkernel = n;
    ahp_put32(p, id);
    ahp_put32(p + 4, n);
    ahp_put32(p + 8, nkernel);
    size_t off = 12;
    for (uint32_t i = 0; i < n; i++) {
        const char *f = frames[i] != NULL ? frames[i] : "";
        uint16_t len = (uint16_t)strnlen(f, AHP_KFRAME_SIZE - 1);
        ahp_put16(p + off, len);
        memcpy(p + off + 2, f, len);
        off += 2 + (size_t)len;
    }
    return (uint32_t)off;
}

bool ahp_kstack_decode(const uint8_t *p, uint32_t len, uint32_t *id,
                       char frames[AHP_KSTACK_FILE_FRAMES][AHP_KFRAME_SIZE], uint32_t *n,
                       uint32_t *nkernel)
{
    if (len < 12)
        return false;
    uint32_t count = ahp_get32(p + 4), nk = ahp_get32(p + 8);
    if (count > AHP_KSTACK_FILE_FRAMES || nk > count)
        return false;
    size_t off = 12;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 2)
            return false;
        uint16_t flen = ahp_get16(p + off);
        if (flen >= AHP_KFRAME_SIZE || len - off - 2 < flen)
            return false;
        ahp_copy_field(frames[i], AHP_KFRAME_SIZE, p + off + 2, flen);
        off += 2 + (size_t)flen;
    }
    *id = ahp_get32(p);
    *n = count;
    *nkernel = nk;
    return true;
}

/* A KSTATS entry's slot in the file: the type (>= 0), or AHP_KREC_OUTSIDE / _UNTAGGED. */
static int32_t kstats_file_slot(uint32_t i)
{
    return i == AHP_KSTATS_OUTSIDE    ? AHP_KREC_OUTSIDE
           : i == AHP_KSTATS_UNTAGGED ? AHP_KREC_UNTAGGED
                                      : (int32_t)i;
}

static bool kstats_empty(const struct ahp_kstats_slot *s)
{
    static const struct ahp_kstats_slot zero;
    return memcmp(s, &zero, sizeof(zero)) == 0;
}

uint32_t ahp_kstats_encode(uint8_t p[AHP_KSTATS_SIZE_MAX], uint64_t as_of_ns,
                           const struct ahp_kstats_slot *slots)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < AHP_KSTATS_SLOTS; i++) {
        const struct ahp_kstats_slot *s = &slots[i];
        if (kstats_empty(s))
            continue;
        uint8_t *e = p + AHP_KSTATS_HEADER_SIZE + (size_t)n * AHP_KSTATS_ENTRY_SIZE;
        ahp_put32(e, (uint32_t)kstats_file_slot(i));
        ahp_put32(e + 4, 0);
        const uint64_t fields[7] = {s->runq_count,     s->runq_wait_ns,  s->runq_ns,
                                    s->blocked_ns,     s->blocked_count, s->preempted_ns,
                                    s->preempted_count};
        for (int f = 0; f < 7; f++)
            ahp_put64(e + 8 + 8 * f, fields[f]);
        for (int h = 0; h < AHP_HIST_SLOTS; h++)
            ahp_put64(e + 64 + 8 * h, s->runq_hist[h]);
        n++;
    }
    ahp_put32(p, n);
    ahp_put32(p + 4, AHP_KSTATS_ENTRY_SIZE);
    ahp_put64(p + 8, as_of_ns);
    return AHP_KSTATS_HEADER_SIZE + n * AHP_KSTATS_ENTRY_SIZE;
}

/* The index in AHP_KSTATS_SLOTS of a file slot, or -1 when no writer makes it. */
static int32_t kstats_index(int32_t slot)
{
    if (slot == AHP_KREC_OUTSIDE)
        return AHP_KSTATS_OUTSIDE;
    if (slot == AHP_KREC_UNTAGGED)
        return AHP_KSTATS_UNTAGGED;
    return slot >= 0 && slot < AHP_TYPE_MAX ? slot : -1;
}

bool ahp_kstats_decode(const uint8_t *p, uint32_t len, uint64_t *as_of_ns,
                       struct ahp_kstats_slot *out)
{
    if (len < AHP_KSTATS_HEADER_SIZE)
        return false;
    uint32_t n = ahp_get32(p), es = ahp_get32(p + 4);
    /* A larger entry is a newer writer's: its extra fields are ignored. */
    if (es < AHP_KSTATS_ENTRY_SIZE || es > AHP_EVENT_RECORD_MAX || n > AHP_KSTATS_SLOTS ||
        (uint64_t)n * es != (uint64_t)len - AHP_KSTATS_HEADER_SIZE)
        return false;
    /* Checked whole before OUT is touched: a damaged chunk leaves the last good one. */
    uint8_t seen[AHP_KSTATS_SLOTS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        int32_t idx = kstats_index((int32_t)ahp_get32(p + AHP_KSTATS_HEADER_SIZE + (size_t)i * es));
        if (idx < 0 || seen[idx])
            return false;
        seen[idx] = 1;
    }
    memset(out, 0, AHP_KSTATS_SLOTS * sizeof(*out));
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = p + AHP_KSTATS_HEADER_SIZE + (size_t)i * es;
        struct ahp_kstats_slot *s = &out[kstats_index((int32_t)ahp_get32(e))];
        s->runq_count = ahp_get64(e + 8);
        s->runq_wait_ns = ahp_get64(e + 16);
        s->runq_ns = ahp_get64(e + 24);
        s->blocked_ns = ahp_get64(e + 32);
        s->blocked_count = ahp_get64(e + 40);
        s->preempted_ns = ahp_get64(e + 48);
        s->preempted_count = ahp_get64(e + 56);
        for (int h = 0; h < AHP_HIST_SLOTS; h++)
            s->runq_hist[h] = ahp_get64(e + 64 + 8 * h);
    }
    *as_of_ns = ahp_get64(p + 8);
    return true;
}

uint64_t ahp_kstats_runq_percentile(const struct ahp_kstats_slot *s, unsigned permille)
{
    /* The histogram's own sum, saturated: runq_count may disagree with it (read while the
     * kernel counted, or a hostile file), and a rank beyond the buckets would mean nothing. */
    uint64_t total = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++)
        total = s->runq_hist[i] > UINT64_MAX - total ? UINT64_MAX : total + s->runq_hist[i];
    if (total == 0)
        return 0;
    if (permille > 1000)
        permille = 1000;
    /* ceil(total * permille / 1000) without overflow */
    uint64_t want = total / 1000 * permille + ((total % 1000) * permille + 999) / 1000;
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < AHP_HIST_SLOTS; i++) {
        seen = s->runq_hist[i] > UINT64_MAX - seen ? UINT64_MAX : seen + s->runq_hist[i];
        if (seen >= want)
            return (2ull << i) - 1;
    }
    return (2ull << (AHP_HIST_SLOTS - 1)) - 1;
}
