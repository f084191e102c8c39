/*
 * proc.h - the tests' one way to run a program: spawn it with pipes (or its output in files),
 * read its lines with a deadline, collect its exit status. Every wait is bounded; a program
 * still running at its deadline is killed.
 */
#ifndef AHP_TEST_PROC_H
#define AHP_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int in_fd;      /* its stdin (write end), -1 if closed or not a pipe */
    int out_fd;     /* its stdout (read end), -1 if not a pipe */
    int err_fd;     /* its stderr (read end), -1 if not a pipe */
    bool timed_out; /* proc_wait killed it at the deadline */
    bool reaped;    /* proc_exited saw it exit; CODE is its exit code */
    int code;
    long maxrss_kb; /* its peak memory, once reaped */
    char buf[1 << 16];
    size_t buf_len;
};

/* Start ARGV (NULL-terminated; argv[0] is looked up in PATH unless it has a slash) with pipes
 * on stdin/stdout/stderr. */
void proc_start(struct proc *p, char *const argv[]);

/* Start ARGV with stdin from /dev/null and stdout, stderr written to the files OUT and ERR. */
void proc_start_files(struct proc *p, char *const argv[], const char *out, const char *err);

/* Read one stdout line (without the newline) into LINE, waiting up to TIMEOUT_MS.
 * Returns false on EOF or timeout. */
bool proc_read_line(struct proc *p, char *line, size_t size, int timeout_ms);

/* Wait up to TIMEOUT_MS until P's stderr has printed NEEDLE (what came before is dropped). */
bool proc_wait_stderr(struct proc *p, const char *needle, int timeout_ms);

/* Read all remaining output of FD (until EOF or TIMEOUT_MS); returns malloc'ed text. */
char *proc_read_all(int fd, int timeout_ms);

/* Whether P has exited (reaped, *CODE set as by proc_wait), without waiting. Its pipes stay
 * open for what is left in them: proc_wait still closes them. */
bool proc_exited(struct proc *p, int *code);

/* Wait for exit (killing it after TIMEOUT_MS); returns the exit code, or 128+signal. */
int proc_wait(struct proc *p, int timeout_ms);

/* For P started with pipes: close its stdin, read stdout and stderr together to EOF, wait.
 * *OUT and *ERR (if not NULL) get malloc'ed text. Returns the exit code as proc_wait. */
int proc_capture(struct proc *p, char **out, char **err, int timeout_ms);

/* Run ARGV to completion; *OUT and *ERR get malloc'ed stdout/stderr. Returns exit code. */
int run_capture(char *const argv[], char **out, char **err, int timeout_ms);

#endif
