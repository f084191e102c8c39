/*
 * test_hygiene.c - ahprof's output is ahprof's alone and reaches its reader or says why not;
 * its numbers and privileges do what the command line and the messages say. Real processes,
 * real BPF, real capabilities (file capabilities on a copy of ahprof run as nobody), a real
 * `make install` in a copy of the build.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "tmpdir.h"

#define NOBODY "--reuid=65534", "--regid=65534", "--clear-groups"

/* Record `workload tree 5` into data_path. */
static void record_tree(void)
{
    char *argv[] = {AHPROF, "record", "-q", "-o", data_path, "--", WORKLOAD, "tree", "5", NULL};
    cr_assert_eq(run_capture(argv, NULL, NULL, 30000), 0, "record failed");
}

/* ---------------------------------------------------------------------------------------
 * 7. Output hygiene
 */

TestSuite(hygiene, .init = make_data_path, .fini = remove_data);

/* The child prints "ready" on its stdout at once; every stdout line of top --json must still
 * be one of top's JSON objects. */
Test(hygiene, top_json_keeps_a_launched_programs_stdout_out)
{
    char *argv[] = {AHPROF, "top", "--json", "0.2", "--", WORKLOAD, "hold", "3", NULL};
    struct proc p;
    proc_start(&p, argv);
    cr_assert(proc_wait_stderr(&p, "ready", 20000), "the child's stdout did not reach stderr");
    cr_assert_eq(write(p.in_fd, "\n", 1), 1); /* the child reads ahprof's stdin */
    char *out = proc_read_all(p.out_fd, 20000);
    int code = proc_wait(&p, 20000);
    cr_expect_eq(code, 0);
    int objects = 0;
    bool saw_hold = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_object *obj = json_tokener_parse(line);
        cr_assert_not_null(obj, "not an NDJSON line of top: '%s'", line);
        cr_assert(json_object_object_get_ex(obj, "time_ns", NULL), "not top's: %s", line);
        saw_hold = saw_hold || find_named(obj, "types", "HOLD") != NULL;
        objects++;
        json_object_put(obj);
    }
    cr_expect(objects >= 1 && saw_hold, "top saw nothing of the child (%d lines)", objects);
    free(out);
}

/* `record -o - -- CMD > f`: the file is the recording, whatever CMD prints. */
Test(hygiene, record_to_stdout_keeps_a_launched_programs_stdout_out)
{
    char *argv[] = {"/bin/sh", "-c",     "exec \"$0\" record -q -o - -- \"$1\" hold 3 > \"$2\"",
                    AHPROF,    WORKLOAD, data_path,
                    NULL};
    struct proc p;
    proc_start(&p, argv);
    cr_assert(proc_wait_stderr(&p, "ready", 20000), "the child's stdout did not reach stderr");
    cr_assert_eq(write(p.in_fd, "\n", 1), 1);
    cr_assert_eq(proc_wait(&p, 20000), 0, "record failed");
    size_t len;
    char *file = read_file(data_path, &len);
    cr_expect(memmem(file, len, "ready", 5) == NULL, "the child's output is in the recording");
    free(file);
    json_object *root = report_json();
    cr_expect_eq(get_int(root, "damaged_chunks"), 0);
    cr_expect_eq(get_int(root, "trailing_bytes"), 0);
    expect_type(root, "HOLD", 3, 3, 0, 0);
    json_object_put(root);
}

