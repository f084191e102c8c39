/*
 * test_kernel_view.c - the kernel's view joined to async resources (docs/kernel-view.md),
 * with real BPF against tests/targets/kernel_truths.c, whose CPU, blocking and waiting are
 * known: the view (src/cli/collect/kernel.h, through build/kview) must find them under the
 * right type, with the right reason and stacks.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/datafile.h"
#include "pendings.h"
#include "run.h"

#define KVIEW AHP_BUILD "/kview"
#define TRUTHS AHP_BUILD "/targets/kernel_truths"
#define HOSTILE AHP_BUILD "/targets/kernel_hostile"
#define CPUSHARE AHP_BUILD "/targets/cpushare"

/* Run kernel_truths MODE under kview (EXTRA: its options) from before the mode starts to after
 * it is done; returns kview's "kernel" object. */
/* Run PROGRAM MODE under kview (EXTRA, EXTRA2: its options, or NULL) from before the mode
 * starts to after it is done; returns what kview printed (malloc'ed). */
static char *kernel_view_output(const char *program, const char *mode, const char *extra,
                                const char *extra2)
{
    struct proc target, kv;
    char pid[32];
    char *targv[] = {(char *)program, (char *)mode, NULL};
    start_ready_target(&target, targv, pid);
    char *kargv[] = {KVIEW, "-p", pid, (char *)extra, (char *)extra2, NULL};
    proc_start(&kv, kargv);
    cr_assert(proc_wait_stderr(&kv, "attached", 15000), "kview did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char line[64];
    cr_assert(proc_read_line(&target, line, sizeof(line), 20000) && strcmp(line, "done") == 0,
              "%s %s did not finish", program, mode);
    char *out = NULL, *err = NULL;
    int code = proc_capture(&kv, &out, &err, 30000);
    cr_assert_eq(code, 0, "kview exited %d: %s", code, err);
    cr_assert_eq(proc_capture(&target, NULL, NULL, 10000), 0);
    free(err);
    return out;
}

/* The same, kview's "kernel" object (and its "records" when RECORDS). */
static json_object *kernel_view_of_program(const char *program, const char *mode, const char *extra,
                                           json_object **records)
{
    char *out = kernel_view_output(program, mode, extra, NULL);
    json_object *root = json_tokener_parse(out), *kernel;
    cr_assert_not_null(root, "kview printed no JSON: %.300s", out);
    cr_assert(json_object_object_get_ex(root, "kernel", &kernel));
    json_object_get(kernel);
    if (records) {
        cr_assert(json_object_object_get_ex(root, "records", records), "no records");
        json_object_get(*records);
    }
    json_object_put(root);
    free(out);
    return kernel;
}

static json_object *kernel_view_of(const char *mode, const char *extra, json_object **records)
{
    return kernel_view_of_program(TRUTHS, mode, extra, records);
}

static long long field_or_zero(json_object *obj, const char *key)
{
    json_object *v;
    return obj && json_object_object_get_ex(obj, key, &v) ? json_object_get_int64(v) : 0;
}

static json_object *reason_of(json_object *type, const char *reason)
{
    json_object *reasons;
    if (!type || !json_object_object_get_ex(type, "reasons", &reasons))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(reasons); i++) {
        json_object *r = json_object_array_get_idx(reasons, i), *name;
        if (json_object_object_get_ex(r, "reason", &name) &&
            strcmp(json_object_get_string(name), reason) == 0)
            return r;
    }
    return NULL;
}

/* Whether FRAMES (an array of symbol names) holds FUNC. */
static bool has_frame(json_object *frames, const char *func)
{
    for (size_t i = 0; frames && i < json_object_array_length(frames); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(frames, i)), func) == 0)
            return true;
    return false;
}

/* Sum of the values of the KIND stacks of TYPE (NULL: any type) whose user stack holds FUNC
 * (NULL: any stack). */
static long long stack_sum(json_object *kernel, const char *kind, const char *type,
                           const char *func)
{
    json_object *stacks;
    cr_assert(json_object_object_get_ex(kernel, "stacks", &stacks), "no stacks");
    long long sum = 0;
    for (size_t i = 0; i < json_object_array_length(stacks); i++) {
        json_object *s = json_object_array_get_idx(stacks, i), *k, *t, *user;
        json_object_object_get_ex(s, "kind", &k);
        json_object_object_get_ex(s, "type", &t);
        json_object_object_get_ex(s, "user_stack", &user);
        if (strcmp(json_object_get_string(k), kind) != 0 ||
            (type && strcmp(json_object_get_string(t), type) != 0) ||
            (func && !has_frame(user, func)))
            continue;
        sum += field_or_zero(s, strcmp(kind, "cpu") == 0 ? "samples" : "ns");
    }
    return sum;
}

