/* top_lints.c - the live lints of top and its console: see top_lints.h, docs/lints.md. */
#include <stdio.h>
#include <string.h>

#include "cmd/top_lints.h"

bool ahp_top_live_scan(struct ahp_live_lints *l, struct ahp_collector *c, uint64_t t_ns,
                       uint64_t oldest[AHP_TYPE_MAX], uint64_t tracked[AHP_TYPE_MAX],
                       ahp_live_visit_fn visit, void *ctx)
{
    if (!c->skel || c->live_table == NULL) {
        ahp_live_lints_scan(l, NULL, 0, t_ns, oldest, tracked, NULL, NULL);
        return false;
    }
    ahp_live_lints_scan(l, c->live_table, c->live_slots, t_ns, oldest, tracked, visit, ctx);
    return true;
}

struct reasons_ctx {
    struct ahp_live_blocking *b;
};

/* Keep the AHP_LIVE_REASONS largest of each type, most blocked first. Preemption is not
 * blocking (the callback wanted to run): it is left out. */
static int keep_reason(int slot, int reason, uint64_t count, uint64_t ns, void *arg)
{
    struct reasons_ctx *ctx = arg;
    (void)count;
    if (slot < 0 || slot >= AHP_TYPE_MAX || reason == AHP_KR_PREEMPTED || ns == 0)
        return 0;
    struct ahp_live_blocking *b = ctx->b;
    int n = b->nreasons[slot], at = n;
    while (at > 0 && b->reason_ns[slot][at - 1] < ns)
        at--;
    if (at >= AHP_LIVE_REASONS)
        return 0;
    int last = n < AHP_LIVE_REASONS ? n : AHP_LIVE_REASONS - 1;
    for (int k = last; k > at; k--) {
        b->reason[slot][k] = b->reason[slot][k - 1];
        b->reason_ns[slot][k] = b->reason_ns[slot][k - 1];
    }
    b->reason[slot][at] = reason;
    b->reason_ns[slot][at] = ns;
    if (n < AHP_LIVE_REASONS)
        b->nreasons[slot] = n + 1;
    return 0;
}

void ahp_top_blocking(struct ahp_kernel_view *kv, const struct ahp_kernel_stats *know,
                      struct ahp_live_blocking *b)
{
    memset(b, 0, sizeof(*b));
    if (kv == NULL)
        return;
    struct reasons_ctx ctx = {b};
    if (ahp_kernel_reasons(kv, keep_reason, &ctx) < 0) {
        memset(b, 0, sizeof(*b));
        return;
    }
    for (int t = 0; t < AHP_TYPE_MAX; t++)
        b->blocked_ns[t] = know[t].blocked_ns;
    b->on = true;
}

static double blocked_share(const struct ahp_live_warning *w)
{
    return w->callback_ns ? 100.0 * (double)w->blocked_ns / (double)w->callback_ns : 0.0;
}

/* "N anomalies: A after-without-before, D double-destroy" (the kinds counted, in order). */
static void lifecycle_text(const struct ahp_live_warning *w, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%llu since attach:", (unsigned long long)w->count);
    const char *sep = " ";
    for (int k = 0; k < AHP_LC_KINDS && n < size; k++) {
        if (w->kinds[k] == 0)
            continue;
        n += (size_t)snprintf(buf + n, size - n, "%s%llu %s", sep, (unsigned long long)w->kinds[k],
                              ahp_lifecycle_kind_name(k));
        sep = ", ";
    }
}

void ahp_top_lint_text(const struct ahp_live_warning *w, char *buf, size_t size)
{
    char rb[32];
    size_t n = 0;
    switch (w->lint) {
    case AHP_LINT_LONG_CALLBACK:
        n = (size_t)snprintf(buf, size,
                             "at least %llu callbacks over the threshold, longest %.1f ms",
                             (unsigned long long)w->count, (double)w->max_ns / 1e6);
        if (w->kernel && n < size) {
            n += (size_t)snprintf(buf + n, size - n, "; blocked %.1f ms (%.0f%% of its callbacks)",
                                  (double)w->blocked_ns / 1e6, blocked_share(w));
            for (int k = 0; k < w->nreasons && n < size; k++)
                n += (size_t)snprintf(buf + n, size - n, "%s %s %.1f ms", k ? "," : " in",
                                      ahp_kernel_reason_name(w->reason[k], rb),
                                      (double)w->reason_ns[k] / 1e6);
        }
        break;
    case AHP_LINT_LEAK_SLOPE:
        snprintf(buf, size, "active +%lld over %.1f s, %.1f/s", (long long)w->grown,
                 (double)w->window_ns / 1e9, w->rate_per_s);
        break;
    case AHP_LINT_NEVER_RAN:
        snprintf(buf, size, "%llu alive with no callback yet, oldest #%llu for %.1f s",
                 (unsigned long long)w->count, (unsigned long long)w->id, (double)w->age_ns / 1e9);
        break;
    case AHP_LINT_ORPHAN:
        snprintf(buf, size,
                 "%llu alive, idle, %.1f s after their trigger went (e.g. #%llu of #%llu)",
                 (unsigned long long)w->count, (double)w->age_ns / 1e9, (unsigned long long)w->id,
                 (unsigned long long)w->trigger_id);
        break;
    case AHP_LINT_SELF_RETRIGGER:
        snprintf(buf, size,
                 "%llu created inside a callback of their own type in %.1f s, %.0f/s "
                 "(one every %.2f us)",
                 (unsigned long long)w->count, (double)w->window_ns / 1e9, w->rate_per_s,
                 w->count ? (double)w->window_ns / (double)w->count / 1e3 : 0.0);
        break;
    case AHP_LINT_LIFECYCLE:
        lifecycle_text(w, buf, size);
        break;
    default:
        snprintf(buf, size, "%llu", (unsigned long long)w->count);
        break;
    }
}

