/* Error breadcrumbs (examples/context/breadcrumbs.c) on the example server (--crumbs): the
 * error report of a failing request shows the crumbs of its own causal chain, oldest first,
 * never those of a sibling branch or of another request. */
#include "breadcrumbs.h"
#include "context/server_test.h"

#define CONNS 3

/* Error reports on the server's stderr: one JSON line per failed request. */
CTX_TEST(breadcrumbs, server_reports_carry_their_own_trail)
{
    struct server s;
    server_init(&s);
    const char *args[] = {"--crumbs", NULL};
    server_start(&s, args);
    /* Failing requests among others on three connections at once, all adding crumbs. */
    static const char *const text[CONNS] = {
        "GET /fail?ms=2\nGET /work?ms=1\nGET /fail\nGET /sleep?ms=1\n",
        "GET /sleep?ms=2\nGET /fail?ms=1\nGET /fast\nGET /fail?ms=3\n",
        "GET /fail\nGET /work?ms=2\nGET /fail?ms=1\nGET /nope\n",
    };
    struct client c[CONNS];
    for (int i = 0; i < CONNS; i++) {
        client_open(&c[i], s.port);
        client_send(&c[i], text[i]);
    }
    unsigned long long failed[16];
    int nfailed = 0;
    for (int i = 0; i < CONNS; i++) {
        for (int r = 0; r < 4; r++) {
            char line[256];
            client_line(&c[i], line, sizeof(line));
            if (strncmp(line, "500 failed ", 11) == 0)
                failed[nfailed++] = response_id(line);
        }
        client_close(&c[i]);
    }
    cr_assert_eq(nfailed, 6);
    server_stop(&s);

    struct lines l;
    server_lines(&s, "err", &l);
    cr_assert_eq(l.n, nfailed, "one report per failed request");
    int seen[16] = {0};
    for (int i = 0; i < l.n; i++) {
        char error[64], trail[1024], first[128];
        cr_assert(json_get(l.line[i], "error", error, sizeof(error)), "%s", l.line[i]);
        cr_assert(json_get(l.line[i], "breadcrumbs", trail, sizeof(trail)), "%s", l.line[i]);
        cr_assert_str_eq(error, "db: connection reset");
        unsigned long long id;
        cr_assert_eq(sscanf(trail, "[\"request %llu: %127[^\"]\"", &id, first), 2, "%s", trail);
        int k = -1;
        for (int j = 0; j < nfailed; j++)
            if (failed[j] == id)
                k = j;
        cr_assert_geq(k, 0, "a report for request %llu, which did not fail: %s", id, trail);
        seen[k]++;
        /* Reported on the pool thread: the request's crumbs up to the fork of the query,
         * then the query's own. Not the cache branch's ("fail: cache miss"), whether it ran
         * before or not; not what the request noted after forking; nothing of another
         * request. */
        char want[512];
        snprintf(want, sizeof(want),
                 "[\"request %llu: %s\",\"fail: looking up the cache\","
                 "\"fail: querying the database\","
                 "\"fail: database query failed on a pool thread\"]",
                 id, first);
        cr_assert_str_eq(trail, want);
        cr_assert(strncmp(first, "GET /fail", 9) == 0, "%s", first);
    }
    for (int j = 0; j < nfailed; j++)
        cr_assert_eq(seen[j], 1, "request %llu: %d reports", failed[j], seen[j]);
    lines_free(&l);
    server_cleanup(&s);
}

/* Without --crumbs a failing request is answered the same, and reports nothing. */
CTX_TEST(breadcrumbs, server_without_crumbs)
{
    struct server s;
    char line[256];
    server_init(&s);
    server_start(&s, NULL);
    struct client c;
    client_open(&c, s.port);
    client_send(&c, "GET /fail?ms=1\nGET /fail?ms=x\n");
    /* In completion order: the malformed one at once. */
    client_line(&c, line, sizeof(line));
    cr_assert(strncmp(line, "400 bad request ", 16) == 0, "%s", line);
    client_line(&c, line, sizeof(line));
    cr_assert(strncmp(line, "500 failed ", 11) == 0, "%s", line);
    client_close(&c);
    server_stop(&s);
    char path[128];
    char *err = read_all(server_file(&s, "err", path, sizeof(path)));
    cr_assert_str_eq(err, "");
    free(err);
    server_cleanup(&s);
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
