/*
 * flame_trace.c - the timeline formats, written while the model reads the events:
 *
 *   chrome      Chrome trace JSON (Perfetto UI, chrome://tracing): one "X" slice per callback
 *               on its thread, named after the resource's async frame, with its async stack
 *               trace in args; one zero-length "init" slice where each resource was created;
 *               flows (bind_id + flow_out/flow_in, the trace format's "v2" flows) from the
 *               creation slice through each callback of the resource, in order; "M" events
 *               naming the process and threads.
 *   speedscope  speedscope's file format: one evented profile per thread; each callback opens
 *               its whole async stack (root first) and closes it in reverse, so speedscope's
 *               flame views show async stacks.
 *
 * Both mirror each thread's callback stack from the model's on_before/on_callback hooks, so
 * they stay balanced when events were lost: callbacks whose AFTER never came are closed when
 * an enclosing callback ends (chrome marks them "incomplete"), unmatched AFTERs are dropped
 * (the model never reports them), and what is still open at the end is closed at the end.
 *
 * Memory: the chrome writer streams. The speedscope writer needs each thread's events
 * together, so it spools them to an unlinked temporary file in blocks and keeps only the
 * block offsets (8 bytes per 512 events) in memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"
#include "export/flame_int.h"

#define BLOCK_RECS 512

struct rec {
    uint64_t at;   /* ns since the trace base */
    uint32_t node; /* model node of the callback */
    uint32_t op;   /* OP_OPEN, OP_CLOSE | frames skipped << 2 */
};
enum { OP_OPEN = 1, OP_CLOSE = 2 };

struct open_cb {
    uint64_t id, start_ns;
    uint32_t node;
    uint32_t skip; /* speedscope: frames of its async stack already open below it */
};

struct thread {
    uint32_t tid;
    struct open_cb *stack;
    uint32_t depth, cap;
    /* speedscope spool */
    struct rec *buf;
    uint32_t n, bufcap;
    uint64_t *blocks; /* file offset of each full block */
    uint32_t nblocks, blockcap;
    uint64_t last_at;
};

struct flame_trace {
    struct flame_run *run;
    bool chrome;
    uint64_t base_ns;
    bool based;
    uint32_t pid;
    bool first_event;
    struct thread *threads;
    uint32_t nthreads, tcap;
    uint32_t *tindex; /* tid hash -> thread + 1 */
    uint32_t tindex_cap;
    char **labels; /* per model node, cached */
    uint32_t nlabels;
    FILE *spool;
    uint64_t spool_end;
    int err;
};

/* ---------------------------------------------------------------------------------------
 * Shared helpers
 */

void flame_json(FILE *out, const char *s)
{
    ahp_json_string(out, s, strlen(s));
}

static const char *label_of(struct flame_trace *tr, const struct ahp_model *m, uint32_t node)
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

static struct thread *thread_of(struct flame_trace *tr, uint32_t tid)
{
    if (tr->tindex_cap != 0) {
        uint32_t mask = tr->tindex_cap - 1;
        for (uint32_t j = (tid * 2654435761u) & mask; tr->tindex[j] != 0; j = (j + 1) & mask)
            if (tr->threads[tr->tindex[j] - 1].tid == tid)
                return &tr->threads[tr->tindex[j] - 1];
    }
    if ((tr->nthreads + 1) * 2 >= tr->tindex_cap) {
        uint32_t cap = tr->tindex_cap == 0 ? 64 : tr->tindex_cap * 2;
        uint32_t *ni = calloc(cap, sizeof(uint32_t));
        if (ni == NULL)
            goto nomem;
        for (uint32_t i = 0; i < tr->nthreads; i++) {
            uint32_t j = (tr->threads[i].tid * 2654435761u) & (cap - 1);
            while (ni[j] != 0)
                j = (j + 1) & (cap - 1);
            ni[j] = i + 1;
        }
        free(tr->tindex);
        tr->tindex = ni;
        tr->tindex_cap = cap;
    }
    if (tr->nthreads == tr->tcap) {
        uint32_t cap = tr->tcap == 0 ? 16 : tr->tcap * 2;
        struct thread *nt = realloc(tr->threads, (size_t)cap * sizeof(*nt));
        if (nt == NULL)
            goto nomem;
        tr->threads = nt;
        tr->tcap = cap;
    }
    struct thread *t = &tr->threads[tr->nthreads];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    uint32_t j = (tid * 2654435761u) & (tr->tindex_cap - 1);
    while (tr->tindex[j] != 0)
        j = (j + 1) & (tr->tindex_cap - 1);
    tr->tindex[j] = ++tr->nthreads;

