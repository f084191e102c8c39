/*
 * write.h - a response write, an async resource of type WRITE (libuv's uv_write_t).
 *
 * The connection sends the bytes at once when the socket takes them; the completion callback
 * always runs later from the loop, in the write's scope, and the resource is destroyed and
 * freed after it.
 */
#ifndef SERVER_WRITE_H
#define SERVER_WRITE_H

#include <stddef.h>

#include "ah.h"
#include "loop.h"

struct write;

/* STATUS is 0 when every byte went out, else a negative errno value (connection closed). */
typedef void (*write_cb)(void *arg, int status);

struct write {
    ah_resource_t resource;
    struct write *next; /* in the connection's queue */
    struct deferred completion;
    write_cb cb;
    void *arg;
    int status;
    size_t length;
    size_t sent;
    char data[];
};

/* A WRITE of DATA (copied), triggered by the current execution. NULL when memory is short. */
struct write *write_new(const char *data, size_t length, write_cb cb, void *arg);

/* Finish W with STATUS: its callback runs from LOOP once the current callback returned. */
void write_complete(struct loop *loop, struct write *w, int status);

#endif
