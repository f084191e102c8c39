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
#define AH_REGISTRY_VERSION 3
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

/*
 * One open callback scope of a thread's execution stack (version 3): the part of libah's
 * frame a reader needs, at the start of each frame. Frames lie frame_size bytes apart, the
 * outermost first. The resource's memory is the program's (include/ah.h, ah_resource_t); it
 * stays valid while its scope is open, even when the resource was destroyed inside it.
 */
struct ah_registry_frame {
    uint64_t resource; /* address of the ah_resource_t in scope */
    uint64_t id;
    uint64_t trigger_id;
};

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
    /* A thread's execution stack (version 3), from the address B of its struct
     * ah_registry_thread: the uint64_t at B + stack_offset is the address of its frames, the
     * uint32_t at B + depth_offset their number (the scopes open now). The resource of a
     * frame holds its int32_t type at resource + resource_type_offset. The owning thread
     * writes these with plain stores and no seqlock (it costs the event path nothing): a
     * reader of a running thread must expect a torn view (docs/probes.md). */
    uint64_t stack_offset;
    uint64_t depth_offset;
    uint64_t frame_size;
    uint64_t resource_type_offset;
};

#endif