TestSuite(kernel_view, .timeout = 90);

/* 1 s of CPU in burn_here() inside one BURN callback, sampled at 99 Hz: about 99 samples
 * (+-20%) under BURN, with burn_here in their user stacks; none of it under another type. */
Test(kernel_view, cpu_samples_of_a_burning_callback)
{
    json_object *records;
    json_object *k = kernel_view_of("burn", "--records", &records);
    json_object *burn = find_named(k, "types", "BURN");
    cr_assert_not_null(burn, "no samples under BURN");
    long long samples = get_int(burn, "cpu_samples");
    cr_expect(samples >= 79 && samples <= 119, "BURN: %lld samples, expected 99 +-20%%", samples);
    long long in_burn_here = stack_sum(k, "cpu", "BURN", "burn_here");
    cr_expect(in_burn_here >= samples * 9 / 10, "%lld of %lld BURN samples in burn_here",
              in_burn_here, samples);
    cr_expect_eq(stack_sum(k, "cpu", NULL, "burn_here"), in_burn_here,
                 "burn_here sampled under another type");
    cr_expect_eq(field_or_zero(find_named(k, "types", "QUICK"), "cpu_samples"), 0);
    cr_expect_eq(field_or_zero(find_named(k, "types", "WARM"), "cpu_samples"), 0);
    /* record --cpu: every sample also went through the ring buffer. */
    cr_expect_eq(get_int(records, "cpu"), get_int(k, "samples"));
    json_object_put(records);
    /* Not blocked: it never waited (preemption by other load is counted apart). */
    cr_expect_lt(get_int(burn, "blocked_ns"), 20000000, "BURN blocked %lld ns",
                 get_int(burn, "blocked_ns"));
    json_object_put(k);
}

/* 10 TIMER callbacks, each ~50 ms in read() of an empty pipe: BLOCK ~500 ms (+-10%), reason
 * read, and (--stacks) the blocking user stack goes through read_here(). */
Test(kernel_view, blocking_in_read_inside_callbacks)
{
    json_object *k = kernel_view_of("block", "--stacks", NULL);
    json_object *timer = find_named(k, "types", "TIMER");
    cr_assert_not_null(timer, "nothing under TIMER");
    long long blocked = get_int(timer, "blocked_ns");
    cr_expect(blocked >= 450000000 && blocked <= 550000000, "TIMER blocked %lld ns", blocked);
    json_object *read = reason_of(timer, "read");
    cr_assert_not_null(read, "no 'read' reason under TIMER");
    cr_expect_eq(get_int(read, "count"), 10, "%lld reads (%lld switches lost, %lld read errors)",
                 get_int(read, "count"), get_int(k, "switches_lost"), get_int(k, "read_errors"));
    cr_expect_geq(get_int(read, "ns"), 450000000);
    long long at_read_here = stack_sum(k, "offcpu", "TIMER", "read_here");
    cr_expect_geq(at_read_here, 450000000, "off-CPU ns at read_here: %lld", at_read_here);
    json_object_put(k);
}

/* A target that exits while the view watches: its threads' last switch (their memory may be
 * gone) is no read error, and every switch of theirs was followed. It counted one read error
 * per exit before. */
