/* recording.c - opening the recording a command reads, with actionable errors. */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "recording.h"
#include "util.h"

int ahp_recording_path(int argc, char **argv, int optind_now, const char **path, bool json,
                       const char *command)
{
    if (optind_now < argc) {
        if (*path != NULL || argc - optind_now > 1)
            return ahp_fail(json, AHP_EXIT_USAGE, "%s reads one recording (see ahprof %s --help)",
                            command, command);
        *path = argv[optind_now];
    }
    if (*path == NULL)
        *path = AHP_FILE_DEFAULT;
    return 0;
}

int ahp_recording_open(const char *path, bool json, struct ahp_reader **r)
{
    int rc = ahp_reader_open(r, path);
    if (rc == 0)
        return 0;
    if (rc == AHP_E_NOT_AHPROF) {
        struct stat st;
        bool empty = stat(path, &st) == 0 && st.st_size == 0;
        return ahp_fail(json, AHP_EXIT_ERROR, "%s is not an ahprof data file%s", path,
                        empty ? " (it is empty)" : "");
    }
    if (rc == AHP_E_NEWER)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "%s was written by a newer ahprof (file format version above %d): "
                        "upgrade ahprof to read it",
                        path, AHP_FILE_MAJOR);
    if (rc == -ENOENT)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "cannot open %s: no such file (record one with `ahprof record`)", path);
    return ahp_fail(json, AHP_EXIT_ERROR, "cannot read %s: %s", path, ahp_file_strerror(rc));
}

int ahp_bad_option(int argc, char **argv, bool json, const char *with_value, const char *command)
{
    const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (optopt != 0 && strchr(with_value, optopt) != NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "option %s needs a value", bad);
    return ahp_fail(json, AHP_EXIT_USAGE, "unknown option %s (see ahprof %s --help)", bad, command);
}
