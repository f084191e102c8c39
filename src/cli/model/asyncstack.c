/* asyncstack.c - creation sites from recorded user stacks, and frame labels: asyncstack.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/asyncstack.h"

/* ---------------------------------------------------------------------------------------
 * Labels
 */

void ahp_label_append(char *dst, size_t dstsz, size_t *pos, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != ';' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (p + need + 1 > dstsz)
            break;
        if (plain) {
            dst[p++] = (char)c;
        } else {
            dst[p++] = '\\';
            dst[p++] = 'x';
            dst[p++] = hex[c >> 4];
            dst[p++] = hex[c & 15];
        }
    }
    if (dstsz > 0)
        dst[p < dstsz ? p : dstsz - 1] = '\0';
    *pos = p;
}

void ahp_label_finish(char *dst, size_t dstsz, size_t *pos)
{
    if (dstsz < 2)
        return;
    if (*pos == 0) {
        dst[0] = '?';
        dst[1] = '\0';
        *pos = 1;
        return;
    }
    /* flamegraph.pl reads a line as /^(.*)\s+?(\d+(?:\.\d*)?)$/, inferno and Pyroscope split
     * at the last space: a trailing " 42" in the last frame would be taken as a count. Only
     * ' ' can be that space (other white space is escaped). */
    size_t i = *pos;
    while (i > 0 && ((dst[i - 1] >= '0' && dst[i - 1] <= '9') || dst[i - 1] == '.'))
        i--;
    if (i < *pos && i > 0 && dst[i - 1] == ' ')
        dst[i - 1] = '_';
}

static void label_str(char *dst, size_t *pos, const char *s)
{
    ahp_label_append(dst, AHP_LABEL_SIZE, pos, s, strlen(s));
}

const char *ahp_node_label(const struct ahp_model *m, const struct ahp_sites *s, uint32_t node,
                           int types_only, char buf[AHP_LABEL_SIZE])
{
    char nb[AHP_NAME_SIZE];
    size_t pos = 0;
    buf[0] = '\0';
    const char *name = ahp_model_node_name(m, node, nb);
    ahp_label_append(buf, AHP_LABEL_SIZE, &pos, name, strnlen(name, AHP_NAME_SIZE));
    if (pos == 0)
        label_str(buf, &pos, "(unnamed)");
    uint32_t site = node < m->nnodes && node >= AHP_NODE_ROOTS ? m->nodes[node].site : 0;
    if (!types_only && s != NULL && site != 0 && site <= s->nsites) {
        const struct ahp_site *st = &s->sites[site];
        char num[32];
        label_str(buf, &pos, "@");
        if (st->file[0] != '\0') {
            label_str(buf, &pos, st->file);
            if (st->line != 0) {
                snprintf(num, sizeof(num), ":%" PRIu32, st->line);
                label_str(buf, &pos, num);
            }
            if (st->func[0] != '\0')
                label_str(buf, &pos, " ");
        }
        if (st->func[0] != '\0') {
            label_str(buf, &pos, st->func);
        } else if (st->file[0] == '\0') {
            snprintf(num, sizeof(num), "0x%" PRIx64, st->ip);
            label_str(buf, &pos, num);
        }
    }
    ahp_label_finish(buf, AHP_LABEL_SIZE, &pos);
    return buf;
}

/* ---------------------------------------------------------------------------------------
 * Sites
 */

int ahp_site_frame(const struct ahp_stack_frame *frames, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strncmp(frames[i].func, "ah_", 3) == 0)
            continue;
        /* The probe fires inside ah_init: the innermost frame is libah's even when it could
         * not be symbolized (then the caller's address at least tells sites apart). */
        if (i == 0 && frames[i].func[0] == '\0')
            continue;
        return (int)i;
    }
    return -1;
}

struct load {
    struct ahp_sites *s;
    /* Distinct (func, file, line[, ip]) -> site number, by content (the sites are in s). */
    struct ahp_hmap index;
    uint32_t sites_cap;
    int err;
};

static uint64_t site_hash(const struct ahp_site *st)
{
    uint64_t h = ahp_hash_str(AHP_HASH_SEED, st->func);
    h = ahp_hash_str(h, st->file);
    h = ahp_hash_bytes(h, &st->line, sizeof(st->line));
    /* Without a function name the address is all that tells sites apart. */
    if (st->func[0] == '\0')
        h = ahp_hash_bytes(h, &st->ip, sizeof(st->ip));
    return h;
}

static bool site_equal(const struct ahp_site *a, const struct ahp_site *b)
{
    return a->line == b->line && strcmp(a->func, b->func) == 0 && strcmp(a->file, b->file) == 0 &&
           (a->func[0] != '\0' || a->ip == b->ip);
}

