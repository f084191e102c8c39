/* session.c - preflight checks, attaching or launching, and the wait loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collect/libuv.h"
#include "collect/session.h"
#include "common/escape.h"
#include "common/util.h"

volatile sig_atomic_t ahp_stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    ahp_stop_requested = 1;
}

void ahp_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* What a user without root needs, as tried on Linux 6.18: CAP_BPF and CAP_PERFMON load the
 * programs, but perf_event_open() of a uprobe wants CAP_SYS_ADMIN again since kernel commit
 * ba677dbe77af ("perf: Revert to requiring CAP_SYS_ADMIN for uprobes", 2025, backported to
 * stable kernels), and CAP_SYS_ADMIN covers the other two; CAP_SYS_PTRACE reads another
 * user's process (/proc/PID/maps, /proc/PID/root, its registry). */
#define AHP_PRIVILEGE_ADVICE                                                                       \
    "run as root, or give a copy of ahprof that only trusted users may run the capabilities: "     \
    "sudo setcap cap_sys_admin,cap_sys_ptrace+ep ahprof"

static bool has_cap(const struct __user_cap_data_struct data[2], int cap)
{
    return data[cap / 32].effective & (1u << (cap % 32));
}

int ahp_preflight(bool json)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) == 0) {
        bool admin = has_cap(data, CAP_SYS_ADMIN);
        bool bpf = admin || has_cap(data, CAP_BPF);
        bool perfmon = admin || has_cap(data, CAP_PERFMON);
        if (!bpf || !perfmon) {
            return ahp_fail(json, AHP_EXIT_PERM, "permission denied: missing %s%s%s (%s)",
                            bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "",
                            perfmon ? "" : "CAP_PERFMON", AHP_PRIVILEGE_ADVICE);
        }
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): "
                        "ahprof needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
    if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) != 0)
        return ahp_fail(json, AHP_EXIT_ERROR,
                        "this kernel has no uprobes (/sys/bus/event_source/devices/uprobe is "
                        "missing): ahprof needs CONFIG_UPROBE_EVENTS=y");
    return 0;
}

char **ahp_split_command(int argc, char **argv, int *opt_argc)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            argv[i] = NULL;
            *opt_argc = i;
            return i + 1 < argc ? &argv[i + 1] : NULL;
        }
    }
    *opt_argc = argc;
    return NULL;
}

int ahp_parse_pid(const char *arg, pid_t *pid, bool json)
{
    long v;
    if (ahp_parse_long(arg, 1, 0x3fffffff, &v) < 0)
        return ahp_fail(json, AHP_EXIT_USAGE, "invalid PID '%s': expected a positive number", arg);
    *pid = (pid_t)v;
    return 0;
}