    if (tr->chrome) {
        FILE *out = tr->run->out;
        fprintf(out,
                ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32
                ",\"args\":{\"name\":\"%s %" PRIu32 "\"}}",
                tr->pid, tid, tid == tr->pid ? "main thread" : "thread", tid);
    }
    return t;
nomem:
    tr->err = -ENOMEM;
    return NULL;
}

static void set_base(struct flame_trace *tr, uint64_t ts)
{
    if (!tr->based) {
        tr->base_ns = ts;
        tr->based = true;
    }
}

/* Microseconds since the base, to the nanosecond, as JSON wants them. */
static void put_us(FILE *out, struct flame_trace *tr, uint64_t ts)
{
    int64_t d = (int64_t)(ts - tr->base_ns);
    fprintf(out, "%s%" PRId64 ".%03" PRId64, d < 0 ? "-" : "", (d < 0 ? -d : d) / 1000,
            (d < 0 ? -d : d) % 1000);
}

uint32_t flame_trace_site_of(void *arg, uint32_t stack_id)
{
    const struct flame_trace *tr = arg;
    return ahp_sites_lookup(tr->run->sites, stack_id);
}

/* ---------------------------------------------------------------------------------------
 * Chrome
 */

static void chrome_slice(struct flame_trace *tr, const struct ahp_model *m, uint32_t tid,
                         const struct open_cb *cb, uint64_t end_ns, uint64_t exclusive_ns,
                         const char *why)
{
    FILE *out = tr->run->out;
    fprintf(out, ",\n{\"ph\":\"X\",\"cat\":\"callback\",\"name\":");
    flame_json(out, label_of(tr, m, cb->node));
    fprintf(out, ",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32 ",\"ts\":", tr->pid, tid);
    put_us(out, tr, cb->start_ns);
    fprintf(out, ",\"dur\":");
    uint64_t dur = end_ns > cb->start_ns ? end_ns - cb->start_ns : 0;
    fprintf(out, "%" PRIu64 ".%03" PRIu64, dur / 1000, dur % 1000);
    fprintf(out,
            ",\"bind_id\":\"0x%" PRIx64 "\",\"flow_in\":true,\"flow_out\":true,"
            "\"args\":{\"async_id\":%" PRIu64,
            cb->id, cb->id);
    if (why == NULL)
        fprintf(out, ",\"exclusive_us\":%" PRIu64 ".%03" PRIu64, exclusive_ns / 1000,
                exclusive_ns % 1000);
    else
        fprintf(out, ",\"%s\":true", why);
    /* The async stack trace: this resource's frame first, then the frames that created it. */
    fprintf(out, ",\"async_stack\":[");
    uint32_t k = 0;
    for (uint32_t a = cb->node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent) {
        if (k++ == FLAME_DEPTH_MAX - 1) { /* as the other formats: 255 frames, (deeper) */
            fprintf(out, ",\"(deeper)\"");
            break;
        }
        if (k > 1)
            fputc(',', out);
        flame_json(out, label_of(tr, m, a));
    }
    fprintf(out, "]}}");
}

static void chrome_init(void *arg, const struct ahp_model *m, const struct ahp_event *e,
                        uint32_t node)
{
    struct flame_trace *tr = arg;
    set_base(tr, e->ts_ns);
    if (thread_of(tr, e->tid) == NULL)
        return;
    FILE *out = tr->run->out;
    fprintf(out, ",\n{\"ph\":\"X\",\"cat\":\"init\",\"name\":");
    char name[AHP_LABEL_SIZE + 8];
    snprintf(name, sizeof(name), "init %s", label_of(tr, m, node));
    flame_json(out, name);
    fprintf(out, ",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32 ",\"ts\":", tr->pid, e->tid);
    put_us(out, tr, e->ts_ns);
    fprintf(out,
            ",\"dur\":0,\"bind_id\":\"0x%" PRIx64
            "\",\"flow_out\":true,\"args\":{\"async_id\":%" PRIu64 ",\"trigger_id\":%" PRIu64 "}}",
            (uint64_t)e->id, (uint64_t)e->id, (uint64_t)e->trigger_id);
}

/* ---------------------------------------------------------------------------------------
 * Speedscope spool
 */

