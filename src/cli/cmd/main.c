/* main.c - ahprof: async_hooks for C programs, profiled from outside with eBPF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ah.h"
#include "cmd/flame.h"
#include "cmd/record.h"
#include "cmd/report.h"
#include "cmd/stuck.h"
#include "cmd/top.h"
#include "common/json_writer.h"
#include "common/util.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Every command, in the order `ahprof --help` lists them. */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"top", ahprof_cmd_top, "live per-type statistics of a running or launched program"},
    {"record", ahprof_cmd_record, "record every async event to a file (default ahprof.data)"},
    {"report", ahprof_cmd_report, "per-type table, trigger tree and leaks from a recorded file"},
    {"flame", ahprof_cmd_flame,
     "async flame graphs and exports (folded, svg, chrome, speedscope, dot)"},
    {"stuck", ahprof_cmd_stuck,
     "where each thread of a running process is now: async stack, kernel wait, how long"},
    {"version", cmd_version, "print the version (also: ahprof --version)"},
    {"help", cmd_help, "this help, or a command's: ahprof help COMMAND"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_head[] =
    "Usage: ahprof [-j|--json] COMMAND [OPTIONS]\n"
    "\n"
    "Profile the asynchronous resources (timers, requests, tasks...) of C programs that use\n"
    "libah, from outside the process, with eBPF.\n"
    "\n"
    "Commands:\n";

static const char usage_tail[] =
    "\n"
    "-j, --json goes before or after any command: top's and report's output, record's\n"
    "summary, the version and every error (one {\"error\": \"...\"} object) are then JSON on\n"
    "stdout (flame's formats stay as they are).\n"
    "Exit status: 0 success, 1 error, 2 bad command line, 3 missing privileges, 4 no such\n"
    "target (no process, or it does not use libah).\n"
    "\n"
    "Quick start:\n"
    "  sudo ahprof top -p PID                      live view of a running process\n"
    "  sudo ahprof record -o - -- ./server > my.data\n"
    "                                              record a program from its start into a\n"
    "                                              file that your shell creates, so yours\n"
    "  ahprof report my.data                       what ran, who created whom, what leaked\n"
    "  ahprof flame -f svg -o flame.svg my.data    an async flame graph for a browser\n"
    "(`sudo ahprof record -- ./server` writes ahprof.data, owned by root and readable by\n"
    "root only: read it with sudo.) Without sudo, ahprof needs CAP_SYS_ADMIN, and\n"
    "CAP_SYS_PTRACE for other users' processes: sudo setcap cap_sys_admin,cap_sys_ptrace+ep\n"
    "on a copy of ahprof that only trusted users may run.\n"
    "\n"
    "`ahprof COMMAND --help` explains each command.\n";

static void print_usage(FILE *out)
{
    fputs(usage_head, out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs(usage_tail, out);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool is_json_flag(const char *arg)
{
    char *one[] = {"ahprof", (char *)arg, NULL};
    return ahp_wants_json(2, one, "-j");
}

/* What `version` and `help` take: -j/--json, -h/--help and (help) one operand in *OPERAND.
 * Returns 0 or the usage exit code. */
static int simple_options(int argc, char **argv, bool *json, bool *help, const char **operand)
{
    *json = ahp_wants_json(argc, argv, "-j");
    *help = false;
    *operand = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_json_flag(argv[i]))
            continue;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            *help = true;
        else if (argv[i][0] == '-')
            return ahp_fail(*json, AHP_EXIT_USAGE, "unknown option %s (see ahprof %s --help)",
                            argv[i], argv[0]);
        else if (*operand == NULL)
            *operand = argv[i];
        else
            return ahp_fail(*json, AHP_EXIT_USAGE, "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    bool json, help;
    const char *operand;
    int code = simple_options(argc, argv, &json, &help, &operand);
    if (code != 0)
        return code;
    if (operand != NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "unexpected argument '%s'", operand);
    if (help)
        fputs("Usage: ahprof version [-j|--json]\n"
              "\n"
              "Print ahprof's version (libah's is the same): \"ahprof X.Y.Z\", or with --json\n"
              "{\"version\": \"X.Y.Z\"}. ahprof --version does the same.\n",
              stdout);
    else if (json) {
        struct ahp_json w;
        ahp_json_init(&w, stdout, AHP_JSON_SPACED);
        ahp_json_object_begin(&w);
        ahp_json_field_str(&w, "version", AH_VERSION_STRING);
        ahp_json_object_end(&w);
    } else
        printf("ahprof %s\n", AH_VERSION_STRING);
    return AHP_EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
    bool json, help;
    const char *operand;
    int code = simple_options(argc, argv, &json, &help, &operand);
    if (code != 0)
        return code;
    if (operand != NULL) {
        const struct command *c = find_command(operand);
        if (c == NULL || c->run == cmd_help)
            return ahp_fail(json, AHP_EXIT_USAGE, "unknown command '%s' (see ahprof --help)",
                            operand);
        char *sub[] = {(char *)c->name, "--help", NULL};
        return c->run(2, sub);
    }
    print_usage(stdout);
    return AHP_EXIT_OK;
}

/*
 * ahprof [GLOBAL OPTIONS] COMMAND [ARGS]. The global options are -j/--json (handed on to the
 * command, so that `ahprof --json report f` is `ahprof report --json f`), --version and
 * -h/--help. Under --json every error, these included, is one JSON object on stdout.
 */
static int run_command(int argc, char **argv)
{
    int first = 1;
    bool json = false, version = false, help = false;
    const char *bad = NULL;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (is_json_flag(argv[first]))
            json = true;
        else if (strcmp(argv[first], "--version") == 0)
            version = true;
        else if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0)
            help = true;
        else if (bad == NULL)
            bad = argv[first];
    }
    if (bad != NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "unknown option %s (see ahprof --help)", bad);
    /* `ahprof --help [COMMAND]` is `ahprof help [COMMAND]`, `ahprof --version` `ahprof version`:
     * then what follows is their operands. */
    const char *name = help ? "help" : version ? "version" : first < argc ? argv[first++] : NULL;
    if (name == NULL) {
        if (json)
            return ahp_fail(json, AHP_EXIT_USAGE, "no command given (see ahprof --help)");
        print_usage(stderr);
        return AHP_EXIT_USAGE;
    }
    const struct command *cmd = find_command(name);
    if (cmd == NULL) {
        if (json)
            return ahp_fail(json, AHP_EXIT_USAGE, "unknown command '%s' (see ahprof --help)", name);
        fprintf(stderr, "ahprof: unknown command '%s'\n\n", name);
        print_usage(stderr);
        return AHP_EXIT_USAGE;
    }
    /* The command's own argv: its name, --json when it came first, then its arguments
     * (before any "--", so that it stays an option of ahprof's, not of a launched program). */
    int rest = argc - first;
    char **sub = calloc((size_t)rest + 3, sizeof(*sub));
    if (sub == NULL)
        return ahp_fail(json, AHP_EXIT_ERROR, "out of memory");
    int n = 0;
    sub[n++] = (char *)cmd->name;
    if (json)
        sub[n++] = "--json";
    for (int i = 0; i < rest; i++)
        sub[n++] = argv[first + i];
    sub[n] = NULL;
    int code = cmd->run(n, sub);
    free(sub);
    return code;
}

int main(int argc, char **argv)
{
    return ahp_stdout_finish(run_command(argc, argv));
}
