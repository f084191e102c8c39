/*
 * flight.c - `ahprof record --flight SECONDS`: the flight recorder. It keeps the last SECONDS
 * of events in a ring of fixed size and writes them as a normal recording (report, flame) when
 * a trigger fires: a lint, a p99 threshold, SIGUSR1, or `ahprof dump PID`; then it goes on,
 * up to --max-dumps. And `ahprof dump PID`, which asks it for a dump from another terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/flight.h"
#include "cmd/top.h"
#include "collect/session.h"
#include "common/escape.h"
#include "common/hashmap.h"
#include "common/json_writer.h"
#include "common/util.h"
#include "data/datafile.h"
#include "data/recording.h"
#include "model/lints.h"

static const char flight_usage[] =
    "Usage: ahprof record --flight SECONDS [--trigger SPEC]... [OPTIONS]\n"
    "                     (-p PID | -- COMMAND [ARGS...])\n"
    "\n"
    "The flight recorder: keep the last SECONDS of events in memory (a ring of fixed size)\n"
    "and write them as a normal recording, readable by `ahprof report` and `ahprof flame`,\n"
    "when a trigger fires; then go on, until --max-dumps dumps, the program exits, Ctrl-C or\n"
    "--duration.\n"
    "\n"
    "Triggers (always: SIGUSR1 to this ahprof, and `ahprof dump PID` from another terminal):\n"
    "  --trigger LINT[,LINT...]   a warning (docs/lints.md) judged while recording:\n"
    "                       long-callback  a callback longer than --long-callback T (100ms)\n"
    "                       never-ran      a resource created and not run for --never-ran T\n"
    "                                      (10s)\n"
    "                       leak-slope     a type whose active count keeps growing (at least\n"
    "                                      8 s of samples; --leak-slope N)\n"
    "  --trigger 'p99>50ms[:TYPE]'  (also 500us, 1s) the p99 callback duration of TYPE (of any "
    "type without\n"
    "                       :TYPE) over the last second above the threshold\n"
    "  A trigger of a warning or a p99 fires at most once per SECONDS, so that each dump\n"
    "  holds new events; SIGUSR1 and `ahprof dump` always dump.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID, -- COMMAND, --uv, --per-event, -q, -j   as for record\n"
    "  -o, --output FILE     dumps go to FILE-1.data, FILE-2.data... (FILE without its\n"
    "                        .data; default ahprof-flight)\n"
    "      --max-dumps N     stop after N dumps (default 10)\n"
    "      --flight-events N the ring's size in events (default 1048576: 48 MiB); when the\n"
    "                        program raises more than N events in SECONDS, a dump covers\n"
    "                        less time (it says how much)\n"
    "  -b, --buffer MIB      BPF ring buffer (default 16)\n"
    "  -d, --duration SECS   stop after SECS\n"
    "      --allow LINT[:TYPE], --long-callback T, --never-ran T, --leak-slope N\n"
    "                        as for report\n"
    "\n"
    "With --json, stdout has one JSON line at the start (pid, recorder_pid, window_ns,\n"
    "flight_events) and one per dump (dump, file, trigger, events, window_ns,\n"
    "evicted_for_room, lost_events: since the attach).\n"
    "Each dump says on stderr (with --json: in its JSON line) what triggered it, and\n"
    "FILE-N.data.trigger holds the same line. The dump's snapshot is the live count per type\n"
    "when its window starts (exact when no event was lost); lost events are those since the\n"
    "attach.\n"
    "Memory: the ring (--flight-events x 48 bytes), 2 x --buffer, the merge window (24 MiB)\n"
    "and 24 bytes per resource created and not yet run (never-ran; at most 1 Mi of them,\n"
    "the rest counted as untracked), whatever the event rate.\n";

#define FLIGHT_RUNDIR "/run/ahprof"
#define FLIGHT_DUMP_MAGIC 0x41485044
#define FLIGHT_PENDING_MAX (1u << 20)
#define FLIGHT_TICK_NS 1000000000ull
#define P99_TRIGGERS_MAX 16

static volatile sig_atomic_t usr1_requests, dump_requests, dump_sender;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (si->si_code == SI_QUEUE && si->si_value.sival_int == FLIGHT_DUMP_MAGIC) {
        dump_requests++;
        dump_sender = si->si_pid;
    } else {
        usr1_requests++;
    }
}

struct p99_trigger {
    uint64_t ns;
    char type[AHP_NAME_SIZE]; /* "" for any */
};

