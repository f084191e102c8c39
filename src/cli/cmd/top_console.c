/*
 * top_console.c - the interactive `ahprof top`: the per-type table sortable by any column, the
 * live resources of one type (age, thread, trigger chain, from the BPF live table), a
 * warnings pane, and a launched program's output, redrawn every interval and at every key.
 *
 * Every string that comes from the target goes through ahp_term_sanitize before ncurses sees
 * it: ncurses would pass control bytes through to the terminal.
 */
#define _GNU_SOURCE
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/top.h"
#include "cmd/top_console.h"
#include "cmd/top_lints.h"
#include "collect/kernel.h"
#include "common/clock.h"
#include "common/escape.h"
#include "common/util.h"

enum column {
    COL_TYPE,
    COL_ACTIVE,
    COL_CREATED,
    COL_DESTROYED,
    COL_CALLBACKS,
    COL_SHARE,
    COL_CPU,
    COL_BLOCK_MS,
    COL_BLOCK_PCT,
    COL_P50,
    COL_P99,
    COL_MAX,
    COL_PEND50,
    COL_PEND99,
    COL_OLDEST,
    NCOLUMNS
};

static const struct {
    const char *title;
    int width;
} columns[NCOLUMNS] = {
    {"TYPE", 24}, {"ACTIVE", 9}, {"CREATED/s", 10}, {"DESTROYED/s", 11}, {"CALLBACKS/s", 11},
    {"CB%", 6},   {"CPU%", 6},   {"BLOCKms", 9},    {"BLOCK%", 6},       {"P50us", 9},
    {"P99us", 9}, {"MAXus", 9},  {"PEND50", 8},     {"PEND99", 8},       {"OLDEST", 9},
};

struct row {
    int type;
    char name[AHP_NAME_SIZE * 4 + 1]; /* sanitized */
    double value[NCOLUMNS];           /* what the column shows and sorts by */
    uint64_t exclusive_ns, callbacks; /* the batch output's order, to break ties */
    bool oldest_known, oldest_before_attach;
    bool kernel; /* the kernel view's columns have figures ("-" otherwise) */
};

/* One live resource of the type shown in the resource view. */
struct resource {
    uint64_t id, init_ns, trigger_id;
    uint32_t tid;
};

/* The resource view lists at most this many (the oldest first): a screen holds fewer, and the
 * count of the others is shown. */
#define RESOURCES_MAX 4096

#define WARNINGS_MAX 64
struct warning {
    char name[24]; /* the lint's stable name, or what the collector says of its own data */
    char text[200];
};

/* The last lines a launched program wrote (its stdout and stderr), sanitized. */
#define OUTPUT_LINES 64
#define OUTPUT_LINE_MAX 200

enum view { VIEW_TYPES, VIEW_RESOURCES };

struct console {
    struct ahp_session *s;
    int max_rows;
    /* the kernel view (NULL: off, or it could not start: kernel_error says why) */
    struct ahp_kernel_view *kv;
    uint32_t hz;
    struct ahp_kernel_stats kprev[AHP_KSLOTS];
    char kernel_error[160];
    /* the interval just measured */
    struct ahp_type_stats prev[AHP_TYPE_MAX];
    struct ahp_global_stats prev_global, global;
    uint64_t prev_ns;
    double events_per_s;
    struct row rows[AHP_TYPE_MAX];
    int nrows;
    bool measured;
    /* what the user chose */
    enum view view;
    int sort_col;
    bool reverse;
    int selected_type; /* follows its type when the order changes; -1 none */
    int scroll;        /* first resource shown */
    /* the resource view */
    struct resource res[RESOURCES_MAX];
    int nres;
    uint64_t res_tracked;         /* tracked resources of the type, listed or not */
    struct ahp_live_lints *lints; /* NULL when there was no memory for them */
    struct warning warnings[WARNINGS_MAX];
    int nwarnings, warnings_total; /* listed, and found (the pane says how many) */
    /* a launched program's output */
    int out_fd;
    char out_lines[OUTPUT_LINES][OUTPUT_LINE_MAX];
    int out_next, out_count;
    char out_partial[OUTPUT_LINE_MAX];
    size_t out_partial_len;
    uint64_t out_bytes;
    /* the end */
    bool exited;
    char exit_text[96];
};

