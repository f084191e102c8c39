/*
 * gen_decode_corpus.c - seed inputs for fuzz_decode (mode byte, then struct ahp_ring_batch
 * after struct ahp_ring_batch), laid out by the current src/contracts/ahprof.h: gen_decode_corpus
 * DIR.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ahprof.h"

static struct ahp_ring_batch batches[8];

static void header(struct ahp_ring_batch *m, uint32_t tid, uint64_t gen, uint16_t clock,
                   uint64_t anchor_ns)
{
    memset(m, 0, sizeof(*m));
    m->pid = 42;
    m->flags = AHP_RING_FLUSHED;
    m->batch.hdr = (struct ahp_batch_header){.anchor_ticks = anchor_ns * 2 + 7,
                                             .anchor_ns = anchor_ns,
                                             .seq = 10,
                                             .names = 0x1000,
                                             .gen = gen,
                                             .tid = tid,
                                             .type_count = 3,
                                             .clock = clock,
                                             .version = AHP_BATCH_VERSION};
}

static void add(struct ahp_ring_batch *m, uint8_t kind, uint64_t id, uint64_t arg, int32_t type,
                uint64_t ticks)
{
    struct ahp_batch_record *r = &m->batch.rec[m->batch.hdr.count++];
    *r =
        (struct ahp_batch_record){.ticks = ticks, .id = id, .arg = arg, .type = type, .kind = kind};
}

/* Thread TID's resources from ID on: N lifecycles, each with a nested child. */
static void lifecycles(struct ahp_ring_batch *m, uint64_t id, int n, uint64_t ticks)
{
    for (int i = 0; i < n; i++, id += 2, ticks += 100) {
        add(m, AHP_EV_INIT, id, 1, 0, ticks);
        add(m, AHP_EV_BEFORE, id, 0, 0, ticks + 10);
        add(m, AHP_EV_INIT, id + 1, id, 1, ticks + 20);
        add(m, AHP_EV_RESOLVE, id + 1, 0, 1, ticks + 25);
        add(m, AHP_EV_AFTER, id, 0, 0, ticks + 30);
        add(m, AHP_EV_DESTROY, id, 0, 0, ticks + 40);
    }
}

static int write_seed(const char *dir, const char *name, uint8_t mode, int n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    fputc(mode, f);
    fwrite(batches, sizeof(batches[0]), (size_t)n, f);
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_decode_corpus DIR\n");
        return 2;
    }
    int rc = 0;
    /* One thread, one flushed batch. */
    header(&batches[0], 100, 0, AHP_CLOCK_MONOTONIC, 1000000);
    lifecycles(&batches[0], 2, 10, 900000);
    rc |= write_seed(argv[1], "one-batch", 0, 1);

    /* A batch read at switch-out, then the rest of it at the flush (first > 0), then the
     * next generation; a second thread in between. TSC ticks. */
    header(&batches[0], 100, 5, AHP_CLOCK_TSC, 2000000);
    batches[0].flags = 0;
    lifecycles(&batches[0], 100, 4, 3000000);
    batches[1] = batches[0];
    batches[1].first = (uint16_t)batches[0].batch.hdr.count;
    batches[1].flags = AHP_RING_FLUSHED;
    lifecycles(&batches[1], 200, 4, 3001000);
    /* As the BPF side streams it: only the records from FIRST on, and the seq before it. */
    for (uint32_t i = 0; i < batches[1].first; i++) {
        uint8_t kind = batches[1].batch.rec[i].kind;
        batches[1].batch.hdr.seq += kind == AHP_EV_INIT || kind == AHP_EV_DESTROY ? 2 : 0;
    }
    memmove(batches[1].batch.rec, batches[1].batch.rec + batches[1].first,
            (batches[1].batch.hdr.count - batches[1].first) * sizeof(struct ahp_batch_record));
    header(&batches[2], 101, 0, AHP_CLOCK_TSC, 2000500);
    lifecycles(&batches[2], 300, 10, 3000500);
    header(&batches[3], 100, 6, AHP_CLOCK_TSC, 2100000);
    lifecycles(&batches[3], 400, 10, 3002000);
    rc |= write_seed(argv[1], "switch-out-and-flush", 1, 4);
    rc |= write_seed(argv[1], "switch-out-and-flush-windowed", 5, 4);
    rc |= write_seed(argv[1], "switch-out-and-flush-windowed-runs", 13, 4);
    rc |= write_seed(argv[1], "switch-out-and-flush-live", 1 | 16, 4);

    /* A scope opened in one batch and closed in the next, and a lost generation. */
    header(&batches[0], 7, 0, AHP_CLOCK_MONOTONIC, 5000000);
    add(&batches[0], AHP_EV_INIT, 50, 1, 2, 4000000);
    add(&batches[0], AHP_EV_BEFORE, 50, 0, 2, 4000010);
    header(&batches[1], 7, 1, AHP_CLOCK_MONOTONIC, 6000000);
    add(&batches[1], AHP_EV_AFTER, 50, 0, 2, 5500000);
    add(&batches[1], AHP_EV_DESTROY, 50, 0, 2, 5500010);
    header(&batches[2], 7, 3, AHP_CLOCK_MONOTONIC, 7000000);
    add(&batches[2], AHP_EV_AFTER, 51, 0, 2, 6500000);
    rc |= write_seed(argv[1], "scope-across-batches", 4, 3);
    rc |= write_seed(argv[1], "scope-across-batches-runs", 12, 3);
    rc |= write_seed(argv[1], "scope-across-batches-live", 4 | 16, 3);
    return rc != 0;
}
