/* The request-id logger (examples/context/reqlog.c): every line carries the id of the
 * request it was logged for, from the handler, a pool thread and a timer alike. */
#include "context/ctx_test.h"
#include "reqlog.h"

CTX_TEST(reqlog, every_line_has_its_request_id)
{
    struct lines l;
    FILE *out = lines_open(&l);
    const int requests = 30;
    cr_assert_eq(reqlog_demo(out, requests), 0);
    lines_close(&l, out);
    /* A line before and after the requests, and four per request. */
    cr_assert_eq(l.n, 2 + 4 * requests);
    int per_request[30] = {0}, threads_seen[8] = {0};
    for (int i = 0; i < l.n; i++) {
        char id[64], msg[256], level[16];
        cr_assert(json_get(l.line[i], "request_id", id, sizeof(id)), "%s", l.line[i]);
        cr_assert(json_get(l.line[i], "msg", msg, sizeof(msg)));
        cr_assert(json_get(l.line[i], "level", level, sizeof(level)));
        cr_assert_str_eq(level, "info");
        json_uint(l.line[i], "ts_ns");
        unsigned long long thread = json_uint(l.line[i], "thread");
        threads_seen[thread < 8 ? thread : 7]++;
        int item;
        if (sscanf(msg, "GET /item/%d", &item) != 1) {
            cr_assert_str_eq(id, "null", "a line outside any request: %s", l.line[i]);
            continue;
        }
        /* The item comes from the handler's own argument, the id from the context. */
        char want[64];
        snprintf(want, sizeof(want), "req-%d", item);
        cr_assert_str_eq(id, want, "%s", l.line[i]);
        cr_assert(item >= 0 && item < requests);
        per_request[item]++;
    }
    for (int i = 0; i < requests; i++)
        cr_assert_eq(per_request[i], 4, "request %d logged %d lines", i, per_request[i]);
    /* The loop thread and at least one pool thread wrote lines. */
    int threads = 0;
    for (int i = 0; i < 8; i++)
        threads += threads_seen[i] > 0;
    cr_assert_geq(threads, 2);
    lines_free(&l);
}

static void *check_outside(void *arg)
{
    (void)arg;
    return (void *)reqlog_request_id();
}

CTX_TEST(reqlog, id_only_inside)
{
    FILE *out = fopen("/dev/null", "w");
    cr_assert_eq(reqlog_open(out), 0);
    cr_assert_null(reqlog_request_id());
    cr_assert_str_eq(reqlog_with_request("req-x", check_outside, NULL), "req-x");
    cr_assert_null(reqlog_request_id());
    reqlog_close();
    fclose(out);
}