bool ahp_console_wanted(void)
{
    return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

/* ---- measuring ------------------------------------------------------------------------ */

static int compare_rows(const void *a, const void *b, void *arg)
{
    const struct console *con = arg;
    const struct row *x = a, *y = b;
    int c = con->sort_col, order = 0;
    if (c == COL_TYPE)
        order = strcmp(x->name, y->name);
    else if (x->value[c] != y->value[c])
        order = x->value[c] < y->value[c] ? 1 : -1; /* largest first */
    if (order == 0 && x->exclusive_ns != y->exclusive_ns)
        order = x->exclusive_ns < y->exclusive_ns ? 1 : -1;
    if (order == 0 && x->callbacks != y->callbacks)
        order = x->callbacks < y->callbacks ? 1 : -1;
    if (order == 0)
        order = x->type - y->type;
    return con->reverse ? -order : order;
}

static void sort_rows(struct console *con)
{
    qsort_r(con->rows, (size_t)con->nrows, sizeof(con->rows[0]), compare_rows, con);
}

static void add_warning(struct console *con, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_warning(struct console *con, const char *name, const char *fmt, ...)
{
    con->warnings_total++;
    if (con->nwarnings >= WARNINGS_MAX)
        return;
    struct warning *w = &con->warnings[con->nwarnings++];
    snprintf(w->name, sizeof(w->name), "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text, sizeof(w->text), fmt, ap);
    va_end(ap);
}

/* The lints top can judge live (model/lints.h), then what the
 * collector itself knows is wrong with what it shows, which is never hidden. */
static void collect_warnings(struct console *con, const struct ahp_live_warning *lw, uint32_t nlw,
                             const char (*names)[AHP_NAME_SIZE])
{
    const struct ahp_global_stats *g = &con->global;
    con->nwarnings = con->warnings_total = 0;
    for (uint32_t i = 0; i < nlw; i++) {
        char name[AHP_NAME_SIZE * 4 + 1], text[512];
        int type = lw[i].type >= 0 && lw[i].type < AHP_TYPE_MAX ? lw[i].type : 0;
        ahp_term_sanitize(name, 41, names[type], AHP_NAME_SIZE);
        ahp_top_lint_text(&lw[i], text, sizeof(text));
        add_warning(con, ahp_lint_name(lw[i].lint), "%s: %s", name, text);
    }
    if (g->lost_events)
        add_warning(con, "lost-events",
                    "%llu events lost since attach (ring buffer full, or malformed)",
                    (unsigned long long)g->lost_events);
    if (g->live_untracked)
        add_warning(con, "live-table-full",
                    "%llu resources found their live-table slot taken: no age, not listed "
                    "(--max-live)",
                    (unsigned long long)g->live_untracked);
    if (g->live_destroys_forgotten)
        add_warning(con, "live-table-full",
                    "%llu destroys seen before their init were forgotten: their resources "
                    "may show alive (--max-live)",
                    (unsigned long long)g->live_destroys_forgotten);
    if (g->unmatched_after)
        add_warning(con, "unmatched-after",
                    "%llu callbacks ended without their start (attached mid-callback): "
                    "their time is not counted",
                    (unsigned long long)g->unmatched_after);
    if (g->batch_malformed || g->records_malformed)
        add_warning(con, "malformed",
                    "the target wrote %llu batches, %llu records libah never "
                    "would: dropped, counted in lost",
                    (unsigned long long)g->batch_malformed,
                    (unsigned long long)g->records_malformed);
    if (g->stack_overflow)
        add_warning(con, "deep-nesting",
                    "%llu callbacks nested deeper than %d: their time is not split",
                    (unsigned long long)g->stack_overflow, AHP_STACK_DEPTH);
    if (con->kernel_error[0])
        add_warning(con, "no-kernel-view", "%s", con->kernel_error);
}

/* The resource view's list, filled by the refresh's scan of the live table (below). */
static void visit_resource(const volatile struct ahp_live *slot, uint64_t id, int32_t type,
                           void *arg);
static void resources_begin(struct console *con);
static void resources_end(struct console *con);

static void measure(struct console *con)
{
    static struct ahp_type_stats now[AHP_TYPE_MAX];
    static struct ahp_kernel_stats know[AHP_KSLOTS];
    static struct ahp_live_blocking block;
    static char names[AHP_TYPE_MAX][AHP_NAME_SIZE];
    int64_t active[AHP_TYPE_MAX];
    uint64_t oldest[AHP_TYPE_MAX], tracked[AHP_TYPE_MAX];
    struct ahp_collector *c = &con->s->collector;
    struct ahp_target *t = &con->s->target;
    uint64_t t_ns = ahp_now_ns();
    double secs = (double)(t_ns - con->prev_ns) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    ahp_collector_type_stats(c, now);
    ahp_collector_global_stats(c, &con->global);
    ahp_collector_active(c, now, active);
    /* One scan of the live table: ages, the live lints, and the resource view's list. */
    bool listing = con->view == VIEW_RESOURCES;
    if (listing)
        resources_begin(con);
    bool ages = ahp_top_live_scan(con->lints, c, t_ns, oldest, tracked,
                                  listing ? visit_resource : NULL, con);
    if (listing)
        resources_end(con);
    bool kernel = con->kv != NULL && ahp_kernel_stats(con->kv, know) == 0;
    if (!kernel)
        memset(know, 0, sizeof(know));

    uint64_t total_exclusive = 0;
    for (int i = 0; i < AHP_TYPE_MAX; i++)
        total_exclusive += now[i].exclusive_ns - con->prev[i].exclusive_ns;
    con->nrows = 0;
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        /* A callback that runs since before the attach shows in samples only. */
        if (!(now[i].created || now[i].destroyed || now[i].callbacks || active[i] ||
              now[i].resolved || know[i].cpu_samples || know[i].blocked_count))
            continue;
        struct row *r = &con->rows[con->nrows++];
        const struct ahp_type_stats *p = &con->prev[i];
        struct ahp_type_stats d;
        memset(r, 0, sizeof(*r));
        r->type = i;
        ahp_collector_type_name(c, t, i, names[i]);
        ahp_term_sanitize(r->name, sizeof(r->name), names[i], AHP_NAME_SIZE);
        d.exclusive_ns = now[i].exclusive_ns - p->exclusive_ns;
        d.callbacks = now[i].callbacks - p->callbacks;
        for (int k = 0; k < AHP_HIST_SLOTS; k++)
            d.hist[k] = now[i].hist[k] - p->hist[k];
        r->exclusive_ns = d.exclusive_ns;
        r->callbacks = d.callbacks;
        r->value[COL_ACTIVE] = (double)active[i];
        r->value[COL_CREATED] = (double)(now[i].created - p->created) / secs;
        r->value[COL_DESTROYED] = (double)(now[i].destroyed - p->destroyed) / secs;
        r->value[COL_CALLBACKS] = (double)d.callbacks / secs;
        r->value[COL_SHARE] =
            total_exclusive ? 100.0 * (double)d.exclusive_ns / (double)total_exclusive : 0.0;
        r->kernel = kernel;
        if (kernel) {
            uint64_t samples = know[i].cpu_samples - con->kprev[i].cpu_samples;
            uint64_t blocked = know[i].blocked_ns - con->kprev[i].blocked_ns;
            uint64_t cb_ns = now[i].callback_ns - p->callback_ns;
            r->value[COL_CPU] = con->hz ? 100.0 * (double)samples / (double)con->hz / secs : 0.0;
            r->value[COL_BLOCK_MS] = (double)blocked / 1e6;
            /* As top's BLOCK%: a callback's off-CPU time is part of its duration. */
            r->value[COL_BLOCK_PCT] = cb_ns ? 100.0 * (double)blocked / (double)cb_ns : 0.0;
        } else {
            r->value[COL_CPU] = r->value[COL_BLOCK_MS] = r->value[COL_BLOCK_PCT] = -1;
        }
        r->value[COL_P50] = ahp_top_hist_percentile(d.hist, 0.50, now[i].max_ns) / 1e3;
        r->value[COL_P99] = ahp_top_hist_percentile(d.hist, 0.99, now[i].max_ns) / 1e3;
        r->value[COL_MAX] = (double)now[i].max_ns / 1e3;
        /* As top's: init to first callback, ms, since attach; -1 ("-") when none ran. */
        uint64_t pending = 0;
        for (int k = 0; k < AHP_HIST_SLOTS; k++)
            pending += now[i].pending_hist[k];
        r->value[COL_PEND50] =
            pending ? ahp_top_hist_percentile(now[i].pending_hist, 0.50, 0) / 1e6 : -1;
        r->value[COL_PEND99] =
            pending ? ahp_top_hist_percentile(now[i].pending_hist, 0.99, 0) / 1e6 : -1;
        r->value[COL_OLDEST] = -1;
        if (ages && active[i] > 0) {
            if ((int64_t)tracked[i] < active[i]) {
                r->oldest_before_attach = r->oldest_known = true;
                r->value[COL_OLDEST] = (double)(t_ns - c->attach_ns) / 1e9;
            } else if (oldest[i] != UINT64_MAX && oldest[i] <= t_ns) {
                r->oldest_known = true;
                r->value[COL_OLDEST] = (double)(t_ns - oldest[i]) / 1e9;
            }
        }
    }
    const struct ahp_live_warning *lw = NULL;
    ahp_top_blocking(kernel ? con->kv : NULL, know, &block);
    if (con->lints)
        ahp_live_lints_events_lost(con->lints, con->global.lost_events > 0);
    uint32_t nlw =
        con->lints ? ahp_live_lints_update_kernel(con->lints, t_ns, now, active, names, &block, &lw)
                   : 0;
    memcpy(con->kprev, know, sizeof(know));
    con->events_per_s = (double)(con->global.events - con->prev_global.events) / secs;
    memcpy(con->prev, now, sizeof(now));
    con->prev_global = con->global;
    con->prev_ns = t_ns;
    con->measured = true;
    sort_rows(con);
    collect_warnings(con, lw, nlw, names);
}

/* The resource view's list, read from the live table (shared with the BPF programs: slots
 * change under the scan, a torn one can at worst show one resource wrongly for a moment). */
static int compare_resources(const void *a, const void *b)
{
    const struct resource *x = a, *y = b;
    if (x->init_ns != y->init_ns)
        return x->init_ns < y->init_ns ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The scan's visitor: the resources of the selected type, the oldest RESOURCES_MAX. */
static void visit_resource(const volatile struct ahp_live *slot, uint64_t id, int32_t type,
                           void *arg)
{
    struct console *con = arg;
    if (type != con->selected_type)
        return;
    con->res_tracked++;
    struct resource r = {id, slot->init_ns, slot->trigger_id, slot->tid};
    if (con->nres < RESOURCES_MAX) {
        con->res[con->nres++] = r;
    } else {
        /* Keep the oldest: replace the youngest listed when this one is older. */
        int youngest = 0;
        for (int k = 1; k < con->nres; k++)
            if (con->res[k].init_ns > con->res[youngest].init_ns)
                youngest = k;
        if (r.init_ns < con->res[youngest].init_ns)
            con->res[youngest] = r;
    }
}

static void resources_begin(struct console *con)
{
    con->nres = 0;
    con->res_tracked = 0;
}

static void resources_end(struct console *con)
{
    qsort(con->res, (size_t)con->nres, sizeof(con->res[0]), compare_resources);
}

/* At a key, between refreshes (which list them in their own scan of the table). */
static void list_resources(struct console *con)
{
    struct ahp_collector *c = &con->s->collector;
    uint64_t oldest[AHP_TYPE_MAX], tracked[AHP_TYPE_MAX];
    resources_begin(con);
    if (c->live_table != NULL)
        ahp_live_lints_scan(NULL, c->live_table, c->live_slots, ahp_now_ns(), oldest, tracked,
                            visit_resource, con);
    resources_end(con);
}

/* "TYPE#ID < TYPE#ID < (root)": the triggers that are alive and tracked, the first one that
 * is not, then where the chain stops. Bounded: a chain of resources that trigger each other
 * in a cycle (ids are the target's) stops at the bound like a long one. */
static void trigger_chain(struct console *con, uint64_t trigger, char *out, size_t size)
{
    struct ahp_collector *c = &con->s->collector;
    size_t n = 0;
    out[0] = '\0';
    for (int depth = 0; depth < 8 && n + 1 < size; depth++) {
        const char *sep = depth ? " < " : "";
        if (trigger == 1) {
            n += (size_t)snprintf(out + n, size - n, "%s(root)", sep);
            return;
        }
        if (trigger == 0) {
            n += (size_t)snprintf(out + n, size - n, "%s(none)", sep);
            return;
        }
        const volatile struct ahp_live *slot =
            c->live_table ? &c->live_table[trigger & (c->live_slots - 1)] : NULL;
        int32_t type = slot ? slot->type : -1;
        uint64_t next = slot ? slot->trigger_id : 0;
        if (slot == NULL || slot->id != trigger || type < 0 || type >= AHP_TYPE_MAX) {
            n += (size_t)snprintf(out + n, size - n, "%s#%llu (gone)", sep,
                                  (unsigned long long)trigger);
            return;
        }
        char raw[AHP_NAME_SIZE], name[AHP_NAME_SIZE * 4 + 1];
        ahp_collector_type_name(c, &con->s->target, type, raw);
        ahp_term_sanitize(name, sizeof(name), raw, sizeof(raw));
        n += (size_t)snprintf(out + n, size - n, "%s%s#%llu", sep, name,
                              (unsigned long long)trigger);
        trigger = next;
    }
    if (n + 1 < size)
        snprintf(out + n, size - n, " < ...");
}

/* ---- a launched program's output --------------------------------------------------------- */

static void output_line(struct console *con, const char *text, size_t len)
{
    ahp_term_sanitize(con->out_lines[con->out_next], OUTPUT_LINE_MAX, text, len);
    con->out_next = (con->out_next + 1) % OUTPUT_LINES;
    if (con->out_count < OUTPUT_LINES)
        con->out_count++;
}

/* Read what the program wrote (never blocking it for long: read every loop, 100 ms at most). */
static void read_output(struct console *con)
{
    char buf[4096];
    for (int rounds = 0; con->out_fd >= 0 && rounds < 16; rounds++) {
        ssize_t got = read(con->out_fd, buf, sizeof(buf));
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            close(con->out_fd);
            con->out_fd = -1;
            break;
        }
        if (got < 0)
            break;
        con->out_bytes += (uint64_t)got;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n' || con->out_partial_len == sizeof(con->out_partial)) {
                output_line(con, con->out_partial, con->out_partial_len);
                con->out_partial_len = 0;
                if (buf[i] == '\n')
                    continue;
            }
            con->out_partial[con->out_partial_len++] = buf[i];
        }
    }
}

