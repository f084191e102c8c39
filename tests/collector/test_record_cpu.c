/*
 * test_record_cpu.c - `ahprof record --cpu` (the kernel view in the recording) and what reads
 * it: report's CPU, blocking and pending figures, `flame -w cpu|offcpu` and pprof's cpu
 * samples, with real BPF against tests/targets/kernel_truths.c, whose CPU, blocking and
 * waiting are known (the same truths as test_kernel_view.c, through the file this time).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/datafile.h"
#include "pendings.h"
#include "run.h"

#define TRUTHS AHP_BUILD "/targets/kernel_truths"

/* Record kernel_truths MODE with `ahprof record -p PID OPTS...` into data_path, from before the
 * mode starts to the target's exit. */
static void record_mode(const char *mode, const char *opt1, const char *opt2)
{
    struct proc target, rec;
    char pid[32];
    char *targv[] = {TRUTHS, (char *)mode, NULL};
    start_ready_target(&target, targv, pid);
    char *rargv[] = {AHPROF,    "record",     "-p",         pid, "-o",
                     data_path, (char *)opt1, (char *)opt2, NULL};
    proc_start(&rec, rargv);
    cr_assert(proc_wait_stderr(&rec, "ahprof: recording pid", 30000), "ahprof did not attach");
    cr_assert_eq(write(target.in_fd, "go\n", 3), 3);
    char line[64];
    cr_assert(proc_read_line(&target, line, sizeof(line), 20000) && strcmp(line, "done") == 0,
              "kernel_truths %s did not finish", mode);
    cr_assert_eq(proc_capture(&target, NULL, NULL, 10000), 0);
    char *err = NULL;
    cr_assert_eq(proc_capture(&rec, NULL, &err, 20000), 0, "record failed: %s", err);
    free(err);
}

/* Run ahprof with ARGV[1..]; its exit code, and what it printed in *OUT and *ERR. */
static int ahprof(char *const argv[], char **out, char **err)
{
    return run_capture(argv, out, err, 60000);
}

/* Sum of the values of folded lines that start with PREFIX and hold NEEDLE (NULL: any);
 * with PREFIX NULL, of the lines that do NOT start with NOT_PREFIX and hold NEEDLE. */
static long long folded_sum(const char *folded, const char *prefix, const char *not_prefix,
                            const char *needle)
{
    char *copy = strdup(folded), *save = NULL;
    long long sum = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *value = strrchr(line, ' ');
        cr_assert_not_null(value, "not folded: %s", line);
        *value = '\0';
        bool starts = prefix ? strncmp(line, prefix, strlen(prefix)) == 0
                             : strncmp(line, not_prefix, strlen(not_prefix)) != 0;
        if (starts && (needle == NULL || strstr(line, needle) != NULL))
            sum += atoll(value + 1);
    }
    free(copy);
    return sum;
}

static char *flame_folded(const char *weight)
{
    char *argv[] = {AHPROF, "flame", "-w", (char *)weight, data_path, NULL};
    char *out = NULL, *err = NULL;
    int code = ahprof(argv, &out, &err);
    cr_assert_eq(code, 0, "flame -w %s exited %d: %s", weight, code, err);
    free(err);
    return out;
}

TestSuite(record_cpu, .timeout = 120, .init = make_data_path, .fini = remove_data);

/* 1 s of CPU in burn_here() inside one BURN callback at 99 Hz: ~99 samples (+-20%) under BURN
 * in the report; flame -w cpu draws burn_here above BURN and nowhere else; pprof's cpu
 * samples show burn_here. */
Test(record_cpu, burning_callback)
{
    record_mode("burn", "--cpu", NULL);
    json_object *r = report_json();
    json_object *burn = find_named(r, "types", "BURN"), *kernel;
    cr_assert_not_null(burn);
    long long samples = get_int(burn, "cpu_samples");
    cr_expect(samples >= 79 && samples <= 119, "BURN: %lld samples, expected 99 +-20%%", samples);
    json_object *quick = find_named(r, "types", "QUICK");
    cr_expect_eq(get_int(quick, "cpu_samples"), 0);
    cr_assert(json_object_object_get_ex(r, "kernel", &kernel) && kernel != NULL);
    cr_expect_eq(get_int(kernel, "hz"), 99);
    cr_expect_eq(get_int(kernel, "lost_records"), 0);
    json_object_put(r);

    char *folded = flame_folded("cpu");
    long long under_burn = folded_sum(folded, "BURN;", NULL, NULL);
    long long burn_here = folded_sum(folded, "BURN;", NULL, ";burn_here");
    cr_expect_eq(under_burn, samples, "flame: %lld BURN samples, report %lld", under_burn, samples);
    cr_expect_geq(burn_here, samples * 9 / 10, "%lld of %lld through burn_here", burn_here,
                  samples);
    cr_expect_eq(folded_sum(folded, NULL, "BURN;", "burn_here"), 0,
                 "burn_here under another type: %s", folded);
    free(folded);

    char pb[96];
    snprintf(pb, sizeof(pb), "%s.pb.gz", data_path);
    char *pargv[] = {AHPROF, "flame", "-f", "pprof", "-o", pb, data_path, NULL};
    char *err = NULL;
    cr_assert_eq(ahprof(pargv, NULL, &err), 0, "pprof: %s", err);
    free(err);
    char *gargv[] = {"go", "tool", "pprof", "-top", "-sample_index=cpu_samples", "-nodefraction=0",
                     pb,   NULL};
    char *out = NULL;
    int code = run_capture(gargv, &out, &err, 120000);
    unlink(pb);
    cr_assert_eq(code, 0, "go tool pprof: %s", err);
    long long flat = -1, cum = -1;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        long long f, c;
        char name[256];
        if (sscanf(line, " %lld %*s %*s %lld %*s %255s", &f, &c, name) == 3 &&
            strcmp(name, "burn_here") == 0) {
            flat = f;
            cum = c;
        }
    }
    /* The samples through burn_here, as the folded output counted them (a sample in the
     * callback but outside burn_here, e.g. its prologue, is BURN's but not burn_here's). */
    cr_expect_eq(cum, burn_here, "pprof: burn_here cum %lld, folded %lld (of %lld samples)", cum,
                 burn_here, samples);
    cr_expect_gt(flat, 0, "pprof: burn_here flat %lld", flat);
    free(out);
    free(err);
}

