/*
 * jsonw.h - a JSON object writer into a fixed buffer, just enough for log lines and reports:
 * one flat object per line, strings escaped. Output longer than the buffer is cut, and the
 * object still closed.
 */
#ifndef CONTEXT_JSONW_H
#define CONTEXT_JSONW_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct jsonw {
    char buf[2048];
    size_t len;
    int fields;
};

static inline void jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
    /* Room is kept for the closing "}\n". */
    if (w->len + n > sizeof(w->buf) - 3)
        n = sizeof(w->buf) - 3 - w->len;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static inline void jsonw_init(struct jsonw *w)
{
    w->len = 0;
    w->fields = 0;
    jsonw_raw(w, "{", 1);
}

static inline void jsonw_string(struct jsonw *w, const char *s)
{
    jsonw_raw(w, "\"", 1);
    while (*s) {
        /* Runs of characters that need no escape are copied at once: a server logs on its
         * hot path. */
        size_t plain = 0;
        while (s[plain] && s[plain] != '"' && s[plain] != '\\' && (unsigned char)s[plain] >= 0x20)
            plain++;
        jsonw_raw(w, s, plain);
        s += plain;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jsonw_raw(w, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            jsonw_raw(w, esc, 6);
        }
    }
    jsonw_raw(w, "\"", 1);
}

static inline void jsonw_key(struct jsonw *w, const char *key)
{
    if (w->fields++)
        jsonw_raw(w, ",", 1);
    jsonw_string(w, key);
    jsonw_raw(w, ":", 1);
}

/* A string field; NULL writes null. */
static inline void jsonw_str(struct jsonw *w, const char *key, const char *value)
{
    jsonw_key(w, key);
    if (value)
        jsonw_string(w, value);
    else
        jsonw_raw(w, "null", 4);
}

static inline void jsonw_uint(struct jsonw *w, const char *key, uint64_t value)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, value);
    jsonw_key(w, key);
    jsonw_raw(w, num, (size_t)n);
}

/* A field whose value is already JSON (an array built by the caller). */
static inline void jsonw_json(struct jsonw *w, const char *key, const char *json)
{
    jsonw_key(w, key);
    jsonw_raw(w, json, strlen(json));
}

static inline void jsonw_end(struct jsonw *w)
{
    w->buf[w->len++] = '}';
    w->buf[w->len++] = '\n';
    w->buf[w->len] = '\0';
}

#endif
