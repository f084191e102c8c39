/*
 * trace_perfetto.c - Perfetto's native protobuf trace (ui.perfetto.dev, trace_processor),
 * streamed while the model reads the events, one TracePacket at a time (memory does not grow
 * with the recording): a TrackDescriptor for the process and one per thread; per callback a
 * TrackEvent slice (SLICE_BEGIN when it starts, SLICE_END when it ends) on its thread's track,
 * named after the resource's async frame; an INSTANT "init" where each resource was created;
 * one flow per resource (flow_ids = the async id) from its init through each of its callbacks,
 * in order; and, in a second pass over the events at the end, a counter track per type with
 * the resources of that type alive over time.
 *
 * The messages and field numbers used are those of Perfetto's published schema
 * (protos/perfetto/trace/); tests/flame/perfetto_trace.proto is the subset written here, which
 * the tests decode with protoc. Timestamps are the recording's CLOCK_MONOTONIC nanoseconds, on
 * the trace's default clock (a trace of one recording has nothing to align with).
 *
 * Strings are interned, as Perfetto's own producers do: a slice refers to its name, category,
 * argument names and async stack frames by number, and each string is written once, in the
 * packet that first uses it (InternedData). The numbers are the model's node numbers, so
 * remembering what was written costs a byte per node.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export/pb.h"
#include "export/trace_int.h"

enum {
    TRACE_PACKET = 1,
    /* TracePacket */
    PACKET_TIMESTAMP = 8,
    PACKET_SEQUENCE_ID = 10, /* trusted_packet_sequence_id */
    PACKET_TRACK_EVENT = 11,
    PACKET_INTERNED_DATA = 12,
    PACKET_SEQUENCE_FLAGS = 13,
    PACKET_TRACK_DESCRIPTOR = 60,
    /* TrackDescriptor */
    TD_UUID = 1,
    TD_NAME = 2,
    TD_PROCESS = 3,
    TD_THREAD = 4,
    TD_PARENT_UUID = 5,
    TD_COUNTER = 8,
    PROCESS_PID = 1,
    PROCESS_NAME = 6,
    THREAD_PID = 1,
    THREAD_TID = 2,
    THREAD_NAME = 5,
    COUNTER_UNIT = 3,
    /* TrackEvent */
    TE_CATEGORY_IIDS = 3,
    TE_DEBUG_ANNOTATIONS = 4,
    TE_TYPE = 9,
    TE_NAME_IID = 10,
    TE_TRACK_UUID = 11,
    TE_COUNTER_VALUE = 30,
    TE_FLOW_IDS = 47,
    /* DebugAnnotation */
    DA_NAME_IID = 1,
    DA_BOOL = 2,
    DA_UINT = 3,
    DA_ARRAY = 12,
    DA_STRING_IID = 17,
    /* InternedData, and its entries: EventCategory, EventName, DebugAnnotationName
     * {iid = 1, name = 2} and InternedString {iid = 1, str = 2} */
    ID_EVENT_CATEGORIES = 1,
    ID_EVENT_NAMES = 2,
    ID_DEBUG_ANNOTATION_NAMES = 3,
    ID_DEBUG_ANNOTATION_STRINGS = 29,
    ENTRY_IID = 1,
    ENTRY_NAME = 2,
};

/* Interned numbers of the fixed strings, written with the first packet. Iids start at 1. */
enum { CAT_CALLBACK = 1, CAT_INIT = 2 };
enum {
    ARG_ASYNC_ID = 1,
    ARG_TRIGGER_ID,
    ARG_ASYNC_STACK,
    ARG_EXCLUSIVE_NS,
    ARG_INCOMPLETE,
    ARG_UNFINISHED,
    ARG_N
};
static const char *const arg_names[ARG_N] = {
    [ARG_ASYNC_ID] = "async_id",       [ARG_TRIGGER_ID] = "trigger_id",
    [ARG_ASYNC_STACK] = "async_stack", [ARG_EXCLUSIVE_NS] = "exclusive_ns",
    [ARG_INCOMPLETE] = "incomplete",   [ARG_UNFINISHED] = "unfinished",
};
/* Event names: a callback of node N is 2N + 1, the init of a resource of node N 2N + 2.
 * Stack frame strings: node N is N + 2, "(deeper)" 1. */
