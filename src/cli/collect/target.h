/*
 * target.h - the process ahprof profiles: finding libah in it (shared library or linked into
 * the executable), reading libah's registry from its memory, or launching it.
 */
#ifndef AHP_TARGET_H
#define AHP_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "registry.h"

struct ahp_target {
    pid_t pid;
    int pidfd;                  /* readable when the process exits */
    bool launched;              /* started by ahprof (a child) */
    int gate_fd;                /* launched child waits for a byte here before exec */
    char comm[16];              /* untrusted */
    char exe[PATH_MAX];         /* the program (untrusted for a running process) */
    char lib_path[PATH_MAX];    /* the ELF file with the probes, as ahprof opens it */
    char lib_display[PATH_MAX]; /* the same, as the target sees it (untrusted) */
    uint64_t registry_addr;     /* run-time address of ah_registry, 0 until mapped */
    uint64_t registry_link;     /* link-time address of ah_registry in lib_path */
    bool uses_libuv;            /* a launched program links libuv (seen when libah is not) */
};

struct ahp_snapshot_thread {
    int32_t tid;
    uint64_t seq;
    bool followed;       /* the collector saw this thread's first init/destroy after the snapshot */
    uint64_t batch_addr; /* its struct ahp_batch in the target */
    uint64_t block_addr; /* its struct ah_registry_thread in the target */
};

/* What libah's registry said at one instant: live counts and type names. */
struct ahp_snapshot {
    uint64_t taken_ns; /* CLOCK_MONOTONIC before the read started */
    uint32_t type_count;
    int64_t live[AH_REGISTRY_TYPE_MAX];
    char names[AH_REGISTRY_TYPE_MAX][AH_REGISTRY_NAME_SIZE]; /* untrusted bytes, NUL-ended */
    uint32_t nthreads;
    struct ahp_snapshot_thread *threads;
};

/* Find libah in running process PID. -ESRCH: no such process; -ENOENT: it does not use
 * libah; -EACCES: not allowed to read it. */
int ahp_target_open_pid(struct ahp_target *t, pid_t pid);

/* Start ARGV[0] (searched in PATH) stopped before exec, and find the file carrying libah's
 * probes that it will load. The program runs once ahp_target_release() is called. With
 * STDOUT_TO_STDERR, its standard output is ahprof's standard error. With PRELOAD (a path),
 * the program runs with that library preloaded (LD_PRELOAD, before any it already names),
 * which brings libah. -ENOEXEC: no such program; -ENOENT: it will not load libah;
 * -ENOTSUP: PRELOAD given for a static executable. */
int ahp_target_launch(struct ahp_target *t, char *const argv[], bool stdout_to_stderr,
                      const char *preload);
int ahp_target_release(struct ahp_target *t);

/* Locate ah_registry in the target's memory (once libah is mapped). -EAGAIN if not yet. */
int ahp_target_locate_registry(struct ahp_target *t);

/* Copy LEN bytes at ADDR of the target's memory: 0, -EFAULT when not all of it is mapped,
 * -ESRCH when the process is gone. What it copies is untrusted. */
int ahp_target_read_mem(const struct ahp_target *t, uint64_t addr, void *buf, size_t len);

/* The registry's header, checked for its magic, version and thread block size (-EPROTO). */
int ahp_target_read_registry(struct ahp_target *t, struct ah_registry *reg);

/* Read a consistent snapshot of the registry. Free with ahp_snapshot_free(). */
int ahp_target_snapshot(struct ahp_target *t, struct ahp_snapshot *s);
/* The C library the target runs (rooted path, in OUT), for uprobes on its functions; for a
 * launched target not yet running its program, "libc.so.6" (libbpf searches the usual
 * places). NULL when there is none to be found (a static executable). */
const char *ahp_target_find_libc(struct ahp_target *t, char *out, size_t size);

void ahp_snapshot_free(struct ahp_snapshot *s);

/* Read type names only (types registered after attach whose init the BPF side missed). */
int ahp_target_read_names(struct ahp_target *t, struct ahp_snapshot *s);

void ahp_target_close(struct ahp_target *t);

#endif
