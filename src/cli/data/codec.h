/*
 * codec.h - the byte layout of ahprof.data (docs/file-format.md), in one place: the file
 * header, chunk framing and CRCs, the event record, and the encoding and decoding of every
 * chunk payload. writer.c and reader.c do the I/O around it; nothing else depends on it.
 *
 * Every multi-byte field is little-endian and written byte by byte, so the format does not
 * depend on the host and the reader never casts file bytes to structures. Decoders get
 * untrusted bytes: each checks the payload length before it reads a field, and returns false
 * for a payload it cannot use.
 */
#ifndef AHP_CODEC_H
#define AHP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/datafile.h"

#define AHP_FILE_HEADER_SIZE 24
#define AHP_FILE_HEADER_MAX 4096 /* a larger header size field is corruption */
#define AHP_CHUNK_HEADER_SIZE 16
#define AHP_EVENT_SIZE 48
#define AHP_EVENT_RECORD_MAX 4096 /* record size of a newer minor version: bigger is corruption */

/* Payload sizes of the fixed-size chunks. */
#define AHP_INFO_SIZE 392
#define AHP_TYPE_SIZE 72
#define AHP_END_SIZE 40
#define AHP_END_SIZE_MIN 32 /* an older ahprof's END: no resent_records */
#define AHP_EXIT_SIZE 24
#define AHP_EXEC_SIZE 264
#define AHP_LOST_SIZE 16
#define AHP_LOST_SIZE_MIN 8  /* 1.x: the count alone, its time unknown */
#define AHP_COUNTER_FIELDS 7 /* u64 fields per type in a counters chunk */
#define AHP_COUNTERS_SIZE (8 + AHP_TYPE_MAX * 8 * AHP_COUNTER_FIELDS)
#define AHP_SNAPSHOT_SIZE_MAX (8 + 8 * AHP_TYPE_MAX)
#define AHP_STACK_SIZE_MAX (8 + AHP_STACK_FRAMES_MAX * (16 + 2 * AHP_SYM_SIZE))
#define AHP_KINFO_SIZE 32
#define AHP_KRECORD_SIZE 48
#define AHP_KRECORDS_HEADER_SIZE 8 /* count and record size */
#define AHP_KRECORDS_MAX 65536     /* records per chunk; more is corruption */
#define AHP_KSTACK_SIZE_MAX (12 + AHP_KSTACK_FILE_FRAMES * (2 + AHP_KFRAME_SIZE - 1))
#define AHP_KSTATS_HEADER_SIZE 16 /* count, entry size, as_of_ns */
#define AHP_KSTATS_ENTRY_SIZE (8 + 8 * (7 + AHP_HIST_SLOTS))
#define AHP_KSTATS_SIZE_MAX (AHP_KSTATS_HEADER_SIZE + AHP_KSTATS_SLOTS * AHP_KSTATS_ENTRY_SIZE)
#define AHP_EVENTS_HEADER_SIZE 8 /* count and record size, before the records */

#define AHP_END_F_CLEAN 1u
#define AHP_EXIT_F_CORE 1u

_Static_assert(sizeof(struct ahp_event) == AHP_EVENT_SIZE,
               "struct ahp_event is part of the format");
_Static_assert(offsetof(struct ahp_event, pid) == 44, "struct ahp_event is part of the format");
_Static_assert(offsetof(struct ahp_event, trigger_id) == 16,
               "struct ahp_event is part of the format");
_Static_assert(offsetof(struct ahp_event, depth) == 42, "struct ahp_event is part of the format");

/* ---------------------------------------------------------------------------------------
 * Little-endian fields
 */

static inline void ahp_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void ahp_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void ahp_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t ahp_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t ahp_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ahp_get64(const uint8_t *p)
{
    return (uint64_t)ahp_get32(p) | (uint64_t)ahp_get32(p + 4) << 32;
}

/* CRC-32 (zlib's) of P[0..N). */
uint32_t ahp_crc(const uint8_t *p, size_t n);

/* Copy a fixed-size, possibly unterminated field into DST[N]: always NUL-terminated. */
void ahp_copy_field(char *dst, size_t n, const uint8_t *src, size_t srclen);
/* S (NULL: empty) into a field of N bytes, zero-padded, at most N - 1 bytes of it. */
void ahp_put_field(uint8_t *dst, size_t n, const char *s);

