/*
 * tracer.c - spans in a context store and W3C traceparent propagation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ah.h"
#include "jsonw.h"
#include "tracer.h"

static ah_store_t *span_store;
static FILE *span_out;
static pthread_mutex_t spans_lock = PTHREAD_MUTEX_INITIALIZER;
static struct span *all_spans; /* every span not freed yet, for tracer_close() */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Random 64-bit numbers: splitmix64 over a per-thread state seeded once from getrandom(), so
 * that a span costs no system call (servers start spans on their hot path). Ids only need to
 * be unique, not secret.
 */
static uint64_t random_u64(void)
{
    static __thread uint64_t state;
    static __thread int seeded;
    if (!seeded) {
        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state))
            state = now_ns() ^ (uintptr_t)&state; /* no entropy: still distinct per thread */
        seeded = 1;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* DIGITS (16 or 32) random lowercase hex digits, never all zeros (the spec makes all-zero
 * ids invalid). */
static void random_hex(char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    int nonzero = 0;
    /* splitmix64's output is a bijection of a state that moves on: at most one more round. */
    while (!nonzero) {
        for (size_t i = 0; i < digits; i += 16) {
            uint64_t x = random_u64();
            nonzero |= x != 0;
            for (size_t j = 0; j < 16; j++, x >>= 4)
                out[i + j] = hex[x & 15];
        }
    }
    out[digits] = '\0';
}

int tracer_open(FILE *out)
{
    span_store = ah_store_new(NULL);
    if (span_store == NULL)
        return -ENOMEM;
    span_out = out;
    return 0;
}

void tracer_close(void)
{
    pthread_mutex_lock(&spans_lock);
    struct span *s = all_spans;
    all_spans = NULL;
    pthread_mutex_unlock(&spans_lock);
    while (s) {
        struct span *next = s->next;
        free(s);
        s = next;
    }
    ah_store_free(span_store);
    span_store = NULL;
}

static struct span *span_new(const char *name, const char *trace_id, const char *parent_id)
{
    struct span *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (trace_id)
        memcpy(s->trace_id, trace_id, TRACE_ID_HEX + 1);
    else
        random_hex(s->trace_id, TRACE_ID_HEX);
    random_hex(s->span_id, SPAN_ID_HEX);
    if (parent_id)
        memcpy(s->parent_id, parent_id, SPAN_ID_HEX + 1);
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->start_ns = now_ns();
    pthread_mutex_lock(&spans_lock);
    s->next = all_spans;
    if (all_spans)
        all_spans->prev = s;
    all_spans = s;
    pthread_mutex_unlock(&spans_lock);
    return s;
}

void span_free(struct span *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&spans_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        all_spans = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&spans_lock);
    free(s);
}

struct span *span_start(const char *name)
{
    const struct span *parent = span_current();
    if (parent == NULL)
        return span_new(name, NULL, NULL);
    return span_new(name, parent->trace_id, parent->span_id);
}

struct span *span_start_remote(const char *name, const char *traceparent)
{
    char trace_id[TRACE_ID_HEX + 1], parent_id[SPAN_ID_HEX + 1];
    if (traceparent == NULL || traceparent_parse(traceparent, trace_id, parent_id) < 0)
        return span_new(name, NULL, NULL);
    return span_new(name, trace_id, parent_id);
}

void span_end(struct span *s)
{
    s->end_ns = now_ns();
    struct jsonw w;
    jsonw_init(&w);
    jsonw_str(&w, "trace_id", s->trace_id);
    jsonw_str(&w, "span_id", s->span_id);
    jsonw_str(&w, "parent_id", s->parent_id[0] ? s->parent_id : NULL);
    jsonw_str(&w, "name", s->name);
    jsonw_uint(&w, "start_ns", s->start_ns);
    jsonw_uint(&w, "end_ns", s->end_ns);
    jsonw_uint(&w, "duration_ns", s->end_ns - s->start_ns);
    jsonw_end(&w);
    fwrite(w.buf, 1, w.len, span_out);
}

void *span_run(struct span *s, void *(*fn)(void *), void *arg)
{
    return ah_store_run(span_store, s, fn, arg);
}

struct span *span_current(void)
{
    return ah_store_get(span_store);
}

int tracer_traceparent(char out[TRACEPARENT_LEN + 1])
{
    const struct span *s = span_current();
    if (s == NULL)
        return -ENOENT;
    snprintf(out, TRACEPARENT_LEN + 1, "00-%s-%s-01", s->trace_id, s->span_id);
    return 0;
}

static int lower_hex(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int traceparent_parse(const char *h, char trace_id[TRACE_ID_HEX + 1],
                      char parent_id[SPAN_ID_HEX + 1])
{
    /* version "00": exactly 55 characters, lowercase hex, ids not all zeros. */
    if (strlen(h) != TRACEPARENT_LEN || strncmp(h, "00-", 3) != 0 || h[35] != '-' || h[52] != '-' ||
        !lower_hex(h + 3, TRACE_ID_HEX) || !lower_hex(h + 36, SPAN_ID_HEX))
        return -EINVAL;
    char flags[3] = {h[53], h[54], 0};
    if (!((flags[0] >= '0' && flags[0] <= '9') || (flags[0] >= 'a' && flags[0] <= 'f')) ||
        !((flags[1] >= '0' && flags[1] <= '9') || (flags[1] >= 'a' && flags[1] <= 'f')))
        return -EINVAL;
    memcpy(trace_id, h + 3, TRACE_ID_HEX);
    trace_id[TRACE_ID_HEX] = '\0';
    memcpy(parent_id, h + 36, SPAN_ID_HEX);
    parent_id[SPAN_ID_HEX] = '\0';
    return 0;
}