struct pending {
    uint64_t init_ns;
    int32_t type;
};

struct flight {
    struct ahp_session session;
    struct ahp_event *ring;
    size_t cap, head, n; /* head: the oldest */
    uint64_t window_ns;
    uint64_t evicted_for_room;
    uint64_t events;
    int64_t base_live[AHP_TYPE_MAX]; /* live per type before the oldest event of the ring */
    bool type_seen[AHP_TYPE_MAX];
    struct ahp_hmap pending; /* id -> struct pending: created, not run yet */
    uint64_t pending_untracked;
    bool lint_trigger[AHP_LINTS];
    struct p99_trigger p99[P99_TRIGGERS_MAX];
    unsigned np99;
    struct ahp_lint_opts lint;
    struct ahp_live_lints *live;
    struct ahp_type_stats prev[AHP_TYPE_MAX];
    uint64_t long_seen[AHP_TYPE_MAX];
    bool slope_on[AHP_TYPE_MAX];
};

static void evict_oldest(struct flight *f)
{
    const struct ahp_event *e = &f->ring[f->head];
    if (e->type >= 0 && e->type < AHP_TYPE_MAX && !(e->flags & AHP_F_IN_SNAPSHOT)) {
        if (e->kind == AHP_EV_INIT)
            f->base_live[e->type]++;
        else if (e->kind == AHP_EV_DESTROY)
            f->base_live[e->type]--;
    }
    f->head = (f->head + 1) % f->cap;
    f->n--;
}

static void trim(struct flight *f, uint64_t now)
{
    while (f->n > 0 && f->ring[f->head].ts_ns + f->window_ns < now)
        evict_oldest(f);
}

static int on_event(const struct ahp_event *ev, void *ctx)
{
    struct flight *f = ctx;
    if (f->n == f->cap) {
        evict_oldest(f);
        f->evicted_for_room++;
    }
    f->ring[(f->head + f->n) % f->cap] = *ev;
    f->n++;
    f->events++;
    if (ev->type >= 0 && ev->type < AHP_TYPE_MAX)
        f->type_seen[ev->type] = true;
    if (f->lint_trigger[AHP_LINT_NEVER_RAN]) {
        if (ev->kind == AHP_EV_INIT && !(ev->flags & AHP_F_IN_SNAPSHOT)) {
            void *slot;
            if (ahp_hmap_put(&f->pending, ev->id, &slot) < 0) {
                f->pending_untracked++;
            } else {
                struct pending *p = slot;
                p->init_ns = ev->ts_ns;
                p->type = ev->type;
            }
        } else if (ev->kind == AHP_EV_BEFORE || ev->kind == AHP_EV_DESTROY) {
            ahp_hmap_del(&f->pending, ev->id);
        }
    }
    return 0;
}