Test(kernel_view, an_exiting_target_is_no_read_error)
{
    struct proc target, kv;
    char pid[32];
    char *targv[] = {CPUSHARE, "50", "4", "6", NULL};
    start_ready_target(&target, targv, pid);
    char *kargv[] = {KVIEW, "-p", pid, NULL};
    proc_start(&kv, kargv);
    cr_assert(proc_wait_stderr(&kv, "attached", 15000), "kview did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    cr_assert_eq(proc_capture(&target, NULL, NULL, 20000), 0, "cpushare did not finish");
    usleep(200000); /* the exit's switches, seen by the view before it stops */
    char *out = NULL, *err = NULL;
    cr_assert_eq(proc_capture(&kv, &out, &err, 30000), 0, "kview: %s", err);
    json_object *root = json_tokener_parse(out), *k;
    cr_assert(root && json_object_object_get_ex(root, "kernel", &k), "%.300s", out);
    cr_expect_gt(get_int(k, "samples"), 20);
    cr_expect_eq(get_int(k, "read_errors"), 0);
    cr_expect_eq(get_int(k, "malformed"), 0);
    cr_expect_eq(get_int(k, "switches_lost"), 0);
    /* SHARE, cpushare's first type, by its slot: names are read from a target still there. */
    json_object *types = NULL, *share = NULL;
    cr_assert(json_object_object_get_ex(k, "types", &types));
    for (size_t i = 0; i < json_object_array_length(types); i++)
        if (get_int(json_object_array_get_idx(types, i), "slot") == 0)
            share = json_object_array_get_idx(types, i);
    cr_assert_not_null(share, "no samples under SHARE: %.300s", out);
    cr_expect_gt(get_int(share, "cpu_samples"), 0);
    json_object_put(root);
    free(out);
    free(err);
}

/* An event loop that waits in epoll_wait outside any callback: no BLOCK is charged to its
 * callbacks, though its waits were seen (run-queue delays outside callbacks). */
Test(kernel_view, waiting_outside_callbacks_is_not_blocking)
{
    json_object *k = kernel_view_of("idle", NULL, NULL);
    json_object *tick = find_named(k, "types", "TICK");
    cr_expect_eq(field_or_zero(tick, "blocked_ns"), 0, "TICK charged %lld ns",
                 field_or_zero(tick, "blocked_ns"));
    cr_expect_null(reason_of(tick, "epoll_wait"));
    json_object *outside = find_named(k, "types", "(outside callbacks)");
    cr_assert_not_null(outside, "the loop's waits were not seen at all");
    json_object *untagged = find_named(k, "types", "(untagged)");
    cr_expect_geq(get_int(outside, "runq_count"), 10,
                  "%lld run-queue waits outside callbacks, %lld untagged (%lld read errors, %lld "
                  "switches lost)",
                  get_int(outside, "runq_count"), field_or_zero(untagged, "runq_count"),
                  get_int(k, "read_errors"), get_int(k, "switches_lost"));
    cr_expect_eq(get_int(outside, "blocked_ns"), 0);
    json_object_put(k);
}

/* The q-quantile of the sorted pendings (pendings.h) is pending[floor(q * n)] (for 10 items:
 * p50 the 6th, p99 the 10th). One worker, 10 tasks of 20 ms queued at once: pending p50 ~100 ms,
 * p99 ~180 ms. Computed here from the libah events of a recording (`ahprof record`, then the file's
 * reader), as the truth that report's and top's pending figures are checked against
 * (test_record_cpu, test_pending). */
Test(kernel_view, pending_of_a_queued_pool, .init = make_data_path, .fini = remove_data)
{
    struct proc target, rec;
    char pid[32];
    char *targv[] = {TRUTHS, "pool", NULL};
    start_ready_target(&target, targv, pid);
    char *rargv[] = {AHPROF, "record", "-p", pid, "-o", data_path, NULL};
    proc_start(&rec, rargv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char line[64];
    cr_assert(proc_read_line(&target, line, sizeof(line), 20000) && strcmp(line, "done") == 0);
    cr_assert_eq(proc_capture(&target, NULL, NULL, 10000), 0);
    cr_assert_eq(proc_wait(&rec, 20000), 0, "record must end when its target exits");

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, data_path), 0);
    struct pendings p = {.work_type = -1};
    for (int32_t t = 0; t < AHP_TYPE_MAX; t++) {
        const char *name = ahp_reader_type_name(r, t);
        if (name && strcmp(name, "WORK") == 0)
            p.work_type = t;
    }
    cr_assert_geq(p.work_type, 0, "no WORK type in the recording");
    struct ahp_read_ops ops = {.events = collect_pendings};
    cr_assert_eq(ahp_reader_foreach(r, &ops, &p), 0);
    ahp_reader_close(r);
    cr_assert_eq(p.n, 10, "%d WORK items recorded", p.n);
    uint64_t pending[10];
    for (int i = 0; i < 10; i++) {
        cr_assert_neq(p.first_ns[i], 0, "WORK %d never ran", i);
        pending[i] = p.first_ns[i] - p.init_ns[i];
    }
    qsort(pending, 10, sizeof(pending[0]), cmp_u64);
    uint64_t p50 = pending[5], p99 = pending[9];
    cr_expect(p50 >= 90000000 && p50 <= 130000000, "pending p50 %llu ns", (unsigned long long)p50);
    cr_expect(p99 >= 170000000 && p99 <= 230000000, "pending p99 %llu ns", (unsigned long long)p99);
}

/* A thread that lies in its execution stack while it runs and sleeps inside a callback: what
 * the view cannot read, or what libah never writes, is counted (read_errors, malformed) and
 * goes to (untagged), never to a type; nothing is charged as blocking. */
