/* flame_folded.c - the folded stacks format ("a;b;c 42" per line), read by flamegraph.pl,
 * inferno, speedscope and Pyroscope. Labels are safe (asyncstack.h): no ';', no newline,
 * never a number as their last word, so every line parses back to the same stack. */
#include <inttypes.h>

#include "export/flame_int.h"

static int line(void *arg, const struct ftree *t, uint32_t node, const uint32_t *path,
                uint32_t depth)
{
    FILE *out = arg;
    const struct ftree_node *n = &t->n[node];
    if (n->self == 0)
        return 0;
    for (uint32_t i = 0; i < depth; i++) {
        if (i > 0)
            fputc(';', out);
        fputs(t->labels[path[i]], out);
    }
    fprintf(out, " %" PRIu64 "\n", n->self);
    return 0;
}

int flame_write_folded(struct flame_run *run, const struct ftree *t)
{
    return ftree_walk(t, line, run->out);
}
