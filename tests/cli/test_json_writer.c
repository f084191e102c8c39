/* test_json_writer.c - ahprof's one JSON writer (src/cli/common/json_writer.c): what it writes
 * is read back with json-c, strictly; nesting, separators, escaping of every byte, numbers at
 * their limits, and the first error kept (a full disk, a closed pipe, misuse). */
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json_writer.h"
#include "common/util.h"

/* A writer into memory: begin, write, then text() closes the stream and returns the bytes. */
struct mem {
    char *buf;
    size_t len;
    FILE *f;
    struct ahp_json w;
};

static void mem_open(struct mem *m, enum ahp_json_style style)
{
    memset(m, 0, sizeof(*m));
    m->f = open_memstream(&m->buf, &m->len);
    cr_assert_not_null(m->f);
    ahp_json_init(&m->w, m->f, style);
}

static const char *text(struct mem *m)
{
    cr_assert_eq(fclose(m->f), 0);
    m->f = NULL;
    return m->buf;
}

/* TEXT as one JSON value (strict RFC 8259: json-c's strict mode, plus no raw control bytes and
 * nothing but white space after it), up to DEPTH levels deep; NULL when it is not one. */
static json_object *jparse_depth(const char *text, int depth)
{
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c >= 0x7f || ((unsigned char)*c < 0x20 && *c != '\n'))
            return NULL; /* the writer's output is printable ASCII whatever went in */
    json_tokener *tok = json_tokener_new_ex(depth);
    cr_assert_not_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    size_t len = strlen(text);
    json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    size_t end = json_tokener_get_parse_end(tok);
    bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                 strspn(text + end, " \t\r\n") == len - end;
    json_tokener_free(tok);
    if (!whole) {
        json_object_put(doc);
        return NULL;
    }
    return doc;
}

static json_object *jparse(const char *text)
{
    return jparse_depth(text, 64);
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no key %s", key);
    return v;
}

Test(json_writer, nesting_and_separators_in_both_styles)
{
    static const char *const want[] = {
        "{\"a\":1,\"list\":[true,false,null,[],{}],\"o\":{\"s\":\"x\",\"n\":[[1],[2,3]]}}\n",
        "{\"a\": 1, \"list\": [true, false, null, [], {}], \"o\": {\"s\": \"x\", \"n\": [[1], [2, "
        "3]]}}\n",
    };
    for (int style = 0; style < 2; style++) {
        struct mem m;
        mem_open(&m, style == 0 ? AHP_JSON_COMPACT : AHP_JSON_SPACED);
        struct ahp_json *w = &m.w;
        ahp_json_object_begin(w);
        ahp_json_field_u64(w, "a", 1);
        ahp_json_key(w, "list");
        ahp_json_array_begin(w);
        ahp_json_bool(w, true);
        ahp_json_bool(w, false);
        ahp_json_null(w);
        ahp_json_array_begin(w);
        ahp_json_array_end(w);
        ahp_json_object_begin(w);
        ahp_json_object_end(w);
        ahp_json_array_end(w);
        ahp_json_key(w, "o");
        ahp_json_object_begin(w);
        ahp_json_field_str(w, "s", "x");
        ahp_json_key(w, "n");
        ahp_json_array_begin(w);
        ahp_json_array_begin(w);
        ahp_json_i64(w, 1);
        ahp_json_array_end(w);
        ahp_json_array_begin(w);
        ahp_json_i64(w, 2);
        ahp_json_u64(w, 3);
        ahp_json_array_end(w);
        ahp_json_array_end(w);
        ahp_json_object_end(w);
        ahp_json_object_end(w);
        cr_assert_eq(ahp_json_error(w), 0);
        const char *t = text(&m);
        cr_assert_str_eq(t, want[style]);
        json_object *doc = jparse(t);
        cr_assert_not_null(doc, "%s", t);
        cr_expect_eq(json_object_array_length(jget(jget(doc, "o"), "n")), 2);
        json_object_put(doc);
        free(m.buf);
    }
}

