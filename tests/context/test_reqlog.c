/* The request-id logger (examples/context/reqlog.c) on the example server (--log FILE): every
 * line written while handling a request, on the loop thread, a pool thread, in a timer, an
 * outgoing call or a write completion, carries that request's id, and only those lines do. */
#include "context/server_test.h"
#include "reqlog.h"

/* What one request must log: its id comes from its response, its messages from its line. */
struct expect {
    unsigned long long id;
    const char *response; /* how its response starts, unique on its connection */
    int n;
    char msg[10][96];
    int on_pool[10]; /* written on a pool thread */
    int seen[10];
};

static void add(struct expect *e, int on_pool, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(struct expect *e, int on_pool, const char *fmt, ...)
{
    cr_assert_lt(e->n, 10);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg[e->n], sizeof(e->msg[0]), fmt, ap);
    va_end(ap);
    e->on_pool[e->n++] = on_pool;
}

/* The messages of the request LINE, once its id is known. */
static void expect_messages(struct expect *e, const char *line, int port, unsigned long long callee)
{
    int ms;
    add(e, 0, "request %llu: %s", e->id, line);
    if (sscanf(line, "GET /work?ms=%d", &ms) == 1) {
        add(e, 1, "work: hashing for %d ms on a pool thread", ms);
        add(e, 0, "work: done");
        add(e, 0, "responded 200");
    } else if (sscanf(line, "GET /sleep?ms=%d", &ms) == 1) {
        add(e, 0, "sleep: timer fired after %d ms", ms);
        add(e, 0, "responded 200");
    } else if (strncmp(line, "GET /fail", 9) == 0) {
        add(e, 0, "fail: looking up the cache");
        add(e, 0, "fail: querying the database");
        add(e, 0, "fail: waiting for cache and database");
        add(e, 1, "fail: database query failed on a pool thread");
        add(e, 0, "fail: cache miss");
        add(e, 0, "fail: database error");
        add(e, 0, "responded 500");
    } else if (strncmp(line, "GET /call", 9) == 0) {
        add(e, 0, "call: connected to port %d", port);
        add(e, 0, "call: reply '200 fast id=%llu'", callee);
        add(e, 0, "responded 200");
    } else if (strncmp(line, "GET /tx", 7) == 0) {
        add(e, 0, "responded 503"); /* no --db */
    } else if (strcmp(line, "GET /nope") == 0) {
        add(e, 0, "responded 404");
    } else {
        add(e, 0, "responded 200"); /* GET /fast, SHUTDOWN */
    }
}

/* How the response to LINE starts: unique among the requests of one connection. */
static void response_prefix(const char *line, int port, char *out, size_t size)
{
    int ms;
    if (sscanf(line, "GET /work?ms=%d", &ms) == 1)
        snprintf(out, size, "200 work ms=%d ", ms);
    else if (sscanf(line, "GET /sleep?ms=%d", &ms) == 1)
        snprintf(out, size, "200 sleep ms=%d ", ms);
    else if (strncmp(line, "GET /fail", 9) == 0)
        snprintf(out, size, "500 failed ");
    else if (strncmp(line, "GET /call", 9) == 0)
        snprintf(out, size, "200 call port=%d ", port);
    else if (strncmp(line, "GET /tx", 7) == 0)
        snprintf(out, size, "503 no database ");
    else if (strcmp(line, "GET /nope") == 0)
        snprintf(out, size, "404 not found ");
    else
        snprintf(out, size, "200 fast ");
}

#define CONNS 3
#define PER_CONN 4
#define MAX_EXPECT (CONNS * PER_CONN + 2)

