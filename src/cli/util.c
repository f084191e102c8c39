/* util.c - error reporting and number parsing for the ahprof subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "util.h"

int ahp_fail(bool json, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (json) {
        fputs("{\"error\": ", stdout);
        ahp_json_string(stdout, msg, sizeof(msg));
        fputs("}\n", stdout);
        fflush(stdout);
    } else {
        char safe[4096];
        ahp_term_sanitize(safe, sizeof(safe), msg, sizeof(msg));
        fprintf(stderr, "ahprof: %s\n", safe);
    }
    return code;
}

bool ahp_wants_json(int argc, char **argv, const char *short_flag)
{
    for (int i = 1; i < argc && argv[i] != NULL && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0 || (short_flag && strcmp(argv[i], short_flag) == 0))
            return true;
    return false;
}

int ahp_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int ahp_parse_seconds(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0)
        return -EINVAL;
    if (strcmp(end, "ms") == 0)
        v /= 1000.0;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

uint64_t ahp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t ahp_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
