/*
 * test_api.c - the parts of the API that have no Node counterpart to mirror: the type table,
 * error messages, the version and argument checking.
 */
#include <errno.h>
#include <stdio.h>

#include "helpers.h"

Test(types, register_and_look_up)
{
    int before = ah_type_count();
    int a = ah_type("api.alpha");
    int b = ah_type("api.beta");
    cr_assert_geq(a, 0);
    cr_assert_geq(b, 0);
    cr_expect_neq(a, b);
    cr_expect_eq(ah_type("api.alpha"), a, "looked up, not registered twice");
    cr_expect_eq(ah_type("api.beta"), b);
    cr_expect_eq(ah_type_count(), before + 2);
    cr_expect_str_eq(ah_type_name(a), "api.alpha");
    cr_expect_str_eq(ah_type_name(b), "api.beta");
    cr_expect_lt(a, ah_type_count());
    cr_expect_lt(b, ah_type_count());
    /* Names are compared whole: a prefix is another type. */
    int prefix = ah_type("api.alph");
    cr_expect_geq(prefix, 0);
    cr_expect_neq(prefix, a);
}

Test(types, name_is_copied)
{
    char name[16];
    snprintf(name, sizeof(name), "%s", "copied");
    int t = ah_type(name);
    cr_assert_geq(t, 0);
    snprintf(name, sizeof(name), "%s", "changed");
    cr_expect_str_eq(ah_type_name(t), "copied");
    cr_expect_eq(ah_type("copied"), t);
}

Test(types, name_length_limit)
{
    char name[AH_TYPE_NAME_MAX + 2];
    memset(name, 'n', AH_TYPE_NAME_MAX);
    name[AH_TYPE_NAME_MAX] = '\0';
    int longest = ah_type(name);
    cr_assert_geq(longest, 0, "%d bytes are allowed", AH_TYPE_NAME_MAX);
    cr_expect_str_eq(ah_type_name(longest), name);
    cr_expect_eq(strlen(ah_type_name(longest)), AH_TYPE_NAME_MAX);

    int count = ah_type_count();
    name[AH_TYPE_NAME_MAX] = 'x';
    name[AH_TYPE_NAME_MAX + 1] = '\0';
    cr_expect_eq(ah_type(name), -ENOSPC, "one byte too long");
    cr_expect_eq(ah_type_count(), count, "nothing registered");

    char huge[4096];
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    cr_expect_eq(ah_type(huge), -ENOSPC);
    cr_expect_eq(ah_type("x"), ah_type("x"), "one byte is enough");
}

Test(types, invalid_names)
{
    cr_expect_eq(ah_type(NULL), -EINVAL);
    cr_expect_eq(ah_type(""), -EINVAL);
}

/* The table is process-global; Criterion runs each test in its own process. */
Test(types, table_full)
{
    char name[32];
    int registered = 0, rc = 0;
    for (int i = 0; i < 2 * AH_TYPE_MAX; i++) {
        snprintf(name, sizeof(name), "full.%d", i);
        rc = ah_type(name);
        if (rc < 0)
            break;
        cr_assert_eq(rc, ah_type_count() - 1, "types are numbered densely");
        registered++;
    }
    cr_expect_eq(rc, -ENOSPC);
    cr_expect_eq(ah_type_count(), AH_TYPE_MAX);
    cr_expect_gt(registered, 0);
    /* Existing names are still found; new ones still refused. */
    cr_expect_eq(ah_type("full.0"), ah_type_count() - registered);
    cr_expect_eq(ah_type("one.more"), -ENOSPC);
    snprintf(name, sizeof(name), "full.%d", registered - 1);
    cr_expect_str_eq(ah_type_name(AH_TYPE_MAX - 1), name);
    /* Every registered type works for resources. */
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, AH_TYPE_MAX - 1, 0));
    cr_expect_eq(r.type, AH_TYPE_MAX - 1);
    ah_ok(ah_destroy(&r));
}

Test(types, name_of_invalid_type)
{
    cr_expect_null(ah_type_name(-1));
    cr_expect_null(ah_type_name(ah_type_count()));
    cr_expect_null(ah_type_name(AH_TYPE_MAX));
    cr_expect_null(ah_type_name(1 << 30));
    cr_expect_null(ah_type_name(-2147483647 - 1));
    int t = test_type("valid");
    cr_expect_not_null(ah_type_name(t));
}

