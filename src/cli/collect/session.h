/*
 * session.h - what `top` and `record` share: checking privileges and the kernel, finding or
 * launching the target, attaching, and waiting for data, the target's exit or a signal.
 */
#ifndef AHP_SESSION_H
#define AHP_SESSION_H

#include <signal.h>
#include <stdbool.h>

#include "collect/collector.h"
#include "collect/target.h"

struct ahp_session {
    struct ahp_target target;
    struct ahp_collector collector;
    bool json;
    bool child_stdout_to_stderr; /* set before open: stdout carries ahprof's output */
    bool uv;                     /* set before open: launch with libah-uv.so preloaded */
    bool target_exited;
    int exit_status; /* wait status of a launched target, -1 if unknown */
};

/* Set by SIGINT/SIGTERM. */
extern volatile sig_atomic_t ahp_stop_requested;
void ahp_install_signal_handlers(void);

/* Check that ahprof may use BPF and uprobes here. Returns 0 or an exit code (after printing
 * one line that says what is missing). */
int ahp_preflight(bool json);

/* Attach to PID (> 0) or launch CMD (with libah-uv.so preloaded when s->uv). Returns 0 or an exit
 * code (error already printed). */
int ahp_session_open(struct ahp_session *s, pid_t pid, char **cmd,
                     const struct ahp_collector_opts *opts, ahp_event_fn on_event, void *ctx);

/* Wait up to TIMEOUT_MS (0: look once, without waiting), handing ring-buffer data over. Returns 1
 * when the target exited (everything drained), 0 otherwise; sets nothing on a signal (check
 * ahp_stop_requested). */
int ahp_session_wait(struct ahp_session *s, int timeout_ms);

void ahp_session_close(struct ahp_session *s);

/* Split ARGV at the first "--": options and their operands before it (*OPT_ARGC of them,
 * ARGV[*OPT_ARGC] becomes NULL), the command to launch after it (NULL when absent), so that
 * getopt may permute the options without touching the command's own arguments. */
char **ahp_split_command(int argc, char **argv, int *opt_argc);

/* Shared parsing of "-p PID": returns 0 or an exit code. */
int ahp_parse_pid(const char *arg, pid_t *pid, bool json);

#endif