/* ---- drawing ------------------------------------------------------------------------------ */

/* Text at (Y, X), cut at the right edge: the text is ASCII already (sanitized or ours). */
static void put(int y, int x, const char *text)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    mvaddnstr(y, x, text, COLS - x);
}

static void format_cell(const struct row *r, int col, char *buf, size_t size)
{
    double v = r->value[col];
    switch (col) {
    case COL_TYPE:
        snprintf(buf, size, "%-24.24s", r->name);
        break;
    case COL_ACTIVE:
        snprintf(buf, size, "%9.0f", v);
        break;
    case COL_CREATED:
    case COL_DESTROYED:
    case COL_CALLBACKS:
        snprintf(buf, size, "%*.0f", columns[col].width, v);
        break;
    case COL_SHARE:
        snprintf(buf, size, "%6.1f", v);
        break;
    case COL_PEND50:
    case COL_PEND99:
        if (v >= 0)
            snprintf(buf, size, "%*.1f", columns[col].width, v);
        else
            snprintf(buf, size, "%*s", columns[col].width, "-");
        break;
    case COL_CPU:
    case COL_BLOCK_MS:
    case COL_BLOCK_PCT:
        if (r->kernel)
            snprintf(buf, size, "%*.1f", columns[col].width, v);
        else
            snprintf(buf, size, "%*s", columns[col].width, "-");
        break;
    case COL_OLDEST:
        if (!r->oldest_known) {
            snprintf(buf, size, "%9s", "-");
        } else {
            char age[32];
            snprintf(age, sizeof(age), "%s%.1fs", r->oldest_before_attach ? ">" : "", v);
            snprintf(buf, size, "%9s", age);
        }
        break;
    default:
        snprintf(buf, size, "%9.1f", v);
        break;
    }
}

