/*
 * flame_dot.c - the type-level trigger graph for graphviz: one node per type with what its
 * resources cost, one edge per (creator type, created type) with how many were created.
 * `ahprof flame --format dot | dot -Tsvg > graph.svg`.
 *
 * Names are safe labels (asyncstack.h) written inside DOT "quoted strings" with '"' and '\'
 * escaped, so nothing from the recording can end a string, start an HTML label or inject
 * attributes.
 */
#include <inttypes.h>
#include <string.h>

#include "export/flame_int.h"

static void dot_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
            fputc(*s, out);
    }
}

void flame_dot_str(FILE *out, const char *s)
{
    fputc('"', out);
    dot_escape(out, s);
    fputc('"', out);
}

static bool class_shown(const struct ahp_model *m, int32_t c)
{
    const struct ahp_type_summary *t = &m->types[c];
    if (t->created || t->destroyed || t->callbacks || t->active)
        return true;
    for (int32_t p = 0; p < AHP_M_PARENTS; p++)
        if (ahp_model_edge(m, p, c))
            return true;
    for (int32_t k = 0; k < AHP_M_TYPES; k++)
        if (ahp_model_edge(m, c, k))
            return true;
    return false;
}

static uint64_t class_weight(const struct ahp_model *m, int32_t c, enum flame_weight w)
{
    const struct ahp_type_summary *t = &m->types[c];
    return w == W_TIME    ? t->exclusive_ns
           : w == W_COUNT ? t->created
                          : (t->active > 0 ? (uint64_t)t->active : 0);
}

/* Node ids: "t" + class, "root", "before". */
static void node_id(char *buf, size_t n, int32_t p)
{
    if (p == AHP_M_PARENT_ROOT)
        snprintf(buf, n, "root");
    else if (p == AHP_M_PARENT_UNKNOWN)
        snprintf(buf, n, "before");
    else
        snprintf(buf, n, "t%d", (int)p);
}

/* White to the weight's colour as the share grows. */
static void fill(char *buf, size_t n, enum flame_weight w, double share)
{
    if (share < 0)
        share = 0;
    if (share > 1)
        share = 1;
    int base[3][3] = {{230, 60, 20}, {40, 150, 200}, {40, 170, 60}};
    const int *c = base[w == W_TIME ? 0 : w == W_COUNT ? 1 : 2];
    int r = 255 - (int)((255 - c[0]) * share), g = 255 - (int)((255 - c[1]) * share),
        b = 255 - (int)((255 - c[2]) * share);
    snprintf(buf, n, "#%02x%02x%02x", r, g, b);
}

int flame_write_dot(struct flame_run *run)
{
    const struct ahp_model *m = run->m;
    FILE *out = run->out;
    enum flame_weight w = run->o->weight;

    uint64_t total = 0, max_edge = 0;
    for (int32_t c = 0; c < AHP_M_TYPES; c++)
        total += class_weight(m, c, w);
    for (int32_t p = 0; p < AHP_M_PARENTS; p++)
        for (int32_t c = 0; c < AHP_M_TYPES; c++)
            if (ahp_model_edge(m, p, c) > max_edge)
                max_edge = ahp_model_edge(m, p, c);

    char target[300], title[600];
    if (run->meta->has_info)
        ahp_label_safe(target, sizeof(target), run->meta->info.target,
                       sizeof(run->meta->info.target));
    else
        snprintf(target, sizeof(target), "unknown target");
    snprintf(title, sizeof(title), "ahprof trigger graph: %s (pid %" PRIu32 "), colour: %s", target,
             run->meta->has_info ? run->meta->info.pid : 0,
             w == W_TIME    ? "exclusive callback time"
             : w == W_COUNT ? "resources created"
                            : "resources alive at the end");

    fprintf(out, "digraph ahprof {\n  graph [rankdir=LR, labelloc=t, fontname=\"Helvetica\", "
                 "label=");
    flame_dot_str(out, title);
    fprintf(out, "];\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", "
                 "fillcolor=\"#ffffff\"];\n  edge [fontname=\"Helvetica\", color=\"#555555\"];\n");

    bool root_used = false, before_used = false;
    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        root_used |= ahp_model_edge(m, AHP_M_PARENT_ROOT, c) > 0;
        before_used |= ahp_model_edge(m, AHP_M_PARENT_UNKNOWN, c) > 0;
    }
    if (root_used)
        fprintf(out, "  root [label=\"(root)\", shape=ellipse, fillcolor=\"#dddddd\"];\n");
    if (before_used)
        fprintf(out,
                "  before [label=\"(before attach)\", shape=ellipse, fillcolor=\"#dddddd\"];\n");

    for (int32_t c = 0; c < AHP_M_TYPES; c++) {
        if (!class_shown(m, c))
            continue;
        const struct ahp_type_summary *t = &m->types[c];
        char nb[AHP_NAME_SIZE], name[AHP_LABEL_SIZE], id[32], colour[16];
        char tt[64], te[64];
        size_t pos = 0;
        const char *raw = ahp_model_class_name(m, c, nb);
        ahp_label_append(name, sizeof(name), &pos, raw, strnlen(raw, AHP_NAME_SIZE));
        ahp_label_finish(name, sizeof(name), &pos);
        node_id(id, sizeof(id), c);
        fill(colour, sizeof(colour), w,
             total > 0 ? (double)class_weight(m, c, w) / (double)total : 0);
        flame_fmt_value(tt, sizeof(tt), W_TIME, t->callback_ns);
        flame_fmt_value(te, sizeof(te), W_TIME, t->exclusive_ns);
        fprintf(out, "  %s [label=\"", id);
        dot_escape(out, name);
        fprintf(out,
                "\\ncreated %" PRIu64 ", alive at end %" PRId64 "\\ncallbacks %" PRIu64
                ", time %s (self %s)\", fillcolor=\"%s\"];\n",
                t->created, t->active, t->callbacks, tt, te, colour);
    }
    for (int32_t p = 0; p < AHP_M_PARENTS; p++) {
        for (int32_t c = 0; c < AHP_M_TYPES; c++) {
            uint64_t n = ahp_model_edge(m, p, c);
            if (n == 0)
                continue;
            char a[32], b[32];
            node_id(a, sizeof(a), p);
            node_id(b, sizeof(b), c);
            double pw = max_edge > 0 ? 1.0 + 4.0 * (double)n / (double)max_edge : 1.0;
            fprintf(out, "  %s -> %s [label=\"%" PRIu64 "\", penwidth=%.2f];\n", a, b, n, pw);
        }
    }
    fprintf(out, "}\n");
    return 0;
}
