/*
 * run.h - running ahprof and the workload targets from the collector tests: spawn with pipes,
 * read lines with a deadline, collect exit status; parse JSON with json-c.
 */
#ifndef AHP_TEST_RUN_H
#define AHP_TEST_RUN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int in_fd;  /* its stdin (write end), -1 if closed */
    int out_fd; /* its stdout (read end) */
    int err_fd; /* its stderr (read end) */
    char buf[1 << 16];
    size_t buf_len;
};

/* Start ARGV (NULL-terminated) with pipes on stdin/stdout/stderr. */
void proc_start(struct proc *p, char *const argv[]);

/* Read one stdout line (without the newline) into LINE, waiting up to TIMEOUT_MS.
 * Returns false on EOF or timeout. */
bool proc_read_line(struct proc *p, char *line, size_t size, int timeout_ms);

/* Start a workload that prints "ready" once it holds its resources (hold/wait modes) and
 * wait for that line; PID gets its process id as text, for `-p`. */
void start_ready_target(struct proc *p, char *const argv[], char pid[32]);

/* Wait up to TIMEOUT_MS until P's stderr has printed NEEDLE (what came before is dropped). */
bool proc_wait_stderr(struct proc *p, const char *needle, int timeout_ms);

/* Read all remaining stdout (until EOF or TIMEOUT_MS) and stderr; returns malloc'ed text. */
char *proc_read_all(int fd, int timeout_ms);

/* Wait for exit (killing it after TIMEOUT_MS); returns the exit code, or 128+signal. */
int proc_wait(struct proc *p, int timeout_ms);

/* Run ARGV to completion; *OUT and *ERR get malloc'ed stdout/stderr. Returns exit code. */
int run_capture(char *const argv[], char **out, char **err, int timeout_ms);

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

/* Find the object of array KEY (e.g. "types") whose "name" is NAME. */
json_object *find_named(json_object *root, const char *key, const char *name);
long long get_int(json_object *obj, const char *key);

/* Expect type NAME in ROOT's "types" with exactly these counts. */
void expect_type(json_object *root, const char *name, long long created, long long destroyed,
                 long long callbacks, long long active);

#endif
