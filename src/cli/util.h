/* util.h - small helpers shared by the ahprof subcommands. */
#ifndef AHP_UTIL_H
#define AHP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Whether ARGV (up to a "--") asks for --json, or SHORT_FLAG (e.g. "-j") when not NULL: read
 * before getopt so that errors in the options themselves already come out as JSON. */
bool ahp_wants_json(int argc, char **argv, const char *short_flag);

/* Parse a whole decimal number in [MIN, MAX]; 0 on success, -EINVAL otherwise. */
int ahp_parse_long(const char *s, long min, long max, long *out);

/* Parse a duration: "250ms", "2s", "1.5" (seconds). 0 on success, -EINVAL otherwise. */
int ahp_parse_seconds(const char *s, double *out);

/* Copy SRC into DST (SIZE bytes), truncating, always NUL-terminated. Returns strlen(SRC). */
size_t ahp_strlcpy(char *dst, const char *src, size_t size);

/* CLOCK_MONOTONIC in ns (the clock of bpf_ktime_get_ns). */
uint64_t ahp_now_ns(void);

#endif
