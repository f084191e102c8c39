/*
 * lint_checks.h - checking the warnings of `ahprof report --json` and `top --json`
 * (docs/lints.md) in the lint tests (test_lints.c, test_live_lints.c, tests/uv/test_uv_lints.c).
 * Include after run.h.
 */
#ifndef AHP_LINT_CHECKS_H
#define AHP_LINT_CHECKS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

__attribute__((unused)) static json_object *warnings_of(json_object *root)
{
    json_object *w;
    cr_assert(json_object_object_get_ex(root, "warnings", &w), "report has no warnings key");
    cr_assert(json_object_is_type(w, json_type_array));
    return w;
}

__attribute__((unused)) static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(o, key, &v), "missing %s", key);
    return json_object_get_string(v);
}

/* The report's warnings as "lint:type lint:type ...", for messages and exact checks. */
__attribute__((unused)) static void describe(json_object *w, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        json_object *x = json_object_array_get_idx(w, i);
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s:%s", i ? " " : "", str_of(x, "lint"),
                 str_of(x, "type"));
    }
}

/* Exactly one warning, LINT on TYPE, counted COUNT times (-1: any); its example. */
__attribute__((unused)) static json_object *expect_only(json_object *root, const char *lint,
                                                        const char *type, long long count)
{
    json_object *w = warnings_of(root);
    char all[1024];
    describe(w, all, sizeof(all));
    cr_assert_eq(json_object_array_length(w), 1, "want only %s:%s, got [%s]", lint, type, all);
    json_object *x = json_object_array_get_idx(w, 0);
    cr_assert_str_eq(str_of(x, "lint"), lint, "[%s]", all);
    cr_assert_str_eq(str_of(x, "type"), type, "[%s]", all);
    if (count >= 0)
        cr_expect_eq(get_int(x, "count"), count, "%s:%s counted %lld", lint, type,
                     get_int(x, "count"));
    json_object *ex;
    cr_assert(json_object_object_get_ex(x, "example", &ex), "no example");
    return ex;
}

__attribute__((unused)) static void expect_none(json_object *root, const char *what)
{
    json_object *w = warnings_of(root);
    char all[1024];
    describe(w, all, sizeof(all));
    cr_expect_eq(json_object_array_length(w), 0, "%s: false positives [%s]", what, all);
}

#endif
