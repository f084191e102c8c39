/*
 * run.h - running ahprof and the workload targets from the collector tests (with the process
 * runner of tests/support/proc.h); reading its reports with json-c.
 */
#ifndef AHP_TEST_RUN_H
#define AHP_TEST_RUN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "proc.h"

/* Start a workload that prints "ready" once it holds its resources (hold/wait modes) and
 * wait for that line; PID gets its process id as text, for `-p`. */
void start_ready_target(struct proc *p, char *const argv[], char pid[32]);

/* A recorded file's path, per test process: suites set make_data_path / remove_data as
 * their .init / .fini. */
extern char data_path[64];
void make_data_path(void);
void remove_data(void);

/* Paths of the binaries under test (set from the build). */
#define AHPROF AHP_BUILD "/ahprof"
#define WORKLOAD AHP_BUILD "/targets/workload"
#define WORKLOAD_STATIC AHP_BUILD "/targets/workload-static"

/* `ahprof report --json PATH` (or data_path), asserted to succeed and to be JSON. */
json_object *report_json_at(const char *path);
json_object *report_json(void);

/* `ahprof record -q [OPTION] -o data_path -- CMD...` (OPTION may be NULL), asserted to exit 0,
 * then its report (report_json). */
json_object *record_launched_report(const char *option, char *const cmd[]);

/* A report type's "counters" object (the in-kernel/decoder counts), asserted present. */
json_object *counters_of(json_object *type);

/* Run `ahprof top --json ... -- CMD` (ARGV) to the target's exit; the final interval, asserted
 * to be marked final. */
json_object *top_until_exit(char *const argv[]);

/* The intervals `ahprof top --json` (started as P) prints until it exits: the last one, asserted
 * to be marked final with top's exit status 0; *N (when not NULL) how many it read. */
json_object *top_final_interval(struct proc *p, int *n);

/* The last JSON line of OUT, top's captured --json output (a launched target's own "ready"
 * and "done" lines, which may share it, skipped; every other line must be JSON). */
json_object *last_json_line(const char *out);

/* Run `ahprof top --json ...` (ARGV) to its end: its intervals, one JSON object per line
 * (asserted: exit 0, at least one, all JSON; at most 256, in a static array reused by the next
 * call). json_put_all frees them. */
json_object **top_json_lines(char *const argv[], int *n);

/* `ahprof top --json INTERVAL [COUNT] EXTRA... -- linty CMD...` (tests/targets/linty.c): its
 * intervals, as top_json_lines. */
json_object **top_json_linty(const char *interval, const char *count, const char *const extra[],
                             const char *const cmd[], int *n);

/* The example server (2 threads) and ah-load on its clean routes (no /leak) for SECONDS,
 * started 0.3 s ago. */
void start_example_server_under_load(struct proc *server, struct proc *load, const char *seconds);
void json_put_all(json_object **all, int n);

/* Find the object of array KEY (e.g. "types") whose "name" is NAME. */
json_object *find_named(json_object *root, const char *key, const char *name);
long long get_int(json_object *obj, const char *key);

/* Expect type NAME in ROOT's "types" with exactly these counts. */
void expect_type(json_object *root, const char *name, long long created, long long destroyed,
                 long long callbacks, long long active);

/* The whole file at PATH, NUL-terminated (malloc'ed; *LEN its size unless LEN is NULL). */
char *read_file(const char *path, size_t *len);

#endif
