/* proc.c - running programs from the tests (proc.h). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Fork, give the child IN, OUT and ERR as its stdin, stdout and stderr, and exec ARGV. */
static void spawn(struct proc *p, char *const argv[], int in, int out, int err)
{
    p->pid = fork();
    cr_assert(p->pid >= 0, "fork: %s", strerror(errno));
    if (p->pid == 0) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
}

void proc_start(struct proc *p, char *const argv[])
{
    int in[2], out[2], err[2];
    cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
              pipe2(err, O_CLOEXEC) == 0);
    memset(p, 0, sizeof(*p));
    spawn(p, argv, in[0], out[1], err[1]);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
}

void proc_start_files(struct proc *p, char *const argv[], const char *out, const char *err)
{
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(in >= 0 && o >= 0 && e >= 0, "cannot open %s or %s: %s", out, err, strerror(errno));
    memset(p, 0, sizeof(*p));
    spawn(p, argv, in, o, e);
    close(in);
    close(o);
    close(e);
    p->in_fd = p->out_fd = p->err_fd = -1;
}

bool proc_read_line(struct proc *p, char *line, size_t size, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->buf_len);
        if (nl) {
            size_t len = (size_t)(nl - p->buf);
            size_t copy = len < size - 1 ? len : size - 1;
            memcpy(line, p->buf, copy);
            line[copy] = '\0';
            memmove(p->buf, nl + 1, p->buf_len - len - 1);
            p->buf_len -= len + 1;
            return true;
        }
        long long left = deadline - now_ms();
        if (left <= 0 || p->buf_len == sizeof(p->buf))
            return false;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            return false;
        ssize_t n = read(p->out_fd, p->buf + p->buf_len, sizeof(p->buf) - p->buf_len);
        if (n <= 0)
            return false;
        p->buf_len += (size_t)n;
    }
}

bool proc_wait_stderr(struct proc *p, const char *needle, int timeout_ms)
{
    char seen[8192];
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        seen[len] = '\0';
        if (strstr(seen, needle) != NULL)
            return true;
        long long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            return false;
        if (len > sizeof(seen) / 2) { /* keep the tail: the needle may straddle reads */
            memmove(seen, seen + len - 256, 256);
            len = 256;
        }
        ssize_t n = read(p->err_fd, seen + len, sizeof(seen) - len - 1);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
}

/* Growing text read from a pipe. */
struct text {
    char *s;
    size_t len, cap;
};

/* One read of FD into T; false at EOF or error. */
static bool text_read(struct text *t, int fd)
{
    if (t->len + 4096 > t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1 << 16;
        t->s = realloc(t->s, t->cap);
        cr_assert_not_null(t->s);
    }
    ssize_t n = read(fd, t->s + t->len, t->cap - t->len - 1);
    if (n <= 0)
        return false;
    t->len += (size_t)n;
    return true;
}

static char *text_end(struct text *t)
{
    if (t->s == NULL) {
        t->s = malloc(1);
        cr_assert_not_null(t->s);
    }
    t->s[t->len] = '\0';
    return t->s;
}

char *proc_read_all(int fd, int timeout_ms)
{
    struct text t = {0};
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0 || !text_read(&t, fd))
            break;
    }
    return text_end(&t);
}

/* STATUS as a shell reports it: the exit code, or 128 + the signal. */
static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void close_pipes(struct proc *p)
{
    int *fds[] = {&p->in_fd, &p->out_fd, &p->err_fd};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

bool proc_exited(struct proc *p, int *code)
{
    int status;
    struct rusage ru = {0};
    if (!p->reaped) {
        if (wait4(p->pid, &status, WNOHANG, &ru) != p->pid)
            return false;
        p->maxrss_kb = ru.ru_maxrss;
        p->code = exit_code(status);
        p->reaped = true;
    }
    *code = p->code;
    return true;
}

int proc_wait(struct proc *p, int timeout_ms)
{
    if (p->reaped) {
        close_pipes(p);
        return p->code;
    }
    long long deadline = now_ms() + timeout_ms;
    int status = 0;
    struct rusage ru = {0};
    for (;;) {
        pid_t r = wait4(p->pid, &status, WNOHANG, &ru);
        if (r == p->pid)
            break;
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            wait4(p->pid, &status, 0, &ru);
            p->timed_out = true;
            break;
        }
        usleep(5000);
    }
    p->maxrss_kb = ru.ru_maxrss;
    p->code = exit_code(status);
    p->reaped = true;
    close_pipes(p);
    return p->code;
}

int proc_capture(struct proc *p, char **out, char **err, int timeout_ms)
{
    close(p->in_fd);
    p->in_fd = -1;
    /* Both at once: a program that fills one pipe while we wait on the other would stall. */
    struct text t[2] = {{0}, {0}};
    struct pollfd pfd[2] = {{.fd = p->out_fd, .events = POLLIN},
                            {.fd = p->err_fd, .events = POLLIN}};
    long long end = now_ms() + timeout_ms, deadline = end;
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        long long left = deadline - now_ms();
        if (left <= 0 || poll(pfd, 2, (int)left) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents || text_read(&t[i], pfd[i].fd))
                continue;
            pfd[i].fd = -1; /* poll skips negative descriptors */
            /* A child of the program may hold its stderr open after stdout ends: give stderr
             * one more second, not the whole timeout. */
            if (i == 0 && deadline > now_ms() + 1000)
                deadline = now_ms() + 1000;
        }
    }
    long long left = end - now_ms();
    int code = proc_wait(p, left > 0 ? (int)left : 0);
    char *o = text_end(&t[0]), *e = text_end(&t[1]);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return code;
}

int run_capture(char *const argv[], char **out, char **err, int timeout_ms)
{
    struct proc p;
    proc_start(&p, argv);
    return proc_capture(&p, out, err, timeout_ms);
}
