/* table.c - the side table of libah-uv (table.h). */
#include <string.h>
#include <sys/mman.h>

#include "table.h"

struct uvah_table uvah_table;

int uvah_table_init(size_t slots)
{
    size_t keys_size = slots * sizeof(uintptr_t);
    size_t entries_size = slots * sizeof(struct uvah_entry);
    /* Reserved, not committed: only the pages of slots in use cost memory. */
    void *mem = mmap(NULL, keys_size + entries_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return -1;
    /* Published by the interposer's ready flag (release), which every wrapper reads first. */
    uvah_table.entries = (struct uvah_entry *)((char *)mem + keys_size);
    uvah_table.mask = slots - 1;
    uvah_table.keys = (_Atomic uintptr_t *)mem;
    return 0;
}

struct uvah_entry *uvah_insert(const void *p, struct uvah_entry **stale)
{
    _Atomic uintptr_t *keys = uvah_table.keys;
    *stale = NULL;
    if (keys == NULL || p == NULL)
        return NULL;
    uintptr_t key = (uintptr_t)p;
    size_t mask = uvah_table.mask;
    /* Another loop thread may claim the free slot we saw first: look again, a few times. */
    for (int attempt = 0; attempt < 4; attempt++) {
        size_t i = uvah_hash(key) & mask, free_at = SIZE_MAX;
        uintptr_t free_was = 0;
        for (int n = 0; n < UVAH_PROBE_MAX; n++, i = (i + 1) & mask) {
            uintptr_t v = atomic_load_explicit(&keys[i], memory_order_acquire);
            if (v == key) {
                *stale = &uvah_table.entries[i];
                return NULL;
            }
            if ((v == UVAH_EMPTY || v == UVAH_TOMB) && free_at == SIZE_MAX) {
                free_at = i;
                free_was = v;
            }
            if (v == UVAH_EMPTY)
                break;
        }
        if (free_at == SIZE_MAX)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(&keys[free_at], &free_was, key,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            struct uvah_entry *e = &uvah_table.entries[free_at];
            memset(e, 0, sizeof(*e));
            return e;
        }
    }
    return NULL;
}
