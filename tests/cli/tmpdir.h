/*
 * tmpdir.h - one fresh temporary directory per test (Criterion .init/.fini), shared by the
 * datafile and report tests.
 */
#ifndef AHP_TEST_TMPDIR_H
#define AHP_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/ahp-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* DIR/NAME; the last four results stay valid, so a test may hold a few paths at once. */
static const char *path_of(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

#endif
