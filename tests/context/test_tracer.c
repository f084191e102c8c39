/* The tracer (examples/context/tracer.c): spans nest along the asynchronous chain, across
 * the worker pool, and across a "network" hop that only carries a W3C traceparent. */
#include "context/ctx_test.h"
#include "tracer.h"

struct sp {
    char trace[40], id[20], parent[20], name[64];
    unsigned long long start, end, duration;
};

static int parse_spans(struct lines *l, struct sp *s)
{
    for (int i = 0; i < l->n; i++) {
        const char *line = l->line[i];
        cr_assert(json_get(line, "trace_id", s[i].trace, sizeof(s[i].trace)));
        cr_assert(json_get(line, "span_id", s[i].id, sizeof(s[i].id)));
        cr_assert(json_get(line, "parent_id", s[i].parent, sizeof(s[i].parent)));
        cr_assert(json_get(line, "name", s[i].name, sizeof(s[i].name)));
        s[i].start = json_uint(line, "start_ns");
        s[i].end = json_uint(line, "end_ns");
        s[i].duration = json_uint(line, "duration_ns");
        cr_assert_eq(s[i].end - s[i].start, s[i].duration);
        cr_assert_eq(strlen(s[i].trace), 32);
        cr_assert_eq(strlen(s[i].id), 16);
    }
    return l->n;
}

/* CHILD is a child of PARENT in the same trace, inside its time span. */
static void assert_child(const struct sp *parent, const struct sp *child)
{
    cr_assert_str_eq(child->parent, parent->id, "%s -> %s", parent->name, child->name);
    cr_assert_str_eq(child->trace, parent->trace);
    cr_assert_leq(parent->start, child->start, "%s starts before %s", parent->name, child->name);
    cr_assert_leq(child->end, parent->end, "%s ends after %s", child->name, parent->name);
}

#define INCOMING "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

CTX_TEST(tracer, spans_follow_the_work)
{
    struct lines l;
    FILE *out = lines_open(&l);
    const int requests = 12;
    cr_assert_eq(tracer_demo(out, requests, INCOMING), 0);
    lines_close(&l, out);
    static struct sp s[256];
    int n = parse_spans(&l, s);
    cr_assert_eq(n, 5 * requests);
    cr_assert_eq(tracer_demo_leaks, 0, "the inventory service saw the caller's span");
    cr_assert_eq(tracer_demo_header_count, requests);

    int roots = 0, incoming = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(s[i].name, "GET /checkout") != 0)
            continue;
        struct sp *root = &s[i];
        roots++;
        if (strcmp(root->trace, "4bf92f3577b34da6a3ce929d0e0e4736") == 0) {
            /* The request that came with a traceparent continues that trace. */
            cr_assert_str_eq(root->parent, "00f067aa0ba902b7");
            incoming++;
        } else {
            cr_assert_str_eq(root->parent, "null");
        }
        /* Its children: the database query and the outgoing call. */
        struct sp *db = NULL, *client = NULL;
        for (int j = 0; j < n; j++) {
            if (strcmp(s[j].parent, root->id) != 0)
                continue;
            if (strcmp(s[j].name, "db.query") == 0)
                db = &s[j];
            else if (strcmp(s[j].name, "HTTP GET inventory") == 0)
                client = &s[j];
            else
                cr_assert_fail("unexpected child %s", s[j].name);
        }
        cr_assert_not_null(db);
        cr_assert_not_null(client);
        assert_child(root, db);
        assert_child(root, client);
        /* The inventory service continued the trace from the header alone. */
        struct sp *server = NULL;
        for (int j = 0; j < n; j++)
            if (strcmp(s[j].parent, client->id) == 0)
                server = &s[j];
        cr_assert_not_null(server);
        cr_assert_str_eq(server->name, "GET /inventory");
        assert_child(client, server);
        char header[128];
        snprintf(header, sizeof(header), "00-%s-%s-01", client->trace, client->id);
        int sent = 0;
        for (int h = 0; h < tracer_demo_header_count; h++)
            sent += strcmp(tracer_demo_headers[h], header) == 0;
        cr_assert_eq(sent, 1, "traceparent %s sent once", header);
        struct sp *lookup = NULL;
        for (int j = 0; j < n; j++)
            if (strcmp(s[j].parent, server->id) == 0)
                lookup = &s[j];
        cr_assert_not_null(lookup);
        cr_assert_str_eq(lookup->name, "inventory.lookup");
        assert_child(server, lookup);
        /* Each request its own trace. */
        for (int j = 0; j < n; j++)
            if (strcmp(s[j].name, "GET /checkout") == 0 && &s[j] != root)
                cr_assert_str_neq(s[j].trace, root->trace);
    }
    cr_assert_eq(roots, requests);
    cr_assert_eq(incoming, 1);
    lines_free(&l);
}

CTX_TEST(tracer, traceparent_parsing)
{
    char trace[33], parent[17];
    cr_assert_eq(traceparent_parse(INCOMING, trace, parent), 0);
    cr_assert_str_eq(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    cr_assert_str_eq(parent, "00f067aa0ba902b7");
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

CTX_TEST(tracer, outgoing_header_from_current_span)
{
    FILE *out = fopen("/dev/null", "w");
    cr_assert_eq(tracer_open(out), 0);
    char h[TRACEPARENT_LEN + 1];
    cr_assert_eq(tracer_traceparent(h), -ENOENT);
    struct span *root = span_start_remote("root", INCOMING);
    cr_assert_eq((long)span_run(root, header_inside, h), 0);
    char want[64];
    snprintf(want, sizeof(want), "00-4bf92f3577b34da6a3ce929d0e0e4736-%s-01", root->span_id);
    cr_assert_str_eq(h, want);
    cr_assert_str_eq(root->parent_id, "00f067aa0ba902b7");
    struct span *fresh = span_start_remote("fresh", "garbage");
    cr_assert_str_eq(fresh->parent_id, "");
    cr_assert_str_neq(fresh->trace_id, root->trace_id);
    span_end(root);
    span_end(fresh);
    tracer_close();
    fclose(out);
}