/* --trigger SPEC: LINT[,LINT...] or p99>T[:TYPE]. */
static int parse_trigger(struct flight *f, const char *spec)
{
    if (strncmp(spec, "p99>", 4) == 0) {
        if (f->np99 == P99_TRIGGERS_MAX)
            return -ENOSPC;
        struct p99_trigger *t = &f->p99[f->np99];
        char dur[64];
        const char *colon = strchr(spec, ':');
        size_t len = colon ? (size_t)(colon - spec - 4) : strlen(spec + 4);
        if (len == 0 || len >= sizeof(dur))
            return -EINVAL;
        memcpy(dur, spec + 4, len);
        dur[len] = '\0';
        double us;
        if (len > 2 && strcmp(dur + len - 2, "us") == 0) {
            dur[len - 2] = '\0';
            if (ahp_parse_real(dur, 0.001, 86400e6, &us) < 0)
                return -EINVAL;
            t->ns = (uint64_t)(us * 1e3);
        } else if (ahp_parse_duration_ns(dur, 1000, 86400000000000ull, &t->ns) < 0) {
            return -EINVAL;
        }
        t->type[0] = '\0';
        if (colon != NULL) {
            if (colon[1] == '\0' || strlen(colon + 1) >= AHP_NAME_SIZE)
                return -EINVAL;
            strcpy(t->type, colon + 1);
        }
        f->np99++;
        return 0;
    }
    for (const char *p = spec; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int lint = ahp_lint_parse(p, len);
        if (lint != AHP_LINT_LONG_CALLBACK && lint != AHP_LINT_NEVER_RAN &&
            lint != AHP_LINT_LEAK_SLOPE)
            return -EINVAL;
        f->lint_trigger[lint] = true;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

/* What fires now, in WHY (empty: nothing). Called once per tick. */
static void check_triggers(struct flight *f, uint64_t now, char *why, size_t size)
{
    static struct ahp_type_stats stats[AHP_TYPE_MAX];
    static char names[AHP_TYPE_MAX][AHP_NAME_SIZE];
    int64_t active[AHP_TYPE_MAX];
    struct ahp_collector *c = &f->session.collector;
    if (ahp_collector_type_stats(c, stats) < 0)
        return;
    ahp_collector_active(c, stats, active);
    for (int t = 0; t < AHP_TYPE_MAX; t++) {
        names[t][0] = '\0';
        if (stats[t].created || stats[t].callbacks || active[t] || f->type_seen[t])
            ahp_collector_type_name(c, &f->session.target, t, names[t]);
    }
    char safe[AHP_NAME_SIZE * 4 + 1];
    const struct ahp_live_warning *w = NULL;
    uint32_t n = f->live ? ahp_live_lints_update(f->live, now, stats, active, names, &w) : 0;
    bool slope_now[AHP_TYPE_MAX] = {false};
    for (uint32_t i = 0; i < n; i++) {
        int t = w[i].type;
        ahp_term_sanitize(safe, sizeof(safe), names[t], AHP_NAME_SIZE);
        if (w[i].lint == AHP_LINT_LONG_CALLBACK) {
            if (f->lint_trigger[AHP_LINT_LONG_CALLBACK] && w[i].count > f->long_seen[t] &&
                why[0] == '\0')
                snprintf(why, size, "long-callback: %s, longest %.1f ms", safe,
                         (double)w[i].max_ns / 1e6);
            f->long_seen[t] = w[i].count;
        } else if (w[i].lint == AHP_LINT_LEAK_SLOPE) {
            slope_now[t] = true;
            if (f->lint_trigger[AHP_LINT_LEAK_SLOPE] && !f->slope_on[t] && why[0] == '\0')
                snprintf(why, size, "leak-slope: %s, active +%lld, %.1f/s", safe,
                         (long long)w[i].grown, w[i].rate_per_s);
        }
    }
    memcpy(f->slope_on, slope_now, sizeof(slope_now));
    for (unsigned k = 0; k < f->np99 && why[0] == '\0'; k++) {
        for (int t = 0; t < AHP_TYPE_MAX && why[0] == '\0'; t++) {
            if (f->p99[k].type[0] != '\0' && strncmp(f->p99[k].type, names[t], AHP_NAME_SIZE) != 0)
                continue;
            __u64 diff[AHP_HIST_SLOTS]; /* the BPF histogram's type */
            for (int i = 0; i < AHP_HIST_SLOTS; i++)
                diff[i] = stats[t].hist[i] - f->prev[t].hist[i];
            double p99 = ahp_top_hist_percentile(diff, 0.99, 0);
            if (stats[t].max_ns && p99 > (double)stats[t].max_ns)
                p99 = (double)stats[t].max_ns;
            if (p99 > (double)f->p99[k].ns) {
                ahp_term_sanitize(safe, sizeof(safe), names[t], AHP_NAME_SIZE);
                snprintf(why, size, "p99>%gms: %s, p99 %.1f ms over the last second",
                         (double)f->p99[k].ns / 1e6, safe, p99 / 1e6);
            }
        }
    }
    memcpy(f->prev, stats, sizeof(stats));
    if (f->lint_trigger[AHP_LINT_NEVER_RAN] && why[0] == '\0') {
        size_t pos = 0;
        uint64_t id;
        struct pending *p;
        while ((p = ahp_hmap_next(&f->pending, &pos, &id)) != NULL) {
            /* As in report: only in a type some of whose resources ran (docs/lints.md). */
            bool type_runs = p->type >= 0 && p->type < AHP_TYPE_MAX && stats[p->type].callbacks;
            if (type_runs && now > p->init_ns && now - p->init_ns > f->lint.never_ran_ns) {
                char nm[AHP_NAME_SIZE] = "";
                if (p->type >= 0 && p->type < AHP_TYPE_MAX)
                    memcpy(nm, names[p->type], sizeof(nm));
                if (ahp_lint_allowed(&f->lint, AHP_LINT_NEVER_RAN, nm))
                    continue;
                ahp_term_sanitize(safe, sizeof(safe), nm, AHP_NAME_SIZE);
                snprintf(why, size, "never-ran: %s id %" PRIu64 ", no callback for %.1f s", safe,
                         id, (double)(now - p->init_ns) / 1e9);
                ahp_hmap_del(&f->pending, id); /* it told once */
                break;
            }
        }
    }
}

static void dump_name(char *buf, size_t size, const char *base, unsigned n)
{
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".data") == 0)
        len -= 5;
    snprintf(buf, size, "%.*s-%u.data", (int)len, base, n);
}

