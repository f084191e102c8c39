/*
 * pb.h - a small protocol buffers *writer* for the pprof and Perfetto exports (flame_pprof.c,
 * trace_perfetto.c). Both formats need only varints, fixed64, length-delimited bytes and
 * nested messages, all of which fit in one growable buffer: a nested message is written in
 * place and its length put in front of it when it ends (its bytes are moved by the size of
 * that length, a few bytes; the messages here are small or one level deep).
 *
 * Why not protobuf-c: it would make protoc-c and libprotobuf-c build dependencies of `make`
 * for two write-only messages; this writer has no reader side to get wrong, and
 * tests/flame/fuzz_pb.c checks what it writes against an independent decoder.
 */
#ifndef AHP_PB_H
#define AHP_PB_H

#include <stddef.h>
#include <stdint.h>

/* Nested messages open at once, at most (Perfetto's deepest here is 3). */
#define PB_DEPTH_MAX 8

struct pb {
    uint8_t *buf;
    size_t len, cap;
    size_t open[PB_DEPTH_MAX]; /* where the content of each open message starts */
    unsigned depth;
    int err; /* first error: -ENOMEM, or -EINVAL for unbalanced nesting; then nothing is written */
};

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2 };

void pb_init(struct pb *p);
void pb_free(struct pb *p);
/* Empty it for the next message, keeping its memory (and its error). */
void pb_clear(struct pb *p);

void pb_varint_field(struct pb *p, uint32_t field, uint64_t v);
/* int64 fields are varints of the two's complement (10 bytes when negative). */
void pb_int64_field(struct pb *p, uint32_t field, int64_t v);
void pb_fixed64_field(struct pb *p, uint32_t field, uint64_t v);
void pb_bytes_field(struct pb *p, uint32_t field, const void *data, size_t n);
void pb_str_field(struct pb *p, uint32_t field, const char *s);
/* A packed repeated varint field (proto3's default for repeated scalars). */
void pb_packed_varints(struct pb *p, uint32_t field, const uint64_t *v, size_t n);

/* A nested message: fields written between begin and end are its content. */
void pb_begin(struct pb *p, uint32_t field);
void pb_end(struct pb *p);

/* Bytes a varint of V takes. */
size_t pb_varint_size(uint64_t v);

#endif
