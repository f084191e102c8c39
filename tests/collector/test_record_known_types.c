/*
 * test_record_known_types.c - `record` writes a run of events in one pass over them
 * (ahp_writer_events_known stops at the first event whose type has no chunk yet, record writes
 * the type's chunk and goes on): the file must be byte-equal to the one the two passes gave
 * (a scan for new types, then ahp_writer_events on each piece between them).
 *
 *   equivalence   events of many types, some new in the middle of a run, some outside the
 *                 type table, some of a type whose chunk cannot be written, over several
 *                 events chunks (4096 events, 64 KiB), runs of any length, with and without
 *                 ahp_writer_drop_exclusive: byte-equal files.
 *   stops         ahp_writer_events_known appends up to the first unknown type, not past it,
 *                 and none when the first is unknown.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/datafile.h"
#include "run.h"

static uint64_t rng_state;

static uint32_t next_rand(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

/* A type whose chunk is never written (as when ahp_writer_type fails): its events go alone. */
#define UNWRITABLE_TYPE 7

struct side {
    struct ahp_writer *w;
    bool written[AHP_TYPE_MAX];
    char path[64];
};

static void write_type(struct side *s, int32_t type)
{
    if (type < 0 || type >= AHP_TYPE_MAX || s->written[type] || type == UNWRITABLE_TYPE)
        return;
    char name[32];
    snprintf(name, sizeof(name), "T%d", type);
    cr_assert_eq(ahp_writer_type(s->w, type, name), 0);
    s->written[type] = true;
}

static bool known(const struct side *s, int32_t type)
{
    return type >= 0 && type < AHP_TYPE_MAX && s->written[type];
}

/* What record's on_events did before: find the new types, write the pieces between them. */
static void two_passes(struct side *s, const struct ahp_event *ev, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && known(s, ev[i].type))
            continue;
        cr_assert_eq(ahp_writer_events(s->w, ev + from, i - from), 0);
        if (i < n)
            write_type(s, ev[i].type);
        from = i;
    }
}

/* What it does now. */
static void one_pass(struct side *s, const struct ahp_event *ev, size_t n)
{
    for (size_t i = 0; i < n;) {
        long k;
        if (!known(s, ev[i].type))
            write_type(s, ev[i].type);
        if (!known(s, ev[i].type)) {
            cr_assert_eq(ahp_writer_events(s->w, ev + i, 1), 0);
            k = 1;
        } else {
            k = ahp_writer_events_known(s->w, ev + i, n - i, s->written);
        }
        cr_assert_gt(k, 0);
        i += (size_t)k;
    }
}

static void side_open(struct side *s, const char *tag, bool drop_exclusive)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "/tmp/ah-known-%s-%d.data", tag, (int)getpid());
    struct ahp_file_info info = {.pid = 1234, .start_mono_ns = 1000, .start_real_ns = 2000};
    strcpy(info.comm, "known");
    cr_assert_eq(ahp_writer_open(&s->w, s->path, &info), 0);
    if (drop_exclusive)
        cr_assert_eq(ahp_writer_drop_exclusive(s->w), 0);
}

static void fill(struct ahp_event *ev, size_t n)
{
    uint64_t ts = 1000000, id = 100;
    for (size_t i = 0; i < n; i++) {
        struct ahp_event *e = &ev[i];
        memset(e, 0, sizeof(*e));
        ts += next_rand(5000);
        e->ts_ns = ts;
        e->kind = (uint8_t)(1 + next_rand(5));
        e->id = next_rand(3) == 0 ? ++id : id;
        e->tid = 500 + next_rand(3);
        e->pid = next_rand(50) == 0 ? 99 : 1234;
        /* Mostly the types seen already, now and then a new one, outside the table or the
         * unwritable one: a new type lands anywhere in a run. */
        uint32_t r = next_rand(1000);
        e->type = r < 990   ? (int32_t)next_rand(4)
                  : r < 995 ? (int32_t)next_rand(AHP_TYPE_MAX)
                  : r < 997 ? (r & 1 ? -3 : AHP_TYPE_MAX + 5)
                            : UNWRITABLE_TYPE;
        e->trigger_id = next_rand(4) == 0 ? id - 1 : 0;
        e->seq = e->kind == AHP_EV_INIT || e->kind == AHP_EV_DESTROY ? i * 2 : 0;
        e->depth = (uint16_t)next_rand(3);
        e->flags = next_rand(100) == 0 ? 1 : 0;
    }
}

static void compare(uint64_t seed, bool drop_exclusive)
{
    rng_state = seed;
    size_t n = 30000;
    struct ahp_event *ev = malloc(n * sizeof(*ev));
    cr_assert_not_null(ev);
    fill(ev, n);
    struct side a, b;
    side_open(&a, "two", drop_exclusive);
    side_open(&b, "one", drop_exclusive);
    for (size_t i = 0; i < n;) {
        size_t k = 1 + next_rand(next_rand(2) ? 9000 : 40);
        k = k < n - i ? k : n - i;
        two_passes(&a, ev + i, k);
        one_pass(&b, ev + i, k);
        i += k;
    }
    cr_assert_eq(ahp_writer_close(a.w, 5000000000ull, 0), 0);
    cr_assert_eq(ahp_writer_close(b.w, 5000000000ull, 0), 0);
    size_t la, lb;
    char *fa = read_file(a.path, &la), *fb = read_file(b.path, &lb);
    cr_assert_gt(la, n, "the file holds the events");
    cr_assert_eq(la, lb, "seed %llu: %zu bytes vs %zu", (unsigned long long)seed, la, lb);
    cr_assert(memcmp(fa, fb, la) == 0, "seed %llu: the files differ", (unsigned long long)seed);
    unlink(a.path);
    unlink(b.path);
    free(fa);
    free(fb);
    free(ev);
}

Test(record_known_types, equivalence)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        compare(seed, seed % 2 == 0);
}

Test(record_known_types, stops)
{
    struct side s;
    side_open(&s, "stops", false);
    struct ahp_event ev[6];
    memset(ev, 0, sizeof(ev));
    for (int i = 0; i < 6; i++) {
        ev[i].ts_ns = 1000 + (uint64_t)i;
        ev[i].kind = AHP_EV_RESOLVE;
        ev[i].id = 10;
        ev[i].tid = 1;
        ev[i].pid = 1234;
        ev[i].type = i < 3 ? 1 : 2;
    }
    ev[5].type = -1;
    s.written[1] = true;
    cr_assert_eq(ahp_writer_events_known(s.w, ev, 6, s.written), 3);
    cr_assert_eq(ahp_writer_events_known(s.w, ev + 3, 3, s.written), 0);
    s.written[2] = true;
    cr_assert_eq(ahp_writer_events_known(s.w, ev + 3, 3, s.written), 2);
    cr_assert_eq(ahp_writer_events_known(s.w, ev + 5, 1, s.written), 0, "outside the table");
    cr_assert_eq(ahp_writer_close(s.w, 5000, 0), 0);
    unlink(s.path);
}
