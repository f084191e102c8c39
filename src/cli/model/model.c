/* model.c - one streaming pass over a recording: see model.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ah.h"
#include "common/hashmap.h"
#include "model/model.h"

/* ---------------------------------------------------------------------------------------
 * Callback duration histogram: exact below 32 ns, then 32 sub-buckets per power of two
 * (under 3% error), so percentiles need no per-callback storage.
 */

#define HSUB 32
#define HSLOTS (HSUB + 59 * HSUB)

static unsigned hist_index(uint64_t v)
{
    if (v < HSUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return HSUB + (e - 5) * HSUB + (unsigned)((v >> (e - 5)) & (HSUB - 1));
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < HSUB)
        return idx;
    unsigned k = idx - HSUB, e = k / HSUB + 5, sub = k % HSUB;
    uint64_t lower = (uint64_t)(HSUB + sub) << (e - 5);
    return lower + ((1ull << (e - 5)) >> 1);
}

/* ---------------------------------------------------------------------------------------
 * Build state
 */

struct live {
    uint64_t init_ns;
    uint32_t node;
    int32_t cls;
    bool ran; /* a callback was seen: its pending time is counted */
};

/* Off-CPU records joined to the callbacks they fell in: at most this many are kept. */
#define KJOIN_MAX (1u << 21)
/* Async ids of kernel records whose tree node is looked up. */
#define KNODES_MAX (1u << 20)

struct kjoin {
    uint64_t ts, dur, id;
    uint32_t tid, stack;
    int32_t reason;
};

struct frame {
    uint64_t id, start_ns, child_ns;
    uint32_t node;
    int32_t cls;
};

struct tstack {
    uint32_t depth, cap;
    struct frame *frames;
};

#define STACK_MAX 65536
#define STACK_SEARCH 64 /* how far below the top an AFTER looks for its BEFORE */
#define DEAD_BITS 12
#define FOLDED 0x80000000u /* in the children map: the child is an ancestor (folded) */
#define PSEUDO 0x80000000u /* in struct live: known from a callback, creation not seen */

struct build {
    struct ahp_model *m;
    struct ahp_model_opts o;
    uint32_t node_cap;        /* limit on distinct paths */
    uint32_t nodes_cap;       /* allocated */
    struct ahp_hmap live;     /* id -> struct live */
    struct ahp_hmap threads;  /* tid -> struct tstack * */
    struct ahp_hmap dead;     /* id >> DEAD_BITS -> uint32_t[4096] of node + 1 */
    struct ahp_hmap children; /* parent << 40 | site << 16 | cls -> node | FOLDED */
    uint64_t *hist[AHP_M_TYPES];
    uint64_t *phist[AHP_M_TYPES]; /* pending times */
    struct kjoin *kj;             /* off-CPU records inside callbacks, by (tid, ts) */
    size_t nkj, kjcap;
    uint32_t blocking_top;
    uint32_t cached_tid;
    struct tstack *cached;
    struct tstack *spare; /* one freed stack kept for the next thread */
    int err;
};

static int32_t class_of(int32_t type)
{
    return type >= 0 && type < AHP_TYPE_MAX ? type : AHP_M_INVALID;
}

static uint32_t new_node(struct build *b, uint32_t parent, int32_t cls, uint32_t site)
{
    struct ahp_model *m = b->m;
    if (m->nnodes == b->nodes_cap) {
        uint32_t cap = b->nodes_cap == 0 ? 64 : b->nodes_cap * 2;
        struct ahp_node *nn = realloc(m->nodes, (size_t)cap * sizeof(*nn));
        if (nn == NULL) {
            b->err = -ENOMEM;
            return AHP_NODE_NONE;
        }
        m->nodes = nn;
        b->nodes_cap = cap;
    }
    struct ahp_node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof(*n));
    n->parent = parent;
    n->cls = cls;
    n->site = site;
    n->depth = parent == AHP_NODE_NONE ? 0 : m->nodes[parent].depth + 1;
    n->first_child = n->next_sibling = AHP_NODE_NONE;
    n->oldest_init_ns = UINT64_MAX;
    return m->nnodes++;
}

static uint64_t child_key(uint32_t parent, int32_t cls, uint32_t site)
{
    return (uint64_t)parent << 40 | (uint64_t)site << 16 | (uint32_t)cls;
}

