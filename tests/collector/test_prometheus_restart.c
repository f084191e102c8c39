/*
 * test_prometheus_restart.c - `ahprof top --serve` counters as Debian's real Prometheus sees
 * them when targets go away and come back: they never go down for a `pid` label (PromQL
 * resets() is 0 over the run, for every counter and histogram series, the kernel view's
 * included). ahprof follows a process, not a command: a target that exits leaves its series
 * at their last values (ahprof_target_running 0) while ahprof serves others; a target started
 * again is a new process, to which a new ahprof attaches (or which it launches), under a new
 * `pid` label.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promtest.h"
#include "run.h"

/* Every counter-like series of the run (counters, histogram buckets, sums and counts). */
/* resets() over the whole run is 0 for every series of every counter-like metric of ahprof
 * (asked per metric: resets() drops the name, which alone tells some series apart). */
static void expect_no_resets(void)
{
    struct response r = http_get(prom_port, "/api/v1/label/__name__/values");
    cr_assert_eq(r.status, 200);
    json_object *root = json_tokener_parse(r.body), *names;
    free(r.body);
    cr_assert(root && json_object_object_get_ex(root, "data", &names));
    int metrics = 0, series = 0;
    for (size_t i = 0; i < json_object_array_length(names); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(names, i));
        size_t len = strlen(name);
        bool counter = strncmp(name, "ahprof_", 7) == 0 &&
                       ((len > 6 && strcmp(name + len - 6, "_total") == 0) ||
                        (len > 7 && strcmp(name + len - 7, "_bucket") == 0) ||
                        (len > 4 && strcmp(name + len - 4, "_sum") == 0) ||
                        (len > 6 && strcmp(name + len - 6, "_count") == 0));
        if (!counter)
            continue;
        char q[256];
        snprintf(q, sizeof(q), "resets(%s{job=\"ahprof\"}[10m])", name);
        json_object *qroot;
        json_object *result = prom_query(q, 0, &qroot);
        metrics++;
        for (size_t k = 0; k < json_object_array_length(result); k++) {
            json_object *item = json_object_array_get_idx(result, k), *value, *metric;
            cr_assert(json_object_object_get_ex(item, "value", &value) &&
                      json_object_object_get_ex(item, "metric", &metric));
            double resets =
                strtod(json_object_get_string(json_object_array_get_idx(value, 1)), NULL);
            cr_expect_eq(resets, 0, "%s went down: %s", name,
                         json_object_to_json_string_ext(metric, JSON_C_TO_STRING_PLAIN));
            series++;
        }
        json_object_put(qroot);
    }
    json_object_put(root);
    cr_expect_geq(metrics, 10, "only %d counter metrics", metrics);
    cr_log_info("resets() is 0 for %d series of %d metrics", series, metrics);
}

static void wait_line(struct proc *p, const char *want, int timeout_ms)
{
    char line[64];
    cr_assert(proc_read_line(p, line, sizeof(line), timeout_ms), "no '%s' line", want);
    cr_assert_str_eq(line, want);
}

