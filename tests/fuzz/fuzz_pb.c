/*
 * fuzz_pb.c - libFuzzer target of the protobuf writer of the pprof and Perfetto exports
 * (src/cli/export/pb.c). The input is a program of writer calls (fields of every kind, nested
 * messages opened and closed at random, up to and past the depth limit); the bytes written
 * are then read back by an independent decoder written here from the wire format
 * specification, which must find exactly the calls made, in order, with canonical varints
 * (shortest form) and lengths that match their contents. ASan+UBSan watch the writer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/pb.h"

#define MAX_OPS 512

enum op_kind { OP_VARINT, OP_INT64, OP_FIXED64, OP_BYTES, OP_PACKED, OP_BEGIN, OP_END };

struct op {
    enum op_kind kind;
    uint32_t field;
    uint64_t v;
    const uint8_t *data; /* OP_BYTES: N bytes; OP_PACKED: N values of 8 bytes, little endian */
    size_t n;
};

static struct op ops[MAX_OPS];
static size_t nops, at;

static __attribute__((noreturn)) void fail(const char *why)
{
    (void)why;
    __builtin_trap();
}

/* The input, consumed from the front. */
struct in {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct in *in, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
        v |= (uint64_t)in->p[0] << (8 * i);
    return v;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Independent decoder. */
static uint64_t read_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        if (*p == end || shift > 63)
            fail("varint runs out");
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                fail("varint not in its shortest form");
            return v;
        }
    }
}

/* Check [P, END) against the ops from AT until the OP_END of this message (or the end). */
static void check(const uint8_t *p, const uint8_t *end, int nested)
{
    while (p < end) {
        if (at == nops)
            fail("more fields than written");
        const struct op *o = &ops[at++];
        if (o->kind == OP_END)
            fail("a field after the end of its message");
        uint64_t tag = read_varint(&p, end);
        if (tag >> 3 != o->field)
            fail("field number");
        unsigned wire = tag & 7;
        switch (o->kind) {
        case OP_VARINT:
        case OP_INT64:
            if (wire != PB_VARINT || read_varint(&p, end) != o->v)
                fail("varint value");
            break;
        case OP_FIXED64:
            if (wire != PB_FIXED64 || end - p < 8 || le64(p) != o->v)
                fail("fixed64 value");
            p += 8;
            break;
        case OP_BYTES: {
            uint64_t n = wire == PB_LEN ? read_varint(&p, end) : UINT64_MAX;
            if (n != o->n || (uint64_t)(end - p) < n || (n > 0 && memcmp(p, o->data, n) != 0))
                fail("bytes");
            p += n;
            break;
        }
        case OP_PACKED: {
            uint64_t n = wire == PB_LEN ? read_varint(&p, end) : UINT64_MAX;
            if ((uint64_t)(end - p) < n)
                fail("packed length");
            const uint8_t *q = p, *qend = p + n;
            for (size_t i = 0; i < o->n; i++)
                if (read_varint(&q, qend) != le64(o->data + 8 * i))
                    fail("packed value");
            if (q != qend)
                fail("packed: bytes left");
            p = qend;
            break;
        }
        case OP_BEGIN: {
            uint64_t n = wire == PB_LEN ? read_varint(&p, end) : UINT64_MAX;
            if ((uint64_t)(end - p) < n)
                fail("message length");
            check(p, p + n, 1);
            p += n;
            break;
        }
        case OP_END:
            break;
        }
    }
    if (nested) {
        if (at == nops || ops[at].kind != OP_END)
            fail("a message ended early");
        at++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct pb p;
    pb_init(&p);
    nops = 0;
    unsigned depth = 0;
    int overflow = 0;
    while (in.n > 0 && nops < MAX_OPS - PB_DEPTH_MAX - 1) {
        struct op *o = &ops[nops];
        uint8_t k = (uint8_t)take(&in, 1);
        memset(o, 0, sizeof(*o));
        o->kind = (enum op_kind)(k % 7);
        /* Field numbers 1 to 2^29 - 1, the small ones most often. */
        uint32_t f = (uint32_t)take(&in, k & 0x80 ? 4 : 1);
        o->field = 1 + f % ((1u << 29) - 1);
        switch (o->kind) {
        case OP_VARINT:
            o->v = take(&in, 1 + (k >> 3) % 8);
            pb_varint_field(&p, o->field, o->v);
            break;
        case OP_INT64: {
            int64_t v = (int64_t)take(&in, 8);
            o->v = (uint64_t)v;
            pb_int64_field(&p, o->field, v);
            break;
        }
        case OP_FIXED64:
            o->v = take(&in, 8);
            pb_fixed64_field(&p, o->field, o->v);
            break;
        case OP_BYTES:
            o->n = take(&in, 1);
            if (o->n > in.n)
                o->n = in.n;
            o->data = in.p;
            in.p += o->n;
            in.n -= o->n;
            pb_bytes_field(&p, o->field, o->data, o->n);
            break;
        case OP_PACKED: {
            o->n = take(&in, 1) % 16;
            if (o->n * 8 > in.n)
                o->n = in.n / 8;
            o->data = in.p;
            uint64_t v[16];
            for (size_t i = 0; i < o->n; i++)
                v[i] = le64(in.p + 8 * i);
            in.p += 8 * o->n;
            in.n -= 8 * o->n;
            pb_packed_varints(&p, o->field, v, o->n);
            if (o->n == 0)
                continue; /* nothing written */
            break;
        }
        case OP_BEGIN:
            if (depth == PB_DEPTH_MAX) {
                /* One level too deep is an error, not a crash: the writer stops. */
                pb_begin(&p, o->field);
                overflow = 1;
                goto done;
            }
            depth++;
            pb_begin(&p, o->field);
            break;
        case OP_END:
            if (depth == 0)
                continue;
            depth--;
            pb_end(&p);
            break;
        }
        nops++;
    }
    while (depth > 0) {
        ops[nops++] = (struct op){.kind = OP_END};
        depth--;
        pb_end(&p);
    }
done:
    if (overflow) {
        if (p.err == 0)
            fail("nesting beyond PB_DEPTH_MAX not refused");
    } else {
        if (p.err != 0)
            fail("error on a valid program");
        at = 0;
        static const uint8_t none[1];
        const uint8_t *b = p.len > 0 ? p.buf : none; /* nothing written: no buffer yet */
        check(b, b + p.len, 0);
        if (at != nops)
            fail("fewer fields than written");
        /* An unbalanced buffer is an error once cleared. */
        pb_begin(&p, 1);
        pb_clear(&p);
        if (p.err == 0)
            fail("clear with a message open");
    }
    pb_free(&p);
    return 0;
}