/* The node of a resource of class CLS created at SITE on behalf of node PARENT. */
static uint32_t child_node(struct build *b, uint32_t parent, int32_t cls, uint32_t site,
                           bool *folded)
{
    struct ahp_model *m = b->m;
    uint64_t key = child_key(parent, cls, site);
    uint32_t *v = ahp_hmap_get(&b->children, key);
    if (v != NULL) {
        *folded = (*v & FOLDED) != 0;
        return *v & ~FOLDED;
    }
    uint32_t target = AHP_NODE_NONE;
    *folded = false;
    for (uint32_t a = parent; a != AHP_NODE_NONE; a = m->nodes[a].parent) {
        if (m->nodes[a].cls == cls && m->nodes[a].site == site) {
            target = a;
            *folded = true;
            break;
        }
    }
    bool overflow = false;
    if (target == AHP_NODE_NONE) {
        if (m->nnodes >= b->node_cap && parent != AHP_NODE_OTHER) {
            overflow = true;
            parent = AHP_NODE_OTHER;
            key = child_key(parent, cls, site);
            v = ahp_hmap_get(&b->children, key);
            if (v != NULL) {
                b->m->paths_overflowed++;
                return *v & ~FOLDED;
            }
        }
        target = new_node(b, parent, cls, site);
        if (target == AHP_NODE_NONE)
            return AHP_NODE_ROOT;
        if (overflow)
            b->m->paths_overflowed++;
    }
    void *slot;
    int rc = ahp_hmap_put(&b->children, key, &slot);
    if (rc < 0) {
        b->err = rc;
        return target;
    }
    *(uint32_t *)slot = target | (*folded ? FOLDED : 0);
    return target;
}

static void dead_set(struct build *b, uint64_t id, uint32_t node)
{
    uint32_t **page = ahp_hmap_get(&b->dead, id >> DEAD_BITS);
    if (page == NULL) {
        if (ahp_hmap_count(&b->dead) >= b->o.max_dead_pages) {
            b->m->dead_untracked++;
            return;
        }
        uint32_t *p = calloc(1u << DEAD_BITS, sizeof(uint32_t));
        void *slot = NULL;
        int rc = p == NULL ? -ENOMEM : ahp_hmap_put(&b->dead, id >> DEAD_BITS, &slot);
        if (rc < 0) {
            free(p);
            b->err = rc;
            return;
        }
        page = slot;
        *page = p;
    }
    (*page)[id & ((1u << DEAD_BITS) - 1)] = node + 1;
}

static uint32_t dead_get(const struct build *b, uint64_t id)
{
    uint32_t **page = ahp_hmap_get(&b->dead, id >> DEAD_BITS);
    if (page == NULL)
        return AHP_NODE_NONE;
    uint32_t v = (*page)[id & ((1u << DEAD_BITS) - 1)];
    return v == 0 ? AHP_NODE_NONE : v - 1;
}

static void on_init(struct build *b, const struct ahp_event *e)
{
    struct ahp_model *m = b->m;
    int32_t cls = class_of(e->type);
    m->types[cls].created++;
    if (!(e->flags & AHP_F_IN_SNAPSHOT))
        m->types[cls].created_counted++;

    uint32_t parent;
    int32_t pcls;
    struct live *pl;
    if (e->trigger_id == AH_ID_ROOT || e->trigger_id == 0) {
        parent = AHP_NODE_ROOT;
        pcls = AHP_M_PARENT_ROOT;
    } else if ((pl = ahp_hmap_get(&b->live, e->trigger_id)) != NULL) {
        parent = pl->node & ~PSEUDO;
        pcls = pl->cls;
    } else if ((parent = dead_get(b, e->trigger_id)) != AHP_NODE_NONE) {
        pcls = m->nodes[parent].cls;
    } else {
        parent = AHP_NODE_BEFORE;
        pcls = AHP_M_PARENT_UNKNOWN;
    }
    if (pcls < 0) /* a root (only reachable through corrupt ids): treat like the bootstrap */
        pcls = AHP_M_PARENT_ROOT;
    if (m->edges[pcls] == NULL &&
        (m->edges[pcls] = calloc(AHP_M_TYPES, sizeof(uint64_t))) == NULL) {
        b->err = -ENOMEM;
        return;
    }
    m->edges[pcls][cls]++;

    uint32_t site = 0;
    if (b->o.site_of != NULL && e->stack_ref != 0) {
        site = b->o.site_of(b->o.arg, (uint32_t)e->stack_ref - 1);
        if (site > AHP_SITE_MAX)
            site = 0;
    }
    bool folded;
    uint32_t node = child_node(b, parent, cls, site, &folded);
    m->nodes[node].created++;
    if (folded)
        m->nodes[node].folded++;
    if (m->knodes != NULL) {
        uint32_t *kn = ahp_hmap_get(m->knodes, e->id);
        if (kn != NULL)
            *kn = node;
    }
    if (b->o.on_init != NULL)
        b->o.on_init(b->o.arg, m, e, node);

    void *slot;
    int rc = ahp_hmap_put(&b->live, e->id, &slot);
    if (rc < 0) {
        b->err = rc;
        return;
    }
    struct live *l = slot;
    if (rc == 0 && !(l->node & PSEUDO))
        m->duplicate_init++;
    l->init_ns = e->ts_ns;
    l->node = node;
    l->cls = cls;
    l->ran = false;
}

