/*
 * test_lossy.c - what `ahprof record` and `ahprof report` say when events were lost, with real
 * BPF and a real overflow: a resource whose destroy may have been among the lost events is
 * "unknown (events lost)", never alive (issue 13).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

TestSuite(lossy, .init = make_data_path, .fini = remove_data, .timeout = 120);

/* `workload tree N`: every REQ, TIMER and WRITE is destroyed before the program exits; only
 * the N LEAKs stay alive. */
#define TREE_N "100000"

static json_object *report_all_groups(void)
{
    char *argv[] = {AHPROF, "report", "--json", "--top", "1000000", data_path, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof report exited %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "report is not JSON: %.200s", out);
    free(out);
    free(err);
    return root;
}

static json_object *array_of(json_object *root, const char *key)
{
    json_object *arr;
    cr_assert(json_object_object_get_ex(root, key, &arr) &&
                  json_object_is_type(arr, json_type_array),
              "missing array %s", key);
    return arr;
}

static const char *string_of(json_object *obj, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing %s", key);
    return json_object_get_string(v);
}

/* The alive count of every tree node of type NAME, summed over the whole tree. */
static long long tree_alive(json_object *node, const char *name)
{
    long long n = strcmp(string_of(node, "name"), name) == 0 ? get_int(node, "alive") : 0;
    json_object *children = array_of(node, "children");
    for (size_t i = 0; i < json_object_array_length(children); i++)
        n += tree_alive(json_object_array_get_idx(children, i), name);
    return n;
}

Test(lossy, no_destroyed_resource_is_listed_alive_after_a_lossy_recording)
{
    /* A 1 MiB ring buffer and a writer stuck on a pipe nobody reads for 3 s: batches are lost
     * in the middle of the tree, so INITs are in the file whose DESTROYs are not. */
    char *argv[] = {"/bin/sh",
                    "-c",
                    "\"$0\" record -q -b 1 -o - -- \"$1\" tree " TREE_N
                    " | (sleep 3; cat > \"$2\")",
                    AHPROF,
                    WORKLOAD,
                    data_path,
                    NULL};
    cr_assert_eq(run_capture(argv, NULL, NULL, 90000), 0);
    json_object *r = report_all_groups();
    long long lost = get_int(r, "lost_events");
    cr_assert_gt(lost, 0, "nothing was lost: the test did not overflow");

    /* Nothing destroyed in reality is alive: not in the leak groups, not in the tree. */
    static const char *const destroyed[] = {"REQ", "TIMER", "WRITE"};
    json_object *leaks = array_of(r, "leaks");
    cr_expect_eq((long long)json_object_array_length(leaks), get_int(r, "leak_groups"));
    long long alive_leak = 0;
    for (size_t i = 0; i < json_object_array_length(leaks); i++) {
        json_object *g = json_object_array_get_idx(leaks, i);
        const char *type = string_of(g, "type");
        for (size_t k = 0; k < 3; k++)
            cr_expect(strcmp(type, destroyed[k]) != 0,
                      "%lld %s listed as alive, destroyed in reality (%lld events lost)",
                      get_int(g, "count"), type, lost);
        if (strcmp(type, "LEAK") == 0)
            alive_leak += get_int(g, "count");
    }
    json_object *tree = array_of(r, "tree");
    for (size_t i = 0; i < json_object_array_length(tree); i++)
        for (size_t k = 0; k < 3; k++)
            cr_expect_eq(tree_alive(json_object_array_get_idx(tree, i), destroyed[k]), 0,
                         "the tree lists %s alive", destroyed[k]);

    /* What may have died in the lost range is counted, not hidden. */
    long long unknown = get_int(r, "unknown_total");
    cr_expect_gt(unknown, 0, "no resource counted as unknown (events lost)");
    json_object *groups = array_of(r, "unknown");
    long long sum = 0;
    for (size_t i = 0; i < json_object_array_length(groups); i++)
        sum += get_int(json_object_array_get_idx(groups, i), "count");
    cr_expect_eq(sum, unknown);
    cr_expect_leq(alive_leak, atoll(TREE_N));
    /* The tree mode returns from every callback before it exits: a callback whose AFTER was
     * lost is not "open at the end" either. */
    cr_expect_eq(get_int(r, "open_callbacks_total"), 0, "callbacks listed as open at the end");
    cr_expect_eq(get_int(r, "alive_total"), alive_leak);
    json_object_put(r);

    /* The text report says it in words. */
    char *targv[] = {AHPROF, "report", data_path, NULL};
    char *out = NULL;
    cr_assert_eq(run_capture(targv, &out, NULL, 60000), 0);
    cr_expect(strstr(out, "unknown (events lost)") != NULL, "text report: %.2000s", out);
    free(out);
}

Test(lossy, a_recording_without_loss_has_nothing_unknown)
{
    char *argv[] = {AHPROF, "record", "-q", "-o", data_path, "--", WORKLOAD, "tree", "200", NULL};
    cr_assert_eq(run_capture(argv, NULL, NULL, 60000), 0);
    json_object *r = report_all_groups();
    cr_assert_eq(get_int(r, "lost_events"), 0);
    cr_expect_eq(get_int(r, "unknown_total"), 0);
    cr_expect_eq(get_int(r, "alive_total"), 200);
    json_object_put(r);
}