/* ---------------------------------------------------------------------------------------
 * File header and chunk framing
 */

void ahp_file_header_encode(uint8_t h[AHP_FILE_HEADER_SIZE]);

/* The first GOT bytes of a file (at most AHP_FILE_HEADER_SIZE): 0 and its version and the
 * offset of its first chunk, AHP_E_NOT_AHPROF or AHP_E_NEWER. */
int ahp_file_header_decode(const uint8_t *h, size_t got, uint16_t *major, uint16_t *minor,
                           uint32_t *first_chunk);

/* Frame the LEN payload bytes that follow CHUNK's AHP_CHUNK_HEADER_SIZE bytes of room. */
void ahp_chunk_header_encode(uint8_t *chunk, uint32_t type, uint32_t len);

/* A chunk header: its type and payload length, or -1 when it is damaged (header CRC) or
 * announces more than AHP_CHUNK_MAX. The payload's CRC is ahp_chunk_payload_crc(). */
int ahp_chunk_header_check(const uint8_t *h, uint32_t *type, uint32_t *len);

static inline uint32_t ahp_chunk_payload_crc(const uint8_t *h)
{
    return ahp_get32(h + 8);
}

/* ---------------------------------------------------------------------------------------
 * Events
 */

static inline void ahp_event_encode(uint8_t *p, const struct ahp_event *e)
{
    ahp_put64(p + 0, e->ts_ns);
    ahp_put64(p + 8, e->id);
    ahp_put64(p + 16, e->trigger_id); /* or exclusive_ns: one slot, whatever the kind */
    ahp_put64(p + 24, e->seq);
    ahp_put32(p + 32, e->tid);
    ahp_put32(p + 36, (uint32_t)e->type);
    p[40] = e->kind;
    p[41] = e->flags;
    ahp_put16(p + 42, e->depth); /* or stack_ref */
    ahp_put32(p + 44, e->pid);
}

static inline void ahp_event_decode(const uint8_t *p, struct ahp_event *e)
{
    e->ts_ns = ahp_get64(p + 0);
    e->id = ahp_get64(p + 8);
    e->trigger_id = ahp_get64(p + 16); /* or exclusive_ns */
    e->seq = ahp_get64(p + 24);
    e->tid = ahp_get32(p + 32);
    e->type = (int32_t)ahp_get32(p + 36);
    e->kind = p[40];
    e->flags = p[41];
    e->depth = ahp_get16(p + 42); /* or stack_ref */
    e->pid = ahp_get32(p + 44);
}

/* The count and record size at the start of an events payload of N records. */
void ahp_events_header_encode(uint8_t *p, uint32_t n);

/* The count of an events payload P[0..LEN) (its record size in *RECSIZE), or -1 when it is
 * malformed: records smaller than AHP_EVENT_SIZE or larger than AHP_EVENT_RECORD_MAX, or a
 * count that does not fill the payload exactly. */
int64_t ahp_events_count(const uint8_t *p, uint32_t len, uint32_t *recsize);

/* ---------------------------------------------------------------------------------------
 * Packed events (2.0, docs/file-format.md "PACKED"): each record is a head byte and varints,
 * its fields predicted from the record before it in the same chunk (a chunk decodes alone).
 */

#define AHP_PACKED_HEADER_SIZE 16
#define AHP_PACKED_EVENTS_MAX 65536 /* records per chunk; more is corruption */
#define AHP_PACKED_EVENT_MAX 64     /* the longest record: every field explicit */
#define AHP_PACKED_RAW_MAX (AHP_CHUNK_MAX - AHP_PACKED_HEADER_SIZE) /* records, once inflated */
#define AHP_PACKED_SEQ_SLOTS 8   /* threads whose registry sequence a chunk predicts at once */
#define AHP_PACKED_RECENT_TIDS 4 /* threads a record names by their rank among the last seen */

enum ahp_packed_codec {
    AHP_PACKED_PLAIN = 0, /* the records follow the header */
    AHP_PACKED_ZLIB = 1,  /* a zlib stream of the records follows (compress2) */
};

struct ahp_packed_header {
    uint32_t count;   /* records, 1 .. AHP_PACKED_EVENTS_MAX */
    uint32_t pid;     /* of every record that does not name its own */
    uint32_t raw_len; /* bytes of the records (inflated) */
    uint8_t codec;    /* enum ahp_packed_codec */
};

