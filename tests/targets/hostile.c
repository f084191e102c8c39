/*
 * hostile.c - a libah program that lies to its tracer: the target of tests/collector/
 * test_hostile.c. ahprof runs as root and reads memory the target controls (registry, batch
 * headers and records, type names); this program writes garbage there while clean threads
 * raise events with known counts. It reaches libah's internals through src/lib/internal.h
 * (linked statically: hidden symbols resolve from the archive).
 *
 *   hostile batch T N     registers CLEAN, CHILD, JUNK and a type whose name is 64 bytes of
 *                         escape sequences with no NUL (scribbled into the type table), prints
 *                         "ready" and waits for a line (or EOF) on stdin. Then T clean threads
 *                         each raise N x (CLEAN init, before, CHILD init, before, after,
 *                         destroy, CLEAN after, destroy), sleeping now and then so that their
 *                         buffers are also read at switch-out, while one more thread lies in
 *                         its own batch header (count > 64, generation jumps, tid of a clean
 *                         thread, wrong version and clock, bogus names pointer with a huge
 *                         type count, anchors in the future, sequence numbers), in its records
 *                         (kind and type out of range, ids 0 and ~0, ticks going backwards) and
 *                         in the registry (magic, version, thread list made a cycle, bogus
 *                         names, thread size and batch offset), restoring the registry before
 *                         any thread exits. Prints "done" and exits 0.
 *                         CLEAN: T x N, CHILD: T x N, each created, run once and destroyed.
 *                         JUNK and the garbage records: whatever the lies make of them.
 *   hostile registry KIND damages the registry the way KIND says (magic, cycle, wild, counts,
 *                         odd, names, batch-offset), prints "ready", waits for a line (or EOF)
 *                         on stdin, repairs it, then raises 10 x CLEAN lifecycles on the main
 *                         thread and exits 0. An attach in between reads the damaged registry.
 *                         batch-offset: a second thread sleeps in 1 ms steps, its buffer never
 *                         announced, and the offset puts its buffer on a header claiming 1000
 *                         records; it exits once the line came.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "hostile: %s: %s\n", what, ah_strerror(rc));
        exit(1);
    }
}

static int t_clean, t_child, t_junk, t_nonul;

static void wait_for_line(void)
{
    char line[64];
    printf("ready\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return;
}

static void lifecycle(int type, void (*inside)(void))
{
    ah_resource_t r = {0};
    check(ah_init(&r, type, 0), "init");
    check(ah_before(&r), "before");
    if (inside)
        inside();
    check(ah_after(&r), "after");
    check(ah_destroy(&r), "destroy");
}

static void child(void)
{
    lifecycle(t_child, NULL);
}

/* Type names a tracer must escape: terminal escapes (title, clear screen), invalid UTF-8,
 * JSON and HTML metacharacters, and no NUL in the whole 64-byte slot. */
static void scribble_name(char slot[AH_REGISTRY_NAME_SIZE])
{
    static const char evil[] = "\x1b]0;owned\x07\x1b[2J\xff\xc3\"<x>\\\n\r\t";
    for (size_t i = 0; i < AH_REGISTRY_NAME_SIZE; i++)
        slot[i] = evil[i % (sizeof(evil) - 1)];
}

static void register_types(void)
{
    t_clean = ah_type("CLEAN");
    t_child = ah_type("CHILD");
    t_junk = ah_type("JUNK");
    t_nonul = ah_type("NONUL");
    check(t_nonul, "ah_type");
    scribble_name(ah__type_names[t_nonul]);
}

/* ---- hostile batch ---- */

static long n_clean, n_iter;
static atomic_long clean_done;
static atomic_int clean_tids[64];
static pthread_barrier_t exit_barrier;
static char garbage_names[AH_REGISTRY_TYPE_MAX][AH_REGISTRY_NAME_SIZE];

static void *clean_main(void *arg)
{
    long index = (long)arg;
    /* Spread over more than a second: the decoder refines its tick rate from anchors a
     * second or more apart, which is what a lying anchor would poison. */
    long pause_us = 1500000 / (n_iter / 32 + 1);
    for (long i = 0; i < n_iter; i++) {
        lifecycle(t_clean, child);
        if (i == 0) /* linked in the registry: the scribbler may start */
            clean_tids[index] = (int)syscall(SYS_gettid);
        if (i % 32 == 31)
            usleep((useconds_t)pause_us); /* switched out with records in the buffer */
    }
    atomic_fetch_add(&clean_done, 1);
    /* The scribbler may hold the registry's thread list broken: exiting would walk it. */
    pthread_barrier_wait(&exit_barrier);
    return NULL;
}

static void junk(int n)
{
    for (int i = 0; i < n; i++)
        lifecycle(t_junk, NULL);
}

static struct ah_registry saved_registry;
static struct ah_registry_thread fake_block;

