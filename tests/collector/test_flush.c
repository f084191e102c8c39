/*
 * test_flush.c - the batch path's flush rules with real BPF (src/lib/batch.c, docs/probes.md,
 * "The batch probe"). While ahprof holds the ah:batch semaphore each thread keeps up to 64
 * records and hands them over (1) when its buffer is full, (2) when it returns to its top level
 * holding records older than 1 ms, (3) at ah_flush(), (4) at thread exit, (5) at process exit,
 * and (6) when it is switched out (the sched_switch drain). Every test uses fewer than 64
 * records where it matters, so that rule (1) cannot stand in for the rule under test, and
 * asserts exact counts while the target is still alive (top) or in the recorded file, whose
 * per-thread streams `ahprof record` merges into one time-ordered stream (src/cli/collect/merge.c).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/datafile.h"
#include "run.h"

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A count of type NAME in a `top --json` interval; 0 when the type is not listed yet. */
static long long type_count(json_object *interval, const char *name, const char *key)
{
    json_object *t = find_named(interval, "types", name);
    return t ? get_int(t, key) : 0;
}

/* The next `top --json` interval; NULL at EOF or after TIMEOUT_MS. */
static json_object *next_interval(struct proc *top, int timeout_ms)
{
    static char line[1 << 16];
    if (!proc_read_line(top, line, sizeof(line), timeout_ms))
        return NULL;
    json_object *obj = json_tokener_parse(line);
    cr_assert_not_null(obj, "not JSON: %s", line);
    return obj;
}

/* The first interval sampled after AFTER_NS (CLOCK_MONOTONIC, like its "time_ns"). */
static json_object *interval_after(struct proc *top, long long after_ns, int timeout_ms)
{
    long long deadline = mono_ns() + timeout_ms * 1000000LL;
    for (;;) {
        long long left_ms = (deadline - mono_ns()) / 1000000;
        json_object *obj = next_interval(top, left_ms > 0 ? (int)left_ms : 0);
        if (obj == NULL)
            return NULL;
        if (get_int(obj, "time_ns") > after_ns)
            return obj;
        json_object_put(obj);
    }
}

/* A workload in pid mode with `ahprof top --json -p PID 0.1` attached to it. */
struct traced {
    struct proc w, top;
    char pid[32];
};

static void start_traced(struct traced *t, char *const wargv[])
{
    start_ready_target(&t->w, wargv, t->pid);
    char *targv[] = {AHPROF, "top", "--json", "-p", t->pid, "0.1", NULL};
    proc_start(&t->top, targv);
    /* Intervals are printed once the session is open: the first one means "attached". */
    json_object *first = next_interval(&t->top, 30000);
    cr_assert_not_null(first, "ahprof top did not attach to %s", t->pid);
    cr_assert_eq(get_int(first, "events"), 0, "the target raised events before it was told to");
    json_object_put(first);
}

static void tell(struct proc *w, const char *line)
{
    size_t len = strlen(line);
    cr_assert_eq(write(w->in_fd, line, len), (ssize_t)len);
}

/* The workload's next stdout line, which must start with WANT; returns when it was read. */
static long long expect_line(struct proc *w, const char *want, char *line, size_t size)
{
    cr_assert(proc_read_line(w, line, size, 30000), "the workload did not print '%s'", want);
    cr_assert(strncmp(line, want, strlen(want)) == 0, "expected '%s', the workload printed '%s'",
              want, line);
    return mono_ns();
}

/* Let the blocked workload exit and return top's last interval (taken once it is gone). */
static json_object *finish(struct traced *t)
{
    tell(&t->w, "exit\n");
    json_object *last = NULL, *obj;
    while ((obj = next_interval(&t->top, 30000)) != NULL) {
        if (last)
            json_object_put(last);
        last = obj;
    }
    cr_expect_eq(proc_wait(&t->w, 10000), 0, "the workload failed");
    cr_expect_eq(proc_wait(&t->top, 10000), 0, "ahprof top must exit 0 when its target exits");
    cr_assert_not_null(last, "no interval after the target exited");
    json_object *final;
    cr_expect(json_object_object_get_ex(last, "final", &final) && json_object_get_boolean(final),
              "the last interval is not marked final");
    return last;
}

/* Rule 3. Inside an open SCOPE callback no top-level return can flush, so ah_flush() finds
 * every record of the 5 FLUSHED lifecycles plus SCOPE's init and before: 4 x 5 + 2 = 22. After
 * it, SCOPE's after (first record of a fresh buffer, so not older than 1 ms) and destroy: 2. */
