/*
 * top_serve.h - what `top` adds for several targets (`-p` more than once) and for
 * `--serve ADDR:PORT`: one session per target, waited on together, and the HTTP server of
 * /metrics (Prometheus text format) polled in the same loop, so that neither ever blocks the
 * collection.
 */
#ifndef AHP_TOP_SERVE_H
#define AHP_TOP_SERVE_H

#include <stdbool.h>

#include "collect/kernel.h"
#include "collect/session.h"
#include "common/httpd.h"
#include "export/prometheus.h"

#define AHP_TOP_MAX_TARGETS 16

struct top_serve {
    struct ahp_session *sessions[AHP_TOP_MAX_TARGETS];
    struct ahp_kernel_view *kernel[AHP_TOP_MAX_TARGETS]; /* per session; NULL: none */
    int nsessions;
    bool serving;
    struct ahp_httpd httpd;
    struct ahp_prom_target *scrape; /* one per session, filled at each scrape */
};

/* Without ADDR (NULL), only waits on the sessions. With it, listens there (before any attach,
 * so that a port in use or a bad address fails at once). Returns 0 or an exit code (error
 * printed). */
int top_serve_open(struct top_serve *sv, const char *addr, bool json);

/* Wait on S too (an opened session; at most AHP_TOP_MAX_TARGETS), and serve its figures and
 * those of KV, the kernel view started for it (NULL: --no-kernel, or it could not start: no
 * figures rather than zeros). */
void top_serve_add(struct top_serve *sv, struct ahp_session *s, struct ahp_kernel_view *kv);

/* Every target is attached: say where /metrics is served (stderr). */
void top_serve_started(const struct top_serve *sv);

/* Wait up to TIMEOUT_MS, reading every session's data and answering HTTP requests. Returns 1
 * once every target has exited (each session's target_exited says which did), else 0. */
int top_serve_wait(struct top_serve *sv, int timeout_ms);

/* Finish the responses under way (briefly) and stop listening; the sessions are the caller's. */
void top_serve_close(struct top_serve *sv);

#endif
