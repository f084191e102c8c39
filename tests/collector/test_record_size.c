/*
 * test_record_size.c - what a recording of the example server costs on disk (issue 13): at
 * most 8 bytes per event with the default settings, and less again with --compress; the file
 * reads back with every event and nothing lost. Real BPF, the real server under its load.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run.h"

#define SERVER AHP_BUILD "/examples/ah-server"
#define LOAD AHP_BUILD "/examples/ah-load"

TestSuite(record_size, .init = make_data_path, .fini = remove_data, .timeout = 90);

struct server_under_load {
    struct proc server, load;
    char pid[32];
};

/* The server with two worker threads, and the load of `make demo` on it. */
static void start_server_under_load(struct server_under_load *s)
{
    char *sargv[] = {SERVER, "--port", "0", "--threads", "2", "--duration", "30", NULL};
    proc_start(&s->server, sargv);
    char line[256];
    int port = 0;
    while (port == 0 && proc_read_line(&s->server, line, sizeof(line), 10000))
        sscanf(line, "listening on 127.0.0.1:%d", &port);
    cr_assert_gt(port, 0, "the example server did not start");
    snprintf(s->pid, sizeof(s->pid), "%d", s->server.pid);
    char portarg[16];
    snprintf(portarg, sizeof(portarg), "%d", port);
    char *largv[] = {LOAD,
                     "--port",
                     portarg,
                     "--connections",
                     "4",
                     "--duration",
                     "8",
                     "--mix",
                     "fast=70,work=10,sleep=15,leak=5",
                     NULL};
    proc_start(&s->load, largv);
}

static void stop_server(struct server_under_load *s)
{
    kill(s->load.pid, SIGTERM);
    proc_wait(&s->load, 10000);
    kill(s->server.pid, SIGTERM);
    proc_wait(&s->server, 10000);
}

/* Record the server for 2 s with EXTRA (NULL: defaults); bytes per event of the file. */
static double record_bytes_per_event(struct server_under_load *s, const char *extra)
{
    char *argv[16] = {AHPROF, "record", "-q", "-p", s->pid, "--duration", "2", "-o", data_path};
    int n = 9;
    if (extra)
        argv[n++] = (char *)extra;
    argv[n] = NULL;
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 30000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    free(err);
    json_object *r = report_json();
    long long events = get_int(r, "events"), lost = get_int(r, "lost_events");
    json_object_put(r);
    struct stat st;
    cr_assert_eq(stat(data_path, &st), 0);
    cr_assert_gt(events, 10000, "the server raised only %lld events in 2 s", events);
    cr_expect_eq(lost, 0, "%lld events lost", lost);
    double per = (double)st.st_size / (double)events;
    cr_log_info("%s: %lld events, %lld bytes, %.2f bytes per event", extra ? extra : "default",
                events, (long long)st.st_size, per);
    return per;
}

Test(record_size, example_server_costs_at_most_8_bytes_per_event)
{
    struct server_under_load s;
    start_server_under_load(&s);
    double plain = record_bytes_per_event(&s, NULL);
    double compressed = record_bytes_per_event(&s, "--compress");
    stop_server(&s);
    /* The whole file, headers, type table and counters included. */
    cr_expect_leq(plain, 8.0, "%.2f bytes per event", plain);
    cr_expect_lt(compressed, plain, "--compress: %.2f bytes per event, plain %.2f", compressed,
                 plain);
}
