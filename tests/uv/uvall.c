/*
 * uvall.c - a libuv program that uses every handle and request kind that libah-uv maps, each
 * a known number of times, with closes, re-armed timers, work on the pool and errors. It
 * knows nothing of libah: run preloaded with build/libah-uv.so, tests/uv/test_uv.c compares
 * what `ahprof report --json` says with the numbers in the comments here (docs/libuv.md).
 *
 *   uvall [--wait | --wait-running] DIR     DIR: a scratch directory (pipe socket, files)
 *
 * With --wait it prints "ready" and waits for a byte on stdin before its first libuv call,
 * so that a tracer can attach first; with --wait-running it does so once every handle and
 * request is created, before uv_run: a tracer attached then finds them alive (mid-run). Every
 * callback sequence is made deterministic (one read per message, UDP reception stopped after its
 * one message, one inotify event...), so that the callback counts are exact. It prints what it
 * observed (the same lines every run) and exits 0 when everything went as designed, 1 otherwise.
 *
 * Built with -DUVALL_MODULE it is a shared object whose uvall_main() tests/uv/uvhost.c calls
 * after dlopen(RTLD_LOCAL), as Python and Lua load libuv.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define CLIENTS 3

static uv_loop_t *loop;
static const char *dir;
static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "uvall: " __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static const char *path_in(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void free_close_cb(uv_handle_t *h)
{
    free(h);
}

static int closes; /* close callbacks run (of handles closed with one) */

static void count_close_cb(uv_handle_t *h)
{
    (void)h;
    closes++;
}

/* ---------------------------------------------------------------------------------------
 * TCP: a server (TCPSERVERWRAP), CLIENTS clients that connect (TCPWRAP + TCPCONNECTWRAP),
 * write "ping" (WRITEWRAP), read "pong" and shut down (SHUTDOWNWRAP); the server's accepted
 * connections (TCPWRAP, triggered by the server) read "ping", write "pong" (WRITEWRAP), read
 * EOF and close with uv_tcp_close_reset. One more client connects to a port that refuses
 * (TCPCONNECTWRAP with ECONNREFUSED) and closes.
 *
 *   TCPSERVERWRAP  1 created, callbacks: 3 connections + 1 close = 4
 *   TCPWRAP        3 clients (read pong, close = 2 each), 1 refused (close = 1),
 *                  3 accepted (read ping, read EOF, close = 3 each): 7 created, 16 callbacks
 *   TCPCONNECTWRAP 4 created, 4 callbacks
 *   WRITEWRAP      3 ping + 3 pong (+1 pipe, +1 tty below)
 *   SHUTDOWNWRAP   3
 */
static uv_tcp_t server;
static int server_conns_closed, tcp_pongs, refused;
static struct sockaddr_in server_addr, refusing_addr;
static int refusing_fd = -1;

static void server_conn_close_cb(uv_handle_t *h)
{
    free(h);
    if (++server_conns_closed == CLIENTS)
        uv_close((uv_handle_t *)&server, count_close_cb);
}

static void server_write_cb(uv_write_t *req, int status)
{
    CHECK(status == 0, "pong write: %s", uv_strerror(status));
    free(req);
}

static void server_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        CHECK(nread == 4 && memcmp(buf->base, "ping", 4) == 0, "server read %zd bytes", nread);
        uv_write_t *req = malloc(sizeof(*req));
        uv_buf_t b = uv_buf_init("pong", 4);
        CHECK(uv_write(req, s, &b, 1, server_write_cb) == 0, "uv_write pong");
    } else {
        CHECK(nread == UV_EOF, "server read: %s", uv_strerror((int)nread));
        /* It calls uv_close itself, through libuv's PLT: one close, one destroy. */
        CHECK(uv_tcp_close_reset((uv_tcp_t *)s, server_conn_close_cb) == 0, "close_reset");
    }
    free(buf->base);
}