static void on_destroy(struct build *b, const struct ahp_event *e)
{
    struct ahp_model *m = b->m;
    int32_t cls = class_of(e->type);
    m->types[cls].destroyed++;
    if (!(e->flags & AHP_F_IN_SNAPSHOT))
        m->types[cls].destroyed_counted++;
    struct live *l = ahp_hmap_get(&b->live, e->id);
    if (l == NULL)
        return;
    dead_set(b, e->id, l->node & ~PSEUDO);
    ahp_hmap_del(&b->live, e->id);
}

static struct tstack *thread_stack(struct build *b, uint32_t tid, bool create)
{
    if (b->cached != NULL && b->cached_tid == tid)
        return b->cached;
    struct tstack **s = ahp_hmap_get(&b->threads, tid);
    if (s == NULL) {
        if (!create)
            return NULL;
        void *slot;
        int rc = ahp_hmap_put(&b->threads, tid, &slot);
        if (rc < 0) {
            b->err = rc;
            return NULL;
        }
        s = slot;
        if (b->spare != NULL) {
            *s = b->spare;
            b->spare = NULL;
        } else {
            *s = calloc(1, sizeof(**s));
            if (*s == NULL) {
                ahp_hmap_del(&b->threads, tid);
                b->err = -ENOMEM;
                return NULL;
            }
        }
    }
    b->cached_tid = tid;
    b->cached = *s;
    return *s;
}

static void drop_stack(struct build *b, uint32_t tid, struct tstack *s)
{
    ahp_hmap_del(&b->threads, tid);
    if (b->cached == s)
        b->cached = NULL;
    if (b->spare == NULL) {
        b->spare = s;
    } else {
        free(s->frames);
        free(s);
    }
}

static void pending(struct build *b, int32_t cls, uint64_t ns)
{
    if (b->phist[cls] == NULL && (b->phist[cls] = calloc(HSLOTS, sizeof(uint64_t))) == NULL) {
        b->err = -ENOMEM;
        return;
    }
    b->phist[cls][hist_index(ns)]++;
    struct ahp_type_summary *t = &b->m->types[cls];
    t->pending_count++;
    if (ns > t->pending_max_ns)
        t->pending_max_ns = ns;
}

