/*
 * trace.c - the timeline exports (chrome, perfetto, speedscope with the time weight) see the
 * callbacks while the model reads the events: this file mirrors each thread's callback stack from
 * the model's on_before/on_callback hooks and tells the format (trace_chrome.c, trace_speedscope.c)
 * what opens and closes. trace_int.h says how lost events are handled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export/trace_int.h"

const char *trace_label(struct flame_trace *tr, const struct ahp_model *m, uint32_t node)
{
    if (node >= tr->nlabels) {
        uint32_t n = tr->nlabels == 0 ? 64 : tr->nlabels;
        while (n <= node)
            n *= 2;
        char **nl = realloc(tr->labels, (size_t)n * sizeof(*nl));
        if (nl == NULL) {
            tr->err = -ENOMEM;
            return "?";
        }
        memset(nl + tr->nlabels, 0, (size_t)(n - tr->nlabels) * sizeof(*nl));
        tr->labels = nl;
        tr->nlabels = n;
    }
    if (tr->labels[node] == NULL) {
        char buf[AHP_LABEL_SIZE];
        tr->labels[node] =
            strdup(ahp_node_label(m, tr->run->sites, node, tr->run->o->types_only, buf));
        if (tr->labels[node] == NULL) {
            tr->err = -ENOMEM;
            return "?";
        }
    }
    return tr->labels[node];
}

struct trace_thread *trace_thread_of(struct flame_trace *tr, uint32_t tid)
{
    void *v;
    int rc = ahp_hmap_put(&tr->tindex, tid, &v);
    if (rc < 0) {
        tr->err = rc;
        return NULL;
    }
    uint32_t *index = v;
    if (rc == 0)
        return &tr->threads[*index];
    if (tr->nthreads == tr->tcap) {
        uint32_t cap = tr->tcap == 0 ? 16 : tr->tcap * 2;
        struct trace_thread *nt = realloc(tr->threads, (size_t)cap * sizeof(*nt));
        if (nt == NULL) {
            ahp_hmap_del(&tr->tindex, tid);
            tr->err = -ENOMEM;
            return NULL;
        }
        tr->threads = nt;
        tr->tcap = cap;
    }
    *index = tr->nthreads;
    struct trace_thread *t = &tr->threads[tr->nthreads++];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    if (tr->format->thread_added != NULL)
        tr->format->thread_added(tr, t);
    return t;
}

void trace_set_base(struct flame_trace *tr, uint64_t ts)
{
    if (!tr->based) {
        tr->base_ns = ts;
        tr->based = true;
    }
}

void trace_target_label(const struct flame_run *run, char *buf, size_t n)
{
    if (run->meta->has_info)
        ahp_label_safe(buf, n, run->meta->info.target, sizeof(run->meta->info.target));
    else
        snprintf(buf, n, "unknown target");
}

const char *trace_thread_kind(const struct flame_trace *tr, uint32_t tid)
{
    return tid == tr->pid ? "main thread" : "thread";
}

int trace_json_result(const struct ahp_json *w)
{
    int rc = ahp_json_error(w);
    return rc == -EINVAL || rc == -E2BIG ? rc : 0;
}

uint32_t flame_trace_site_of(void *arg, uint32_t stack_id)
{
    const struct flame_trace *tr = arg;
    return ahp_sites_lookup(tr->run->sites, stack_id);
}

static void on_before(void *arg, const struct ahp_callback *cb)
{
    struct flame_trace *tr = arg;
    if (tr->err != 0)
        return;
    trace_set_base(tr, cb->start_ns);
    struct trace_thread *t = trace_thread_of(tr, cb->tid);
    if (t == NULL)
        return;
    if (t->depth == t->cap) {
        uint32_t cap = t->cap == 0 ? 8 : t->cap * 2;
        struct trace_cb *ns = realloc(t->stack, (size_t)cap * sizeof(*ns));
        if (ns == NULL) {
            tr->err = -ENOMEM;
            return;
        }
        t->stack = ns;
        t->cap = cap;
    }
    struct trace_cb *o = &t->stack[t->depth++];
    *o = (struct trace_cb){.id = cb->id, .start_ns = cb->start_ns, .node = cb->node};
    if (tr->format->opened != NULL)
        tr->format->opened(tr, t, o, cb->model);
}

static void on_callback(void *arg, const struct ahp_callback *cb)
{
    struct flame_trace *tr = arg;
    if (tr->err != 0)
        return;
    struct trace_thread *t = trace_thread_of(tr, cb->tid);
    if (t == NULL || cb->depth == 0 || cb->depth > t->depth)
        return; /* cannot happen: the model reports what it pushed */
    /* Callbacks above it lost their AFTER: they end here, inside it. */
    while (t->depth > cb->depth) {
        const struct trace_cb *o = &t->stack[--t->depth];
        tr->format->closed(tr, t, o, cb->model, cb->end_ns, 0, "incomplete");
    }
    const struct trace_cb *o = &t->stack[--t->depth];
    tr->format->closed(tr, t, o, cb->model, cb->end_ns, cb->exclusive_ns, NULL);
}

int flame_trace_begin(struct flame_trace **trp, struct flame_run *run, struct ahp_model_opts *opts)
{
    struct flame_trace *tr = calloc(1, sizeof(*tr));
    if (tr == NULL)
        return -ENOMEM;
    tr->run = run;
    tr->format = run->o->format == FMT_CHROME     ? &trace_chrome
                 : run->o->format == FMT_PERFETTO ? &trace_perfetto
                                                  : &trace_speedscope;
    ahp_hmap_init(&tr->tindex, sizeof(uint32_t), 0);
    ahp_json_init(&tr->json, run->out, AHP_JSON_COMPACT);
    const struct ahp_file_meta *meta = run->meta;
    tr->pid = meta->has_info && meta->info.pid != 0 ? meta->info.pid : 1;
    if (meta->has_info && meta->info.start_mono_ns != 0)
        trace_set_base(tr, meta->info.start_mono_ns);
    int rc = tr->format->begin(tr);
    if (rc < 0) {
        flame_trace_free(tr);
        return rc;
    }
    opts->on_before = on_before;
    opts->on_callback = on_callback;
    opts->on_init = tr->format->on_init;
    opts->arg = tr;
    *trp = tr;
    return 0;
}

int flame_trace_end(struct flame_trace *tr, struct flame_run *run)
{
    tr->run = run;
    const struct ahp_model *m = run->m;
    /* The recording stopped inside these callbacks. */
    for (uint32_t i = 0; i < tr->nthreads && tr->err == 0; i++) {
        struct trace_thread *t = &tr->threads[i];
        while (t->depth > 0) {
            const struct trace_cb *o = &t->stack[--t->depth];
            tr->format->closed(tr, t, o, m, m->end_ns > o->start_ns ? m->end_ns : o->start_ns, 0,
                               "unfinished");
        }
    }
    if (tr->err != 0)
        return tr->err;
    return tr->format->end(tr);
}

void flame_trace_free(struct flame_trace *tr)
{
    if (tr == NULL)
        return;
    if (tr->format->free != NULL)
        tr->format->free(tr);
    for (uint32_t i = 0; i < tr->nthreads; i++) {
        free(tr->threads[i].stack);
        trace_spool_thread_free(&tr->threads[i].spool);
    }
    free(tr->threads);
    ahp_hmap_free(&tr->tindex);
    for (uint32_t i = 0; i < tr->nlabels; i++)
        free(tr->labels[i]);
    free(tr->labels);
    trace_spool_close(&tr->spool);
    free(tr);
}
