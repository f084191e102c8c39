/* The tracer (examples/context/tracer.c) on the example server (--trace FILE): a span per
 * REQ and per WORK, TIMER, CALL and WRITE it causes, nested along the asynchronous chain; a
 * request's traceparent is continued, and an outgoing call carries the caller's span to the
 * next server, which knows nothing else of the caller (even when it is the same process). */
#include "context/server_test.h"
#include "tracer.h"

struct sp {
    char trace[40], id[20], parent[20], name[64];
    unsigned long long start, end, duration;
};

#define SPANS_MAX 128

static int read_spans(const struct server *s, struct sp *sp)
{
    struct lines l;
    server_lines(s, "trace", &l);
    cr_assert_leq(l.n, SPANS_MAX);
    for (int i = 0; i < l.n; i++) {
        const char *line = l.line[i];
        cr_assert(json_get(line, "trace_id", sp[i].trace, sizeof(sp[i].trace)));
        cr_assert(json_get(line, "span_id", sp[i].id, sizeof(sp[i].id)));
        cr_assert(json_get(line, "parent_id", sp[i].parent, sizeof(sp[i].parent)));
        cr_assert(json_get(line, "name", sp[i].name, sizeof(sp[i].name)));
        sp[i].start = json_uint(line, "start_ns");
        sp[i].end = json_uint(line, "end_ns");
        sp[i].duration = json_uint(line, "duration_ns");
        cr_assert_eq(sp[i].end - sp[i].start, sp[i].duration, "%s", line);
        cr_assert_leq(sp[i].start, sp[i].end);
        cr_assert_eq(strlen(sp[i].trace), 32, "%s", line);
        cr_assert_eq(strlen(sp[i].id), 16, "%s", line);
    }
    /* Every span was exported once. */
    for (int i = 0; i < l.n; i++)
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(sp[i].id, sp[j].id);
    int n = l.n;
    lines_free(&l);
    return n;
}

/* The only span of trace TRACE named NAME. */
static struct sp *find(struct sp *sp, int n, const char *trace, const char *name)
{
    struct sp *found = NULL;
    for (int i = 0; i < n; i++) {
        if (strcmp(sp[i].trace, trace) == 0 && strcmp(sp[i].name, name) == 0) {
            cr_assert_null(found, "two %s spans in trace %s", name, trace);
            found = &sp[i];
        }
    }
    cr_assert_not_null(found, "no %s span in trace %s", name, trace);
    return found;
}

static int count_trace(const struct sp *sp, int n, const char *trace)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += strcmp(sp[i].trace, trace) == 0;
    return count;
}

/* CHILD is a child of PARENT, in its trace, started while PARENT ran, ended by the end of
 * the request's span ROOT (a child of a WORK may outlive the WORK: the WRITE it created). */
static void assert_child(const struct sp *parent, const struct sp *child, const struct sp *root)
{
    cr_assert_str_eq(child->parent, parent->id, "%s -> %s", parent->name, child->name);
    cr_assert_str_eq(child->trace, parent->trace);
    cr_assert_leq(parent->start, child->start, "%s starts before %s", child->name, parent->name);
    cr_assert_leq(child->start, parent->end, "%s starts after %s ended", child->name, parent->name);
    cr_assert_leq(child->end, root->end, "%s ends after its request %s", child->name, root->name);
}

#define T1 "4bf92f3577b34da6a3ce929d0e0e4736"
#define P1 "00f067aa0ba902b7"
#define T2 "0af7651916cd43dd8448eb211c80319c"
#define P2 "b7ad6b7169203331"
#define T3 "5d3f1b0c2a4e6f8091a2b3c4d5e6f708"
#define P3 "1122334455667788"

