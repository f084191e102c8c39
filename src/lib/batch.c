/*
 * batch.c - the batch path: while a tracer holds the ah:batch semaphore, every event is
 * appended to a buffer of its thread (internal.h, ah__batch_add) and the buffer is handed to
 * the ah:batch probe in one go. One traced probe costs ~200 ns; spread over a buffer of
 * AHP_BATCH_RECORDS events it costs a few ns per event (docs/probes.md, "The batch probe").
 *
 * A buffer is flushed when it is full, when its thread returns to its top level holding
 * records older than AHP_BATCH_BOUND_NS, at ah_flush(), at thread exit (thread.c) and at
 * process exit (below). Untraced, nothing is buffered.
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "probes.h"

int ah__batch_clock;
/* Until the tick rate is known, assume one tick per ns: at most the bound, never more
 * (a TSC runs at one or more GHz). */
uint64_t ah__batch_bound_ticks = AHP_BATCH_BOUND_NS;

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
/* A reading of both clocks when libah was loaded: with one from a later flush it gives
 * the tick rate, hence the bound in ticks, without ever waiting to measure it. */
static uint64_t load_ticks, load_ns;

uint64_t ah__clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The TSC is used only when it is the kernel's clocksource: then CLOCK_MONOTONIC is a
 * linear function of it and ticks convert to the kernel's ns exactly (to the rate's
 * precision). Anything else falls back to CLOCK_MONOTONIC itself, ~19 ns per event. */
static bool tsc_is_clocksource(void)
{
#if defined(__x86_64__)
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return n >= 4 && memcmp(buf, "tsc\n", 4) == 0;
#else
    return false;
#endif
}

static void clock_choose(void)
{
    __atomic_store_n(&ah__batch_clock, tsc_is_clocksource() ? AHP_CLOCK_TSC : AHP_CLOCK_MONOTONIC,
                     __ATOMIC_RELEASE);
    if (ah__batch_clock == AHP_CLOCK_MONOTONIC)
        ah__batch_bound_ticks = AHP_BATCH_BOUND_NS;
}

__attribute__((constructor)) static void clock_at_load(void)
{
#if defined(__x86_64__)
    load_ticks = __builtin_ia32_rdtsc();
#endif
    load_ns = ah__clock_ns();
}

static void anchor_now(struct ahp_batch_header *h)
{
    /* Both clocks at one instant: the ticks before and after the ns reading, halved. */
    uint64_t before = ah__ticks();
    uint64_t ns = ah__clock_ns();
    h->anchor_ticks = before + (ah__ticks() - before) / 2;
    h->anchor_ns = ns;
}

void ah__batch_open(struct ah_thread *t)
{
    if (t->batch.hdr.count != 0) {
        /* Left by a tracer that detached while this thread held them, and events went
         * untraced since: nobody is owed these records, and counting on from their seq would
         * give the new records the seq of events before the attach (docs/probes.md,
         * "Attaching mid-run"). Drop them as a flush does, without the probe. */
        t->batch.hdr.count = 0;
        atomic_signal_fence(memory_order_seq_cst);
        t->batch.hdr.gen++;
    }
    if (AH_UNLIKELY(__atomic_load_n(&ah__batch_clock, __ATOMIC_ACQUIRE) == 0))
        pthread_once(&clock_once, clock_choose);
    /* A tracer may read records before the first flush (when the thread is switched out):
     * give it an anchor to convert their ticks. */
    if (t->batch.hdr.anchor_ns == 0 || t->batch.hdr.clock != (uint16_t)ah__batch_clock) {
        t->batch.hdr.clock = (uint16_t)ah__batch_clock;
        anchor_now(&t->batch.hdr);
    }
    t->batch.hdr.seq = t->registry.seq;
    t->batch_seq_end = t->registry.seq;
    t->batch.hdr.type_count = (uint32_t)__atomic_load_n(&ah_registry.type_count, __ATOMIC_ACQUIRE);
    if (!t->batch_announced) {
        /* What never changes for this thread, then a probe with no records that tells the
         * tracer where its buffer is. */
        t->batch.hdr.tid = (uint32_t)t->registry.tid;
        t->batch.hdr.names = (uint64_t)(uintptr_t)ah__type_names;
        t->batch.hdr.version = AHP_BATCH_VERSION;
        t->batch_announced = true;
        DTRACE_PROBE2(ah, batch, &t->batch, (uint32_t)0);
    }
}

/* The tick rate from the load-time reading and this one; refined while the span grows. */
static void bound_update(uint64_t ticks, uint64_t ns)
{
    static uint64_t measured_over_ns;
    uint64_t span_ns = ns - load_ns;
    if (ah__batch_clock != AHP_CLOCK_TSC || span_ns < 2 * AH_LOAD(&measured_over_ns) ||
        span_ns < 1000000 || ticks <= load_ticks)
        return;
    unsigned __int128 bound = (unsigned __int128)(ticks - load_ticks) * AHP_BATCH_BOUND_NS;
    AH_STORE(&ah__batch_bound_ticks, (uint64_t)(bound / span_ns));
    AH_STORE(&measured_over_ns, span_ns);
}

void ah__batch_flush(struct ah_thread *t)
{
    uint32_t n = t->batch.hdr.count;
    if (n == 0)
        return;
    anchor_now(&t->batch.hdr);
    uint64_t ticks = t->batch.hdr.anchor_ticks, ns = t->batch.hdr.anchor_ns;
    t->batch.hdr.type_count = (uint32_t)__atomic_load_n(&ah_registry.type_count, __ATOMIC_ACQUIRE);
    bound_update(ticks, ns);
    if (AH_BATCHING())
        DTRACE_PROBE2(ah, batch, &t->batch, n);
    /* Count first, then generation: whenever the tracer looks in between (this thread
     * switched out), it sees no record it has not been handed already. */
    t->batch.hdr.count = 0;
    atomic_signal_fence(memory_order_seq_cst);
    t->batch.hdr.gen++;
}

AH_EXPORT int ah_flush(void)
{
    struct ah_thread *t = ah__self;
    if (t == NULL || t->batch.hdr.count == 0)
        return 0;
    int n = (int)t->batch.hdr.count;
    ah__batch_flush(t);
    return n;
}

/* Process exit: the thread calling exit() hands over what it holds. Threads that exited
 * earlier did at their exit (thread.c); a thread still running when the process ends is
 * not touched, since it may be writing its buffer at that very moment. */
__attribute__((destructor)) static void flush_at_exit(void)
{
    ah_flush();
}