Test(flush, flush_at_ah_flush, .timeout = 90)
{
    char *wargv[] = {WORKLOAD, "flush", "5", NULL};
    struct traced t;
    start_traced(&t, wargv);
    tell(&t.w, "go\n");
    char line[256];
    long long flushed_at = expect_line(&t.w, "flushed ", line, sizeof(line));
    int in_scope = -1, after = -1;
    cr_assert_eq(sscanf(line, "flushed %d %d", &in_scope, &after), 2, "bad line '%s'", line);
    cr_expect_eq(in_scope, 4 * 5 + 2, "ah_flush() inside SCOPE returned %d", in_scope);
    cr_expect_eq(after, 2, "ah_flush() after SCOPE returned %d", after);

    /* ah_flush() fires the probe before it returns: the next sample already has everything,
     * while the workload sits blocked on stdin. (A switch-out drain would deliver these
     * records too; what only a working ah_flush() gives is R1 and R2 above: the buffer was
     * emptied at the first call. The counts show that nothing was dropped on the way.) */
    json_object *iv = interval_after(&t.top, flushed_at, 20000);
    cr_assert_not_null(iv, "no interval after the flush");
    expect_type(iv, "FLUSHED", 5, 5, 5, 0);
    expect_type(iv, "SCOPE", 1, 1, 1, 0);
    cr_expect_eq(get_int(iv, "events"), 24);
    cr_expect_eq(get_int(iv, "lost_events"), 0);
    json_object_put(iv);

    /* The exit flush finds nothing new: nothing is counted twice. */
    json_object *last = finish(&t);
    expect_type(last, "FLUSHED", 5, 5, 5, 0);
    expect_type(last, "SCOPE", 1, 1, 1, 0);
    cr_expect_eq(get_int(last, "events"), 24);
    json_object_put(last);
}

Test(flush, ah_flush_returns_zero_untraced, .timeout = 30)
{
    char *wargv[] = {WORKLOAD, "flush", "5", NULL};
    struct proc w;
    char pid[32], line[256];
    start_ready_target(&w, wargv, pid);
    tell(&w, "go\n");
    expect_line(&w, "flushed ", line, sizeof(line));
    cr_expect_str_eq(line, "flushed 0 0", "nothing is buffered without a tracer");
    tell(&w, "exit\n");
    cr_expect_eq(proc_wait(&w, 10000), 0);
}

/* Rule 6. 5 DRAIN lifecycles at top level take microseconds, far below the 1 ms bound, and
 * 20 records do not fill a buffer: only the switch-out when the thread blocks on stdin can
 * hand them over while the process lives. */
Test(flush, idle_thread_is_drained_when_it_blocks, .timeout = 90)
{
    char *wargv[] = {WORKLOAD, "idle", "5", NULL};
    struct traced t;
    start_traced(&t, wargv);
    tell(&t.w, "go\n");
    char line[256];
    long long done_at = expect_line(&t.w, "done", line, sizeof(line));

    /* The thread blocks right after printing "done"; give the drain 5 s to show. */
    json_object *iv = interval_after(&t.top, done_at, 20000);
    long long deadline = mono_ns() + 5000000000LL;
    while (iv && type_count(iv, "DRAIN", "callbacks") < 5 && mono_ns() < deadline) {
        json_object_put(iv);
        iv = next_interval(&t.top, 20000);
    }
    cr_assert_not_null(iv, "ahprof top stopped printing");
    expect_type(iv, "DRAIN", 5, 5, 5, 0);
    cr_expect_eq(get_int(iv, "events"), 20, "records of a blocked thread must be handed over");
    json_object_put(iv);
    /* Still blocked: the next sample has the same numbers (nothing drained twice). */
    iv = next_interval(&t.top, 20000);
    cr_assert_not_null(iv);
    expect_type(iv, "DRAIN", 5, 5, 5, 0);
    cr_expect_eq(get_int(iv, "events"), 20);
    json_object_put(iv);

    /* After the exit flush (rule 5): still exactly 5, drained records are not counted again. */
    json_object *last = finish(&t);
    expect_type(last, "DRAIN", 5, 5, 5, 0);
    cr_expect_eq(get_int(last, "events"), 20);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    json_object_put(last);
}

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    cr_assert_eq(sched_setaffinity(pid, sizeof(set), &set), 0, "cannot pin %d to CPU %d", pid, cpu);
}

