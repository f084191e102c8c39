/*
 * countcalls.c - a preloaded library that counts the main thread's allocations and mutex
 * locks and writes them to $UV_COUNT_FILE at exit ("allocs N locks N"). Preloaded with and
 * without libah-uv.so in front of a program whose work scales with its argument, it shows
 * whether the interposer allocates or locks per handle, request or callback
 * (tests/uv/test_uv.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static __thread long allocs, locks;
static pthread_t main_thread;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n)
{
    allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    allocs++;
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    allocs++;
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    allocs++;
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    allocs++;
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

static int (*real_mutex_lock)(pthread_mutex_t *);
static int (*real_mutex_trylock)(pthread_mutex_t *);

int pthread_mutex_lock(pthread_mutex_t *m)
{
    locks++;
    return real_mutex_lock(m);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
    locks++;
    return real_mutex_trylock(m);
}

__attribute__((constructor)) static void count_start(void)
{
    real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_mutex_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    if (real_mutex_lock == NULL || real_mutex_trylock == NULL)
        abort();
    main_thread = pthread_self();
}

__attribute__((destructor)) static void count_report(void)
{
    const char *path = getenv("UV_COUNT_FILE");
    if (path == NULL || !pthread_equal(pthread_self(), main_thread))
        return;
    long a = allocs, l = locks;
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "allocs %ld locks %ld\n", a, l);
        fclose(f);
    }
}