Test(errors, strerror_every_code)
{
    static const int codes[] = {-EINVAL, -EBUSY, -EIDRM, -EPROTO, -EALREADY, -ENOSPC, -ENOMEM};
    const char *unknown = ah_strerror(-999999);
    cr_assert_not_null(unknown);
    cr_expect_str_eq(ah_strerror(-999999), unknown);
    cr_expect_not_null(ah_strerror(0));
    cr_expect_str_neq(ah_strerror(0), unknown);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *msg = ah_strerror(codes[i]);
        cr_assert_not_null(msg);
        cr_expect_gt(strlen(msg), 0);
        cr_expect_str_neq(msg, unknown, "code %d has its own message", codes[i]);
        cr_expect_str_neq(msg, ah_strerror(0));
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(msg, ah_strerror(codes[j]), "codes %d and %d", codes[i], codes[j]);
    }
    /* Never NULL, even for positive or absurd values. */
    int odd[] = {1, EINVAL, -1, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        cr_expect_not_null(ah_strerror(odd[i]));
}

Test(errors, messages_name_the_problem)
{
    cr_expect(strstr(ah_strerror(-EPROTO), "corrupt") != NULL, "Node's word for it");
    cr_expect(strstr(ah_strerror(-EIDRM), "destroyed") != NULL);
    cr_expect(strstr(ah_strerror(-EALREADY), "resolved") != NULL);
}

Test(api, version)
{
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", AH_VERSION_MAJOR, AH_VERSION_MINOR, AH_VERSION_PATCH);
    cr_expect_str_eq(ah_version(), want);
}

Test(api, null_arguments)
{
    ah_fails(ah_init(NULL, 0, 0), -EINVAL);
    ah_fails(ah_before(NULL), -EINVAL);
    ah_fails(ah_after(NULL), -EINVAL);
    ah_fails(ah_destroy(NULL), -EINVAL);
    ah_fails(ah_resolve(NULL), -EINVAL);
    cr_expect_null(ah_run(NULL, NULL, NULL));
    cr_expect_eq(ah_execution_depth(), 0);
}

/* A structure that was never initialised is not a resource. */
Test(api, not_initialised)
{
    ah_resource_t r = {0};
    ah_fails(ah_before(&r), -EINVAL);
    ah_fails(ah_after(&r), -EINVAL);
    ah_fails(ah_destroy(&r), -EINVAL);
    ah_fails(ah_resolve(&r), -EINVAL);
    cr_expect_eq(ah_execution_depth(), 0);
    /* Memory the caller forgot to zero is not taken for a live resource either. */
    ah_resource_t junk;
    memset(&junk, 0xa5, sizeof(junk));
    ah_fails(ah_before(&junk), -EINVAL);
    ah_fails(ah_destroy(&junk), -EINVAL);
    int type = test_type("t");
    ah_ok(ah_init(&junk, type, 0));
    ah_ok(ah_destroy(&junk));
}

/* A destroyed structure may be initialised again and is a new resource. */
Test(api, reuse_after_destroy)
{
    int t1 = test_type("first"), t2 = test_type("second");
    ah_resource_t r = {0};
    ah_ok(ah_init(&r, t1, 0));
    ah_id_t old = r.id;
    ah_ok(ah_destroy(&r));
    cr_expect_not(ah_resource_is_live(&r));
    ah_ok(ah_init(&r, t2, 77));
    cr_expect(ah_resource_is_live(&r));
    cr_expect_gt(r.id, old);
    cr_expect_eq(r.type, t2);
    cr_expect_eq(r.trigger_id, 77);
    ah_ok(ah_before(&r));
    cr_expect_eq(ah_execution_id(), r.id);
    ah_ok(ah_after(&r));
    ah_ok(ah_destroy(&r));
}

struct outer {
    int before;
    ah_resource_t res;
    int after;
};

Test(api, container_of)
{
    struct outer o = {.before = 1, .after = 2};
    cr_expect_eq(AH_CONTAINER_OF(&o.res, struct outer, res), &o);
    int type = test_type("t");
    ah_ok(ah_init(&o.res, type, 0));
    ah_ok(ah_before(&o.res));
    struct outer *cur = AH_CONTAINER_OF(ah_execution_resource(), struct outer, res);
    cr_expect_eq(cur->before, 1);
    cr_expect_eq(cur->after, 2);
    ah_ok(ah_after(&o.res));
    ah_ok(ah_destroy(&o.res));
}
