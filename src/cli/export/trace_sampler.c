/*
 * trace_sampler.c - speedscope with the count or live weight: no timeline, but a sampled
 * profile of the flame tree, one sample per frame (its path of labels) weighted by the
 * frame's own value.
 */
#include "export/trace_int.h"

struct sampled {
    struct ahp_json *w;
    bool weights; /* this pass writes the weights, not the samples */
    bool any;
};

static int sample(void *arg, const struct ftree *t, uint32_t node, const uint32_t *path,
                  uint32_t depth)
{
    struct sampled *s = arg;
    const struct ftree_node *n = &t->n[node];
    if (n->self == 0)
        return 0;
    s->any = true;
    if (s->weights) {
        ahp_json_u64(s->w, n->self);
        return 0;
    }
    ahp_json_newline(s->w, 0);
    ahp_json_array_begin(s->w);
    for (uint32_t i = 0; i < depth; i++)
        ahp_json_u64(s->w, path[i]);
    ahp_json_array_end(s->w);
    return 0;
}

int flame_write_speedscope_tree(struct flame_run *run, const struct ftree *t)
{
    struct ahp_json jw, *w = &jw;
    ahp_json_init(w, run->out, AHP_JSON_COMPACT);
    char title[600], target[300];
    trace_target_label(run, target, sizeof(target));
    snprintf(title, sizeof(title), "%s: %s by async stack (ahprof)", target,
             flame_weight_what(t->weight));
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "$schema", "https://www.speedscope.app/file-format-schema.json");
    ahp_json_field_str(w, "exporter", "ahprof");
    ahp_json_field_str(w, "name", title);
    ahp_json_field_u64(w, "activeProfileIndex", 0);
    ahp_json_key(w, "profiles");
    ahp_json_array_begin(w);
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "type", "sampled");
    ahp_json_field_str(w, "name", title);
    ahp_json_field_str(w, "unit", "none");
    ahp_json_field_u64(w, "startValue", 0);
    ahp_json_field_u64(w, "endValue", t->n[0].total);
    ahp_json_key(w, "samples");
    ahp_json_array_begin(w);
    struct sampled s = {.w = w};
    ftree_walk(t, sample, &s);
    if (!s.any)
        ahp_json_newline(w, 0);
    ahp_json_array_end(w);
    ahp_json_newline(w, 0);
    ahp_json_key(w, "weights");
    ahp_json_array_begin(w);
    s.weights = true;
    ftree_walk(t, sample, &s);
    ahp_json_array_end(w);
    ahp_json_object_end(w);
    ahp_json_array_end(w);
    ahp_json_newline(w, 0);
    ahp_json_key(w, "shared");
    ahp_json_object_begin(w);
    ahp_json_key(w, "frames");
    ahp_json_array_begin(w);
    for (uint32_t i = 0; i < t->nlabels; i++) {
        if (i > 0)
            ahp_json_newline(w, 0);
        ahp_json_object_begin(w);
        ahp_json_field_str(w, "name", t->labels[i]);
        ahp_json_object_end(w);
    }
    ahp_json_array_end(w);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
    return trace_json_result(w);
}
