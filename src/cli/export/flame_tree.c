/* flame_tree.c - the flame tree (flame_int.h) from the model's trigger tree. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "export/flame_int.h"

const char *flame_weight_name(enum flame_weight w)
{
    static const char *const names[] = {"time", "count", "live", "cpu", "offcpu"};
    return names[w];
}

const char *flame_weight_unit(enum flame_weight w)
{
    static const char *const units[] = {"ns", "resources created", "resources alive at the end",
                                        "samples", "ns"};
    return units[w];
}

const char *flame_weight_what(enum flame_weight w)
{
    static const char *const what[] = {"exclusive callback time", "resources created",
                                       "resources alive at the end", "CPU samples",
                                       "off-CPU time inside callbacks"};
    return what[w];
}

void flame_fmt_value(char *buf, size_t n, enum flame_weight w, uint64_t v)
{
    if (w == W_CPU) {
        snprintf(buf, n, "%" PRIu64 " samples", v);
    } else if (w == W_TIME || w == W_OFFCPU) {
        if (v >= 1000000000ull)
            snprintf(buf, n, "%.3f s", (double)v / 1e9);
        else if (v >= 1000000ull)
            snprintf(buf, n, "%.3f ms", (double)v / 1e6);
        else if (v >= 1000ull)
            snprintf(buf, n, "%.3f us", (double)v / 1e3);
        else
            snprintf(buf, n, "%" PRIu64 " ns", v);
    } else {
        snprintf(buf, n, "%" PRIu64 " %s", v, w == W_COUNT ? "created" : "alive");
    }
}

static uint64_t node_weight(const struct ahp_node *n, enum flame_weight w)
{
    switch (w) {
    case W_TIME:
        return n->exclusive_ns;
    case W_COUNT:
        return n->created;
    case W_LIVE:
        return n->live + n->live_unattributed;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * Build state: interned labels and the (parent, label) -> child index.
 */

struct build {
    struct ftree *t;
    uint32_t ncap, lcap;
    struct ahp_hmap labels;   /* label text -> label number, by content (t->labels) */
    struct ahp_hmap children; /* parent << 32 | label -> child node */
};

struct label_query {
    const struct ftree *t;
    const char *s;
};

static bool label_is(const void *ctx, const void *val)
{
    const struct label_query *q = ctx;
    return strcmp(q->t->labels[*(const uint32_t *)val], q->s) == 0;
}

/* The label number of S (copied if new); UINT32_MAX on -ENOMEM. */
static uint32_t intern(struct build *b, const char *s)
{
    struct ftree *t = b->t;
    uint64_t hash = ahp_hash_str(AHP_HASH_SEED, s);
    struct label_query q = {.t = t, .s = s};
    const uint32_t *known = ahp_hmap_find(&b->labels, hash, label_is, &q);
    if (known != NULL)
        return *known;
    if (t->nlabels == b->lcap) {
        uint32_t cap = b->lcap == 0 ? 64 : b->lcap * 2;
        char **nl = realloc(t->labels, (size_t)cap * sizeof(*nl));
        if (nl == NULL)
            return UINT32_MAX;
        t->labels = nl;
        b->lcap = cap;
    }
    char *copy = strdup(s);
    void *slot;
    if (copy == NULL || ahp_hmap_add(&b->labels, hash, &slot) < 0) {
        free(copy);
        return UINT32_MAX;
    }
    t->labels[t->nlabels] = copy;
    *(uint32_t *)slot = t->nlabels;
    return t->nlabels++;
}

static uint32_t new_fnode(struct build *b, uint32_t parent, uint32_t label, int32_t cls)
{
    struct ftree *t = b->t;
    if (t->nn == b->ncap) {
        uint32_t cap = b->ncap == 0 ? 64 : b->ncap * 2;
        struct ftree_node *nn = realloc(t->n, (size_t)cap * sizeof(*nn));
        if (nn == NULL)
            return FT_NONE;
        t->n = nn;
        b->ncap = cap;
    }
    t->n[t->nn] = (struct ftree_node){
        .parent = parent,
        .first_child = FT_NONE,
        .next_sibling = FT_NONE,
        .depth = parent == FT_NONE ? 0 : t->n[parent].depth + 1,
        .label = label,
        .cls = cls,
    };
    return t->nn++;
}

/* The child of PARENT labelled LABEL, created if new; FT_NONE on -ENOMEM. */
static uint32_t child(struct build *b, uint32_t parent, const char *label, int32_t cls)
{
    uint32_t l = intern(b, label);
    if (l == UINT32_MAX)
        return FT_NONE;
    uint64_t key = (uint64_t)parent << 32 | l;
    const uint32_t *known = ahp_hmap_get(&b->children, key);
    if (known != NULL)
        return *known;
    uint32_t n = new_fnode(b, parent, l, cls);
    void *slot;
    if (n == FT_NONE || ahp_hmap_put(&b->children, key, &slot) < 0)
        return FT_NONE;
    *(uint32_t *)slot = n;
    return n;
}

static const struct ftree *sort_t;

static int cmp_nodes(const void *pa, const void *pb)
{
    const struct ftree_node *a = &sort_t->n[*(const uint32_t *)pa];
    const struct ftree_node *b = &sort_t->n[*(const uint32_t *)pb];
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return strcmp(sort_t->labels[a->label], sort_t->labels[b->label]);
}