/* report - , report /dev/stdin and flame - read a recording from a real pipe. */
Test(hygiene, report_and_flame_read_a_pipe)
{
    record_tree();
    const char *const forms[] = {"-", "/dev/stdin"};
    for (int i = 0; i < 2; i++) {
        char *out = NULL, *err = NULL;
        char *argv[] = {"/bin/sh", "-c",      "cat \"$1\" | \"$0\" report --json \"$2\"",
                        AHPROF,    data_path, (char *)forms[i],
                        NULL};
        int code = run_capture(argv, &out, &err, 30000);
        cr_assert_eq(code, 0, "report %s from a pipe: exit %d: %s", forms[i], code, err);
        json_object *root = json_tokener_parse(out);
        cr_assert_not_null(root, "not JSON: %s", out);
        expect_type(root, "REQ", 5, 5, 5, 0);
        cr_expect(json_object_get_boolean(json_object_object_get(root, "clean_end")));
        json_object_put(root);
        free(out);
        free(err);
    }
    char *out = NULL, *err = NULL;
    char *argv[] = {"/bin/sh", "-c",      "cat \"$1\" | \"$0\" flame -w count -",
                    AHPROF,    data_path, NULL};
    int code = run_capture(argv, &out, &err, 30000);
    cr_expect_eq(code, 0, "flame - : exit %d: %s", code, err);
    cr_expect(strstr(out, "REQ 5\n") != NULL, "flame - drew: %s", out);
    free(out);
    free(err);
}

/* Anything else on a pipe is refused after its header, not read to its end first. */
Test(hygiene, endless_garbage_on_a_pipe_is_refused_at_once)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {"/bin/sh", "-c", "yes | \"$0\" report -", AHPROF, NULL};
    int code = run_capture(argv, &out, &err, 20000);
    cr_expect_eq(code, 1, "exit %d: %s", code, err);
    cr_expect(strstr(err, "standard input is not an ahprof data file") != NULL, "%s", err);
    cr_expect(strstr(err, "empty") == NULL, "%s", err);
    free(out);
    free(err);
}

static void expect_write_error(const char *command_line)
{
    char *argv[] = {"/bin/sh", "-c", (char *)command_line, AHPROF, WORKLOAD, data_path, NULL};
    struct proc p;
    proc_start(&p, argv);
    /* stdout is /dev/full: all there is to read is stderr, as long as it takes. */
    bool said =
        proc_wait_stderr(&p, "ahprof: cannot write the output: No space left on device\n", 30000);
    int code = proc_wait(&p, 30000);
    cr_expect_eq(code, 1, "%s: exit %d, want 1", command_line, code);
    cr_expect(said, "%s: no message on stderr", command_line);
}

Test(hygiene, a_full_disk_on_stdout_is_an_error)
{
    record_tree();
    expect_write_error("exec \"$0\" top --json 0.2 2 -- \"$1\" tree 5 > /dev/full");
    expect_write_error("exec \"$0\" top -C 0.2 2 -- \"$1\" tree 5 > /dev/full");
    expect_write_error("exec \"$0\" report \"$2\" > /dev/full");
    expect_write_error("exec \"$0\" report --json \"$2\" > /dev/full");
    expect_write_error("exec \"$0\" flame \"$2\" > /dev/full");
    expect_write_error("exec \"$0\" --help > /dev/full");
}

/* A reader that goes away ends top at its next interval, quietly: the launched program
 * would otherwise keep it running (it waits for a line that never comes). */
Test(hygiene, top_ends_quietly_when_its_reader_goes_away)
{
    char *argv[] = {AHPROF, "top", "-C", "0.1", "--", WORKLOAD, "wait", NULL};
    struct proc p;
    proc_start(&p, argv);
    char line[512];
    cr_assert(proc_read_line(&p, line, sizeof(line), 20000), "no output from top");
    close(p.out_fd);
    p.out_fd = open("/dev/null", O_RDONLY); /* proc_wait closes it */
    int code = proc_wait(&p, 10000);
    cr_expect_eq(code, 0, "top exit %d after its reader left", code);

    /* Output much larger than a pipe holds: the reader leaves long before the end. */
    char *rec[] = {AHPROF, "record", "-q", "-o", data_path, "--", WORKLOAD, "flood", "20000", NULL};
    cr_assert_eq(run_capture(rec, NULL, NULL, 30000), 0);
    const char *const readers[] = {"\"$0\" report \"$1\" | head -1",
                                   "\"$0\" report --json \"$1\" | head -c 10",
                                   "\"$0\" flame -f chrome \"$1\" | head -c 10"};
    for (int i = 0; i < 3; i++) {
        char *out = NULL, *err = NULL;
        char *argv2[] = {"/bin/sh", "-c", (char *)readers[i], AHPROF, data_path, NULL};
        cr_expect_eq(run_capture(argv2, &out, &err, 30000), 0);
        cr_expect_str_eq(err, "", "%s: noise on a closed pipe: %s", readers[i], err);
        free(out);
        free(err);
    }
}