static void break_registry(void)
{
    saved_registry = ah_registry;
    fake_block.seq = 2;
    fake_block.next = (uint64_t)(uintptr_t)&fake_block; /* a cycle */
    fake_block.tid = 1;
    for (int i = 0; i < AH_REGISTRY_TYPE_MAX; i++)
        fake_block.live[i] = INT64_MAX;
    ah_registry.magic = 0x4141414141414141ull;
    ah_registry.version = 77;
    ah_registry.threads = (uint64_t)(uintptr_t)&fake_block;
    ah_registry.names = 0x10;
    ah_registry.thread_size = 1ull << 40;
    ah_registry.batch_offset = 1ull << 60;
}

static void repair_registry(void)
{
    /* Only the fields scribbled: type_count and generation may have moved meanwhile. */
    ah_registry.magic = saved_registry.magic;
    ah_registry.version = saved_registry.version;
    ah_registry.threads = saved_registry.threads;
    ah_registry.names = saved_registry.names;
    ah_registry.thread_size = saved_registry.thread_size;
    ah_registry.batch_offset = saved_registry.batch_offset;
}

/* Records the library would never write, after a few genuine ones. */
static void garbage_records(struct ah_thread *t)
{
    struct ahp_batch *b = &t->batch;
    uint32_t start = b->hdr.count;
    static const struct {
        uint8_t kind;
        int32_t type;
    } bad[] = {{0, 0},
               {6, 0},
               {255, 0},
               {AHP_EV_INIT, -1},
               {AHP_EV_BEFORE, 300},
               {AHP_EV_AFTER, INT32_MAX},
               {AHP_EV_DESTROY, INT32_MIN},
               {AHP_EV_RESOLVE, 256}};
    for (uint32_t i = start; i < AHP_BATCH_RECORDS; i++) {
        struct ahp_batch_record *r = &b->rec[i];
        uint32_t k = (i - start) % (sizeof(bad) / sizeof(bad[0]));
        r->kind = bad[k].kind;
        r->type = bad[k].type;
        r->id = i % 2 ? 0 : UINT64_MAX;
        r->arg = UINT64_MAX - i;
        r->ticks = i % 3 == 0 ? UINT64_MAX - i : (uint64_t)(AHP_BATCH_RECORDS - i);
    }
    b->hdr.count = AHP_BATCH_RECORDS;
}

static void lie(struct ah_thread *t, long round)
{
    struct ahp_batch_header *h = &t->batch.hdr;
    uint32_t own_tid = h->tid;
    uint16_t own_version = h->version;
    uint64_t own_names = h->names;
    switch (round % 10) {
    case 0: /* more records than the buffer holds */
        junk(3);
        h->count = 1000 + (uint32_t)round;
        ah_flush();
        break;
    case 1: /* batches that never were */
        junk(3);
        h->gen += 1000003;
        ah_flush();
        break;
    case 2: /* speaks for a clean thread */
        junk(3);
        h->tid = (uint32_t)clean_tids[round % n_clean];
        ah_flush();
        h->tid = own_tid;
        break;
    case 3:
        junk(3);
        h->version = 0xbad;
        ah_flush();
        h->version = own_version;
        break;
    case 4:
        junk(3);
        h->clock = 0x77;
        ah_flush();
        h->clock = (uint16_t)ah__batch_clock;
        break;
    case 5: /* names anywhere, as many types as the header can say */
        junk(3);
        uint64_t types = ah_registry.type_count;
        h->names = round % 20 == 5 ? 0x10 : (uint64_t)(uintptr_t)garbage_names;
        __atomic_store_n(&ah_registry.type_count, 0xffffffffull, __ATOMIC_RELEASE);
        ah_flush();
        __atomic_store_n(&ah_registry.type_count, types, __ATOMIC_RELEASE);
        h->names = own_names;
        break;
    case 6:
        junk(2);
        garbage_records(t);
        ah_flush();
        break;
    case 7: /* read at switch-out with anchors from the future, from the epoch, and one
             * that says a second went by in 2^63 ticks */
        junk(3);
        if (round % 30 == 7) {
            h->anchor_ns = UINT64_MAX - 5;
            h->anchor_ticks = 1;
        } else if (round % 30 == 17) {
            h->anchor_ns = 1;
            h->anchor_ticks = UINT64_MAX;
        } else {
            h->anchor_ns = ah__clock_ns() - 1000;
            h->anchor_ticks = UINT64_MAX / 2;
        }
        usleep(2000);
        ah_flush();
        break;
    case 8:
        junk(3);
        h->seq = UINT64_MAX - 3;
        ah_flush();
        break;
    case 9: /* a registry that lies while ahprof may look up names in it */
        junk(1);
        break_registry();
        usleep(2000);
        repair_registry();
        ah_flush();
        break;
    }
}

