/*
 * record.c - `ahprof record`: stream every event of a process into an ahprof.data file
 * (docs/file-format.md) for `ahprof report` and `ahprof flame`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/datafile.h"
#include "common/escape.h"
#include "common/json_writer.h"
#include "cmd/flight.h"
#include "cmd/record.h"
#include "data/recording.h"
#include "collect/kernel.h"
#include "collect/session.h"
#include "common/hashmap.h"
#include "collect/symbolize.h"
#include "common/util.h"

static const char record_usage[] =
    "Usage: ahprof record [OPTIONS] (-p PID | -- COMMAND [ARGS...])\n"
    "\n"
    "Record every async event (init, before, after, destroy, resolve) of a program that\n"
    "uses libah into a file, until the program exits, Ctrl-C, or --duration.\n"
    "Read it with `ahprof report` (docs/file-format.md describes the format).\n"
    "\n"
    "  -p, --pid PID         attach to a running process (resources that exist already\n"
    "                        are counted from libah's registry)\n"
    "  -- COMMAND ARGS       launch COMMAND and attach before its first event\n"
    "                        (if ahprof stops first, it stops COMMAND with SIGTERM)\n"
    "      --uv              launch COMMAND with libah-uv.so preloaded: an unmodified\n"
    "                        libuv program's handles and requests become async resources\n"
    "                        (docs/libuv.md); also for its children, which inherit it\n"
    "  -o, --output FILE     output file (default ahprof.data; - for stdout, and then\n"
    "                        a launched COMMAND's standard output goes to stderr)\n"
    "  -d, --duration SECS   stop after SECS seconds (e.g. 10, 500ms)\n"
    "  -b, --buffer MIB      BPF ring buffer size in MiB, a power of two up to 2048\n"
    "                        (default 128: a burst of 4 M events); events that do not\n"
    "                        fit are counted as lost, never hidden; it sets ahprof's\n"
    "                        memory (below)\n"
    "  -s, --stacks          also capture the user stack where each resource is created\n"
    "                        (implies --per-event: the stack is taken in the init probe),\n"
    "                        symbolized (function, file:line) for `ahprof flame`; the\n"
    "                        program and its libraries need frame pointers\n"
    "                        (-fno-omit-frame-pointer) and, for file:line, debug info (-g);\n"
    "                        a launched program that exits within a few ms of its start\n"
    "                        leaves its frames as raw addresses\n"
    "      --cpu[=HZ]        also record the kernel's view (docs/kernel-view.md): CPU\n"
    "                        samples of every thread at HZ per second (default 99) and\n"
    "                        every off-CPU episode inside a callback (blocking, with its\n"
    "                        reason), each tagged with the async resource in scope, with\n"
    "                        their native stacks symbolized now (with --stacks, off-CPU\n"
    "                        episodes get their stacks too), and the per-type run-queue\n"
    "                        delay (every 2 s while it changes, and at the end); for\n"
    "                        report's CPU, blocking and run-queue figures and\n"
    "                        `ahprof flame -w cpu|offcpu`\n"
    "  -z, --compress        compress the events with zlib (level 1): a smaller file\n"
    "                        for more of ahprof's CPU (docs/BENCHMARKS.md)\n"
    "      --per-event       trace one probe per event (ah:init, ah:before, ...) instead\n"
    "                        of the batch probe: ~30x the cost per event, for comparison\n"
    "  -q, --quiet           no summary line on stderr\n"
    "  -j, --json            errors, and the summary at the end, as one JSON object on stdout\n"
    "                        (not with -o -); a launched COMMAND's standard output goes to\n"
    "                        stderr\n"
    "      --flight SECONDS  the flight recorder: keep the last SECONDS in memory and write\n"
    "                        them when a trigger fires (record --flight 1 --help)\n"
    "  -h, --help            this help\n"
    "\n"
    "The summary, on stderr at the end (the lines after the first only when not 0):\n"
    "  recorded N events from pid P to FILE (L lost), target exited with status S\n"
    "      N events written; L lost: no room in the ring buffer (see --buffer), records the\n"
    "      target wrote malformed, batches that could not be read from its memory, events\n"
    "      raised while attaching, and what was still unread at the stop (report's EXACT\n"
    "      COUNTS has the true totals); how the target ended, when it did (or \"killed by\n"
    "      SIGSEGV\")\n"
    "  N events ... are out of time order: they reached ahprof more than the reorder window\n"
    "      after later events of other threads (a busy thread held them: see ah_flush())\n"
    "  N records were handed over twice and written once (a bug of ahprof's: report it;\n"
    "      the file keeps the count: report shows it as resent)\n"
    "  N of the lost events were still in the ring buffer when the recording stopped\n"
    "  the target wrote N malformed batches and N malformed records: dropped, counted in L\n"
    "  N batches could not be read from the target's memory: their events are missing\n"
    "  N distinct creation stacks (M could not be captured): with --stacks\n"
    "  pid P ran exec(PATH): the recording stops there (the new program's types are its own)\n"
    "  N CPU samples and M off-CPU episodes (K kernel records lost, S stacks): with --cpu;\n"
    "      lost: no room in the kernel view's ring buffer, shown by report too\n"
    "With --json the summary is one object on stdout instead: file, pid, events, lost_events,\n"
    "duration_ns (from the start of the recording to its end), late_events (out of time\n"
    "order), resent_records (handed over twice, written once), lost_at_stop (still in the\n"
    "ring buffer), malformed_batches, malformed_records, unreadable_batches, target_end\n"
    "(\"exited with status 0\", or null while it runs), exec (the PATH it ran, or null), stacks\n"
    "and stack_errors (null without --stacks), cpu_samples, offcpu_episodes,\n"
    "lost_kernel_records and kernel_stacks (null without --cpu).\n"
    "\n"
    "Memory: ahprof's peak RSS stays under 2 x --buffer + 48 MiB (304 MiB by default),\n"
    "whatever the event rate: the ring buffer is mapped twice, and at most 512 Ki events\n"
    "(24 MiB) wait to be put in time order (with --stacks, add the symbol tables of the\n"
    "program). A program that raises events faster than ahprof writes them fills the ring\n"
    "buffer: what does not fit is counted as lost, and so is what is still unread 300 ms\n"
    "after Ctrl-C, SIGTERM or --duration (when the program exits, all of it is read).\n"
    "Safety: events go to the file at least every 500 ms; if ahprof is killed (kill -9, OOM)\n"
    "the file stays readable up to its last complete chunk, about the last second missing.\n"
    "A write error (full disk) stops the recording with exit status 1; the file is then\n"
    "readable up to its last complete chunk.\n"
    "Requires root (see `ahprof --help` for file capabilities). The file is readable by\n"
    "its owner only: with sudo, root; `-o - > FILE` writes to a FILE your shell creates.\n";

/* Distinct native stacks a recording keeps (record --cpu); records of others name none
 * (counted in KINFO's stacks_dropped). */
