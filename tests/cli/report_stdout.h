/*
 * report_stdout.h - `ahprof report PATH ARGS...` run in the test's own process (the command's
 * entry point, linked from libahprof.a), its standard output captured: for the file-level tests
 * of tests/cli that read what report prints.
 */
#ifndef AHP_TEST_REPORT_STDOUT_H
#define AHP_TEST_REPORT_STDOUT_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd/report.h"

/* The report's stdout (malloc'ed) for PATH and the NULL-terminated ARGS (up to 13); the test
 * fails unless report returns 0. */
static inline char *report_stdout(const char *path, ...)
{
    const char *argv[16] = {"report", path};
    int argc = 2;
    va_list ap;
    va_start(ap, path);
    for (const char *a = va_arg(ap, const char *); a != NULL && argc < 15;
         a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    FILE *out = tmpfile();
    cr_assert_not_null(out);
    int so = dup(1);
    dup2(fileno(out), 1);
    int rc = ahprof_cmd_report(argc, (char **)argv);
    fflush(stdout);
    dup2(so, 1);
    close(so);
    long n = ftell(out);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(out);
    if (n > 0)
        cr_assert_eq(fread(buf, 1, (size_t)n, out), (size_t)n);
    fclose(out);
    cr_assert_eq(rc, 0, "report exited %d", rc);
    return buf;
}

#endif