/* The first kernel record of TID at or after TS (b->kj is sorted by tid, then ts). */
static size_t kjoin_first(const struct build *b, uint32_t tid, uint64_t ts)
{
    size_t lo = 0, hi = b->nkj;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct kjoin *k = &b->kj[mid];
        if (k->tid < tid || (k->tid == tid && k->ts < ts))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_blocking(const void *pa, const void *pb)
{
    const struct ahp_blocking *a = pa, *b = pb;
    if (a->blocked_ns != b->blocked_ns)
        return a->blocked_ns > b->blocked_ns ? -1 : 1;
    return a->start_ns < b->start_ns ? -1 : a->start_ns > b->start_ns;
}

/* Sum the off-CPU episodes of a completed callback; keep it if among the longest. */
static void join_blocking(struct build *b, const struct frame *f, uint32_t tid, uint64_t end_ns)
{
    struct ahp_model *m = b->m;
    struct ahp_blocking bl = {.id = f->id,
                              .tid = tid,
                              .node = f->node,
                              .cls = f->cls,
                              .start_ns = f->start_ns,
                              .end_ns = end_ns};
    uint64_t longest = 0;
    for (size_t i = kjoin_first(b, tid, f->start_ns);
         i < b->nkj && b->kj[i].tid == tid && b->kj[i].ts <= end_ns; i++) {
        const struct kjoin *k = &b->kj[i];
        if (k->id != f->id)
            continue; /* a callback nested in this one */
        bl.blocked_ns += k->dur;
        bl.episodes++;
        if (k->dur >= longest) {
            longest = k->dur;
            bl.reason = k->reason;
            bl.stack = k->stack;
        }
    }
    if (bl.episodes == 0)
        return;
    m->blocked_callbacks++;
    if (m->nblocking < b->blocking_top) {
        m->blocking[m->nblocking++] = bl;
    } else if (cmp_blocking(&bl, &m->blocking[m->nblocking - 1]) < 0) {
        m->blocking[m->nblocking - 1] = bl;
    } else {
        return;
    }
    /* Keep the list sorted: the new one moves up to its place. */
    for (uint32_t i = m->nblocking - 1;
         i > 0 && cmp_blocking(&m->blocking[i], &m->blocking[i - 1]) < 0; i--) {
        struct ahp_blocking t = m->blocking[i];
        m->blocking[i] = m->blocking[i - 1];
        m->blocking[i - 1] = t;
    }
}

static void on_before(struct build *b, const struct ahp_event *e)
{
    int32_t cls = class_of(e->type);
    uint32_t node;
    struct live *l = ahp_hmap_get(&b->live, e->id);
    if (l != NULL) {
        node = l->node & ~PSEUDO;
    } else if ((node = dead_get(b, e->id)) == AHP_NODE_NONE) {
        /* It existed before the recording. Its callback tells its type: remember it, so
         * that what it creates gets a path ((before attach) > ITS TYPE > ...) and an edge. */
        bool folded;
        node = child_node(b, AHP_NODE_BEFORE, cls, 0, &folded);
        if (b->err != 0)
            return;
        void *slot;
        int rc = ahp_hmap_put(&b->live, e->id, &slot);
        if (rc < 0) {
            b->err = rc;
            return;
        }
        l = slot;
        l->init_ns = 0;
        l->node = node | PSEUDO;
        l->cls = cls;
        l->ran = true;
    }
    if (b->err != 0)
        return;
    if (l != NULL && !l->ran) {
        l->ran = true;
        pending(b, l->cls, e->ts_ns > l->init_ns ? e->ts_ns - l->init_ns : 0);
    }
    if (b->m->knodes != NULL) {
        uint32_t *kn = ahp_hmap_get(b->m->knodes, e->id);
        if (kn != NULL && *kn == AHP_NODE_NONE)
            *kn = node;
    }
    struct tstack *s = thread_stack(b, e->tid, true);
    if (s == NULL)
        return;
    if (s->depth == STACK_MAX) {
        b->m->stack_overflow++;
        return;
    }
    if (s->depth == s->cap) {
        uint32_t cap = s->cap == 0 ? 16 : s->cap * 2;
        struct frame *f = realloc(s->frames, cap * sizeof(*f));
        if (f == NULL) {
            b->err = -ENOMEM;
            return;
        }
        s->frames = f;
        s->cap = cap;
    }
    s->frames[s->depth++] =
        (struct frame){.id = e->id, .start_ns = e->ts_ns, .node = node, .cls = cls};
    if (b->o.on_before != NULL) {
        struct ahp_callback cb = {.id = e->id,
                                  .tid = e->tid,
                                  .node = node,
                                  .cls = cls,
                                  .depth = s->depth,
                                  .start_ns = e->ts_ns,
                                  .model = b->m};
        b->o.on_before(b->o.arg, &cb);
    }
}

static void on_after(struct build *b, const struct ahp_event *e)
{
    struct ahp_model *m = b->m;
    struct tstack *s = thread_stack(b, e->tid, false);
    if (s == NULL || s->depth == 0) {
        m->unmatched_after++;
        return;
    }
    uint32_t k = s->depth;
    uint32_t lowest = s->depth > STACK_SEARCH ? s->depth - STACK_SEARCH : 0;
    while (k > lowest && s->frames[k - 1].id != e->id)
        k--;
    if (k == lowest) {
        m->unmatched_after++;
        return;
    }
    k--;
    /* Frames above the match lost their AFTER (lost events): drop them. */
    m->unclosed_before += s->depth - 1 - k;
    struct frame *f = &s->frames[k];
    uint64_t incl = e->ts_ns > f->start_ns ? e->ts_ns - f->start_ns : 0;
    uint64_t excl = incl > f->child_ns ? incl - f->child_ns : 0;
    if (k > 0)
        s->frames[k - 1].child_ns += incl;

    struct ahp_type_summary *t = &m->types[f->cls];
    if (t->callbacks == 0 || incl < t->min_ns)
        t->min_ns = incl;
    if (incl > t->max_ns)
        t->max_ns = incl;
    t->callbacks++;
    t->callback_ns += incl;
    t->exclusive_ns += excl;
    if (b->hist[f->cls] == NULL) {
        b->hist[f->cls] = calloc(HSLOTS, sizeof(uint64_t));
        if (b->hist[f->cls] == NULL) {
            b->err = -ENOMEM;
            return;
        }
    }
    b->hist[f->cls][hist_index(incl)]++;
    struct ahp_node *n = &m->nodes[f->node];
    n->callbacks++;
    n->callback_ns += incl;
    n->exclusive_ns += excl;
    if (b->nkj > 0)
        join_blocking(b, f, e->tid, e->ts_ns);

    if (b->o.on_callback != NULL) {
        struct ahp_callback cb = {.id = f->id,
                                  .tid = e->tid,
                                  .node = f->node,
                                  .cls = f->cls,
                                  .depth = k + 1,
                                  .start_ns = f->start_ns,
                                  .end_ns = e->ts_ns,
                                  .exclusive_ns = excl,
                                  .model = m};
        b->o.on_callback(b->o.arg, &cb);
    }
    s->depth = k;
    if (k == 0)
        drop_stack(b, e->tid, s);
}

static int on_events(void *arg, const struct ahp_event *ev, size_t n)
{
    struct build *b = arg;
    struct ahp_model *m = b->m;
    for (size_t i = 0; i < n && b->err == 0; i++) {
        const struct ahp_event *e = &ev[i];
        if (m->events == 0 || e->ts_ns < m->first_ts)
            m->first_ts = e->ts_ns;
        if (e->ts_ns > m->last_ts)
            m->last_ts = e->ts_ns;
        else if (m->last_ts - e->ts_ns > AHP_M_LATE_NS)
            m->late_events++;
        m->events++;
        switch (e->kind) {
        case AHP_EV_INIT:
            on_init(b, e);
            break;
        case AHP_EV_DESTROY:
            on_destroy(b, e);
            break;
        case AHP_EV_BEFORE:
            on_before(b, e);
            break;
        case AHP_EV_AFTER:
            on_after(b, e);
            break;
        case AHP_EV_RESOLVE:
            m->types[class_of(e->type)].resolved++;
            break;
        default:
            m->unknown_kind++;
            break;
        }
        if (b->o.on_event != NULL)
            b->o.on_event(b->o.arg, m, e);
    }
    return b->err;
}

/* ---------------------------------------------------------------------------------------
 * Finishing: what is alive, percentiles, sorted children and leak groups.
 */

static const struct ahp_model *sort_model;

static int cmp_children(const void *pa, const void *pb)
{
    const struct ahp_node *a = &sort_model->nodes[*(const uint32_t *)pa];
    const struct ahp_node *b = &sort_model->nodes[*(const uint32_t *)pb];
    if (a->callback_ns != b->callback_ns)
        return a->callback_ns > b->callback_ns ? -1 : 1;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1;
    if (a->cls != b->cls)
        return a->cls < b->cls ? -1 : 1;
    return 0;
}

static int cmp_leaks(const void *pa, const void *pb)
{
    const struct ahp_leak *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->age_known != b->age_known)
        return a->age_known ? 1 : -1; /* unknown age: older than anything recorded */
    if (a->oldest_age_ns != b->oldest_age_ns)
        return a->oldest_age_ns > b->oldest_age_ns ? -1 : 1;
    return a->node < b->node ? -1 : (a->node > b->node ? 1 : 0);
}