#define RECORD_KSTACKS_MAX 65536
#define RECORD_HZ_MAX 10000

#define AHP_DURATION_MAX_NS (365ull * 86400 * 1000000000)

/* How often buffered events go to the file while recording: what a kill -9 of ahprof can
 * lose, with the reorder window (AHP_REORDER_NS) and what the ring buffer holds. */
#define RECORD_FLUSH_NS 500000000ull
/* The kernel view's aggregates (KSTATS, a few KiB) are written this often while they change:
 * what a SIGKILL costs is the run-queue figures of the last 2 s. */
#define RECORD_KSTATS_NS 2000000000ull
/* How long ahprof may take to detach and read the ring buffer once told to stop; what is
 * still unread then is counted as lost. */
#define RECORD_FINISH_NS 300000000ull

struct record_state {
    struct ahp_session session;
    struct ahp_writer *writer;
    /* Events that arrive while attaching, before the file (which names the pid) exists. */
    struct ahp_event *pending;
    size_t npending, pending_cap;
    bool type_written[AHP_TYPE_MAX];
    struct ahp_symbolizer *symbolizer; /* with --stacks */
    uint8_t stack_written[65536 / 8];
    uint64_t stacks_written;
    uint64_t events;
    int error;
    bool exec_written;
    char exec_path[256];
    /* record --cpu */
    struct ahp_kernel_view *kv;
    struct ahp_hmap kstacks; /* (user, kernel, leaf) -> struct kstack_entry */
    struct ahp_kinfo kinfo;
    uint64_t cpu_samples, offcpu_episodes;
};

static void write_type(struct record_state *st, int type);

struct kstack_entry {
    uint32_t user, kernel;
    uint64_t leaf_ret;
    uint32_t file_ref; /* the file's stack id + 1, 0: none */
};

struct kstack_query {
    uint32_t user, kernel;
    uint64_t leaf_ret;
};

static bool kstack_is(const void *ctx, const void *val)
{
    const struct kstack_query *q = ctx;
    const struct kstack_entry *e = val;
    return e->user == q->user && e->kernel == q->kernel && e->leaf_ret == q->leaf_ret;
}

/* The file's reference to the native stack of R: symbolized and written the first time it is
 * seen, while the target is alive (report and flame may run after it is gone). */
