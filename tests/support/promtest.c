/* promtest.c - Prometheus and HTTP for the tests of `ahprof top --serve` (promtest.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "promtest.h"

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port nobody listens on now (bound and released: Prometheus' own listen address). */
int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Read P's stderr up to the line "ahprof: serving http://127.0.0.1:PORT/metrics": PORT. */
int serving_port(struct proc *p, int timeout_ms)
{
    char seen[4096];
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;
    while (len < sizeof(seen) - 1) {
        seen[len] = '\0';
        const char *at = strstr(seen, "serving http://127.0.0.1:");
        if (at && strchr(at, '\n'))
            return atoi(at + strlen("serving http://127.0.0.1:"));
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(p->err_fd, seen + len, sizeof(seen) - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    seen[len] = '\0';
    cr_assert_fail("ahprof never said where it serves; stderr: %s", seen);
    return -1;
}

/* Send REQUEST (raw bytes) to 127.0.0.1:PORT and read the response to EOF. */
struct response http_raw(int port, const char *request, size_t request_len, int timeout_ms)
{
    struct response r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return r;
    }
    for (size_t off = 0; off < request_len;) {
        ssize_t n = send(fd, request + off, request_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer (431) before it has read everything */
        off += (size_t)n;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    int minor = 1;
    if (len == 0 || end == NULL || sscanf(buf, "HTTP/1.%d %d", &minor, &r.status) != 2) {
        r.status = len ? -1 : 0;
        free(buf);
        return r;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length: ");
    bool has_length = cl && cl < end;
    size_t want = has_length ? strtoul(cl + 18, NULL, 10) : 0;
    r.body_len = len - (size_t)(end + 4 - buf);
    /* An HTTP/1.0 answer (to Prometheus' API) may end at the close instead. */
    if ((has_length || minor != 0) && r.body_len != want)
        r.status = -1;
    r.body = strndup(end + 4, r.body_len);
    free(buf);
    return r;
}

struct response http_get(int port, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    return http_raw(port, req, (size_t)n, 10000);
}

/* ---- Prometheus -------------------------------------------------------------------- */

char prom_dir[64];
int prom_port;
struct proc prom;

void start_prometheus_scraping(const int *ahprof_ports, int n)
{
    strcpy(prom_dir, "/tmp/ahprof-prom-XXXXXX");
    cr_assert_not_null(mkdtemp(prom_dir));
    char path[128], flag_config[160], flag_data[160], flag_listen[64], out[128], err[128];
    snprintf(path, sizeof(path), "%s/prometheus.yml", prom_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "global:\n"
               "  scrape_interval: 1s\n"
               "  scrape_timeout: 1s\n"
               "scrape_configs:\n"
               "  - job_name: ahprof\n"
               "    static_configs:\n"
               "      - targets: [");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s'127.0.0.1:%d'", i ? ", " : "", ahprof_ports[i]);
    fprintf(f, "]\n");
    fclose(f);
    prom_port = free_port();
    snprintf(flag_config, sizeof(flag_config), "--config.file=%s", path);
    snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s/data", prom_dir);
    snprintf(flag_listen, sizeof(flag_listen), "--web.listen-address=127.0.0.1:%d", prom_port);
    snprintf(out, sizeof(out), "%s/stdout", prom_dir);
    snprintf(err, sizeof(err), "%s/stderr", prom_dir);
    char *argv[] = {"prometheus", flag_config, flag_data, flag_listen, "--log.level=warn", NULL};
    proc_start_files(&prom, argv, out, err);
    long long deadline = now_ms() + 30000;
    for (;;) {
        struct response r = http_get(prom_port, "/-/ready");
        free(r.body);
        if (r.status == 200)
            return;
        cr_assert(now_ms() < deadline, "prometheus did not get ready (see %s)", err);
        usleep(100000);
    }
}

void start_prometheus(int ahprof_port)
{
    start_prometheus_scraping(&ahprof_port, 1);
}

void stop_prometheus(void)
{
    if (prom.pid > 0) {
        kill(prom.pid, SIGTERM);
        proc_wait(&prom, 20000);
        prom.pid = 0;
    }
    if (prom_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", prom_dir);
        cr_expect_eq(system(cmd), 0);
        prom_dir[0] = '\0';
    }
}

void url_encode(char *dst, size_t size, const char *s)
{
    const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    cr_assert(*s == '\0', "query too long");
    dst[n] = '\0';
}

/* PROMQL evaluated now (AT == 0) or at the wall time AT: the "result" array of the answer
 * (owned by *ROOT). */
json_object *prom_query(const char *promql, double at, json_object **root)
{
    char enc[2048], path[2200];
    url_encode(enc, sizeof(enc), promql);
    if (at > 0)
        snprintf(path, sizeof(path), "/api/v1/query?query=%s&time=%.3f", enc, at);
    else
        snprintf(path, sizeof(path), "/api/v1/query?query=%s", enc);
    /* HTTP/1.0: a long answer comes whole, not chunked (http_raw reads Content-Length). */
    char req[2400];
    int len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    struct response r = http_raw(prom_port, req, (size_t)len, 10000);
    cr_assert_eq(r.status, 200, "query %s: status %d: %.300s", promql, r.status, r.body);
    *root = json_tokener_parse(r.body);
    cr_assert_not_null(*root, "not JSON: %s", r.body);
    free(r.body);
    json_object *data, *result;
    cr_assert(json_object_object_get_ex(*root, "data", &data) &&
              json_object_object_get_ex(data, "result", &result));
    return result;
}

/* The value of a query with exactly one series in its answer; NAN when it has none. */
double prom_scalar(const char *promql, double at)
{
    json_object *root;
    json_object *result = prom_query(promql, at, &root);
    double v = NAN;
    size_t n = json_object_array_length(result);
    cr_assert(n <= 1, "%s: %zu series, expected one", promql, n);
    if (n == 1) {
        json_object *value;
        cr_assert(json_object_object_get_ex(json_object_array_get_idx(result, 0), "value", &value));
        v = strtod(json_object_get_string(json_object_array_get_idx(value, 1)), NULL);
    }
    json_object_put(root);
    return v;
}

/* Ask again (a scrape a second) until PROMQL is WANT; the last value. */
double prom_wait(const char *promql, double want, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    double v;
    while ((v = prom_scalar(promql, 0)) != want && now_ms() < deadline)
        usleep(200000);
    return v;
}

/* One series of METRIC whose type label is exactly NAME (the bytes a C string has), with
 * value WANT: read from the labels Prometheus stored, not matched by a query string. */
void expect_series_named(const char *metric, const char *pid, const char *name, double want)
{
    char q[256];
    snprintf(q, sizeof(q), "%s{pid=\"%s\"}", metric, pid);
    json_object *root;
    json_object *result = prom_query(q, 0, &root);
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(result); i++) {
        json_object *item = json_object_array_get_idx(result, i), *labels, *type, *value;
        cr_assert(json_object_object_get_ex(item, "metric", &labels) &&
                  json_object_object_get_ex(labels, "type", &type) &&
                  json_object_object_get_ex(item, "value", &value));
        if (strcmp(json_object_get_string(type), name) != 0)
            continue;
        found++;
        cr_expect_eq(strtod(json_object_get_string(json_object_array_get_idx(value, 1)), NULL),
                     want, "%s of type '%s'", metric, name);
    }
    cr_expect_eq(found, 1, "%s: %d series with the type label '%s'", metric, found, name);
    json_object_put(root);
}

void release(struct proc *p)
{
    if (p->in_fd >= 0) {
        cr_assert(write(p->in_fd, "\n", 1) == 1);
    }
}
