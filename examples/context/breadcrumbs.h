/*
 * breadcrumbs.h - a trail of what led to an error, attached to the error report.
 *
 * crumb() records a step for the rest of the current execution and for the work it
 * schedules afterwards, like ah_store_enter_with(): the trail of a piece of work is the
 * crumbs of its own causal chain, oldest first, and never those of a sibling branch or of
 * another request. The trail is an immutable linked list in a context store: adding a
 * crumb makes a new head pointing at the old one, so a branch never changes what another
 * branch sees.
 *
 * The example server uses it with --crumbs (examples/server/patterns.c).
 */
#ifndef CONTEXT_BREADCRUMBS_H
#define CONTEXT_BREADCRUMBS_H

#include <stdio.h>

int crumbs_open(FILE *reports); /* error reports go to REPORTS; 0 or -ENOMEM */
void crumbs_close(void);

struct crumbs_trail;

/* Start a trail (for one request) and run FN(ARG) in it. The trail owns its crumbs; free it
 * with crumbs_trail_free() once the request's work is done. NULL on failure (FN not run). */
struct crumbs_trail *crumbs_begin(void (*fn)(void *), void *arg);
void crumbs_trail_free(struct crumbs_trail *trail);

/* Add a crumb (printf format) to the current trail; outside any trail it is dropped. */
void crumb(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write an error report: one JSON line with the error and the current trail, oldest first,
 *   {"error":"db: connection reset","breadcrumbs":["request 7: GET /fail", ...]}
 * Safe from any thread; does nothing while crumbs are not open. */
void crumbs_report(const char *error);

#endif