static uint32_t kstack_ref(struct record_state *st, const struct ahp_kernel_record *r)
{
    if (r->user_stack == 0 && r->kernel_stack == 0)
        return 0;
    struct kstack_query q = {r->user_stack, r->kernel_stack, r->leaf_ret};
    uint64_t hash = ahp_hash_bytes(AHP_HASH_SEED, &q, sizeof(q));
    struct kstack_entry *e = ahp_hmap_find(&st->kstacks, hash, kstack_is, &q);
    if (e != NULL)
        return e->file_ref;
    if (ahp_hmap_count(&st->kstacks) >= RECORD_KSTACKS_MAX) {
        st->kinfo.stacks_dropped++;
        return 0;
    }
    void *slot;
    if (ahp_hmap_add(&st->kstacks, hash, &slot) < 0)
        return 0;
    e = slot;
    *e = (struct kstack_entry){r->user_stack, r->kernel_stack, r->leaf_ret, 0};
    static char names[AHP_KSTACK_FILE_FRAMES][128];
    static const char *ptrs[AHP_KSTACK_FILE_FRAMES];
    int nkernel = 0;
    int n = ahp_kernel_stack_names(st->kv, r->user_stack, r->kernel_stack, r->leaf_ret, names,
                                   AHP_KSTACK_FILE_FRAMES, &nkernel);
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        ptrs[i] = names[i];
    uint32_t id = (uint32_t)ahp_hmap_count(&st->kstacks) - 1;
    if (ahp_writer_kstack(st->writer, id, ptrs, (uint32_t)n, (uint32_t)nkernel) == 0)
        e->file_ref = id + 1;
    return e->file_ref;
}

static int on_krecord(const struct ahp_kernel_record *r, void *ctx)
{
    struct record_state *st = ctx;
    if (st->error || st->writer == NULL)
        return 0;
    struct ahp_krecord k = {
        .ts_ns = r->ts_ns,
        .dur_ns = r->dur_ns,
        .id = r->id,
        .tid = r->tid,
        .slot = r->slot == AHP_KSLOT_OUTSIDE    ? AHP_KREC_OUTSIDE
                : r->slot == AHP_KSLOT_UNTAGGED ? AHP_KREC_UNTAGGED
                                                : r->slot,
        .reason = r->reason,
        .kind = r->kind,
        .depth = r->depth,
    };
    k.stack = kstack_ref(st, r);
    if (k.slot >= 0)
        write_type(st, k.slot);
    int rc = ahp_writer_krecords(st->writer, &k, 1);
    if (rc < 0) {
        st->error = rc;
        return 0;
    }
    if (r->kind == AHP_KSTACK_CPU)
        st->cpu_samples++;
    else
        st->offcpu_episodes++;
    return 0;
}

/* The kernel view's losses, written when they grew (and at the end: FORCE). */
static void write_kinfo(struct record_state *st, bool force)
{
    struct ahp_kernel_globals g;
    if (ahp_kernel_globals(st->kv, &g) < 0)
        return;
    if (!force && g.lost_records == st->kinfo.lost_records &&
        g.stack_errors == st->kinfo.stack_errors)
        return;
    st->kinfo.lost_records = g.lost_records;
    st->kinfo.stack_errors = g.stack_errors;
    ahp_writer_kinfo(st->writer, &st->kinfo);
}

/* The kernel view's per-slot aggregates (run-queue delay, blocked and preempted sums), when
 * they changed since the last ones written (and at the end: FORCE). Each KSTATS chunk
 * supersedes the ones before it: a recording cut short keeps the last one complete. */
static void write_kstats(struct record_state *st, bool force)
{
    /* static: 80 KiB each, and there is one recording per process */
    static struct ahp_kernel_stats ks[AHP_KSLOTS];
    static struct ahp_kstats_slot now[AHP_KSTATS_SLOTS], last[AHP_KSTATS_SLOTS];
    _Static_assert(AHP_KSLOTS == AHP_KSTATS_SLOTS && AHP_KSLOT_OUTSIDE == AHP_KSTATS_OUTSIDE &&
                       AHP_KSLOT_UNTAGGED == AHP_KSTATS_UNTAGGED,
                   "the file's slots are the kernel view's");
    uint64_t as_of = ahp_now_ns();
    if (ahp_kernel_stats(st->kv, ks) < 0)
        return;
    for (int i = 0; i < AHP_KSLOTS; i++) {
        const struct ahp_kernel_stats *k = &ks[i];
        struct ahp_kstats_slot *s = &now[i];
        *s = (struct ahp_kstats_slot){.runq_count = k->runq_count,
                                      .runq_wait_ns = k->runq_wait_ns,
                                      .runq_ns = k->runq_ns,
                                      .blocked_ns = k->blocked_ns,
                                      .blocked_count = k->blocked_count,
                                      .preempted_ns = k->preempted_ns,
                                      .preempted_count = k->preempted_count};
        memcpy(s->runq_hist, k->runq_hist, sizeof(s->runq_hist));
    }
    if (!force && memcmp(now, last, sizeof(now)) == 0)
        return;
    if (ahp_writer_kstats(st->writer, as_of, now) == 0)
        memcpy(last, now, sizeof(last));
}

