/*
 * test_stuck_resources.c - `ahprof stuck`'s resources one by one, with real BPF: a process
 * that queues work and never runs it (tests/targets/pending.c: a PENDING created inside a
 * TICK callback every 20 ms, a RUNNER called every 60 ms, 5 PENDING created before any
 * attach) and a deadlock between two callbacks (tests/targets/stuckers.c). What must be found
 * comes from the targets (ids, tids, the schedule) and from the clock around the run.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define PENDING AHP_BUILD "/targets/pending"
#define STUCKERS AHP_BUILD "/targets/stuckers"

TestSuite(stuck_resources, .timeout = 60);

struct facts {
    int n;
    char name[16][32];
    unsigned long long value[16];
};

/* Start ARGV and read its "NAME VALUE" lines up to "ready". */
static void start_target(struct proc *p, char *const argv[], struct facts *f)
{
    proc_start(p, argv);
    memset(f, 0, sizeof(*f));
    char line[256];
    for (int lines = 0; lines < 32; lines++) {
        cr_assert(proc_read_line(p, line, sizeof(line), 10000), "%s did not get ready", argv[0]);
        if (strcmp(line, "ready") == 0)
            return;
        cr_assert_lt(f->n, 16);
        cr_assert_eq(sscanf(line, "%31s %llu", f->name[f->n], &f->value[f->n]), 2, "line '%s'",
                     line);
        f->n++;
    }
    cr_assert_fail("no ready line");
}

static unsigned long long fact(const struct facts *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    cr_assert_fail("the target did not say %s", name);
    return 0;
}

static void stop(struct proc *p)
{
    kill(p->pid, SIGKILL);
    proc_wait(p, 10000);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* `ahprof stuck --json -p PID EXTRA...`, asserted to exit 0 with one JSON object; *TOOK_NS
 * how long it ran. */
static json_object *stuck_json(pid_t pid, const char *extra1, const char *extra2,
                               long long *took_ns)
{
    char pid_arg[32];
    snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
    char *argv[] = {AHPROF, "stuck", "--json", "-p", pid_arg, (char *)extra1, (char *)extra2, NULL};
    char *out = NULL, *err = NULL;
    long long started = now_ns();
    int code = run_capture(argv, &out, &err, 30000);
    if (took_ns)
        *took_ns = now_ns() - started;
    cr_assert_eq(code, 0, "ahprof stuck exited %d: %s", code, err);
    json_object *root = json_tokener_parse(out);
    cr_assert_not_null(root, "not JSON: %.300s", out);
    free(out);
    free(err);
    return root;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(obj, key, &v), "missing key '%s'", key);
    return v;
}

static bool is_null(json_object *obj, const char *key)
{
    return json_object_is_type(get(obj, key), json_type_null);
}

static const char *get_str(json_object *obj, const char *key)
{
    return is_null(obj, key) ? NULL : json_object_get_string(get(obj, key));
}

static bool get_bool(json_object *obj, const char *key)
{
    return json_object_get_boolean(get(obj, key));
}

static json_object *resource(json_object *root, unsigned long long id)
{
    json_object *rs = get(root, "resources");
    for (size_t i = 0; i < json_object_array_length(rs); i++) {
        json_object *r = json_object_array_get_idx(rs, i);
        if ((unsigned long long)get_int(r, "id") == id)
            return r;
    }
    return NULL;
}

/* The I-th link of R's trigger chain. */
static json_object *chain_link(json_object *r, size_t i)
{
    json_object *chain = get(r, "trigger_chain");
    cr_assert_gt(json_object_array_length(chain), i, "resource %lld: chain too short",
                 get_int(r, "id"));
    return json_object_array_get_idx(chain, i);
}