/* Two targets under one ahprof: the first exits while the other runs on. */
Test(prometheus_restart, a_gone_target_keeps_its_last_values_and_nothing_goes_down, .timeout = 150,
     .fini = stop_prometheus)
{
    struct proc a, b, keep, top;
    char pid_a[32], pid_b[32], pid_keep[32];
    char *a_argv[] = {WORKLOAD, "spin", "150", "3", "7", NULL};
    char *b_argv[] = {WORKLOAD, "spin", "400", "3", "7", NULL};
    char *keep_argv[] = {WORKLOAD, "hold", "1", NULL}; /* keeps ahprof serving to the end */
    start_ready_target(&a, a_argv, pid_a);
    start_ready_target(&b, b_argv, pid_b);
    start_ready_target(&keep, keep_argv, pid_keep);
    char *top_argv[] = {AHPROF, "top", "--json", "--serve", "127.0.0.1:0", "-p", pid_a,
                        "-p",   pid_b, "-p",     pid_keep,  "60",          NULL};
    proc_start(&top, top_argv);
    int port = serving_port(&top, 30000);
    start_prometheus(port);
    char q[512];
    snprintf(q, sizeof(q), "ahprof_target_running{pid=\"%s\"}", pid_b);
    cr_assert_eq(prom_wait(q, 1, 20000), 1, "%s", q);

    release(&a);
    release(&b);
    wait_line(&a, "started", 10000);
    wait_line(&b, "started", 10000);
    wait_line(&a, "spun", 30000);
    cr_assert_eq(proc_wait(&a, 10000), 0);
    double a_gone = wall_s();
    snprintf(q, sizeof(q), "ahprof_target_running{pid=\"%s\"}", pid_a);
    cr_expect_eq(prom_wait(q, 0, 10000), 0, "%s", q);
    wait_line(&b, "spun", 60000);
    cr_assert_eq(proc_wait(&b, 10000), 0);
    snprintf(q, sizeof(q), "ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}", pid_b);
    cr_expect_eq(prom_wait(q, 400, 10000), 400, "%s", q);
    release(&keep);
    cr_assert_eq(proc_wait(&keep, 10000), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(proc_capture(&top, &out, &err, 20000), 0, "ahprof top: %s", err);
    free(out);
    free(err);
    /* The scrapes after ahprof ended: down (a scrape a second; waited for, not slept). */
    cr_expect_eq(prom_wait("up{job=\"ahprof\"}", 0, 10000), 0, "ahprof never seen down");

    /* A's series stayed at their last values while B went on: exact, and the same as just
     * after A exited. */
    snprintf(q, sizeof(q), "last_over_time(ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}[10m])",
             pid_a);
    cr_expect_eq(prom_scalar(q, 0), 150, "%s", q);
    snprintf(q, sizeof(q), "ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}", pid_a);
    double at_exit = prom_scalar(q, a_gone + 2.0);
    cr_expect_eq(at_exit, 150, "%s, 2 s after A exited: %g", q, at_exit);
    snprintf(q, sizeof(q), "max_over_time(ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}[10m])",
             pid_b);
    cr_expect_eq(prom_scalar(q, 0), 400, "%s", q);
    /* Counters kept growing for B after A left; the kernel view's too. */
    snprintf(q, sizeof(q),
             "max_over_time(ahprof_cpu_samples_total{pid=\"%s\",type=\"SPIN\"}[10m]) > 0", pid_b);
    cr_expect(!isnan(prom_scalar(q, 0)), "%s: no CPU samples", q);
    expect_no_resets();
}

/* The same command twice, each time under its own ahprof on the same port (as a service
 * manager restarts both): two `pid` labels, neither of which ever goes down. */
Test(prometheus_restart, a_relaunched_target_is_a_new_pid_and_nothing_goes_down, .timeout = 150,
     .fini = stop_prometheus)
{
    int port = free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    start_prometheus(port);
    /* Prometheus applies its targets a few seconds after it starts: scraping (and failing)
     * before the first ahprof comes up. */
    cr_assert_eq(prom_wait("count(up{job=\"ahprof\"} == 0)", 1, 30000), 1);
    int pids[2];
    for (int run = 0; run < 2; run++) {
        struct proc top;
        /* Sleeps 1 s, then 40 BURN callbacks of 50 ms (and 40 IDLE), then exits: so does
         * ahprof. Scraped a few times meanwhile. */
        char *top_argv[] = {AHPROF,   "top", "--json", "--serve", addr, "60", "--",
                            WORKLOAD, "-s",  "1",      "burn",    "40", "50", NULL};
        proc_start(&top, top_argv);
        cr_assert_eq(serving_port(&top, 30000), port);
        char *out = NULL, *err = NULL;
        cr_assert_eq(proc_capture(&top, &out, &err, 60000), 0, "ahprof top: %s", err);
        json_object *final = NULL;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            if (final)
                json_object_put(final);
            final = json_tokener_parse(line);
        }
        cr_assert_not_null(final);
        pids[run] = (int)get_int(final, "pid");
        json_object_put(final);
        free(out);
        free(err);
        /* Prometheus sees ahprof down between the two (waited for, not slept). */
        cr_assert_eq(prom_wait("up{job=\"ahprof\"}", 0, 10000), 0, "ahprof never seen down");
    }
    cr_assert_neq(pids[0], pids[1]);
    char q[512];
    for (int run = 0; run < 2; run++) {
        snprintf(q, sizeof(q),
                 "max_over_time(ahprof_callbacks_total{pid=\"%d\",type=\"BURN\"}[10m])", pids[run]);
        double v = prom_scalar(q, 0);
        cr_expect(v >= 0 && v <= 40, "%s = %g", q, v);
    }
    cr_expect_eq(
        prom_scalar("count(count by (pid) (last_over_time(ahprof_target_running[10m])))", 0), 2);
    /* ahprof was down between the two: scrapes failed, nothing was made up. */
    cr_expect_eq(prom_scalar("min_over_time(up{job=\"ahprof\"}[10m])", 0), 0);
    expect_no_resets();
}