static void write_type(struct record_state *st, int type)
{
    if (type < 0 || type >= AHP_TYPE_MAX || st->type_written[type])
        return;
    char name[AHP_NAME_SIZE];
    ahp_collector_type_name(&st->session.collector, &st->session.target, type, name);
    if (ahp_writer_type(st->writer, type, name) == 0)
        st->type_written[type] = true;
}

/* Symbolize and write the stack of an INIT the first time its id is seen. The stack map keeps
 * the addresses; the symbolizer knows the modules even after the process exited. */
static void write_stack(struct record_state *st, uint16_t stack_plus_one)
{
    uint32_t id = (uint32_t)stack_plus_one - 1;
    if (st->stack_written[id / 8] & (1u << (id % 8)))
        return;
    st->stack_written[id / 8] |= (uint8_t)(1u << (id % 8));
    uint64_t ips[AHP_USER_STACK_FRAMES];
    int n = ahp_collector_user_stack(&st->session.collector, id, ips);
    if (n <= 0)
        return;
    static struct ahp_stack_frame frames[AHP_USER_STACK_FRAMES];
    for (int i = 0; i < n; i++)
        ahp_symbolize(st->symbolizer, ips[i], i > 0, &frames[i]);
    if (ahp_writer_stack(st->writer, id, frames, (uint32_t)n) == 0)
        st->stacks_written++;
}

static int on_event(const struct ahp_event *ev, void *ctx)
{
    struct record_state *st = ctx;
    if (st->error)
        return 0;
    if (st->writer == NULL) {
        if (st->npending == st->pending_cap) {
            size_t cap = st->pending_cap ? st->pending_cap * 2 : 1024;
            struct ahp_event *grown = realloc(st->pending, cap * sizeof(*grown));
            if (grown == NULL) {
                st->error = -ENOMEM;
                return st->error;
            }
            st->pending = grown;
            st->pending_cap = cap;
        }
        st->pending[st->npending++] = *ev;
        return 0;
    }
    if (ev->type < 0 || ev->type >= AHP_TYPE_MAX || !st->type_written[ev->type])
        write_type(st, ev->type);
    if (ev->kind == AHP_EV_INIT && ev->stack_ref != 0 && st->symbolizer)
        write_stack(st, ev->stack_ref);
    /* AFTER's exclusive time goes as 0 (ahp_writer_drop_exclusive). */
    int rc = ahp_writer_events(st->writer, ev, 1);
    if (rc < 0) {
        st->error = rc;
        return rc;
    }
    st->events++;
    return 0;
}

