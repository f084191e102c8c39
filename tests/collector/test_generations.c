/*
 * test_generations.c - every record of a thread's batch reaches `record` once, whatever else
 * lives at its address later. libah frees an exiting thread's state (its batch buffer with it)
 * in a TLS destructor, and the thread still runs and blocks after that; the BPF side knows the
 * buffer by its address. tests/targets/reuse.c has the next thread's state take that memory
 * while the old thread is still exiting: its switch-outs and its exit drain read the new
 * thread's records there, and they went to `record` twice, once as the exiting thread's and
 * once as their own (20 x 46 INIT records: duplicate_init 920, LONG created 1920 of 1000).
 * The decoder's own generation rules are in tests/cli/test_decode_generations.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "run.h"

#define REUSE AHP_BUILD "/targets/reuse"
#define LATE AHP_BUILD "/targets/late"
#define ROUNDS 20
#define INITS 50

TestSuite(generations, .init = make_data_path, .fini = remove_data, .timeout = 60);

/* The report of a recording that must hold every event raised: nothing lost, TYPE's counters
 * created CREATED, EVENTS events in all. */
static void expect_every_event(json_object *r, const char *type, long long created,
                               long long events)
{
    cr_assert_eq(get_int(r, "lost_events"), 0, "%lld events lost", get_int(r, "lost_events"));
    json_object *t = find_named(r, "types", type);
    cr_assert_not_null(t, "%s missing", type);
    cr_expect_eq(get_int(counters_of(t), "created"), created, "%s counters.created %lld", type,
                 get_int(counters_of(t), "created"));
    cr_expect_eq(get_int(r, "events"), events, "%lld events, %lld raised", get_int(r, "events"),
                 events);
}

Test(generations, freed_buffer_taken_by_the_next_thread)
{
    char rounds[16], inits[16];
    snprintf(rounds, sizeof(rounds), "%d", ROUNDS);
    snprintf(inits, sizeof(inits), "%d", INITS);
    char *cmd[] = {REUSE, rounds, inits, NULL};
    json_object *r = record_launched_report(NULL, cmd);
    /* Each lifecycle: init and destroy; SHORT's also before and after. */
    expect_every_event(r, "LONG", ROUNDS * INITS,
                       2 * ROUNDS * INITS + 2 * (ROUNDS + 1) + 2 * ROUNDS);
    json_object *anomalies;
    cr_assert(json_object_object_get_ex(r, "anomalies", &anomalies));
    cr_expect_eq(get_int(anomalies, "duplicate_init"), 0, "duplicate_init %lld",
                 get_int(anomalies, "duplicate_init"));
    expect_type(r, "LONG", ROUNDS * INITS, ROUNDS * INITS, 0, 0);
    expect_type(r, "SHORT", ROUNDS + 1, ROUNDS + 1, ROUNDS, 0);
    json_object_put(r);
}

/* tests/targets/late.c: each of 20 threads runs one EARLY lifecycle (4 records, generation 0 of
 * its buffer, handed over at libah's thread exit), then raises 3 LATE init+destroy pairs from a
 * TLS destructor after libah's: a new libah state, a new buffer whose generation 0 starts again.
 * The BPF side kept the old buffer's generation 0 and its 4 records handed over, and skipped
 * the new buffer's first 4 records as if handed over already (its 3 inits and the first
 * destroy): LATE created 0 of 60, 80 of 202 events missing, nothing counted lost. */
Test(generations, events_after_libah_let_go_of_the_thread)
{
    enum { THREADS = 20, PAIRS = 3 };
    char threads[16], pairs[16];
    snprintf(threads, sizeof(threads), "%d", THREADS);
    snprintf(pairs, sizeof(pairs), "%d", PAIRS);
    char *cmd[] = {LATE, threads, pairs, NULL};
    json_object *r = record_launched_report(NULL, cmd);
    expect_every_event(r, "LATE", THREADS * PAIRS,
                       2 * THREADS * PAIRS + 2 * (THREADS + 1) + 2 * THREADS);
    expect_type(r, "LATE", THREADS * PAIRS, THREADS * PAIRS, 0, 0);
    expect_type(r, "EARLY", THREADS + 1, THREADS + 1, THREADS, 0);
    json_object_put(r);
}
