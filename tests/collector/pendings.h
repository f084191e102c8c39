/*
 * pendings.h - the exact pending times (init to first before) of the WORK items of one pool,
 * read from a recording's events (the reader's ahp_read_ops.events callback): the truth that
 * test_kernel_view and test_record_cpu check pending percentiles against. Set work_type to
 * -1 and then to WORK's type before reading; at most 16 items.
 */
#ifndef AHP_TEST_PENDINGS_H
#define AHP_TEST_PENDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "data/datafile.h"

struct pendings {
    int32_t work_type;
    uint64_t init_ns[16], first_ns[16], ids[16];
    int n;
};

static int collect_pendings(void *arg, const struct ahp_event *ev, size_t n)
{
    struct pendings *p = arg;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].type != p->work_type)
            continue;
        int k = 0;
        while (k < p->n && p->ids[k] != ev[i].id)
            k++;
        if (k == p->n && ev[i].kind == AHP_EV_INIT && p->n < 16) {
            p->ids[p->n] = ev[i].id;
            p->init_ns[p->n] = ev[i].ts_ns;
            p->first_ns[p->n++] = 0;
        } else if (k < p->n && ev[i].kind == AHP_EV_BEFORE && p->first_ns[k] == 0) {
            p->first_ns[k] = ev[i].ts_ns;
        }
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#endif
