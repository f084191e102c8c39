/* json_writer.c - the streaming JSON writer (json_writer.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "common/escape.h"
#include "common/json_writer.h"
#include "common/util.h"

static bool bit(const uint64_t *set, uint32_t i)
{
    return (set[i / 64] >> (i % 64)) & 1;
}

static void set_bit(uint64_t *set, uint32_t i, bool v)
{
    if (v)
        set[i / 64] |= 1ull << (i % 64);
    else
        set[i / 64] &= ~(1ull << (i % 64));
}

static void fail(struct ahp_json *w, int err)
{
    if (w->err != 0)
        return;
    w->err = err;
    /* stdout is checked in one place; it must learn the real cause (EPIPE ends quietly). */
    if (w->out == stdout && err != -EINVAL && err != -E2BIG)
        ahp_stdout_error(-err);
}

void ahp_json_flush(struct ahp_json *w)
{
    if (w->err == 0 && w->n > 0 && fwrite(w->buf, 1, w->n, w->out) != w->n)
        fail(w, errno > 0 ? -errno : -EIO);
    w->n = 0;
}

/* Room for N more bytes in the buffer (N <= AHP_JSON_BUFSZ). */
static bool reserve(struct ahp_json *w, size_t n)
{
    if (AHP_JSON_BUFSZ - w->n < n)
        ahp_json_flush(w);
    return w->err == 0;
}

static void put(struct ahp_json *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->n, s, n);
    w->n += n;
}

static void put_newline(struct ahp_json *w)
{
    static const char spaces[] = "\n                                ";
    size_t n = 1 + (size_t)w->line_indent;
    put(w, spaces, n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1);
    w->line_indent = -1;
}

/* Before a key (IS_KEY) or a value: the separator from the previous item. False when nothing
 * may be written. */
static bool item(struct ahp_json *w, bool is_key)
{
    if (w->err != 0)
        return false;
    if (w->after_key) {
        if (is_key) {
            fail(w, -EINVAL);
            return false;
        }
        w->after_key = false;
        return true;
    }
    uint32_t d = w->depth;
    if (d == 0) { /* each top-level value is a document of its own */
        if (is_key)
            fail(w, -EINVAL);
        return w->err == 0;
    }
    if (bit(w->is_object, d) != is_key) { /* a value without its key, or a key in an array */
        fail(w, -EINVAL);
        return false;
    }
    bool more = bit(w->has_items, d);
    if (more)
        put(w, ",", 1);
    if (w->line_indent >= 0)
        put_newline(w);
    else if (more && w->spaced)
        put(w, " ", 1);
    set_bit(w->has_items, d, true);
    return w->err == 0;
}

/* After a whole value: one at the top ends its line, and goes out. */
static void value_done(struct ahp_json *w)
{
    if (w->depth == 0) {
        put(w, "\n", 1);
        ahp_json_flush(w);
    }
}

void ahp_json_init(struct ahp_json *w, FILE *out, enum ahp_json_style style)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->spaced = style == AHP_JSON_SPACED;
    w->line_indent = -1;
}

int ahp_json_error(const struct ahp_json *w)
{
    if (w->err != 0)
        return w->err;
    return w->depth != 0 || w->after_key ? -EINVAL : 0;
}

static void open_level(struct ahp_json *w, bool object)
{
    if (!item(w, false))
        return;
    if (w->depth + 1 >= AHP_JSON_DEPTH_MAX) {
        fail(w, -E2BIG);
        return;
    }
    put(w, object ? "{" : "[", 1);
    w->depth++;
    set_bit(w->is_object, w->depth, object);
    set_bit(w->has_items, w->depth, false);
}

static void close_level(struct ahp_json *w, bool object)
{
    if (w->err != 0)
        return;
    if (w->depth == 0 || w->after_key || bit(w->is_object, w->depth) != object) {
        fail(w, -EINVAL);
        return;
    }
    if (w->line_indent >= 0)
        put_newline(w);
    put(w, object ? "}" : "]", 1);
    w->depth--;
    value_done(w);
}

void ahp_json_object_begin(struct ahp_json *w)
{
    open_level(w, true);
}

void ahp_json_object_end(struct ahp_json *w)
{
    close_level(w, true);
}

void ahp_json_array_begin(struct ahp_json *w)
{
    open_level(w, false);
}

void ahp_json_array_end(struct ahp_json *w)
{
    close_level(w, false);
}

void ahp_json_newline(struct ahp_json *w, unsigned indent)
{
    w->line_indent = indent < 32 ? (int)indent : 32;
}

