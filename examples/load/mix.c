/*
 * mix.c - the request mix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mix.h"

static const char *const kind_names[MIX_KINDS] = {"fast", "work", "sleep", "leak"};

const char *mix_kind_name(enum mix_kind kind)
{
    return kind_names[kind];
}

int mix_parse(struct mix *m, const char *text, char *error, size_t error_size)
{
    memset(m->weight, 0, sizeof m->weight);
    memset(m->current, 0, sizeof m->current);
    m->total = 0;
    const char *p = text;
    while (*p) {
        size_t name_length = strcspn(p, "=,");
        if (p[name_length] != '=') {
            snprintf(error, error_size, "--mix: expected KIND=WEIGHT in '%s'", p);
            return -1;
        }
        int kind = -1;
        for (int k = 0; k < MIX_KINDS; k++)
            if (strlen(kind_names[k]) == name_length && !memcmp(p, kind_names[k], name_length))
                kind = k;
        if (kind < 0) {
            snprintf(error, error_size, "--mix: unknown kind '%.*s' (fast, work, sleep, leak)",
                     (int)name_length, p);
            return -1;
        }
        char *end;
        unsigned long weight = strtoul(p + name_length + 1, &end, 10);
        if (end == p + name_length + 1 || (*end && *end != ',') || weight > 1000000) {
            snprintf(error, error_size, "--mix: bad weight for %s", kind_names[kind]);
            return -1;
        }
        m->total -= m->weight[kind];
        m->weight[kind] = (unsigned)weight;
        m->total += (unsigned)weight;
        p = *end ? end + 1 : end;
    }
    if (m->total == 0) {
        snprintf(error, error_size, "--mix: all weights are 0");
        return -1;
    }
    return 0;
}

enum mix_kind mix_next(struct mix *m)
{
    int best = -1;
    for (int k = 0; k < MIX_KINDS; k++) {
        if (!m->weight[k])
            continue;
        m->current[k] += m->weight[k];
        if (best < 0 || m->current[k] > m->current[best])
            best = k;
    }
    m->current[best] -= m->total;
    return (enum mix_kind)best;
}

size_t mix_request(const struct mix *m, enum mix_kind kind, char *buffer, size_t size)
{
    int n;
    switch (kind) {
    case MIX_WORK:
        n = snprintf(buffer, size, "GET /work?ms=%u\n", m->work_ms);
        break;
    case MIX_SLEEP:
        n = snprintf(buffer, size, "GET /sleep?ms=%u\n", m->sleep_ms);
        break;
    case MIX_LEAK:
        n = snprintf(buffer, size, "GET /leak\n");
        break;
    default:
        n = snprintf(buffer, size, "GET /fast\n");
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}
