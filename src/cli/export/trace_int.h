/*
 * trace_int.h - what the timeline exports share (trace*.c):
 *
 *   trace.c             the mirror of each thread's callback stack, kept from the model's
 *                       hooks while it reads the events; threads, labels, the time base
 *   trace_chrome.c      Chrome trace JSON, streamed as the callbacks end
 *   trace_speedscope.c  speedscope's evented profiles, one per thread, written at the end
 *   trace_spool.c       the per-thread records speedscope needs together, spooled to a file
 *   trace_perfetto.c    Perfetto's protobuf trace, streamed as the callbacks start and end
 *   trace_sampler.c     speedscope's sampled profile of the flame tree (no timeline)
 *
 * The mirror keeps the formats balanced when events were lost: callbacks whose AFTER never
 * came are closed when an enclosing callback ends ("incomplete"), unmatched AFTERs are dropped
 * (the model never reports them), and what is still open at the end is closed at the end
 * ("unfinished").
 */
#ifndef AHP_TRACE_INT_H
#define AHP_TRACE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/hashmap.h"
#include "common/json_writer.h"
#include "export/flame_int.h"

/* A callback open on a thread. */
struct trace_cb {
    uint64_t id, start_ns;
    uint32_t node; /* model node */
    uint32_t skip; /* speedscope: frames of its async stack already open below it */
};

/* ---------------------------------------------------------------------------------------
 * The spool (trace_spool.c): each thread's records in memory up to a block, then in blocks in
 * an unlinked temporary file; in memory only the block offsets (8 bytes per 512 records).
 */
#define TRACE_SPOOL_BLOCK 512

struct trace_rec {
    uint64_t at;   /* ns since the trace base */
    uint32_t node; /* model node of the callback */
    uint32_t op;   /* TRACE_OPEN or TRACE_CLOSE, | frames skipped << 2 */
};
enum { TRACE_OPEN = 1, TRACE_CLOSE = 2 };

struct trace_spool {
    FILE *file;
    uint64_t end;             /* file size */
    struct trace_rec *replay; /* one block, to read them back */
};

struct trace_spool_thread {
    struct trace_rec *buf; /* the records after the last full block */
    uint32_t n, bufcap;
    uint64_t *blocks; /* file offset of each full block */
    uint32_t nblocks, blockcap;
    uint64_t last_at;
};

int trace_spool_open(struct trace_spool *s);
void trace_spool_close(struct trace_spool *s);
/* Append a record to T's; an AT earlier than T's last becomes that (profiles want time
 * order; the clocks of CPUs can disagree). 0, -ENOMEM or -EIO. */
int trace_spool_add(struct trace_spool *s, struct trace_spool_thread *t, uint64_t at, uint32_t node,
                    uint32_t op);
/* Everything added so far is in the file or in memory: 0 or -EIO. */
int trace_spool_flush(struct trace_spool *s);
/* T's records in order, in slices handed to VISIT (its non-zero return stops and is
 * returned). 0, -ENOMEM or -EIO. */
int trace_spool_replay(struct trace_spool *s, const struct trace_spool_thread *t,
                       int (*visit)(void *arg, const struct trace_rec *recs, uint32_t n),
                       void *arg);
void trace_spool_thread_free(struct trace_spool_thread *t);

/* ---------------------------------------------------------------------------------------
 * The mirror (trace.c) and the formats it drives.
 */
struct trace_thread {
    uint32_t tid;
    struct trace_cb *stack;
    uint32_t depth, cap;
    struct trace_spool_thread spool; /* speedscope */
};

struct flame_trace;

/* What a timeline format does; trace.c calls it. */
struct trace_format {
    /* The model's on_init hook (arg: the trace), or NULL: creations are not shown. */
    void (*on_init)(void *arg, const struct ahp_model *m, const struct ahp_event *e, uint32_t node);
    /* Before the events: 0 or a negative errno. */
    int (*begin)(struct flame_trace *tr);
    /* T was seen for the first time. */
    void (*thread_added)(struct flame_trace *tr, const struct trace_thread *t);
    /* CB was pushed on T (it is T's top); NULL: nothing to do then. */
    void (*opened)(struct flame_trace *tr, struct trace_thread *t, struct trace_cb *cb,
                   const struct ahp_model *m);
    /* CB, popped from T, ended at END_NS: with its EXCLUSIVE_NS when WHY is NULL, else WHY
     * says how ("incomplete", "unfinished"). */
    void (*closed)(struct flame_trace *tr, struct trace_thread *t, const struct trace_cb *cb,
                   const struct ahp_model *m, uint64_t end_ns, uint64_t exclusive_ns,
                   const char *why);
    /* After the events (nothing is open any more): 0 or a negative errno. */
    int (*end)(struct flame_trace *tr);
    /* Free TR->format_state, whether or not END ran; NULL: nothing to free. */
    void (*free)(struct flame_trace *tr);
};

extern const struct trace_format trace_chrome;
extern const struct trace_format trace_speedscope;
extern const struct trace_format trace_perfetto;

struct flame_trace {
    struct flame_run *run;
    const struct trace_format *format;
    uint64_t base_ns; /* time 0 of the output */
    bool based;
    uint32_t pid;
    struct trace_thread *threads; /* in order of appearance */
    uint32_t nthreads, tcap;
    struct ahp_hmap tindex; /* tid -> index into threads (uint32_t) */
    char **labels;          /* per model node, cached */
    uint32_t nlabels;
    struct ahp_json json; /* the output */
    struct trace_spool spool;
    void *format_state; /* the format's own (trace_perfetto.c) */
    int err;
};

/* The safe label of model node NODE ("?" when out of memory: TR->err says so). */
const char *trace_label(struct flame_trace *tr, const struct ahp_model *m, uint32_t node);
/* The thread TID, added when new; NULL when out of memory (TR->err says so). */
struct trace_thread *trace_thread_of(struct flame_trace *tr, uint32_t tid);
/* The first time seen is time 0, unless the file's start came first. */
void trace_set_base(struct flame_trace *tr, uint64_t ts);
/* The recording's target as a safe label, or "unknown target". */
void trace_target_label(const struct flame_run *run, char *buf, size_t n);
/* "main thread TID" or "thread TID". */
const char *trace_thread_kind(const struct flame_trace *tr, uint32_t tid);

/* The JSON a timeline writer returns: output errors belong to whoever checks the stream
 * (flame.c, or main for stdout); a document that is not whole otherwise is an error. */
int trace_json_result(const struct ahp_json *w);

#endif
