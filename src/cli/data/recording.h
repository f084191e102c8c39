/*
 * recording.h - what the commands that read an ahprof.data file share: which file the
 * command line names, opening it with errors a user can act on, and bad-option messages.
 */
#ifndef AHP_RECORDING_H
#define AHP_RECORDING_H

#include <stdbool.h>

#include "data/datafile.h"

/* After getopt: the one optional FILE operand (or the -i value in *PATH), defaulting to
 * ahprof.data. Returns 0 or an exit code (error printed). COMMAND names the command. */
int ahp_recording_path(int argc, char **argv, int optind_now, const char **path, bool json,
                       const char *command);

/* Open PATH ("-": standard input); returns 0 with *R set, or an exit code after one clear
 * line. A pipe or other stream is first copied to an unlinked temporary file in $TMPDIR (or
 * /tmp), up to 4 GiB; its header is checked after the first MiB. */
int ahp_recording_open(const char *path, bool json, struct ahp_reader **r);

/* getopt's '?' case: "option X needs a value" for the options in WITH_VALUE (their letters),
 * else "unknown option X (see ahprof COMMAND --help)". Returns the usage exit code. */
int ahp_bad_option(int argc, char **argv, bool json, const char *with_value, const char *command);

#endif