/* ---------------------------------------------------------------------------------------
 * 8. Numbers and privileges
 */

static void expect_usage_error(char *const argv[], const char *want)
{
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 5000);
    cr_expect_eq(code, 2, "%s %s %s ...: exit %d, want 2 (stderr: %s)", argv[1], argv[2], argv[3],
                 code, err);
    cr_expect(strstr(err, want) != NULL, "stderr lacks '%s': %s", want, err);
    free(out);
    free(err);
}

Test(hygiene, bad_numbers_are_usage_errors)
{
    struct proc target;
    char pid[32];
    char *targv[] = {WORKLOAD, "wait", NULL};
    start_ready_target(&target, targv, pid);
    const char *const intervals[] = {"nan", "inf", "1e12", "0",      "5ms",
                                     "1x",  " 1",  "0x10", "1e-400", ""};
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        char *argv[] = {AHPROF, "top", "-p", pid, (char *)intervals[i], "1", NULL};
        expect_usage_error(argv, "invalid interval");
    }
    const char *const counts[] = {"nan", "inf", "0", "1e3", "2x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char *argv[] = {AHPROF, "top", "-p", pid, "1", (char *)counts[i], NULL};
        expect_usage_error(argv, "invalid count");
    }
    const char *const durations[] = {"nan", "inf", "-1", "1e12", "0", "10x", "1e400", "0x1p3"};
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char *argv[] = {AHPROF, "record",  "-p", pid, "-d", (char *)durations[i],
                        "-o",   data_path, NULL};
        expect_usage_error(argv, "invalid --duration");
    }
    const char *const buffers[] = {"4096", "3", "0", "-2", "1e3", "64x", "inf"};
    for (size_t i = 0; i < sizeof(buffers) / sizeof(buffers[0]); i++) {
        char *argv[] = {AHPROF, "record",  "-p", pid, "-b", (char *)buffers[i],
                        "-o",   data_path, NULL};
        expect_usage_error(argv, "invalid --buffer");
    }
    cr_expect(access(data_path, F_OK) != 0, "a refused record left a file");
    kill(target.pid, SIGKILL);
    proc_wait(&target, 5000);
}

/* The good forms still work: a duration in ms and the largest ring buffer's neighbours. */
Test(hygiene, good_numbers_work)
{
    struct proc target;
    char pid[32];
    char *targv[] = {WORKLOAD, "hold", "4", NULL};
    start_ready_target(&target, targv, pid);
    char *argv[] = {AHPROF,  "record", "-q", "-p", pid,       "-d",
                    "300ms", "-b",     "2",  "-o", data_path, NULL};
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 20000);
    cr_expect_eq(code, 0, "record -d 300ms: exit %d: %s", code, err);
    free(err);
    json_object *root = report_json();
    json_object *hold = find_named(root, "types", "HOLD");
    cr_expect_not_null(hold, "the snapshot of 4 HOLD is missing");
    json_object_put(root);

    char *out = NULL;
    char *targv2[] = {AHPROF, "top", "--json", "-p", pid, "250ms", "2", NULL};
    code = run_capture(targv2, &out, NULL, 20000);
    cr_expect_eq(code, 0);
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    cr_expect_eq(lines, 2, "top 250ms 2 printed %d intervals", lines);
    free(out);
    kill(target.pid, SIGKILL);
    proc_wait(&target, 5000);
}

