/* main.c - ahprof: async_hooks for C programs, profiled from outside with eBPF. */
#include <stdio.h>
#include <string.h>

#include "flame.h"
#include "record.h"
#include "report.h"
#include "top.h"
#include "util.h"

#define AHPROF_VERSION "0.1.0"

static const char main_usage[] =
    "Usage: ahprof COMMAND [OPTIONS]\n"
    "\n"
    "Profile the asynchronous resources (timers, requests, tasks...) of C programs that use\n"
    "libah, from outside the process, with eBPF.\n"
    "\n"
    "Commands:\n"
    "  top      live per-type statistics of a running or launched program\n"
    "  record   record every async event to a file (default ahprof.data)\n"
    "  report   per-type table, trigger tree and leaks from a recorded file\n"
    "  flame    async flame graphs and exports (folded, svg, chrome, speedscope, dot)\n"
    "  version  print the version\n"
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

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return AHP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "top") == 0)
        return ahprof_cmd_top(argc - 1, argv + 1);
    if (strcmp(cmd, "record") == 0)
        return ahprof_cmd_record(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return ahprof_cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "flame") == 0)
        return ahprof_cmd_flame(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ahprof %s\n", AHPROF_VERSION);
        return AHP_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(main_usage, stdout);
        return AHP_EXIT_OK;
    }
    fprintf(stderr, "ahprof: unknown command '%s'\n\n%s", cmd, main_usage);
    return AHP_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    return ahp_stdout_finish(run_command(argc, argv));
}
