/*
 * escape.h - every string that comes from a traced process (type names, symbols, paths) is
 * untrusted: bounded, and escaped for the output it goes to.
 */
#ifndef AHP_ESCAPE_H
#define AHP_ESCAPE_H

#include <stddef.h>

/* The JSON rules for untrusted strings: control characters, quotes, backslashes, '<', '>',
 * '&' and bytes >= 0x7f become escapes (\uXXXX, \" and \\), so the output is plain ASCII
 * and harmless inside HTML whatever the input.
 *
 * S (at most MAX bytes, stops at NUL; NULL is "") escaped into DST (DSTSZ bytes, no NUL
 * added), quotes not included, as far as whole escapes fit: returns the bytes written, and
 * the bytes of S consumed in *USED. JSON is written with the JSON writer (json_writer.h),
 * which escapes every string with this. */
size_t ahp_json_escape(char *dst, size_t dstsz, const char *s, size_t max, size_t *used);

/* Copy S (at most MAX bytes) into DST (DSTSZ bytes, always NUL-terminated) so that it is
 * harmless on a terminal: control characters, DEL and bytes >= 0x80 become "\xNN".
 * Returns the length written. */
size_t ahp_term_sanitize(char *dst, size_t dstsz, const char *s, size_t max);

#endif
