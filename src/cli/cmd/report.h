/* report.h - `ahprof report`: print what a recording (docs/file-format.md) says. */
#ifndef AHP_REPORT_H
#define AHP_REPORT_H

/* argv[0] is "report". Returns the exit code (AHP_EXIT_* in util.h). */
int ahprof_cmd_report(int argc, char **argv);

#endif
