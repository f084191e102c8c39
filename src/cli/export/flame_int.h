/* flame_int.h - what the parts of `ahprof flame` share (flame*.c): options, the flame tree
 * built from the model, and the writers of each format. */
#ifndef AHP_FLAME_INT_H
#define AHP_FLAME_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model/asyncstack.h"
#include "data/datafile.h"
#include "model/model.h"

enum flame_format {
    FMT_FOLDED,
    FMT_SVG,
    FMT_CHROME,
    FMT_SPEEDSCOPE,
    FMT_DOT,
    FMT_PPROF,
    FMT_PERFETTO
};
/* W_CPU and W_OFFCPU draw the kernel records of `record --cpu` (flame_kernel.c): native
 * stacks on top of the async stack of the resource in scope. */
enum flame_weight { W_TIME, W_COUNT, W_LIVE, W_CPU, W_OFFCPU };

struct flame_opts {
    const char *path;     /* input recording */
    const char *out_path; /* NULL: stdout */
    const char *title;    /* NULL: a default from the weight */
    enum flame_format format;
    enum flame_weight weight;
    bool json;        /* errors as {"error": ...} */
    bool types_only;  /* frames are types only, even when the file has stacks */
    long width;       /* SVG width in pixels */
    double min_width; /* SVG: frames narrower than this (pixels) are left out */
};

/* Frames deeper than this are summed into a "(deeper)" frame at this depth, so that output
 * stays bounded whatever the recording (a hostile one can make very deep paths). */
#define FLAME_DEPTH_MAX 256

/* ---------------------------------------------------------------------------------------
 * The flame tree: the model's trigger tree as frames, ready to draw. Node 0 is the root
 * ("all"); its children are the first frames: types created from the program's bootstrap,
 * "(before attach)" and "(other paths)". Sibling frames with the same label are merged.
 */
struct ftree_node {
    uint32_t parent;      /* UINT32_MAX for the root */
    uint32_t first_child; /* largest total first, then by label */
    uint32_t next_sibling;
    uint32_t depth; /* 0 for the root */
    uint32_t label; /* index into ftree.labels */
    int32_t cls;    /* type class of the frame; -1 for the root and the pseudo frames */
    uint64_t self;  /* weight of the frame itself */
    uint64_t total; /* self + children */
};

struct ftree {
    struct ftree_node *n;
    uint32_t nn;
    char **labels; /* safe labels (asyncstack.h); labels[0] is "all" */
    uint32_t nlabels;
    enum flame_weight weight;
};

#define FT_NONE UINT32_MAX

int ftree_build(struct ftree *t, const struct ahp_model *m, const struct ahp_sites *s,
                enum flame_weight w, bool types_only);
void ftree_free(struct ftree *t);

/* A flame tree from paths of safe labels (flame_kernel.c): begin, add each path (outermost
 * first, CLS the type class of its frames or -1) with its weight, end (totals and order). */
struct ftree_paths;
int ftree_paths_begin(struct ftree_paths **b, struct ftree *t, enum flame_weight w);
int ftree_paths_add(struct ftree_paths *b, const char *const *labels, const int32_t *cls,
                    uint32_t n, uint64_t weight);
/* Frees B; on failure T too. */
int ftree_paths_end(struct ftree_paths *b, int rc);

/* Visit the nodes with a positive total depth first, in order; VISIT gets the path of
 * labels from the first frame (root excluded) down to the node. Non-zero return stops. */
int ftree_walk(const struct ftree *t,
               int (*visit)(void *arg, const struct ftree *t, uint32_t node, const uint32_t *path,
                            uint32_t depth),
               void *arg);

/* What a weight is called and how a value of it reads ("1.234 ms", "12 resources"). */
const char *flame_weight_name(enum flame_weight w);
const char *flame_weight_unit(enum flame_weight w);
/* What the weight measures, in words ("exclusive callback time", "CPU samples"...). */
const char *flame_weight_what(enum flame_weight w);
void flame_fmt_value(char *buf, size_t n, enum flame_weight w, uint64_t v);

/* ---------------------------------------------------------------------------------------
 * Writers. Each returns 0 or a negative errno; output errors are found by the caller.
 */
struct flame_run {
    const struct flame_opts *o;
    struct ahp_reader *r;
    const struct ahp_file_meta *meta;
    struct ahp_sites *sites; /* NULL with types_only */
    struct ahp_model *m;
    FILE *out;
};

int flame_write_folded(struct flame_run *run, const struct ftree *t);
int flame_write_svg(struct flame_run *run, const struct ftree *t);
int flame_write_dot(struct flame_run *run);
/* Gzipped pprof profile.proto with every weight (flame_pprof.c). */
int flame_write_pprof(struct flame_run *run);

/* The flame tree of the kernel records (W_CPU: samples, W_OFFCPU: ns off-CPU inside
 * callbacks, the reason as the leaf) after the model is built; -ENODATA when the recording
 * has none (it was not made with record --cpu). */
int ftree_build_kernel(struct ftree *t, struct flame_run *run, enum flame_weight w);

/* The timeline formats (trace*.c, trace_int.h) see the callbacks while the model is built:
 * they set hooks on OPTS (begin), get the model (end) and write. STATE is theirs. */
struct flame_trace;
int flame_trace_begin(struct flame_trace **tr, struct flame_run *run, struct ahp_model_opts *opts);
int flame_trace_end(struct flame_trace *tr, struct flame_run *run);
void flame_trace_free(struct flame_trace *tr);
/* ahp_model_opts.site_of when the arg is the trace's state. */
uint32_t flame_trace_site_of(void *arg, uint32_t stack_id);

/* Sampled speedscope profile of a flame tree (--format speedscope with count or live),
 * trace_sampler.c. */
int flame_write_speedscope_tree(struct flame_run *run, const struct ftree *t);

/* Escapers for the outputs; S is a safe label or other NUL-terminated text. */
void flame_xml(FILE *out, const char *s);     /* XML text and attribute values */
void flame_dot_str(FILE *out, const char *s); /* a DOT "quoted string", quotes included */

#endif
