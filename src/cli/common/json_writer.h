/*
 * json_writer.h - ahprof's one JSON writer (top, report, record, errors, the exporters).
 *
 * It streams: it keeps one bit per open level (object or array, empty or not) and a buffer of
 * AHP_JSON_BUFSZ bytes, written to the FILE* when full and whenever a top-level value is
 * complete, so a document of millions of events costs no memory. It
 * places commas and separators itself, escapes every string with the rules of escape.c
 * (whatever bytes come in, the output is ASCII JSON), and never prints a number JSON cannot
 * read (NaN and infinities become null).
 *
 * Errors: the first one is kept (ahp_json_error) and the writer writes nothing more. A write
 * error on stdout is also handed to ahp_stdout_flush/finish (util.h), which check stdout in
 * one place. Misuse (a value where a key belongs, a close that does not match, nesting
 * deeper than AHP_JSON_DEPTH_MAX) is -EINVAL or -E2BIG, never half-valid output that looks
 * whole.
 *
 * A finished top-level value ends its line: several in a row are NDJSON (`top --json`).
 */
#ifndef AHP_JSON_WRITER_H
#define AHP_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Deeper than any document of ahprof's (the report's trigger tree is at most ~520 levels). */
#define AHP_JSON_DEPTH_MAX 1024
/* Small stdio writes cost more than the JSON itself: the writer fills its own buffer. */
#define AHP_JSON_BUFSZ 4096

enum ahp_json_style {
    AHP_JSON_COMPACT, /* {"a":1,"b":[1,2]}: the exports, where size counts */
    AHP_JSON_SPACED,  /* {"a": 1, "b": [1, 2]}: what people read (top, report, record, errors) */
};

struct ahp_json {
    FILE *out;
    int err;
    bool spaced;
    bool after_key;  /* a key was written: its value comes next */
    int line_indent; /* >= 0: the next item or close starts a new line, this indented */
    uint32_t depth;
    uint64_t is_object[AHP_JSON_DEPTH_MAX / 64];
    uint64_t has_items[AHP_JSON_DEPTH_MAX / 64];
    size_t n; /* bytes in buf */
    char buf[AHP_JSON_BUFSZ];
};

void ahp_json_init(struct ahp_json *w, FILE *out, enum ahp_json_style style);

/* 0, or the first error as a negative errno; -EINVAL too when a value is still open. */
int ahp_json_error(const struct ahp_json *w);

/* Write what is buffered to the FILE* (a finished top-level value is, already): for a
 * document that stops half-way, or before writing to the FILE* otherwise. */
void ahp_json_flush(struct ahp_json *w);

void ahp_json_object_begin(struct ahp_json *w);
void ahp_json_object_end(struct ahp_json *w);
void ahp_json_array_begin(struct ahp_json *w);
void ahp_json_array_end(struct ahp_json *w);

/* The next item (or the closing bracket) starts a new line indented by INDENT spaces: only
 * for the eye, and for the tools that read an export line by line. */
void ahp_json_newline(struct ahp_json *w, unsigned indent);

/* A key of the object being written; its value is the next call. */
void ahp_json_key(struct ahp_json *w, const char *key);

/* Strings: S may be anything (untrusted, NULL is ""); it is escaped. STRN reads at most MAX
 * bytes and stops at a NUL; STRF formats first (at most 2047 bytes, the rest cut). */
void ahp_json_str(struct ahp_json *w, const char *s);
void ahp_json_strn(struct ahp_json *w, const char *s, size_t max);
void ahp_json_strf(struct ahp_json *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ahp_json_u64(struct ahp_json *w, uint64_t v);
void ahp_json_i64(struct ahp_json *w, int64_t v);
/* V / 10^DECIMALS, exactly, with DECIMALS (at most 19) digits after the point: 1234567 with 3
 * is 1234.567 (nanoseconds as microseconds, as the trace formats want them). */
void ahp_json_u64_scaled(struct ahp_json *w, uint64_t v, unsigned decimals);
void ahp_json_i64_scaled(struct ahp_json *w, int64_t v, unsigned decimals);
/* A finite V with DECIMALS (at most 17) digits after the point, or when DECIMALS < 0 with 17
 * significant digits (exact round trip); null when V is NaN or infinite. */
void ahp_json_real(struct ahp_json *w, double v, int decimals);
void ahp_json_bool(struct ahp_json *w, bool v);
void ahp_json_null(struct ahp_json *w);

/* KEY and its value in one call. */
void ahp_json_field_str(struct ahp_json *w, const char *key, const char *s);
void ahp_json_field_strn(struct ahp_json *w, const char *key, const char *s, size_t max);
void ahp_json_field_u64(struct ahp_json *w, const char *key, uint64_t v);
void ahp_json_field_i64(struct ahp_json *w, const char *key, int64_t v);
void ahp_json_field_real(struct ahp_json *w, const char *key, double v, int decimals);
void ahp_json_field_bool(struct ahp_json *w, const char *key, bool v);
void ahp_json_field_null(struct ahp_json *w, const char *key);

#endif
