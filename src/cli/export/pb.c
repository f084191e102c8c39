/* pb.c - the protocol buffers writer of pb.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export/pb.h"

void pb_init(struct pb *p)
{
    memset(p, 0, sizeof(*p));
}

void pb_free(struct pb *p)
{
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

void pb_clear(struct pb *p)
{
    p->len = 0;
    if (p->depth != 0 && p->err == 0)
        p->err = -EINVAL;
    p->depth = 0;
}

size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static int reserve(struct pb *p, size_t more)
{
    if (p->err != 0)
        return p->err;
    if (more > SIZE_MAX / 2 - p->len)
        return p->err = -ENOMEM;
    if (p->len + more <= p->cap)
        return 0;
    size_t cap = p->cap == 0 ? 256 : p->cap;
    while (cap < p->len + more)
        cap *= 2;
    uint8_t *nb = realloc(p->buf, cap);
    if (nb == NULL)
        return p->err = -ENOMEM;
    p->buf = nb;
    p->cap = cap;
    return 0;
}

/* At BUF, which has room for it. */
static size_t put_varint(uint8_t *buf, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (uint8_t)v;
    return n;
}

static void varint(struct pb *p, uint64_t v)
{
    if (reserve(p, 10) == 0)
        p->len += put_varint(p->buf + p->len, v);
}

static void tag(struct pb *p, uint32_t field, unsigned wire)
{
    varint(p, (uint64_t)field << 3 | wire);
}

void pb_varint_field(struct pb *p, uint32_t field, uint64_t v)
{
    tag(p, field, PB_VARINT);
    varint(p, v);
}

void pb_int64_field(struct pb *p, uint32_t field, int64_t v)
{
    pb_varint_field(p, field, (uint64_t)v);
}

void pb_fixed64_field(struct pb *p, uint32_t field, uint64_t v)
{
    tag(p, field, PB_FIXED64);
    if (reserve(p, 8) != 0)
        return;
    for (int i = 0; i < 8; i++)
        p->buf[p->len++] = (uint8_t)(v >> (8 * i));
}

void pb_bytes_field(struct pb *p, uint32_t field, const void *data, size_t n)
{
    tag(p, field, PB_LEN);
    varint(p, n);
    if (n > 0 && reserve(p, n) == 0) {
        memcpy(p->buf + p->len, data, n);
        p->len += n;
    }
}

void pb_str_field(struct pb *p, uint32_t field, const char *s)
{
    pb_bytes_field(p, field, s, strlen(s));
}

void pb_packed_varints(struct pb *p, uint32_t field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += pb_varint_size(v[i]);
    tag(p, field, PB_LEN);
    varint(p, size);
    if (reserve(p, size) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        p->len += put_varint(p->buf + p->len, v[i]);
}

void pb_begin(struct pb *p, uint32_t field)
{
    tag(p, field, PB_LEN);
    if (p->err != 0)
        return;
    if (p->depth == PB_DEPTH_MAX) {
        p->err = -EINVAL;
        return;
    }
    p->open[p->depth++] = p->len;
}

void pb_end(struct pb *p)
{
    if (p->err != 0)
        return;
    if (p->depth == 0) {
        p->err = -EINVAL;
        return;
    }
    size_t start = p->open[--p->depth];
    size_t n = p->len - start, k = pb_varint_size(n);
    if (reserve(p, k) != 0)
        return;
    memmove(p->buf + start + k, p->buf + start, n);
    put_varint(p->buf + start, n);
    p->len += k;
}