/* "kinds": {...} as report's (docs/lints.md): every kind, 0 for those not counted. */
static void lifecycle_kinds_json(struct ahp_json *j, const struct ahp_live_warning *w)
{
    ahp_json_key(j, "kinds");
    ahp_json_object_begin(j);
    for (int k = 0; k < AHP_LC_KINDS; k++)
        ahp_json_field_u64(j, ahp_lifecycle_kind_name(k), w->kinds[k]);
    ahp_json_object_end(j);
}

void ahp_top_lints_json(struct ahp_json *j, const struct ahp_live_warning *lw, uint32_t n,
                        const char (*names)[AHP_NAME_SIZE])
{
    char rb[32];
    ahp_json_key(j, "warnings");
    ahp_json_array_begin(j);
    for (uint32_t i = 0; i < n; i++) {
        const struct ahp_live_warning *w = &lw[i];
        ahp_json_object_begin(j);
        ahp_json_field_str(j, "lint", ahp_lint_name(w->lint));
        ahp_json_field_strn(j, "type", names[w->type], AHP_NAME_SIZE);
        ahp_json_field_i64(j, "type_id", w->type);
        ahp_json_field_u64(j, "count", w->count);
        if (w->lint == AHP_LINT_LIFECYCLE)
            lifecycle_kinds_json(j, w);
        ahp_json_key(j, "example");
        ahp_json_object_begin(j);
        switch (w->lint) {
        case AHP_LINT_LONG_CALLBACK:
            ahp_json_field_u64(j, "max_ns", w->max_ns);
            if (!w->kernel)
                break;
            ahp_json_field_u64(j, "blocked_ns", w->blocked_ns);
            ahp_json_field_real(j, "blocked_pct", blocked_share(w), 1);
            if (w->nreasons > 0)
                ahp_json_field_str(j, "blocked_reason", ahp_kernel_reason_name(w->reason[0], rb));
            else
                ahp_json_field_null(j, "blocked_reason");
            ahp_json_key(j, "blocked_reasons");
            ahp_json_array_begin(j);
            for (int k = 0; k < w->nreasons; k++) {
                ahp_json_object_begin(j);
                ahp_json_field_str(j, "reason", ahp_kernel_reason_name(w->reason[k], rb));
                ahp_json_field_u64(j, "ns", w->reason_ns[k]);
                ahp_json_object_end(j);
            }
            ahp_json_array_end(j);
            break;
        case AHP_LINT_LEAK_SLOPE:
            ahp_json_field_i64(j, "grown", w->grown);
            ahp_json_field_real(j, "rate_per_s", w->rate_per_s, 2);
            ahp_json_field_u64(j, "window_ns", w->window_ns);
            break;
        case AHP_LINT_NEVER_RAN:
            ahp_json_field_u64(j, "id", w->id);
            ahp_json_field_u64(j, "age_ns", w->age_ns);
            ahp_json_field_u64(j, "trigger_id", w->trigger_id);
            break;
        case AHP_LINT_ORPHAN:
            ahp_json_field_u64(j, "id", w->id);
            ahp_json_field_u64(j, "trigger_id", w->trigger_id);
            ahp_json_field_u64(j, "orphaned_ns", w->age_ns);
            break;
        case AHP_LINT_SELF_RETRIGGER:
            ahp_json_field_real(j, "rate_per_s", w->rate_per_s, 1);
            ahp_json_field_u64(j, "window_ns", w->window_ns);
            ahp_json_field_u64(j, "gap_ns", w->count ? w->window_ns / w->count : 0);
            break;
        default:
            break;
        }
        ahp_json_object_end(j);
        ahp_json_object_end(j);
    }
    ahp_json_array_end(j);
}
