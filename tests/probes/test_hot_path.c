/*
 * test_hot_path.c - the untraced event path allocates nothing, takes no lock and makes no
 * system call (include/ah.h, docs/BENCHMARKS.md).
 *
 * This program is linked with the counting interposers of tests/support/callcount.c (their
 * definitions win over libc's for libah, linked statically or as libah.so), which count the
 * calls made by the calling thread. The system-call test runs the event path under seccomp strict
 * mode, where the kernel kills the process on any system call but read, write, _exit and sigreturn.
 * The instruction test disassembles the event functions and looks for atomic
 * read-modify-write instructions.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ah.h"
#include "callcount.h"

#ifndef LIBAH_FILE
#error "LIBAH_FILE must name the file that holds libah's code (the test itself or libah.so)"
#endif

/* ---------------------------------------------------------------------------------------
 * The event path
 */

#define LOOPS 20000 /* crosses several blocks of ids (4096 each) */

static int lifecycles(int type, int loops)
{
    ah_resource_t r = {0}, outer = {0};
    int rc = ah_init(&outer, type, 0);
    rc |= ah_before(&outer);
    for (int i = 0; i < loops; i++) {
        rc |= ah_init(&r, type, 0);
        rc |= ah_before(&r);
        rc |= (ah_execution_id() != r.id);
        rc |= (ah_trigger_id() != outer.id);
        rc |= (ah_execution_resource() != &r);
        rc |= ah_after(&r);
        rc |= ah_resolve(&r);
        rc |= ah_destroy(&r);
    }
    rc |= ah_after(&outer);
    rc |= ah_destroy(&outer);
    return rc;
}

struct counts {
    long first_allocs, first_locks;
    long allocs, frees, locks;
    int rc;
};

/* On a new thread, so that its first event is a real first event. */
static void *count_thread(void *arg)
{
    struct counts *c = arg;
    int type = ah_type("HOT");
    ah_resource_t r = {0};
    callcount_allocs = callcount_frees = callcount_locks = 0;
    c->rc = ah_init(&r, type, 0) | ah_destroy(&r);
    c->first_allocs = callcount_allocs;
    c->first_locks = callcount_locks;
    callcount_allocs = callcount_frees = callcount_locks = 0;
    c->rc |= lifecycles(type, LOOPS);
    c->allocs = callcount_allocs;
    c->frees = callcount_frees;
    c->locks = callcount_locks;
    return NULL;
}

Test(hot_path, no_allocation_or_lock_after_the_first_event_of_a_thread)
{
    struct counts c = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, count_thread, &c), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(c.rc, 0, "the event path failed");
    /* The interposers work: the thread's first event allocates its state and links it. */
    cr_assert_gt(c.first_allocs, 0, "the first event allocated nothing: interposer not used?");
    cr_assert_gt(c.first_locks, 0, "the first event took no lock: interposer not used?");
    cr_expect_eq(c.allocs, 0, "%ld allocations in %d lifecycles", c.allocs, LOOPS);
    cr_expect_eq(c.frees, 0, "%ld frees in %d lifecycles", c.frees, LOOPS);
    cr_expect_eq(c.locks, 0, "%ld mutex locks in %d lifecycles", c.locks, LOOPS);
}

static int hot_type;

/* Runs FN in a child under seccomp strict mode; returns the child's wait status. */
static int run_strict(int (*fn)(void))
{
    int type = hot_type = ah_type("HOT");
    cr_assert_geq(type, 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Warm up: the thread's state is allocated by its first event. */
        ah_resource_t r = {0};
        if (ah_init(&r, type, 0) != 0 || ah_destroy(&r) != 0)
            syscall(SYS_exit, 3);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
            syscall(SYS_exit, 4);
        /* exit_group, what _exit() calls, is not allowed: only the raw exit. */
        syscall(SYS_exit, fn());
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int strict_lifecycles(void)
{
    return lifecycles(hot_type, LOOPS) == 0 ? 0 : 1;
}

static int strict_getpid(void)
{
    return (int)syscall(SYS_getpid) > 0 ? 0 : 1;
}

Test(hot_path, no_system_call)
{
    /* The harness detects a system call... */
    int status = run_strict(strict_getpid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "a system call under seccomp strict mode did not kill the child (status 0x%x)",
              status);
    /* ...and the event path makes none. */
    status = run_strict(strict_lifecycles);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the event path made a system call or failed (status 0x%x)", status);
}

/* ---------------------------------------------------------------------------------------
 * No atomic read-modify-write instruction in the event functions (ah_resolve may: it is at
 * most once per resource and must win against a concurrent destroy).
 */

static char *disassembly(const char *function)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s'", LIBAH_FILE);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap), line[512];
    int in = 0;
    out[0] = 0;
    while (fgets(line, sizeof(line), p)) {
        /* "0000000000002350 <ah_init>:" or "<ah_init@@AH_0.1>:" */
        char *lt = strchr(line, '<');
        if (lt && strstr(line, ">:")) {
            size_t n = strlen(function);
            in = strncmp(lt + 1, function, n) == 0 && (lt[n + 1] == '>' || lt[n + 1] == '@');
            continue;
        }
        if (in) {
            size_t n = strlen(line);
            if (len + n + 1 > cap)
                out = realloc(out, cap *= 2);
            memcpy(out + len, line, n + 1);
            len += n;
        }
    }
    cr_assert_eq(pclose(p), 0, "objdump failed");
    cr_assert_gt(len, 0, "%s not found in %s", function, LIBAH_FILE);
    return out;
}

Test(hot_path, no_atomic_read_modify_write_in_event_functions)
{
    static const char *const functions[] = {"ah_init", "ah_before", "ah_after", "ah_destroy",
                                            "ah_execution_id"};
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        char *text = disassembly(functions[i]);
        for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
            size_t n = strcspn(l, "\n");
            /* lock-prefixed instructions, and xchg with memory (implicitly locked) */
            int rmw = (memmem(l, n, "\tlock ", 6) != NULL) ||
                      (memmem(l, n, "\txchg ", 6) != NULL && memchr(l, '(', n) != NULL);
            cr_expect(!rmw, "%s: atomic read-modify-write: %.*s", functions[i], (int)n, l);
        }
        free(text);
    }
}
