/*
 * test_record_rate.c - `ahprof record` with its default settings keeps every event (issue 13):
 * a program raising events in a tight loop, and one paced at 10 M events/s for 10 s, both
 * launched, both to a file. What the file holds is checked with the reader (every event the
 * program says it raised, nothing counted as lost).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/datafile.h"
#include "run.h"

#define PACED AHP_BUILD "/bench/paced"
#define LIFECYCLE AHP_BUILD "/bench/bench_lifecycle_static"

TestSuite(record_rate, .init = make_data_path, .fini = remove_data, .timeout = 120);

/* `ahprof record -o DATA -- CMD...` with the defaults; CMD's stdout in *OUT. */
static void record_launched(char *const cmd[], char **out)
{
    char *argv[32] = {AHPROF, "record", "-o", data_path, "--"};
    int n = 5;
    for (int i = 0; cmd[i]; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    char *err = NULL;
    int code = run_capture(argv, out, &err, 100000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    cr_log_info("%s", err);
    free(err);
}

/* The events in the file and the lost count it declares (the chunk headers: no decoding). */
static void file_counts(uint64_t *events, uint64_t *lost)
{
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, data_path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(!m->truncated && m->bad_chunks == 0, "the file is damaged");
    *events = m->events;
    *lost = m->lost_events;
    ahp_reader_close(r);
}

/* One after the other, never side by side: each is a traced program that can keep a core busy
 * and an ahprof that must keep up on the other (the CI machine has two). */
static void tight_lifecycle_loop_loses_nothing(void)
{
    /* 9 x 200,000 lifecycles (one warm-up repetition and 8): 7.2 M events, as fast as the
     * traced program raises them. */
    char *cmd[] = {LIFECYCLE, "--traced-batch", "--reps",    "8",
                   "--iters", "200000",         "lifecycle", NULL};
    char *out = NULL;
    record_launched(cmd, &out);
    free(out);
    uint64_t events, lost;
    file_counts(&events, &lost);
    cr_expect_eq(lost, 0, "%llu of %llu events lost", (unsigned long long)lost,
                 (unsigned long long)(events + lost));
    cr_expect_eq(events, 7200000);
}

static void ten_million_events_per_second_for_ten_seconds_loses_nothing(void)
{
    char *cmd[] = {PACED, "10000000", "10", NULL};
    char *out = NULL;
    record_launched(cmd, &out);
    unsigned long long raised = 0;
    double seconds = 0, rate = 0;
    const char *line = out ? strstr(out, "events ") : NULL;
    cr_assert(line &&
                  sscanf(line, "events %llu seconds %lf rate %lf", &raised, &seconds, &rate) == 3,
              "paced printed: %s", out ? out : "");
    free(out);
    /* A machine too busy to raise 10 M events/s still tells whether record kept them all. */
    cr_log_info("paced raised %llu events at %.0f events/s", raised, rate);
    uint64_t events, lost;
    file_counts(&events, &lost);
    cr_expect_eq(lost, 0, "%llu of %llu events lost (raised at %.0f events/s)",
                 (unsigned long long)lost, raised, rate);
    cr_expect_eq(events, raised);
}

Test(record_rate, tight_loop_then_ten_million_events_per_second_lose_nothing)
{
    tight_lifecycle_loop_loses_nothing();
    remove_data();
    ten_million_events_per_second_for_ten_seconds_loses_nothing();
}