/* 10 TIMER callbacks each blocked ~50 ms in read(): report's BLOCK ~500 ms (+-10%) under
 * TIMER, the longest-blocking list is those callbacks (reason read, trigger path, read_here
 * in their stacks), flame -w offcpu ends in (read). */
Test(record_cpu, blocking_callbacks)
{
    record_mode("block", "--cpu", "--stacks");
    json_object *r = report_json();
    json_object *timer = find_named(r, "types", "TIMER"), *kernel, *longest;
    cr_assert_not_null(timer);
    long long blocked = get_int(timer, "blocked_ns");
    cr_expect(blocked >= 450000000 && blocked <= 550000000, "TIMER blocked %lld ns", blocked);
    cr_expect_eq(get_int(timer, "blocked_count"), 10);
    cr_assert(json_object_object_get_ex(r, "kernel", &kernel));
    cr_assert(json_object_object_get_ex(kernel, "longest_blocking", &longest));
    cr_assert_eq(json_object_array_length(longest), 10);
    for (size_t i = 0; i < 10; i++) {
        json_object *b = json_object_array_get_idx(longest, i), *v, *path, *stack;
        cr_assert(json_object_object_get_ex(b, "reason", &v));
        cr_expect_str_eq(json_object_get_string(v), "read");
        cr_assert(json_object_object_get_ex(b, "type", &v));
        cr_expect_str_eq(json_object_get_string(v), "TIMER");
        long long ns = get_int(b, "blocked_ns");
        cr_expect(ns >= 40000000 && ns <= 70000000, "callback %zu blocked %lld ns", i, ns);
        cr_assert(json_object_object_get_ex(b, "path", &path));
        cr_expect_eq(json_object_array_length(path), 2, "path (root) > TIMER");
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(path, 1)), "TIMER");
        cr_assert(json_object_object_get_ex(b, "user_stack", &stack));
        bool read_here = false;
        for (size_t k = 0; k < json_object_array_length(stack); k++)
            read_here |= strcmp(json_object_get_string(json_object_array_get_idx(stack, k)),
                                "read_here") == 0;
        cr_expect(read_here, "callback %zu: read_here not in %s", i,
                  json_object_to_json_string(stack));
    }
    json_object_put(r);

    char *folded = flame_folded("offcpu");
    long long read_ns = folded_sum(folded, "TIMER", NULL, ";(read)");
    long long at_read_here = folded_sum(folded, "TIMER", NULL, ";read_here;");
    cr_expect(read_ns >= 450000000 && read_ns <= 550000000, "offcpu (read): %lld ns", read_ns);
    cr_expect_eq(at_read_here, read_ns, "read_here: %lld of %lld ns", at_read_here, read_ns);
    free(folded);

    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(ahprof(argv, &out, &err), 0);
    cr_expect_not_null(strstr(out, "LONGEST-BLOCKING CALLBACKS (10 callbacks blocked)"), "%s", out);
    cr_expect_not_null(strstr(out, "(root) > TIMER"));
    free(out);
    free(err);
}

/* The exact pendings from the file's events (pendings.h), and the report's nearest-rank
 * percentiles (log-linear buckets, within 3%). One worker, 10 tasks of 20 ms queued at once:
 * pendings 0, 20, ... 180 ms. Nearest rank of 10 values: p50 is the 5th (~80 ms), p99 the 10th
 * (~180 ms). */
