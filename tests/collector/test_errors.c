/*
 * test_errors.c - every error a user can meet when attaching says what is wrong in one line,
 * exits nonzero, and is JSON under --json. The kernel is real: missing privileges are real
 * dropped capabilities, a missing BTF or uprobe PMU is the real sysfs hidden in a private
 * mount namespace.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static void expect_failure(char *const argv[], int want_code, const char *want_text)
{
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 30000);
    cr_expect_eq(code, want_code, "exit code %d, want %d (stderr: %s)", code, want_code, err);
    cr_expect(strstr(err, want_text) != NULL, "stderr lacks '%s': %s", want_text, err);
    /* One clear line (libbpf may add its own lines before it only on load failures). */
    const char *last = strrchr(err, '\n');
    cr_expect(last != NULL && last[1] == '\0', "message not newline-terminated");
    free(out);
    free(err);
}

Test(errors, no_such_pid)
{
    char *argv[] = {AHPROF, "top", "-p", "999999", NULL};
    expect_failure(argv, 4, "no such process: 999999");
}

Test(errors, no_such_pid_json)
{
    char *argv[] = {AHPROF, "top", "--json", "-p", "999999", NULL};
    char *out = NULL;
    int code = run_capture(argv, &out, NULL, 30000);
    cr_expect_eq(code, 4);
    json_object *obj = json_tokener_parse(out);
    cr_assert_not_null(obj, "not JSON: %s", out);
    json_object *msg;
    cr_assert(json_object_object_get_ex(obj, "error", &msg));
    cr_expect(strstr(json_object_get_string(msg), "no such process") != NULL);
    json_object_put(obj);
    free(out);
}

Test(errors, process_without_libah)
{
    char *sargv[] = {"/bin/sleep", "30", NULL};
    struct proc s;
    proc_start(&s, sargv);
    usleep(200 * 1000);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", s.pid);
    char *argv[] = {AHPROF, "record", "-p", pid, "-o", "/tmp/ahprof-test-nolibah.data", NULL};
    expect_failure(argv, 4, "does not use libah");
    cr_expect(access("/tmp/ahprof-test-nolibah.data", F_OK) != 0, "no file left behind");
    kill(s.pid, SIGKILL);
    proc_wait(&s, 5000);
}

Test(errors, command_without_libah)
{
    char *argv[] = {AHPROF, "top", "--", "/bin/true", NULL};
    expect_failure(argv, 4, "does not use libah");
}

Test(errors, command_not_found)
{
    char *argv[] = {AHPROF, "top", "--", "/nonexistent/program", NULL};
    expect_failure(argv, 4, "command not found");
}

Test(errors, bad_pid_is_a_usage_error)
{
    char *argv[] = {AHPROF, "top", "-p", "12abc", NULL};
    expect_failure(argv, 2, "invalid PID '12abc'");
}

Test(errors, neither_pid_nor_command)
{
    char *argv[] = {AHPROF, "record", NULL};
    expect_failure(argv, 2, "give either -p PID or -- COMMAND");
}

/* Run `ahprof top -- workload` through setpriv with OPTIONS (real credentials, real caps). */
static void expect_denied(const char *const options[], const char *want)
{
    char *argv[16];
    int n = 0;
    argv[n++] = "/usr/bin/setpriv";
    for (int i = 0; options[i]; i++)
        argv[n++] = (char *)options[i];
    char *rest[] = {AHPROF, "top", "--", WORKLOAD, "tree", "1", NULL};
    for (int i = 0; rest[i]; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    expect_failure(argv, 3, want);
}

Test(errors, not_root_names_both_capabilities)
{
    const char *const nobody[] = {"--reuid=65534", "--regid=65534", "--clear-groups", NULL};
    expect_denied(nobody, "missing CAP_BPF and CAP_PERFMON");
}

Test(errors, root_without_cap_bpf_names_it)
{
    const char *const no_bpf[] = {"--inh-caps=-bpf,-sys_admin", "--bounding-set=-bpf,-sys_admin",
                                  NULL};
    expect_denied(no_bpf, "missing CAP_BPF (");
}

Test(errors, root_without_cap_perfmon_names_it)
{
    const char *const no_perfmon[] = {"--inh-caps=-perfmon,-sys_admin",
                                      "--bounding-set=-perfmon,-sys_admin", NULL};
    expect_denied(no_perfmon, "missing CAP_PERFMON (");
}

Test(errors, kernel_without_btf)
{
    char *argv[] = {"/usr/bin/unshare",
                    "-m",
                    "/bin/sh",
                    "-c",
                    "mount -t tmpfs none /sys/kernel/btf && exec \"$0\" top -- \"$1\" tree 1",
                    AHPROF,
                    WORKLOAD,
                    NULL};
    expect_failure(argv, 1, "this kernel has no BTF");
}

Test(errors, kernel_without_uprobes)
{
    char *argv[] = {"/usr/bin/unshare",
                    "-m",
                    "/bin/sh",
                    "-c",
                    "mount -t tmpfs none /sys/bus/event_source/devices/uprobe && "
                    "exec \"$0\" top -- \"$1\" tree 1",
                    AHPROF,
                    WORKLOAD,
                    NULL};
    expect_failure(argv, 1, "this kernel has no uprobes");
}
