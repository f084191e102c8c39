/* escape.c - bounded escaping of untrusted strings for JSON and terminals. */
#include <string.h>

#include "common/escape.h"

size_t ahp_json_escape(char *dst, size_t dstsz, const char *s, size_t max, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, i = 0;
    for (; s != NULL && i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            if (n + 2 > dstsz)
                break;
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&') {
            if (n + 6 > dstsz)
                break;
            memcpy(dst + n, "\\u00", 4);
            dst[n + 4] = hex[c >> 4];
            dst[n + 5] = hex[c & 15];
            n += 6;
        } else {
            if (n + 1 > dstsz)
                break;
            dst[n++] = (char)c;
        }
    }
    *used = i;
    return n;
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
