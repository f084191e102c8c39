/* top_serve.c - several targets and /metrics for `top` (top_serve.h). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/top_serve.h"
#include "collect/kernel.h"
#include "common/util.h"

static bool kernel_figures(const struct ahp_kernel_stats *k)
{
    return k->cpu_samples || k->blocked_count || k->preempted_count || k->runq_count;
}

/* Whether NAME is taken by one of the first N types of T or by a kernel-view slot's label. */
static bool name_taken(const struct ahp_prom_target *t, int n, const char *name)
{
    if (strcmp(name, AHP_PROM_OUTSIDE) == 0 || strcmp(name, AHP_PROM_UNTAGGED) == 0)
        return true;
    for (int k = 0; k < n; k++)
        if (strcmp(t->types[k].name, name) == 0)
            return true;
    return false;
}

/* What one target's counters are now, for a scrape. */
static void scrape_target(struct ahp_session *s, struct ahp_kernel_view *kv,
                          struct ahp_prom_target *t)
{
    static struct ahp_type_stats now[AHP_TYPE_MAX];
    static struct ahp_kernel_stats know[AHP_KSLOTS];
    int64_t active[AHP_TYPE_MAX];
    struct ahp_global_stats g;
    struct ahp_collector *c = &s->collector;
    memset(t, 0, offsetof(struct ahp_prom_target, types));
    t->pid = s->target.pid;
    memcpy(t->comm, s->target.comm, sizeof(s->target.comm));
    t->comm[sizeof(t->comm) - 1] = '\0';
    t->running = !s->target_exited;
    if (ahp_collector_type_stats(c, now) < 0 || ahp_collector_global_stats(c, &g) < 0)
        return; /* out of memory: the target's line says it runs, with no figures */
    ahp_collector_active(c, now, active);
    if (kv && ahp_kernel_stats(kv, know) == 0) {
        t->kernel = true;
        t->hz = ahp_kernel_hz(kv);
        t->outside = know[AHP_KSLOT_OUTSIDE];
        t->untagged = know[AHP_KSLOT_UNTAGGED];
    }
    t->events = g.events;
    t->lost_events = g.lost_events;
    t->unmatched_after = g.unmatched_after;
    t->malformed_batches = g.batch_malformed;
    t->malformed_records = g.records_malformed;
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        if (!(now[i].created || now[i].destroyed || now[i].callbacks || active[i] ||
              now[i].resolved || (t->kernel && kernel_figures(&know[i]))))
            continue;
        struct ahp_prom_type *ty = &t->types[t->ntypes];
        char name[AHP_NAME_SIZE];
        ahp_collector_type_name(c, &s->target, i, name);
        ahp_strlcpy(ty->name, name, sizeof(ty->name));
        /* libah never registers a name twice, but the names are the target's to write: two
         * series with the same labels would make Prometheus drop one. */
        if (name_taken(t, t->ntypes, ty->name))
            snprintf(ty->name + strlen(name), sizeof(ty->name) - strlen(name), "#%d", i);
        ty->type_id = i;
        ty->live = active[i];
        ty->stats = now[i];
        if (t->kernel)
            ty->kernel = know[i];
        t->ntypes++;
    }
}

static int handle(void *ctx, const char *path, FILE *out, const char **content_type)
{
    struct top_serve *sv = ctx;
    if (strcmp(path, "/") == 0) {
        fputs("ahprof top: metrics at /metrics\n", out);
        return 200;
    }
    if (strcmp(path, "/metrics") != 0)
        return 404;
    for (int i = 0; i < sv->nsessions; i++)
        scrape_target(sv->sessions[i], sv->kernel[i], &sv->scrape[i]);
    *content_type = AHP_PROM_CONTENT_TYPE;
    return ahp_prom_write(out, sv->scrape, sv->nsessions) < 0 ? 500 : 200;
}

int top_serve_open(struct top_serve *sv, const char *addr, bool json)
{
    memset(sv, 0, sizeof(*sv));
    sv->httpd.listen_fd = -1;
    if (addr == NULL)
        return 0;
    sv->scrape = calloc(AHP_TOP_MAX_TARGETS, sizeof(*sv->scrape));
    if (sv->scrape == NULL)
        return ahp_fail(json, AHP_EXIT_ERROR, "--serve: out of memory");
    const char *why = NULL;
    int rc = ahp_httpd_open(&sv->httpd, addr, handle, sv, &why);
    if (rc == -EINVAL && why)
        return ahp_fail(json, AHP_EXIT_USAGE,
                        "invalid --serve address '%s': %s (expected ADDR:PORT, [ADDR]:PORT or "
                        "PORT)",
                        addr, why);
    if (rc < 0)
        return ahp_fail(json, AHP_EXIT_ERROR, "--serve %s: cannot listen there: %s", addr,
                        strerror(-rc));
    sv->serving = true;
    return 0;
}

void top_serve_add(struct top_serve *sv, struct ahp_session *s, struct ahp_kernel_view *kv)
{
    if (sv->nsessions < AHP_TOP_MAX_TARGETS) {
        sv->kernel[sv->nsessions] = kv;
        sv->sessions[sv->nsessions++] = s;
    }
}

void top_serve_started(const struct top_serve *sv)
{
    if (sv->serving)
        fprintf(stderr, "ahprof: serving http://%s/metrics\n", sv->httpd.bound);
}

int top_serve_wait(struct top_serve *sv, int timeout_ms)
{
    uint64_t deadline = ahp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        struct pollfd fds[2 * AHP_TOP_MAX_TARGETS + AHP_HTTPD_POLLFDS];
        int n = 0, running = 0;
        for (int i = 0; i < sv->nsessions; i++) {
            struct ahp_session *s = sv->sessions[i];
            if (s->target_exited)
                continue;
            running++;
            if (s->target.pidfd >= 0)
                fds[n++] = (struct pollfd){.fd = s->target.pidfd, .events = POLLIN};
            if (s->collector.rb)
                fds[n++] =
                    (struct pollfd){.fd = ring_buffer__epoll_fd(s->collector.rb), .events = POLLIN};
        }
        if (running == 0)
            return 1;
        if (sv->serving)
            n += ahp_httpd_pollfds(&sv->httpd, fds + n);
        uint64_t now = ahp_now_ns();
        if (ahp_stop_requested || now >= deadline)
            return 0;
        int slice = (int)((deadline - now) / 1000000ull);
        /* The ring buffer wakes us only for big batches, and a target without a pidfd
         * (an old kernel) only by its absence: look at both every 100 ms. */
        if (slice > 100)
            slice = 100;
        if (poll(fds, (nfds_t)n, slice) < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < sv->nsessions; i++) {
            struct ahp_session *s = sv->sessions[i];
            if (s->target_exited)
                continue;
            int rc = ahp_session_wait(s, 0);
            if (rc < 0)
                return rc;
        }
        if (sv->serving)
            ahp_httpd_step(&sv->httpd);
    }
}

void top_serve_close(struct top_serve *sv)
{
    if (sv->serving)
        ahp_httpd_close(&sv->httpd, 500000000ull);
    sv->serving = false;
    free(sv->scrape);
    sv->scrape = NULL;
}
