/* util.c - error reporting and number parsing for the ahprof subcommands. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/escape.h"
#include "common/json_writer.h"
#include "common/util.h"

int ahp_fail(bool json, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (json) {
        struct ahp_json w;
        ahp_json_init(&w, stdout, AHP_JSON_SPACED);
        ahp_json_object_begin(&w);
        ahp_json_field_strn(&w, "error", msg, sizeof(msg));
        ahp_json_object_end(&w);
    }
    /* An error that cannot reach stdout must still reach someone. */
    if (!json || ahp_stdout_flush() < 0) {
        char safe[4096];
        ahp_term_sanitize(safe, sizeof(safe), msg, sizeof(msg));
        fprintf(stderr, "ahprof: %s\n", safe);
    }
    return code;
}

bool ahp_wants_json(int argc, char **argv, const char *short_flag)
{
    for (int i = 1; i < argc && argv[i] != NULL && strcmp(argv[i], "--") != 0; i++) {
        /* getopt_long takes "--j", "--js" and "--jso" for --json too: no other option of
         * ahprof's starts with j. */
        size_t len = strlen(argv[i]);
        if ((len >= 3 && strncmp(argv[i], "--json", len) == 0) ||
            (short_flag && strcmp(argv[i], short_flag) == 0))
            return true;
    }
    return false;
}

/* strtol and strtod also take leading blanks, a '+', hex, "nan" and "inf": a number on
 * ahprof's command line is plain decimal, or it is a typo. */
static bool plain_decimal(const char *s, bool fraction)
{
    if (*s == '-')
        s++;
    if (!(isdigit((unsigned char)*s) || (fraction && *s == '.' && isdigit((unsigned char)s[1]))))
        return false;
    return strpbrk(s, "xXpP") == NULL;
}

int ahp_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || !plain_decimal(s, false))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int ahp_parse_buffer_mib(const char *s, long *mib)
{
    long v;
    if (ahp_parse_long(s, 1, AHP_BUFFER_MAX_MIB, &v) < 0 || (v & (v - 1)) != 0)
        return -EINVAL;
    *mib = v;
    return 0;
}

/* The number at the start of S, up to *END (a unit may follow). */
static int parse_finite(const char *s, double *out, char **end)
{
    if (s == NULL || !plain_decimal(s, true))
        return -EINVAL;
    errno = 0;
    double v = strtod(s, end);
    if (*end == s || !isfinite(v))
        return -EINVAL;
    if (errno == ERANGE) /* an overflow is out of every range; an underflow is a tiny value */
        return v > 1 || v < -1 ? -ERANGE : -EINVAL;
    *out = v;
    return 0;
}

int ahp_parse_real(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;
    int rc = parse_finite(s, &v, &end);
    if (rc < 0)
        return rc;
    if (*end != '\0')
        return -EINVAL;
    if (!(v >= min && v <= max))
        return -ERANGE;
    *out = v;
    return 0;
}

int ahp_parse_duration_ns(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out)
{
    char *end = NULL;
    double v;
    int rc = parse_finite(s, &v, &end);
    if (rc < 0)
        return rc;
    double unit;
    if (strcmp(end, "ms") == 0)
        unit = 1e6;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        unit = 1e9;
    else
        return -EINVAL;
    /* Compared as doubles before the conversion: a double above UINT64_MAX does not convert. */
    double ns = v * unit;
    if (!(ns >= (double)min_ns && ns <= (double)max_ns))
        return -ERANGE;
    *out = (uint64_t)ns;
    return 0;
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

static int stdout_errno;

void ahp_stdout_error(int err)
{
    if (stdout_errno == 0)
        stdout_errno = err > 0 ? err : EIO;
}

int ahp_stdout_flush(void)
{
    if (fflush(stdout) != 0 && stdout_errno == 0)
        stdout_errno = errno ? errno : EIO;
    if (ferror(stdout) && stdout_errno == 0)
        stdout_errno = EIO;
    return -stdout_errno;
}

int ahp_stdout_finish(int code)
{
    int rc = ahp_stdout_flush();
    /* A reader that went away (`ahprof report | head`) wanted no more: not an error. */
    if (rc == 0 || rc == -EPIPE || code != AHP_EXIT_OK)
        return code;
    fprintf(stderr, "ahprof: cannot write the output: %s\n", strerror(-rc));
    return AHP_EXIT_ERROR;
}
