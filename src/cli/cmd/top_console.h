/*
 * top_console.h - `ahprof top` on a terminal: an interactive ncurses console over the same
 * session and counters as the batch output of top.c (which stays byte for byte what it was for
 * -b, -C, --json and a stdout that is not a terminal).
 */
#ifndef AHP_TOP_CONSOLE_H
#define AHP_TOP_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/session.h"
#include "model/lints.h"

/* Whether top should be interactive: a terminal on both stdin (the keys) and stdout. */
bool ahp_console_wanted(void);

/* Open S (as ahp_session_open, with PID or CMD and OPTS), then run the console until `q`, a
 * signal or COUNT intervals (< 0: no limit) of INTERVAL_NS; MAX_ROWS types at most in the
 * table; the live lints with LINT (thresholds, --allow) in the warnings pane; the kernel
 * view's CPU%, BLOCKms and BLOCK% columns sampled at HZ (< 0: no kernel view). A launched
 * program's output goes to a pane of the console instead of the terminal. Closes S. Returns
 * an exit code. */
int ahp_console_top(struct ahp_session *s, pid_t pid, char **cmd,
                    const struct ahp_collector_opts *opts, uint64_t interval_ns, long count,
                    int max_rows, const struct ahp_lint_opts *lint, long hz);

#endif