/* The nearest-rank PCT-th percentile of the COUNT values in H, clamped to [LO, HI]. */
static uint64_t hist_percentile(const uint64_t *h, uint64_t count, unsigned pct, uint64_t lo,
                                uint64_t hi)
{
    uint64_t rank = (count / 100) * pct + ((count % 100) * pct + 99) / 100, seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HSLOTS; i++) {
        seen += h[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < lo ? lo : (v > hi ? hi : v);
        }
    }
    return hi;
}

static void percentiles(struct ahp_type_summary *t, const uint64_t *h)
{
    if (h == NULL || t->callbacks == 0)
        return;
    const unsigned pct[2] = {50, 99};
    uint64_t *out[2] = {&t->p50_ns, &t->p99_ns};
    for (int q = 0; q < 2; q++) {
        /* Nearest rank: the smallest value with at least pct% of callbacks at or below. */
        uint64_t rank = (t->callbacks / 100) * pct[q] + ((t->callbacks % 100) * pct[q] + 99) / 100;
        if (rank == 0)
            rank = 1;
        uint64_t seen = 0;
        for (unsigned i = 0; i < HSLOTS; i++) {
            seen += h[i];
            if (seen >= rank) {
                uint64_t v = hist_value(i);
                *out[q] = v < t->min_ns ? t->min_ns : (v > t->max_ns ? t->max_ns : v);
                break;
            }
        }
    }
}

