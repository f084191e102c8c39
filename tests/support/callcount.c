/* callcount.c - counting interposers (callcount.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "callcount.h"

CALLCOUNT_TLS long callcount_allocs, callcount_frees, callcount_locks;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
    callcount_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    callcount_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    callcount_allocs++;
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    callcount_allocs++;
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    callcount_allocs++;
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    callcount_allocs++;
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p)
{
    if (p)
        callcount_frees++;
    __libc_free(p);
}

static int (*real_mutex_lock)(pthread_mutex_t *);
static int (*real_mutex_trylock)(pthread_mutex_t *);

int pthread_mutex_lock(pthread_mutex_t *m)
{
    callcount_locks++;
    return real_mutex_lock(m);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
    callcount_locks++;
    return real_mutex_trylock(m);
}

__attribute__((constructor)) static void callcount_resolve(void)
{
    real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_mutex_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    if (real_mutex_lock == NULL || real_mutex_trylock == NULL)
        abort();
}
