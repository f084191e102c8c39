/*
 * reqlog.c - request-id logging through context storage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ah.h"
#include "jsonw.h"
#include "reqlog.h"

static ah_store_t *request_store;
static FILE *log_out;

/* A small number per thread so that lines show where they were written. */
static int thread_number(void)
{
    static int next;
    static __thread int mine;
    if (mine == 0)
        mine = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
    return mine;
}

int reqlog_open(FILE *out)
{
    request_store = ah_store_new(NULL);
    if (request_store == NULL)
        return -ENOMEM;
    log_out = out;
    return 0;
}

void reqlog_close(void)
{
    ah_store_free(request_store);
    request_store = NULL;
    log_out = NULL;
}

void *reqlog_with_request(const char *request_id, void *(*fn)(void *), void *arg)
{
    return ah_store_run(request_store, (void *)request_id, fn, arg);
}

const char *reqlog_request_id(void)
{
    return ah_store_get(request_store);
}

void log_info(const char *fmt, ...)
{
    /* Checked first: a closed logger costs a call and a branch, not a format. */
    if (log_out == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_message(msg);
}

void log_message(const char *msg)
{
    if (log_out == NULL)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct jsonw w;
    jsonw_init(&w);
    jsonw_uint(&w, "ts_ns", (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    jsonw_str(&w, "level", "info");
    jsonw_str(&w, "request_id", reqlog_request_id()); /* null outside a request */
    jsonw_uint(&w, "thread", (uint64_t)thread_number());
    jsonw_str(&w, "msg", msg);
    jsonw_end(&w);
    /* One write per line: lines from several threads never interleave. */
    fwrite(w.buf, 1, w.len, log_out);
}