/* Sum the totals and link the children, largest first. */
static int totals_and_order(struct ftree *t)
{
    /* Children come after their parent: one backward sweep sums the totals. */
    for (uint32_t i = 0; i < t->nn; i++)
        t->n[i].total = t->n[i].self;
    for (uint32_t i = t->nn; i-- > 1;)
        t->n[t->n[i].parent].total += t->n[i].total;

    uint32_t *order = malloc((size_t)t->nn * sizeof(uint32_t));
    if (order == NULL)
        return -ENOMEM;
    for (uint32_t i = 1; i < t->nn; i++)
        order[i - 1] = i;
    sort_t = t;
    qsort(order, t->nn - 1, sizeof(uint32_t), cmp_nodes);
    for (uint32_t k = t->nn - 1; k-- > 0;) {
        struct ftree_node *n = &t->n[order[k]];
        n->next_sibling = t->n[n->parent].first_child;
        t->n[n->parent].first_child = order[k];
    }
    free(order);
    return 0;
}

struct ftree_paths {
    struct build b;
};

int ftree_paths_begin(struct ftree_paths **bp, struct ftree *t, enum flame_weight w)
{
    memset(t, 0, sizeof(*t));
    t->weight = w;
    struct ftree_paths *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->b.t = t;
    ahp_hmap_init(&p->b.labels, sizeof(uint32_t), 0);
    ahp_hmap_init(&p->b.children, sizeof(uint32_t), 0);
    *bp = p;
    if (intern(&p->b, "all") != 0 || new_fnode(&p->b, FT_NONE, 0, -1) != 0)
        return -ENOMEM;
    return 0;
}

int ftree_paths_add(struct ftree_paths *p, const char *const *labels, const int32_t *cls,
                    uint32_t n, uint64_t weight)
{
    uint32_t node = 0;
    if (n > FLAME_DEPTH_MAX)
        n = FLAME_DEPTH_MAX;
    for (uint32_t i = 0; i < n; i++) {
        node = child(&p->b, node, labels[i], cls != NULL ? cls[i] : -1);
        if (node == FT_NONE)
            return -ENOMEM;
    }
    p->b.t->n[node].self += weight;
    return 0;
}

int ftree_paths_end(struct ftree_paths *p, int rc)
{
    struct ftree *t = p->b.t;
    if (rc == 0)
        rc = totals_and_order(t);
    ahp_hmap_free(&p->b.labels);
    ahp_hmap_free(&p->b.children);
    free(p);
    if (rc != 0)
        ftree_free(t);
    return rc;
}

int ftree_build(struct ftree *t, const struct ahp_model *m, const struct ahp_sites *s,
                enum flame_weight w, bool types_only)
{
    memset(t, 0, sizeof(*t));
    t->weight = w;
    struct build b = {.t = t};
    ahp_hmap_init(&b.labels, sizeof(uint32_t), 0);
    ahp_hmap_init(&b.children, sizeof(uint32_t), 0);
    uint32_t *disp = malloc((size_t)(m->nnodes > 0 ? m->nnodes : 1) * sizeof(uint32_t));
    int rc = -ENOMEM;
    if (disp == NULL || intern(&b, "all") != 0 || new_fnode(&b, FT_NONE, 0, -1) != 0)
        goto out;

    char label[AHP_LABEL_SIZE];
    for (uint32_t i = 0; i < m->nnodes; i++) {
        const struct ahp_node *mn = &m->nodes[i];
        uint32_t d;
        if (i == AHP_NODE_ROOT) {
            d = 0; /* the program's bootstrap: its children are first frames */
        } else if (i < AHP_NODE_ROOTS) {
            d = child(&b, 0, ahp_node_label(m, s, i, types_only, label), -1);
        } else {
            /* A node's parent is always created before it: its frame exists. */
            uint32_t dp = mn->parent < i ? disp[mn->parent] : 0;
            if (t->n[dp].depth >= FLAME_DEPTH_MAX)
                d = dp;
            else if (t->n[dp].depth == FLAME_DEPTH_MAX - 1)
                d = child(&b, dp, "(deeper)", -1);
            else
                d = child(&b, dp, ahp_node_label(m, s, i, types_only, label), mn->cls);
        }
        if (d == FT_NONE)
            goto out;
        disp[i] = d;
        t->n[d].self += node_weight(mn, w);
    }

    rc = totals_and_order(t);
out:
    free(disp);
    ahp_hmap_free(&b.labels);
    ahp_hmap_free(&b.children);
    if (rc != 0)
        ftree_free(t);
    return rc;
}

void ftree_free(struct ftree *t)
{
    for (uint32_t i = 0; i < t->nlabels; i++)
        free(t->labels[i]);
    free(t->labels);
    free(t->n);
    memset(t, 0, sizeof(*t));
}

int ftree_walk(const struct ftree *t,
               int (*visit)(void *arg, const struct ftree *t, uint32_t node, const uint32_t *path,
                            uint32_t depth),
               void *arg)
{
    /* Iterative: paths are at most FLAME_DEPTH_MAX + 1 frames deep. */
    uint32_t path[FLAME_DEPTH_MAX + 2];
    uint32_t stack[FLAME_DEPTH_MAX + 2]; /* node at each depth being visited */
    if (t->nn == 0)
        return 0;
    uint32_t depth = 0;
    stack[0] = 0;
    uint32_t next = t->n[0].first_child;
    for (;;) {
        while (next != FT_NONE && t->n[next].total == 0)
            next = t->n[next].next_sibling;
        if (next != FT_NONE) {
            const struct ftree_node *n = &t->n[next];
            path[depth] = n->label;
            stack[++depth] = next;
            int rc = visit(arg, t, next, path, depth);
            if (rc != 0)
                return rc;
            next = n->first_child;
            continue;
        }
        if (depth == 0)
            return 0;
        next = t->n[stack[depth]].next_sibling;
        depth--;
    }
}