/* What the records before this one predict; reset at the start of every chunk. */
struct ahp_packer {
    uint64_t ts, id;
    int32_t type;
    uint32_t tid, pid;
    uint32_t recent[AHP_PACKED_RECENT_TIDS]; /* distinct tids, the last record's first */
    struct {
        uint32_t tid;
        uint64_t seq;
    } seq[AHP_PACKED_SEQ_SLOTS];
};

void ahp_packer_reset(struct ahp_packer *s, uint32_t pid);

/* Append E at P (room for AHP_PACKED_EVENT_MAX bytes): the bytes written. Any event, however
 * odd, decodes back to itself. */
size_t ahp_packed_event_encode(struct ahp_packer *s, uint8_t *p, const struct ahp_event *e);

/* An AFTER's exclusive_ns (informational, the BPF side's: readers compute their own from
 * BEFORE and AFTER) is written as 0: 3 or 4 bytes instead of 6 or 7. */
#define AHP_PACK_NO_EXCLUSIVE 1u

/* Append events of EV[0..N) at P for as long as fewer than ROOM bytes are written (P has room
 * for ROOM + AHP_PACKED_EVENT_MAX - 1 bytes): the number appended, *LEN their bytes. FLAGS:
 * AHP_PACK_*. The same bytes as ahp_packed_event_encode one event at a time. */
size_t ahp_packed_events_encode(struct ahp_packer *s, uint8_t *p, size_t room,
                                const struct ahp_event *ev, size_t n, unsigned flags, size_t *len);
/* The same, stopping before the first event whose type is not KNOWN[type] (a type outside
 * the table is not known): the caller writes the type's chunk before its first event. */
size_t ahp_packed_events_encode_known(struct ahp_packer *s, uint8_t *p, size_t room,
                                      const struct ahp_event *ev, size_t n, unsigned flags,
                                      const bool known[AHP_TYPE_MAX], size_t *len);

void ahp_packed_header_encode(uint8_t p[AHP_PACKED_HEADER_SIZE], const struct ahp_packed_header *h);
/* False when the header is malformed (count, codec, lengths against LEN). */
bool ahp_packed_header_decode(const uint8_t *p, uint32_t len, struct ahp_packed_header *h);

/* Decode the H->count records of RAW[0..H->raw_len) into EV: false when they are malformed
 * (a varint cut or too long, a head byte no writer makes, bytes left over). */
bool ahp_packed_records_decode(const struct ahp_packed_header *h, const uint8_t *raw,
                               struct ahp_event *ev);

/* ---------------------------------------------------------------------------------------
 * Other payloads. Encoders fill P and return the payload length; decoders check LEN.
 */

uint32_t ahp_info_encode(uint8_t p[AHP_INFO_SIZE], const struct ahp_file_info *info,
                         const char *version, const char *host);
/* VERSION (32 bytes) and HOST (64 bytes) may be NULL when not wanted. */
bool ahp_info_decode(const uint8_t *p, uint32_t len, struct ahp_file_info *info, char *version,
                     char *host);

uint32_t ahp_type_encode(uint8_t p[AHP_TYPE_SIZE], int32_t type, const char *name);
/* False also for a type out of 0..AHP_TYPE_MAX-1. */
bool ahp_type_decode(const uint8_t *p, uint32_t len, int32_t *type, char name[AHP_NAME_SIZE]);

uint32_t ahp_snapshot_encode(uint8_t p[AHP_SNAPSHOT_SIZE_MAX], const int64_t *live,
                             uint32_t ntypes);
bool ahp_snapshot_decode(const uint8_t *p, uint32_t len, int64_t live[AHP_TYPE_MAX],
                         uint32_t *ntypes);

/* AS_OF_NS: when the count was read (CLOCK_MONOTONIC); 0: unknown. */
uint32_t ahp_lost_encode(uint8_t p[AHP_LOST_SIZE], uint64_t lost_total, uint64_t as_of_ns);
bool ahp_lost_decode(const uint8_t *p, uint32_t len, uint64_t *lost_total, uint64_t *as_of_ns);

