/*
 * top_lints.h - the live lints (model/lints.h) as `top` and its console run them: one scan of
 * the live table per refresh, the kernel view's blocking joined to long-callback, and the
 * text and JSON of the warnings, shared by the batch output (top.c) and the console.
 */
#ifndef AHP_TOP_LINTS_H
#define AHP_TOP_LINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collect/collector.h"
#include "collect/kernel.h"
#include "common/json_writer.h"
#include "model/lints.h"

/* The live table's ages (oldest init per type, resources tracked per type), read in the same scan
 * as the live lints' never-ran and orphan (L may be NULL: ages only) and as VISIT's (may be NULL;
 * see ahp_live_lints_scan). False when there is no table. */
bool ahp_top_live_scan(struct ahp_live_lints *l, struct ahp_collector *c, uint64_t t_ns,
                       uint64_t oldest[AHP_TYPE_MAX], uint64_t tracked[AHP_TYPE_MAX],
                       ahp_live_visit_fn visit, void *ctx);

/* The kernel view's blocking per type (KNOW: its stats, as ahp_kernel_stats gives them) into
 * B; B->on false when KV is NULL or cannot be read. */
void ahp_top_blocking(struct ahp_kernel_view *kv, const struct ahp_kernel_stats *know,
                      struct ahp_live_blocking *b);

/* What a warning says after its lint and type, one line (no newline). */
void ahp_top_lint_text(const struct ahp_live_warning *w, char *buf, size_t size);

/* "warnings": [...] of top --json (docs/lints.md). NAMES: the raw type names. */
void ahp_top_lints_json(struct ahp_json *j, const struct ahp_live_warning *lw, uint32_t n,
                        const char (*names)[AHP_NAME_SIZE]);

#endif