static int mode_batch(long threads, long n)
{
    if (threads < 1 || threads > 64 || n < 1) {
        fprintf(stderr, "hostile: batch T N with 1 <= T <= 64\n");
        return 2;
    }
    for (size_t i = 0; i < AH_REGISTRY_TYPE_MAX; i++)
        scribble_name(garbage_names[i]);
    register_types();
    n_clean = threads;
    n_iter = n;
    pthread_barrier_init(&exit_barrier, NULL, (unsigned)threads + 1);
    wait_for_line();
    junk(1); /* the scribbler's own libah state, and its buffer announced */
    lifecycle(t_nonul, NULL);
    struct ah_thread *self = ah__self;
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    for (long i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, clean_main, (void *)i);
    for (long i = 0; i < threads; i++)
        while (clean_tids[i] == 0)
            usleep(100);
    long round = 0;
    while (atomic_load(&clean_done) < threads || round < 30) {
        lie(self, round++);
        usleep(300);
    }
    pthread_barrier_wait(&exit_barrier);
    for (long i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    ah_flush();
    printf("done %ld\n", round);
    return 0;
}

/* ---- hostile registry ---- */

/* A thread with a registry block and no announced buffer, switched out every millisecond:
 * ahprof learns where its buffer is from the registry's batch_offset only. */
static atomic_int sleeper_stop;
static struct ah_registry_thread *_Atomic sleeper_block;
static struct ahp_batch fake_batch;

static void *sleeper_main(void *arg)
{
    (void)arg;
    junk(1); /* untraced: links its block, buffers nothing */
    fake_batch.hdr = (struct ahp_batch_header){.anchor_ns = 1,
                                               .gen = 5,
                                               .count = 1000,
                                               .tid = (uint32_t)syscall(SYS_gettid),
                                               .clock = AHP_CLOCK_MONOTONIC,
                                               .version = AHP_BATCH_VERSION};
    atomic_store(&sleeper_block, &ah__self->registry);
    while (!atomic_load(&sleeper_stop))
        usleep(1000);
    return NULL;
}

static int mode_registry(const char *kind)
{
    register_types();
    junk(1); /* this thread's block is linked */
    saved_registry = ah_registry;
    struct ah_registry_thread *own = &ah__self->registry;
    uint64_t own_next = own->next, own_seq = own->seq;
    int64_t own_live = own->live[t_junk];
    if (strcmp(kind, "magic") == 0) {
        ah_registry.magic ^= 1;
    } else if (strcmp(kind, "cycle") == 0) {
        own->next = (uint64_t)(uintptr_t)own;
    } else if (strcmp(kind, "wild") == 0) {
        ah_registry.threads = 0x7ff0deadbeef000ull;
    } else if (strcmp(kind, "counts") == 0) {
        own->live[t_junk] = INT64_MAX; /* plus the retired block's counts: overflows */
        ah__self->registry.next = (uint64_t)(uintptr_t)&fake_block;
        fake_block.live[t_junk] = INT64_MAX;
        fake_block.next = own_next;
    } else if (strcmp(kind, "odd") == 0) {
        own->seq |= 1; /* an update that never ends */
    } else if (strcmp(kind, "names") == 0) {
        ah_registry.names = 0x10;
        ah_registry.type_count = UINT64_MAX;
    } else if (strcmp(kind, "batch-offset") == 0) {
        /* The sleeper's "buffer" is a header with 1000 records. */
        pthread_t sleeper;
        pthread_create(&sleeper, NULL, sleeper_main, NULL);
        while (atomic_load(&sleeper_block) == NULL)
            usleep(100);
        ah_registry.batch_offset =
            (uint64_t)(uintptr_t)&fake_batch - (uint64_t)(uintptr_t)atomic_load(&sleeper_block);
        wait_for_line();
        ah_registry.batch_offset = saved_registry.batch_offset;
        atomic_store(&sleeper_stop, 1);
        pthread_join(sleeper, NULL);
    } else {
        fprintf(stderr, "hostile: unknown registry damage '%s'\n", kind);
        return 2;
    }
    if (strcmp(kind, "batch-offset") != 0)
        wait_for_line();
    own->next = own_next;
    own->seq = own_seq;
    own->live[t_junk] = own_live;
    ah_registry.magic = saved_registry.magic;
    ah_registry.names = saved_registry.names;
    ah_registry.type_count = saved_registry.type_count;
    if (strcmp(kind, "wild") == 0) /* the sleeper of batch-offset came and went meanwhile */
        ah_registry.threads = saved_registry.threads;
    for (int i = 0; i < 10; i++)
        lifecycle(t_clean, NULL);
    printf("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "batch") == 0)
        return mode_batch(atol(argv[2]), atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "registry") == 0)
        return mode_registry(argv[2]);
    fprintf(stderr, "usage: hostile batch T N | hostile registry KIND\n");
    return 2;
}