static void on_connection(uv_stream_t *srv, int status)
{
    CHECK(status == 0, "connection: %s", uv_strerror(status));
    uv_tcp_t *conn = malloc(sizeof(*conn));
    uv_tcp_init(loop, conn);
    CHECK(uv_accept(srv, (uv_stream_t *)conn) == 0, "uv_accept");
    uv_read_start((uv_stream_t *)conn, alloc_cb, server_read_cb);
}

static void client_shutdown_cb(uv_shutdown_t *req, int status)
{
    CHECK(status == 0, "shutdown: %s", uv_strerror(status));
    uv_close((uv_handle_t *)req->handle, free_close_cb);
    free(req);
}

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    CHECK(nread == 4 && memcmp(buf->base, "pong", 4) == 0, "client read %zd", nread);
    free(buf->base);
    tcp_pongs++;
    uv_read_stop(s);
    uv_shutdown_t *req = malloc(sizeof(*req));
    CHECK(uv_shutdown(req, s, client_shutdown_cb) == 0, "uv_shutdown");
}

static void client_write_cb(uv_write_t *req, int status)
{
    CHECK(status == 0, "ping write: %s", uv_strerror(status));
    free(req);
}

static void client_connect_cb(uv_connect_t *req, int status)
{
    CHECK(status == 0, "connect: %s", uv_strerror(status));
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init("ping", 4);
    CHECK(uv_write(w, req->handle, &b, 1, client_write_cb) == 0, "uv_write ping");
    uv_read_start(req->handle, alloc_cb, client_read_cb);
    free(req);
}

static void refused_connect_cb(uv_connect_t *req, int status)
{
    CHECK(status == UV_ECONNREFUSED, "refused connect: %s", uv_strerror(status));
    refused++;
    uv_close((uv_handle_t *)req->handle, free_close_cb);
    free(req);
}

static void start_tcp(void)
{
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &server_addr);
    CHECK(uv_tcp_bind(&server, (const struct sockaddr *)&server_addr, 0) == 0, "bind");
    CHECK(uv_listen((uv_stream_t *)&server, 16, on_connection) == 0, "listen");
    int len = sizeof(server_addr);
    uv_tcp_getsockname(&server, (struct sockaddr *)&server_addr, &len);
    for (int i = 0; i < CLIENTS; i++) {
        uv_tcp_t *c = malloc(sizeof(*c));
        uv_tcp_init(loop, c);
        uv_connect_t *req = malloc(sizeof(*req));
        CHECK(uv_tcp_connect(req, c, (const struct sockaddr *)&server_addr, client_connect_cb) == 0,
              "uv_tcp_connect");
    }
    /* A bound socket that does not listen refuses connections. */
    refusing_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uv_ip4_addr("127.0.0.1", 0, &refusing_addr);
    socklen_t slen = sizeof(refusing_addr);
    CHECK(bind(refusing_fd, (struct sockaddr *)&refusing_addr, sizeof(refusing_addr)) == 0 &&
              getsockname(refusing_fd, (struct sockaddr *)&refusing_addr, &slen) == 0,
          "refusing socket");
    uv_tcp_t *c = malloc(sizeof(*c));
    uv_tcp_init(loop, c);
    uv_connect_t *req = malloc(sizeof(*req));
    CHECK(uv_tcp_connect(req, c, (const struct sockaddr *)&refusing_addr, refused_connect_cb) == 0,
          "uv_tcp_connect (refused)");
}

/* ---------------------------------------------------------------------------------------
 * Pipes: a server (PIPESERVERWRAP: 1 connection + 1 close = 2 callbacks), a client that
 * connects (PIPEWRAP + PIPECONNECTWRAP), writes "x" (WRITEWRAP) and closes in the write
 * callback (1 close callback), the accepted end (PIPEWRAP triggered by the server: read "x",
 * read EOF, close = 3), and a client whose connect fails with ENOENT (PIPECONNECTWRAP; its
 * PIPEWRAP closes: 1).
 */
static uv_pipe_t pipe_server;
static int pipe_reads, pipe_noent;