Test(hygiene, a_device_is_not_called_empty)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {AHPROF, "report", "/dev/zero", NULL};
    cr_expect_eq(run_capture(argv, &out, &err, 10000), 1);
    cr_expect(strstr(err, "/dev/zero is not an ahprof data file\n") != NULL, "%s", err);
    free(out);
    free(err);
    int fd = open(data_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    close(fd);
    char *argv2[] = {AHPROF, "report", data_path, NULL};
    cr_expect_eq(run_capture(argv2, &out, &err, 10000), 1);
    cr_expect(strstr(err, "is not an ahprof data file (it is empty)\n") != NULL, "%s", err);
    free(out);
    free(err);
}

/* A copy of ahprof in a directory nobody may enter, with CAPS as file capabilities (none when
 * NULL). Returns its path. */
static char copy_dir[64], copy_path[96];

static const char *ahprof_copy(const char *caps)
{
    if (copy_dir[0] == '\0') {
        tmpdir_make(copy_dir, "caps");
        cr_assert_eq(chmod(copy_dir, 0755), 0);
        snprintf(copy_path, sizeof(copy_path), "%s/ahprof", copy_dir);
        char *cp[] = {"/bin/cp", AHPROF, copy_path, NULL};
        cr_assert_eq(run_capture(cp, NULL, NULL, 10000), 0);
        cr_assert_eq(chmod(copy_path, 0755), 0);
    }
    char *setcap[] = {"/usr/sbin/setcap", caps ? (char *)caps : "-r", copy_path, NULL};
    char *err = NULL;
    int code = run_capture(setcap, NULL, &err, 10000);
    cr_assert(code == 0 || (caps == NULL && strstr(err, "no capab") != NULL), "setcap: %s", err);
    free(err);
    return copy_path;
}

static void remove_copy(void)
{
    if (copy_dir[0] == '\0')
        return;
    tmpdir_remove(copy_dir);
}

/* `top --json -p PID` as nobody with the copy: exit code and output. */
static int top_as_nobody(const char *copy, const char *pid, char **out, char **err)
{
    char *argv[] = {"/usr/bin/setpriv", NOBODY, (char *)copy, "top", "--json", "-p",
                    (char *)pid,        "0.3",  "1",          NULL};
    return run_capture(argv, out, err, 30000);
}

/* The advice in the message, tried: a user with the capabilities it names attaches to
 * another user's process and sees its resources; without them, or with the capabilities the
 * old advice named, exit 3 and the advice. */
Test(hygiene, the_capabilities_advice_works, .fini = remove_copy)
{
    struct proc target; /* root's: another user's process for nobody */
    char pid[32];
    char *targv[] = {WORKLOAD, "hold", "6", NULL};
    start_ready_target(&target, targv, pid);
    const char *advice = "sudo setcap cap_sys_admin,cap_sys_ptrace+ep ahprof";

    const char *const refused[] = {NULL, "cap_bpf,cap_perfmon,cap_sys_ptrace+ep",
                                   "cap_sys_admin+ep"};
    for (int i = 0; i < 3; i++) {
        char *out = NULL, *err = NULL;
        int code = top_as_nobody(ahprof_copy(refused[i]), pid, &out, &err);
        cr_expect_eq(code, 3, "caps %s: exit %d, want 3: %s %s", refused[i], code, out, err);
        cr_expect(strstr(out, advice) != NULL, "caps %s: no advice: %s", refused[i], out);
        free(out);
        free(err);
    }

    char *out = NULL, *err = NULL;
    int code = top_as_nobody(ahprof_copy("cap_sys_admin,cap_sys_ptrace+ep"), pid, &out, &err);
    cr_assert_eq(code, 0, "with the advised caps: exit %d: %s %s", code, out, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "not JSON: %s", out);
    json_object *hold = find_named(root, "types", "HOLD");
    cr_assert_not_null(hold, "nobody's top did not see the 6 HOLD: %s", out);
    cr_expect_eq(get_int(hold, "active"), 6);
    json_object_put(root);
    free(out);
    free(err);
    kill(target.pid, SIGKILL);
    proc_wait(&target, 5000);
}

/* The quick start of `ahprof --help`: `sudo ahprof record -o - -- ./server > my.data` leaves a
 * file the user's shell created, which the user reads without root; a file `sudo ahprof
 * record` wrote is root's, and the message says so. */
