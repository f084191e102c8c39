/*
 * registry.h - the part of libah's memory that ahprof reads from outside the process.
 *
 * When ahprof attaches to a running process it must learn what existed before it came:
 * which types are registered and how many resources of each type are alive. libah keeps
 * that in plain memory that ahprof copies with process_vm_readv(2); nothing is announced
 * and the traced process does no extra work. This header is the contract between the two:
 * fixed-width fields only, versioned by AH_REGISTRY_VERSION. See docs/probes.md.
 */
#ifndef AH_REGISTRY_H
#define AH_REGISTRY_H

#include <stdint.h>

#define AH_REGISTRY_MAGIC 0x3176474552484141ull /* "AAHREGv1" little-endian */
#define AH_REGISTRY_VERSION 2
#define AH_REGISTRY_SYMBOL "ah_registry"
#define AH_REGISTRY_TYPE_MAX 256
#define AH_REGISTRY_NAME_SIZE 64

/*
 * Live-resource counts of one thread. Only its thread writes it. SEQ grows by 2 for every
 * init and destroy of that thread and is odd while an update is in progress (a seqlock):
 * the ah:init and ah:destroy probes carry the SEQ value the event leaves behind, so that a
 * reader knows exactly which events a copy of LIVE includes. LIVE counts can be negative on
 * a thread that destroys resources created on another one; their sum over all threads is
 * the number of live resources per type.
 */
struct ah_registry_thread {
    uint64_t seq;
    uint64_t next; /* address of the next block, 0 at the end */
    int32_t tid;
    uint32_t flags; /* AH_REGISTRY_RETIRED for the block of exited threads */
    int64_t live[AH_REGISTRY_TYPE_MAX];
};

#define AH_REGISTRY_RETIRED 1u

struct ah_registry {
    uint64_t magic;
    uint32_t version;
    uint32_t type_max;
    uint64_t generation;   /* even when the list below is stable; +2 per change */
    uint64_t threads;      /* address of the first struct ah_registry_thread */
    uint64_t type_count;   /* types registered; names[0 .. type_count) are valid */
    uint64_t names;        /* address of char[AH_REGISTRY_TYPE_MAX][AH_REGISTRY_NAME_SIZE] */
    uint64_t thread_size;  /* sizeof(struct ah_registry_thread) */
    uint64_t id_next;      /* first id of the next block of ids to be handed out */
    uint64_t batch_offset; /* where a thread's struct ahp_batch (src/contracts/ahprof.h) lies, from
                            * the address of its struct ah_registry_thread */
};

#endif