static void spool(struct flame_trace *tr, struct thread *t, uint64_t ts, uint32_t node, uint32_t op)
{
    uint64_t at = ts > tr->base_ns ? ts - tr->base_ns : 0;
    if (at < t->last_at) /* speedscope wants time order per profile; clocks can disagree */
        at = t->last_at;
    t->last_at = at;
    if (t->n == t->bufcap) {
        if (t->bufcap == BLOCK_RECS) {
            if (t->nblocks == t->blockcap) {
                uint32_t cap = t->blockcap == 0 ? 16 : t->blockcap * 2;
                uint64_t *nb = realloc(t->blocks, (size_t)cap * sizeof(*nb));
                if (nb == NULL) {
                    tr->err = -ENOMEM;
                    return;
                }
                t->blocks = nb;
                t->blockcap = cap;
            }
            if (fseeko(tr->spool, (off_t)tr->spool_end, SEEK_SET) != 0 ||
                fwrite(t->buf, sizeof(struct rec), BLOCK_RECS, tr->spool) != BLOCK_RECS) {
                tr->err = -EIO;
                return;
            }
            t->blocks[t->nblocks++] = tr->spool_end;
            tr->spool_end += sizeof(struct rec) * BLOCK_RECS;
            t->n = 0;
        } else {
            /* Small first: a recording may have many threads with few callbacks each. */
            uint32_t cap = t->bufcap == 0 ? 8 : t->bufcap * 4;
            if (cap > BLOCK_RECS)
                cap = BLOCK_RECS;
            struct rec *nb = realloc(t->buf, (size_t)cap * sizeof(*nb));
            if (nb == NULL) {
                tr->err = -ENOMEM;
                return;
            }
            t->buf = nb;
            t->bufcap = cap;
        }
    }
    t->buf[t->n++] = (struct rec){.at = at, .node = node, .op = op};
}

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

/* ---------------------------------------------------------------------------------------
 * Hooks
 */

static void on_before(void *arg, const struct ahp_callback *cb)
{
    struct flame_trace *tr = arg;
    if (tr->err != 0)
        return;
    set_base(tr, cb->start_ns);
    struct thread *t = thread_of(tr, cb->tid);
    if (t == NULL)
        return;
    if (t->depth == t->cap) {
        uint32_t cap = t->cap == 0 ? 8 : t->cap * 2;
        struct open_cb *ns = realloc(t->stack, (size_t)cap * sizeof(*ns));
        if (ns == NULL) {
            tr->err = -ENOMEM;
            return;
        }
        t->stack = ns;
        t->cap = cap;
    }
    uint32_t skip = 0;
    if (!tr->chrome && t->depth > 0)
        skip = shared_prefix(cb->model, t->stack[t->depth - 1].node, cb->node);
    t->stack[t->depth++] =
        (struct open_cb){.id = cb->id, .start_ns = cb->start_ns, .node = cb->node, .skip = skip};
    if (!tr->chrome)
        spool(tr, t, cb->start_ns, cb->node, OP_OPEN | skip << 2);
}

static void on_callback(void *arg, const struct ahp_callback *cb)
{
    struct flame_trace *tr = arg;
    if (tr->err != 0)
        return;
    struct thread *t = thread_of(tr, cb->tid);
    if (t == NULL || cb->depth == 0 || cb->depth > t->depth)
        return; /* cannot happen: the model reports what it pushed */
    /* Callbacks above it lost their AFTER: they end here, inside it. */
    while (t->depth > cb->depth) {
        struct open_cb *o = &t->stack[--t->depth];
        if (tr->chrome)
            chrome_slice(tr, cb->model, cb->tid, o, cb->end_ns, 0, "incomplete");
        else
            spool(tr, t, cb->end_ns, o->node, OP_CLOSE | o->skip << 2);
    }
    struct open_cb *o = &t->stack[--t->depth];
    if (tr->chrome)
        chrome_slice(tr, cb->model, cb->tid, o, cb->end_ns, cb->exclusive_ns, NULL);
    else
        spool(tr, t, cb->end_ns, o->node, OP_CLOSE | o->skip << 2);
}

