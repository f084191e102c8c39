/*
 * flame.c - `ahprof flame [FILE] --format FMT --weight W [-o OUT]`: async flame graphs and
 * standard exports of a recording. The parts: asyncstack.c (creation sites, safe labels),
 * flame_tree.c (the flame tree), flame_folded.c, flame_svg.c, flame_dot.c, flame_pprof.c, and
 * trace*.c (chrome, speedscope and perfetto: trace_int.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/escape.h"
#include "cmd/flame.h"
#include "data/recording.h"
#include "export/flame_int.h"
#include "common/util.h"

static const char usage_text[] =
    "Usage: ahprof flame [FILE] [--format FMT] [--weight W] [-o OUT] [options]\n"
    "\n"
    "Draw where the asynchronous work of a recording (made by `ahprof record`) goes, as an\n"
    "async flame graph or in a format other tools open. FILE defaults to " AHP_FILE_DEFAULT ";\n"
    "- reads it from standard input (a pipe is copied to a temporary file first).\n"
    "\n"
    "An async flame graph is not a CPU flame graph: a frame is a kind of resource (a type,\n"
    "e.g. REQ or TIMER), and the frames below it are the resources that created it, up to the\n"
    "program's bootstrap: its async stack. Width is the weight; height is async causality.\n"
    "With `ahprof record --stacks`, each frame also names the code that created the resource:\n"
    "REQ@request.c:142 request_start (TYPE@file:line function, the first caller outside\n"
    "libah). Resources created by resources that ahprof never saw (they existed before the\n"
    "recording started) hang under (before attach). A chain that re-creates itself, such as a\n"
    "timer that re-arms itself, is folded into its first frame, so output stays bounded.\n"
    "\n"
    "Formats (-f, --format):\n"
    "  folded      (default) one line per async stack, \"a;b;c VALUE\": the input of\n"
    "              flamegraph.pl, inferno, speedscope and Pyroscope\n"
    "  svg         a self-contained interactive flame graph: click to zoom, Search (or Ctrl-F,\n"
    "              or FILE.svg?s=REGEX), hover for value and share; opens in any browser\n"
    "  chrome      Chrome trace JSON for Perfetto UI (ui.perfetto.dev) and chrome://tracing: a\n"
    "              slice per callback on its thread, its async stack in the slice's arguments,\n"
    "              and flow arrows from where each resource was created to its callbacks\n"
    "  speedscope  speedscope's JSON (speedscope.app): with --weight time one profile per\n"
    "              thread, each callback showing its async stack; with count or live, one\n"
    "              profile of the async stacks weighted like the flame graph\n"
    "  dot         the type-level trigger graph (who creates whom, counts, callback time) for\n"
    "              graphviz: ahprof flame -f dot | dot -Tsvg > graph.svg\n"
    "  pprof       a gzipped pprof profile (go tool pprof, Pyroscope, Parca, Grafana) of the\n"
    "              async stacks with every weight at once: sample types callback_time (ns,\n"
    "              the default), resources_created and alive_at_end, and with `record\n"
    "              --cpu` cpu_samples (count) and cpu (ns = samples x period), whose\n"
    "              locations are the native frames above the async ones; labels\n"
    "              async_type and trigger_path\n"
    "  perfetto    Perfetto's protobuf trace (ui.perfetto.dev, trace_processor): a track per\n"
    "              thread, a slice per callback, flows from each resource's creation to its\n"
    "              callbacks, a counter track per type of the resources alive; scales\n"
    "              beyond the chrome JSON\n"
    "\n"
    "Weights (-w, --weight), for folded, svg, speedscope and the colours of dot:\n"
    "  time        (default) exclusive callback time in ns: the time spent in each frame's\n"
    "              callbacks, minus callbacks nested in them\n"
    "  count       resources created\n"
    "  live        resources alive at the end of the recording: the leak flame graph; those\n"
    "              that predate the recording are counted under (before attach)\n"
    "  cpu         CPU samples (`ahprof record --cpu`): each sample's native stack drawn on\n"
    "              top of the async stack of the resource whose callback it fell in, e.g.\n"
    "              TCPCONN;REQ@request.c:198;WORK@pool.c:125;do_work;hash_block; samples\n"
    "              outside callbacks under (outside callbacks); kernel frames end in _[k]\n"
    "  offcpu      time off-CPU inside callbacks, in ns (`record --cpu`; the native stacks\n"
    "              with `record --cpu --stacks`), the reason as the leaf: (read), (futex)\n"
    "cpu and offcpu draw folded, svg and speedscope; pprof has cpu as sample types of its\n"
    "own whenever the recording has CPU samples.\n"
    "chrome and perfetto are timelines of the recording, and pprof has every weight: --weight\n"
    "does not apply to them.\n"
    "\n"
    "Options:\n"
    "  -i, --input FILE     the recording to read (same as the FILE argument)\n"
    "  -o, --output OUT     write to OUT instead of standard output\n"
    "      --title TEXT     title of the SVG\n"
    "      --width PX       width of the SVG (default 1200)\n"
    "      --min-width PX   leave out SVG frames narrower than PX pixels (default 0.1)\n"
    "      --types-only     frames are types only, even when the recording has stacks\n"
    "  -j, --json           report errors as one JSON object {\"error\": ...} on stdout\n"
    "  -h, --help           show this help\n"
    "\n"
    "Frame names come from the traced program, so they are made safe for every format:\n"
    "printable ASCII is kept, except ';' and '\\', which like control characters and\n"
    "non-ASCII bytes are written \\xNN (a type named \"a;b\" shows as a\\x3bb); a last word that\n"
    "is a number gets '_' instead of its space (\"semi 42\" shows as semi_42) so that folded\n"
    "readers do not take it for a count. Each format then escapes the rest (XML, JSON, DOT).\n"
    "Empty names show as ?. Paths deeper than 256 frames end in a (deeper) frame.\n"
    "\n"
    "Exit status: 0 success, 1 the file is missing, unreadable, not an ahprof file or from a\n"
    "newer ahprof, or the output cannot be written, 2 bad command line.\n";

static void warnings(const struct flame_opts *o, const struct ahp_file_meta *f,
                     const struct ahp_sites *s)
{
    char p[1100];
    ahp_term_sanitize(p, sizeof(p), o->path, 256);
    if (f->truncated)
        fprintf(stderr,
                "ahprof: warning: %s is truncated (the recording did not end cleanly): "
                "drawing the events before the cut\n",
                p);
    if (f->bad_chunks > 0)
        fprintf(stderr, "ahprof: warning: %s: %" PRIu64 " damaged chunks skipped\n", p,
                f->bad_chunks);
    if (f->lost_events > 0)
        fprintf(stderr,
                "ahprof: warning: %s: %" PRIu64 " events were lost while recording: "
                "weights are lower bounds\n",
                p, f->lost_events);
    if ((o->weight == W_CPU || o->weight == W_OFFCPU || o->format == FMT_PPROF) &&
        f->kinfo.lost_records > 0)
        fprintf(stderr,
                "ahprof: warning: %s: %" PRIu64 " kernel records (CPU samples, off-CPU episodes) "
                "were lost while recording: the cpu and offcpu weights are lower bounds\n",
                p, f->kinfo.lost_records);
    if (s != NULL && s->stacks_redefined > 0)
        fprintf(stderr,
                "ahprof: warning: %s: %" PRIu64 " stacks described twice: the first counts\n", p,
                s->stacks_redefined);
}

static int parse_format(const char *s, enum flame_format *f)
{
    static const char *const names[] = {"folded", "svg",   "chrome",  "speedscope",
                                        "dot",    "pprof", "perfetto"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (enum flame_format)i;
            return 0;
        }
    return -EINVAL;
}

static int parse_weight(const char *s, enum flame_weight *w)
{
    if (strcmp(s, "time") == 0)
        *w = W_TIME;
    else if (strcmp(s, "count") == 0)
        *w = W_COUNT;
    else if (strcmp(s, "live") == 0)
        *w = W_LIVE;
    else if (strcmp(s, "cpu") == 0)
        *w = W_CPU;
    else if (strcmp(s, "offcpu") == 0)
        *w = W_OFFCPU;
    else
        return -EINVAL;
    return 0;
}

/* Read, build and write. Returns 0 or a negative errno, with *WHAT naming the step. */
static int render(struct flame_run *run, const char **what)
{
    const struct flame_opts *o = run->o;
    int rc;
    if (!o->types_only) {
        *what = "reading the stacks of";
        if ((rc = ahp_sites_load(&run->sites, run->r)) < 0)
            return rc;
    }
    struct ahp_model_opts mo = {0};
    struct flame_trace *tr = NULL;
    bool kernel = o->weight == W_CPU || o->weight == W_OFFCPU;
    bool timeline = o->format == FMT_CHROME || o->format == FMT_PERFETTO ||
                    (o->format == FMT_SPEEDSCOPE && o->weight == W_TIME);
    if (timeline) {
        *what = "starting the output for";
        if ((rc = flame_trace_begin(&tr, run, &mo)) < 0)
            return rc;
    }
    /* The model's hooks share one arg: with a timeline it is the trace's state. */
    if (run->sites != NULL && run->sites->nsites > 0) {
        if (tr != NULL) {
            mo.site_of = flame_trace_site_of;
        } else {
            mo.site_of = ahp_sites_site_of;
            mo.arg = run->sites;
        }
    }

    *what = "reading";
    rc = ahp_model_build(&run->m, run->r, &mo);
    if (rc < 0) {
        flame_trace_free(tr);
        return rc;
    }
    *what = "writing";
    if (timeline) {
        rc = flame_trace_end(tr, run);
        flame_trace_free(tr);
        return rc;
    }
    if (o->format == FMT_DOT)
        return flame_write_dot(run);
    if (o->format == FMT_PPROF)
        return flame_write_pprof(run);
    struct ftree t;
    *what = "building the flame graph of";
    rc = kernel ? ftree_build_kernel(&t, run, o->weight)
                : ftree_build(&t, run->m, run->sites, o->weight, o->types_only);
    if (rc < 0)
        return rc;
    *what = "writing";
    switch (o->format) {
    case FMT_FOLDED:
        rc = flame_write_folded(run, &t);
        break;
    case FMT_SVG:
        rc = flame_write_svg(run, &t);
        break;
    default:
        rc = flame_write_speedscope_tree(run, &t);
        break;
    }
    ftree_free(&t);
    return rc;
}

