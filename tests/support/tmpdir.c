/* tmpdir.c - scratch directories of the tests (tmpdir.h). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

char test_dir[64];

void tmpdir_make(char dir[64], const char *tag)
{
    int n = snprintf(dir, 64, "/tmp/ahprof-%s-XXXXXX", tag);
    cr_assert(n > 0 && n < 64, "tag too long: %s", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno; /* nftw stops and returns it */
}

int tmpdir_remove(const char *dir)
{
    /* Depth first, so that a directory is empty when its turn comes. */
    int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc > 0 ? -rc : rc < 0 ? -errno : 0;
}

void test_dir_init(void)
{
    tmpdir_make(test_dir, "test");
}

void test_dir_fini(void)
{
    int rc = tmpdir_remove(test_dir);
    cr_expect_eq(rc, 0, "cannot remove %s: %s", test_dir, strerror(-rc));
}

const char *test_path(const char *name)
{
    static char paths[8][512];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", test_dir, name);
    return p;
}
