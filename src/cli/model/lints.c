/* lints.c - warnings over a recording and over live aggregates: see lints.h, docs/lints.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ah.h"
#include "common/hashmap.h"
#include "common/util.h"
#include "model/lints.h"

static const char *const lint_names[AHP_LINTS] = {
    [AHP_LINT_NEVER_RAN] = "never-ran",
    [AHP_LINT_LEAK_SLOPE] = "leak-slope",
    [AHP_LINT_LONG_CALLBACK] = "long-callback",
    [AHP_LINT_SELF_RETRIGGER] = "self-retrigger",
    [AHP_LINT_ORPHAN] = "orphan",
    [AHP_LINT_LIFECYCLE] = "lifecycle",
};

static const char *const lifecycle_names[AHP_LC_KINDS] = {
    [AHP_LC_AFTER_WITHOUT_BEFORE] = "after-without-before",
    [AHP_LC_DOUBLE_DESTROY] = "double-destroy",
    [AHP_LC_DESTROY_WHILE_RUNNING] = "destroy-while-running-elsewhere",
};

const char *ahp_lint_name(int lint)
{
    return lint >= 0 && lint < AHP_LINTS ? lint_names[lint] : "?";
}

const char *ahp_lifecycle_kind_name(int kind)
{
    return kind >= 0 && kind < AHP_LC_KINDS ? lifecycle_names[kind] : "?";
}

int ahp_lint_parse(const char *name, size_t len)
{
    for (int i = 0; i < AHP_LINTS; i++)
        if (strlen(lint_names[i]) == len && memcmp(lint_names[i], name, len) == 0)
            return i;
    return -1;
}

void ahp_lint_opts_default(struct ahp_lint_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->never_ran_ns = 10000000000ull;
    o->long_callback_ns = 100000000ull;
    o->orphan_ns = 10000000000ull;
    o->retrigger_chain = 1000;
    /* A chain that waits for anything at each link (a thread pool's read, a 1 ms timer) is
     * slower than this: two thread wake-ups already take microseconds. */
    o->retrigger_gap_ns = 5000ull;
    o->leak_min = 100;
}

int ahp_lint_allow_parse(struct ahp_lint_opts *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    size_t len = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
    int lint = ahp_lint_parse(arg, len);
    if (lint < 0)
        return -EINVAL;
    if (colon != NULL && (colon[1] == '\0' || strlen(colon + 1) >= AHP_NAME_SIZE))
        return -EINVAL;
    if (o->nallow == AHP_LINT_ALLOW_MAX)
        return -ENOSPC;
    struct ahp_lint_allow *a = &o->allow[o->nallow++];
    a->lint = lint;
    a->type[0] = '\0';
    if (colon != NULL)
        strcpy(a->type, colon + 1);
    return 0;
}

int ahp_lint_option(struct ahp_lint_opts *o, int val, const char *arg, const char **name)
{
    static const char *const names[AHP_LINT_OPTS] = {
        "allow",      "never-ran",      "long-callback",     "orphan",
        "leak-slope", "self-retrigger", "self-retrigger-gap"};
    int k = val - AHP_LINT_OPT_BASE;
    if (k < 0 || k >= AHP_LINT_OPTS)
        return -EINVAL;
    *name = names[k];
    const uint64_t max_ns = 86400000000000ull;
    long n;
    switch (k) {
    case 0:
        return ahp_lint_allow_parse(o, arg) < 0 ? -EINVAL : 0;
    case 1:
        return ahp_parse_duration_ns(arg, 1000000, max_ns, &o->never_ran_ns) < 0 ? -EINVAL : 0;
    case 2:
        return ahp_parse_duration_ns(arg, 1000, max_ns, &o->long_callback_ns) < 0 ? -EINVAL : 0;
    case 3:
        return ahp_parse_duration_ns(arg, 1000000, max_ns, &o->orphan_ns) < 0 ? -EINVAL : 0;
    case 4:
        if (ahp_parse_long(arg, 1, 1L << 40, &n) < 0)
            return -EINVAL;
        o->leak_min = (uint64_t)n;
        return 0;
    case 5:
        if (ahp_parse_long(arg, 2, 1L << 40, &n) < 0)
            return -EINVAL;
        o->retrigger_chain = (uint64_t)n;
        return 0;
    default: {
        size_t len = strlen(arg);
        if (len > 2 && strcmp(arg + len - 2, "us") == 0) {
            double us;
            char num[32];
            if (len - 2 >= sizeof(num))
                return -EINVAL;
            memcpy(num, arg, len - 2);
            num[len - 2] = '\0';
            if (ahp_parse_real(num, 0.001, 1e9, &us) < 0)
                return -EINVAL;
            o->retrigger_gap_ns = (uint64_t)(us * 1e3);
            return 0;
        }
        return ahp_parse_duration_ns(arg, 1, max_ns, &o->retrigger_gap_ns) < 0 ? -EINVAL : 0;
    }
    }
}

