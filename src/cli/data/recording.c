/* recording.c - opening the recording a command reads, with actionable errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/recording.h"
#include "common/util.h"

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

/* A stream is copied to an unlinked temporary file: the reader walks the file more than once
 * (metadata first, then the events, and flame again for the stacks), so it needs to seek.
 * The copy is bounded, and a stream that is not a recording stops after its header. */
#define SPOOL_MAX (4ull << 30)
#define SPOOL_CHUNK (1u << 20)

static int temp_file(void)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd >= 0 ? fd : -errno;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/ahprof-stream.XXXXXX", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(path);
    return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copy stream IN into a temporary file: *OUT gets it, *SIZE its length. The header is checked
 * by the reader itself once the first chunk is in, so garbage is refused at once. */
static int spool(int in, int *out, uint64_t *size)
{
    int fd = temp_file();
    if (fd < 0)
        return fd;
    char *buf = malloc(SPOOL_CHUNK);
    int rc = buf ? 0 : -ENOMEM;
    uint64_t total = 0;
    bool probed = false;
    while (rc == 0) {
        size_t have = 0;
        while (have < SPOOL_CHUNK) {
            ssize_t n = read(in, buf + have, SPOOL_CHUNK - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? -errno : 0;
                break;
            }
            have += (size_t)n;
        }
        if (rc == 0 && total + have > SPOOL_MAX)
            rc = -EFBIG;
        if (rc == 0)
            rc = write_all(fd, buf, have);
        total += have;
        if (rc < 0 || have < SPOOL_CHUNK)
            break;
        if (!probed) {
            probed = true;
            struct ahp_reader *r;
            int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            rc = dup < 0 ? -errno : ahp_reader_open_fd(&r, dup);
            if (rc == 0)
                ahp_reader_close(r);
        }
    }
    free(buf);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    *size = total;
    return 0;
}

int ahp_recording_open(const char *path, bool json, struct ahp_reader **r)
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "standard input" : path;
    int fd =
        from_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    bool empty = false;
    if (rc == 0 && lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE) {
        int copy = -1;
        uint64_t size = 0;
        rc = spool(fd, &copy, &size);
        close(fd);
        fd = copy;
        empty = rc == 0 && size == 0;
    } else if (rc == 0) {
        struct stat st;
        empty = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
    }
    if (rc == 0)
        rc = ahp_reader_open_fd(r, fd);
    if (rc == 0)
        return 0;
    if (rc == AHP_E_NOT_AHPROF)
        return ahp_fail(json, AHP_EXIT_ERROR, "%s is not an ahprof data file%s", name,
                        empty ? " (it is empty)" : "");
    if (rc == AHP_E_NEWER)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "%s was written by a newer ahprof (file format version above %d): "
                        "upgrade ahprof to read it",
                        name, AHP_FILE_MAJOR);
    if (rc == -ENOENT)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "cannot open %s: no such file (record one with `ahprof record`)", name);
    if (rc == -EACCES)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "cannot open %s: permission denied (a recording made with sudo is "
                        "root's: read it with sudo, or record with `-o - > FILE`)",
                        name);
    if (rc == -EFBIG)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "%s: a stream longer than %llu GiB is not copied: save it to a file "
                        "and read that",
                        name, SPOOL_MAX >> 30);
    return ahp_fail(json, AHP_EXIT_ERROR, "cannot read %s: %s", name, ahp_file_strerror(rc));
}

int ahp_bad_option(int argc, char **argv, bool json, const char *with_value, const char *command)
{
    const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (optopt != 0 && strchr(with_value, optopt) != NULL)
        return ahp_fail(json, AHP_EXIT_USAGE, "option %s needs a value", bad);
    return ahp_fail(json, AHP_EXIT_USAGE, "unknown option %s (see ahprof %s --help)", bad, command);
}
