/*
 * test_pending.c - top's pending time (init to first callback, per type) and the first and
 * last callback times its BPF walk keeps in the live table (struct ahp_live), with real BPF:
 * a pool of one worker with 10 queued tasks of known length, and the live table of a real
 * `ahprof top` read through the kernel (the map is mmapable) while its target holds
 * resources that ran and resources that never did.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ahprof.h"
#include "run.h"

#define TRUTHS AHP_BUILD "/targets/kernel_truths"

/* One worker, 10 tasks of 20 ms queued at once (kernel_truths pool): task i waits about
 * i x 20 ms, so the pendings are ~0, 20, ..., 180 ms; top's log2 percentiles must fall in the
 * buckets holding the true p50 (~100 ms: [2^26, 2^27) ns) and p99 (~180 ms: [2^27, 2^28)). */
Test(pending, queued_pool_percentiles_in_their_buckets)
{
    struct proc top;
    char *argv[] = {AHPROF, "top", "--json", "0.2", "--no-kernel", "--", TRUTHS, "pool", NULL};
    proc_start(&top, argv);
    /* The target's stdout goes to top's stderr. */
    cr_assert(proc_wait_stderr(&top, "ready", 30000), "the pool did not get ready under top");
    cr_assert_eq(write(top.in_fd, "go\n", 3), 3);
    cr_assert(proc_wait_stderr(&top, "done", 30000), "the pool did not finish");
    close(top.in_fd); /* the target waits for EOF to exit */
    top.in_fd = -1;
    char line[1 << 16];
    json_object *last = NULL;
    while (proc_read_line(&top, line, sizeof(line), 30000)) {
        json_object *obj = json_tokener_parse(line);
        cr_assert_not_null(obj, "not JSON: %.200s", line);
        if (last)
            json_object_put(last);
        last = obj;
    }
    cr_assert_eq(proc_wait(&top, 10000), 0, "top did not end with its target");
    cr_assert_not_null(last);
    json_object *work = find_named(last, "types", "WORK");
    cr_assert_not_null(work, "no WORK type");
    cr_expect_eq(get_int(work, "callbacks"), 10);
    cr_expect_eq(get_int(work, "pending_count"), 10, "every task counted once");
    long long p50 = get_int(work, "pending_p50_ns"), p99 = get_int(work, "pending_p99_ns");
    cr_expect(p50 >= (1ll << 26) && p50 < (1ll << 27), "pending p50 %lld ns", p50);
    cr_expect(p99 >= (1ll << 27) && p99 < (1ll << 28), "pending p99 %lld ns", p99);
    json_object_put(last);
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* Whether TID is a thread of PID. */
static bool thread_of(pid_t pid, uint32_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%u", (int)pid, tid);
    return access(path, F_OK) == 0;
}

/* The slots of the live tables of --max-live SLOTS (the one `top` of this test, found by its
 * size and the tids of its target) that belong to threads of PID: copied to OUT (up to MAX).
 * Returns how many. */
static int live_slots_of(pid_t pid, uint32_t slots, struct ahp_live *out, int max)
{
    int n = 0;
    union bpf_attr attr;
    uint32_t id = 0;
    for (int guard = 0; guard < 100000; guard++) {
        memset(&attr, 0, sizeof(attr));
        attr.start_id = id;
        if (sys_bpf(BPF_MAP_GET_NEXT_ID, &attr) != 0)
            break;
        id = attr.next_id;
        memset(&attr, 0, sizeof(attr));
        attr.map_id = id;
        int fd = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &attr);
        if (fd < 0)
            continue;
        struct bpf_map_info info;
        memset(&info, 0, sizeof(info));
        memset(&attr, 0, sizeof(attr));
        attr.info.bpf_fd = (uint32_t)fd;
        attr.info.info_len = sizeof(info);
        attr.info.info = (uint64_t)(uintptr_t)&info;
        if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0 || strcmp(info.name, "live") != 0 ||
            info.value_size != sizeof(struct ahp_live) || info.max_entries != slots) {
            close(fd);
            continue;
        }
        size_t bytes = (size_t)slots * sizeof(struct ahp_live);
        const struct ahp_live *table = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (table == MAP_FAILED)
            continue;
        for (uint32_t i = 0; i < slots && n < max; i++)
            if (table[i].id != 0 && table[i].type >= 0 && thread_of(pid, table[i].tid))
                out[n++] = table[i];
        munmap((void *)table, bytes);
    }
    return n;
}

/* The target top launched: its only child. */
static pid_t child_of(pid_t parent)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    int child = 0;
    if (f) {
        if (fscanf(f, "%d", &child) != 1)
            child = 0;
        fclose(f);
    }
    return child;
}

/* Launch workload MODE N under top with a live table of 1024 slots; once the target holds
 * its resources, read the slots of its threads (waiting up to 10 s for WANT of them). */
static int live_of_workload(const char *mode, const char *n, int want, struct ahp_live *out,
                            int max)
{
    struct proc top;
    char *argv[] = {AHPROF, "top", "--json", "0.2",        "--no-kernel", "--max-live",
                    "1024", "--",  WORKLOAD, (char *)mode, (char *)n,     NULL};
    proc_start(&top, argv);
    cr_assert(proc_wait_stderr(&top, "ready", 30000), "workload %s did not get ready", mode);
    pid_t target = child_of(top.pid);
    cr_assert_gt(target, 0, "no target under top");
    int got = 0;
    for (int tries = 0; tries < 100 && got < want; tries++) {
        got = live_slots_of(target, 1024, out, max);
        if (got < want)
            usleep(100000);
    }
    /* EOF on its stdin ends the target, then top. */
    cr_assert_eq(proc_capture(&top, NULL, NULL, 20000), 0);
    return got;
}

/* workload labels: six resources created and run once, kept alive. workload hold 5: five
 * created and never run. */
Test(pending, live_table_first_and_last_callback)
{
    struct ahp_live slots[16];
    int n = live_of_workload("labels", NULL, 6, slots, 16);
    cr_assert_eq(n, 6, "%d live slots of the labels target", n);
    for (int i = 0; i < n; i++) {
        cr_expect_neq(slots[i].first_cb_ns, 0, "resource %llu ran but has no first callback",
                      (unsigned long long)slots[i].id);
        cr_expect_leq(slots[i].init_ns, slots[i].first_cb_ns);
        cr_expect_leq(slots[i].first_cb_ns, slots[i].last_cb_ns);
    }
    n = live_of_workload("hold", "5", 5, slots, 16);
    cr_assert_eq(n, 5, "%d live slots of the hold target", n);
    for (int i = 0; i < n; i++) {
        cr_expect_eq(slots[i].first_cb_ns, 0, "resource %llu never ran",
                     (unsigned long long)slots[i].id);
        cr_expect_eq(slots[i].last_cb_ns, 0);
        cr_expect_neq(slots[i].init_ns, 0);
    }
}