CTX_TEST(tracer, server_spans_follow_the_resources)
{
    struct server s;
    char trace[128];
    server_init(&s);
    const char *args[] = {"--trace", server_file(&s, "trace", trace, sizeof(trace)), NULL};
    server_start(&s, args);
    struct client c;
    char line[256];
    client_open(&c, s.port);
    client_send(&c, "GET /fast traceparent=00-" T1 "-" P1 "-01\n"
                    "GET /work?ms=2 traceparent=00-" T2 "-" P2 "-01\n"
                    "GET /sleep?ms=3 traceparent=00-" T3 "-" P3 "-00\n"
                    "GET /fast\n"
                    "GET /fast traceparent=00-" T1 "-0000000000000000-01\n");
    for (int i = 0; i < 5; i++)
        client_line(&c, line, sizeof(line)); /* the header does not change the answer */
    client_close(&c);
    server_stop(&s);

    static struct sp sp[SPANS_MAX];
    int n = read_spans(&s, sp);
    /* 2 per /fast, 3 per /work and /sleep, 2 for SHUTDOWN. */
    cr_assert_eq(n, 2 + 3 + 3 + 2 + 2 + 2);

    /* GET /fast continues T1 from P1: REQ > WRITE. */
    cr_assert_eq(count_trace(sp, n, T1), 2);
    struct sp *req = find(sp, n, T1, "GET /fast"), *w = find(sp, n, T1, "WRITE");
    cr_assert_str_eq(req->parent, P1);
    assert_child(req, w, req);

    /* GET /work: REQ > WORK (the pool task and its completion) > WRITE. */
    cr_assert_eq(count_trace(sp, n, T2), 3);
    req = find(sp, n, T2, "GET /work?ms=2");
    struct sp *work = find(sp, n, T2, "WORK");
    w = find(sp, n, T2, "WRITE");
    cr_assert_str_eq(req->parent, P2);
    assert_child(req, work, req);
    assert_child(work, w, req);

    /* GET /sleep: REQ > TIMER > WRITE. */
    cr_assert_eq(count_trace(sp, n, T3), 3);
    req = find(sp, n, T3, "GET /sleep?ms=3");
    struct sp *timer = find(sp, n, T3, "TIMER");
    w = find(sp, n, T3, "WRITE");
    cr_assert_str_eq(req->parent, P3);
    assert_child(req, timer, req);
    assert_child(timer, w, req);

    /* Without a valid header (none, or an all-zero parent id): a new trace each, rooted at
     * the request. */
    int roots = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(sp[i].parent, "null") != 0)
            continue;
        roots++;
        cr_assert(strcmp(sp[i].name, "GET /fast") == 0 || strcmp(sp[i].name, "SHUTDOWN") == 0, "%s",
                  sp[i].name);
        cr_assert_eq(count_trace(sp, n, sp[i].trace), 2);
        assert_child(&sp[i], find(sp, n, sp[i].trace, "WRITE"), &sp[i]);
    }
    cr_assert_eq(roots, 3);
    server_cleanup(&s);
}

/* The call's reply line as relayed: 200 call port=P reply="200 fast id=X" id=Y. */
static void call(int port, const char *request, int callee_port)
{
    struct client c;
    char line[256], want[64];
    client_open(&c, port);
    client_send(&c, request);
    client_line(&c, line, sizeof(line));
    snprintf(want, sizeof(want), "200 call port=%d reply=\"200 fast id=", callee_port);
    cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", line);
    client_close(&c);
}

