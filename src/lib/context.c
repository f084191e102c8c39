/*
 * context.c - reference counting of context frames (context storage). A frame is shared by
 * every resource created while it was current and freed when the last holder lets it go.
 */
#include <stdlib.h>

#include "internal.h"
#include "context.h"

void ah__context_retain(void *frame)
{
    struct ah_context_frame *f = frame;
    __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED);
}

void ah__context_release(void *frame)
{
    struct ah_context_frame *f = frame;
    if (__atomic_fetch_sub(&f->refs, 1, __ATOMIC_ACQ_REL) == 1)
        ah__context_free(f);
}

void ah__context_free(struct ah_context_frame *f)
{
    free(f);
}
