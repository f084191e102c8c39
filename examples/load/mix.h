/*
 * mix.h - which request a load connection sends next.
 *
 * The kinds are interleaved by smooth weighted round-robin (nginx's algorithm), not drawn at
 * random: with weights fast=80,work=10,sleep=10, every 100 consecutive requests hold exactly
 * 80, 10 and 10 of each kind, so a run of --requests N has known per-kind counts.
 */
#ifndef LOAD_MIX_H
#define LOAD_MIX_H

#include <stddef.h>

enum mix_kind { MIX_FAST, MIX_WORK, MIX_SLEEP, MIX_LEAK, MIX_KINDS };

struct mix {
    unsigned weight[MIX_KINDS];
    long current[MIX_KINDS];
    unsigned total;
    unsigned work_ms;
    unsigned sleep_ms;
};

/* Parse "fast=80,work=10,sleep=10,leak=0" (kinds left out weigh 0). Returns 0, or -1 with a
 * message in ERROR. */
int mix_parse(struct mix *m, const char *text, char *error, size_t error_size);

enum mix_kind mix_next(struct mix *m);

/* The request line for KIND, newline included; returns its length. */
size_t mix_request(const struct mix *m, enum mix_kind kind, char *buffer, size_t size);

/* The word a successful response carries after "200 ": "fast", "work", ... */
const char *mix_kind_name(enum mix_kind kind);

#endif
