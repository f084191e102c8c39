/*
 * fork.c - the child of a fork() starts untraced, with no probe site patched for its parent.
 *
 * A traced 5-byte-nop probe site is rewritten by the kernel, once hit, into a call to a
 * "[uprobes-trampoline]" page of the traced process. fork() copies the rewritten code but not
 * the trampoline page: a child that runs the site jumps into unmapped memory and dies of
 * SIGSEGV, whatever tracer (ahprof, bpftrace) raised the probe. The child also inherits the
 * parent's semaphores, so it would run the sites although nobody traces it.
 *
 * So the child, before fork() returns in it, lowers every semaphore and puts the original
 * 5-byte nop back at every probe site that does not hold it. Order matters: with the
 * semaphores at 0 first, a tracer attaching to the child meanwhile can only leave the child
 * with less instrumentation than the kernel believes it has, which the kernel tolerates (it
 * checks an instruction before it restores one); never with a trap nobody handles. The child
 * is then a process no tracer has touched: `ahprof top -p CHILD` attaches to it as to any
 * other. The parent is untouched (the child's writes break copy-on-write).
 *
 * Not covered: a child made by a raw clone()/syscall(SYS_fork) runs no pthread_atfork
 * handler. vfork() and posix_spawn() children run no handler either, and need none: they
 * share the parent's memory (and its trampoline) until they exec a fresh image.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "probes.h"

/* The address of every probe site (probes.h), put there by the assembler. */
extern const uint64_t __start_ah_probe_sites[] __attribute__((visibility("hidden")));
extern const uint64_t __stop_ah_probe_sites[] __attribute__((visibility("hidden")));

static uintptr_t page_size;

/* Put the 5-byte nop back at SITE. Text is mapped read-only and private: making it writable
 * for a moment in the (single-threaded) child gives the child its own copy of the page. */
static void restore_site(uint8_t *site)
{
    if (memcmp(site, AH_PROBE_NOP5, AH_PROBE_SITE_SIZE) == 0)
        return;
    uintptr_t start = (uintptr_t)site & ~(page_size - 1);
    uintptr_t end = ((uintptr_t)site + AH_PROBE_SITE_SIZE + page_size - 1) & ~(page_size - 1);
    if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
        return; /* W^X policy: the semaphores at 0 still keep the child off the site */
    memcpy(site, AH_PROBE_NOP5, AH_PROBE_SITE_SIZE);
    mprotect((void *)start, end - start, PROT_READ | PROT_EXEC);
    __builtin___clear_cache((char *)site, (char *)site + AH_PROBE_SITE_SIZE);
}

void ah__probes_after_fork(void)
{
    AH_SEMAPHORE(init) = 0;
    AH_SEMAPHORE(before) = 0;
    AH_SEMAPHORE(after) = 0;
    AH_SEMAPHORE(destroy) = 0;
    AH_SEMAPHORE(resolve) = 0;
    AH_SEMAPHORE(batch) = 0;
    atomic_signal_fence(memory_order_seq_cst);
    for (const uint64_t *site = __start_ah_probe_sites; site < __stop_ah_probe_sites; site++)
        restore_site((uint8_t *)(uintptr_t)*site);
}

static void fork_child(void)
{
    ah__probes_after_fork();
    ah__types_after_fork();
    ah__hooks_after_fork();
    ah__context_after_fork();
    ah__threads_after_fork();
}

static void fork_install(void)
{
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    pthread_atfork(NULL, NULL, fork_child);
}

void ah__fork_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fork_install);
}