CTX_TEST(reqlog, server_lines_carry_their_request_id)
{
    struct server s;
    char log[128];
    server_init(&s);
    const char *args[] = {"--log", server_file(&s, "log", log, sizeof(log)), NULL};
    server_start(&s, args);

    char call[64];
    snprintf(call, sizeof(call), "GET /call?port=%d", s.port);
    const char *lines[CONNS][PER_CONN] = {
        {"GET /work?ms=3", "GET /sleep?ms=2", "GET /fast", "GET /fail?ms=1"},
        {"GET /work?ms=1", "GET /sleep?ms=4", call, "GET /tx?n=1"},
        {"GET /work?ms=2", "GET /fast", "GET /nope", "GET /sleep?ms=1"},
    };
    static struct expect e[MAX_EXPECT];
    memset(e, 0, sizeof(e));
    int n = 0;

    /* Three connections with four requests each in flight at once. */
    struct client c[CONNS];
    for (int i = 0; i < CONNS; i++) {
        client_open(&c[i], s.port);
        char text[256] = "";
        for (int j = 0; j < PER_CONN; j++)
            snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\n", lines[i][j]);
        client_send(&c[i], text);
    }
    for (int i = 0; i < CONNS; i++) {
        for (int r = 0; r < PER_CONN; r++) {
            char line[256], prefix[64];
            client_line(&c[i], line, sizeof(line));
            /* Which request of this connection it answers (they come in completion order). */
            int which = -1;
            for (int j = 0; j < PER_CONN; j++) {
                response_prefix(lines[i][j], s.port, prefix, sizeof(prefix));
                if (strncmp(line, prefix, strlen(prefix)) == 0)
                    which = j;
            }
            cr_assert_geq(which, 0, "unexpected response '%s'", line);
            struct expect *x = &e[n++];
            x->id = response_id(line);
            unsigned long long callee = 0;
            const char *reply = strstr(line, "reply=\"200 fast id=");
            if (reply) {
                /* The request the call made to this same server logs under its own id. */
                callee = strtoull(reply + strlen("reply=\"200 fast id="), NULL, 10);
                e[n].id = callee;
                expect_messages(&e[n++], "GET /fast", 0, 0);
            }
            expect_messages(x, lines[i][which], s.port, callee);
        }
        client_close(&c[i]);
    }
    e[n].id = server_stop(&s);
    expect_messages(&e[n++], "SHUTDOWN", 0, 0);
    cr_assert_eq(n, MAX_EXPECT);

    struct lines l;
    server_lines(&s, "log", &l);
    int loop_thread = -1, outside = 0, total = 0;
    for (int i = 0; i < l.n; i++) {
        char id[32], msg[256], level[16];
        cr_assert(json_get(l.line[i], "request_id", id, sizeof(id)), "%s", l.line[i]);
        cr_assert(json_get(l.line[i], "msg", msg, sizeof(msg)));
        cr_assert(json_get(l.line[i], "level", level, sizeof(level)));
        cr_assert_str_eq(level, "info");
        json_uint(l.line[i], "ts_ns");
        int thread = (int)json_uint(l.line[i], "thread");
        if (strcmp(id, "null") == 0) {
            /* Outside any request: the server's own lines, first and last. */
            cr_assert(strncmp(msg, "listening on", 12) == 0 || strcmp(msg, "stopped") == 0, "%s",
                      l.line[i]);
            if (loop_thread < 0)
                loop_thread = thread;
            outside++;
            continue;
        }
        cr_assert_geq(loop_thread, 0, "a request logged before the server listened");
        unsigned long long rid = strtoull(id, NULL, 10), in_msg;
        /* The id in this message comes from the handler's own request, the one in
         * request_id from the context: they agree. */
        if (sscanf(msg, "request %llu:", &in_msg) == 1)
            cr_assert_eq(in_msg, rid, "%s", l.line[i]);
        struct expect *x = NULL;
        for (int k = 0; k < n; k++)
            if (e[k].id == rid)
                x = &e[k];
        cr_assert_not_null(x, "a line for a request that was not sent: %s", l.line[i]);
        int m = -1;
        for (int k = 0; k < x->n; k++)
            if (!x->seen[k] && strcmp(x->msg[k], msg) == 0)
                m = k;
        cr_assert_geq(m, 0, "unexpected line for request %llu: %s", rid, l.line[i]);
        x->seen[m] = 1;
        if (x->on_pool[m])
            cr_assert_neq(thread, loop_thread, "not on a pool thread: %s", l.line[i]);
        else
            cr_assert_eq(thread, loop_thread, "not on the loop thread: %s", l.line[i]);
        total++;
    }
    cr_assert_eq(outside, 2);
    /* Every expected line was there once: none missing, none doubled, none of another. */
    int expected = 0;
    for (int k = 0; k < n; k++) {
        for (int m = 0; m < e[k].n; m++)
            cr_assert(e[k].seen[m], "request %llu did not log '%s'", e[k].id, e[k].msg[m]);
        expected += e[k].n;
    }
    cr_assert_eq(total, expected);
    lines_free(&l);
    server_cleanup(&s);
}

/* Without --log the server writes no log at all. */
CTX_TEST(reqlog, server_without_log)
{
    struct server s;
    server_init(&s);
    server_start(&s, NULL);
    struct client c;
    char line[256];
    client_open(&c, s.port);
    client_send(&c, "GET /work?ms=1\nGET /fail\n");
    client_line(&c, line, sizeof(line));
    client_line(&c, line, sizeof(line));
    client_close(&c);
    server_stop(&s);
    char path[128];
    char *err = read_all(server_file(&s, "err", path, sizeof(path)));
    cr_assert_str_eq(err, "");
    free(err);
    server_cleanup(&s);
}

static void *check_outside(void *arg)
{
    (void)arg;
    return (void *)reqlog_request_id();
}

CTX_TEST(reqlog, id_only_inside)
{
    FILE *out = fopen("/dev/null", "w");
    log_info("not open: dropped");
    cr_assert_eq(reqlog_open(out), 0);
    cr_assert_null(reqlog_request_id());
    cr_assert_str_eq(reqlog_with_request("req-x", check_outside, NULL), "req-x");
    cr_assert_null(reqlog_request_id());
    reqlog_close();
    fclose(out);
}
