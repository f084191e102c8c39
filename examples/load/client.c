/*
 * client.c - connections, the closed request loop and its bounds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/clock.h"
#include "client.h"

enum conn_state { CONN_CONNECTING, CONN_WAITING, CONN_IDLE, CONN_DEAD };

struct load_conn {
    int fd;
    enum conn_state state;
    enum mix_kind kind;
    int is_shutdown; /* the request in flight is the final SHUTDOWN */
    uint64_t sent_ns;
    size_t out_length;
    size_t out_sent;
    size_t in_length;
    char out[64];
    char in[256];
};

struct load {
    const struct load_config *config;
    struct load_result *result;
    struct mix mix;
    struct load_conn *conns;
    int epoll_fd;
    unsigned long issued;
    int in_flight;
    int stop_sending;
    uint64_t last_progress_ns;
    uint64_t last_response_ns;
};

static void conn_set_events(struct load *load, struct load_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(load->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_fail(struct load *load, struct load_conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    if (c->state == CONN_WAITING || c->state == CONN_CONNECTING) {
        load->result->errors++;
        if (c->state == CONN_WAITING)
            load->in_flight--;
    }
    c->state = CONN_DEAD;
    epoll_ctl(load->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void conn_send(struct load *load, struct load_conn *c)
{
    while (c->out_sent < c->out_length) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_length - c->out_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                conn_set_events(load, c, EPOLLIN | EPOLLOUT);
                return;
            }
            conn_fail(load, c);
            return;
        }
        c->out_sent += (size_t)n;
    }
    conn_set_events(load, c, EPOLLIN);
}

static void conn_start_request(struct load *load, struct load_conn *c, uint64_t now)
{
    const struct load_config *cfg = load->config;
    if (load->stop_sending || (cfg->requests && load->issued >= cfg->requests)) {
        c->state = CONN_IDLE;
        conn_set_events(load, c, EPOLLIN);
        return;
    }
    c->kind = mix_next(&load->mix);
    c->out_length = mix_request(&load->mix, c->kind, c->out, sizeof c->out);
    c->out_sent = 0;
    c->is_shutdown = 0;
    c->sent_ns = now;
    c->state = CONN_WAITING;
    load->issued++;
    load->in_flight++;
    conn_send(load, c);
}

static int response_ok(const struct load_conn *c, const char *line, size_t length)
{
    const char *word = c->is_shutdown ? "shutdown" : mix_kind_name(c->kind);
    size_t word_length = strlen(word);
    return length > 4 + word_length && memcmp(line, "200 ", 4) == 0 &&
           memcmp(line + 4, word, word_length) == 0 && line[4 + word_length] == ' ';
}

static void conn_on_response(struct load *load, struct load_conn *c, const char *line,
                             size_t length, uint64_t now)
{
    load->in_flight--;
    load->last_progress_ns = now;
    if (c->is_shutdown) {
        if (!response_ok(c, line, length))
            load->result->errors++;
        c->is_shutdown = 0;
        c->state = CONN_IDLE;
        return;
    }
    if (response_ok(c, line, length)) {
        load->result->requests++;
        load->result->by_kind[c->kind]++;
        latency_add(&load->result->latency, now - c->sent_ns);
        load->last_response_ns = now;
    } else {
        load->result->errors++;
        fprintf(stderr, "ah-load: unexpected response '%.*s'\n", (int)length, line);
    }
    conn_start_request(load, c, now);
}

static void conn_on_readable(struct load *load, struct load_conn *c, uint64_t now)
{
    for (;;) {
        size_t space = sizeof c->in - c->in_length;
        ssize_t n = read(c->fd, c->in + c->in_length, space);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_fail(load, c);
            return;
        }
        c->in_length += (size_t)n;
        char *newline = memchr(c->in, '\n', c->in_length);
        if (!newline) {
            if (c->in_length == sizeof c->in)
                conn_fail(load, c);
            continue;
        }
        size_t length = (size_t)(newline - c->in);
        /* One request in flight: anything after its response is a protocol error. */
        if (c->state != CONN_WAITING || length + 1 != c->in_length) {
            conn_fail(load, c);
            return;
        }
        c->in_length = 0;
        conn_on_response(load, c, c->in, length, now);
        return;
    }
}

static void conn_on_connected(struct load *load, struct load_conn *c, uint64_t now)
{
    int err = 0;
    socklen_t length = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0 || err) {
        fprintf(stderr, "ah-load: connect to 127.0.0.1:%d: %s\n", load->config->port,
                strerror(err ? err : errno));
        conn_fail(load, c);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_start_request(load, c, now);
}