static void pipe_conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        CHECK(nread == 1 && buf->base[0] == 'x', "pipe read %zd", nread);
        pipe_reads++;
    } else {
        CHECK(nread == UV_EOF, "pipe read: %s", uv_strerror((int)nread));
        uv_close((uv_handle_t *)s, free_close_cb);
        uv_close((uv_handle_t *)&pipe_server, count_close_cb);
    }
    free(buf->base);
}

static void on_pipe_connection(uv_stream_t *srv, int status)
{
    CHECK(status == 0, "pipe connection: %s", uv_strerror(status));
    uv_pipe_t *conn = malloc(sizeof(*conn));
    uv_pipe_init(loop, conn, 0);
    CHECK(uv_accept(srv, (uv_stream_t *)conn) == 0, "pipe accept");
    uv_read_start((uv_stream_t *)conn, alloc_cb, pipe_conn_read_cb);
}

static void pipe_write_cb(uv_write_t *req, int status)
{
    CHECK(status == 0, "pipe write: %s", uv_strerror(status));
    uv_close((uv_handle_t *)req->handle, free_close_cb);
    free(req);
}

static void pipe_connect_cb(uv_connect_t *req, int status)
{
    CHECK(status == 0, "pipe connect: %s", uv_strerror(status));
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init("x", 1);
    CHECK(uv_write(w, req->handle, &b, 1, pipe_write_cb) == 0, "pipe write");
    free(req);
}

static void pipe_noent_cb(uv_connect_t *req, int status)
{
    CHECK(status == UV_ENOENT, "pipe connect to nothing: %s", uv_strerror(status));
    pipe_noent++;
    uv_close((uv_handle_t *)req->handle, free_close_cb);
    free(req);
}

static void start_pipes(void)
{
    uv_pipe_init(loop, &pipe_server, 0);
    CHECK(uv_pipe_bind(&pipe_server, path_in("sock")) == 0, "pipe bind");
    CHECK(uv_listen((uv_stream_t *)&pipe_server, 4, on_pipe_connection) == 0, "pipe listen");
    uv_pipe_t *c = malloc(sizeof(*c));
    uv_pipe_init(loop, c, 0);
    uv_connect_t *req = malloc(sizeof(*req));
    uv_pipe_connect(req, c, path_in("sock"), pipe_connect_cb);
    uv_pipe_t *n = malloc(sizeof(*n));
    uv_pipe_init(loop, n, 0);
    uv_connect_t *nreq = malloc(sizeof(*nreq));
    uv_pipe_connect(nreq, n, path_in("no-such-sock"), pipe_noent_cb);
}

/* ---------------------------------------------------------------------------------------
 * UDP: a receiver (UDPWRAP: 1 recv, after which it stops reading, + 1 close = 2) and a
 * sender (UDPWRAP: 1 close) whose one datagram is a UDPSENDWRAP (1 callback).
 */
static uv_udp_t udp_rx, udp_tx;
static int udp_received;

static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    (void)flags;
    CHECK(nread == 5 && addr != NULL && memcmp(buf->base, "hello", 5) == 0, "udp recv %zd", nread);
    udp_received++;
    uv_udp_recv_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
    free(buf->base);
}

static void udp_send_cb(uv_udp_send_t *req, int status)
{
    CHECK(status == 0, "udp send: %s", uv_strerror(status));
    uv_close((uv_handle_t *)req->handle, count_close_cb);
    free(req);
}

static void start_udp(void)
{
    struct sockaddr_in a;
    uv_udp_init(loop, &udp_rx);
    uv_ip4_addr("127.0.0.1", 0, &a);
    CHECK(uv_udp_bind(&udp_rx, (const struct sockaddr *)&a, 0) == 0, "udp bind");
    int len = sizeof(a);
    uv_udp_getsockname(&udp_rx, (struct sockaddr *)&a, &len);
    CHECK(uv_udp_recv_start(&udp_rx, alloc_cb, udp_recv_cb) == 0, "udp recv start");
    uv_udp_init(loop, &udp_tx);
    uv_udp_send_t *req = malloc(sizeof(*req));
    uv_buf_t b = uv_buf_init("hello", 5);
    CHECK(uv_udp_send(req, &udp_tx, &b, 1, (const struct sockaddr *)&a, udp_send_cb) == 0,
          "udp send");
}