int flame_trace_begin(struct flame_trace **trp, struct flame_run *run, struct ahp_model_opts *opts)
{
    struct flame_trace *tr = calloc(1, sizeof(*tr));
    if (tr == NULL)
        return -ENOMEM;
    tr->run = run;
    tr->chrome = run->o->format == FMT_CHROME;
    const struct ahp_file_meta *meta = run->meta;
    tr->pid = meta->has_info && meta->info.pid != 0 ? meta->info.pid : 1;
    if (meta->has_info && meta->info.start_mono_ns != 0)
        set_base(tr, meta->info.start_mono_ns);
    opts->on_before = on_before;
    opts->on_callback = on_callback;
    opts->arg = tr;
    if (tr->chrome) {
        opts->on_init = chrome_init;
        FILE *out = run->out;
        char target[300], comm[80];
        if (meta->has_info) {
            ahp_label_safe(target, sizeof(target), meta->info.target, sizeof(meta->info.target));
            ahp_label_safe(comm, sizeof(comm), meta->info.comm, sizeof(meta->info.comm));
        } else {
            snprintf(target, sizeof(target), "unknown target");
            snprintf(comm, sizeof(comm), "unknown");
        }
        fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"exporter\":\"ahprof\","
                     "\"target\":");
        flame_json(out, target);
        fprintf(out, ",\"lost_events\":%" PRIu64 "},\n\"traceEvents\":[\n", meta->lost_events);
        fprintf(out,
                "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32
                ",\"args\":{\"name\":",
                tr->pid, tr->pid);
        flame_json(out, comm);
        fprintf(out, "}}");
    } else {
        tr->spool = tmpfile();
        if (tr->spool == NULL) {
            int err = -errno;
            free(tr);
            return err;
        }
    }
    *trp = tr;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * The end: close what is open, write what was spooled.
 */

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

static int speedscope_events(struct flame_trace *tr, struct frames *fr, const struct rec *recs,
                             uint32_t n, bool *first)
{
    const struct ahp_model *m = tr->run->m;
    FILE *out = tr->run->out;
    uint32_t path[FLAME_DEPTH_MAX + 1];
    for (uint32_t i = 0; i < n; i++) {
        const struct rec *r = &recs[i];
        uint32_t len = node_path(m, r->node, path), skip = r->op >> 2;
        bool open = (r->op & 3) == OP_OPEN;
        for (uint32_t k = skip; k < len; k++) {
            uint32_t j = open ? k : len - 1 - (k - skip);
            int64_t f = frame_of(fr, path[j]);
            if (f < 0)
                return (int)f;
            fprintf(out, "%s{\"type\":\"%c\",\"frame\":%" PRId64 ",\"at\":%" PRIu64 "}",
                    *first ? "" : ",", open ? 'O' : 'C', f, r->at);
            *first = false;
        }
    }
    return 0;
}

static int speedscope_end(struct flame_trace *tr)
{
    struct flame_run *run = tr->run;
    const struct ahp_model *m = run->m;
    FILE *out = run->out;
    uint64_t end = m->end_ns > tr->base_ns ? m->end_ns - tr->base_ns : 0;
    /* Close what is still open (the recording stopped inside a callback). */
    for (uint32_t i = 0; i < tr->nthreads; i++) {
        struct thread *t = &tr->threads[i];
        while (t->depth > 0 && tr->err == 0) {
            const struct open_cb *o = &t->stack[--t->depth];
            spool(tr, t, m->end_ns, o->node, OP_CLOSE | o->skip << 2);
        }
        if (t->last_at > end)
            end = t->last_at;
    }
    if (tr->err != 0)
        return tr->err;
    if (fflush(tr->spool) != 0)
        return -EIO;

    struct frames fr = {0};
    fr.of_node = calloc(m->nnodes > 0 ? m->nnodes : 1, sizeof(uint32_t));
    struct rec *block = malloc(sizeof(struct rec) * BLOCK_RECS);
    int rc = -ENOMEM;
    if (fr.of_node == NULL || block == NULL)
        goto out;

    char title[600], target[300];
    if (run->meta->has_info)
        ahp_label_safe(target, sizeof(target), run->meta->info.target,
                       sizeof(run->meta->info.target));
    else
        snprintf(target, sizeof(target), "unknown target");
    snprintf(title, sizeof(title), "%s: async stacks of callbacks per thread (ahprof)", target);
    fprintf(out, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
                 "\"exporter\":\"ahprof\",\"name\":");
    flame_json(out, title);
    fprintf(out, ",\"activeProfileIndex\":0,\"profiles\":[");
    if (tr->nthreads == 0)
        fprintf(out, "{\"type\":\"evented\",\"name\":\"no callbacks\",\"unit\":\"nanoseconds\","
                     "\"startValue\":0,\"endValue\":0,\"events\":[]}");
    for (uint32_t i = 0; i < tr->nthreads; i++) {
        struct thread *t = &tr->threads[i];
        fprintf(out,
                "%s\n{\"type\":\"evented\",\"name\":\"%s %" PRIu32
                "\",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%" PRIu64
                ",\"events\":[",
                i > 0 ? "," : "", t->tid == tr->pid ? "main thread" : "thread", t->tid, end);
        bool first = true;
        for (uint32_t b = 0; b < t->nblocks; b++) {
            if (fseeko(tr->spool, (off_t)t->blocks[b], SEEK_SET) != 0 ||
                fread(block, sizeof(struct rec), BLOCK_RECS, tr->spool) != BLOCK_RECS) {
                rc = -EIO;
                goto out;
            }
            if ((rc = speedscope_events(tr, &fr, block, BLOCK_RECS, &first)) < 0)
                goto out;
        }
        if ((rc = speedscope_events(tr, &fr, t->buf, t->n, &first)) < 0)
            goto out;
        fprintf(out, "]}");
    }
    fprintf(out, "],\n\"shared\":{\"frames\":[");
    for (uint32_t i = 0; i < fr.n; i++) {
        fprintf(out, "%s{\"name\":", i > 0 ? ",\n" : "");
        flame_json(out, fr.nodes[i] == UINT32_MAX ? "(deeper)" : label_of(tr, m, fr.nodes[i]));
        fputc('}', out);
    }
    fprintf(out, "]}}\n");
    rc = tr->err;
out:
    free(fr.of_node);
    free(fr.nodes);
    free(block);
    return rc;
}