static void draw_header(struct console *con)
{
    struct ahp_target *t = &con->s->target;
    char comm[80], lib[512], line[800];
    ahp_term_sanitize(comm, sizeof(comm), t->comm, sizeof(t->comm));
    ahp_term_sanitize(lib, sizeof(lib), t->lib_display, sizeof(t->lib_display));
    time_t wall = time(NULL);
    struct tm tm;
    localtime_r(&wall, &tm);
    snprintf(line, sizeof(line), "%02d:%02d:%02d  pid %d (%s)  libah %s", tm.tm_hour, tm.tm_min,
             tm.tm_sec, t->pid, comm, lib);
    put(0, 0, line);
    snprintf(line, sizeof(line), "events/s %.0f   lost %llu", con->events_per_s,
             (unsigned long long)con->global.lost_events);
    put(1, 0, line);
    if (con->exited) {
        attron(A_BOLD);
        put(1, (int)strlen(line) + 3, con->exit_text);
        attroff(A_BOLD);
    }
}

/* The bottom: warnings, the program's output, the keys. Returns the first row it uses. */
static int draw_bottom(struct console *con)
{
    int y = LINES - 1;
    const char *keys = con->view == VIEW_TYPES
                           ? "q quit  </> sort column  r reverse  Up/Down/Home/End select  "
                             "Enter resources"
                           : "q quit  Up/Down/PgUp/PgDn scroll  Esc/Left/Backspace back";
    attron(A_REVERSE);
    move(y, 0);
    clrtoeol();
    put(y, 0, keys);
    attroff(A_REVERSE);
    /* The panes give way to the table on a small screen. */
    int room = LINES - 8;
    if (con->s->target.launched && room >= 4) {
        int n = con->out_count < 3 ? con->out_count : 3;
        if (n == 0)
            n = 1;
        y -= n;
        for (int i = 0; i < n && i < con->out_count; i++) {
            int idx = (con->out_next - con->out_count + (con->out_count - n) + i + OUTPUT_LINES) %
                      OUTPUT_LINES;
            put(y + i, 2, con->out_lines[idx]);
        }
        char title[96];
        snprintf(title, sizeof(title), "PROGRAM OUTPUT (%llu bytes, last lines)",
                 (unsigned long long)con->out_bytes);
        attron(A_BOLD);
        put(--y, 0, title);
        attroff(A_BOLD);
        room -= n + 1;
    }
    int avail = room - 1; /* text lines under the title */
    if (avail >= 1) {
        int shown = con->nwarnings < avail ? con->nwarnings : avail;
        if (shown < con->warnings_total && shown == avail)
            shown--; /* room for the line that says how many more */
        int more = con->warnings_total - shown;
        int lines = shown + (more > 0);
        if (lines == 0)
            lines = 1;
        y -= lines;
        if (con->warnings_total == 0)
            put(y, 2, "none");
        for (int i = 0; i < shown; i++) {
            char line[256];
            snprintf(line, sizeof(line), "%-16s %s", con->warnings[i].name, con->warnings[i].text);
            put(y + i, 2, line);
        }
        if (more > 0) {
            char text[64];
            snprintf(text, sizeof(text), "... %d more", more);
            put(y + shown, 2, text);
        }
        char title[64];
        snprintf(title, sizeof(title), "WARNINGS (%d)", con->warnings_total);
        attron(A_BOLD);
        put(--y, 0, title);
        attroff(A_BOLD);
    }
    return y;
}