Test(record_cpu, pending_of_a_queued_pool)
{
    record_mode("pool", NULL, NULL);
    struct ahp_reader *rd;
    cr_assert_eq(ahp_reader_open(&rd, data_path), 0);
    struct pendings p = {.work_type = -1};
    for (int32_t t = 0; t < AHP_TYPE_MAX; t++) {
        const char *name = ahp_reader_type_name(rd, t);
        if (name && strcmp(name, "WORK") == 0)
            p.work_type = t;
    }
    struct ahp_read_ops ops = {.events = collect_pendings};
    cr_assert_eq(ahp_reader_foreach(rd, &ops, &p), 0);
    ahp_reader_close(rd);
    cr_assert_eq(p.n, 10);
    uint64_t pending[10];
    for (int i = 0; i < 10; i++)
        pending[i] = p.first_ns[i] - p.init_ns[i];
    qsort(pending, 10, sizeof(pending[0]), cmp_u64);

    json_object *r = report_json();
    json_object *work = find_named(r, "types", "WORK");
    cr_assert_not_null(work);
    cr_expect_eq(get_int(work, "pending_count"), 10);
    long long p50 = get_int(work, "pending_p50_ns"), p99 = get_int(work, "pending_p99_ns");
    cr_expect(p50 >= (long long)(pending[4] * 97 / 100) &&
                  p50 <= (long long)(pending[4] * 103 / 100),
              "p50 %lld, the 5th pending %llu", p50, (unsigned long long)pending[4]);
    cr_expect(p99 >= (long long)(pending[9] * 97 / 100) && p99 <= (long long)pending[9],
              "p99 %lld, the 10th pending %llu", p99, (unsigned long long)pending[9]);
    cr_expect(p50 >= 70000000 && p50 <= 110000000, "pending p50 %lld ns", p50);
    cr_expect(p99 >= 170000000 && p99 <= 230000000, "pending p99 %lld ns", p99);
    /* Without --cpu: no kernel figures that would look measured. */
    json_object *kernel;
    cr_assert(json_object_object_get_ex(r, "kernel", &kernel));
    cr_expect_null(kernel);
    cr_expect(!json_object_object_get_ex(work, "cpu_samples", NULL));
    json_object_put(r);
}

/* A recording without --cpu: flame -w cpu and -w offcpu refuse it clearly (exit 1); report
 * prints no kernel section. */
Test(record_cpu, without_cpu_data)
{
    record_mode("burn", NULL, NULL);
    const char *weights[] = {"cpu", "offcpu"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {AHPROF, "flame", "-w", (char *)weights[i], data_path, NULL};
        char *out = NULL, *err = NULL;
        int code = ahprof(argv, &out, &err);
        cr_expect_eq(code, 1, "flame -w %s exited %d", weights[i], code);
        cr_expect_not_null(strstr(err, "has no CPU data: record with --cpu"), "%s", err);
        cr_expect_eq(out[0], '\0', "flame printed %s", out);
        free(out);
        free(err);
    }
    char *argv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(ahprof(argv, &out, &err), 0);
    cr_expect_null(strstr(out, "KERNEL"), "%s", out);
    cr_expect_null(strstr(out, "LONGEST-BLOCKING"));
    free(out);
    free(err);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A recording cut in the middle of its last kernel records chunk is read up to the chunk
 * before: report counts exactly the records of the complete chunks. */
Test(record_cpu, cut_in_a_kernel_chunk)
{
    record_mode("burn", "--cpu", NULL);
    int fd = open(data_path, O_RDWR);
    cr_assert_geq(fd, 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    uint8_t *f = malloc((size_t)st.st_size);
    cr_assert_eq(pread(fd, f, (size_t)st.st_size, 0), st.st_size);
    uint64_t off = 24, last = 0, records = 0, before_last = 0;
    int chunks = 0;
    while (off + 16 <= (uint64_t)st.st_size) {
        uint32_t type = le32(f + off), len = le32(f + off + 4);
        if (type == AHP_CHUNK_KRECORDS) {
            before_last = records;
            records += le32(f + off + 16);
            last = off;
            chunks++;
        }
        off += 16 + len;
    }
    cr_assert_geq(chunks, 2, "%d kernel records chunks: nothing to cut between", chunks);
    uint32_t len = le32(f + last + 4);
    cr_assert_eq(ftruncate(fd, (off_t)(last + 16 + len / 2)), 0);
    close(fd);
    free(f);

    char *argv[] = {AHPROF, "report", "--json", data_path, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(ahprof(argv, &out, &err), 0, "report of a cut file: %s", err);
    cr_expect_not_null(strstr(err, "truncated"), "%s", err);
    json_object *r = json_tokener_parse(out), *kernel, *v;
    cr_assert_not_null(r);
    cr_expect(json_object_object_get_ex(r, "truncated", &v) && json_object_get_boolean(v));
    cr_assert(json_object_object_get_ex(r, "kernel", &kernel) && kernel != NULL);
    cr_expect_eq(get_int(kernel, "samples") + get_int(kernel, "offcpu_records"),
                 (long long)before_last, "records read from the cut file, of %llu written",
                 (unsigned long long)records);
    json_object_put(r);
    free(out);
    free(err);

    char *fargv[] = {AHPROF, "flame", "-w", "cpu", data_path, NULL};
    cr_assert_eq(ahprof(fargv, &out, &err), 0, "flame of a cut file: %s", err);
    cr_expect_gt(folded_sum(out, "BURN;", NULL, NULL), 0);
    free(out);
    free(err);
}
