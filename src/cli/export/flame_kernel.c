/*
 * flame_kernel.c - `ahprof flame -w cpu|offcpu`: the kernel records of `record --cpu` drawn
 * as the async stack trace flame graph: each sample's native stack (outermost first, the
 * kernel's frames last) on top of the async stack of the resource in scope, e.g.
 * TCPCONN;REQ@request.c:198;WORK@pool.c:125;do_work;hash_block. Samples outside callbacks go
 * under "(outside callbacks)", those of threads whose libah state was unreadable under
 * "(untagged)". Off-CPU episodes are weighed in ns and end in their reason: "(read)".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "export/flame_int.h"

/* Async frames kept below the native ones; deeper chains end in "(deeper)". */
#define ASYNC_FRAMES_MAX 64
/* Native stacks kept in memory (the recorder writes at most 65536). */
#define KSTACKS_MAX 65536

struct kstacks {
    struct ahp_hmap ids; /* file stack id -> index in labels */
    char **labels;       /* the safe frames of a stack, outermost first, '\n' between them */
    uint32_t n, cap;
    int err;
};

static int load_kstack(void *arg, uint32_t id, const char (*frames)[AHP_KFRAME_SIZE], uint32_t n,
                       uint32_t nkernel)
{
    (void)nkernel;
    struct kstacks *ks = arg;
    if (ahp_hmap_get(&ks->ids, id) != NULL || ks->n >= KSTACKS_MAX)
        return 0; /* the first definition counts */
    if (ks->n == ks->cap) {
        uint32_t cap = ks->cap ? ks->cap * 2 : 64;
        char **nl = realloc(ks->labels, cap * sizeof(*nl));
        if (nl == NULL)
            return -ENOMEM;
        ks->labels = nl;
        ks->cap = cap;
    }
    /* Stored innermost first, the kernel's frames before the user's: drawn the other way. */
    size_t size = (size_t)n * AHP_LABEL_SIZE + 1, pos = 0;
    char *s = malloc(size);
    if (s == NULL)
        return -ENOMEM;
    s[0] = '\0';
    for (uint32_t i = n; i-- > 0;) {
        char one[AHP_LABEL_SIZE];
        ahp_label_safe(one, sizeof(one), frames[i], AHP_KFRAME_SIZE);
        pos += (size_t)snprintf(s + pos, size - pos, "%s%s", pos > 0 ? "\n" : "", one);
    }
    void *slot;
    if (ahp_hmap_put(&ks->ids, id, &slot) < 0) {
        free(s);
        return -ENOMEM;
    }
    *(uint32_t *)slot = ks->n;
    ks->labels[ks->n++] = s;
    return 0;
}

struct kflame {
    struct flame_run *run;
    struct kstacks *ks;
    struct ftree_paths *p;
    enum flame_weight w;
    const char *labels[FLAME_DEPTH_MAX + 1];
    int32_t cls[FLAME_DEPTH_MAX + 1];
    char async[ASYNC_FRAMES_MAX + 1][AHP_LABEL_SIZE];
    char native[AHP_KSTACK_FILE_FRAMES * AHP_LABEL_SIZE];
    char reason[48];
};

/* The async frames of NODE, from the first (the bootstrap's children) to NODE, into F. */
static uint32_t async_frames(struct kflame *f, uint32_t node)
{
    const struct ahp_model *m = f->run->m;
    uint32_t chain[FLAME_DEPTH_MAX + 1], depth = 0;
    for (uint32_t a = node;
         a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes && depth < FLAME_DEPTH_MAX + 1;
         a = m->nodes[a].parent)
        chain[depth++] = a;
    uint32_t n = 0;
    for (uint32_t i = depth; i-- > 0 && n < ASYNC_FRAMES_MAX + 1;) {
        if (n == ASYNC_FRAMES_MAX) {
            snprintf(f->async[n], AHP_LABEL_SIZE, "(deeper)");
            f->cls[n] = -1;
        } else {
            ahp_node_label(m, f->run->sites, chain[i], f->run->o->types_only, f->async[n]);
            f->cls[n] = chain[i] < AHP_NODE_ROOTS ? -1 : m->nodes[chain[i]].cls;
        }
        f->labels[n] = f->async[n];
        n++;
    }
    return n;
}