#define NAME_CALLBACK(node) (2 * (uint64_t)(node) + 1)
#define NAME_INIT(node) (2 * (uint64_t)(node) + 2)
#define STR_DEEPER 1
#define STR_NODE(node) ((uint64_t)(node) + 2)
enum { SLICE_BEGIN = 1, SLICE_END = 2, INSTANT = 3, COUNTER = 4 };
enum { SEQ_INCREMENTAL_STATE_CLEARED = 1, SEQ_NEEDS_INCREMENTAL_STATE = 2 };
enum { UNIT_COUNT = 2 };

/* Track uuids: the process, its threads (by tid) and the live counters (by type class) in
 * ranges of their own. */
#define SEQUENCE_ID 1
#define UUID_PROCESS 1ull
#define UUID_THREAD(tid) (0x100000000ull + (tid))
#define UUID_COUNTER(cls) (0x200000000ull + (uint64_t)(cls))

/* Which strings were interned, per node. */
enum { SENT_CALLBACK = 1, SENT_INIT = 2, SENT_FRAME = 4 };

struct perfetto {
    struct pb p;
    bool first;    /* the next packet is the sequence's first */
    uint8_t *sent; /* per model node: SENT_* */
    uint32_t nsent;
    bool interning; /* an InternedData is open in the packet */
    int64_t live[AHP_M_TYPES];
    bool counted[AHP_M_TYPES]; /* its counter track is described */
};

static struct perfetto *state(struct flame_trace *tr)
{
    return tr->format_state;
}

static void interned_entry(struct pb *p, uint32_t field, uint64_t iid, const char *name)
{
    pb_begin(p, field);
    pb_varint_field(p, ENTRY_IID, iid);
    pb_str_field(p, ENTRY_NAME, name);
    pb_end(p);
}

/* A new packet in the buffer: the fields every packet has. The first clears the sequence's
 * interned strings and interns the fixed ones. */
static struct pb *packet(struct flame_trace *tr)
{
    struct perfetto *s = state(tr);
    struct pb *p = &s->p;
    pb_clear(p);
    pb_varint_field(p, PACKET_SEQUENCE_ID, SEQUENCE_ID);
    if (!s->first) {
        pb_varint_field(p, PACKET_SEQUENCE_FLAGS, SEQ_NEEDS_INCREMENTAL_STATE);
        return p;
    }
    s->first = false;
    pb_varint_field(p, PACKET_SEQUENCE_FLAGS,
                    SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE);
    pb_begin(p, PACKET_INTERNED_DATA);
    interned_entry(p, ID_EVENT_CATEGORIES, CAT_CALLBACK, "callback");
    interned_entry(p, ID_EVENT_CATEGORIES, CAT_INIT, "init");
    for (int a = 1; a < ARG_N; a++)
        interned_entry(p, ID_DEBUG_ANNOTATION_NAMES, (uint64_t)a, arg_names[a]);
    interned_entry(p, ID_DEBUG_ANNOTATION_STRINGS, STR_DEEPER, "(deeper)");
    pb_end(p);
    return p;
}

/* Whether the string KIND of NODE is still to be interned (it then counts as sent). */
static bool to_intern(struct flame_trace *tr, uint32_t node, uint8_t kind)
{
    struct perfetto *s = state(tr);
    if (node >= s->nsent) {
        uint64_t n = s->nsent == 0 ? 1024 : s->nsent;
        while (n <= node)
            n *= 2;
        uint8_t *ns = n > UINT32_MAX ? NULL : realloc(s->sent, (size_t)n);
        if (ns == NULL) {
            tr->err = -ENOMEM;
            return false;
        }
        memset(ns + s->nsent, 0, (size_t)n - s->nsent);
        s->sent = ns;
        s->nsent = (uint32_t)n;
    }
    if (s->sent[node] & kind)
        return false;
    s->sent[node] |= kind;
    return true;
}