CTX_TEST(tracer, server_call_propagates_traceparent)
{
    /* A and B trace; C does not. */
    struct server a, b, c;
    char trace_a[128], trace_b[128];
    server_init(&a);
    server_init(&b);
    server_init(&c);
    const char *args_a[] = {"--trace", server_file(&a, "trace", trace_a, sizeof(trace_a)), NULL};
    const char *args_b[] = {"--trace", server_file(&b, "trace", trace_b, sizeof(trace_b)), NULL};
    server_start(&a, args_a);
    server_start(&b, args_b);
    server_start(&c, NULL);

    char request[256];
    /* A calls B, continuing T1. */
    snprintf(request, sizeof(request), "GET /call?port=%d traceparent=00-" T1 "-" P1 "-01\n",
             b.port);
    call(a.port, request, b.port);
    /* A calls itself, in trace T2. */
    snprintf(request, sizeof(request), "GET /call?port=%d traceparent=00-" T2 "-" P2 "-01\n",
             a.port);
    call(a.port, request, a.port);
    /* C, which does not trace, calls B: B sees no traceparent and starts a trace. */
    snprintf(request, sizeof(request), "GET /call?port=%d traceparent=00-" T3 "-" P3 "-01\n",
             b.port);
    call(c.port, request, b.port);
    server_stop(&a);
    server_stop(&b);
    server_stop(&c);

    static struct sp sa[SPANS_MAX], sb[SPANS_MAX];
    int na = read_spans(&a, sa), nb = read_spans(&b, sb);
    char name[64];

    /* On A: REQ (continuing P1) > CALL > WRITE, the WRITE created by the reply. */
    cr_assert_eq(count_trace(sa, na, T1), 3);
    snprintf(name, sizeof(name), "GET /call?port=%d", b.port);
    struct sp *req = find(sa, na, T1, name), *out = find(sa, na, T1, "CALL");
    cr_assert_str_eq(req->parent, P1);
    assert_child(req, out, req);
    assert_child(out, find(sa, na, T1, "WRITE"), req);
    /* On B: the request A sent continues A's CALL span, from the header alone. */
    cr_assert_eq(count_trace(sb, nb, T1), 2);
    struct sp *remote = find(sb, nb, T1, "GET /fast");
    cr_assert_str_eq(remote->parent, out->id);
    cr_assert_leq(out->start, remote->start); /* one machine, one CLOCK_MONOTONIC */
    assert_child(remote, find(sb, nb, T1, "WRITE"), remote);

    /* A calling itself: the request it receives has an empty context (accepted in the
     * TCPSERVER's scope) and continues the CALL span from the header, like B. */
    cr_assert_eq(count_trace(sa, na, T2), 5);
    snprintf(name, sizeof(name), "GET /call?port=%d", a.port);
    req = find(sa, na, T2, name);
    cr_assert_str_eq(req->parent, P2);
    out = find(sa, na, T2, "CALL");
    assert_child(req, out, req);
    remote = find(sa, na, T2, "GET /fast");
    cr_assert_str_eq(remote->parent, out->id);
    cr_assert_leq(out->start, remote->start);
    int writes = 0;
    for (int i = 0; i < na; i++) {
        if (strcmp(sa[i].trace, T2) != 0 || strcmp(sa[i].name, "WRITE") != 0)
            continue;
        writes++;
        if (strcmp(sa[i].parent, out->id) == 0)
            assert_child(out, &sa[i], req); /* the caller's answer */
        else
            assert_child(remote, &sa[i], remote); /* the callee's answer */
    }
    cr_assert_eq(writes, 2);
    /* A: T1 (3), T2 (5), SHUTDOWN (2). */
    cr_assert_eq(na, 10);

    /* C does not trace: it wrote no spans and sent no header, so B started a trace of its
     * own for that request; T3 never left C. */
    char path[128];
    cr_assert_eq(access(server_file(&c, "trace", path, sizeof(path)), F_OK), -1);
    cr_assert_eq(count_trace(sb, nb, T3), 0);
    int roots = 0;
    for (int i = 0; i < nb; i++) {
        if (strcmp(sb[i].parent, "null") != 0)
            continue;
        roots++;
        cr_assert(strcmp(sb[i].name, "GET /fast") == 0 || strcmp(sb[i].name, "SHUTDOWN") == 0);
        cr_assert_eq(count_trace(sb, nb, sb[i].trace), 2);
    }
    cr_assert_eq(roots, 2);
    cr_assert_eq(nb, 6);
    server_cleanup(&a);
    server_cleanup(&b);
    server_cleanup(&c);
}

