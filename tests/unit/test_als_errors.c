/* Bad arguments: negative errno or errno, the callback not called, nothing
 * changed. */
#include "unit/test_als_loop.h"

static int called;

static void *fn(void *arg)
{
    called++;
    return arg;
}

ALS_TEST(test_als_errors, null_arguments)
{
    ah_store_t *s = ah_store_new(NULL);
    cr_assert_eq(ah_store_enter_with(NULL, "x"), -EINVAL);
    cr_assert_eq(ah_store_disable(NULL), -EINVAL);
    errno = 0;
    cr_assert_null(ah_store_run(NULL, "x", fn, "r"));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(ah_store_run(s, "x", NULL, "r"));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(ah_store_exit(NULL, fn, "r"));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(called, 0);
    cr_assert_null(ah_store_get(s));
    ah_store_free(NULL);
    /* The callback's result and errno come back untouched. */
    errno = 0;
    cr_assert_str_eq(ah_store_run(s, "x", fn, "r"), "r");
    cr_assert_eq(errno, 0);
    cr_assert_eq(called, 1);
    ah_store_free(s);
}