Test(stuck_resources, work_queued_during_the_window_and_never_run_is_listed_with_its_age)
{
    struct proc p;
    struct facts f;
    char *argv[] = {PENDING, NULL};
    start_target(&p, argv, &f);
    long long took;
    json_object *root = stuck_json(p.pid, "-w", "1s", &took);
    stop(&p);
    const long long period = (long long)fact(&f, "period_ms") * 1000000LL;
    cr_assert(is_null(root, "resources_error"), "%s", get_str(root, "resources_error"));
    cr_expect_eq(get_int(root, "resources_lost_events"), 0);
    cr_expect_eq(get_int(root, "resources_untracked"), 0);
    long long observed = get_int(root, "resources_observed_ns");
    cr_assert(observed >= 1000000000LL && observed < took, "watched %lld ns of a %lld ns run",
              observed, took);

    json_object *rs = get(root, "resources");
    size_t n = json_object_array_length(rs);
    cr_expect_eq((long long)n, get_int(root, "resources_total"));
    long long pending = 0, incomplete = 0, prev_age = -1, oldest = 0, prev_rank = -1;
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(rs, i);
        const char *type = get_str(r, "type");
        cr_assert_not_null(type);
        cr_expect_gt(get_int(r, "rank"), prev_rank);
        prev_rank = get_int(r, "rank");
        cr_expect_str_neq(type, "TICK", "a destroyed TICK is listed");
        unsigned long long id = (unsigned long long)get_int(r, "id");
        if (strcmp(type, "PENDING") != 0)
            continue;
        /* Created before the attach and quiet since: not seen, not listed. */
        cr_expect(id > fact(&f, "old_last"), "PENDING %llu from before the attach", id);
        cr_expect_str_eq(get_str(r, "verdict"), "never-called");
        cr_expect(!get_bool(r, "age_at_least"));
        cr_expect_eq(get_int(r, "callbacks"), 0);
        cr_expect(is_null(r, "since_last_callback_ns"));
        long long age = get_int(r, "age_ns");
        /* Created while ahprof ran, the oldest first. */
        cr_expect(age > 0 && age < took, "PENDING %llu: age %lld ns, the run took %lld", id, age,
                  took);
        if (prev_age >= 0)
            cr_expect_leq(age, prev_age, "PENDING %llu listed out of order", id);
        if (prev_age < 0)
            oldest = age;
        prev_age = age;
        pending++;
        /* Created in a TICK's callback, the TICK at top level: [TICK, root]. The first one's
         * TICK may have been created just before the attach. */
        cr_expect_eq((unsigned long long)get_int(chain_link(r, 0), "id"),
                     (unsigned long long)get_int(r, "trigger_id"));
        if (!get_bool(r, "trigger_chain_complete")) {
            incomplete++;
            continue;
        }
        cr_expect_str_eq(get_str(chain_link(r, 0), "type"), "TICK");
        cr_expect_eq(get_int(chain_link(r, 1), "id"), 1);
        cr_expect_eq(json_object_array_length(get(r, "trigger_chain")), 2);
    }
    /* One every 20 ms for the 1 s watched (a tick late now and then on a busy machine). */
    cr_expect(pending >= observed / period * 6 / 10 && pending <= observed / period + 2,
              "%lld PENDING in %lld ns, one every %lld ns", pending, observed, period);
    cr_expect_leq(incomplete, 1);
    cr_expect(oldest >= observed - 10 * period, "the oldest PENDING is %lld ns old, watched %lld",
              oldest, observed);

    /* RUNNER: created before the attach, called every 60 ms: after every never-called one,
     * at least as old as the time watched, its last callback recent. */
    json_object *runner = resource(root, fact(&f, "runner_id"));
    cr_assert_not_null(runner, "RUNNER not listed");
    cr_expect_str_eq(get_str(runner, "verdict"), "called");
    cr_expect_gt(get_int(runner, "rank"), pending - 1);
    cr_expect(get_bool(runner, "age_at_least"));
    cr_expect_eq(get_int(runner, "age_ns"), observed);
    long long every = period * (long long)fact(&f, "runner_every");
    cr_expect_geq(get_int(runner, "callbacks"), observed / every / 2);
    cr_expect(!is_null(runner, "since_last_callback_ns"));
    cr_expect_lt(get_int(runner, "since_last_callback_ns"), 4 * every);
    cr_expect(!get_bool(runner, "trigger_chain_complete"));
    json_object_put(root);
}

Test(stuck_resources, at_most_n_listed)
{
    struct proc p;
    struct facts f;
    char *argv[] = {PENDING, NULL};
    start_target(&p, argv, &f);
    json_object *root = stuck_json(p.pid, "-n", "3", NULL);
    stop(&p);
    cr_expect_eq(json_object_array_length(get(root, "resources")), 3);
    cr_expect_gt(get_int(root, "resources_total"), 3);
    json_object_put(root);
}

/* Each in-scope resource of the two deadlocked threads: blocked, at least as old as the
 * window, in a callback begun before it, with its trigger chain. */
