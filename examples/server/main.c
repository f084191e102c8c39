/*
 * main.c - ah-server: an epoll TCP server on 127.0.0.1 with timers and a worker pool,
 * instrumented with libah so that ahprof can profile it from outside.
 *
 *   ah-server [--port P] [--threads N] [--duration S] [--idle-timeout S]
 *             [--log FILE] [--trace FILE] [--crumbs] [--db FILE]
 *
 * Prints "listening on 127.0.0.1:PORT" and "pid PID" (flushed) once it accepts connections
 * and a one-line summary when it stops: after --duration seconds, on SIGINT/SIGTERM or on a
 * SHUTDOWN request. Everything it created is destroyed by then, except the LEAK resources.
 * --log, --trace, --crumbs and --db turn on the context storage patterns (patterns.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../common/args.h"
#include "../common/clock.h"
#include "loop.h"
#include "patterns.h"
#include "pool.h"
#include "resources.h"
#include "server.h"
#include "timer.h"

struct options {
    int port;
    int threads;
    double duration_s;
    double idle_timeout_s;
    struct patterns_config patterns;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ah-server [--port P] [--threads N] [--duration S] [--idle-timeout S]\n"
                 "                 [--log FILE] [--trace FILE] [--crumbs] [--db FILE]\n"
                 "  --port P          TCP port on 127.0.0.1 (default 0: any free port)\n"
                 "  --threads N       worker threads for /work (default 4)\n"
                 "  --duration S      stop after S seconds (default 0: run until signalled)\n"
                 "  --idle-timeout S  close connections idle for S seconds (default 30, 0: never)\n"
                 "  --log FILE        JSON log lines, each with its request's id\n"
                 "  --trace FILE      JSON spans; W3C traceparent continued and propagated\n"
                 "  --crumbs          error reports with their breadcrumbs on stderr\n"
                 "  --db FILE         SQLite database for GET /tx (created if missing)\n"
                 "protocol, one line each: GET /fast | GET /work?ms=N | GET /sleep?ms=N | "
                 "GET /leak | GET /call?port=P | GET /fail[?ms=N] | GET /tx?n=N[&fail=0|1] | "
                 "QUIT | SHUTDOWN\n");
}

static struct options parse_options(int argc, char **argv)
{
    struct options o = {.port = 0, .threads = 4, .duration_s = 0, .idle_timeout_s = 30};
    enum { OPT_LOG = 256, OPT_TRACE, OPT_CRUMBS, OPT_DB };
    static const struct option long_options[] = {
        {"port", required_argument, NULL, 'p'},     {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'}, {"idle-timeout", required_argument, NULL, 'i'},
        {"log", required_argument, NULL, OPT_LOG},  {"trace", required_argument, NULL, OPT_TRACE},
        {"crumbs", no_argument, NULL, OPT_CRUMBS},  {"db", required_argument, NULL, OPT_DB},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "p:t:d:i:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o.port = (int)parse_integer("ah-server", "--port", optarg, 0, 65535);
            break;
        case 't':
            o.threads = (int)parse_integer("ah-server", "--threads", optarg, 1, 256);
            break;
        case 'd':
            o.duration_s = parse_number("ah-server", "--duration", optarg, 0, 1e6);
            break;
        case 'i':
            o.idle_timeout_s = parse_number("ah-server", "--idle-timeout", optarg, 0, 1e6);
            break;
        case OPT_LOG:
            o.patterns.log_path = optarg;
            break;
        case OPT_TRACE:
            o.patterns.trace_path = optarg;
            break;
        case OPT_CRUMBS:
            o.patterns.crumbs = 1;
            break;
        case OPT_DB:
            o.patterns.db_path = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ah-server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    return o;
}

static void on_signal(struct io_watcher *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo info;
    if (read(io->fd, &info, sizeof info) < 0 && errno != EAGAIN)
        perror("ah-server: signalfd read");
    loop_stop(io->loop);
}

static void die(const char *what, int err)
{
    fprintf(stderr, "ah-server: %s: %s\n", what, strerror(-err));
    exit(1);
}

/* Finish everything that is still in flight so that every resource is destroyed. Cancelled
 * timers and tasks answer their requests, whose writes fail on the closed connections. */
static void shut_down(struct server *s, struct pool *pool, struct loop *loop)
{
    server_close(s);
    pool_shutdown(pool);
    do {
        timer_cancel_all(loop);
        loop_run_deferred(loop);
    } while (loop->timer_count);
}

int main(int argc, char **argv)
{
    struct options o = parse_options(argc, argv);
    resource_types_register();
    /* Before any thread starts: the patterns' flags are read without a lock. */
    if (patterns_open(&o.patterns) < 0)
        exit(1);

    /* Blocked before any thread starts so that only the loop's signalfd sees them. A shell
     * starts background jobs with SIGINT ignored, and an ignored signal never reaches a
     * signalfd: the default disposition is restored first. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);

    static struct loop loop;
    static struct pool pool;
    static struct server server;
    int rc = loop_init(&loop);
    if (rc < 0)
        die("epoll", rc);
    rc = pool_init(&pool, &loop, o.threads);
    if (rc < 0)
        die("worker pool", rc);
    rc = server_listen(&server, &loop, &pool, o.port, (uint64_t)(o.idle_timeout_s * 1e9));
    if (rc < 0)
        die("listen", rc);

    int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0)
        die("signalfd", -errno);
    struct io_watcher signal_watcher;
    rc = io_start(&loop, &signal_watcher, signal_fd, EPOLLIN, on_signal);
    if (rc < 0)
        die("signalfd", rc);

    printf("listening on 127.0.0.1:%d\npid %d\n", server.port, (int)getpid());
    fflush(stdout);
    note("listening on 127.0.0.1:%d", server.port);

    uint64_t started_ns = clock_now_ns();
    uint64_t deadline_ns = o.duration_s > 0 ? started_ns + (uint64_t)(o.duration_s * 1e9) : 0;
    loop_run(&loop, deadline_ns);
    double seconds = (double)(clock_now_ns() - started_ns) / 1e9;

    shut_down(&server, &pool, &loop);
    io_stop(&signal_watcher);
    close(signal_fd);
    const struct server_stats *st = &server.stats;
    if (st->requests_in_flight)
        fprintf(stderr, "ah-server: %lu requests still in flight at exit\n",
                st->requests_in_flight);
    server_free(&server);
    loop_free(&loop);
    note("stopped");
    patterns_close();

    printf("ah-server: requests=%lu connections=%lu fast=%lu work=%lu sleep=%lu leak=%lu "
           "quit=%lu bad=%lu write_errors=%lu idle_closes=%lu call=%lu fail=%lu tx=%lu "
           "seconds=%.3f\n",
           st->requests, st->connections, st->fast, st->work, st->sleep, st->leak, st->quit,
           st->bad_requests, st->write_errors, st->idle_closes, st->call, st->fail, st->tx,
           seconds);
    fflush(stdout);
    return 0;
}