static int selected_index(struct console *con)
{
    for (int i = 0; i < con->nrows && i < con->max_rows; i++)
        if (con->rows[i].type == con->selected_type)
            return i;
    return -1;
}

static void draw_types(struct console *con, int bottom)
{
    char line[512];
    snprintf(line, sizeof(line), "sort: %s (%s)", columns[con->sort_col].title,
             con->reverse ? "reversed" : (con->sort_col == COL_TYPE ? "a-z" : "largest first"));
    put(2, 0, line);
    int x = 0;
    for (int col = 0; col < NCOLUMNS; col++) {
        snprintf(line, sizeof(line), col == COL_TYPE ? "%-*s" : "%*s", columns[col].width,
                 columns[col].title);
        if (col == con->sort_col)
            attron(A_REVERSE);
        put(3, x, line);
        if (col == con->sort_col)
            attroff(A_REVERSE);
        x += columns[col].width + 1;
    }
    if (con->selected_type < 0 && con->nrows > 0)
        con->selected_type = con->rows[0].type;
    int shown = con->nrows < con->max_rows ? con->nrows : con->max_rows;
    int height = bottom - 4 - (con->nrows > con->max_rows);
    int sel = selected_index(con), first = 0;
    if (sel >= height && height > 0)
        first = sel - height + 1;
    for (int i = first; i < shown && i - first < height; i++) {
        const struct row *r = &con->rows[i];
        size_t n = 0;
        for (int col = 0; col < NCOLUMNS && n < sizeof(line) - 40; col++) {
            format_cell(r, col, line + n, sizeof(line) - n);
            n = strlen(line);
            line[n++] = ' ';
            line[n] = '\0';
        }
        if (r->type == con->selected_type)
            attron(A_REVERSE);
        put(4 + i - first, 0, line);
        if (r->type == con->selected_type)
            attroff(A_REVERSE);
    }
    if (con->nrows > con->max_rows) {
        snprintf(line, sizeof(line), "... %d more types (-n)", con->nrows - con->max_rows);
        put(bottom - 1, 0, line);
    }
}

