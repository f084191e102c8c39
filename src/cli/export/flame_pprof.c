/*
 * flame_pprof.c - `ahprof flame -f pprof`: the async stacks as a gzipped pprof profile
 * (profile.proto, github.com/google/pprof/proto/profile.proto), which `go tool pprof`,
 * Pyroscope, Parca and Grafana read. One sample per frame of the flame tree with a weight,
 * carrying all the weights at once, so that one file answers -sample_index=callback_time,
 * resources_created and alive_at_end. Locations and functions are the async frames (their
 * safe labels: type, and creation site with `record --stacks`), leaf first as pprof wants.
 *
 * The three weights come from three flame trees built from the same model: ftree_build makes
 * the same frames in the same order whatever the weight, so node N is the same frame in all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/hashmap.h"
#include "export/flame_int.h"
#include "export/pb.h"

/* profile.proto field numbers (Profile, ValueType, Sample, Label, Location, Line, Function). */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13,
    PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUETYPE_TYPE = 1,
    VALUETYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_STR = 2,
    MAPPING_ID = 1,
    MAPPING_FILENAME = 5,
    MAPPING_HAS_FUNCTIONS = 7,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
};

/*
 * The sample values, in this order. With the CPU samples of `record --cpu`, two more values
 * (zero in the async samples): cpu_samples (count) and cpu (ns: samples x the sampling
 * period), in samples of their own whose locations are the native frames of the sample above
 * the async frames of the callback it fell in (pprof_cpu_samples).
 */
enum {
    V_TIME,
    V_CREATED,
    V_ALIVE,
    PPROF_NVALUES,
    V_CPU_SAMPLES = PPROF_NVALUES,
    V_CPU,
    PPROF_NMAX
};
static const char *const value_type[PPROF_NMAX][2] = {
    [V_TIME] = {"callback_time", "nanoseconds"},
    [V_CREATED] = {"resources_created", "count"},
    [V_ALIVE] = {"alive_at_end", "count"},
    [V_CPU_SAMPLES] = {"cpu_samples", "count"},
    [V_CPU] = {"cpu", "nanoseconds"},
};

/* A trigger path label longer than this is cut (with "..."): paths can be 256 frames deep. */
#define TRIGGER_PATH_MAX 4096

struct strtab {
    char **s;
    uint32_t n, cap;
    struct ahp_hmap index; /* content hash -> string number */
};

struct str_query {
    const struct strtab *t;
    const char *s;
};

static bool str_is(const void *ctx, const void *val)
{
    const struct str_query *q = ctx;
    return strcmp(q->t->s[*(const uint32_t *)val], q->s) == 0;
}

/* The string table index of S, added when new; -1 (as int64) on -ENOMEM. */
static int64_t str_id(struct strtab *t, const char *s)
{
    uint64_t hash = ahp_hash_str(AHP_HASH_SEED, s);
    struct str_query q = {.t = t, .s = s};
    const uint32_t *known = ahp_hmap_find(&t->index, hash, str_is, &q);
    if (known != NULL)
        return *known;
    if (t->n == t->cap) {
        uint32_t cap = t->cap == 0 ? 64 : t->cap * 2;
        char **ns = realloc(t->s, (size_t)cap * sizeof(*ns));
        if (ns == NULL)
            return -1;
        t->s = ns;
        t->cap = cap;
    }
    char *copy = strdup(s);
    void *slot;
    if (copy == NULL || ahp_hmap_add(&t->index, hash, &slot) < 0) {
        free(copy);
        return -1;
    }
    t->s[t->n] = copy;
    *(uint32_t *)slot = t->n;
    return t->n++;
}

static void strtab_free(struct strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    ahp_hmap_free(&t->index);
}

/* The profile's bytes, gzipped onto OUT. */
static int gzip_out(FILE *out, const uint8_t *data, size_t n)
{
    z_stream z = {0};
    /* 15 + 16: a gzip wrapper, which pprof expects (it also reads raw protobuf, but profile
     * stores and `file` want the .pb.gz they know). */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uint8_t chunk[1 << 16];
    int rc = 0, zr;
    z.next_in = (uint8_t *)data;
    do {
        /* avail_in is 32 bits: feed at most 1 GiB at a time. */
        size_t feed = n > (1u << 30) ? (1u << 30) : n;
        z.avail_in = (uInt)feed;
        n -= feed;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof(chunk);
            zr = deflate(&z, n == 0 ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR) {
                rc = -EINVAL;
                break;
            }
            size_t have = sizeof(chunk) - z.avail_out;
            if (have > 0 && fwrite(chunk, 1, have, out) != have) {
                rc = -EIO;
                break;
            }
        } while (z.avail_out == 0);
    } while (rc == 0 && n > 0);
    deflateEnd(&z);
    return rc;
}