/* Pin the test (and so the ahprof it starts from now on) to its first CPU and return true
 * when there is another one for the workload. A thread spinning on a CPU of its own is
 * switched out less often, so that the switch-out drain (rule 6) less often hands its
 * records over in place of the rule under test. */
static bool keep_to_first_cpu(int *other)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    int first = -1, last = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set)) {
            if (first < 0)
                first = i;
            last = i;
        }
    pin(0, first);
    *other = last;
    return first != last;
}

/* Rule 2. 12 SPIN lifecycles, one every 127 ms, each callback spinning 2 ms, the thread
 * spinning at top level in between: ~1.5 s without a single syscall and 48 records in all, so
 * neither a full buffer nor blocking hands anything over; the returns to the top level do,
 * each holding records older than 1 ms. Only a preemption can stand in for them (rule 6): on
 * a VM that switches even a lone pinned spinner out ~100 times a second it does, so there
 * this test catches a broken rule 2 only together with a broken drain. */
Test(flush, top_level_bound, .timeout = 90)
{
    enum { N = 12, MS = 2, GAP = 125, PERIOD_MS = MS + GAP };
    /* How late a lifecycle may show up: the bound is 1 ms, this covers a descheduled workload
     * or ahprof on a loaded machine (not a switch-out drain: that hands records over too). */
    const long long slack_ns = 300 * 1000000LL;
    char *wargv[] = {WORKLOAD, "spin", "12", "2", "125", NULL};
    struct traced t;
    int other;
    bool split = keep_to_first_cpu(&other);
    start_traced(&t, wargv);
    if (split)
        pin(t.w.pid, other);
    tell(&t.w, "go\n");
    char line[256];
    long long started = expect_line(&t.w, "started", line, sizeof(line));
    int partial = 0;
    long long max_seen = 0;
    json_object *last = NULL, *obj;
    /* Sample every 0.1 s until the workload exits (top then prints its final interval). */
    while ((obj = next_interval(&t.top, 30000)) != NULL) {
        long long cb = type_count(obj, "SPIN", "callbacks");
        long long created = type_count(obj, "SPIN", "created");
        cr_expect_geq(cb, max_seen, "the callback count went down");
        cr_expect_leq(cb, created, "a callback counted before its resource was created");
        max_seen = cb;
        if (cb > 0 && cb < N)
            partial++; /* handed over while the thread was still spinning */
        /* Lifecycle i ends by started + MS + i x PERIOD (the workload printed "started"
         * before it began): those that ended more than SLACK before this sample are due. */
        long long since = get_int(obj, "time_ns") - started - MS * 1000000LL - slack_ns;
        long long due = since < 0 ? 0 : since / (PERIOD_MS * 1000000LL) + 1;
        if (due > N)
            due = N;
        json_object *final = NULL;
        if (!json_object_object_get_ex(obj, "final", &final) || !json_object_get_boolean(final))
            cr_expect_geq(cb, due,
                          "%lld ms after the spinning started only %lld SPIN callbacks were "
                          "handed over; %lld had ended more than %lld ms before",
                          (get_int(obj, "time_ns") - started) / 1000000, cb, due,
                          slack_ns / 1000000);
        if (last)
            json_object_put(last);
        last = obj;
    }
    cr_expect_eq(proc_wait(&t.w, 30000), 0, "the workload failed");
    cr_expect_eq(proc_wait(&t.top, 10000), 0);
    cr_assert_not_null(last);
    cr_expect_gt(partial, 0,
                 "no interval showed 0 < SPIN callbacks < %d while the thread spun: its events "
                 "were held until exit instead of being handed over at its top-level returns",
                 N);
    expect_type(last, "SPIN", N, N, N, 0);
    cr_expect_eq(get_int(last, "events"), 4 * N);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    json_object_put(last);
}

/* Rule 4. A thread raises 5 EXITED lifecycles (20 records, microseconds) and returns; the main
 * thread joins it, prints "done" and blocks without raising anything. */
Test(flush, thread_exit_flushes, .timeout = 90)
{
    char *wargv[] = {WORKLOAD, "thread-exit", "5", NULL};
    struct traced t;
    start_traced(&t, wargv);
    tell(&t.w, "go\n");
    char line[256];
    long long joined_at = expect_line(&t.w, "done", line, sizeof(line));
    /* The key destructor ran before pthread_join() returned: the next sample has it all. */
    json_object *iv = interval_after(&t.top, joined_at, 20000);
    cr_assert_not_null(iv, "no interval after the thread exited");
    expect_type(iv, "EXITED", 5, 5, 5, 0);
    cr_expect_eq(get_int(iv, "events"), 20);
    json_object_put(iv);

    json_object *last = finish(&t);
    expect_type(last, "EXITED", 5, 5, 5, 0);
    cr_expect_eq(get_int(last, "events"), 20);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    json_object_put(last);
}

