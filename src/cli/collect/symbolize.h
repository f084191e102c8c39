/*
 * symbolize.h - turning user-stack addresses of a traced process into function, file and
 * line, with elfutils' libdwfl. The process's modules are learnt while it is alive; they stay
 * known (the ELF files are read from disk) after it exits, so late events still resolve.
 */
#ifndef AHP_SYMBOLIZE_H
#define AHP_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "data/datafile.h"

struct ahp_symbolizer;

struct ahp_symbolizer *ahp_symbolizer_new(pid_t pid);
void ahp_symbolizer_free(struct ahp_symbolizer *s);

/* (Re)read the process's memory map. Returns 0, or a negative errno (e.g. it exited). */
int ahp_symbolizer_refresh(struct ahp_symbolizer *s);

/* True once a memory map has been read. */
bool ahp_symbolizer_ready(const struct ahp_symbolizer *s);

/* Fill OUT (ip, function, source basename or module, line) for IP. RETURN_ADDRESS: IP is
 * a return address, so the call is the instruction before it. Unknown parts stay empty. */
void ahp_symbolize(struct ahp_symbolizer *s, uint64_t ip, bool return_address,
                   struct ahp_stack_frame *out);

#endif