static int finish(struct build *b)
{
    struct ahp_model *m = b->m;
    const struct ahp_file_meta *meta = m->meta;

    m->end_ns = meta->has_end ? meta->end_mono_ns : m->last_ts;
    if (meta->has_info && meta->info.start_mono_ns != 0)
        m->start_ns = meta->info.start_mono_ns;
    else
        m->start_ns = m->events > 0 ? m->first_ts : m->end_ns;
    m->duration_ns = m->end_ns > m->start_ns ? m->end_ns - m->start_ns : 0;

    /* Lost events may hold the DESTROY of anything created before the last loss. */
    uint64_t lost_until = meta->lost_until_ns;
    if (meta->lost_events > 0 && lost_until == 0)
        lost_until = UINT64_MAX;
    uint64_t risky_until = lost_until > UINT64_MAX - AHP_LOSS_MARGIN_NS
                               ? UINT64_MAX
                               : lost_until + (lost_until ? AHP_LOSS_MARGIN_NS : 0);
    size_t pos = 0;
    const struct live *l;
    while ((l = ahp_hmap_next(&b->live, &pos, NULL)) != NULL) {
        /* Those known from a callback only are in the snapshot count: counted below. */
        if (l->node & PSEUDO)
            continue;
        struct ahp_node *n = &m->nodes[l->node];
        m->types[l->cls].live_seen++;
        if (risky_until != 0 && l->init_ns <= risky_until) {
            n->live_unknown++;
            m->types[l->cls].live_unknown++;
            continue;
        }
        n->live++;
        if (l->init_ns < n->oldest_init_ns)
            n->oldest_init_ns = l->init_ns;
    }
    /* Callbacks still open at the end never completed: not counted as callbacks, but listed
     * (a target that crashed or exited inside them). */
    pos = 0;
    struct tstack **sp;
    uint64_t key;
    while ((sp = ahp_hmap_next(&b->threads, &pos, &key)) != NULL) {
        const struct tstack *s = *sp;
        uint32_t tid = (uint32_t)key;
        m->unclosed_before += s->depth;
        /* Frames start in nesting order: when the innermost began after the last loss, none
         * of their AFTERs can have been lost; when it began before, its AFTER may have been,
         * and then the outer ones' as well. */
        uint32_t stored = s->depth < s->cap ? s->depth : s->cap;
        if (risky_until != 0 && s->depth > 0 &&
            (stored == 0 || s->frames[stored - 1].start_ns <= risky_until)) {
            m->open_unknown += s->depth;
            continue;
        }
        m->open_total += s->depth;
        for (uint32_t d = 0; d < s->depth && d < s->cap; d++) {
            if (m->nopen == AHP_OPEN_CALLBACKS_MAX)
                break;
            if (m->open == NULL &&
                (m->open = calloc(AHP_OPEN_CALLBACKS_MAX, sizeof(*m->open))) == NULL)
                return -ENOMEM;
            const struct frame *f = &s->frames[d];
            m->open[m->nopen++] = (struct ahp_open_callback){
                .id = f->id,
                .tid = tid,
                .node = f->node,
                .cls = f->cls,
                .depth = d + 1,
                .start_ns = f->start_ns,
            };
        }
    }

    /* The nodes for resources that predate the recording are not subject to the limit. */
    b->node_cap = UINT32_MAX;
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        struct ahp_type_summary *t = &m->types[c];
        if (c < AHP_TYPE_MAX && meta->has_snapshot && (uint32_t)c < meta->snapshot_ntypes)
            t->snapshot_live = meta->snapshot[c];
        /* Wrapping arithmetic: a hostile file must not make this undefined. */
        t->active =
            (int64_t)((uint64_t)t->snapshot_live + t->created_counted - t->destroyed_counted);
        percentiles(t, b->hist[c]);
        if (b->phist[c] != NULL && t->pending_count > 0) {
            t->pending_p50_ns =
                hist_percentile(b->phist[c], t->pending_count, 50, 0, t->pending_max_ns);
            t->pending_p99_ns =
                hist_percentile(b->phist[c], t->pending_count, 99, 0, t->pending_max_ns);
        }
        /* Alive at the end but never seen created: they predate the recording. */
        if (t->active > 0 && (uint64_t)t->active > t->live_seen) {
            bool folded;
            uint32_t node = child_node(b, AHP_NODE_BEFORE, c, 0, &folded);
            if (b->err != 0)
                return b->err;
            uint64_t remainder = (uint64_t)t->active - t->live_seen;
            /* Their destroy may be among the lost events, whenever it happened. */
            if (meta->lost_events > 0) {
                m->nodes[node].live_unknown += remainder;
                t->live_unknown += remainder;
            } else {
                m->nodes[node].live_unattributed += remainder;
            }
        }
    }

    /* Children lists, sorted. */
    uint32_t *order = malloc((size_t)m->nnodes * sizeof(uint32_t));
    if (order == NULL)
        return -ENOMEM;
    uint32_t k = 0;
    for (uint32_t i = AHP_NODE_ROOTS; i < m->nnodes; i++)
        order[k++] = i;
    sort_model = m;
    qsort(order, k, sizeof(uint32_t), cmp_children);
    /* Insert in reverse so each list ends up in sorted order. */
    for (uint32_t i = k; i-- > 0;) {
        struct ahp_node *n = &m->nodes[order[i]];
        struct ahp_node *p = &m->nodes[n->parent];
        n->next_sibling = p->first_child;
        p->first_child = order[i];
        p->nchildren++;
    }
    free(order);

    uint32_t nleaks = 0;
    for (uint32_t i = 0; i < m->nnodes; i++)
        nleaks += (m->nodes[i].live > 0) + (m->nodes[i].live_unattributed > 0);
    m->leaks = calloc(nleaks > 0 ? nleaks : 1, sizeof(*m->leaks));
    if (m->leaks == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const struct ahp_node *n = &m->nodes[i];
        if (n->live > 0) {
            uint64_t age = m->end_ns > n->oldest_init_ns ? m->end_ns - n->oldest_init_ns : 0;
            m->leaks[m->nleaks++] = (struct ahp_leak){.node = i,
                                                      .cls = n->cls,
                                                      .count = n->live,
                                                      .age_known = true,
                                                      .oldest_age_ns = age};
        }
        if (n->live_unattributed > 0)
            m->leaks[m->nleaks++] = (struct ahp_leak){
                .node = i, .cls = n->cls, .count = n->live_unattributed, .age_known = false};
    }
    qsort(m->leaks, m->nleaks, sizeof(*m->leaks), cmp_leaks);

    uint32_t nunknown = 0;
    for (uint32_t i = 0; i < m->nnodes; i++)
        nunknown += m->nodes[i].live_unknown > 0;
    m->unknown = calloc(nunknown > 0 ? nunknown : 1, sizeof(*m->unknown));
    if (m->unknown == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const struct ahp_node *n = &m->nodes[i];
        if (n->live_unknown == 0)
            continue;
        m->unknown[m->nunknown++] =
            (struct ahp_leak){.node = i, .cls = n->cls, .count = n->live_unknown};
        m->unknown_total += n->live_unknown;
    }
    qsort(m->unknown, m->nunknown, sizeof(*m->unknown), cmp_leaks);
    return 0;
}