static void value_type_msg(struct pb *p, uint32_t field, int64_t type, int64_t unit)
{
    pb_begin(p, field);
    pb_int64_field(p, VALUETYPE_TYPE, type);
    pb_int64_field(p, VALUETYPE_UNIT, unit);
    pb_end(p);
}

static void label_msg(struct pb *p, int64_t key, int64_t str)
{
    pb_begin(p, SAMPLE_LABEL);
    pb_int64_field(p, LABEL_KEY, key);
    pb_int64_field(p, LABEL_STR, str);
    pb_end(p);
}

/* The trigger path of flame node N: the types of its frames from the first, " > " between
 * them ("REQ > TIMER > WRITE"), cut at TRIGGER_PATH_MAX. */
static void trigger_path(const struct ahp_model *m, const struct ftree *t, uint32_t n, char *buf,
                         size_t size)
{
    uint32_t path[FLAME_DEPTH_MAX + 2], depth = 0;
    for (uint32_t a = n; a != 0 && a != FT_NONE && depth < FLAME_DEPTH_MAX + 2; a = t->n[a].parent)
        path[depth++] = a;
    size_t pos = 0;
    buf[0] = '\0';
    for (uint32_t i = depth; i-- > 0;) {
        const struct ftree_node *f = &t->n[path[i]];
        char name[AHP_NAME_SIZE], safe[AHP_LABEL_SIZE];
        const char *s = t->labels[f->label]; /* pseudo frames: their label */
        if (f->cls >= 0) {
            ahp_label_safe(safe, sizeof(safe), ahp_model_class_name(m, f->cls, name),
                           AHP_NAME_SIZE);
            s = safe;
        }
        int w = snprintf(buf + pos, size - pos, "%s%s", i + 1 == depth ? "" : " > ", s);
        if (w < 0 || (size_t)w >= size - pos) {
            snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : 1, "...");
            return;
        }
        pos += (size_t)w;
    }
}

static void location_msg(struct pb *p, uint64_t id, int64_t name)
{
    pb_begin(p, PROFILE_LOCATION);
    pb_varint_field(p, LOCATION_ID, id);
    pb_varint_field(p, LOCATION_MAPPING_ID, 1);
    pb_begin(p, LOCATION_LINE);
    pb_varint_field(p, LINE_FUNCTION_ID, id);
    pb_end(p);
    pb_end(p);
    pb_begin(p, PROFILE_FUNCTION);
    pb_varint_field(p, FUNCTION_ID, id);
    pb_int64_field(p, FUNCTION_NAME, name);
    /* No system_name: pprof would take a name equal to it for a C++ one to simplify,
     * cutting what is between <> and () (a hostile type name, a "(before attach)"). */
    pb_end(p);
}

/* The CPU samples of `record --cpu`: one sample per stack of the cpu flame tree, native
 * frames above async ones, leaf first; location ids from BASE on (after the async ones). */
