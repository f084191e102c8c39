/*
 * test_prometheus.c - `ahprof top --serve`: Debian's real Prometheus server scrapes ahprof on
 * loopback every second, and its HTTP API must give back the workloads' known numbers (live
 * counts, exact totals after the target exits, a rate over a known window, the quantile of a
 * known callback duration) with hostile type names as exact label values. Then what a user
 * may get wrong (a port in use, a bad address), what a client may send, and scrapes while
 * the target exits, with a plain socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "promtest.h"
#include "run.h"

Test(prometheus, scrapes_give_the_workloads_known_numbers, .timeout = 150, .fini = stop_prometheus)
{
    enum { SPIN_N = 500, SPIN_MS = 3, SPIN_GAP = 7, HOLD_N = 7 };
    struct proc labels, spin, hold, top;
    char labels_pid[32], spin_pid[32], hold_pid[32];
    char *labels_argv[] = {WORKLOAD, "labels", NULL};
    char n[16], ms[16], gap[16], holds[16];
    snprintf(n, sizeof(n), "%d", SPIN_N);
    snprintf(ms, sizeof(ms), "%d", SPIN_MS);
    snprintf(gap, sizeof(gap), "%d", SPIN_GAP);
    snprintf(holds, sizeof(holds), "%d", HOLD_N);
    char *spin_argv[] = {WORKLOAD, "spin", n, ms, gap, NULL};
    char *hold_argv[] = {WORKLOAD, "hold", holds, NULL};
    start_ready_target(&labels, labels_argv, labels_pid);
    start_ready_target(&spin, spin_argv, spin_pid);
    start_ready_target(&hold, hold_argv, hold_pid);
    char *top_argv[] = {AHPROF, "top",    "--json", "--serve", "127.0.0.1:0", "-p", labels_pid,
                        "-p",   spin_pid, "-p",     hold_pid,  "60",          NULL};
    proc_start(&top, top_argv);
    int port = serving_port(&top, 30000);
    start_prometheus(port);
    char q[512];

    /* Alive before ahprof attached: counted by the snapshot. */
    snprintf(q, sizeof(q), "ahprof_live_resources{pid=\"%s\",type=\"HOLD\"}", hold_pid);
    cr_assert_eq(prom_wait(q, HOLD_N, 20000), HOLD_N, "%s", q);
    cr_expect_eq(prom_scalar("up{job=\"ahprof\"}", 0), 1);

    /* Every hostile name comes back as the exact bytes (invalid UTF-8 as U+FFFD), and the
     * comm label of each target too. */
    static const char *const names[] = {"back\\slash",         "quo\"te",    "new\nline", "\\\"\n",
                                        "bad\xef\xbf\xbdutf8", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        expect_series_named("ahprof_live_resources", labels_pid, names[i], 1);
    snprintf(q, sizeof(q), "ahprof_target_running{pid=\"%s\",comm=\"workload\"}", labels_pid);
    cr_expect_eq(prom_scalar(q, 0), 1, "%s", q);

    /* SPIN: one 3 ms callback every 10 ms for 5 s. */
    release(&spin);
    char line[64];
    cr_assert(proc_read_line(&spin, line, sizeof(line), 10000) && strcmp(line, "started") == 0);
    double started = wall_s();
    cr_assert(proc_read_line(&spin, line, sizeof(line), 60000) && strcmp(line, "spun") == 0);
    double spun = wall_s();
    cr_assert_eq(proc_wait(&spin, 10000), 0);
    /* Exact once the target has exited (ahprof serves its last values). */
    snprintf(q, sizeof(q), "ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}", spin_pid);
    double total = prom_wait(q, SPIN_N, 10000);
    cr_expect_eq(total, SPIN_N, "%s = %g", q, total);
    snprintf(q, sizeof(q), "ahprof_callback_duration_seconds_count{pid=\"%s\",type=\"SPIN\"}",
             spin_pid);
    cr_expect_eq(prom_scalar(q, 0), SPIN_N, "%s", q);
    snprintf(q, sizeof(q), "ahprof_target_running{pid=\"%s\"}", spin_pid);
    cr_expect_eq(prom_wait(q, 0, 10000), 0, "%s", q);

    /* The rate over a window inside the run (the batch path hands a thread's records over
     * when its buffer is full or the thread is switched out: here at each sleep between
     * callbacks). The workload keeps to its schedule, catching up when late: 100 callbacks/s. */
    double expected_rate = 1000.0 / (SPIN_MS + SPIN_GAP);
    cr_assert_gt(spun - started, 4.5, "the run is shorter than the window");
    snprintf(q, sizeof(q), "rate(ahprof_callbacks_total{pid=\"%s\",type=\"SPIN\"}[3s])", spin_pid);
    double rate = prom_scalar(q, started + 4.0);
    cr_expect(rate > expected_rate * 0.7 && rate < expected_rate * 1.3,
              "%s at 4 s: %.1f/s, the workload ran %.1f/s (%d in %.2f s)", q, rate,
              SPIN_N / (spun - started), SPIN_N, spun - started);

    /* Each callback spins 3 ms (by the clock): log2 bucket [2^21, 2^22) ns for the median;
     * a callback preempted at its end lasts longer, never shorter. */
    const double lo = 2097152e-9, hi = 4194303e-9;
    snprintf(q, sizeof(q),
             "histogram_quantile(0.5, ahprof_callback_duration_seconds_bucket{pid=\"%s\","
             "type=\"SPIN\"})",
             spin_pid);
    double median = prom_scalar(q, 0);
    cr_expect(median >= lo && median <= hi, "%s = %g s, expected in [%g, %g]", q, median, lo, hi);
    snprintf(q, sizeof(q),
             "histogram_quantile(0.99, rate(ahprof_callback_duration_seconds_bucket{pid=\"%s\","
             "type=\"SPIN\"}[3s]))",
             spin_pid);
    double p99 = prom_scalar(q, started + 4.0);
    cr_expect(p99 >= lo, "%s at 4 s = %g s, expected at least %g", q, p99, lo);
    snprintf(q, sizeof(q),
             "ahprof_callback_duration_seconds_sum{pid=\"%s\",type=\"SPIN\"} / "
             "ahprof_callback_duration_seconds_count{pid=\"%s\",type=\"SPIN\"}",
             spin_pid, spin_pid);
    double mean = prom_scalar(q, 0);
    cr_expect(mean >= SPIN_MS * 1e-3 && mean < 1.0, "mean callback %g s", mean);

    /* HOLD's target: 10 AFTER lifecycles, the HOLDs destroyed, exit; scraped meanwhile. */
    release(&hold);
    cr_assert_eq(proc_wait(&hold, 10000), 0);
    snprintf(q, sizeof(q), "ahprof_resources_destroyed_total{pid=\"%s\",type=\"HOLD\"}", hold_pid);
    cr_expect_eq(prom_wait(q, HOLD_N, 10000), HOLD_N, "%s", q);
    snprintf(q, sizeof(q), "ahprof_live_resources{pid=\"%s\",type=\"HOLD\"}", hold_pid);
    cr_expect_eq(prom_scalar(q, 0), 0, "%s", q);
    snprintf(q, sizeof(q), "ahprof_callbacks_total{pid=\"%s\",type=\"AFTER\"}", hold_pid);
    cr_expect_eq(prom_scalar(q, 0), 10, "%s", q);
    snprintf(q, sizeof(q), "ahprof_resources_created_total{pid=\"%s\",type=\"AFTER\"}", hold_pid);
    cr_expect_eq(prom_scalar(q, 0), 10, "%s", q);
    cr_expect_eq(prom_scalar("sum(ahprof_lost_events_total)", 0), 0);
    /* Every scrape of the run succeeded, the ones while targets exited included. */
    cr_expect_eq(prom_scalar("min_over_time(up{job=\"ahprof\"}[1h])", 0), 1);

    /* The last target leaves: ahprof ends. */
    release(&labels);
    cr_assert_eq(proc_wait(&labels, 10000), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(proc_capture(&top, &out, &err, 20000), 0, "ahprof top: %s", err);
    free(out);
    free(err);
}

/* ---- Bad input, without Prometheus ------------------------------------------------- */

static void expect_serve_fails(const char *pid, const char *addr, int code, const char *says)
{
    char *argv[] = {AHPROF, "top", "--serve", (char *)addr, "-p", (char *)pid, "1", "1", NULL};
    char *out = NULL, *err = NULL;
    int got = run_capture(argv, &out, &err, 30000);
    cr_expect_eq(got, code, "--serve %s: exit %d, expected %d: %s", addr, got, code, err);
    cr_expect_not_null(strstr(err, says), "--serve %s: '%s' expected in: %s", addr, says, err);
    cr_expect_null(strstr(err, "serving"), "--serve %s served: %s", addr, err);
    free(out);
    free(err);
}

Test(prometheus, bad_addresses_and_a_busy_port_fail_clearly, .timeout = 120)
{
    struct proc target;
    char pid[32];
    char *target_argv[] = {WORKLOAD, "wait", NULL};
    start_ready_target(&target, target_argv, pid);

    expect_serve_fails(pid, "127.0.0.1:99999", 2, "invalid --serve address '127.0.0.1:99999'");
    expect_serve_fails(pid, "127.0.0.1:", 2, "the port must be a number");
    expect_serve_fails(pid, "127.0.0.1:http", 2, "the port must be a number");
    expect_serve_fails(pid, "::1:9464", 2, "IPv6 address goes in brackets");
    expect_serve_fails(pid, "[::1:9464", 2, "IPv6 address goes in brackets");
    /* TEST-NET-1: no interface of this machine has it. */
    expect_serve_fails(pid, "192.0.2.1:9464", 1, "cannot listen there: Cannot assign");

    int busy = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(busy, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(busy, 1) == 0);
    cr_assert(getsockname(busy, (struct sockaddr *)&a, &len) == 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
    expect_serve_fails(pid, addr, 1, "cannot listen there: Address already in use");
    snprintf(addr, sizeof(addr), "%d", ntohs(a.sin_port)); /* PORT alone is 127.0.0.1:PORT */
    expect_serve_fails(pid, addr, 1, "cannot listen there: Address already in use");
    close(busy);

    release(&target);
    cr_expect_eq(proc_wait(&target, 10000), 0);
}

Test(prometheus, bad_requests_are_refused_and_idle_clients_do_not_block_scrapes, .timeout = 120)
{
    struct proc target, top;
    char pid[32];
    char *target_argv[] = {WORKLOAD, "hold", "3", NULL};
    start_ready_target(&target, target_argv, pid);
    char *top_argv[] = {AHPROF, "top", "--json", "--serve", "0", "-p", pid, "60", NULL};
    proc_start(&top, top_argv);
    int port = serving_port(&top, 30000);

    static const struct {
        const char *request;
        int status;
    } cases[] = {
        {"garbage\r\n\r\n", 400},
        {"GET /metrics\r\n\r\n", 400},
        {"GET metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics HTTP/2.0\r\n\r\n", 400},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
        {"GET /nope HTTP/1.1\r\n\r\n", 404},
        {"GET /metrics?x=1 HTTP/1.0\r\n\r\n", 200},
        {"GET /metrics HTTP/1.1\nHost: x\n\n", 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response r = http_raw(port, cases[i].request, strlen(cases[i].request), 10000);
        cr_expect_eq(r.status, cases[i].status, "'%s': %d", cases[i].request, r.status);
        free(r.body);
    }
    /* A head that never ends: refused once the bound is reached. */
    size_t big = 20000;
    char *huge = malloc(big + 1);
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(huge + 26, 'a', big - 26);
    huge[big] = '\0';
    struct response r = http_raw(port, huge, big, 10000);
    cr_expect_eq(r.status, 431);
    free(r.body);
    free(huge);

    /* Clients that connect and say nothing take every slot, for a bounded time only. */
    int idle[8];
    for (int i = 0; i < 8; i++) {
        idle[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert(connect(idle[i], (struct sockaddr *)&a, sizeof(a)) == 0);
    }
    r = http_get(port, "/metrics");
    cr_expect_eq(r.status, 200, "a scrape behind idle clients: %d", r.status);
    cr_expect_not_null(r.body && strstr(r.body, "type=\"HOLD\"} 3\n"), "%s", r.body);
    free(r.body);
    for (int i = 0; i < 8; i++)
        close(idle[i]);

    release(&target);
    cr_expect_eq(proc_wait(&target, 10000), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(proc_capture(&top, &out, &err, 20000), 0, "%s", err);
    free(out);
    free(err);
}

Test(prometheus, scrapes_while_the_target_exits_are_whole, .timeout = 120)
{
    struct proc top;
    /* Launched: sleeps 1 s, then 20 x 50 ms callbacks, then exits (so does ahprof). */
    char *top_argv[] = {AHPROF,   "top", "--json", "--serve", "127.0.0.1:0", "60", "--",
                        WORKLOAD, "-s",  "1",      "burn",    "20",          "50", NULL};
    proc_start(&top, top_argv);
    int port = serving_port(&top, 30000);
    int whole = 0, running = 0, exited = 0;
    long long deadline = now_ms() + 60000;
    for (;;) {
        struct response r = http_get(port, "/metrics");
        if (r.status == 0)
            break; /* ahprof has gone: connection refused */
        cr_assert_eq(r.status, 200, "a scrape cut short or refused: %d", r.status);
        whole++;
        if (strstr(r.body, "ahprof_target_running{") && strstr(r.body, "\"} 1\n"))
            running++;
        if (strstr(r.body, "type=\"BURN\"} 20\n"))
            exited++; /* every BURN callback counted: the target was about to exit */
        /* The last family of every scrape is there, and its last line is whole. */
        cr_assert_not_null(strstr(r.body, "# TYPE ahprof_callback_duration_seconds histogram\n"));
        cr_assert(r.body_len > 0 && r.body[r.body_len - 1] == '\n');
        free(r.body);
        cr_assert(now_ms() < deadline, "ahprof did not end after its target");
    }
    cr_expect_gt(running, 0);
    cr_expect_gt(whole, 10);
    char *out = NULL, *err = NULL;
    cr_expect_eq(proc_capture(&top, &out, &err, 20000), 0, "%s", err);
    json_object *last = NULL;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (last)
            json_object_put(last);
        last = json_tokener_parse(line);
    }
    cr_assert_not_null(last);
    expect_type(last, "BURN", 20, 20, 20, 0);
    json_object_put(last);
    cr_log_info("%d whole scrapes, %d with BURN complete", whole, exited);
    free(out);
    free(err);
}

Test(prometheus, several_targets_print_one_object_each_until_the_last_exits, .timeout = 120)
{
    struct proc a, b, top;
    char pid_a[32], pid_b[32];
    char *a_argv[] = {WORKLOAD, "hold", "2", NULL}, *b_argv[] = {WORKLOAD, "hold", "5", NULL};
    start_ready_target(&a, a_argv, pid_a);
    start_ready_target(&b, b_argv, pid_b);
    char *top_argv[] = {AHPROF, "top", "--json", "-p", pid_a, "-p", pid_b, "0.2", NULL};
    proc_start(&top, top_argv);
    /* One object per target and interval, in the order of the -p. */
    char line[1 << 16];
    for (int i = 0; i < 2; i++) {
        cr_assert(proc_read_line(&top, line, sizeof(line), 30000));
        json_object *obj = json_tokener_parse(line);
        cr_assert_not_null(obj, "%s", line);
        cr_expect_eq(get_int(obj, "pid"), atoi(i == 0 ? pid_a : pid_b));
        expect_type(obj, "HOLD", 0, 0, 0, i == 0 ? 2 : 5);
        json_object_put(obj);
    }
    /* A's exit ends its lines (the last one final); B's go on until B exits. */
    release(&a);
    cr_assert_eq(proc_wait(&a, 10000), 0);
    bool a_final = false;
    int b_after_a = 0;
    while (!a_final || b_after_a < 2) {
        cr_assert(proc_read_line(&top, line, sizeof(line), 30000), "ahprof top stopped early");
        json_object *obj = json_tokener_parse(line), *final;
        cr_assert_not_null(obj, "%s", line);
        cr_assert(json_object_object_get_ex(obj, "final", &final));
        if (get_int(obj, "pid") == atoi(pid_a)) {
            cr_assert(!a_final, "a line after A's final one");
            a_final = json_object_get_boolean(final);
            if (a_final)
                expect_type(obj, "HOLD", 0, 2, 0, 0);
        } else if (a_final) {
            b_after_a++;
            cr_expect(!json_object_get_boolean(final));
        }
        json_object_put(obj);
    }
    release(&b);
    cr_assert_eq(proc_wait(&b, 10000), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(proc_capture(&top, &out, &err, 20000), 0, "%s", err);
    char pid_field[48];
    snprintf(pid_field, sizeof(pid_field), "\"pid\": %s,", pid_a);
    cr_expect_null(strstr(out, pid_field), "A after its final line: %s", out);
    cr_expect_not_null(strstr(out, "\"final\": true"), "B's last line is not final: %s", out);
    free(out);
    free(err);
}