static struct ahp_kernel_type *kernel_slot(struct ahp_model *m, int32_t slot)
{
    if (slot == AHP_KREC_OUTSIDE)
        return &m->koutside;
    if (slot < 0)
        return &m->kuntagged; /* AHP_KREC_UNTAGGED, or a slot no writer makes */
    return &m->ktypes[class_of(slot)];
}

static int kernel_records(void *arg, const struct ahp_krecord *r, size_t n)
{
    struct build *b = arg;
    struct ahp_model *m = b->m;
    for (size_t i = 0; i < n; i++) {
        const struct ahp_krecord *k = &r[i];
        struct ahp_kernel_type *kt = kernel_slot(m, k->slot);
        if (k->kind == AHP_KREC_CPU) {
            m->ksamples++;
            kt->cpu_samples++;
        } else if (k->kind == AHP_KREC_OFFCPU) {
            m->koffcpu++;
            if (k->reason == AHP_KREC_PREEMPTED)
                continue; /* runnable all along: not blocking */
            kt->blocked_ns += k->dur_ns;
            kt->blocked_count++;
            if (k->id == 0)
                continue;
            if (b->nkj == b->kjcap) {
                if (b->kjcap >= KJOIN_MAX) {
                    m->krecords_unjoined++;
                    continue;
                }
                size_t cap = b->kjcap ? b->kjcap * 2 : 1024;
                struct kjoin *nk = realloc(b->kj, cap * sizeof(*nk));
                if (nk == NULL)
                    return -ENOMEM;
                b->kj = nk;
                b->kjcap = cap;
            }
            b->kj[b->nkj++] = (struct kjoin){.ts = k->ts_ns,
                                             .dur = k->dur_ns,
                                             .id = k->id,
                                             .tid = k->tid,
                                             .stack = k->stack,
                                             .reason = k->reason};
        } else {
            continue;
        }
        if (k->id != 0 && ahp_hmap_count(m->knodes) < KNODES_MAX &&
            ahp_hmap_get(m->knodes, k->id) == NULL) {
            void *slot;
            if (ahp_hmap_put(m->knodes, k->id, &slot) < 0)
                return -ENOMEM;
            *(uint32_t *)slot = AHP_NODE_NONE;
        }
    }
    return 0;
}

static int cmp_kjoin(const void *pa, const void *pb)
{
    const struct kjoin *a = pa, *b = pb;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    return a->ts < b->ts ? -1 : a->ts > b->ts;
}

/* The kernel records (record --cpu), before the events: per-type sums, the off-CPU episodes
 * to join to their callbacks, and the ids whose tree nodes flame wants. */
static int kernel_prepass(struct build *b, struct ahp_reader *r)
{
    struct ahp_model *m = b->m;
    m->has_kernel = true;
    b->blocking_top = b->o.blocking_top ? b->o.blocking_top : AHP_BLOCKING_TOP_DEFAULT;
    m->blocking = calloc(b->blocking_top, sizeof(*m->blocking));
    m->knodes = malloc(sizeof(*m->knodes));
    if (m->blocking == NULL || m->knodes == NULL)
        return -ENOMEM;
    ahp_hmap_init(m->knodes, sizeof(uint32_t), 0);
    struct ahp_read_ops ops = {.krecords = kernel_records};
    int rc = ahp_reader_foreach(r, &ops, b);
    if (rc == 0 && b->nkj > 1)
        qsort(b->kj, b->nkj, sizeof(*b->kj), cmp_kjoin);
    return rc;
}

uint32_t ahp_model_kernel_node(const struct ahp_model *m, uint64_t id)
{
    const uint32_t *n = m->knodes != NULL && id != 0 ? ahp_hmap_get(m->knodes, id) : NULL;
    return n != NULL ? *n : AHP_NODE_NONE;
}