struct ahp_end_info {
    uint64_t end_mono_ns, lost, events;
    uint32_t flags; /* AHP_END_F_* */
    /* Records the decoder dropped because they were handed over a second time. An END of
     * AHP_END_SIZE_MIN bytes does not say: has_resent_records false, resent_records 0. */
    uint64_t resent_records;
    bool has_resent_records; /* decoded only */
};
uint32_t ahp_end_encode(uint8_t p[AHP_END_SIZE], const struct ahp_end_info *e);
bool ahp_end_decode(const uint8_t *p, uint32_t len, struct ahp_end_info *e);

/* At most AHP_STACK_FRAMES_MAX of FRAMES[0..N) are kept. */
uint32_t ahp_stack_encode(uint8_t p[AHP_STACK_SIZE_MAX], uint32_t stack_id,
                          const struct ahp_stack_frame *frames, uint32_t n);
bool ahp_stack_decode(const uint8_t *p, uint32_t len, uint32_t *id,
                      struct ahp_stack_frame frames[AHP_STACK_FRAMES_MAX], uint32_t *n);

/* COUNTERS[0..AHP_TYPE_MAX). */
uint32_t ahp_counters_encode(uint8_t p[AHP_COUNTERS_SIZE],
                             const struct ahp_type_counters *counters);
bool ahp_counters_decode(const uint8_t *p, uint32_t len,
                         struct ahp_type_counters out[AHP_TYPE_MAX]);

uint32_t ahp_kinfo_encode(uint8_t p[AHP_KINFO_SIZE], const struct ahp_kinfo *k);
bool ahp_kinfo_decode(const uint8_t *p, uint32_t len, struct ahp_kinfo *k);

void ahp_krecord_encode(uint8_t p[AHP_KRECORD_SIZE], const struct ahp_krecord *r);
void ahp_krecord_decode(const uint8_t *p, struct ahp_krecord *r);
/* The count and record size at the start of a KRECORDS payload of N records. */
void ahp_krecords_header_encode(uint8_t *p, uint32_t n);
/* The count of a KRECORDS payload P[0..LEN) (record size in *RECSIZE), or -1 when malformed:
 * records smaller than AHP_KRECORD_SIZE or larger than AHP_EVENT_RECORD_MAX, more than
 * AHP_KRECORDS_MAX, or a count that does not fill the payload exactly. */
int64_t ahp_krecords_count(const uint8_t *p, uint32_t len, uint32_t *recsize);

/* A KSTACK payload: u32 id, u32 n, u32 nkernel, then n x {u16 len, bytes}. */
uint32_t ahp_kstack_encode(uint8_t p[AHP_KSTACK_SIZE_MAX], uint32_t id, const char *const *frames,
                           uint32_t n, uint32_t nkernel);
bool ahp_kstack_decode(const uint8_t *p, uint32_t len, uint32_t *id,
                       char frames[AHP_KSTACK_FILE_FRAMES][AHP_KFRAME_SIZE], uint32_t *n,
                       uint32_t *nkernel);

/* A KSTATS payload of the non-empty slots of SLOTS[0..AHP_KSTATS_SLOTS). */
uint32_t ahp_kstats_encode(uint8_t p[AHP_KSTATS_SIZE_MAX], uint64_t as_of_ns,
                           const struct ahp_kstats_slot *slots);
/* False, and OUT untouched, when the payload is malformed: its count and entry size do not
 * fill it, a slot is out of range or given twice. OUT[0..AHP_KSTATS_SLOTS) is all of it:
 * the slots the payload does not name are zeros. */
bool ahp_kstats_decode(const uint8_t *p, uint32_t len, uint64_t *as_of_ns,
                       struct ahp_kstats_slot *out);

struct ahp_exit_info {
    uint32_t how, code; /* enum ahp_exit_how (other values: unknown) */
    bool core_dumped;
    uint64_t exit_mono_ns;
};
uint32_t ahp_exit_encode(uint8_t p[AHP_EXIT_SIZE], const struct ahp_exit_info *x);
bool ahp_exit_decode(const uint8_t *p, uint32_t len, struct ahp_exit_info *x);

uint32_t ahp_exec_encode(uint8_t p[AHP_EXEC_SIZE], uint64_t exec_mono_ns, const char *path);
bool ahp_exec_decode(const uint8_t *p, uint32_t len, uint64_t *exec_mono_ns, char path[256]);

#endif