/* ---------------------------------------------------------------------------------------
 * Timers (TIMERWRAP): T1 one-shot then closed with a callback (2 callbacks); T2 repeating,
 * fires 3 times, closed with a callback (4); T3 re-armed by uv_timer_start from its own
 * callback twice, fires 3 times, closed without a callback (3); a leaked one, unreferenced,
 * never fires and is never closed (alive at the end). 4 created, 3 destroyed, 9 callbacks.
 */
static uv_timer_t t1, t2, t3, t_leak;
static int t1_fired, t2_fired, t3_fired;

static void t1_cb(uv_timer_t *t)
{
    t1_fired++;
    uv_close((uv_handle_t *)t, count_close_cb);
}

static void t2_cb(uv_timer_t *t)
{
    if (++t2_fired == 3) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, count_close_cb);
    }
}

static void t3_cb(uv_timer_t *t)
{
    if (++t3_fired < 3)
        uv_timer_start(t, t3_cb, 1, 0);
    else
        uv_close((uv_handle_t *)t, NULL);
}

static void leak_cb(uv_timer_t *t)
{
    (void)t;
    CHECK(0, "the leaked timer fired");
}

static void start_timers(void)
{
    uv_timer_init(loop, &t1);
    uv_timer_start(&t1, t1_cb, 1, 0);
    uv_timer_init(loop, &t2);
    uv_timer_start(&t2, t2_cb, 1, 1);
    uv_timer_init(loop, &t3);
    uv_timer_start(&t3, t3_cb, 1, 0);
    uv_timer_init(loop, &t_leak);
    uv_timer_start(&t_leak, leak_cb, 3600 * 1000, 0);
    uv_unref((uv_handle_t *)&t_leak);
}

/* ---------------------------------------------------------------------------------------
 * Loop watchers, each stopped in its first callback: UV_IDLE (1 + close 1 = 2), UV_PREPARE
 * (1, closed without a callback), UV_CHECK (1 + close 1 = 2) and a UV_CHECK never started nor
 * closed (alive at the end): UV_CHECK 2 created, 1 destroyed. One more UV_IDLE, never
 * started, is closed after the loop by a uv_walk callback that tail-calls uv_close (its
 * return address is then libuv's uv_walk): UV_IDLE 2 created, 2 destroyed, 3 callbacks.
 */
static uv_idle_t idle, walked_idle;
static uv_prepare_t prepare;
static uv_check_t check, check_leak;
static int idle_runs, prepare_runs, check_runs;