struct site_query {
    const struct ahp_sites *s;
    const struct ahp_site *st;
};

static bool site_is(const void *ctx, const void *val)
{
    const struct site_query *q = ctx;
    return site_equal(&q->s->sites[*(const uint32_t *)val], q->st);
}

/* The site number of ST (raw strings, borrowed), added if new; 0 when out of room. */
static uint32_t intern_site(struct load *l, const struct ahp_site *st)
{
    struct ahp_sites *s = l->s;
    uint64_t hash = site_hash(st);
    struct site_query q = {.s = s, .st = st};
    const uint32_t *known = ahp_hmap_find(&l->index, hash, site_is, &q);
    if (known != NULL)
        return *known;
    if (s->nsites >= AHP_SITES_MAX) {
        s->sites_dropped++;
        return 0;
    }
    if (s->nsites + 1 >= l->sites_cap) {
        uint32_t cap = l->sites_cap == 0 ? 64 : l->sites_cap * 2;
        struct ahp_site *ns = realloc(s->sites, (size_t)cap * sizeof(*ns));
        if (ns == NULL) {
            l->err = -ENOMEM;
            return 0;
        }
        s->sites = ns;
        l->sites_cap = cap;
    }
    struct ahp_site *d = &s->sites[s->nsites + 1];
    d->line = st->line;
    d->ip = st->ip;
    d->func = strdup(st->func);
    d->file = strdup(st->file);
    void *slot = NULL;
    int rc = d->func == NULL || d->file == NULL ? -ENOMEM : ahp_hmap_add(&l->index, hash, &slot);
    if (rc < 0) {
        free(d->func);
        free(d->file);
        l->err = rc;
        return 0;
    }
    s->nsites++;
    *(uint32_t *)slot = s->nsites;
    return s->nsites;
}

static int on_stack(void *arg, uint32_t stack_id, const struct ahp_stack_frame *frames, uint32_t n)
{
    struct load *l = arg;
    struct ahp_sites *s = l->s;
    /* No INIT event can name stack UINT32_MAX (they carry 16 bits of it): skipped, uncounted. */
    if (stack_id == UINT32_MAX)
        return 0;
    if (ahp_sites_lookup(s, stack_id) != 0) {
        s->stacks_redefined++;
        return 0;
    }
    int k = ahp_site_frame(frames, n);
    if (k < 0) {
        s->stacks_in_libah_only++;
        return 0;
    }
    struct ahp_site st = {.line = frames[k].line,
                          .ip = frames[k].ip,
                          .func = (char *)frames[k].func,
                          .file = (char *)frames[k].file};
    uint32_t site = intern_site(l, &st);
    if (site == 0)
        return l->err;
    void *slot;
    int rc = ahp_hmap_put(&s->stacks, stack_id, &slot);
    if (rc < 0)
        return l->err = rc;
    *(uint32_t *)slot = site;
    return 0;
}

uint32_t ahp_sites_lookup(const struct ahp_sites *s, uint32_t stack_id)
{
    if (s == NULL)
        return 0;
    const uint32_t *site = ahp_hmap_get(&s->stacks, stack_id);
    return site != NULL ? *site : 0;
}

uint32_t ahp_sites_site_of(void *arg, uint32_t stack_id)
{
    return ahp_sites_lookup(arg, stack_id);
}

int ahp_sites_load(struct ahp_sites **sp, struct ahp_reader *r)
{
    *sp = NULL;
    struct ahp_sites *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    ahp_hmap_init(&s->stacks, sizeof(uint32_t), 0);
    struct load l = {.s = s};
    ahp_hmap_init(&l.index, sizeof(uint32_t), AHP_SITES_MAX);
    int rc = 0;
    /* Stack chunks follow the events that use them (the recorder symbolizes a stack when
     * it first sees its id), so they are all read before the events are. */
    if (ahp_reader_meta(r)->stacks > 0) {
        struct ahp_read_ops ops = {.stack = on_stack};
        rc = ahp_reader_foreach(r, &ops, &l);
        if (rc == 0)
            rc = l.err;
    }
    ahp_hmap_free(&l.index);
    if (rc != 0) {
        ahp_sites_free(s);
        return rc < 0 ? rc : -EIO;
    }
    *sp = s;
    return 0;
}

void ahp_sites_free(struct ahp_sites *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 1; i <= s->nsites; i++) {
        free(s->sites[i].func);
        free(s->sites[i].file);
    }
    free(s->sites);
    ahp_hmap_free(&s->stacks);
    free(s);
}

void ahp_label_safe(char *dst, size_t dstsz, const char *s, size_t max)
{
    size_t pos = 0;
    dst[0] = '\0';
    ahp_label_append(dst, dstsz, &pos, s, strnlen(s, max));
    ahp_label_finish(dst, dstsz, &pos);
}
