/*
 * trace_chrome.c - Chrome trace JSON (Perfetto UI, chrome://tracing), streamed while the model
 * reads the events: one "X" slice per callback on its thread, named after the resource's
 * async frame, with its async stack trace in args; one zero-length "init" slice where each
 * resource was created; flows (bind_id + flow_out/flow_in, the trace format's "v2" flows)
 * from the creation slice through each callback of the resource, in order; "M" events naming
 * the process and threads. One event per line.
 */
#include <inttypes.h>

#include "export/trace_int.h"

/* Microseconds since the base, to the nanosecond, as the format wants them. */
static void put_ts(struct flame_trace *tr, uint64_t ts)
{
    ahp_json_i64_scaled(&tr->json, (int64_t)(ts - tr->base_ns), 3);
}

static void event_begin(struct flame_trace *tr, const char *ph)
{
    struct ahp_json *w = &tr->json;
    ahp_json_newline(w, 0);
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "ph", ph);
}

static void ids(struct flame_trace *tr, uint32_t tid)
{
    ahp_json_field_u64(&tr->json, "pid", tr->pid);
    ahp_json_field_u64(&tr->json, "tid", tid);
}

static void thread_added(struct flame_trace *tr, const struct trace_thread *t)
{
    struct ahp_json *w = &tr->json;
    event_begin(tr, "M");
    ahp_json_field_str(w, "name", "thread_name");
    ids(tr, t->tid);
    ahp_json_key(w, "args");
    ahp_json_object_begin(w);
    ahp_json_key(w, "name");
    ahp_json_strf(w, "%s %" PRIu32, trace_thread_kind(tr, t->tid), t->tid);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
}

static void on_init(void *arg, const struct ahp_model *m, const struct ahp_event *e, uint32_t node)
{
    struct flame_trace *tr = arg;
    struct ahp_json *w = &tr->json;
    trace_set_base(tr, e->ts_ns);
    if (trace_thread_of(tr, e->tid) == NULL)
        return;
    event_begin(tr, "X");
    ahp_json_field_str(w, "cat", "init");
    ahp_json_key(w, "name");
    ahp_json_strf(w, "init %s", trace_label(tr, m, node));
    ids(tr, e->tid);
    ahp_json_key(w, "ts");
    put_ts(tr, e->ts_ns);
    ahp_json_field_u64(w, "dur", 0);
    ahp_json_key(w, "bind_id");
    ahp_json_strf(w, "0x%" PRIx64, (uint64_t)e->id);
    ahp_json_field_bool(w, "flow_out", true);
    ahp_json_key(w, "args");
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "async_id", e->id);
    ahp_json_field_u64(w, "trigger_id", e->trigger_id);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
}

static void closed(struct flame_trace *tr, struct trace_thread *t, const struct trace_cb *cb,
                   const struct ahp_model *m, uint64_t end_ns, uint64_t exclusive_ns,
                   const char *why)
{
    struct ahp_json *w = &tr->json;
    event_begin(tr, "X");
    ahp_json_field_str(w, "cat", "callback");
    ahp_json_field_str(w, "name", trace_label(tr, m, cb->node));
    ids(tr, t->tid);
    ahp_json_key(w, "ts");
    put_ts(tr, cb->start_ns);
    ahp_json_key(w, "dur");
    ahp_json_u64_scaled(w, end_ns > cb->start_ns ? end_ns - cb->start_ns : 0, 3);
    ahp_json_key(w, "bind_id");
    ahp_json_strf(w, "0x%" PRIx64, cb->id);
    ahp_json_field_bool(w, "flow_in", true);
    ahp_json_field_bool(w, "flow_out", true);
    ahp_json_key(w, "args");
    ahp_json_object_begin(w);
    ahp_json_field_u64(w, "async_id", cb->id);
    if (why == NULL) {
        ahp_json_key(w, "exclusive_us");
        ahp_json_u64_scaled(w, exclusive_ns, 3);
    } else {
        ahp_json_field_bool(w, why, true);
    }
    /* The async stack trace: this resource's frame first, then the frames that created it. */
    ahp_json_key(w, "async_stack");
    ahp_json_array_begin(w);
    uint32_t k = 0;
    for (uint32_t a = cb->node; a != AHP_NODE_NONE && a != AHP_NODE_ROOT && a < m->nnodes;
         a = m->nodes[a].parent) {
        if (k++ == FLAME_DEPTH_MAX - 1) { /* as the other formats: 255 frames, (deeper) */
            ahp_json_str(w, "(deeper)");
            break;
        }
        ahp_json_str(w, trace_label(tr, m, a));
    }
    ahp_json_array_end(w);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
}

static int begin(struct flame_trace *tr)
{
    const struct ahp_file_meta *meta = tr->run->meta;
    struct ahp_json *w = &tr->json;
    char target[300], comm[80];
    trace_target_label(tr->run, target, sizeof(target));
    if (meta->has_info)
        ahp_label_safe(comm, sizeof(comm), meta->info.comm, sizeof(meta->info.comm));
    else
        snprintf(comm, sizeof(comm), "unknown");
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "displayTimeUnit", "ns");
    ahp_json_key(w, "otherData");
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "exporter", "ahprof");
    ahp_json_field_str(w, "target", target);
    ahp_json_field_u64(w, "lost_events", meta->lost_events);
    ahp_json_object_end(w);
    ahp_json_newline(w, 0);
    ahp_json_key(w, "traceEvents");
    ahp_json_array_begin(w);
    event_begin(tr, "M");
    ahp_json_field_str(w, "name", "process_name");
    ids(tr, tr->pid);
    ahp_json_key(w, "args");
    ahp_json_object_begin(w);
    ahp_json_field_str(w, "name", comm);
    ahp_json_object_end(w);
    ahp_json_object_end(w);
    return 0;
}

static int end(struct flame_trace *tr)
{
    ahp_json_newline(&tr->json, 0);
    ahp_json_array_end(&tr->json);
    ahp_json_object_end(&tr->json);
    return trace_json_result(&tr->json);
}

const struct trace_format trace_chrome = {
    .on_init = on_init,
    .begin = begin,
    .thread_added = thread_added,
    .opened = NULL, /* a slice is written whole when it ends */
    .closed = closed,
    .end = end,
};
