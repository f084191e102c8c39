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
    /* Distinct (func, file, line[, ip]) -> site, open addressing over site numbers. */
    uint32_t *index;
    uint32_t index_cap;
    uint32_t sites_cap;
    int err;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

static uint64_t site_hash(const struct ahp_site *st)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_bytes(h, st->func, strlen(st->func) + 1);
    h = hash_bytes(h, st->file, strlen(st->file) + 1);
    h = hash_bytes(h, &st->line, sizeof(st->line));
    /* Without a function name the address is all that tells sites apart. */
    if (st->func[0] == '\0')
        h = hash_bytes(h, &st->ip, sizeof(st->ip));
    return h;
}

static bool site_equal(const struct ahp_site *a, const struct ahp_site *b)
{
    return a->line == b->line && strcmp(a->func, b->func) == 0 && strcmp(a->file, b->file) == 0 &&
           (a->func[0] != '\0' || a->ip == b->ip);
}

static int index_grow(struct load *l)
{
    uint32_t cap = l->index_cap == 0 ? 64 : l->index_cap * 2;
    uint32_t *ni = calloc(cap, sizeof(uint32_t));
    if (ni == NULL)
        return -ENOMEM;
    for (uint32_t i = 1; i <= l->s->nsites; i++) {
        uint32_t j = (uint32_t)site_hash(&l->s->sites[i]) & (cap - 1);
        while (ni[j] != 0)
            j = (j + 1) & (cap - 1);
        ni[j] = i;
    }
    free(l->index);
    l->index = ni;
    l->index_cap = cap;
    return 0;
}

/* The site number of ST (raw strings, borrowed), added if new; 0 when out of room. */
static uint32_t intern_site(struct load *l, const struct ahp_site *st)
{
    struct ahp_sites *s = l->s;
    if ((s->nsites + 1) * 2 >= l->index_cap && index_grow(l) < 0) {
        l->err = -ENOMEM;
        return 0;
    }
    uint32_t mask = l->index_cap - 1, j = (uint32_t)site_hash(st) & mask;
    for (; l->index[j] != 0; j = (j + 1) & mask)
        if (site_equal(&s->sites[l->index[j]], st))
            return l->index[j];
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
    if (d->func == NULL || d->file == NULL) {
        free(d->func);
        free(d->file);
        l->err = -ENOMEM;
        return 0;
    }
    s->nsites++;
    l->index[j] = s->nsites;
    return s->nsites;
}

static uint32_t slot_of(uint32_t stack_id, uint32_t cap)
{
    uint64_t k = (uint64_t)stack_id * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(k >> 32) & (cap - 1);
}

static int stacks_grow(struct ahp_sites *s)
{
    uint32_t cap = s->nslots == 0 ? 64 : s->nslots * 2;
    uint64_t *ns = calloc(cap, sizeof(uint64_t));
    if (ns == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->nslots; i++) {
        if (s->slots[i] == 0)
            continue;
        uint32_t j = slot_of((uint32_t)((s->slots[i] >> 32) - 1), cap);
        while (ns[j] != 0)
            j = (j + 1) & (cap - 1);
        ns[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = ns;
    s->nslots = cap;
    return 0;
}

static int on_stack(void *arg, uint32_t stack_id, const struct ahp_stack_frame *frames, uint32_t n)
{
    struct load *l = arg;
    struct ahp_sites *s = l->s;
    if (ahp_sites_lookup(s, stack_id) != 0 || stack_id == UINT32_MAX) {
        s->stacks_redefined += stack_id != UINT32_MAX;
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
    if ((s->nstacks + 1) * 2 >= s->nslots && stacks_grow(s) < 0)
        return l->err = -ENOMEM;
    uint32_t j = slot_of(stack_id, s->nslots);
    while (s->slots[j] != 0)
        j = (j + 1) & (s->nslots - 1);
    s->slots[j] = ((uint64_t)stack_id + 1) << 32 | site;
    s->nstacks++;
    return 0;
}

uint32_t ahp_sites_lookup(const struct ahp_sites *s, uint32_t stack_id)
{
    if (s == NULL || s->nslots == 0)
        return 0;
    uint64_t key = (uint64_t)stack_id + 1;
    for (uint32_t j = slot_of(stack_id, s->nslots); s->slots[j] != 0; j = (j + 1) & (s->nslots - 1))
        if (s->slots[j] >> 32 == key)
            return (uint32_t)s->slots[j];
    return 0;
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
    struct load l = {.s = s};
    int rc = 0;
    /* Stack chunks follow the events that use them (the recorder symbolizes a stack when
     * it first sees its id), so they are all read before the events are. */
    if (ahp_reader_meta(r)->stacks > 0) {
        struct ahp_read_ops ops = {.stack = on_stack};
        rc = ahp_reader_foreach(r, &ops, &l);
        if (rc == 0)
            rc = l.err;
    }
    free(l.index);
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
    free(s->slots);
    free(s);
}

void ahp_label_safe(char *dst, size_t dstsz, const char *s, size_t max)
{
    size_t pos = 0;
    dst[0] = '\0';
    ahp_label_append(dst, dstsz, &pos, s, strnlen(s, max));
    ahp_label_finish(dst, dstsz, &pos);
}
