/*
 * httpd.h - a minimal HTTP/1.1 server for GET requests (`top --serve`), driven by the caller's
 * poll() loop: every socket is nonblocking, nothing here ever waits. Bounded: a few
 * connections at a time, a request of at most AHP_HTTPD_MAX_REQUEST bytes within
 * AHP_HTTPD_REQUEST_TIMEOUT_NS, each connection closed after one response or after
 * AHP_HTTPD_CONN_TIMEOUT_NS, whichever comes first.
 */
#ifndef AHP_HTTPD_H
#define AHP_HTTPD_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AHP_HTTPD_MAX_CONNS 4
#define AHP_HTTPD_MAX_REQUEST 8192
#define AHP_HTTPD_CONN_TIMEOUT_NS 5000000000ull
/* A client sends its request at once (Prometheus does): one that keeps a slot without doing
 * so loses it after this long. */
#define AHP_HTTPD_REQUEST_TIMEOUT_NS 1000000000ull
/* Every fd the server may want polled: the listening socket and the connections. */
#define AHP_HTTPD_POLLFDS (1 + AHP_HTTPD_MAX_CONNS)

/* Writes the body of a GET of PATH (the request target up to '?') to OUT and returns 200, or
 * returns another status (404...) with nothing written. *CONTENT_TYPE is set for 200. */
typedef int (*ahp_httpd_handler)(void *ctx, const char *path, FILE *out, const char **content_type);

struct ahp_httpd_conn {
    int fd; /* -1: free */
    uint64_t accepted_ns;
    size_t in_len;
    char in[AHP_HTTPD_MAX_REQUEST];
    char *out; /* the response, once the request is complete */
    size_t out_len, out_sent;
};

struct ahp_httpd {
    int listen_fd;
    char bound[80]; /* "ADDR:PORT" as bound (the real port when 0 was asked) */
    ahp_httpd_handler handler;
    void *ctx;
    struct ahp_httpd_conn conns[AHP_HTTPD_MAX_CONNS];
    uint64_t requests, errors; /* served, and refused or cut (bad request, timeout) */
};

/* Parse "ADDR:PORT", "[V6ADDR]:PORT", ":PORT" or "PORT" (ADDR defaults to 127.0.0.1: only this
 * machine) and listen there. Returns 0, -EINVAL for a malformed address (*WHY says what is
 * wrong), or a negative errno from socket/bind/listen (EADDRINUSE...). */
int ahp_httpd_open(struct ahp_httpd *h, const char *addr, ahp_httpd_handler handler, void *ctx,
                   const char **why);

/* Fill FDS (AHP_HTTPD_POLLFDS at most) with what to poll; returns how many. */
int ahp_httpd_pollfds(const struct ahp_httpd *h, struct pollfd *fds);

/* Accept, read, answer and close whatever is ready, without blocking. */
void ahp_httpd_step(struct ahp_httpd *h);

/* Finish the responses already under way for at most BUDGET_NS, then close everything. */
void ahp_httpd_close(struct ahp_httpd *h, uint64_t budget_ns);

/* The request line of a complete request head REQ (LEN bytes, up to the blank line): 0 with
 * METHOD and PATH (up to '?', NUL-terminated, bounded by their sizes) or -EINVAL. */
int ahp_http_parse_request(const char *req, size_t len, char *method, size_t method_size,
                           char *path, size_t path_size);

#endif
