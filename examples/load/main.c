/*
 * main.c - ah-load: drive the example server over keep-alive connections on 127.0.0.1 and
 * report the throughput.
 *
 *   ah-load --port P [--connections C] [--duration S] [--requests N]
 *           [--mix fast=80,work=10,sleep=10] [--work-ms N] [--sleep-ms N] [--shutdown] [--json]
 *
 * Prints "requests=N seconds=S rps=R errors=E" followed by per-kind counts and latency
 * percentiles (one JSON object with --json). Exits 0 without errors, 1 with errors, 2 on
 * bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/args.h"
#include "client.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ah-load --port P [--connections C] [--duration S] [--requests N]\n"
            "               [--mix fast=80,work=10,sleep=10] [--work-ms N] [--sleep-ms N]\n"
            "               [--stall S] [--shutdown] [--json]\n"
            "  --connections C  keep-alive connections, one request in flight each (default 4)\n"
            "  --duration S     stop sending after S seconds (default 5, or none with "
            "--requests)\n"
            "  --requests N     send exactly N requests in total, then stop\n"
            "  --mix            weights of fast, work, sleep and leak requests, interleaved\n"
            "                   deterministically (default fast=80,work=10,sleep=10)\n"
            "  --work-ms N      pool work per /work request (default 1)\n"
            "  --sleep-ms N     timer delay per /sleep request (default 1)\n"
            "  --stall S        give up when no response came for S seconds (default 10)\n"
            "  --shutdown       send SHUTDOWN to the server when done\n"
            "  --json           print one JSON object\n");
}

static struct load_config parse_options(int argc, char **argv, int *json)
{
    struct load_config cfg = {.connections = 4, .duration_s = -1, .stall_s = 10};
    const char *mix = "fast=80,work=10,sleep=10";
    unsigned work_ms = 1, sleep_ms = 1;
    static const struct option long_options[] = {
        {"port", required_argument, NULL, 'p'},     {"connections", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'}, {"requests", required_argument, NULL, 'n'},
        {"mix", required_argument, NULL, 'm'},      {"work-ms", required_argument, NULL, 'w'},
        {"sleep-ms", required_argument, NULL, 's'}, {"stall", required_argument, NULL, 'S'},
        {"shutdown", no_argument, NULL, 'x'},       {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "p:c:d:n:m:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            cfg.port = (int)parse_integer("ah-load", "--port", optarg, 1, 65535);
            break;
        case 'c':
            cfg.connections = (int)parse_integer("ah-load", "--connections", optarg, 1, 10000);
            break;
        case 'd':
            cfg.duration_s = parse_number("ah-load", "--duration", optarg, 0, 1e6);
            break;
        case 'n':
            cfg.requests = parse_integer("ah-load", "--requests", optarg, 1, ULONG_MAX);
            break;
        case 'm':
            mix = optarg;
            break;
        case 'w':
            work_ms = (unsigned)parse_integer("ah-load", "--work-ms", optarg, 0, 60000);
            break;
        case 's':
            sleep_ms = (unsigned)parse_integer("ah-load", "--sleep-ms", optarg, 0, 60000);
            break;
        case 'S':
            cfg.stall_s = parse_number("ah-load", "--stall", optarg, 0.001, 1e6);
            break;
        case 'x':
            cfg.shutdown = 1;
            break;
        case 'j':
            *json = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc || cfg.port == 0) {
        fprintf(stderr,
                optind < argc ? "ah-load: unexpected argument '%s'\n"
                              : "ah-load: --port is required\n",
                argv[optind]);
        usage(stderr);
        exit(2);
    }
    /* Always bounded: by time unless a request count was given. */
    if (cfg.duration_s < 0)
        cfg.duration_s = cfg.requests ? 0 : 5;
    char error[160];
    if (mix_parse(&cfg.mix, mix, error, sizeof error) < 0) {
        fprintf(stderr, "ah-load: %s\n", error);
        exit(2);
    }
    cfg.mix.work_ms = work_ms;
    cfg.mix.sleep_ms = sleep_ms;
    return cfg;
}

static void print_result(const struct load_config *cfg, const struct load_result *r, int json)
{
    double rps = r->seconds > 0 ? (double)r->requests / r->seconds : 0;
    double p50 = (double)latency_quantile(&r->latency, 0.50) / 1e3;
    double p99 = (double)latency_quantile(&r->latency, 0.99) / 1e3;
    double max = (double)r->latency.max_ns / 1e3;
    if (json) {
        printf("{\"requests\":%lu,\"seconds\":%.3f,\"rps\":%.1f,\"errors\":%lu,"
               "\"connections\":%d,",
               r->requests, r->seconds, rps, r->errors, cfg->connections);
        for (int k = 0; k < MIX_KINDS; k++)
            printf("\"%s\":%lu,", mix_kind_name((enum mix_kind)k), r->by_kind[k]);
        printf("\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"latency_max_us\":%.1f}\n", p50,
               p99, max);
    } else {
        printf("requests=%lu seconds=%.3f rps=%.1f errors=%lu", r->requests, r->seconds, rps,
               r->errors);
        for (int k = 0; k < MIX_KINDS; k++)
            printf(" %s=%lu", mix_kind_name((enum mix_kind)k), r->by_kind[k]);
        printf(" p50_us=%.1f p99_us=%.1f max_us=%.1f\n", p50, p99, max);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int json = 0;
    struct load_config cfg = parse_options(argc, argv, &json);
    struct load_result result;
    if (load_run(&cfg, &result) < 0)
        fprintf(stderr, "ah-load: could not use any connection to 127.0.0.1:%d\n", cfg.port);
    print_result(&cfg, &result, json);
    return result.errors ? 1 : 0;
}
