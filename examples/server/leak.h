/*
 * leak.h - resources of type LEAK, created and never destroyed, to show what a leak looks
 * like to a profiler: live until the process ends, with their trigger chain.
 */
#ifndef SERVER_LEAK_H
#define SERVER_LEAK_H

#include "ah.h"

struct leak {
    ah_resource_t resource;
    struct leak *next;
};

/* Create a LEAK (trigger: the current execution) kept on LIST. Returns its id, 0 when
 * memory is short. */
ah_id_t leak_new(struct leak **list);

/* Free the memory of every leak at exit, without destroying the resources: to libah and a
 * profiler they stay leaked until the process is gone. */
void leak_free_all(struct leak **list);

#endif
