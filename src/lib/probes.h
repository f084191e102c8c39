/*
 * probes.h - the USDT probes of provider "ah".
 *
 * Every probe site is a 5-byte nop: with the kernel's uprobe nop5 optimisation a traced
 * 5-byte nop becomes a jump into a trampoline instead of an int3 trap, about half the cost
 * per event. Every probe is guarded by its semaphore, which the kernel raises while a
 * tracer is attached, so that an untraced probe costs one predictable branch and its
 * arguments are never computed. The contract (names, arguments) is in docs/probes.md.
 */
#ifndef AH_PROBES_H
#define AH_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* sys/sdt.h emits a 1-byte "nop"; we want one 5-byte nop (nopl 0x0(%rax,%rax,1)). */
#undef _SDT_NOP
#define _SDT_NOP .nops 5

#define AH_SEMAPHORE(name) ah_##name##_semaphore
#define AH_DECLARE_SEMAPHORE(name)                                                                 \
    extern volatile unsigned short AH_SEMAPHORE(name) __attribute__((visibility("hidden")))

AH_DECLARE_SEMAPHORE(init);
AH_DECLARE_SEMAPHORE(before);
AH_DECLARE_SEMAPHORE(after);
AH_DECLARE_SEMAPHORE(destroy);
AH_DECLARE_SEMAPHORE(resolve);
AH_DECLARE_SEMAPHORE(batch);

#define AH_PROBE_ENABLED(name) __builtin_expect(AH_SEMAPHORE(name) != 0, 0)
/* The batch path: records are appended while a tracer holds ah:batch (batch.c). */
#define AH_BATCHING() AH_PROBE_ENABLED(batch)

#endif
