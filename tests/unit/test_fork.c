/*
 * test_fork.c - libah in the child of fork() (src/lib/fork.c): only the forking thread
 * exists there, so the registry keeps the live counts of the others but not their blocks,
 * hooks can be freed without waiting for threads that are not there, and the child starts
 * with every probe semaphore at 0 and every probe site holding its 5-byte nop. Run also under
 * ASan+UBSan and TSan. The traced case (a real tracer, a patched site) is in
 * tests/collector/test_fork.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"
#include "probes.h"

extern const uint64_t __start_ah_probe_sites[] __attribute__((visibility("hidden")));
extern const uint64_t __stop_ah_probe_sites[] __attribute__((visibility("hidden")));

/* Run FN in a fork child; its exit code is the number of failed checks (0: all held). */
static int in_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a child that hangs must not outlive the test */
        _exit(fn(arg));
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

struct holder {
    int type;
    ah_resource_t res[3];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 1: holding, 2: may go */
};

static void *hold_three(void *arg)
{
    struct holder *h = arg;
    for (int i = 0; i < 3; i++)
        ah_init(&h->res[i], h->type, 0);
    pthread_mutex_lock(&h->lock);
    if (h->state == 0)
        h->state = 1;
    pthread_cond_broadcast(&h->cond);
    while (h->state != 2)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < 3; i++)
        ah_destroy(&h->res[i]);
    return NULL;
}

static int registry_in_child(void *arg)
{
    int type = *(int *)arg, failed = 0;
    int64_t live = 0;
    int blocks = 0;
    for (uint64_t a = ah_registry.threads; a != 0 && blocks < 100; blocks++) {
        const struct ah_registry_thread *b = (const void *)(uintptr_t)a;
        live += b->live[type];
        if (!(b->flags & AH_REGISTRY_RETIRED) && b->tid != (int32_t)syscall(SYS_gettid))
            failed++; /* a block of a thread that is not in this process */
        a = b->next;
    }
    failed += blocks != 2;  /* the forking thread and the retired block */
    failed += live != 5;    /* 2 of this thread, 3 of the other one, still in memory */
#ifndef __SANITIZE_THREAD__ /* TSan does not start threads after a multi-threaded fork */
    /* A new thread registers itself: the registry lock works. */
    pthread_t t;
    struct holder h = {.type = type,
                       .lock = PTHREAD_MUTEX_INITIALIZER,
                       .cond = PTHREAD_COND_INITIALIZER,
                       .state = 2};
    failed += pthread_create(&t, NULL, hold_three, &h) != 0;
    pthread_join(t, NULL);
#endif
    return failed;
}

Test(fork, child_keeps_live_counts_not_the_other_threads)
{
    struct holder h = {.type = ah_type("FORK_LIVE"),
                       .lock = PTHREAD_MUTEX_INITIALIZER,
                       .cond = PTHREAD_COND_INITIALIZER};
    ah_resource_t mine[2] = {{0}};
    ah_init(&mine[0], h.type, 0);
    ah_init(&mine[1], h.type, 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, hold_three, &h), 0);
    pthread_mutex_lock(&h.lock);
    while (h.state != 1)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    cr_expect_eq(in_child(registry_in_child, &h.type), 0);
    pthread_mutex_lock(&h.lock);
    h.state = 2;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    pthread_join(t, NULL);
    ah_destroy(&mine[0]);
    ah_destroy(&mine[1]);
}

/* A thread of the parent is inside a hook callback when another forks: in the child, where
 * that thread does not exist, ah_hook_free() must not wait for it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 1: inside the callback, 2: may leave */
} in_hook = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void blocking_init(ah_id_t id, int type, ah_id_t trigger, ah_resource_t *r, void *data)
{
    (void)id, (void)type, (void)trigger, (void)r, (void)data;
    pthread_mutex_lock(&in_hook.lock);
    if (in_hook.state == 0) {
        in_hook.state = 1;
        pthread_cond_broadcast(&in_hook.cond);
        while (in_hook.state != 2)
            pthread_cond_wait(&in_hook.cond, &in_hook.lock);
    }
    pthread_mutex_unlock(&in_hook.lock);
}

static void *init_one(void *arg)
{
    ah_resource_t r = {0};
    ah_init(&r, *(int *)arg, 0);
    ah_destroy(&r);
    return NULL;
}

static int free_hook_in_child(void *arg)
{
    ah_hook_t *hook = arg;
    ah_hook_disable(hook);
    ah_hook_free(hook); /* before the fix: waits forever for the thread left in the callback */
    return 0;
}

Test(fork, hook_free_in_child_does_not_wait_for_absent_threads, .timeout = 20)
{
    ah_hook_callbacks_t cb = {.init = blocking_init};
    ah_hook_t *hook = ah_hook_new(&cb, NULL);
    cr_assert_not_null(hook);
    cr_assert_eq(ah_hook_enable(hook), 0);
    int type = ah_type("FORK_HOOK");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, init_one, &type), 0);
    pthread_mutex_lock(&in_hook.lock);
    while (in_hook.state != 1)
        pthread_cond_wait(&in_hook.cond, &in_hook.lock);
    pthread_mutex_unlock(&in_hook.lock);
    cr_expect_eq(in_child(free_hook_in_child, hook), 0);
    pthread_mutex_lock(&in_hook.lock);
    in_hook.state = 2;
    pthread_cond_broadcast(&in_hook.cond);
    pthread_mutex_unlock(&in_hook.lock);
    pthread_join(t, NULL);
    ah_hook_disable(hook);
    ah_hook_free(hook);
}

static int untraced_in_child(void *arg)
{
    (void)arg;
    int failed = 0;
    failed += AH_SEMAPHORE(init) != 0 || AH_SEMAPHORE(before) != 0 || AH_SEMAPHORE(after) != 0;
    failed += AH_SEMAPHORE(destroy) != 0 || AH_SEMAPHORE(resolve) != 0 || AH_SEMAPHORE(batch) != 0;
    for (const uint64_t *s = __start_ah_probe_sites; s < __stop_ah_probe_sites; s++)
        failed += memcmp((const void *)(uintptr_t)*s, AH_PROBE_NOP5, AH_PROBE_SITE_SIZE) != 0;
    /* Events still work in the child. */
    ah_resource_t r = {0};
    failed += ah_init(&r, ah_type("FORK_CHILD"), 0) != 0;
    failed += ah_before(&r) != 0 || ah_after(&r) != 0 || ah_destroy(&r) != 0;
    return failed;
}

/* As a tracer would leave it in the parent: semaphores raised. The child starts untraced. */
Test(fork, child_starts_untraced)
{
    ah_resource_t r = {0};
    ah_init(&r, ah_type("FORK_PARENT"), 0); /* the thread's state and the fork handler exist */
    cr_assert_gt(__stop_ah_probe_sites - __start_ah_probe_sites, 5, "probe sites not recorded");
    AH_SEMAPHORE(init) = 1;
    AH_SEMAPHORE(destroy) = 2;
    cr_expect_eq(in_child(untraced_in_child, NULL), 0);
    AH_SEMAPHORE(init) = 0;
    AH_SEMAPHORE(destroy) = 0;
    ah_destroy(&r);
}