Test(json_writer, deep_nesting_and_line_breaks)
{
    struct mem m;
    mem_open(&m, AHP_JSON_COMPACT);
    struct ahp_json *w = &m.w;
    /* 600 levels: deeper than the report's trigger tree goes. */
    for (int i = 0; i < 300; i++) {
        ahp_json_object_begin(w);
        ahp_json_field_i64(w, "level", i);
        ahp_json_key(w, "next");
        ahp_json_array_begin(w);
        ahp_json_newline(w, 1);
    }
    ahp_json_str(w, "bottom");
    for (int i = 0; i < 300; i++) {
        ahp_json_array_end(w);
        ahp_json_object_end(w);
    }
    cr_assert_eq(ahp_json_error(w), 0);
    const char *t = text(&m);
    json_object *doc = jparse_depth(t, 1000);
    cr_assert_not_null(doc);
    json_object *o = doc;
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(json_object_get_int(jget(o, "level")), i);
        o = json_object_array_get_idx(jget(o, "next"), 0);
    }
    cr_expect_str_eq(json_object_get_string(o), "bottom");
    json_object_put(doc);
    /* The break goes between the bracket and the item, and before a close when pending. */
    cr_expect_not_null(strstr(t, "\"next\":[\n \"bottom\"]}]}"));
    free(m.buf);

    mem_open(&m, AHP_JSON_SPACED);
    w = &m.w;
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "n", 2);
    ahp_json_newline(w, 1);
    ahp_json_key(w, "items");
    ahp_json_array_begin(w);
    for (int i = 0; i < 2; i++) {
        ahp_json_newline(w, 2);
        ahp_json_u64(w, (uint64_t)i);
    }
    ahp_json_newline(w, 0);
    ahp_json_array_end(w);
    ahp_json_object_end(w);
    cr_assert_str_eq(text(&m), "{\"n\": 2,\n \"items\": [\n  0,\n  1\n]}\n");
    free(m.buf);
}

Test(json_writer, ndjson_one_document_per_line)
{
    struct mem m;
    mem_open(&m, AHP_JSON_SPACED);
    for (int i = 0; i < 3; i++) {
        ahp_json_object_begin(&m.w);
        ahp_json_field_i64(&m.w, "i", i);
        ahp_json_object_end(&m.w);
    }
    cr_assert_eq(ahp_json_error(&m.w), 0);
    cr_assert_str_eq(text(&m), "{\"i\": 0}\n{\"i\": 1}\n{\"i\": 2}\n");
    free(m.buf);
}

/* UTF-8 of U+00XX: what a JSON reader makes of the writer's \u00XX for byte XX. */
static size_t latin1_to_utf8(unsigned char c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = (char)(0xc0 | c >> 6);
    out[1] = (char)(0x80 | (c & 0x3f));
    return 2;
}

Test(json_writer, every_byte_escaped_in_values_and_keys)
{
    char hostile[256];
    for (int i = 1; i < 256; i++)
        hostile[i - 1] = (char)i;
    hostile[255] = '\0';
    char want[600];
    size_t n = 0;
    for (int i = 0; i < 255; i++)
        n += latin1_to_utf8((unsigned char)hostile[i], want + n);
    want[n] = '\0';

    struct mem m;
    mem_open(&m, AHP_JSON_COMPACT);
    struct ahp_json *w = &m.w;
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "value", hostile);
    ahp_json_field_u64(w, hostile, 7); /* a key is escaped too */
    ahp_json_field_strn(w, "bounded", "abc\"def", 4);
    ahp_json_field_strn(w, "nul", "ab\0cd", 5);
    ahp_json_field_str(w, "null", NULL);
    ahp_json_key(w, "formatted");
    ahp_json_strf(w, "%s</script>%d", "\x1b[31m", 42);
    ahp_json_object_end(w);
    cr_assert_eq(ahp_json_error(w), 0);
    const char *t = text(&m);
    /* Markup and control bytes never appear as themselves. */
    cr_expect_null(strpbrk(t, "<>&\x1b"));
    json_object *doc = jparse(t);
    cr_assert_not_null(doc, "%s", t);
    cr_expect_str_eq(json_object_get_string(jget(doc, "value")), want);
    cr_expect_eq(json_object_get_int(jget(doc, want)), 7);
    cr_expect_str_eq(json_object_get_string(jget(doc, "bounded")), "abc\"");
    cr_expect_str_eq(json_object_get_string(jget(doc, "nul")), "ab");
    cr_expect_str_eq(json_object_get_string(jget(doc, "null")), "");
    cr_expect_str_eq(json_object_get_string(jget(doc, "formatted")), "\x1b[31m</script>42");
    json_object_put(doc);
    free(m.buf);

    /* Longer than the escaper's buffer, all of it escaped (6 bytes out per byte in). */
    size_t big = 100000;
    char *s = malloc(big + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < big; i++)
        s[i] = i % 3 == 0 ? '\x01' : i % 3 == 1 ? '"' : 'x';
    s[big] = '\0';
    mem_open(&m, AHP_JSON_COMPACT);
    ahp_json_str(&m.w, s);
    cr_assert_eq(ahp_json_error(&m.w), 0);
    doc = jparse(text(&m));
    cr_assert_not_null(doc);
    cr_expect_str_eq(json_object_get_string(doc), s);
    json_object_put(doc);
    free(m.buf);
    free(s);
}