/* S escaped, in quotes. */
static void string(struct ahp_json *w, const char *s, size_t max)
{
    if (s == NULL)
        s = "";
    put(w, "\"", 1);
    for (size_t i = 0; w->err == 0;) {
        size_t used;
        w->n += ahp_json_escape(w->buf + w->n, AHP_JSON_BUFSZ - w->n, s + i, max - i, &used);
        i += used;
        if (i == max || s[i] == '\0')
            break;
        ahp_json_flush(w); /* full: an escape did not fit */
    }
    put(w, "\"", 1);
}

void ahp_json_key(struct ahp_json *w, const char *key)
{
    if (!item(w, true))
        return;
    string(w, key, SIZE_MAX);
    put(w, w->spaced ? ": " : ":", w->spaced ? 2 : 1);
    w->after_key = true;
}

void ahp_json_strn(struct ahp_json *w, const char *s, size_t max)
{
    if (!item(w, false))
        return;
    string(w, s, max);
    value_done(w);
}

void ahp_json_str(struct ahp_json *w, const char *s)
{
    ahp_json_strn(w, s, SIZE_MAX);
}

void ahp_json_strf(struct ahp_json *w, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ahp_json_strn(w, n < 0 ? "" : buf, sizeof(buf));
}

/* The digits of V, ending at END (exclusive), at least MIN_DIGITS of them. */
static char *digits(char *end, uint64_t v, unsigned min_digits)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || (unsigned)(end - p) < min_digits);
    return p;
}

static void number(struct ahp_json *w, bool negative, uint64_t magnitude, unsigned decimals)
{
    if (!item(w, false))
        return;
    char buf[48], *end = buf + sizeof(buf);
    if (decimals > 19)
        decimals = 19;
    char *p = digits(end, magnitude, decimals + 1);
    if (decimals > 0) { /* move the integer part left by one to make room for the point */
        char *point = end - decimals;
        memmove(p - 1, p, (size_t)(point - p));
        p--;
        point[-1] = '.';
    }
    if (negative)
        *--p = '-';
    put(w, p, (size_t)(end - p));
    value_done(w);
}

void ahp_json_u64(struct ahp_json *w, uint64_t v)
{
    number(w, false, v, 0);
}

void ahp_json_i64(struct ahp_json *w, int64_t v)
{
    /* The magnitude in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    number(w, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 0);
}

void ahp_json_u64_scaled(struct ahp_json *w, uint64_t v, unsigned decimals)
{
    number(w, false, v, decimals);
}

void ahp_json_i64_scaled(struct ahp_json *w, int64_t v, unsigned decimals)
{
    number(w, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, decimals);
}

void ahp_json_real(struct ahp_json *w, double v, int decimals)
{
    if (!isfinite(v)) {
        ahp_json_null(w);
        return;
    }
    if (!item(w, false))
        return;
    /* The C locale's point (ahprof never calls setlocale); %.17g may give "1e+300", which
     * JSON reads. Up to 309 digits before the point with %f. */
    char buf[400];
    int n = decimals < 0 ? snprintf(buf, sizeof(buf), "%.17g", v)
                         : snprintf(buf, sizeof(buf), "%.*f", decimals > 17 ? 17 : decimals, v);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        fail(w, -EINVAL);
        return;
    }
    put(w, buf, (size_t)n);
    value_done(w);
}

void ahp_json_bool(struct ahp_json *w, bool v)
{
    if (!item(w, false))
        return;
    put(w, v ? "true" : "false", v ? 4 : 5);
    value_done(w);
}

void ahp_json_null(struct ahp_json *w)
{
    if (!item(w, false))
        return;
    put(w, "null", 4);
    value_done(w);
}

void ahp_json_field_str(struct ahp_json *w, const char *key, const char *s)
{
    ahp_json_key(w, key);
    ahp_json_str(w, s);
}

void ahp_json_field_strn(struct ahp_json *w, const char *key, const char *s, size_t max)
{
    ahp_json_key(w, key);
    ahp_json_strn(w, s, max);
}

void ahp_json_field_u64(struct ahp_json *w, const char *key, uint64_t v)
{
    ahp_json_key(w, key);
    ahp_json_u64(w, v);
}

void ahp_json_field_i64(struct ahp_json *w, const char *key, int64_t v)
{
    ahp_json_key(w, key);
    ahp_json_i64(w, v);
}

void ahp_json_field_real(struct ahp_json *w, const char *key, double v, int decimals)
{
    ahp_json_key(w, key);
    ahp_json_real(w, v, decimals);
}

void ahp_json_field_bool(struct ahp_json *w, const char *key, bool v)
{
    ahp_json_key(w, key);
    ahp_json_bool(w, v);
}

void ahp_json_field_null(struct ahp_json *w, const char *key)
{
    ahp_json_key(w, key);
    ahp_json_null(w);
}
