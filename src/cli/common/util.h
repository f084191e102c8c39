/* util.h - small helpers shared by the ahprof subcommands. */
#ifndef AHP_UTIL_H
#define AHP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

/* Exit codes of ahprof. */
enum {
    AHP_EXIT_OK = 0,
    AHP_EXIT_ERROR = 1,   /* runtime failure: target, kernel, file */
    AHP_EXIT_USAGE = 2,   /* bad command line */
    AHP_EXIT_PERM = 3,    /* missing privileges */
    AHP_EXIT_NOTARGET = 4 /* no such process / not using libah */
};

/* Report an error the user can act on, as one line: "ahprof: MESSAGE" on stderr, or with
 * JSON set, {"error": "MESSAGE"} on stdout. Returns CODE so callers can `return ahp_fail()`. */
int ahp_fail(bool json, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether ARGV (up to a "--") asks for --json (or an abbreviation getopt_long takes), or
 * SHORT_FLAG (e.g. "-j") when not NULL: read before getopt so that errors in the options
 * themselves already come out as JSON. */
bool ahp_wants_json(int argc, char **argv, const char *short_flag);

/* The one set of number parsers of ahprof's command line: plain decimal only (no blanks,
 * '+', hex, nan or inf), the whole string, finite, in range. 0 on success, -EINVAL when S is
 * not such a number, -ERANGE when it is one but outside [MIN, MAX]. */

/* A whole number in [MIN, MAX]. */
int ahp_parse_long(const char *s, long min, long max, long *out);

/* The BPF ring buffer's size is a u32 power of two: 2 GiB is the largest the kernel takes. */
#define AHP_BUFFER_MAX_MIB 2048

/* A --buffer size in MiB: a power of two from 1 to AHP_BUFFER_MAX_MIB, else -EINVAL. */
int ahp_parse_buffer_mib(const char *s, long *mib);

/* A decimal number (e.g. "0.5", "1e3") in [MIN, MAX]. */
int ahp_parse_real(const char *s, double min, double max, double *out);

/* A duration, "250ms", "2s" or "1.5" (seconds), in [MIN_NS, MAX_NS], into *OUT in ns. */
int ahp_parse_duration_ns(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out);

/* Standard output carries ahprof's output; its write errors are checked here only. Flush it:
 * 0, or the first write error as a negative errno (stdio forgets errno; this keeps it). */
int ahp_stdout_flush(void);

/* A write to stdout failed with ERR (an errno) where stdio cannot say why later (the JSON
 * writer): the first such error is what ahp_stdout_flush returns. */
void ahp_stdout_error(int err);

/* At the end of main: CODE, or AHP_EXIT_ERROR after one line on stderr when the output did
 * not all reach stdout. A closed pipe (EPIPE) ends quietly with CODE. */
int ahp_stdout_finish(int code);

/* Copy SRC into DST (SIZE bytes), truncating, always NUL-terminated. Returns strlen(SRC). */
size_t ahp_strlcpy(char *dst, const char *src, size_t size);

#endif
