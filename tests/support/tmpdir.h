/*
 * tmpdir.h - scratch directories of the tests: one per test (a suite's .init and .fini), or
 * one made and removed by the test itself. Everything in them is removed with them.
 */
#ifndef AHP_TEST_TMPDIR_H
#define AHP_TEST_TMPDIR_H

/* Make a fresh directory /tmp/ahprof-TAG-XXXXXX into DIR; the test fails if it cannot. */
void tmpdir_make(char dir[64], const char *tag);

/* Remove DIR and everything under it (symbolic links are not followed). 0 or -errno. */
int tmpdir_remove(const char *dir);

/* The current test's directory, made by test_dir_init and removed by test_dir_fini. */
extern char test_dir[64];
void test_dir_init(void);
void test_dir_fini(void);

/* cr_skip_test for a suite with test_dir: a skipped test does not reach .fini. */
#define TEST_DIR_SKIP(...)                                                                         \
    do {                                                                                           \
        test_dir_fini();                                                                           \
        cr_skip_test(__VA_ARGS__);                                                                 \
    } while (0)

/* TEST_DIR/NAME; the last eight results stay valid, so a test may hold a few paths at once. */
const char *test_path(const char *name);

#endif