static int add_record(void *arg, const struct ahp_krecord *r, size_t count)
{
    struct kflame *f = arg;
    const struct ahp_model *m = f->run->m;
    for (size_t i = 0; i < count; i++) {
        const struct ahp_krecord *k = &r[i];
        bool cpu = f->w == W_CPU;
        if (k->kind != (cpu ? AHP_KREC_CPU : AHP_KREC_OFFCPU) ||
            (!cpu && k->reason == AHP_KREC_PREEMPTED))
            continue;
        uint32_t n = 0;
        uint32_t node = ahp_model_kernel_node(m, k->id);
        if (k->slot == AHP_KREC_UNTAGGED || (k->slot < 0 && k->slot != AHP_KREC_OUTSIDE)) {
            snprintf(f->async[0], AHP_LABEL_SIZE, "(untagged)");
            f->labels[n] = f->async[0];
            f->cls[n++] = -1;
        } else if (k->slot == AHP_KREC_OUTSIDE || k->id == 0) {
            snprintf(f->async[0], AHP_LABEL_SIZE, "(outside callbacks)");
            f->labels[n] = f->async[0];
            f->cls[n++] = -1;
        } else if (node != AHP_NODE_NONE) {
            n = async_frames(f, node);
        } else {
            /* Its resource is not in the file (created before the recording, never seen
             * running): its type alone, as the model puts such resources. */
            char name[AHP_NAME_SIZE];
            snprintf(f->async[0], AHP_LABEL_SIZE, "(before attach)");
            ahp_label_safe(
                f->async[1], AHP_LABEL_SIZE,
                ahp_model_class_name(m, k->slot < AHP_TYPE_MAX ? k->slot : AHP_M_INVALID, name),
                AHP_NAME_SIZE);
            f->labels[0] = f->async[0];
            f->labels[1] = f->async[1];
            f->cls[0] = -1;
            f->cls[1] = k->slot < AHP_TYPE_MAX ? k->slot : AHP_M_INVALID;
            n = 2;
        }
        const uint32_t *idx = k->stack != 0 ? ahp_hmap_get(&f->ks->ids, k->stack - 1) : NULL;
        if (idx != NULL) {
            /* Split a copy: the stored stack stays whole for the next record. */
            snprintf(f->native, sizeof(f->native), "%s", f->ks->labels[*idx]);
            for (char *s = f->native; s != NULL && n < FLAME_DEPTH_MAX - 1;) {
                char *nl = strchr(s, '\n');
                if (nl != NULL)
                    *nl = '\0';
                f->cls[n] = -1;
                f->labels[n++] = s;
                s = nl != NULL ? nl + 1 : NULL;
            }
        }
        if (!cpu) {
            char buf[32];
            snprintf(f->reason, sizeof(f->reason), "(%s)", ahp_krecord_reason_name(k->reason, buf));
            f->cls[n] = -1;
            f->labels[n++] = f->reason;
        }
        int rc = ftree_paths_add(f->p, f->labels, f->cls, n, cpu ? 1 : k->dur_ns);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ftree_build_kernel(struct ftree *t, struct flame_run *run, enum flame_weight w)
{
    if (!run->meta->has_kernel)
        return -ENODATA;
    struct kstacks ks = {0};
    ahp_hmap_init(&ks.ids, sizeof(uint32_t), 0);
    struct ahp_read_ops ops = {.kstack = load_kstack};
    int rc = ahp_reader_foreach(run->r, &ops, &ks);
    struct kflame *f = calloc(1, sizeof(*f));
    if (rc == 0 && f == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        f->run = run;
        f->ks = &ks;
        f->w = w;
        rc = ftree_paths_begin(&f->p, t, w);
        if (rc == 0) {
            struct ahp_read_ops rops = {.krecords = add_record};
            rc = ahp_reader_foreach(run->r, &rops, f);
        }
        if (f->p != NULL)
            rc = ftree_paths_end(f->p, rc);
    }
    free(f);
    for (uint32_t i = 0; i < ks.n; i++)
        free(ks.labels[i]);
    free(ks.labels);
    ahp_hmap_free(&ks.ids);
    return rc;
}