int ahp_model_build(struct ahp_model **mp, struct ahp_reader *r, const struct ahp_model_opts *opts)
{
    if (mp == NULL || r == NULL)
        return -EINVAL;
    *mp = NULL;
    struct build b = {0};
    if (opts != NULL)
        b.o = *opts;
    b.node_cap = b.o.max_nodes != 0 ? b.o.max_nodes : 65536;
    if (b.node_cap > (1u << 24)) /* node numbers share a word with the FOLDED bit */
        b.node_cap = 1u << 24;
    if (b.node_cap < AHP_NODE_ROOTS)
        b.node_cap = AHP_NODE_ROOTS;
    if (b.o.max_dead_pages == 0)
        b.o.max_dead_pages = 4096;

    /* No entry limits: what these hold is bounded by the model's own limits (node_cap,
     * max_dead_pages) and by what is alive. The first insertion allocates a small table, so
     * that small inputs (tests, fuzzing) reach the growth. */
    ahp_hmap_init(&b.live, sizeof(struct live), 0);
    ahp_hmap_init(&b.threads, sizeof(struct tstack *), 0);
    ahp_hmap_init(&b.dead, sizeof(uint32_t *), 0);
    ahp_hmap_init(&b.children, sizeof(uint32_t), 0);

    struct ahp_model *m = calloc(1, sizeof(*m));
    b.m = m;
    int rc = -ENOMEM;
    if (m == NULL)
        goto out;
    m->meta = ahp_reader_meta(r);
    new_node(&b, AHP_NODE_NONE, -1, 0);
    new_node(&b, AHP_NODE_NONE, -1, 0);
    new_node(&b, AHP_NODE_NONE, -1, 0);
    if (b.err != 0)
        goto out;

    if (m->meta->has_kernel && (rc = kernel_prepass(&b, r)) != 0)
        goto out;
    struct ahp_read_ops ops = {.events = on_events};
    rc = ahp_reader_foreach(r, &ops, &b);
    if (rc == 0)
        rc = b.err;
    if (rc == 0)
        rc = finish(&b);

out:
    ahp_hmap_free(&b.live);
    size_t pos = 0;
    struct tstack **sp;
    while ((sp = ahp_hmap_next(&b.threads, &pos, NULL)) != NULL) {
        free((*sp)->frames);
        free(*sp);
    }
    ahp_hmap_free(&b.threads);
    if (b.spare != NULL) {
        free(b.spare->frames);
        free(b.spare);
    }
    pos = 0;
    uint32_t **page;
    while ((page = ahp_hmap_next(&b.dead, &pos, NULL)) != NULL)
        free(*page);
    ahp_hmap_free(&b.dead);
    ahp_hmap_free(&b.children);
    for (int i = 0; i < AHP_M_TYPES; i++) {
        free(b.hist[i]);
        free(b.phist[i]);
    }
    free(b.kj);
    if (rc != 0) {
        ahp_model_free(m);
        return rc < 0 ? rc : -EIO;
    }
    *mp = m;
    return 0;
}

void ahp_model_free(struct ahp_model *m)
{
    if (m == NULL)
        return;
    free(m->nodes);
    free(m->leaks);
    free(m->unknown);
    free(m->open);
    free(m->blocking);
    if (m->knodes != NULL) {
        ahp_hmap_free(m->knodes);
        free(m->knodes);
    }
    for (int i = 0; i < AHP_M_PARENTS; i++)
        free(m->edges[i]);
    free(m);
}

uint64_t ahp_model_edge(const struct ahp_model *m, int32_t parent, int32_t child)
{
    if (parent < 0 || parent >= AHP_M_PARENTS || child < 0 || child >= AHP_M_TYPES ||
        m->edges[parent] == NULL)
        return 0;
    return m->edges[parent][child];
}

const char *ahp_model_class_name(const struct ahp_model *m, int32_t cls, char buf[AHP_NAME_SIZE])
{
    if (cls >= 0 && cls < AHP_TYPE_MAX && m->meta->named[cls])
        return m->meta->names[cls];
    if (cls >= 0 && cls < AHP_TYPE_MAX) {
        snprintf(buf, AHP_NAME_SIZE, "type#%d", (int)cls);
        return buf;
    }
    return "(invalid type)";
}

const char *ahp_model_node_name(const struct ahp_model *m, uint32_t node, char buf[AHP_NAME_SIZE])
{
    switch (node) {
    case AHP_NODE_ROOT:
        return "(root)";
    case AHP_NODE_BEFORE:
        return "(before attach)";
    case AHP_NODE_OTHER:
        return "(other paths)";
    default:
        if (node >= m->nnodes)
            return "?";
        return ahp_model_class_name(m, m->nodes[node].cls, buf);
    }
}