int ahp_session_open(struct ahp_session *s, pid_t pid, char **cmd,
                     const struct ahp_collector_opts *opts, ahp_event_fn on_event, void *ctx)
{
    bool json = s->json, child_stdout_to_stderr = s->child_stdout_to_stderr, uv = s->uv;
    memset(s, 0, sizeof(*s));
    s->json = json;
    s->uv = uv;
    s->exit_status = -1;
    s->target.pidfd = s->target.gate_fd = -1;
    if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
        return ahp_fail(json, AHP_EXIT_NOTARGET, "no such process: %d", pid);
    int code = ahp_preflight(json);
    if (code)
        return code;
    int rc;
    if (pid > 0) {
        rc = ahp_target_open_pid(&s->target, pid);
        if (rc == -ESRCH)
            return ahp_fail(json, AHP_EXIT_NOTARGET, "no such process: %d", pid);
        char uvlib[PATH_MAX];
        if (rc == -ENOENT && ahp_uv_mapped_in(pid, uvlib, sizeof(uvlib)) == 1) {
            char shown[PATH_MAX];
            ahp_term_sanitize(shown, sizeof(shown), uvlib, sizeof(uvlib));
            return ahp_fail(json, AHP_EXIT_NOTARGET,
                            "process %d uses libuv (%s) but not libah: restart it with ahprof's "
                            "interposer preloaded, `ahprof top --uv -- COMMAND` (or "
                            "LD_PRELOAD=.../" AHP_UV_INTERPOSER " COMMAND, then -p PID)",
                            pid, shown);
        }
        if (rc == -ENOENT)
            return ahp_fail(json, AHP_EXIT_NOTARGET,
                            "process %d does not use libah: no 'ah' USDT probes in its "
                            "executable or libraries",
                            pid);
        if (rc == -EACCES || rc == -EPERM)
            return ahp_fail(json, AHP_EXIT_PERM, "cannot read process %d: %s (%s)", pid,
                            strerror(-rc), AHP_PRIVILEGE_ADVICE);
        if (rc < 0)
            return ahp_fail(json, AHP_EXIT_ERROR, "cannot inspect process %d: %s", pid,
                            strerror(-rc));
    } else {
        char preload[PATH_MAX];
        if (uv && ahp_uv_find_interposer(preload, sizeof(preload)) < 0)
            return ahp_fail(json, AHP_EXIT_ERROR,
                            "--uv: cannot find " AHP_UV_INTERPOSER " next to ahprof, in ../lib "
                            "or in its LIBDIR (`make` builds it; AHPROF_UV_LIB=PATH names it)");
        rc = ahp_target_launch(&s->target, cmd, child_stdout_to_stderr, uv ? preload : NULL);
        if (rc == -ENOEXEC)
            return ahp_fail(json, AHP_EXIT_NOTARGET, "%s: command not found", cmd[0]);
        if (rc == -ENOTSUP)
            return ahp_fail(json, AHP_EXIT_NOTARGET,
                            "--uv: %s is a static executable: nothing can be preloaded into it",
                            cmd[0]);
        if (rc == -ENOENT && uv)
            return ahp_fail(json, AHP_EXIT_ERROR,
                            "--uv: %s does not load libah with %s preloaded (is libah.so.0 "
                            "next to it?)",
                            cmd[0], preload);
        if (rc == -ENOENT && s->target.uses_libuv)
            return ahp_fail(json, AHP_EXIT_NOTARGET,
                            "%s uses libuv but not libah: add --uv to launch it with ahprof's "
                            "interposer preloaded (docs/libuv.md)",
                            cmd[0]);
        if (rc == -ENOENT)
            return ahp_fail(json, AHP_EXIT_NOTARGET,
                            "%s does not use libah: no 'ah' USDT probes in it or the "
                            "libraries it loads (a libuv program: add --uv)",
                            cmd[0]);
        if (rc < 0)
            return ahp_fail(json, AHP_EXIT_ERROR, "cannot launch %s: %s", cmd[0], strerror(-rc));
    }
    const char *what = NULL;
    rc = ahp_collector_start(&s->collector, &s->target, opts, on_event, ctx, &what);
    if (rc < 0) {
        if ((rc == -EPERM || rc == -EACCES) && strcmp(what, "load the BPF programs") == 0)
            return ahp_fail(json, AHP_EXIT_ERROR,
                            "the kernel refused ahprof's BPF programs (%s): the verifier log "
                            "above says why; kernel lockdown also refuses them",
                            strerror(-rc));
        if (rc == -EPERM || rc == -EACCES)
            return ahp_fail(json, AHP_EXIT_PERM, "cannot %s: %s (%s)", what, strerror(-rc),
                            AHP_PRIVILEGE_ADVICE);
        if (rc == -ESRCH)
            return ahp_fail(json, AHP_EXIT_NOTARGET, "process %d exited while attaching",
                            s->target.pid);
        if (rc == -EPROTO)
            return ahp_fail(json, AHP_EXIT_ERROR,
                            "libah's registry in process %d is malformed (another libah "
                            "version, or memory the program overwrote): not attaching",
                            s->target.pid);
        if (rc == -EAGAIN && strcmp(what, "read libah's registry in the target") == 0)
            return ahp_fail(json, AHP_EXIT_ERROR,
                            "libah's registry in process %d never held still (a thread stuck "
                            "mid-update, or memory the program overwrote): not attaching",
                            s->target.pid);
        return ahp_fail(json, AHP_EXIT_ERROR, "cannot %s: %s", what, strerror(-rc));
    }
    if (s->target.launched && ahp_target_release(&s->target) < 0)
        return ahp_fail(json, AHP_EXIT_ERROR, "the launched program died before it started");
    return 0;
}

static bool target_gone(struct ahp_session *s)
{
    if (s->target_exited)
        return true;
    if (s->target.launched) {
        int status;
        pid_t r = waitpid(s->target.pid, &status, WNOHANG);
        if (r == s->target.pid || (r < 0 && errno == ECHILD)) {
            s->exit_status = r == s->target.pid ? status : -1;
            s->target_exited = true;
        }
    } else if (kill(s->target.pid, 0) < 0 && errno == ESRCH) {
        s->target_exited = true;
    }
    return s->target_exited;
}

int ahp_session_wait(struct ahp_session *s, int timeout_ms)
{
    uint64_t deadline = ahp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (bool first = true;; first = false) {
        uint64_t now = ahp_now_ns();
        if (ahp_stop_requested || (now >= deadline && !first))
            return 0;
        int slice = now < deadline ? (int)((deadline - now) / 1000000ull) : 0;
        if (slice > 100)
            slice = 100; /* the ring buffer wakes us only for big batches */
        struct pollfd pfd = {.fd = s->target.pidfd, .events = POLLIN};
        int ready = s->target.pidfd >= 0 ? poll(&pfd, 1, 0) : 0;
        if ((ready > 0 && (pfd.revents & (POLLIN | POLLHUP))) || target_gone(s)) {
            target_gone(s);
            s->target_exited = true;
            ahp_collector_drain(&s->collector);
            return 1;
        }
        int rc = ahp_collector_poll(&s->collector, slice);
        if (rc < 0 && rc != -EINTR)
            return rc;
    }
}

void ahp_session_close(struct ahp_session *s)
{
    if (s->target.launched && !s->target_exited && s->target.pid > 0) {
        /* The launched program belongs to this session: do not leave it behind. One never
         * let go is still reading the gate (with ahprof's handlers, which ignore SIGTERM's
         * EINTR): closing the gate is what ends it. */
        if (s->target.gate_fd >= 0) {
            close(s->target.gate_fd);
            s->target.gate_fd = -1;
        }
        kill(s->target.pid, SIGTERM);
        waitpid(s->target.pid, NULL, 0);
    }
    if (s->collector.skel)
        ahp_collector_stop(&s->collector);
    ahp_target_close(&s->target);
}
