/* httpd.c - a bounded, nonblocking HTTP/1.1 GET server for `top --serve` (httpd.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/httpd.h"
#include "common/util.h"

static int split_address(const char *addr, char *host, size_t host_size, char *port,
                         size_t port_size, const char **why)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr, *p;
    size_t hlen;
    if (colon == NULL) {
        /* "PORT" alone: this machine only, like ":PORT". */
        h = "";
        hlen = 0;
        p = addr;
    } else {
        p = colon + 1;
        hlen = (size_t)(colon - addr);
        if (hlen > 0 && addr[0] == '[') {
            if (hlen < 2 || addr[hlen - 1] != ']') {
                *why = "an IPv6 address goes in brackets: [ADDR]:PORT";
                return -EINVAL;
            }
            h = addr + 1;
            hlen -= 2;
        } else if (memchr(addr, ':', hlen) != NULL) {
            *why = "an IPv6 address goes in brackets: [ADDR]:PORT";
            return -EINVAL;
        }
    }
    long v;
    if (ahp_parse_long(p, 0, 65535, &v) < 0) {
        *why = "the port must be a number from 0 to 65535";
        return -EINVAL;
    }
    if (hlen == 0) {
        h = "127.0.0.1";
        hlen = strlen(h);
    }
    if (hlen >= host_size) {
        *why = "the address is too long";
        return -EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, port_size, "%ld", v);
    return 0;
}

int ahp_httpd_open(struct ahp_httpd *h, const char *addr, ahp_httpd_handler handler, void *ctx,
                   const char **why)
{
    memset(h, 0, sizeof(*h));
    h->listen_fd = -1;
    for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++)
        h->conns[i].fd = -1;
    h->handler = handler;
    h->ctx = ctx;
    char host[256], port[8];
    *why = NULL;
    int rc = split_address(addr, host, sizeof(host), port, sizeof(port), why);
    if (rc < 0)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        *why = gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai);
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        freeaddrinfo(res);
        return rc;
    }
    /* A restarted ahprof gets its port back while old connections linger in TIME_WAIT;
     * a port another program listens on stays refused (EADDRINUSE). */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0) {
        rc = -errno;
        close(fd);
        freeaddrinfo(res);
        return rc;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char shown[INET6_ADDRSTRLEN] = "?";
    unsigned bound_port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, shown, sizeof(shown));
            bound_port = ntohs(s6->sin6_port);
            snprintf(h->bound, sizeof(h->bound), "[%s]:%u", shown, bound_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, shown, sizeof(shown));
            bound_port = ntohs(s4->sin_port);
            snprintf(h->bound, sizeof(h->bound), "%s:%u", shown, bound_port);
        }
    }
    h->listen_fd = fd;
    return 0;
}

int ahp_httpd_pollfds(const struct ahp_httpd *h, struct pollfd *fds)
{
    int n = 0, busy = 0;
    for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++) {
        const struct ahp_httpd_conn *c = &h->conns[i];
        if (c->fd < 0)
            continue;
        busy++;
        fds[n].fd = c->fd;
        fds[n].events = c->out ? POLLOUT : POLLIN;
        fds[n].revents = 0;
        n++;
    }
    /* With every slot taken, new clients wait in the backlog. */
    if (h->listen_fd >= 0 && busy < AHP_HTTPD_MAX_CONNS) {
        fds[n].fd = h->listen_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    return n;
}

