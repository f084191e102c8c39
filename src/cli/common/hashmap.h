/*
 * hashmap.h - the one hash map of ahprof's userspace: 64-bit keys to fixed-size values.
 *
 * Open addressing with linear probing over a power-of-two table kept at most 7/10 full.
 * Keys go through a 64-bit mixer (murmur3's finalizer), so sequential ids, tids and packed
 * keys spread as well as random ones. A control byte per slot holds 7 bits of the mixed key:
 * a probe compares keys only when those agree. Deletion shifts the entries that follow back
 * into the hole (no tombstones): a long run of inserts and deletes, resources created and
 * destroyed, stays as fast as the first.
 *
 * Two ways to key it:
 *  - By value: the key is the thing itself (an id, a tid, a packed (parent, label) pair):
 *    ahp_hmap_get(), ahp_hmap_put(), ahp_hmap_del().
 *  - By content (strings, creation sites): the caller keeps the contents in its own array,
 *    and the map stores the content's 64-bit hash as the key and the index as the value.
 *    Several entries may share a hash: ahp_hmap_find() walks those with the hash and asks the
 *    caller's EQ which one holds the content sought; ahp_hmap_add() adds one without looking.
 *    Growing rehashes the stored hashes: the contents are never read again.
 *
 * A value is VSIZE bytes, zeroed when inserted, 8-byte aligned. A pointer to it stays valid
 * until the next insertion or deletion (either may move entries). The table doubles as it
 * fills, up to MAX_ENTRIES (0: as far as memory goes): beyond it an insertion fails with
 * -ENOSPC, and when memory runs out with -ENOMEM, both leaving the map as it was.
 *
 * Not thread-safe; every use in ahprof is single-threaded.
 */
#ifndef AHP_HASHMAP_H
#define AHP_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ahp_hmap {
    uint8_t *ctrl;  /* per slot: 0 empty, else 0x80 | 7 bits of the mixed key */
    uint64_t *keys; /* per slot: the key */
    uint8_t *vals;  /* per slot: the value, in STRIDE bytes (VSIZE rounded up to 8) */
    size_t stride, vsize;
    size_t cap; /* slots, a power of two (0 before the first insertion) */
    size_t n;   /* entries */
    size_t max; /* entries allowed */
};

/* An empty map of VSIZE-byte values holding at most MAX_ENTRIES (0: no limit but memory).
 * Allocates nothing: the first insertion does. */
void ahp_hmap_init(struct ahp_hmap *m, size_t vsize, size_t max_entries);

/* Free the table (not what values point to) and leave an empty map, ready for reuse. */
void ahp_hmap_free(struct ahp_hmap *m);

static inline size_t ahp_hmap_count(const struct ahp_hmap *m)
{
    return m->n;
}

/* The value of KEY, or NULL when it is absent. */
void *ahp_hmap_get(const struct ahp_hmap *m, uint64_t key);

/* The value of KEY in *VAL, inserted zeroed when absent. Returns 1 when inserted, 0 when
 * KEY was there already, -ENOSPC or -ENOMEM (*VAL NULL) when it could not be inserted. */
int ahp_hmap_put(struct ahp_hmap *m, uint64_t key, void **val);

/* Remove KEY; false when it was absent. */
bool ahp_hmap_del(struct ahp_hmap *m, uint64_t key);

/* Iteration, in table order: *POS starts at 0. Returns the next value (its key in *KEY when
 * KEY is not NULL), or NULL at the end. The map must not change during an iteration. */
void *ahp_hmap_next(const struct ahp_hmap *m, size_t *pos, uint64_t *key);

/* By content: the value of the first entry with key HASH for which EQ(CTX, value) is true,
 * or NULL. */
void *ahp_hmap_find(const struct ahp_hmap *m, uint64_t hash,
                    bool (*eq)(const void *ctx, const void *val), const void *ctx);

/* By content: a new entry with key HASH, even when entries with that key exist; its zeroed
 * value in *VAL. 0, -ENOSPC or -ENOMEM (*VAL NULL). */
int ahp_hmap_add(struct ahp_hmap *m, uint64_t hash, void **val);

/* Content hashes: FNV-1a over N bytes of P, continuing from H (start from AHP_HASH_SEED).
 * The map mixes keys itself: FNV's weak low bits do not matter. */
#define AHP_HASH_SEED 0xcbf29ce484222325ull
uint64_t ahp_hash_bytes(uint64_t h, const void *p, size_t n);
/* The same over a NUL-terminated string, its NUL included (so "a" "bc" and "ab" "c" differ). */
uint64_t ahp_hash_str(uint64_t h, const char *s);

#endif
