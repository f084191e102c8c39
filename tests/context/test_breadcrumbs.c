/* Error breadcrumbs (examples/context/breadcrumbs.c): a report shows the crumbs of its own
 * causal chain, oldest first, never those of a sibling branch or another request. */
#include "breadcrumbs.h"
#include "context/ctx_test.h"

CTX_TEST(breadcrumbs, reports_carry_their_own_trail)
{
    struct lines l;
    FILE *out = lines_open(&l);
    const int requests = 20;
    cr_assert_eq(crumbs_demo(out, requests), 0);
    lines_close(&l, out);
    cr_assert_eq(l.n, requests / 2); /* one report per odd order */
    int seen[20] = {0};
    for (int i = 0; i < l.n; i++) {
        char error[64], trail[1024];
        cr_assert(json_get(l.line[i], "error", error, sizeof(error)));
        cr_assert(json_get(l.line[i], "breadcrumbs", trail, sizeof(trail)));
        int order;
        cr_assert_eq(sscanf(trail, "[\"GET /orders/%d\"", &order), 1, "%s", trail);
        cr_assert(order % 2 == 1 && order < requests);
        seen[order]++;
        char want[3][512];
        if (order % 4 == 3) {
            /* Reported on the pool thread, with the crumb recorded there. */
            cr_assert_str_eq(error, "db: connection reset");
            snprintf(want[0], sizeof(want[0]),
                     "[\"GET /orders/%d\",\"db: querying\","
                     "\"db: SELECT order %d on a pool thread\"]",
                     order, order);
            cr_assert_str_eq(trail, want[0]);
            continue;
        }
        /* Reported by whichever branch finished last: the request's crumbs up to the fork
         * of that branch, then the branch's own. */
        cr_assert_str_eq(error, "order not found");
        snprintf(want[1], sizeof(want[1]),
                 "[\"GET /orders/%d\",\"db: querying\",\"db: 0 rows\",\"render 404\"]", order);
        snprintf(want[2], sizeof(want[2]),
                 "[\"GET /orders/%d\",\"cache: miss for order %d\",\"render 404\"]", order, order);
        cr_assert(strcmp(trail, want[1]) == 0 || strcmp(trail, want[2]) == 0, "%s", trail);
    }
    for (int i = 1; i < requests; i += 2)
        cr_assert_eq(seen[i], 1);
    lines_free(&l);
}

static FILE *report_file;

static void in_trail(void *arg)
{
    (void)arg;
    crumb("one");
    crumb("two %d", 2);
    crumbs_report("boom");
}

CTX_TEST(breadcrumbs, synchronous_trail_and_outside)
{
    struct lines l;
    report_file = lines_open(&l);
    cr_assert_eq(crumbs_open(report_file), 0);
    crumb("dropped: no trail");
    crumbs_report("outside");
    struct crumbs_trail *t = crumbs_begin(in_trail, NULL);
    cr_assert_not_null(t);
    crumbs_report("after"); /* the trail ended with crumbs_begin() */
    crumbs_trail_free(t);
    crumbs_close();
    lines_close(&l, report_file);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.line[0], "{\"error\":\"outside\",\"breadcrumbs\":[]}");
    cr_assert_str_eq(l.line[1], "{\"error\":\"boom\",\"breadcrumbs\":[\"one\",\"two 2\"]}");
    cr_assert_str_eq(l.line[2], "{\"error\":\"after\",\"breadcrumbs\":[]}");
    lines_free(&l);
}