static void conn_close(struct ahp_httpd_conn *c)
{
    if (c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
    }
    free(c->out);
    c->out = NULL;
    c->fd = -1;
    c->in_len = c->out_len = c->out_sent = 0;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

/* The whole response, headers and body, in one buffer: one connection, one response. */
static void conn_respond(struct ahp_httpd *h, struct ahp_httpd_conn *c, int status,
                         const char *content_type, const char *body, size_t body_len, bool head)
{
    if (status != 200) {
        h->errors++;
        body = status_text(status);
        body_len = strlen(body);
        content_type = "text/plain; charset=utf-8";
    } else {
        h->requests++;
    }
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (f == NULL) {
        conn_close(c);
        return;
    }
    fprintf(f,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, status_text(status), content_type, body_len,
            status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head)
        fwrite(body, 1, body_len, f);
    if (fclose(f) != 0 || out == NULL) {
        free(out);
        conn_close(c);
        return;
    }
    c->out = out;
    c->out_len = out_len;
    c->out_sent = 0;
}

int ahp_http_parse_request(const char *req, size_t len, char *method, size_t method_size,
                           char *path, size_t path_size)
{
    const char *end = memchr(req, '\n', len);
    if (end == NULL)
        return -EINVAL;
    size_t line = (size_t)(end - req);
    if (line > 0 && req[line - 1] == '\r')
        line--;
    const char *sp1 = memchr(req, ' ', line);
    if (sp1 == NULL || sp1 == req || (size_t)(sp1 - req) >= method_size)
        return -EINVAL;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', line - (size_t)(target - req));
    if (sp2 == NULL || sp2 == target)
        return -EINVAL;
    const char *version = sp2 + 1;
    size_t vlen = line - (size_t)(version - req);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return -EINVAL;
    size_t mlen = (size_t)(sp1 - req);
    for (size_t i = 0; i < mlen; i++)
        if (req[i] < 'A' || req[i] > 'Z')
            return -EINVAL;
    memcpy(method, req, mlen);
    method[mlen] = '\0';
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    size_t plen = (size_t)((q ? q : sp2) - target);
    if (plen >= path_size || target[0] != '/')
        return -EINVAL;
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
            return -EINVAL;
    memcpy(path, target, plen);
    path[plen] = '\0';
    return 0;
}

/* A complete head in c->in: answer it. */
static void conn_handle(struct ahp_httpd *h, struct ahp_httpd_conn *c)
{
    char method[16], path[1024];
    if (ahp_http_parse_request(c->in, c->in_len, method, sizeof(method), path, sizeof(path)) < 0) {
        conn_respond(h, c, 400, NULL, NULL, 0, false);
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        conn_respond(h, c, 405, NULL, NULL, 0, false);
        return;
    }
    char *body = NULL;
    size_t body_len = 0;
    FILE *f = open_memstream(&body, &body_len);
    if (f == NULL) {
        conn_respond(h, c, 500, NULL, NULL, 0, head);
        return;
    }
    const char *ctype = "text/plain; charset=utf-8";
    int status = h->handler(h->ctx, path, f, &ctype);
    if (fclose(f) != 0)
        status = 500;
    conn_respond(h, c, status, ctype, body, body_len, head);
    free(body);
}

static bool head_complete(const struct ahp_httpd_conn *c)
{
    for (size_t i = 0; i + 1 < c->in_len; i++) {
        if (c->in[i] == '\n' &&
            (c->in[i + 1] == '\n' ||
             (c->in[i + 1] == '\r' && i + 2 < c->in_len && c->in[i + 2] == '\n')))
            return true;
    }
    return false;
}

static void conn_read(struct ahp_httpd *h, struct ahp_httpd_conn *c)
{
    for (;;) {
        if (c->in_len == sizeof(c->in)) {
            conn_respond(h, c, 431, NULL, NULL, 0, false);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c); /* the client went away before a whole request */
            return;
        }
        c->in_len += (size_t)n;
        if (head_complete(c)) {
            conn_handle(h, c);
            return;
        }
    }
}

static void conn_write(struct ahp_httpd_conn *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->out_sent += (size_t)n;
    }
    conn_close(c);
}

void ahp_httpd_step(struct ahp_httpd *h)
{
    uint64_t now = ahp_now_ns();
    for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++) {
        struct ahp_httpd_conn *c = &h->conns[i];
        if (c->fd < 0)
            continue;
        bool late = c->out == NULL ? now >= c->accepted_ns + AHP_HTTPD_REQUEST_TIMEOUT_NS
                                   : now >= c->accepted_ns + AHP_HTTPD_CONN_TIMEOUT_NS;
        if (late) {
            h->errors++;
            conn_close(c); /* too slow to ask or to read: the slot goes to someone else */
            continue;
        }
        if (c->out == NULL)
            conn_read(h, c);
        if (c->fd >= 0 && c->out != NULL)
            conn_write(c);
    }
    for (int i = 0; i < AHP_HTTPD_MAX_CONNS && h->listen_fd >= 0; i++) {
        struct ahp_httpd_conn *c = &h->conns[i];
        if (c->fd >= 0)
            continue;
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break; /* EAGAIN: nobody waits; anything else: try again next step */
        c->fd = fd;
        c->accepted_ns = now;
        c->in_len = 0;
        /* The request is usually there already. */
        conn_read(h, c);
        if (c->fd >= 0 && c->out != NULL)
            conn_write(c);
    }
}

void ahp_httpd_close(struct ahp_httpd *h, uint64_t budget_ns)
{
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
        h->listen_fd = -1;
    }
    uint64_t deadline = ahp_now_ns() + budget_ns;
    for (;;) {
        struct pollfd fds[AHP_HTTPD_POLLFDS];
        int n = 0;
        for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++) {
            struct ahp_httpd_conn *c = &h->conns[i];
            if (c->fd >= 0 && c->out == NULL)
                conn_close(c); /* not a whole request yet: not worth waiting for */
            else if (c->fd >= 0)
                fds[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
        }
        uint64_t now = ahp_now_ns();
        if (n == 0 || now >= deadline)
            break;
        int ms = (int)((deadline - now) / 1000000ull) + 1;
        if (poll(fds, (nfds_t)n, ms > 50 ? 50 : ms) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++)
            if (h->conns[i].fd >= 0 && h->conns[i].out != NULL)
                conn_write(&h->conns[i]);
    }
    for (int i = 0; i < AHP_HTTPD_MAX_CONNS; i++)
        conn_close(&h->conns[i]);
}
