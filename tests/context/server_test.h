/*
 * server_test.h - driving the example server (examples/server/) from the context pattern
 * tests: start it with options in a directory of its own, talk to it over 127.0.0.1, stop it
 * with SHUTDOWN or a signal and check that it exited cleanly (status 0: no sanitizer report,
 * no leak under ASan, no request left in flight).
 *
 * The server binary is AH_SERVER_BIN (set by mk/context-examples.mk to the build of the same
 * variant: plain, ASan or TSan), or $AH_SERVER when set. Every wait is bounded.
 */
#ifndef SERVER_TEST_H
#define SERVER_TEST_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "context/ctx_test.h"
#include "proc.h"
#include "tmpdir.h"

#ifndef AH_SERVER_BIN
#define AH_SERVER_BIN "build/examples/ah-server"
#endif

struct server {
    struct proc proc;
    pid_t pid; /* proc.pid, for the tests' signals */
    int port;
    char dir[64];
};

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A directory for the server's files, removed by server_cleanup(). */
static inline void server_init(struct server *s)
{
    memset(s, 0, sizeof(*s));
    tmpdir_make(s->dir, "ctx");
}

/* The path of NAME in the server's directory, in BUF. */
static inline const char *server_file(const struct server *s, const char *name, char *buf,
                                      size_t size)
{
    snprintf(buf, size, "%s/%s", s->dir, name);
    return buf;
}

/* A whole file, NUL-terminated; NULL if it does not exist. Free it. */
static inline char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    cr_assert_not_null(mem);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

/* The lines of the file NAME in the server's directory (see ctx_test.h). */
static inline void server_lines(const struct server *s, const char *name, struct lines *l)
{
    char path[128];
    memset(l, 0, sizeof(*l));
    l->buf = read_all(server_file(s, name, path, sizeof(path)));
    cr_assert_not_null(l->buf, "no %s", path);
    l->size = strlen(l->buf);
    for (char *p = l->buf, *nl; *p && l->n < 4096; p = nl + 1) {
        nl = strchr(p, '\n');
        cr_assert_not_null(nl, "unterminated line in %s: %s", name, p);
        *nl = '\0';
        l->line[l->n++] = p;
    }
}

/* Start the server with ARGS (NULL-terminated) after --threads 2 --duration 60 (a bound if a
 * test hangs); its stdout and stderr go to "out" and "err" in its directory. */
static inline void server_start(struct server *s, const char *const *args)
{
    const char *bin = getenv("AH_SERVER") ? getenv("AH_SERVER") : AH_SERVER_BIN;
    const char *argv[32] = {bin, "--threads", "2", "--duration", "60"};
    int argc = 5;
    for (; args && *args && argc < 31; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;
    char out[128], err[128];
    server_file(s, "out", out, sizeof(out));
    server_file(s, "err", err, sizeof(err));
    proc_start_files(&s->proc, (char *const *)argv, out, err);
    s->pid = s->proc.pid;
    /* Sanitized builds start slowly: up to 20 s for "listening on 127.0.0.1:PORT". */
    for (int i = 0; i < 200 && s->port == 0; i++) {
        char *text = read_all(out);
        const char *p = text ? strstr(text, "listening on 127.0.0.1:") : NULL;
        if (p && strchr(p, '\n'))
            s->port = atoi(p + strlen("listening on 127.0.0.1:"));
        free(text);
        if (s->port == 0) {
            int code;
            if (proc_exited(&s->proc, &code)) {
                char *e = read_all(err);
                cr_assert_fail("%s exited at start (%d): %s", bin, code, e ? e : "");
            }
            sleep_ms(100);
        }
    }
    cr_assert_neq(s->port, 0, "%s printed no port", bin);
}

/* A client connection with a line buffer. */
struct client {
    int fd;
    size_t length;
    char buf[8192];
};

static inline void client_open(struct client *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(c->fd, 0);
    struct timeval timeout = {20, 0}; /* a bound on every read: sanitized servers are slow */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "connect: %s",
                 strerror(errno));
}

/* Send TEXT in one write: lines sent together arrive together. */
static inline void client_send(struct client *c, const char *text)
{
    size_t length = strlen(text), sent = 0;
    while (sent < length) {
        ssize_t n = send(c->fd, text + sent, length - sent, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        sent += (size_t)n;
    }
}

/* The next response line, without its newline, into OUT. */
static inline void client_line(struct client *c, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->length);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            cr_assert_lt(n, size, "response line too long");
            memcpy(out, c->buf, n);
            out[n] = '\0';
            c->length -= n + 1;
            memmove(c->buf, nl + 1, c->length);
            return;
        }
        cr_assert_lt(c->length, sizeof(c->buf) - 1);
        ssize_t r = recv(c->fd, c->buf + c->length, sizeof(c->buf) - 1 - c->length, 0);
        cr_assert_gt(r, 0, "no response (%s)", r < 0 ? strerror(errno) : "connection closed");
        c->length += (size_t)r;
    }
}

static inline void client_close(struct client *c)
{
    close(c->fd);
    c->fd = -1;
}

/* The id at the end of a response line ("... id=ID"). */
static inline unsigned long long response_id(const char *line)
{
    const char *p = strstr(line, " id=");
    cr_assert_not_null(p, "no id in '%s'", line);
    for (const char *q; (q = strstr(p + 1, " id=")) != NULL;)
        p = q;
    return strtoull(p + 4, NULL, 10);
}

/* Wait (at most 30 s) for the server to exit by itself; it must exit with status 0 and have
 * left no request in flight. */
static inline void server_wait(struct server *s)
{
    int code = proc_wait(&s->proc, 30000);
    cr_assert(!s->proc.timed_out, "the server did not exit");
    char path[128];
    char *err = read_all(server_file(s, "err", path, sizeof(path)));
    cr_assert_eq(code, 0, "server exit code %d (128+N: signal N), stderr:\n%s", code,
                 err ? err : "");
    cr_assert_null(err ? strstr(err, "still in flight") : NULL, "%s", err);
    free(err);
    s->pid = 0;
}

/* SHUTDOWN on a connection of its own, then server_wait(). Returns the SHUTDOWN's id. */
static inline unsigned long long server_stop(struct server *s)
{
    struct client c;
    char line[256];
    client_open(&c, s->port);
    client_send(&c, "SHUTDOWN\n");
    client_line(&c, line, sizeof(line));
    cr_assert(strncmp(line, "200 shutdown", 12) == 0, "%s", line);
    client_close(&c);
    server_wait(s);
    return response_id(line);
}

/* Remove the server's files. */
static inline void server_cleanup(struct server *s)
{
    tmpdir_remove(s->dir);
}

#endif
