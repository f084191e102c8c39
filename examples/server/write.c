/*
 * write.c - WRITE resources and their deferred completion.
 */
#include <stdlib.h>
#include <string.h>

#include "resources.h"
#include "write.h"

struct write *write_new(const char *data, size_t length, write_cb cb, void *arg)
{
    struct write *w = calloc(1, sizeof *w + length);
    if (!w)
        return NULL;
    memcpy(w->data, data, length);
    w->length = length;
    w->cb = cb;
    w->arg = arg;
    AH_CHECK(ah_init(&w->resource, resource_types.write, 0));
    return w;
}

static void write_on_complete(struct deferred *d)
{
    struct write *w = AH_CONTAINER_OF(d, struct write, completion);
    AH_CHECK(ah_before(&w->resource));
    w->cb(w->arg, w->status);
    AH_CHECK(ah_after(&w->resource));
    AH_CHECK(ah_destroy(&w->resource));
    free(w);
}

void write_complete(struct loop *loop, struct write *w, int status)
{
    w->status = status;
    loop_defer(loop, &w->completion, write_on_complete);
}