/* Intern NAME as entry IID of FIELD in the packet's InternedData, opened if need be. */
static void intern(struct flame_trace *tr, uint32_t field, uint64_t iid, const char *name)
{
    struct perfetto *s = state(tr);
    if (!s->interning) {
        pb_begin(&s->p, PACKET_INTERNED_DATA);
        s->interning = true;
    }
    interned_entry(&s->p, field, iid, name);
}

static void intern_done(struct flame_trace *tr)
{
    struct perfetto *s = state(tr);
    if (s->interning)
        pb_end(&s->p);
    s->interning = false;
}

/* The packet in the buffer, as one Trace.packet field, to the output. */
static void emit(struct flame_trace *tr)
{
    struct pb *p = &state(tr)->p;
    if (p->err != 0) {
        if (tr->err == 0)
            tr->err = p->err;
        return;
    }
    uint8_t head[11];
    size_t n = 0;
    head[n++] = TRACE_PACKET << 3 | PB_LEN;
    for (uint64_t v = p->len;; v >>= 7) {
        head[n++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
        if (v < 0x80)
            break;
    }
    /* Write errors are found by whoever checks the stream (flame.c). */
    fwrite(head, 1, n, tr->run->out);
    fwrite(p->buf, 1, p->len, tr->run->out);
}

static void annotation_uint(struct pb *p, uint64_t name, uint64_t v)
{
    pb_begin(p, TE_DEBUG_ANNOTATIONS);
    pb_varint_field(p, DA_NAME_IID, name);
    pb_varint_field(p, DA_UINT, v);
    pb_end(p);
}

static void thread_added(struct flame_trace *tr, const struct trace_thread *t)
{
    struct pb *p = packet(tr);
    char name[64];
    snprintf(name, sizeof(name), "%s %" PRIu32, trace_thread_kind(tr, t->tid), t->tid);
    pb_begin(p, PACKET_TRACK_DESCRIPTOR);
    /* No parent: Perfetto puts a thread track in its process by the pid. */
    pb_varint_field(p, TD_UUID, UUID_THREAD(t->tid));
    pb_begin(p, TD_THREAD);
    pb_varint_field(p, THREAD_PID, tr->pid);
    pb_varint_field(p, THREAD_TID, t->tid);
    pb_str_field(p, THREAD_NAME, name);
    pb_end(p);
    pb_end(p);
    emit(tr);
}

static void event_begin(struct pb *p, uint64_t ts, unsigned type, uint64_t track)
{
    pb_varint_field(p, PACKET_TIMESTAMP, ts);
    pb_begin(p, PACKET_TRACK_EVENT);
    pb_varint_field(p, TE_TYPE, type);
    pb_varint_field(p, TE_TRACK_UUID, track);
}

static void on_init(void *arg, const struct ahp_model *m, const struct ahp_event *e, uint32_t node)
{
    struct flame_trace *tr = arg;
    trace_set_base(tr, e->ts_ns);
    if (tr->err != 0 || trace_thread_of(tr, e->tid) == NULL)
        return;
    const char *label = trace_label(tr, m, node);
    struct pb *p = packet(tr);
    if (to_intern(tr, node, SENT_INIT)) {
        char name[AHP_LABEL_SIZE + 8];
        snprintf(name, sizeof(name), "init %s", label);
        intern(tr, ID_EVENT_NAMES, NAME_INIT(node), name);
    }
    intern_done(tr);
    event_begin(p, e->ts_ns, INSTANT, UUID_THREAD(e->tid));
    pb_varint_field(p, TE_CATEGORY_IIDS, CAT_INIT);
    pb_varint_field(p, TE_NAME_IID, NAME_INIT(node));
    pb_fixed64_field(p, TE_FLOW_IDS, e->id);
    annotation_uint(p, ARG_ASYNC_ID, e->id);
    annotation_uint(p, ARG_TRIGGER_ID, e->trigger_id);
    pb_end(p);
    emit(tr);
}

static void opened(struct flame_trace *tr, struct trace_thread *t, struct trace_cb *cb,
                   const struct ahp_model *m)
{
    struct pb *p = packet(tr);
    if (to_intern(tr, cb->node, SENT_CALLBACK))
        intern(tr, ID_EVENT_NAMES, NAME_CALLBACK(cb->node), trace_label(tr, m, cb->node));
    /* The async stack trace: this resource's frame first, then the frames that created it,
     * 255 at most and then (deeper), as the other formats. Its new strings first. */
    uint32_t k = 0;
    for (uint32_t a = cb->node;
         a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes && k++ < FLAME_DEPTH_MAX - 1;
         a = m->nodes[a].parent)
        if (to_intern(tr, a, SENT_FRAME))
            intern(tr, ID_DEBUG_ANNOTATION_STRINGS, STR_NODE(a), trace_label(tr, m, a));
    intern_done(tr);
    event_begin(p, cb->start_ns, SLICE_BEGIN, UUID_THREAD(t->tid));
    pb_varint_field(p, TE_CATEGORY_IIDS, CAT_CALLBACK);
    pb_varint_field(p, TE_NAME_IID, NAME_CALLBACK(cb->node));
    pb_fixed64_field(p, TE_FLOW_IDS, cb->id);
    annotation_uint(p, ARG_ASYNC_ID, cb->id);
    pb_begin(p, TE_DEBUG_ANNOTATIONS);
    pb_varint_field(p, DA_NAME_IID, ARG_ASYNC_STACK);
    k = 0;
    for (uint32_t a = cb->node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent) {
        pb_begin(p, DA_ARRAY);
        bool deeper = k++ == FLAME_DEPTH_MAX - 1;
        pb_varint_field(p, DA_STRING_IID, deeper ? STR_DEEPER : STR_NODE(a));
        pb_end(p);
        if (deeper)
            break;
    }
    pb_end(p);
    pb_end(p);
    emit(tr);
}

static void closed(struct flame_trace *tr, struct trace_thread *t, const struct trace_cb *cb,
                   const struct ahp_model *m, uint64_t end_ns, uint64_t exclusive_ns,
                   const char *why)
{
    (void)m;
    struct pb *p = packet(tr);
    event_begin(p, end_ns > cb->start_ns ? end_ns : cb->start_ns, SLICE_END, UUID_THREAD(t->tid));
    if (why == NULL) {
        annotation_uint(p, ARG_EXCLUSIVE_NS, exclusive_ns);
    } else {
        pb_begin(p, TE_DEBUG_ANNOTATIONS);
        pb_varint_field(p, DA_NAME_IID,
                        strcmp(why, "incomplete") == 0 ? ARG_INCOMPLETE : ARG_UNFINISHED);
        pb_varint_field(p, DA_BOOL, 1);
        pb_end(p);
    }
    pb_end(p);
    emit(tr);
}

static int begin(struct flame_trace *tr)
{
    struct perfetto *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    pb_init(&s->p);
    s->first = true;
    tr->format_state = s;
    const struct ahp_file_meta *meta = tr->run->meta;
    char comm[80];
    if (meta->has_info)
        ahp_label_safe(comm, sizeof(comm), meta->info.comm, sizeof(meta->info.comm));
    else
        snprintf(comm, sizeof(comm), "unknown");
    struct pb *p = packet(tr);
    pb_begin(p, PACKET_TRACK_DESCRIPTOR);
    pb_varint_field(p, TD_UUID, UUID_PROCESS);
    pb_begin(p, TD_PROCESS);
    pb_varint_field(p, PROCESS_PID, tr->pid);
    pb_str_field(p, PROCESS_NAME, comm);
    pb_end(p);
    pb_end(p);
    emit(tr);
    return tr->err;
}

/* A counter sample of type class CLS, its track described first if new. */
static void counter(struct flame_trace *tr, const struct ahp_model *m, int32_t cls, uint64_t ts)
{
    struct perfetto *s = state(tr);
    struct pb *p;
    if (!s->counted[cls]) {
        s->counted[cls] = true;
        char raw[AHP_NAME_SIZE], safe[AHP_LABEL_SIZE], name[AHP_LABEL_SIZE + 8];
        ahp_label_safe(safe, sizeof(safe), ahp_model_class_name(m, cls, raw), AHP_NAME_SIZE);
        snprintf(name, sizeof(name), "live %s", safe);
        p = packet(tr);
        pb_begin(p, PACKET_TRACK_DESCRIPTOR);
        pb_varint_field(p, TD_UUID, UUID_COUNTER(cls));
        pb_varint_field(p, TD_PARENT_UUID, UUID_PROCESS);
        pb_str_field(p, TD_NAME, name);
        pb_begin(p, TD_COUNTER);
        pb_varint_field(p, COUNTER_UNIT, UNIT_COUNT);
        pb_end(p);
        pb_end(p);
        emit(tr);
    }
    p = packet(tr);
    event_begin(p, ts, COUNTER, UUID_COUNTER(cls));
    pb_int64_field(p, TE_COUNTER_VALUE, s->live[cls]);
    pb_end(p);
    emit(tr);
}

/*
 * The live counters, from a second pass over the events (the model has no hook for
 * destructions): as the model counts them, the live count of a type is its snapshot at
 * attach plus its creations minus its destructions, those already in the snapshot excepted.
 * A type starts at its snapshot count when it has one, at the first event.
 */
static int counters(struct flame_trace *tr)
{
    struct perfetto *s = state(tr);
    const struct ahp_model *m = tr->run->m;
    const struct ahp_file_meta *meta = tr->run->meta;
    struct ahp_reader *r = tr->run->r;
    bool started = false;
    struct ahp_event e;
    int rc = 0;
    ahp_reader_rewind(r);
    while (tr->err == 0 && (rc = ahp_reader_next_event(r, &e)) > 0) {
        if (!started) {
            started = true;
            for (int32_t c = 0;
                 meta->has_snapshot && c < AHP_TYPE_MAX && (uint32_t)c < meta->snapshot_ntypes; c++)
                if ((s->live[c] = meta->snapshot[c]) != 0)
                    counter(tr, m, c, e.ts_ns);
        }
        if ((e.kind != AHP_EV_INIT && e.kind != AHP_EV_DESTROY) || (e.flags & AHP_F_IN_SNAPSHOT))
            continue;
        int32_t c = e.type >= 0 && e.type < AHP_TYPE_MAX ? e.type : AHP_M_INVALID;
        /* Wrapping, as the model: a hostile file must not make this undefined. */
        s->live[c] = (int64_t)((uint64_t)s->live[c] + (e.kind == AHP_EV_INIT ? 1 : (uint64_t)-1));
        counter(tr, m, c, e.ts_ns);
    }
    ahp_reader_rewind(r);
    return tr->err != 0 ? tr->err : rc;
}

static int end(struct flame_trace *tr)
{
    return counters(tr);
}

static void free_state(struct flame_trace *tr)
{
    struct perfetto *s = state(tr);
    if (s != NULL) {
        pb_free(&s->p);
        free(s->sent);
    }
    free(s);
    tr->format_state = NULL;
}

const struct trace_format trace_perfetto = {
    .on_init = on_init,
    .begin = begin,
    .thread_added = thread_added,
    .opened = opened,
    .closed = closed,
    .end = end,
    .free = free_state,
};