static void draw_resources(struct console *con, int bottom)
{
    struct ahp_collector *c = &con->s->collector;
    char raw[AHP_NAME_SIZE], name[AHP_NAME_SIZE * 4 + 1], line[1024];
    ahp_collector_type_name(c, &con->s->target, con->selected_type, raw);
    ahp_term_sanitize(name, sizeof(name), raw, sizeof(raw));
    double active = 0;
    for (int i = 0; i < con->nrows; i++)
        if (con->rows[i].type == con->selected_type)
            active = con->rows[i].value[COL_ACTIVE];
    uint64_t unlisted = active > (double)con->res_tracked ? (uint64_t)active - con->res_tracked : 0;
    snprintf(line, sizeof(line),
             "resources of %s: %.0f alive, %llu in the live table, %llu not listed (created "
             "before ahprof attached, or the table was full)",
             name, active, (unsigned long long)con->res_tracked, (unsigned long long)unlisted);
    put(2, 0, line);
    put(3, 0,
        "creation site: not in top (the live table keeps no stack): ahprof record --stacks, "
        "then ahprof report");
    attron(A_BOLD);
    put(4, 0, "          ID       AGE      TID  TRIGGERS (TYPE#ID, nearest first)");
    attroff(A_BOLD);
    int height = bottom - 5;
    if (con->scroll > con->nres - 1)
        con->scroll = con->nres > 0 ? con->nres - 1 : 0;
    if (con->scroll < 0)
        con->scroll = 0;
    uint64_t now = ahp_now_ns();
    for (int i = con->scroll; i < con->nres && i - con->scroll < height; i++) {
        const struct resource *r = &con->res[i];
        char chain[600];
        trigger_chain(con, r->trigger_id, chain, sizeof(chain));
        double age = r->init_ns <= now ? (double)(now - r->init_ns) / 1e9 : 0;
        snprintf(line, sizeof(line), "%12llu %8.1fs %8u  %s", (unsigned long long)r->id, age,
                 r->tid, chain);
        put(5 + i - con->scroll, 0, line);
    }
    if (con->nres == 0)
        put(5, 2, "no live resource of this type in the live table");
    else if ((uint64_t)con->nres < con->res_tracked && height > 0) {
        snprintf(line, sizeof(line), "(the %d oldest of %llu listed)", con->nres,
                 (unsigned long long)con->res_tracked);
        put(bottom - 1, 0, line);
    }
}

