/*
 * leak.c - LEAK resources.
 */
#include <stdlib.h>

#include "leak.h"
#include "resources.h"

ah_id_t leak_new(struct leak **list)
{
    struct leak *l = calloc(1, sizeof *l);
    if (!l)
        return AH_ID_NONE;
    AH_CHECK(ah_init(&l->resource, resource_types.leak, 0));
    l->next = *list;
    *list = l;
    return l->resource.id;
}

void leak_free_all(struct leak **list)
{
    while (*list) {
        struct leak *l = *list;
        *list = l->next;
        free(l);
    }
}