/* The batch path's runs of events: one writer call per run, split only where a type is new. */
static int on_events(const struct ahp_event *ev, size_t n, void *ctx)
{
    struct record_state *st = ctx;
    if (st->writer == NULL || st->symbolizer != NULL) {
        for (size_t i = 0; i < n; i++) {
            int rc = on_event(&ev[i], st);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (st->error)
        return 0;
    for (size_t i = 0; i < n;) {
        /* The type's chunk goes before its first event. One whose chunk could not be written
         * (or outside the table) still goes, alone, its chunk tried again at the next. */
        long k;
        int32_t type = ev[i].type;
        if (type < 0 || type >= AHP_TYPE_MAX || !st->type_written[type])
            write_type(st, type);
        if (type < 0 || type >= AHP_TYPE_MAX || !st->type_written[type]) {
            int rc = ahp_writer_events(st->writer, ev + i, 1);
            k = rc < 0 ? rc : 1;
        } else {
            k = ahp_writer_events_known(st->writer, ev + i, n - i, st->type_written);
        }
        if (k < 0) {
            st->error = (int)k;
            return st->error;
        }
        st->events += (uint64_t)k;
        i += (size_t)k;
    }
    return 0;
}

/* The in-kernel counters: exact per-type totals even when the ring buffer lost records. */
static void write_counters(struct record_state *st)
{
    static struct ahp_type_stats stats[AHP_TYPE_MAX];
    static struct ahp_type_counters counters[AHP_TYPE_MAX];
    int64_t active[AHP_TYPE_MAX];
    struct ahp_collector *c = &st->session.collector;
    if (ahp_collector_type_stats(c, stats) < 0)
        return;
    ahp_collector_active(c, stats, active);
    for (int i = 0; i < AHP_TYPE_MAX; i++) {
        counters[i] = (struct ahp_type_counters){
            stats[i].created,     stats[i].destroyed,    stats[i].resolved, stats[i].callbacks,
            stats[i].callback_ns, stats[i].exclusive_ns, active[i]};
        if (stats[i].created || stats[i].destroyed || stats[i].callbacks || active[i])
            write_type(st, i);
    }
    ahp_writer_counters(st->writer, counters);
}

static bool is_stdout(const char *path)
{
    struct stat out, file;
    return fstat(STDOUT_FILENO, &out) == 0 && stat(path, &file) == 0 && out.st_dev == file.st_dev &&
           out.st_ino == file.st_ino;
}

/* The target ran exec(): the BPF side stopped there (the new program's type ids are its
 * own). Writes the exec chunk and says so once; true from then on. */
static bool record_exec(struct record_state *st, bool quiet)
{
    if (st->exec_written)
        return true;
    uint64_t when;
    char path[256], safe[512];
    if (!ahp_collector_target_exec(&st->session.collector, &when, path, sizeof(path)))
        return false;
    ahp_writer_exec(st->writer, when, path);
    st->exec_written = true;
    memcpy(st->exec_path, path, sizeof(st->exec_path));
    if (!quiet) {
        ahp_term_sanitize(safe, sizeof(safe), path, sizeof(path));
        fprintf(stderr,
                "ahprof: pid %d ran exec(%s): the recording stops there (the new program's "
                "types are not this one's)\n",
                st->session.target.pid, safe);
    }
    return true;
}

/* How the target ended, when it did: from the kernel (a -p target is not our child), else
 * from waitpid for a launched one. Writes the exit chunk; DESCRIPTION says it in words. */
static void record_target_end(struct record_state *st, char *description, size_t size)
{
    int status;
    uint64_t when;
    if (!ahp_collector_target_exit(&st->session.collector, &status, &when)) {
        /* A launched target is reaped by the session only once it was seen exiting. */
        if (!st->session.target_exited || st->session.exit_status < 0)
            return;
        status = st->session.exit_status;
        when = ahp_now_ns();
    }
    enum ahp_exit_how how = WIFSIGNALED(status) ? AHP_EXIT_HOW_SIGNAL : AHP_EXIT_HOW_EXITED;
    uint32_t code = (uint32_t)(how == AHP_EXIT_HOW_SIGNAL ? WTERMSIG(status) : WEXITSTATUS(status));
    bool core = how == AHP_EXIT_HOW_SIGNAL && WCOREDUMP(status);
    ahp_writer_exit(st->writer, how, code, core, when);
    char what[48];
    snprintf(description, size, "target %s",
             ahp_exit_describe(how, code, core, what, sizeof(what)));
}

int ahprof_cmd_record(int argc, char **argv)
{
    static const struct option long_opts[] = {{"pid", required_argument, NULL, 'p'},
                                              {"output", required_argument, NULL, 'o'},
                                              {"duration", required_argument, NULL, 'd'},
                                              {"buffer", required_argument, NULL, 'b'},
                                              {"quiet", no_argument, NULL, 'q'},
                                              {"help", no_argument, NULL, 'h'},
                                              {"stacks", no_argument, NULL, 's'},
                                              {"per-event", no_argument, NULL, 'E'},
                                              {"uv", no_argument, NULL, 'U'},
                                              {"json", no_argument, NULL, 'j'},
                                              {"compress", no_argument, NULL, 'z'},
                                              {"cpu", optional_argument, NULL, 'C'},
                                              {NULL, 0, NULL, 0}};
    if (ahp_flight_wanted(argc, argv)) /* the flight recorder: its own file */
        return ahprof_cmd_flight(argc, argv);
    static struct record_state st;
    memset(&st, 0, sizeof(st));
    const char *output = "ahprof.data", *pid_arg = NULL;
    uint64_t duration_ns = 0;
    /* Room for a burst: a program that raises events faster than ahprof writes them (~30 ns
     * per event, docs/BENCHMARKS.md) for a while, e.g. 7 M events in a tight loop. */
    long buffer_mib = 128;
    bool quiet = false, stacks = false, per_event = false, uv = false, compress = false;
    long cpu_hz = 0; /* 0: no --cpu */
    int opt;
    optind = 1;
    opterr = 0; /* the errors are ours: one line, or JSON */
    char **cmd = ahp_split_command(argc, argv, &argc);
    bool json = ahp_wants_json(argc, argv, "-j");
    while ((opt = getopt_long(argc, argv, "p:o:d:b:qsjzh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid_arg = optarg;
            break;
        case 'o':
            output = strcmp(optarg, "-") == 0 ? "/dev/stdout" : optarg;
            break;
        case 'd':
            if (ahp_parse_duration_ns(optarg, 1000000ull, AHP_DURATION_MAX_NS, &duration_ns) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --duration '%s': from 1ms to 365 days (e.g. 10, 500ms)",
                                optarg);
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
        case 's':
            stacks = true;
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
        case 'z':
            compress = true;
            break;
        case 'C':
            cpu_hz = AHP_KERNEL_DEFAULT_HZ;
            if (optarg != NULL && ahp_parse_long(optarg, 1, RECORD_HZ_MAX, &cpu_hz) < 0)
                return ahp_fail(json, AHP_EXIT_USAGE,
                                "invalid --cpu '%s': samples per second from 1 to %d", optarg,
                                RECORD_HZ_MAX);
            break;
        case 'h':
            fputs(record_usage, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, json, "podb", "record");
        }
    }
    if (optind < argc)
        return ahp_fail(json, AHP_EXIT_USAGE, "unexpected argument '%s' (a command goes after --)",
                        argv[optind]);
    if ((pid_arg == NULL) == (cmd == NULL))
        return ahp_fail(json, AHP_EXIT_USAGE,
                        "give either -p PID or -- COMMAND (see ahprof record --help)");
    if (uv && cmd == NULL)
        return ahp_fail(json, AHP_EXIT_USAGE,
                        "--uv launches a program: give -- COMMAND (a running one must have "
                        "been started with libah-uv.so preloaded; then -p PID alone)");
    pid_t pid = 0;
    if (pid_arg) {
        int code = ahp_parse_pid(pid_arg, &pid, json);
        if (code)
            return code;
    }
    if (json && is_stdout(output))
        return ahp_fail(json, AHP_EXIT_USAGE,
                        "--json and a recording on standard output (-o -) cannot share it: "
                        "write the recording to a file");

    struct ahp_collector_opts opts = {
        .record = true,
        .track_live = false,
        .ringbuf_bytes = (uint32_t)(buffer_mib << 20),
        .max_live = 1024,
        .wakeup_bytes = (uint64_t)(buffer_mib << 20) / 8,
        .capture_stacks = stacks,
        .max_stacks = 16384,
        /* A creation stack is taken in the init probe itself, where the stack is. */
        .per_event = per_event || stacks,
        .on_events = on_events,
    };
    ahp_install_signal_handlers();
    /* Into a recording or the JSON summary on stdout, a launched program's own output would
     * corrupt them. */
    st.session.child_stdout_to_stderr = json || is_stdout(output);
    st.session.json = json;
    st.session.uv = uv;
    struct ahp_file_info info;
    memset(&info, 0, sizeof(info));
    info.start_mono_ns = ahp_now_ns();
    info.start_real_ns = ahp_realtime_ns();
    int code = ahp_session_open(&st.session, pid, cmd, &opts, on_event, &st);
    if (code) {
        ahp_session_close(&st.session);
        free(st.pending);
        return code;
    }
    struct ahp_collector *c = &st.session.collector;
    struct ahp_target *t = &st.session.target;
    info.pid = (uint32_t)t->pid;
    memcpy(info.comm, t->comm, sizeof(info.comm));
    ahp_strlcpy(info.target, t->exe[0] ? t->exe : t->lib_display, sizeof(info.target));
    if (stacks) {
        st.symbolizer = ahp_symbolizer_new(t->pid);
        if (st.symbolizer == NULL) {
            ahp_session_close(&st.session);
            free(st.pending);
            return ahp_fail(json, AHP_EXIT_ERROR, "cannot start the symbolizer (libdwfl)");
        }
        /* A launched program has not run exec yet: its map is learnt once libah is mapped. */
        if (!t->launched)
            ahp_symbolizer_refresh(st.symbolizer);
    }
    int rc = ahp_writer_open(&st.writer, output, &info);
    if (rc < 0) {
        ahp_session_close(&st.session);
        free(st.pending);
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot create %s: %s", output, strerror(-rc));
    }
    /* The BPF side's exclusive time of a callback is informational: readers compute their own
     * from BEFORE and AFTER. */
    ahp_writer_drop_exclusive(st.writer);
    if (compress && (rc = ahp_writer_compress(st.writer, 1)) < 0) {
        ahp_writer_close(st.writer, ahp_now_ns(), 0);
        ahp_session_close(&st.session);
        free(st.pending);
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot compress: %s", strerror(-rc));
    }
    if (c->have_snapshot) {
        for (uint32_t i = 0; i < c->snapshot.type_count && i < AHP_TYPE_MAX; i++)
            write_type(&st, (int)i);
        ahp_writer_snapshot(st.writer, c->snapshot.live, AHP_TYPE_MAX);
    }
    if (cpu_hz > 0) {
        struct ahp_kernel_opts kopts = {
            .hz = (uint32_t)cpu_hz, .offcpu_stacks = stacks, .records = true};
        const char *what = "start";
        ahp_hmap_init(&st.kstacks, sizeof(struct kstack_entry), 0);
        rc = ahp_kernel_start(&st.kv, t, &kopts, on_krecord, &st, &what);
        if (rc < 0) {
            ahp_writer_close(st.writer, ahp_now_ns(), 0);
            ahp_session_close(&st.session);
            ahp_hmap_free(&st.kstacks);
            free(st.pending);
            return ahp_fail(json, AHP_EXIT_ERROR, "--cpu: cannot %s: %s", what, strerror(-rc));
        }
        st.kinfo.hz = (uint32_t)cpu_hz;
        st.kinfo.flags = stacks ? AHP_KINFO_F_OFFCPU_STACKS : 0;
        ahp_writer_kinfo(st.writer, &st.kinfo);
    }
    for (size_t i = 0; i < st.npending && !st.error; i++)
        on_event(&st.pending[i], &st);
    free(st.pending);
    st.pending = NULL;
    if (!quiet) {
        char safe[512];
        ahp_term_sanitize(safe, sizeof(safe), output, strlen(output));
        fprintf(stderr, "ahprof: recording pid %d to %s (Ctrl-C to stop)\n", t->pid, safe);
    }
    uint64_t deadline = duration_ns > 0 ? ahp_now_ns() + duration_ns : UINT64_MAX;
    uint64_t last_lost = 0, last_flush = ahp_now_ns(), last_kstats = last_flush;
    while (!ahp_stop_requested && !st.error) {
        uint64_t now = ahp_now_ns();
        if (now >= deadline)
            break;
        uint64_t left_ms = (deadline - now) / 1000000ull;
        /* A launched program maps its libraries right after we let it go: learn them early,
         * while it is alive, so that stacks resolve even if it exits quickly. */
        int slice = st.symbolizer && !ahp_symbolizer_ready(st.symbolizer) ? 5 : 200;
        int exited =
            ahp_session_wait(&st.session, left_ms < (uint64_t)slice ? (int)left_ms + 1 : slice);
        if (st.symbolizer && !ahp_symbolizer_ready(st.symbolizer) &&
            ahp_target_locate_registry(t) == 0)
            ahp_symbolizer_refresh(st.symbolizer);
        if (st.kv) {
            ahp_kernel_poll(st.kv, 0);
            write_kinfo(&st, false);
            if (ahp_now_ns() - last_kstats >= RECORD_KSTATS_NS) {
                write_kstats(&st, false);
                last_kstats = ahp_now_ns();
            }
        }
        struct ahp_global_stats g;
        uint64_t counted_at = ahp_now_ns();
        if (ahp_collector_global_stats(c, &g) == 0 &&
            g.lost_events + c->attach_missed != last_lost) {
            last_lost = g.lost_events + c->attach_missed;
            ahp_writer_lost_at(st.writer, last_lost, counted_at);
        }
        /* What is written survives a crash of ahprof: a slow target must not leave its
         * events in the writer's buffer for long. */
        if (ahp_now_ns() - last_flush >= RECORD_FLUSH_NS) {
            rc = ahp_writer_flush(st.writer);
            if (rc < 0 && !st.error)
                st.error = rc;
            last_flush = ahp_now_ns();
        }
        if (exited || (record_exec(&st, quiet) && !t->launched))
            break; /* a launched target is ours to wait for (and reap) */
    }
    ahp_collector_finish(c, RECORD_FINISH_NS);
    if (st.kv) {
        ahp_kernel_finish(st.kv);
        write_kinfo(&st, true);
        write_kstats(&st, true);
    }
    record_exec(&st, quiet);
    char ended[64] = "target exited";
    record_target_end(&st, ended, sizeof(ended));
    struct ahp_global_stats g;
    memset(&g, 0, sizeof(g));
    ahp_collector_global_stats(c, &g);
    /* lost all the same, only differently */
    g.lost_events += c->attach_missed + c->discarded;
    write_counters(&st);
    uint64_t late = ahp_collector_late_events(c), c_discarded = c->discarded;
    uint64_t resent = c->decoder.resent_records;
    bool exited = st.session.target_exited;
    pid = st.session.target.pid;
    uint64_t kstacks_written = ahp_hmap_count(&st.kstacks);
    ahp_kernel_stop(st.kv); /* before the session: it reads the session's target */
    ahp_hmap_free(&st.kstacks);
    ahp_session_close(&st.session);
    ahp_symbolizer_free(st.symbolizer);
    uint64_t end_ns = ahp_now_ns();
    ahp_writer_resent(st.writer, resent); /* the close returns a write error, if any */
    rc = ahp_writer_close(st.writer, end_ns, g.lost_events);
    if (st.error || rc < 0)
        return ahp_fail(json, AHP_EXIT_ERROR, "writing %s failed: %s", output,
                        strerror(-(st.error ? st.error : rc)));
    if (json) {
        /* The lines below, as one object; record --help explains each key. */
        struct ahp_json jw, *w = &jw;
        ahp_json_init(w, stdout, AHP_JSON_SPACED);
        ahp_json_object_begin(w);
        ahp_json_field_str(w, "file", output);
        ahp_json_field_i64(w, "pid", pid);
        ahp_json_field_u64(w, "events", st.events);
        ahp_json_field_u64(w, "lost_events", g.lost_events);
        ahp_json_field_u64(w, "duration_ns", end_ns - info.start_mono_ns);
        ahp_json_field_u64(w, "late_events", late);
        ahp_json_field_u64(w, "resent_records", resent);
        ahp_json_field_u64(w, "lost_at_stop", c_discarded);
        ahp_json_field_u64(w, "malformed_batches", g.batch_malformed);
        ahp_json_field_u64(w, "malformed_records", g.records_malformed);
        ahp_json_field_u64(w, "unreadable_batches", g.batch_errors);
        if (exited)
            ahp_json_field_strn(w, "target_end", ended + strlen("target "), sizeof(ended));
        else
            ahp_json_field_null(w, "target_end");
        if (st.exec_written)
            ahp_json_field_strn(w, "exec", st.exec_path, sizeof(st.exec_path));
        else
            ahp_json_field_null(w, "exec");
        if (stacks) {
            ahp_json_field_u64(w, "stacks", st.stacks_written);
            ahp_json_field_u64(w, "stack_errors", g.stack_errors);
        } else {
            ahp_json_field_null(w, "stacks");
            ahp_json_field_null(w, "stack_errors");
        }
        if (cpu_hz > 0) {
            ahp_json_field_u64(w, "cpu_samples", st.cpu_samples);
            ahp_json_field_u64(w, "offcpu_episodes", st.offcpu_episodes);
            ahp_json_field_u64(w, "lost_kernel_records", st.kinfo.lost_records);
            ahp_json_field_u64(w, "kernel_stacks", kstacks_written);
        } else {
            ahp_json_field_null(w, "cpu_samples");
            ahp_json_field_null(w, "offcpu_episodes");
            ahp_json_field_null(w, "lost_kernel_records");
            ahp_json_field_null(w, "kernel_stacks");
        }
        ahp_json_object_end(w);
    } else if (!quiet) {
        char safe[512];
        ahp_term_sanitize(safe, sizeof(safe), output, strlen(output));
        fprintf(stderr, "ahprof: recorded %llu events from pid %d to %s (%llu lost)%s%s\n",
                (unsigned long long)st.events, pid, safe, (unsigned long long)g.lost_events,
                exited ? ", " : "", exited ? ended : "");
        if (late)
            fprintf(stderr,
                    "ahprof: %llu events reached ahprof more than %llu ms after later events "
                    "of other threads and are out of time order (a busy thread held them: "
                    "see ah_flush() in ah.h)\n",
                    (unsigned long long)late, AHP_REORDER_NS / 1000000ull);
        if (resent)
            fprintf(stderr,
                    "ahprof: %llu records were handed over twice and written once (ahprof's "
                    "hand-over should never do that: please report it)\n",
                    (unsigned long long)resent);
        if (c_discarded)
            fprintf(stderr,
                    "ahprof: %llu of the lost events were still in the ring buffer when the "
                    "recording stopped (the program raised them faster than ahprof writes): "
                    "counted as lost, and in the exact counts of the report\n",
                    (unsigned long long)c_discarded);
        if (g.batch_malformed || g.records_malformed)
            fprintf(stderr,
                    "ahprof: the target wrote %llu malformed batches and %llu malformed records "
                    "(another libah version, or memory the program overwrote): dropped, counted as "
                    "lost\n",
                    (unsigned long long)g.batch_malformed, (unsigned long long)g.records_malformed);
        if (g.batch_errors)
            fprintf(stderr,
                    "ahprof: %llu batches could not be read from the target's memory: their "
                    "events are missing from the file\n",
                    (unsigned long long)g.batch_errors);
        if (stacks)
            fprintf(stderr, "ahprof: %llu distinct creation stacks (%llu could not be captured)\n",
                    (unsigned long long)st.stacks_written, (unsigned long long)g.stack_errors);
        if (cpu_hz > 0)
            fprintf(stderr,
                    "ahprof: %llu CPU samples and %llu off-CPU episodes (%llu kernel records "
                    "lost, %llu stacks)\n",
                    (unsigned long long)st.cpu_samples, (unsigned long long)st.offcpu_episodes,
                    (unsigned long long)st.kinfo.lost_records, (unsigned long long)kstacks_written);
    }
    return AHP_EXIT_OK;
}
