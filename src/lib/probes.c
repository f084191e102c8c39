/*
 * probes.c - the semaphores of the "ah" USDT probes. The kernel increments a semaphore while
 * a uprobe is attached to its probe (ref_ctr_offset), so they must live in the ".probes"
 * section where tracers look for them.
 */
#include "probes.h"

#define AH_DEFINE_SEMAPHORE(name)                                                                  \
    __attribute__((section(".probes"), visibility("hidden"))) volatile unsigned short              \
    AH_SEMAPHORE(name)

AH_DEFINE_SEMAPHORE(init);
AH_DEFINE_SEMAPHORE(before);
AH_DEFINE_SEMAPHORE(after);
AH_DEFINE_SEMAPHORE(destroy);
AH_DEFINE_SEMAPHORE(resolve);
AH_DEFINE_SEMAPHORE(batch);