int ahprof_cmd_flame(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"weight", required_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"title", required_argument, NULL, 'T'},
        {"width", required_argument, NULL, 'W'},
        {"min-width", required_argument, NULL, 'M'},
        {"types-only", no_argument, NULL, 'Y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flame_opts o = {.format = FMT_FOLDED, .weight = W_TIME, .width = 1200, .min_width = 0.1};
    o.json = ahp_wants_json(argc, argv, "-j");

    optind = 0; /* full re-initialisation: the command may run more than once per process */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hf:w:o:i:j", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (parse_format(optarg, &o.format) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "unknown format '%s' (folded, svg, chrome, speedscope, dot, "
                                "pprof or perfetto)",
                                optarg);
            break;
        case 'w':
            if (parse_weight(optarg, &o.weight) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "unknown weight '%s' (time, count, live, cpu or offcpu)", optarg);
            break;
        case 'o':
            o.out_path = optarg;
            break;
        case 'i':
            o.path = optarg;
            break;
        case 'T':
            o.title = optarg;
            break;
        case 'W':
            if (ahp_parse_long(optarg, 200, 100000, &o.width) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "--width wants a number of pixels from 200 to 100000, not '%s'",
                                optarg);
            break;
        case 'M':
            if (ahp_parse_real(optarg, 0, 1000, &o.min_width) < 0)
                return ahp_fail(o.json, AHP_EXIT_USAGE,
                                "--min-width wants pixels from 0 to 1000, not '%s'", optarg);
            break;
        case 'Y':
            o.types_only = true;
            break;
        case 'j':
            o.json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return AHP_EXIT_OK;
        default:
            return ahp_bad_option(argc, argv, o.json, "fwoiTWM", "flame");
        }
    }
    int code = ahp_recording_path(argc, argv, optind, &o.path, o.json, "flame");
    if (code != 0)
        return code;
    bool kernel = o.weight == W_CPU || o.weight == W_OFFCPU;
    if (kernel && o.format != FMT_FOLDED && o.format != FMT_SVG && o.format != FMT_SPEEDSCOPE &&
        o.format != FMT_PPROF)
        return ahp_fail(o.json, AHP_EXIT_USAGE,
                        "--weight %s draws folded, svg, speedscope or pprof, not %s",
                        flame_weight_name(o.weight),
                        o.format == FMT_DOT ? "dot" : "a timeline (chrome, perfetto)");

    struct flame_run run = {.o = &o};
    code = ahp_recording_open(o.path, o.json, &run.r);
    if (code != 0)
        return code;
    int rc;
    run.meta = ahp_reader_meta(run.r);
    if (kernel && !run.meta->has_kernel) {
        char p[1100];
        ahp_term_sanitize(p, sizeof(p), o.path, 256);
        ahp_reader_close(run.r);
        return ahp_fail(o.json, AHP_EXIT_ERROR,
                        "%s has no CPU data: record with --cpu (ahprof record --cpu ...) to draw "
                        "--weight %s",
                        p, flame_weight_name(o.weight));
    }

    /* A regular OUT is written to a temporary file next to it, renamed over it at the end: a
     * failed run leaves no half-written graph behind, nor truncates a previous good one.
     * Anything else (a device, a pipe, a symbolic link) is written in place. */
    char *tmp_path = NULL;
    if (o.out_path != NULL) {
        struct stat st;
        bool in_place = lstat(o.out_path, &st) == 0 && !S_ISREG(st.st_mode);
        size_t n = strlen(o.out_path) + 32;
        if (!in_place && (tmp_path = malloc(n)) == NULL) {
            ahp_reader_close(run.r);
            return ahp_fail(o.json, AHP_EXIT_ERROR, "out of memory");
        }
        if (tmp_path != NULL)
            snprintf(tmp_path, n, "%s.tmp.%ld", o.out_path, (long)getpid());
        run.out = fopen(in_place ? o.out_path : tmp_path, in_place ? "w" : "wx");
        if (run.out == NULL) {
            int err = errno;
            free(tmp_path);
            ahp_reader_close(run.r);
            return ahp_fail(o.json, AHP_EXIT_ERROR, "cannot write %s: %s", o.out_path,
                            strerror(err));
        }
    } else {
        run.out = stdout;
    }

    const char *what = "reading";
    rc = render(&run, &what);
    /* Standard output is checked by main, with the rest of ahprof's output. */
    if (rc == 0 && run.out != stdout && (fflush(run.out) != 0 || ferror(run.out)))
        rc = -EIO, what = "writing";
    if (o.out_path != NULL) {
        if (fclose(run.out) != 0 && rc == 0)
            rc = -EIO, what = "writing";
        if (tmp_path != NULL && rc == 0 && rename(tmp_path, o.out_path) != 0)
            rc = -errno, what = "writing";
        if (tmp_path != NULL && rc != 0)
            unlink(tmp_path);
    }
    free(tmp_path);

    code = AHP_EXIT_OK;
    if (rc != 0) {
        const char *target = strcmp(what, "writing") == 0 && o.out_path != NULL ? o.out_path
                             : strcmp(what, "writing") == 0                     ? "the output"
                                                                                : o.path;
        code = ahp_fail(o.json, AHP_EXIT_ERROR, "%s %s: %s", what, target,
                        rc == -EIO ? "input/output error" : ahp_file_strerror(rc));
    } else {
        warnings(&o, run.meta, run.sites);
    }
    ahp_model_free(run.m);
    ahp_sites_free(run.sites);
    ahp_reader_close(run.r);
    return code;
}
