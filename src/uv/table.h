/*
 * table.h - libah-uv's side state: one entry per libuv handle or request it follows, keyed by
 * the handle's or request's address (the user owns handle->data; we never touch the memory
 * libuv hands out).
 *
 * An open-addressing table of fixed size, reserved once (mmap, pages touched lazily): lookups
 * take no lock and allocate nothing, so that the loop thread and the thread pool (uv_work's
 * work callback) read it freely. Each key belongs to the one thread that drives its loop, so
 * only the claim of a free slot needs an atomic compare-and-swap. A probe sequence is at most
 * UVAH_PROBE_MAX slots long: a handle that finds no free slot there is not followed (counted
 * as UV_UNTRACKED) instead of making every later lookup slow.
 */
#ifndef AH_UV_TABLE_H
#define AH_UV_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ah.h"

/* Slot key states besides a live address. A slot whose key is an address with bit 0 set is
 * "detached": its entry still runs a last callback (close, completion) but the address may
 * already be reused by a new handle or request, which gets another slot. */
#define UVAH_EMPTY ((uintptr_t)0)
#define UVAH_TOMB ((uintptr_t)1)
#define UVAH_DETACHED ((uintptr_t)1)

#define UVAH_PROBE_MAX 64

typedef void (*uvah_fn)(void);

struct uvah_entry {
    ah_resource_t res;
    uvah_fn cb;       /* the user's main callback: timer, read, connection, completion... */
    uvah_fn cb2;      /* alloc_cb of a stream or UDP handle; after_work_cb of uv_work */
    uvah_fn close_cb; /* uv_close's callback */
    ah_id_t trigger;  /* the execution that created it, for an init deferred to its role */
    uint8_t kind;     /* enum uvah_kind */
    bool inited;      /* ah_init done */
    bool closed;      /* uv_close without a callback ran inside one of its callbacks */
    uint16_t in_cb;   /* its callbacks running now (nested uv_run) */
};

struct uvah_table {
    _Atomic uintptr_t *keys;
    struct uvah_entry *entries;
    size_t mask;
};

extern struct uvah_table uvah_table;

int uvah_table_init(size_t slots);

static inline size_t uvah_hash(uintptr_t key)
{
    return (size_t)(((uint64_t)key >> 3) * 0x9e3779b97f4a7c15ull >> 20);
}

static inline struct uvah_entry *uvah_lookup(const void *p)
{
    _Atomic uintptr_t *keys = uvah_table.keys;
    if (keys == NULL || p == NULL)
        return NULL;
    uintptr_t key = (uintptr_t)p;
    size_t mask = uvah_table.mask;
    size_t i = uvah_hash(key) & mask;
    for (int n = 0; n < UVAH_PROBE_MAX; n++, i = (i + 1) & mask) {
        uintptr_t v = atomic_load_explicit(&keys[i], memory_order_acquire);
        if (v == key)
            return &uvah_table.entries[i];
        if (v == UVAH_EMPTY)
            return NULL;
    }
    return NULL;
}

/* A zeroed entry for P. An entry still keyed by P (its handle was re-initialised without
 * uv_close) is handed back in *STALE for the caller to retire; NULL when the table is full
 * around P's slot or was never reserved. */
struct uvah_entry *uvah_insert(const void *p, struct uvah_entry **stale);

static inline size_t uvah_index(const struct uvah_entry *e)
{
    return (size_t)(e - uvah_table.entries);
}

/* Keep the entry but stop finding it by its address (it runs its last callback). */
static inline void uvah_detach(struct uvah_entry *e)
{
    _Atomic uintptr_t *k = &uvah_table.keys[uvah_index(e)];
    atomic_store_explicit(k, atomic_load_explicit(k, memory_order_relaxed) | UVAH_DETACHED,
                          memory_order_release);
}

/* The slot is free again. */
static inline void uvah_release(struct uvah_entry *e)
{
    atomic_store_explicit(&uvah_table.keys[uvah_index(e)], UVAH_TOMB, memory_order_release);
}

#endif