static void expect_hostile_untagged(const char *kind, const char *counter)
{
    json_object *k = kernel_view_of_program(HOSTILE, kind, "--stacks", NULL);
    json_object *hostile = find_named(k, "types", "HOSTILE");
    cr_expect_eq(field_or_zero(hostile, "cpu_samples"), 0, "%s: samples tagged HOSTILE", kind);
    cr_expect_eq(field_or_zero(hostile, "blocked_ns"), 0, "%s: blocking charged to HOSTILE", kind);
    json_object *untagged = find_named(k, "types", "(untagged)");
    cr_assert_not_null(untagged, "%s: nothing untagged", kind);
    long long samples = get_int(untagged, "cpu_samples");
    cr_expect_geq(samples, 15, "%s: %lld untagged samples of 300 ms", kind, samples);
    cr_expect_geq(get_int(k, counter), samples, "%s: %s %lld for %lld samples", kind, counter,
                  get_int(k, counter), samples);
    cr_expect_eq(get_int(untagged, "blocked_ns"), 0);
    json_object *types;
    cr_assert(json_object_object_get_ex(k, "types", &types));
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i);
        cr_expect_lt(get_int(t, "slot"), 258, "slot out of range");
    }
    json_object_put(k);
}

Test(kernel_view, hostile_frames_pointer)
{
    expect_hostile_untagged("frames", "read_errors");
}

Test(kernel_view, hostile_depth)
{
    expect_hostile_untagged("depth", "malformed");
}

Test(kernel_view, hostile_resource_pointer)
{
    expect_hostile_untagged("resource", "read_errors");
}

Test(kernel_view, hostile_type)
{
    expect_hostile_untagged("type", "malformed");
}

/* `ahprof top --json` on kernel_truths MODE, attached before the mode runs, to the target's
 * exit: the last interval (totals since attach). */
static json_object *top_of(const char *mode)
{
    struct proc target, top;
    char pid[32];
    char *targv[] = {TRUTHS, (char *)mode, NULL};
    start_ready_target(&target, targv, pid);
    char *argv[] = {AHPROF, "top", "-j", "-p", pid, "0.2", NULL};
    proc_start(&top, argv);
    char *line = malloc(1 << 16);
    cr_assert(proc_read_line(&top, line, 1 << 16, 30000), "top printed nothing");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char done[64];
    cr_assert(proc_read_line(&target, done, sizeof(done), 20000) && strcmp(done, "done") == 0);
    cr_assert_eq(proc_capture(&target, NULL, NULL, 10000), 0);
    json_object *last = NULL;
    while (proc_read_line(&top, line, 1 << 16, 20000)) {
        json_object *o = json_tokener_parse(line);
        cr_assert_not_null(o, "not JSON: %.200s", line);
        if (last)
            json_object_put(last);
        last = o;
    }
    cr_assert_eq(proc_wait(&top, 10000), 0);
    free(line);
    cr_assert_not_null(last);
    json_object *final;
    cr_assert(json_object_object_get_ex(last, "final", &final) && json_object_get_boolean(final));
    return last;
}

/* top's kernel columns: BLOCK of the TIMER callbacks blocked in read(), CPU of the BURN one. */
Test(kernel_view, top_carries_block_and_cpu)
{
    json_object *top = top_of("block");
    json_object *timer = find_named(top, "types", "TIMER");
    cr_assert_not_null(timer);
    long long blocked = get_int(timer, "blocked_ns");
    cr_expect(blocked >= 450000000 && blocked <= 550000000, "top: TIMER blocked %lld ns", blocked);
    cr_expect_eq(get_int(timer, "blocked_count"), 10);
    json_object_put(top);

    top = top_of("burn");
    json_object *burn = find_named(top, "types", "BURN");
    cr_assert_not_null(burn);
    long long samples = get_int(burn, "cpu_samples");
    cr_expect(samples >= 79 && samples <= 119, "top: BURN %lld samples", samples);
    cr_expect_eq(field_or_zero(find_named(top, "types", "QUICK"), "cpu_samples"), 0);
    json_object_put(top);
}

/* What `flame -w cpu` will draw: folded lines TYPE;user frames;kernel frames SAMPLES, the
 * burning callback's samples under BURN through burn_here, none of it under another root. */
Test(kernel_view, folded_cpu_stacks_start_at_the_type)
{
    char *out = kernel_view_output(TRUTHS, "burn", "--folded", "cpu");
    long long burn = 0, burn_here = 0, elsewhere = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *value = strrchr(line, ' ');
        cr_assert_not_null(value, "not folded: %s", line);
        long long n = atoll(value + 1);
        bool in_burn_here = strstr(line, ";burn_here") != NULL;
        if (strncmp(line, "BURN;", 5) == 0) {
            burn += n;
            burn_here += in_burn_here ? n : 0;
        } else if (in_burn_here) {
            elsewhere += n;
        }
    }
    cr_expect(burn >= 79 && burn <= 119, "%lld BURN samples", burn);
    cr_expect_geq(burn_here, burn * 9 / 10, "%lld of %lld through burn_here", burn_here, burn);
    cr_expect_eq(elsewhere, 0);
    free(out);
}