static void idle_cb(uv_idle_t *h)
{
    idle_runs++;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void prepare_cb(uv_prepare_t *h)
{
    prepare_runs++;
    uv_prepare_stop(h);
    uv_close((uv_handle_t *)h, NULL);
}

static void check_cb(uv_check_t *h)
{
    check_runs++;
    uv_check_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void start_watchers(void)
{
    uv_idle_init(loop, &idle);
    uv_idle_start(&idle, idle_cb);
    /* Active already: libuv keeps the first callback. */
    uv_idle_start(&idle, (uv_idle_cb)leak_cb);
    uv_prepare_init(loop, &prepare);
    uv_prepare_start(&prepare, prepare_cb);
    uv_check_init(loop, &check);
    uv_check_start(&check, check_cb);
    uv_check_init(loop, &check_leak);
    uv_idle_init(loop, &walked_idle);
    walked_idle.data = &walked_idle;
}

static void close_marked(uv_handle_t *h, void *marker)
{
    if (h->data == marker)
        uv_close(h, count_close_cb);
}

/* ---------------------------------------------------------------------------------------
 * Work on the pool (UV_WORK): 3 with an after-work callback (work + after = 2 each), 1
 * without (work only = 1): 4 created, 7 callbacks. The first work callback wakes UV_ASYNC
 * (1 callback + close 1 = 2). uv_queue_work without a work callback fails: no resource.
 */
static uv_work_t works[4];
static uv_async_t async;
static int works_after, async_runs;
static atomic_int works_run;

static void async_cb(uv_async_t *h)
{
    async_runs++;
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void work_cb(uv_work_t *req)
{
    if (req == &works[0])
        uv_async_send(&async);
    atomic_fetch_add(&works_run, 1);
}

static void after_work_cb(uv_work_t *req, int status)
{
    (void)req;
    CHECK(status == 0, "after work: %s", uv_strerror(status));
    works_after++;
}

static void start_work(void)
{
    uv_async_init(loop, &async, async_cb);
    for (int i = 0; i < 4; i++)
        CHECK(uv_queue_work(loop, &works[i], work_cb, i < 3 ? after_work_cb : NULL) == 0,
              "queue work");
    uv_work_t bad;
    CHECK(uv_queue_work(loop, &bad, NULL, after_work_cb) == UV_EINVAL, "work without work_cb");
}

/* ---------------------------------------------------------------------------------------
 * Signals (SIGNALWRAP): SIGUSR1 (1 + close 1 = 2) and a one-shot SIGUSR2 closed without a
 * callback (1). Processes (PROCESSWRAP): /bin/echo with its stdout on a pipe (exit 1 + close
 * 1 = 2; the pipe is a PIPEWRAP: read "hi\n", read EOF, close = 3) and a program that does
 * not exist (uv_spawn fails; closed: 1).
 */
static uv_signal_t sig1, sig2;
static uv_process_t proc_echo, proc_missing;
static uv_pipe_t echo_out;
static int sig1_runs, sig2_runs, echo_exits, echo_reads;

static void sig1_cb(uv_signal_t *h, int signum)
{
    CHECK(signum == SIGUSR1, "signal %d", signum);
    sig1_runs++;
    uv_signal_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void sig2_cb(uv_signal_t *h, int signum)
{
    CHECK(signum == SIGUSR2, "signal %d", signum);
    sig2_runs++;
    uv_close((uv_handle_t *)h, NULL);
}

static void echo_exit_cb(uv_process_t *p, int64_t status, int signum)
{
    CHECK(status == 0 && signum == 0, "echo exited %lld/%d", (long long)status, signum);
    echo_exits++;
    uv_close((uv_handle_t *)p, count_close_cb);
}

static void echo_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        CHECK(nread == 3 && memcmp(buf->base, "hi\n", 3) == 0, "echo read %zd", nread);
        echo_reads++;
    } else {
        CHECK(nread == UV_EOF, "echo read: %s", uv_strerror((int)nread));
        uv_close((uv_handle_t *)s, count_close_cb);
    }
    free(buf->base);
}

static void start_signals_and_processes(void)
{
    uv_signal_init(loop, &sig1);
    uv_signal_start(&sig1, sig1_cb, SIGUSR1);
    uv_signal_init(loop, &sig2);
    uv_signal_start_oneshot(&sig2, sig2_cb, SIGUSR2);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);

    uv_pipe_init(loop, &echo_out, 0);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&echo_out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    char *echo_args[] = {"/bin/echo", "hi", NULL};
    uv_process_options_t o = {.exit_cb = echo_exit_cb,
                              .file = echo_args[0],
                              .args = echo_args,
                              .stdio_count = 3,
                              .stdio = stdio};
    CHECK(uv_spawn(loop, &proc_echo, &o) == 0, "spawn echo");
    uv_read_start((uv_stream_t *)&echo_out, alloc_cb, echo_read_cb);

    char *missing_args[] = {"/nonexistent/uvall-no-such-program", NULL};
    uv_process_options_t m = {.exit_cb = echo_exit_cb,
                              .file = missing_args[0],
                              .args = missing_args,
                              .stdio_count = 3,
                              .stdio = stdio};
    stdio[1].flags = UV_IGNORE;
    CHECK(uv_spawn(loop, &proc_missing, &m) == UV_ENOENT, "spawn of a missing program");
    uv_close((uv_handle_t *)&proc_missing, count_close_cb);
}

/* ---------------------------------------------------------------------------------------
 * File system. FSREQCALLBACK: open -> write -> close chained with one uv_fs_t reused from its
 * own callback (3), a stat that fails with ENOENT (1): 4 created, 4 callbacks, 2 of them
 * triggered by FSREQCALLBACK. Synchronous calls (NULL callback) are no resources.
 * FSEVENTWRAP: one chmod of a watched file (1 event + close 1 = 2). STATWATCHER: a file that
 * does not exist (1 callback with ENOENT + close 1 = 2); libuv's own timer and stat requests
 * behind it are no resources.
 */
static uv_fs_t fs_chain, fs_stat_req;
static uv_fs_event_t fs_event;
static uv_fs_poll_t fs_poll;
static int fs_steps, fs_events, fs_polls, stat_errors;
static uv_file chain_fd;

static void chain_cb(uv_fs_t *req)
{
    ssize_t result = req->result;
    uv_fs_type type = req->fs_type;
    uv_fs_req_cleanup(req);
    fs_steps++;
    if (type == UV_FS_OPEN) {
        CHECK(result >= 0, "fs open: %s", uv_strerror((int)result));
        chain_fd = (uv_file)result;
        static char text[] = "uvall\n";
        uv_buf_t b = uv_buf_init(text, 6);
        CHECK(uv_fs_write(loop, req, chain_fd, &b, 1, 0, chain_cb) == 0, "fs write");
    } else if (type == UV_FS_WRITE) {
        CHECK(result == 6, "fs write: %zd", result);
        CHECK(uv_fs_close(loop, req, chain_fd, chain_cb) == 0, "fs close");
    } else {
        CHECK(type == UV_FS_CLOSE && result == 0, "fs close: %zd", result);
    }
}

static void stat_cb(uv_fs_t *req)
{
    CHECK(req->result == UV_ENOENT, "stat of nothing: %zd", req->result);
    stat_errors++;
    uv_fs_req_cleanup(req);
}

static void fs_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)filename;
    CHECK(status == 0 && (events & UV_CHANGE), "fs event %d/%d", events, status);
    fs_events++;
    uv_fs_event_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void fs_poll_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)prev;
    (void)curr;
    CHECK(status == UV_ENOENT, "fs poll: %s", uv_strerror(status));
    fs_polls++;
    uv_fs_poll_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void start_fs(void)
{
    CHECK(uv_fs_open(loop, &fs_chain, path_in("file"), O_CREAT | O_WRONLY | O_TRUNC, 0644,
                     chain_cb) == 0,
          "fs open");
    CHECK(uv_fs_stat(loop, &fs_stat_req, path_in("missing"), stat_cb) == 0, "fs stat");

    uv_fs_t sync_req;
    CHECK(uv_fs_open(NULL, &sync_req, path_in("watched"), O_CREAT | O_WRONLY, 0644, NULL) >= 0,
          "sync open");
    uv_file fd = (uv_file)sync_req.result;
    uv_fs_req_cleanup(&sync_req);
    uv_fs_close(NULL, &sync_req, fd, NULL);
    uv_fs_req_cleanup(&sync_req);

    uv_fs_event_init(loop, &fs_event);
    CHECK(uv_fs_event_start(&fs_event, fs_event_cb, path_in("watched"), 0) == 0, "fs event");
    CHECK(chmod(path_in("watched"), 0600) == 0, "chmod");

    uv_fs_poll_init(loop, &fs_poll);
    CHECK(uv_fs_poll_start(&fs_poll, fs_poll_cb, path_in("never-there"), 5) == 0, "fs poll");
}

