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
    TE_DEBUG_ANNOTATIONS = 4,
    TE_TYPE = 9,
    TE_TRACK_UUID = 11,
    TE_CATEGORIES = 22,
    TE_NAME = 23,
    TE_COUNTER_VALUE = 30,
    TE_FLOW_IDS = 47,
    /* DebugAnnotation */
    DA_BOOL = 2,
    DA_UINT = 3,
    DA_STRING = 6,
    DA_NAME = 10,
    DA_ARRAY = 12,
};
enum { SLICE_BEGIN = 1, SLICE_END = 2, INSTANT = 3, COUNTER = 4 };
enum { SEQ_INCREMENTAL_STATE_CLEARED = 1 };
enum { UNIT_COUNT = 2 };

/* Track uuids: the process, its threads (by tid) and the live counters (by type class) in
 * ranges of their own. */
#define SEQUENCE_ID 1
#define UUID_PROCESS 1ull
#define UUID_THREAD(tid) (0x100000000ull + (tid))
#define UUID_COUNTER(cls) (0x200000000ull + (uint64_t)(cls))

struct perfetto {
    struct pb p;
    bool first; /* the next packet is the sequence's first */
    int64_t live[AHP_M_TYPES];
    bool counted[AHP_M_TYPES]; /* its counter track is described */
};

static struct perfetto *state(struct flame_trace *tr)
{
    return tr->format_state;
}

/* A new packet in the buffer: the fields every packet has. */
static struct pb *packet(struct flame_trace *tr)
{
    struct perfetto *s = state(tr);
    pb_clear(&s->p);
    pb_varint_field(&s->p, PACKET_SEQUENCE_ID, SEQUENCE_ID);
    if (s->first) {
        pb_varint_field(&s->p, PACKET_SEQUENCE_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED);
        s->first = false;
    }
    return &s->p;
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

static void annotation_uint(struct pb *p, const char *name, uint64_t v)
{
    pb_begin(p, TE_DEBUG_ANNOTATIONS);
    pb_str_field(p, DA_NAME, name);
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
    event_begin(p, e->ts_ns, INSTANT, UUID_THREAD(e->tid));
    pb_str_field(p, TE_CATEGORIES, "init");
    char name[AHP_LABEL_SIZE + 8];
    snprintf(name, sizeof(name), "init %s", label);
    pb_str_field(p, TE_NAME, name);
    pb_fixed64_field(p, TE_FLOW_IDS, e->id);
    annotation_uint(p, "async_id", e->id);
    annotation_uint(p, "trigger_id", e->trigger_id);
    pb_end(p);
    emit(tr);
}

static void opened(struct flame_trace *tr, struct trace_thread *t, struct trace_cb *cb,
                   const struct ahp_model *m)
{
    struct pb *p = packet(tr);
    event_begin(p, cb->start_ns, SLICE_BEGIN, UUID_THREAD(t->tid));
    pb_str_field(p, TE_CATEGORIES, "callback");
    pb_str_field(p, TE_NAME, trace_label(tr, m, cb->node));
    pb_fixed64_field(p, TE_FLOW_IDS, cb->id);
    annotation_uint(p, "async_id", cb->id);
    /* The async stack trace: this resource's frame first, then the frames that created it. */
    pb_begin(p, TE_DEBUG_ANNOTATIONS);
    pb_str_field(p, DA_NAME, "async_stack");
    uint32_t k = 0;
    for (uint32_t a = cb->node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent) {
        pb_begin(p, DA_ARRAY);
        if (k++ == FLAME_DEPTH_MAX - 1) { /* as the other formats: 255 frames, (deeper) */
            pb_str_field(p, DA_STRING, "(deeper)");
            pb_end(p);
            break;
        }
        pb_str_field(p, DA_STRING, trace_label(tr, m, a));
        pb_end(p);
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
        annotation_uint(p, "exclusive_ns", exclusive_ns);
    } else {
        pb_begin(p, TE_DEBUG_ANNOTATIONS);
        pb_str_field(p, DA_NAME, why);
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
    if (s != NULL)
        pb_free(&s->p);
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
