/*
 * promtest.h - what the tests of `ahprof top --serve` share: a plain HTTP client with
 * deadlines, Debian's real Prometheus server started on loopback to scrape ahprof every second,
 * and questions to its HTTP API (tests/collector/test_prometheus*.c).
 */
#ifndef AHP_TEST_PROMTEST_H
#define AHP_TEST_PROMTEST_H

#include <json-c/json.h>
#include <stddef.h>

#include "proc.h"

long long now_ms(void); /* CLOCK_MONOTONIC */
double wall_s(void);    /* CLOCK_REALTIME, s: the time of Prometheus' queries */

/* A port nobody listens on now (bound and released: Prometheus' own listen address). */
int free_port(void);

/* Read P's stderr up to the line "ahprof: serving http://127.0.0.1:PORT/metrics": PORT. */
int serving_port(struct proc *p, int timeout_ms);

struct response {
    int status; /* 0: no connection; -1: cut short (less than Content-Length) */
    char *body;
    size_t body_len;
};

/* Send REQUEST (raw bytes) to 127.0.0.1:PORT and read the response to EOF. */
struct response http_raw(int port, const char *request, size_t request_len, int timeout_ms);
struct response http_get(int port, const char *path);

/* Prometheus, scraping 127.0.0.1:PORT (or each of N ports) every second, its data in a
 * fresh directory; stop_prometheus (a .fini) stops it and removes the directory. */
extern char prom_dir[64];
extern int prom_port;
extern struct proc prom;
void start_prometheus(int ahprof_port);
void start_prometheus_scraping(const int *ahprof_ports, int n);
void stop_prometheus(void);

/* PROMQL evaluated now (AT == 0) or at the wall time AT: the "result" array of the answer
 * (owned by *ROOT). */
json_object *prom_query(const char *promql, double at, json_object **root);

/* The value of a query with exactly one series in its answer; NAN when it has none. */
double prom_scalar(const char *promql, double at);

/* Ask again (a scrape a second) until PROMQL is WANT; the last value. */
double prom_wait(const char *promql, double want, int timeout_ms);

/* One series of METRIC whose type label is exactly NAME (the bytes a C string has), with
 * value WANT: read from the labels Prometheus stored, not matched by a query string. */
void expect_series_named(const char *metric, const char *pid, const char *name, double want);

/* Write a line to P's stdin: the workload targets' "go on". */
void release(struct proc *p);

#endif
