/*
 * ctx_test.h - helpers of the context example tests: a leak check after each test, and
 * reading the flat JSON lines the examples write.
 */
#ifndef CTX_TEST_H
#define CTX_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CTX_LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leak (see above)")
#else
#define CTX_LEAK_CHECK() ((void)0)
#endif

/* Test() followed by a leak check: Criterion ignores the one LeakSanitizer runs at exit. */
#define CTX_TEST(suite, name)                                                                      \
    static void suite##_##name##_body(void);                                                       \
    Test(suite, name, .timeout = 60)                                                               \
    {                                                                                              \
        suite##_##name##_body();                                                                   \
        CTX_LEAK_CHECK();                                                                          \
    }                                                                                              \
    static void suite##_##name##_body(void)

/* The lines of a memory stream, split in place. */
struct lines {
    char *buf;
    size_t size;
    char *line[4096];
    int n;
};

static inline FILE *lines_open(struct lines *l)
{
    memset(l, 0, sizeof(*l));
    FILE *f = open_memstream(&l->buf, &l->size);
    cr_assert_not_null(f);
    return f;
}

static inline void lines_close(struct lines *l, FILE *f)
{
    cr_assert_eq(fclose(f), 0);
    for (char *p = l->buf, *nl; p && *p && l->n < 4096; p = nl + 1) {
        nl = strchr(p, '\n');
        cr_assert_not_null(nl, "unterminated line: %s", p);
        *nl = '\0';
        l->line[l->n++] = p;
    }
}

static inline void lines_free(struct lines *l)
{
    free(l->buf);
}

/*
 * The value of KEY in the flat JSON object LINE, copied to OUT: a string without its
 * quotes (escapes kept as written), or a number, or "null". Returns 0 if KEY is missing.
 */
static inline int json_get(const char *line, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return 0;
    p += strlen(pat);
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && n + 1 < size; p++) {
            if (*p == '\\' && p[1])
                out[n++] = *p++;
            out[n++] = *p;
        }
    } else if (*p == '[') {
        for (int depth = 0; *p && n + 1 < size; p++) {
            out[n++] = *p;
            if (*p == '[')
                depth++;
            else if (*p == ']' && --depth == 0)
                break;
        }
    } else {
        while (*p && *p != ',' && *p != '}' && n + 1 < size)
            out[n++] = *p++;
    }
    out[n] = '\0';
    return 1;
}

static inline unsigned long long json_uint(const char *line, const char *key)
{
    char v[32];
    cr_assert(json_get(line, key, v, sizeof(v)), "no %s in %s", key, line);
    return strtoull(v, NULL, 10);
}

#endif
