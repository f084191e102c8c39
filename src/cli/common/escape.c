/* escape.c - bounded escaping of untrusted strings for JSON and terminals. */
#include <errno.h>
#include <string.h>

#include "common/escape.h"

int ahp_json_string(FILE *out, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    /* Built in a local buffer, written in pieces: one stdio call per piece, not per byte. */
    char buf[512];
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; s != NULL && i < max && s[i] != '\0'; i++) {
        if (n > sizeof(buf) - 8) {
            if (fwrite(buf, 1, n, out) != n)
                return errno > 0 ? -errno : -EIO;
            n = 0;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&') {
            memcpy(buf + n, "\\u00", 4);
            buf[n + 4] = hex[c >> 4];
            buf[n + 5] = hex[c & 15];
            n += 6;
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    if (fwrite(buf, 1, n, out) != n)
        return errno > 0 ? -errno : -EIO;
    return 0;
}

size_t ahp_term_sanitize(char *dst, size_t dstsz, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (dstsz == 0)
        return 0;
    for (size_t i = 0; s != NULL && i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (n + 1 >= dstsz)
                break;
            dst[n++] = (char)c;
        } else {
            if (n + 4 >= dstsz)
                break;
            dst[n++] = '\\';
            dst[n++] = 'x';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = '\0';
    return n;
}
