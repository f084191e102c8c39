/* run.c - process plumbing for the collector tests. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void proc_start(struct proc *p, char *const argv[])
{
    int in[2], out[2], err[2];
    cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
              pipe2(err, O_CLOEXEC) == 0);
    memset(p, 0, sizeof(*p));
    p->pid = fork();
    cr_assert(p->pid >= 0);
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
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

void start_ready_target(struct proc *p, char *const argv[], char pid[32])
{
    proc_start(p, argv);
    char line[256];
    cr_assert(proc_read_line(p, line, sizeof(line), 10000) && strcmp(line, "ready") == 0,
              "%s did not get ready", argv[0]);
    snprintf(pid, 32, "%d", p->pid);
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

char *proc_read_all(int fd, int timeout_ms)
{
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        if (len + 4096 > cap) {
            cap *= 2;
            text = realloc(text, cap);
        }
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    text[len] = '\0';
    return text;
}

int proc_wait(struct proc *p, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    if (p->in_fd >= 0)
        close(p->in_fd);
    close(p->out_fd);
    close(p->err_fd);
    p->in_fd = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_capture(char *const argv[], char **out, char **err, int timeout_ms)
{
    struct proc p;
    proc_start(&p, argv);
    close(p.in_fd);
    p.in_fd = -1;
    /* stderr is small in every test; read stdout to EOF first, then stderr. */
    char *o = proc_read_all(p.out_fd, timeout_ms);
    char *e = proc_read_all(p.err_fd, 1000);
    int code = proc_wait(&p, timeout_ms);
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

json_object *find_named(json_object *root, const char *key, const char *name)
{
    json_object *arr;
    if (!json_object_object_get_ex(root, key, &arr))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *item = json_object_array_get_idx(arr, i), *n;
        if (json_object_object_get_ex(item, "name", &n) &&
            strcmp(json_object_get_string(n), name) == 0)
            return item;
    }
    return NULL;
}

long long get_int(json_object *obj, const char *key)
{
    json_object *v;
    cr_assert_not_null(obj, "missing object when reading '%s'", key);
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return json_object_get_int64(v);
}

void expect_type(json_object *root, const char *name, long long created, long long destroyed,
                 long long callbacks, long long active)
{
    json_object *t = find_named(root, "types", name);
    cr_assert_not_null(t, "type %s missing", name);
    cr_expect_eq(get_int(t, "created"), created, "%s created", name);
    cr_expect_eq(get_int(t, "destroyed"), destroyed, "%s destroyed", name);
    cr_expect_eq(get_int(t, "callbacks"), callbacks, "%s callbacks", name);
    cr_expect_eq(get_int(t, "active"), active, "%s active", name);
}

char data_path[64];

void make_data_path(void)
{
    snprintf(data_path, sizeof(data_path), "/tmp/ahprof-test-%d.data", getpid());
}

void remove_data(void)
{
    unlink(data_path);
}

json_object *report_json_at(const char *path)
{
    char *argv[] = {AHPROF, "report", "--json", (char *)path, NULL};
    char *out = NULL, *err = NULL;
    int code = run_capture(argv, &out, &err, 60000);
    cr_assert_eq(code, 0, "ahprof report exited %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "report is not JSON: %.200s", out);
    free(out);
    free(err);
    return root;
}

json_object *report_json(void)
{
    return report_json_at(data_path);
}