/* ---------------------------------------------------------------------------------------
 * DNS and randomness: GETADDRINFOREQWRAP for 127.0.0.1 (1) and for a numeric host that is
 * no address (fails in its callback: 1); uv_getaddrinfo without node and service fails at
 * once and a synchronous one (NULL callback) is no resource. GETNAMEINFOREQWRAP (1).
 * UV_RANDOM with a callback (1); the synchronous one is no resource.
 */
static uv_getaddrinfo_t gai_ok, gai_bad, gai_sync;
static uv_getnameinfo_t gni;
static uv_random_t rnd;
static int gai_ok_runs, gai_bad_runs, gni_runs, rnd_runs;

static void gai_ok_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    (void)req;
    CHECK(status == 0 && res != NULL, "getaddrinfo: %s", uv_strerror(status));
    gai_ok_runs++;
    uv_freeaddrinfo(res);
}

static void gai_bad_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    (void)req;
    CHECK(status != 0, "getaddrinfo of no address succeeded");
    gai_bad_runs++;
    uv_freeaddrinfo(res);
}

static void gni_cb(uv_getnameinfo_t *req, int status, const char *host, const char *service)
{
    (void)req;
    CHECK(status == 0 && strcmp(host, "127.0.0.1") == 0 && strcmp(service, "80") == 0,
          "getnameinfo: %s", uv_strerror(status));
    gni_runs++;
}