static void draw(struct console *con)
{
    erase();
    draw_header(con);
    int bottom = draw_bottom(con);
    if (con->view == VIEW_TYPES)
        draw_types(con, bottom);
    else
        draw_resources(con, bottom);
    refresh();
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void move_selection(struct console *con, int delta)
{
    int shown = con->nrows < con->max_rows ? con->nrows : con->max_rows;
    if (shown == 0)
        return;
    int sel = selected_index(con);
    sel = sel < 0 ? 0 : sel + delta;
    if (sel < 0)
        sel = 0;
    if (sel >= shown)
        sel = shown - 1;
    con->selected_type = con->rows[sel].type;
}

/* Returns false to quit. */
static bool handle_key(struct console *con, int key)
{
    int page = LINES > 12 ? LINES - 12 : 1;
    if (key == 'q' || key == 'Q')
        return false;
    if (con->view == VIEW_TYPES) {
        switch (key) {
        case '<':
        case ',':
            con->sort_col = (con->sort_col + NCOLUMNS - 1) % NCOLUMNS;
            break;
        case '>':
        case '.':
            con->sort_col = (con->sort_col + 1) % NCOLUMNS;
            break;
        case 'r':
            con->reverse = !con->reverse;
            break;
        case KEY_UP:
        case 'k':
            move_selection(con, -1);
            return true;
        case KEY_DOWN:
        case 'j':
            move_selection(con, 1);
            return true;
        case KEY_HOME:
        case 'g':
            move_selection(con, -AHP_TYPE_MAX);
            return true;
        case KEY_END:
        case 'G':
            move_selection(con, AHP_TYPE_MAX);
            return true;
        case '\n':
        case '\r':
        case KEY_ENTER:
        case KEY_RIGHT:
            if (con->selected_type >= 0) {
                con->view = VIEW_RESOURCES;
                con->scroll = 0;
                list_resources(con);
            }
            return true;
        default:
            return true;
        }
        sort_rows(con);
        return true;
    }
    switch (key) {
    case 27: /* Esc */
    case KEY_LEFT:
    case KEY_BACKSPACE:
    case 127:
    case 'h':
        con->view = VIEW_TYPES;
        break;
    case KEY_UP:
    case 'k':
        con->scroll--;
        break;
    case KEY_DOWN:
    case 'j':
        con->scroll++;
        break;
    case KEY_PPAGE:
        con->scroll -= page;
        break;
    case KEY_NPAGE:
        con->scroll += page;
        break;
    default:
        break;
    }
    return true;
}

/* ---- the session ---------------------------------------------------------------------------- */

/* A launched program's stdout and stderr would write over the screen: they go to a pipe that
 * the console reads. The program inherits ahprof's stderr at launch (its stdout follows it), so
 * stderr points at the pipe while the session opens; what ahprof itself says then goes to the
 * terminal afterwards if the open fails. Its stdin is /dev/null: the keys are the console's. */
static int open_with_output_pipe(struct console *con, pid_t pid, char **cmd,
                                 const struct ahp_collector_opts *opts)
{
    int fds[2] = {-1, -1}, saved = -1, saved_in = -1, null_fd = -1;
    if (cmd && pipe2(fds, O_CLOEXEC) == 0 &&
        (saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) >= 0) {
        fflush(stderr);
        dup2(fds[1], STDERR_FILENO); /* dup2 clears FD_CLOEXEC: the program inherits it */
    }
    if (cmd && (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 &&
        (saved_in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)) >= 0)
        dup2(null_fd, STDIN_FILENO);
    int code = ahp_session_open(con->s, pid, cmd, opts, NULL, NULL);
    if (saved_in >= 0) {
        dup2(saved_in, STDIN_FILENO);
        close(saved_in);
    }
    if (null_fd >= 0)
        close(null_fd);
    if (saved >= 0) {
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fds[1]);
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        con->out_fd = fds[0];
        if (code) { /* ahprof's own error went to the pipe: give it to the terminal */
            char buf[4096];
            ssize_t got;
            while ((got = read(con->out_fd, buf, sizeof(buf))) > 0)
                if (write(STDERR_FILENO, buf, (size_t)got) < 0)
                    break;
        }
    } else if (fds[0] >= 0) {
        close(fds[0]);
        close(fds[1]);
    }
    return code;
}