Test(hygiene, the_quick_start_works_without_root)
{
    char *out = NULL;
    char *help[] = {AHPROF, "--help", NULL};
    cr_assert_eq(run_capture(help, &out, NULL, 10000), 0);
    cr_expect(strstr(out, "sudo ahprof record -o - -- ./server > my.data") != NULL, "%s", out);
    cr_expect(strstr(out, "  ahprof report my.data ") != NULL, "%s", out);
    free(out);

    /* The user's shell creates the file, sudo's ahprof writes into it. */
    char *create[] = {"/usr/bin/setpriv",        NOBODY,    "/bin/sh", "-c",
                      "umask 077 && : > \"$0\"", data_path, NULL};
    cr_assert_eq(run_capture(create, NULL, NULL, 10000), 0);
    char *rec[] = {"/bin/sh", "-c",     "exec \"$0\" record -q -o - -- \"$1\" tree 5 > \"$2\"",
                   AHPROF,    WORKLOAD, data_path,
                   NULL};
    cr_assert_eq(run_capture(rec, NULL, NULL, 30000), 0);
    char *err = NULL;
    char *report[] = {"/usr/bin/setpriv", NOBODY, AHPROF, "report", "--json", data_path, NULL};
    int code = run_capture(report, &out, &err, 30000);
    cr_assert_eq(code, 0, "nobody's report: exit %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "not JSON: %s", out);
    expect_type(root, "REQ", 5, 5, 5, 0);
    json_object_put(root);
    free(out);
    free(err);

    /* Without the redirection: root's file, 0600. */
    unlink(data_path);
    record_tree();
    char *report2[] = {"/usr/bin/setpriv", NOBODY, AHPROF, "report", data_path, NULL};
    code = run_capture(report2, &out, &err, 30000);
    cr_expect_eq(code, 1);
    cr_expect(strstr(err, "permission denied") != NULL && strstr(err, "sudo") != NULL, "%s", err);
    free(out);
    free(err);
}

/* `make install PREFIX=/x` after `make`, in a copy of the source and the built library (with
 * their times, so that nothing but ah.pc may be rebuilt): the installed ah.pc says /x. */
Test(hygiene, make_install_prefix_rewrites_ah_pc)
{
    char tmp[64];
    tmpdir_make(tmp, "install");
    char script[2048];
    snprintf(script, sizeof(script),
             "set -e; src=\"$0\"; t=\"$1\"; mkdir -p \"$t/tree/build/src\"; "
             "cp -a \"$src/Makefile\" \"$src/mk\" \"$src/include\" \"$t/tree/\"; "
             "mkdir -p \"$t/tree/src\"; cp -a \"$src/src/lib\" \"$t/tree/src/\"; "
             "cp -a \"$src/build/src/lib\" \"$t/tree/build/src/\"; "
             "cp -a \"$src\"/build/libah.* \"$t/tree/build/\"; "
             "cd \"$t/tree\"; make -s lib; grep -q '^prefix=/usr/local$' build/ah.pc; "
             "make -s install DESTDIR=\"$t/dest\" PREFIX=/x; "
             "cat \"$t/dest/x/lib/pkgconfig/ah.pc\"");
    char *out = NULL, *err = NULL;
    char *argv[] = {"/bin/sh", "-c", script, AHP_BUILD "/..", tmp, NULL};
    int code = run_capture(argv, &out, &err, 60000);
    cr_expect_eq(code, 0, "make install failed: %s", err);
    cr_expect(strstr(out, "prefix=/x\n") != NULL, "installed ah.pc: %s", out);
    cr_expect(strstr(out, "libdir=/x/lib\n") != NULL, "installed ah.pc: %s", out);
    cr_expect(strstr(out, "/usr/local") == NULL, "installed ah.pc: %s", out);
    cr_expect(strstr(out, "CC ") == NULL, "the copy rebuilt objects: %s", out);
    free(out);
    free(err);
    cr_expect_eq(tmpdir_remove(tmp), 0);
}