/* Write the ring as a recording to PATH. */
static int dump(struct flight *f, const char *path, uint64_t now, uint64_t *events_out,
                uint64_t *start_out, uint64_t *lost_out)
{
    struct ahp_collector *c = &f->session.collector;
    struct ahp_target *t = &f->session.target;
    trim(f, now);
    uint64_t start = now > f->window_ns ? now - f->window_ns : 0;
    if (start < c->attach_ns)
        start = c->attach_ns;
    if (f->n > 0 && f->ring[f->head].ts_ns > start && f->evicted_for_room > 0)
        start = f->ring[f->head].ts_ns; /* the ring was too small for the whole window */
    struct ahp_file_info info;
    memset(&info, 0, sizeof(info));
    info.pid = (uint32_t)t->pid;
    memcpy(info.comm, t->comm, sizeof(info.comm));
    ahp_strlcpy(info.target, t->exe[0] ? t->exe : t->lib_display, sizeof(info.target));
    info.start_mono_ns = start;
    info.start_real_ns = ahp_realtime_ns() - (now - start);
    struct ahp_writer *w;
    int rc = ahp_writer_open(&w, path, &info);
    if (rc < 0)
        return rc;
    int64_t live[AHP_TYPE_MAX];
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        live[i] =
            f->base_live[i] +
            (c->have_snapshot && (uint32_t)i < c->snapshot.type_count ? c->snapshot.live[i] : 0);
        bool named = c->have_snapshot && (uint32_t)i < c->snapshot.type_count;
        if (named || f->type_seen[i] || live[i] != 0) {
            char name[AHP_NAME_SIZE];
            ahp_collector_type_name(c, t, i, name);
            ahp_writer_type(w, i, name);
        }
    }
    ahp_writer_snapshot(w, live, AHP_TYPE_MAX);
    for (size_t done = 0; done < f->n && rc >= 0;) {
        size_t at = (f->head + done) % f->cap;
        size_t run = f->cap - at < f->n - done ? f->cap - at : f->n - done;
        rc = ahp_writer_events(w, &f->ring[at], run);
        done += run;
    }
    struct ahp_global_stats g;
    memset(&g, 0, sizeof(g));
    ahp_collector_global_stats(c, &g);
    uint64_t lost = g.lost_events + c->attach_missed + c->discarded;
    if (lost > 0)
        ahp_writer_lost(w, lost);
    ahp_writer_resent(w, c->decoder.resent_records);
    int rc2 = ahp_writer_close(w, now, lost);
    *events_out = f->n;
    *start_out = start;
    *lost_out = lost;
    return rc < 0 ? rc : rc2;
}