static void random_cb(uv_random_t *req, int status, void *buf, size_t len)
{
    (void)req;
    (void)buf;
    CHECK(status == 0 && len == 16, "random: %s", uv_strerror(status));
    rnd_runs++;
}

static void start_dns_random(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST};
    CHECK(uv_getaddrinfo(loop, &gai_ok, gai_ok_cb, "127.0.0.1", NULL, &hints) == 0, "gai");
    CHECK(uv_getaddrinfo(loop, &gai_bad, gai_bad_cb, "300.1.1.1", NULL, &hints) == 0, "gai bad");
    CHECK(uv_getaddrinfo(loop, &gai_sync, gai_ok_cb, NULL, NULL, NULL) == UV_EINVAL,
          "gai without node and service");
    CHECK(uv_getaddrinfo(loop, &gai_sync, NULL, "127.0.0.1", NULL, &hints) == 0, "sync gai");
    uv_freeaddrinfo(gai_sync.addrinfo);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 80, &a);
    CHECK(uv_getnameinfo(loop, &gni, gni_cb, (const struct sockaddr *)&a,
                         NI_NUMERICHOST | NI_NUMERICSERV) == 0,
          "getnameinfo");
    static char rbuf[16], sbuf[16];
    CHECK(uv_random(loop, &rnd, rbuf, sizeof(rbuf), 0, random_cb) == 0, "random");
    CHECK(uv_random(NULL, NULL, sbuf, sizeof(sbuf), 0, NULL) == 0, "sync random");
}

/* ---------------------------------------------------------------------------------------
 * UV_POLL on a socketpair (readable once: 1 + close 1 = 2) and TTYWRAP on a pseudo-terminal
 * (closed with a callback: 1), written once with uv_write (WRITEWRAP, 1) and once with
 * uv_try_write (no resource).
 */
static uv_poll_t poller;
static uv_tty_t tty;
static int pair[2] = {-1, -1}, pty_master = -1, polls, tty_writes;

static void poll_cb(uv_poll_t *h, int status, int events)
{
    CHECK(status == 0 && (events & UV_READABLE), "poll %d/%d", status, events);
    char c;
    CHECK(read(pair[0], &c, 1) == 1, "poll read");
    polls++;
    uv_poll_stop(h);
    uv_close((uv_handle_t *)h, count_close_cb);
}

static void tty_write_cb(uv_write_t *req, int status)
{
    CHECK(status == 0, "tty write: %s", uv_strerror(status));
    tty_writes++;
    uv_close((uv_handle_t *)req->handle, count_close_cb);
}