static int pprof_cpu_samples(struct pb *p, struct flame_run *run, struct strtab *st, uint64_t base,
                             int64_t k_type, int64_t k_path, char *path)
{
    if (!run->meta->has_kernel)
        return 0;
    struct ftree kt;
    int rc = ftree_build_kernel(&kt, run, W_CPU);
    if (rc < 0)
        return rc;
    uint64_t period = run->meta->kinfo.hz ? 1000000000ull / run->meta->kinfo.hz : 0;
    uint64_t locs[FLAME_DEPTH_MAX + 2];
    bool *used = calloc(kt.nlabels > 0 ? kt.nlabels : 1, sizeof(bool));
    rc = used == NULL ? -ENOMEM : 0;
    for (uint32_t n = 1; n < kt.nn && rc == 0; n++) {
        const struct ftree_node *f = &kt.n[n];
        if (f->self == 0)
            continue;
        uint32_t nl = 0;
        const char *type = NULL;
        size_t pos = 0;
        char types[FLAME_DEPTH_MAX + 2][AHP_NAME_SIZE * 4 + 8];
        uint32_t ntypes = 0;
        for (uint32_t a = n; a != 0 && a != FT_NONE && nl < FLAME_DEPTH_MAX + 2;
             a = kt.n[a].parent) {
            locs[nl++] = base + kt.n[a].label;
            used[kt.n[a].label] = true;
            /* The async frames are those with a type, and the pseudo frame of the root. */
            if (kt.n[a].cls >= 0 || kt.n[a].parent == 0) {
                char name[AHP_NAME_SIZE];
                if (kt.n[a].cls >= 0)
                    ahp_label_safe(types[ntypes], sizeof(types[0]),
                                   ahp_model_class_name(run->m, kt.n[a].cls, name), AHP_NAME_SIZE);
                else
                    snprintf(types[ntypes], sizeof(types[0]), "%s", kt.labels[kt.n[a].label]);
                if (type == NULL)
                    type = types[ntypes];
                ntypes++;
            }
        }
        path[0] = '\0';
        for (uint32_t i = ntypes; i-- > 0;) {
            int w = snprintf(path + pos, TRIGGER_PATH_MAX - pos, "%s%s",
                             i + 1 == ntypes ? "" : " > ", types[i]);
            if (w < 0 || (size_t)w >= TRIGGER_PATH_MAX - pos)
                break;
            pos += (size_t)w;
        }
        int64_t s_type = str_id(st, type ? type : "?"), s_path = str_id(st, path);
        if (s_type < 0 || s_path < 0) {
            rc = -ENOMEM;
            break;
        }
        uint64_t vals[PPROF_NMAX] = {0};
        vals[V_CPU_SAMPLES] = f->self;
        vals[V_CPU] = f->self * period;
        pb_begin(p, PROFILE_SAMPLE);
        pb_packed_varints(p, SAMPLE_LOCATION_ID, locs, nl);
        pb_packed_varints(p, SAMPLE_VALUE, vals, PPROF_NMAX);
        label_msg(p, k_type, s_type);
        label_msg(p, k_path, s_path);
        pb_end(p);
    }
    for (uint32_t l = 1; l < kt.nlabels && rc == 0; l++) {
        if (!used[l])
            continue;
        int64_t s = str_id(st, kt.labels[l]);
        if (s < 0)
            rc = -ENOMEM;
        else
            location_msg(p, base + l, s);
    }
    free(used);
    ftree_free(&kt);
    return rc;
}

