/* context.h - context frames of the context storage (AsyncLocalStorage for C). */
#ifndef AH_CONTEXT_H
#define AH_CONTEXT_H

#include <stdint.h>

struct ah_context_frame {
    uint64_t refs;
};

void ah__context_free(struct ah_context_frame *f);

#endif
