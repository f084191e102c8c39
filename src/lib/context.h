/*
 * context.h - context frames of the context storage (AsyncLocalStorage for C).
 *
 * A frame maps stores to values. It is immutable once published and shared by reference
 * between the thread whose current frame it is, the scopes that saved it and the resources
 * that captured it at init; the last of them to let go frees it. Changing a value makes a
 * new frame (copy on write), so a frame captured earlier never sees a later change.
 *
 * Entries are indexed by the store's slot, a small integer, so that a lookup is one bounds
 * check and one comparison. Slots are reused after ah_store_free(); the generation stored
 * with each value tells a live entry from one left behind by a freed or disabled store.
 */
#ifndef AH_CONTEXT_H
#define AH_CONTEXT_H

#include <stdint.h>

struct ah_context_entry {
    uint64_t gen; /* generation of the store when the value was set; 0: no value */
    void *value;
};

struct ah_context_frame {
    uint64_t refs;
    uint32_t n; /* entries, up to the highest slot with a value */
    uint32_t reserved;
    struct ah_context_entry e[];
};

struct ah_store {
    uint32_t slot;
    uint64_t gen; /* changed by disable(): values set before it are no longer seen */
    void *default_value;
};

void ah__context_free(struct ah_context_frame *f);

#endif
