/* escape.c - bounded escaping of untrusted strings for JSON and terminals. */
#include "common/escape.h"

void ahp_json_string(FILE *out, const char *s, size_t max)
{
    fputc('"', out);
    for (size_t i = 0; s != NULL && i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&')
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
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
