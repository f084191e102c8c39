/* kreason.c - the name of an off-CPU reason in a kernel record (datafile.h). */
#include <stdio.h>

#include "ahp_syscalls.h" /* generated from <asm/unistd_64.h> by mk/kernel.mk */
#include "data/datafile.h"

const char *ahp_krecord_reason_name(int32_t reason, char buf[32])
{
    if (reason == AHP_KREC_PREEMPTED)
        return "preempted";
    if (reason == AHP_KREC_FAULT)
        return "fault";
    if (reason >= 0 && (size_t)reason < sizeof(ahp_syscall_names) / sizeof(ahp_syscall_names[0]) &&
        ahp_syscall_names[reason] != NULL)
        return ahp_syscall_names[reason];
    snprintf(buf, 32, "syscall#%d", (int)reason);
    return buf;
}