bool ahp_lint_allowed(const struct ahp_lint_opts *o, int lint, const char *type_name)
{
    for (unsigned i = 0; i < o->nallow; i++) {
        const struct ahp_lint_allow *a = &o->allow[i];
        if (a->lint != lint)
            continue;
        if (a->type[0] == '\0' ||
            (type_name != NULL && strncmp(a->type, type_name, AHP_NAME_SIZE) == 0))
            return true;
    }
    return false;
}

bool ahp_lint_slope(const int64_t *values, const uint64_t *ts_ns, uint32_t n, uint64_t min_growth,
                    double *rate, int64_t *grown)
{
    if (n < AHP_LINT_SLOPE_MIN_SAMPLES)
        return false;
    /* Floors, not averages: a server under load swings up and down, and what a leak keeps is
     * the floor rising in every part of the window. */
    int64_t floor[4];
    for (uint32_t q = 0; q < 4; q++) {
        uint32_t lo = n * q / 4, hi = n * (q + 1) / 4;
        floor[q] = values[lo];
        for (uint32_t i = lo; i < hi; i++)
            if (values[i] < floor[q])
                floor[q] = values[i];
        if (q > 0 && floor[q] <= floor[q - 1])
            return false;
    }
    int64_t growth = floor[3] - floor[0];
    if (growth < 0 || (uint64_t)growth < min_growth)
        return false;
    uint64_t span = ts_ns[n - 1] > ts_ns[0] ? ts_ns[n - 1] - ts_ns[0] : 1;
    *rate = (double)(values[n - 1] - values[0]) / ((double)span / 1e9);
    *grown = growth;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * The engine over a recording
 */

struct lres {
    uint64_t init_ns;
    uint64_t trigger_id;
    uint64_t chain;       /* links of its self-retrigger chain (0: not in one) */
    uint64_t chain_start; /* creation time of the chain's first resource */
    uint64_t callbacks;   /* BEFOREs seen */
    uint64_t death_ns;    /* dead: when it was destroyed */
    uint64_t last_cb_ns;  /* start of its last callback, 0 if none */
    uint32_t node;
    int32_t cls;
    uint32_t in_cb;          /* open callbacks of this resource */
    uint32_t cb_tid;         /* the thread of the innermost of them */
    uint32_t children_alive; /* resources it triggered, still alive */
    bool init_seen;
    bool dead;    /* destroyed inside its own callback: removed at the AFTER */
    bool flagged; /* its chain was counted as self-retrigger already */
};

struct dead_parent {
    uint64_t death_ns;
    uint32_t refs; /* children still alive */
};

#define SAMPLES 64
#define SAMPLE_FIRST_NS 50000000ull
#define DESTROYED_BITS 15 /* ids per page: 32768, 4 KiB */
#define DESTROYED_PAGES_MAX 1024

struct ahp_lints {
    struct ahp_lint_opts o;
    struct ahp_hmap live;      /* id -> struct lres */
    struct ahp_hmap parents;   /* id -> struct dead_parent: destroyed, children alive */
    struct ahp_hmap destroyed; /* id >> DESTROYED_BITS -> uint8_t * bitmap */
    /* Per-type live count (created minus destroyed since the recording began), sampled. */
    int64_t delta[AHP_M_TYPES];
    int64_t (*samples)[AHP_M_TYPES];
    uint64_t sample_ts[SAMPLES];
    uint32_t nsamples;
    uint64_t sample_every, next_sample;
    struct ahp_warning slot[AHP_LINTS][AHP_M_TYPES];
    struct ahp_warning *out;
    uint32_t nout;
    bool lifecycle_suppressed;
    bool type_ends[AHP_M_TYPES]; /* a resource of the type was destroyed */
    int err;
};

int ahp_lints_new(struct ahp_lints **lp, const struct ahp_lint_opts *o)
{
    struct ahp_lints *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    l->samples = calloc(SAMPLES, sizeof(*l->samples));
    if (l->samples == NULL) {
        free(l);
        return -ENOMEM;
    }
    if (o != NULL)
        l->o = *o;
    else
        ahp_lint_opts_default(&l->o);
    ahp_hmap_init(&l->live, sizeof(struct lres), 0);
    ahp_hmap_init(&l->parents, sizeof(struct dead_parent), 0);
    ahp_hmap_init(&l->destroyed, sizeof(uint8_t *), DESTROYED_PAGES_MAX);
    l->sample_every = SAMPLE_FIRST_NS;
    *lp = l;
    return 0;
}

void ahp_lints_free(struct ahp_lints *l)
{
    if (l == NULL)
        return;
    size_t pos = 0;
    uint8_t **page;
    while ((page = ahp_hmap_next(&l->destroyed, &pos, NULL)) != NULL)
        free(*page);
    ahp_hmap_free(&l->destroyed);
    ahp_hmap_free(&l->live);
    ahp_hmap_free(&l->parents);
    free(l->samples);
    free(l->out);
    free(l);
}

/* Count one occurrence; EX replaces the example when BETTER says it is a better one. */
static void hit(struct ahp_lints *l, int lint, int32_t cls, const struct ahp_lint_example *ex,
                bool better)
{
    struct ahp_warning *w = &l->slot[lint][cls];
    if (w->count == 0 || better)
        w->ex = *ex;
    w->lint = lint;
    w->cls = cls;
    w->count++;
}

static void mark_destroyed(struct ahp_lints *l, uint64_t id)
{
    uint8_t **page = ahp_hmap_get(&l->destroyed, id >> DESTROYED_BITS);
    if (page == NULL) {
        void *slot;
        /* Full: older ids are forgotten, a double destroy among them goes unseen (never a
         * false one). */
        if (ahp_hmap_put(&l->destroyed, id >> DESTROYED_BITS, &slot) < 0)
            return;
        page = slot;
        *page = calloc(1u << (DESTROYED_BITS - 3), 1);
        if (*page == NULL) {
            ahp_hmap_del(&l->destroyed, id >> DESTROYED_BITS);
            return;
        }
    }
    uint64_t bit = id & ((1u << DESTROYED_BITS) - 1);
    (*page)[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

static bool was_destroyed(const struct ahp_lints *l, uint64_t id)
{
    uint8_t **page = ahp_hmap_get(&l->destroyed, id >> DESTROYED_BITS);
    if (page == NULL)
        return false;
    uint64_t bit = id & ((1u << DESTROYED_BITS) - 1);
    return ((*page)[bit >> 3] >> (bit & 7)) & 1;
}

static void sample(struct ahp_lints *l, uint64_t ts)
{
    if (l->next_sample == 0)
        l->next_sample = ts + l->sample_every;
    if (ts < l->next_sample)
        return;
    if (l->nsamples == SAMPLES) {
        /* Keep every other sample and sample half as often: bounded, whatever the length. */
        for (uint32_t i = 0; i < SAMPLES / 2; i++) {
            memcpy(l->samples[i], l->samples[2 * i + 1], sizeof(l->samples[i]));
            l->sample_ts[i] = l->sample_ts[2 * i + 1];
        }
        l->nsamples = SAMPLES / 2;
        l->sample_every *= 2;
    }
    memcpy(l->samples[l->nsamples], l->delta, sizeof(l->delta));
    l->sample_ts[l->nsamples++] = ts;
    l->next_sample = ts + l->sample_every;
}

static int32_t class_of(int32_t type)
{
    return type >= 0 && type < AHP_TYPE_MAX ? type : AHP_M_INVALID;
}

/* A child of TRIGGER_ID is gone (destroyed at TS, or alive at the end): was it an orphan? */
static void child_gone(struct ahp_lints *l, const struct lres *r, uint64_t id, uint64_t ts)
{
    struct lres *p = ahp_hmap_get(&l->live, r->trigger_id);
    if (p != NULL) {
        if (p->children_alive > 0)
            p->children_alive--;
        return;
    }
    struct dead_parent *d = ahp_hmap_get(&l->parents, r->trigger_id);
    if (d == NULL)
        return;
    uint64_t orphaned = ts > d->death_ns ? ts - d->death_ns : 0;
    /* Left behind, not living on: no callback since its trigger went (a server started from
     * a DNS callback serves), and of a type whose resources do end (one that never ends is
     * a long-lived handle, whoever created it). */
    if (orphaned > l->o.orphan_ns && r->last_cb_ns < d->death_ns && l->type_ends[r->cls]) {
        struct ahp_lint_example ex = {.id = id,
                                      .node = r->node,
                                      .at_ns = ts,
                                      .value_ns = orphaned,
                                      .trigger_id = r->trigger_id};
        hit(l, AHP_LINT_ORPHAN, r->cls, &ex,
            orphaned > l->slot[AHP_LINT_ORPHAN][r->cls].ex.value_ns);
    }
    if (--d->refs == 0)
        ahp_hmap_del(&l->parents, r->trigger_id);
}

/* R (id ID) leaves the table: destroyed, or destroyed in its callback and that ended. */
static void retire(struct ahp_lints *l, uint64_t id, uint64_t ts, uint64_t death_ns)
{
    struct lres *r = ahp_hmap_get(&l->live, id);
    if (r == NULL)
        return;
    struct lres copy = *r;
    ahp_hmap_del(&l->live, id);
    if (copy.init_seen)
        child_gone(l, &copy, id, ts);
    if (copy.children_alive > 0) {
        void *slot;
        int rc = ahp_hmap_put(&l->parents, id, &slot);
        if (rc < 0) {
            l->err = rc;
            return;
        }
        struct dead_parent *d = slot;
        d->death_ns = death_ns;
        d->refs = copy.children_alive;
    }
}

static void on_init(void *arg, const struct ahp_model *m, const struct ahp_event *e, uint32_t node)
{
    (void)m;
    struct ahp_lints *l = arg;
    int32_t cls = class_of(e->type);
    if (!(e->flags & AHP_F_IN_SNAPSHOT))
        l->delta[cls]++;
    sample(l, e->ts_ns);

    struct lres child = {.init_ns = e->ts_ns,
                         .trigger_id = e->trigger_id,
                         .node = node,
                         .cls = cls,
                         .init_seen = true};
    struct lres *p = e->trigger_id > AH_ID_ROOT ? ahp_hmap_get(&l->live, e->trigger_id) : NULL;
    if (p != NULL) {
        p->children_alive++;
        /* Created by a resource of its own type while that one ran: one more link. */
        if (p->cls == cls && p->in_cb > 0) {
            child.chain = p->chain + 1;
            child.chain_start =
                p->chain > 0 ? p->chain_start : (p->init_seen ? p->init_ns : e->ts_ns);
            child.flagged = p->flagged;
        }
    }
    if (child.chain >= l->o.retrigger_chain && !child.flagged) {
        uint64_t per = (e->ts_ns - child.chain_start) / child.chain;
        if (per < l->o.retrigger_gap_ns) {
            child.flagged = true;
            struct ahp_lint_example ex = {.id = e->id,
                                          .tid = e->tid,
                                          .node = node,
                                          .at_ns = e->ts_ns,
                                          .value_ns = per,
                                          .trigger_id = e->trigger_id,
                                          .chain = child.chain};
            hit(l, AHP_LINT_SELF_RETRIGGER, cls, &ex, false);
        }
    }
    void *slot;
    int rc = ahp_hmap_put(&l->live, e->id, &slot);
    if (rc < 0) {
        l->err = rc;
        return;
    }
    *(struct lres *)slot = child;
}

static void lifecycle(struct ahp_lints *l, const struct ahp_event *e, int32_t cls, uint32_t node,
                      int kind)
{
    struct ahp_lint_example ex = {
        .id = e->id, .tid = e->tid, .node = node, .at_ns = e->ts_ns, .kind = kind};
    hit(l, AHP_LINT_LIFECYCLE, cls, &ex, false);
    l->slot[AHP_LINT_LIFECYCLE][cls].kinds[kind]++;
}

static void on_event(void *arg, const struct ahp_model *m, const struct ahp_event *e)
{
    (void)m;
    struct ahp_lints *l = arg;
    if (l->err != 0)
        return;
    int32_t cls = class_of(e->type);
    struct lres *r;
    switch (e->kind) {
    case AHP_EV_BEFORE:
        r = ahp_hmap_get(&l->live, e->id);
        if (r == NULL) {
            if (was_destroyed(l, e->id))
                return;
            /* Created before the recording: tracked for its callbacks only. */
            void *slot;
            int rc = ahp_hmap_put(&l->live, e->id, &slot);
            if (rc < 0) {
                l->err = rc;
                return;
            }
            r = slot;
            r->cls = cls;
            r->node = AHP_NODE_NONE;
        }
        r->callbacks++;
        r->in_cb++;
        r->cb_tid = e->tid;
        r->last_cb_ns = e->ts_ns;
        break;
    case AHP_EV_AFTER:
        r = ahp_hmap_get(&l->live, e->id);
        if (r == NULL || r->in_cb == 0) {
            /* Only for resources whose whole life is in the file: for older ones the
             * recording may simply have started inside the callback. */
            if (r != NULL && r->init_seen)
                lifecycle(l, e, r->cls, r->node, AHP_LC_AFTER_WITHOUT_BEFORE);
            return;
        }
        if (--r->in_cb == 0 && r->dead)
            retire(l, e->id, e->ts_ns, r->death_ns);
        break;
    case AHP_EV_DESTROY:
        if (!(e->flags & AHP_F_IN_SNAPSHOT))
            l->delta[cls]--;
        sample(l, e->ts_ns);
        l->type_ends[cls] = true;
        r = ahp_hmap_get(&l->live, e->id);
        if (r == NULL || r->dead) {
            if (r != NULL || was_destroyed(l, e->id))
                lifecycle(l, e, cls, r != NULL ? r->node : AHP_NODE_NONE, AHP_LC_DOUBLE_DESTROY);
            mark_destroyed(l, e->id);
            return;
        }
        mark_destroyed(l, e->id);
        if (r->in_cb > 0) {
            /* Inside its own callback, on that thread, is libah's contract (docs/probes.md);
             * from another thread, the callback runs on a resource that is gone. */
            if (e->tid != r->cb_tid)
                lifecycle(l, e, r->cls, r->node, AHP_LC_DESTROY_WHILE_RUNNING);
            r->dead = true;
            r->death_ns = e->ts_ns;
            return;
        }
        retire(l, e->id, e->ts_ns, e->ts_ns);
        break;
    default:
        break;
    }
}

static void on_callback(void *arg, const struct ahp_callback *cb)
{
    struct ahp_lints *l = arg;
    uint64_t d = cb->end_ns > cb->start_ns ? cb->end_ns - cb->start_ns : 0;
    if (d <= l->o.long_callback_ns)
        return;
    struct ahp_lint_example ex = {
        .id = cb->id, .tid = cb->tid, .node = cb->node, .at_ns = cb->start_ns, .value_ns = d};
    hit(l, AHP_LINT_LONG_CALLBACK, cb->cls, &ex,
        d > l->slot[AHP_LINT_LONG_CALLBACK][cb->cls].ex.value_ns);
}

void ahp_lints_hook(struct ahp_lints *l, struct ahp_model_opts *mo)
{
    mo->on_init = on_init;
    mo->on_event = on_event;
    mo->on_callback = on_callback;
    mo->arg = l;
}

static int cmp_warnings(const void *pa, const void *pb)
{
    const struct ahp_warning *a = pa, *b = pb;
    if (a->lint != b->lint)
        return a->lint < b->lint ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->cls < b->cls ? -1 : (a->cls > b->cls);
}

int ahp_lints_finish(struct ahp_lints *l, const struct ahp_model *m)
{
    if (l->err != 0)
        return l->err;
    uint64_t end = m->end_ns;
    /* Resources alive at the end: never ran, orphaned. */
    size_t pos = 0;
    uint64_t id;
    const struct lres *r;
    while ((r = ahp_hmap_next(&l->live, &pos, &id)) != NULL) {
        if (!r->init_seen || r->dead)
            continue;
        uint64_t age = end > r->init_ns ? end - r->init_ns : 0;
        /* Only in a type whose resources do run: a type none of which ever ran is a kind of
         * handle that may wait forever by design (a signal watcher, a wake-up handle). */
        if (r->callbacks == 0 && age > l->o.never_ran_ns && m->types[r->cls].callbacks > 0) {
            struct ahp_lint_example ex = {.id = id,
                                          .node = r->node,
                                          .at_ns = r->init_ns,
                                          .value_ns = age,
                                          .trigger_id = r->trigger_id};
            hit(l, AHP_LINT_NEVER_RAN, r->cls, &ex,
                age > l->slot[AHP_LINT_NEVER_RAN][r->cls].ex.value_ns);
        }
        const struct dead_parent *d = ahp_hmap_get(&l->parents, r->trigger_id);
        if (d != NULL && end > d->death_ns && end - d->death_ns > l->o.orphan_ns &&
            r->last_cb_ns < d->death_ns && l->type_ends[r->cls]) {
            uint64_t orphaned = end - d->death_ns;
            struct ahp_lint_example ex = {.id = id,
                                          .node = r->node,
                                          .at_ns = end,
                                          .value_ns = orphaned,
                                          .trigger_id = r->trigger_id};
            hit(l, AHP_LINT_ORPHAN, r->cls, &ex,
                orphaned > l->slot[AHP_LINT_ORPHAN][r->cls].ex.value_ns);
        }
    }
    /* The last point of the window is its end. */
    if (l->nsamples > 0 && l->nsamples < SAMPLES && end > l->sample_ts[l->nsamples - 1]) {
        memcpy(l->samples[l->nsamples], l->delta, sizeof(l->delta));
        l->sample_ts[l->nsamples++] = end;
    }
    int64_t series[SAMPLES];
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        for (uint32_t i = 0; i < l->nsamples; i++)
            series[i] = l->samples[i][c];
        double rate;
        int64_t grown;
        if (ahp_lint_slope(series, l->sample_ts, l->nsamples, l->o.leak_min, &rate, &grown)) {
            struct ahp_warning *w = &l->slot[AHP_LINT_LEAK_SLOPE][c];
            w->lint = AHP_LINT_LEAK_SLOPE;
            w->cls = c;
            w->count = 1;
            w->rate_per_s = rate;
            w->grown = grown;
            w->ex.node = AHP_NODE_NONE;
            /* The example: the largest group of this type alive at the end. */
            for (uint32_t i = 0; i < m->nleaks; i++)
                if (m->leaks[i].cls == c) {
                    w->ex.node = m->leaks[i].node;
                    w->ex.value_ns = m->leaks[i].oldest_age_ns;
                    break;
                }
        }
    }
    /* Lost events make lifecycle anomalies of their own, and so do events written out of
     * their order (a destroy read before the after that preceded it): say nothing rather
     * than lie. */
    l->lifecycle_suppressed =
        m->meta->lost_events > 0 || m->meta->bad_chunks > 0 || m->late_events > 0;

    uint32_t n = 0;
    for (int k = 0; k < AHP_LINTS; k++)
        for (int32_t c = 0; c < AHP_M_TYPES; c++)
            n += l->slot[k][c].count > 0;
    l->out = calloc(n > 0 ? n : 1, sizeof(*l->out));
    if (l->out == NULL)
        return -ENOMEM;
    for (int k = 0; k < AHP_LINTS; k++) {
        if (k == AHP_LINT_LIFECYCLE && l->lifecycle_suppressed)
            continue;
        for (int32_t c = 0; c < AHP_M_TYPES; c++) {
            const struct ahp_warning *w = &l->slot[k][c];
            if (w->count == 0)
                continue;
            char nb[AHP_NAME_SIZE];
            const char *name =
                c < AHP_TYPE_MAX && m->meta->named[c] ? ahp_model_class_name(m, c, nb) : NULL;
            if (ahp_lint_allowed(&l->o, k, name))
                continue;
            l->out[l->nout++] = *w;
        }
    }
    qsort(l->out, l->nout, sizeof(*l->out), cmp_warnings);
    return 0;
}

const struct ahp_warning *ahp_lints_warnings(const struct ahp_lints *l, uint32_t *n)
{
    *n = l->nout;
    return l->out;
}

bool ahp_lints_lifecycle_suppressed(const struct ahp_lints *l)
{
    return l->lifecycle_suppressed;
}

/* ---------------------------------------------------------------------------------------
 * Live, from the aggregates (top)
 */

/* What a scan found of one type for never-ran or orphan: how many, and the example. */
struct live_found {
    uint64_t count, id, age_ns, trigger_id;
};

/* A trigger of a resource in the live table, for orphan: whether a scan saw it alive, and
 * when the first scan found it gone after that. */
enum { TRIG_UNSEEN, TRIG_ALIVE, TRIG_GONE };
struct live_trigger {
    uint64_t alive_ns; /* the last scan that saw it alive */
    uint64_t gone_ns;  /* the first scan that found it gone after that */
    uint32_t scan;     /* the last scan in which a live resource named it */
    uint32_t state;
};

/* Triggers followed at once (each a few dozen bytes); beyond, new ones are not judged. */
#define LIVE_TRIGGERS_MAX 65536

struct ahp_live_lints {
    struct ahp_lint_opts o;
    int64_t active[AHP_LIVE_WINDOW][AHP_TYPE_MAX]; /* a ring */
    uint64_t ts[AHP_LIVE_WINDOW];
    uint32_t next, n;
    struct ahp_live_warning out[AHP_LINTS * AHP_TYPE_MAX]; /* at most one per lint and type */
    /* self-retrigger: the self_created counts of the previous update, and when it was */
    uint64_t self_prev[AHP_TYPE_MAX];
    uint64_t self_prev_ns;
    bool self_base;
    /* from the last scan of the live table */
    bool scanned;
    uint32_t scan;
    struct live_found never_ran[AHP_TYPE_MAX], orphan[AHP_TYPE_MAX];
    struct ahp_hmap triggers; /* trigger id -> struct live_trigger */
    uint64_t *stale;          /* scratch: triggers no live resource names any more */
    bool events_lost;         /* lifecycle is not judged */
};

int ahp_live_lints_new(struct ahp_live_lints **lp, const struct ahp_lint_opts *o)
{
    struct ahp_live_lints *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    if (o != NULL)
        l->o = *o;
    else
        ahp_lint_opts_default(&l->o);
    ahp_hmap_init(&l->triggers, sizeof(struct live_trigger), LIVE_TRIGGERS_MAX);
    *lp = l;
    return 0;
}

void ahp_live_lints_free(struct ahp_live_lints *l)
{
    if (l == NULL)
        return;
    ahp_hmap_free(&l->triggers);
    free(l->stale);
    free(l);
}

/* Whether the resource ID is in the live table now (it was created since the attach and is
 * not destroyed). */
static bool live_in_table(const volatile struct ahp_live *table, size_t slots, uint64_t id)
{
    const volatile struct ahp_live *slot = &table[id & (slots - 1)];
    return slot->id == id && slot->type >= 0;
}

static void found(struct live_found *f, uint64_t id, uint64_t age_ns, uint64_t trigger_id)
{
    if (f->count++ == 0 || age_ns > f->age_ns) {
        f->id = id;
        f->age_ns = age_ns;
        f->trigger_id = trigger_id;
    }
}

/* Orphan: R (id ID, trigger TRIG, latest callback LAST_CB_NS) is alive; is its trigger known
 * to be gone, for how long, with no callback of R since? A trigger is known gone only when a
 * scan saw it alive and a later one did not: one created and destroyed between two scans (or
 * before the attach) is never judged, which can miss orphans but never invent one. */
static void follow_trigger(struct ahp_live_lints *l, const volatile struct ahp_live *table,
                           size_t slots, uint64_t t_ns, uint64_t id, int32_t type, uint64_t trig,
                           uint64_t last_cb_ns)
{
    if (trig <= AH_ID_ROOT)
        return;
    void *v;
    if (ahp_hmap_put(&l->triggers, trig, &v) < 0)
        return; /* LIVE_TRIGGERS_MAX followed already */
    struct live_trigger *tr = v;
    if (tr->scan != l->scan) {
        tr->scan = l->scan;
        if (live_in_table(table, slots, trig)) {
            tr->state = TRIG_ALIVE;
            tr->alive_ns = t_ns;
        } else if (tr->state == TRIG_ALIVE) {
            tr->state = TRIG_GONE;
            tr->gone_ns = t_ns;
        }
    }
    if (tr->state != TRIG_GONE || t_ns - tr->gone_ns <= l->o.orphan_ns)
        return;
    /* Died between alive_ns and gone_ns: a callback after alive_ns may have come after it. */
    if (last_cb_ns >= tr->alive_ns)
        return;
    found(&l->orphan[type], id, t_ns - tr->gone_ns, trig);
}

void ahp_live_lints_scan(struct ahp_live_lints *l, const volatile struct ahp_live *table,
                         size_t slots, uint64_t t_ns, uint64_t oldest[AHP_TYPE_MAX],
                         uint64_t tracked[AHP_TYPE_MAX], ahp_live_visit_fn visit, void *ctx)
{
    memset(tracked, 0, sizeof(*tracked) * AHP_TYPE_MAX);
    for (int i = 0; i < AHP_TYPE_MAX; i++)
        oldest[i] = UINT64_MAX;
    bool usable = table != NULL && slots > 0 && (slots & (slots - 1)) == 0;
    if (l != NULL) {
        memset(l->never_ran, 0, sizeof(l->never_ran));
        memset(l->orphan, 0, sizeof(l->orphan));
        l->scan++;
        l->scanned = usable;
    }
    if (!usable)
        return;
    /* Slots change under the scan (BPF writes them); a torn slot can at worst misplace one
     * age by a moment or judge one resource on a stale field once. */
    for (size_t i = 0; i < slots; i++) {
        const volatile struct ahp_live *slot = &table[i];
        uint64_t id = slot->id, init_ns = slot->init_ns;
        int32_t type = slot->type;
        if (id == 0 || (id & AHP_LIVE_TOMBSTONE) || type < 0 || type >= AHP_TYPE_MAX)
            continue;
        tracked[type]++;
        if (init_ns < oldest[type])
            oldest[type] = init_ns;
        if (visit != NULL)
            visit(slot, id, type, ctx);
        if (l == NULL)
            continue;
        uint64_t trig = slot->trigger_id, first_cb = slot->first_cb_ns;
        uint64_t age = t_ns > init_ns ? t_ns - init_ns : 0;
        if (first_cb == 0 && age > l->o.never_ran_ns)
            found(&l->never_ran[type], id, age, trig);
        follow_trigger(l, table, slots, t_ns, id, type, trig, slot->last_cb_ns);
    }
    if (l == NULL)
        return;
    /* Forget the triggers no live resource names any more: the map holds at most one entry
     * per live resource. */
    size_t n = ahp_hmap_count(&l->triggers), nstale = 0, pos = 0;
    if (l->stale == NULL && (l->stale = malloc(LIVE_TRIGGERS_MAX * sizeof(*l->stale))) == NULL)
        return;
    uint64_t key;
    const struct live_trigger *tr;
    while (nstale < n && (tr = ahp_hmap_next(&l->triggers, &pos, &key)) != NULL)
        if (tr->scan != l->scan)
            l->stale[nstale++] = key;
    for (size_t i = 0; i < nstale; i++)
        ahp_hmap_del(&l->triggers, l->stale[i]);
}

/* The type's blocking, from the kernel view, into long-callback's warning W. */
static void add_blocking(struct ahp_live_warning *w, const struct ahp_live_blocking *b,
                         const struct ahp_type_stats *s)
{
    if (b == NULL || !b->on)
        return;
    int t = w->type;
    w->kernel = true;
    w->blocked_ns = b->blocked_ns[t];
    w->callback_ns = s->callback_ns;
    w->nreasons = b->nreasons[t] < AHP_LIVE_REASONS ? b->nreasons[t] : AHP_LIVE_REASONS;
    for (int k = 0; k < w->nreasons; k++) {
        w->reason[k] = b->reason[t][k];
        w->reason_ns[k] = b->reason_ns[t][k];
    }
}

/* never-ran or orphan (LINT) of type T into *W from what the scan found: 1 when it fires. */
static uint32_t live_found_warning(const struct ahp_live_lints *l, struct ahp_live_warning *w,
                                   int lint, int t, const struct live_found *f, const char *name)
{
    if (f->count == 0 || ahp_lint_allowed(&l->o, lint, name))
        return 0;
    *w = (struct ahp_live_warning){.lint = lint,
                                   .type = t,
                                   .count = f->count,
                                   .id = f->id,
                                   .age_ns = f->age_ns,
                                   .trigger_id = f->trigger_id};
    return 1;
}

void ahp_live_lints_events_lost(struct ahp_live_lints *l, bool lost)
{
    l->events_lost = lost;
}

bool ahp_live_lints_lifecycle_judged(const struct ahp_live_lints *l)
{
    return !l->events_lost;
}

/* lifecycle of type T (stats S) into *W from the in-kernel counters: 1 when it fires. */
static uint32_t live_lifecycle_warning(const struct ahp_live_lints *l, struct ahp_live_warning *w,
                                       int t, const struct ahp_type_stats *s, const char *name)
{
    uint64_t count = s->after_without_before + s->double_destroy;
    if (count == 0 || l->events_lost || ahp_lint_allowed(&l->o, AHP_LINT_LIFECYCLE, name))
        return 0;
    *w = (struct ahp_live_warning){.lint = AHP_LINT_LIFECYCLE, .type = t, .count = count};
    w->kinds[AHP_LC_AFTER_WITHOUT_BEFORE] = s->after_without_before;
    w->kinds[AHP_LC_DOUBLE_DESTROY] = s->double_destroy;
    return 1;
}

uint32_t ahp_live_lints_update(struct ahp_live_lints *l, uint64_t t_ns,
                               const struct ahp_type_stats *now, const int64_t *active,
                               const char (*names)[AHP_NAME_SIZE],
                               const struct ahp_live_warning **out)
{
    return ahp_live_lints_update_kernel(l, t_ns, now, active, names, NULL, out);
}

uint32_t ahp_live_lints_update_kernel(struct ahp_live_lints *l, uint64_t t_ns,
                                      const struct ahp_type_stats *now, const int64_t *active,
                                      const char (*names)[AHP_NAME_SIZE],
                                      const struct ahp_live_blocking *block,
                                      const struct ahp_live_warning **out)
{
    memcpy(l->active[l->next], active, sizeof(l->active[0]));
    l->ts[l->next] = t_ns;
    l->next = (l->next + 1) % AHP_LIVE_WINDOW;
    if (l->n < AHP_LIVE_WINDOW)
        l->n++;
    uint32_t first = (l->next + AHP_LIVE_WINDOW - l->n) % AHP_LIVE_WINDOW;
    uint64_t ts[AHP_LIVE_WINDOW];
    for (uint32_t i = 0; i < l->n; i++)
        ts[i] = l->ts[(first + i) % AHP_LIVE_WINDOW];

    /* self-retrigger is judged over the time since the previous update: none at the first. */
    bool self_judged = l->self_base && t_ns > l->self_prev_ns;
    uint64_t self_window = self_judged ? t_ns - l->self_prev_ns : 0;
    uint32_t n = 0;
    for (int t = 0; t < AHP_TYPE_MAX; t++) {
        const char *name = names[t][0] != '\0' ? names[t] : NULL;
        const struct ahp_type_stats *s = &now[t];
        uint64_t self = s->self_created >= l->self_prev[t] ? s->self_created - l->self_prev[t] : 0;
        l->self_prev[t] = s->self_created;
        /* The mean time per self-creation, window / self, below the gap: window < gap * self
         * (in floating point: no overflow at any count). */
        if (self_judged && self > 0 && self >= l->o.retrigger_chain &&
            (double)self_window < (double)l->o.retrigger_gap_ns * (double)self &&
            !ahp_lint_allowed(&l->o, AHP_LINT_SELF_RETRIGGER, name))
            l->out[n++] =
                (struct ahp_live_warning){.lint = AHP_LINT_SELF_RETRIGGER,
                                          .type = t,
                                          .count = self,
                                          .rate_per_s = (double)self * 1e9 / (double)self_window,
                                          .window_ns = self_window};
        if (s->max_ns > l->o.long_callback_ns &&
            !ahp_lint_allowed(&l->o, AHP_LINT_LONG_CALLBACK, name)) {
            uint64_t above = 0;
            /* Bucket i holds [2^i, 2^(i+1)): only those wholly above T surely are. */
            for (int i = 0; i < AHP_HIST_SLOTS; i++)
                if (i < 64 && (1ull << i) > l->o.long_callback_ns)
                    above += s->hist[i];
            struct ahp_live_warning *w = &l->out[n++];
            *w = (struct ahp_live_warning){.lint = AHP_LINT_LONG_CALLBACK,
                                           .type = t,
                                           .count = above > 0 ? above : 1,
                                           .max_ns = s->max_ns};
            add_blocking(w, block, s);
        }
        /* As in report: only in a type some of whose resources did run (one none of which
         * ever runs may wait by design), and orphans only in a type whose resources end. */
        if (l->scanned && s->callbacks > 0)
            n += live_found_warning(l, &l->out[n], AHP_LINT_NEVER_RAN, t, &l->never_ran[t], name);
        if (l->scanned && s->destroyed > 0)
            n += live_found_warning(l, &l->out[n], AHP_LINT_ORPHAN, t, &l->orphan[t], name);
        n += live_lifecycle_warning(l, &l->out[n], t, s, name);
        int64_t series[AHP_LIVE_WINDOW];
        for (uint32_t i = 0; i < l->n; i++)
            series[i] = l->active[(first + i) % AHP_LIVE_WINDOW][t];
        double rate;
        int64_t grown;
        if (ahp_lint_slope(series, ts, l->n, l->o.leak_min, &rate, &grown) &&
            !ahp_lint_allowed(&l->o, AHP_LINT_LEAK_SLOPE, name))
            l->out[n++] = (struct ahp_live_warning){.lint = AHP_LINT_LEAK_SLOPE,
                                                    .type = t,
                                                    .count = 1,
                                                    .rate_per_s = rate,
                                                    .grown = grown,
                                                    .window_ns = ts[l->n - 1] - ts[0]};
    }
    l->self_prev_ns = t_ns;
    l->self_base = true;
    *out = l->out;
    return n;
}