Test(json_writer, numbers_at_their_limits)
{
    struct mem m;
    mem_open(&m, AHP_JSON_COMPACT);
    struct ahp_json *w = &m.w;
    ahp_json_array_begin(w);
    ahp_json_u64(w, UINT64_MAX);
    ahp_json_u64(w, 0);
    ahp_json_i64(w, INT64_MIN);
    ahp_json_i64(w, INT64_MAX);
    ahp_json_i64(w, -1);
    ahp_json_u64_scaled(w, 1234567, 3);
    ahp_json_u64_scaled(w, 5, 3);
    ahp_json_i64_scaled(w, -5, 3);
    ahp_json_i64_scaled(w, INT64_MIN, 3);
    ahp_json_u64_scaled(w, UINT64_MAX, 19);
    ahp_json_u64_scaled(w, 0, 3);
    ahp_json_real(w, NAN, 3);
    ahp_json_real(w, INFINITY, -1);
    ahp_json_real(w, -INFINITY, 1);
    ahp_json_real(w, DBL_MAX, -1);
    ahp_json_real(w, -DBL_MAX, 3);
    ahp_json_real(w, 4.9406564584124654e-324, -1); /* the smallest subnormal */
    ahp_json_real(w, 0.1, -1);
    ahp_json_real(w, 2.5, 1);
    ahp_json_real(w, -0.0, 2);
    ahp_json_array_end(w);
    cr_assert_eq(ahp_json_error(w), 0);
    const char *t = text(&m);
    /* The exact ones, exactly; the doubles are read back below. */
    static const char exact[] =
        "[18446744073709551615,0,-9223372036854775808,9223372036854775807,-1,1234.567,0.005,"
        "-0.005,-9223372036854775.808,1.8446744073709551615,0.000,null,null,null,";
    cr_expect(strncmp(t, exact, strlen(exact)) == 0, "%s", t);
    cr_expect_null(strstr(t, "nan"));
    cr_expect_null(strstr(t, "inf"));
    json_object *doc = jparse(t);
    cr_assert_not_null(doc, "%s", t);
    cr_expect_eq(json_object_get_uint64(json_object_array_get_idx(doc, 0)), UINT64_MAX);
    cr_expect_eq(json_object_get_int64(json_object_array_get_idx(doc, 2)), INT64_MIN);
    cr_expect_eq(json_object_get_int64(json_object_array_get_idx(doc, 3)), INT64_MAX);
    for (int i = 11; i <= 13; i++)
        cr_expect(json_object_is_type(json_object_array_get_idx(doc, i), json_type_null));
    /* %.17g reads back to the same double; fixed decimals of DBL_MAX are all its digits. */
    cr_expect_eq(json_object_get_double(json_object_array_get_idx(doc, 14)), DBL_MAX);
    cr_expect_eq(json_object_get_double(json_object_array_get_idx(doc, 15)), -DBL_MAX);
    cr_expect_eq(json_object_get_double(json_object_array_get_idx(doc, 16)),
                 4.9406564584124654e-324);
    cr_expect_eq(json_object_get_double(json_object_array_get_idx(doc, 17)), 0.1);
    cr_expect_eq(json_object_get_double(json_object_array_get_idx(doc, 18)), 2.5);
    cr_expect_eq(json_object_array_length(doc), 20);
    json_object_put(doc);
    free(m.buf);
}

/* Misuse is an error, and the writer writes nothing after it: what reached the FILE is the
 * document finished before, only. */
