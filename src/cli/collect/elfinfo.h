/* elfinfo.h - the little ahprof needs to know about the ELF files a target maps. */
#ifndef AHP_ELFINFO_H
#define AHP_ELFINFO_H

#include <stdbool.h>
#include <stdint.h>

/* Non-zero if PATH carries USDT probes (.note.stapsdt) of PROVIDER. */
bool ahp_elf_has_usdt(const char *path, const char *provider);

/* The value (link-time address) of symbol NAME in PATH's .dynsym or .symtab.
 * 0 on success, -ENOENT if absent, another negative errno if PATH is unreadable. */
int ahp_elf_symbol(const char *path, const char *name, uint64_t *value);

/* The load bias of PATH in a process that maps file offset OFFSET at address START:
 * run-time address = link-time address + bias. */
int ahp_elf_load_bias(const char *path, uint64_t start, uint64_t offset, uint64_t *bias);

/* Non-zero if PATH is dynamically linked (has a PT_INTERP program header). */
bool ahp_elf_is_dynamic(const char *path);

#endif