int flame_write_pprof(struct flame_run *run)
{
    const struct ahp_model *m = run->m;
    struct ftree t[PPROF_NVALUES];
    memset(t, 0, sizeof(t));
    static const enum flame_weight weight[PPROF_NVALUES] = {W_TIME, W_COUNT, W_LIVE};
    struct strtab st = {0};
    ahp_hmap_init(&st.index, sizeof(uint32_t), 0);
    struct pb p;
    pb_init(&p);
    int nvalues = run->meta->has_kernel ? PPROF_NMAX : PPROF_NVALUES;
    char *path = malloc(TRIGGER_PATH_MAX);
    int rc = path == NULL ? -ENOMEM : 0;
    for (int v = 0; v < PPROF_NVALUES && rc == 0; v++)
        rc = ftree_build(&t[v], m, run->sites, weight[v], run->o->types_only);
    if (rc < 0)
        goto out;
    for (int v = 1; v < PPROF_NVALUES; v++)
        if (t[v].nn != t[0].nn || t[v].nlabels != t[0].nlabels) {
            rc = -EINVAL; /* cannot happen: same model, same frames */
            goto out;
        }

    rc = -ENOMEM;
    if (str_id(&st, "") != 0)
        goto out;
    for (int v = 0; v < nvalues; v++) {
        int64_t ty = str_id(&st, value_type[v][0]), un = str_id(&st, value_type[v][1]);
        if (ty < 0 || un < 0)
            goto out;
        value_type_msg(&p, PROFILE_SAMPLE_TYPE, ty, un);
    }
    int64_t k_type = str_id(&st, "async_type"), k_path = str_id(&st, "trigger_path");
    if (k_type < 0 || k_path < 0)
        goto out;

    /* Samples: every frame with a weight. Location ids are the frames' label numbers. */
    const struct ftree *ft = &t[0];
    uint64_t locs[FLAME_DEPTH_MAX + 2];
    bool *used = calloc(ft->nlabels > 0 ? ft->nlabels : 1, sizeof(bool));
    if (used == NULL)
        goto out;
    for (uint32_t n = 1; n < ft->nn; n++) {
        uint64_t vals[PPROF_NMAX] = {0};
        bool any = false;
        for (int v = 0; v < PPROF_NVALUES; v++)
            any |= (vals[v] = t[v].n[n].self) != 0;
        if (!any)
            continue;
        uint32_t nl = 0;
        for (uint32_t a = n; a != 0 && a != FT_NONE && nl < FLAME_DEPTH_MAX + 2;
             a = ft->n[a].parent) {
            locs[nl++] = (uint64_t)ft->n[a].label; /* label 0 is "all", never here */
            used[ft->n[a].label] = true;
        }
        const struct ftree_node *f = &ft->n[n];
        char name[AHP_NAME_SIZE], safe[AHP_LABEL_SIZE];
        const char *type = ft->labels[f->label];
        if (f->cls >= 0) {
            ahp_label_safe(safe, sizeof(safe), ahp_model_class_name(m, f->cls, name),
                           AHP_NAME_SIZE);
            type = safe;
        }
        trigger_path(m, ft, n, path, TRIGGER_PATH_MAX);
        int64_t s_type = str_id(&st, type), s_path = str_id(&st, path);
        if (s_type < 0 || s_path < 0) {
            free(used);
            goto out;
        }
        pb_begin(&p, PROFILE_SAMPLE);
        pb_packed_varints(&p, SAMPLE_LOCATION_ID, locs, nl);
        pb_packed_varints(&p, SAMPLE_VALUE, vals, (size_t)nvalues);
        label_msg(&p, k_type, s_type);
        label_msg(&p, k_path, s_path);
        pb_end(&p);
    }
    if ((rc = pprof_cpu_samples(&p, run, &st, ft->nlabels, k_type, k_path, path)) < 0) {
        free(used);
        goto out;
    }
    rc = -ENOMEM;
    for (uint32_t l = 1; l < ft->nlabels; l++) {
        if (!used[l])
            continue;
        int64_t s = str_id(&st, ft->labels[l]);
        if (s < 0) {
            free(used);
            goto out;
        }
        location_msg(&p, l, s);
    }
    free(used);

    const struct ahp_file_meta *meta = run->meta;
    char target[300], comment[400];
    if (meta->has_info)
        ahp_label_safe(target, sizeof(target), meta->info.target, sizeof(meta->info.target));
    else
        snprintf(target, sizeof(target), "unknown target");
    snprintf(comment, sizeof(comment), "ahprof async profile of %s", target);
    int64_t c1 = str_id(&st, comment), s_target = str_id(&st, target);
    snprintf(comment, sizeof(comment), "lost events: %" PRIu64, meta->lost_events);
    int64_t c2 = str_id(&st, comment);
    int64_t def = str_id(&st, value_type[V_TIME][0]);
    int64_t ns = str_id(&st, value_type[V_TIME][1]);
    if (c1 < 0 || c2 < 0 || def < 0 || ns < 0 || s_target < 0)
        goto out;
    /* One mapping, the target, that already has its functions: pprof then does not try to
     * symbolize the frames (they are not addresses). */
    pb_begin(&p, PROFILE_MAPPING);
    pb_varint_field(&p, MAPPING_ID, 1);
    pb_int64_field(&p, MAPPING_FILENAME, s_target);
    pb_varint_field(&p, MAPPING_HAS_FUNCTIONS, 1);
    pb_end(&p);
    for (uint32_t i = 0; i < st.n; i++)
        pb_str_field(&p, PROFILE_STRING_TABLE, st.s[i]);
    if (meta->has_info && meta->info.start_real_ns != 0)
        pb_int64_field(&p, PROFILE_TIME_NANOS, (int64_t)meta->info.start_real_ns);
    pb_int64_field(&p, PROFILE_DURATION_NANOS, (int64_t)m->duration_ns);
    value_type_msg(&p, PROFILE_PERIOD_TYPE, def, ns);
    pb_int64_field(&p, PROFILE_PERIOD, 1);
    pb_int64_field(&p, PROFILE_COMMENT, c1);
    pb_int64_field(&p, PROFILE_COMMENT, c2);
    pb_int64_field(&p, PROFILE_DEFAULT_SAMPLE_TYPE, def);
    rc = p.err != 0 ? p.err : gzip_out(run->out, p.buf, p.len);
out:
    free(path);
    pb_free(&p);
    strtab_free(&st);
    for (int v = 0; v < PPROF_NVALUES; v++)
        ftree_free(&t[v]);
    return rc;
}