static void misuse_case(int which, int want)
{
    struct mem m;
    mem_open(&m, AHP_JSON_COMPACT);
    struct ahp_json *w = &m.w;
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "ok", 1);
    ahp_json_object_end(w);
    ahp_json_object_begin(w);
    switch (which) {
    case 0: /* a value without its key */
        ahp_json_u64(w, 1);
        break;
    case 1: /* a key in an array */
        ahp_json_key(w, "a");
        ahp_json_array_begin(w);
        ahp_json_key(w, "b");
        break;
    case 2: /* a close that does not match */
        ahp_json_array_end(w);
        break;
    case 3: /* two keys in a row */
        ahp_json_key(w, "a");
        ahp_json_key(w, "b");
        break;
    case 4: /* too deep */
        ahp_json_key(w, "a");
        for (int i = 0; i < AHP_JSON_DEPTH_MAX + 5; i++)
            ahp_json_array_begin(w);
        break;
    case 5: /* a close with the key's value missing */
        ahp_json_key(w, "a");
        ahp_json_object_end(w);
        break;
    }
    cr_assert_eq(ahp_json_error(w), want, "case %d: %d", which, ahp_json_error(w));
    ahp_json_object_end(w);
    ahp_json_str(w, "more");
    ahp_json_flush(w);
    cr_expect_eq(ahp_json_error(w), want);
    cr_expect_str_eq(text(&m), "{\"ok\":1}\n", "case %d: the writer went on after its error",
                     which);
    free(m.buf);
}

Test(json_writer, misuse_is_an_error_and_stops_the_output)
{
    for (int i = 0; i < 4; i++)
        misuse_case(i, -EINVAL);
    misuse_case(4, -E2BIG);
    misuse_case(5, -EINVAL);

    /* A document left half-way reaches the FILE when flushed, and is no success. */
    struct mem m;
    mem_open(&m, AHP_JSON_COMPACT);
    ahp_json_object_begin(&m.w);
    ahp_json_field_bool(&m.w, "half", true);
    cr_expect_eq(ahp_json_error(&m.w), -EINVAL);
    ahp_json_flush(&m.w);
    fflush(m.f);
    cr_expect_eq(m.len, strlen("{\"half\":true"));
    ahp_json_object_end(&m.w);
    cr_expect_eq(ahp_json_error(&m.w), 0);
    cr_expect_str_eq(text(&m), "{\"half\":true}\n");
    free(m.buf);
}

/* NDJSON until the first error (each document complete, so only a write error counts). */
static int write_a_lot(FILE *f)
{
    struct ahp_json w;
    ahp_json_init(&w, f, AHP_JSON_COMPACT);
    for (int i = 0; i < 1000000 && ahp_json_error(&w) == 0; i++) {
        ahp_json_object_begin(&w);
        ahp_json_field_str(&w, "s", "a string long enough to fill a pipe buffer soon");
        ahp_json_field_u64(&w, "i", (uint64_t)i);
        ahp_json_object_end(&w);
    }
    return ahp_json_error(&w);
}

Test(json_writer, first_write_error_kept)
{
    FILE *full = fopen("/dev/full", "w");
    cr_assert_not_null(full);
    cr_expect_eq(write_a_lot(full), -ENOSPC);
    fclose(full);

    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    FILE *p = fdopen(fds[1], "w");
    cr_assert_not_null(p);
    cr_expect_eq(write_a_lot(p), -EPIPE);
    fclose(p);
}

/* Standard output is checked in one place (ahp_stdout_flush/finish): a write error the writer
 * met there reaches it with its cause, so that a reader that left (EPIPE) ends quietly even
 * when stdio itself could only say "error" afterwards (here: stdout unbuffered). */
Test(json_writer, stdout_errors_reach_the_one_check)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    cr_assert(dup2(fds[1], STDOUT_FILENO) >= 0);
    close(fds[1]);
    setvbuf(stdout, NULL, _IONBF, 0);
    struct ahp_json w;
    ahp_json_init(&w, stdout, AHP_JSON_SPACED);
    ahp_json_object_begin(&w);
    ahp_json_field_str(&w, "k", "v");
    ahp_json_object_end(&w);
    cr_expect_eq(ahp_json_error(&w), -EPIPE);
    cr_expect_eq(ahp_stdout_flush(), -EPIPE);
    cr_expect_eq(ahp_stdout_finish(AHP_EXIT_OK), AHP_EXIT_OK);
}
