/*
 * fuzz_datafile.c - libFuzzer target: any bytes as an ahprof.data file, through the reader
 * (scan, both iteration styles), the model and the report. It must never crash, leak, hang
 * or read out of bounds (ASan, UBSan).
 *
 * Input: one mode byte, then the file. Mode bit 0 set: the harness first rewrites every CRC
 * in the file to match, so that mutations reach the parsers behind the checksums instead of
 * dying at them; clear: the bytes go in as they are (checksum failures, torn chunks). Bit 1
 * picks the text report or --json. gen_corpus writes seeds in this form.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/datafile.h"
#include "model/model.h"
#include "cmd/report.h"

static int count_events(void *arg, const struct ahp_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *(uint64_t *)arg += ev[i].kind;
    return 0;
}

static int count_type(void *arg, int32_t type, const char *name)
{
    /* Names must be NUL-terminated within the bound. */
    for (int i = 0; i < AHP_NAME_SIZE && name[i]; i++)
        *(uint64_t *)arg += (unsigned char)name[i];
    *(uint64_t *)arg += (uint64_t)type;
    return 0;
}

static int count_krecords(void *arg, const struct ahp_krecord *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *(uint64_t *)arg += r[i].id + r[i].stack + (uint64_t)r[i].slot;
    return 0;
}

static int count_kstack(void *arg, uint32_t id, const char (*frames)[AHP_KFRAME_SIZE], uint32_t n,
                        uint32_t nkernel)
{
    /* Frames must be NUL-terminated within the bound. */
    for (uint32_t i = 0; i < n; i++)
        *(uint64_t *)arg += strnlen(frames[i], AHP_KFRAME_SIZE - 1);
    *(uint64_t *)arg += id + nkernel;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Make the file header's and every chunk's CRCs right (docs/file-format.md). */
static void fix_crcs(uint8_t *f, size_t n)
{
    if (n < 24)
        return;
    wr32(f + 20, (uint32_t)crc32(0, f, 20));
    uint64_t off = rd32(f + 12);
    while (off + 16 <= n) {
        uint8_t *h = f + off;
        uint64_t len = rd32(h + 4), avail = n - off - 16;
        wr32(h + 8, (uint32_t)crc32(0, h + 16, (uInt)(len < avail ? len : avail)));
        wr32(h + 12, (uint32_t)crc32(0, h, 12));
        off += 16 + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t insize)
{
    if (insize < 1)
        return 0;
    uint8_t mode = input[0];
    size_t size = insize - 1;
    uint8_t *data = malloc(size + 1);
    if (data == NULL)
        return 0;
    memcpy(data, input + 1, size);
    if (mode & 1)
        fix_crcs(data, size);

    int mfd = memfd_create("ahprof-fuzz", MFD_CLOEXEC);
    if (mfd < 0) {
        free(data);
        return 0;
    }
    /* libFuzzer may have closed 0-2 (-close_fd_mask): keep ours off the standard streams. */
    int fd = fcntl(mfd, F_DUPFD_CLOEXEC, 10);
    close(mfd);
    if (fd >= 0 && size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        fd = -1;
    }
    free(data);
    if (fd < 0)
        return 0;

    int rfd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    struct ahp_reader *r;
    if (rfd >= 0 && ahp_reader_open_fd(&r, rfd) == 0) {
        uint64_t sum = 0;
        struct ahp_read_ops ops = {.events = count_events,
                                   .type = count_type,
                                   .krecords = count_krecords,
                                   .kstack = count_kstack};
        ahp_reader_foreach(r, &ops, &sum);
        /* KSTATS, however hostile its counts: percentiles of every slot. */
        const struct ahp_file_meta *fm = ahp_reader_meta(r);
        for (int i = 0; fm->has_kstats && i < AHP_KSTATS_SLOTS; i++)
            sum += ahp_kstats_runq_percentile(&fm->kstats[i], 500) +
                   ahp_kstats_runq_percentile(&fm->kstats[i], 990);
        struct ahp_event e;
        while (ahp_reader_next_event(r, &e) == 1)
            sum += e.id;
        struct ahp_model *m;
        struct ahp_model_opts o = {.max_nodes = 8, .max_dead_pages = 2, .blocking_top = 1};
        if (ahp_model_build(&m, r, &o) == 0)
            ahp_model_free(m);
        ahp_reader_close(r);
        (void)sum;
    }

    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char *text[] = {"report", path, "--top", "3", NULL};
    char *json[] = {"report", "--json", path, NULL};
    if (mode & 2)
        ahprof_cmd_report(3, json);
    else
        ahprof_cmd_report(4, text);
    close(fd);
    return 0;
}