static void start_poll_tty(void)
{
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0, "socketpair");
    uv_poll_init(loop, &poller, pair[0]);
    uv_poll_start(&poller, UV_READABLE, poll_cb);
    CHECK(write(pair[1], "p", 1) == 1, "socketpair write");

    pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(pty_master >= 0 && grantpt(pty_master) == 0 && unlockpt(pty_master) == 0, "pty");
    int slave = open(ptsname(pty_master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(slave >= 0, "pty slave");
    CHECK(uv_tty_init(loop, &tty, slave, 0) == 0, "tty init");
    uv_buf_t t = uv_buf_init("t", 1);
    CHECK(uv_try_write((uv_stream_t *)&tty, &t, 1) == 1, "tty try_write");
    static uv_write_t wreq;
    CHECK(uv_write(&wreq, (uv_stream_t *)&tty, &t, 1, tty_write_cb) == 0, "tty write");
}

static bool wait_for_tracer(void)
{
    printf("ready\n");
    fflush(stdout);
    char c;
    return read(0, &c, 1) == 1;
}

#ifdef UVALL_MODULE
__attribute__((visibility("default"))) int uvall_main(int argc, char **argv);
#define UVALL_MAIN uvall_main
#else
#define UVALL_MAIN main
#endif

int UVALL_MAIN(int argc, char **argv)
{
    int arg = 1;
    bool wait_first = false, wait_running = false;
    if (arg < argc && strcmp(argv[arg], "--wait") == 0)
        wait_first = ++arg;
    else if (arg < argc && strcmp(argv[arg], "--wait-running") == 0)
        wait_running = ++arg;
    if (wait_first && !wait_for_tracer())
        return 2;
    if (arg >= argc) {
        fprintf(stderr, "usage: uvall [--wait] DIR\n");
        return 2;
    }
    dir = argv[arg];
    loop = uv_default_loop();

    start_timers();
    start_watchers();
    start_tcp();
    start_pipes();
    start_udp();
    start_work();
    start_signals_and_processes();
    start_fs();
    start_dns_random();
    start_poll_tty();

    if (wait_running && !wait_for_tracer())
        return 2;
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
    uv_walk(loop, close_marked, &walked_idle);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run after uv_walk");

    printf("tcp: %d pongs, %d refused\n", tcp_pongs, refused);
    printf("pipe: %d reads, %d ENOENT\n", pipe_reads, pipe_noent);
    printf("udp: %d received\n", udp_received);
    printf("timers: %d %d %d\n", t1_fired, t2_fired, t3_fired);
    printf("watchers: idle %d prepare %d check %d\n", idle_runs, prepare_runs, check_runs);
    printf("work: %d run, %d after, async %d\n", atomic_load(&works_run), works_after, async_runs);
    printf("signals: %d %d; echo: %d exits, %d reads\n", sig1_runs, sig2_runs, echo_exits,
           echo_reads);
    printf("fs: %d steps, %d stat errors, %d events, %d polls\n", fs_steps, stat_errors, fs_events,
           fs_polls);
    printf("dns: %d %d %d; random %d\n", gai_ok_runs, gai_bad_runs, gni_runs, rnd_runs);
    printf("poll %d; tty writes %d\n", polls, tty_writes);
    printf("close callbacks: %d\n", closes);

    CHECK(tcp_pongs == CLIENTS && refused == 1 && pipe_reads == 1 && pipe_noent == 1 &&
              udp_received == 1,
          "network counts");
    CHECK(t1_fired == 1 && t2_fired == 3 && t3_fired == 3, "timer counts");
    CHECK(idle_runs == 1 && prepare_runs == 1 && check_runs == 1, "watcher counts");
    CHECK(atomic_load(&works_run) == 4 && works_after == 3 && async_runs == 1, "work counts");
    CHECK(sig1_runs == 1 && sig2_runs == 1 && echo_exits == 1 && echo_reads == 1, "signals");
    CHECK(fs_steps == 3 && stat_errors == 1 && fs_events == 1 && fs_polls == 1, "fs counts");
    CHECK(gai_ok_runs == 1 && gai_bad_runs == 1 && gni_runs == 1 && rnd_runs == 1, "dns");
    CHECK(polls == 1 && tty_writes == 1, "poll, tty");
    if (refusing_fd >= 0)
        close(refusing_fd);
    close(pair[1]);
    close(pty_master);
    return failures ? 1 : 0;
}
