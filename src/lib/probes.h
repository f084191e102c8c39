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
#ifndef AH_PROBE_TRAP
#define _SDT_NOP .nops 5
/* The bytes of that nop, as the assembler emits it and as a fork child restores it. */
#define AH_PROBE_NOP5 "\x0f\x1f\x44\x00\x00"
#else
/* Benchmarks only (bench/batch.sh, the "trap" cases): a 1-byte nop at the probe's address,
 * then 4 bytes of nop. The kernel cannot turn that into a jump: every traced hit traps (int3),
 * what a uprobe costs on a kernel without the nop5 optimisation, measured on this one. */
// clang-format off
#define _SDT_NOP nop; .nops 4
// clang-format on
#define AH_PROBE_NOP5 "\x90\x0f\x1f\x40\x00"
#endif
#define AH_PROBE_SITE_SIZE 5

/*
 * sys/sdt.h's probe body, plus the address of every probe site in the section
 * "ah_probe_sites" (read back through __start_/__stop_ symbols). A fork child needs them: the
 * kernel may have turned a traced site into a call to a trampoline page that the child does
 * not inherit (fork.c). The .note.stapsdt entry is sys/sdt.h's own, byte for byte.
 */
/* The spacing inside the macro is assembler text, as in sys/sdt.h. */
// clang-format off
#undef _SDT_ASM_BODY
#define _SDT_ASM_BODY(provider, name, pack_args, args, ...)		      \
  _SDT_DEF_MACROS							      \
  _SDT_ASM_1(990:	_SDT_NOP)					      \
  _SDT_ASM_3(		.pushsection ah_probe_sites,"aw","progbits")	      \
  _SDT_ASM_1(		.balign 8)					      \
  _SDT_ASM_1(		_SDT_ASM_ADDR 990b)				      \
  _SDT_ASM_1(		.popsection)					      \
  _SDT_ASM_3(		.pushsection .note.stapsdt,_SDT_ASM_AUTOGROUP,"note") \
  _SDT_ASM_1(		.balign 4)					      \
  _SDT_ASM_3(		.4byte 992f-991f, 994f-993f, _SDT_NOTE_TYPE)	      \
  _SDT_ASM_1(991:	.asciz _SDT_NOTE_NAME)				      \
  _SDT_ASM_1(992:	.balign 4)					      \
  _SDT_ASM_1(993:	_SDT_ASM_ADDR 990b)				      \
  _SDT_ASM_1(		_SDT_ASM_ADDR _.stapsdt.base)			      \
  _SDT_SEMAPHORE(provider,name)						      \
  _SDT_ASM_STRING(provider)						      \
  _SDT_ASM_STRING(name)							      \
  pack_args args							      \
  _SDT_ASM_SUBSTR(\x00)							      \
  _SDT_UNDEF_MACROS							      \
  _SDT_ASM_1(994:	.balign 4)					      \
  _SDT_ASM_1(		.popsection)
// clang-format on

#define AH_SEMAPHORE(name) ah_##name##_semaphore
#define AH_DECLARE_SEMAPHORE(name)                                                                 \
    extern volatile unsigned short AH_SEMAPHORE(name) __attribute__((visibility("hidden")))

AH_DECLARE_SEMAPHORE(init);
AH_DECLARE_SEMAPHORE(before);
AH_DECLARE_SEMAPHORE(after);
AH_DECLARE_SEMAPHORE(destroy);
AH_DECLARE_SEMAPHORE(resolve);
AH_DECLARE_SEMAPHORE(batch);

/* In a fork child: no probe site may run code the kernel patched for the parent (fork.c). */
void ah__probes_after_fork(void);

#define AH_PROBE_ENABLED(name) __builtin_expect(AH_SEMAPHORE(name) != 0, 0)
/* The batch path: records are appended while a tracer holds ah:batch (batch.c). */
#define AH_BATCHING() AH_PROBE_ENABLED(batch)

#endif