static void pidfile_path(char *buf, size_t size, pid_t target)
{
    snprintf(buf, size, FLIGHT_RUNDIR "/flight-%d", (int)target);
}

/* "RECORDER_PID DUMPS\nLAST_FILE\n", replaced whole so that `dump` never reads half of it. */
static void pidfile_write(pid_t target, unsigned dumps, const char *last)
{
    char path[128], tmp[160];
    pidfile_path(path, sizeof(path), target);
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    FILE *fp = fopen(tmp, "w");
    if (fp == NULL)
        return;
    fprintf(fp, "%d %u\n%s\n", (int)getpid(), dumps, last ? last : "");
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        unlink(tmp);
}

int ahprof_cmd_flight(int argc, char **argv)
{
    static const struct option long_opts[] = {{"pid", required_argument, NULL, 'p'},
                                              {"output", required_argument, NULL, 'o'},
                                              {"duration", required_argument, NULL, 'd'},
                                              {"buffer", required_argument, NULL, 'b'},
                                              {"quiet", no_argument, NULL, 'q'},
                                              {"help", no_argument, NULL, 'h'},
                                              {"per-event", no_argument, NULL, 'E'},
                                              {"uv", no_argument, NULL, 'U'},
                                              {"json", no_argument, NULL, 'j'},
                                              {"flight", required_argument, NULL, 'F'},
                                              {"trigger", required_argument, NULL, 'T'},
                                              {"max-dumps", required_argument, NULL, 'M'},
                                              {"flight-events", required_argument, NULL, 'N'},
                                              AHP_LINT_LONGOPTS,
                                              {NULL, 0, NULL, 0}};
    static struct flight f;
    memset(&f, 0, sizeof(f));
    ahp_lint_opts_default(&f.lint);
    const char *output = "ahprof-flight", *pid_arg = NULL;
    uint64_t duration_ns = 0;
    long buffer_mib = 16, max_dumps = 10, cap = 1L << 20;
    bool quiet = false, per_event = false, uv = false;
    int opt;
    optind = 1;
    opterr = 0;
    char **cmd = ahp_split_command(argc, argv, &argc);
    bool json = ahp_wants_json(argc, argv, "-j");
    while ((opt = getopt_long(argc, argv, "p:o:d:b:qjh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid_arg = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'd':
            if (ahp_parse_duration_ns(optarg, 1000000ull, 365ull * 86400 * 1000000000,
                                      &duration_ns) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE, "invalid --duration '%s'", optarg);
            break;
        case 'b':
            if (ahp_parse_buffer_mib(optarg, &buffer_mib) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --buffer '%s': a power of two from 1 to %d", optarg,
                                AHP_BUFFER_MAX_MIB);
            break;
        case 'q':
            quiet = true;
            break;
        case 'E':
            per_event = true;
            break;
        case 'U':
            uv = true;
            break;
        case 'j':
            json = true;
            break;
        case 'F':
            if (ahp_parse_duration_ns(optarg, 10000000ull, 86400ull * 1000000000, &f.window_ns) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --flight '%s': seconds to keep, 10ms to 1 day", optarg);
            break;
        case 'T':
            if (parse_trigger(&f, optarg) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --trigger '%s': long-callback, never-ran, leak-slope "
                                "(comma-separated) or 'p99>DURATION[:TYPE]'",
                                optarg);
            break;
        case 'M':
            if (ahp_parse_long(optarg, 1, 1000000, &max_dumps) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE, "invalid --max-dumps '%s'", optarg);
            break;
        case 'N':
            if (ahp_parse_long(optarg, 1024, 1L << 26, &cap) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --flight-events '%s': from 1024 to 67108864", optarg);
            break;
        case AHP_LINT_OPT_BASE + 0 ... AHP_LINT_OPT_BASE + AHP_LINT_OPTS - 1: {
            const char *name = "?";
            if (ahp_lint_option(&f.lint, opt, optarg, &name) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE, "invalid --%s '%s'", name, optarg);
            break;
        }
        case 'h':
            fputs(flight_usage, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, json, "podb", "record");
        }
    }
    if (optind < argc)
        return ahp_fail(json, AHP_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if ((pid_arg == NULL) == (cmd == NULL))
        return ahp_fail(json, AHP_EXIT_USAGE, "give either -p PID or -- COMMAND");
    pid_t pid = 0;
    if (pid_arg) {
        int code = ahp_parse_pid(pid_arg, &pid, json);
        if (code)
            return code;
    }
    f.cap = (size_t)cap;
    f.ring = malloc(f.cap * sizeof(*f.ring));
    if (f.ring == NULL || ahp_live_lints_new(&f.live, &f.lint) < 0) {
        free(f.ring);
        return ahp_fail(json, AHP_EXIT_ERROR, "no memory for a ring of %ld events", cap);
    }
    ahp_hmap_init(&f.pending, sizeof(struct pending), FLIGHT_PENDING_MAX);

    struct ahp_collector_opts opts = {
        .record = true,
        .track_live = false,
        .ringbuf_bytes = (uint32_t)(buffer_mib << 20),
        .max_live = 1024,
        .wakeup_bytes = (uint64_t)(buffer_mib << 20) / 8,
        .per_event = per_event,
    };
    ahp_install_signal_handlers();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: the wait returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    f.session.child_stdout_to_stderr = json;
    f.session.json = json;
    f.session.uv = uv;
    int code = ahp_session_open(&f.session, pid, cmd, &opts, on_event, &f);
    if (code) {
        ahp_session_close(&f.session);
        free(f.ring);
        ahp_live_lints_free(f.live);
        ahp_hmap_free(&f.pending);
        return code;
    }
    pid_t target = f.session.target.pid;
    mkdir(FLIGHT_RUNDIR, 0700);
    pidfile_write(target, 0, NULL);
    if (json) {
        struct ahp_json jw, *w = &jw;
        ahp_json_init(w, stdout, AHP_JSON_SPACED);
        ahp_json_object_begin(w);
        ahp_json_field_i64(w, "pid", target);
        ahp_json_field_i64(w, "recorder_pid", getpid());
        ahp_json_field_u64(w, "window_ns", f.window_ns);
        ahp_json_field_u64(w, "flight_events", f.cap);
        ahp_json_object_end(w);
        fflush(stdout);
    } else if (!quiet)
        fprintf(stderr,
                "ahprof: flight recorder on pid %d: the last %.3g s in memory; SIGUSR1 to pid "
                "%d or `ahprof dump %d` for a dump now\n",
                target, (double)f.window_ns / 1e9, (int)getpid(), target);

    uint64_t deadline = duration_ns > 0 ? ahp_now_ns() + duration_ns : UINT64_MAX;
    uint64_t next_tick = ahp_now_ns() + FLIGHT_TICK_NS, last_auto = 0;
    unsigned dumps = 0;
    int error = 0;
    while (!ahp_stop_requested && dumps < (unsigned)max_dumps) {
        uint64_t now = ahp_now_ns();
        if (now >= deadline)
            break;
        int exited = ahp_session_wait(&f.session, 200);
        now = ahp_now_ns();
        trim(&f, now);
        char why[512] = "";
        if (dump_requests > 0) {
            dump_requests = 0;
            snprintf(why, sizeof(why), "ahprof dump (from pid %d)", (int)dump_sender);
        } else if (usr1_requests > 0) {
            usr1_requests = 0;
            snprintf(why, sizeof(why), "SIGUSR1");
        } else if (now >= next_tick) {
            next_tick = now + FLIGHT_TICK_NS;
            char auto_why[480] = "";
            check_triggers(&f, now, auto_why, sizeof(auto_why));
            /* A trigger that keeps firing: one dump per window, each with new events. */
            if (auto_why[0] != '\0' && (last_auto == 0 || now - last_auto >= f.window_ns)) {
                snprintf(why, sizeof(why), "%s", auto_why);
                last_auto = now;
            }
        }
        if (why[0] != '\0') {
            char path[4200];
            dump_name(path, sizeof(path), output, dumps + 1);
            uint64_t events = 0, start = 0, lost = 0;
            int rc = dump(&f, path, now, &events, &start, &lost);
            if (rc < 0) {
                error = rc;
                fprintf(stderr, "ahprof: cannot write the dump %s: %s\n", path, strerror(-rc));
                break;
            }
            dumps++;
            /* Before saying so: whoever reads the line may run `ahprof dump` at once. */
            pidfile_write(target, dumps, path);
            char line[5000], spath[1100];
            ahp_term_sanitize(spath, sizeof(spath), path, strlen(path));
            snprintf(line, sizeof(line),
                     "dump %u: %s: %" PRIu64 " events, the last %.3f s, %" PRIu64
                     " lost since attach; trigger: %s",
                     dumps, spath, events, (double)(now - start) / 1e9, lost, why);
            char tpath[4300];
            snprintf(tpath, sizeof(tpath), "%s.trigger", path);
            FILE *tf = fopen(tpath, "w");
            if (tf != NULL) {
                fprintf(tf, "%s\n", why);
                fclose(tf);
            }
            if (json) {
                struct ahp_json jw, *w = &jw;
                ahp_json_init(w, stdout, AHP_JSON_SPACED);
                ahp_json_object_begin(w);
                ahp_json_field_u64(w, "dump", dumps);
                ahp_json_field_str(w, "file", path);
                ahp_json_field_str(w, "trigger", why);
                ahp_json_field_u64(w, "events", events);
                ahp_json_field_u64(w, "window_ns", now - start);
                ahp_json_field_u64(w, "evicted_for_room", f.evicted_for_room);
                ahp_json_field_u64(w, "lost_events", lost);
                ahp_json_object_end(w);
                fflush(stdout);
            } else {
                fprintf(stderr, "ahprof: %s\n", line);
            }
        }
        if (exited)
            break;
    }
    char pf[128];
    pidfile_path(pf, sizeof(pf), target);
    unlink(pf);
    ahp_collector_finish(&f.session.collector, 300000000ull);
    struct ahp_global_stats g;
    memset(&g, 0, sizeof(g));
    ahp_collector_global_stats(&f.session.collector, &g);
    uint64_t lost =
        g.lost_events + f.session.collector.attach_missed + f.session.collector.discarded;
    ahp_session_close(&f.session);
    if (!quiet && !json)
        fprintf(stderr,
                "ahprof: flight recorder stopped: %u dumps, %" PRIu64 " events seen, %" PRIu64
                " lost (no room in the BPF ring buffer, --buffer, or malformed), %" PRIu64
                " left the ring early (--flight-events was full)%s\n",
                dumps, f.events, lost, f.evicted_for_room,
                f.pending_untracked ? "; some resources untracked for never-ran" : "");
    free(f.ring);
    ahp_live_lints_free(f.live);
    ahp_hmap_free(&f.pending);
    if (error)
        return AHP_EXIT_ERROR;
    return AHP_EXIT_OK;
}

bool ahp_flight_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--flight") == 0 || strncmp(argv[i], "--flight=", 9) == 0)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------
 * ahprof dump PID
 */

static const char dump_usage[] =
    "Usage: ahprof dump PID\n"
    "\n"
    "Ask the flight recorder (`ahprof record --flight`) that records PID for a dump now, wait\n"
    "for it (up to 30 s) and print the file it wrote.\n"
    "Exit status: 0 dumped, 1 no flight recorder records PID (or it did not answer), 2 bad\n"
    "command line.\n";

static bool pidfile_read(pid_t target, pid_t *recorder, unsigned *dumps, char *last, size_t size)
{
    char path[128], line[4300];
    pidfile_path(path, sizeof(path), target);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return false;
    int rp = 0;
    bool ok = fscanf(fp, "%d %u\n", &rp, dumps) == 2 && rp > 1;
    if (ok && last != NULL) {
        last[0] = '\0';
        if (fgets(line, sizeof(line), fp) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            ahp_strlcpy(last, line, size);
        }
    }
    fclose(fp);
    *recorder = rp;
    return ok;
}

int ahprof_cmd_dump(int argc, char **argv)
{
    bool json = ahp_wants_json(argc, argv, "-j");
    const char *pid_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(dump_usage, stdout);
            return AHP_EXIT_OK;
        }
        if (strcmp(argv[i], "-j") == 0 || strcmp(argv[i], "--json") == 0)
            continue;
        if (pid_arg != NULL)
            return ahp_fail(json, AHP_EXIT_USAGE, "unexpected argument '%s'", argv[i]);
        pid_arg = argv[i];
    }
    if (pid_arg == NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "give the PID the flight recorder records");
    pid_t target;
    int code = ahp_parse_pid(pid_arg, &target, json);
    if (code)
        return code;
    pid_t recorder;
    unsigned before;
    if (!pidfile_read(target, &recorder, &before, NULL, 0))
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "no flight recorder records pid %d (ahprof record --flight)", (int)target);
    /* The pid file could be stale: only an ahprof gets the signal. */
    char commpath[64], comm[32] = "";
    snprintf(commpath, sizeof(commpath), "/proc/%d/comm", (int)recorder);
    FILE *cf = fopen(commpath, "r");
    if (cf != NULL) {
        if (fgets(comm, sizeof(comm), cf) == NULL)
            comm[0] = '\0';
        fclose(cf);
    }
    comm[strcspn(comm, "\n")] = '\0';
    /* A stale file's pid may now be another ahprof, which SIGUSR1 would kill: only one that
     * runs --flight. */
    bool flying = false;
    char cmdpath[64], args[4096];
    snprintf(cmdpath, sizeof(cmdpath), "/proc/%d/cmdline", (int)recorder);
    FILE *af = fopen(cmdpath, "r");
    if (af != NULL) {
        size_t n = fread(args, 1, sizeof(args) - 1, af);
        fclose(af);
        args[n] = '\0';
        for (size_t i = 0; i < n; i += strlen(args + i) + 1) {
            if (strncmp(args + i, "--flight", 8) == 0 &&
                (args[i + 8] == '\0' || args[i + 8] == '='))
                flying = true;
        }
    }
    if (strcmp(comm, "ahprof") != 0 || !flying)
        return ahp_fail(json, AHP_EXIT_ERROR, "the flight recorder of pid %d (pid %d) is gone",
                        (int)target, (int)recorder);
    union sigval v = {.sival_int = FLIGHT_DUMP_MAGIC};
    if (sigqueue(recorder, SIGUSR1, v) != 0)
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot signal the flight recorder (pid %d): %s",
                        (int)recorder, strerror(errno));
    char last[4200];
    for (int waited = 0; waited < 30000; waited += 20) {
        unsigned now_dumps;
        pid_t r2;
        if (pidfile_read(target, &r2, &now_dumps, last, sizeof(last)) && now_dumps > before) {
            char safe[9000];
            ahp_term_sanitize(safe, sizeof(safe), last, strlen(last));
            if (json) {
                struct ahp_json jw, *w = &jw;
                ahp_json_init(w, stdout, AHP_JSON_SPACED);
                ahp_json_object_begin(w);
                ahp_json_field_u64(w, "dump", now_dumps);
                ahp_json_field_str(w, "file", last);
                ahp_json_object_end(w);
            } else {
                printf("%s\n", safe);
            }
            return AHP_EXIT_OK;
        }
        usleep(20000);
    }
    return ahp_fail(json, AHP_EXIT_ERROR, "the flight recorder (pid %d) did not dump in 30 s",
                    (int)recorder);
}
