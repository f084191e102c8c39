/* hashmap.c - the one hash map of ahprof's userspace: see hashmap.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

#define CAP_MIN 16

/* murmur3's 64-bit finalizer: every key bit reaches the low bits (the home slot) and the top
 * seven (the control tag). */
static inline uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static inline uint8_t tag_of(uint64_t h)
{
    return (uint8_t)(0x80 | (h >> 57));
}

static inline uint64_t *key_at(const struct ahp_hmap *m, size_t i)
{
    return &m->keys[i];
}

static inline void *val_at(const struct ahp_hmap *m, size_t i)
{
    return m->vals + i * m->stride;
}

/* Move the entry in slot FROM to slot TO (of the same table or another one of its kind). */
static inline void move(const struct ahp_hmap *to_m, size_t to, const struct ahp_hmap *m,
                        size_t from)
{
    to_m->ctrl[to] = m->ctrl[from];
    to_m->keys[to] = m->keys[from];
    uint64_t *d = val_at(to_m, to);
    const uint64_t *sv = val_at(m, from);
    for (size_t k = 0; k < m->stride / 8; k++)
        d[k] = sv[k];
}

void ahp_hmap_init(struct ahp_hmap *m, size_t vsize, size_t max_entries)
{
    memset(m, 0, sizeof(*m));
    m->vsize = vsize;
    /* Values rounded up to 8 bytes: they stay 8-byte aligned. */
    m->stride = (vsize + 7) & ~(size_t)7;
    m->max = max_entries != 0 ? max_entries : SIZE_MAX;
}

void ahp_hmap_free(struct ahp_hmap *m)
{
    free(m->ctrl);
    free(m->keys);
    free(m->vals);
    ahp_hmap_init(m, m->vsize, m->max == SIZE_MAX ? 0 : m->max);
}

/* The slot of KEY (H its mix), or the empty slot that ends its probe run (ctrl 0) when it
 * is absent: where it would go. */
static size_t probe(const struct ahp_hmap *m, uint64_t key, uint64_t h)
{
    uint8_t tag = tag_of(h);
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (; m->ctrl[i] != 0; i = (i + 1) & mask)
        if (m->ctrl[i] == tag && *key_at(m, i) == key)
            break;
    return i;
}

/* The first empty slot from home slot H & (cap - 1) on: where a new entry goes. */
static size_t free_slot(const struct ahp_hmap *m, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->ctrl[i] != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow(struct ahp_hmap *m)
{
    size_t cap = m->cap == 0 ? CAP_MIN : m->cap * 2;
    if (cap < m->cap || cap > SIZE_MAX / (m->stride + sizeof(uint64_t)))
        return -ENOMEM;
    struct ahp_hmap nm = *m;
    nm.cap = cap;
    nm.ctrl = calloc(cap, 1);
    nm.keys = malloc(cap * sizeof(uint64_t));
    nm.vals = malloc(cap * m->stride + 1); /* + 1: never malloc(0), whose NULL is ambiguous */
    if (nm.ctrl == NULL || nm.keys == NULL || nm.vals == NULL) {
        free(nm.ctrl);
        free(nm.keys);
        free(nm.vals);
        return -ENOMEM;
    }
    for (size_t j = 0; j < m->cap; j++)
        if (m->ctrl[j] != 0)
            move(&nm, free_slot(&nm, mix(m->keys[j])), m, j);
    free(m->ctrl);
    free(m->keys);
    free(m->vals);
    *m = nm;
    return 0;
}

/* Whether one more entry would fill the table beyond 7/10 (written so as not to overflow). */
static bool too_full(const struct ahp_hmap *m)
{
    return m->cap == 0 || m->n + 1 > m->cap / 10 * 7 + m->cap % 10 * 7 / 10;
}

static void *insert_at(struct ahp_hmap *m, size_t i, uint64_t key, uint8_t tag)
{
    m->ctrl[i] = tag;
    *key_at(m, i) = key;
    uint64_t *v = val_at(m, i);
    for (size_t k = 0; k < m->stride / 8; k++)
        v[k] = 0;
    m->n++;
    return v;
}

void *ahp_hmap_get(const struct ahp_hmap *m, uint64_t key)
{
    if (m->n == 0)
        return NULL;
    size_t i = probe(m, key, mix(key));
    return m->ctrl[i] != 0 ? val_at(m, i) : NULL;
}

int ahp_hmap_put(struct ahp_hmap *m, uint64_t key, void **val)
{
    *val = NULL;
    uint64_t h = mix(key);
    size_t i = 0;
    if (m->cap != 0) {
        i = probe(m, key, h);
        if (m->ctrl[i] != 0) {
            *val = val_at(m, i);
            return 0;
        }
    }
    if (m->n >= m->max)
        return -ENOSPC;
    if (too_full(m)) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
        i = free_slot(m, h);
    }
    *val = insert_at(m, i, key, tag_of(h));
    return 1;
}

bool ahp_hmap_del(struct ahp_hmap *m, uint64_t key)
{
    if (m->n == 0)
        return false;
    size_t hole = probe(m, key, mix(key));
    if (m->ctrl[hole] == 0)
        return false;
    /* Entries after the hole in the same run move back into it when their home slot allows
     * it (is not cyclically within (hole, j]), so that no probe run is broken. */
    size_t mask = m->cap - 1;
    for (size_t j = (hole + 1) & mask; m->ctrl[j] != 0; j = (j + 1) & mask) {
        size_t home = (size_t)mix(*key_at(m, j)) & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            move(m, hole, m, j);
            hole = j;
        }
    }
    m->ctrl[hole] = 0;
    m->n--;
    return true;
}

void *ahp_hmap_next(const struct ahp_hmap *m, size_t *pos, uint64_t *key)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->ctrl[i] == 0)
            continue;
        *pos = i + 1;
        if (key != NULL)
            *key = *key_at(m, i);
        return val_at(m, i);
    }
    *pos = m->cap;
    return NULL;
}

void *ahp_hmap_find(const struct ahp_hmap *m, uint64_t hash,
                    bool (*eq)(const void *ctx, const void *val), const void *ctx)
{
    if (m->n == 0)
        return NULL;
    uint64_t h = mix(hash);
    uint8_t tag = tag_of(h);
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask; m->ctrl[i] != 0; i = (i + 1) & mask)
        if (m->ctrl[i] == tag && *key_at(m, i) == hash && eq(ctx, val_at(m, i)))
            return val_at(m, i);
    return NULL;
}

int ahp_hmap_add(struct ahp_hmap *m, uint64_t hash, void **val)
{
    *val = NULL;
    if (m->n >= m->max)
        return -ENOSPC;
    if (too_full(m)) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
    }
    uint64_t h = mix(hash);
    *val = insert_at(m, free_slot(m, h), hash, tag_of(h));
    return 0;
}

uint64_t ahp_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

uint64_t ahp_hash_str(uint64_t h, const char *s)
{
    return ahp_hash_bytes(h, s, strlen(s) + 1);
}
