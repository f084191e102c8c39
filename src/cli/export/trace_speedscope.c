/*
 * trace_speedscope.c - speedscope's file format with the time weight: one evented profile
 * per thread; each callback opens its whole async stack (root first) and closes it in
 * reverse, so speedscope's flame views show async stacks. A profile's events must come
 * together: they are spooled (trace_spool.c) while the model reads the events, and written at
 * the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "export/trace_int.h"

/* Frames of the async stack of NODE, root first, into PATH (at most FLAME_DEPTH_MAX, the
 * last one "(deeper)" = UINT32_MAX when cut). Returns the count. */
static uint32_t node_path(const struct ahp_model *m, uint32_t node, uint32_t *path)
{
    uint32_t n = 0, len = 0;
    for (uint32_t a = node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent)
        len++;
    uint32_t keep = len >= FLAME_DEPTH_MAX ? FLAME_DEPTH_MAX - 1 : len; /* as flame_tree.c */
    /* Walk again, filling from the root end. */
    uint32_t i = len;
    for (uint32_t a = node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent) {
        i--;
        if (i < keep)
            path[i] = a;
    }
    n = keep;
    if (len > keep)
        path[n++] = UINT32_MAX;
    return n;
}

/* How many frames of the async stack of NODE are already open below it, when it runs nested
 * in a callback of OUTER: the open frames end with OUTER's async stack, so when that is a
 * prefix of NODE's (the usual case: OUTER created NODE's resource and runs it in place),
 * speedscope shows NODE's async stack once rather than OUTER's twice. */
static uint32_t shared_prefix(const struct ahp_model *m, uint32_t outer, uint32_t node)
{
    uint32_t path[FLAME_DEPTH_MAX + 1], opath[FLAME_DEPTH_MAX + 1];
    uint32_t n = node_path(m, node, path), on = node_path(m, outer, opath);
    if (on > n || (n > 0 && path[n - 1] == UINT32_MAX))
        return 0;
    for (uint32_t i = 0; i < on; i++)
        if (opath[i] != path[i])
            return 0;
    return on;
}

static void spool(struct flame_trace *tr, struct trace_thread *t, uint64_t ts, uint32_t node,
                  uint32_t op)
{
    uint64_t at = ts > tr->base_ns ? ts - tr->base_ns : 0;
    int rc = trace_spool_add(&tr->spool, &t->spool, at, node, op);
    if (rc < 0)
        tr->err = rc;
}

static void opened(struct flame_trace *tr, struct trace_thread *t, struct trace_cb *cb,
                   const struct ahp_model *m)
{
    if (t->depth > 1)
        cb->skip = shared_prefix(m, t->stack[t->depth - 2].node, cb->node);
    spool(tr, t, cb->start_ns, cb->node, TRACE_OPEN | cb->skip << 2);
}

static void closed(struct flame_trace *tr, struct trace_thread *t, const struct trace_cb *cb,
                   const struct ahp_model *m, uint64_t end_ns, uint64_t exclusive_ns,
                   const char *why)
{
    (void)m, (void)exclusive_ns, (void)why; /* speedscope has no place for them */
    spool(tr, t, end_ns, cb->node, TRACE_CLOSE | cb->skip << 2);
}

static int begin(struct flame_trace *tr)
{
    return trace_spool_open(&tr->spool);
}

/* The shared frames: one per model node met, in order of first use. */
struct frames {
    uint32_t *of_node; /* model node -> speedscope frame + 1 */
    uint32_t *nodes;   /* frame -> model node (UINT32_MAX: "(deeper)") */
    uint32_t n, cap;
    uint32_t deeper; /* frame + 1 */
};

static int64_t frame_of(struct frames *f, uint32_t node)
{
    uint32_t *slot = node == UINT32_MAX ? &f->deeper : &f->of_node[node];
    if (*slot == 0) {
        if (f->n == f->cap) {
            uint32_t cap = f->cap == 0 ? 64 : f->cap * 2;
            uint32_t *nn = realloc(f->nodes, (size_t)cap * sizeof(*nn));
            if (nn == NULL)
                return -ENOMEM;
            f->nodes = nn;
            f->cap = cap;
        }
        f->nodes[f->n++] = node;
        *slot = f->n;
    }
    return *slot - 1;
}

struct profile_writer {
    struct flame_trace *tr;
    struct frames *frames;
};

/* A slice of a thread's records as speedscope events: each opens or closes the frames of its
 * async stack that are not open below it already. */
