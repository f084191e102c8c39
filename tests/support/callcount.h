/*
 * callcount.h - counting interposers of malloc & co., free and pthread_mutex_lock/trylock:
 * linked into a test program (its definitions win over libc's, for libah linked statically or
 * as libah.so) or into a preloaded library, they count the calls of each thread. Used to show
 * that an event path allocates nothing and takes no lock (tests/probes/test_hot_path.c,
 * tests/uv/countcalls.c).
 */
#ifndef AHP_TEST_CALLCOUNT_H
#define AHP_TEST_CALLCOUNT_H

/* The calling thread's calls since it started (or since the caller set them to 0): per
 * thread, so that the runner's own threads do not disturb the figures. */
/* initial-exec: a preloaded library's counters in the static TLS block, so that reaching them
 * from inside malloc never calls __tls_get_addr, which may allocate. */
#define CALLCOUNT_TLS __thread __attribute__((tls_model("initial-exec")))
extern CALLCOUNT_TLS long callcount_allocs, callcount_frees, callcount_locks;

#endif