static int conn_open(struct load *load, struct load_conn *c)
{
    c->state = CONN_CONNECTING;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)load->config->port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(c->fd);
        c->fd = -1;
        return err;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    return epoll_ctl(load->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

static void load_dispatch(struct load *load, int timeout_ms)
{
    struct epoll_event events[64];
    int n = epoll_wait(load->epoll_fd, events, 64, timeout_ms);
    uint64_t now = clock_now_ns();
    for (int i = 0; i < n; i++) {
        struct load_conn *c = events[i].data.ptr;
        if (c->state == CONN_DEAD)
            continue;
        if (c->state == CONN_CONNECTING) {
            conn_on_connected(load, c, now);
            continue;
        }
        if ((events[i].events & EPOLLOUT) && c->out_sent < c->out_length)
            conn_send(load, c);
        if (c->state != CONN_DEAD && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            conn_on_readable(load, c, now);
    }
}

static int load_connecting(const struct load *load)
{
    for (int i = 0; i < load->config->connections; i++)
        if (load->conns[i].state == CONN_CONNECTING)
            return 1;
    return 0;
}

/* Drive the loop until nothing is in flight or connecting, or it stalls. */
static void load_drain(struct load *load, uint64_t deadline_ns)
{
    const struct load_config *cfg = load->config;
    uint64_t stall_ns = (uint64_t)(cfg->stall_s * 1e9);
    for (;;) {
        uint64_t now = clock_now_ns();
        if (deadline_ns && now >= deadline_ns)
            load->stop_sending = 1;
        if (load->in_flight == 0 && !load_connecting(load) &&
            (load->stop_sending || (cfg->requests && load->issued >= cfg->requests)))
            return;
        if (now - load->last_progress_ns >= stall_ns) {
            fprintf(stderr, "ah-load: no response for %.1f s, giving up\n", cfg->stall_s);
            for (int i = 0; i < cfg->connections; i++)
                conn_fail(load, &load->conns[i]);
            return;
        }
        uint64_t wake = load->last_progress_ns + stall_ns;
        if (deadline_ns && !load->stop_sending && deadline_ns < wake)
            wake = deadline_ns;
        load_dispatch(load, (int)((wake - now) / NS_PER_MS) + 1);
    }
}

/* Ask the server to stop, on the first connection still usable. */
static void load_send_shutdown(struct load *load)
{
    for (int i = 0; i < load->config->connections; i++) {
        struct load_conn *c = &load->conns[i];
        if (c->state != CONN_IDLE)
            continue;
        c->out_length = (size_t)snprintf(c->out, sizeof c->out, "SHUTDOWN\n");
        c->out_sent = 0;
        c->is_shutdown = 1;
        c->state = CONN_WAITING;
        load->in_flight++;
        load->last_progress_ns = clock_now_ns();
        conn_send(load, c);
        load_drain(load, 0);
        return;
    }
    fprintf(stderr, "ah-load: no connection left to send SHUTDOWN on\n");
    load->result->errors++;
}

int load_run(const struct load_config *config, struct load_result *result)
{
    struct load load = {.config = config, .result = result, .mix = config->mix};
    memset(result, 0, sizeof *result);
    load.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    load.conns = calloc((size_t)config->connections, sizeof *load.conns);
    if (load.epoll_fd < 0 || !load.conns) {
        perror("ah-load");
        free(load.conns);
        return -1;
    }

    uint64_t started = clock_now_ns();
    load.last_progress_ns = started;
    load.last_response_ns = started;
    for (int i = 0; i < config->connections; i++) {
        int rc = conn_open(&load, &load.conns[i]);
        if (rc < 0) {
            fprintf(stderr, "ah-load: connect: %s\n", strerror(-rc));
            load.conns[i].state = CONN_DEAD;
            result->errors++;
        }
    }
    uint64_t deadline = config->duration_s > 0 ? started + (uint64_t)(config->duration_s * 1e9) : 0;
    load_drain(&load, deadline);
    result->seconds = (double)(load.last_response_ns - started) / 1e9;

    if (config->shutdown)
        load_send_shutdown(&load);

    int usable = 0;
    for (int i = 0; i < config->connections; i++) {
        if (load.conns[i].state != CONN_DEAD) {
            usable = 1;
            close(load.conns[i].fd);
        }
    }
    close(load.epoll_fd);
    free(load.conns);
    return usable || result->requests ? 0 : -1;
}
