/*
 * probe_target.c - a deterministic libah workload for the probe contract test.
 *
 * It raises a fixed sequence of events and prints, one line per event, what every ah:* probe
 * must report for it, in the same format as tests/probes/contract.bt. Ids, thread ids and
 * registry sequence numbers are only known at run time, so the program prints what it
 * observed through the public API and the registry rather than the test guessing them.
 *
 *   probe_target [--wait] [--out FILE]
 *
 * The expected events go to stdout, or to FILE (when the tracer shares our stdout). With --wait
 * (used when a tracer attaches by pid) it prints "ready PID" and waits for a line on stdin before
 * raising any event, then prints the expected events followed by "done" and waits for a second line
 * before exiting, so that the test can inspect the traced process. Calls that libah must refuse are
 * made too: their probes must not fire.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ah.h"
#include "registry.h"

extern struct ah_registry ah_registry;

/* How many extra lifecycles of a reused resource the workload runs. */
#define LOOP_COUNT 50

static char expected[64 * 1024];
static size_t expected_len;

static void expect(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(expected + expected_len, sizeof(expected) - expected_len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(expected) - expected_len) {
        fprintf(stderr, "probe_target: expected-event buffer full\n");
        exit(2);
    }
    expected_len += (size_t)n;
}

static void check(int rc, int want, const char *what)
{
    if (rc != want) {
        fprintf(stderr, "probe_target: %s returned %d (%s), wanted %d\n", what, rc, ah_strerror(rc),
                want);
        exit(2);
    }
}

static int gettid_(void)
{
    return (int)syscall(SYS_gettid);
}

/* The registry sequence number of the calling thread: what ah:init and ah:destroy carry. */
static unsigned long long thread_seq(void)
{
    int tid = gettid_();
    for (uint64_t p = ah_registry.threads; p;) {
        const struct ah_registry_thread *b = (const void *)(uintptr_t)p;
        if (b->tid == tid && !(b->flags & AH_REGISTRY_RETIRED))
            return (unsigned long long)b->seq;
        p = b->next;
    }
    fprintf(stderr, "probe_target: thread %d not in the registry\n", tid);
    exit(2);
}

static void do_init(ah_resource_t *r, int type, ah_id_t trigger)
{
    check(ah_init(r, type, trigger), 0, "ah_init");
    expect("init %d %llu %llu %d %s %llu\n", gettid_(), (unsigned long long)r->id,
           (unsigned long long)r->trigger_id, type, ah_type_name(type), thread_seq());
}

static void do_before(ah_resource_t *r)
{
    check(ah_before(r), 0, "ah_before");
    expect("before %d %llu %d\n", gettid_(), (unsigned long long)r->id, r->type);
}

static void do_after(ah_resource_t *r)
{
    check(ah_after(r), 0, "ah_after");
    expect("after %d %llu %d\n", gettid_(), (unsigned long long)r->id, r->type);
}

static void do_destroy(ah_resource_t *r)
{
    check(ah_destroy(r), 0, "ah_destroy");
    expect("destroy %d %llu %d %llu\n", gettid_(), (unsigned long long)r->id, r->type,
           thread_seq());
}

static void do_resolve(ah_resource_t *r)
{
    check(ah_resolve(r), 0, "ah_resolve");
    expect("resolve %d %llu %d\n", gettid_(), (unsigned long long)r->id, r->type);
}

static int alpha, beta, gamma_;
static ah_resource_t a, b, c, d, e, f;

/* The worker-pool pattern: B was created on the main thread and runs and dies here. */
static void *worker(void *arg)
{
    (void)arg;
    do_before(&b);
    do_init(&f, gamma_, 0); /* trigger: b, the current execution of this thread */
    do_after(&b);
    do_destroy(&f);
    do_destroy(&b);
    return NULL;
}

static void wait_line(void)
{
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        exit(3);
}

int main(int argc, char **argv)
{
    int wait = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--wait") == 0) {
            wait = 1;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else {
            fprintf(stderr, "usage: probe_target [--wait] [--out FILE]\n");
            return 2;
        }
    }

    alpha = ah_type("ALPHA");
    beta = ah_type("BETA");
    /* The longest name libah accepts: a tracer must read all of it. */
    gamma_ = ah_type("GAMMA_0123456789_0123456789_0123456789_0123456789_0123456789_01");
    if (alpha < 0 || beta < 0 || gamma_ < 0 || strlen(ah_type_name(gamma_)) != AH_TYPE_NAME_MAX) {
        fprintf(stderr, "probe_target: cannot register types\n");
        return 2;
    }
    if (wait) {
        printf("ready %d\n", (int)getpid());
        fflush(stdout);
        wait_line();
    }

    do_init(&a, alpha, 0); /* trigger: the root */
    do_init(&b, beta, 0);
    do_before(&a);
    do_init(&c, alpha, 0); /* trigger: a */
    do_before(&b);
    do_init(&d, beta, 777); /* an explicit trigger is reported as given */
    do_after(&b);
    do_resolve(&c);
    check(ah_resolve(&c), -EALREADY, "second ah_resolve");
    check(ah_after(&b), -EPROTO, "ah_after of a scope already left");
    do_after(&a);
    check(ah_after(&a), -EPROTO, "ah_after without ah_before");

    for (int i = 0; i < LOOP_COUNT; i++) {
        do_init(&e, i % 2 ? beta : alpha, c.id);
        do_before(&e);
        do_after(&e);
        do_destroy(&e);
    }

    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) != 0 || pthread_join(th, NULL) != 0) {
        fprintf(stderr, "probe_target: cannot run the worker thread\n");
        return 2;
    }

    do_destroy(&d);
    do_destroy(&c);
    do_destroy(&a);
    check(ah_destroy(&a), -EIDRM, "second ah_destroy");
    check(ah_before(&a), -EIDRM, "ah_before of a destroyed resource");
    check(ah_init(&a, 12345, 0), -EINVAL, "ah_init with an unknown type");

    FILE *fp = out ? fopen(out, "w") : stdout;
    if (fp == NULL || fwrite(expected, 1, expected_len, fp) != expected_len || fflush(fp) != 0) {
        fprintf(stderr, "probe_target: cannot write the expected events\n");
        return 2;
    }
    if (fp != stdout)
        fclose(fp);
    if (wait) {
        printf("done\n");
        fflush(stdout);
        wait_line();
    }
    return 0;
}
