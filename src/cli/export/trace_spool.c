/*
 * trace_spool.c - speedscope writes each thread's events together, after the model read them
 * all, interleaved: they wait here. A thread's records stay in memory up to a block, then go
 * to an unlinked temporary file one block at a time; memory keeps only the block offsets.
 */
#include <errno.h>
#include <stdlib.h>

#include "export/trace_int.h"

int trace_spool_open(struct trace_spool *s)
{
    s->file = tmpfile();
    s->end = 0;
    s->replay = NULL;
    return s->file == NULL ? -errno : 0;
}

void trace_spool_close(struct trace_spool *s)
{
    if (s->file != NULL)
        fclose(s->file);
    s->file = NULL;
    free(s->replay);
    s->replay = NULL;
}

/* T's full buffer to the file as one block. */
static int spill(struct trace_spool *s, struct trace_spool_thread *t)
{
    if (t->nblocks == t->blockcap) {
        uint32_t cap = t->blockcap == 0 ? 16 : t->blockcap * 2;
        uint64_t *nb = realloc(t->blocks, (size_t)cap * sizeof(*nb));
        if (nb == NULL)
            return -ENOMEM;
        t->blocks = nb;
        t->blockcap = cap;
    }
    if (fseeko(s->file, (off_t)s->end, SEEK_SET) != 0 ||
        fwrite(t->buf, sizeof(struct trace_rec), TRACE_SPOOL_BLOCK, s->file) != TRACE_SPOOL_BLOCK)
        return -EIO;
    t->blocks[t->nblocks++] = s->end;
    s->end += sizeof(struct trace_rec) * TRACE_SPOOL_BLOCK;
    t->n = 0;
    return 0;
}

int trace_spool_add(struct trace_spool *s, struct trace_spool_thread *t, uint64_t at, uint32_t node,
                    uint32_t op)
{
    if (at < t->last_at)
        at = t->last_at;
    t->last_at = at;
    if (t->n == t->bufcap) {
        if (t->bufcap == TRACE_SPOOL_BLOCK) {
            int rc = spill(s, t);
            if (rc < 0)
                return rc;
        } else {
            /* Small first: a recording may have many threads with few callbacks each. */
            uint32_t cap = t->bufcap == 0 ? 8 : t->bufcap * 4;
            if (cap > TRACE_SPOOL_BLOCK)
                cap = TRACE_SPOOL_BLOCK;
            struct trace_rec *nb = realloc(t->buf, (size_t)cap * sizeof(*nb));
            if (nb == NULL)
                return -ENOMEM;
            t->buf = nb;
            t->bufcap = cap;
        }
    }
    t->buf[t->n++] = (struct trace_rec){.at = at, .node = node, .op = op};
    return 0;
}

int trace_spool_flush(struct trace_spool *s)
{
    return fflush(s->file) != 0 ? -EIO : 0;
}

int trace_spool_replay(struct trace_spool *s, const struct trace_spool_thread *t,
                       int (*visit)(void *arg, const struct trace_rec *recs, uint32_t n), void *arg)
{
    if (t->nblocks > 0 && s->replay == NULL &&
        (s->replay = malloc(sizeof(struct trace_rec) * TRACE_SPOOL_BLOCK)) == NULL)
        return -ENOMEM;
    int rc;
    for (uint32_t b = 0; b < t->nblocks; b++) {
        if (fseeko(s->file, (off_t)t->blocks[b], SEEK_SET) != 0 ||
            fread(s->replay, sizeof(struct trace_rec), TRACE_SPOOL_BLOCK, s->file) !=
                TRACE_SPOOL_BLOCK)
            return -EIO;
        if ((rc = visit(arg, s->replay, TRACE_SPOOL_BLOCK)) != 0)
            return rc;
    }
    return t->n > 0 ? visit(arg, t->buf, t->n) : 0;
}

void trace_spool_thread_free(struct trace_spool_thread *t)
{
    free(t->buf);
    free(t->blocks);
    t->buf = NULL;
    t->blocks = NULL;
}
