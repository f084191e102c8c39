/*
 * test_event_fields.c - struct ahp_event names what each slot carries (src/contracts/ahprof.h):
 * an AFTER's exclusive time is exclusive_ns, an INIT's user stack is stack_ref, in the same
 * bytes as trigger_id and depth, so the 48-byte record and the file format do not change.
 * Checked on the layout, through the writer and reader, and in the model, which must take the
 * creation site of an INIT from its stack_ref.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "data/datafile.h"
#include "model/model.h"
#include "tmpdir.h"

TestSuite(event_fields, .init = test_dir_init, .fini = test_dir_fini);

Test(event_fields, named_slots_keep_the_record_layout)
{
    cr_expect_eq(sizeof(struct ahp_event), 48);
    cr_expect_eq(offsetof(struct ahp_event, trigger_id), 16);
    cr_expect_eq(offsetof(struct ahp_event, exclusive_ns), 16);
    cr_expect_eq(offsetof(struct ahp_event, depth), 42);
    cr_expect_eq(offsetof(struct ahp_event, stack_ref), 42);
    cr_expect_eq(offsetof(struct ahp_event, pid), 44);
}

static const char *write_file(const struct ahp_event *ev, size_t n)
{
    const char *path = test_path("events.data");
    struct ahp_file_info info;
    memset(&info, 0, sizeof(info));
    info.pid = 7;
    struct ahp_writer *w;
    cr_assert_eq(ahp_writer_open(&w, path, &info), 0);
    cr_assert_eq(ahp_writer_type(w, 0, "REQ"), 0);
    cr_assert_eq(ahp_writer_events(w, ev, n), 0);
    cr_assert_eq(ahp_writer_close(w, 10000, 0), 0);
    return path;
}

static const struct ahp_event events[] = {
    {.ts_ns = 1000, .id = 10, .trigger_id = 1, .tid = 7, .kind = AHP_EV_INIT, .stack_ref = 5},
    {.ts_ns = 2000, .id = 10, .tid = 7, .kind = AHP_EV_BEFORE, .depth = 1},
    {.ts_ns = 3000, .id = 10, .tid = 7, .kind = AHP_EV_AFTER, .depth = 1, .exclusive_ns = 777},
};

Test(event_fields, named_slots_survive_a_file)
{
    const char *path = write_file(events, 3);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    struct ahp_event e;
    cr_assert_eq(ahp_reader_next_event(r, &e), 1);
    cr_expect_eq(e.kind, AHP_EV_INIT);
    cr_expect_eq(e.trigger_id, 1);
    cr_expect_eq(e.stack_ref, 5);
    cr_assert_eq(ahp_reader_next_event(r, &e), 1);
    cr_expect_eq(e.depth, 1);
    cr_assert_eq(ahp_reader_next_event(r, &e), 1);
    cr_expect_eq(e.kind, AHP_EV_AFTER);
    cr_expect_eq(e.exclusive_ns, 777);
    cr_expect_eq(e.depth, 1);
    cr_expect_eq(ahp_reader_next_event(r, &e), 0);
    ahp_reader_close(r);
}

struct asked {
    unsigned calls;
    uint32_t stack_id;
};

static uint32_t site_of(void *arg, uint32_t stack_id)
{
    struct asked *a = arg;
    a->calls++;
    a->stack_id = stack_id;
    return 3;
}

Test(event_fields, the_model_takes_the_site_from_stack_ref)
{
    const char *path = write_file(events, 3);
    struct ahp_reader *r;
    cr_assert_eq(ahp_reader_open(&r, path), 0);
    struct asked asked = {0};
    struct ahp_model_opts opts = {.site_of = site_of, .arg = &asked};
    struct ahp_model *m;
    cr_assert_eq(ahp_model_build(&m, r, &opts), 0);
    cr_expect_eq(asked.calls, 1, "one INIT with a stack");
    cr_expect_eq(asked.stack_id, 4, "stack_ref is the stack id + 1");
    cr_assert_eq(m->nnodes, AHP_NODE_ROOTS + 1);
    cr_expect_eq(m->nodes[AHP_NODE_ROOTS].site, 3);
    cr_expect_eq(m->nodes[AHP_NODE_ROOTS].callbacks, 1);
    cr_expect_eq(m->nodes[AHP_NODE_ROOTS].callback_ns, 1000);
    ahp_model_free(m);
    ahp_reader_close(r);
}
