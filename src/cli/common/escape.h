/*
 * escape.h - every string that comes from a traced process (type names, symbols, paths) is
 * untrusted: bounded, and escaped for the output it goes to.
 */
#ifndef AHP_ESCAPE_H
#define AHP_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Write S (at most MAX bytes, stops at NUL) as a JSON string literal, quotes included.
 * Control characters, quotes, backslashes and bytes >= 0x7f become \uXXXX escapes, so the
 * output is plain ASCII whatever the input. 0, or the write error as a negative errno.
 * Output goes through the JSON writer (json_writer.h), which calls this. */
int ahp_json_string(FILE *out, const char *s, size_t max);

/* Copy S (at most MAX bytes) into DST (DSTSZ bytes, always NUL-terminated) so that it is
 * harmless on a terminal: control characters, DEL and bytes >= 0x80 become "\xNN".
 * Returns the length written. */
size_t ahp_term_sanitize(char *dst, size_t dstsz, const char *s, size_t max);

#endif
