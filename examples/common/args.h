/* args.h - command-line numbers for the example programs: fully parsed, in range, or exit 2. */
#ifndef EXAMPLES_ARGS_H
#define EXAMPLES_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The value of option NAME given as TEXT, in [MIN, MAX]; PROGRAM prefixes the error. */
static inline double parse_number(const char *program, const char *name, const char *text,
                                  double min, double max)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !(value >= min && value <= max)) {
        fprintf(stderr, "%s: %s: expected a number from %g to %g, got '%s'\n", program, name, min,
                max, text);
        exit(2);
    }
    return value;
}

/* The whole number of option NAME given as TEXT, in [MIN, MAX] (MIN >= 0: no sign). */
static inline unsigned long parse_integer(const char *program, const char *name, const char *text,
                                          unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value < min || value > max) {
        fprintf(stderr, "%s: %s: expected an integer from %lu to %lu, got '%s'\n", program, name,
                min, max, text);
        exit(2);
    }
    return (unsigned long)value;
}

#endif