/* A call that cannot connect answers 502 from the CALL's callback; its span still ends. */
CTX_TEST(tracer, server_call_refused)
{
    struct server s;
    char trace[128], line[256];
    server_init(&s);
    const char *args[] = {"--trace", server_file(&s, "trace", trace, sizeof(trace)), NULL};
    server_start(&s, args);
    /* A port nobody listens on: bound, never listening. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &length), 0);
    struct client c;
    client_open(&c, s.port);
    char request[128];
    snprintf(request, sizeof(request), "GET /call?port=%d traceparent=00-" T1 "-" P1 "-01\n",
             ntohs(addr.sin_port));
    client_send(&c, request);
    client_line(&c, line, sizeof(line));
    char want[64];
    snprintf(want, sizeof(want), "502 call failed port=%d ", ntohs(addr.sin_port));
    cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", line);
    client_close(&c);
    close(fd);
    server_stop(&s);
    static struct sp sp[SPANS_MAX];
    int n = read_spans(&s, sp);
    cr_assert_eq(count_trace(sp, n, T1), 3);
    snprintf(request, sizeof(request), "GET /call?port=%d", ntohs(addr.sin_port));
    struct sp *req = find(sp, n, T1, request), *out = find(sp, n, T1, "CALL");
    assert_child(req, out, req);
    assert_child(out, find(sp, n, T1, "WRITE"), req);
    cr_assert_eq(n, 5);
    server_cleanup(&s);
}

/* The test plays the called server: it reads the line the CALL sends, with the header carrying
 * the CALL's span, and never answers; the server, stopped, cancels the call and still ends
 * every span. */
CTX_TEST(tracer, server_call_sends_the_header_and_is_cancelled)
{
    struct server s;
    char trace[128], line[256];
    server_init(&s);
    const char *args[] = {"--trace", server_file(&s, "trace", trace, sizeof(trace)), NULL};
    server_start(&s, args);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    cr_assert_eq(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(listener, 1), 0);
    cr_assert_eq(getsockname(listener, (struct sockaddr *)&addr, &length), 0);

    struct client c, callee;
    client_open(&c, s.port);
    char request[128];
    snprintf(request, sizeof(request), "GET /call?port=%d traceparent=00-" T1 "-" P1 "-01\n",
             ntohs(addr.sin_port));
    client_send(&c, request);
    memset(&callee, 0, sizeof(callee));
    callee.fd = accept(listener, NULL, NULL);
    cr_assert_geq(callee.fd, 0);
    struct timeval timeout = {20, 0};
    setsockopt(callee.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char header[256];
    client_line(&callee, header, sizeof(header));
    char span_id[SPAN_ID_HEX + 1];
    cr_assert_eq(sscanf(header, "GET /fast traceparent=00-" T1 "-%16[0-9a-f]-01", span_id), 1, "%s",
                 header);
    cr_assert_eq(strlen(header), strlen("GET /fast traceparent=") + TRACEPARENT_LEN);

    kill(s.pid, SIGTERM);
    client_line(&c, line, sizeof(line));
    cr_assert(strncmp(line, "503 cancelled ", 14) == 0, "%s", line);
    server_wait(&s);
    client_close(&c);
    close(callee.fd);
    close(listener);

    static struct sp sp[SPANS_MAX];
    int n = read_spans(&s, sp);
    cr_assert_eq(n, 3);
    snprintf(request, sizeof(request), "GET /call?port=%d", ntohs(addr.sin_port));
    struct sp *req = find(sp, n, T1, request), *out = find(sp, n, T1, "CALL");
    cr_assert_str_eq(out->id, span_id, "the header carried the CALL's span");
    assert_child(req, out, req);
    assert_child(out, find(sp, n, T1, "WRITE"), req);
    server_cleanup(&s);
}

CTX_TEST(tracer, traceparent_parsing)
{
    char trace[33], parent[17];
    cr_assert_eq(traceparent_parse("00-" T1 "-" P1 "-01", trace, parent), 0);
    cr_assert_str_eq(trace, T1);
    cr_assert_str_eq(parent, P1);
    const char *bad[] = {
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* unknown version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* all-zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* all-zero parent */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", /* flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", /* separator */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(traceparent_parse(bad[i], trace, parent), -EINVAL, "%s", bad[i]);
}

static void *header_inside(void *arg)
{
    return (void *)(long)tracer_traceparent(arg);
}

static void *child_inside(void *arg)
{
    (void)arg;
    return span_start("child");
}

CTX_TEST(tracer, outgoing_header_from_current_span)
{
    struct lines l;
    FILE *out = lines_open(&l);
    cr_assert_eq(tracer_open(out), 0);
    char h[TRACEPARENT_LEN + 1];
    cr_assert_eq(tracer_traceparent(h), -ENOENT);
    struct span *root = span_start_remote("root", "00-" T1 "-" P1 "-01");
    cr_assert_eq((long)span_run(root, header_inside, h), 0);
    char want[64];
    snprintf(want, sizeof(want), "00-" T1 "-%s-01", root->span_id);
    cr_assert_str_eq(h, want);
    cr_assert_str_eq(root->parent_id, P1);
    struct span *child = span_run(root, child_inside, NULL);
    cr_assert_str_eq(child->trace_id, T1);
    cr_assert_str_eq(child->parent_id, root->span_id);
    cr_assert_null(span_current());
    struct span *fresh = span_start_remote("fresh", "garbage");
    cr_assert_str_eq(fresh->parent_id, "");
    cr_assert_str_neq(fresh->trace_id, root->trace_id);
    span_end(child);
    span_end(root);
    span_free(child);
    span_free(root);
    span_free(NULL);
    span_end(fresh); /* not freed: tracer_close() frees it */
    tracer_close();
    lines_close(&l, out);
    cr_assert_eq(l.n, 3);
    lines_free(&l);
}