/* ---- record: per-thread batches merged into one time-ordered stream ---- */

TestSuite(flush_record, .init = make_data_path, .fini = remove_data, .timeout = 120);

/* `ahprof record -b 1 -o DATA -- CMD...` to the end; returns its stderr (malloc'ed). A 1 MiB
 * ring buffer wakes ahprof every 128 KiB, so that a few thousand events make it read (and
 * merge) while the target runs rather than only once it has exited. */
static char *record_launch(char *const cmd[])
{
    char *argv[32] = {AHPROF, "record", "-b", "1", "-o", data_path, "--"};
    int n = 7;
    for (int i = 0; cmd[i]; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    char *err = NULL;
    int code = run_capture(argv, NULL, &err, 90000);
    cr_assert_eq(code, 0, "ahprof record exited %d: %s", code, err);
    return err;
}

#define MAX_IDS 64

/* What a walk over the recorded events found. Only the first violation of each kind is
 * reported in detail, with the number of them. */
struct order_check {
    long long events, init, before, after, destroy;
    long long backwards, before_init; /* events going back in time; events before their INIT */
    char first_backwards[160], first_before_init[160];
    uint32_t init_tid, run_tid; /* the thread that created, the one that ran (0: several) */
    uint64_t ids[MAX_IDS];
    int nids;
};

/* Walk the recorded events in file order: time never goes back, and every id of type NAME
 * is created (INIT) before anything else happens to it. */
static void check_order(const char *name, struct order_check *c)
{
    struct ahp_reader *rd;
    cr_assert_eq(ahp_reader_open(&rd, data_path), 0, "cannot read %s", data_path);
    memset(c, 0, sizeof(*c));
    struct ahp_event ev;
    uint64_t prev_ts = 0;
    int rc;
    while ((rc = ahp_reader_next_event(rd, &ev)) == 1) {
        c->events++;
        if (ev.ts_ns < prev_ts && c->backwards++ == 0)
            snprintf(c->first_backwards, sizeof(c->first_backwards),
                     "event #%lld (kind %u, id %llu, tid %u) is %llu ns older than one before it",
                     c->events, ev.kind, (unsigned long long)ev.id, ev.tid,
                     (unsigned long long)(prev_ts - ev.ts_ns));
        if (ev.ts_ns > prev_ts)
            prev_ts = ev.ts_ns;
        const char *type = ahp_reader_type_name(rd, ev.type);
        if (type == NULL || strcmp(type, name) != 0)
            continue;
        bool known = false;
        for (int i = 0; i < c->nids; i++)
            if (c->ids[i] == ev.id)
                known = true;
        switch (ev.kind) {
        case AHP_EV_INIT:
            c->init++;
            cr_expect(!known, "%s id %llu created twice", name, (unsigned long long)ev.id);
            cr_assert_lt(c->nids, MAX_IDS);
            c->ids[c->nids++] = ev.id;
            c->init_tid = c->init == 1 || c->init_tid == ev.tid ? ev.tid : 0;
            break;
        case AHP_EV_BEFORE:
        case AHP_EV_AFTER:
        case AHP_EV_DESTROY:
            if (!known && c->before_init++ == 0)
                snprintf(c->first_before_init, sizeof(c->first_before_init),
                         "event #%lld (kind %u, %s id %llu) comes before the INIT of its id",
                         c->events, ev.kind, name, (unsigned long long)ev.id);
            if (ev.kind == AHP_EV_BEFORE) {
                c->before++;
                c->run_tid = c->before == 1 || c->run_tid == ev.tid ? ev.tid : 0;
            } else if (ev.kind == AHP_EV_AFTER) {
                c->after++;
            } else {
                c->destroy++;
            }
            break;
        default:
            break;
        }
    }
    cr_expect_eq(rc, 0, "reading events failed: %s", ahp_file_strerror(rc));
    const struct ahp_file_meta *meta = ahp_reader_meta(rd);
    cr_expect_not(meta->truncated, "the recording is truncated");
    cr_expect_eq(meta->lost_events, 0);
    ahp_reader_close(rd);
    cr_expect_eq(c->backwards, 0, "%lld events go back in time; the first: %s", c->backwards,
                 c->first_backwards);
    cr_expect_eq(c->before_init, 0, "%lld events come before their INIT; the first: %s",
                 c->before_init, c->first_before_init);
}

enum { K = 10, FILL = 3000 };

static void expect_handoff(const char *ms)
{
    char k[16], fill[16];
    snprintf(k, sizeof(k), "%d", K);
    snprintf(fill, sizeof(fill), "%d", FILL);
    char *cmd[] = {WORKLOAD, "handoff", k, fill, (char *)ms, NULL};
    int other;
    keep_to_first_cpu(&other); /* thread A moves to the last CPU (tests/targets/workload.c) */
    char *err = record_launch(cmd);
    cr_expect(strstr(err, " late") == NULL, "ahprof record reported late events: %s", err);
    free(err);

    struct order_check c;
    check_order("HANDOFF", &c);
    cr_expect_eq(c.init, K);
    cr_expect_eq(c.before, K);
    cr_expect_eq(c.after, K);
    cr_expect_eq(c.destroy, K);
    cr_expect_eq(c.events, 4 * (K + FILL), "%lld events in the file", c.events);
    /* The scenario itself: all created on one thread, all run on another. */
    cr_expect_neq(c.init_tid, 0, "the INITs come from several threads");
    cr_expect_neq(c.run_tid, 0, "the BEFOREs come from several threads");
    cr_expect_neq(c.init_tid, c.run_tid, "created and run on the same thread");

    json_object *r = report_json();
    expect_type(r, "HANDOFF", K, K, K, 0);
    expect_type(r, "FILL", FILL, FILL, FILL, 0);
    cr_expect_eq(get_int(r, "events"), 4 * (K + FILL));
    cr_expect_eq(get_int(r, "lost_events"), 0);
    json_object_put(r);
}

/* Thread A creates 10 HANDOFF and busy-waits on a CPU of its own, holding its 10 INITs; B runs
 * and destroys them, then raises 3000 FILL lifecycles, so that ahprof reads B's batches (and
 * merges them) while A's are still held; B exits, then A is let go and exits (rule 4). A's
 * INITs, older than all of B's events, reach the ring buffer a few ms after them and must
 * still come first in the file: ahprof may pass on an event only once it is older than the
 * reorder window AND everything handed over before has been read. (A switch-out of A hands
 * its INITs over early, which makes the merge's job easier.) */
Test(flush_record, cross_thread_resource_in_time_order)
{
    expect_handoff("0");
}

/* The same, but once B is done A blocks on a condition variable for 500 ms, well past the
 * 100 ms reorder window, before it exits: the switch-out drain (rule 6) must get A's INITs to
 * ahprof when it blocks, and ahprof must read them before it writes B's events. */
Test(flush_record, blocked_creator_past_the_reorder_window)
{
    expect_handoff("500");
}

/* Rule 5. 5 FLOOD lifecycles (20 records, microseconds) and exit: only the library's
 * destructor, run by the thread calling exit(), hands them over. */
Test(flush_record, process_exit_flushes_record)
{
    char *cmd[] = {WORKLOAD, "flood", "5", NULL};
    free(record_launch(cmd));
    json_object *r = report_json();
    expect_type(r, "FLOOD", 5, 5, 5, 0);
    cr_expect_eq(get_int(r, "events"), 20);
    cr_expect_eq(get_int(r, "lost_events"), 0);
    json_object_put(r);
    struct order_check c;
    check_order("FLOOD", &c);
    cr_expect_eq(c.init, 5);
    cr_expect_eq(c.destroy, 5);
}

static void expect_top_at_exit(const char *workload)
{
    char *argv[] = {AHPROF, "top", "--json", "10", "--", (char *)workload, "flood", "5", NULL};
    struct proc p;
    proc_start(&p, argv);
    json_object *last = NULL, *obj;
    while ((obj = next_interval(&p, 60000)) != NULL) {
        if (last)
            json_object_put(last);
        last = obj;
    }
    cr_assert_eq(proc_wait(&p, 10000), 0, "ahprof top failed");
    cr_assert_not_null(last, "ahprof top printed nothing");
    expect_type(last, "FLOOD", 5, 5, 5, 0);
    cr_expect_eq(get_int(last, "events"), 20);
    cr_expect_eq(get_int(last, "lost_events"), 0);
    json_object_put(last);
}

Test(flush, process_exit_flushes_top, .timeout = 90)
{
    expect_top_at_exit(WORKLOAD);
}

Test(flush, process_exit_flushes_top_static, .timeout = 90)
{
    expect_top_at_exit(WORKLOAD_STATIC);
}