static void describe_exit(struct console *con)
{
    int status = con->s->exit_status, ws = 0;
    uint64_t ns;
    if (status < 0 && ahp_collector_target_exit(&con->s->collector, &ws, &ns) == 1)
        status = ws;
    if (status < 0)
        snprintf(con->exit_text, sizeof(con->exit_text), "target exited; q quits");
    else if (WIFSIGNALED(status))
        snprintf(con->exit_text, sizeof(con->exit_text), "target killed by signal %d; q quits",
                 WTERMSIG(status));
    else
        snprintf(con->exit_text, sizeof(con->exit_text), "target exited with status %d; q quits",
                 WEXITSTATUS(status));
}

int ahp_console_top(struct ahp_session *s, pid_t pid, char **cmd,
                    const struct ahp_collector_opts *opts, uint64_t interval_ns, long count,
                    int max_rows, const struct ahp_lint_opts *lint, long hz)
{
    static struct console con;
    memset(&con, 0, sizeof(con));
    con.s = s;
    con.max_rows = max_rows;
    con.sort_col = COL_SHARE; /* the batch output's order: busiest first */
    con.selected_type = -1;
    con.out_fd = -1;
    int code = open_with_output_pipe(&con, pid, cmd, opts);
    if (code) {
        ahp_session_close(s);
        if (con.out_fd >= 0)
            close(con.out_fd);
        return code;
    }
    con.prev_ns = s->collector.attach_ns;
    if (hz >= 0) {
        /* Without the kernel view the console still works: its columns say "-" and the
         * warnings pane says why. */
        struct ahp_kernel_opts kopts = {.hz = (uint32_t)hz};
        const char *what = "?";
        int rc = ahp_kernel_start(&con.kv, &s->target, &kopts, NULL, NULL, &what);
        if (rc < 0) {
            con.kv = NULL;
            snprintf(con.kernel_error, sizeof(con.kernel_error),
                     "no CPU%%/BLOCK columns: cannot %s: %s", what, strerror(-rc));
        }
        con.hz = (uint32_t)hz;
    }
    if (ahp_live_lints_new(&con.lints, lint) < 0)
        con.lints = NULL; /* no memory for the lints: the rest still works */
    if (initscr() == NULL) {
        ahp_session_close(s);
        return ahp_fail(false, AHP_EXIT_ERROR, "cannot start the console on this terminal");
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    draw(&con);

    uint64_t next = ahp_now_ns() + interval_ns;
    long intervals = 0;
    bool running = true;
    while (running && !ahp_stop_requested) {
        bool dirty = false;
        int key;
        while ((key = getch()) != ERR) {
            if (key == KEY_RESIZE) {
                dirty = true;
                continue;
            }
            if (!handle_key(&con, key)) {
                running = false;
                break;
            }
            dirty = true;
        }
        if (!running)
            break;
        read_output(&con);
        if (!con.exited) {
            uint64_t now = ahp_now_ns();
            int wait_ms = now < next ? (int)((next - now) / 1000000ull) : 0;
            if (wait_ms > 50)
                wait_ms = 50; /* the keys wait no longer than this */
            int rc = ahp_session_wait(s, wait_ms);
            if (rc < 0)
                break;
            if (con.kv) /* learns the target's new threads, every 100 ms at most */
                ahp_kernel_poll(con.kv, 0);
            if (rc == 1 || ahp_now_ns() >= next) {
                measure(&con);
                next += interval_ns;
                if (next < ahp_now_ns())
                    next = ahp_now_ns() + interval_ns;
                dirty = true;
                if (rc == 1) {
                    con.exited = true;
                    describe_exit(&con);
                    read_output(&con);
                }
                if (count > 0 && ++intervals >= count)
                    running = false;
            }
        } else {
            /* Nothing more to measure: wait for keys only. */
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            poll(&pfd, 1, 100);
        }
        if (dirty)
            draw(&con);
    }
    endwin();
    if (con.kv)
        ahp_kernel_stop(con.kv);
    ahp_session_close(s); /* stops a launched program before its output pipe closes */
    if (con.out_fd >= 0)
        close(con.out_fd);
    ahp_live_lints_free(con.lints);
    return AHP_EXIT_OK;
}
