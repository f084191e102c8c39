/*
 * test_writer_errors.c - the writer when the file cannot grow (a full disk, here a file size
 * limit): the first error sticks, and the file ends with its last complete chunk, readable.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/datafile.h"
#include "tmpdir.h"

TestSuite(writer_errors, .init = test_dir_init, .fini = test_dir_fini);

#define LIMIT_BYTES 200000

/* In a child (the limit is per process): write events until the file may not grow. Exit 0
 * when the write failed with EFBIG and every later call returned that error again. */
static int write_until_full(const char *path)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {LIMIT_BYTES, LIMIT_BYTES};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 2;
    struct ahp_file_info info;
    memset(&info, 0, sizeof(info));
    info.pid = 42;
    struct ahp_writer *w;
    if (ahp_writer_open(&w, path, &info) != 0)
        return 3;
    static struct ahp_event ev[1000];
    int rc = 0;
    for (int round = 0; round < 1000 && rc == 0; round++) {
        for (int i = 0; i < 1000; i++) {
            ev[i].ts_ns = (uint64_t)round * 1000 + (uint64_t)i + 1;
            ev[i].id = ev[i].ts_ns;
            ev[i].kind = AHP_EV_INIT;
        }
        rc = ahp_writer_events(w, ev, 1000);
        if (rc == 0 && round % 7 == 0)
            rc = ahp_writer_flush(w);
    }
    if (rc != -EFBIG)
        return 4;
    if (ahp_writer_flush(w) != -EFBIG || ahp_writer_lost(w, 1) != -EFBIG)
        return 5;
    return ahp_writer_close(w, 1, 0) == -EFBIG ? 0 : 6;
}

Test(writer_errors, a_file_that_cannot_grow_ends_with_its_last_complete_chunk)
{
    const char *path = test_path("full.data");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(write_until_full(path));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer child: status %d", status);

    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    const struct ahp_file_meta *m = ahp_reader_meta(r);
    cr_expect(m->truncated);
    cr_expect_eq(m->trailing_bytes, 0, "%llu bytes of a torn chunk",
                 (unsigned long long)m->trailing_bytes);
    cr_expect_eq(m->data_end, m->file_size);
    cr_expect_leq(m->file_size, LIMIT_BYTES);
    cr_expect_gt(m->events, 0);
    uint64_t n = 0, last = 0;
    struct ahp_event ev;
    int rc;
    while ((rc = ahp_reader_next_event(r, &ev)) == 1) {
        cr_assert_eq(ev.ts_ns, last + 1, "event %llu: ts %llu", (unsigned long long)n,
                     (unsigned long long)ev.ts_ns);
        last = ev.ts_ns;
        n++;
    }
    cr_expect_eq(rc, 0);
    cr_expect_eq(n, m->events);
    cr_expect_eq(m->bad_chunks, 0);
    ahp_reader_close(r);
}
