/* flame_tree.c - the flame tree (flame_int.h) from the model's trigger tree. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export/flame_int.h"

const char *flame_weight_name(enum flame_weight w)
{
    return w == W_TIME ? "time" : w == W_COUNT ? "count" : "live";
}

const char *flame_weight_unit(enum flame_weight w)
{
    return w == W_TIME ? "ns" : w == W_COUNT ? "resources created" : "resources alive at the end";
}

void flame_fmt_value(char *buf, size_t n, enum flame_weight w, uint64_t v)
{
    if (w == W_TIME) {
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
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Build state: interned labels and the (parent, label) -> child index.
 */

struct build {
    struct ftree *t;
    uint32_t ncap, lcap;
    uint32_t *lindex; /* label hash set: label + 1, 0 = empty */
    uint32_t lindex_cap;
    uint64_t *cindex; /* (parent, label) -> child: parent << 32 | label, and the node */
    uint32_t *cnode;
    uint32_t cindex_cap, nchildren;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static int lindex_grow(struct build *b)
{
    uint32_t cap = b->lindex_cap == 0 ? 256 : b->lindex_cap * 2;
    uint32_t *ni = calloc(cap, sizeof(uint32_t));
    if (ni == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < b->t->nlabels; i++) {
        uint32_t j = (uint32_t)str_hash(b->t->labels[i]) & (cap - 1);
        while (ni[j] != 0)
            j = (j + 1) & (cap - 1);
        ni[j] = i + 1;
    }
    free(b->lindex);
    b->lindex = ni;
    b->lindex_cap = cap;
    return 0;
}

/* The label number of S (copied if new); UINT32_MAX on -ENOMEM. */
static uint32_t intern(struct build *b, const char *s)
{
    struct ftree *t = b->t;
    if ((t->nlabels + 1) * 2 >= b->lindex_cap && lindex_grow(b) < 0)
        return UINT32_MAX;
    uint32_t mask = b->lindex_cap - 1, j = (uint32_t)str_hash(s) & mask;
    for (; b->lindex[j] != 0; j = (j + 1) & mask)
        if (strcmp(t->labels[b->lindex[j] - 1], s) == 0)
            return b->lindex[j] - 1;
    if (t->nlabels == b->lcap) {
        uint32_t cap = b->lcap == 0 ? 64 : b->lcap * 2;
        char **nl = realloc(t->labels, (size_t)cap * sizeof(*nl));
        if (nl == NULL)
            return UINT32_MAX;
        t->labels = nl;
        b->lcap = cap;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        return UINT32_MAX;
    t->labels[t->nlabels] = copy;
    b->lindex[j] = t->nlabels + 1;
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

static int cindex_grow(struct build *b)
{
    uint32_t cap = b->cindex_cap == 0 ? 256 : b->cindex_cap * 2;
    uint64_t *nk = calloc(cap, sizeof(uint64_t));
    uint32_t *nv = malloc((size_t)cap * sizeof(uint32_t));
    if (nk == NULL || nv == NULL) {
        free(nk);
        free(nv);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < b->cindex_cap; i++) {
        if (b->cindex[i] == 0)
            continue;
        uint32_t j = (uint32_t)mix(b->cindex[i]) & (cap - 1);
        while (nk[j] != 0)
            j = (j + 1) & (cap - 1);
        nk[j] = b->cindex[i];
        nv[j] = b->cnode[i];
    }
    free(b->cindex);
    free(b->cnode);
    b->cindex = nk;
    b->cnode = nv;
    b->cindex_cap = cap;
    return 0;
}

/* The child of PARENT labelled LABEL, created if new; FT_NONE on -ENOMEM. */
static uint32_t child(struct build *b, uint32_t parent, const char *label, int32_t cls)
{
    uint32_t l = intern(b, label);
    if (l == UINT32_MAX)
        return FT_NONE;
    if ((b->nchildren + 1) * 2 >= b->cindex_cap && cindex_grow(b) < 0)
        return FT_NONE;
    /* +1 keeps the key of (root, label 0) away from 0, the empty slot. */
    uint64_t key = ((uint64_t)parent + 1) << 32 | l;
    uint32_t mask = b->cindex_cap - 1, j = (uint32_t)mix(key) & mask;
    for (; b->cindex[j] != 0; j = (j + 1) & mask)
        if (b->cindex[j] == key)
            return b->cnode[j];
    uint32_t n = new_fnode(b, parent, l, cls);
    if (n == FT_NONE)
        return FT_NONE;
    b->cindex[j] = key;
    b->cnode[j] = n;
    b->nchildren++;
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

int ftree_build(struct ftree *t, const struct ahp_model *m, const struct ahp_sites *s,
                enum flame_weight w, bool types_only)
{
    memset(t, 0, sizeof(*t));
    t->weight = w;
    struct build b = {.t = t};
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

    /* Children come after their parent: one backward sweep sums the totals. */
    for (uint32_t i = 0; i < t->nn; i++)
        t->n[i].total = t->n[i].self;
    for (uint32_t i = t->nn; i-- > 1;)
        t->n[t->n[i].parent].total += t->n[i].total;

    uint32_t *order = malloc((size_t)t->nn * sizeof(uint32_t));
    if (order == NULL)
        goto out;
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
    rc = 0;
out:
    free(disp);
    free(b.lindex);
    free(b.cindex);
    free(b.cnode);
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