static int write_events(void *arg, const struct trace_rec *recs, uint32_t n)
{
    struct profile_writer *pw = arg;
    const struct ahp_model *m = pw->tr->run->m;
    struct ahp_json *w = &pw->tr->json;
    uint32_t path[FLAME_DEPTH_MAX + 1];
    for (uint32_t i = 0; i < n; i++) {
        const struct trace_rec *r = &recs[i];
        uint32_t len = node_path(m, r->node, path), skip = r->op >> 2;
        bool open = (r->op & 3) == TRACE_OPEN;
        for (uint32_t k = skip; k < len; k++) {
            uint32_t j = open ? k : len - 1 - (k - skip);
            int64_t f = frame_of(pw->frames, path[j]);
            if (f < 0)
                return (int)f;
            ahp_json_object_begin(w);
            ahp_json_field_str(w, "type", open ? "O" : "C");
            ahp_json_field_u64(w, "frame", (uint64_t)f);
            ahp_json_field_u64(w, "at", r->at);
            ahp_json_object_end(w);
        }
    }
    return 0;
}

static void profile_begin(struct ahp_json *w, const char *name_kind, uint32_t tid, uint64_t end)
{
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "type", "evented");
    ahp_json_key(w, "name");
    if (name_kind == NULL)
        ahp_json_str(w, "no callbacks");
    else
        ahp_json_strf(w, "%s %" PRIu32, name_kind, tid);
    ahp_json_field_str(w, "unit", "nanoseconds");
    ahp_json_field_u64(w, "startValue", 0);
    ahp_json_field_u64(w, "endValue", end);
    ahp_json_key(w, "events");
    ahp_json_array_begin(w);
}

static int end(struct flame_trace *tr)
{
    struct flame_run *run = tr->run;
    const struct ahp_model *m = run->m;
    struct ahp_json *w = &tr->json;
    uint64_t end = m->end_ns > tr->base_ns ? m->end_ns - tr->base_ns : 0;
    for (uint32_t i = 0; i < tr->nthreads; i++)
        if (tr->threads[i].spool.last_at > end)
            end = tr->threads[i].spool.last_at;
    int rc = trace_spool_flush(&tr->spool);
    if (rc < 0)
        return rc;

    struct frames fr = {0};
    fr.of_node = calloc(m->nnodes > 0 ? m->nnodes : 1, sizeof(uint32_t));
    if (fr.of_node == NULL)
        return -ENOMEM;

    char title[600], target[300];
    trace_target_label(run, target, sizeof(target));
    snprintf(title, sizeof(title), "%s: async stacks of callbacks per thread (ahprof)", target);
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "$schema", "https://www.speedscope.app/file-format-schema.json");
    ahp_json_field_str(w, "exporter", "ahprof");
    ahp_json_field_str(w, "name", title);
    ahp_json_field_u64(w, "activeProfileIndex", 0);
    ahp_json_key(w, "profiles");
    ahp_json_array_begin(w);
    if (tr->nthreads == 0) {
        profile_begin(w, NULL, 0, 0);
        ahp_json_array_end(w);
        ahp_json_object_end(w);
    }
    struct profile_writer pw = {.tr = tr, .frames = &fr};
    for (uint32_t i = 0; i < tr->nthreads; i++) {
        struct trace_thread *t = &tr->threads[i];
        ahp_json_newline(w, 0);
        profile_begin(w, trace_thread_kind(tr, t->tid), t->tid, end);
        if ((rc = trace_spool_replay(&tr->spool, &t->spool, write_events, &pw)) < 0)
            goto out;
        ahp_json_array_end(w);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
    ahp_json_newline(w, 0);
    ahp_json_key(w, "shared");
    ahp_json_object_begin(w);
    ahp_json_key(w, "frames");
    ahp_json_array_begin(w);
    for (uint32_t i = 0; i < fr.n; i++) {
        if (i > 0)
            ahp_json_newline(w, 0);
        ahp_json_object_begin(w);
        ahp_json_field_str(
            w, "name", fr.nodes[i] == UINT32_MAX ? "(deeper)" : trace_label(tr, m, fr.nodes[i]));
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
    rc = tr->err != 0 ? tr->err : trace_json_result(w);
out:
    free(fr.of_node);
    free(fr.nodes);
    return rc;
}

const struct trace_format trace_speedscope = {
    .on_init = NULL, /* speedscope has no place for creations */
    .begin = begin,
    .thread_added = NULL,
    .opened = opened,
    .closed = closed,
    .end = end,
};