static void expect_deadlocked_resources(json_object *root, const struct facts *f, bool probes)
{
    json_object *req = resource(root, fact(f, "req_id"));
    json_object *lock_a = resource(root, fact(f, "lock_a_id"));
    json_object *lock_b = resource(root, fact(f, "lock_b_id"));
    cr_assert(req && lock_a && lock_b, "the in-scope resources are not all listed");
    json_object *each[] = {lock_a, req, lock_b};
    const char *types[] = {"LOCKA", "REQ", "LOCKB"};
    unsigned long long tids[] = {fact(f, "tid_a"), fact(f, "tid_a"), fact(f, "tid_b")};
    for (int i = 0; i < 3; i++) {
        json_object *r = each[i];
        cr_expect_str_eq(get_str(r, "type"), types[i]);
        cr_expect_str_eq(get_str(r, "verdict"), "blocked-in-scope");
        cr_expect_lt(get_int(r, "rank"), 3, "%s is not among the first", types[i]);
        json_object *in = get(r, "in_scope_tids");
        cr_assert_eq(json_object_array_length(in), 1);
        cr_expect_eq((unsigned long long)json_object_get_int64(json_object_array_get_idx(in, 0)),
                     tids[i]);
        cr_expect_eq(get_int(r, "callbacks"), 0);
        if (probes) {
            cr_expect(get_bool(r, "age_at_least"));
            cr_expect_eq(get_int(r, "age_ns"), get_int(root, "resources_observed_ns"));
            cr_expect(get_bool(r, "since_last_callback_at_least"));
        } else {
            cr_expect(is_null(r, "age_ns"));
        }
        cr_expect(get_bool(r, "trigger_chain_complete"), "%s", types[i]);
    }
    /* LOCKA was created with REQ as its trigger; REQ and LOCKB at top level. */
    cr_expect_eq((unsigned long long)get_int(chain_link(lock_a, 0), "id"), fact(f, "req_id"));
    cr_expect_str_eq(get_str(chain_link(lock_a, 0), "type"), "REQ");
    cr_expect_eq(get_int(chain_link(lock_a, 1), "id"), 1);
    cr_expect_eq(get_int(chain_link(req, 0), "id"), 1);
    cr_expect_eq(get_int(chain_link(lock_b, 0), "id"), 1);
    /* Thread A's innermost first, then its outer scope, then B's (the threads' order). */
    cr_expect_lt(get_int(lock_a, "rank"), get_int(req, "rank"));
}

Test(stuck_resources, deadlock_lists_the_in_scope_resources_of_both_threads)
{
    struct proc p;
    struct facts f;
    char *argv[] = {STUCKERS, "deadlock", NULL};
    start_target(&p, argv, &f);
    json_object *root = stuck_json(p.pid, NULL, NULL, NULL);
    json_object *bare = stuck_json(p.pid, "--no-probes", NULL, NULL);
    stop(&p);
    /* The default window (how long stuck takes is bench/stuck.sh's, not a test's). */
    cr_expect_eq(get_int(root, "window_ns"), 200000000LL);
    cr_assert(is_null(root, "resources_error"), "%s", get_str(root, "resources_error"));
    expect_deadlocked_resources(root, &f, true);
    cr_expect_eq(json_object_array_length(get(root, "resources")), 3);
    cr_expect_str_eq(get_str(bare, "resources_error"), "--no-probes");
    cr_expect(is_null(bare, "resources_observed_ns"));
    expect_deadlocked_resources(bare, &f, false);
    json_object_put(root);
    json_object_put(bare);
}

Test(stuck_resources, text_names_the_never_called_and_their_trigger_chain)
{
    struct proc p;
    struct facts f;
    char *argv[] = {PENDING, NULL};
    start_target(&p, argv, &f);
    char pid_arg[32];
    snprintf(pid_arg, sizeof(pid_arg), "%d", p.pid);
    char *sargv[] = {AHPROF, "stuck", "-p", pid_arg, "-w", "300ms", NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_capture(sargv, &out, &err, 30000), 0, "%s", err);
    stop(&p);
    cr_expect_not_null(strstr(out, "Resources created or called in the "), "%s", out);
    cr_expect_not_null(strstr(out, "never-called     PENDING"), "%s", out);
    cr_expect_not_null(strstr(out, "created by TICK "), "%s", out);
    cr_expect_not_null(strstr(out, "called           RUNNER"), "%s", out);
    free(out);
    free(err);
}