int flame_trace_end(struct flame_trace *tr, struct flame_run *run)
{
    tr->run = run;
    if (!tr->chrome)
        return speedscope_end(tr);
    const struct ahp_model *m = run->m;
    for (uint32_t i = 0; i < tr->nthreads && tr->err == 0; i++) {
        struct thread *t = &tr->threads[i];
        while (t->depth > 0) {
            struct open_cb *o = &t->stack[--t->depth];
            chrome_slice(tr, m, t->tid, o, m->end_ns > o->start_ns ? m->end_ns : o->start_ns, 0,
                         "unfinished");
        }
    }
    fprintf(run->out, "\n]}\n");
    return tr->err;
}

void flame_trace_free(struct flame_trace *tr)
{
    if (tr == NULL)
        return;
    for (uint32_t i = 0; i < tr->nthreads; i++) {
        free(tr->threads[i].stack);
        free(tr->threads[i].buf);
        free(tr->threads[i].blocks);
    }
    free(tr->threads);
    free(tr->tindex);
    for (uint32_t i = 0; i < tr->nlabels; i++)
        free(tr->labels[i]);
    free(tr->labels);
    if (tr->spool != NULL)
        fclose(tr->spool);
    free(tr);
}

/* ---------------------------------------------------------------------------------------
 * Sampled speedscope profile of the flame tree: one sample per frame with a self weight.
 */

struct sampled {
    FILE *out;
    bool first;
    bool weights;
};

static int sample(void *arg, const struct ftree *t, uint32_t node, const uint32_t *path,
                  uint32_t depth)
{
    struct sampled *s = arg;
    const struct ftree_node *n = &t->n[node];
    if (n->self == 0)
        return 0;
    if (s->weights) {
        fprintf(s->out, "%s%" PRIu64, s->first ? "" : ",", n->self);
    } else {
        fprintf(s->out, "%s[", s->first ? "" : ",\n");
        for (uint32_t i = 0; i < depth; i++)
            fprintf(s->out, "%s%" PRIu32, i > 0 ? "," : "", path[i]);
        fputc(']', s->out);
    }
    s->first = false;
    return 0;
}

int flame_write_speedscope_tree(struct flame_run *run, const struct ftree *t)
{
    FILE *out = run->out;
    char title[600], target[300];
    if (run->meta->has_info)
        ahp_label_safe(target, sizeof(target), run->meta->info.target,
                       sizeof(run->meta->info.target));
    else
        snprintf(target, sizeof(target), "unknown target");
    snprintf(title, sizeof(title), "%s: %s by async stack (ahprof)", target,
             t->weight == W_COUNT ? "resources created" : "resources alive at the end");
    fprintf(out, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
                 "\"exporter\":\"ahprof\",\"name\":");
    flame_json(out, title);
    fprintf(out, ",\"activeProfileIndex\":0,\"profiles\":[{\"type\":\"sampled\",\"name\":");
    flame_json(out, title);
    fprintf(out, ",\"unit\":\"none\",\"startValue\":0,\"endValue\":%" PRIu64 ",\"samples\":[\n",
            t->n[0].total);
    struct sampled s = {.out = out, .first = true};
    ftree_walk(t, sample, &s);
    fprintf(out, "],\n\"weights\":[");
    s.first = true;
    s.weights = true;
    ftree_walk(t, sample, &s);
    fprintf(out, "]}],\n\"shared\":{\"frames\":[");
    for (uint32_t i = 0; i < t->nlabels; i++) {
        fprintf(out, "%s{\"name\":", i > 0 ? ",\n" : "");
        flame_json(out, t->labels[i]);
        fputc('}', out);
    }
    fprintf(out, "]}}\n");
    return 0;
}
