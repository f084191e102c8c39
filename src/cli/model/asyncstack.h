/*
 * asyncstack.h - async stacks: the trigger chain of a resource from the root, one frame per
 * ancestor, each frame labelled with its type and, when the recording has user stacks
 * (`ahprof record --stacks`), the site that created it: `REQ@request.c:142 request_start`.
 *
 * Creation sites come from the file's stack chunks. The site of a stack is its first frame
 * outside libah, i.e. the first frame whose function does not start with "ah_" (the probe
 * fires inside ah_init, which may be called through other ah_ helpers such as ah_bind).
 * Stacks that lead to the same (function, file, line) share one site, so the same creation
 * site reached from different callers is one frame, and a timer re-arming itself from the
 * same line is one repeated frame, which the model folds.
 *
 * Labels are built from untrusted strings (type names, symbols, file names) and made safe
 * once for every output format: see ahp_label_sanitize().
 */
#ifndef AHP_ASYNCSTACK_H
#define AHP_ASYNCSTACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/hashmap.h"
#include "data/datafile.h"
#include "model/model.h"

/* A label never exceeds this, NUL included (longer ones are cut, see ahp_label_sanitize). */
#define AHP_LABEL_SIZE 1024

/* At most this many distinct sites are kept; stacks beyond get no site (counted). */
#define AHP_SITES_MAX (1u << 20)

struct ahp_site {
    uint32_t line; /* 0: unknown */
    uint64_t ip;   /* of the site's frame, shown when the function is unknown */
    char *func;    /* raw, untrusted, NUL-terminated; "" when unknown */
    char *file;    /* raw, untrusted, NUL-terminated; "" when unknown */
};

struct ahp_sites {
    struct ahp_site *sites; /* sites[1..nsites]; sites[0] is unused (0 = no site) */
    uint32_t nsites;
    struct ahp_hmap stacks; /* stack id -> site (uint32_t) */
    /* Oddities, counted rather than trusted. */
    uint64_t stacks_in_libah_only; /* stacks without a frame outside libah */
    uint64_t stacks_redefined;     /* a stack id given twice: the first definition counts */
    uint64_t sites_dropped;        /* stacks beyond AHP_SITES_MAX sites */
};

/*
 * Read every stack chunk of R (a pass over the file's chunks, skipped at once when the file
 * has none) into *S. Negative errno on failure (-ENOMEM, I/O). Free with ahp_sites_free.
 */
int ahp_sites_load(struct ahp_sites **s, struct ahp_reader *r);
void ahp_sites_free(struct ahp_sites *s);

/* The site of STACK_ID: 1..nsites, or 0 when the file did not describe that stack. */
uint32_t ahp_sites_lookup(const struct ahp_sites *s, uint32_t stack_id);

/* ahp_model_opts.site_of for a struct ahp_sites passed as ARG. */
uint32_t ahp_sites_site_of(void *arg, uint32_t stack_id);

/* Pick the site frame of a stack (innermost first): the index of the first frame outside
 * libah (function not starting with "ah_"; an unsymbolized innermost frame counts as libah's,
 * since the probe fires in ah_init), or -1 when there is none. */
int ahp_site_frame(const struct ahp_stack_frame *frames, uint32_t n);

/*
 * Make the untrusted bytes S[0..LEN) safe for every output format, appending to DST (size
 * DSTSZ, *POS the current length, always NUL-terminated): printable ASCII is kept except
 * ';' and '\', which like control characters, DEL and bytes >= 0x80 become "\xNN". So a
 * label never holds ';' (the folded format's separator), a newline, an ESC or invalid
 * UTF-8; quotes and '<' '&' are kept: each output format escapes them its own way. Output
 * that does not fit is cut (never in the middle of an escape).
 */
void ahp_label_append(char *dst, size_t dstsz, size_t *pos, const char *s, size_t len);

/* Finish a label: an empty one becomes "?", and a last word that is a number (" 42",
 * " 1.5") has its space turned into '_', so that folded-format readers, which take the last
 * number on a line as its value (and two numbers as a differential profile), cannot misread
 * it. */
void ahp_label_finish(char *dst, size_t dstsz, size_t *pos);

/* A whole label at once: untrusted text (file name, target, comm) of at most MAX bytes. */
void ahp_label_safe(char *dst, size_t dstsz, const char *s, size_t max);

/*
 * The frame label of tree node NODE of M: its type, plus "@SITE" when it has a creation
 * site: "@file:line func", "@file func", "@func" or "@0xIP" from what is known. Roots are
 * "(root)", "(before attach)", "(other paths)". With TYPES_ONLY the site is left out.
 * Returns BUF (AHP_LABEL_SIZE bytes).
 */
const char *ahp_node_label(const struct ahp_model *m, const struct ahp_sites *s, uint32_t node,
                           int types_only, char buf[AHP_LABEL_SIZE]);

#endif
